"""Extended protections: the group/type registry of the 2006 design.

Used through the public C API by the probe extension, the way an extension
module would: the host sets protections on an untrusted interpreter, the
checks run in the interpreter that calls them.
"""

import textwrap

import _interpreters
import pytest

from support import UNTRUSTED_BUILD, requires_untrusted
from test_capi import probe  # noqa: F401 (the fixture)


def test_checks_pass_in_a_trusted_interpreter(probe):  # noqa: F811
    # In both builds: nothing is checked in a trusted interpreter.
    assert probe.all_checks() == "passed"


@pytest.fixture
def untrusted(probe):  # noqa: F811
    """An untrusted interpreter whose policy binds the probe, an extension
    module outside the standard library, to its file."""
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _sandbox
    interp = _sandbox.new_interpreter(
        module_files={"sandbox_capi_probe": probe.__file__})
    yield interp
    _sandbox.end_interpreter(interp)


def run_with_probe(interp, probe, *fragments):  # noqa: F811
    """Run the code *fragments* in *interp*, the probe imported."""
    loader = f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "sandbox_capi_probe", {probe.__file__!r})
        probe = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(probe)
    """
    source = "\n".join(textwrap.dedent(f) for f in (loader,) + fragments)
    return _interpreters.exec(interp, source)


def denied(source):
    """Source that asserts that *source* raises SandboxError."""
    return textwrap.dedent(f"""
        try:
            {source}
        except PermissionError as e:
            assert type(e).__name__ == "SandboxError", e
        else:
            raise AssertionError("allowed: " + {source!r})
    """)


@requires_untrusted
def test_nothing_is_allowed_until_set(probe, untrusted):  # noqa: F811
    import _sandbox
    failure = run_with_probe(
        untrusted, probe,
        denied('probe.check_true("probe", "flag")'),
        denied('probe.value_alloc("probe", "cap", 1)'),
        denied('probe.check_member("probe", "set", "x")'),
        denied('probe.check_value("probe", "value", "x")'))
    assert failure is None, failure
    assert [d[1:3] for d in _sandbox.denials(untrusted)] == [
        ("probe.flag", "not set true"),
        ("probe.cap", "no cap set (alloc 1)"),
        ("probe.set", "not a member: x"),
        ("probe.value", "not the value: x"),
    ]


@requires_untrusted
def test_the_four_kinds(probe, untrusted):  # noqa: F811
    probe.ext_set(untrusted, "true", "probe", "flag")
    probe.ext_set(untrusted, "cap", "probe", "cap", "10")
    probe.ext_set(untrusted, "member", "probe", "set", "a")
    probe.ext_set(untrusted, "member", "probe", "set", "b")
    probe.ext_set(untrusted, "value", "probe", "value", "v")
    failure = run_with_probe(untrusted, probe, """
        probe.check_true("probe", "flag")
        probe.value_alloc("probe", "cap", 6)
        probe.value_alloc("probe", "cap", 4)
        probe.value_free("probe", "cap", 3)
        probe.check_member("probe", "set", "a")
        probe.check_member("probe", "set", "b")
        probe.check_value("probe", "value", "v")
        query = probe.ext_query()
        assert query.pop(("Python", "memory"))[1] == 256 * 2**20
        assert query.pop(("Python", "time"))[1] == 30.0
        assert query.pop(("Python", "cpu"))[1] == 30.0
        assert query == {
            ("probe", "flag"): True,
            ("probe", "cap"): (7, 10),
            ("probe", "set"): frozenset({"a", "b"}),
            ("probe", "value"): "v",
        }, probe.ext_query()
    """,
        denied('probe.value_alloc("probe", "cap", 4)'),
        denied('probe.value_free("probe", "cap", 8)'),
        denied('probe.check_member("probe", "set", "c")'),
        denied('probe.check_value("probe", "value", "w")'),
        denied('probe.check_true("probe", "other")'))
    assert failure is None, failure
    # The host reads what remains of the cap.
    assert probe.ext_query(untrusted)[("probe", "cap")] == (7, 10)
    # A refused alloc used nothing.
    assert [d[2] for d in __import__("_sandbox").denials(untrusted)][:2] == [
        "alloc 4: 7 of 10 used", "free 8: 7 used"]


@requires_untrusted
def test_setters_refuse_bad_targets(probe, untrusted):  # noqa: F811
    main = 0   # the main interpreter's ID
    with pytest.raises(ValueError, match="not an untrusted interpreter"):
        probe.ext_set(main, "true", "probe", "flag")
    with pytest.raises(ValueError, match='"Python" is reserved'):
        probe.ext_set(untrusted, "true", "Python", "flag")
    probe.ext_set(untrusted, "true", "probe", "flag")
    with pytest.raises(ValueError, match="already set with another kind"):
        probe.ext_set(untrusted, "value", "probe", "flag", "x")
    with pytest.raises(ValueError, match="negative cap"):
        probe.ext_set(untrusted, "cap", "probe", "cap", "-1")


@requires_untrusted
def test_untrusted_code_cannot_grant_itself(probe, untrusted):  # noqa: F811
    failure = run_with_probe(
        untrusted, probe,
        denied(f'probe.ext_set({untrusted}, "true", "probe", "flag")'),
        'probe.check_true("probe", "flag")')
    # The self-grant was denied, so the check after it fails too.
    assert failure is not None
    assert failure.type.__name__ == "SandboxError"
    import _sandbox
    assert [d[1:3] for d in _sandbox.denials(untrusted)] == [
        ("trusted", "PySandbox_ExtendedSetTrue"),
        ("probe.flag", "not set true"),
    ]
