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


/* Policies cross from Python as mappings of their fields, the keywords of
 * new_interpreter(), check_policy() and policy_within().  They are checked
 * here, in C, by the PySandboxPolicy_* setters that embedders call: a bad
 * entry raises sandbox.PolicyError, whose attributes field and value name
 * it.  The sandbox package checks nothing of these fields itself. */

/* A PolicyError for *item*, which the conversion of an entry of *field*
 * refused: TypeError (not a str or path), ValueError (a NUL, a character
 * that does not encode); any other exception (MemoryError,
 * KeyboardInterrupt, a SandboxError raised by __fspath__) is kept.
 * Return -1. */
static int
entry_error(const char *field, PyObject *item)
{
    if (PyErr_Occurred()) {
        int type = PyErr_ExceptionMatches(PyExc_TypeError);
        if (!type && !PyErr_ExceptionMatches(PyExc_ValueError)) {
            return -1;
        }
        PyErr_Clear();
        return _PySandboxPolicy_ErrorObject(field, item,
                                            type ? "expected a string"
                                                 : "not a valid entry");
    }
    return _PySandboxPolicy_ErrorObject(field, item, "not a valid entry");
}

/* An entry of read or write: "HOST", or "HOST:GUEST", the interpreter
 * seeing HOST at GUEST (split at the first colon: a path with a colon has
 * only PySandboxPolicy_AllowPathAt()). */
static int
add_path(PySandboxPolicy *policy, const char *entry, int access)
{
    const char *colon = strchr(entry, ':');
    if (colon == NULL) {
        return PySandboxPolicy_AllowPath(policy, entry, access);
    }
    char *host = PyMem_RawMalloc((size_t)(colon - entry) + 1);
    if (host == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(host, entry, (size_t)(colon - entry));
    host[colon - entry] = '\0';
    int rc;
    if (host[0] == '\0' || colon[1] == '\0') {
        rc = _PySandboxPolicy_Error(
            access == PySandbox_WRITE ? "write" : "read", entry,
            host[0] == '\0' ? "no host path before ':'"
                            : "no guest path after ':'");
    }
    else {
        rc = PySandboxPolicy_AllowPathAt(policy, host, colon + 1, access);
    }
    PyMem_RawFree(host);
    return rc;
}

/* The list field *field*: an iterable of str (env, modules) or of paths
 * (str, bytes or os.PathLike: read, write), not a str itself.  Call
 * *add*(policy, entry) for each entry, the path encoded as the file system
 * does.  Return 0, or -1 with an exception set. */
static int
add_each(PySandboxPolicy *policy, const char *field, PyObject *value,
         int paths, int (*add)(PySandboxPolicy *, const char *, int),
         int access)
{
    if (PyUnicode_Check(value) || PyBytes_Check(value)) {
        return _PySandboxPolicy_ErrorObject(field, value, "expected a list "
                                            "of strings, not a string");
    }
    PyObject *iterator = PyObject_GetIter(value);
    if (iterator == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            return -1;
        }
        PyErr_Clear();
        return _PySandboxPolicy_ErrorObject(field, value,
                                            "expected a list of strings");
    }
    PyObject *item;
    int rc = 0;
    while (rc == 0 && (item = PyIter_Next(iterator)) != NULL) {
        PyObject *bytes = NULL;
        if (!paths && !PyUnicode_Check(item)) {
            rc = _PySandboxPolicy_ErrorObject(field, item,
                                              "expected a string");
        }
        else if (!paths) {
            /* A name: UTF-8, without NUL. */
            Py_ssize_t size;
            const char *utf8 = PyUnicode_AsUTF8AndSize(item, &size);
            if (utf8 == NULL || strlen(utf8) != (size_t)size) {
                rc = entry_error(field, item);
            }
            else if (size == 0) {
                rc = _PySandboxPolicy_ErrorObject(field, item,
                                                  "an empty entry");
            }
            else {
                rc = add(policy, utf8, access);
            }
            Py_DECREF(item);
            continue;
        }
        else if (!PyUnicode_FSConverter(item, &bytes)) {
            /* Not a path, one with a NUL, or one that does not encode. */
            rc = entry_error(field, item);
        }
        else if (PyBytes_GET_SIZE(bytes) == 0) {
            rc = _PySandboxPolicy_ErrorObject(field, item,
                                              "an empty entry");
        }
        else {
            rc = add(policy, PyBytes_AS_STRING(bytes), access);
        }
        Py_XDECREF(bytes);
        Py_DECREF(item);
    }
    Py_DECREF(iterator);
    if (rc == 0 && PyErr_Occurred()) {
        rc = -1;
    }
    return rc;
}

static int
add_env(PySandboxPolicy *policy, const char *name, int unused)
{
    return PySandboxPolicy_AllowEnv(policy, name);
}

static int
add_module(PySandboxPolicy *policy, const char *name, int unused)
{
    return PySandboxPolicy_AllowModule(policy, name);
}

static int
add_packages(PySandboxPolicy *policy, const char *root, int unused)
{
    return PySandboxPolicy_AllowPackages(policy, root);
}

static int
add_trusted_bytecode(PySandboxPolicy *policy, const char *root, int unused)
{
    return PySandboxPolicy_TrustBytecode(policy, root);
}

/* net, listen, deny_net: *list* says which. */
static int
add_net(PySandboxPolicy *policy, const char *entry, int list)
{
    return (list == SANDBOX_NET_CONNECT
            ? PySandboxPolicy_AllowNet(policy, entry)
            : list == SANDBOX_NET_LISTEN
            ? PySandboxPolicy_AllowListen(policy, entry)
            : PySandboxPolicy_DenyNet(policy, entry));
}

/* module_files: a mapping of module names to their files (absolute). */
static int
add_module_files(PySandboxPolicy *policy, PyObject *value)
{
    if (!PyDict_Check(value)) {
        return _PySandboxPolicy_ErrorObject("module_files", value,
                                            "expected a dict of module "
                                            "names and their files");
    }
    /* A copy that the caller's __fspath__() cannot change. */
    PyObject *copy = PyDict_Copy(value);
    if (copy == NULL) {
        return -1;
    }
    int rc = 0;
    Py_ssize_t pos = 0;
    PyObject *name, *file;
    while (rc == 0 && PyDict_Next(copy, &pos, &name, &file)) {
        PyObject *bytes = NULL;
        const char *utf8 = NULL;
        Py_ssize_t size;
        if (!PyUnicode_Check(name)) {
            rc = _PySandboxPolicy_ErrorObject("module_files", name,
                                              "expected a module name");
        }
        else if ((utf8 = PyUnicode_AsUTF8AndSize(name, &size)) == NULL
                 || strlen(utf8) != (size_t)size)
        {
            rc = entry_error("module_files", name);
        }
        else if (!PyUnicode_FSConverter(file, &bytes)) {
            rc = entry_error("module_files", file);
        }
        else {
            rc = PySandboxPolicy_AllowModuleFile(policy, utf8,
                                                 PyBytes_AS_STRING(bytes));
            Py_DECREF(bytes);
        }
    }
    Py_DECREF(copy);
    return rc;
}

/* A cap in bytes (memory): an int, not a bool. */
static int
bytes_of(const char *field, PyObject *value, Py_ssize_t *n)
{
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        return _PySandboxPolicy_ErrorObject(field, value,
                                            "expected a size in bytes");
    }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    *n = (overflow > 0 || v > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX
          : overflow < 0 || v < 0 ? -1 : (Py_ssize_t)v);
    return 0;
}

/* A count (threads, recursion_limit): an int, not a bool. */
static int
count_of(const char *field, PyObject *value, Py_ssize_t *n)
{
    if (!PyLong_Check(value) || PyBool_Check(value)) {
        return _PySandboxPolicy_ErrorObject(field, value,
                                            "expected a count");
    }
    *n = PyLong_AsSsize_t(value);
    if (*n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return _PySandboxPolicy_ErrorObject(field, value, "out of range");
    }
    return 0;
}

/* The fields that the engine reads from a mapping. */
static const char *const engine_fields[] = {
    "memory", "time", "cpu", "threads", "recursion_limit", "env",
    "modules", "module_files", "read", "write", "packages",
    "trusted_bytecode", "net", "listen", "deny_net", "network_info",
    "net_bytes", "net_connections", "filesystem_info",
};

/* Seconds, an int or a float (not a bool), into *seconds*.  0 or -1. */
static int
seconds_of(const char *name, PyObject *value, double *seconds)
{
    if (PyBool_Check(value)
        || !(PyLong_Check(value) || PyFloat_Check(value)))
    {
        return _PySandboxPolicy_ErrorObject(name, value, "expected seconds");
    }
    *seconds = PyFloat_AsDouble(value);
    if (*seconds == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return _PySandboxPolicy_ErrorObject(name, value, "out of range");
    }
    return 0;
}

/* Add the field *name* of value *value* to *policy*.  0 or -1. */
static int
add_field(PySandboxPolicy *policy, const char *name, PyObject *value)
{
    Py_ssize_t n = 0;
    if (strcmp(name, "memory") == 0) {
        return (bytes_of(name, value, &n) < 0 ? -1
                : PySandboxPolicy_SetMemoryCap(policy, n));
    }
    if (strcmp(name, "time") == 0) {
        double seconds;
        return (seconds_of(name, value, &seconds) < 0 ? -1
                : PySandboxPolicy_SetTimeLimit(policy, seconds));
    }
    if (strcmp(name, "cpu") == 0) {
        double seconds;
        return (value == Py_None ? 0    /* the default: its time limit */
                : seconds_of(name, value, &seconds) < 0 ? -1
                : PySandboxPolicy_SetCpuLimit(policy, seconds));
    }
    if (strcmp(name, "threads") == 0) {
        return (count_of(name, value, &n) < 0 ? -1
                : PySandboxPolicy_SetMaxThreads(policy, n));
    }
    if (strcmp(name, "recursion_limit") == 0) {
        return (count_of(name, value, &n) < 0 ? -1
                : n == 0 ? 0        /* Python's default */
                : n < 0 || n > INT_MAX
                ? _PySandboxPolicy_ErrorObject(name, value, "out of range")
                : PySandboxPolicy_SetRecursionLimit(policy, (int)n));
    }
    if (strcmp(name, "env") == 0) {
        return add_each(policy, name, value, 0, add_env, 0);
    }
    if (strcmp(name, "modules") == 0) {
        return add_each(policy, name, value, 0, add_module, 0);
    }
    if (strcmp(name, "module_files") == 0) {
        return add_module_files(policy, value);
    }
    if (strcmp(name, "packages") == 0) {
        return add_each(policy, name, value, 1, add_packages, 0);
    }
    if (strcmp(name, "trusted_bytecode") == 0) {
        return add_each(policy, name, value, 1, add_trusted_bytecode, 0);
    }
    if (strcmp(name, "net") == 0) {
        return add_each(policy, name, value, 0, add_net,
                        SANDBOX_NET_CONNECT);
    }
    if (strcmp(name, "listen") == 0) {
        return add_each(policy, name, value, 0, add_net,
                        SANDBOX_NET_LISTEN);
    }
    if (strcmp(name, "deny_net") == 0) {
        return add_each(policy, name, value, 0, add_net, SANDBOX_NET_DENY);
    }
    if (strcmp(name, "net_bytes") == 0 || strcmp(name, "net_connections") == 0)
    {
        /* None: no budget (the default). */
        int bytes = name[4] == 'b';
        if (value == Py_None) {
            return 0;
        }
        if ((bytes ? bytes_of(name, value, &n) : count_of(name, value, &n))
            < 0)
        {
            return -1;
        }
        if (n < 1) {
            return _PySandboxPolicy_ErrorObject(name, value, "out of range "
                                                "(at least 1, or None)");
        }
        return PySandboxPolicy_SetNetBudget(
            policy, bytes ? n : policy->net_bytes_cap == 0
                                ? -1 : policy->net_bytes_cap,
            bytes ? (policy->net_connections_cap == 0
                     ? -1 : policy->net_connections_cap) : n);
    }
    if (strcmp(name, "network_info") == 0) {
        if (!PyBool_Check(value)) {
            return _PySandboxPolicy_ErrorObject(name, value,
                                                "expected true or false");
        }
        return PySandboxPolicy_AllowNetworkInfo(policy, value == Py_True);
    }
    if (strcmp(name, "filesystem_info") == 0) {
        if (!PyBool_Check(value)) {
            return _PySandboxPolicy_ErrorObject(name, value,
                                                "expected true or false");
        }
        return PySandboxPolicy_AllowFilesystemInfo(policy,
                                                   value == Py_True);
    }
    return add_each(policy, name, value, 1, add_path,
                    strcmp(name, "write") == 0 ? PySandbox_WRITE
                                               : PySandbox_READ);
}

/* A new policy from *fields* (a dict of the fields, or NULL: grant
 * nothing).  Return it, or NULL with PolicyError, TypeError for a field
 * that does not exist, or MemoryError set.  The checks run the caller's
 * code (iterators, __fspath__(), __repr__()), which may change *fields*:
 * they read a copy that only this function holds. */
static PySandboxPolicy *
policy_from_fields(PyObject *fields)
{
    PySandboxPolicy *policy = PySandboxPolicy_New();
    if (policy == NULL || fields == NULL) {
        return policy;
    }
    PyObject *copy = NULL;
    if (!PyDict_Check(fields)) {
        PyErr_Format(PyExc_TypeError, "a policy is a dict of its fields, "
                     "not %T", fields);
        goto error;
    }
    copy = PyDict_Copy(fields);
    if (copy == NULL) {
        goto error;
    }
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(copy, &pos, &key, &value)) {
        const char *name = (PyUnicode_CheckExact(key) ? PyUnicode_AsUTF8(key)
                                                      : NULL);
        if (name == NULL
            || !_PySandbox_InList(engine_fields,
                                  Py_ARRAY_LENGTH(engine_fields), name))
        {
            if (name != NULL || !PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError, "the engine has no policy "
                             "field %R", key);
            }
            goto error;
        }
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(engine_fields); i++) {
        int found = PyDict_GetItemStringRef(copy, engine_fields[i], &value);
        if (found < 0) {
            goto error;
        }
        if (found) {
            int rc = add_field(policy, engine_fields[i], value);
            Py_DECREF(value);
            if (rc < 0) {
                goto error;
            }
        }
    }
    if (_PySandboxPolicy_CheckWritable(policy) < 0
        || _PySandboxPolicy_CheckTrustedBytecode(policy) < 0
        || _PySandboxPolicy_CheckCpuLimit(policy) < 0)
    {
        goto error;
    }
    Py_DECREF(copy);
    return policy;

error:
    Py_XDECREF(copy);
    PySandboxPolicy_Free(policy);
    return NULL;
}

/* A sorted tuple of the str of *list*. */
static PyObject *
sorted_tuple(char *const *items, Py_ssize_t n, int decode_path)
{
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = decode_path ? PyUnicode_DecodeFSDefault(items[i])
                                     : PyUnicode_FromString(items[i]);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    PyObject *result = (PyList_Sort(list) < 0 ? NULL : PyList_AsTuple(list));
    Py_DECREF(list);
    return result;
}

/* A budget's cap, or None for none (0). */
static PyObject *
cap_or_none(Py_ssize_t cap)
{
    return cap == 0 ? Py_NewRef(Py_None) : PyLong_FromSsize_t(cap);
}

/* The entries of the network list *list* of *policy*, as a sorted tuple. */
static PyObject *
net_entries(const PySandboxPolicy *policy, int list)
{
    char **texts = PyMem_Calloc((size_t)policy->n_net[list] + 1,
                                sizeof(char *));
    if (texts == NULL) {
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
        texts[i] = policy->net[list][i].text;
    }
    PyObject *result = sorted_tuple(texts, policy->n_net[list], 0);
    PyMem_Free(texts);
    return result;
}

/* The paths of *policy* granted for exactly *access*, as a sorted tuple. */
static PyObject *
paths_for(const PySandboxPolicy *policy, int access)
{
    char **paths = PyMem_Calloc((size_t)policy->n_paths + 1, sizeof(char *));
    if (paths == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t n = 0;
    int failed = 0;
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const sandbox_path_rule *rule = &policy->paths[i];
        if (rule->access != access) {
            continue;
        }
        if (rule->guest == NULL) {
            paths[n++] = rule->path;
            continue;
        }
        /* "HOST:GUEST", as it was given. */
        size_t size = strlen(rule->path) + strlen(rule->guest) + 2;
        char *entry = PyMem_Malloc(size);
        if (entry == NULL) {
            failed = 1;
            break;
        }
        PyOS_snprintf(entry, size, "%s:%s", rule->path, rule->guest);
        paths[n++] = entry;
    }
    PyObject *result = failed ? PyErr_NoMemory() : sorted_tuple(paths, n, 1);
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        if (policy->paths[i].access == access) {
            if (k < n && policy->paths[i].guest != NULL) {
                PyMem_Free(paths[k]);
            }
            k++;
        }
    }
    PyMem_Free(paths);
    return result;
}

/* The fields of *policy* as the engine keeps them: a dict of the keywords
 * of check_policy(), each with its value in one form (the lists sorted,
 * each entry once, the paths normalized). */
static PyObject *
fields_of(const PySandboxPolicy *policy)
{
    PyObject *module_files = PyDict_New();
    if (module_files == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < policy->n_module_files; i++) {
        PyObject *file = PyUnicode_DecodeFSDefault(
            policy->module_files[i].file);
        int rc = (file == NULL ? -1
                  : PyDict_SetItemString(module_files,
                                         policy->module_files[i].name, file));
        Py_XDECREF(file);
        if (rc < 0) {
            Py_DECREF(module_files);
            return NULL;
        }
    }
    return Py_BuildValue(
        "{s:n, s:d, s:d, s:n, s:i, s:N, s:N, s:N, s:N, s:N, s:N, s:N, s:N,"
        " s:N, s:N, s:O, s:N, s:N, s:O}",
        "memory", _PySandboxPolicy_MemoryCap(policy),
        "time", (double)_PySandbox_TimeLimit(policy) / 1e9,
        "cpu", (double)_PySandbox_CpuLimit(policy) / 1e9,
        "threads", policy->max_threads,
        "recursion_limit", _PySandboxPolicy_RecursionLimit(policy),
        "env", sorted_tuple(policy->env, policy->n_env, 0),
        "modules", sorted_tuple(policy->modules, policy->n_modules, 0),
        "module_files", module_files,
        "read", paths_for(policy, PySandbox_READ),
        "write", paths_for(policy, PySandbox_READ | PySandbox_WRITE),
        "packages", sorted_tuple(policy->packages, policy->n_packages, 1),
        "trusted_bytecode", sorted_tuple(policy->trusted_bytecode,
                                         policy->n_trusted_bytecode, 1),
        "net", net_entries(policy, SANDBOX_NET_CONNECT),
        "listen", net_entries(policy, SANDBOX_NET_LISTEN),
        "deny_net", net_entries(policy, SANDBOX_NET_DENY),
        "network_info", policy->network_info ? Py_True : Py_False,
        "net_bytes", cap_or_none(policy->net_bytes_cap),
        "net_connections", cap_or_none(policy->net_connections_cap),
        "filesystem_info", policy->filesystem_info ? Py_True : Py_False);
}


PyDoc_STRVAR(new_interpreter_doc,
"new_interpreter($module, /, *, memory=268435456, time=30.0, cpu=None,\n\
                threads=0, recursion_limit=0, env=(), modules=(),\n\
                module_files={}, read=(), write=(), packages=(),\n\
                trusted_bytecode=(), net=(), listen=(), deny_net=(),\n\
                network_info=False,\n\
                net_bytes=None, net_connections=None,\n\
                filesystem_info=False, memory_group=None)\n\
--\n\
\n\
Create an untrusted interpreter and return its ID.\n\
\n\
Its policy grants nothing but what the keywords say (check_policy() has\n\
them).  From an untrusted interpreter, the policy must be within the\n\
creator's own.  A malformed policy, or a path granted that cannot be\n\
opened, raises PolicyError.  With memory_group (a MemoryGroup; the host\n\
only), what it holds counts against the group's budget too.");

/* A memory group (PySandboxMemoryGroup): a budget for the interpreters
 * created with it, together.  Made only by the host. */
typedef struct {
    PyObject_HEAD
    PySandboxMemoryGroup *group;
} MemoryGroupObject;

static void
memory_group_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PySandbox_FreeMemoryGroup(((MemoryGroupObject *)self)->group);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *
memory_group_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t budget;
    static char *keywords[] = {"budget", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n:MemoryGroup",
                                     keywords, &budget))
    {
        return NULL;
    }
    PySandboxMemoryGroup *group = PySandbox_NewMemoryGroup(budget);
    if (group == NULL) {
        return NULL;
    }
    MemoryGroupObject *self = (MemoryGroupObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        PySandbox_FreeMemoryGroup(group);
        return NULL;
    }
    self->group = group;
    return (PyObject *)self;
}

static PyObject *
memory_group_usage(PyObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t used, budget;
    PySandbox_GetMemoryGroupUsage(((MemoryGroupObject *)self)->group,
                                  &used, &budget);
    return Py_BuildValue("(nn)", used, budget);
}

static PyMethodDef memory_group_methods[] = {
    {"usage", memory_group_usage, METH_NOARGS,
     PyDoc_STR("usage($self, /)\n--\n\nReturn (used, budget) in bytes: "
               "what the group's interpreters hold now, together.")},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(memory_group_doc,
"MemoryGroup(budget)\n\
--\n\
\n\
A budget in bytes (16 MiB to 1 TiB) for the untrusted interpreters created\n\
with it (new_interpreter(memory_group=...)), together, beside each one's\n\
own cap.  The host only.");

static PyType_Slot memory_group_slots[] = {
    {Py_tp_new, memory_group_new},
    {Py_tp_dealloc, memory_group_dealloc},
    {Py_tp_methods, memory_group_methods},
    {Py_tp_doc, (void *)memory_group_doc},
    {0, NULL},
};

static PyType_Spec memory_group_spec = {
    .name = "_sandbox.MemoryGroup",
    .basicsize = sizeof(MemoryGroupObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = memory_group_slots,
};

/* The group of *value*, a MemoryGroup (of any interpreter's _sandbox: the
 * type is checked by its deallocator), or NULL with TypeError set. */
static PySandboxMemoryGroup *
memory_group_of(PyObject *value)
{
    if (Py_TYPE(value)->tp_dealloc != memory_group_dealloc) {
        PyErr_Format(PyExc_TypeError, "memory_group must be a "
                     "_sandbox.MemoryGroup, not %T", value);
        return NULL;
    }
    return ((MemoryGroupObject *)value)->group;
}

static PyObject *
sandbox_new_interpreter(PyObject *module, PyObject *args, PyObject *kwargs)
{
    if (!_PyArg_NoPositional("new_interpreter", args)) {
        return NULL;
    }
    /* The group is not a field of the policy (check_policy() has none). */
    PyObject *fields = kwargs, *group = NULL;
    if (kwargs != NULL) {
        if (PyDict_GetItemStringRef(kwargs, "memory_group", &group) < 0) {
            return NULL;
        }
        if (group != NULL) {
            fields = PyDict_Copy(kwargs);
            if (fields == NULL
                || PyDict_DelItemString(fields, "memory_group") < 0)
            {
                Py_XDECREF(fields);
                Py_DECREF(group);
                return NULL;
            }
        }
    }
    PySandboxPolicy *policy = policy_from_fields(fields);
    if (fields != kwargs) {
        Py_DECREF(fields);
    }
    if (policy != NULL && group != NULL && group != Py_None) {
        PySandboxMemoryGroup *g = memory_group_of(group);
        if (g == NULL || PySandboxPolicy_SetMemoryGroup(policy, g) < 0) {
            PySandboxPolicy_Free(policy);
            policy = NULL;
        }
    }
    Py_XDECREF(group);
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


PyDoc_STRVAR(check_policy_doc,
"check_policy($module, /, *, memory=268435456, time=30.0, cpu=None,\n\
             threads=0, recursion_limit=0, env=(), modules=(),\n\
             module_files={}, read=(), write=(), packages=(),\n\
             trusted_bytecode=(), net=(), listen=(), deny_net=(),\n\
             network_info=False, net_bytes=None,\n\
             net_connections=None, filesystem_info=False)\n\
--\n\
\n\
Check a policy and return its fields as the engine keeps them.\n\
\n\
memory           the most memory it holds, in bytes (16 MiB to 1 TiB,\n\
                 and at most what the host has)\n\
time             the wall-clock seconds of each job (more than 0, at\n\
                 most a week)\n\
cpu              the CPU seconds of each job, over all its threads\n\
                 (None: its time; at most time * (threads + 1))\n\
threads          threads at once besides the job's (0 to 1024)\n\
recursion_limit  the highest recursion limit its code may set (0:\n\
                 Python's default, 1000)\n\
env              names of environment variables its os.environ gets,\n\
                 with their values in the creator\n\
modules          extension modules of the standard library beyond the\n\
                 default set\n\
module_files     a dict binding modules outside the standard library to\n\
                 their files\n\
read, write      absolute paths (without \"..\") it may read, and read and\n\
                 change; a directory grants what is beneath it\n\
packages         directories it reads, on its sys.path after the\n\
                 standard library (pure-Python modules and packages)\n\
trusted_bytecode those of the packages whose bytecode caches it may\n\
                 import from (the host vouches for them)\n\
net              where it may connect and send: \"HOST:PORT\", \"HOST\" (any\n\
                 port), \"HOST:LOW-HIGH\"; HOST a name, an address ([IPv6]),\n\
                 localhost or *\n\
listen           where it may bind and listen: the same with an address\n\
                 (\"PORT\" alone: localhost)\n\
deny_net         what it may never reach, whatever net grants (a name\n\
                 without a port: never resolved)\n\
network_info     whether it may see the host's name and interfaces\n\
net_bytes        bytes it may send and receive over its life (None: no\n\
                 budget)\n\
net_connections  connections it may make and accept over its life\n\
filesystem_info  whether it may see the host's identity (process and\n\
                 user IDs, processors, load, kernel release)\n\
\n\
The result is a dict with every keyword: the lists as sorted tuples, each\n\
entry once, the paths normalized.  A bad entry raises PolicyError, whose\n\
attributes field and value name it.");

static PyObject *
sandbox_check_policy(PyObject *module, PyObject *args, PyObject *kwargs)
{
    if (!_PyArg_NoPositional("check_policy", args)) {
        return NULL;
    }
    PySandboxPolicy *policy = policy_from_fields(kwargs);
    if (policy == NULL) {
        return NULL;
    }
    PyObject *result = fields_of(policy);
    PySandboxPolicy_Free(policy);
    return result;
}


/*[clinic input]
_sandbox.policy_within

    inner: object(subclass_of='&PyDict_Type')
    outer: object(subclass_of='&PyDict_Type')
    /

Does the policy inner grant nothing that outer does not?

Both are dicts of the keywords of check_policy().  This is the test
that an untrusted interpreter's own new_interpreter() must pass.
[clinic start generated code]*/

static PyObject *
_sandbox_policy_within_impl(PyObject *module, PyObject *inner,
                            PyObject *outer)
/*[clinic end generated code: output=60952227c7757f1c input=f4f78fc57b9a1d54]*/
{
    PySandboxPolicy *a = policy_from_fields(inner);
    if (a == NULL) {
        return NULL;
    }
    PySandboxPolicy *b = policy_from_fields(outer);
    if (b == NULL) {
        PySandboxPolicy_Free(a);
        return NULL;
    }
    int within = _PySandboxPolicy_Within(a, b);
    PySandboxPolicy_Free(a);
    PySandboxPolicy_Free(b);
    return PyBool_FromLong(within);
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
_sandbox.lost

    interp_id: long_long
    /

Whether the host gave up on a job of an untrusted interpreter.

True once a job did not stop within 100 ms of its deadline: the
interpreter runs no other job, and it is ended as that job comes out
(True too once it is gone).  False otherwise.
[clinic start generated code]*/

static PyObject *
_sandbox_lost_impl(PyObject *module, long long interp_id)
/*[clinic end generated code: output=a5c41c3ec7b695ba input=262fc3d84129f531]*/
{
    PyInterpreterState *interp = _PySandbox_HoldByID(interp_id,
                                                     "_sandbox.lost");
    if (interp == NULL) {
        /* Gone, or being ended: by the job's thread, as it came out. */
        if (PyErr_ExceptionMatches(PyExc_InterpreterNotFoundError)
            || PyErr_ExceptionMatches(PyExc_RuntimeError))
        {
            PyErr_Clear();
            Py_RETURN_TRUE;
        }
        return NULL;
    }
    int lost = _Py_atomic_load_int(&interp->sandbox->lost) != 0;
    _PySandbox_Leave(interp);
    return PyBool_FromLong(lost);
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


static PyObject *
memory_of(PyInterpreterState *interp)
{
    Py_ssize_t used, cap, peak;
    if (PySandbox_GetMemoryUsage(interp, &used, &cap, &peak) < 0) {
        return NULL;
    }
    return Py_BuildValue("(nnn)", used, cap, peak);
}

/*[clinic input]
_sandbox.memory

    interp_id: object = None
    /

The memory of an untrusted interpreter (default: this one).

A tuple (used, cap, peak) in bytes: what it holds now (with what the
interpreters it created hold), its cap, and the most it held since its
last job began.
[clinic start generated code]*/

static PyObject *
_sandbox_memory_impl(PyObject *module, PyObject *interp_id)
/*[clinic end generated code: output=a49b7cfe633f3894 input=b7c318113e000893]*/
{
    return read_from(interp_id, "_sandbox.memory", memory_of);
}


/*[clinic input]
_sandbox.memory_budget

    budget: object = None
    /

The memory of all untrusted interpreters of the process, and its budget.

With *budget* (bytes; 0 for none), set the budget first: the most that
they may hold together.  Return (used, budget), budget 0 for none.
[clinic start generated code]*/

static PyObject *
_sandbox_memory_budget_impl(PyObject *module, PyObject *budget)
/*[clinic end generated code: output=eff7ec8a9160c25f input=c903693a384bd1e9]*/
{
    PySandbox_Trusted(NULL);
    if (budget != Py_None) {
        Py_ssize_t bytes;
        if (!PyLong_Check(budget) || PyBool_Check(budget)) {
            PyErr_Format(PyExc_TypeError, "a budget is an int of bytes, "
                         "not %T", budget);
            return NULL;
        }
        bytes = PyLong_AsSsize_t(budget);
        if ((bytes == -1 && PyErr_Occurred())
            || PySandbox_SetMemoryBudget(bytes) < 0)
        {
            return NULL;
        }
    }
    Py_ssize_t used, limit;
    _PySandbox_MemoryTotal(&used, &limit);
    return Py_BuildValue("(nn)", used, limit == PY_SSIZE_T_MAX ? 0 : limit);
}


/* Measurements only (Tools/sandbox/bench.py, Python/sandbox_memory.c). */
PyDoc_STRVAR(count_objects_doc,
"_count_objects($module, flag, /)\n\
--\n\
\n\
Whether the untrusted interpreters created from now on count their\n\
objects against their memory cap (default: True), and return the\n\
previous setting.  For benchmarks that measure the cost of counting:\n\
without it, an interpreter's cap does not bind its objects.  The host\n\
only.");

static PyObject *
sandbox_count_objects(PyObject *module, PyObject *flag)
{
    int on = PyObject_IsTrue(flag);
    if (on < 0) {
        return NULL;
    }
    int was = _PySandbox_CountObjects(on);
    return was < 0 ? NULL : PyBool_FromLong(was);
}


#ifdef Py_DEBUG
/* Tests only: allocation-failure injection (Python/sandbox_memory.c). */
PyDoc_STRVAR(fail_allocations_doc,
"_fail_allocations($module, interp_id, start, count=1, /)\n\
--\n\
\n\
Make allocations start to start + count - 1 of an untrusted interpreter\n\
fail (counted from 1 from now on; 0: none), and return how many it\n\
made since the last call.  Debug builds only.");

static PyObject *
sandbox_fail_allocations(PyObject *module, PyObject *args)
{
    long long id;
    Py_ssize_t start, count = 1;
    if (!PyArg_ParseTuple(args, "Ln|n:_fail_allocations", &id, &start,
                          &count))
    {
        return NULL;
    }
    PyInterpreterState *interp = _PySandbox_HoldByID(
        id, "_sandbox._fail_allocations");
    if (interp == NULL) {
        return NULL;
    }
    Py_ssize_t seen = _PySandbox_InjectedSeen(interp);
    int rc = _PySandbox_InjectFailures(interp, start, count);
    _PySandbox_Leave(interp);
    return rc < 0 ? NULL : PyLong_FromSsize_t(seen);
}
#endif


/* Worker processes (Lib/sandbox/_worker.py, Python/sandbox_worker.c,
   Python/sandbox_fence.c) */

/*[clinic input]
_sandbox.fence_layers

The layers of the second wall that this system gives.

A dict mapping each layer ("namespaces", "rlimits", "no_new_privs",
"landlock", "seccomp") to None when it is available, or why it is not;
and "landlock_abi" to the kernel's Landlock ABI (0: none).
[clinic start generated code]*/

static PyObject *
_sandbox_fence_layers_impl(PyObject *module)
/*[clinic end generated code: output=d8cb1f964ce7f628 input=5745435c4fe1c36c]*/
{
    /* The host's question: asking it forks a child of the process. */
    PySandbox_Trusted(NULL);
    return _PySandbox_FenceLayers();
}


PyDoc_STRVAR(pack_worker_start_doc,
"pack_worker_start($module, inner_wall_off, /, **fields)\n\
--\n\
\n\
The first frame's body for a worker process: the policy of the\n\
keywords of check_policy(), packed so that the worker reads it in C\n\
before its main interpreter exists, and creates that interpreter\n\
untrusted with it.  inner_wall_off asks for the debug build's test\n\
switch (Doc/sandbox/isolation.rst).  A malformed policy raises\n\
PolicyError.");

static PyObject *
sandbox_pack_worker_start(PyObject *module, PyObject *args, PyObject *kwargs)
{
    /* The host's: a tenant starts no worker. */
    PySandbox_Trusted(NULL);
    int inner_wall_off;
    if (!PyArg_ParseTuple(args, "p:pack_worker_start", &inner_wall_off)) {
        return NULL;
    }
    PySandboxPolicy *policy = policy_from_fields(kwargs);
    if (policy == NULL) {
        return NULL;
    }
    PyObject *result = NULL;
    if (_PySandboxPolicy_CheckWritable(policy) == 0) {
        result = _PySandbox_PackWorkerStart(policy, inner_wall_off);
    }
    PySandboxPolicy_Free(policy);
    return result;
}


/*[clinic input]
_sandbox.encode

    value: object
    /

Encode a plain value as bytes, as values cross interpreters.

None, bool, int, float, str, bytes, and tuples, lists and dicts of
those, of their exact types.  A worker process and its host use it.
[clinic start generated code]*/

static PyObject *
_sandbox_encode(PyObject *module, PyObject *value)
/*[clinic end generated code: output=e22c25dedd45b9b2 input=c12722ad05f3b2ca]*/
{
    return _PySandbox_EncodeValue(value);
}


/*[clinic input]
_sandbox.decode

    data: Py_buffer
    max_items: Py_ssize_t = -1
    max_keys: Py_ssize_t = -1
    /

Decode what encode() made; RuntimeError for anything else.

No code of the sender's runs, whatever the bytes are.  At most
max_items values are made, and dict keys that are not str (whose hashes
a sender can make collide) at most max_keys; -1: no limit.
[clinic start generated code]*/

static PyObject *
_sandbox_decode_impl(PyObject *module, Py_buffer *data, Py_ssize_t max_items,
                     Py_ssize_t max_keys)
/*[clinic end generated code: output=c6a297e8dbaee465 input=79c003e5026113e7]*/
{
    return _PySandbox_DecodeValue(data->buf, data->len, max_items,
                                  max_keys);
}


/*[clinic input]
_sandbox.remote_error

    type_name: unicode
    message: unicode
    traceback: unicode
    exit_code: object
    /

A RemoteError as a job's end makes it: for a worker's answer.
[clinic start generated code]*/

static PyObject *
_sandbox_remote_error_impl(PyObject *module, PyObject *type_name,
                           PyObject *message, PyObject *traceback,
                           PyObject *exit_code)
/*[clinic end generated code: output=e47017387aafdf97 input=1fd661aafdfc7a61]*/
{
    return _PySandbox_NewRemoteError(type_name, message, traceback,
                                     exit_code);
}


static PyMethodDef sandbox_methods[] = {
    _SANDBOX_CALL_METHODDEF
    {"check_policy", _PyCFunction_CAST(sandbox_check_policy),
     METH_VARARGS | METH_KEYWORDS, check_policy_doc},
    _SANDBOX_DECODE_METHODDEF
    _SANDBOX_DENIALS_METHODDEF
    _SANDBOX_ENCODE_METHODDEF
    _SANDBOX_END_INTERPRETER_METHODDEF
    _SANDBOX_EVAL_METHODDEF
    _SANDBOX_EXEC_METHODDEF
    _SANDBOX_LOST_METHODDEF
    {"_count_objects", sandbox_count_objects, METH_O, count_objects_doc},
#ifdef Py_DEBUG
    {"_fail_allocations", sandbox_fail_allocations, METH_VARARGS,
     fail_allocations_doc},
#endif
    {"pack_worker_start", _PyCFunction_CAST(sandbox_pack_worker_start),
     METH_VARARGS | METH_KEYWORDS, pack_worker_start_doc},
    _SANDBOX_FENCE_LAYERS_METHODDEF
    _SANDBOX_MEMORY_METHODDEF
    _SANDBOX_MEMORY_BUDGET_METHODDEF
    {"new_interpreter", _PyCFunction_CAST(sandbox_new_interpreter),
     METH_VARARGS | METH_KEYWORDS, new_interpreter_doc},
    _SANDBOX_POLICY_WITHIN_METHODDEF
    _SANDBOX_QUERY_METHODDEF
    _SANDBOX_REMOTE_ERROR_METHODDEF
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
    if (PyModule_AddObjectRef(module, "PolicyError",
                              PyExc_SandboxPolicyError) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "RemoteError",
                              PyExc_SandboxRemoteError) < 0) {
        return -1;
    }
    PyObject *group_type = PyType_FromModuleAndSpec(module,
                                                    &memory_group_spec, NULL);
    if (group_type == NULL) {
        return -1;
    }
    int rc = PyModule_AddObject(module, "MemoryGroup", group_type);
    if (rc < 0) {
        Py_DECREF(group_type);
    }
    return rc;
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
