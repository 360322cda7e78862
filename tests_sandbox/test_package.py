"""sandbox.Interpreter, sandbox.run and sandbox.Pool, from the host; and
the package inside an untrusted interpreter and in a flag-off build."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import sandbox
from support import UNTRUSTED_BUILD, requires_untrusted


def test_flag_off_build_says_so():
    if UNTRUSTED_BUILD:
        pytest.skip("the flag-off build")
    assert sandbox.available is False and sandbox.restricted is False
    for make in (sandbox.Interpreter, sandbox.Pool,
                 lambda: sandbox.run("pass")):
        with pytest.raises(sandbox.UnavailableError,
                           match="configure it with --with-untrusted"):
            make()
    # The exception names exist, so that host code catching them works.
    assert issubclass(sandbox.SandboxError, PermissionError)
    assert not issubclass(sandbox.SandboxLimitExceeded, Exception)


@requires_untrusted
def test_run_returns_output_denials_and_what_remains():
    policy = sandbox.Policy(threads=2)
    result = sandbox.run(textwrap.dedent("""
        import sys, _sandbox
        print("to stdout")
        print("to stderr", file=sys.stderr)
        try:
            _sandbox.take_output(0, 1)
        except PermissionError:
            pass
        """), policy)
    assert result.stdout == "to stdout\n"
    assert result.stderr == "to stderr\n"
    [denial] = result.denials
    assert denial.resource == "trusted"
    assert denial.location == "<string>:6"
    assert result.remaining.pop("memory") > 200 * 2**20
    assert result.remaining == {"threads": 2}
    assert result.value is None


@requires_untrusted
def test_state_persists_and_values_come_back():
    with sandbox.Interpreter() as interp:
        interp.run("total = 0\ndef add(n):\n    global total\n"
                   "    total += n\n    print('adding', n)\n    return total\n")
        assert interp.call("__main__:add", 5) == 5
        assert interp.call("__main__:add", n=2) == 7
        assert interp.last_result.stdout == "adding 2\n"
        assert interp.eval("total * 10") == 70
        assert interp.last_result.value == 70
        assert interp.call("json:loads", '{"a": [1, null]}') == \
            {"a": [1, None]}


@requires_untrusted
def test_each_job_reports_only_its_own_denials():
    with sandbox.Interpreter() as interp:
        deny = "import _sandbox\ntry:\n    _sandbox.take_output(0, 1)\n" \
               "except PermissionError:\n    pass\n"
        assert len(interp.run(deny).denials) == 1
        assert interp.run("pass").denials == ()
        assert len(interp.run(deny + deny).denials) == 2


@requires_untrusted
def test_an_exception_inside_is_a_remote_error_with_its_result():
    with sandbox.Interpreter() as interp:
        with pytest.raises(sandbox.RemoteError) as info:
            interp.run("print('before')\nraise KeyError('k')", filename="job.py")
        exc = info.value
        assert exc.type_name == "KeyError" and exc.message == "'k'"
        assert 'File "job.py", line 2' in exc.traceback
        assert exc.result.stdout == "before\n"
        assert interp.last_result is exc.result
        # The interpreter is still usable.
        assert interp.eval("1 + 1") == 2


@requires_untrusted
def test_run_path_sets_argv_and_hides_the_host_path(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("# -*- coding: latin-1 -*-\nimport sys\n"
                      "print(sys.argv, __file__, '\xe9')\n",
                      encoding="latin-1")
    with sandbox.Interpreter() as interp:
        result = interp.run_path(str(script), ["a", 1])
    assert result.stdout == "['tool.py', 'a', '1'] /sandbox/tool.py \xe9\n"
    assert str(tmp_path) not in result.stdout
    with sandbox.Interpreter() as interp:
        with pytest.raises(OSError, match="cannot read the script"):
            interp.run_path(str(tmp_path / "missing.py"))


@requires_untrusted
def test_closed_interpreters_and_bad_arguments():
    interp = sandbox.Interpreter()
    interp_id = interp.id
    interp.close()
    interp.close()                      # twice is fine
    assert interp.id is None
    with pytest.raises(ValueError, match="closed"):
        interp.run("pass")
    import _interpreters
    assert interp_id not in [i for i, *_ in _interpreters.list_all()]
    with pytest.raises(TypeError, match="sandbox.Policy"):
        sandbox.Interpreter({"threads": 1})
    with sandbox.Interpreter() as interp:
        with pytest.raises(TypeError):
            interp.run(b"pass")
        with pytest.raises(TypeError):
            interp.eval(1)
        with pytest.raises(TypeError):
            interp.call(len)


@requires_untrusted
def test_a_dropped_interpreter_is_ended():
    import _interpreters
    import gc
    interp = sandbox.Interpreter()
    interp_id = interp.id
    del interp
    gc.collect()
    assert interp_id not in [i for i, *_ in _interpreters.list_all()]


@requires_untrusted
def test_one_interpreter_from_two_threads_is_serialized():
    with sandbox.Interpreter() as interp:
        interp.run("log = []")
        job = textwrap.dedent("""
            import time
            log.append(("start", {n}))
            time.sleep(0.05)
            log.append(("end", {n}))
            """)
        threads = [threading.Thread(target=interp.run, args=(job.format(n=n),))
                   for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        log = interp.eval("log")
    assert len(log) == 8
    # Never interleaved: each start is followed by its own end.
    for (kind1, n1), (kind2, n2) in zip(log[::2], log[1::2]):
        assert (kind1, kind2) == ("start", "end") and n1 == n2


@requires_untrusted
def test_the_package_inside_offers_only_queries():
    with sandbox.Interpreter(sandbox.Policy(threads=3)) as interp:
        interp.run(textwrap.dedent("""
            import sandbox
            names = sorted(n for n in dir(sandbox) if not n.startswith("_"))
            allowed = sandbox.allowed()
            """))
        names = interp.eval("names")
        assert "Interpreter" not in names and "Pool" not in names
        assert {"allowed", "denials", "restricted"} <= set(names)
        assert interp.eval("sandbox.restricted") is True
        allowed = interp.eval("allowed")
        assert allowed.pop(("Python", "memory"))[1] == 256 * 2**20
        assert allowed.pop(("Python", "time"))[1] == 30.0
        assert allowed.pop(("Python", "cpu"))[1] == 30.0
        assert allowed == {("Python", "threads"): (0, 3)}
    with pytest.raises(RuntimeError, match="query for code in an untrusted"):
        sandbox.allowed()


@requires_untrusted
def test_pool_hands_out_fresh_interpreters():
    with sandbox.Pool(size=2) as pool:
        futures = [pool.submit_source(
            "import sys\n"
            "print(globals().get('leftover', 'clean'))\n"
            "leftover = 'dirty'\n"
            "sys.modules['json'] = 'poisoned'\n") for _ in range(6)]
        assert [f.result(60).stdout for f in futures] == ["clean\n"] * 6
        squares = [pool.submit("builtins:pow", n, 2) for n in range(10)]
        assert [f.result(60) for f in squares] == [n * n for n in range(10)]
        assert pool.submit("json:dumps", [1]).result(60) == "[1]"
        failing = pool.submit("builtins:int", "x")
        with pytest.raises(sandbox.RemoteError, match="ValueError"):
            failing.result(60)
    with pytest.raises(RuntimeError):
        pool.submit("builtins:abs", 1)
    with pytest.raises(ValueError):
        sandbox.Pool(size=0)


@requires_untrusted
def test_pool_jobs_run_in_parallel():
    spin = "import time\nt0 = time.monotonic()\nn = 0\n" \
           "while n < 2_000_000: n += 1\nprint(t0, time.monotonic())\n"
    with sandbox.Pool(size=2) as pool:
        pool.submit_source("pass").result(60)       # warm
        results = [pool.submit_source(spin) for _ in range(2)]
        spans = [tuple(map(float, f.result(120).stdout.split()))
                 for f in results]
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1
