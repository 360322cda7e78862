/* Untrusted interpreters: the C stack is their recursion limit.
 *
 * A count of calls is not a measure of the stack: deep nesting through C
 * code that counts nothing (an iterator over an iterator, the hash of a
 * tuple in a tuple, a chain of deallocations), or a thread with a small
 * stack, overflows it and kills the host.  In a thread state of an
 * untrusted interpreter, the checks below compare the real stack pointer
 * with limits taken from the thread's own stack bounds when the thread
 * state is bound to its thread (3.14 does the same for every
 * interpreter).  A trusted thread state's limits are 0: every check is
 * false, at the cost of one load and one compare; in a process that has
 * never created an untrusted interpreter, of one load of a global
 * (_PySandbox_AnyUntrusted()) and a branch.  The engine's side is
 * Python/sandbox_stack.c.  Each hook is written once, with the flag test
 * inside; without Py_UNTRUSTED it is a constant.
 */
#ifndef Py_INTERNAL_SANDBOX_STACK_H
#define Py_INTERNAL_SANDBOX_STACK_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

#include "pycore_pystate.h"       // _PyThreadState_GET()
#include "pycore_tstate.h"        // _PyThreadStateImpl
#include "pycore_sandbox.h"       // _PY_SANDBOX_BIT, _PySandbox_CheckStop()

#ifdef Py_UNTRUSTED
/* The objects whose deallocation waits for stack (see
 * _PySandbox_DeallocSlow()), one list per untrusted interpreter; an
 * item's low bit says whether the collector tracked it. */
struct _PySandboxDeferred {
    uintptr_t *items;
    Py_ssize_t len;
    Py_ssize_t allocated;
};

/* The list of untrusted *interp* (its state, pycore_sandbox_state.h). */
extern struct _PySandboxDeferred *_PySandbox_Deferred(
    PyInterpreterState *interp);

/* Set the limits of *tstate*, of an untrusted interpreter, just bound to
 * the current thread (_PySandbox_BindThread()). */
extern void _PySandbox_InitStackSlow(PyThreadState *tstate);
/* A job is about to run in an untrusted interpreter on this thread (the
 * transport): return 0, or -1 with RuntimeError set if too little of the
 * thread's stack is left for it. */
extern int _PySandbox_CheckJobStack(void);
PyAPI_FUNC(int) _PySandbox_StackOverflow(PyThreadState *tstate,
                                         const char *where);
PyAPI_FUNC(int) _PySandbox_NoStackRoom(PyThreadState *tstate,
                                       const char *what);

/* What a path that counts its depth needs above the soft limit
 * (_PySandbox_CheckStackRoom()): the parser's 6,000 levels take up to
 * about 1 MiB in a release or debug build (whose parser stops earlier),
 * and up to 2 MiB with AddressSanitizer (measured). */
#if defined(_Py_ADDRESS_SANITIZER) || defined(_Py_THREAD_SANITIZER)
#  define _PySandbox_STACK_ROOM (2 * 1024 * 1024)
#else
#  define _PySandbox_STACK_ROOM (1024 * 1024)
#endif
/* Before the first untrusted interpreter has a thread state. */
extern void _PySandbox_OpenDeallocGate(void);
extern void _PySandbox_FreeDeferred(PyThreadState *tstate);
extern void _PySandbox_ClearDeferred(struct _PySandboxDeferred *deferred);

/* The stack pointer, read from its register where the compiler allows
 * (__builtin_frame_address() would make every caller set up a frame
 * pointer: _Py_Dealloc() is one). */
static inline uintptr_t
_PySandbox_StackPointer(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    uintptr_t sp;
    __asm__ ("movq %%rsp, %0" : "=r" (sp));
    return sp;
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
    uintptr_t sp;
    __asm__ ("mov %0, sp" : "=r" (sp));
    return sp;
#elif defined(__GNUC__) || defined(__clang__)
    return (uintptr_t)__builtin_frame_address(0);
#else
    char here;
    return (uintptr_t)&here;
#endif
}
#endif  /* Py_UNTRUSTED */

/* Is the C stack of *tstate*'s thread nearly exhausted?  Never in a
 * trusted interpreter. */
static inline int
_PySandbox_StackLow(PyThreadState *tstate)
{
#ifdef Py_UNTRUSTED
    return _PySandbox_StackPointer()
           < ((_PyThreadStateImpl *)tstate)->c_stack_soft_limit;
#else
    (void)tstate;
    return 0;
#endif
}

/* _Py_MakeRecCheck(): is _Py_CheckRecursiveCall() due?  Once the
 * process has an untrusted interpreter, always: that call checks the
 * stack and whether the interpreter stops (its job's time is up), so that
 * C recursion that polls nothing else (a comparison, hash or isinstance()
 * of nested pairs, exponential in their depth) stops with its job.
 * Until then, a load of a global, never true: the functions that enter a
 * recursive call stay as small as stock's (the compiler inlines them
 * where it did). */
static inline int
_PySandbox_RecursionCheckDue(PyThreadState *tstate)
{
    (void)tstate;
#ifdef Py_UNTRUSTED
    return _PySandbox_UNLIKELY(_PySandbox_AnyUntrusted());
#else
    return 0;
#endif
}

/* _Py_CheckRecursiveCall(): return 0, or -1 with RecursionError set when
 * the stack is low (down to the hard limit while that error is made), or
 * SandboxLimitExceeded when the interpreter stops. */
static inline int
_PySandbox_CheckRecursion(PyThreadState *tstate, const char *where)
{
#ifdef Py_UNTRUSTED
    if (_PySandbox_StackLow(tstate)) {
        return _PySandbox_StackOverflow(tstate, where);
    }
    if (_PySandbox_CheckStop(tstate) < 0) {
        return -1;
    }
#else
    (void)tstate;
    (void)where;
#endif  /* !Py_UNTRUSTED */
    return 0;
}

/* For the recursive C paths that do not call Py_EnterRecursiveCall() (an
 * iterator's tp_iternext calling its source's, a tuple's hash): return 0,
 * or -1 with RecursionError set when the stack is low (or
 * SandboxLimitExceeded when the interpreter stops, as
 * _Py_EnterRecursiveCall()). */
#ifdef Py_UNTRUSTED
PyAPI_FUNC(int) _PySandbox_CheckStackSlow(void) _PySandbox_COLD;
#endif
static inline int
_PySandbox_CheckStack(void)
{
#ifdef Py_UNTRUSTED
    /* Out of line: the functions in trusted code's way (PyObject_GetAttr())
       stay small enough for the compiler to inline them where it did. */
    if (_PySandbox_UNLIKELY(_PySandbox_AnyUntrusted())) {
        return _PySandbox_CheckStackSlow();
    }
#endif
    return 0;
}

/* A path that counts its depth rather than measure the stack starts (the
 * parser's 6,000 levels; the AST validator's, optimizer's and compiler's
 * counts, which the C stack check does not see): return 0, or -1 with
 * RecursionError set when an untrusted interpreter's thread has less than
 * _PySandbox_STACK_ROOM left above the soft limit for it.  *what* names
 * the path.  (A trusted thread state's soft limit is 0: the sum is below
 * any stack.) */
static inline int
_PySandbox_CheckStackRoom(const char *what)
{
#ifdef Py_UNTRUSTED
    if (!_PySandbox_AnyUntrusted()) {
        return 0;
    }
    PyThreadState *tstate = _PyThreadState_GET();
    if (_PySandbox_StackPointer()
        < ((_PyThreadStateImpl *)tstate)->c_stack_soft_limit
          + _PySandbox_STACK_ROOM)
    {
        return _PySandbox_NoStackRoom(tstate, what);
    }
#else
    (void)what;
#endif  /* !Py_UNTRUSTED */
    return 0;
}

/* The same as a statement: make the calling function return
 * *error_return* with RecursionError set. */
#define _PySandbox_CHECK_STACK(error_return) \
    do { \
        if (_PySandbox_CheckStack() < 0) { \
            return error_return; \
        } \
    } while (0)

/* _Py_Dealloc(): when the stack is low, an object of the collector waits
 * in its interpreter's list and is freed from the evaluator's next check
 * (the eval breaker), with room to spare: a chain of deallocations never
 * goes deeper than the limit.  Only objects of the collector hold others
 * in chains (as in 3.14): the others, most of what is freed (numbers,
 * strings), cost a test of their type's flags.
 *
 * Every deallocation passes here, so trusted code pays no more than in
 * stock 3.13: _Py_Dealloc() tests one word, as stock tests whether a
 * reference tracer is set (PyRefTracer_SetTracer()), and that word
 * stands for both: a bit for the tracer, a bit set once an untrusted
 * interpreter exists.  While it is 0, the deallocation goes on as stock's;
 * else _PySandbox_DeallocSlow() makes the object wait (return 1), or calls
 * the tracer and returns 0. */
#ifdef Py_UNTRUSTED
#define _PySandbox_GATE_TRACER ((uint32_t)1)
#define _PySandbox_GATE_UNTRUSTED ((uint32_t)2)
extern uint32_t _PySandbox_DeallocGate;

static inline int
_PySandbox_DeallocGated(void)
{
    return _PySandbox_UNLIKELY(
        FT_ATOMIC_LOAD_UINT32_RELAXED(_PySandbox_DeallocGate) != 0);
}

extern int _PySandbox_DeallocSlow(PyObject *op) _PySandbox_COLD;

/* PyRefTracer_SetTracer(): a tracer is set (or cleared). */
static inline void
_PySandbox_RefTracerSet(int set)
{
    if (set) {
        _Py_atomic_or_uint32(&_PySandbox_DeallocGate,
                             _PySandbox_GATE_TRACER);
    }
    else {
        _Py_atomic_and_uint32(&_PySandbox_DeallocGate,
                              ~_PySandbox_GATE_TRACER);
    }
}
#endif  /* Py_UNTRUSTED */

#ifdef __cplusplus
}
#endif
#endif  /* !Py_INTERNAL_SANDBOX_STACK_H */
