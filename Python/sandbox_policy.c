/* Untrusted interpreters: policies.
 *
 * PySandboxPolicy, and how one compares with another.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED


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
_PySandbox_FreeStrings(char **list, Py_ssize_t n)
{
    if (list == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyMem_RawFree(list[i]);
    }
    PyMem_RawFree(list);
}

/* A raw-allocated copy of *n* strings, or NULL (and *n* 0: an empty list
 * is NULL too). */
int
_PySandbox_CopyStrings(char *const *src, Py_ssize_t n, char ***dest)
{
    *dest = NULL;
    if (n == 0) {
        return 0;
    }
    char **list = PyMem_RawCalloc((size_t)n, sizeof(char *));
    if (list == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        list[i] = _PyMem_RawStrdup(src[i]);
        if (list[i] == NULL) {
            _PySandbox_FreeStrings(list, i);
            return -1;
        }
    }
    *dest = list;
    return 0;
}

int
_PySandbox_InList(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

int
_PySandbox_PolicyLists(char *const *list, Py_ssize_t n, const char *name)
{
    return _PySandbox_InList((const char *const *)list, (size_t)n, name);
}

/* Append *entry* (raw-allocated; taken, freed on failure) to *list*.
 * Return 0, or -1 with MemoryError set. */
int
_PySandbox_PushString(char ***list, Py_ssize_t *n, char *entry)
{
    char **grown = entry == NULL ? NULL
        : PyMem_RawRealloc(*list, (size_t)(*n + 1) * sizeof(char *));
    if (grown == NULL) {
        PyMem_RawFree(entry);
        PyErr_NoMemory();
        return -1;
    }
    grown[(*n)++] = entry;
    *list = grown;
    return 0;
}

/* Add a copy of *name* to *list* unless it is there.  0 or -1. */
int
_PySandbox_AddName(char ***list, Py_ssize_t *n, const char *name)
{
    if (_PySandbox_PolicyLists(*list, *n, name)) {
        return 0;
    }
    return _PySandbox_PushString(list, n, _PyMem_RawStrdup(name));
}

int
_PySandbox_RemoveName(char **list, Py_ssize_t *n, const char *name)
{
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (strcmp(list[i], name) == 0) {
            PyMem_RawFree(list[i]);
            list[i] = list[--(*n)];
            return 1;
        }
    }
    return 0;
}

/* The value of the "name=value" entry of *list* for *name*, or NULL. */
const char *
_PySandbox_FindValue(char *const *list, Py_ssize_t n, const char *name)
{
    size_t len = strlen(name);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (strncmp(list[i], name, len) == 0 && list[i][len] == '=') {
            return list[i] + len + 1;
        }
    }
    return NULL;
}

void
PySandboxPolicy_Free(PySandboxPolicy *policy)
{
    if (policy != NULL) {
        _PySandbox_FreeStrings(policy->env, policy->n_env);
        _PySandbox_FreeStrings(policy->environ, policy->n_environ);
        _PySandbox_FreeStrings(policy->modules, policy->n_modules);
        _PySandbox_FreeStrings(policy->blocked, policy->n_blocked);
        _PySandbox_FreeStrings(policy->module_files, policy->n_module_files);
        _PySandbox_FreeStrings(policy->paths, policy->n_paths);
    }
    PyMem_RawFree(policy);
}


int
PySandboxPolicy_SetMaxThreads(PySandboxPolicy *policy, Py_ssize_t n)
{
    if (policy == NULL || n < 0) {
        PyErr_Format(PyExc_ValueError,
                     "PySandboxPolicy_SetMaxThreads: %s",
                     policy == NULL ? "policy is NULL"
                                    : "the count cannot be negative");
        return -1;
    }
    policy->max_threads = n;
    return 0;
}

int
PySandboxPolicy_AllowEnv(PySandboxPolicy *policy, const char *name)
{
    if (policy == NULL || name == NULL || name[0] == '\0'
        || strchr(name, '=') != NULL)
    {
        PyErr_Format(PyExc_ValueError, "PySandboxPolicy_AllowEnv: %s",
                     policy == NULL ? "policy is NULL"
                     : "the name must be a non-empty string without '='");
        return -1;
    }
    return _PySandbox_AddName(&policy->env, &policy->n_env, name);
}

int
PySandboxPolicy_SetRecursionLimit(PySandboxPolicy *policy, int limit)
{
    if (policy == NULL || limit < 1 || limit > SANDBOX_MAX_RECURSION_LIMIT) {
        PyErr_Format(PyExc_ValueError,
                     "PySandboxPolicy_SetRecursionLimit: %s",
                     policy == NULL ? "policy is NULL"
                                    : "the limit must be from 1 to 1000000");
        return -1;
    }
    policy->recursion_limit = limit;
    return 0;
}


/* Does *policy* grant nothing that *outer* does not?  Every field of the
 * policy is compared here as it is added. */
int
_PySandboxPolicy_Within(const PySandboxPolicy *policy,
                        const PySandboxPolicy *outer)
{
    if (policy->max_threads > outer->max_threads
        || (_PySandboxPolicy_RecursionLimit(policy)
            > _PySandboxPolicy_RecursionLimit(outer)))
    {
        return 0;
    }
    for (Py_ssize_t i = 0; i < policy->n_env; i++) {
        if (!_PySandbox_PolicyLists(outer->env, outer->n_env,
                                    policy->env[i])) {
            return 0;
        }
    }
    return (_PySandboxPolicy_ModulesWithin(policy, outer)
            && _PySandboxPolicy_PathsWithin(policy, outer));
}


/* Fill policy->environ with "NAME=value" for each variable the policy
 * names that the creator has: from the C environment for a trusted
 * creator, from what an untrusted one got at its own creation (never what
 * its code set).  Return 0, or -1 with MemoryError set. */
int
_PySandboxPolicy_SnapshotEnviron(PySandboxPolicy *policy,
                                 const struct _PySandboxState *creator_state)
{
    policy->environ = NULL;
    policy->n_environ = 0;
    if (policy->n_env == 0) {
        return 0;
    }
    char **list = PyMem_RawCalloc((size_t)policy->n_env, sizeof(char *));
    if (list == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < policy->n_env; i++) {
        const char *name = policy->env[i];
        const char *value = NULL;
        if (creator_state == NULL) {
            value = getenv(name);
        }
        else {
            value = _PySandbox_FindValue(creator_state->policy.environ,
                                         creator_state->policy.n_environ,
                                         name);
        }
        if (value == NULL) {
            continue;
        }
        size_t size = strlen(name) + strlen(value) + 2;
        char *entry = PyMem_RawMalloc(size);
        if (entry == NULL) {
            _PySandbox_FreeStrings(list, n);
            PyErr_NoMemory();
            return -1;
        }
        PyOS_snprintf(entry, size, "%s=%s", name, value);
        list[n++] = entry;
    }
    policy->environ = list;
    policy->n_environ = n;
    return 0;
}


int
_PySandbox_FillEnviron(PyObject *environ)
{
    const struct _PySandboxState *state =
        _PyInterpreterState_GET()->sandbox;
    assert(state != NULL);
    const PySandboxPolicy *policy = &state->policy;
    for (Py_ssize_t i = 0; i < policy->n_environ; i++) {
        const char *entry = policy->environ[i];
        const char *eq = strchr(entry, '=');
        PyObject *key = PyBytes_FromStringAndSize(entry, eq - entry);
        PyObject *value = PyBytes_FromString(eq + 1);
        int rc = (key != NULL && value != NULL)
                 ? PyDict_SetDefaultRef(environ, key, value, NULL) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* Copy *src* into *dest*, an untrusted interpreter's own policy: its lists,
 * not what its creator filled in for the creation (the opened grants, the
 * working directory, the creator's grants).  Return 0, or -1 (no memory)
 * with *dest* left for _PySandboxPolicy_Clear(). */
int
_PySandboxPolicy_Copy(PySandboxPolicy *dest, const PySandboxPolicy *src)
{
    *dest = *src;
    dest->env = dest->environ = NULL;
    dest->modules = dest->blocked = NULL;
    dest->module_files = dest->paths = NULL;
    dest->opened = NULL;
    dest->n_opened = 0;
    dest->cwd = NULL;
    dest->creator_grants = NULL;
    dest->n_creator_grants = 0;
    dest->creator_roots = NULL;
    dest->n_creator_roots = 0;
    if (_PySandbox_CopyStrings(src->env, src->n_env, &dest->env) < 0
        || _PySandbox_CopyStrings(src->environ, src->n_environ,
                                  &dest->environ) < 0
        || _PySandbox_CopyStrings(src->modules, src->n_modules,
                                  &dest->modules) < 0
        || _PySandbox_CopyStrings(src->blocked, src->n_blocked,
                                  &dest->blocked) < 0
        || _PySandbox_CopyStrings(src->module_files, src->n_module_files,
                                  &dest->module_files) < 0
        || _PySandbox_CopyStrings(src->paths, src->n_paths,
                                  &dest->paths) < 0)
    {
        return -1;
    }
    return 0;
}

/* Free the lists of an interpreter's own policy (_PySandboxPolicy_Copy()). */
void
_PySandboxPolicy_Clear(PySandboxPolicy *policy)
{
    _PySandbox_FreeStrings(policy->env, policy->n_env);
    _PySandbox_FreeStrings(policy->environ, policy->n_environ);
    _PySandbox_FreeStrings(policy->modules, policy->n_modules);
    _PySandbox_FreeStrings(policy->blocked, policy->n_blocked);
    _PySandbox_FreeStrings(policy->module_files, policy->n_module_files);
    _PySandbox_FreeStrings(policy->paths, policy->n_paths);
}

/* Free what PySandbox_NewInterpreter() filled in a copy of the caller's
 * policy for the creation: the environment's values, the grants opened
 * beneath the creator's, the working directory. */
void
_PySandboxPolicy_ClearCreated(PySandboxPolicy *policy)
{
    _PySandbox_FreeStrings(policy->environ, policy->n_environ);
    _PySandbox_ClearGrants(policy->opened, policy->n_opened);
    PyMem_RawFree(policy->cwd);
}

#endif  /* Py_UNTRUSTED */
