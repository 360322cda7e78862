/* Untrusted interpreters: the engine's shared state and its internal
 * interfaces.
 *
 * The policy and the per-interpreter state (PyInterpreterState.sandbox),
 * and what each file of the engine (Python/sandbox*.c) offers the others.
 * The hooks that upstream files call are in pycore_sandbox.h, the public C
 * API in Include/cpython/sandbox.h; Doc/sandbox/internals.rst draws the
 * whole.  Only the engine (and its face, Modules/_sandboxmodule.c)
 * includes this header.
 */
#ifndef Py_INTERNAL_SANDBOX_STATE_H
#define Py_INTERNAL_SANDBOX_STATE_H
#ifdef __cplusplus
extern "C" {
#endif

#ifndef Py_BUILD_CORE
#  error "this header requires Py_BUILD_CORE define"
#endif

#ifdef Py_UNTRUSTED

#include <sys/stat.h>             // struct stat
#include "pycore_ceval.h"         // Py_DEFAULT_RECURSION_LIMIT
#include "pycore_lock.h"          // PyMutex_LockFlags()
#include "pycore_sandbox.h"       // PySandboxPolicy, _PySandbox_MAX_FD
#include "pycore_sandbox_stack.h" // struct _PySandboxDeferred

/* The engine's mutexes are taken without letting go of the caller's GIL
 * (as HEAD_LOCK() does): a waiter handed the mutex must not then wait for
 * its GIL, which one of its interpreter's threads may hold for good (in
 * open() of a FIFO, in a long C loop), with the mutex held.  No critical
 * section waits for anything. */
#define _PySandbox_LOCK(mutex) \
    PyMutex_LockFlags((mutex), _Py_LOCK_DONT_DETACH)

/* A file or directory that a policy grants, and for what: PySandbox_READ,
 * or PySandbox_READ | PySandbox_WRITE.  The path is absolute and
 * normalized, without "..". */
typedef struct {
    char *path;
    int access;
    char *guest;                /* where the interpreter sees it (NULL: at
                                   *path*), absolute and normalized */
} sandbox_path_rule;

/* An extension module outside the standard library, bound to its file. */
typedef struct {
    char *name;
    char *file;                 /* absolute */
} sandbox_module_file;

/* A network entry of a policy (Python/sandbox_net.c): a host and the
 * ports it covers.  Its text is the entry in its one form, which the
 * policy's fields show and a worker process receives. */
typedef struct {
    char *text;
    int host;                   /* SANDBOX_NET_ANY ... SANDBOX_NET_NAME */
    unsigned char addr[16];     /* _V4: the first 4 bytes, network order */
    char *name;                 /* _NAME: lower case, no final dot */
    unsigned int lo, hi;        /* the ports, both included */
} sandbox_net_rule;

#define SANDBOX_NET_ANY 0       /* "*": every address (and name) */
#define SANDBOX_NET_LOOPBACK 1  /* "localhost": 127.0.0.0/8 and ::1 */
#define SANDBOX_NET_V4 2
#define SANDBOX_NET_V6 3
#define SANDBOX_NET_NAME 4      /* the addresses the engine resolves */

/* A policy's three lists of network entries. */
#define SANDBOX_NET_CONNECT 0   /* net: where it may connect and send */
#define SANDBOX_NET_LISTEN 1    /* listen: where it may bind and listen */
#define SANDBOX_NET_DENY 2      /* deny_net: never, whatever the others */
#define SANDBOX_NET_LISTS 3

/* A policy: what an untrusted interpreter may do.  The protections add
 * their fields here as they are enforced; a zeroed policy grants nothing. */
struct _PySandboxPolicy {
    Py_ssize_t memory;          /* the memory cap in bytes; 0: the default */
    /* The memory group whose budget it counts against too, referenced
       (PySandboxPolicy_SetMemoryGroup()); never in an interpreter's own
       copy, where its account's parent holds the group. */
    struct _PySandboxMemoryGroup *group;
    PyTime_t time_limit;        /* a job's wall-clock limit in ns; 0: the
                                   default (or a nested one's creator's) */
    PyTime_t cpu_limit;         /* a job's CPU time over all its threads in
                                   ns; 0: its time limit */
    Py_ssize_t max_threads;     /* threads alive at once besides the job's */
    int recursion_limit;        /* the highest sys.setrecursionlimit(); 0:
                                   Python's default */
    char **env;                 /* names of the variables os.environ gets */
    Py_ssize_t n_env;
    /* Filled by PySandbox_NewInterpreter(), never by the policy's owner:
       "NAME=value" of those variables that its creator had, which the new
       interpreter's os.environ starts with. */
    char **environ;
    Py_ssize_t n_environ;
    char **modules;             /* extension modules beyond the default */
    Py_ssize_t n_modules;
    char **blocked;             /* default ones it may not load */
    Py_ssize_t n_blocked;
    sandbox_module_file *module_files;  /* others, each from its file */
    Py_ssize_t n_module_files;
    sandbox_path_rule *paths;   /* the files and directories it may read,
                                   or read and change */
    Py_ssize_t n_paths;
    char **packages;            /* directories it reads, on its sys.path */
    Py_ssize_t n_packages;
    /* Those of its package roots whose bytecode caches the host trusts
       (sandbox_bytecode.c), each one of packages. */
    char **trusted_bytecode;
    Py_ssize_t n_trusted_bytecode;
    sandbox_net_rule *net[SANDBOX_NET_LISTS];   /* Python/sandbox_net.c */
    Py_ssize_t n_net[SANDBOX_NET_LISTS];
    int network_info;           /* it may see the host's name, interfaces */
    int filesystem_info;        /* it may see the host's identity
                                   (Python/sandbox_hostinfo.c) */
    /* Its budget over its life (PySandboxPolicy_SetNetBudget()): the
       bytes it may send and receive, the connections it may make and
       accept; each at least 1, or 0: no budget. */
    Py_ssize_t net_bytes_cap;
    Py_ssize_t net_connections_cap;
    /* Filled by PySandbox_NewInterpreter() for an untrusted creator: its
       denials, which the new interpreter's own copy adds to its own. */
    const sandbox_net_rule *creator_denied;
    Py_ssize_t n_creator_denied;
    /* Filled by PySandbox_NewInterpreter() for an untrusted creator: the
       grants of *paths*, opened beneath the creator's own, which the new
       interpreter copies rather than opening the paths again. */
    struct sandbox_grant *opened;
    Py_ssize_t n_opened;
    /* Filled by PySandbox_NewInterpreter(): the creator's working
       directory, the new interpreter's first virtual one; and an untrusted
       creator's grants, while it creates this one. */
    char *cwd;
    const struct sandbox_grant *creator_grants;
    Py_ssize_t n_creator_grants;
    const int *creator_roots;
    Py_ssize_t n_creator_roots;
};

/* The most entries of each list of a policy (paths, names). */
#define SANDBOX_MAX_POLICY_ENTRIES 1024

/* The most threads a policy grants at once. */
#define SANDBOX_MAX_THREADS 1024

/* The recursion limit of a policy that sets none. */
#define SANDBOX_DEFAULT_RECURSION_LIMIT Py_DEFAULT_RECURSION_LIMIT
/* The most a policy may set: deeper Python recursion costs memory, not C
   stack, in 3.13, but nothing ordinary needs more. */
#define SANDBOX_MAX_RECURSION_LIMIT 1000000

static inline int
_PySandboxPolicy_RecursionLimit(const PySandboxPolicy *policy)
{
    return (policy->recursion_limit > 0 ? policy->recursion_limit
                                        : SANDBOX_DEFAULT_RECURSION_LIMIT);
}

/* The memory cap of a policy that sets none, and the range a policy may
 * set: below the least, an interpreter could not even start. */
#define SANDBOX_DEFAULT_MEMORY ((Py_ssize_t)256 * 1024 * 1024)
#define SANDBOX_MIN_MEMORY ((Py_ssize_t)16 * 1024 * 1024)
#define SANDBOX_MAX_MEMORY ((Py_ssize_t)1024 * 1024 * 1024 * 1024)

/* What the process's budget must have left for an interpreter to be
 * created (one starts with 3 to 5 MiB). */
#define SANDBOX_START_MEMORY ((Py_ssize_t)8 * 1024 * 1024)

/* The wall-clock limit of a job (Python/sandbox_time.c), in nanoseconds:
 * without one in the policy, and the most a policy may give (a week). */
#define SANDBOX_DEFAULT_TIME ((PyTime_t)30 * 1000000000)
#define SANDBOX_MAX_TIME ((PyTime_t)7 * 24 * 3600 * 1000000000)

static inline Py_ssize_t
_PySandboxPolicy_MemoryCap(const PySandboxPolicy *policy)
{
    return policy->memory > 0 ? policy->memory : SANDBOX_DEFAULT_MEMORY;
}

/* A block of an untrusted interpreter's heap that the C allocator gives
 * (Python/sandbox_memory.c): obmalloc's large blocks, and the compression
 * libraries'.  The header links it into its heap's list, so that the
 * interpreter's end frees what its objects still hold, and says what it
 * was charged. */
typedef struct sandbox_block {
    struct sandbox_block *prev;
    struct sandbox_block *next;
    Py_ssize_t charged;         /* the header and the bytes asked for */
    uintptr_t seal;             /* its heap's address ^ SANDBOX_SEAL */
} sandbox_block;

/* The count that a cap binds: what an untrusted interpreter and the
 * interpreters it created (its descendants) hold.  Reference counted: an
 * interpreter's account lives as long as it or one of its descendants
 * does, which may outlive it (abandoned), and each account holds its
 * creator's.  Atomic counters.  A memory group's budget is an account
 * too (PySandbox_NewMemoryGroup()): the parent of its members' own. */
typedef struct sandbox_account {
    Py_ssize_t refs;
    Py_ssize_t used;
    Py_ssize_t cap;             /* PY_SSIZE_T_MAX until it is created */
    struct sandbox_account *parent;     /* its untrusted creator's, or its
                                           memory group's */
    int group;                  /* a memory group's budget */
} sandbox_account;

/* PySandboxMemoryGroup: its account first, so that the last reference
 * frees both (account_decref()). */
struct _PySandboxMemoryGroup {
    sandbox_account account;
};

/* What an untrusted interpreter holds, counted against its cap
 * (PyInterpreterState.obmalloc->sandbox points here). */
struct _PySandboxHeap {
    Py_ssize_t used;            /* bytes charged to it (atomic) */
    Py_ssize_t peak;            /* the most used since the last reset */
    sandbox_account *account;   /* what its cap binds (raw-allocated) */
    int refusing;               /* a refusal was logged, and no charge
                                   succeeded since */
    PyMutex mutex;              /* the list of blocks */
    sandbox_block blocks;       /* the list's head */
#ifdef Py_DEBUG
    /* Allocation-failure injection (_PySandbox_InjectFailures()): the
       allocations from the start-th to fail, how many, and how many were
       made since it was set; under the interpreter's GIL. */
    Py_ssize_t inject_start;
    Py_ssize_t inject_count;
    Py_ssize_t inject_seen;
#endif
};

/* How long an ending untrusted interpreter waits for its threads to stop
 * before it abandons them (and its memory). */
#define SANDBOX_THREADS_GRACE_NS ((PyTime_t)1000 * 1000 * 1000)

/* What an untrusted interpreter wrote to one of its standard streams,
 * waiting for the host to take it.  Outside the interpreter's heap; the
 * mutex lets the host take it while the interpreter runs. */
typedef struct {
    PyMutex mutex;
    char *data;
    size_t len;
    size_t allocated;
} sandbox_output;

/* The most a stream holds before the host takes it. */
#define SANDBOX_OUTPUT_LIMIT ((size_t)16 * 1024 * 1024)

/* One denial, as the host reads it.  The strings are raw-allocated. */
typedef struct {
    PyTime_t time;          /* wall clock */
    char *resource;         /* what was asked for: "trusted", "file", ... */
    char *detail;           /* the full detail, never shown to the denied */
    char *location;         /* "file:line" of the Python code, or "" */
} sandbox_denial;

/* The denial log keeps the newest entries. */
#define SANDBOX_DENIAL_LOG_SIZE 256

/* One extended protection: a (group, type) of one of four kinds. */
typedef enum {
    EXT_TRUE = 1,
    EXT_CAP,
    EXT_MEMBERSHIP,
    EXT_VALUE,
} ext_kind;

typedef struct {
    char *group;
    char *type;
    ext_kind kind;
    Py_ssize_t cap, used;               /* EXT_CAP */
    char **members;                     /* EXT_MEMBERSHIP */
    Py_ssize_t nmembers;
    char *value;                        /* EXT_VALUE */
} ext_entry;

/* The state of one untrusted interpreter: PyInterpreterState.sandbox.
 * Allocated with the raw allocator, outside the interpreter's own heap. */
struct _PySandboxState {
    int ending;                 /* Py_EndInterpreter() began: no Python */
    int64_t parent_id;          /* the untrusted creator's ID, or -1 */
    int abandoned;              /* ended with threads it could not stop */
    int stopping;               /* its end is near: no more Python */
    /* Its end began: it creates no interpreter from now on (set, and read
       by a creation, under the runtime's lock of interpreters). */
    int no_children;
    /* PySandbox_NewInterpreter() is done with it (under that lock): until
       then no job enters it and no end claims it. */
    int created;
    /* Set when an ancestor's end began: its own end, then, waits for its
       threads until this time at the latest, so that a whole tree of
       interpreters ends within about one grace period more than its root
       (0: none). */
    PyTime_t end_deadline;
    PyMutex ext_mutex;          /* the host sets while the interpreter runs */
    ext_entry *ext;
    Py_ssize_t n_ext;           /* the entries of ext in use */
    Py_ssize_t ext_allocated;
    PySandboxPolicy policy;     /* the interpreter's own copy */
    struct _PySandboxHeap heap; /* what it holds: Python/sandbox_memory.c */
    sandbox_output output[2];   /* what it wrote to fds 1 and 2 */
    PyMutex log_mutex;
    uint64_t denials;           /* how many ever; the log keeps the last */
    sandbox_denial log[SANDBOX_DENIAL_LOG_SIZE];
    /* The descriptor table: bit n is set while the interpreter owns file
       descriptor n (it created it and has not closed it). */
    unsigned char fds[_PySandbox_MAX_FD / CHAR_BIT];
    /* Bit n is set while descriptor n, owned, came from a read-only grant:
       no call changes the file through it (fchmod(), a dir_fd to unlink
       in, ...). */
    unsigned char ro_fds[_PySandbox_MAX_FD / CHAR_BIT];
    /* The files it may use (DESIGN §4 "files"): its policy's paths, each
       opened when it was created, and the standard library's. */
    struct sandbox_grant *grants;
    Py_ssize_t n_grants;
    char *cwd;                  /* the virtual working directory */
    /* It may load code objects from the standard library's bytecode
       caches: no write grant of its own or of its creators overlaps the
       standard library (_PySandbox_InitBytecode()). */
    int trusted_bytecode;
    /* Bit n is set while the engine holds descriptor n for a path it
       resolved (not the interpreter's: its code cannot use it); those
       still held when it ends are closed then. */
    unsigned char internal_fds[_PySandbox_MAX_FD / CHAR_BIT];
    /* Its untrusted creators' write grants (descriptors), where the
       standard library's links may not lead either. */
    int *write_roots;
    Py_ssize_t n_write_roots;
    /* Objects whose deallocation waits for stack (sandbox_stack.c). */
    struct _PySandboxDeferred deferred;
    /* The descriptors that C calls of its threads checked and may not
       have used yet (sandbox_fd.c, "Uses"). */
    struct _PySandboxFdUse *fd_uses;
    Py_ssize_t n_fd_uses;
    Py_ssize_t fd_uses_allocated;
    /* The threads it started that have not ended, as their own exit sees
       them (watch_thread()), even when it is abandoned. */
    Py_ssize_t watched;
    /* The jobs running in it (threads of the host or of its creator,
       inside), and whether its end began: one excludes the other, under
       the runtime's lock of interpreters (_PySandbox_Enter()). */
    Py_ssize_t entered;
    int end_claimed;
    /* Where PySandbox_EndInterpreter() learns that its end abandoned the
       interpreter (_PySandbox_EndThreads()), or NULL. */
    int *end_abandoned;
    /* Abandoned (with threads it could not stop): when, whether its
       descriptors were closed, and the next of the runtime's list
       (sweep_abandoned()). */
    PyTime_t abandoned_at;
    int fds_closed;
    struct _PySandboxState *next_abandoned;
    /* A job's deadline passed (Python/sandbox_time.c): its code stops
       until the next job begins; and whether that was logged (atomic). */
    int time_expired;
    int time_reported;
    /* What stopped it: SANDBOX_STOP_TIME, SANDBOX_STOP_CPU, or the host
       (SANDBOX_STOP_INTERRUPT: a signal while it waited for the job). */
    int stop_reason;
    /* The deadline of the job that runs in it (monotonic ns; 0: none),
       which caps the waits of all its threads (_PySandbox_CapWait()). */
    PyTime_t job_deadline;
    /* The CPU time of the threads its code started that ended (ns,
       atomic): the CPU limit counts them too. */
    PyTime_t cpu_of_ended;
    /* The deadline of a job that returned while threads its code started
       still ran, watched until they stop there (Python/sandbox_time.c);
       listed under the watchdog's lock, unlisted at the next job or the
       interpreter's end. */
    struct _PySandboxJobTimer *linger;
    int linger_listed;
    /* The host stopped waiting for its job, which did not stop in time
       (Python/sandbox_transport.c): SANDBOX_LOST_RUNNING while the job's
       thread is still inside, which ends the interpreter as it comes out;
       SANDBOX_LOST_STOPPED if that end could not be claimed then (the
       host's next engine call or end ends it).  No job runs in it again.
       Atomic. */
    int lost;
    /* The addresses the engine resolved for the names its policy grants,
       each name once (Python/sandbox_net.c), under net_mutex. */
    PyMutex net_mutex;
    struct sandbox_pin *pins;
    /* What its network budget has used, and reserved for calls that run
       (atomic). */
    Py_ssize_t net_bytes_used;
    Py_ssize_t net_connections_used;
};

#define SANDBOX_LOST_RUNNING 1
#define SANDBOX_LOST_STOPPED 2

#define SANDBOX_STOP_TIME 0
#define SANDBOX_STOP_CPU 1
#define SANDBOX_STOP_INTERRUPT 2

/* A job's deadline, from its start to its end, in the list of the
 * watchdog (Python/sandbox_time.c); on the heap. */
typedef struct _PySandboxJobTimer {
    PyInterpreterState *interp;
    PyTime_t start;             /* monotonic, ns */
    PyTime_t deadline;
    struct _PySandboxJobTimer *next;    /* the watchdog's list */
    struct _PySandboxJobTimer *outer;   /* the job this one interrupted on
                                           its thread (a creator's) */
    long tid;                   /* its thread's, for the wake signal */
    int unblocked;              /* the wake signal was blocked in the
                                   thread: blocked again at the end */
    /* The CPU limit (ns), when the job could reach it before its deadline
       (cpu_check != 0): when the watchdog reads the clocks next, the
       threads that may burn it at once, the job's thread's clock, what
       that clock and the other threads' had used at the start. */
    PyTime_t cpu_limit;
    PyTime_t cpu_check;
    Py_ssize_t cpu_threads;
    clockid_t cpu_clock;
    PyTime_t cpu_start;
    PyTime_t cpu_base;
    int stop_reason;            /* -1 while it runs within its limits */
} _PySandboxJobTimer;


/* Where importlib looks for bytecode (restrict_config()): never there. */
#define SANDBOX_NO_BYTECODE_CACHE "/sandbox/no-bytecode-cache"

/* The virtual layout of an interpreter without filesystem_info
 * (Doc/sandbox/information.rst): its standard library's directories are
 * there, the host's script is the second, and its working directory
 * starts at the first unless a grant holds the host's. */
#define SANDBOX_GUEST_ROOT "/sandbox"
#define SANDBOX_GUEST_STDLIB "/sandbox/lib/python" \
    Py_STRINGIFY(PY_MAJOR_VERSION) "." Py_STRINGIFY(PY_MINOR_VERSION)

typedef struct sandbox_grant {
    char *root;         /* where the interpreter sees it: absolute, without
                           "." parts, duplicate or final slashes */
    char *host;         /* the path on the host, the same way (NULL: not
                           known, a nested grant's of an unknown one) */
    int fd;             /* O_PATH: the directory, or the file's directory */
    char *name;         /* a file: its name in fd; NULL for a directory */
    int access;         /* PySandbox_READ, or with PySandbox_WRITE */
    int host_links;     /* the standard library's: its symbolic links are
                           the host's, followed wherever they lead */
    int stdlib;         /* a directory of the standard library's search
                           path (its bytecode caches and build files are
                           hidden without filesystem_info) */
    int trusted_bytecode;   /* a package root whose bytecode caches the
                               host trusts (policy's trusted_bytecode) */
} sandbox_grant;

/* The descriptor table (DESIGN: "Decisions fixed now").
 *
 * An untrusted interpreter uses only the file descriptors it created: the
 * numbers are the process's, so 0, 1 and 2, the host's files and sockets
 * and every other tenant's are one integer away.  Each call that creates a
 * descriptor records it here after the system call; each call that takes
 * one checks it first, including the objects that keep one (a FileIO, a
 * socket), since a number closed behind their back can be reused by the
 * host; each call that closes one forgets it *before* the system call, so
 * that no other thread of the interpreter can use the number once the host
 * may reuse it.  Only the interpreter's own threads, holding its GIL, read
 * or write its table. */

/* Bit *fd* of one of the state's descriptor tables. */
static inline int
_PySandbox_FdBit(const unsigned char *table, int fd)
{
    return (fd >= 0 && fd < _PySandbox_MAX_FD
            && (table[fd / CHAR_BIT] >> (fd % CHAR_BIT)) & 1);
}

static inline int
_PySandbox_FdIsOwned(struct _PySandboxState *state, int fd)
{
    return _PySandbox_FdBit(state->fds, fd);
}

static inline void
_PySandbox_SetFdBit(unsigned char *table, int fd, int value)
{
    if (fd < 0 || fd >= _PySandbox_MAX_FD) {
        return;
    }
    /* Atomic: the sweep of an abandoned interpreter clears bits from
       another thread while a thread of it, holding its GIL, may set one
       of the same byte. */
    uint8_t bit = (uint8_t)(1U << (fd % CHAR_BIT));
    if (value) {
        (void)_Py_atomic_or_uint8((uint8_t *)&table[fd / CHAR_BIT], bit);
    }
    else {
        (void)_Py_atomic_and_uint8((uint8_t *)&table[fd / CHAR_BIT],
                                   (uint8_t)~bit);
    }
}

/* Clear bit *fd* of *table*; return whether it was set.  Of two threads
 * that may close a descriptor, the one that takes its bit does. */
static inline int
_PySandbox_TakeFdBit(unsigned char *table, int fd)
{
    if (fd < 0 || fd >= _PySandbox_MAX_FD) {
        return 0;
    }
    uint8_t bit = (uint8_t)(1U << (fd % CHAR_BIT));
    return (_Py_atomic_and_uint8((uint8_t *)&table[fd / CHAR_BIT],
                                 (uint8_t)~bit) & bit) != 0;
}

static inline int
_PySandbox_FdIsReadonly(struct _PySandboxState *state, int fd)
{
    return _PySandbox_FdBit(state->ro_fds, fd);
}

/* Python/sandbox.c: creation, threads, the end */

/* Before the caller enters untrusted *interp* to end it
 * (PySandbox_EndInterpreter()): stop the Python code of all its threads
 * and of its descendants, end its children, and wait up to the grace
 * period for its threads to exit, without taking its GIL.  If a thread is
 * still there (blocked, or in a long C loop), take the interpreter out of
 * the runtime without entering it, and return 1; else return 0. */
extern int _PySandbox_PrepareEnd(PyInterpreterState *interp);

/* A job enters untrusted *interp* (the transport): return 0, or -1 with
 * RuntimeError set if its end was claimed, or it is gone.  And leaves.
 * Its end is claimed only while no job is inside: a tenant that ends an
 * interpreter while another of its threads runs a job there (a thread of
 * the host's, perhaps) gets an error, and the thread inside never finds
 * its interpreter abandoned under it.  *func* names the caller. */
extern int _PySandbox_Enter(PyInterpreterState *interp);
extern void _PySandbox_Leave(PyInterpreterState *interp);
extern int _PySandbox_ClaimEnd(PyInterpreterState *interp,
                               const char *func, Py_ssize_t holds);

/* Find the untrusted interpreter with ID *id* that the current one may
 * find (itself or one it created, for an untrusted one), and hold it as a
 * job does (_PySandbox_Enter(); release it with _PySandbox_Leave()), all
 * under the runtime's lock: a pointer looked up and then used could be
 * ended and freed, even reused for another interpreter, by a thread in
 * between.  Return NULL with an exception set (a denial, in an untrusted
 * interpreter, for one it may not find) otherwise.  *func* names the
 * caller.  The _sandbox module finds interpreters only so. */
extern PyInterpreterState *_PySandbox_HoldByID(int64_t id, const char *func);

/* PySandbox_EndInterpreter() of an interpreter the caller holds
 * (_PySandbox_HoldByID()): the hold is released, whatever the outcome. */
extern int _PySandbox_EndHeld(PyInterpreterState *interp);
/* On the thread of a job that the host gave up on, once the job is out
 * and its hold released, with no thread state: end *interp* from a thread
 * state of the main interpreter made for it (or leave it
 * SANDBOX_LOST_STOPPED for the host's next engine call if the end cannot
 * be claimed within a second, or to the host's exit once it began). */
extern void _PySandbox_EndLost(PyInterpreterState *interp);
/* How long after its deadline the host waits for a job on a runner. */
#define SANDBOX_LATE_NS ((PyTime_t)100 * 1000 * 1000)
/* Stop the job that runs in *interp* now, as its deadline would
 * (SANDBOX_STOP_INTERRUPT), with what runs in the interpreters it
 * created; *tid*, its thread, is woken. */
extern void _PySandbox_InterruptJob(PyInterpreterState *interp, long tid);

/* In a child of fork(), which has no runner. */
extern void _PySandbox_LostAfterFork(void);

/* The end of interpreters (Python/sandbox.c), for the end of lost ones
 * (Python/sandbox_lost.c).  IsListed: is *interp* in the runtime's list
 * (under its lock)?  EndClaimed: end *interp*, whose end the caller
 * claimed: 0 ended, 1 abandoned, -1 with an exception.  EndOrphans: end
 * the children that their creator's end left (from the host).  EndPause:
 * a millisecond's wait in an end's loop (the host's GIL let go).
 * AbandonTree: abandon *interp*, claimed, with its children.  StopUntil:
 * a visitor of _PySandbox_ForEachDescendant() (under the lock): the
 * interpreter stops, creates none, and its end waits for its threads
 * until the PyTime_t that *arg* points to at most. */
extern int _PySandbox_IsListed(_PyRuntimeState *runtime,
                               PyInterpreterState *interp);
extern int _PySandbox_EndClaimed(PyInterpreterState *interp);
extern void _PySandbox_EndOrphans(void);
extern void _PySandbox_EndPause(void);
extern void _PySandbox_AbandonTree(PyInterpreterState *interp);
extern void _PySandbox_StopUntil(PyInterpreterState *i, void *arg);

/* Runner threads (Python/sandbox_runner.c).  Start: run(ticket, arg) on
 * one, without a thread state; NULL if no runner could take it (nothing
 * runs).  Wait for it, the GIL released, until *until* (monotonic, ns):
 * 1 if run() returned (then free the ticket); 0 if the caller gave up on
 * it: the runner then owns the ticket and *arg*, and calls lost(arg) once
 * run() returns; 2, if *signals*, when a signal came for the host's
 * handlers (the caller runs them, and waits again).  With 0 and 2, *tid*
 * is the thread that run() reported (0 before it did), for the wake
 * signal.  run() asks whether the caller gave up already (a runner slow
 * to start). */
typedef struct _PySandboxRunnerTicket _PySandboxRunnerTicket;
extern _PySandboxRunnerTicket *_PySandbox_RunnerStart(
    void (*run)(_PySandboxRunnerTicket *ticket, void *arg),
    void (*lost)(void *arg), void *arg);
extern int _PySandbox_RunnerWait(_PySandboxRunnerTicket *ticket,
                                 PyTime_t until, int signals, long *tid);
extern void _PySandbox_RunnerFree(_PySandboxRunnerTicket *ticket);
extern int _PySandbox_RunnerGaveUp(_PySandboxRunnerTicket *ticket);
extern void _PySandbox_RunnerSetThread(_PySandboxRunnerTicket *ticket,
                                       long tid);

/* May a job run in *interp*, which the caller holds?  Not once it stops
 * (its creator ends).  0, or -1 with RuntimeError set. */
extern int _PySandbox_CheckJobHeld(PyInterpreterState *interp);

/* PySandbox_Exec(), Eval() and Call() of an interpreter the caller holds
 * (Python/sandbox_transport.c): the job takes the hold over, and gives it
 * up before the thread goes back to the caller's interpreter, which may be
 * ending (the swap then ends the thread). */
extern int _PySandbox_ExecHeld(PyInterpreterState *interp,
                               const char *source, const char *filename);
extern PyObject *_PySandbox_EvalHeld(PyInterpreterState *interp,
                                     const char *expression);
extern PyObject *_PySandbox_CallHeld(PyInterpreterState *interp,
                                     const char *target, PyObject *args,
                                     PyObject *kwargs);

/* Python/sandbox_denial.c */

/* May the current interpreter control untrusted interpreter *interp* (run
 * code in it, take its output, end it)?  A trusted one may control any
 * (ValueError if *interp* is trusted), an untrusted one only those it
 * created (a denial otherwise).  Return 0, or -1 with an exception set. */
extern int _PySandbox_CheckController(PyInterpreterState *interp,
                                      const char *func);
extern void _PySandbox_ClearLog(struct _PySandboxState *state);
extern struct _PySandboxState *_PySandbox_ReadableState(
    PyInterpreterState *interp, const char *func);
/* Raise sandbox.PolicyError for the policy field *field* and the entry
 * *value* (a path or a name; NULL or None: none).  Return -1. */
extern int _PySandboxPolicy_ErrorInt(const char *field, Py_ssize_t value,
                                     const char *reason);
extern int _PySandboxPolicy_Error(const char *field, const char *value,
                                  const char *reason);
extern int _PySandboxPolicy_ErrorObject(const char *field, PyObject *value,
                                        const char *reason);

/* Python/sandbox_stdio.c */
extern PyTypeObject _PySandbox_StreamType;
extern void _PySandbox_ClearOutput(struct _PySandboxState *state);
/* Take what stream *fd* (1 or 2) holds: a raw-allocated copy in *data*
 * (NULL if empty) and its size.  Return 0, or -1 (no memory).  No GIL
 * needed. */
extern int _PySandbox_TakeOutputRaw(struct _PySandboxState *state, int fd,
                                    char **data, size_t *size);

/* Python/sandbox_transport.c: sandbox.RemoteError */
extern PyTypeObject _PySandbox_RemoteErrorType;
extern PyObject *_PySandbox_NewRemoteError(PyObject *type_name,
                                           PyObject *message,
                                           PyObject *traceback,
                                           PyObject *exit_code);
extern PyObject *_PySandbox_EncodeValue(PyObject *value);
extern PyObject *_PySandbox_DecodeValue(const char *data, Py_ssize_t size,
                                        Py_ssize_t max_items,
                                        Py_ssize_t max_keys);
/* Run a job of a worker process in its own (current) interpreter: *op*
 * "exec" (*text* the source, *filename*), "eval" (*text* the expression)
 * or "call" (*text* the target, *args* a tuple, *kwargs* a dict).  Return
 * the answer's dict: "ok", and "value", "raised" (type name, message,
 * traceback, exit code) or "failed" (type name, message); NULL with an
 * exception set only if that dict cannot be made. */
extern PyObject *_PySandbox_RunHere(const char *op, const char *text,
                                    const char *filename, PyObject *args,
                                    PyObject *kwargs);

/* Python/sandbox_worker.c: the worker process's side */
/* The packed start of a worker (policy and flags), for the host to send:
 * a bytes object, or NULL with an exception set. */
extern PyObject *_PySandbox_PackWorkerStart(const PySandboxPolicy *policy,
                                            int inner_wall_off);
/* Is *policy* the one a worker read for its main interpreter? */
extern int _PySandbox_IsWorkerPolicy(const PySandboxPolicy *policy);
/* With the test switch on, keep *state* for the fence and return 1: the
 * main interpreter stays trusted.  Otherwise return 0. */
extern int _PySandbox_WorkerUnwalled(struct _PySandboxState *state);
/* The state of a worker's main interpreter *interp* (the test switch's,
 * with it on), or NULL for any other interpreter. */
extern struct _PySandboxState *_PySandbox_WorkerState(
    PyInterpreterState *interp);
/* The policy a worker read, with its grants opened. */
extern const PySandboxPolicy *_PySandbox_WorkerPolicy(void);

/* Python/sandbox_fence.c: the second wall */
extern PyObject *_PySandbox_FenceLayers(void);
extern PyObject *_PySandbox_Fence(const struct _PySandboxState *state,
                                  unsigned long long memory,
                                  Py_ssize_t threads, unsigned int required);
extern int _PySandbox_FenceLayerBit(PyObject *name);

/* Python/sandbox_denial.c: log a denial without raising, allocating
 * only raw memory (from inside the allocator, with or without a thread
 * state). */
extern void _PySandbox_LogDenialRaw(struct _PySandboxState *state,
                                    const char *resource,
                                    const char *detail);
/* The same with *location* ("file:line") instead of the current
 * thread's. */
extern void _PySandbox_LogDenialAt(struct _PySandboxState *state,
                                   const char *resource, const char *detail,
                                   const char *location);
/* "file:line" of the innermost Python frame of *tstate* into *buf* ("" if
 * none); reads only, allocates nothing, calls nothing that is not
 * async-signal-safe: the wake signal's handler uses it. */
extern void _PySandbox_FrameLocation(PyThreadState *tstate, char *buf,
                                     size_t size);

/* Python/sandbox_memory.c: the memory cap */
/* 0, or -1 (no memory). */
extern int _PySandbox_InitHeap(struct _PySandboxHeap *heap);
/* The engine allocates for the host's side of a job (1), or is done (0):
 * charged, never refused, on this thread (nestable). */
extern void _PySandbox_EngineAllocates(int on);
/* The interpreter of *state* is created: its cap applies from now on.
 * Return 0, or -1 with PolicyError set if it already holds more. */
extern int _PySandbox_HeapCreated(struct _PySandboxState *state);
/* Its end: free the blocks it still holds, and give back to the
 * process's budget all it was charged. */
extern void _PySandbox_ClearHeap(struct _PySandboxHeap *heap);
/* Charge *n* bytes to *heap* (and the process's budget): 0, or -1 if the
 * cap or the budget would be exceeded, with the refusal logged once for a
 * run of refusals if *log*.  No GIL needed. */
extern int _PySandbox_HeapCharge(struct _PySandboxHeap *heap, Py_ssize_t n,
                                 int log);
extern void _PySandbox_HeapUncharge(struct _PySandboxHeap *heap,
                                    Py_ssize_t n);
/* A new interpreter's heap counts against its untrusted creator's cap
 * (and its creators'), from what it holds at its start on: 0, or -1 with
 * MemoryError set if that does not fit. */
extern int _PySandbox_LinkToCreator(struct _PySandboxHeap *heap,
                                    struct _PySandboxHeap *creator);
/* The same for a host's interpreter created with a memory group: against
 * the group's budget. */
extern int _PySandbox_LinkToGroup(struct _PySandboxHeap *heap,
                                  PySandboxMemoryGroup *group);
/* Whether *group* has room for an interpreter's start: 1, or 0 with
 * RuntimeError set. */
extern int _PySandbox_GroupHasRoom(PySandboxMemoryGroup *group);
/* (used, cap) of *heap*, what sandbox.allowed() shows as ("Python",
 * "memory"); and its peak since the last reset, which a reset sets to
 * what it uses now. */
extern void _PySandbox_HeapUsage(struct _PySandboxHeap *heap,
                                 Py_ssize_t *used, Py_ssize_t *cap);
extern Py_ssize_t _PySandbox_HeapPeak(struct _PySandboxHeap *heap,
                                      int reset);
/* Under HEAD_LOCK: call *visit* for each interpreter that *root*'s code
 * created, at any depth (not *root*), creators before those they
 * created. */
extern void _PySandbox_ForEachDescendant(
    PyInterpreterState *root, void (*visit)(PyInterpreterState *, void *),
    void *arg);
/* The time limit (Python/sandbox_time.c).  A job's timer starts once
 * its interpreter is entered, and stops before it is left; Push and Pop
 * make it the innermost job of the thread, whose deadline binds the jobs
 * that it runs in nested interpreters.  Start: the timer, on the heap and
 * listed for the watchdog, or NULL with an exception set; the stop
 * unlists and frees it. */
extern _PySandboxJobTimer *_PySandbox_JobTimerStart(
    PyInterpreterState *interp);
extern void _PySandbox_JobTimerStop(_PySandboxJobTimer *timer);
extern void _PySandbox_PushJobTimer(_PySandboxJobTimer *timer);
extern void _PySandbox_PopJobTimer(_PySandboxJobTimer *timer);
extern _PySandboxJobTimer *_PySandbox_CurrentJobTimer(void);
/* A policy's limit in ns, the default if it has none. */
extern PyTime_t _PySandbox_TimeLimit(const PySandboxPolicy *policy);
/* Whether the deadline of a job of *state*'s interpreter passed; and
 * SandboxLimitExceeded for it (logged once per job): -1. */
extern int _PySandbox_TimeExpired(struct _PySandboxState *state);
extern int _PySandbox_RaiseTimeLimit(struct _PySandboxState *state);
/* "time limit of 2 s exceeded", its message. */
extern void _PySandbox_TimeLimitDetail(struct _PySandboxState *state,
                                       char *buf, size_t size);
/* Is the engine's own code working on this thread (between
 * _PySandbox_EngineAllocates(1) and (0), no tenant frame since: making a
 * job's answer)?  The stop does not stop it (_PySandbox_CheckStopSlow()). */
extern int _PySandbox_EngineWorks(void);
/* A job's CPU limit in ns: its policy's, or its time limit. */
extern PyTime_t _PySandbox_CpuLimit(const PySandboxPolicy *policy);
/* 0, or -1 with PolicyError ("cpu") if the policy's CPU limit is more
 * than its threads could use before the deadline. */
extern int _PySandboxPolicy_CheckCpuLimit(const PySandboxPolicy *policy);
/* CPU seconds of the job that runs on this thread in *state*'s
 * interpreter (0 without one), and its limit: ("Python", "cpu"). */
extern void _PySandbox_CpuUsage(struct _PySandboxState *state,
                                double *used, double *limit);
/* The interpreter ends (_PySandbox_StopPython()) or its state is freed:
 * its lingering deadline is no longer watched.  Idempotent. */
extern void _PySandbox_TimeEnds(struct _PySandboxState *state);
/* The host gave up on the job that thread *tid* runs in *interp*: where
 * its code is ("file:line" into *buf*, "" if it could not be asked),
 * which the thread says from the wake signal's handler within a few
 * milliseconds, whatever it does. */
extern void _PySandbox_AskWhere(long tid, PyInterpreterState *interp,
                                char *buf, size_t size);
/* The thread state of the job that the current thread runs, NULL after
 * it: where the wake signal's handler looks when the thread has let the
 * GIL go. */
extern void _PySandbox_SetJobThreadState(PyThreadState *tstate);
/* The wake signal's number (0 if the host has its own handler), which a
 * job's thread must not block. */
extern int _PySandbox_WakeSignal(void);
/* The monotonic clock of the deadlines, in ns. */
extern PyTime_t _PySandbox_MonotonicNs(void);
/* A thread that the interpreter's code started ends: its CPU time counts
 * on (_PySandbox_ThreadEnd()). */
extern void _PySandbox_ThreadCpuEnds(struct _PySandboxState *state);
/* Seconds of the job that runs on this thread in *state*'s interpreter
 * (0 without one), and its limit: ("Python", "time") of a query. */
extern void _PySandbox_TimeUsage(struct _PySandboxState *state,
                                 double *elapsed, double *limit);
/* Bytes that all untrusted interpreters of the process hold, and the
 * budget (PY_SSIZE_T_MAX: none). */
extern void _PySandbox_MemoryTotal(Py_ssize_t *used, Py_ssize_t *budget);
/* What a policy's cap may be at most on this machine: its memory, or less
 * if the process's address space is limited. */
extern Py_ssize_t _PySandbox_MemoryAvailable(void);

#ifdef Py_DEBUG
/* Make the allocations *start* to *start* + *count* - 1 of untrusted
 * *interp* fail (0: none); and how many it made since.  Debug builds. */
extern int _PySandbox_InjectFailures(PyInterpreterState *interp,
                                     Py_ssize_t start, Py_ssize_t count);
extern Py_ssize_t _PySandbox_InjectedSeen(PyInterpreterState *interp);
extern int _PySandbox_InjectionInstalled(void);
#endif

/* Python/sandbox_net.c */
/* socket.getsockopt() of *level* and *option* without the peer's
 * credentials (sandbox_hostinfo.c): 0, or -1 denied. */
extern int _PySandbox_CheckNetGetSockOpt(int level, int option);

/* Python/sandbox_fd.c */
extern void _PySandbox_NoLinger(int fd);
extern void _PySandbox_ClearFdUses(struct _PySandboxState *state);
extern void _PySandbox_CloseOwnedFds(struct _PySandboxState *state);
extern int _PySandbox_FdsStillOpen(struct _PySandboxState *state,
                                   unsigned char *table, int fd);
/* *fd*, just made, is to be recorded: land it (no longer in flight);
 * return 0, or -1 with OSError (EMFILE) set and *fd* closed if its
 * number is beyond the table's. */
extern int _PySandbox_LandInTable(int fd);

/* Python/sandbox_extended.c */
extern int _PySandbox_InitExtended(struct _PySandboxState *state);
extern void _PySandbox_ClearExtended(struct _PySandboxState *state);
extern ext_entry *_PySandbox_FindExt(struct _PySandboxState *state,
                                     const char *group, const char *type);

/* Python/sandbox_policy.c */
extern int _PySandboxPolicy_Copy(PySandboxPolicy *dest,
                                 const PySandboxPolicy *src);
extern void _PySandboxPolicy_Clear(PySandboxPolicy *policy);
extern void _PySandboxPolicy_ClearCreated(PySandboxPolicy *policy);
extern void _PySandbox_FreeStrings(char **list, Py_ssize_t n);
extern int _PySandbox_CopyStrings(char *const *src, Py_ssize_t n,
                                  char ***dest);
extern int _PySandbox_InList(const char *const *list, size_t n,
                             const char *name);
extern int _PySandbox_PolicyLists(char *const *list, Py_ssize_t n,
                                  const char *name);
extern int _PySandbox_AddName(char ***list, Py_ssize_t *n, const char *name);
extern int _PySandbox_RemoveName(char **list, Py_ssize_t *n, const char *name);
extern const char *_PySandbox_FindValue(char *const *list, Py_ssize_t n,
                                        const char *name);
extern int _PySandboxPolicy_AddPathRule(PySandboxPolicy *policy,
                                        const char *path, int access,
                                        const char *guest);
extern int _PySandboxPolicy_AddModuleFile(PySandboxPolicy *policy,
                                          const char *name, const char *file);
extern const char *_PySandboxPolicy_ModuleFile(const PySandboxPolicy *policy,
                                               const char *name);
extern int _PySandboxPolicy_Within(const PySandboxPolicy *policy,
                                   const PySandboxPolicy *outer);
extern int _PySandboxPolicy_SnapshotEnviron(
    PySandboxPolicy *policy, const struct _PySandboxState *creator_state);
extern int _PySandboxPolicy_SnapshotEnvironRaw(
    PySandboxPolicy *policy, const struct _PySandboxState *creator_state);

/* Python/sandbox_path.c */
extern const char *_PySandbox_SkipSeparators(const char *p);
extern const char *_PySandbox_PathBeneath(const char *path, const char *root);
extern char *_PySandbox_NormalizedPath(const char *path, int dotdot);
extern char *_PySandbox_JoinPath(const char *root, const char *rest);
extern char *_PySandbox_AbsolutePath(struct _PySandboxState *state,
                                     const char *path);
extern int _PySandbox_Openat2(int dirfd, const char *path, int flags,
                              int mode, uint64_t resolve);
extern int _PySandbox_OnKernelFilesystem(int fd);
extern int _PySandbox_IsForbiddenDeviceStat(const struct stat *st);
extern int _PySandbox_IsForbiddenDevice(int fd);
extern int _PySandbox_FdBeneath(int fd, int outer);

/* Trusted bytecode (Python/sandbox_bytecode.c).  _PySandbox_InitBytecode()
 * checks, once its grants are open, that no write grant of *state*
 * overlaps the standard library or a trusted package root (by inode; -1,
 * and the process stops trusting caches, if one does); not for a *nested*
 * interpreter (an untrusted creator's), whose grants are beneath its
 * creator's.  _PySandbox_OpenStdlibSourceDir(): the
 * directory of the source file *path* (the interpreter's path, relative to
 * its working directory) when it is beneath a directory grant of the
 * standard library and not hidden there, opened O_PATH beneath the grant
 * as the interpreter's open() would resolve it; *leaf* is set to its name
 * (raw-allocated).  -1, nothing allocated and no exception, otherwise. */
extern int _PySandbox_InitBytecode(struct _PySandboxState *state,
                                   int nested);
/* After a trusted creator opened a new interpreter's grants: is each write
 * grant, as opened, clear of the standard library, of the policy's package
 * roots and of the package roots whose caches an interpreter of this
 * process trusts?  Then its own trusted roots are recorded for the write
 * grants to come.  0, or -1 with PolicyError set. */
extern int _PySandbox_CheckOpenedWrites(PySandboxPolicy *policy);
/* Does the write path *path* (where it leads now) overlap a package root
 * whose caches an interpreter of this process trusts? */
extern int _PySandbox_WriteOverlapsTrusted(const char *path);
/* The first write grant of *policy*, as opened, that overlaps the
 * standard library (*with_stdlib*: the current config's search path), a
 * package root of the policy, or a root the process trusts: its index, and
 * *what* says which; or -1.  Raw: a worker calls it before Python. */
extern Py_ssize_t _PySandbox_OpenedWriteOverlap(
    const PySandboxPolicy *policy, int with_stdlib, const char **what);
/* The registry of trusted package roots: add the directories *paths*
 * (the host's, sent to a worker; a policy's trusted_bytecode before a
 * worker starts), -1 when it is full; a raw copy of its paths (*n* -1 for
 * no memory); the child's side of a fork. */
extern int _PySandbox_RegisterTrustedPaths(char *const *paths,
                                           Py_ssize_t n);
extern char **_PySandbox_TrustedRootPaths(Py_ssize_t *n);
extern void _PySandbox_BytecodeAfterFork(void);
/* Is each of the policy's trusted_bytecode one of its package roots, and,
 * for an untrusted creator, none at all (its nested interpreter compiles
 * its packages)?  0, or -1 with PolicyError set. */
extern int _PySandboxPolicy_CheckTrustedBytecode(
    const PySandboxPolicy *policy);
extern int _PySandbox_OpenStdlibSourceDir(struct _PySandboxState *state,
                                          const char *path,
                                          const char **leaf);

/* Python/sandbox_files.c */
extern void _PySandbox_ClearFiles(struct _PySandboxState *state);
extern void _PySandbox_ClearGrants(sandbox_grant *grants, Py_ssize_t n);
extern PyStatus _PySandbox_InitFiles(struct _PySandboxState *state,
                                     const PySandboxPolicy *policy,
                                     const PyConfig *config);
/* The host's path of *path* in *state*'s layout, or the reverse: by its
 * grants, raw-allocated; NULL when no grant holds it (or no memory). */
extern char *_PySandbox_HostPath(struct _PySandboxState *state,
                                 const char *path);
extern char *_PySandbox_GuestPath(struct _PySandboxState *state,
                                  const char *path);
/* Python/sandbox_layout.c: where an interpreter without filesystem_info
 * sees the standard library's search path entry *path* (raw-allocated, or
 * NULL; *others* counts those outside *stdlib_dir*) and its package root
 * *i* (a constant, or *buf*); the copies of sysconfig's build variables,
 * made for the standard library's directory *grant* once per process,
 * and a new descriptor of the copy of the file *st* (*fd* -1: none).
 * Return 0, or -1 with errno set. */
extern char *_PySandbox_StdlibGuest(const char *path, const char *stdlib_dir,
                                    int *others);
extern const char *_PySandbox_PackageGuest(Py_ssize_t i, char *buf,
                                           size_t size);
extern void _PySandbox_CopySysconfigData(const struct sandbox_grant *grant,
                                         const PyConfig *config);
struct stat;
extern int _PySandbox_SysconfigCopy(const struct stat *st, int *fd);
extern char *_PySandbox_CreatorCwd(
    const struct _PySandboxState *creator_state);
extern int _PySandbox_OpenGrants(PySandboxPolicy *policy,
                                 struct _PySandboxState *creator_state);
extern int _PySandbox_OpenGrantsRaw(PySandboxPolicy *policy,
                                    struct _PySandboxState *creator_state,
                                    Py_ssize_t *failed);
extern const char *_PySandbox_GrantField(const PySandboxPolicy *policy,
                                         Py_ssize_t failed,
                                         const char **path);
extern int _PySandboxPolicy_PathsWithin(const PySandboxPolicy *policy,
                                        const PySandboxPolicy *outer);
extern PyStatus _PySandbox_InitPackagePaths(PyThreadState *tstate);
extern int _PySandboxPolicy_CheckWritable(const PySandboxPolicy *policy);

/* Network entries (Python/sandbox_net.c).  Add the entry *text* to the
 * list *list* of *policy*: 0, or -1 with *why* set to the reason it is
 * malformed (NULL: no memory).  No Python: a worker process adds the
 * entries it received before its interpreter exists. */
extern int _PySandboxPolicy_AddNetRaw(PySandboxPolicy *policy, int list,
                                      const char *text, const char **why);
/* Copy the lists of *src* into *dest* (and the creator's denials), free
 * them, compare them (is every entry of *inner* within one of *outer*'s?
 * Denials are not compared: a nested interpreter gets its creator's). */
extern int _PySandboxPolicy_CopyNet(PySandboxPolicy *dest,
                                    const PySandboxPolicy *src);
extern void _PySandboxPolicy_ClearNet(PySandboxPolicy *policy);
extern int _PySandboxPolicy_NetWithin(const PySandboxPolicy *inner,
                                      const PySandboxPolicy *outer);
/* The network budget (Python/sandbox_netbudget.c).  A nested policy's,
 * for an untrusted *creator*: without one of its own, half of what its
 * creator has left (written to *sized*, which *policy* then points to);
 * within what the creator has left, which is charged for it.  0, or -1
 * with the denial logged. */
extern int _PySandbox_NestedNetBudget(PySandboxPolicy *sized,
                                      const PySandboxPolicy **policy,
                                      struct _PySandboxState *creator);
/* A connection made or accepted: one of the budget, if it has one; 0, or
 * -1 with SandboxLimitExceeded set. */
extern int _PySandbox_TakeConnection(struct _PySandboxState *state);
/* What a budget has used, with its cap (0: none): [used, cap] each. */
extern void _PySandbox_NetUsage(const struct _PySandboxState *state,
                                Py_ssize_t *bytes, Py_ssize_t *connections);
/* Python/sandbox_net.c: *name* in the one form entries keep (lower case,
 * no final dot) into *buf*; 1, or 0 if it is not a host name. */
extern int _PySandbox_NormalizeHostName(const char *name, char *buf,
                                        size_t size);
/* Python/sandbox_names.c: is *name* an address however spelled (1), a
 * name (0), or an interface scope without network_info (-1, denied)?
 * And is *addr* (of *family*) one of the addresses the engine resolved for
 * the granted *name* (resolving it if need be)? */
extern int _PySandbox_IsNumericHost(struct _PySandboxState *state,
                                    const char *name);
extern int _PySandbox_NameHasAddress(struct _PySandboxState *state,
                                     const char *name, int family,
                                     const unsigned char *addr);
/* Give a new nested interpreter *child* its untrusted creator's
 * addresses for the names it grants (resolved for the creator now if they
 * were not): a nested interpreter cannot resolve a name again to move
 * it.  Before anything runs in *child*. */
extern void _PySandbox_InheritPins(struct _PySandboxState *child,
                                   struct _PySandboxState *creator);
/* Resolve every name the policy of *state* grants, now: a worker does it
 * before its fence, which leaves it no resolver. */
extern void _PySandbox_PinNames(struct _PySandboxState *state);
/* Free the names an interpreter resolved (its end). */
extern void _PySandbox_ClearPins(struct _PySandboxState *state);

/* Python/sandbox_hostinfo.c */
/* The config of a new interpreter of *policy*: without filesystem_info,
 * its processor count (os.cpu_count()) is the neutral one. */
extern void _PySandbox_HostConfig(const PySandboxPolicy *policy,
                                  PyConfig *config);

/* Python/sandbox_import.c */
extern int _PySandboxPolicy_ModulesWithin(const PySandboxPolicy *inner,
                                          const PySandboxPolicy *outer);
extern void _PySandbox_RecordModuleInodes(PyInterpreterState *interp);
/* In the child of fork(), before it uses the recorded inodes. */
extern void _PySandbox_ImportAfterFork(void);
extern void _PySandbox_LayoutAfterFork(void);

#endif  /* Py_UNTRUSTED */

#ifdef __cplusplus
}
#endif
#endif  /* !Py_INTERNAL_SANDBOX_STATE_H */
