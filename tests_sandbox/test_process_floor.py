"""No process is started, ended or signalled from an untrusted interpreter,
and it cannot arm signals that kill the host (issue 5, first step).

Stock 3.13.5 lets an isolated subinterpreter run os.system() and
posix_spawn(), end the host with os._exit(), and kill it with
signal.setitimer().  Each test runs a child host and checks the effect:
the marker file is not created, the decoy process lives, the host ends
with its own status.
"""

import os
import signal
import subprocess
import sys
import time

from support import requires_untrusted, run_host

pytestmark = requires_untrusted


SPAWN = """
import _interpreters, _sandbox
marker = {marker!r}
ATTEMPTS = '''
import os
outcomes = []
for attempt in (
        lambda: os.system("touch " + {marker!r}),
        lambda: os.posix_spawn("/bin/touch", ["touch", {marker!r}], {{}}),
        lambda: os.posix_spawnp("touch", ["touch", {marker!r}], {{}}),
        lambda: os.fork(),
        lambda: os.execv("/bin/touch", ["touch", {marker!r}])):
    try:
        attempt()
        outcomes.append("ran")
    except PermissionError as exc:
        outcomes.append(type(exc).__name__)
import subprocess
for attempt in (lambda: subprocess.run(["touch", {marker!r}]),
                lambda: subprocess.Popen("touch " + {marker!r}, shell=True)):
    try:
        attempt()
        outcomes.append("ran")
    except PermissionError as exc:
        outcomes.append(type(exc).__name__)
'''
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, ATTEMPTS)
print(_sandbox.eval(jail, "outcomes"))
_sandbox.end_interpreter(jail)
"""


def test_no_process_is_started(tmp_path):
    marker = str(tmp_path / "spawned")
    proc = run_host(SPAWN.format(marker=marker))
    assert proc.returncode == 0, proc.stderr
    # subprocess imports (asyncio needs it), but starts nothing
    assert proc.stdout == str(["SandboxError"] * 7) + "\n"
    assert not os.path.exists(marker)
    # The control: the same os.system() from a trusted isolated
    # interpreter creates the marker.
    control = run_host(f"""
        import _interpreters
        i = _interpreters.create("isolated")
        _interpreters.exec(i, "import os; os.system('touch {marker}')")
        """)
    assert control.returncode == 0, control.stderr
    assert os.path.exists(marker)


EXIT = """
import _sandbox
jail = _sandbox.new_interpreter()
for code in ("import os; os._exit(7)", "import os; os.abort()"):
    try:
        _sandbox.exec(jail, code)
    except _sandbox.RemoteError as exc:
        print(exc.type_name)
_sandbox.end_interpreter(jail)
print("host alive")
raise SystemExit(3)
"""


def test_the_hosts_exit_status_is_its_own():
    proc = run_host(EXIT)
    assert proc.stdout == "sandbox.SandboxError\nsandbox.SandboxError\n" \
                          "host alive\n"
    assert proc.returncode == 3


KILL = """
import _sandbox, os, signal
decoy = {decoy}
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, f'''
import os, signal
outcomes = []
for attempt in (lambda: os.kill({{decoy}}, signal.SIGKILL),
                # (its own session: its group's ID is its process ID;
                # os.getpgid() of another process is ProcessLookupError)
                lambda: os.killpg({{decoy}}, signal.SIGKILL),
                lambda: os.kill(os.getpid(), signal.SIGTERM),
                lambda: signal.raise_signal(signal.SIGTERM),
                lambda: signal.pthread_kill(__import__("threading").get_ident(),
                                            signal.SIGTERM)):
    try:
        attempt()
        outcomes.append("ran")
    except PermissionError as exc:
        outcomes.append(type(exc).__name__)
''')
print(_sandbox.eval(jail, "outcomes"))
_sandbox.end_interpreter(jail)
"""


def test_no_process_is_signalled():
    decoy = subprocess.Popen([sys.executable, "-c",
                              "import time; time.sleep(60)"],
                             start_new_session=True)
    try:
        proc = run_host(KILL.format(decoy=decoy.pid))
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == str(["SandboxError"] * 5) + "\n"
        time.sleep(0.2)
        assert decoy.poll() is None          # the decoy lives
    finally:
        decoy.kill()
        decoy.wait()


TIMERS = """
import _sandbox, time
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, '''
import signal
outcomes = []
for attempt in (lambda: signal.setitimer(signal.ITIMER_REAL, 0.2),
                lambda: signal.alarm(1),
                lambda: signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT]),
                lambda: signal.siginterrupt(signal.SIGINT, True)):
    try:
        attempt()
        outcomes.append("ran")
    except PermissionError as exc:
        outcomes.append(type(exc).__name__)
''')
print(_sandbox.eval(jail, "outcomes"), flush=True)
_sandbox.end_interpreter(jail)
time.sleep(1.5)                 # an armed timer would have killed us
print("host alive")
"""


def test_no_timer_or_handler_can_kill_the_host():
    proc = run_host(TIMERS)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert proc.stdout == str(["SandboxError"] * 4) + "\nhost alive\n"
    assert "Traceback" not in proc.stderr


EVERY_PATH = """
import _sandbox
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, '''
import os
M = {marker!r}
os.environ["BROWSER"] = "touch " + M
outcomes = {{}}
def browse():
    # webbrowser catches the OSError and returns False
    if __import__("webbrowser").open("http://127.0.0.1:9/"):
        raise AssertionError("a browser started")
    raise PermissionError("webbrowser.open() returned False")
for name, attempt in (
        ("popen", lambda: os.popen("touch " + M).read()),
        ("spawnv", lambda: os.spawnv(os.P_WAIT, "/bin/touch", ["touch", M])),
        ("spawnlp", lambda: os.spawnlp(os.P_WAIT, "touch", "touch", M)),
        ("execl", lambda: os.execl("/bin/touch", "touch", M)),
        ("execvpe", lambda: os.execvpe("touch", ["touch", M], {{}})),
        ("forkpty", os.forkpty),
        ("pty.spawn", lambda: __import__("pty").spawn(["touch", M])),
        ("multiprocessing", lambda: __import__("multiprocessing").Process(
            target=print).start()),
        ("webbrowser", browse),
        ("antigravity", lambda: __import__("antigravity"))):
    try:
        attempt()
        outcomes[name] = "ran"
    except (PermissionError, ImportError) as exc:
        outcomes[name] = type(exc).__name__
outcomes.pop("antigravity")     # it calls webbrowser.open() at import
''')
print(sorted(set(_sandbox.eval(jail, "outcomes").values())))
_sandbox.end_interpreter(jail)
"""


def test_no_process_from_any_stdlib_path(tmp_path):
    # popen, spawn*, exec*, forkpty, pty, multiprocessing, webbrowser and
    # antigravity (with BROWSER naming a command) all end in SandboxError
    # or a missing module; the marker never appears.
    marker = str(tmp_path / "spawned")
    proc = run_host(EVERY_PATH.format(marker=marker))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == \
        "['ModuleNotFoundError', 'PermissionError', 'SandboxError']\n"
    time.sleep(0.2)
    assert not os.path.exists(marker)


INTERRUPT = """
import _sandbox, time
jail = _sandbox.new_interpreter()
try:
    _sandbox.exec(jail, "import _thread; _thread.interrupt_main()")
except _sandbox.RemoteError as exc:
    print(exc.type_name)
try:
    time.sleep(0.2)
    print("host not interrupted")
except KeyboardInterrupt:
    print("host interrupted")
_sandbox.end_interpreter(jail)
"""


def test_the_hosts_main_thread_is_not_interrupted():
    # Stock 3.13.5: _thread.interrupt_main() in a subinterpreter raises
    # KeyboardInterrupt in the main interpreter's main thread.
    proc = run_host(INTERRUPT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sandbox.SandboxError\nhost not interrupted\n"
    control = run_host("""
        import _interpreters, time
        i = _interpreters.create("isolated")
        try:
            _interpreters.exec(i, "import _thread; _thread.interrupt_main()")
            time.sleep(0.2)
        except KeyboardInterrupt:
            print("host interrupted")
        """)
    assert control.stdout == "host interrupted\n"
