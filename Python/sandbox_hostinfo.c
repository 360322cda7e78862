/* Untrusted interpreters: the host's identity.
 *
 * Without the filesystem_info grant, an untrusted interpreter learns
 * nothing of the machine and the account that run it from the os
 * module: its process and user IDs, its processors and load, the
 * kernel's release are neutral values, the same in every interpreter and
 * on every host (the node name is network information:
 * Python/sandbox_net.c).  Modules/posixmodule.c calls the hooks (patch
 * 0197); Doc/sandbox/information.rst lists each call and its answer.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // ESRCH
#include <sys/resource.h>         // PRIO_USER
#include <sys/socket.h>           // SO_PEERCRED
#if defined(__linux__) && !defined(SO_PEERPIDFD)
#  define SO_PEERPIDFD 77         // Linux 6.5; newer than the C library
#endif
#include <unistd.h>               // _SC_NPROCESSORS_ONLN

/* The neutral values.  The IDs are those a process sees in a PID and a
 * user namespace: its own process 2, started by 1, and the overflow ID
 * of a user or group that the namespace does not map. */
#define VIRTUAL_PID 2
#define VIRTUAL_PPID 1
#define VIRTUAL_ID 65534
#define VIRTUAL_RELEASE "0.0.0"
#define VIRTUAL_VERSION "#1"
/* sysconf()'s limits that the kernel derives from the memory. */
#define VIRTUAL_PROCESS_LIMIT 4096

int
PySandboxPolicy_AllowFilesystemInfo(PySandboxPolicy *policy, int allow)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_AllowFilesystemInfo: policy is "
                        "NULL");
        return -1;
    }
    policy->filesystem_info = allow != 0;
    return 0;
}

/* The processors an interpreter of *policy* is told it has: one per
 * thread the policy grants, at least one. */
static long
virtual_cpus(const PySandboxPolicy *policy)
{
    return policy->max_threads > 0 ? (long)policy->max_threads : 1;
}

void
_PySandbox_HostConfig(const PySandboxPolicy *policy, PyConfig *config)
{
    /* os.cpu_count() answers the config's count first, and
       os.process_cpu_count() is then os.cpu_count() (Lib/os.py). */
    if (!policy->filesystem_info) {
        config->cpu_count = (int)virtual_cpus(policy);
    }
}

/* The state of the current interpreter if it hides the host, else NULL. */
static struct _PySandboxState *
hiding(void)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    return state != NULL && !state->policy.filesystem_info ? state : NULL;
}

int
_PySandbox_HostIdSlow(int which, long *value)
{
    struct _PySandboxState *state = hiding();
    if (state == NULL) {
        return 0;
    }
    switch (which) {
    case _PySandbox_ID_PID:
    case _PySandbox_ID_PGRP:
        *value = VIRTUAL_PID;
        return 1;
    case _PySandbox_ID_PPID:
        *value = VIRTUAL_PPID;
        return 1;
    case _PySandbox_ID_USER:
        *value = VIRTUAL_ID;
        return 1;
    case _PySandbox_ID_CPUS:
        *value = virtual_cpus(&state->policy);
        return 1;
    case _PySandbox_ID_THREAD:
        /* The kernel's thread IDs are numbered with the processes: the
           interpreter's own count of thread states instead, from 2. */
        *value = 1 + (long)_PyThreadState_GET()->id;
        return 1;
    }
    return 0;
}

/* Another process than itself: as if it did not exist.  -1 with
   ProcessLookupError set. */
static int
no_such_process(void)
{
    errno = ESRCH;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

int
_PySandbox_HostProcessIdSlow(int which, long pid, long *value)
{
    if (hiding() == NULL) {
        return 0;
    }
    /* Two processes exist: 2 (itself, also as 0) and 1, each its own
       group, both in session 1. */
    if (pid == 0) {
        pid = VIRTUAL_PID;
    }
    if (pid != VIRTUAL_PID && pid != VIRTUAL_PPID) {
        return no_such_process();
    }
    *value = which == _PySandbox_ID_SID ? VIRTUAL_PPID : pid;
    return 1;
}

int
_PySandbox_HostPidSlow(int *pid)
{
    if (hiding() == NULL) {
        return 0;
    }
    /* Itself (0, or 2 as it knows itself): its own; no other exists. */
    if (*pid == 0 || *pid == VIRTUAL_PID) {
        *pid = 0;
        return 0;
    }
    return no_such_process();
}

int
_PySandbox_HostPriorityWhoSlow(int *which, int *who)
{
    if (hiding() == NULL) {
        return 0;
    }
    /* Its group and its user (0, or the neutral IDs) are itself alone:
       the kernel's answer for them is the highest priority of every
       process in the group, or of the user, the host's others too. */
    int self = *who == 0 || *who == VIRTUAL_PID;
#ifdef PRIO_USER
    if (*which == PRIO_USER) {
        self = *who == 0 || *who == VIRTUAL_ID;
    }
#endif
    if (!self) {
        return no_such_process();
    }
#ifdef PRIO_PROCESS
    *which = PRIO_PROCESS;
#endif
    *who = 0;
    return 0;
}

int
_PySandbox_CheckClockSlow(long clock)
{
    /* A negative clock is another process's or thread's CPU clock (its
       ID encoded: a probe of which exist, and their CPU time), or a
       descriptor's: refused whatever the grant. */
    if (clock >= 0) {
        return 0;
    }
    return _PySandbox_Deny("trusted", "time: the clock of a process, a "
                           "thread or a descriptor");
}

int
_PySandbox_HostSysconfSlow(int name, long *value)
{
    struct _PySandboxState *state = hiding();
    if (state == NULL) {
        return 0;
    }
    switch (name) {
#ifdef _SC_CHILD_MAX
    /* The kernel derives these default limits from the machine's
       memory. */
    case _SC_CHILD_MAX:
#endif
#ifdef _SC_SIGQUEUE_MAX
    case _SC_SIGQUEUE_MAX:
#endif
        *value = VIRTUAL_PROCESS_LIMIT;
        return 1;
#ifdef _SC_MINSIGSTKSZ
    /* The signal stack's sizes follow the processor's features (its
       vector registers' state): the classic constants. */
    case _SC_MINSIGSTKSZ:
        *value = 2048;
        return 1;
#endif
#ifdef _SC_SIGSTKSZ
    case _SC_SIGSTKSZ:
        *value = 8192;
        return 1;
#endif
#ifdef _SC_LEVEL1_ICACHE_SIZE
    /* The processor's caches name its model: unknown, as the C library
       says when it cannot tell. */
    case _SC_LEVEL1_ICACHE_SIZE: case _SC_LEVEL1_ICACHE_ASSOC:
    case _SC_LEVEL1_ICACHE_LINESIZE: case _SC_LEVEL1_DCACHE_SIZE:
    case _SC_LEVEL1_DCACHE_ASSOC: case _SC_LEVEL1_DCACHE_LINESIZE:
    case _SC_LEVEL2_CACHE_SIZE: case _SC_LEVEL2_CACHE_ASSOC:
    case _SC_LEVEL2_CACHE_LINESIZE: case _SC_LEVEL3_CACHE_SIZE:
    case _SC_LEVEL3_CACHE_ASSOC: case _SC_LEVEL3_CACHE_LINESIZE:
    case _SC_LEVEL4_CACHE_SIZE: case _SC_LEVEL4_CACHE_ASSOC:
    case _SC_LEVEL4_CACHE_LINESIZE:
        *value = 0;
        return 1;
#endif
#ifdef _SC_NPROCESSORS_ONLN
    case _SC_NPROCESSORS_ONLN:
#endif
#ifdef _SC_NPROCESSORS_CONF
    case _SC_NPROCESSORS_CONF:
#endif
        *value = virtual_cpus(&state->policy);
        return 1;
#if defined(_SC_PHYS_PAGES) && defined(_SC_AVPHYS_PAGES)
    case _SC_PHYS_PAGES:
    case _SC_AVPHYS_PAGES: {
        /* The machine's memory is its memory cap. */
        long page = sysconf(_SC_PAGESIZE);
        *value = page > 0
                 ? (long)(_PySandboxPolicy_MemoryCap(&state->policy) / page)
                 : 0;
        return 1;
    }
#endif
    }
    return 0;
}

int
_PySandbox_HostCpuSetSlow(PyObject **cpus)
{
    struct _PySandboxState *state = hiding();
    if (state == NULL) {
        return 0;
    }
    /* Processors 0 to the count minus one, whatever process is named:
       no answer tells whether another exists. */
    *cpus = PySet_New(NULL);
    for (long i = 0; *cpus != NULL && i < virtual_cpus(&state->policy);
         i++)
    {
        PyObject *cpu = PyLong_FromLong(i);
        if (cpu == NULL || PySet_Add(*cpus, cpu) < 0) {
            Py_CLEAR(*cpus);
        }
        Py_XDECREF(cpu);
    }
    return 1;
}

void
_PySandbox_HideReleaseSlow(char *release, size_t release_size,
                           char *version, size_t version_size)
{
    if (hiding() == NULL) {
        return;
    }
    if (release_size > 0) {
        PyOS_snprintf(release, release_size, "%s", VIRTUAL_RELEASE);
    }
    if (version_size > 0) {
        PyOS_snprintf(version, version_size, "%s", VIRTUAL_VERSION);
    }
}

int
_PySandbox_CheckGetSockOptSlow(int level, int option)
{
    /* The peer's credentials: over a socket pair, the process's own
       process, user and group IDs.  Other options: the network's. */
    if (level != SOL_SOCKET) {
        return _PySandbox_CheckNetGetSockOpt(level, option);
    }
#ifdef SO_PEERPIDFD
    /* A new descriptor of the process, which the interpreter would not
       own: never, whatever the grant. */
    if (option == SO_PEERPIDFD) {
        return _PySandbox_Deny("descriptor", "socket.getsockopt"
                               "(SO_PEERPIDFD): a new descriptor");
    }
#endif
    switch (option) {
#ifdef SO_PEERCRED
    case SO_PEERCRED:
        return _PySandbox_CheckHostInfoSlow("socket.getsockopt(SO_PEERCRED)");
#endif
#ifdef SO_PEERGROUPS
    case SO_PEERGROUPS:
        return _PySandbox_CheckHostInfoSlow(
            "socket.getsockopt(SO_PEERGROUPS)");
#endif
#ifdef SO_PEERSEC
    case SO_PEERSEC:
        return _PySandbox_CheckHostInfoSlow("socket.getsockopt(SO_PEERSEC)");
#endif
    }
    return _PySandbox_CheckNetGetSockOpt(level, option);
}

int
_PySandbox_CheckHostInfoSlow(const char *what)
{
    if (hiding() == NULL) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "%s (filesystem_info)", what);
    return _PySandbox_Deny("information", detail);
}

#endif  /* Py_UNTRUSTED */
