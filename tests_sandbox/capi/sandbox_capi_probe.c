/* A C extension that uses the public sandbox C API the way an extension
 * author would: compiled by tests_sandbox/test_capi.py against the headers
 * of the build under test, in both builds, with warnings as errors. */

#include "Python.h"

#include <stdlib.h>               // atol()
#include <string.h>               // strcmp()

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

/* Every check macro, in both builds: they pass in a trusted interpreter
 * and compile to nothing without Py_UNTRUSTED. */
static PyObject *
all_checks(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    PySandbox_ExtendedCheckTrue("probe", "flag", NULL);
    PySandbox_ExtendedValueAlloc("probe", "cap", 1, NULL);
    PySandbox_ExtendedValueFree("probe", "cap", 1, NULL);
    PySandbox_ExtendedCheckMembership("probe", "set", "x", NULL);
    PySandbox_ExtendedCheckValue("probe", "value", "x", NULL);
    return PyUnicode_FromString("passed");
}

#ifdef Py_UNTRUSTED
/* The extended protections, as an extension module would use them: the
 * host side sets them on an interpreter found by its ID, the checks run
 * in the current interpreter through the public macros. */

static PyInterpreterState *
find_interp(long long id)
{
    for (PyInterpreterState *interp = PyInterpreterState_Head();
         interp != NULL; interp = PyInterpreterState_Next(interp))
    {
        if (PyInterpreterState_GetID(interp) == id) {
            return interp;
        }
    }
    PyErr_Format(PyExc_LookupError, "no interpreter %lld", id);
    return NULL;
}

static PyObject *
ext_set(PyObject *Py_UNUSED(module), PyObject *args)
{
    long long id;
    const char *kind, *group, *type, *arg = NULL;
    Py_ssize_t cap = 0;
    if (!PyArg_ParseTuple(args, "Lsss|z", &id, &kind, &group, &type, &arg)) {
        return NULL;
    }
    PyInterpreterState *interp = find_interp(id);
    if (interp == NULL) {
        return NULL;
    }
    int rc;
    if (strcmp(kind, "true") == 0) {
        rc = PySandbox_ExtendedSetTrue(interp, group, type);
    }
    else if (strcmp(kind, "cap") == 0) {
        cap = arg != NULL ? (Py_ssize_t)atol(arg) : 0;
        rc = PySandbox_ExtendedValueCap(interp, group, type, cap);
    }
    else if (strcmp(kind, "member") == 0) {
        rc = PySandbox_ExtendedAddMembership(interp, group, type, arg);
    }
    else {
        rc = PySandbox_ExtendedSetValue(interp, group, type, arg);
    }
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
check_true(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *group, *type;
    if (!PyArg_ParseTuple(args, "ss", &group, &type)) {
        return NULL;
    }
    PySandbox_ExtendedCheckTrue(group, type, NULL);
    Py_RETURN_NONE;
}

static PyObject *
value_alloc(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *group, *type;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "ssn", &group, &type, &n)) {
        return NULL;
    }
    PySandbox_ExtendedValueAlloc(group, type, n, NULL);
    Py_RETURN_NONE;
}

static PyObject *
value_free(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *group, *type;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "ssn", &group, &type, &n)) {
        return NULL;
    }
    PySandbox_ExtendedValueFree(group, type, n, NULL);
    Py_RETURN_NONE;
}

static PyObject *
check_member(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *group, *type, *member;
    if (!PyArg_ParseTuple(args, "sss", &group, &type, &member)) {
        return NULL;
    }
    PySandbox_ExtendedCheckMembership(group, type, member, NULL);
    Py_RETURN_NONE;
}

static PyObject *
check_value(PyObject *Py_UNUSED(module), PyObject *args)
{
    const char *group, *type, *value;
    if (!PyArg_ParseTuple(args, "sss", &group, &type, &value)) {
        return NULL;
    }
    PySandbox_ExtendedCheckValue(group, type, value, NULL);
    Py_RETURN_NONE;
}

static PyObject *
ext_query(PyObject *Py_UNUSED(module), PyObject *args)
{
    long long id = -1;
    if (!PyArg_ParseTuple(args, "|L", &id)) {
        return NULL;
    }
    PyInterpreterState *interp = id < 0 ? PyInterpreterState_Get()
                                        : find_interp(id);
    if (interp == NULL) {
        return NULL;
    }
    return PySandbox_ExtendedQuery(interp);
}

/* A memory group as an embedder would use it: the policy and the caller's
 * handle freed while the interpreter lives, which keeps the group.
 * Return (budget, used while it lives, used after its end). */
static PyObject *
memory_group(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(args))
{
    PySandboxMemoryGroup *group = PySandbox_NewMemoryGroup(32 << 20);
    if (group == NULL) {
        return NULL;
    }
    PySandboxPolicy *policy = PySandboxPolicy_New();
    if (policy == NULL
        || PySandboxPolicy_SetMemoryCap(policy, 24 << 20) < 0
        || PySandboxPolicy_SetMemoryGroup(policy, group) < 0)
    {
        PySandboxPolicy_Free(policy);
        PySandbox_FreeMemoryGroup(group);
        return NULL;
    }
    PyInterpreterState *interp = PySandbox_NewInterpreter(policy);
    PySandboxPolicy_Free(policy);
    if (interp == NULL) {
        PySandbox_FreeMemoryGroup(group);
        return NULL;
    }
    Py_ssize_t budget, during, after;
    PySandbox_GetMemoryGroupUsage(group, &during, &budget);
    int rc = PySandbox_EndInterpreter(interp);
    PySandbox_GetMemoryGroupUsage(group, &after, NULL);
    PySandbox_FreeMemoryGroup(group);
    if (rc < 0) {
        return NULL;
    }
    return Py_BuildValue("(nnn)", budget, during, after);
}
#endif  /* Py_UNTRUSTED */

static PyMethodDef probe_methods[] = {
    {"all_checks", all_checks, METH_NOARGS, NULL},
#ifdef Py_UNTRUSTED
    {"ext_set", ext_set, METH_VARARGS, NULL},
    {"check_true", check_true, METH_VARARGS, NULL},
    {"value_alloc", value_alloc, METH_VARARGS, NULL},
    {"value_free", value_free, METH_VARARGS, NULL},
    {"check_member", check_member, METH_VARARGS, NULL},
    {"check_value", check_value, METH_VARARGS, NULL},
    {"ext_query", ext_query, METH_VARARGS, NULL},
    {"memory_group", memory_group, METH_NOARGS, NULL},
#endif
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
