"""The fixtures of the tests of the untrusted-interpreter runtime (and of
tests_sandbox/tools/).  What the tests share besides fixtures is in
support.py."""

import pytest

from support import UNTRUSTED_BUILD


@pytest.fixture
def untrusted():
    """A fresh untrusted interpreter (its ID), destroyed after the test."""
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _interpreters
    import _sandbox
    interp = _sandbox.new_interpreter()
    yield interp
    try:
        _sandbox.end_interpreter(interp)
    except _interpreters.InterpreterNotFoundError:
        pass    # the test ended it


@pytest.fixture
def make_untrusted():
    """Make untrusted interpreters with the given policy fields
    (_sandbox.new_interpreter()'s keywords); end them after the test."""
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _interpreters
    import _sandbox
    made = []

    def make(**fields):
        interp = _sandbox.new_interpreter(**fields)
        made.append(interp)
        return interp
    yield make
    for interp in made:
        try:
            _sandbox.end_interpreter(interp)
        except _interpreters.InterpreterNotFoundError:
            pass    # the test ended it


@pytest.fixture
def untrusted_tmp(tmp_path):
    """A fresh untrusted interpreter that may read and write tmp_path."""
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _sandbox
    interp = _sandbox.new_interpreter(write=(str(tmp_path),))
    yield interp
    _sandbox.end_interpreter(interp)
