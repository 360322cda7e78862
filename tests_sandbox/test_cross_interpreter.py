"""What reaches across interpreters from an untrusted one is closed.

Stock 3.13.5 (DESIGN: "The isolated subinterpreter of 3.13 is not a
sandbox"): sys._current_frames() and sys._current_exceptions() walk every
interpreter's threads and hand out the host's frames and exceptions;
sys.activate_stack_trampoline() switches the evaluator of the whole
process; threading.stack_size() gives threads a stack that deep recursion
overflows.  Each probe runs in a child host, which checks the effect and
shows, as a control, that the same probe reaches the host from a trusted
isolated interpreter.
"""

import sys
import textwrap

from support import requires_untrusted, run_host

pytestmark = requires_untrusted


def host_stdout(code):
    """What *code*, run as a child host that must succeed, printed."""
    proc = run_host(code)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


FRAMES = """
import _interpreters, _sandbox, threading
ready = threading.Event()
release = threading.Event()
def host_secret_function():
    secret_local = "host secret"
    try:
        raise LookupError("host exception")
    except LookupError:
        ready.set()
        release.wait(60)
helper = threading.Thread(target=host_secret_function)
helper.start()
ready.wait(60)
PROBE = '''
import sys
frames = sys._current_frames()
excs = sys._current_exceptions()
'''
try:
    jail = _sandbox.new_interpreter()
    _sandbox.exec(jail, PROBE + '''
names = sorted(f.f_code.co_name for f in frames.values())
kinds = sorted(type(e).__name__ for e in excs.values())
''')
    print("untrusted", _sandbox.eval(jail, "len(frames)"),
          _sandbox.eval(jail, "names"), _sandbox.eval(jail, "kinds"),
          flush=True)
    _sandbox.end_interpreter(jail)
    # The control: a trusted isolated interpreter sees the host's threads.
    # Only counting, and leaving at once: the frame objects it made for
    # the host's frames crash the process when they are freed.
    trusted = _interpreters.create("isolated")
    _interpreters.run_string(trusted, PROBE + '''
import os
os.write(1, f"trusted {len(frames)} {len(excs)}\\\\n".encode())
os._exit(0)
''')
finally:
    release.set()
    helper.join()
"""


def test_current_frames_and_exceptions_show_only_its_own_threads():
    lines = host_stdout(FRAMES).splitlines()
    # Its own job thread only: not the host's main thread nor its helper.
    assert lines[0] == "untrusted 1 ['<module>'] ['NoneType']"
    label, frames, excs = lines[1].split()
    assert int(frames) >= 2 and int(excs) >= 1


TRAMPOLINE = """
import os, sys, _sandbox
perf_map = f"/tmp/perf-{os.getpid()}.map"
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, '''
import sys
results = []
for call in (lambda: sys.activate_stack_trampoline("perf"),
             sys.deactivate_stack_trampoline):
    try:
        call()
    except PermissionError as exc:
        results.append(type(exc).__name__)
''')
print(_sandbox.eval(jail, "results"), sys.is_stack_trampoline_active(),
      os.path.exists(perf_map))
print([d[2] for d in _sandbox.denials(jail)])
_sandbox.end_interpreter(jail)
# The control: the host itself can switch it on, and the map appears.
sys.activate_stack_trampoline("perf")
print(sys.is_stack_trampoline_active(), os.path.exists(perf_map))
sys.deactivate_stack_trampoline()
os.unlink(perf_map)
"""


def test_the_perf_trampoline_is_the_hosts_alone():
    if not hasattr(sys, "activate_stack_trampoline"):
        import pytest
        pytest.skip("no perf trampoline on this platform")
    lines = host_stdout(TRAMPOLINE).splitlines()
    assert lines[0] == "['SandboxError', 'SandboxError'] False False"
    assert lines[1] == ("['sys.activate_stack_trampoline', "
                        "'sys.deactivate_stack_trampoline']")
    assert lines[2] == "True True"


STACK = """
import _interpreters, _sandbox
PROBE = '''
import threading
threading.stack_size(32768)
size = threading.stack_size()
threading.stack_size(0)
'''
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, PROBE)
print(_sandbox.eval(jail, "size"), _sandbox.eval(jail, "threading.stack_size()"),
      flush=True)
_sandbox.end_interpreter(jail)
trusted = _interpreters.create("isolated")
_interpreters.run_string(trusted, PROBE + "import os; os.write(1, b'%d' % size)")
"""


def test_thread_stacks_cannot_be_made_small():
    # Nor large, nor the platform's: always 8 MiB, which each thread is
    # charged against the memory cap.
    lines = host_stdout(STACK).splitlines()
    assert lines[0] == f"{8 * 1024 * 1024} {8 * 1024 * 1024}"
    assert lines[1] == "32768"      # the control: stock behaviour


def test_untrusted_code_creates_no_interpreter(untrusted):
    import _interpreters
    import _sandbox
    before = _interpreters.list_all()
    _sandbox.exec(untrusted, textwrap.dedent("""
        outcomes = []
        for name in ("_interpreters", "_testinternalcapi", "_testcapi"):
            try:
                __import__(name)
            except ModuleNotFoundError as exc:
                outcomes.append(str(exc))
        """))
    # The modules that create interpreters (a trusted one would be an
    # escape) do not exist for it.
    assert _sandbox.eval(untrusted, "outcomes") == [
        "No module named '_interpreters'",
        "No module named '_testinternalcapi'",
        "No module named '_testcapi'"]
    assert _interpreters.list_all() == before
    assert [d[1:3] for d in _sandbox.denials(untrusted)] == [
        ("module", "_interpreters"), ("module", "_testinternalcapi"),
        ("module", "_testcapi")]
    # The control: a trusted interpreter may create one.
    trusted = _interpreters.create("isolated")
    try:
        assert _interpreters.exec(trusted, textwrap.dedent("""
            import _interpreters
            _interpreters.destroy(_interpreters.create("isolated"))
            """)) is None
    finally:
        _interpreters.destroy(trusted)


def test_cross_interpreter_modules_cannot_be_loaded_under_another_name(
        untrusted):
    import _sandbox
    _sandbox.exec(untrusted, textwrap.dedent("""
        import importlib.machinery, importlib.util
        outcomes = []
        for real in ("_interpreters", "_interpqueues", "_ctypes", "_datetime"):
            origin = importlib.util.find_spec(real).origin
            loader = importlib.machinery.ExtensionFileLoader("innocent",
                                                             origin)
            spec = importlib.util.spec_from_loader("innocent", loader)
            try:
                importlib.util.module_from_spec(spec)
            except ModuleNotFoundError:
                outcomes.append("refused")
        import datetime                     # the pure-Python one
        now = datetime.datetime(2026, 11, 26).isoformat()
        """))
    assert _sandbox.eval(untrusted, "outcomes") == ["refused"] * 4
    assert _sandbox.eval(untrusted, "now") == "2026-11-26T00:00:00"


DATETIME_FIRST = """
import _sandbox
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, "import datetime; datetime.datetime.now()")
import datetime
_sandbox.end_interpreter(jail)
print(datetime.datetime.__mro__[0].__name__, datetime.date(2026, 1, 1).year)
"""


def test_the_hosts_datetime_survives_an_untrusted_interpreters_end():
    # Its static types, readied first in an untrusted heap, were freed
    # with that heap: the host crashed at its next use of them.
    assert host_stdout(DATETIME_FIRST) == "datetime 2026\n"


def test_untrusted_code_finds_no_other_interpreter(untrusted, tmp_path):
    import _interpreters
    import _sandbox
    marker = tmp_path / "ran-in-the-trusted-interpreter"
    trusted = _interpreters.create("isolated")
    sibling = _sandbox.new_interpreter()
    try:
        _sandbox.exec(untrusted, textwrap.dedent(f"""
            import _sandbox
            outcomes = []
            for target in ({trusted}, {sibling}, 0, 10**6):
                for reach in (
                        lambda: _sandbox.exec(
                            target, "open({str(marker)!r}, 'w')"),
                        lambda: _sandbox.end_interpreter(target),
                        lambda: _sandbox.take_output(target, 1),
                        lambda: _sandbox.denials(target),
                        lambda: _sandbox.query(target)):
                    try:
                        reach()
                    except PermissionError:
                        outcomes.append("denied")
                    else:
                        outcomes.append("reached")
            """))
        # The same answer for the host's, another tenant's, the main and
        # no interpreter at all: no oracle.
        assert _sandbox.eval(untrusted, "outcomes") == ["denied"] * 20
        assert not marker.exists()
        # Both are alive and well.
        assert _sandbox.eval(sibling, "'alive'") == "alive"
        assert _interpreters.exec(trusted, "pass") is None
        # The control: from the trusted interpreter the same call runs.
        assert _interpreters.exec(trusted, textwrap.dedent(f"""
            import _interpreters
            _interpreters.exec({sibling}, "pass")
            """)) is None
    finally:
        _sandbox.end_interpreter(sibling)
        _interpreters.destroy(trusted)
