"""Process-wide state is not an untrusted interpreter's (issue 5, second
step): the host's working directory, umask, environment (its own and the
C one its children inherit), locale and time zone stay as they were, and
none of the host's environment is seen inside.  Checked in a child host,
against a control from a trusted isolated interpreter."""

from support import job_outcome, requires_untrusted, run_host

pytestmark = requires_untrusted


HOSTILE = '''
import locale, os, time
outcomes = {}
seen = dict(os.environ)
os.environ["INJECTED"] = "from untrusted code"
os.environ.pop("HOST_SECRET", None)
for name, attempt in (
        ("chdir", lambda: os.chdir("/")),
        ("fchdir", lambda: os.fchdir(os.open("/", os.O_RDONLY))),
        ("umask", lambda: os.umask(0o777)),
        ("setuid", lambda: os.setuid(os.getuid())),
        ("setgid", lambda: os.setgid(os.getgid())),
        ("setgroups", lambda: os.setgroups([])),
        ("nice", lambda: os.nice(5)),
        ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 5)),
        ("setsid", os.setsid),
        ("setlocale", lambda: locale.setlocale(locale.LC_ALL, "C"))):
    try:
        attempt()
        outcomes[name] = "ran"
    except PermissionError as exc:
        outcomes[name] = type(exc).__name__
'''

HOST = """
import _sandbox, locale, os, subprocess
before = (os.getcwd(), os.umask(0o027), locale.setlocale(locale.LC_ALL),
          os.nice(0))
os.umask(before[1])
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, {hostile!r})
print(_sandbox.eval(jail, "outcomes"))
print(_sandbox.eval(jail, "seen"))
print(_sandbox.eval(jail, "os.environ.get('INJECTED')"))
_sandbox.end_interpreter(jail)
after = (os.getcwd(), os.umask(0o027), locale.setlocale(locale.LC_ALL),
         os.nice(0))
print(before == after)
print(os.environ.get("HOST_SECRET"), os.environ.get("INJECTED"))
child = subprocess.run(["sh", "-c", 'echo "$HOST_SECRET:$INJECTED"'],
                       capture_output=True, text=True)
print(child.stdout.strip())
"""


def test_process_wide_state_is_the_hosts(tmp_path):
    proc = run_host(HOST.format(hostile=HOSTILE), HOST_SECRET="s3cret",
                    TZ="UTC")
    assert proc.returncode == 0, proc.stderr
    outcomes, seen, injected, same, host_env, child_env = \
        proc.stdout.splitlines()
    assert set(eval(outcomes).values()) == {"SandboxError"}
    # It sees none of the host's environment, and its changes stay
    # inside: not in the host's os.environ, not in the C environment.
    assert seen == "{}"
    assert injected == "from untrusted code"
    assert same == "True"
    assert host_env == "s3cret None"
    assert child_env == "s3cret:"


CONTROL = """
import _interpreters, os
i = _interpreters.create("isolated")
_interpreters.exec(i, "import os; os.chdir('/'); os.putenv('INJECTED', 'x')")
print(os.getcwd())
"""


def test_the_control_shows_the_stock_hole(tmp_path):
    # From a trusted isolated interpreter the same calls reach the host.
    proc = run_host(CONTROL, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "/\n"


RLIMIT = """
import _sandbox, resource
before = resource.getrlimit(resource.RLIMIT_NOFILE)
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, '''
try:
    import resource
    resource.setrlimit(resource.RLIMIT_NOFILE, (3, 3))
    outcome = "ran"
except ImportError as exc:
    outcome = type(exc).__name__
''')
print(_sandbox.eval(jail, "outcome"))
_sandbox.end_interpreter(jail)
print(resource.getrlimit(resource.RLIMIT_NOFILE) == before)
"""


def test_the_process_limits_are_the_hosts():
    # setrlimit(RLIMIT_NOFILE, (3, 3)) from inside would leave the host
    # unable to open a file: resource is not loaded there.
    proc = run_host(RLIMIT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ModuleNotFoundError\nTrue\n"


SIGNALS = """
import _sandbox, os, signal, time
before = ({{s: signal.getsignal(s) for s in signal.valid_signals()}},
          signal.pthread_sigmask(signal.SIG_BLOCK, []),
          os.getuid(), os.getgid(), os.getgroups(), time.tzname)
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, '''
import os, signal, time
outcomes = {{}}
for name, attempt in (
        ("signal", lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)),
        ("siginterrupt", lambda: signal.siginterrupt(signal.SIGINT, True)),
        ("set_wakeup_fd", lambda: signal.set_wakeup_fd(-1)),
        ("pthread_sigmask", lambda: signal.pthread_sigmask(
            signal.SIG_BLOCK, [signal.SIGINT])),
        ("setuid", lambda: os.setuid(65534)),
        ("setgroups", lambda: os.setgroups([])),
        ("tzset", lambda: (os.environ.__setitem__("TZ", "Asia/Tokyo"),
                           time.tzset())),
        ("clock_settime", lambda: time.clock_settime(
            time.CLOCK_REALTIME, time.clock_gettime(time.CLOCK_REALTIME))),
        ("clock_settime_ns", lambda: time.clock_settime_ns(
            time.CLOCK_REALTIME, time.clock_gettime_ns(time.CLOCK_REALTIME)))):
    try:
        attempt()
        outcomes[name] = "ran"
    except (PermissionError, ValueError) as exc:
        outcomes[name] = type(exc).__name__
''')
outcomes = _sandbox.eval(jail, "outcomes")
print(outcomes.pop("tzset"), sorted(set(outcomes.values())))
print(_sandbox.eval(jail, "__import__('time').tzname") == time.tzname)
_sandbox.end_interpreter(jail)
after = ({{s: signal.getsignal(s) for s in signal.valid_signals()}},
         signal.pthread_sigmask(signal.SIG_BLOCK, []),
         os.getuid(), os.getgid(), os.getgroups(), time.tzname)
print(before == after)
"""


def test_signal_handlers_ids_and_time_zone_are_the_hosts():
    # All denied (SandboxError), signal() and set_wakeup_fd() too, which
    # CPython refuses outside the main interpreter only (ValueError): a
    # worker's main interpreter is untrusted.
    # time.tzset() runs and does nothing (the process's time zone stays,
    # inside too), so that _strptime imports.
    proc = run_host(SIGNALS.format(), TZ="UTC")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ran ['SandboxError']\nTrue\nTrue\n"


def test_strptime_works(untrusted):
    # _strptime calls time.tzset() when imported.
    assert job_outcome(untrusted, """
        import datetime, time
        assert datetime.datetime.strptime("2026-12-05", "%Y-%m-%d").day == 5
        assert time.strptime("12:30", "%H:%M").tm_min == 30
    """) == "ran"
