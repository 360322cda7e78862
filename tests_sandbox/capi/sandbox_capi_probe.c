/* A C extension that uses the public sandbox C API the way an extension
 * author would: compiled by tests_sandbox/test_capi.py against the headers
 * of the build under test, in both builds, with warnings as errors. */

#include "Python.h"

/* A function that only a trusted interpreter may run. */
static PyObject *
trusted_only(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    PySandbox_Trusted(NULL);
    return PyUnicode_FromString("ran");
}

static PyObject *
check_trusted(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
#ifdef Py_UNTRUSTED
    if (PySandbox_CheckTrusted() < 0) {
        return NULL;
    }
    return PyLong_FromLong(0);
#else
    Py_RETURN_NONE;
#endif
}

static PyObject *
exception_types(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
#ifdef Py_UNTRUSTED
    return Py_BuildValue("(OO)", PyExc_SandboxError,
                         PyExc_SandboxLimitExceeded);
#else
    Py_RETURN_NONE;
#endif
}

static PyMethodDef probe_methods[] = {
    {"trusted_only", trusted_only, METH_NOARGS, NULL},
    {"check_trusted", check_trusted, METH_NOARGS, NULL},
    {"exception_types", exception_types, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot probe_slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef probe_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sandbox_capi_probe",
    .m_size = 0,
    .m_methods = probe_methods,
    .m_slots = probe_slots,
};

PyMODINIT_FUNC
PyInit_sandbox_capi_probe(void)
{
    return PyModuleDef_Init(&probe_module);
}
