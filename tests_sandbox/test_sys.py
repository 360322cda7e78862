"""sys in an untrusted interpreter (issue 5, item 5): what is per
interpreter stays and does not reach the host; the limits its code may
change, it may lower but not raise; what reaches past the interpreter
raises SandboxError.  Effects are checked on the host: its limits, its
trace and monitoring state, its frames, its stderr, the marker a debugger
hook would create."""

import sys

import pytest

from support import job_outcome as outcome, requires_untrusted, run_host

pytestmark = requires_untrusted




def test_the_recursion_limit_can_be_lowered_not_raised(untrusted):
    before = sys.getrecursionlimit()
    assert outcome(untrusted, "import sys; sys.setrecursionlimit(1001)") \
        == "SandboxError"
    assert outcome(untrusted, "import sys; sys.setrecursionlimit(10**6)") \
        == "SandboxError"
    assert outcome(untrusted, """
        import sys
        sys.setrecursionlimit(200)
        def down(n): return down(n + 1)
        try:
            down(0)
        except RecursionError:
            pass
        sys.setrecursionlimit(1000)
    """) == "ran"
    assert sys.getrecursionlimit() == before


def test_the_policys_recursion_limit():
    import _sandbox
    jail = _sandbox.new_interpreter(recursion_limit=60)
    try:
        assert _sandbox.eval(jail, "__import__('sys').getrecursionlimit()") \
            == 60
        assert outcome(jail, "def f(n): return f(n + 1) if n < 100 else n\n"
                             "f(0)") == "RecursionError"
        assert outcome(jail, "import sys; sys.setrecursionlimit(61)") == \
            "SandboxError"
        # a nested interpreter gets no deeper limit than its creator's
        assert outcome(jail, "import _sandbox; _sandbox.new_interpreter()") \
            == "SandboxError"
        assert outcome(jail, "import _sandbox\n"
                             "_sandbox.end_interpreter("
                             "_sandbox.new_interpreter(recursion_limit=30))") == "ran"
    finally:
        _sandbox.end_interpreter(jail)
    with pytest.raises(ValueError):
        _sandbox.new_interpreter(recursion_limit=-1)
    with pytest.raises(ValueError):
        _sandbox.new_interpreter(recursion_limit=10**7)


INT_DIGITS = """
import _sandbox, sys
jail = _sandbox.new_interpreter()
print(_sandbox.eval(jail, "__import__('sys').get_int_max_str_digits()"))
for code in ("import sys; sys.set_int_max_str_digits(0)",
             "import sys; sys.set_int_max_str_digits(5000)",
             "str(10 ** 5000)",
             "import sys; sys.set_int_max_str_digits(640)"):
    try:
        _sandbox.exec(jail, code)
        print("ran")
    except _sandbox.RemoteError as exc:
        print(exc.type_name.rpartition(".")[2])
_sandbox.end_interpreter(jail)
print(sys.get_int_max_str_digits(), len(str(10 ** 5000)))
"""


def test_int_max_str_digits_is_never_lifted():
    # The host lifted the cap for itself; its tenants keep Python's.
    proc = run_host(INT_DIGITS, "-X", "int_max_str_digits=0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4300", "SandboxError", "SandboxError",
                                   "ValueError", "ran", "0", "5001"]


BREAKPOINT = """
import _sandbox, sys
jail = _sandbox.new_interpreter()
for code in ("breakpoint()",
             "import sys; sys.breakpointhook()",
             "import sys; sys._debugmallocstats()",
             "import sys; sys.setdlopenflags(0x100 | 2)"):
    try:
        _sandbox.exec(jail, code)
        print("ran")
    except _sandbox.RemoteError as exc:
        print(exc.type_name.rpartition(".")[2])
print(_sandbox.eval(jail, "__import__('sys').getdlopenflags()")
      == sys.getdlopenflags())
_sandbox.end_interpreter(jail)
"""


def test_no_debugger_no_dlopen_flags_no_host_stderr(tmp_path):
    # PYTHONBREAKPOINT names a hook that would create the marker.
    (tmp_path / "hook.py").write_text(
        f"def fire(*a, **k): open({str(tmp_path / 'marker')!r}, 'w')\n")
    proc = run_host(BREAKPOINT, PYTHONBREAKPOINT="hook.fire",
                    PYTHONPATH=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["SandboxError"] * 4 + ["True"]
    assert proc.stderr == ""
    assert not (tmp_path / "marker").exists()


def test_tracing_and_monitoring_stay_inside(untrusted):
    import _sandbox
    assert outcome(untrusted, """
        import sys
        seen = []
        def tracer(frame, event, arg):
            seen.append(frame.f_code.co_name)
            return tracer
        sys.settrace(tracer)
        sys.setprofile(tracer)
        sys._settraceallthreads(tracer)
        mon = sys.monitoring
        mon.use_tool_id(3, "spy")
        mon.set_events(3, mon.events.PY_START)
        mon.register_callback(3, mon.events.PY_START,
                              lambda code, off: seen.append(code.co_name))
    """) == "ran"
    assert sys.gettrace() is None and sys.getprofile() is None

    def host_function():
        return 42
    host_function()
    assert sys.monitoring.get_tool(3) is None
    assert "host_function" not in _sandbox.eval(untrusted, "seen")


def test_frames_are_its_own(untrusted):
    # The host runs the job from a function of its own; the untrusted
    # side's frame chain ends at the job's module, never reaching it.
    import _sandbox
    assert outcome(untrusted, """
        import sys
        def chain():
            f, found = sys._getframe(), []
            while f is not None:
                found.append([f.f_code.co_name, *sorted(f.f_locals)])
                f = f.f_back
            return found
    """) == "ran"

    def host_caller():
        host_secret = "s3cret"  # noqa: F841 (what the walk must not see)
        return _sandbox.eval(untrusted, "chain()")

    found = host_caller()
    assert found[0][0] == "chain" and found[-1][0] == "<module>"
    assert not any("host_secret" in f or "host_caller" in f for f in found)
    assert outcome(untrusted, """
        import sys, threading
        assert list(sys._current_frames()) == [threading.get_ident()]
    """) == "ran"


def test_the_hosts_program_is_not_shown(untrusted):
    import _sandbox
    assert _sandbox.eval(untrusted, "__import__('sys').executable") == ""
    assert _sandbox.eval(untrusted, "__import__('sys')._base_executable") \
        == ""
    assert _sandbox.eval(untrusted, "__import__('sys').orig_argv") == []
    assert _sandbox.eval(untrusted, "__import__('sys').argv") == [""]


def test_per_interpreter_settings_do_not_reach_the_host(untrusted):
    import _sandbox
    interval = sys.getswitchinterval()
    assert outcome(untrusted, """
        import sys
        sys.setswitchinterval(1e-6)
        sys._clear_type_cache()
        sys._clear_internal_caches()
        sys.set_asyncgen_hooks(firstiter=print)
        sys.set_coroutine_origin_tracking_depth(5)
        sys.addaudithook(lambda *a: None)
        sys.displayhook = sys.excepthook = print
    """) == "ran"
    assert sys.getswitchinterval() == interval
    assert sys.get_asyncgen_hooks().firstiter is None
    assert sys.get_coroutine_origin_tracking_depth() == 0
    assert sys.displayhook is sys.__displayhook__
    # ordinary code's needs are there
    assert _sandbox.eval(untrusted, """(lambda sys: [
        sys.maxsize == sys.maxsize, sys.flags.optimize >= 0,
        sys.float_info.max > 0, sys.int_info.bits_per_digit > 0,
        sys.hash_info.width > 0, sys.implementation.name,
        sys.getrecursionlimit(), sys.getsizeof(1) > 0,
        sys.intern('x'), sys.exception(), sys.exc_info()[0],
        sys.is_finalizing(), list(sys.version_info[:2])])(
            __import__('sys'))""") == [
        True, True, True, True, True, "cpython", 1000, True, "x", None,
        None, False, [3, 13]]


OPTIONS = """
import _sandbox, sys
sys.stderr.write("-- host imports done\\n")
jail = _sandbox.new_interpreter()
_sandbox.exec(jail, "import json, decimal")
print(_sandbox.eval(jail, "(__import__('sys').warnoptions, "
                          "__import__('sys')._xoptions)"))
_sandbox.end_interpreter(jail)
"""


def test_the_hosts_options_stay_the_hosts():
    # -W and -X are the host's; -X importtime and -v would make the
    # tenant's imports write to the process's C stderr.
    proc = run_host(OPTIONS, "-W", "error", "-X", "importtime", "-v")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "([], {})\n"
    tenant_stderr = proc.stderr.partition("-- host imports done\n")[2]
    assert "json" not in tenant_stderr and "decimal" not in tenant_stderr
