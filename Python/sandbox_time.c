/* Untrusted interpreters: the time limit of a job.
 *
 * Each job (PySandbox_Exec(), _Eval(), _Call(): Python/sandbox_transport.c)
 * runs under its interpreter's policy's wall-clock limit, and a job that a
 * job of an untrusted creator runs in a nested interpreter never beyond
 * its creator's deadline.  A watchdog thread of the process (one for all
 * interpreters, started with the first job) sleeps until the earliest
 * deadline of the jobs that run; at a deadline it marks the interpreter
 * expired and sets the engine's eval-breaker bit in all its threads.  From
 * then on, until its next job begins, each check of the bit raises
 * SandboxLimitExceeded: the entry of every Python function and loops
 * (_PySandbox_HandlePending()), and C code that polls for signals
 * (PyErr_CheckSignals(), through _PySandbox_CheckStop()); and the
 * evaluator skips its handlers (except, finally, with:
 * _PySandbox_SkipHandlers()), so that its code cannot catch the stop.
 * The CPU limit counts the CPU time of the job's thread and of the threads
 * its code started, read from their clocks (so a job is not charged for
 * the machine's other work, and N threads do not get N times the limit):
 * the watchdog reads them when the job could have used it all at the
 * earliest (what is left divided by the threads that may run at once),
 * and stops the job as at a deadline when it has.
 * A thread of the job blocked in the kernel (read(), select(), a socket's
 * recv()) is woken by the wake signal, a real-time signal whose handler
 * does nothing: the call fails with EINTR, and CPython's retry loop
 * (PEP 475) asks PyErr_CheckSignals() before it calls again.
 *
 * Part of the engine (Doc/sandbox/internals.rst, Doc/sandbox/time.rst);
 * compiled only with Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_ceval.h"         // _Py_set_eval_breaker_bit_all()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h"
#include "pycore_tstate.h"        // _PyThreadStateImpl

#ifdef Py_UNTRUSTED

#include <errno.h>
#include <math.h>                 // isfinite()
#include <pthread.h>
#include <signal.h>               // sigaction()
#include <sys/syscall.h>          // SYS_gettid, SYS_tgkill
#include <unistd.h>               // syscall()

/* The jobs that run with a deadline, and the watchdog that waits for the
 * earliest.  The list holds a job from its start to its end, while its
 * interpreter is entered: an interpreter it points to cannot end. */
static pthread_mutex_t watch_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cond;
static int watch_started;
static _PySandboxJobTimer *watch_list;
/* When the watchdog wakes next (0: only when signaled).  A job whose
 * deadline is later needs no signal: short jobs one after the other wake
 * it about once per limit, not once per job. */
static PyTime_t watch_next;

/* The key that unlists the timers of a thread that ends inside a job
 * (below). */
static pthread_once_t timers_key_once;
static int timers_key_created;
static void create_timers_key(void);

/* The monotonic clock, as the condition variable's. */
static PyTime_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (PyTime_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How often the watchdog sets the bit again in the threads of a job that
 * runs past its deadline. */
#define REARM_NS ((PyTime_t)50 * 1000 * 1000)

/* The wake signal: the highest real-time signal but two, taken at the
 * first job if the host left it alone (0: not taken, and blocked calls
 * are not woken; Doc/sandbox/time.rst). */
static int wake_signal;

/* A question of the host's to the thread of a job it gave up on: where is
 * its code?  One at a time (where_lock).  state: 0 none, 1 asked, 2 the
 * handler writes the answer, 3 answered. */
static pthread_mutex_t where_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int state;
    long tid;
    PyInterpreterState *interp;
    char location[512];
} where_asked;

/* The thread state of the job that runs on this thread (a runner's),
 * while it runs. */
static _Py_thread_local PyThreadState *job_tstate;

void
_PySandbox_SetJobThreadState(PyThreadState *tstate)
{
    _Py_atomic_store_ptr(&job_tstate, tstate);
}

static void
wake_handler(int Py_UNUSED(signum))
{
    /* The signal ends the system call it interrupts.  And if the host
       asks this thread where its job's code is, the handler says it: the
       thread cannot, stuck in a call that does not poll.  Reading its own
       frames is safe here: a frame is current only once it is made, and
       nothing frees one while the thread is in its handler. */
    int asked = 1;
    if (_Py_atomic_load_int(&where_asked.state) != 1
        || where_asked.tid != (long)syscall(SYS_gettid)
        || !_Py_atomic_compare_exchange_int(&where_asked.state, &asked, 2))
    {
        return;
    }
    int saved = errno;
    /* A thread in a call that let the GIL go has no current thread
       state, but its frames stay as they were. */
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL) {
        tstate = _Py_atomic_load_ptr(&job_tstate);
    }
    if (tstate != NULL && tstate->interp == where_asked.interp) {
        _PySandbox_FrameLocation(tstate, where_asked.location,
                                 sizeof(where_asked.location));
    }
    _Py_atomic_store_int(&where_asked.state, 3);
    errno = saved;
}

/* Under watch_mutex, once per process (and child of fork(), which keeps
 * the handler). */
static void
take_wake_signal(void)
{
    static int tried;
    if (tried) {
        return;
    }
    tried = 1;
    int signum = SIGRTMAX - 2;
    struct sigaction old;
    if (signum <= SIGRTMIN || sigaction(signum, NULL, &old) != 0) {
        return;
    }
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler == wake_handler) {
        wake_signal = signum;   /* kept through fork() */
        return;
    }
    if ((old.sa_flags & SA_SIGINFO)
        || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN))
    {
        return;                 /* the host's */
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wake_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;            /* no SA_RESTART: the call fails, EINTR */
    if (sigaction(signum, &sa, NULL) == 0) {
        wake_signal = signum;
    }
}

static void
wake_thread(long tid)
{
    if (wake_signal != 0 && tid > 0) {
        (void)syscall(SYS_tgkill, (long)getpid(), tid, (long)wake_signal);
    }
}

int
_PySandbox_WakeSignal(void)
{
    return wake_signal;
}

PyTime_t
_PySandbox_MonotonicNs(void)
{
    return now_ns();
}

void
_PySandbox_AskWhere(long tid, PyInterpreterState *interp, char *buf,
                    size_t size)
{
    buf[0] = '\0';
    if (wake_signal == 0 || tid <= 0) {
        return;
    }
    pthread_mutex_lock(&where_lock);
    where_asked.tid = tid;
    where_asked.interp = interp;
    where_asked.location[0] = '\0';
    _Py_atomic_store_int(&where_asked.state, 1);
    wake_thread(tid);
    /* 20 ms: a thread that has the signal blocked (or that left) never
       answers. */
    PyTime_t until = now_ns() + 20 * 1000 * 1000;
    for (;;) {
        int asked = 1;
        if (now_ns() >= until
            && _Py_atomic_compare_exchange_int(&where_asked.state, &asked,
                                               0))
        {
            break;          /* taken back: the handler will not write */
        }
        if (_Py_atomic_load_int(&where_asked.state) == 3) {
            PyOS_snprintf(buf, size, "%s", where_asked.location);
            break;
        }
        struct timespec pause = {0, 100 * 1000};
        (void)nanosleep(&pause, NULL);
    }
    _Py_atomic_store_int(&where_asked.state, 0);
    pthread_mutex_unlock(&where_lock);
}

/* The CPU time a thread's clock counted (ns; 0 for a thread that ended). */
static PyTime_t
cpu_of(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) {
        return 0;
    }
    return (PyTime_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The clock of the thread *tid* of this process (Linux: the clock id that
 * pthread_getcpuclockid() makes, from a thread id that outlives nothing:
 * the clock of a thread that ended reads as an error). */
static clockid_t
thread_clock(long tid)
{
    return (clockid_t)(((unsigned int)~tid << 3) | 6);
}

/* Under HEAD_LOCK: the untrusted interpreter that created *interp*, or
 * NULL. */
static PyInterpreterState *
creator_of(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL || state->parent_id < 0) {
        return NULL;
    }
    PyInterpreterState *p = _PyRuntime.interpreters.head;
    while (p != NULL && p->id != state->parent_id) {
        p = p->next;
    }
    return p;
}


/* Add the CPU time of the threads that *interp*'s code started, still
 * running, to *total*.  Under HEAD_LOCK. */
static void
add_started_threads_cpu(PyInterpreterState *interp, void *total)
{
    for (PyThreadState *t = interp->threads.head; t != NULL; t = t->next) {
        /* One whose state is cleared has counted itself as ended
           (_PySandbox_ThreadCpuEnds()). */
        if (t->_whence == _PyThreadState_WHENCE_THREADING
            && t->native_thread_id != 0 && !t->_status.cleared)
        {
            *(PyTime_t *)total += cpu_of(
                thread_clock((long)t->native_thread_id));
        }
    }
}

/* The CPU time of the threads that *interp*'s code started, and the code
 * of the interpreters it created, the ended ones' included.  Under
 * watch_mutex or with *interp* entered. */
static PyTime_t
started_threads_cpu(PyInterpreterState *interp)
{
    PyTime_t total = _Py_atomic_load_int64(&interp->sandbox->cpu_of_ended);
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    add_started_threads_cpu(interp, &total);
    _PySandbox_ForEachDescendant(interp, add_started_threads_cpu, &total);
    HEAD_UNLOCK(runtime);
    return total;
}

/* The CPU time *timer*'s job used so far. */
static PyTime_t
job_cpu(_PySandboxJobTimer *timer)
{
    return (cpu_of(timer->cpu_clock) - timer->cpu_start
            + started_threads_cpu(timer->interp) - timer->cpu_base);
}

void
_PySandbox_ThreadCpuEnds(struct _PySandboxState *state)
{
    /* Counted in its interpreter and in each of its creators: their jobs'
       CPU time includes it, after its interpreter ends too. */
    PyTime_t used = cpu_of(CLOCK_THREAD_CPUTIME_ID);
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (interp->sandbox != state) {
        interp = NULL;
    }
    (void)_Py_atomic_add_int64(&state->cpu_of_ended, used);
    for (interp = interp != NULL ? creator_of(interp) : NULL;
         interp != NULL; interp = creator_of(interp))
    {
        (void)_Py_atomic_add_int64(&interp->sandbox->cpu_of_ended, used);
    }
    HEAD_UNLOCK(runtime);
}

/* A thread that *interp*'s code started stops for good (patch 0191): the
 * next job, which clears the interpreter's flag, does not revive it.
 * Under HEAD_LOCK. */
static void
stop_started_thread(PyThreadState *t)
{
    if (t->_whence == _PyThreadState_WHENCE_THREADING) {
        ((_PyThreadStateImpl *)t)->sandbox_stopped = 1;
        _Py_set_eval_breaker_bit(t, _PY_SANDBOX_BIT);
        wake_thread((long)t->native_thread_id);
    }
}

/* Under HEAD_LOCK: *root*'s job stops, and so does all that runs in the
 * interpreters its code created, whatever thread runs it (a nested job
 * run by a thread that *root*'s code started has no outer timer): their
 * threads, those of their jobs included, stop for good. */
static void
stop_descendant(PyInterpreterState *i, void *reason)
{
    struct _PySandboxState *state = i->sandbox;
    if (!_Py_atomic_load_int(&state->time_expired)) {
        _Py_atomic_store_int(&state->stop_reason, *(int *)reason);
    }
    _Py_atomic_store_int(&state->time_expired, 1);
    for (PyThreadState *t = i->threads.head; t != NULL; t = t->next) {
        ((_PyThreadStateImpl *)t)->sandbox_stopped = 1;
        _Py_set_eval_breaker_bit(t, _PY_SANDBOX_BIT);
        wake_thread((long)t->native_thread_id);
    }
}

static void
stop_descendants(PyInterpreterState *root, int reason)
{
    _PySandbox_ForEachDescendant(root, stop_descendant, &reason);
}

/* At a deadline: its interpreter's code stops until its next job.  Its
 * threads that wait in the kernel are woken: the job's (*tid*), and those
 * its code started (a thread state of another thread of the host, which
 * may run anything now, is not).  A thread state leaves the list, under
 * the same lock, before its thread ends. */
static void
stop_job(PyInterpreterState *interp, int reason, long tid)
{
    if (!_Py_atomic_load_int(&interp->sandbox->time_expired)) {
        _Py_atomic_store_int(&interp->sandbox->stop_reason, reason);
    }
    _Py_atomic_store_int(&interp->sandbox->time_expired, 1);
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    for (PyThreadState *t = interp->threads.head; t != NULL; t = t->next) {
        _Py_set_eval_breaker_bit(t, _PY_SANDBOX_BIT);
        stop_started_thread(t);
    }
    stop_descendants(interp, reason);
    HEAD_UNLOCK(runtime);
    if (tid != 0) {
        wake_thread(tid);
    }
}

static void
expire(_PySandboxJobTimer *timer)
{
    stop_job(timer->interp, timer->stop_reason, timer->tid);
}

void
_PySandbox_InterruptJob(PyInterpreterState *interp, long tid)
{
    stop_job(interp, SANDBOX_STOP_INTERRUPT, tid);
}

static int has_started_threads(PyInterpreterState *interp);
static void unlist_linger(struct _PySandboxState *state);

static void *
watchdog(void *Py_UNUSED(arg))
{
    pthread_mutex_lock(&watch_mutex);
    for (;;) {
        PyTime_t now = now_ns();
        PyTime_t next = 0;
        for (_PySandboxJobTimer **p = &watch_list; *p != NULL; ) {
            _PySandboxJobTimer *t = *p;
            struct _PySandboxState *state = t->interp->sandbox;
            if (t == state->linger && t->stop_reason >= 0
                && !has_started_threads(t->interp))
            {
                /* The threads that a job left are stopped and gone. */
                *p = t->next;
                state->linger_listed = 0;
                continue;
            }
            p = &t->next;
            if (t->stop_reason < 0 && t->deadline <= now) {
                t->stop_reason = SANDBOX_STOP_TIME;
            }
            if (t->stop_reason < 0 && t->cpu_check != 0
                && t->cpu_check <= now)
            {
                PyTime_t left = t->cpu_limit - job_cpu(t);
                if (left <= 0) {
                    t->stop_reason = SANDBOX_STOP_CPU;
                }
                else {
                    /* The earliest it could have used the rest; at most
                       once a millisecond near the end. */
                    PyTime_t wait = left / t->cpu_threads;
                    t->cpu_check = now + (wait > 1000000 ? wait : 1000000);
                }
            }
            PyTime_t when = t->deadline;
            if (t->stop_reason >= 0) {
                /* At the deadline, and again every REARM_NS while the job
                   runs on: a thread state made since (or a bit cleared by
                   a race) gets the bit too.  A nested job whose outer job
                   is stopped too is stopped with it (its interpreter is
                   one of the outer's): once per tree, however deep. */
                if (t->outer == NULL || t->outer->stop_reason < 0) {
                    expire(t);
                }
                when = now + REARM_NS;
            }
            else if (t->cpu_check != 0 && t->cpu_check < when) {
                when = t->cpu_check;
            }
            if (next == 0 || when < next) {
                next = when;
            }
        }
        watch_next = next;
        if (next == 0) {
            pthread_cond_wait(&watch_cond, &watch_mutex);
        }
        else {
            struct timespec until = {
                .tv_sec = (time_t)(next / 1000000000),
                .tv_nsec = (long)(next % 1000000000),
            };
            pthread_cond_timedwait(&watch_cond, &watch_mutex, &until);
        }
    }
    return NULL;
}

/* A child of fork() has no watchdog: the first job there starts one. */
static void
after_fork_child(void)
{
    pthread_mutex_init(&watch_mutex, NULL);
    pthread_mutex_init(&where_lock, NULL);
    watch_started = 0;
    watch_list = NULL;
    watch_next = 0;
}

/* Under watch_mutex: 0, or -1 if the thread cannot be started. */
static int
start_watchdog(void)
{
    if (watch_started) {
        return 0;
    }
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0
        || pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0
        || pthread_cond_init(&watch_cond, &attr) != 0)
    {
        return -1;
    }
    pthread_condattr_destroy(&attr);
    pthread_attr_t thread_attr;
    pthread_t thread;
    if (pthread_attr_init(&thread_attr) != 0) {
        return -1;
    }
    /* It needs little: its own frames and a libc call. */
    (void)pthread_attr_setstacksize(&thread_attr, 64 * 1024);
    (void)pthread_attr_setdetachstate(&thread_attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &thread_attr, watchdog, NULL);
    pthread_attr_destroy(&thread_attr);
    if (rc != 0) {
        return -1;
    }
    static int atfork_set;
    if (!atfork_set) {
        atfork_set = (pthread_atfork(NULL, NULL, after_fork_child) == 0);
    }
    watch_started = 1;
    return 0;
}

PyTime_t
_PySandbox_TimeLimit(const PySandboxPolicy *policy)
{
    return policy->time_limit != 0 ? policy->time_limit
                                   : SANDBOX_DEFAULT_TIME;
}

PyTime_t
_PySandbox_CpuLimit(const PySandboxPolicy *policy)
{
    return policy->cpu_limit != 0 ? policy->cpu_limit
                                  : _PySandbox_TimeLimit(policy);
}

int
_PySandboxPolicy_CheckCpuLimit(const PySandboxPolicy *policy)
{
    /* More than all its threads could burn before the deadline is a
       mistake (a unit, a swapped pair): said, not ignored. */
    double cpu = (double)policy->cpu_limit / 1e9;
    double most = ((double)_PySandbox_TimeLimit(policy) / 1e9
                   * (double)(1 + policy->max_threads));
    if (policy->cpu_limit == 0 || cpu <= most) {
        return 0;
    }
    PyObject *value = PyFloat_FromDouble(cpu);
    if (value == NULL) {
        return -1;
    }
    char reason[120];
    PyOS_snprintf(reason, sizeof(reason), "above the time limit times the "
                  "threads that may run at once (%.9g s)", most);
    int rc = _PySandboxPolicy_ErrorObject("cpu", value, reason);
    Py_DECREF(value);
    return rc;
}

/* The CPU limit of *timer*'s job, if the job could reach it before its
 * deadline: its threads may burn more than the wall-clock time, or it is
 * below the time limit. */
static void
start_cpu_limit(_PySandboxJobTimer *timer, _PySandboxJobTimer *outer,
                PyTime_t now)
{
    const PySandboxPolicy *policy = &timer->interp->sandbox->policy;
    PyTime_t limit = _PySandbox_CpuLimit(policy);
    Py_ssize_t threads = 1 + policy->max_threads;
    /* A nested job: no more than its creator's job has left. */
    if (outer != NULL && outer->cpu_check != 0) {
        PyTime_t left = outer->cpu_limit - job_cpu(outer);
        if (left < limit) {
            limit = left > 0 ? left : 0;
        }
    }
    /* Where the clocks start (for a query too, _PySandbox_CpuUsage()). */
    if (pthread_getcpuclockid(pthread_self(), &timer->cpu_clock) != 0) {
        timer->cpu_clock = CLOCK_THREAD_CPUTIME_ID;
    }
    timer->cpu_start = cpu_of(timer->cpu_clock);
    timer->cpu_base = started_threads_cpu(timer->interp);
    timer->cpu_limit = limit;
    if (limit / threads >= timer->deadline - now) {
        return;                 /* the deadline comes first */
    }
    timer->cpu_threads = threads;
    PyTime_t wait = limit / threads;
    timer->cpu_check = now + (wait > 1000000 ? wait : 1000000);
}

_PySandboxJobTimer *
_PySandbox_JobTimerStart(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    /* On the heap, not the job's stack: a thread that exits inside the job
       (PyThread_exit_thread()) has its stack unwound and reused by the
       time thread_exits() unlists the timer. */
    _PySandboxJobTimer *timer = PyMem_RawCalloc(1, sizeof(*timer));
    if (timer == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    PyTime_t now = now_ns();
    timer->interp = interp;
    timer->start = now;
    timer->tid = (long)syscall(SYS_gettid);
    timer->stop_reason = -1;
    timer->deadline = now + _PySandbox_TimeLimit(&state->policy);
    /* A job that a job of an untrusted creator runs (on the same thread):
       never beyond the creator's deadline. */
    _PySandboxJobTimer *outer = _PySandbox_CurrentJobTimer();
    if (outer != NULL && outer->deadline < timer->deadline) {
        timer->deadline = outer->deadline;
    }
    /* One that a thread of an untrusted creator's code runs (not its job's
       thread): no later than the creator's job, which that thread's work
       belongs to; at once when none runs. */
    PyInterpreterState *caller = _PyInterpreterState_GET();
    if (outer == NULL && caller != NULL && caller != interp
        && caller->sandbox != NULL)
    {
        PyTime_t theirs = _Py_atomic_load_int64(
            &caller->sandbox->job_deadline);
        if (theirs == 0 || theirs < timer->deadline) {
            timer->deadline = theirs != 0 ? theirs : now;
        }
    }
    /* A new job runs: the stop of the last one is over (when no other job
       of the host runs in it, which would still be stopped). */
    if (_Py_atomic_load_ssize_relaxed(&state->entered) <= 1) {
        _Py_atomic_store_int(&state->time_expired, 0);
        _Py_atomic_store_int(&state->time_reported, 0);
        _Py_atomic_store_int(&state->stop_reason, SANDBOX_STOP_TIME);
    }
    /* Its deadline already passed (a creator's that passed in C code that
       does not poll): it stops before it runs, its thread states made from
       now on get the bit as they are bound (_PySandbox_BindThreadSlow()). */
    if (timer->deadline <= now) {
        _Py_atomic_store_int(&state->time_expired, 1);
    }
    _Py_atomic_store_int64(&state->job_deadline, timer->deadline);
    start_cpu_limit(timer, outer, now);
    /* Before the timer is listed: the key that unlists it if its thread
       ends inside the job. */
    (void)pthread_once(&timers_key_once, create_timers_key);
    if (!timers_key_created) {
        PyErr_SetString(PyExc_RuntimeError, "cannot create the key of the "
                        "untrusted interpreters' job timers");
        PyMem_RawFree(timer);
        return NULL;
    }
    pthread_mutex_lock(&watch_mutex);
    /* The threads that the last job left run under this job's limits. */
    unlist_linger(state);
    take_wake_signal();
    if (start_watchdog() < 0) {
        pthread_mutex_unlock(&watch_mutex);
        PyErr_SetString(PyExc_RuntimeError, "cannot start the watchdog "
                        "thread of the untrusted interpreters' time limits");
        PyMem_RawFree(timer);
        return NULL;
    }
    timer->next = watch_list;
    watch_list = timer;
    if (watch_next == 0 || timer->deadline < watch_next) {
        watch_next = timer->deadline;
        pthread_cond_signal(&watch_cond);
    }
    pthread_mutex_unlock(&watch_mutex);
    /* A host thread that blocks the wake signal lets it through while it
       runs the job (and the threads that the job starts inherit that). */
    if (wake_signal != 0) {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, wake_signal);
        if (pthread_sigmask(SIG_UNBLOCK, &set, &old) == 0) {
            timer->unblocked = sigismember(&old, wake_signal) == 1;
        }
    }
    return timer;
}

/* Under watch_mutex: take *state*'s lingering deadline off the list. */
static void
unlist_linger(struct _PySandboxState *state)
{
    if (!state->linger_listed) {
        return;
    }
    for (_PySandboxJobTimer **p = &watch_list; *p != NULL; p = &(*p)->next) {
        if (*p == state->linger) {
            *p = state->linger->next;
            break;
        }
    }
    state->linger_listed = 0;
}

void
_PySandbox_TimeEnds(struct _PySandboxState *state)
{
    pthread_mutex_lock(&watch_mutex);
    unlist_linger(state);
    pthread_mutex_unlock(&watch_mutex);
}

/* Does *interp* have a thread that its code started, still running? */
static int
has_started_threads(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    int any = 0;
    HEAD_LOCK(runtime);
    for (PyThreadState *t = interp->threads.head; t != NULL; t = t->next) {
        any |= (t->_whence == _PyThreadState_WHENCE_THREADING
                && !t->_status.cleared);
    }
    HEAD_UNLOCK(runtime);
    return any;
}

void
_PySandbox_JobTimerStop(_PySandboxJobTimer *timer)
{
    struct _PySandboxState *state = timer->interp->sandbox;
    /* A job that returned while threads its code started run on: they
       keep its deadline (and their waits their cap), watched on its
       behalf until the next job or the interpreter's end.  Nothing of the
       interpreter runs past the deadline of the job that started it. */
    int linger = 0;
    if (_Py_atomic_load_ssize_relaxed(&state->entered) <= 1) {
        linger = (!_PySandbox_TimeExpired(state)
                  && has_started_threads(timer->interp));
        if (linger && state->linger == NULL) {
            state->linger = PyMem_RawMalloc(sizeof(_PySandboxJobTimer));
        }
        if (!linger || state->linger == NULL) {
            linger = 0;
            _Py_atomic_store_int64(&state->job_deadline, 0);
        }
    }
    pthread_mutex_lock(&watch_mutex);
    for (_PySandboxJobTimer **p = &watch_list; *p != NULL; p = &(*p)->next) {
        if (*p == timer) {
            *p = timer->next;
            break;
        }
    }
    if (linger) {
        unlist_linger(state);
        _PySandboxJobTimer *t = state->linger;
        memset(t, 0, sizeof(*t));
        t->interp = timer->interp;
        t->start = timer->start;
        t->deadline = timer->deadline;
        t->stop_reason = -1;            /* no thread of its own, no CPU
                                           read: its time only */
        t->next = watch_list;
        watch_list = t;
        state->linger_listed = 1;
        if (watch_next == 0 || t->deadline < watch_next) {
            watch_next = t->deadline;
            pthread_cond_signal(&watch_cond);
        }
    }
    pthread_mutex_unlock(&watch_mutex);
    if (timer->unblocked) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, wake_signal);
        (void)pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    PyMem_RawFree(timer);
}

/* The job that runs on this thread, innermost first: a nested job's timer
 * points to the one it interrupted. */
static _Py_thread_local _PySandboxJobTimer *current_timer;

/* A thread may end inside a job, without returning through it: one that
 * takes the GIL of an interpreter whose end abandoned it exits there
 * (PyThread_exit_thread()).  This key's destructor takes its timers
 * off the watchdog's list as it exits, and frees them. */
static pthread_key_t timers_key;
static pthread_once_t timers_key_once = PTHREAD_ONCE_INIT;

static void
thread_exits(void *innermost)
{
    pthread_mutex_lock(&watch_mutex);
    for (_PySandboxJobTimer *t = innermost, *outer; t != NULL; t = outer) {
        for (_PySandboxJobTimer **p = &watch_list; *p != NULL;
             p = &(*p)->next)
        {
            if (*p == t) {
                *p = t->next;
                break;
            }
        }
        outer = t->outer;
        PyMem_RawFree(t);
    }
    pthread_mutex_unlock(&watch_mutex);
}

static void
create_timers_key(void)
{
    timers_key_created = (pthread_key_create(&timers_key,
                                             thread_exits) == 0);
}

_PySandboxJobTimer *
_PySandbox_CurrentJobTimer(void)
{
    return current_timer;
}

void
_PySandbox_PushJobTimer(_PySandboxJobTimer *timer)
{
    timer->outer = current_timer;
    current_timer = timer;
    if (timers_key_created) {
        (void)pthread_setspecific(timers_key, timer);
    }
}

void
_PySandbox_PopJobTimer(_PySandboxJobTimer *timer)
{
    current_timer = timer->outer;
    if (timers_key_created) {
        (void)pthread_setspecific(timers_key, current_timer);
    }
}

int
_PySandbox_TimeExpired(struct _PySandboxState *state)
{
    return _Py_atomic_load_int_relaxed(&state->time_expired);
}

/* In a thread of the expired interpreter: SandboxLimitExceeded, and the
 * denial, logged once per job with where its code was. */
void
_PySandbox_TimeLimitDetail(struct _PySandboxState *state, char *buf,
                           size_t size)
{
    int reason = _Py_atomic_load_int(&state->stop_reason);
    if (reason == SANDBOX_STOP_INTERRUPT) {
        PyOS_snprintf(buf, size, "the host interrupted the job");
    }
    else if (reason == SANDBOX_STOP_CPU) {
        PyOS_snprintf(buf, size, "CPU limit of %.9g s exceeded",
                      (double)_PySandbox_CpuLimit(&state->policy) / 1e9);
    }
    else {
        PyOS_snprintf(buf, size, "time limit of %.9g s exceeded",
                      (double)_PySandbox_TimeLimit(&state->policy) / 1e9);
    }
}

int
_PySandbox_RaiseTimeLimit(struct _PySandboxState *state)
{
    char detail[96];
    _PySandbox_TimeLimitDetail(state, detail, sizeof(detail));
    /* An interrupt is the host's, not a limit the tenant reached. */
    int reason = _Py_atomic_load_int(&state->stop_reason);
    if (reason != SANDBOX_STOP_INTERRUPT
        && !_Py_atomic_exchange_int(&state->time_reported, 1))
    {
        _PySandbox_LogDenialRaw(
            state, (_Py_atomic_load_int(&state->stop_reason)
                    == SANDBOX_STOP_CPU ? "cpu" : "time"), detail);
    }
    PyErr_SetString(PyExc_SandboxLimitExceeded, detail);
    return -1;
}

int
_PySandbox_CheckStopSlow(PyThreadState *tstate)
{
    struct _PySandboxState *state = tstate->interp->sandbox;
    if (state == NULL) {
        return 0;
    }
    int stopped = _PySandbox_IsStopped(tstate->interp);
    int expired = _PySandbox_TimeExpired(state);
    int outlived = ((_PyThreadStateImpl *)tstate)->sandbox_stopped;
    if ((!stopped && !expired && !outlived)
        /* The engine making a stopped job's answer (a worker's) */
        || _PySandbox_EngineWorks())
    {
        return 0;
    }
    /* Making the error calls code that polls again (through
       Py_EnterRecursiveCall()): the bit is off meanwhile, and set again
       after, for every later check. */
    uintptr_t was = (_Py_atomic_and_uintptr(&tstate->eval_breaker,
                                            ~(uintptr_t)_PY_SANDBOX_BIT)
                     & _PY_SANDBOX_BIT);
    if (stopped) {
        PyErr_SetString(PyExc_SandboxLimitExceeded,
                        "the untrusted interpreter is ending: its Python "
                        "code no longer runs");
    }
    else if (expired) {
        (void)_PySandbox_RaiseTimeLimit(state);
    }
    else {
        /* Stopped in a job that is over: the flag is the next job's. */
        PyErr_SetString(PyExc_SandboxLimitExceeded,
                        "the limits of the job that started this thread "
                        "were exceeded");
    }
    if (was) {
        _Py_atomic_or_uintptr(&tstate->eval_breaker, _PY_SANDBOX_BIT);
    }
    return -1;
}

void
_PySandbox_CpuUsage(struct _PySandboxState *state, double *used,
                    double *limit)
{
    /* The job's own thread's time, and its interpreter's other threads':
       whether or not the watchdog reads them. */
    *used = 0.0;
    for (_PySandboxJobTimer *t = current_timer; t != NULL; t = t->outer) {
        if (t->interp->sandbox == state) {
            *used = (double)job_cpu(t) / 1e9;
            break;
        }
    }
    *limit = (double)_PySandbox_CpuLimit(&state->policy) / 1e9;
}

int
_PySandbox_StopPendingSlow(PyThreadState *tstate)
{
    struct _PySandboxState *state = tstate->interp->sandbox;
    return (state != NULL
            && (_PySandbox_IsStopped(tstate->interp)
                || _PySandbox_TimeExpired(state)
                || ((_PyThreadStateImpl *)tstate)->sandbox_stopped));
}

void
_PySandbox_TimeUsage(struct _PySandboxState *state, double *elapsed,
                     double *limit)
{
    /* Of the job that runs on this thread in *state*'s interpreter, if
       any: the query of a job's own. */
    *elapsed = 0.0;
    for (_PySandboxJobTimer *t = current_timer; t != NULL; t = t->outer) {
        if (t->interp->sandbox == state) {
            *elapsed = (double)(now_ns() - t->start) / 1e9;
            break;
        }
    }
    *limit = (double)_PySandbox_TimeLimit(&state->policy) / 1e9;
}


/* Blocking waits (time.sleep(): patch 0188) */

PyTime_t
_PySandbox_CapWaitSlow(PyInterpreterState *interp, PyTime_t timeout)
{
    PyTime_t deadline = _Py_atomic_load_int64(&interp->sandbox->job_deadline);
    if (deadline == 0) {
        return timeout;         /* no job: a thread between jobs */
    }
    PyTime_t left = deadline - now_ns();
    if (left < 0) {
        left = 0;
    }
    return timeout < left ? timeout : left;
}

int
_PySandbox_WaitExpiredSlow(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    PyTime_t deadline = _Py_atomic_load_int64(&state->job_deadline);
    if (_PySandbox_TimeExpired(state)
        || (deadline != 0 && now_ns() >= deadline))
    {
        /* The watchdog may not have woken yet: the stop starts here. */
        _Py_atomic_store_int(&state->time_expired, 1);
        _Py_set_eval_breaker_bit_all(interp, _PY_SANDBOX_BIT);
        return _PySandbox_RaiseTimeLimit(state);
    }
    return 0;
}


/* The policy (Include/cpython/sandbox.h) */

int
PySandboxPolicy_SetTimeLimit(PySandboxPolicy *policy, double seconds)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetTimeLimit: policy is NULL");
        return -1;
    }
    if (!isfinite(seconds) || seconds <= 0
        || seconds > (double)SANDBOX_MAX_TIME / 1e9)
    {
        PyObject *value = PyFloat_FromDouble(seconds);
        if (value == NULL) {
            return -1;
        }
        int rc = _PySandboxPolicy_ErrorObject(
            "time", value, "out of range (more than 0, at most 604800 "
            "seconds)");
        Py_DECREF(value);
        return rc;
    }
    PyTime_t ns = (PyTime_t)(seconds * 1e9);
    policy->time_limit = ns > 0 ? ns : 1;
    return 0;
}

int
PySandboxPolicy_SetCpuLimit(PySandboxPolicy *policy, double seconds)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetCpuLimit: policy is NULL");
        return -1;
    }
    if (!isfinite(seconds) || seconds <= 0
        || seconds > (double)SANDBOX_MAX_TIME / 1e9)
    {
        PyObject *value = PyFloat_FromDouble(seconds);
        if (value == NULL) {
            return -1;
        }
        int rc = _PySandboxPolicy_ErrorObject(
            "cpu", value, "out of range (more than 0, at most 604800 "
            "seconds)");
        Py_DECREF(value);
        return rc;
    }
    PyTime_t ns = (PyTime_t)(seconds * 1e9);
    policy->cpu_limit = ns > 0 ? ns : 1;
    return 0;
}

#endif  /* Py_UNTRUSTED */
