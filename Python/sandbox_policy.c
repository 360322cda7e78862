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

/* Each list holds at most SANDBOX_MAX_POLICY_ENTRIES entries: adding one
 * and comparing policies compare entries pairwise, in C loops that
 * nothing interrupts. */
static int
too_many(void)
{
    PyErr_Format(PyExc_SandboxPolicyError, "a policy list holds at most "
                 "%d entries", SANDBOX_MAX_POLICY_ENTRIES);
    return -1;
}

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
static int
push_string(char ***list, Py_ssize_t *n, char *entry)
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
    if (*n >= SANDBOX_MAX_POLICY_ENTRIES) {
        return too_many();
    }
    return push_string(list, n, _PyMem_RawStrdup(name));
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

/* The typed lists of a policy */



static void
free_path_rules(sandbox_path_rule *rules, Py_ssize_t n)
{
    if (rules == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyMem_RawFree(rules[i].path);
        PyMem_RawFree(rules[i].guest);
    }
    PyMem_RawFree(rules);
}

static void
free_module_files(sandbox_module_file *files, Py_ssize_t n)
{
    if (files == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyMem_RawFree(files[i].name);
        PyMem_RawFree(files[i].file);
    }
    PyMem_RawFree(files);
}

/* Raw-allocated copies (NULL for none).  Return 0, or -1 (no memory) with
 * *dest* NULL. */
static int
copy_path_rules(const sandbox_path_rule *src, Py_ssize_t n,
                sandbox_path_rule **dest)
{
    *dest = NULL;
    if (n == 0) {
        return 0;
    }
    sandbox_path_rule *rules = PyMem_RawCalloc((size_t)n, sizeof(*rules));
    if (rules == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        rules[i].access = src[i].access;
        rules[i].path = _PyMem_RawStrdup(src[i].path);
        rules[i].guest = (src[i].guest != NULL
                          ? _PyMem_RawStrdup(src[i].guest) : NULL);
        if (rules[i].path == NULL
            || (src[i].guest != NULL && rules[i].guest == NULL))
        {
            free_path_rules(rules, i + 1);
            return -1;
        }
    }
    *dest = rules;
    return 0;
}

static int
copy_module_files(const sandbox_module_file *src, Py_ssize_t n,
                  sandbox_module_file **dest)
{
    *dest = NULL;
    if (n == 0) {
        return 0;
    }
    sandbox_module_file *files = PyMem_RawCalloc((size_t)n, sizeof(*files));
    if (files == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        files[i].name = _PyMem_RawStrdup(src[i].name);
        files[i].file = _PyMem_RawStrdup(src[i].file);
        if (files[i].name == NULL || files[i].file == NULL) {
            free_module_files(files, i + 1);
            return -1;
        }
    }
    *dest = files;
    return 0;
}

/* Add the rule (path, access, guest) unless the policy has it; *guest*
 * NULL or *path* itself: seen at *path*.  The paths are copied.  Return
 * 0, or -1 with MemoryError set. */
int
_PySandboxPolicy_AddPathRule(PySandboxPolicy *policy, const char *path,
                             int access, const char *guest)
{
    if (guest != NULL && strcmp(guest, path) == 0) {
        guest = NULL;
    }
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const sandbox_path_rule *rule = &policy->paths[i];
        if (rule->access == access && strcmp(rule->path, path) == 0
            && (rule->guest == NULL ? guest == NULL
                : guest != NULL && strcmp(rule->guest, guest) == 0))
        {
            return 0;
        }
    }
    if (policy->n_paths >= SANDBOX_MAX_POLICY_ENTRIES) {
        return too_many();
    }
    char *copy = _PyMem_RawStrdup(path);
    char *guest_copy = guest != NULL ? _PyMem_RawStrdup(guest) : NULL;
    sandbox_path_rule *grown = (copy == NULL
                                || (guest != NULL && guest_copy == NULL))
        ? NULL : PyMem_RawRealloc(
            policy->paths, (size_t)(policy->n_paths + 1) * sizeof(*grown));
    if (grown == NULL) {
        PyMem_RawFree(copy);
        PyMem_RawFree(guest_copy);
        PyErr_NoMemory();
        return -1;
    }
    grown[policy->n_paths++] = (sandbox_path_rule){copy, access, guest_copy};
    policy->paths = grown;
    return 0;
}

/* Bind the module *name* to *file*.  Return 0, or -1 with MemoryError
 * set. */
int
_PySandboxPolicy_AddModuleFile(PySandboxPolicy *policy, const char *name,
                               const char *file)
{
    if (policy->n_module_files >= SANDBOX_MAX_POLICY_ENTRIES) {
        return too_many();
    }
    char *name_copy = _PyMem_RawStrdup(name);
    char *file_copy = _PyMem_RawStrdup(file);
    sandbox_module_file *grown = (name_copy == NULL || file_copy == NULL)
        ? NULL : PyMem_RawRealloc(policy->module_files,
                                  (size_t)(policy->n_module_files + 1)
                                  * sizeof(*grown));
    if (grown == NULL) {
        PyMem_RawFree(name_copy);
        PyMem_RawFree(file_copy);
        PyErr_NoMemory();
        return -1;
    }
    grown[policy->n_module_files++] = (sandbox_module_file){name_copy,
                                                            file_copy};
    policy->module_files = grown;
    return 0;
}

/* The file that *policy* binds the module *name* to, or NULL. */
const char *
_PySandboxPolicy_ModuleFile(const PySandboxPolicy *policy, const char *name)
{
    for (Py_ssize_t i = 0; i < policy->n_module_files; i++) {
        if (strcmp(policy->module_files[i].name, name) == 0) {
            return policy->module_files[i].file;
        }
    }
    return NULL;
}

void
PySandboxPolicy_Free(PySandboxPolicy *policy)
{
    if (policy != NULL) {
        _PySandboxPolicy_Clear(policy);
        PySandbox_FreeMemoryGroup(policy->group);
    }
    PyMem_RawFree(policy);
}


int
PySandboxPolicy_SetMaxThreads(PySandboxPolicy *policy, Py_ssize_t n)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetMaxThreads: policy is NULL");
        return -1;
    }
    if (n < 0 || n > SANDBOX_MAX_THREADS) {
        return _PySandboxPolicy_ErrorInt(
            "threads", n,
            "out of range (0 to " Py_STRINGIFY(SANDBOX_MAX_THREADS) ")");
    }
    policy->max_threads = n;
    return 0;
}

/* Is *name* a name of an environment variable: a letter or "_", then
 * letters, digits and "_"? */
static int
is_env_name(const char *name)
{
    if (!(Py_ISALPHA(name[0]) || name[0] == '_')) {
        return 0;
    }
    for (const char *p = name + 1; *p != '\0'; p++) {
        if (!(Py_ISALNUM(*p) || *p == '_')) {
            return 0;
        }
    }
    return 1;
}

int
PySandboxPolicy_AllowEnv(PySandboxPolicy *policy, const char *name)
{
    if (policy == NULL || name == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_AllowEnv: policy or name is NULL");
        return -1;
    }
    if (!is_env_name(name)) {
        return _PySandboxPolicy_Error("env", name, "not an environment "
                                      "variable name (letters, digits and "
                                      "'_', not first a digit)");
    }
    return _PySandbox_AddName(&policy->env, &policy->n_env, name);
}

int
PySandboxPolicy_SetRecursionLimit(PySandboxPolicy *policy, int limit)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetRecursionLimit: policy is NULL");
        return -1;
    }
    if (limit < 1 || limit > SANDBOX_MAX_RECURSION_LIMIT) {
        return _PySandboxPolicy_ErrorInt("recursion_limit", limit,
                                         "out of range (1 to 1000000)");
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
        /* A policy without a cap of its own gets one from what its
           creator has left (PySandbox_NewInterpreter()). */
        || (policy->memory != 0
            && policy->memory > _PySandboxPolicy_MemoryCap(outer))
        /* The same for the time limit (its creator's). */
        || (policy->time_limit != 0
            && policy->time_limit > _PySandbox_TimeLimit(outer))
        || (policy->cpu_limit != 0
            && policy->cpu_limit > _PySandbox_CpuLimit(outer))
        || (_PySandboxPolicy_RecursionLimit(policy)
            > _PySandboxPolicy_RecursionLimit(outer))
        || (policy->filesystem_info && !outer->filesystem_info))
    {
        return 0;
    }
    for (Py_ssize_t i = 0; i < policy->n_env; i++) {
        if (!_PySandbox_PolicyLists(outer->env, outer->n_env,
                                    policy->env[i])) {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < policy->n_trusted_bytecode; i++) {
        if (!_PySandbox_PolicyLists(outer->trusted_bytecode,
                                    outer->n_trusted_bytecode,
                                    policy->trusted_bytecode[i])) {
            return 0;
        }
    }
    return (_PySandboxPolicy_ModulesWithin(policy, outer)
            && _PySandboxPolicy_PathsWithin(policy, outer)
            && _PySandboxPolicy_NetWithin(policy, outer));
}


/* Fill policy->environ with "NAME=value" for each variable the policy
 * names that the creator has: from the C environment for a trusted
 * creator, from what an untrusted one got at its own creation (never what
 * its code set).  Return 0, or -1 (no memory).  Raw: a worker process
 * calls it before its main interpreter exists. */
int
_PySandboxPolicy_SnapshotEnvironRaw(PySandboxPolicy *policy,
                                    const struct _PySandboxState *creator_state)
{
    policy->environ = NULL;
    policy->n_environ = 0;
    if (policy->n_env == 0) {
        return 0;
    }
    char **list = PyMem_RawCalloc((size_t)policy->n_env, sizeof(char *));
    if (list == NULL) {
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
            return -1;
        }
        PyOS_snprintf(entry, size, "%s=%s", name, value);
        list[n++] = entry;
    }
    policy->environ = list;
    policy->n_environ = n;
    return 0;
}

/* The same, with MemoryError set on failure. */
int
_PySandboxPolicy_SnapshotEnviron(PySandboxPolicy *policy,
                                 const struct _PySandboxState *creator_state)
{
    if (_PySandboxPolicy_SnapshotEnvironRaw(policy, creator_state) < 0) {
        PyErr_NoMemory();
        return -1;
    }
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
    dest->group = NULL;
    dest->env = dest->environ = NULL;
    dest->modules = dest->blocked = NULL;
    dest->module_files = NULL;
    dest->paths = NULL;
    dest->packages = NULL;
    dest->trusted_bytecode = NULL;
    for (int list = 0; list < SANDBOX_NET_LISTS; list++) {
        dest->net[list] = NULL;
        dest->n_net[list] = 0;
    }
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
        || copy_module_files(src->module_files, src->n_module_files,
                             &dest->module_files) < 0
        || copy_path_rules(src->paths, src->n_paths, &dest->paths) < 0
        || _PySandbox_CopyStrings(src->packages, src->n_packages,
                                  &dest->packages) < 0
        || _PySandbox_CopyStrings(src->trusted_bytecode,
                                  src->n_trusted_bytecode,
                                  &dest->trusted_bytecode) < 0
        || _PySandboxPolicy_CopyNet(dest, src) < 0)
    {
        return -1;
    }
    return 0;
}

/* Free the lists of a policy (PySandboxPolicy_Free(), and an interpreter's
 * own copy, _PySandboxPolicy_Copy()). */
void
_PySandboxPolicy_Clear(PySandboxPolicy *policy)
{
    _PySandbox_FreeStrings(policy->env, policy->n_env);
    _PySandbox_FreeStrings(policy->environ, policy->n_environ);
    _PySandbox_FreeStrings(policy->modules, policy->n_modules);
    _PySandbox_FreeStrings(policy->blocked, policy->n_blocked);
    free_module_files(policy->module_files, policy->n_module_files);
    free_path_rules(policy->paths, policy->n_paths);
    _PySandbox_FreeStrings(policy->packages, policy->n_packages);
    _PySandbox_FreeStrings(policy->trusted_bytecode,
                           policy->n_trusted_bytecode);
    _PySandboxPolicy_ClearNet(policy);
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
