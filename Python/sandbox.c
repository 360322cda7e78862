/* Untrusted interpreters: the engine.
 *
 * The hooks that upstream files call are in
 * Include/internal/pycore_sandbox.h; the public C API is
 * Include/cpython/sandbox.h.  Everything here is compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_ceval.h"         // _Py_set_eval_breaker_bit()
#include "pycore_crossinterp.h"   // PyExc_InterpreterNotFoundError
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_long.h"          // _PY_LONG_DEFAULT_MAX_STR_DIGITS
#include "pycore_pymem.h"         // _PyMem_GetCurrentAllocatorName()
#include "pycore_pystate.h"       // _PyInterpreterState_ReadiedStaticType()
#include "pycore_sandbox.h"
#include "pycore_sandbox_stack.h" // _PySandbox_ClearDeferred()
#include "pycore_sandbox_state.h" // struct _PySandboxState
#include "osdefs.h"               // DELIM
#include <errno.h>                // EAGAIN
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // close(), dup2()
#endif
#include <fcntl.h>                // open()
#include <pthread.h>              // pthread_key_create()

#ifdef Py_UNTRUSTED

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
#ifdef Py_DEBUG
    if (_PySandbox_InjectionInstalled()) {
        return 1;       /* the test wrappers, around pymalloc's */
    }
#endif
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
    /* ... minus the entries that do not exist (python313.zip, mostly):
       looking for them would only try the host's directories above. */
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < config->module_search_paths.length; i++) {
        wchar_t *item = config->module_search_paths.items[i];
        char *path = _Py_EncodeLocaleRaw(item, NULL);
        struct stat st;
        if (path != NULL && stat(path, &st) == 0) {
            config->module_search_paths.items[kept++] = item;
        }
        else {
            PyMem_RawFree(item);
        }
        PyMem_RawFree(path);
    }
    config->module_search_paths.length = kept;
    /* No bytecode files: none written, and none read, since the cache is
       looked up under a prefix that does not exist. */
    config->write_bytecode = 0;
    status = PyConfig_SetString(config, &config->pycache_prefix,
                                L"" SANDBOX_NO_BYTECODE_CACHE);
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
    _PyWideStringList_Clear(&config->warnoptions);
    _PyWideStringList_Clear(&config->xoptions);
    config->inspect = 0;
    config->interactive = 0;
    /* Nothing written to the process's C stderr, the host's, by its
       imports (-X importtime, -v). */
    config->import_time = 0;
    config->verbose = 0;
    /* Python's cap on int<->str conversion, never lifted: a host run with
       -X int_max_str_digits=0 does not give its tenants quadratic
       conversions. */
    if (config->int_max_str_digits <= 0
        || config->int_max_str_digits > _PY_LONG_DEFAULT_MAX_STR_DIGITS)
    {
        config->int_max_str_digits = _PY_LONG_DEFAULT_MAX_STR_DIGITS;
    }
    return _PyStatus_OK();
}


static void
clear_state(struct _PySandboxState *state)
{
    _PySandbox_CloseOwnedFds(state);
    _PySandboxPolicy_Clear(&state->policy);
    _PySandbox_ClearFiles(state);
    _PySandbox_ClearOutput(state);
    _PySandbox_ClearLog(state);
    _PySandbox_ClearExtended(state);
    _PySandbox_ClearDeferred(&state->deferred);
    _PySandbox_ClearFdUses(state);
    _PySandbox_ClearHeap(&state->heap);
    _PySandbox_TimeEnds(state);
    _PySandbox_ClearPins(state);
    PyMem_RawFree(state->linger);
    PyMem_RawFree(state);
}


/* Set before the first untrusted interpreter has its state
   (pycore_sandbox.h); a plain int, written once. */
int _PySandbox_Created = 0;

PyStatus
_PySandbox_InitInterpreter(PyInterpreterState *interp,
                           const PyInterpreterConfig *config,
                           const PySandboxPolicy *policy)
{
    if (policy == NULL) {
        return _PyStatus_OK();
    }
    /* The main interpreter is untrusted only in a worker process, with
       the policy its host sent (Python/sandbox_worker.c): it shares its
       process with nothing but its tenant's code. */
    int main = _Py_IsMainInterpreter(interp);
    if (main && !_PySandbox_IsWorkerPolicy(policy)) {
        return _PyStatus_ERR("the main interpreter cannot be untrusted");
    }
    PyStatus status = main ? _PyStatus_OK() : check_isolated(config);
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
    if (_PySandbox_InitHeap(&state->heap) < 0) {
        clear_state(state);
        return _PyStatus_NO_MEMORY();
    }
    /* The policy's own copy: the creator frees its policy afterwards. */
    if (_PySandboxPolicy_Copy(&state->policy, policy) < 0
        || (state->cwd = policy->cwd != NULL
                         ? _PyMem_RawStrdup(policy->cwd)
                         : _PySandbox_CreatorCwd(NULL)) == NULL)
    {
        clear_state(state);
        return _PyStatus_NO_MEMORY();
    }
    state->parent_id = -1;
    if (!main && config->allow_threads && state->policy.max_threads == 0) {
        clear_state(state);
        return _PyStatus_ERR("the policy of an untrusted interpreter grants "
                             "no threads, but its config allows them");
    }
    /* A main interpreter's search path is computed later, in
       init_interp_main(): its config is restricted, and its files are
       granted, then (_PySandbox_InitWorkerPaths()). */
    if (!main) {
        status = restrict_config(&interp->config);
        _PySandbox_HostConfig(policy, &interp->config);
        if (!_PyStatus_EXCEPTION(status)) {
            status = _PySandbox_InitFiles(state, policy, &interp->config);
        }
        if (_PyStatus_EXCEPTION(status)) {
            clear_state(state);
            return status;
        }
    }
    if (_PySandbox_InitExtended(state) < 0) {
        clear_state(state);
        return _PyStatus_NO_MEMORY();
    }
    if (main && _PySandbox_WorkerUnwalled(state)) {
        /* The test switch: the worker's fence mirrors this state's grants,
           and the main interpreter stays trusted. */
        return _PyStatus_OK();
    }
    if (main) {
        /* What the main interpreter's config allows, an untrusted one's
           forbids (its policy's threads aside).  No job or end takes it:
           it is the worker's own, and the process ends with it. */
        interp->feature_flags &= ~(Py_RTFLAGS_FORK | Py_RTFLAGS_EXEC);
        if (state->policy.max_threads == 0) {
            interp->feature_flags &= ~(Py_RTFLAGS_THREADS
                                       | Py_RTFLAGS_DAEMON_THREADS);
        }
        state->created = 1;
    }
    else {
        _PySandbox_RecordModuleInodes(interp);
    }
    /* Before its first thread state, which copies it. */
    interp->ceval.recursion_limit = Py_MIN(interp->ceval.recursion_limit,
                                           _PySandboxPolicy_RecursionLimit(
                                               &state->policy));
    /* Its threads' stacks are charged to its memory cap at this size
       (_PySandbox_ThreadStackSize()). */
    interp->threads.stacksize = _PySandbox_MIN_THREAD_STACK;
    /* Before the mark: the hooks read the flag first. */
    _PySandbox_OpenDeallocGate();
    _Py_atomic_store_int(&_PySandbox_Created, 1);
    interp->sandbox = state;
    interp->feature_flags |= Py_RTFLAGS_UNTRUSTED;
    return _PyStatus_OK();
}




PyStatus
_PySandbox_InitWorkerPaths(PyInterpreterState *interp)
{
    struct _PySandboxState *state = _PySandbox_WorkerState(interp);
    if (state == NULL) {
        return _PyStatus_OK();
    }
    PyStatus status = _PyStatus_OK();
    if (interp->sandbox != NULL) {
        status = restrict_config(&interp->config);
        _PySandbox_HostConfig(&state->policy, &interp->config);
    }
    if (!_PyStatus_EXCEPTION(status)) {
        status = _PySandbox_InitFiles(state, _PySandbox_WorkerPolicy(),
                                      &interp->config);
    }
    if (!_PyStatus_EXCEPTION(status) && interp->sandbox != NULL) {
        _PySandbox_RecordModuleInodes(interp);
    }
    return status;
}


void
_PySandbox_ClearInterpreter(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return;
    }
    interp->sandbox = NULL;
    clear_state(state);
}


/* The eval breaker (DESIGN: "Decisions fixed now": bit 7 is ours) */

int
_PySandbox_HandlePending(PyThreadState *tstate)
{
    /* The bit is cleared before the stop and the deadline are read: their
       setters store the flag before the bit, so one that comes meanwhile
       is seen here or sets the bit again.  A stop sets it back: every
       Python function fails at its entry until the end, or the next job. */
    _Py_unset_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
    if (_PySandbox_CheckStopSlow(tstate) < 0) {
        _Py_set_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
        return -1;
    }
    if (tstate->interp->sandbox != NULL) {
        _PySandbox_FreeDeferred(tstate);
    }
    return 0;
}


struct _PySandboxDeferred *
_PySandbox_Deferred(PyInterpreterState *interp)
{
    return &interp->sandbox->deferred;
}


/* When the end of *state*'s interpreter stops waiting for its threads: a
 * grace period from now, or its ancestor's deadline if that is earlier
 * (but not past). */
static PyTime_t
end_deadline(struct _PySandboxState *state)
{
    PyTime_t now;
    (void)PyTime_MonotonicRaw(&now);
    PyTime_t deadline = now + SANDBOX_THREADS_GRACE_NS;
    PyTime_t cap = state->end_deadline;
    if (cap != 0 && cap < deadline) {
        deadline = cap > now ? cap : now;
    }
    return deadline;
}

/* The interpreter of ID *id* in the runtime's list, or NULL.  Under its
 * lock: the one found is not freed as long as it is listed. */
static PyInterpreterState *
listed_by_id(_PyRuntimeState *runtime, int64_t id)
{
    PyInterpreterState *i = runtime->interpreters.head;
    while (i != NULL && i->id != id) {
        i = i->next;
    }
    return i;
}

/* Is untrusted *i* an interpreter that *ancestor* created, or one of
 * theirs?  Under the runtime's lock of interpreters. */
static int
descends_from(_PyRuntimeState *runtime, PyInterpreterState *i,
              PyInterpreterState *ancestor)
{
    for (int depth = 0; i != NULL && i->sandbox != NULL && depth < 1000;
         depth++)
    {
        int64_t parent = i->sandbox->parent_id;
        if (parent == ancestor->id) {
            return 1;
        }
        if (parent < 0) {
            return 0;
        }
        i = listed_by_id(runtime, parent);
    }
    return 0;
}

static int
by_id(const void *a, const void *b)
{
    int64_t x = (*(PyInterpreterState *const *)a)->id;
    int64_t y = (*(PyInterpreterState *const *)b)->id;
    return (x > y) - (x < y);
}

/* Is an interpreter of ID *id* among the *n* of *sorted*, in ascending
 * order of ID? */
static int
has_id(PyInterpreterState **sorted, size_t n, int64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid]->id == id) {
            return 1;
        }
        if (sorted[mid]->id < id) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return 0;
}

void
_PySandbox_ForEachDescendant(PyInterpreterState *root,
                             void (*visit)(PyInterpreterState *, void *),
                             void *arg)
{
    /* An interpreter's ID is larger than its creator's: in ascending order
       of ID, a creator comes before those it created, and one pass finds
       them all, each creator looked up among those found.  O(n log n): the
       watchdog does this under the lock at each stop, and a tenant chooses
       how many interpreters there are, and how deep. */
    _PyRuntimeState *runtime = &_PyRuntime;
    size_t n = 0;
    for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
         i = i->next)
    {
        n++;
    }
    PyInterpreterState **all = PyMem_RawMalloc(n * sizeof(*all) + 1);
    if (all == NULL) {
        /* The slow way, with no memory: each one's creators, by ID. */
        for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
             i = i->next)
        {
            if (i != root && i->sandbox != NULL
                && descends_from(runtime, i, root))
            {
                visit(i, arg);
            }
        }
        return;
    }
    /* The list is newest first: from its tail, already in order. */
    size_t k = n;
    int sorted = 1;
    for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
         i = i->next)
    {
        all[--k] = i;
        sorted &= (k + 1 == n || all[k + 1]->id > i->id);
    }
    if (!sorted) {
        qsort(all, n, sizeof(*all), by_id);
    }
    /* Those found are kept at the front, in the same order. */
    size_t found = 0;
    for (k = 0; k < n; k++) {
        PyInterpreterState *i = all[k];
        if (i == root || i->sandbox == NULL || i->sandbox->parent_id < 0) {
            continue;
        }
        int64_t parent = i->sandbox->parent_id;
        if (parent == root->id || has_id(all, found, parent)) {
            all[found++] = i;
        }
    }
    for (k = 0; k < found; k++) {
        visit(all[k], arg);
    }
    PyMem_RawFree(all);
}

void
_PySandbox_StopUntil(PyInterpreterState *i, void *arg)
{
    PyTime_t deadline = *(PyTime_t *)arg;
    i->sandbox->stopping = 1;
    i->sandbox->no_children = 1;
    if (i->sandbox->end_deadline == 0 || i->sandbox->end_deadline > deadline) {
        i->sandbox->end_deadline = deadline;
    }
    for (PyThreadState *t = i->threads.head; t != NULL; t = t->next) {
        _Py_set_eval_breaker_bit(t, _PY_SANDBOX_BIT);
    }
}

/* Stop the Python code of every interpreter that *interp* created, and
 * of theirs, as its own: a thread of *interp* that runs a job in one of
 * them sees its own stop bit only when the job returns.  They create no
 * interpreter and accept no job from now on. */
static void
stop_descendants(PyInterpreterState *interp)
{
    PyTime_t deadline = end_deadline(interp->sandbox)
                        + SANDBOX_THREADS_GRACE_NS;
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    _PySandbox_ForEachDescendant(interp, _PySandbox_StopUntil, &deadline);
    HEAD_UNLOCK(runtime);
}

static void abandon_interpreter(PyInterpreterState *interp,
                                PyThreadState *ender);

/* Wait a millisecond in one of the end's loops.  The caller's GIL is let
 * go only if the caller is the host: a tenant's thread that ends its
 * child keeps its own, so that it never waits to take it back in the
 * middle of that end (its interpreter may be abandoned meanwhile, and the
 * thread would exit there, leaving the child claimed for good). */
void
_PySandbox_EndPause(void)
{
    struct timespec pause = {0, 1000 * 1000};
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate != NULL && !_PySandbox_IsUntrusted(tstate->interp)) {
        Py_BEGIN_ALLOW_THREADS
        (void)nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
    }
    else {
        (void)nanosleep(&pause, NULL);
    }
}

/* Does no thread of the host run a job inside *child*: none of its job
 * thread states belongs to a thread that also has a state in a trusted
 * interpreter?  Under the runtime's lock, which guards the lists of
 * thread states.  (Holds without a thread state, such as a tenant's
 * _sandbox.take_output() in a loop, run no code inside.) */
static int
no_host_job(_PyRuntimeState *runtime, PyInterpreterState *child)
{
    for (PyThreadState *t = child->threads.head; t != NULL; t = t->next) {
        if (t->_whence != _PyThreadState_WHENCE_EXEC) {
            continue;
        }
        for (PyInterpreterState *j = runtime->interpreters.head; j != NULL;
             j = j->next)
        {
            for (PyThreadState *u = j->threads.head;
                 j->sandbox == NULL && u != NULL; u = u->next)
            {
                if (u->thread_id == t->thread_id) {
                    return 0;
                }
            }
        }
    }
    return 1;
}

/* End the interpreters that *interp* created.  From the scan on, it
 * creates none (PySandbox_NewInterpreter() checks no_children under the
 * same lock).  The end of each child is claimed in the scan, under the
 * lock, so that no job takes it in between.  One that runs a job (in
 * another of its threads, or of the host's) was told to stop
 * (stop_descendants()): wait for it, releasing the GIL, up to the grace
 * period.  A job of the tenant's that still runs then is blocked outside
 * Python: the child is abandoned with it (its descriptors parked until
 * the sweep, since that job's thread is not one it watches).  A
 * host's job is left to finish: the child is then an orphan, which the
 * host's next engine call ends (_PySandbox_EndOrphans()). */
static void
end_children(PyInterpreterState *interp)
{
    int64_t id = PyInterpreterState_GetID(interp);
    PyInterpreterState *children[64], *blocked[64];
    PyTime_t deadline = end_deadline(interp->sandbox), now;
    for (;;) {
        size_t n = 0, n_blocked = 0, running = 0;
        (void)PyTime_MonotonicRaw(&now);
        int late = now >= deadline;
        _PyRuntimeState *runtime = &_PyRuntime;
        HEAD_LOCK(runtime);
        interp->sandbox->no_children = 1;
        for (PyInterpreterState *i = runtime->interpreters.head;
             i != NULL && n < Py_ARRAY_LENGTH(children)
             && n_blocked < Py_ARRAY_LENGTH(blocked); i = i->next)
        {
            if (i->sandbox == NULL || i->sandbox->parent_id != id
                || i->sandbox->end_claimed || !i->sandbox->created)
            {
                /* One being created sees no_children and ends itself. */
                continue;
            }
            if (i->sandbox->entered == 0
                && !_PyInterpreterState_IsRunningMain(i))
            {
                i->sandbox->end_claimed = 1;
                children[n++] = i;
            }
            else if (late && no_host_job(runtime, i)) {
                i->sandbox->end_claimed = 1;
                blocked[n_blocked++] = i;
            }
            else {
                running++;
            }
        }
        HEAD_UNLOCK(runtime);
        for (size_t k = 0; k < n; k++) {
            (void)_PySandbox_EndClaimed(children[k]);
            PyErr_Clear();
        }
        for (size_t k = 0; k < n_blocked; k++) {
            _PySandbox_AbandonTree(blocked[k]);
        }
        if (n == 0 && n_blocked == 0) {
            if (running == 0 || late) {
                return;     /* none left, or only the host's jobs */
            }
            /* Only running ones: let them stop, until the deadline. */
            _PySandbox_EndPause();
        }
    }
}


/* Abandon *interp*, whose end the caller claimed, with a job of a
 * tenant's blocked in it, after ending its own children. */
void
_PySandbox_AbandonTree(PyInterpreterState *interp)
{
    end_children(interp);
    abandon_interpreter(interp, NULL);
}

void
_PySandbox_StopPython(PyInterpreterState *interp, PyThreadState *tstate)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL || tstate == NULL || tstate->interp != interp) {
        return;
    }
    if (!state->ending) {
        /* Its children end with it, before it stops. */
        PyObject *exc = PyErr_GetRaisedException();
        stop_descendants(interp);
        end_children(interp);
        PyErr_SetRaisedException(exc);
    }
    /* From here, no thread of it runs Python: this one stops at once,
       the others in _PySandbox_EndThreads(). */
    state->ending = 1;
    _PySandbox_TimeEnds(state);
    _Py_set_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
}


int
_PySandbox_IsEnding(PyInterpreterState *interp)
{
    return interp->sandbox != NULL && interp->sandbox->ending;
}

int
_PySandbox_SkipHandlers(PyThreadState *tstate)
{
    return (_PySandbox_IsStopped(tstate->interp)
            || (tstate->interp->sandbox != NULL
                && (_PySandbox_TimeExpired(tstate->interp->sandbox)
                    /* a thread whose job is over (patch 0191) */
                    || ((_PyThreadStateImpl *)tstate)->sandbox_stopped)));
}

int
_PySandbox_IsStopped(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    return (state != NULL
            && (_Py_atomic_load_int_relaxed(&state->stopping)
                || state->ending));
}


/* Threads (the policy's max_threads; a core cap ("Python", "threads") of
 * the extended protections, so that queries show it) */

/* Give back a thread of the count. */
static void
release_thread(struct _PySandboxState *state)
{
    _PySandbox_LOCK(&state->ext_mutex);
    ext_entry *entry = _PySandbox_FindExt(state, "Python", "threads");
    if (entry != NULL && entry->used > 0) {
        entry->used--;
    }
    PyMutex_Unlock(&state->ext_mutex);
}

int
_PySandbox_ThreadStart(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return 0;
    }
    if (state->ending || state->stopping) {
        /* A new thread would not have the stop bit set. */
        return _PySandbox_Deny("thread", "a thread started while the "
                               "interpreter ends");
    }
    if (_PySandbox_TimeExpired(state)) {
        /* Nor a thread after its job's deadline. */
        return _PySandbox_RaiseTimeLimit(state);
    }
    if (_PySandbox_ExtendedValueAlloc("Python", "threads", 1) < 0) {
        return -1;
    }
    /* Its stack counts against the memory cap. */
    if (_PySandbox_HeapCharge(&state->heap, _PySandbox_MIN_THREAD_STACK,
                              1) < 0)
    {
        release_thread(state);
        PyErr_SetString(PyExc_MemoryError, "no memory left under the "
                        "interpreter's cap for a new thread's stack");
        return -1;
    }
    return 0;
}


static void end_watch(struct _PySandboxState *state);

void
_PySandbox_ThreadEnd(PyInterpreterState *interp)
{
    /* Called as the thread's state is deleted: no exception is raised,
       no Python code runs. */
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return;
    }
    release_thread(state);
    _PySandbox_HeapUncharge(&state->heap, _PySandbox_MIN_THREAD_STACK);
    /* In the thread that ends (its state just cleared), not in the one
       whose start of a new thread failed (thread_run() and
       ThreadHandle_start()). */
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate != NULL && tstate->_status.cleared) {
        _PySandbox_ThreadCpuEnds(state);
        end_watch(state);
    }
}


/* Is *interp* in the runtime's list?  Under its lock: a pointer that the
 * caller looked up may have been ended and freed since. */
int
_PySandbox_IsListed(_PyRuntimeState *runtime, PyInterpreterState *interp)
{
    for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
         i = i->next)
    {
        if (i == interp) {
            return 1;
        }
    }
    return 0;
}

int
_PySandbox_Enter(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    int ok = (_PySandbox_IsListed(runtime, interp) && interp->sandbox != NULL
              && interp->sandbox->created
              && !interp->sandbox->end_claimed
              && !interp->sandbox->stopping);
    if (ok) {
        interp->sandbox->entered++;
    }
    HEAD_UNLOCK(runtime);
    if (!ok) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the untrusted interpreter is ending");
        return -1;
    }
    return 0;
}

int
_PySandbox_CheckJobHeld(PyInterpreterState *interp)
{
    if (_Py_atomic_load_int_relaxed(&interp->sandbox->stopping)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the untrusted interpreter is ending");
        return -1;
    }
    return 0;
}

void
_PySandbox_Leave(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    interp->sandbox->entered--;
    HEAD_UNLOCK(runtime);
}

PyInterpreterState *
_PySandbox_HoldByID(int64_t id, const char *func)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    PyInterpreterState *current = _PyInterpreterState_GET();
    PyInterpreterState *interp = NULL;
    enum { MISSING, TRUSTED, ENDING, HELD } found = MISSING;
    HEAD_LOCK(runtime);
    interp = listed_by_id(runtime, id);
    /* The checks read the found interpreter's state: under the lock, as
       long as it is listed, it is not freed. */
    if (interp == NULL || !_PySandbox_MayFindInterpreter(current, interp)
        || (interp->sandbox != NULL && !interp->sandbox->created))
    {
        found = MISSING;    /* one being created is not there yet */
    }
    else if (interp->sandbox == NULL) {
        found = TRUSTED;
    }
    else if (interp->sandbox->end_claimed) {
        found = ENDING;
    }
    else {
        interp->sandbox->entered++;
        found = HELD;
    }
    HEAD_UNLOCK(runtime);
    switch (found) {
    case HELD:
        return interp;
    case MISSING:
        if (_PySandbox_IsUntrusted(current)) {
            /* The same denial as for an interpreter it may not act on:
               no oracle of the others' IDs. */
            (void)_PySandbox_Deny("trusted", func);
        }
        else {
            PyErr_Format(PyExc_InterpreterNotFoundError,
                         "unrecognized interpreter ID %lld", (long long)id);
        }
        return NULL;
    case TRUSTED:
        PyErr_Format(PyExc_ValueError, "%s: not an untrusted interpreter",
                     func);
        return NULL;
    case ENDING:
        PyErr_Format(PyExc_RuntimeError, "%s: the interpreter is ending",
                     func);
        return NULL;
    }
    Py_UNREACHABLE();
}

int
_PySandbox_ClaimEnd(PyInterpreterState *interp, const char *func,
                    Py_ssize_t holds)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    const char *refusal = NULL;
    HEAD_LOCK(runtime);
    if (!_PySandbox_IsListed(runtime, interp) || interp->sandbox == NULL
        || interp->sandbox->end_claimed)
    {
        refusal = "is ending";
    }
    else if (!interp->sandbox->created) {
        refusal = "is being created";
    }
    else if (interp->sandbox->entered > holds) {
        refusal = "is running";
    }
    else {
        interp->sandbox->end_claimed = 1;
        interp->sandbox->entered -= holds;
    }
    HEAD_UNLOCK(runtime);
    if (refusal != NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s: the interpreter %s", func,
                     refusal);
        return -1;
    }
    return 0;
}


static int
only_thread(PyThreadState *tstate)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    int only = (tstate->interp->threads.head == tstate
                && tstate->next == NULL && tstate->prev == NULL);
    HEAD_UNLOCK(runtime);
    return only;
}


/* The threads that an untrusted interpreter started are watched from
 * their start (_PySandbox_BindThreadSlow()) to their end
 * (_PySandbox_ThreadEnd()), or to their exit anywhere else: once their
 * interpreter is abandoned, a thread that wakes up exits in take_gil(),
 * running nothing of ours but this key's destructor. */
static pthread_key_t watch_key;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static int watch_key_created;

static void close_parked_fds(struct _PySandboxState *state);

static void
unwatch(struct _PySandboxState *state)
{
    if (_Py_atomic_add_ssize(&state->watched, -1) == 1
        && _Py_atomic_load_int(&state->abandoned))
    {
        /* The last thread of an abandoned interpreter is gone. */
        close_parked_fds(state);
    }
}


/* The abandoned interpreters whose descriptors are still parked, a list
 * of the runtime's.  A thread that never ends (blocked on a lock for
 * good) would keep their numbers for good: a tenant could use up the
 * host's descriptors.  So they are closed at the host's first call to the
 * engine (a creation or an end) SANDBOX_PARKED_NS after the abandonment,
 * even with threads left: each number is forgotten before it is closed
 * (the table then refuses it), and a thread of the interpreter exits when
 * it next takes its GIL, after any system call that released it
 * (abandon_interpreter()).  Left: a thread that checked a number and had
 * not made its call by then (Doc/sandbox/threat-model.rst). */
#define SANDBOX_PARKED_NS ((PyTime_t)10 * 1000 * 1000 * 1000)
static PyMutex abandoned_mutex;
static struct _PySandboxState *abandoned_list;

static void
sweep_abandoned(void)
{
    PyTime_t now;
    (void)PyTime_MonotonicRaw(&now);
    _PySandbox_LOCK(&abandoned_mutex);
    struct _PySandboxState **link = &abandoned_list;
    while (*link != NULL) {
        struct _PySandboxState *state = *link;
        if (_Py_atomic_load_int(&state->fds_closed)
            || now - state->abandoned_at >= SANDBOX_PARKED_NS)
        {
            close_parked_fds(state);
            *link = state->next_abandoned;
        }
        else {
            link = &state->next_abandoned;
        }
    }
    PyMutex_Unlock(&abandoned_mutex);
}

static void
thread_gone(void *state)
{
    unwatch((struct _PySandboxState *)state);
}

static void
create_watch_key(void)
{
    watch_key_created = (pthread_key_create(&watch_key, thread_gone) == 0);
}

void
_PySandbox_BindThreadSlow(PyThreadState *tstate)
{
    _PySandbox_InitStackSlow(tstate);
    /* A thread whose state was linked after its interpreter's stop set
       the bit on all of them (its start was allowed just before) stops
       too, before its first instruction. */
    if (_PySandbox_IsStopped(tstate->interp)
        || _PySandbox_TimeExpired(tstate->interp->sandbox))
    {
        _Py_set_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
    }
    if (tstate->_whence != _PyThreadState_WHENCE_THREADING) {
        return;     /* a job's thread, the host's or a creator's */
    }
    struct _PySandboxState *state = tstate->interp->sandbox;
    (void)pthread_once(&watch_once, create_watch_key);
    if (watch_key_created && pthread_setspecific(watch_key, state) == 0) {
        _Py_atomic_add_ssize(&state->watched, 1);
    }
}

static void
end_watch(struct _PySandboxState *state)
{
    if (watch_key_created && pthread_getspecific(watch_key) == state) {
        (void)pthread_setspecific(watch_key, NULL);
        unwatch(state);
    }
}


/* An abandoned interpreter's threads may still wake up in a system call
 * on one of its descriptors, or between two: its files are closed now
 * (a pipe's reader sees its end), but their numbers stay taken, by
 * /dev/null, until the last of those threads is gone, so that meanwhile
 * the host never gets one of them for a file of its own. */
static void
park_fd(int fd, int null)
{
    if (fd >= 0 && fd != null) {
        _PySandbox_NoLinger(fd);
        (void)dup3(null, fd, O_CLOEXEC);
    }
}

static void
park_fds(struct _PySandboxState *state)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        return;     /* they stay open until its threads are gone */
    }
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (_PySandbox_FdIsOwned(state, fd)
            || _PySandbox_FdBit(state->internal_fds, fd))
        {
            park_fd(fd, null);
        }
    }
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        park_fd(state->grants[i].fd, null);
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        park_fd(state->write_roots[i], null);
    }
    (void)close(null);
}

static void
close_parked_fds(struct _PySandboxState *state)
{
    /* Once: from the exit of its last thread, or from the sweep. */
    int expected = 0;
    if (!_Py_atomic_compare_exchange_int(&state->fds_closed, &expected, 1)) {
        return;
    }
    _PySandbox_CloseOwnedFds(state);
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (_PySandbox_TakeFdBit(state->internal_fds, fd)) {
            (void)close(fd);
        }
    }
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        if (state->grants[i].fd >= 0) {
            (void)close(state->grants[i].fd);
            state->grants[i].fd = -1;
        }
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        (void)close(state->write_roots[i]);
    }
    state->n_write_roots = 0;
}


/* The "finalizing" thread state of an interpreter abandoned before its
 * end began (_PySandbox_PrepareEnd()): no thread's, so that every one of
 * its threads must exit (_PyThreadState_MustExit()). */
static PyThreadState abandoned_finalizer;

/* Take an ending interpreter whose threads did not stop out of the
 * runtime: out of the list of interpreters (lookups, walks and the
 * runtime's finalization go through it) and out of the count of the
 * static types it readied, so that the main interpreter still finalizes
 * them.  Its memory stays: its threads may still wake up in it, and then
 * exit (it is marked finalizing).  *ender*, if not NULL, is the thread
 * state of the end itself, left in it. */
static void
abandon_interpreter(PyInterpreterState *interp, PyThreadState *ender)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    /* A job of another tenant's blocked inside (its thread, not one of
       this interpreter's, is not watched here: its exit is not counted)
       may wake up between a check and its system call too: then the
       descriptors stay parked until the sweep. */
    int unwatched = 0;
    for (PyThreadState *t = interp->threads.head; t != NULL && !unwatched;
         t = t->next)
    {
        unwatched = (t != ender
                     && t->_whence != _PyThreadState_WHENCE_THREADING);
    }
    PyInterpreterState **link = &runtime->interpreters.head;
    while (*link != NULL && *link != interp) {
        link = &(*link)->next;
    }
    if (*link == interp) {
        *link = interp->next;
        interp->next = NULL;
    }
    for (size_t i = 0; i < _Py_MAX_MANAGED_STATIC_TYPES; i++) {
        if (_PyInterpreterState_ReadiedStaticType(interp, i)) {
            _Py_atomic_add_int64(
                &runtime->types.managed_static.types[i].interp_count, -1);
        }
    }
    HEAD_UNLOCK(runtime);
    /* Its descriptors: closed when its last thread is gone, parked until
       then.  Counted as a watcher meanwhile, so that exactly one closes
       them: a last thread that exits now, or this. */
    /* Its threads exit when they next take its GIL (after any system call
       that released it), as in a finalizing interpreter, instead of
       running on with its descriptors' numbers. */
    if (_PyInterpreterState_GetFinalizing(interp) == NULL) {
        _PyInterpreterState_SetFinalizing(interp, &abandoned_finalizer);
    }
    struct _PySandboxState *state = interp->sandbox;
    _Py_atomic_add_ssize(&state->watched, unwatched ? 2 : 1);
    park_fds(state);
    (void)PyTime_MonotonicRaw(&state->abandoned_at);
    _PySandbox_LOCK(&abandoned_mutex);
    state->next_abandoned = abandoned_list;
    abandoned_list = state;
    PyMutex_Unlock(&abandoned_mutex);
    _Py_atomic_store_int(&state->abandoned, 1);
    unwatch(state);
}


int
_PySandbox_PrepareEnd(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    assert(state != NULL);
    sweep_abandoned();
    /* One grace period for the whole end: its children's, its threads'. */
    PyTime_t deadline = end_deadline(state), now;
    state->end_deadline = deadline;
    /* No more Python in any of its threads, from their next check, nor in
       the interpreters it created, where its threads may run jobs. */
    state->stopping = 1;
    _Py_set_eval_breaker_bit_all(interp, _PY_SANDBOX_BIT);
    stop_descendants(interp);
    end_children(interp);
    /* Its threads unwind and exit with its GIL, which the end does not
       take meanwhile: a thread may hold it in a long C loop
       (sum(range(10**12))) that no check interrupts, and taking it would
       wait as long.  The GIL is taken only once no thread of its own is
       left to hold it; a thread still there at the deadline (blocked
       outside Python, or in C) is left with the interpreter. */
    for (;;) {
        _PyRuntimeState *runtime = &_PyRuntime;
        HEAD_LOCK(runtime);
        int threads = interp->threads.head != NULL;
        HEAD_UNLOCK(runtime);
        if (!threads) {
            return 0;
        }
        (void)PyTime_MonotonicRaw(&now);
        if (now >= deadline) {
            abandon_interpreter(interp, NULL);
            return 1;
        }
        _PySandbox_EndPause();
    }
}


int
_PySandbox_EndThreads(PyThreadState *tstate)
{
    PyInterpreterState *interp = tstate->interp;
    if (interp->sandbox == NULL || only_thread(tstate)) {
        return 0;
    }
    /* Every Python function of every thread raises from now on (new
       threads are refused: see _PySandbox_ThreadStart()).  Give them the
       GIL for a while to unwind and end. */
    assert(interp->sandbox->ending);
    _Py_set_eval_breaker_bit_all(interp, _PY_SANDBOX_BIT);
    PyTime_t deadline = end_deadline(interp->sandbox), now;
    do {
        Py_BEGIN_ALLOW_THREADS
        struct timespec pause = {0, 1000 * 1000};
        (void)nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
        if (only_thread(tstate)) {
            return 0;
        }
        (void)PyTime_MonotonicRaw(&now);
    } while (now < deadline);
    /* Some are blocked outside Python (a long sleep, a lock, a read).
       They exit when they wake up, in take_gil(), since the interpreter
       is finalizing; until then its memory must stay. */
    _PyInterpreterState_SetFinalizing(interp, tstate);
    abandon_interpreter(interp, tstate);
    /* Leave as Py_EndInterpreter() does, with no thread state current;
       this one stays with the interpreter. */
    _PyThreadState_Detach(tstate);
    if (interp->sandbox->end_abandoned != NULL) {
        *interp->sandbox->end_abandoned = 1;
    }
    return 1;
}


/* A child that its creator's end could not end (a job ran in it past the
 * grace period) is an orphan: stopped, it waits for the host's next
 * engine call, which ends it once no job is inside, or abandons it if
 * only tenants' jobs, blocked past its deadline, are.  A host's job is
 * never cut.  Only from the host: a tenant's call bears no other's
 * cost. */
void
_PySandbox_EndOrphans(void)
{
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL || _PySandbox_IsUntrusted(tstate->interp)) {
        return;
    }
    _PyRuntimeState *runtime = &_PyRuntime;
    for (;;) {
        PyInterpreterState *orphan = NULL;
        int blocked = 0;
        PyTime_t now;
        (void)PyTime_MonotonicRaw(&now);
        HEAD_LOCK(runtime);
        for (PyInterpreterState *i = runtime->interpreters.head;
             i != NULL && orphan == NULL; i = i->next)
        {
            struct _PySandboxState *state = i->sandbox;
            if (state != NULL && state->created && !state->end_claimed
                && (_Py_atomic_load_int(&state->lost)
                    == SANDBOX_LOST_STOPPED)
                && state->entered == 0 && !_PyInterpreterState_IsRunningMain(i))
            {
                /* Its job came out late, and could not end it then. */
                state->end_claimed = 1;
                orphan = i;
                continue;
            }
            if (state == NULL || !state->stopping || state->parent_id < 0
                || !state->created || state->end_claimed)
            {
                continue;
            }
            int running = (state->entered > 0
                           || _PyInterpreterState_IsRunningMain(i));
            if (running && (now < state->end_deadline
                            || !no_host_job(runtime, i)))
            {
                continue;   /* the host's job returns first */
            }
            PyInterpreterState *parent = listed_by_id(runtime,
                                                      state->parent_id);
            if (parent == NULL
                || (parent->sandbox != NULL && parent->sandbox->abandoned))
            {
                state->end_claimed = 1;
                orphan = i;
                blocked = running;
            }
        }
        HEAD_UNLOCK(runtime);
        if (orphan == NULL) {
            return;
        }
        PyObject *exc = PyErr_GetRaisedException();
        if (blocked) {
            /* A job of a tenant's, blocked outside Python past the grace
               period: abandoned, as its creator's end would have. */
            _PySandbox_AbandonTree(orphan);
        }
        else {
            (void)_PySandbox_EndClaimed(orphan);
        }
        PyErr_SetRaisedException(exc);
    }
}

/* End *interp*, of which the caller holds *holds* (0 or 1), if the
 * current interpreter may control it: a hold is given up when the end is
 * claimed, or released on refusal.  One whose job the host gave up on,
 * still inside, is ended by that job's thread as it comes out: 0 now. */
static int
end_interpreter(PyInterpreterState *interp, Py_ssize_t holds)
{
    if (interp->sandbox != NULL
        && _Py_atomic_load_int(&interp->sandbox->lost) == SANDBOX_LOST_RUNNING
        && _PySandbox_CheckController(interp, "PySandbox_EndInterpreter") == 0)
    {
        if (holds) {
            _PySandbox_Leave(interp);
        }
        return 0;
    }
    if (_PySandbox_CheckController(interp, "PySandbox_EndInterpreter") < 0
        || _PySandbox_ClaimEnd(interp, "PySandbox_EndInterpreter",
                               holds) < 0)
    {
        if (holds) {
            _PySandbox_Leave(interp);
        }
        return -1;
    }
    int res = _PySandbox_EndClaimed(interp);
    /* After it: *interp* may be an orphan, which the caller points to. */
    _PySandbox_EndOrphans();
    return res;
}

/* End *interp*, whose end the caller claimed: 0 if it is ended, 1 if it
 * is abandoned (its threads did not stop), -1 with an exception if no
 * thread state could be made for the end. */
int
_PySandbox_EndClaimed(PyInterpreterState *interp)
{
    if (_PySandbox_PrepareEnd(interp)) {
        return 1;
    }
    PyThreadState *host = PyThreadState_Get();
    PyThreadState *tstate = _PyThreadState_NewBound(
        interp, _PyThreadState_WHENCE_FINI);
    if (tstate == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    (void)PyThreadState_Swap(tstate);
    /* Py_EndInterpreter() frees the state, unless it abandons the
       interpreter: it says so here. */
    int abandoned = 0;
    interp->sandbox->end_abandoned = &abandoned;
    Py_EndInterpreter(tstate);
    if (abandoned) {
        /* Its state stays, with the threads left to it. */
        interp->sandbox->end_abandoned = NULL;
    }
    (void)PyThreadState_Swap(host);
    return abandoned;
}

int
PySandbox_EndInterpreter(PyInterpreterState *interp)
{
    return end_interpreter(interp, 0);
}

int
_PySandbox_EndHeld(PyInterpreterState *interp)
{
    return end_interpreter(interp, 1);
}


PyStatus
_PySandbox_CheckCreator(void)
{
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL || !_PySandbox_IsUntrusted(tstate->interp)) {
        return _PyStatus_OK();
    }
    /* A trusted interpreter made from inside would be an escape.  A nested
       untrusted one is made only by PySandbox_NewInterpreter(), which
       checks that its policy is within this one's and creates it with no
       current thread state. */
    (void)_PySandbox_Deny("interpreter", "creating a trusted interpreter");
    return _PyStatus_ERR("an untrusted interpreter cannot create "
                         "interpreters");
}


static PyInterpreterState *create_interpreter(
    const PySandboxPolicy *policy, struct _PySandboxState *creator_state);

PyInterpreterState *
PySandbox_NewInterpreter(const PySandboxPolicy *policy)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandbox_NewInterpreter: policy is NULL");
        return NULL;
    }
    sweep_abandoned();
    _PySandbox_EndOrphans();
    if (_PySandboxPolicy_CheckWritable(policy) < 0
        || _PySandboxPolicy_CheckTrustedBytecode(policy) < 0
        || _PySandboxPolicy_CheckCpuLimit(policy) < 0)
    {
        return NULL;
    }
    /* An untrusted interpreter may create one whose policy is within its
       own (nothing it does not have itself), checked here, in C. */
    PyInterpreterState *creator = _PyInterpreterState_GET();
    struct _PySandboxState *creator_state = creator->sandbox;
    if (creator_state != NULL) {
        if (creator_state->ending || creator_state->stopping
            || creator_state->no_children)
        {
            (void)_PySandbox_Deny("interpreter", "creating an untrusted "
                                  "interpreter while ending");
            return NULL;
        }
        if (!_PySandboxPolicy_Within(policy, &creator_state->policy)) {
            char detail[200];
            if (policy->max_threads > creator_state->policy.max_threads) {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(threads %zd > %zd)", policy->max_threads,
                              creator_state->policy.max_threads);
            }
            else if (policy->time_limit != 0
                     && policy->time_limit
                        > _PySandbox_TimeLimit(&creator_state->policy))
            {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(time %.9g s > %.9g s)",
                              (double)policy->time_limit / 1e9,
                              (double)_PySandbox_TimeLimit(
                                  &creator_state->policy) / 1e9);
            }
            else if (policy->cpu_limit != 0
                     && policy->cpu_limit
                        > _PySandbox_CpuLimit(&creator_state->policy))
            {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(cpu %.9g s > %.9g s)",
                              (double)policy->cpu_limit / 1e9,
                              (double)_PySandbox_CpuLimit(
                                  &creator_state->policy) / 1e9);
            }
            else if (policy->memory != 0
                     && policy->memory
                        > _PySandboxPolicy_MemoryCap(&creator_state->policy))
            {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(memory %zd > %zd)",
                              _PySandboxPolicy_MemoryCap(policy),
                              _PySandboxPolicy_MemoryCap(
                                  &creator_state->policy));
            }
            else {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(recursion, env, modules, files or "
                              "network)");
            }
            (void)_PySandbox_Deny("interpreter", detail);
            return NULL;
        }
        if (policy->group != NULL) {
            (void)_PySandbox_Deny("interpreter", "a memory group in a "
                                  "nested policy (what a nested "
                                  "interpreter holds counts against its "
                                  "creator's cap)");
            return NULL;
        }
    }
    if (policy->group != NULL && !_PySandbox_GroupHasRoom(policy->group)) {
        return NULL;
    }
    /* Memory: the process's budget must have room left for a start. */
    Py_ssize_t total, budget;
    _PySandbox_MemoryTotal(&total, &budget);
    if (total > budget - SANDBOX_START_MEMORY) {
        PyErr_SetString(creator_state != NULL ? PyExc_MemoryError
                                              : PyExc_RuntimeError,
                        "cannot create an untrusted interpreter: the memory "
                        "budget of untrusted interpreters is used up");
        return NULL;
    }
    PySandboxPolicy sized = *policy;
    if (creator_state != NULL && policy->memory == 0) {
        /* No cap of its own: its creator's.  What it holds counts against
           its creator's cap too (_PySandbox_LinkToCreator()). */
        sized.memory = _PySandboxPolicy_MemoryCap(&creator_state->policy);
        policy = &sized;
    }
    if (creator_state != NULL && policy->time_limit == 0) {
        /* No time limit of its own: its creator's. */
        sized.time_limit = _PySandbox_TimeLimit(&creator_state->policy);
        policy = &sized;
    }
    if (creator_state != NULL && policy->cpu_limit == 0) {
        /* Nor a CPU limit: its creator's, or its own time limit if that
           is less. */
        PyTime_t cpu = _PySandbox_CpuLimit(&creator_state->policy);
        PyTime_t own = _PySandbox_TimeLimit(policy);
        sized.cpu_limit = own < cpu ? own : cpu;
        policy = &sized;
    }
    if (creator_state != NULL
        && _PySandbox_NestedNetBudget(&sized, &policy, creator_state) < 0)
    {
        return NULL;
    }
    return create_interpreter(policy, creator_state);
}

/* PySandbox_NewInterpreter() once the policy is checked. */
static PyInterpreterState *
create_interpreter(const PySandboxPolicy *policy,
                   struct _PySandboxState *creator_state)
{
    PyInterpreterState *creator = _PyInterpreterState_GET();
    /* The variables it may see, with their values in its creator. */
    PySandboxPolicy local = *policy;
    if (_PySandboxPolicy_SnapshotEnviron(&local, creator_state) < 0) {
        return NULL;
    }
    /* Its files: beneath its creator's, and its working directory. */
    local.opened = NULL;
    local.n_opened = 0;
    local.creator_grants = creator_state != NULL ? creator_state->grants
                                                 : NULL;
    local.n_creator_grants = creator_state != NULL ? creator_state->n_grants
                                                   : 0;
    local.creator_roots = creator_state != NULL ? creator_state->write_roots
                                                : NULL;
    local.creator_denied = (creator_state != NULL
                            ? creator_state->policy.net[SANDBOX_NET_DENY]
                            : NULL);
    local.n_creator_denied = (creator_state != NULL
                              ? creator_state->policy.n_net[SANDBOX_NET_DENY]
                              : 0);
    local.n_creator_roots = creator_state != NULL
                            ? creator_state->n_write_roots : 0;
    local.cwd = _PySandbox_CreatorCwd(creator_state);
    if (local.cwd == NULL || _PySandbox_OpenGrants(&local, creator_state) < 0)
    {
        if (local.cwd == NULL) {
            PyErr_NoMemory();
        }
        _PySandboxPolicy_ClearCreated(&local);
        return NULL;
    }
    const PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = policy->max_threads > 0,
        .allow_daemon_threads = policy->max_threads > 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
    };
    PyThreadState *save_tstate = PyThreadState_Swap(NULL);
    PyThreadState *tstate = NULL;
    PyStatus status = _PySandbox_NewInterpreterFromConfig(&tstate, &config,
                                                          &local);
    _PySandboxPolicy_ClearCreated(&local);
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
    int too_late = 0;
    /* The initial thread state is not needed: runs get their own.  Its
       memory cap applies from now on. */
    PyThreadState_Clear(tstate);
    PyThreadState_Swap(save_tstate);
    PyThreadState_Delete(tstate);
    int too_big = (_PySandbox_HeapCreated(interp->sandbox) < 0
                   || (creator_state != NULL
                       && _PySandbox_LinkToCreator(&interp->sandbox->heap,
                                                   &creator_state->heap) < 0)
                   || (policy->group != NULL
                       && _PySandbox_LinkToGroup(&interp->sandbox->heap,
                                                 policy->group) < 0));
    /* Its creator's end scans for children under the same lock: it either
       finds this one, or this one finds that it began.  And from now on
       jobs and ends may take it. */
    if (creator_state != NULL && !too_big) {
        /* Its names: its creator's addresses for them. */
        _PySandbox_InheritPins(interp->sandbox, creator_state);
    }
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    if (creator_state != NULL) {
        interp->sandbox->parent_id = PyInterpreterState_GetID(creator);
        too_late = creator_state->no_children;
    }
    interp->sandbox->created = 1;
    /* Too late: no job or end may take it before this thread ends it. */
    interp->sandbox->end_claimed = too_late || too_big;
    HEAD_UNLOCK(runtime);
    if (too_big) {
        PyObject *exc = PyErr_GetRaisedException();
        (void)_PySandbox_EndClaimed(interp);
        PyErr_SetRaisedException(exc);
        return NULL;
    }
    if (too_late) {
        (void)_PySandbox_EndClaimed(interp);
        PyErr_Clear();
        (void)_PySandbox_Deny("interpreter", "creating an untrusted "
                              "interpreter while ending");
        return NULL;
    }
    return interp;
}


const PySandboxPolicy *
_PySandbox_GetPolicy(PyInterpreterState *interp)
{
    return interp->sandbox != NULL ? &interp->sandbox->policy : NULL;
}


#ifdef HAVE_FORK
void
_PySandbox_AfterForkChild(void)
{
    /* Another thread may have held the engine's locks at the fork; the
       child has only this one.  The abandoned interpreters were forgotten
       with the others (_PyInterpreterState_DeleteExceptMain()): their
       parked descriptor numbers stay taken, by /dev/null, in the child. */
    abandoned_mutex = (PyMutex){0};
    abandoned_list = NULL;
    _PySandbox_ImportAfterFork();
    _PySandbox_LayoutAfterFork();
    _PySandbox_BytecodeAfterFork();
}
#endif  /* HAVE_FORK */


#endif  /* Py_UNTRUSTED */


