/* Untrusted interpreters: the hooks that upstream files call.
 *
 * Each hook is a static inline function or a macro.  Without Py_UNTRUSTED
 * (configure --with-untrusted) it compiles to a constant, so the flag costs
 * nothing when off; with it, the trusted fast path is one predictable branch.
 * The engine behind the hooks is Python/sandbox.c.
 */
#ifndef Py_INTERNAL_SANDBOX_H
#define Py_INTERNAL_SANDBOX_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

/* Return 1 if *interp* is an untrusted interpreter, else 0.
 *
 * Untrusted for its whole life: the mark is set when the interpreter is
 * created and never changes.  It is the value of the __restricted__
 * builtin.  No interpreter is untrusted yet: the engine that creates them
 * comes with its own change. */
static inline int
_PySandbox_IsUntrusted(PyInterpreterState *Py_UNUSED(interp))
{
    return 0;
}

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_SANDBOX_H */
