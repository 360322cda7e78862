/* Untrusted interpreters: the C stack is their recursion limit.
 *
 * The hooks are in Include/internal/pycore_sandbox_stack.h.  A thread
 * state of an untrusted interpreter gets two limits when it is bound to its
 * thread: below the soft one, Py_EnterRecursiveCall() and the recursive
 * paths that lack it raise RecursionError, and _Py_Dealloc() makes objects
 * wait instead of freeing them; the hard one, lower, leaves room for making
 * that RecursionError.  Only the stack's real bounds are trusted: the count
 * of calls (Py_C_RECURSION_LIMIT) assumes a stack of the size of the main
 * thread's, which the host's thread need not have.
 */

#include "Python.h"
#include "pycore_ceval.h"         // _Py_set_eval_breaker_bit()
#include "pycore_object.h"        // _PyObject_GC_TRACK()
#include "pycore_pyerrors.h"      // _PyErr_Format()
#include "pycore_pystate.h"       // _PyThreadState_GET()
#include "pycore_sandbox.h"       // _PY_SANDBOX_BIT
#include "pycore_sandbox_stack.h"

#ifdef Py_UNTRUSTED

#ifdef HAVE_PTHREAD_H
#  include <pthread.h>            // pthread_getattr_np()
#endif

/* The room kept below the soft limit: for the C code that runs between
 * two checks (a libc call, a frame of the evaluator, a buffer on the
 * stack) and for making the RecursionError.  Sanitizers and debug builds
 * have larger frames. */
#if defined(_Py_ADDRESS_SANITIZER) || defined(_Py_THREAD_SANITIZER) \
    || defined(Py_DEBUG)
#  define SOFT_MARGIN (512 * 1024)
#else
#  define SOFT_MARGIN (256 * 1024)
#endif
/* How much of the stack the margins may take at most (a quarter). */
#define MARGIN_SHARE 4
/* What a job needs left of its thread's stack (_PySandbox_CheckJobStack()):
 * the soft margin, and the room of the paths that count their depth
 * (_PySandbox_STACK_ROOM), with some to spare. */
#if defined(_Py_ADDRESS_SANITIZER) || defined(_Py_THREAD_SANITIZER)
#  define JOB_STACK (3 * 1024 * 1024)
#else
#  define JOB_STACK (2 * 1024 * 1024)
#endif

/* The bounds of the current thread's stack, found once per thread. */
static _Py_thread_local uintptr_t stack_low;
static _Py_thread_local uintptr_t stack_size;

static int
thread_stack(uintptr_t *low, uintptr_t *size)
{
    if (stack_size == 0) {
#if defined(__linux__) && defined(HAVE_PTHREAD_H)
        pthread_attr_t attr;
        void *addr;
        size_t len;
        if (pthread_getattr_np(pthread_self(), &attr) != 0) {
            return -1;
        }
        int err = pthread_attr_getstack(&attr, &addr, &len);
        pthread_attr_destroy(&attr);
        if (err != 0 || len == 0) {
            return -1;
        }
        stack_low = (uintptr_t)addr;
        stack_size = len;
#else
        return -1;
#endif  /* !(defined(__linux__) && defined(HAVE_PTHREAD_H)) */
    }
    *low = stack_low;
    *size = stack_size;
    return 0;
}

void
_PySandbox_InitStackSlow(PyThreadState *tstate)
{
    _PyThreadStateImpl *impl = (_PyThreadStateImpl *)tstate;
    uintptr_t low, size;
    if (thread_stack(&low, &size) < 0) {
        /* Unknown bounds: the count of calls stays the only limit. */
        impl->c_stack_soft_limit = 0;
        impl->c_stack_hard_limit = 0;
        return;
    }
    uintptr_t margin = SOFT_MARGIN;
    if (margin > size / MARGIN_SHARE) {
        margin = size / MARGIN_SHARE;
    }
    impl->c_stack_soft_limit = low + margin;
    impl->c_stack_hard_limit = low + margin / 2;
}

int
_PySandbox_CheckJobStack(void)
{
    uintptr_t low, size;
    if (thread_stack(&low, &size) < 0) {
        return 0;
    }
    uintptr_t left = _PySandbox_StackPointer() - low;
    if (left >= JOB_STACK) {
        return 0;
    }
    PyErr_Format(PyExc_RuntimeError,
                 "a job of an untrusted interpreter needs %zu KiB of its "
                 "thread's C stack, and %zu KiB are left: run it on a "
                 "thread with a larger stack (threading.stack_size())",
                 (size_t)JOB_STACK / 1024, (size_t)left / 1024);
    return -1;
}

int
_PySandbox_NoStackRoom(PyThreadState *tstate, const char *what)
{
    _PyErr_Format(tstate, PyExc_RecursionError,
                  "too little of the C stack is left for %s in an untrusted "
                  "interpreter", what);
    return -1;
}

/* Past the soft limit (Py_EnterRecursiveCall(), _PySandbox_CheckStack()):
 * raise RecursionError; while it is being made, go on down to the hard
 * limit; below that, fail with the preallocated MemoryError, which needs
 * no stack.  Never a fatal error: that would end the host. */
int
_PySandbox_StackOverflow(PyThreadState *tstate, const char *where)
{
    _PyThreadStateImpl *impl = (_PyThreadStateImpl *)tstate;
    if (tstate->recursion_headroom) {
        if (_PySandbox_StackPointer() >= impl->c_stack_hard_limit) {
            return 0;
        }
        _PyErr_NoMemory(tstate);
        return -1;
    }
    tstate->recursion_headroom++;
    _PyErr_Format(tstate, PyExc_RecursionError,
                  "maximum recursion depth exceeded%s (the C stack of an "
                  "untrusted interpreter)", where);
    tstate->recursion_headroom--;
    return -1;
}

/* _PySandbox_CheckStack(), once an untrusted interpreter exists. */
int
_PySandbox_CheckStackSlow(void)
{
    return _PySandbox_CheckRecursion(_PyThreadState_GET(), "");
}

/* _Py_Dealloc()'s one test (pycore_sandbox_stack.h): its tracer bit and
 * its untrusted bit (_PySandbox_OpenDeallocGate()). */
uint32_t _PySandbox_DeallocGate = 0;

/* An untrusted interpreter is about to exist: from now on, _Py_Dealloc()
 * calls _PySandbox_DeallocSlow(). */
void
_PySandbox_OpenDeallocGate(void)
{
    _Py_atomic_or_uint32(&_PySandbox_DeallocGate, _PySandbox_GATE_UNTRUSTED);
}

/* Keep *op*, whose reference count is 0, for _PySandbox_FreeDeferred().
 * The collector must not see it meanwhile (it is untracked, and tracked
 * again before it is freed); a weak reference already finds it dead.
 * Return 0 if it is freed now: a leaf or a short chain. */
static int
defer_dealloc(PyThreadState *tstate, PyObject *op)
{
    struct _PySandboxDeferred *deferred = _PySandbox_Deferred(tstate->interp);
    if (deferred->len == deferred->allocated) {
        Py_ssize_t allocated = deferred->allocated * 2 + 64;
        uintptr_t *items = PyMem_RawRealloc(
            deferred->items, (size_t)allocated * sizeof(*items));
        if (items == NULL) {
            /* Out of memory: the object is never freed (a leak, until
               the interpreter's memory goes at its end), rather than
               freed on a stack that has no room. */
            return 1;
        }
        deferred->items = items;
        deferred->allocated = allocated;
    }
    uintptr_t tracked = 0;
    if (_PyObject_GC_IS_TRACKED(op)) {
        _PyObject_GC_UNTRACK(op);
        tracked = 1;
    }
    deferred->items[deferred->len++] = (uintptr_t)op | tracked;
    _Py_set_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
    return 1;
}

/* _Py_Dealloc() of *op* once its gate is open: return 1 if *op* waits
 * (an object of the collector, on an untrusted interpreter's thread whose
 * stack is low); else call the reference tracer, if one is set, as stock
 * does before the deallocation, and return 0.  A deferred object meets
 * the tracer when it is freed (_PySandbox_FreeDeferred()). */
int
_PySandbox_DeallocSlow(PyObject *op)
{
    if (_PySandbox_AnyUntrusted() && _PyObject_IS_GC(op)) {
        PyThreadState *tstate = _PyThreadState_GET();
        if (tstate != NULL && _PySandbox_StackLow(tstate)
            && defer_dealloc(tstate, op))
        {
            return 1;
        }
    }
    _PyReftracerTrack(op, PyRefTracer_DESTROY);
    return 0;
}

/* Free the objects that wait (_PySandbox_HandlePending(), the eval
 * breaker), if the stack has room for a new chain; else the bit stays
 * set, to try again at the next check. */
void
_PySandbox_FreeDeferred(PyThreadState *tstate)
{
    struct _PySandboxDeferred *deferred = _PySandbox_Deferred(tstate->interp);
    _PyThreadStateImpl *impl = (_PyThreadStateImpl *)tstate;
    if (deferred->len == 0) {
        return;
    }
    /* The room below the soft limit, again above it. */
    uintptr_t margin = (impl->c_stack_soft_limit
                        - impl->c_stack_hard_limit) * 2;
    if (_PySandbox_StackPointer() < impl->c_stack_soft_limit + margin) {
        _Py_set_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
        return;
    }
    /* A deallocation may make more objects wait: they are freed here
       too, a stack's worth at a time. */
    while (deferred->len > 0) {
        uintptr_t item = deferred->items[--deferred->len];
        PyObject *op = (PyObject *)(item & ~(uintptr_t)1);
        if (item & 1) {
            _PyObject_GC_TRACK(op);
        }
        _Py_Dealloc(op);
    }
}

/* The interpreter ends: its memory goes with it, objects that wait
 * included; only the list is the engine's. */
void
_PySandbox_ClearDeferred(struct _PySandboxDeferred *deferred)
{
    PyMem_RawFree(deferred->items);
    deferred->items = NULL;
    deferred->len = deferred->allocated = 0;
}

#endif  /* Py_UNTRUSTED */
