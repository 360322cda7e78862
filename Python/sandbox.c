/* Untrusted interpreters: the engine.
 *
 * The hooks that upstream files call are in
 * Include/internal/pycore_sandbox.h; the public C API is
 * Include/cpython/sandbox.h.  Everything here is compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_typeobject.h"    // _PyStaticType_InitBuiltin()

#ifdef Py_UNTRUSTED

#include <errno.h>                // EACCES


/* The exceptions (DESIGN: "Exceptions").  Static core types, like
 * PermissionError, so that any hook can raise them without importing a
 * module; they are not builtins: _sandbox and sandbox expose them. */

PyDoc_STRVAR(sandbox_error_doc,
"An untrusted interpreter was denied an operation by its policy.\n\
\n\
A subclass of PermissionError with errno EACCES, so code that handles\n\
OSError degrades gracefully.");

static PyTypeObject _PyExc_SandboxError = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.SandboxError",
    .tp_basicsize = sizeof(PyOSErrorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = sandbox_error_doc,
    /* .tp_base is PermissionError, set in _PySandbox_InitTypes() */
};
PyObject *PyExc_SandboxError = (PyObject *)&_PyExc_SandboxError;

PyDoc_STRVAR(sandbox_limit_exceeded_doc,
"An untrusted interpreter exhausted a limit of its policy.\n\
\n\
A subclass of BaseException, not of Exception: code that catches\n\
Exception does not swallow it.");

static PyTypeObject _PyExc_SandboxLimitExceeded = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.SandboxLimitExceeded",
    .tp_basicsize = sizeof(PyBaseExceptionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = sandbox_limit_exceeded_doc,
    /* .tp_base is BaseException, set in _PySandbox_InitTypes() */
};
PyObject *PyExc_SandboxLimitExceeded = (PyObject *)&_PyExc_SandboxLimitExceeded;

static PyTypeObject *const sandbox_static_types[] = {
    &_PyExc_SandboxError,
    &_PyExc_SandboxLimitExceeded,
};


PyStatus
_PySandbox_InitTypes(PyInterpreterState *interp)
{
    if (_Py_IsMainInterpreter(interp)) {
        /* The bases are static types of Objects/exceptions.c, whose
           addresses are not constant expressions here. */
        _PyExc_SandboxError.tp_base = (PyTypeObject *)PyExc_PermissionError;
        _PyExc_SandboxLimitExceeded.tp_base =
            (PyTypeObject *)PyExc_BaseException;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(sandbox_static_types); i++) {
        if (_PyStaticType_InitBuiltin(interp, sandbox_static_types[i]) < 0) {
            return _PyStatus_ERR("failed to initialize a sandbox exception "
                                 "type");
        }
    }
    return _PyStatus_OK();
}


void
_PySandbox_FiniTypes(PyInterpreterState *interp)
{
    for (Py_ssize_t i = Py_ARRAY_LENGTH(sandbox_static_types) - 1;
         i >= 0; i--)
    {
        _PyStaticType_FiniBuiltin(interp, sandbox_static_types[i]);
    }
}


int
PySandbox_CheckTrusted(void)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (!_PySandbox_IsUntrusted(interp)) {
        return 0;
    }
    PyObject *exc = PyObject_CallFunction(
        PyExc_SandboxError, "is", EACCES,
        "not allowed in an untrusted interpreter");
    if (exc != NULL) {
        PyErr_SetObject(PyExc_SandboxError, exc);
        Py_DECREF(exc);
    }
    return -1;
}

#endif  /* Py_UNTRUSTED */
