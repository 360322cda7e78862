/* Untrusted interpreters: the memory cap.
 *
 * What an untrusted interpreter holds is charged to its heap
 * (_PySandboxState.heap) when it is allocated, and given back when it is
 * freed, to the byte:
 *
 *   - the arenas of its object allocator (obmalloc's new_arena(), 1 MiB
 *     each): every small block lives in one;
 *   - the blocks that obmalloc passes on to the C allocator (above 512
 *     bytes, or any size when no arena can be had), and those that zlib,
 *     bz2 and lzma allocate for it: each has a header (sandbox_block) that
 *     says what it was charged and links it into the heap's list, so that
 *     the interpreter's end frees the blocks its objects still hold;
 *   - the chunks of its threads' evaluation stacks (Python/pystate.c), the
 *     C stacks of the threads its policy grants, and the buffers of its
 *     standard output and error.
 *
 * A charge that would take the heap beyond its cap, or all untrusted
 * interpreters together beyond the process's budget, is refused before
 * anything reaches the operating system: the allocation fails, and the
 * caller raises MemoryError inside the interpreter.  Nothing of it reaches
 * the host or another interpreter, and freeing gives the room back.
 *
 * The counters are atomic: the compression libraries allocate with their
 * interpreter's GIL released, and the host takes output while the
 * interpreter runs.  The list has its own mutex for the same reason.
 *
 * Part of the engine (Doc/sandbox/internals.rst, Doc/sandbox/memory.rst);
 * compiled only with Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_interp.h"        // PyInterpreterState.obmalloc
#include "pycore_obmalloc.h"      // struct _obmalloc_state
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxHeap

#ifdef Py_UNTRUSTED

#include <stddef.h>               // offsetof()
#include <sys/resource.h>         // getrlimit()
#include <unistd.h>               // sysconf()

/* A block's seal is its heap's address xor this: a block freed into a
 * heap that did not allocate it is caught before anything is written. */
#define SANDBOX_SEAL ((uintptr_t)0x5a4e44424f58ULL)

#define HEADER ((Py_ssize_t)sizeof(sandbox_block))

static_assert(sizeof(sandbox_block) % 16 == 0,
              "a block's header keeps the C allocator's alignment");

/* Set while the engine itself allocates in an untrusted interpreter, on
 * this thread, for the host's side of a job: the job's source compiled,
 * its arguments decoded, its result encoded, a worker's request and
 * answer.  It is charged, and may go beyond the cap by ENGINE_SLACK (no
 * further): a tenant at its cap can still be given the job that lets go
 * of what it holds, and its answer still reaches the host. */
static _Py_thread_local int engine_allocating;
/* Where the engine was when it began: compiling a job's source can run
 * the interpreter's own code (a warning's showwarning(), an import for
 * "\N{...}", a __del__ that the collector calls), which pushes a frame
 * and must be refused like any code of the interpreter's. */
static _Py_thread_local PyThreadState *engine_tstate;
static _Py_thread_local struct _PyInterpreterFrame *engine_frame;

void
_PySandbox_EngineAllocates(int on)
{
    if (!on) {
        engine_allocating--;
        return;
    }
    if (engine_allocating++ == 0) {
        PyThreadState *tstate = _PyThreadState_GET();
        engine_tstate = tstate;
        engine_frame = tstate != NULL ? tstate->current_frame : NULL;
    }
}

/* Is this allocation the engine's own (charged, never refused): made on
 * its thread, in its thread state, with no frame pushed since it began? */
static int
engine_forces(void)
{
    if (!engine_allocating) {
        return 0;
    }
    PyThreadState *tstate = _PyThreadState_GET();
    return (tstate == engine_tstate
            && (tstate == NULL || tstate->current_frame == engine_frame));
}

int
_PySandbox_EngineWorks(void)
{
    return engine_forces();
}

/* All untrusted interpreters of the process together (atomic), and the
 * host's budget for them (PySandbox_SetMemoryBudget()). */
static Py_ssize_t total_used;
static Py_ssize_t total_budget = PY_SSIZE_T_MAX;


static struct _PySandboxState *
state_of(struct _PySandboxHeap *heap)
{
    return (struct _PySandboxState *)
        ((char *)heap - offsetof(struct _PySandboxState, heap));
}

int
_PySandbox_InitHeap(struct _PySandboxHeap *heap)
{
    heap->blocks.prev = heap->blocks.next = &heap->blocks;
    heap->account = PyMem_RawCalloc(1, sizeof(sandbox_account));
    if (heap->account == NULL) {
        return -1;
    }
    heap->account->refs = 1;
    heap->account->cap = PY_SSIZE_T_MAX;
    return 0;
}

/* Drop a reference to *account*, and to its creators' as it goes. */
static void
account_decref(sandbox_account *account)
{
    while (account != NULL
           && _Py_atomic_add_ssize(&account->refs, -1) == 1)
    {
        sandbox_account *parent = account->parent;
        PyMem_RawFree(account);
        account = parent;
    }
}

/* The refusal of *n* bytes, logged once for a run of refusals: by a cap
 * (*used* of *cap*: its own, or a creator's), by its memory group's
 * budget (*budget* 2), or by the process's budget (*budget* 1). */
static void
refused(struct _PySandboxHeap *heap, Py_ssize_t n, Py_ssize_t used,
        Py_ssize_t cap, int budget)
{
    if (_Py_atomic_exchange_int(&heap->refusing, 1)) {
        return;
    }
    char detail[160];
    if (budget == 2) {
        PyOS_snprintf(detail, sizeof(detail), "%zd bytes beyond the budget "
                      "of its memory group (%zd of %zd used)", n, used, cap);
    }
    else if (budget) {
        PyOS_snprintf(detail, sizeof(detail), "%zd bytes beyond the "
                      "budget of all untrusted interpreters (%zd)", n,
                      _Py_atomic_load_ssize_relaxed(&total_budget));
    }
    else {
        PyOS_snprintf(detail, sizeof(detail), "%zd bytes beyond the cap "
                      "(%zd of %zd used)", n, used, cap);
    }
    _PySandbox_LogDenialRaw(state_of(heap), "memory", detail);
}

/* How far beyond a cap (or a budget) the engine's own allocations may go
 * (engine_forces()): what the host's side of a job needs when the tenant
 * is at its cap (its source compiled, its arguments and its result
 * encoded).  A bound, not a blank cheque: the tenant's code that runs
 * meanwhile without a frame of its own (a C callable it installed as a
 * warnings hook) stays bounded. */
#define ENGINE_SLACK ((Py_ssize_t)16 * 1024 * 1024)

/* *limit*, raised by the engine's slack with *force*. */
static Py_ssize_t
ceiling(Py_ssize_t limit, int force)
{
    if (!force) {
        return limit;
    }
    return limit > PY_SSIZE_T_MAX - ENGINE_SLACK ? PY_SSIZE_T_MAX
                                                 : limit + ENGINE_SLACK;
}

/* Add *n* to *account* unless that takes it beyond its cap (with *force*,
 * beyond its cap and the engine's slack): 1 if added, else 0. */
static int
account_add(sandbox_account *account, Py_ssize_t n, int force)
{
    Py_ssize_t cap = ceiling(_Py_atomic_load_ssize_relaxed(&account->cap),
                             force);
    Py_ssize_t used = _Py_atomic_load_ssize_relaxed(&account->used);
    do {
        if (n > cap || used > cap - n) {
            return 0;
        }
    } while (!_Py_atomic_compare_exchange_ssize(&account->used, &used,
                                                used + n));
    return 1;
}

/* Take *n* off the accounts from *account* up to *stop* (excluded). */
static void
accounts_sub(sandbox_account *account, sandbox_account *stop, Py_ssize_t n)
{
    for (; account != stop; account = account->parent) {
        _Py_atomic_add_ssize(&account->used, -n);
    }
}

int
_PySandbox_HeapCharge(struct _PySandboxHeap *heap, Py_ssize_t n, int log)
{
    /* Its own account and each of its creators': what a nested
       interpreter holds counts against every cap above it. */
    int force = engine_forces();
    for (sandbox_account *a = heap->account; a != NULL; a = a->parent) {
        if (!account_add(a, n, force)) {
            accounts_sub(heap->account, a, n);
            if (log) {
                refused(heap, n, _Py_atomic_load_ssize_relaxed(&a->used),
                        _Py_atomic_load_ssize_relaxed(&a->cap),
                        a->group ? 2 : 0);
            }
            return -1;
        }
    }
    Py_ssize_t used = _Py_atomic_add_ssize(&heap->used, n) + n;
    /* The budget binds only a created interpreter: one that is being
       created was let in by PySandbox_NewInterpreter(). */
    Py_ssize_t total = _Py_atomic_add_ssize(&total_used, n) + n;
    if (total > ceiling(_Py_atomic_load_ssize_relaxed(&total_budget), force)
        && _Py_atomic_load_ssize_relaxed(&heap->account->cap)
           != PY_SSIZE_T_MAX)
    {
        _PySandbox_HeapUncharge(heap, n);
        if (log) {
            refused(heap, n, 0, 0, 1);
        }
        return -1;
    }
    Py_ssize_t peak = _Py_atomic_load_ssize_relaxed(&heap->peak);
    while (used > peak
           && !_Py_atomic_compare_exchange_ssize(&heap->peak, &peak, used))
    {
    }
    if (_Py_atomic_load_int_relaxed(&heap->refusing)) {
        _Py_atomic_store_int_relaxed(&heap->refusing, 0);
    }
    return 0;
}

void
_PySandbox_HeapUncharge(struct _PySandboxHeap *heap, Py_ssize_t n)
{
    _Py_atomic_add_ssize(&heap->used, -n);
    accounts_sub(heap->account, NULL, n);
    _Py_atomic_add_ssize(&total_used, -n);
}


/* Blocks from the C allocator, headed and listed */

static void
link_block(struct _PySandboxHeap *heap, sandbox_block *block)
{
    block->seal = (uintptr_t)heap ^ SANDBOX_SEAL;
    block->prev = &heap->blocks;
    block->next = heap->blocks.next;
    block->next->prev = block;
    heap->blocks.next = block;
}

static void
unlink_block(sandbox_block *block)
{
    block->prev->next = block->next;
    block->next->prev = block->prev;
}

/* The header of *ptr*, checked: a block of another heap, or no block at
 * all, would corrupt the C allocator's, so the process stops first. */
static sandbox_block *
block_of(struct _PySandboxHeap *heap, void *ptr)
{
    sandbox_block *block = (sandbox_block *)ptr - 1;
    if (block->seal != ((uintptr_t)heap ^ SANDBOX_SEAL)) {
        Py_FatalError("a block freed into an untrusted interpreter's heap "
                      "that did not allocate it");
    }
    return block;
}

/* What *n* bytes cost with their header, or -1 if too many. */
static Py_ssize_t
cost_of(size_t n)
{
    return n > (size_t)(PY_SSIZE_T_MAX - HEADER) ? -1
                                                 : (Py_ssize_t)n + HEADER;
}

static void *
heap_alloc(struct _PySandboxHeap *heap, size_t n, int zeroed)
{
    Py_ssize_t cost = cost_of(n);
    if (cost < 0 || _PySandbox_HeapCharge(heap, cost, 1) < 0) {
        return NULL;
    }
    sandbox_block *block = zeroed ? calloc(1, (size_t)cost)
                                  : malloc((size_t)cost);
    if (block == NULL) {
        _PySandbox_HeapUncharge(heap, cost);
        return NULL;
    }
    block->charged = cost;
    _PySandbox_LOCK(&heap->mutex);
    link_block(heap, block);
    PyMutex_Unlock(&heap->mutex);
    return block + 1;
}

void *
_PySandbox_HeapMalloc(struct _PySandboxHeap *heap, size_t size)
{
    return heap_alloc(heap, size, 0);
}

void *
_PySandbox_HeapCalloc(struct _PySandboxHeap *heap, size_t nelem,
                      size_t elsize)
{
    if (elsize != 0 && nelem > SIZE_MAX / elsize) {
        return NULL;
    }
    return heap_alloc(heap, nelem * elsize, 1);
}

void *
_PySandbox_HeapRealloc(struct _PySandboxHeap *heap, void *ptr, size_t size)
{
    if (ptr == NULL) {
        return heap_alloc(heap, size, 0);
    }
    sandbox_block *block = block_of(heap, ptr);
    Py_ssize_t old = block->charged;
    Py_ssize_t cost = cost_of(size);
    if (cost < 0 || (cost > old
                     && _PySandbox_HeapCharge(heap, cost - old, 1) < 0))
    {
        return NULL;
    }
    _PySandbox_LOCK(&heap->mutex);
    unlink_block(block);
    sandbox_block *moved = realloc(block, (size_t)cost);
    if (moved == NULL) {
        link_block(heap, block);
        PyMutex_Unlock(&heap->mutex);
        if (cost > old) {
            _PySandbox_HeapUncharge(heap, cost - old);
        }
        return NULL;
    }
    moved->charged = cost;
    link_block(heap, moved);
    PyMutex_Unlock(&heap->mutex);
    if (cost < old) {
        _PySandbox_HeapUncharge(heap, old - cost);
    }
    return moved + 1;
}

void
_PySandbox_HeapFree(struct _PySandboxHeap *heap, void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    sandbox_block *block = block_of(heap, ptr);
    Py_ssize_t charged = block->charged;
    _PySandbox_LOCK(&heap->mutex);
    unlink_block(block);
    PyMutex_Unlock(&heap->mutex);
    block->seal = 0;
    free(block);
    _PySandbox_HeapUncharge(heap, charged);
}


/* The hooks: obmalloc, the evaluation stack, the compression libraries */

/* Measurements only (Tools/sandbox/bench.py): cleared by the host, the
 * interpreters it then creates do not count their objects (arenas and
 * large blocks), so that a benchmark can set the cost of counting against
 * the same kind of interpreter without it.  Read once, at creation. */
static int count_objects = 1;

int
_PySandbox_CountObjects(int on)
{
    if (_PySandbox_CheckTrusted("_sandbox._count_objects") < 0) {
        return -1;
    }
    int was = _Py_atomic_load_int_relaxed(&count_objects);
    _Py_atomic_store_int_relaxed(&count_objects, on != 0);
    return was;
}

void
_PySandbox_BindHeap(PyInterpreterState *interp)
{
    /* Before the interpreter's first allocation: every block it frees
       through its heap was allocated through it. */
    if (interp->sandbox != NULL
        && _Py_atomic_load_int_relaxed(&count_objects))
    {
        interp->obmalloc->sandbox = &interp->sandbox->heap;
    }
}

int
_PySandbox_ChargeArena(struct _PySandboxHeap *heap, size_t size)
{
    /* A refused arena is not logged: obmalloc then asks for the block
       itself (_PySandbox_HeapMalloc()), which may still fit. */
    return _PySandbox_HeapCharge(heap, (Py_ssize_t)size, 0);
}

void
_PySandbox_UnchargeArena(struct _PySandboxHeap *heap, size_t size)
{
    _PySandbox_HeapUncharge(heap, (Py_ssize_t)size);
}

void
_PySandbox_FreeHeapBlocks(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return;
    }
    struct _PySandboxHeap *heap = &state->heap;
    _PySandbox_LOCK(&heap->mutex);
    sandbox_block *block = heap->blocks.next;
    while (block != &heap->blocks) {
        sandbox_block *next = block->next;
        _PySandbox_HeapUncharge(heap, block->charged);
        block->seal = 0;
        free(block);
        block = next;
    }
    heap->blocks.prev = heap->blocks.next = &heap->blocks;
    PyMutex_Unlock(&heap->mutex);
}

int
_PySandbox_ChargeChunkSlow(PyThreadState *tstate, size_t size)
{
    struct _PySandboxState *state = tstate->interp->sandbox;
    if (_PySandbox_HeapCharge(&state->heap, (Py_ssize_t)size, 1) < 0) {
        return -1;
    }
    return 0;
}

void
_PySandbox_UnchargeChunkSlow(PyThreadState *tstate, size_t size)
{
    _PySandbox_HeapUncharge(&tstate->interp->sandbox->heap,
                            (Py_ssize_t)size);
}

void *
_PySandbox_ForeignHeap(void)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    return interp->sandbox != NULL ? &interp->sandbox->heap : NULL;
}

void *
_PySandbox_ForeignAlloc(void *heap, size_t nelem, size_t elsize)
{
    if (heap == NULL) {
        return PyMem_RawMalloc(nelem * elsize);
    }
    return _PySandbox_HeapCalloc(heap, nelem, elsize);
}

void
_PySandbox_ForeignFree(void *heap, void *ptr)
{
    if (heap == NULL) {
        PyMem_RawFree(ptr);
    }
    else {
        _PySandbox_HeapFree(heap, ptr);
    }
}


/* The interpreter's life */

int
_PySandbox_HeapCreated(struct _PySandboxState *state)
{
    struct _PySandboxHeap *heap = &state->heap;
    Py_ssize_t cap = _PySandboxPolicy_MemoryCap(&state->policy);
    Py_ssize_t used = _Py_atomic_load_ssize_relaxed(&heap->account->used);
    if (used > cap) {
        char reason[96];
        PyOS_snprintf(reason, sizeof(reason), "below what the interpreter "
                      "needs to start (%zd bytes)", used);
        return _PySandboxPolicy_ErrorInt("memory", cap, reason);
    }
    _Py_atomic_store_ssize_relaxed(&heap->peak, used);
    _Py_atomic_store_ssize_relaxed(&heap->account->cap, cap);
    return 0;
}

void
_PySandbox_ClearHeap(struct _PySandboxHeap *heap)
{
    /* The blocks of an interpreter that ends normally are freed with its
       arenas (_PySandbox_FreeHeapBlocks()); whatever it was charged is
       given back to the process's budget. */
    if (heap->account == NULL) {
        return;                 /* its creation failed first */
    }
    Py_ssize_t left = _Py_atomic_exchange_ssize(&heap->used, 0);
    accounts_sub(heap->account, NULL, left);
    _Py_atomic_add_ssize(&total_used, -left);
    account_decref(heap->account);
    heap->account = NULL;
}

/* Make *parent* the parent of *heap*'s account: what it holds from its
 * start counts against *parent* and the accounts above it, and from now
 * on all it will hold.  Nothing of it runs yet. */
static int
link_account(struct _PySandboxHeap *heap, sandbox_account *parent,
             PyObject *error, const char *refusal)
{
    sandbox_account *account = heap->account;
    Py_ssize_t used = _Py_atomic_load_ssize_relaxed(&account->used);
    for (sandbox_account *a = parent; a != NULL; a = a->parent) {
        if (!account_add(a, used, 0)) {
            accounts_sub(parent, a, used);
            PyErr_SetString(error, refusal);
            return -1;
        }
    }
    _Py_atomic_add_ssize(&parent->refs, 1);
    account->parent = parent;
    return 0;
}

int
_PySandbox_LinkToCreator(struct _PySandboxHeap *heap,
                         struct _PySandboxHeap *creator)
{
    return link_account(heap, creator->account, PyExc_MemoryError,
                        "no memory left under this "
                        "interpreter's cap for another interpreter");
}

int
_PySandbox_LinkToGroup(struct _PySandboxHeap *heap,
                       PySandboxMemoryGroup *group)
{
    /* The host's error, as for a group used up before the creation. */
    return link_account(heap, &group->account, PyExc_RuntimeError,
                        "cannot create an untrusted interpreter: the "
                        "budget of its memory group is used up");
}

int
_PySandbox_GroupHasRoom(PySandboxMemoryGroup *group)
{
    /* As for the process's budget: room for an interpreter's start. */
    Py_ssize_t used = _Py_atomic_load_ssize_relaxed(&group->account.used);
    if (used > group->account.cap - SANDBOX_START_MEMORY) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create an untrusted "
                        "interpreter: the budget of its memory group is "
                        "used up");
        return 0;
    }
    return 1;
}


/* Queries */

void
_PySandbox_HeapUsage(struct _PySandboxHeap *heap, Py_ssize_t *used,
                     Py_ssize_t *cap)
{
    *used = _Py_atomic_load_ssize_relaxed(&heap->account->used);
    *cap = _Py_atomic_load_ssize_relaxed(&heap->account->cap);
}

Py_ssize_t
_PySandbox_HeapPeak(struct _PySandboxHeap *heap, int reset)
{
    Py_ssize_t peak = _Py_atomic_load_ssize_relaxed(&heap->peak);
    if (reset) {
        _Py_atomic_store_ssize_relaxed(
            &heap->peak, _Py_atomic_load_ssize_relaxed(&heap->used));
    }
    return peak;
}

void
_PySandbox_MemoryTotal(Py_ssize_t *used, Py_ssize_t *budget)
{
    *used = _Py_atomic_load_ssize_relaxed(&total_used);
    *budget = _Py_atomic_load_ssize_relaxed(&total_budget);
}

Py_ssize_t
_PySandbox_MemoryAvailable(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    Py_ssize_t available = SANDBOX_MAX_MEMORY;
    if (pages > 0 && page_size > 0
        && (unsigned long long)pages * (unsigned long long)page_size
           < (unsigned long long)available)
    {
        available = (Py_ssize_t)pages * page_size;
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY
        && limit.rlim_cur < (rlim_t)available)
    {
        available = (Py_ssize_t)limit.rlim_cur;
    }
    return available;
}


/* Allocation-failure injection (debug builds only; Lua's ltests.c does
 * the same): _sandbox._fail_allocations(interp_id, start, count) makes the
 * allocations start to start + count - 1 (counted from 1) of the
 * PyMem_Malloc and PyObject_Malloc families that the interpreter makes
 * fail, whatever their size, so that a test can sweep the failure over a
 * workload and prove that each one ends in MemoryError, never in a crash,
 * an assertion or a leak.  Wrappers around the allocators of both domains
 * are installed on first use and left in place; they only count for an
 * interpreter whose countdown is set. */

#ifdef Py_DEBUG
typedef struct {
    PyMemAllocatorEx inner;
    PyMemAllocatorDomain domain;
} inject_allocator;

static inject_allocator inject_mem = {.domain = PYMEM_DOMAIN_MEM};
static int installed;           /* only ever around pymalloc's */

int
_PySandbox_InjectionInstalled(void)
{
    return installed;
}

static inject_allocator inject_obj = {.domain = PYMEM_DOMAIN_OBJ};

static int
inject_failure(void)
{
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL || tstate->interp->sandbox == NULL) {
        return 0;
    }
    struct _PySandboxHeap *heap = &tstate->interp->sandbox->heap;
    if (heap->inject_start <= 0) {
        return 0;
    }
    heap->inject_seen++;
    return (heap->inject_seen >= heap->inject_start
            && heap->inject_seen < heap->inject_start + heap->inject_count);
}

static void *
inject_malloc(void *ctx, size_t size)
{
    inject_allocator *a = ctx;
    return inject_failure() ? NULL : a->inner.malloc(a->inner.ctx, size);
}

static void *
inject_calloc(void *ctx, size_t nelem, size_t elsize)
{
    inject_allocator *a = ctx;
    return (inject_failure() ? NULL
            : a->inner.calloc(a->inner.ctx, nelem, elsize));
}

static void *
inject_realloc(void *ctx, void *ptr, size_t size)
{
    inject_allocator *a = ctx;
    return (inject_failure() ? NULL
            : a->inner.realloc(a->inner.ctx, ptr, size));
}

static void
inject_free(void *ctx, void *ptr)
{
    inject_allocator *a = ctx;
    a->inner.free(a->inner.ctx, ptr);
}

static void
install_injection(inject_allocator *a)
{
    PyMem_GetAllocator(a->domain, &a->inner);
    PyMemAllocatorEx wrapper = {a, inject_malloc, inject_calloc,
                                inject_realloc, inject_free};
    PyMem_SetAllocator(a->domain, &wrapper);
}

int
_PySandbox_InjectFailures(PyInterpreterState *interp, Py_ssize_t start,
                          Py_ssize_t count)
{
    if (_PySandbox_CheckTrusted("_sandbox._fail_allocations") < 0) {
        return -1;
    }
    if (interp->sandbox == NULL) {
        PyErr_SetString(PyExc_ValueError, "not an untrusted interpreter");
        return -1;
    }
    if (!installed) {
        /* Every interpreter's allocations go through the wrappers from
           now on: blocks allocated before are freed by the allocator
           they wrap. */
        install_injection(&inject_mem);
        install_injection(&inject_obj);
        installed = 1;
    }
    struct _PySandboxHeap *heap = &interp->sandbox->heap;
    heap->inject_seen = 0;
    heap->inject_count = count;
    heap->inject_start = start;
    return 0;
}

Py_ssize_t
_PySandbox_InjectedSeen(PyInterpreterState *interp)
{
    return interp->sandbox != NULL ? interp->sandbox->heap.inject_seen : -1;
}
#endif  /* Py_DEBUG */


/* The public C API (Include/cpython/sandbox.h) */

/* What a cap or a group's budget may be: 16 MiB to 1 TiB, and at most
 * what the host has (*field* is named in the PolicyError). */
static int
check_size(const char *field, Py_ssize_t bytes)
{
    if (bytes < SANDBOX_MIN_MEMORY || bytes > SANDBOX_MAX_MEMORY) {
        return _PySandboxPolicy_ErrorInt(field, bytes,
                                         "out of range (16MiB to 1TiB)");
    }
    Py_ssize_t available = _PySandbox_MemoryAvailable();
    if (bytes > available) {
        char reason[96];
        PyOS_snprintf(reason, sizeof(reason), "more than this host can give "
                      "(%zd bytes)", available);
        return _PySandboxPolicy_ErrorInt(field, bytes, reason);
    }
    return 0;
}

int
PySandboxPolicy_SetMemoryCap(PySandboxPolicy *policy, Py_ssize_t bytes)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetMemoryCap: policy is NULL");
        return -1;
    }
    if (check_size("memory", bytes) < 0) {
        return -1;
    }
    policy->memory = bytes;
    return 0;
}

PySandboxMemoryGroup *
PySandbox_NewMemoryGroup(Py_ssize_t bytes)
{
    if (_PySandbox_CheckTrusted("PySandbox_NewMemoryGroup") < 0
        || check_size("memory_budget", bytes) < 0)
    {
        return NULL;
    }
    PySandboxMemoryGroup *group = PyMem_RawCalloc(1, sizeof(*group));
    if (group == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    group->account.refs = 1;
    group->account.cap = bytes;
    group->account.group = 1;
    return group;
}

void
PySandbox_FreeMemoryGroup(PySandboxMemoryGroup *group)
{
    if (group != NULL) {
        account_decref(&group->account);
    }
}

void
PySandbox_GetMemoryGroupUsage(PySandboxMemoryGroup *group, Py_ssize_t *used,
                              Py_ssize_t *budget)
{
    if (group == NULL) {
        if (used != NULL) {
            *used = 0;
        }
        if (budget != NULL) {
            *budget = 0;
        }
        return;
    }
    if (used != NULL) {
        *used = _Py_atomic_load_ssize_relaxed(&group->account.used);
    }
    if (budget != NULL) {
        *budget = group->account.cap;
    }
}

int
PySandboxPolicy_SetMemoryGroup(PySandboxPolicy *policy,
                               PySandboxMemoryGroup *group)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetMemoryGroup: policy is NULL");
        return -1;
    }
    if (group != NULL) {
        _Py_atomic_add_ssize(&group->account.refs, 1);
    }
    PySandboxMemoryGroup *old = policy->group;
    policy->group = group;
    PySandbox_FreeMemoryGroup(old);
    return 0;
}

int
PySandbox_SetMemoryBudget(Py_ssize_t bytes)
{
    if (_PySandbox_CheckTrusted("PySandbox_SetMemoryBudget") < 0) {
        return -1;
    }
    if (bytes < 0) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandbox_SetMemoryBudget: a negative budget");
        return -1;
    }
    _Py_atomic_store_ssize_relaxed(&total_budget,
                                   bytes == 0 ? PY_SSIZE_T_MAX : bytes);
    return 0;
}

int
PySandbox_GetMemoryUsage(PyInterpreterState *interp, Py_ssize_t *used,
                         Py_ssize_t *cap, Py_ssize_t *peak)
{
    struct _PySandboxState *state =
        _PySandbox_ReadableState(interp, "PySandbox_GetMemoryUsage");
    if (state == NULL) {
        return -1;
    }
    Py_ssize_t u, c;
    _PySandbox_HeapUsage(&state->heap, &u, &c);
    if (used != NULL) {
        *used = u;
    }
    if (cap != NULL) {
        *cap = c;
    }
    if (peak != NULL) {
        *peak = _PySandbox_HeapPeak(&state->heap, 0);
    }
    return 0;
}

int
PySandbox_MemoryAlloc(Py_ssize_t bytes)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (interp->sandbox == NULL || bytes <= 0) {
        return 0;
    }
    if (_PySandbox_HeapCharge(&interp->sandbox->heap, bytes, 1) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

void
PySandbox_MemoryFree(Py_ssize_t bytes)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (interp->sandbox != NULL && bytes > 0) {
        _PySandbox_HeapUncharge(&interp->sandbox->heap, bytes);
    }
}

#endif  /* Py_UNTRUSTED */
