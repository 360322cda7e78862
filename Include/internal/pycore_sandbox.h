/* Untrusted interpreters: the hooks that upstream files call.
 *
 * Each hook is a static inline function or a macro.  Without Py_UNTRUSTED
 * (configure --with-untrusted) it compiles to a constant, so the flag costs
 * nothing when off; with it, the trusted fast path is one predictable branch
 * on PyInterpreterState.sandbox.  The engine behind the hooks is
 * Python/sandbox.c; the public C API is Include/cpython/sandbox.h.
 */
#ifndef Py_INTERNAL_SANDBOX_H
#define Py_INTERNAL_SANDBOX_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

#include "pycore_initconfig.h"    // PyStatus
#include "pycore_interp.h"        // PyInterpreterState.sandbox

#ifdef Py_UNTRUSTED

/* The policy and the counters of one untrusted interpreter; NULL in a
 * trusted one.  Defined in Python/sandbox.c. */
struct _PySandboxState;

/* Create and destroy the static exception types SandboxError and
 * SandboxLimitExceeded, in every interpreter (pycore_init_types()). */
extern PyStatus _PySandbox_InitTypes(PyInterpreterState *interp);
extern void _PySandbox_FiniTypes(PyInterpreterState *interp);

/* Make *interp* untrusted if config->sandbox is set: check that the rest of
 * the config isolates it, copy the policy, and rewrite the PyConfig it
 * copied from its creator (no site, stdlib-only sys.path, no .pyc), all
 * before it runs any Python (init_interp_settings()). */
extern PyStatus _PySandbox_InitInterpreter(PyInterpreterState *interp,
                                           const PyInterpreterConfig *config);

/* Free the state of an untrusted interpreter (PyInterpreterState_Delete()). */
extern void _PySandbox_ClearInterpreter(PyInterpreterState *interp);

/* Make sys.std* of an untrusted interpreter C buffers the host reads
 * (init_sys_streams()). */
extern PyStatus _PySandbox_InitStdio(PyThreadState *tstate);

/* Deny the current (untrusted) interpreter *resource*: log it with its
 * full *detail* and the Python code's location, and set a generic
 * SandboxError (EACCES).  Return -1.  The one way every check denies. */
extern int _PySandbox_Deny(const char *resource, const char *detail);

/* The policy of *interp*, or NULL for a trusted interpreter. */
extern const PySandboxPolicy *_PySandbox_GetPolicy(PyInterpreterState *interp);

/* Return 1 if *interp* is an untrusted interpreter, else 0.
 *
 * Untrusted for its whole life: the mark is set when the interpreter is
 * created and never changes.  It is the value of the __restricted__
 * builtin. */
static inline int
_PySandbox_IsUntrusted(PyInterpreterState *interp)
{
    return interp->sandbox != NULL;
}

#else  /* !Py_UNTRUSTED */

static inline PyStatus
_PySandbox_InitTypes(PyInterpreterState *Py_UNUSED(interp))
{
    return _PyStatus_OK();
}

static inline void
_PySandbox_FiniTypes(PyInterpreterState *Py_UNUSED(interp))
{
}

static inline PyStatus
_PySandbox_InitInterpreter(PyInterpreterState *Py_UNUSED(interp),
                           const PyInterpreterConfig *Py_UNUSED(config))
{
    return _PyStatus_OK();
}

static inline void
_PySandbox_ClearInterpreter(PyInterpreterState *Py_UNUSED(interp))
{
}

static inline PyStatus
_PySandbox_InitStdio(PyThreadState *Py_UNUSED(tstate))
{
    return _PyStatus_OK();
}

static inline int
_PySandbox_IsUntrusted(PyInterpreterState *Py_UNUSED(interp))
{
    return 0;
}

#endif  /* !Py_UNTRUSTED */

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_SANDBOX_H */
