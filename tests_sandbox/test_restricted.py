"""The __restricted__ builtin in trusted interpreters of both builds."""

import builtins
import dis
import textwrap

import _interpreters

import pytest

from support import run_python


def test_main_interpreter_is_not_restricted():
    assert builtins.__restricted__ is False
    assert __restricted__ is False  # noqa: F821 (a builtin of this runtime)
    assert "__restricted__" in dir(builtins)


def test_fresh_process_is_not_restricted():
    # -I: no site, no user environment; the builtin is there from the start.
    proc = run_python("-c", "print(repr(__restricted__))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False\n"


@pytest.mark.parametrize("config", ["legacy", "isolated"])
def test_subinterpreter_is_not_restricted(config):
    interp = _interpreters.create(config)
    try:
        ok = _interpreters.exec(interp, textwrap.dedent("""
            import builtins
            assert type(__restricted__) is bool
            assert __restricted__ is False
            assert builtins.__restricted__ is False
        """))
        assert ok is None, ok
        # The check above can fail: the same code asserting True does.
        failed = _interpreters.exec(interp, "assert __restricted__ is True")
        assert failed is not None
        assert failed.type.__name__ == "AssertionError"
    finally:
        _interpreters.destroy(interp)


def test_builtins_lookups_stay_specialized():
    # CPython specializes LOAD_GLOBAL for builtins (LOAD_GLOBAL_BUILTIN);
    # the new builtin, and lookups of the others, must keep that.
    namespace = {}
    exec(textwrap.dedent("""
        def lookups():
            return __restricted__, len, isinstance
    """), namespace)
    lookups = namespace["lookups"]
    for _ in range(1000):
        lookups()
    ops = [i.opname for i in dis.get_instructions(lookups, adaptive=True)]
    assert ops.count("LOAD_GLOBAL_BUILTIN") == 3, ops
