"""The transport: run, evaluate and call in an untrusted interpreter.

Values cross as copies made in C (DESIGN: "Decisions fixed now"), and an
exception inside comes back as RemoteError with three strings the
untrusted side made.  Each test looks from the host: what came back, and
that the host is unharmed.
"""

import textwrap
import threading
import time

import pytest

from support import UNTRUSTED_BUILD, requires_untrusted, run_host

pytestmark = requires_untrusted

if UNTRUSTED_BUILD:
    import _interpreters
    import _sandbox


VALUES = [
    None, True, False, 0, 1, -1, 255, -256, 2**63, -2**63 - 1, 10**100,
    -(7**300), 0.0, -0.0, 1.5, float("inf"), "", "text", "é€😀",
    "lone \udc80 surrogate", b"", b"\x00\xff", (), [], {}, (1, [2, {3: 4}]),
    {"a": [1, 2.5, None], (1, "k"): b"v", 3: {"nested": ()}},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_cross_both_ways_equal(untrusted, value):
    _sandbox.exec(untrusted, "def echo(v):\n    return v\n")
    back = _sandbox.call(untrusted, "__main__:echo", (value,))
    assert back == value and type(back) is type(value)
    _sandbox.exec(untrusted, "inf = float('inf')")
    assert repr(_sandbox.eval(untrusted, repr(value))) == repr(value)


def test_nan_crosses(untrusted):
    back = _sandbox.eval(untrusted, "float('nan')")
    assert back != back


def test_values_are_copies_not_shared(untrusted):
    mine = [1, 2]
    _sandbox.exec(untrusted, "kept = None\n"
                             "def keep(v):\n"
                             "    global kept\n"
                             "    kept = v\n"
                             "    v.append('inside')\n"
                             "    return v\n")
    back = _sandbox.call(untrusted, "__main__:keep", (mine,))
    assert mine == [1, 2]
    assert back == [1, 2, "inside"] and back is not mine
    back.append("host")
    assert _sandbox.eval(untrusted, "kept") == [1, 2, "inside"]


def test_state_persists_between_calls(untrusted):
    _sandbox.exec(untrusted, "counter = 0")
    for _ in range(3):
        _sandbox.exec(untrusted, "counter += 1")
    assert _sandbox.eval(untrusted, "counter") == 3


def test_call_with_keywords_and_dotted_targets(untrusted):
    _sandbox.exec(untrusted, textwrap.dedent("""
        class Tools:
            class Inner:
                @staticmethod
                def join(*parts, sep="-"):
                    return sep.join(parts)
        """))
    assert _sandbox.call(untrusted, "__main__:Tools.Inner.join",
                         ("a", "b"), {"sep": "+"}) == "a+b"
    assert _sandbox.call(untrusted, "json:dumps",
                         ({"k": [1, None]},)) == '{"k": [1, null]}'
    assert _sandbox.call(untrusted, "os.path:join", ("a", "b")) == "a/b"


@pytest.mark.parametrize("expression", [
    "object()", "lambda: 0", "{1, 2}", "[object()]", "{'k': object()}",
    "__import__('collections').OrderedDict()",
    "type('S', (str,), {})('subclass')", "True.__class__",
])
def test_other_results_do_not_cross(untrusted, expression):
    with pytest.raises(TypeError, match="cannot cross interpreters"):
        _sandbox.eval(untrusted, expression)
    # The interpreter is still usable.
    assert _sandbox.eval(untrusted, "1 + 1") == 2


def test_cycles_and_deep_nesting_are_refused(untrusted):
    _sandbox.exec(untrusted, "loop = []\nloop.append(loop)\n"
                             "deep = []\nfor _ in range(1000): deep = [deep]")
    for name in ("loop", "deep"):
        with pytest.raises(ValueError, match="nested too deeply"):
            _sandbox.eval(untrusted, name)
    deep = []
    for _ in range(1000):
        deep = [deep]
    with pytest.raises(ValueError, match="nested too deeply"):
        _sandbox.call(untrusted, "builtins:len", (deep,))


def test_oversized_values_are_refused(untrusted):
    with pytest.raises(ValueError, match="too large"):
        _sandbox.eval(untrusted, "b'x' * (65 * 1024 * 1024)")
    assert _sandbox.eval(untrusted, "len(b'x' * (8 * 1024 * 1024))") \
        == 8 * 1024 * 1024


def test_shared_references_cannot_amplify_what_the_host_decodes(untrusted):
    # A few KiB inside, 250 million items once copied: refused by the
    # encoded size, which bounds the number of items.
    with pytest.raises(ValueError, match="too large"):
        _sandbox.eval(untrusted, "(((None,) * 1000,) * 1000,) * 250")


def test_call_takes_none_for_no_keywords(untrusted):
    assert _sandbox.call(untrusted, "builtins:abs", (-3,), None) == 3
    with pytest.raises(TypeError, match="kwargs must be a dict"):
        _sandbox.call(untrusted, "builtins:abs", (-3,), [])
    with pytest.raises(TypeError, match="args must be a tuple"):
        _sandbox.call(untrusted, "builtins:abs", [-3])


def test_host_arguments_must_be_plain_data(untrusted):
    class Evil:
        def __reduce__(self):
            raise AssertionError("host code ran")
    for bad in (Evil(), {1, 2}, [Evil()], {"k": Evil()}):
        with pytest.raises(TypeError, match="cannot cross"):
            _sandbox.call(untrusted, "builtins:repr", (bad,))
    with pytest.raises(TypeError, match="keywords must be strings"):
        _sandbox.call(untrusted, "builtins:repr", (), {1: 2})


@pytest.mark.parametrize("target", [
    "", ":", "json", "json:", ":dumps", "json::dumps", "json:a..b",
    ".json:dumps", "json:dumps.", "js on:dumps",
])
def test_malformed_targets(untrusted, target):
    with pytest.raises(ValueError, match="module:qualname"):
        _sandbox.call(untrusted, target)


def test_an_exception_comes_back_as_remote_error(untrusted):
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.exec(untrusted, textwrap.dedent("""
            def inner():
                return {}["missing key"]
            def outer():
                try:
                    inner()
                except KeyError as exc:
                    raise ValueError("second") from exc
            outer()
            """), "job.py")
    exc = info.value
    assert exc.type_name == "ValueError"
    assert exc.message == "second"
    assert exc.exit_code is None
    assert str(exc) == "ValueError: second"
    # The traceback the untrusted side formatted, chain included.
    assert 'File "job.py", line 3, in inner' in exc.traceback
    assert "KeyError: 'missing key'" in exc.traceback
    assert "direct cause" in exc.traceback
    assert exc.traceback.endswith("ValueError: second\n")
    # Nothing of the untrusted heap is attached.
    assert exc.__cause__ is None and exc.__context__ is None
    assert exc.__traceback__ is not None   # the host's own frames only
    assert isinstance(exc, Exception)


def test_user_defined_exceptions_are_named_by_module(untrusted):
    _sandbox.exec(untrusted, "class Boom(Exception): pass")
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.exec(untrusted, "raise Boom('x')")
    assert info.value.type_name == "Boom"
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.call(untrusted, "nosuchmodule:f")
    assert info.value.type_name == "ModuleNotFoundError"
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.eval(untrusted, "1 +")
    assert info.value.type_name == "SyntaxError"


def test_hostile_formatting_gives_only_text(untrusted):
    _sandbox.exec(untrusted, textwrap.dedent("""
        import traceback
        traceback.format_exception = lambda exc: 42
        class Liar(Exception):
            def __str__(self):
                raise RuntimeError("no")
        """))
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.exec(untrusted, "raise Liar()")
    assert info.value.type_name == "Liar"
    assert info.value.message == "<str() failed>"
    assert info.value.traceback == "(the traceback could not be formatted)\n"
    _sandbox.exec(untrusted, "traceback.format_exception = "
                             "lambda exc: ['x' * 10**7]")
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.exec(untrusted, "raise ValueError('y' * 10**6)")
    assert len(info.value.traceback) == 1024 * 1024
    assert len(info.value.message) == 64 * 1024


def test_system_exit_ends_the_job_not_the_host(untrusted):
    for code, expected in (("3", 3), ("'bye'", "bye"), ("", None),
                           ("object()", None)):
        with pytest.raises(_sandbox.RemoteError) as info:
            _sandbox.exec(untrusted, f"raise SystemExit({code})")
        assert info.value.type_name == "SystemExit"
        assert info.value.exit_code == expected
    with pytest.raises(_sandbox.RemoteError):
        _sandbox.exec(untrusted, "import sys; sys.exit(9)")
    assert _sandbox.eval(untrusted, "'still here'") == "still here"


def test_keyboard_interrupt_inside_stays_inside(untrusted):
    with pytest.raises(_sandbox.RemoteError) as info:
        _sandbox.exec(untrusted, "raise KeyboardInterrupt")
    assert info.value.type_name == "KeyboardInterrupt"


def test_untrusted_code_cannot_use_the_transport(untrusted):
    _sandbox.exec(untrusted, textwrap.dedent(f"""
        import _sandbox
        results = []
        for call in (lambda: _sandbox.eval({untrusted}, "1"),
                     lambda: _sandbox.exec({untrusted}, "pass"),
                     lambda: _sandbox.call({untrusted}, "os:getpid"),
                     lambda: _sandbox.call(0, "os:getpid"),
                     lambda: _sandbox.end_interpreter({untrusted}),
                     lambda: _sandbox.new_interpreter(threads=1)):
            try:
                call()
            except _sandbox.SandboxError:
                results.append("denied")
            else:
                results.append("ran")
        """))
    assert _sandbox.eval(untrusted, "results") == ["denied"] * 6
    resources = [d[1] for d in _sandbox.denials(untrusted)]
    assert resources == ["trusted"] * 5 + ["interpreter"]


def test_the_main_interpreter_is_not_a_target():
    with pytest.raises(ValueError, match="not an untrusted interpreter"):
        _sandbox.eval(0, "1")
    trusted = _interpreters.create("isolated")
    try:
        with pytest.raises(ValueError, match="not an untrusted interpreter"):
            _sandbox.exec(trusted, "pass")
        with pytest.raises(ValueError, match="not an untrusted interpreter"):
            _sandbox.end_interpreter(trusted)
    finally:
        _interpreters.destroy(trusted)


def test_end_interpreter():
    interp = _sandbox.new_interpreter()
    _sandbox.exec(interp, "x = 1")
    _sandbox.end_interpreter(interp)
    with pytest.raises(_interpreters.InterpreterNotFoundError):
        _sandbox.eval(interp, "x")
    with pytest.raises(_interpreters.InterpreterNotFoundError):
        _sandbox.end_interpreter(interp)


def test_one_job_at_a_time_in_an_interpreter(untrusted):
    done = []
    job = threading.Thread(target=lambda: done.append(_sandbox.exec(
        untrusted, "import time\nfor _ in range(50): time.sleep(0.02)")))
    job.start()
    try:
        deadline = time.monotonic() + 10
        while (not _interpreters.is_running(untrusted)
               and time.monotonic() < deadline):
            time.sleep(0.001)
        assert _interpreters.is_running(untrusted)
        with pytest.raises(RuntimeError, match="running"):
            _sandbox.eval(untrusted, "1")
        with pytest.raises(RuntimeError, match="running"):
            _sandbox.end_interpreter(untrusted)
    finally:
        job.join(30)
    assert done == [None]
    assert _sandbox.eval(untrusted, "'free again'") == "free again"


def test_interpreters_in_host_threads_run_in_parallel():
    # Each job spins on the CPU for a fixed count; with a GIL per
    # interpreter two of them overlap in time.
    interps = [_sandbox.new_interpreter() for _ in range(2)]
    spans = {}
    job = ("import time\nstart = time.monotonic()\n"
           "n = 0\nwhile n < 3_000_000: n += 1\n"
           "span = (start, time.monotonic())")
    def run(interp):
        _sandbox.exec(interp, job)
        spans[interp] = _sandbox.eval(interp, "span")
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in interps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        (a0, a1), (b0, b1) = spans.values()
        # They overlapped: each started before the other ended.
        assert a0 < b1 and b0 < a1
    finally:
        for interp in interps:
            _sandbox.end_interpreter(interp)


SYSTEM_EXIT_HOST = """
import _sandbox
interp = _sandbox.new_interpreter()
for code in ("raise SystemExit(5)", "import sys; sys.exit(6)"):
    try:
        _sandbox.exec(interp, code)
    except _sandbox.RemoteError as exc:
        print(exc.type_name, exc.exit_code)
_sandbox.end_interpreter(interp)
print("host alive")
"""


def test_system_exit_inside_never_exits_the_host_process():
    proc = run_host(SYSTEM_EXIT_HOST)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "SystemExit 5\nSystemExit 6\nhost alive\n"
