"""The host's identity (issue 18, Doc/sandbox/information.rst): without
filesystem_info an untrusted interpreter gets neutral process and user
IDs, processors, memory and kernel release, and is denied the load and
the login name; with it, the real ones.  Checked by what the interpreter
can print: the host's own values never appear."""

import os
import subprocess
import sys

import pytest

from support import job_outcome as outcome, requires_untrusted, run_host

pytestmark = requires_untrusted

# What the probe reads, as one dict.
# Inside: a call's value, or the name of the OSError it raised.
CALL = """if 1:
    def call(f, *a):
        try:
            return f(*a)
        except OSError as exc:
            return type(exc).__name__
"""

PROBE = CALL + """if 1:
    import os, platform, socket, threading
    seen = {
        'pid': os.getpid(), 'ppid': os.getppid(), 'pgrp': os.getpgrp(),
        'pgid': call(os.getpgid, 0), 'sid': call(os.getsid, 0),
        'pgid_other': call(os.getpgid, OTHER),
        'sid_other': call(os.getsid, OTHER),
        'ids': [os.getuid(), os.geteuid(), os.getgid(), os.getegid(),
                *os.getresuid(), *os.getresgid()],
        'groups': os.getgroups(),
        'cpus': [os.cpu_count(), os.process_cpu_count(),
                 len(os.sched_getaffinity(0)),
                 len(call(os.sched_getaffinity, OTHER)),
                 os.sysconf('SC_NPROCESSORS_ONLN'),
                 os.sysconf('SC_NPROCESSORS_CONF')],
        'pages': os.sysconf('SC_PHYS_PAGES'),
        'uname': list(os.uname()),
        'platform': [platform.release(), platform.version(),
                     platform.uname().release],
        'load': call(os.getloadavg),
        'login': call(os.getlogin),
        'native': threading.get_native_id(),
        'peercred': call(lambda: socket.socketpair()[0].getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, 12)),
    }
"""


@pytest.fixture
def jail(make_untrusted):
    return make_untrusted


def probe(interp, other):
    import _sandbox
    _sandbox.exec(interp, PROBE.replace("OTHER", str(other)))
    return _sandbox.eval(interp, "seen")


def host_pids():
    """This process's IDs and another process's (a child, alive)."""
    return os.getpid(), os.getppid(), os.getpgrp(), os.getsid(0)


def test_the_host_identity_stays_hidden(jail):
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; time.sleep(60)"])
    try:
        seen = probe(jail(memory=64 << 20, threads=2), child.pid)
    finally:
        child.kill()
        child.wait()
    assert seen["pid"] == 2 and seen["ppid"] == 1 and seen["pgrp"] == 2
    assert seen["pgid"] == 2 and seen["sid"] == 1
    # Another process of the host: as if it did not exist.
    assert seen["pgid_other"] == "ProcessLookupError"
    assert seen["sid_other"] == "ProcessLookupError"
    assert seen["ids"] == [65534] * 10 and seen["groups"] == [65534]
    # The policy's threads, not the host's processors.
    assert seen["cpus"] == [2] * 6, seen["cpus"]
    assert seen["pages"] * os.sysconf("SC_PAGESIZE") == 64 << 20
    sysname, node, release, version, machine = seen["uname"]
    assert (node, release, version) == ("localhost", "0.0.0", "#1")
    assert (sysname, machine) == (os.uname().sysname, os.uname().machine)
    assert seen["platform"] == ["0.0.0", "#1", "0.0.0"]
    assert seen["load"] == seen["login"] == seen["peercred"] \
        == "SandboxError"
    assert 2 <= seen["native"] < 100, seen["native"]
    # None of the host's values, anywhere.
    text = repr(seen)
    for real in (*host_pids(), child.pid):
        assert f" {real}," not in text and f" {real}]" not in text, real
    for real in (os.uname().release, os.uname().version):
        assert real not in text
    if os.getuid() != 65534:
        assert os.getuid() not in seen["ids"]


def test_the_denials_are_logged_with_the_grant_they_miss(jail):
    import _sandbox
    interp = jail()
    assert outcome(interp, "import os; os.getloadavg()") == "SandboxError"
    assert outcome(interp, "import os; os.getlogin()") == "SandboxError"
    assert outcome(interp, "import socket; socket.socketpair()[0]"
                           ".getsockopt(socket.SOL_SOCKET, "
                           "socket.SO_PEERCRED, 12)") == "SandboxError"
    entries = [d[1:3] for d in _sandbox.denials(interp)]
    assert entries == [
        ("information", "os.getloadavg (filesystem_info)"),
        ("information", "os.getlogin (filesystem_info)"),
        ("information", "socket.getsockopt(SO_PEERCRED) (filesystem_info)")
    ], entries


def test_filesystem_info_shows_the_real_identity(jail):
    import _sandbox
    seen = probe(jail(filesystem_info=True), os.getpid())
    assert seen["pid"] == os.getpid() and seen["ppid"] == os.getppid()
    assert seen["ids"][:4] == [os.getuid(), os.geteuid(), os.getgid(),
                               os.getegid()]
    assert seen["cpus"][0] == os.cpu_count()
    assert seen["uname"][2:4] == [os.uname().release, os.uname().version]
    assert seen["load"] != "SandboxError"
    import struct
    assert struct.unpack("3i", seen["peercred"]) == (
        os.getpid(), os.getuid(), os.getgid())
    assert _sandbox.check_policy(filesystem_info=True)["filesystem_info"]


def test_a_worker_process_hides_it_too():
    import sandbox
    for grant in (False, True):
        policy = sandbox.Policy(isolation="process", filesystem_info=grant,
                                require_layers=())
        with sandbox.Interpreter(policy) as interp:
            uname = interp.eval("tuple(__import__('os').uname())")
            ids = interp.eval("[__import__('os').getuid(), "
                              "__import__('os').cpu_count()]")
        if grant:
            assert uname[2:4] == (os.uname().release, os.uname().version)
            # The worker counts what its fence lets it see: without
            # /sys, the C library counts the CPUs of its affinity mask,
            # which is the machine's unless the host's mask was narrowed
            # (taskset): then that count (Doc/sandbox/information.rst).
            mask = len(os.sched_getaffinity(0))
            assert ids[0] == os.getuid()
            assert ids[1] == (os.cpu_count() if mask == os.cpu_count()
                              else mask), (ids, mask)
        else:
            assert uname[2:4] == ("0.0.0", "#1"), uname
            assert ids == [65534, 1]


def test_a_nested_interpreter_cannot_widen_it(jail):
    import sandbox
    assert not sandbox.Policy(filesystem_info=True) <= sandbox.Policy()
    interp = jail()
    assert outcome(interp, """
        import _sandbox
        _sandbox.new_interpreter(filesystem_info=True)
    """) == "SandboxError"
    assert outcome(jail(filesystem_info=True), """
        import _sandbox, os
        inner = _sandbox.new_interpreter(filesystem_info=True)
        assert _sandbox.eval(inner, '__import__("os").getpid()') \\
            == os.getpid()
        _sandbox.end_interpreter(inner)
    """, message=True) == "ran"


def test_the_command_line_grants_it():
    code = "import os; print(os.uname().release, os.getuid())"
    outs = []
    for grant in ([], ["--allow-fs-info"]):
        proc = subprocess.run([sys.executable, "-m", "sandbox", "run",
                               "--isolate", "interpreter", *grant, "-c",
                               code], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout.split())
    assert outs[0] == ["0.0.0", "65534"]
    assert outs[1] == [os.uname().release, str(os.getuid())]
    help_text = subprocess.run([sys.executable, "-m", "sandbox", "run",
                                "--help"], capture_output=True, text=True,
                               timeout=120).stdout
    assert "--allow-fs-info" in help_text


def test_no_probe_of_other_processes(jail):
    """The calls that take another process's ID, or encode one, learn
    nothing of it: not whether it exists, not its CPU time."""
    import _sandbox
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; time.sleep(60)"])
    try:
        interp = jail()
        _sandbox.exec(interp, PROCESS_PROBE.format(other=child.pid,
                                                   host=os.getpid()))
        seen = _sandbox.eval(interp, "seen")
    finally:
        child.kill()
        child.wait()
    assert seen == ["ProcessLookupError"] * 7 + ["SandboxError"] * 6, seen
    mine = _sandbox.eval(interp, "mine")
    assert mine[:6] == [os.getpriority(os.PRIO_PROCESS, 0)] * 5 + [
        os.sched_getscheduler(0)] and mine[7:] == [True, True], mine
    # Derived from the machine's memory by the kernel: neutral.
    assert _sandbox.eval(interp, "limits") == [4096, 4096, 2048, 0]


PROCESS_PROBE = CALL + """if 1:
    import os, socket, threading, time
    other, host = {other}, {host}
    seen = [call(os.getpriority, os.PRIO_PROCESS, other),
            call(os.getpriority, os.PRIO_PROCESS, host),
            call(os.getpriority, os.PRIO_PGRP, other),
            call(os.getpriority, os.PRIO_USER, 1),
            call(os.sched_getscheduler, other),
            call(os.sched_getparam, other),
            call(os.sched_rr_get_interval, other),
            # CPU clocks: a process's is ((~pid) << 3) | 2, a thread's
            # ((~tid) << 3) | 6, a descriptor's ((~fd) << 3) | 3
            call(time.clock_gettime, ((~other) << 3) | 2),
            call(time.clock_gettime_ns, ((~host) << 3) | 2),
            call(time.clock_getres, ((~other) << 3) | 2),
            call(time.clock_gettime, ((~3) << 3) | 3),
            call(time.pthread_getcpuclockid, threading.get_ident()),
            call(os.getgrouplist, 'root', 0)]
    mine = [os.getpriority(os.PRIO_PROCESS, 0),
            os.getpriority(os.PRIO_PROCESS, 2),
            # its group and its user: itself alone
            os.getpriority(os.PRIO_PGRP, 0), os.getpriority(os.PRIO_USER, 0),
            os.getpriority(os.PRIO_USER, 65534),
            os.sched_getscheduler(2), os.sched_getparam(0).sched_priority,
            time.clock_gettime(time.CLOCK_PROCESS_CPUTIME_ID) > 0,
            time.thread_time() >= 0]
    limits = [os.sysconf('SC_CHILD_MAX'), os.sysconf('SC_SIGQUEUE_MAX'),
              os.sysconf('SC_MINSIGSTKSZ'),
              os.sysconf(188)]   # _SC_LEVEL1_DCACHE_SIZE (glibc)
"""


def test_no_descriptor_from_the_peer_s_pidfd():
    import _sandbox
    before = len(os.listdir("/proc/self/fd"))
    interp = _sandbox.new_interpreter()
    try:
        assert outcome(interp, """
            import socket
            a, b = socket.socketpair()
            for i in range(20):
                try:
                    a.getsockopt(socket.SOL_SOCKET, 77, 4)   # SO_PEERPIDFD
                except PermissionError:
                    pass
            a.getsockopt(socket.SOL_SOCKET, 77, 4)
        """) == "SandboxError"
        entries = [d[1:3] for d in _sandbox.denials(interp)]
        assert entries[-1] == ("descriptor", "socket.getsockopt"
                               "(SO_PEERPIDFD): a new descriptor")
    finally:
        _sandbox.end_interpreter(interp)
    assert len(os.listdir("/proc/self/fd")) <= before


NOT_EXECUTED = """
import _sandbox
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, '''if 1:
    import _imp
    class Spec:
        name = "posix"
        origin = "built-in"
    seen = tuple(_imp.create_builtin(Spec()).uname())
    mod = _imp.create_builtin(Spec())
    _imp.exec_builtin(mod)           # a no-op: executed already
    same = tuple(mod.uname()) == seen
''')
print(_sandbox.eval(jail, "seen[2], same"))
_sandbox.end_interpreter(jail)
print("host alive")
"""


def test_a_module_created_but_not_executed_cannot_crash_the_host():
    proc = run_host(NOT_EXECUTED)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "('0.0.0', True)\nhost alive\n", proc.stdout
