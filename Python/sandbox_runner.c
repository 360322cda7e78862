/* Untrusted interpreters: runner threads.
 *
 * A job that the host's main interpreter runs goes to a runner, a thread
 * of the engine's, while the host's thread waits for it with the GIL
 * released, until a deadline (Python/sandbox_transport.c).  A job that is
 * not back by then is given up: the host gets its thread back, and the
 * runner finishes it on its own, then hands it to the caller's `lost`
 * function (which ends the interpreter).  Runners wait idle for the next
 * job, RUNNER_IDLE_NS at most, RUNNERS_IDLE_MAX of them.  Before either
 * side sleeps on a condition, it spins RUNNER_SPIN_NS for the other: a
 * short job comes back, and a host's next job comes, without two wake-ups
 * of the scheduler.
 *
 * Nothing here knows about jobs: a runner calls run(ticket, arg), and
 * lost(arg) if the host gave up.
 */

#include "Python.h"
#include "pycore_runtime.h"       // _PyRuntime.signals.is_tripped
#include "pycore_sandbox_state.h" // _PySandbox_RunOnRunner()

#ifdef Py_UNTRUSTED

#include <errno.h>                // ETIMEDOUT
#include <pthread.h>
#include <sched.h>                // sched_yield()
#include <signal.h>               // pthread_sigmask()
#include <sys/resource.h>         // getrlimit()

#define RUNNER_IDLE_NS ((PyTime_t)30 * 1000 * 1000 * 1000)
#define RUNNERS_IDLE_MAX 8
#define RUNNER_SPIN_NS ((PyTime_t)100 * 1000)
/* How often the host's main thread looks for a signal while it waits. */
#define RUNNER_SIGNAL_NS ((PyTime_t)20 * 1000 * 1000)

/* One job handed to a runner. */
struct _PySandboxRunnerTicket {
    void (*run)(_PySandboxRunnerTicket *ticket, void *arg);
    void (*lost)(void *arg);
    void *arg;
    /* Under runners_mutex (done also read atomically by the host while it
       spins): the job's thread, the end, whether the host sleeps on
       *changed* for it; or the host gave up on it, and the runner owns
       the ticket and its argument. */
    pthread_cond_t changed;
    int done, given_up, host_sleeps;
    long tid;
};

typedef struct runner {
    pthread_cond_t work;        /* the runner waits for a job */
    _PySandboxRunnerTicket *ticket;     /* the job to run, NULL while idle
                                           (read atomically while it
                                           spins) */
    int sleeps;                 /* it waits on *work* */
    struct runner *next_idle;
} runner;

static pthread_mutex_t runners_mutex = PTHREAD_MUTEX_INITIALIZER;
static runner *idle_runners;
static int n_idle_runners;

/* Spin until *flag* (read atomically, a pointer or an int) is set, or
 * RUNNER_SPIN_NS: whether it is. */
static int
spin_for(void **ptr, int *flag)
{
    PyTime_t until = 0;
    for (unsigned int i = 0; ; i++) {
        if (ptr != NULL ? _Py_atomic_load_ptr(ptr) != NULL
                        : _Py_atomic_load_int(flag) != 0)
        {
            return 1;
        }
        if ((i & 63) == 0) {
            PyTime_t now = _PySandbox_MonotonicNs();
            if (until == 0) {
                until = now + RUNNER_SPIN_NS;
            }
            else if (now >= until) {
                return 0;
            }
        }
#if defined(__x86_64__) || defined(__i386__)
        __asm__ __volatile__("pause");
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#else
        (void)sched_yield();
#endif
    }
}

static void
free_ticket(_PySandboxRunnerTicket *ticket)
{
    (void)pthread_cond_destroy(&ticket->changed);
    PyMem_RawFree(ticket);
}

int
_PySandbox_RunnerGaveUp(_PySandboxRunnerTicket *ticket)
{
    pthread_mutex_lock(&runners_mutex);
    int given_up = ticket->given_up;
    pthread_mutex_unlock(&runners_mutex);
    return given_up;
}

void
_PySandbox_RunnerSetThread(_PySandboxRunnerTicket *ticket, long tid)
{
    pthread_mutex_lock(&runners_mutex);
    ticket->tid = tid;
    pthread_mutex_unlock(&runners_mutex);
}

/* On the runner: run *ticket*, then tell the host, or, if it gave up,
 * hand the argument to lost() and free the ticket. */
static void
run_ticket(_PySandboxRunnerTicket *ticket)
{
    ticket->run(ticket, ticket->arg);
    pthread_mutex_lock(&runners_mutex);
    int given_up = ticket->given_up;
    if (!given_up) {
        _Py_atomic_store_int(&ticket->done, 1);
        if (ticket->host_sleeps) {
            pthread_cond_signal(&ticket->changed);
        }
    }
    pthread_mutex_unlock(&runners_mutex);
    if (given_up) {
        /* The host no longer waits. */
        ticket->lost(ticket->arg);
        free_ticket(ticket);
    }
}

static void *
runner_main(void *arg)
{
    runner *self = arg;
    /* The host's signals are for its own threads; the wake signal ends
       the job's blocking calls. */
    sigset_t set;
    sigfillset(&set);
    int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS,
                         SIGABRT};
    for (size_t i = 0; i < Py_ARRAY_LENGTH(synchronous); i++) {
        sigdelset(&set, synchronous[i]);
    }
    sigdelset(&set, SIGRTMAX - 2);
    (void)pthread_sigmask(SIG_SETMASK, &set, NULL);

    pthread_mutex_lock(&runners_mutex);
    for (;;) {
        if (self->ticket == NULL) {
            pthread_mutex_unlock(&runners_mutex);
            (void)spin_for((void **)&self->ticket, NULL);
            pthread_mutex_lock(&runners_mutex);
        }
        while (self->ticket == NULL) {
            PyTime_t until = _PySandbox_MonotonicNs() + RUNNER_IDLE_NS;
            struct timespec ts = {
                .tv_sec = (time_t)(until / 1000000000),
                .tv_nsec = (long)(until % 1000000000),
            };
            self->sleeps = 1;
            int rc = pthread_cond_timedwait(&self->work, &runners_mutex,
                                            &ts);
            self->sleeps = 0;
            if (rc == ETIMEDOUT && self->ticket == NULL) {
                goto leave;
            }
        }
        _PySandboxRunnerTicket *ticket = self->ticket;
        pthread_mutex_unlock(&runners_mutex);
        run_ticket(ticket);
        pthread_mutex_lock(&runners_mutex);
        _Py_atomic_store_ptr(&self->ticket, NULL);
        if (n_idle_runners >= RUNNERS_IDLE_MAX) {
            pthread_mutex_unlock(&runners_mutex);
            goto done;
        }
        self->next_idle = idle_runners;
        idle_runners = self;
        n_idle_runners++;
    }

leave:
    /* Idle too long: out of the list. */
    for (runner **p = &idle_runners; *p != NULL; p = &(*p)->next_idle) {
        if (*p == self) {
            *p = self->next_idle;
            n_idle_runners--;
            break;
        }
    }
    pthread_mutex_unlock(&runners_mutex);
done:
    (void)pthread_cond_destroy(&self->work);
    PyMem_RawFree(self);
    return NULL;
}

/* A child of fork() has none of the parent's runners. */
static void
runners_after_fork(void)
{
    pthread_mutex_init(&runners_mutex, NULL);
    idle_runners = NULL;
    n_idle_runners = 0;
    _PySandbox_LostAfterFork();
}

/* A condition on the monotonic clock: 0, or -1. */
static int
init_cond(pthread_cond_t *cond)
{
    pthread_condattr_t cattr;
    if (pthread_condattr_init(&cattr) != 0) {
        return -1;
    }
    (void)pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &cattr);
    pthread_condattr_destroy(&cattr);
    return rc == 0 ? 0 : -1;
}

/* An idle runner, or a new one; NULL if no thread could be started.
 * Under runners_mutex. */
static runner *
take_runner(void)
{
    if (idle_runners != NULL) {
        runner *r = idle_runners;
        idle_runners = r->next_idle;
        n_idle_runners--;
        r->next_idle = NULL;
        return r;
    }
    static int atfork_set;
    if (!atfork_set) {
        if (pthread_atfork(NULL, NULL, runners_after_fork) != 0) {
            return NULL;
        }
        atfork_set = 1;
    }
    runner *r = PyMem_RawCalloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    if (init_cond(&r->work) < 0) {
        PyMem_RawFree(r);
        return NULL;
    }
    /* A stack like the main thread's, where the host ran jobs before. */
    size_t stack = 8 * 1024 * 1024;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
        && rl.rlim_cur >= 1024 * 1024 && rl.rlim_cur <= 256 * 1024 * 1024)
    {
        stack = (size_t)rl.rlim_cur;
    }
    pthread_attr_t attr;
    pthread_t thread;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        (void)pthread_attr_setstacksize(&attr, stack);
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        rc = pthread_create(&thread, &attr, runner_main, r);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        (void)pthread_cond_destroy(&r->work);
        PyMem_RawFree(r);
        return NULL;
    }
    return r;
}

/* Has a signal come for the host's Python handlers? */
static int
signal_pending(void)
{
    return _Py_atomic_load_int(&_PyRuntime.signals.is_tripped);
}

_PySandboxRunnerTicket *
_PySandbox_RunnerStart(void (*run)(_PySandboxRunnerTicket *, void *),
                       void (*lost)(void *), void *arg)
{
    _PySandboxRunnerTicket *ticket = PyMem_RawCalloc(1, sizeof(*ticket));
    if (ticket == NULL) {
        return NULL;
    }
    if (init_cond(&ticket->changed) < 0) {
        PyMem_RawFree(ticket);
        return NULL;
    }
    ticket->run = run;
    ticket->lost = lost;
    ticket->arg = arg;
    pthread_mutex_lock(&runners_mutex);
    runner *r = take_runner();
    if (r != NULL) {
        _Py_atomic_store_ptr(&r->ticket, ticket);
        if (r->sleeps) {
            pthread_cond_signal(&r->work);
        }
    }
    pthread_mutex_unlock(&runners_mutex);
    if (r == NULL) {
        free_ticket(ticket);
        return NULL;
    }
    return ticket;
}

int
_PySandbox_RunnerWait(_PySandboxRunnerTicket *ticket, PyTime_t until,
                      int signals, long *tid)
{
    int outcome = 1;
    Py_BEGIN_ALLOW_THREADS
    (void)spin_for(NULL, &ticket->done);
    pthread_mutex_lock(&runners_mutex);
    while (!ticket->done) {
        if (signals && signal_pending()) {
            *tid = ticket->tid;
            outcome = 2;
            break;
        }
        PyTime_t now = _PySandbox_MonotonicNs();
        if (now >= until) {
            /* From now on the runner owns the ticket. */
            ticket->given_up = 1;
            *tid = ticket->tid;
            outcome = 0;
            break;
        }
        PyTime_t wake = until;
        if (signals && now + RUNNER_SIGNAL_NS < wake) {
            wake = now + RUNNER_SIGNAL_NS;
        }
        struct timespec ts = {
            .tv_sec = (time_t)(wake / 1000000000),
            .tv_nsec = (long)(wake % 1000000000),
        };
        ticket->host_sleeps = 1;
        (void)pthread_cond_timedwait(&ticket->changed, &runners_mutex, &ts);
    }
    pthread_mutex_unlock(&runners_mutex);
    Py_END_ALLOW_THREADS
    return outcome;
}

void
_PySandbox_RunnerFree(_PySandboxRunnerTicket *ticket)
{
    assert(ticket->done && !ticket->given_up);
    free_ticket(ticket);
}

#endif  /* Py_UNTRUSTED */
