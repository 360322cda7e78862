/* Untrusted interpreters: extended protections.
 *
 * One registry of (group, type) entries, which later protections use for
 * their policy too.
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


/* Extended protections (the 2006 design's "Adding New Protections"):
 * one registry that later protections use for their policy too. */

static void
clear_ext_entry(ext_entry *entry)
{
    PyMem_RawFree(entry->group);
    PyMem_RawFree(entry->type);
    for (Py_ssize_t i = 0; i < entry->nmembers; i++) {
        PyMem_RawFree(entry->members[i]);
    }
    PyMem_RawFree(entry->members);
    PyMem_RawFree(entry->value);
    memset(entry, 0, sizeof(*entry));
}

static const char *const ext_kind_names[] = {
    NULL, "flag", "numeric cap", "membership", "value"};

/* Called with ext_mutex held. */
ext_entry *
_PySandbox_FindExt(struct _PySandboxState *state, const char *group,
                   const char *type)
{
    for (Py_ssize_t i = 0; i < state->n_ext; i++) {
        ext_entry *entry = &state->ext[i];
        if (strcmp(entry->group, group) == 0
            && strcmp(entry->type, type) == 0)
        {
            return entry;
        }
    }
    return NULL;
}

/* The checks every setter makes; return the target's state or NULL with
 * an exception set. */
static struct _PySandboxState *
ext_target(PyInterpreterState *interp, const char *group, const char *type,
           const char *func)
{
    if (_PySandbox_CheckTrusted(func) < 0) {
        return NULL;
    }
    if (group == NULL || type == NULL || *group == '\0' || *type == '\0') {
        PyErr_Format(PyExc_ValueError, "%s: empty group or type", func);
        return NULL;
    }
    if (strcmp(group, "Python") == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the group \"Python\" is reserved for the core",
                     func);
        return NULL;
    }
    if (interp == NULL || interp->sandbox == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "%s: not an untrusted interpreter", func);
        return NULL;
    }
    return interp->sandbox;
}

/* Find or add the entry (group, type) of *kind*, with ext_mutex held.
 * Return NULL with *error* set to a message (no exception: the mutex is
 * held). */
static ext_entry *
get_ext(struct _PySandboxState *state, const char *group, const char *type,
        ext_kind kind, const char **error)
{
    ext_entry *entry = _PySandbox_FindExt(state, group, type);
    if (entry != NULL) {
        if (entry->kind != kind) {
            *error = "already set with another kind";
            return NULL;
        }
        return entry;
    }
    if (state->n_ext == state->ext_allocated) {
        Py_ssize_t size = Py_MAX(state->ext_allocated * 2, 8);
        ext_entry *ext = PyMem_RawRealloc(state->ext, size * sizeof(*ext));
        if (ext == NULL) {
            *error = NULL;      /* no memory */
            return NULL;
        }
        state->ext = ext;
        state->ext_allocated = size;
    }
    entry = &state->ext[state->n_ext];
    memset(entry, 0, sizeof(*entry));
    entry->group = _PyMem_RawStrdup(group);
    entry->type = _PyMem_RawStrdup(type);
    if (entry->group == NULL || entry->type == NULL) {
        clear_ext_entry(entry);
        *error = NULL;
        return NULL;
    }
    entry->kind = kind;
    state->n_ext++;
    return entry;
}

/* The one setter behind the four public ones: set (group, type) of
 * *kind* on *interp*, with *cap* or a copy of *str*. */
static int
ext_set(PyInterpreterState *interp, const char *group, const char *type,
        ext_kind kind, Py_ssize_t cap, const char *str, const char *func)
{
    struct _PySandboxState *state = ext_target(interp, group, type, func);
    if (state == NULL) {
        return -1;
    }
    if (kind == EXT_CAP && cap < 0) {
        PyErr_Format(PyExc_ValueError, "%s: negative cap", func);
        return -1;
    }
    char *copy = NULL;
    if (kind == EXT_MEMBERSHIP || kind == EXT_VALUE) {
        if (str == NULL) {
            PyErr_Format(PyExc_ValueError, "%s: NULL string", func);
            return -1;
        }
        copy = _PyMem_RawStrdup(str);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    const char *error = "";
    _PySandbox_LOCK(&state->ext_mutex);
    ext_entry *entry = get_ext(state, group, type, kind, &error);
    if (entry != NULL) {
        switch (kind) {
        case EXT_TRUE:
            break;
        case EXT_CAP:
            entry->cap = cap;   /* what is used stays: a cap may be lowered */
            break;
        case EXT_MEMBERSHIP: {
            char **members = PyMem_RawRealloc(
                entry->members, (entry->nmembers + 1) * sizeof(char *));
            if (members == NULL) {
                entry = NULL;
                error = NULL;
                break;
            }
            entry->members = members;
            entry->members[entry->nmembers++] = copy;
            copy = NULL;
            break;
        }
        case EXT_VALUE:
            PyMem_RawFree(entry->value);
            entry->value = copy;
            copy = NULL;
            break;
        }
    }
    PyMutex_Unlock(&state->ext_mutex);
    PyMem_RawFree(copy);
    if (entry == NULL) {
        if (error == NULL) {
            PyErr_NoMemory();
        }
        else {
            PyErr_Format(PyExc_ValueError, "%s: %s.%s is %s (as a %s)", func,
                         group, type, error, ext_kind_names[kind]);
        }
        return -1;
    }
    return 0;
}

int
PySandbox_ExtendedSetTrue(PyInterpreterState *interp, const char *group,
                          const char *type)
{
    return ext_set(interp, group, type, EXT_TRUE, 0, NULL,
                   "PySandbox_ExtendedSetTrue");
}

int
PySandbox_ExtendedValueCap(PyInterpreterState *interp, const char *group,
                           const char *type, Py_ssize_t cap)
{
    return ext_set(interp, group, type, EXT_CAP, cap, NULL,
                   "PySandbox_ExtendedValueCap");
}

int
PySandbox_ExtendedAddMembership(PyInterpreterState *interp,
                                const char *group, const char *type,
                                const char *member)
{
    return ext_set(interp, group, type, EXT_MEMBERSHIP, 0, member,
                   "PySandbox_ExtendedAddMembership");
}

int
PySandbox_ExtendedSetValue(PyInterpreterState *interp, const char *group,
                           const char *type, const char *value)
{
    return ext_set(interp, group, type, EXT_VALUE, 0, value,
                   "PySandbox_ExtendedSetValue");
}

/* The checks.  Each one decides with the mutex held and denies after. */

static int
ext_deny(const char *group, const char *type, const char *fmt, ...)
{
    char resource[256], detail[512];
    PyOS_snprintf(resource, sizeof(resource), "%s.%s", group, type);
    va_list vargs;
    va_start(vargs, fmt);
    PyOS_vsnprintf(detail, sizeof(detail), fmt, vargs);
    va_end(vargs);
    return _PySandbox_Deny(resource, detail);
}

/* The one check behind the five public ones: in an untrusted interpreter,
 * decide with the mutex held whether (group, type) of *kind* allows the
 * operation (*n* for a cap, *str* for a member or value), apply it to a
 * cap, and deny after letting the mutex go. */
static int
ext_check(const char *group, const char *type, ext_kind kind,
          Py_ssize_t n, const char *str)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 0;   /* trusted */
    }
    int ok = 0;
    Py_ssize_t used = -1, cap = -1;
    _PySandbox_LOCK(&state->ext_mutex);
    ext_entry *entry = _PySandbox_FindExt(state, group, type);
    if (entry != NULL && entry->kind == kind) {
        switch (kind) {
        case EXT_TRUE:
            ok = 1;
            break;
        case EXT_CAP:
            used = entry->used;
            cap = entry->cap;
            if (n >= 0 && n <= cap - used) {        /* alloc */
                entry->used += n;
                ok = 1;
            }
            else if (n < 0 && -n <= used) {          /* free */
                entry->used += n;
                ok = 1;
            }
            break;
        case EXT_MEMBERSHIP:
            for (Py_ssize_t i = 0; !ok && str && i < entry->nmembers; i++) {
                ok = (strcmp(entry->members[i], str) == 0);
            }
            break;
        case EXT_VALUE:
            ok = (str != NULL && strcmp(entry->value, str) == 0);
            break;
        }
    }
    PyMutex_Unlock(&state->ext_mutex);
    if (ok) {
        return 0;
    }
    const char *shown = str != NULL ? str : "(NULL)";
    switch (kind) {
    case EXT_TRUE:
        return ext_deny(group, type, "not set true");
    case EXT_CAP:
        if (n < 0) {
            return ext_deny(group, type, "free %zd: %zd used", -n, used);
        }
        if (cap < 0) {
            return ext_deny(group, type, "no cap set (alloc %zd)", n);
        }
        return ext_deny(group, type, "alloc %zd: %zd of %zd used", n, used,
                        cap);
    case EXT_MEMBERSHIP:
        return ext_deny(group, type, "not a member: %.200s", shown);
    case EXT_VALUE:
        return ext_deny(group, type, "not the value: %.200s", shown);
    }
    Py_UNREACHABLE();
}

int
_PySandbox_ExtendedCheckTrue(const char *group, const char *type)
{
    return ext_check(group, type, EXT_TRUE, 0, NULL);
}

int
_PySandbox_ExtendedValueAlloc(const char *group, const char *type,
                              Py_ssize_t increase)
{
    if (increase < 0 && _PyInterpreterState_GET()->sandbox != NULL) {
        return ext_deny(group, type, "alloc of a negative amount");
    }
    return ext_check(group, type, EXT_CAP, increase, NULL);
}

int
_PySandbox_ExtendedValueFree(const char *group, const char *type,
                             Py_ssize_t decrease)
{
    if (decrease < 0 && _PyInterpreterState_GET()->sandbox != NULL) {
        return ext_deny(group, type, "free of a negative amount");
    }
    return ext_check(group, type, EXT_CAP, -decrease, NULL);
}

int
_PySandbox_ExtendedCheckMembership(const char *group, const char *type,
                                   const char *member)
{
    return ext_check(group, type, EXT_MEMBERSHIP, 0, member);
}

int
_PySandbox_ExtendedCheckValue(const char *group, const char *type,
                              const char *value)
{
    return ext_check(group, type, EXT_VALUE, 0, value);
}

/* A snapshot of one entry, made with the mutex held: Python objects are
 * built after it is released. */
static PyObject *
ext_entry_value(const ext_entry *entry)
{
    switch (entry->kind) {
    case EXT_TRUE:
        Py_RETURN_TRUE;
    case EXT_CAP:
        return Py_BuildValue("(nn)", entry->used, entry->cap);
    case EXT_MEMBERSHIP: {
        PyObject *members = PyFrozenSet_New(NULL);
        for (Py_ssize_t i = 0; members != NULL && i < entry->nmembers; i++) {
            /* Paths among them (read, write), as os.fsdecode() does. */
            PyObject *s = PyUnicode_DecodeFSDefault(entry->members[i]);
            if (s == NULL || PySet_Add(members, s) < 0) {
                Py_CLEAR(members);
            }
            Py_XDECREF(s);
        }
        return members;
    }
    case EXT_VALUE:
        return PyUnicode_FromString(entry->value);
    }
    Py_UNREACHABLE();
}

PyObject *
PySandbox_ExtendedQuery(PyInterpreterState *interp)
{
    struct _PySandboxState *state =
        _PySandbox_ReadableState(interp, "PySandbox_ExtendedQuery");
    if (state == NULL) {
        return NULL;
    }
    /* Copy under the lock (raw memory only), build objects after. */
    _PySandbox_LOCK(&state->ext_mutex);
    Py_ssize_t n = state->n_ext;
    ext_entry *copy = PyMem_RawCalloc(n > 0 ? n : 1, sizeof(*copy));
    int nomem = (copy == NULL);
    for (Py_ssize_t i = 0; !nomem && i < n; i++) {
        const ext_entry *e = &state->ext[i];
        copy[i].kind = e->kind;
        copy[i].cap = e->cap;
        copy[i].used = e->used;
        copy[i].group = _PyMem_RawStrdup(e->group);
        copy[i].type = _PyMem_RawStrdup(e->type);
        nomem = (copy[i].group == NULL || copy[i].type == NULL);
        if (!nomem && e->value != NULL) {
            copy[i].value = _PyMem_RawStrdup(e->value);
            nomem = (copy[i].value == NULL);
        }
        if (!nomem && e->nmembers > 0) {
            copy[i].members = PyMem_RawCalloc(e->nmembers, sizeof(char *));
            nomem = (copy[i].members == NULL);
            for (Py_ssize_t j = 0; !nomem && j < e->nmembers; j++) {
                copy[i].members[j] = _PyMem_RawStrdup(e->members[j]);
                copy[i].nmembers = j + 1;
                nomem = (copy[i].members[j] == NULL);
            }
        }
    }
    PyMutex_Unlock(&state->ext_mutex);

    PyObject *result = nomem ? PyErr_NoMemory() : PyDict_New();
    /* The memory cap, from its heap: (used, cap). */
    Py_ssize_t used, cap;
    _PySandbox_HeapUsage(&state->heap, &used, &cap);
    PyObject *key = (result != NULL ? Py_BuildValue("(ss)", "Python",
                                                    "memory") : NULL);
    PyObject *memory = (key != NULL ? Py_BuildValue("(nn)", used, cap)
                                    : NULL);
    if (memory == NULL || PyDict_SetItem(result, key, memory) < 0) {
        Py_CLEAR(result);
    }
    Py_XDECREF(key);
    Py_XDECREF(memory);
    /* The time limit: (seconds of the job that runs, limit). */
    double elapsed, limit;
    _PySandbox_TimeUsage(state, &elapsed, &limit);
    key = (result != NULL ? Py_BuildValue("(ss)", "Python", "time") : NULL);
    PyObject *time = key != NULL ? Py_BuildValue("(dd)", elapsed, limit)
                                 : NULL;
    if (time == NULL || PyDict_SetItem(result, key, time) < 0) {
        Py_CLEAR(result);
    }
    Py_XDECREF(key);
    Py_XDECREF(time);
    /* The CPU limit: (CPU seconds of the job that runs, limit). */
    double cpu_used;
    _PySandbox_CpuUsage(state, &cpu_used, &limit);
    key = (result != NULL ? Py_BuildValue("(ss)", "Python", "cpu") : NULL);
    PyObject *cpu = key != NULL ? Py_BuildValue("(dd)", cpu_used, limit)
                                : NULL;
    if (cpu == NULL || PyDict_SetItem(result, key, cpu) < 0) {
        Py_CLEAR(result);
    }
    Py_XDECREF(key);
    Py_XDECREF(cpu);
    /* The network budget, if it has one: (used, cap). */
    Py_ssize_t net[2][2];
    _PySandbox_NetUsage(state, net[0], net[1]);
    for (int i = 0; i < 2 && result != NULL; i++) {
        if (net[i][1] == 0) {
            continue;
        }
        key = Py_BuildValue("(ss)", "Python",
                            i ? "net_connections" : "net_bytes");
        PyObject *value = (key != NULL
                           ? Py_BuildValue("(nn)", net[i][0], net[i][1])
                           : NULL);
        if (value == NULL || PyDict_SetItem(result, key, value) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *key = Py_BuildValue("(ss)", copy[i].group, copy[i].type);
        PyObject *value = key ? ext_entry_value(&copy[i]) : NULL;
        if (value == NULL || PyDict_SetItem(result, key, value) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    if (copy != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            clear_ext_entry(&copy[i]);
        }
        PyMem_RawFree(copy);
    }
    return result;
}

/* The core's own entries of a new interpreter: its cap of threads
 * ("Python", "threads"), and what it may read and write, for the queries
 * of both sides (sandbox.allowed()): ("Python", "read") and ("Python",
 * "write").  Return 0, or -1 (no memory). */
int
_PySandbox_InitExtended(struct _PySandboxState *state)
{
    const char *error = NULL;
    if (state->policy.max_threads > 0) {
        ext_entry *entry = get_ext(state, "Python", "threads", EXT_CAP,
                                   &error);
        if (entry == NULL) {
            return -1;
        }
        entry->cap = state->policy.max_threads;
    }
    for (Py_ssize_t i = 0; i < state->policy.n_paths; i++) {
        const sandbox_path_rule *rule = &state->policy.paths[i];
        ext_entry *ext = get_ext(state, "Python",
                                 (rule->access & PySandbox_WRITE)
                                 ? "write" : "read",
                                 EXT_MEMBERSHIP, &error);
        char **grown = ext == NULL ? NULL : PyMem_RawRealloc(
            ext->members, (size_t)(ext->nmembers + 1) * sizeof(char *));
        /* Where the interpreter sees it (its layout): the paths its own
           code names, and the host's only where they are the same. */
        char *copy = grown == NULL ? NULL : _PyMem_RawStrdup(
            rule->guest != NULL ? rule->guest : rule->path);
        if (grown != NULL) {
            ext->members = grown;
        }
        if (copy == NULL) {
            return -1;
        }
        ext->members[ext->nmembers++] = copy;
    }
    return 0;
}

/* Free the entries. */
void
_PySandbox_ClearExtended(struct _PySandboxState *state)
{
    for (Py_ssize_t i = 0; i < state->n_ext; i++) {
        clear_ext_entry(&state->ext[i]);
    }
    PyMem_RawFree(state->ext);
}

#endif  /* Py_UNTRUSTED */
