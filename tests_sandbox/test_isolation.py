"""The second wall: untrusted interpreters in worker processes fenced by
the kernel (Policy(isolation="process"), Doc/sandbox/isolation.rst).

The tests of the outer wall alone turn the inner one off with the debug
build's test switch: the worker then runs the tenant's code in its own
main interpreter, with every Python and C capability of the process (as
after the review's exploit), and only the kernel's fence stands.  Each
checks the effect from the host: the canary's content never comes back,
the file was not created, the process did not spawn, the listener saw no
connection, the decoy lives, the host is alive.
"""

import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time

import pytest

from support import requires_untrusted, run_host

pytestmark = requires_untrusted

DEBUG = hasattr(sys, "gettotalrefcount")
requires_debug = pytest.mark.skipif(
    not DEBUG, reason="the test switch exists only in the debug build")


def layers():
    try:
        import _sandbox
    except ImportError:         # the flag-off build: every test skips
        return {name: "no engine" for name in ("namespaces", "rlimits",
                                                "no_new_privs", "landlock",
                                                "seccomp")}
    found = _sandbox.fence_layers()
    found.pop("landlock_abi")
    return found


def requires_layers(*names):
    missing = [name for name in names if layers()[name] is not None]
    return pytest.mark.skipif(bool(missing), reason=f"this system does not "
                              f"give {', '.join(missing)}")


@pytest.fixture
def host_files(tmp_path):
    """A canary outside every grant, a granted directory, and the name of
    a file outside the grants that nothing may create."""
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-4b1d")
    granted = tmp_path / "granted"
    granted.mkdir()
    return canary, granted, tmp_path / "created-outside.txt"


@pytest.fixture
def decoy():
    """A process of the host's user that nothing may signal: alive, neither
    stopped nor killed, at the end of the test."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    try:
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def process_policy(**fields):
    import sandbox
    return sandbox.Policy(isolation="process", **fields)


def interpreter(policy, inner_wall_off=False):
    import sandbox
    return sandbox.Interpreter(policy, _inner_wall_off=inner_wall_off)


def outcome(interp, source):
    """Run *source*: "ran", or the short name of what it raised."""
    import sandbox
    try:
        interp.run(source)
    except sandbox.RemoteError as exc:
        return exc.type_name.rpartition(".")[2]
    return "ran"


# --- Jobs in a worker -----------------------------------------------------

def test_a_worker_runs_jobs_like_an_interpreter(host_files):
    import sandbox
    canary, granted, _ = host_files
    (granted / "data.txt").write_text("granted data")
    with interpreter(process_policy(read=[str(granted)], threads=1)) as i:
        assert i.pid is not None and i.pid != os.getpid()
        result = i.run(f"with open({str(granted / 'data.txt')!r}) as f:\n"
                       "    print(f.read())\n"
                       "import sys; print('err', file=sys.stderr)")
        assert result.stdout == "granted data\n"
        assert result.stderr == "err\n"
        assert result.remaining.pop("memory") > 200 * 2**20
        assert result.remaining == {"threads": 1}
        assert i.eval("[1, 'two', (3.0, None), {'k': b'v'}]") == \
            [1, "two", (3.0, None), {"k": b"v"}]
        assert i.call("math:hypot", 3, 4) == 5.0
        i.run("counter = 41")               # __main__ persists
        assert i.eval("counter + 1") == 42
        with pytest.raises(sandbox.RemoteError) as info:
            i.run("1/0")
        assert info.value.type_name == "ZeroDivisionError"
        assert "ZeroDivisionError" in info.value.traceback
        # The inner wall holds in the worker too, with its denials.
        assert outcome(i, f"open({str(canary)!r})") == "SandboxError"
        denial = i.last_result.denials[-1]
        assert denial.resource == "file" and str(canary) in denial.detail
        with pytest.raises(TypeError):      # cannot cross, as in-process
            i.call("math:hypot", object())
        pid = i.pid
    assert wait_gone(pid)


def test_asyncio_runs_in_a_worker():
    # Its event loop wakes itself through a socketpair(AF_UNIX).
    with interpreter(process_policy()) as i:
        result = i.run("import asyncio\n"
                       "async def answer():\n"
                       "    await asyncio.sleep(0)\n"
                       "    return 42\n"
                       "print(asyncio.run(answer()))")
        assert result.stdout == "42\n"


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@requires_layers("namespaces", "rlimits", "no_new_privs", "landlock",
                 "seccomp")
def test_every_layer_holds_here_and_can_be_required():
    import sandbox
    policy = process_policy(require_layers=list(sandbox.LAYERS))
    with interpreter(policy) as i:
        assert i.layers == {name: None for name in sandbox.LAYERS}
        assert i.eval("1 + 1") == 2


def test_a_policy_error_in_the_worker_is_the_hosts(tmp_path):
    import sandbox
    missing = str(tmp_path / "no" / "such")
    with pytest.raises(sandbox.PolicyError) as info:
        interpreter(process_policy(read=[missing]))
    assert (info.value.field, info.value.value) == ("read", missing)


def test_process_isolation_is_narrower():
    import sandbox
    assert process_policy() <= sandbox.Policy()
    assert not sandbox.Policy() <= process_policy()
    assert process_policy(require_layers=["seccomp"]) <= process_policy()
    with pytest.raises(sandbox.PolicyError, match="set isolation to "
                       "'process'"):
        sandbox.Policy(require_layers=["seccomp"])
    with pytest.raises(sandbox.PolicyError, match="not a layer"):
        process_policy(require_layers=["selinux"])


def test_the_time_limit_stops_the_job_or_kills_the_worker():
    import sandbox
    with interpreter(process_policy(time=1.0)) as i:
        pid = i.pid
        # Python code stops inside at the limit; the warm worker answers
        # and serves the next job (Doc/sandbox/time.rst).
        start = time.monotonic()
        with pytest.raises(sandbox.RemoteError) as info:
            i.run("while True: pass")
        assert time.monotonic() - start < 5
        assert info.value.type_name == "sandbox.SandboxLimitExceeded"
        assert i.eval("6 * 7") == 42 and i.pid == pid
        # A C call that does not stop inside (it neither polls nor
        # allocates: Doc/sandbox/time.rst): the host kills the worker.
        start = time.monotonic()
        with pytest.raises(sandbox.RemoteError) as info:
            i.run("import decimal\ndecimal.Decimal(1 << 3000000)")
        assert time.monotonic() - start < 5
        assert info.value.type_name == "sandbox.SandboxLimitExceeded"
        assert "was killed" in info.value.message
        assert wait_gone(pid)
        with pytest.raises(sandbox.RemoteError, match="is gone"):
            i.run("pass")


def test_a_worker_killed_mid_job_ends_the_job():
    import sandbox
    import threading
    with interpreter(process_policy(time=20.0)) as i:
        timer = threading.Timer(0.5, os.kill, (i.pid, signal.SIGKILL))
        timer.start()
        with pytest.raises(sandbox.RemoteError) as info:
            i.run("import time; time.sleep(10)")
        timer.join()
        assert info.value.type_name == "sandbox.WorkerLost"
        assert "signal 9" in str(info.value)


def test_a_hundred_jobs_through_one_worker():
    with interpreter(process_policy()) as i:
        for n in range(100):
            assert i.eval(f"{n} * 2") == n * 2


def test_the_tenant_cannot_reach_its_socket_through_the_inner_wall():
    with interpreter(process_policy()) as i:
        assert outcome(i, "import os, sys\n"
                          "for fd in range(3, 64):\n"
                          "    try: os.write(fd, b'\\xff' * 8)\n"
                          "    except OSError: pass\n") == "ran"
        assert i.eval("2 + 2") == 4     # the host got no garbage


def test_info_reports_the_layers():
    proc = subprocess.run([sys.executable, "-I", "-m", "sandbox", "info"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "worker process layers" in proc.stdout
    for name in ("namespaces", "rlimits", "no_new_privs", "landlock",
                 "seccomp"):
        assert f"  {name}: " in proc.stdout


@requires_layers("seccomp")
def test_the_command_line_runs_in_a_worker():
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "sandbox", "run", "--isolate=process",
         "--require-layer=seccomp", "-c",
         "import sys; print('hi', sys.argv[1:]); print('e', file=sys.stderr)"
         "\nraise SystemExit(3)", "arg"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "hi ['arg']\n" and proc.stderr == "e\n"


# --- The outer wall alone (the debug build's test switch) -----------------

@requires_debug
def test_the_switch_runs_unchecked():
    with interpreter(process_policy(), inner_wall_off=True) as i:
        # The main interpreter of the worker: ctypes and all.
        assert i.eval("__import__('sys').flags.isolated") == 1
        i.run("import ctypes; libc = ctypes.CDLL(None)")
        assert i.eval("libc.getpid()") == i.pid


# (name, source, what the inner wall raises)
ATTACKS = {
    "read the canary": "data = open(CANARY).read()",
    "create a file outside": "open(OUTSIDE, 'w').write('x')",
    "list the host's files": "import os; data = os.listdir(HOME)",
    "start a process": "import os; os.posix_spawn('/bin/sh', "
                       "['sh', '-c', 'echo x > ' + OUTSIDE], {})",
    "fork": "import os\npid = os.fork()\nif pid == 0: os._exit(0)",
    "read the host's environ": "data = open(f'/proc/{HOST}/environ').read()",
    "read the host's memory": "data = open(f'/proc/{HOST}/mem', 'rb')",
}


@requires_debug
@requires_layers("landlock", "seccomp")
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_the_outer_wall_alone_stops(name, host_files):
    canary, granted, outside = host_files
    source = (f"CANARY, OUTSIDE, HOME = {str(canary)!r}, {str(outside)!r}, "
              f"{str(canary.parent)!r}\nHOST = {os.getpid()}\n"
              + ATTACKS[name])
    for inner_wall_off in (True, False):
        with interpreter(process_policy(write=[str(granted)]),
                         inner_wall_off=inner_wall_off) as i:
            result = outcome(i, source)
            assert result != "ran", (name, inner_wall_off)
            if not inner_wall_off:
                assert i.last_result.denials or result in (
                    "ModuleNotFoundError", "RuntimeError",
                    "AttributeError")
            # Whatever it got never comes back.
            assert "CANARY-4b1d" not in repr(i.eval(
                "globals().get('data')"))
        assert not outside.exists(), (name, inner_wall_off)
    assert canary.read_text() == "CANARY-4b1d"


@requires_debug
@requires_layers("seccomp")
def test_the_outer_wall_alone_keeps_the_decoy_alive(decoy):
    with interpreter(process_policy(), inner_wall_off=True) as i:
        for source in [
            f"import os, signal; os.kill({decoy.pid}, signal.SIGKILL)",
            f"import os, signal; os.kill({os.getpid()}, signal.SIGSTOP)",
            "import os, signal; os.kill(-1, signal.SIGKILL)",
            "import os, signal; os.killpg(0, signal.SIGKILL)",
            # PTRACE_ATTACH, then process_vm_readv of the host
            f"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"assert libc.ptrace(16, {decoy.pid}, 0, 0) == 0",
            f"import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            f"buf = ctypes.create_string_buffer(16)\n"
            f"iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 16)\n"
            f"assert libc.process_vm_readv({os.getpid()}, iov, 1, iov, "
            f"1, 0) == 16",
        ]:
            result = outcome(i, source)
            assert result in ("PermissionError", "AssertionError",
                              "ProcessLookupError"), (source, result)
    # the decoy fixture: alive, not stopped or killed


@requires_debug
@requires_layers("seccomp")
def test_the_outer_wall_alone_reaches_no_listener():
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        for inner_wall_off in (True, False):
            with interpreter(process_policy(),
                             inner_wall_off=inner_wall_off) as i:
                assert outcome(i, f"import socket\nsocket.create_connection("
                                  f"('127.0.0.1', {port}), timeout=1)") \
                    != "ran"
            with pytest.raises(socket.timeout):
                listener.accept()           # nobody came
    finally:
        listener.close()


@requires_debug
@requires_layers("rlimits")
def test_the_outer_wall_alone_caps_memory():
    with interpreter(process_policy(memory="64M"),
                     inner_wall_off=True) as i:
        assert outcome(i, "b = bytearray(512 * 1024 * 1024)") == \
            "MemoryError"
        assert i.eval("len(bytearray(16 * 1024 * 1024))") == 16 * 2**20


@requires_debug
def test_garbage_from_a_worker_ends_the_job():
    import sandbox
    with interpreter(process_policy(), inner_wall_off=True) as i:
        with pytest.raises(sandbox.RemoteError) as info:
            i.run("import os, sys\n"
                  "fd = int(sys._xoptions['sandbox_worker'])\n"
                  "os.write(fd, b'\\x7f\\xff\\xff\\xff' + b'x' * 64)\n"
                  "import time\ntime.sleep(5)")
        assert info.value.type_name == "sandbox.WorkerLost"
        assert "a frame of" in str(info.value)


@requires_debug
def test_a_worker_that_never_answers():
    import sandbox
    with interpreter(process_policy(time=1.0), inner_wall_off=True) as i:
        with pytest.raises(sandbox.RemoteError) as info:
            i.run("import signal; signal.pthread_sigmask(signal.SIG_BLOCK, "
                  "[signal.SIGTERM]); import time; time.sleep(30)")
        assert info.value.type_name == "sandbox.SandboxLimitExceeded"


# --- Pools of workers -----------------------------------------------------

def test_a_hundred_jobs_through_a_pool_of_workers():
    import sandbox
    with sandbox.Pool(size=2, isolation="process") as pool:
        futures = [pool.submit("operator:mul", n, 3) for n in range(100)]
        assert [f.result(timeout=120) for f in futures] == \
            [n * 3 for n in range(100)]
        # Fresh workers: nothing of one job is seen by the next.
        pool.submit_source("leftover = 1").result(timeout=60)
        assert pool.submit_source("print('leftover' in globals())"
                                  ).result(timeout=60).stdout == "False\n"


def test_a_domain_keeps_its_worker_and_no_other_shares_it():
    import sandbox
    with sandbox.Pool(size=2, isolation="process") as pool:
        def marks(domain, mark):
            result = pool.submit_source(
                f"marks = globals().get('marks', []) + [{mark!r}]\n"
                f"print(marks)", domain=domain).result(timeout=60)
            return result.stdout.strip()
        assert marks("alice", "a1") == "['a1']"
        assert marks("bob", "b1") == "['b1']"
        assert marks("alice", "a2") == "['a1', 'a2']"
        assert marks(None, "n") == "['n']"
        assert marks(None, "n") == "['n']"
        # A failed job keeps the domain's state.
        with pytest.raises(sandbox.RemoteError):
            pool.submit_source("1/0", domain="alice").result(timeout=60)
        assert marks("alice", "a3") == "['a1', 'a2', 'a3']"
        assert pool.submit_to("alice", "operator:add", 2, 3).result(
            timeout=60) == 5


def test_the_command_line_reports_a_killed_worker_and_a_missing_layer():
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "sandbox", "run", "--isolate=process",
         "--time", "1", "-c",
         "print('started', flush=True)\nimport decimal\n"
         "decimal.Decimal(1 << 3000000)"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == "started\n"
    assert proc.stderr == ("python -m sandbox run: time limit of 1 s "
                           "exceeded; the worker process did not answer "
                           "within 100 ms of it, and was killed\n")
    assert "Traceback" not in proc.stderr
    missing = [name for name, why in layers().items() if why is not None]
    if missing:
        proc = subprocess.run(
            [sys.executable, "-I", "-m", "sandbox", "run",
             "--isolate=process", f"--require-layer={missing[0]}", "-c",
             "pass"], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2
        assert f"requires the layer {missing[0]}" in proc.stderr


# --- What the second review found (Doc/sandbox/isolation.rst) -------------

@requires_debug
@requires_layers("seccomp")
def test_the_outer_wall_alone_leaves_the_hosts_limits_and_files(host_files):
    import resource
    canary, granted, _ = host_files
    readable = canary.parent / "readable"
    readable.mkdir()
    library = readable / "lib.so"
    library.write_text("a library it may read")
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    mode, mtime = canary.stat().st_mode, canary.stat().st_mtime
    lib_stat = library.stat()
    with interpreter(process_policy(write=[str(granted)],
                                    read=[str(readable)]),
                     inner_wall_off=True) as i:
        for source in [
            f"import resource\nresource.prlimit({os.getpid()}, "
            f"resource.RLIMIT_NOFILE, (20, 20))",
            f"import os\nos.chmod({str(canary)!r}, 0o4777)",
            f"import os\nos.utime({str(canary)!r}, (0, 0))",
            f"import os\nos.chown({str(canary)!r}, 1, 1)",
            # The worker cannot undo its death with the host.
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "assert libc.prctl(1, 0, 0, 0, 0) == 0",
        ]:
            assert outcome(i, source) in ("PermissionError",
                                          "AssertionError"), source
        # Not through a descriptor opened to read either (Landlock does
        # not cover metadata): a library made set-user-ID, a file of the
        # host's made writable by all.
        opened = (f"import os\nfd = os.open({str(library)!r}, "
                  f"os.O_RDONLY)\n")
        assert outcome(i, opened + "data = os.read(fd, 100)") == "ran"
        for call in ["os.fchmod(fd, 0o4777)", "os.fchown(fd, 1, 1)",
                     "os.utime(fd, (0, 0))"]:
            assert outcome(i, opened + call) == "PermissionError", call
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == before
    assert (canary.stat().st_mode, canary.stat().st_mtime) == (mode, mtime)
    after = library.stat()
    assert (after.st_mode, after.st_uid, after.st_mtime) == \
        (lib_stat.st_mode, lib_stat.st_uid, lib_stat.st_mtime)


def test_a_worker_dies_with_its_host():
    proc = run_host("""
        import os, sandbox
        i = sandbox.Interpreter(sandbox.Policy(isolation="process"))
        print(i.pid, flush=True)
        os._exit(0)
    """, timeout=60)
    pid = int(proc.stdout.split()[0])
    assert wait_gone(pid)


def test_a_file_to_write_must_exist_for_a_worker(tmp_path):
    import sandbox
    target = tmp_path / "out.json"
    with pytest.raises(sandbox.PolicyError, match="only if it exists") \
            as info:
        interpreter(process_policy(write=[str(target)]))
    assert (info.value.field, info.value.value) == ("write", str(target))
    target.write_text("{}")
    with interpreter(process_policy(write=[str(target)])) as i:
        assert outcome(i, f"open({str(target)!r}, 'w').write('[1]')") == \
            "ran"
    assert target.read_text() == "[1]"


# Raw frames that a taken-over worker writes on its socket.
FRAMES = r'''
import os, struct, sys, time, _sandbox
FD = int(sys._xoptions["sandbox_worker"])
def send(data):
    while data:
        data = data[os.write(FD, data):]
def frame(value):
    body = _sandbox.encode(value)
    send(struct.pack(">I", len(body)) + body)
'''

CHANNEL_ATTACKS = {
    # a frame one byte at a time, each within the time
    "trickle": "send(struct.pack('>I', 12))\n"
               "for _ in range(12):\n    time.sleep(0.7); send(b'N')",
    # dict keys whose hashes collide, decoded in C by the host
    "collisions": "frame({k * (2**61 - 1): 0 for k in range(20000)})",
    # few bytes, many values
    "items": "frame([None] * 5_000_000)",
    # an answer to a job the host did not ask, before this one's
    "forged": "frame({'ok': True, 'value': 'forged', 'id': 99, "
              "'stdout': b'', 'stderr': b'', 'denials': [], "
              "'query': {}})",
    "unhashable": "send(struct.pack('>I', 35) + b'{' + struct.pack('=Q', 1)"
                  " + b'[' + struct.pack('=Q', 0) + b'N' + b'x' * 16)",
}


@requires_debug
@pytest.mark.parametrize("name", sorted(CHANNEL_ATTACKS))
def test_a_worker_that_sends_garbage_is_lost_in_time(name):
    import sandbox
    with interpreter(process_policy(time=3.0), inner_wall_off=True) as i:
        start = time.monotonic()
        with pytest.raises(sandbox.RemoteError) as info:
            i.run(FRAMES + CHANNEL_ATTACKS[name] + "\ntime.sleep(30)")
        assert time.monotonic() - start < 6
        assert info.value.type_name in ("sandbox.WorkerLost",
                                        "sandbox.SandboxLimitExceeded")
        with pytest.raises(sandbox.RemoteError, match="is gone"):
            i.eval("1")


@requires_debug
@requires_layers("landlock", "seccomp")
def test_a_granted_port_is_the_only_way_out():
    granted = socket.create_server(("127.0.0.1", 0))
    other = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    for s in (granted, other, udp):
        s.settimeout(0.5)
    port = granted.getsockname()[1]
    try:
        with interpreter(process_policy(net=[f"127.0.0.1:{port}"]),
                         inner_wall_off=True) as i:
            assert outcome(i, f"import socket\nsocket.create_connection("
                              f"('127.0.0.1', {port}), timeout=2)") == "ran"
            granted.accept()[0].close()
            for source in [
                f"import socket\nsocket.create_connection(('127.0.0.1', "
                f"{other.getsockname()[1]}), timeout=1)",
                f"import socket\ns = socket.socket(socket.AF_INET, "
                f"socket.SOCK_DGRAM)\ns.sendto(b'x', ('127.0.0.1', "
                f"{udp.getsockname()[1]}))",
                f"import socket\ns = socket.socket()\ns.sendto(b'x', "
                f"socket.MSG_FASTOPEN, ('127.0.0.1', "
                f"{other.getsockname()[1]}))",
            ]:
                assert outcome(i, source) == "PermissionError", source
        with pytest.raises(socket.timeout):
            other.accept()
        with pytest.raises(socket.timeout):
            udp.recvfrom(16)
    finally:
        for s in (granted, other, udp):
            s.close()


# --- C extensions that need a main interpreter: numpy from its wheel -----

def numpy_root():
    """The package root that numpy was installed in (tox installs it from
    its wheel), or None."""
    import importlib.util
    spec = importlib.util.find_spec("numpy")
    if spec is None or spec.origin is None:
        return None
    return os.path.dirname(os.path.dirname(spec.origin))


requires_numpy = pytest.mark.skipif(
    numpy_root() is None, reason="numpy is not installed (tox installs it)")

# What "import numpy" needs: its extension modules, bound to their files
# beneath the root, and datetime's C module (only in a worker).
NUMPY_MODULES = ["numpy.*", "_datetime"]


@requires_numpy
def test_numpy_from_its_wheel_runs_in_a_worker(host_files):
    canary, granted, outside = host_files
    (granted / "data.txt").write_text("1 2 3\n4 5 6\n")
    policy = process_policy(packages=[numpy_root()], modules=NUMPY_MODULES,
                            read=[str(granted)], write=[str(granted)])
    with interpreter(policy) as i:
        i.run("import numpy")
        assert i.eval("numpy.arange(10).sum().item()") == 45
        assert i.eval(f"numpy.loadtxt({str(granted / 'data.txt')!r})"
                      f".sum().item()") == 21.0
        i.run(f"numpy.arange(4).tofile({str(granted / 'out.bin')!r})")
        assert (granted / "out.bin").stat().st_size == 32
        # The worker's main interpreter is the untrusted one ...
        assert i.eval("__import__('sys').flags.isolated") == 1
        # ... with every check of one, numpy's C code in it.
        for source, expected in [
                (f"data = numpy.fromfile({str(canary)!r}, dtype='u1')",
                 "SandboxError"),
                (f"data = numpy.loadtxt({str(canary)!r}, dtype=str)",
                 "FileNotFoundError"),     # it looks first: hidden
                (f"numpy.arange(3).tofile({str(outside)!r})",
                 "SandboxError"),
                (f"numpy.save({str(outside)!r}, numpy.arange(3))",
                 "SandboxError"),
                ("import numpy.ctypeslib\n"
                 "data = numpy.ctypeslib.ctypes.CDLL(None)", "AttributeError"),
                ("import os; os.system('true')", "SandboxError")]:
            assert outcome(i, source) == expected, source
            if expected != "AttributeError":
                assert i.last_result.denials, source
            assert "CANARY-4b1d" not in repr(i.eval("globals().get('data')"))
    assert not outside.exists()
    assert canary.read_text() == "CANARY-4b1d"


@requires_numpy
@requires_layers("seccomp")
def test_numpy_from_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "sandbox", "run",
         f"--allow-packages={numpy_root()}", "--allow-module=numpy.*",
         "--allow-module=_datetime", "-c",
         "import numpy; print(numpy.arange(10).sum())"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "45\n"


@requires_numpy
def test_numpy_does_not_load_in_an_interpreter_of_the_hosts_process():
    import sandbox
    with pytest.raises(sandbox.PolicyError) as info:
        sandbox.Policy(packages=[numpy_root()], modules=NUMPY_MODULES)
    assert (info.value.field, info.value.value) == ("modules", "_datetime")
    policy = sandbox.Policy(packages=[numpy_root()], modules=["numpy.*"])
    with sandbox.Interpreter(policy) as i:
        assert outcome(i, "import numpy") in ("ImportError",
                                              "AttributeError")


def test_modules_of_package_roots_are_bound_by_name(tmp_path):
    import importlib.machinery
    import sandbox
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    root = tmp_path / "site"
    (root / "pkg" / "sub").mkdir(parents=True)
    for name in ("pkg/_fast", "pkg/sub/_faster", "top"):
        (root / (name + suffix)).write_bytes(b"\x7fELF")
    fields = sandbox.Policy(packages=[str(root)],
                            modules=["pkg.*", "top"])._engine()
    assert fields["modules"] == ()
    assert fields["module_files"] == {
        "pkg._fast": str(root / ("pkg/_fast" + suffix)),
        "pkg.sub._faster": str(root / ("pkg/sub/_faster" + suffix)),
        "top": str(root / ("top" + suffix))}
    for entry in ("pkg.missing", "other.*", "pkg.1bad"):
        with pytest.raises(sandbox.PolicyError) as info:
            sandbox.Policy(packages=[str(root)], modules=[entry])
        assert (info.value.field, info.value.value) == ("modules", entry)
    # A module file the interpreter could write is refused.
    with pytest.raises(sandbox.PolicyError):
        sandbox.Policy(packages=[str(root)], write=[str(root / "pkg")],
                       modules=["pkg.*"])


def test_no_standard_library_module_under_another_name(tmp_path):
    # A copy of _ctypes bound as "evil._ctypes" would be _ctypes (its init
    # function is PyInit__ctypes), which no policy grants.
    import importlib.machinery
    import importlib.util
    import _sandbox
    import sandbox
    root = tmp_path / "site"
    (root / "evil").mkdir(parents=True)
    origin = importlib.util.find_spec("_ctypes").origin
    copy = root / "evil" / os.path.basename(origin)
    copy.write_bytes(open(origin, "rb").read())
    with pytest.raises(_sandbox.PolicyError) as info:
        _sandbox.new_interpreter(module_files={"evil._ctypes": str(copy)})
    assert info.value.value == "evil._ctypes"
    with pytest.raises(sandbox.PolicyError):
        sandbox.Policy(packages=[str(root)], modules=["evil._ctypes"])
    # "evil.*" leaves it out.
    good = root / "evil" / ("good" + importlib.machinery.EXTENSION_SUFFIXES[0])
    good.write_bytes(b"\x7fELF")
    policy = sandbox.Policy(packages=[str(root)], modules=["evil.*"])
    assert policy._engine()["module_files"] == {"evil.good": str(good)}
    with sandbox.Interpreter(policy) as i:
        assert outcome(i, "import evil._ctypes") == "ModuleNotFoundError"


@requires_layers("seccomp")
def test_a_workers_main_interpreter_sets_no_signal_handler(tmp_path):
    # CPython refuses signal.signal() outside the main interpreter only: a
    # worker's main interpreter would run its handler (a hostile review's
    # ran, on SIGPIPE, into its next job).
    import sandbox
    marker = tmp_path / "handler-ran"
    with interpreter(process_policy(write=[str(tmp_path)])) as i:
        i.run(f"import os, signal\n"
              f"def handler(*args):\n"
              f"    open({str(marker)!r}, 'w').close()\n"
              f"try:\n"
              f"    signal.signal(signal.SIGPIPE, handler)\n"
              f"except Exception:\n"
              f"    pass\n"
              f"r, w = os.pipe()\n"
              f"os.close(r)\n"
              f"try:\n"
              f"    os.write(w, b'x')\n"
              f"except BrokenPipeError:\n"
              f"    pass\n"
              f"for _ in range(100): pass")
        assert any("signal" in d.detail for d in i.last_result.denials)
        for source in ["import signal\nsignal.set_wakeup_fd(1)",
                       "import signal\n"
                       "signal.siginterrupt(signal.SIGPIPE, True)"]:
            assert outcome(i, source) == "SandboxError", source
        i.eval("1")                     # a handler pending would run now
    assert not marker.exists()
    # In-process, as in a worker: the host's question, not the tenant's.
    with sandbox.Interpreter() as local:
        assert outcome(local, "import _sandbox\n"
                              "_sandbox.fence_layers()") == "SandboxError"


def test_a_link_makes_no_package_root_or_module_file_writable(tmp_path):
    # A write grant that is a link to a package root, or a module file
    # that is a link into a write grant: the tenant would write the C code
    # that its interpreter then loads (in the host's process, in-process).
    import importlib.machinery
    import _sandbox
    import sandbox
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    root = tmp_path / "root"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / ("ext" + suffix)).write_bytes(b"\x7fELF")
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    with pytest.raises(sandbox.PolicyError) as info:
        sandbox.Policy(packages=[str(root)], modules=["pkg.ext"],
                       write=[str(alias)])
    assert info.value.field == "packages"
    with pytest.raises(_sandbox.PolicyError):
        _sandbox.new_interpreter(packages=[str(root)], write=[str(alias)])
    # A tenant learns nothing of where the host's paths lead that way (its
    # nested interpreters' paths are opened beneath its grants), and makes
    # no worker's start.
    with sandbox.Interpreter() as tenant:
        assert tenant.eval(f"__import__('_sandbox').check_policy("
                           f"packages=[{str(root)!r}], "
                           f"write=[{str(alias)!r}])['write']") == \
            (str(alias),)
        assert outcome(tenant, "import _sandbox\n"
                               "_sandbox.pack_worker_start(False)") == \
            "SandboxError"
    writable = tmp_path / "w"
    writable.mkdir()
    (writable / "ext.so").write_bytes(b"\x7fELF")
    other = tmp_path / "other"
    (other / "pkg").mkdir(parents=True)
    (other / "pkg" / ("ext" + suffix)).symlink_to(writable / "ext.so")
    with pytest.raises(sandbox.PolicyError) as info:
        sandbox.Policy(packages=[str(other)], modules=["pkg.ext"],
                       write=[str(writable)])
    assert info.value.field == "module_files"


def test_modules_are_found_once_when_the_policy_is_made(tmp_path):
    import importlib.machinery
    import sandbox
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    root = tmp_path / "root"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / ("a" + suffix)).write_bytes(b"\x7fELF")
    policy = sandbox.Policy(packages=[str(root)], modules=["pkg.*"])
    (root / "pkg" / ("late" + suffix)).write_bytes(b"\x7fELF")
    assert list(policy._engine()["module_files"]) == ["pkg.a"]


@requires_debug
@requires_layers("seccomp")
def test_the_outer_wall_alone_has_the_kernel_signal_no_process(decoy):
    # F_SETOWN and O_ASYNC make the kernel signal the process they name;
    # only Landlock's signal scope (ABI 6) would stop it otherwise.
    with interpreter(process_policy(), inner_wall_off=True) as i:
        for command, argument in [("F_SETOWN", decoy.pid), ("F_SETSIG", 9),
                                  ("F_SETLEASE", 0), ("F_NOTIFY", 0)]:
            assert outcome(i, f"import fcntl, os\nr, w = os.pipe()\n"
                              f"fcntl.fcntl(r, fcntl.{command}, "
                              f"{argument})") == "PermissionError", command
        # What the C library and Python need still works.
        assert outcome(i, "import fcntl, os\nr, w = os.pipe()\n"
                          "flags = fcntl.fcntl(r, fcntl.F_GETFL)\n"
                          "fcntl.fcntl(r, fcntl.F_SETFL, "
                          "flags | os.O_NONBLOCK)") == "ran"


def refused_in_the_hosts_process(*names):
    """Each module of *names*: a Policy naming it without a worker is a
    PolicyError, and an interpreter of this process cannot import it even
    when the engine's policy names it."""
    import _sandbox
    import sandbox
    for name in names:
        with pytest.raises(sandbox.PolicyError) as info:
            sandbox.Policy(modules=[name])
        assert (info.value.field, info.value.value) == ("modules", name)
        jail = _sandbox.new_interpreter(modules=[name])
        try:
            _sandbox.exec(jail, f"try:\n    import {name}\n"
                                f"except ImportError:\n    refused = True")
            assert _sandbox.eval(jail, "refused") is True
        finally:
            _sandbox.end_interpreter(jail)


def test_fcntl_and_resource_only_in_a_worker(decoy):
    # In the host's process they reach other processes and the host's own
    # limits; a worker's are its tenant's, and seccomp keeps them there.
    refused_in_the_hosts_process("fcntl", "resource")
    import resource
    limit = resource.prlimit(decoy.pid, resource.RLIMIT_CPU)
    if layers()["seccomp"] is None:
        with interpreter(process_policy(modules=["fcntl", "resource"])) as i:
            assert outcome(i, "import fcntl, os\nr, w = os.pipe()\n"
                              f"fcntl.fcntl(r, fcntl.F_SETOWN, "
                              f"{decoy.pid})") == "PermissionError"
            assert outcome(i, "import resource\nresource.prlimit("
                              f"{decoy.pid}, resource.RLIMIT_CPU, "
                              "(1, 1))") == "PermissionError"
            assert outcome(i, "import fcntl, os\nr, w = os.pipe()\n"
                              "fcntl.flock(r, fcntl.LOCK_EX)") == "ran"
    assert resource.prlimit(decoy.pid, resource.RLIMIT_CPU) == limit


def test_modules_that_open_files_by_their_own_paths_only_in_a_worker(
        tmp_path):
    # _sqlite3, _dbm and _gdbm open what they are given with their own C
    # code, and _posixshmem and _multiprocessing make the host's named
    # shared memory and semaphores: in the host's process, past the grants
    # (a hostile review read and created the host's files).  In a worker,
    # Landlock allows the grants only.
    outside = tmp_path / "outside.db"
    refused_in_the_hosts_process("_sqlite3", "_dbm", "_gdbm", "_posixshmem",
                                 "_multiprocessing")
    if layers()["landlock"] is None:
        granted = tmp_path / "granted"
        granted.mkdir()
        # (Its C code opens the host's paths: a grant without GUEST.)
        policy = process_policy(modules=["_sqlite3"], write=[str(granted)])
        with interpreter(policy) as i:
            assert outcome(i, f"import sqlite3\n"
                              f"c = sqlite3.connect("
                              f"{str(granted / 'in.db')!r})\n"
                              f"c.execute('create table t(a)')\n"
                              f"c.commit()") == "ran"
            assert outcome(i, f"import sqlite3\n"
                              f"c = sqlite3.connect({str(outside)!r})\n"
                              f"c.execute('create table t(a)')") \
                in ("OperationalError", "PermissionError")
        assert (granted / "in.db").exists()
    assert not outside.exists()
