/* Untrusted interpreters: the hooks that upstream files call.
 *
 * Each hook is a static inline function or a macro.  Without Py_UNTRUSTED
 * (configure --with-untrusted) it compiles to a constant, so the flag costs
 * nothing when off; with it, the trusted fast path is one predictable branch
 * on PyInterpreterState.sandbox.  The engine behind the hooks is
 * Python/sandbox*.c (Doc/sandbox/internals.rst); the public C API is
 * Include/cpython/sandbox.h.
 */
#ifndef Py_INTERNAL_SANDBOX_H
#define Py_INTERNAL_SANDBOX_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

#include "pycore_initconfig.h"    // PyStatus
#include "pycore_interp.h"        // PyInterpreterState.sandbox
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_pyatomic_ft_wrappers.h"  // FT_ATOMIC_LOAD_INT_RELAXED()

/* The eval-breaker bit of the engine (DESIGN: "Decisions fixed now"); the
 * bits 0-6 are upstream's.  Set on a thread state of an untrusted
 * interpreter, it makes the evaluator call _PySandbox_HandlePending() at
 * the next check: the entry of every Python function, and loops.  Never
 * set without Py_UNTRUSTED. */
#define _PY_SANDBOX_BIT (1U << 7)

struct msghdr;
struct _PySandboxPolicy;

/* What a file operation needs (_PySandbox_ResolvePath()): PySandbox_READ
 * or PySandbox_WRITE, with: */
#define _PySandbox_PATH_NOFOLLOW 4  /* acts on the entry itself: a final
                                       symbolic link is not followed */
#define _PySandbox_PATH_DEVICE   8  /* makes a device node: denied */

/* Each hook is written once.  For one that the engine implements in
 * Python/sandbox*.c, _PySandbox_HOOK(TYPE, NAME, (PARAMETERS), OFF)
 * declares it with Py_UNTRUSTED, and without defines it as a static
 * inline function that returns OFF (which may name a parameter);
 * _PySandbox_VOID_HOOK(NAME, (PARAMETERS)) does nothing without.  The
 * static inline hooks test the flag inside. */
#ifdef Py_UNTRUSTED
#  define _PySandbox_HOOK(TYPE, NAME, PARAMS, OFF) extern TYPE NAME PARAMS;
#  define _PySandbox_VOID_HOOK(NAME, PARAMS) extern void NAME PARAMS;
#else
#  define _PySandbox_HOOK(TYPE, NAME, PARAMS, OFF) \
       static inline TYPE NAME PARAMS { return OFF; }
#  define _PySandbox_VOID_HOOK(NAME, PARAMS) static inline void NAME PARAMS {}
#endif

#ifdef Py_UNTRUSTED

/* The engine, behind the hooks (Python/sandbox*.c). */

/* The policy and the counters of one untrusted interpreter; NULL in a
 * trusted one.  Defined in pycore_sandbox_state.h. */
struct _PySandboxState;

/* Has the process created an untrusted interpreter?  Set once, before
 * its first one has a thread state, and never cleared.  Until then, a
 * hook in the way of trusted code (the checks of the C stack, of file
 * descriptors, of sockets) is one load of it and a branch: the thread
 * state is not read.  Exported: shared modules (_socket) read it too. */
PyAPI_DATA(int) _PySandbox_Created;

/* Is the current interpreter untrusted?  (Trusted code pays the load of
 * _PySandbox_Created, and once untrusted interpreters exist, that of its
 * interpreter's state.) */
static inline int
_PySandbox_AnyUntrusted(void)
{
    /* A plain load with the GIL (as CPython reads its runtime flags), which
       the compiler folds into the compare; it happens after the store in
       any thread of an untrusted interpreter (created after it). */
    return FT_ATOMIC_LOAD_INT_RELAXED(_PySandbox_Created);
}
/* The engine's side of a hook in trusted code's way: called only once
 * an untrusted interpreter exists, so the compiler may lay it out of the
 * hot path (and keep inlining the function around the hook). */
#if defined(__GNUC__) || defined(__clang__)
#  define _PySandbox_COLD __attribute__((cold))
#  define _PySandbox_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#  define _PySandbox_COLD
#  define _PySandbox_UNLIKELY(x) (x)
#endif
#define _PySandbox_CURRENT_UNTRUSTED() \
    (_PySandbox_AnyUntrusted() && _PyInterpreterState_GET()->sandbox != NULL)

/* Py_NewInterpreterFromConfig() of an untrusted interpreter limited by
 * *policy* (Python/pylifecycle.c; PySandbox_NewInterpreter() calls it).
 * The policy does not travel in PyInterpreterConfig, which stays stock
 * 3.13's: an extension or embedder compiled against stock headers passes
 * the stock struct to this build. */
extern PyStatus _PySandbox_NewInterpreterFromConfig(
    PyThreadState **tstate_p, const PyInterpreterConfig *config,
    const struct _PySandboxPolicy *policy);

/* May the current interpreter load the extension module *name* (a str),
 * built in or shared?  The same return and error (create_builtin()). */
PyAPI_FUNC(int) _PySandbox_CheckModuleSlow(PyObject *name);

/* _imp._sandbox_code(source_path) (Python/sandbox_bytecode.c): in an
 * untrusted interpreter, the code object of a source file of the standard
 * library from the host's bytecode cache, or None to compile the source;
 * None in a trusted interpreter. */
PyAPI_FUNC(PyObject *) _PySandbox_TrustedCode(PyObject *module,
                                              PyObject *path);

/* Is untrusted *interp* ending (Py_EndInterpreter() began)? */
extern int _PySandbox_IsEnding(PyInterpreterState *interp);

/* Is untrusted *interp* stopped: its end began, or its creator's? */
extern int _PySandbox_IsStopped(PyInterpreterState *interp);

/* PyErr_CheckSignals() (Modules/signalmodule.c): C code that polls for
 * signals polls for an untrusted interpreter's stop and its job's time
 * limit too (Python/sandbox_time.c).  -1 with SandboxLimitExceeded set,
 * else 0.  The engine's eval-breaker bit is set before either happens, so
 * the test is one load and a branch, never taken in a trusted
 * interpreter.  Exported: shared modules reach it through
 * _Py_EnterRecursiveCall() (pycore_sandbox_stack.h). */
PyAPI_FUNC(int) _PySandbox_CheckStopSlow(PyThreadState *tstate);
static inline int
_PySandbox_CheckStop(PyThreadState *tstate)
{
    if (_PySandbox_AnyUntrusted() && tstate != NULL
        && (_Py_atomic_load_uintptr_relaxed(&tstate->eval_breaker)
            & _PY_SANDBOX_BIT))
    {
        return _PySandbox_CheckStopSlow(tstate);
    }
    return 0;
}

/* Deny the current (untrusted) interpreter *resource*: log it with its
 * full *detail* and the Python code's location, and set a generic
 * SandboxError (EACCES).  Return -1.  The one way every check denies. */
extern int _PySandbox_Deny(const char *resource, const char *detail);

/* Is *child* an untrusted interpreter that untrusted *parent* created?
 * Exported: shared modules (_interpreters) reach it through the hooks. */
PyAPI_FUNC(int) _PySandbox_IsChild(PyInterpreterState *parent,
                                   PyInterpreterState *child);

/* The policy of *interp*, or NULL for a trusted interpreter. */
extern const PySandboxPolicy *_PySandbox_GetPolicy(PyInterpreterState *interp);

/* The descriptor table: an untrusted interpreter may use only the file
 * descriptors it created (Python/sandbox_fd.c).  Numbers from this bound up
 * cannot be owned: such a descriptor is closed and EMFILE raised. */
#define _PySandbox_MAX_FD 65536
PyAPI_FUNC(int) _PySandbox_CheckFdSlow(int fd, const char *func);
PyAPI_FUNC(int) _PySandbox_CheckFdTargetSlow(int fd, const char *func);
PyAPI_FUNC(int) _PySandbox_CheckFdUnusedSlow(int fd, const char *func);
PyAPI_FUNC(void) _PySandbox_FdUsedSlow(int fd);
PyAPI_FUNC(int) _PySandbox_OwnFdSlow(int fd);
PyAPI_FUNC(int) _PySandbox_ReleaseFdSlow(int fd, const char *func);
PyAPI_FUNC(int) _PySandbox_OwnFdPairSlow(int fds[2]);
PyAPI_FUNC(int) _PySandbox_ForgetFdSlow(int fd);
/* Record the descriptors a message received (SCM_RIGHTS) as the current
 * untrusted interpreter's (recvmsg()). */
PyAPI_FUNC(void) _PySandbox_OwnReceivedFdsSlow(const struct msghdr *msg);
PyAPI_FUNC(int) _PySandbox_CheckFdArraySlow(const void *data, Py_ssize_t count,
                                            const char *func);
/* Descriptors in flight (Python/sandbox_fd.c): see _PySandbox_FdInFlight().
 * These two touch only the calling thread's slots: no GIL needed. */
PyAPI_FUNC(void) _PySandbox_FdInFlightSlow(int fd);
PyAPI_FUNC(void) _PySandbox_FdLandedSlow(int fd);
/* A descriptor an object of the current untrusted interpreter holds (a
 * directory stream's, os.scandir()), and its release. */
PyAPI_FUNC(int) _PySandbox_HoldFdSlow(int fd);
PyAPI_FUNC(int) _PySandbox_ReleaseHeldFdSlow(int fd);

/* sys.setrecursionlimit(*new_limit*) and sys.set_int_max_str_digits()
 * in an untrusted interpreter (Python/sysmodule.c): return 0, or -1 with
 * the denial logged if the new value is above its policy's (0 digits is
 * no limit at all). */
extern int _PySandbox_CheckRecursionLimitSlow(int new_limit);
extern int _PySandbox_CheckIntMaxStrDigitsSlow(int maxdigits);

/* Files (Python/sandbox_files.c).  *how* is PySandbox_READ or
 * PySandbox_WRITE, with: */

/* code.replace() (and __replace__()) with these values, the unchanged
 * ones being the code object's own (NULL for co_code, co_varnames,
 * co_freevars and co_cellvars): in an untrusted interpreter, only its
 * names, file name, first line number and the CO_ITERABLE_COROUTINE flag
 * (types.coroutine(), which asyncio uses) may change; anything the
 * evaluator trusts is denied (_PySandbox_CheckBytecode()).  0 or -1. */
extern int _PySandbox_CheckCodeReplaceSlow(
    PyCodeObject *self, int argcount, int posonlyargcount,
    int kwonlyargcount, int nlocals, int stacksize, int flags,
    PyObject *code, PyObject *consts, PyObject *names, PyObject *varnames,
    PyObject *freevars, PyObject *cellvars, PyObject *linetable,
    PyObject *exceptiontable);

/* The smallest stack an untrusted interpreter's threads get: the C
 * recursion limit is a count of calls, not a measure of the stack, so a
 * small stack would let deep recursion overflow it. */
#define _PySandbox_MIN_THREAD_STACK ((Py_ssize_t)8 * 1024 * 1024)

/* A blocking wait (time.sleep()) of the current interpreter: its
 * *timeout* (ns) cut to what is left of its job's time; and after the
 * wait, -1 with SandboxLimitExceeded set if the job's deadline has passed
 * (Python/sandbox_time.c).  One branch for a trusted interpreter. */
extern PyTime_t _PySandbox_CapWaitSlow(PyInterpreterState *interp,
                                       PyTime_t timeout);
extern int _PySandbox_WaitExpiredSlow(PyInterpreterState *interp);
static inline PyTime_t
_PySandbox_CapWait(PyTime_t timeout)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    return (interp->sandbox == NULL ? timeout
            : _PySandbox_CapWaitSlow(interp, timeout));
}
static inline int
_PySandbox_WaitExpired(void)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    return (interp->sandbox == NULL ? 0
            : _PySandbox_WaitExpiredSlow(interp));
}
/* The same for a lock's wait, whose *timeout* is negative for ever. */
static inline PyTime_t
_PySandbox_CapLockWait(PyTime_t timeout)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (interp->sandbox == NULL) {
        return timeout;
    }
    PyTime_t capped = _PySandbox_CapWaitSlow(interp, PyTime_MAX);
    return (capped == PyTime_MAX ? timeout
            : timeout < 0 || timeout > capped ? capped : timeout);
}

#else   /* !Py_UNTRUSTED */

static inline int
_PySandbox_CheckStop(PyThreadState *Py_UNUSED(tstate))
{
    return 0;
}

static inline PyTime_t
_PySandbox_CapWait(PyTime_t timeout)
{
    return timeout;
}

static inline int
_PySandbox_WaitExpired(void)
{
    return 0;
}

static inline PyTime_t
_PySandbox_CapLockWait(PyTime_t timeout)
{
    return timeout;
}

#endif  /* Py_UNTRUSTED */

/* A C loop that untrusted code can make unbounded and that polls nothing
 * else (the next item of an infinite or huge iterator, a step of a big
 * multiplication or power, a run of list.sort()): -1 with
 * SandboxLimitExceeded set once the current interpreter stops (its job's
 * time is up, or its end began), else 0.  A thread-local load, a load and
 * a branch never taken in a trusted interpreter; nothing without the
 * flag. */
static inline int
_PySandbox_PollStop(void)
{
    return _PySandbox_CheckStop(_PyThreadState_GET());
}

/* The same test for C code that cannot raise where it polls (libmpdec's
 * allocator, patch 0190): whether the current interpreter stops, with no
 * exception set. */
PyAPI_FUNC(int) _PySandbox_StopPendingSlow(PyThreadState *tstate);
static inline int
_PySandbox_StopPending(void)
{
#ifdef Py_UNTRUSTED
    PyThreadState *tstate = _PyThreadState_GET();
    return (tstate != NULL
            && (_Py_atomic_load_uintptr_relaxed(&tstate->eval_breaker)
                & _PY_SANDBOX_BIT)
            && _PySandbox_StopPendingSlow(tstate));
#else
    return 0;
#endif
}

#define _PySandbox_CHECK_STOP(error_return) \
    do { \
        if (_PySandbox_PollStop() < 0) { \
            return error_return; \
        } \
    } while (0)


/* The hooks that upstream files call. */

/* Create and destroy the static exception types SandboxError and
 * SandboxLimitExceeded, in every interpreter (pycore_init_types()). */
_PySandbox_HOOK(PyStatus, _PySandbox_InitTypes, (PyInterpreterState *interp),
                _PyStatus_OK())
_PySandbox_VOID_HOOK(_PySandbox_FiniTypes, (PyInterpreterState *interp))

/* Make *interp* untrusted if *policy* is not NULL: check that *config*
 * isolates it, copy the policy, and rewrite the PyConfig it copied from
 * its creator (no site, stdlib-only sys.path, no .pyc), all before it runs
 * any Python (init_interp_settings()). */
_PySandbox_HOOK(PyStatus, _PySandbox_InitInterpreter,
    (PyInterpreterState *interp, const PyInterpreterConfig *config,
     const struct _PySandboxPolicy *policy),
    _PyStatus_OK())

/* Refuse, with the denial logged, when the current interpreter is
 * untrusted: it creates no interpreter, trusted or not (new_interpreter(),
 * before anything is made).  The engine creates untrusted interpreters
 * with no current thread state. */
_PySandbox_HOOK(PyStatus, _PySandbox_CheckCreator, (void), _PyStatus_OK())

/* Free the state of an untrusted interpreter (PyInterpreterState_Delete()). */
_PySandbox_VOID_HOOK(_PySandbox_ClearInterpreter, (PyInterpreterState *interp))

/* The engine's part of _Py_HandlePending(): return 0, or -1 with an
 * exception set to stop the Python code running in *tstate*. */
_PySandbox_HOOK(int, _PySandbox_HandlePending, (PyThreadState *tstate), 0)

/* From now on no Python code runs in *interp* if it is an untrusted
 * interpreter that is ending (Py_EndInterpreter(); again after
 * interpreter_clear() resets the eval breaker) on *tstate*, its thread
 * state: every Python function (a __del__, a weakref callback, an audit
 * hook, ...) raises SandboxLimitExceeded before its first instruction.
 * Does nothing for a trusted interpreter or another interpreter's thread
 * state. */
_PySandbox_VOID_HOOK(_PySandbox_StopPython,
    (PyInterpreterState *interp, PyThreadState *tstate))

/* The host finalizes, after its atexit functions and again in
 * finalize_subinterpreters(): the ends of lost interpreters that runners
 * began finish first, and no runner begins one any more; an untrusted
 * interpreter whose job the host gave up on, still inside on a runner
 * thread, is abandoned with it instead of ended under it; the ends of all
 * untrusted interpreters wait for their threads one grace period from the
 * first call, not one each. */
_PySandbox_VOID_HOOK(_PySandbox_HostExits, (void))

/* Without filesystem_info, make sys.path, the prefixes and _stdlib_dir
 * of *tstate*'s untrusted interpreter name its virtual layout
 * (Doc/sandbox/information.rst) before its first import from a file. */
_PySandbox_HOOK(PyStatus, _PySandbox_InitLayout, (PyThreadState *tstate),
                _PyStatus_OK())

/* May the shared-library extension module *name*, from *filename* (or
 * NULL), be loaded (_imp.create_dynamic())?  Its name must be allowed,
 * and the file its own: <a standard-library directory>/<name><suffix>.
 * *filename* is where the interpreter sees the file; *encoded* (a new
 * reference, replaced) becomes the host's path of it, which the loader
 * opens.  Return 0, or -1 with the denial logged and the
 * ModuleNotFoundError of a module that does not exist set. */
_PySandbox_HOOK(int, _PySandbox_CheckExtension,
    (PyObject *name, PyObject *filename, PyObject **encoded),
    0)

/* May untrusted (or trusted: 1) *interp* load the extension module *name*?
 * No error set (_imp.is_builtin(), sys.builtin_module_names). */
_PySandbox_HOOK(int, _PySandbox_ModuleAllowed,
    (PyInterpreterState *interp, const char *name),
    1)

/* A thread of an untrusted interpreter starts (ThreadHandle_start()):
 * return 0, or -1 with the denial logged and SandboxError set when its
 * policy's count of threads is reached or it is ending.  And ends
 * (thread_run(), with its thread state current). */
_PySandbox_HOOK(int, _PySandbox_ThreadStart, (PyInterpreterState *interp), 0)
_PySandbox_VOID_HOOK(_PySandbox_ThreadEnd, (PyInterpreterState *interp))
extern void _PySandbox_BindThreadSlow(PyThreadState *tstate);

/* The memory cap (Python/sandbox_memory.c).  An untrusted interpreter's
 * object allocator state points at its heap (_PySandbox_BindHeap(), from
 * _PyMem_init_obmalloc()).  obmalloc charges each arena to the heap before
 * it maps it and gives it back after it unmaps it, and hands the blocks it
 * does not keep in arenas (over 512 bytes) to the heap instead of the raw
 * allocator; an interpreter's end frees those still allocated. */
struct _PySandboxHeap;
#ifdef Py_UNTRUSTED
#  define _PySandbox_OBMALLOC_HEAP(state) ((state)->sandbox)
#else
#  define _PySandbox_OBMALLOC_HEAP(state) ((struct _PySandboxHeap *)NULL)
#endif
/* Measurements only: whether interpreters created from now on count
 * their objects (default 1).  Return the previous setting, or -1 with an
 * exception in an untrusted interpreter. */
extern int _PySandbox_CountObjects(int on);
_PySandbox_VOID_HOOK(_PySandbox_BindHeap, (PyInterpreterState *interp))
_PySandbox_HOOK(int, _PySandbox_ChargeArena,
    (struct _PySandboxHeap *heap, size_t size),
    0)
_PySandbox_VOID_HOOK(_PySandbox_UnchargeArena,
    (struct _PySandboxHeap *heap, size_t size))
_PySandbox_HOOK(void *, _PySandbox_HeapMalloc,
    (struct _PySandboxHeap *heap, size_t size),
    NULL)
_PySandbox_HOOK(void *, _PySandbox_HeapCalloc,
    (struct _PySandboxHeap *heap, size_t nelem, size_t elsize),
    NULL)
_PySandbox_HOOK(void *, _PySandbox_HeapRealloc,
    (struct _PySandboxHeap *heap, void *ptr, size_t size),
    NULL)
_PySandbox_VOID_HOOK(_PySandbox_HeapFree,
    (struct _PySandboxHeap *heap, void *ptr))
_PySandbox_VOID_HOOK(_PySandbox_FreeHeapBlocks, (PyInterpreterState *interp))

/* A chunk of *size* bytes of a thread's evaluation stack (push_chunk() in
 * Python/pystate.c): return 0, or -1 (the chunk is not allocated) if it
 * would take its untrusted interpreter beyond its cap; and its release. */
#ifdef Py_UNTRUSTED
extern int _PySandbox_ChargeChunkSlow(PyThreadState *tstate, size_t size);
extern void _PySandbox_UnchargeChunkSlow(PyThreadState *tstate,
                                         size_t size);
#endif
static inline int
_PySandbox_ChargeChunk(PyThreadState *tstate, size_t size)
{
#ifdef Py_UNTRUSTED
    if (tstate->interp->sandbox != NULL) {
        return _PySandbox_ChargeChunkSlow(tstate, size);
    }
#endif
    return 0;
}
static inline void
_PySandbox_UnchargeChunk(PyThreadState *tstate, size_t size)
{
#ifdef Py_UNTRUSTED
    if (tstate->interp->sandbox != NULL) {
        _PySandbox_UnchargeChunkSlow(tstate, size);
    }
#endif
}

/* The allocator callbacks of zlib, bz2 and lzma: the stream's opaque
 * pointer is _PySandbox_ForeignHeap() when the stream is made (NULL in a
 * trusted interpreter), and the callbacks charge what the library
 * allocates to that heap.  They run with or without the GIL. */
#ifdef Py_UNTRUSTED
PyAPI_FUNC(void *) _PySandbox_ForeignHeap(void);
PyAPI_FUNC(void *) _PySandbox_ForeignAlloc(void *heap, size_t nelem,
                                           size_t elsize);
PyAPI_FUNC(void) _PySandbox_ForeignFree(void *heap, void *ptr);
#else
static inline void *_PySandbox_ForeignHeap(void) { return NULL; }
static inline void *
_PySandbox_ForeignAlloc(void *Py_UNUSED(heap), size_t nelem, size_t elsize)
{
    return PyMem_RawMalloc(nelem * elsize);
}
static inline void
_PySandbox_ForeignFree(void *Py_UNUSED(heap), void *ptr)
{
    PyMem_RawFree(ptr);
}
#endif

/* An object whose library allocates its state with malloc() and gives no
 * allocator hook (OpenSSL behind _hashlib, HACL* behind _md5, _sha1,
 * _sha2 and _sha3): charge the current untrusted interpreter's memory cap
 * an estimate of that state, at least what the library allocates, before
 * the object is made (0, or -1 with MemoryError set), and give it back
 * when the object is freed.  Nothing in a trusted interpreter. */
#define _PySandbox_HASH_STATE ((Py_ssize_t)1024)    /* an EVP_MD_CTX */
#define _PySandbox_HMAC_STATE ((Py_ssize_t)2048)    /* an HMAC_CTX */
#define _PySandbox_HACL_STATE ((Py_ssize_t)512)     /* a HACL* state */
#ifdef Py_UNTRUSTED
#  define _PySandbox_ChargeForeignObject(size) PySandbox_MemoryAlloc(size)
#  define _PySandbox_UnchargeForeignObject(size) PySandbox_MemoryFree(size)
#else
#  define _PySandbox_ChargeForeignObject(size) 0
#  define _PySandbox_UnchargeForeignObject(size) ((void)0)
#endif

/* The threads of an ending untrusted interpreter other than *tstate*,
 * its last (Py_EndInterpreter()): stop their Python, give them a grace
 * period to end, and return 0 when *tstate* is the only one left.  If some
 * are still there (blocked outside Python), take the interpreter out of
 * the runtime, leaving its memory to them, detach *tstate* (it stays with
 * the interpreter) and return 1: the caller must return at once.  Return
 * 0 at once for a trusted interpreter. */
_PySandbox_HOOK(int, _PySandbox_EndThreads, (PyThreadState *tstate), 0)

/* Make sys.std* of an untrusted interpreter C buffers the host reads, and
 * hide the host's executable from its sys (init_sys_streams(), the last
 * step that writes to sys). */
_PySandbox_HOOK(PyStatus, _PySandbox_InitStdio, (PyThreadState *tstate),
                _PyStatus_OK())

/* Put the variables of its policy, with the values its creator had, into
 * *environ*, the bytes-to-bytes dict of os.environ that the current
 * (untrusted) interpreter starts with (convertenviron()).  Return 0, or
 * -1 with an exception set. */
_PySandbox_HOOK(int, _PySandbox_FillEnviron, (PyObject *environ), 0)

/* Close the descriptors that the current, untrusted, interpreter owns in
 * [low, high) (os.closerange()), and only those.  Return 0. */
_PySandbox_HOOK(int, _PySandbox_CloseFdRange, (int low, int high), 0)

/* Before the system call of *func* on *path* (relative to *dir_fd*, or
 * given as descriptor *fd* when it is not -1) in an untrusted interpreter:
 * resolve it beneath a grant for *how*, and make *path* a name of the very
 * file (or directory entry) resolved, which *keep* (the object that the
 * caller releases after the call, replaced) keeps alive.  Return 0, or -1
 * with the denial logged and SandboxError set (outside every grant,
 * leaving one), or OSError naming *display* (no such directory...). */
PyAPI_FUNC(int) _PySandbox_ResolvePathSlow(const char **path, int fd,
                                           int dir_fd, int how,
                                           PyObject *display,
                                           const char *func,
                                           PyObject **keep);
/* The same for open(*path*, **flags*): reading or writing by the flags;
 * may add O_NOFOLLOW to them. */
PyAPI_FUNC(int) _PySandbox_ResolveOpenSlow(const char **path, int dir_fd,
                                           int *flags, PyObject *display,
                                           PyObject **keep);
/* Own *fd*, opened by a path resolved into *keep*: read-only if its grant
 * is.  And own *newfd*, a copy of *oldfd*.  As _PySandbox_OwnFd(). */
PyAPI_FUNC(int) _PySandbox_OwnOpenedFdSlow(int fd, PyObject *keep);
PyAPI_FUNC(int) _PySandbox_OwnDupFdSlow(int newfd, int oldfd);
/* A mode to give a file (chmod, fchmod, open with O_CREAT, mknod): not
 * set-user or set-group ID, which would make a program the host's user
 * may run with its rights.  0, or -1 with the denial logged. */
PyAPI_FUNC(int) _PySandbox_CheckModeSlow(int mode, const char *func);
/* An extended attribute to set or remove (os.setxattr, os.removexattr):
 * only the "user." ones; security.capability gives a program the host's
 * capabilities, trusted.* and system.* are the system's.  0, or -1 with
 * the denial logged. */
PyAPI_FUNC(int) _PySandbox_CheckXattrSlow(const char *name,
                                          const char *func);
/* As _PySandbox_CheckFd(), and not a read-only grant's (fchmod()...). */
PyAPI_FUNC(int) _PySandbox_CheckFdWriteSlow(int fd, const char *func);
/* os.getcwd() and os.chdir() of an untrusted interpreter: its virtual
 * working directory. */
_PySandbox_HOOK(PyObject *, _PySandbox_GetCwd, (int use_bytes), NULL)
_PySandbox_HOOK(PyObject *, _PySandbox_Chdir,
    (const char *path, int fd, PyObject *display),
    NULL)

/* A file that C code opens by *path* outside io and os (_Py_fopen_obj(),
 * whose callers read a SyntaxError's source line, a certificate): refused
 * in an untrusted interpreter, whose files are opened beneath its grants
 * alone.  0, or -1 with the denial logged. */
_PySandbox_HOOK(int, _PySandbox_CheckOpenByNameSlow, (const char *path), 0)
static inline int
_PySandbox_CheckOpenByName(const char *path)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_CheckOpenByNameSlow(path);
    }
#endif
    (void)path;
    return 0;
}

/* Return 1 if *interp* is an untrusted interpreter, else 0.
 *
 * Untrusted for its whole life: the mark is set when the interpreter is
 * created and never changes.  It is the value of the __restricted__
 * builtin. */
static inline int
_PySandbox_IsUntrusted(PyInterpreterState *interp)
{
#ifdef Py_UNTRUSTED
    return interp->sandbox != NULL;
#else
    return 0;
#endif
}

/* May the current interpreter use file descriptor *fd* in *func* (a name
 * for the denial log, or NULL)?  Return 0, or -1 with the denial logged
 * and SandboxError set when it is untrusted and does not own *fd*.  Called
 * before every system call on a descriptor that Python code gave, or that
 * an object kept (it may have been closed behind the object's back). */
static inline int
_PySandbox_CheckFd(int fd, const char *func)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckFdSlow(fd, func);
#else
    return 0;
#endif
}

/* The call that checked *fd* with _PySandbox_CheckFd() has made its last
 * system call on it (called whether that call failed or not, and on the
 * error paths between the check and the system call where the call can).
 * Until then, no code of an untrusted interpreter's may close the number
 * or replace its file: neither code the call runs (an argument's
 * conversion) nor another thread (while the call waits in the system
 * call).  A check whose call does not end it lapses when the Python frame
 * that made the call moves on (Python/sandbox_fd.c, "Uses"). */
static inline void
_PySandbox_FdUsed(int fd)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_FdUsedSlow(fd);
    }
#endif
    (void)fd;
}

/* As _PySandbox_CheckFd(), for the number whose file a call replaces
 * (os.dup2()'s second): refused while a call uses it.  The caller ends
 * its use as well, unless it is the same number as the call's first. */
static inline int
_PySandbox_CheckFdTarget(int fd, const char *func)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_CheckFdTargetSlow(fd, func);
    }
#endif
    (void)fd;
    (void)func;
    return 0;
}

/* An object is about to let go of *fd* without closing it (a socket's
 * detach(), a file or socket initialized again): refused (-1, denied)
 * while a call uses the number, which may read it from the object again
 * with the GIL let go; else 0. */
static inline int
_PySandbox_CheckFdUnused(int fd, const char *func)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_CheckFdUnusedSlow(fd, func);
    }
#endif
    (void)fd;
    (void)func;
    return 0;
}

/* frame.f_lineno = N (a jump, from a trace function): 0, or -1 denied in
 * an untrusted interpreter (Python/sandbox_sys.c). */
#ifdef Py_UNTRUSTED
PyAPI_FUNC(int) _PySandbox_CheckFrameJumpSlow(void);
#endif
static inline int
_PySandbox_CheckFrameJump(void)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_CheckFrameJumpSlow();
    }
#endif
    return 0;
}

/* The current interpreter has just created descriptor *fd* (ignored if
 * negative): an untrusted one now owns it.  Return *fd*, or -1 with an
 * exception set and *fd* closed if it cannot be recorded. */
static inline int
_PySandbox_OwnFd(int fd)
{
#ifdef Py_UNTRUSTED
    if (fd < 0 || !_PySandbox_CURRENT_UNTRUSTED()) {
        return fd;
    }
    return _PySandbox_OwnFdSlow(fd);
#else
    return fd;
#endif
}

/* The same for the two descriptors of a pipe, a pty or a socket pair: 0,
 * or -1 with an exception set and both closed. */
static inline int
_PySandbox_OwnFdPair(int fds[2])
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_OwnFdPairSlow(fds);
#else
    return 0;
#endif
}

/* Check the *count* descriptors (ints, possibly unaligned) at *data*, as
 * _PySandbox_CheckFd() does: those a message passes (SCM_RIGHTS). */
static inline int
_PySandbox_CheckFdArray(const void *data, Py_ssize_t count, const char *func)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckFdArraySlow(data, count, func);
#else
    return 0;
#endif
}

static inline void
_PySandbox_OwnReceivedFds(const struct msghdr *msg)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_OwnReceivedFdsSlow(msg);
    }
#endif
}

/* Forget *fd* without a check: a descriptor recorded, to be closed on an
 * error path.  Return whether the caller closes it: not if the end of an
 * abandoned untrusted interpreter closed it meanwhile (its number may be
 * the host's again). */
static inline int
_PySandbox_ForgetFd(int fd)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_ForgetFdSlow(fd);
    }
#endif
    return 1;
}

/* Descriptor *fd* (ignored if negative) was just made by a system call
 * with the GIL let go: *save* is the thread state that let it go
 * (Py_BEGIN_ALLOW_THREADS's _save).  In an untrusted interpreter, it is in
 * flight until it is recorded (the _PySandbox_Own*() hooks and
 * _PySandbox_HoldFd() land it) or landed to be closed
 * (_PySandbox_FdLanded()): a thread of an abandoned untrusted interpreter
 * exits when it takes its GIL back, and then closes those it has in flight
 * rather than leave them open in the host.  To be called before the GIL is
 * taken back: nothing else of the thread state is read. */
static inline void
_PySandbox_FdInFlight(PyThreadState *save, int fd)
{
#ifdef Py_UNTRUSTED
    if (fd >= 0 && save->interp->sandbox != NULL) {
        _PySandbox_FdInFlightSlow(fd);
    }
#else
    (void)save;
    (void)fd;
#endif
}

/* *fd*, in flight, is about to be closed (with the GIL held, before any
 * release of it). */
static inline void
_PySandbox_FdLanded(int fd)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_FdLandedSlow(fd);
    }
#else
    (void)fd;
#endif
}

/* A call made with the GIL let go that cannot tell its interpreter (a
 * socket's callback, sock_call()): in flight in any interpreter, landed
 * by its caller once it has the GIL back. */
#ifdef Py_UNTRUSTED
#  define _PySandbox_FdInFlightAny(fd) _PySandbox_FdInFlightSlow(fd)
#  define _PySandbox_FdLandedAny(fd) _PySandbox_FdLandedSlow(fd)
#else
#  define _PySandbox_FdInFlightAny(fd) ((void)(fd))
#  define _PySandbox_FdLandedAny(fd) ((void)(fd))
#endif

/* An object of the current interpreter holds *fd* for its life (a
 * directory stream's, os.scandir()).  In an untrusted one, it lands and is
 * recorded as the engine's, so that the end of an interpreter abandoned
 * with the object never freed closes it.  Return 0, or -1 with OSError set
 * and *fd* closed (the interpreter's descriptors were closed already, or
 * the number is too high to record): the caller then drops what holds it
 * without closing it again. */
static inline int
_PySandbox_HoldFd(int fd)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_HoldFdSlow(fd);
    }
#endif
    (void)fd;
    return 0;
}

/* The object is about to close *fd*, held: return 1 if it does, 0 if it
 * must not (the end of its abandoned untrusted interpreter closed it, and
 * its number may be the host's again). */
static inline int
_PySandbox_ReleaseHeldFd(int fd)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        return _PySandbox_ReleaseHeldFdSlow(fd);
    }
#endif
    (void)fd;
    return 1;
}

/* The current interpreter is about to close descriptor *fd*: check it as
 * _PySandbox_CheckFd() does, then an untrusted one no longer owns it, so
 * that none of its threads uses the number once the host may reuse it.
 * Return 0, or -1 (do not close) with the denial logged. */
static inline int
_PySandbox_ReleaseFd(int fd, const char *func)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_ReleaseFdSlow(fd, func);
#else
    return 0;
#endif
}

static inline int
_PySandbox_ResolvePath(const char **path, int fd, int dir_fd, int how,
                       PyObject *display, const char *func, PyObject **keep)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_ResolvePathSlow(path, fd, dir_fd, how, display, func,
                                      keep);
#else
    return 0;
#endif
}

static inline int
_PySandbox_ResolveOpen(const char **path, int dir_fd, int *flags,
                       PyObject *display, PyObject **keep)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_ResolveOpenSlow(path, dir_fd, flags, display, keep);
#else
    return 0;
#endif
}

/* The path as it was given to _PySandbox_ResolvePath() (os.scandir()
 * joins its entries' paths to it). */
_PySandbox_VOID_HOOK(_PySandbox_OriginalPath,
                     (const char **path, PyObject *keep))

static inline int
_PySandbox_OwnOpenedFd(int fd, PyObject *keep)
{
#ifdef Py_UNTRUSTED
    if (fd < 0 || !_PySandbox_CURRENT_UNTRUSTED()) {
        return fd;
    }
    return _PySandbox_OwnOpenedFdSlow(fd, keep);
#else
    return fd;
#endif
}

static inline int
_PySandbox_OwnDupFd(int newfd, int oldfd)
{
#ifdef Py_UNTRUSTED
    if (newfd < 0 || !_PySandbox_CURRENT_UNTRUSTED()) {
        return newfd;
    }
    return _PySandbox_OwnDupFdSlow(newfd, oldfd);
#else
    return newfd;
#endif
}

static inline int
_PySandbox_CheckXattr(const char *name, const char *func)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckXattrSlow(name, func);
#else
    return 0;
#endif
}

static inline int
_PySandbox_CheckMode(int mode, const char *func)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckModeSlow(mode, func);
#else
    return 0;
#endif
}

static inline int
_PySandbox_CheckFdWrite(int fd, const char *func)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckFdWriteSlow(fd, func);
#else
    return 0;
#endif
}

static inline int
_PySandbox_CheckRecursionLimit(int new_limit)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckRecursionLimitSlow(new_limit);
#else
    return 0;
#endif
}

static inline int
_PySandbox_CheckIntMaxStrDigits(int maxdigits)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckIntMaxStrDigitsSlow(maxdigits);
#else
    return 0;
#endif
}

static inline int
_PySandbox_CheckModule(PyObject *name)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_CheckModuleSlow(name);
#else
    return 0;
#endif
}

/* Hostile bytecode (the 2006 design's "Hostile Bytecode"): may the current
 * interpreter make a code object from bytes its code supplies (*what*: the
 * code constructor, code.replace(), _imp.get_frozen_object() with data)?
 * Return 0, or -1 with the denial logged and SandboxError set in an
 * untrusted interpreter.  Checked at these Python entry points only: the
 * frozen modules of the binary keep loading. */
static inline int
_PySandbox_CheckBytecode(const char *what)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_CURRENT_UNTRUSTED()) {
        return 0;
    }
    return _PySandbox_Deny("bytecode", what);
#else
    return 0;
#endif
}

/* Does the evaluator skip the exception handlers of *tstate*'s frames
 * (exception_unwind in ceval.c, once a handler was found)?  Yes in an
 * untrusted interpreter that is stopped: its stop (SandboxLimitExceeded,
 * raised at each check) is not caught by an except, finally or with of
 * its code, which would run on, a C call at a time, after its end.  A
 * call, not inlined: the evaluator's hot loop stays as it was. */
_PySandbox_HOOK(int, _PySandbox_SkipHandlers, (PyThreadState *tstate), 0)

/* code.replace(): see _PySandbox_CheckCodeReplaceSlow(). */
#ifdef Py_UNTRUSTED
#  define _PySandbox_CheckCodeReplace(...) \
    (!_PySandbox_CURRENT_UNTRUSTED() \
     ? 0 : _PySandbox_CheckCodeReplaceSlow(__VA_ARGS__))
#else
#  define _PySandbox_CheckCodeReplace(...) 0
#endif

/* marshal.load() and loads() (the entry points, not the reader): the
 * allow_code the reader gets.  In an untrusted interpreter, -1 instead of
 * 1: the reader then denies a code object (_PySandbox_DenyMarshalledCode()),
 * and reads everything else. */
static inline int
_PySandbox_MarshalAllowCode(int allow_code)
{
#ifdef Py_UNTRUSTED
    if (allow_code && _PySandbox_CURRENT_UNTRUSTED()) {
        return -1;
    }
    return allow_code;
#else
    return allow_code;
#endif
}

/* Does *interp* own all that its object allocator holds, so that all of
 * its arenas can be freed when it ends, even if some blocks were never
 * freed (_PyInterpreterState_FinalizeAllocatedBlocks())?  An untrusted
 * interpreter does: nothing of its heap is shared with another interpreter
 * (the transport copies), and its leaked blocks are unreachable.  Read
 * from the feature flags, which outlive its sandbox state. */
static inline int
_PySandbox_OwnsItsHeap(PyInterpreterState *interp)
{
#ifdef Py_UNTRUSTED
    return (interp->feature_flags & Py_RTFLAGS_UNTRUSTED) != 0;
#else
    return 0;
#endif
}

/* May code running in *viewer* see the threads of *other*
 * (sys._current_frames(), sys._current_exceptions())?  An untrusted
 * interpreter sees only its own: another's frames would hand it objects
 * of another heap. */
static inline int
_PySandbox_MaySeeInterpreter(PyInterpreterState *viewer,
                             PyInterpreterState *other)
{
#ifdef Py_UNTRUSTED
    return viewer == other || !_PySandbox_IsUntrusted(viewer);
#else
    return 1;
#endif
}

/* May code running in *viewer* find *other* by its ID (and list it)?  An
 * untrusted interpreter finds itself and the untrusted interpreters it
 * created, as if no other existed. */
static inline int
_PySandbox_MayFindInterpreter(PyInterpreterState *viewer,
                              PyInterpreterState *other)
{
#ifdef Py_UNTRUSTED
    return (viewer == other || !_PySandbox_IsUntrusted(viewer)
            || _PySandbox_IsChild(viewer, other));
#else
    return 1;
#endif
}

/* The thread stack size that *interp* asked for (threading.stack_size()):
 * in an untrusted interpreter, always _PySandbox_MIN_THREAD_STACK, which
 * each of its threads is charged against its memory cap; a smaller stack
 * would let deep recursion overflow it, a larger one hold uncounted
 * memory.  0 (the platform's default) is kept elsewhere. */
static inline Py_ssize_t
_PySandbox_ThreadStackSize(PyInterpreterState *interp, Py_ssize_t size)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_IsUntrusted(interp)) {
        return _PySandbox_MIN_THREAD_STACK;
    }
    return size;
#else
    return size;
#endif
}

/* Skip the finalizer or weakref callback about to run?  Yes in an
 * untrusted interpreter that is ending: __del__, tp_finalize, a
 * generator's finally block or a callback would run its code, Python or
 * C (a lock's acquire), on the thread that ends it.  The trusted fast
 * path is one load and a branch. */
static inline int
_PySandbox_SkipFinalizers(void)
{
#ifdef Py_UNTRUSTED
    PyInterpreterState *interp = _PyInterpreterState_GET();
    return interp->sandbox != NULL && _PySandbox_IsEnding(interp);
#else
    return 0;
#endif
}

/* *tstate* was just bound to the current thread (bind_tstate()): if its
 * interpreter is untrusted, the engine takes the thread's stack bounds as
 * its recursion limit (pycore_sandbox_stack.h) and, for a thread that the
 * interpreter started, watches for the thread's exit. */
static inline void
_PySandbox_BindThread(PyThreadState *tstate)
{
#ifdef Py_UNTRUSTED
    if (tstate->interp->sandbox != NULL) {
        _PySandbox_BindThreadSlow(tstate);
    }
#else
    (void)tstate;
#endif
}

/* A process-wide C slot holds *op*, which may be another interpreter's
 * object (the signal handlers' table: signal.getsignal()), or is about to
 * keep it (tracemalloc's table of file names).  Return it if the current
 * interpreter may share it that way: a trusted one, or any when *op* is
 * immortal (the same object in every interpreter: SIG_DFL, SIG_IGN,
 * None, a static string); else NULL, as if there were no object.  No
 * object of the host reaches an untrusted interpreter, and none of an
 * untrusted interpreter's outlives its memory, that way
 * (Doc/sandbox/globals.rst). */
static inline PyObject *
_PySandbox_ProcessWideObject(PyObject *op)
{
#ifdef Py_UNTRUSTED
    if (op != NULL && !_Py_IsImmortal(op)
        && _PySandbox_CURRENT_UNTRUSTED())
    {
        return NULL;
    }
#endif
    return op;
}

/* A worker process of isolation "process" (Python/sandbox_worker.c),
 * started with -X sandbox_worker=FD: its main interpreter is untrusted,
 * with the policy the host sends before that interpreter exists
 * (pycore_create_interpreter() reads it), and Py_RunMain() gives the
 * process to _PySandbox_ServeWorker(), which runs the host's jobs and
 * ends it with _exit(). */
#ifdef Py_UNTRUSTED
extern PyStatus _PySandbox_ReadWorkerStart(
    const PyConfig *config, const struct _PySandboxPolicy **policy);
extern void _Py_NO_RETURN _PySandbox_ServeWorker(void);
/* Once its search path is computed (init_interp_main()): restrict its
 * config and grant its files, as for any untrusted interpreter. */
extern PyStatus _PySandbox_InitWorkerPaths(PyInterpreterState *interp);
#else
static inline PyStatus
_PySandbox_ReadWorkerStart(const PyConfig *config,
                           const struct _PySandboxPolicy **policy)
{
    (void)config;
    *policy = NULL;
    return _PyStatus_OK();
}
static inline void _PySandbox_ServeWorker(void) {}
static inline PyStatus
_PySandbox_InitWorkerPaths(PyInterpreterState *interp)
{
    (void)interp;
    return _PyStatus_OK();
}
#endif  /* Py_UNTRUSTED */
_PySandbox_HOOK(int, _PySandbox_IsWorker, (void), 0)

/* Sockets, names and network information (Python/sandbox_net.c), from
 * Modules/socketmodule.c and os.uname().  Each returns 0, or -1 with the
 * denial logged and SandboxError set; in a trusted interpreter each is a
 * test of the interpreter's mark. */
#ifdef Py_UNTRUSTED
PyAPI_FUNC(int) _PySandbox_CheckSocketSlow(int family, int type, int proto);
PyAPI_FUNC(int) _PySandbox_CheckSocketFdSlow(int fd, int family, int type,
                                             int proto);
PyAPI_FUNC(int) _PySandbox_CheckSockAddrSlow(const char *caller, int fd,
                                             PyObject *spelled,
                                             const void *addr, int len);
PyAPI_FUNC(int) _PySandbox_NetReserveSlow(Py_ssize_t *len, int exact);
PyAPI_FUNC(void) _PySandbox_NetReleaseSlow(Py_ssize_t reserved,
                                           Py_ssize_t used);
PyAPI_FUNC(int) _PySandbox_NetReserveIovSlow(void *iov, int *iovlen,
                                             Py_ssize_t *reserved);
PyAPI_FUNC(int) _PySandbox_NetAcceptSlow(void);
PyAPI_FUNC(void) _PySandbox_NetAcceptFailedSlow(void);
PyAPI_FUNC(int) _PySandbox_ResolveNameSlow(const char *name, int family,
                                           void *addr, size_t size);
PyAPI_FUNC(int) _PySandbox_GetAddrInfoSlow(const char *name,
                                           const char *port,
                                           const void *hints, void *res,
                                           int *error);
PyAPI_FUNC(PyObject *) _PySandbox_HostByNameExSlow(const char *name);
PyAPI_FUNC(int) _PySandbox_CheckSockOptSlow(int level, int option);
PyAPI_FUNC(int) _PySandbox_CheckCmsgSlow(int level, int type);
PyAPI_FUNC(int) _PySandbox_CheckRecvFlagsSlow(int flags);
PyAPI_FUNC(int) _PySandbox_CheckListenSlow(int fd);
PyAPI_FUNC(int) _PySandbox_CheckNetworkInfoSlow(const char *what);
PyAPI_FUNC(int) _PySandbox_NameInfoFlagsSlow(const char *host, int *flags,
                                            unsigned int *scope_id);
PyAPI_FUNC(void) _PySandbox_HideNodeNameSlow(char *name, size_t size);
PyAPI_FUNC(void) _PySandbox_HideSockNameSlow(void *addr, int len);
#  define _PySandbox_NET_HOOK(CALL, OFF) \
       (!_PySandbox_CURRENT_UNTRUSTED() ? (OFF) : (CALL))
#else
#  define _PySandbox_NET_HOOK(CALL, OFF) (OFF)
#endif

/* socket(): only TCP and UDP over IPv4 and IPv6 (and Unix sockets, whose
 * every address is refused). */
static inline int
_PySandbox_CheckSocket(int family, int type, int proto)
{
    return _PySandbox_NET_HOOK(
        _PySandbox_CheckSocketSlow(family, type, proto), 0);
}

/* socket(fileno=*fd*) as *family*, *type* and *proto* (the caller's, or
 * detected): in an untrusted interpreter, only as what the descriptor is
 * (a *proto* of 0 stands for the type's), and only TCP or UDP over IPv4
 * or IPv6. */
static inline int
_PySandbox_CheckSocketFd(int fd, int family, int type, int proto)
{
    return _PySandbox_NET_HOOK(
        _PySandbox_CheckSocketFdSlow(fd, family, type, proto), 0);
}

/* The address *addr* (*len* bytes), which getsockaddrarg() made from
 * *spelled* for *caller* ("bind", "connect", "connect_ex", "sendto",
 * "sendmsg") on the socket *fd*: granted by the policy's listen entries
 * for "bind", by its net entries for the others, and by no deny_net
 * entry.  A connection (connect(), TCP Fast Open: a send with an address
 * on what the descriptor says is a TCP socket, whatever the socket
 * object says) takes one of the connection budget, or raises
 * SandboxLimitExceeded. */
static inline int
_PySandbox_CheckSockAddr(const char *caller, int fd, PyObject *spelled,
                         const void *addr, int len)
{
    return _PySandbox_NET_HOOK(
        _PySandbox_CheckSockAddrSlow(caller, fd, spelled, addr, len), 0);
}

/* The byte budget, around a call that sends or receives: reserve *len*
 * bytes before it (a send: all of them, *exact*; a receive: as many as
 * are left, *len* lowered to them), or raise SandboxLimitExceeded when
 * the budget is spent; after it, give back what it did not use of the
 * *reserved* bytes (*used* of them; negative: none).  Without a budget,
 * nothing happens. */
static inline int
_PySandbox_NetReserve(Py_ssize_t *len, int exact)
{
    return _PySandbox_NET_HOOK(_PySandbox_NetReserveSlow(len, exact), 0);
}
static inline void
_PySandbox_NetRelease(Py_ssize_t reserved, Py_ssize_t used)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_NetReleaseSlow(reserved, used);
    }
#else
    (void)reserved;
    (void)used;
#endif
}
/* The same for a receive into the *iovlen* buffers *iov* (a struct
 * iovec array), cut to the bytes reserved (*reserved*). */
static inline int
_PySandbox_NetReserveIov(void *iov, int *iovlen, Py_ssize_t *reserved)
{
    *reserved = 0;
    return _PySandbox_NET_HOOK(
        _PySandbox_NetReserveIovSlow(iov, iovlen, reserved), 0);
}

/* accept(): one of the connection budget, taken before (or
 * SandboxLimitExceeded, the connection left waiting), and given back if
 * the accept fails. */
static inline int
_PySandbox_NetAccept(void)
{
    return _PySandbox_NET_HOOK(_PySandbox_NetAcceptSlow(), 0);
}
static inline void
_PySandbox_NetAcceptFailed(void)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_NetAcceptFailedSlow();
    }
#endif
}

/* setipaddr(): the address of the host name *name* for *family*.  Return
 * 0 to resolve it as usual (a trusted interpreter), or the length of the
 * address the engine wrote to *addr* (an address however spelled, read as
 * a number only; a name the policy grants, resolved once), or -1 (any
 * other name: no query leaves the process). */
static inline int
_PySandbox_ResolveName(const char *name, int family, void *addr,
                       size_t size)
{
    return _PySandbox_NET_HOOK(
        _PySandbox_ResolveNameSlow(name, family, addr, size), 0);
}

/* getaddrinfo() of *name* (NULL: none), *port* and *hints* (a struct
 * addrinfo): 0 to call the C library as usual (a trusted interpreter), 1
 * with *res* (a struct addrinfo **) and *error* set as getaddrinfo() sets
 * them (an address however spelled, read with AI_NUMERICHOST; a granted
 * name: the addresses the engine resolved for it), or -1 denied. */
static inline int
_PySandbox_GetAddrInfo(const char *name, const char *port,
                       const void *hints, void *res, int *error)
{
    return (name == NULL ? 0
            : _PySandbox_NET_HOOK(
                _PySandbox_GetAddrInfoSlow(name, port, hints, res, error),
                0));
}

/* gethostbyname_ex() of *name*, which setipaddr() let through: for a
 * granted name, (name, [], the IPv4 addresses the engine resolved); for an
 * address however spelled, (name, [], [it, dotted]), with no query; NULL
 * with no error set for the C library to answer (a trusted interpreter);
 * NULL with an error. */
static inline PyObject *
_PySandbox_HostByNameEx(const char *name)
{
    return _PySandbox_NET_HOOK(_PySandbox_HostByNameExSlow(name), NULL);
}

/* setsockopt(*level*, *option*): only the options of ordinary clients and
 * servers. */
static inline int
_PySandbox_CheckSockOpt(int level, int option)
{
    return _PySandbox_NET_HOOK(_PySandbox_CheckSockOptSlow(level, option),
                               0);
}

/* sendmsg()'s ancillary data item (*level*, *type*): only descriptors
 * (SCM_RIGHTS, whose every one is checked) and the per-packet TOS, TTL,
 * traffic class and hop limit. */
static inline int
_PySandbox_CheckCmsg(int level, int type)
{
    return _PySandbox_NET_HOOK(_PySandbox_CheckCmsgSlow(level, type), 0);
}

/* A receive's *flags*: not MSG_TRUNC, with which the socket module
 * returns memory the kernel did not write. */
static inline int
_PySandbox_CheckRecvFlags(int flags)
{
    return _PySandbox_NET_HOOK(_PySandbox_CheckRecvFlagsSlow(flags), 0);
}

/* listen() on *fd*: only once bound (to an address bind() checked). */
static inline int
_PySandbox_CheckListen(int fd)
{
    return _PySandbox_NET_HOOK(_PySandbox_CheckListenSlow(fd), 0);
}

/* What needs the network_info grant: *what* names the call. */
static inline int
_PySandbox_CheckNetworkInfo(const char *what)
{
    return _PySandbox_NET_HOOK(_PySandbox_CheckNetworkInfoSlow(what), 0);
}

/* getnameinfo() of *host*: without network_info, *flags* get
 * NI_NUMERICHOST (no reverse query), NI_NAMEREQD is denied, and the
 * *scope_id* is dropped (the C library would name its interface). */
static inline int
_PySandbox_NameInfoFlags(const char *host, int *flags,
                         unsigned int *scope_id)
{
    return _PySandbox_NET_HOOK(
        _PySandbox_NameInfoFlagsSlow(host, flags, scope_id), 0);
}

/* gethostname(), os.uname(): without network_info, the node name
 * *name* (a buffer of *size* bytes) becomes "localhost". */
static inline void
_PySandbox_HideNodeName(char *name, size_t size)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_HideNodeNameSlow(name, size);
    }
#else
    (void)name;
    (void)size;
#endif
}

/* The host's identity (Python/sandbox_hostinfo.c, patch 0197): without
 * filesystem_info, an untrusted interpreter gets neutral values.  Each
 * hook returns 1 with *value* set to the neutral value, 0 when the call
 * goes on as stock (a trusted interpreter, or the grant), or -1 with an
 * exception set. */
#define _PySandbox_ID_PID 1     /* os.getpid() */
#define _PySandbox_ID_PPID 2    /* os.getppid() */
#define _PySandbox_ID_PGRP 3    /* os.getpgrp(), os.getpgid() */
#define _PySandbox_ID_SID 4     /* os.getsid() */
#define _PySandbox_ID_USER 5    /* the user and group IDs */
#define _PySandbox_ID_CPUS 6    /* the processors */
#define _PySandbox_ID_THREAD 7  /* _thread.get_native_id() */
#ifdef Py_UNTRUSTED
PyAPI_FUNC(int) _PySandbox_HostIdSlow(int which, long *value);
PyAPI_FUNC(int) _PySandbox_HostProcessIdSlow(int which, long pid,
                                             long *value);
PyAPI_FUNC(int) _PySandbox_HostSysconfSlow(int name, long *value);
PyAPI_FUNC(int) _PySandbox_HostCpuSetSlow(PyObject **cpus);
PyAPI_FUNC(void) _PySandbox_HideReleaseSlow(char *release,
                                            size_t release_size,
                                            char *version,
                                            size_t version_size);
PyAPI_FUNC(int) _PySandbox_CheckHostInfoSlow(const char *what);
PyAPI_FUNC(int) _PySandbox_CheckGetSockOptSlow(int level, int option);
PyAPI_FUNC(int) _PySandbox_HostPidSlow(int *pid);
PyAPI_FUNC(int) _PySandbox_HostPriorityWhoSlow(int *which, int *who);
PyAPI_FUNC(int) _PySandbox_CheckClockSlow(long clock);
PyAPI_FUNC(int) _PySandbox_ExecOnCreateSlow(PyObject *mod);
#  define _PySandbox_HOST_HOOK(CALL, OFF) \
       (!_PySandbox_CURRENT_UNTRUSTED() ? (OFF) : (CALL))
#else
#  define _PySandbox_HOST_HOOK(CALL, OFF) (OFF)
#endif

/* os.getpid(), getppid(), getpgrp(), the user and group IDs (*which*,
 * _PySandbox_ID_USER for each), the processors (_PySandbox_ID_CPUS). */
static inline int
_PySandbox_HostId(int which, long *value)
{
    return _PySandbox_HOST_HOOK(_PySandbox_HostIdSlow(which, value), 0);
}

/* os.getpgid(*pid*) and os.getsid(*pid*) (*which*): the neutral value,
 * or -1 with ProcessLookupError set for a process it does not see. */
static inline int
_PySandbox_HostProcessId(int which, long pid, long *value)
{
    return _PySandbox_HOST_HOOK(
        _PySandbox_HostProcessIdSlow(which, pid, value), 0);
}

/* os.sysconf(*name*): the processors and the physical memory (its memory
 * cap) are neutral. */
static inline int
_PySandbox_HostSysconf(int name, long *value)
{
    return _PySandbox_HOST_HOOK(_PySandbox_HostSysconfSlow(name, value), 0);
}

/* os.sched_getaffinity(): 1 with *cpus* the neutral set (or NULL with an
 * exception set), or 0 for the host's. */
static inline int
_PySandbox_HostCpuSet(PyObject **cpus)
{
    return _PySandbox_HOST_HOOK(_PySandbox_HostCpuSetSlow(cpus), 0);
}

/* Statements for posixmodule.c: return the neutral ID *which* (an int),
 * or the neutral ID of process *pid* (or NULL with an exception set),
 * from the calling function. */
#define _PySandbox_RETURN_HOST_ID(which) \
    do { \
        long _value; \
        if (_PySandbox_HostId((which), &_value)) { \
            return PyLong_FromLong(_value); \
        } \
    } while (0)
#define _PySandbox_RETURN_HOST_PROCESS_ID(which, pid) \
    do { \
        long _value; \
        int _hidden = _PySandbox_HostProcessId((which), (long)(pid), \
                                               &_value); \
        if (_hidden) { \
            return _hidden < 0 ? NULL : PyLong_FromLong(_value); \
        } \
    } while (0)

/* os.uname(): the kernel's release and version become neutral. */
static inline void
_PySandbox_HideRelease(char *release, size_t release_size, char *version,
                       size_t version_size)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_HideReleaseSlow(release, release_size, version,
                                   version_size);
    }
#else
    (void)release;
    (void)release_size;
    (void)version;
    (void)version_size;
#endif
}

/* socket.getsockopt() of *level* and *option*: the peer's credentials
 * (SO_PEERCRED and the like) are denied: over a socket pair, they are the
 * process's own IDs; and without network_info, the options that tell of
 * the host's network (_PySandbox_CheckNetGetSockOpt()).  0, or -1 with the
 * denial logged. */
static inline int
_PySandbox_CheckGetSockOpt(int level, int option)
{
    return _PySandbox_HOST_HOOK(_PySandbox_CheckGetSockOptSlow(level, option),
                                0);
}

/* A process ID that os.sched_getscheduler() and the like take: 0 (with
 * *pid* 0 for the neutral ID of itself), or -1 with ProcessLookupError set
 * for another process. */
static inline int
_PySandbox_HostPid(int *pid)
{
    return _PySandbox_HOST_HOOK(_PySandbox_HostPidSlow(pid), 0);
}

/* os.getpriority(*which*, *who*): the same for a process, a process
 * group or a user (itself: 0 or the neutral ID), each asked as itself
 * (*which* PRIO_PROCESS, *who* 0). */
static inline int
_PySandbox_HostPriorityWho(int *which, int *who)
{
    return _PySandbox_HOST_HOOK(_PySandbox_HostPriorityWhoSlow(which, who),
                                0);
}

/* time.clock_gettime() and clock_getres() of *clock*: a negative one (a
 * process's, a thread's or a descriptor's clock) is denied. */
static inline int
_PySandbox_CheckClock(long clock)
{
    return _PySandbox_HOST_HOOK(_PySandbox_CheckClockSlow(clock), 0);
}

/* _imp.create_builtin(), _imp.create_dynamic(): execute the module *mod*
 * now if it has state (Python/sandbox_import.c).  0, or -1 with an
 * exception set. */
static inline int
_PySandbox_ExecOnCreate(PyObject *mod)
{
    return _PySandbox_HOST_HOOK(_PySandbox_ExecOnCreateSlow(mod), 0);
}

/* What has no neutral value (os.getloadavg(), os.getlogin()): 0, or -1
 * with the denial logged and SandboxError (an OSError) set. */
static inline int
_PySandbox_CheckHostInfo(const char *what)
{
    return _PySandbox_HOST_HOOK(_PySandbox_CheckHostInfoSlow(what), 0);
}

/* getsockname(): without network_info, a local address other than a
 * loopback one or one it was granted to listen on becomes the
 * unspecified address (the port stays). */
static inline void
_PySandbox_HideSockName(void *addr, int len)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_CURRENT_UNTRUSTED()) {
        _PySandbox_HideSockNameSlow(addr, len);
    }
#else
    (void)addr;
    (void)len;
#endif
}

#ifdef HAVE_FORK
/* In the child of fork(), after the other interpreters were forgotten
 * (PyOS_AfterFork_Child()): the engine's locks are reset. */
_PySandbox_VOID_HOOK(_PySandbox_AfterForkChild, (void))
#endif  /* HAVE_FORK */

#ifdef __cplusplus
}
#endif
#endif /* !Py_INTERNAL_SANDBOX_H */
