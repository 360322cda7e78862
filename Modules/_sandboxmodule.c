/* _sandbox: the untrusted-interpreter engine, seen from Python.
 *
 * Built in only with Py_UNTRUSTED (configure --with-untrusted); the sandbox
 * package (Lib/sandbox) is its public face.  The engine is
 * Python/sandbox.c.
 */

#ifndef Py_BUILD_CORE_BUILTIN
#  define Py_BUILD_CORE_MODULE 1
#endif

#include "Python.h"
#include "pycore_interp.h"        // _PyInterpreterState_LookUpID()


PyDoc_STRVAR(sandbox_module_doc,
"The untrusted-interpreter engine of this CPython (configure\n\
--with-untrusted).  Use the sandbox package instead.");


PyDoc_STRVAR(new_interpreter_doc,
"new_interpreter($module, /)\n\
--\n\
\n\
Create an untrusted interpreter with a policy that grants nothing.\n\
\n\
Return its interpreter ID.  A test harness for the engine: the sandbox\n\
package is the interface for users.");

static PyObject *
sandbox_new_interpreter(PyObject *Py_UNUSED(module),
                        PyObject *Py_UNUSED(ignored))
{
    PySandboxPolicy *policy = PySandboxPolicy_New();
    if (policy == NULL) {
        return NULL;
    }
    PyInterpreterState *interp = PySandbox_NewInterpreter(policy);
    PySandboxPolicy_Free(policy);
    if (interp == NULL) {
        return NULL;
    }
    return PyLong_FromLongLong(PyInterpreterState_GetID(interp));
}


PyDoc_STRVAR(take_output_doc,
"take_output($module, interp_id, fd, /)\n\
--\n\
\n\
Take what untrusted interpreter interp_id wrote to fd 1 or 2 since the\n\
last call, as bytes.  A test harness for the engine.");

static PyObject *
sandbox_take_output(PyObject *Py_UNUSED(module), PyObject *args)
{
    long long id;
    int fd;
    if (!PyArg_ParseTuple(args, "Li:take_output", &id, &fd)) {
        return NULL;
    }
    PyInterpreterState *interp = _PyInterpreterState_LookUpID(id);
    if (interp == NULL) {
        return NULL;
    }
    return PySandbox_TakeOutput(interp, fd);
}


PyDoc_STRVAR(denials_doc,
"denials($module, interp_id=None, /)\n\
--\n\
\n\
The denial log of untrusted interpreter interp_id (default: this one):\n\
a list of (time, resource, detail, location) tuples, oldest first.");

static PyObject *
sandbox_denials(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *id = Py_None;
    if (!PyArg_ParseTuple(args, "|O:denials", &id)) {
        return NULL;
    }
    PyInterpreterState *interp;
    if (id == Py_None) {
        interp = PyInterpreterState_Get();
    }
    else {
        long long n = PyLong_AsLongLong(id);
        if (n == -1 && PyErr_Occurred()) {
            return NULL;
        }
        interp = _PyInterpreterState_LookUpID(n);
        if (interp == NULL) {
            return NULL;
        }
    }
    return PySandbox_GetDenials(interp);
}


static PyMethodDef sandbox_methods[] = {
    {"denials", sandbox_denials, METH_VARARGS, denials_doc},
    {"new_interpreter", sandbox_new_interpreter, METH_NOARGS,
     new_interpreter_doc},
    {"take_output", sandbox_take_output, METH_VARARGS, take_output_doc},
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
