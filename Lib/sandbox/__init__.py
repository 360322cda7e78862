"""Run untrusted Python code in untrusted interpreters.

An untrusted interpreter is an isolated subinterpreter limited, in C, by
a policy that the host sets and the untrusted code cannot change.  This
package is the Python interface to it:

    import sandbox
    with sandbox.Interpreter(sandbox.Policy(threads=2)) as interp:
        result = interp.run("print('hello')")
        print(result.stdout)

See the documentation of the sandbox module, and "python -m sandbox
--help" for the command line.  Untrusted interpreters exist only in a
CPython configured --with-untrusted: elsewhere "available" is False.

Inside an untrusted interpreter this package offers only queries: what
the interpreter is allowed (allowed()) and what it was denied
(denials()).
"""

import builtins

try:
    import _sandbox
except ImportError:
    _sandbox = None

#: True when this CPython has untrusted interpreters.
available = _sandbox is not None

#: True in an untrusted interpreter (the value of __restricted__ there).
restricted = bool(getattr(builtins, "__restricted__", False))

if available:
    from _sandbox import RemoteError, SandboxError, SandboxLimitExceeded
else:
    class SandboxError(PermissionError):
        """Never raised: this CPython has no untrusted interpreters."""

    class SandboxLimitExceeded(BaseException):
        """Never raised: this CPython has no untrusted interpreters."""

    class RemoteError(Exception):
        """Never raised: this CPython has no untrusted interpreters."""


def allowed():
    """What this untrusted interpreter is allowed, with what is left of
    each cap: a dict mapping (group, type) to True, (used, cap), a
    frozenset or a value."""
    if not (available and restricted):
        raise RuntimeError("allowed() is a query for code in an untrusted "
                           "interpreter")
    return _sandbox.query()


def denials():
    """What this untrusted interpreter was denied: a list of (time,
    resource, detail, location) tuples, oldest first."""
    if not (available and restricted):
        raise RuntimeError("denials() is a query for code in an untrusted "
                           "interpreter")
    return _sandbox.denials()


__all__ = ["available", "restricted", "allowed", "denials", "SandboxError",
           "SandboxLimitExceeded", "RemoteError"]

if not restricted:
    # The host's side.  Inside an untrusted interpreter none of it is
    # offered (the engine would refuse it in C anyway).
    from ._policy import (Policy, PolicyError, NotEnforcedWarning,
                          parse_size, LAYERS)
    from ._interpreter import (Interpreter, Result, Denial, run,
                               UnavailableError, memory_budget)
    from ._pool import Pool
    __all__ += ["Policy", "PolicyError", "NotEnforcedWarning", "parse_size",
                "LAYERS",
                "Interpreter", "Result", "Denial", "run",
                "UnavailableError", "Pool", "memory_budget"]
