/* Untrusted interpreters: the end of lost ones.
 *
 * A job that the host gave up on (Python/sandbox_transport.c) runs on, on
 * its runner (Python/sandbox_runner.c), until its C call returns; the
 * runner then ends its interpreter (_PySandbox_EndLost()).  The host's
 * exit (_PySandbox_HostExits(), patch 0193) waits for the ends that
 * runners began, abandons an interpreter whose job is still inside, and
 * gives the threads of all untrusted interpreters one grace period.
 */

#include "Python.h"
#include "pycore_ceval.h"         // _Py_set_eval_breaker_bit_all()
#include "pycore_pystate.h"       // _PyThreadState_NewBound()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

/* On a runner, with a thread state of the host's: end *interp*, lost,
 * once the host holds it no more (a query, its output: a second at most);
 * else leave it to the host's next engine call.  The lookup is under the
 * runtime's lock. */
static void
end_lost(_PyRuntimeState *runtime, PyInterpreterState *interp)
{
    PyTime_t now, until;
    (void)PyTime_MonotonicRaw(&now);
    until = now + (PyTime_t)1000 * 1000 * 1000;
    for (;;) {
        int claimed = 0, gone = 0;
        (void)PyTime_MonotonicRaw(&now);
        HEAD_LOCK(runtime);
        if (!_PySandbox_IsListed(runtime, interp) || interp->sandbox == NULL
            || interp->sandbox->end_claimed)
        {
            gone = 1;
        }
        else if (interp->sandbox->entered == 0
                 && !_PyInterpreterState_IsRunningMain(interp))
        {
            interp->sandbox->end_claimed = 1;
            claimed = 1;
        }
        else if (now >= until) {
            _Py_atomic_store_int(&interp->sandbox->lost,
                                 SANDBOX_LOST_STOPPED);
            gone = 1;
        }
        HEAD_UNLOCK(runtime);
        if (claimed) {
            (void)_PySandbox_EndClaimed(interp);
            _PySandbox_EndOrphans();
            return;
        }
        if (gone) {
            return;
        }
        _PySandbox_EndPause();
    }
}

/* The runners that end a lost interpreter now (under the runtime's
 * lock), and whether the host's exit has begun: from then on, a runner
 * leaves the end to it. */
static int lost_ends;
static int lost_ends_closed;

/* A child of fork() has no runner: none ends anything there. */
void
_PySandbox_LostAfterFork(void)
{
    lost_ends = 0;
    lost_ends_closed = 0;
}

void
_PySandbox_EndLost(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    /* Counted before it touches the host's interpreter, under the same
       lock as the host's exit closes the count: that exit waits for it
       (_PySandbox_HostExits()), so this thread never meets a finalizing
       host, which would end it in its next wait for a GIL, in the middle
       of an end. */
    HEAD_LOCK(runtime);
    int closed = lost_ends_closed;
    if (closed) {
        if (_PySandbox_IsListed(runtime, interp) && interp->sandbox != NULL
            && !interp->sandbox->end_claimed)
        {
            /* The job is out: the exit ends it with the others. */
            _Py_atomic_store_int(&interp->sandbox->lost,
                                 SANDBOX_LOST_STOPPED);
        }
    }
    else {
        lost_ends++;
    }
    HEAD_UNLOCK(runtime);
    if (closed) {
        return;
    }
    PyThreadState *tstate = _PyThreadState_NewBound(
        _PyInterpreterState_Main(), _PyThreadState_WHENCE_GILSTATE);
    if (tstate != NULL) {
        PyEval_RestoreThread(tstate);
        end_lost(runtime, interp);
        PyErr_Clear();
        PyThreadState_Clear(tstate);
        PyThreadState_DeleteCurrent();
    }
    HEAD_LOCK(runtime);
    if (tstate == NULL && _PySandbox_IsListed(runtime, interp)
        && interp->sandbox != NULL && !interp->sandbox->end_claimed)
    {
        /* The host's next engine call ends it (_PySandbox_EndOrphans()). */
        _Py_atomic_store_int(&interp->sandbox->lost, SANDBOX_LOST_STOPPED);
    }
    lost_ends--;
    HEAD_UNLOCK(runtime);
}

/* Under the runtime's lock: the end of *i*, untrusted, waits for its
 * threads until *arg* at the latest. */
static void
cap_end_deadline(PyInterpreterState *i, void *arg)
{
    PyTime_t deadline = *(PyTime_t *)arg;
    if (i->sandbox->end_deadline == 0 || i->sandbox->end_deadline > deadline) {
        i->sandbox->end_deadline = deadline;
    }
}

void
_PySandbox_HostExits(void)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    /* finalize_subinterpreters() ends the interpreters one by one, the
       newest first: a tenant's children before it, each with a grace
       period for its threads of its own.  One grace period, from the
       start of the exit, for all of them instead: a tenant chooses how
       many interpreters there are. */
    PyTime_t deadline;
    (void)PyTime_MonotonicRaw(&deadline);
    deadline += SANDBOX_THREADS_GRACE_NS;
    HEAD_LOCK(runtime);
    for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
         i = i->next)
    {
        if (i->sandbox != NULL) {
            cap_end_deadline(i, &deadline);
        }
    }
    HEAD_UNLOCK(runtime);
    /* The ends that runners began are finished first (each within the
       grace period for its threads), the GIL let go meanwhile; no runner
       begins one from now on. */
    for (;;) {
        HEAD_LOCK(runtime);
        lost_ends_closed = 1;
        int busy = lost_ends;
        HEAD_UNLOCK(runtime);
        if (busy == 0) {
            break;
        }
        _PySandbox_EndPause();
    }
    for (;;) {
        PyInterpreterState *found = NULL;
        PyTime_t now;
        (void)PyTime_MonotonicRaw(&now);
        HEAD_LOCK(runtime);
        for (PyInterpreterState *i = runtime->interpreters.head;
             i != NULL && found == NULL; i = i->next)
        {
            struct _PySandboxState *state = i->sandbox;
            if (state != NULL && state->created && !state->end_claimed
                && (_Py_atomic_load_int(&state->lost)
                    == SANDBOX_LOST_RUNNING))
            {
                state->end_claimed = 1;
                found = i;
            }
        }
        if (found != NULL) {
            /* The job is stuck in C, and the interpreters it runs jobs in
               with it: none of them is waited for. */
            found->sandbox->stopping = 1;
            found->sandbox->end_deadline = now;
            _PySandbox_ForEachDescendant(found, _PySandbox_StopUntil, &now);
        }
        HEAD_UNLOCK(runtime);
        if (found == NULL) {
            return;
        }
        _Py_set_eval_breaker_bit_all(found, _PY_SANDBOX_BIT);
        PyObject *exc = PyErr_GetRaisedException();
        _PySandbox_AbandonTree(found);
        PyErr_SetRaisedException(exc);
    }
}

#endif  /* Py_UNTRUSTED */
