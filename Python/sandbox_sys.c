/* Untrusted interpreters: sys.
 *
 * The per-interpreter limits its code may lower, never raise.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_long.h"          // _PY_LONG_DEFAULT_MAX_STR_DIGITS
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED


/* sys (the 2006 design's "Changing the Behaviour of the Interpreter"):
 * what is per-interpreter stays; the limits an untrusted interpreter's
 * code may change, it may lower, never raise above its policy's. */

int
_PySandbox_CheckRecursionLimitSlow(int new_limit)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    int limit = _PySandboxPolicy_RecursionLimit(&state->policy);
    if (new_limit <= limit) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "sys.setrecursionlimit(%d) above "
                  "the policy's %d", new_limit, limit);
    return _PySandbox_Deny("sys", detail);
}

int
_PySandbox_CheckIntMaxStrDigitsSlow(int maxdigits)
{
    if (maxdigits > 0 && maxdigits <= _PY_LONG_DEFAULT_MAX_STR_DIGITS) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "sys.set_int_max_str_digits(%d) "
                  "above %d", maxdigits, _PY_LONG_DEFAULT_MAX_STR_DIGITS);
    return _PySandbox_Deny("sys", detail);
}


int
_PySandbox_CheckCodeReplaceSlow(
    PyCodeObject *self, int argcount, int posonlyargcount,
    int kwonlyargcount, int nlocals, int stacksize, int flags,
    PyObject *code, PyObject *consts, PyObject *names, PyObject *varnames,
    PyObject *freevars, PyObject *cellvars, PyObject *linetable,
    PyObject *exceptiontable)
{
    /* What the evaluator trusts: the bytecode and what it indexes (the
       constants, names, the frame's layout), the flags that shape the
       frame, and the tables it decodes without checks. */
    if (argcount == self->co_argcount
        && posonlyargcount == self->co_posonlyargcount
        && kwonlyargcount == self->co_kwonlyargcount
        && nlocals == self->co_nlocals
        && stacksize == self->co_stacksize
        && (flags & ~CO_ITERABLE_COROUTINE)
           == (self->co_flags & ~CO_ITERABLE_COROUTINE)
        && code == NULL && varnames == NULL && freevars == NULL
        && cellvars == NULL
        && consts == self->co_consts && names == self->co_names
        && linetable == self->co_linetable
        && exceptiontable == self->co_exceptiontable)
    {
        return 0;
    }
    return _PySandbox_Deny("bytecode", "code.replace of what the "
                           "evaluator trusts");
}

/* frame.f_lineno = N: a debugger's jump.  Denied in an untrusted
 * interpreter: stock 3.13 lets a trace function set it on any frame of
 * the thread, not only the one its event is for, and on a frame that is
 * executing (the caller's, in the middle of a call) the jump pops a stack
 * that is not there, and crashes the process. */
int
_PySandbox_CheckFrameJumpSlow(void)
{
    return _PySandbox_Deny("sys", "frame.f_lineno: jumps of a trace "
                           "function");
}

#endif  /* Py_UNTRUSTED */
