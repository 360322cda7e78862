"""SandboxError and SandboxLimitExceeded: static core types, in _sandbox."""

import builtins
import errno
import textwrap

import _interpreters
import pytest

from support import UNTRUSTED_BUILD, requires_untrusted


@pytest.fixture
def sandbox_module():
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _sandbox
    return _sandbox


def test_no_sandbox_module_without_the_flag():
    if UNTRUSTED_BUILD:
        pytest.skip("the flag-off build has no _sandbox")
    with pytest.raises(ModuleNotFoundError):
        import _sandbox  # noqa: F401


def test_sandbox_error_is_a_permission_error(sandbox_module):
    SandboxError = sandbox_module.SandboxError
    assert SandboxError.__mro__[1:] == PermissionError.__mro__
    assert SandboxError.__module__ == "sandbox"
    assert SandboxError.__qualname__ == "SandboxError"
    error = SandboxError(errno.EACCES, "denied")
    assert error.errno == errno.EACCES
    assert error.strerror == "denied"
    assert str(error) == "[Errno 13] denied"
    # Code that handles OSError handles it.
    with pytest.raises(OSError):
        raise error


def test_limit_exceeded_is_not_an_exception(sandbox_module):
    Limit = sandbox_module.SandboxLimitExceeded
    assert Limit.__mro__[1:] == BaseException.__mro__
    assert not issubclass(Limit, Exception)
    # "except Exception" does not swallow it.
    with pytest.raises(Limit):
        try:
            raise Limit("time")
        except Exception:
            pytest.fail("caught by except Exception")


def test_exceptions_are_not_builtins(sandbox_module):
    assert not hasattr(builtins, "SandboxError")
    assert not hasattr(builtins, "SandboxLimitExceeded")


def test_exception_types_cannot_be_changed(sandbox_module):
    # Static core types are immutable: untrusted code cannot monkey-patch
    # the class that the host catches.
    for cls in (sandbox_module.SandboxError,
                sandbox_module.SandboxLimitExceeded):
        with pytest.raises(TypeError):
            cls.__init__ = lambda self, *a: None
        with pytest.raises(TypeError):
            cls.errno_hint = 1


def test_exceptions_can_be_subclassed_in_python(sandbox_module):
    class MyDenial(sandbox_module.SandboxError):
        pass
    assert MyDenial(errno.EACCES, "x").errno == errno.EACCES


@requires_untrusted
@pytest.mark.parametrize("config", ["legacy", "isolated"])
def test_every_interpreter_has_them(config):
    interp = _interpreters.create(config)
    try:
        result = _interpreters.exec(interp, textwrap.dedent("""
            import errno, _sandbox
            try:
                raise _sandbox.SandboxError(errno.EACCES, "denied")
            except PermissionError as e:
                assert e.errno == errno.EACCES
            else:
                raise AssertionError("not raised")
            try:
                try:
                    raise _sandbox.SandboxLimitExceeded("time")
                except Exception:
                    raise AssertionError("caught by except Exception")
            except _sandbox.SandboxLimitExceeded:
                pass
        """))
        assert result is None, result
    finally:
        _interpreters.destroy(interp)


@requires_untrusted
def test_many_interpreters_come_and_go(sandbox_module):
    # The static types are made and destroyed with every interpreter; the
    # main interpreter's keep working.
    for _ in range(20):
        interp = _interpreters.create("isolated")
        assert _interpreters.exec(
            interp, "import _sandbox; _sandbox.SandboxError(13, 'x')") is None
        _interpreters.destroy(interp)
    assert isinstance(sandbox_module.SandboxError(13, "x"), PermissionError)
