/* Untrusted interpreters: the engine.
 *
 * The hooks that upstream files call are in
 * Include/internal/pycore_sandbox.h; the public C API is
 * Include/cpython/sandbox.h.  Everything here is compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_pymem.h"         // _PyMem_GetCurrentAllocatorName()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_typeobject.h"    // _PyStaticType_InitBuiltin()
#include "osdefs.h"               // DELIM

#ifdef Py_UNTRUSTED

#include <errno.h>                // EACCES


/* A policy: what an untrusted interpreter may do.  The protections add
 * their fields here as they are enforced; a zeroed policy grants nothing. */
struct _PySandboxPolicy {
    int reserved;
};

/* The state of one untrusted interpreter: PyInterpreterState.sandbox.
 * Allocated with the raw allocator, outside the interpreter's own heap. */
struct _PySandboxState {
    PySandboxPolicy policy;     /* the interpreter's own copy */
};


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


/* Policies */

PySandboxPolicy *
PySandboxPolicy_New(void)
{
    PySandboxPolicy *policy = PyMem_RawCalloc(1, sizeof(*policy));
    if (policy == NULL) {
        PyErr_NoMemory();
    }
    return policy;
}


void
PySandboxPolicy_Free(PySandboxPolicy *policy)
{
    PyMem_RawFree(policy);
}


/* Creation (DESIGN: "Decisions fixed now"; the 2006 design's
 * PyXXX_NewInterpreter) */

/* An untrusted interpreter is an isolated one, and more. */
static PyStatus
check_isolated(const PyInterpreterConfig *config)
{
    if (config->use_main_obmalloc) {
        return _PyStatus_ERR("an untrusted interpreter needs its own object "
                             "allocator (use_main_obmalloc = 0)");
    }
    if (config->gil != PyInterpreterConfig_OWN_GIL) {
        return _PyStatus_ERR("an untrusted interpreter needs its own GIL");
    }
    if (config->allow_fork || config->allow_exec) {
        return _PyStatus_ERR("an untrusted interpreter cannot allow fork or "
                             "exec");
    }
    if (!config->check_multi_interp_extensions) {
        return _PyStatus_ERR("an untrusted interpreter cannot load "
                             "single-phase init extension modules");
    }
    return _PyStatus_OK();
}


static int
uses_pymalloc(void)
{
    const char *name = _PyMem_GetCurrentAllocatorName();
    return name != NULL && (strcmp(name, "pymalloc") == 0
                            || strcmp(name, "pymalloc_debug") == 0);
}


/* Remove from *list* the entries of the colon-separated *remove*. */
static PyStatus
remove_path_entries(PyWideStringList *list, const wchar_t *remove)
{
    if (remove == NULL || *remove == L'\0') {
        return _PyStatus_OK();
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < list->length; i++) {
        wchar_t *item = list->items[i];
        size_t len = wcslen(item);
        int found = 0;
        for (const wchar_t *p = remove; !found && *p != L'\0'; ) {
            const wchar_t *end = wcschr(p, DELIM);
            size_t n = end != NULL ? (size_t)(end - p) : wcslen(p);
            found = (n == len && wcsncmp(p, item, n) == 0);
            p += n + (end != NULL);
        }
        if (found) {
            PyMem_RawFree(item);
        }
        else {
            list->items[kept++] = item;
        }
    }
    list->length = kept;
    return _PyStatus_OK();
}


/* The new interpreter's PyConfig is a copy of its creator's: take out
 * everything of the host's that it would otherwise act on or show. */
static PyStatus
restrict_config(PyConfig *config)
{
    PyStatus status;

    /* No site: no site-packages, no .pth files, no sitecustomize. */
    config->site_import = 0;
    config->user_site_directory = 0;
    /* sys.path: the standard library that getpath found, not the host's
       script directory nor its PYTHONPATH. */
    config->safe_path = 1;
    PyMem_RawFree(config->sys_path_0);
    config->sys_path_0 = NULL;
    status = remove_path_entries(&config->module_search_paths,
                                 config->pythonpath_env);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    /* No bytecode files: none written, and none read, since the cache is
       looked up under a prefix that does not exist. */
    config->write_bytecode = 0;
    status = PyConfig_SetString(config, &config->pycache_prefix,
                                L"/sandbox/no-bytecode-cache");
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    /* The host's command line is not the untrusted code's business. */
    _PyWideStringList_Clear(&config->orig_argv);
    _PyWideStringList_Clear(&config->argv);
    status = PyWideStringList_Append(&config->argv, L"");
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    config->inspect = 0;
    config->interactive = 0;
    return _PyStatus_OK();
}


PyStatus
_PySandbox_InitInterpreter(PyInterpreterState *interp,
                           const PyInterpreterConfig *config)
{
    if (config->sandbox == NULL) {
        return _PyStatus_OK();
    }
    if (_Py_IsMainInterpreter(interp)) {
        return _PyStatus_ERR("the main interpreter cannot be untrusted");
    }
    PyStatus status = check_isolated(config);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    if (!uses_pymalloc()) {
        /* PYTHONMALLOC=malloc or mimalloc would bypass the memory cap. */
        return _PyStatus_ERR("untrusted interpreters need the pymalloc "
                             "memory allocator; unset PYTHONMALLOC or set "
                             "it to pymalloc");
    }
    struct _PySandboxState *state = PyMem_RawCalloc(1, sizeof(*state));
    if (state == NULL) {
        return _PyStatus_NO_MEMORY();
    }
    state->policy = *config->sandbox;
    status = restrict_config(&interp->config);
    if (_PyStatus_EXCEPTION(status)) {
        PyMem_RawFree(state);
        return status;
    }
    interp->sandbox = state;
    interp->feature_flags |= Py_RTFLAGS_UNTRUSTED;
    return _PyStatus_OK();
}


void
_PySandbox_ClearInterpreter(PyInterpreterState *interp)
{
    PyMem_RawFree(interp->sandbox);
    interp->sandbox = NULL;
}


PyInterpreterState *
PySandbox_NewInterpreter(const PySandboxPolicy *policy)
{
    if (PySandbox_CheckTrusted() < 0) {
        return NULL;
    }
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandbox_NewInterpreter: policy is NULL");
        return NULL;
    }
    const PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = 0,
        .allow_daemon_threads = 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
        .sandbox = policy,
    };
    PyThreadState *save_tstate = PyThreadState_Swap(NULL);
    PyThreadState *tstate = NULL;
    PyStatus status = Py_NewInterpreterFromConfig(&tstate, &config);
    if (PyStatus_Exception(status)) {
        PyThreadState_Swap(save_tstate);
        if (_PyStatus_IS_ERROR(status) && status.err_msg != NULL) {
            PyErr_Format(PyExc_RuntimeError,
                         "cannot create an untrusted interpreter: %s",
                         status.err_msg);
        }
        else {
            _PyErr_SetFromPyStatus(status);
        }
        return NULL;
    }
    PyInterpreterState *interp = PyThreadState_GetInterpreter(tstate);
    /* The initial thread state is not needed: runs get their own. */
    PyThreadState_Clear(tstate);
    PyThreadState_Swap(save_tstate);
    PyThreadState_Delete(tstate);
    return interp;
}


const PySandboxPolicy *
_PySandbox_GetPolicy(PyInterpreterState *interp)
{
    return interp->sandbox != NULL ? &interp->sandbox->policy : NULL;
}


int
PySandbox_IsUntrusted(PyInterpreterState *interp)
{
    return _PySandbox_IsUntrusted(interp);
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
