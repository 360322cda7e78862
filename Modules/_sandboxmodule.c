/* _sandbox: the untrusted-interpreter engine, seen from Python.
 *
 * Built in only with Py_UNTRUSTED (configure --with-untrusted); the sandbox
 * package (Lib/sandbox) is its public face.  The engine is Python/sandbox*.c
 * (Doc/sandbox/internals.rst).  Interpreters are named by their IDs, as
 * in _interpreters.  The engine checks in C that the caller may act on
 * the interpreter: a trusted caller on any untrusted one, an untrusted
 * caller only on those it created.
 */

#ifndef Py_BUILD_CORE_BUILTIN
#  define Py_BUILD_CORE_MODULE 1
#endif

#include "Python.h"
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // _PySandbox_HoldByID()

#include "clinic/_sandboxmodule.c.h"

/*[clinic input]
module _sandbox
[clinic start generated code]*/
/*[clinic end generated code: output=da39a3ee5e6b4b0d input=975fa6e80a294f9d]*/


PyDoc_STRVAR(sandbox_module_doc,
"The untrusted-interpreter engine of this CPython (configure\n\
--with-untrusted).  Use the sandbox package instead.");


/* Interpreters are found by ID with _PySandbox_HoldByID(), never with
 * _PyInterpreterState_LookUpID(): another thread (a tenant's) could end
 * the one found, and the pointer be freed or reused for a new
 * interpreter, before the engine checks that the caller may act on it.
 * The hold keeps it until _PySandbox_Leave().  An untrusted caller finds
 * only itself and the interpreters it created; for any other ID it gets
 * the same denial as for one that does not exist (no oracle). */


/* The interpreter whose log or permissions to read: *interp_id*, or the
 * current one for None, and run *read* on it.  The engine decides who may
 * read what; an interpreter named by its ID is held while it is read. */
static PyObject *
read_from(PyObject *interp_id, const char *func,
          PyObject *(*read)(PyInterpreterState *))
{
    if (interp_id == Py_None) {
        return read(PyInterpreterState_Get());
    }
    long long id = PyLong_AsLongLong(interp_id);
    if (id == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyInterpreterState *interp = _PySandbox_HoldByID(id, func);
    if (interp == NULL) {
        return NULL;
    }
    PyObject *result = read(interp);
    _PySandbox_Leave(interp);
    return result;
}


/* Call *allow*(policy, name) for each str of the tuple *names*, the
 * argument *what*. */
static int
allow_each(PySandboxPolicy *policy, PyObject *names, const char *what,
           int (*allow)(PySandboxPolicy *, const char *))
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        if (allow == PySandboxPolicy_AllowModule && PyTuple_Check(name)) {
            /* (name, file): a module outside the standard library */
            const char *mod, *file;
            if (!PyArg_ParseTuple(name, "ss;modules holds names or (name, "
                                  "file) pairs", &mod, &file)
                || PySandboxPolicy_AllowModuleFile(policy, mod, file) < 0)
            {
                return -1;
            }
            continue;
        }
        if (!PyUnicode_Check(name)) {
            PyErr_Format(PyExc_TypeError, "%s must hold str, not %T", what,
                         name);
            return -1;
        }
        const char *utf8 = PyUnicode_AsUTF8(name);
        if (utf8 == NULL || allow(policy, utf8) < 0) {
            return -1;
        }
    }
    return 0;
}

/* PySandboxPolicy_AllowPath(policy, path, access) for each path (str,
 * bytes or os.PathLike) of the tuple *paths*. */
static int
allow_paths(PySandboxPolicy *policy, PyObject *paths, int access)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(paths); i++) {
        PyObject *bytes = NULL;
        if (!PyUnicode_FSConverter(PyTuple_GET_ITEM(paths, i), &bytes)) {
            return -1;
        }
        int rc = PySandboxPolicy_AllowPath(policy, PyBytes_AS_STRING(bytes),
                                           access);
        Py_DECREF(bytes);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}


/*[clinic input]
_sandbox.new_interpreter

    max_threads: Py_ssize_t = 0
    recursion_limit: int = 0
    env: object(subclass_of='&PyTuple_Type', c_default='NULL') = ()
    modules: object(subclass_of='&PyTuple_Type', c_default='NULL') = ()
    read: object(subclass_of='&PyTuple_Type', c_default='NULL') = ()
    write: object(subclass_of='&PyTuple_Type', c_default='NULL') = ()
    /

Create an untrusted interpreter.

Its policy grants nothing but max_threads threads at once besides the one
that runs a job, a recursion limit its code may lower but not raise above
recursion_limit (0: Python's default, 1000), the environment variables
named in the tuple env (its os.environ starts with their values in the
creator), and the extension modules named in the tuple modules beyond the
default set (a (name, file) pair binds a module outside the standard
library to its file), the files and directories of the tuple read to
read and of the tuple write to read and change (absolute paths; a
directory grants what is beneath it).  Return its interpreter ID.  From
an untrusted interpreter, the policy must be within the creator's own.
[clinic start generated code]*/

static PyObject *
_sandbox_new_interpreter_impl(PyObject *module, Py_ssize_t max_threads,
                              int recursion_limit, PyObject *env,
                              PyObject *modules, PyObject *read,
                              PyObject *write)
/*[clinic end generated code: output=f57541e165c146fe input=1673d03d4e0e3f46]*/
{
    PySandboxPolicy *policy = PySandboxPolicy_New();
    if (policy == NULL) {
        return NULL;
    }
    if (PySandboxPolicy_SetMaxThreads(policy, max_threads) < 0
        || (recursion_limit != 0
            && PySandboxPolicy_SetRecursionLimit(policy,
                                                 recursion_limit) < 0)
        || (env != NULL
            && allow_each(policy, env, "env", PySandboxPolicy_AllowEnv) < 0)
        || (modules != NULL
            && allow_each(policy, modules, "modules",
                          PySandboxPolicy_AllowModule) < 0)
        || (read != NULL && allow_paths(policy, read, PySandbox_READ) < 0)
        || (write != NULL
            && allow_paths(policy, write, PySandbox_WRITE) < 0))
    {
        PySandboxPolicy_Free(policy);
        return NULL;
    }
    PyInterpreterState *interp = PySandbox_NewInterpreter(policy);
    PySandboxPolicy_Free(policy);
    if (interp == NULL) {
        return NULL;
    }
    return PyLong_FromLongLong(PyInterpreterState_GetID(interp));
}


/*[clinic input]
_sandbox.end_interpreter

    interp_id: long_long
    /

End an untrusted interpreter without running any of its code.

Return True, or False if some of its threads could not be stopped (its
memory is then left to them).
[clinic start generated code]*/

static PyObject *
_sandbox_end_interpreter_impl(PyObject *module, long long interp_id)
/*[clinic end generated code: output=68d0c0501b7b3989 input=88559baf0c32ce24]*/
{
    PyInterpreterState *interp = _PySandbox_HoldByID(
        interp_id, "_sandbox.end_interpreter");
    if (interp == NULL) {
        return NULL;
    }
    int rc = _PySandbox_EndHeld(interp);
    if (rc < 0) {
        return NULL;
    }
    return PyBool_FromLong(rc == 0);
}


/*[clinic input]
_sandbox.exec

    interp_id: long_long
    source: str
    /
    filename: str = "<string>"

Run source in the __main__ namespace of an untrusted interpreter.

An exception inside raises RemoteError here.
[clinic start generated code]*/

static PyObject *
_sandbox_exec_impl(PyObject *module, long long interp_id, const char *source,
                   const char *filename)
/*[clinic end generated code: output=78bc5269f899597f input=ba2152c9ea208803]*/
{
    PyInterpreterState *interp = _PySandbox_HoldByID(interp_id,
                                                     "_sandbox.exec");
    if (interp == NULL) {
        return NULL;
    }
    if (_PySandbox_ExecHeld(interp, source, filename) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}


/*[clinic input]
_sandbox.eval

    interp_id: long_long
    expression: str
    /

Evaluate expression in an untrusted interpreter and return a copy of it.
[clinic start generated code]*/

static PyObject *
_sandbox_eval_impl(PyObject *module, long long interp_id,
                   const char *expression)
/*[clinic end generated code: output=d3922828498b4f68 input=7433180da813abe2]*/
{
    PyInterpreterState *interp = _PySandbox_HoldByID(interp_id,
                                                     "_sandbox.eval");
    if (interp == NULL) {
        return NULL;
    }
    return _PySandbox_EvalHeld(interp, expression);
}


/*[clinic input]
_sandbox.call

    interp_id: long_long
    target: str
    args: object(c_default='NULL') = ()
    kwargs: object(c_default='NULL') = None
    /

Call "module:qualname" in an untrusted interpreter.

The arguments and the result cross as copies.
[clinic start generated code]*/

static PyObject *
_sandbox_call_impl(PyObject *module, long long interp_id, const char *target,
                   PyObject *args, PyObject *kwargs)
/*[clinic end generated code: output=1c9f3663c6fbb970 input=6755061ed72ef1dc]*/
{
    PyInterpreterState *interp = _PySandbox_HoldByID(interp_id,
                                                     "_sandbox.call");
    if (interp == NULL) {
        return NULL;
    }
    if (kwargs == Py_None) {
        kwargs = NULL;
    }
    return _PySandbox_CallHeld(interp, target, args, kwargs);
}


/*[clinic input]
_sandbox.take_output

    interp_id: long_long
    fd: int
    /

Take what an untrusted interpreter wrote to fd 1 or 2 since the last call.
[clinic start generated code]*/

static PyObject *
_sandbox_take_output_impl(PyObject *module, long long interp_id, int fd)
/*[clinic end generated code: output=fd620b0b8015f362 input=587315c8cbbe5c44]*/
{
    PyInterpreterState *interp = _PySandbox_HoldByID(interp_id,
                                                     "_sandbox.take_output");
    if (interp == NULL) {
        return NULL;
    }
    PyObject *result = PySandbox_TakeOutput(interp, fd);
    _PySandbox_Leave(interp);
    return result;
}


/*[clinic input]
_sandbox.denials

    interp_id: object = None
    /

The denial log of an untrusted interpreter (default: this one).

A list of (time, resource, detail, location) tuples, oldest first.
[clinic start generated code]*/

static PyObject *
_sandbox_denials_impl(PyObject *module, PyObject *interp_id)
/*[clinic end generated code: output=3294ef97bca47da1 input=b8e503289a3ea1a7]*/
{
    return read_from(interp_id, "_sandbox.denials", PySandbox_GetDenials);
}


/*[clinic input]
_sandbox.query

    interp_id: object = None
    /

What an untrusted interpreter (default: this one) is allowed.

A dict mapping (group, type) to True, (used, cap), a frozenset of
members, or a value; the core's own limits are in the group "Python".
[clinic start generated code]*/

static PyObject *
_sandbox_query_impl(PyObject *module, PyObject *interp_id)
/*[clinic end generated code: output=63ca1b5b86e59237 input=8239671e9e5dbcf4]*/
{
    return read_from(interp_id, "_sandbox.query", PySandbox_ExtendedQuery);
}


static PyMethodDef sandbox_methods[] = {
    _SANDBOX_CALL_METHODDEF
    _SANDBOX_DENIALS_METHODDEF
    _SANDBOX_END_INTERPRETER_METHODDEF
    _SANDBOX_EVAL_METHODDEF
    _SANDBOX_EXEC_METHODDEF
    _SANDBOX_NEW_INTERPRETER_METHODDEF
    _SANDBOX_QUERY_METHODDEF
    _SANDBOX_TAKE_OUTPUT_METHODDEF
    {NULL, NULL, 0, NULL},
};


static int
sandbox_exec(PyObject *module)
{
    if (PyModule_AddObjectRef(module, "SandboxError",
                              PyExc_SandboxError) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "SandboxLimitExceeded",
                              PyExc_SandboxLimitExceeded) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "RemoteError",
                              PyExc_SandboxRemoteError) < 0) {
        return -1;
    }
    return 0;
}


static PyModuleDef_Slot sandbox_slots[] = {
    {Py_mod_exec, sandbox_exec},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
    {0, NULL},
};

static struct PyModuleDef sandbox_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_sandbox",
    .m_doc = sandbox_module_doc,
    .m_size = 0,
    .m_methods = sandbox_methods,
    .m_slots = sandbox_slots,
};

PyMODINIT_FUNC
PyInit__sandbox(void)
{
    return PyModuleDef_Init(&sandbox_module);
}
