/* Untrusted interpreters: the second wall, around a worker process.
 *
 * With isolation "process", the untrusted interpreter runs in a worker
 * process (Python/sandbox_worker.c) that fences itself with the kernel
 * before any untrusted code runs, so that a tenant who breaks every check
 * of the engine (a use-after-free turned into arbitrary code) still has
 * only what the kernel leaves the worker:
 *
 *   namespaces    a new user namespace, and in it new mount, IPC and UTS
 *                 namespaces, and a network namespace without interfaces
 *                 unless the policy grants network;
 *   rlimits       RLIMIT_AS (memory), RLIMIT_FSIZE, RLIMIT_NOFILE,
 *                 RLIMIT_NPROC, RLIMIT_CORE = 0;
 *   no_new_privs  PR_SET_NO_NEW_PRIVS;
 *   landlock      file access only beneath the interpreter's grants (the
 *                 engine's own, the standard library's included), TCP
 *                 connect only to the granted ports (Landlock ABI 4), no
 *                 signal or abstract Unix socket outside the worker
 *                 (ABI 6);
 *   seccomp       an allowlist of system calls (libseccomp): no exec, no
 *                 new process (threads only), no ptrace, process_vm_*,
 *                 mount, bpf, perf_event_open, userfaultfd, io_uring,
 *                 keyctl, kexec or module loading; signals only to the
 *                 worker itself; sockets only of the granted families.
 *
 * Each layer degrades where the kernel lacks it; _sandbox.fence_layers()
 * says which this kernel gives, and a policy may require layers.
 * Doc/sandbox/isolation.rst documents them.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted), and linked with libseccomp
 * when configure finds it (HAVE_LIBSECCOMP).
 */

#include "Python.h"
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#ifdef __linux__
#  include <dirent.h>             // fdopendir()
#  include <errno.h>
#  include <fcntl.h>              // open()
#  include <sched.h>              // unshare()
#  include <signal.h>             // SIGCHLD
#  include <sys/ioctl.h>          // TCGETS, FIONREAD
#  include <sys/mount.h>          // mount()
#  include <sys/prctl.h>          // PR_SET_NO_NEW_PRIVS
#  include <sys/resource.h>       // setrlimit()
#  include <sys/socket.h>         // AF_INET
#  include <sys/stat.h>           // fstat()
#  include <sys/syscall.h>        // SYS_landlock_create_ruleset
#  include <sys/wait.h>           // waitpid()
#  include <unistd.h>
#  include <linux/landlock.h>
#  ifdef HAVE_LIBSECCOMP
#    include <seccomp.h>
#  endif
#  define SANDBOX_FENCE_LINUX 1
#endif


/* The layers, as they are named in policies and reports. */
static const char *const layer_names[] = {
    "namespaces", "rlimits", "no_new_privs", "landlock", "seccomp",
};

#ifdef SANDBOX_FENCE_LINUX

/* Landlock, by ABI.  The C library's headers may be older than the
 * kernel: what ABI 3 to 7 added is defined here from the kernel's
 * documented values. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#  define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#  define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define SANDBOX_LANDLOCK_RULE_NET_PORT 2
#define SANDBOX_LANDLOCK_NET_BIND_TCP (1ULL << 0)
#define SANDBOX_LANDLOCK_NET_CONNECT_TCP (1ULL << 1)
#define SANDBOX_LANDLOCK_SCOPE_ABSTRACT_UNIX (1ULL << 0)
#define SANDBOX_LANDLOCK_SCOPE_SIGNAL (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 6; older kernels read only the
 * fields they know, so its size is given by ABI. */
struct sandbox_landlock_ruleset {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;        /* ABI 4 */
    uint64_t scoped;                    /* ABI 6 */
};

struct sandbox_landlock_net_port {
    uint64_t allowed_access;
    uint64_t port;
};

/* The Landlock ABI of this kernel, or 0 without Landlock. */
static int
landlock_abi(void)
{
#ifdef SYS_landlock_create_ruleset
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
#else
    return 0;
#endif
}

/* The file rights that a kernel of *abi* handles. */
static uint64_t
landlock_handled_fs(int abi)
{
    uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  /* ABI 1 */
    if (abi >= 2) {
        rights |= LANDLOCK_ACCESS_FS_REFER;
    }
    if (abi >= 3) {
        rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    if (abi >= 5) {
        rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    }
    return rights;
}

#define LL_READ_FILE  LANDLOCK_ACCESS_FS_READ_FILE
#define LL_READ_DIR   (LANDLOCK_ACCESS_FS_READ_FILE \
                       | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_WRITE_FILE (LANDLOCK_ACCESS_FS_READ_FILE \
                       | LANDLOCK_ACCESS_FS_WRITE_FILE \
                       | LANDLOCK_ACCESS_FS_TRUNCATE)
#define LL_WRITE_DIR  (LL_READ_DIR | LL_WRITE_FILE \
                       | LANDLOCK_ACCESS_FS_REMOVE_DIR \
                       | LANDLOCK_ACCESS_FS_REMOVE_FILE \
                       | LANDLOCK_ACCESS_FS_MAKE_DIR \
                       | LANDLOCK_ACCESS_FS_MAKE_REG \
                       | LANDLOCK_ACCESS_FS_MAKE_SYM \
                       | LANDLOCK_ACCESS_FS_REFER)

static int
landlock_add_path(int ruleset, int fd, uint64_t rights, uint64_t handled)
{
    struct landlock_path_beneath_attr rule = {
        .allowed_access = rights & handled,
        .parent_fd = fd,
    };
    return (int)syscall(SYS_landlock_add_rule, ruleset,
                        LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
}

/* The standard library's grants follow their symbolic links wherever they
 * lead (a build tree links its extension modules from ../../Modules):
 * a rule for the file each link of the directory itself leads to. */
static int
landlock_add_links(int ruleset, const sandbox_grant *grant, uint64_t handled)
{
    int dirfd = openat(grant->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = dirfd < 0 ? NULL : fdopendir(dirfd);
    if (dir == NULL) {
        if (dirfd >= 0) {
            close(dirfd);
        }
        return 0;
    }
    int rc = 0;
    struct dirent *entry;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        if (entry->d_type != DT_LNK) {
            continue;
        }
        int fd = openat(dirfd, entry->d_name, O_PATH | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            rc = landlock_add_path(ruleset, fd, LL_READ_FILE, handled);
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    closedir(dir);
    return rc;
}

/* One Landlock rule per grant of *state*: a directory with what it grants
 * beneath it; a file with its file rights alone.  Landlock has no rule for
 * a name that does not exist yet (only for its whole directory), so a
 * file granted for writing must exist: otherwise *missing* is its path and
 * the result -2.  Return 0, or -1 with errno set. */
static int
landlock_add_grants(int ruleset, const struct _PySandboxState *state,
                    uint64_t handled, const char **missing)
{
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        const sandbox_grant *grant = &state->grants[i];
        int write = (grant->access & PySandbox_WRITE) != 0;
        if (grant->name == NULL) {
            if (landlock_add_path(ruleset, grant->fd,
                                  write ? LL_WRITE_DIR : LL_READ_DIR,
                                  handled) < 0
                || (grant->host_links
                    && landlock_add_links(ruleset, grant, handled) < 0))
            {
                return -1;
            }
            continue;
        }
        int fd = openat(grant->fd, grant->name,
                        O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            int rc = landlock_add_path(ruleset, fd,
                                       write ? LL_WRITE_FILE : LL_READ_FILE,
                                       handled);
            close(fd);
            if (rc < 0) {
                return -1;
            }
            continue;
        }
        if (fd >= 0) {
            close(fd);
        }
        if (write) {
            *missing = grant->root;
            return -2;
        }
        /* A file to read that does not exist: nothing to read. */
    }
    return 0;
}

/* What the dynamic loader reads when an extension module of the standard
 * library is imported: the shared libraries it needs (libz, libssl...),
 * readable, never writable.  Missing ones are skipped. */
static const char *const loader_paths[] = {
    "/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib",
    "/etc/ld.so.cache",
};

/* What the C library reads for the pwd and grp modules, when the policy
 * grants them: the user and group databases, as in the host's process. */
static const char *const passwd_paths[] = {
    "/etc/passwd", "/etc/nsswitch.conf",
};
static const char *const group_paths[] = {
    "/etc/group", "/etc/nsswitch.conf",
};

/* Read rules for *paths* (files or directories); missing ones are
 * skipped. */
static int
landlock_add_readable(int ruleset, const char *const *paths, size_t n,
                      uint64_t handled)
{
    for (size_t i = 0; i < n; i++) {
        int fd = open(paths[i], O_PATH | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        struct stat st;
        int rc = fstat(fd, &st);
        if (rc == 0) {
            rc = landlock_add_path(ruleset, fd,
                                   S_ISDIR(st.st_mode) ? LL_READ_DIR
                                                       : LL_READ_FILE,
                                   handled);
        }
        close(fd);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

/* The most TCP ports of one network list that Landlock is given as rules;
 * a list that covers more (a host with every port, a wide range) is left
 * to the inner wall, which checks every address. */
#define SANDBOX_FENCE_MAX_PORTS 4096

/* How many ports the entries of the network list *list* cover (an upper
 * bound: an entry's are counted whatever its host). */
static unsigned long
net_port_count(const PySandboxPolicy *policy, int list)
{
    unsigned long n = 0;
    for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
        n += policy->net[list][i].hi - policy->net[list][i].lo + 1;
    }
    return n;
}

/* Allow *access* to every TCP port of the network list *list* in
 * *ruleset*.  0, or -1. */
static int
landlock_add_ports(int ruleset, const PySandboxPolicy *policy, int list,
                   uint64_t access)
{
    for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
        for (unsigned int port = policy->net[list][i].lo;
             port <= policy->net[list][i].hi; port++)
        {
            struct sandbox_landlock_net_port rule = {
                .allowed_access = access,
                .port = (uint64_t)port,
            };
            if (syscall(SYS_landlock_add_rule, ruleset,
                        SANDBOX_LANDLOCK_RULE_NET_PORT, &rule, 0) < 0)
            {
                return -1;
            }
        }
    }
    return 0;
}

/* Restrict this process (all its threads: there is one) to the grants of
 * *state*: its files, and its TCP ports to connect to and to bind (when
 * each list covers at most SANDBOX_FENCE_MAX_PORTS).  Return NULL, or why
 * not. */
static const char *
fence_landlock(const struct _PySandboxState *state, int *failed,
               const char **missing)
{
    int abi = landlock_abi();
    if (abi < 1) {
        return "this kernel has no Landlock";
    }
    /* From here on the system gives the layer: a failure is the fence's. */
    *failed = 1;
    struct sandbox_landlock_ruleset attr = {
        .handled_access_fs = landlock_handled_fs(abi),
        .handled_access_net = (abi < 4 ? 0
            : ((net_port_count(&state->policy, SANDBOX_NET_LISTEN)
                <= SANDBOX_FENCE_MAX_PORTS
                ? SANDBOX_LANDLOCK_NET_BIND_TCP : 0)
               | (net_port_count(&state->policy, SANDBOX_NET_CONNECT)
                  <= SANDBOX_FENCE_MAX_PORTS
                  ? SANDBOX_LANDLOCK_NET_CONNECT_TCP : 0))),
        .scoped = (abi >= 6 ? (SANDBOX_LANDLOCK_SCOPE_ABSTRACT_UNIX
                               | SANDBOX_LANDLOCK_SCOPE_SIGNAL) : 0),
    };
    size_t size = (abi >= 6 ? sizeof(attr)
                   : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t));
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) {
        return "landlock_create_ruleset() failed";
    }
    const char *error = NULL;
    int rc = landlock_add_grants(ruleset, state, attr.handled_access_fs,
                                 missing);
    if (rc == -2) {
        error = "a file granted for writing does not exist";
    }
    else if (rc < 0
             || landlock_add_readable(ruleset, loader_paths,
                                      Py_ARRAY_LENGTH(loader_paths),
                                      attr.handled_access_fs) < 0
             || (_PySandbox_PolicyLists(state->policy.modules,
                                        state->policy.n_modules, "pwd")
                 && landlock_add_readable(ruleset, passwd_paths,
                                          Py_ARRAY_LENGTH(passwd_paths),
                                          attr.handled_access_fs) < 0)
             || (_PySandbox_PolicyLists(state->policy.modules,
                                        state->policy.n_modules, "grp")
                 && landlock_add_readable(ruleset, group_paths,
                                          Py_ARRAY_LENGTH(group_paths),
                                          attr.handled_access_fs) < 0))
    {
        error = "a grant could not be added to the Landlock ruleset";
    }
    if (error == NULL
        && (((attr.handled_access_net & SANDBOX_LANDLOCK_NET_CONNECT_TCP)
             && landlock_add_ports(ruleset, &state->policy,
                                   SANDBOX_NET_CONNECT,
                                   SANDBOX_LANDLOCK_NET_CONNECT_TCP) < 0)
            || ((attr.handled_access_net & SANDBOX_LANDLOCK_NET_BIND_TCP)
                && landlock_add_ports(ruleset, &state->policy,
                                      SANDBOX_NET_LISTEN,
                                      SANDBOX_LANDLOCK_NET_BIND_TCP) < 0)))
    {
        error = "a port could not be added to the Landlock ruleset";
    }
    if (error == NULL && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
    {
        error = "landlock_restrict_self() failed";
    }
    close(ruleset);
    if (error == NULL) {
        *failed = 0;
    }
    return error;
}


/* Namespaces */

static int
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* Take new namespaces: user (mapping this uid and gid to themselves),
 * mount (private), IPC, UTS, and network unless *network* (no interface,
 * not even loopback).  Not PID: a process that unshares one can no longer
 * start threads (clone() with CLONE_THREAD fails with EINVAL), and only
 * its children would be in it, which seccomp forbids.  Return NULL, or
 * why not. */
static const char *
fence_namespaces(int network, int *failed)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
                | (network ? 0 : CLONE_NEWNET);
    if (unshare(flags) < 0) {
        return (errno == EPERM || errno == ENOSPC || errno == EUSERS
                || errno == EINVAL)
               ? "unprivileged user namespaces are not available"
               : "unshare() failed";
    }
    /* Taken: what follows must work. */
    *failed = 1;
    char map[64];
    PyOS_snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid,
                  (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) < 0
        || write_file("/proc/self/setgroups", "deny") < 0)
    {
        return "the user namespace's uid map could not be written";
    }
    PyOS_snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid,
                  (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) < 0) {
        return "the user namespace's gid map could not be written";
    }
    /* Mounts made here stay here. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        return "the mounts could not be made private";
    }
    *failed = 0;
    return NULL;
}


/* Resource limits */

static const char *
set_limit(int resource, rlim_t value)
{
    struct rlimit limit;
    if (getrlimit(resource, &limit) < 0) {
        return "getrlimit() failed";
    }
    /* Never above the hard limit that the worker got. */
    if (limit.rlim_max != RLIM_INFINITY && value > limit.rlim_max) {
        value = limit.rlim_max;
    }
    limit.rlim_cur = limit.rlim_max = value;
    return setrlimit(resource, &limit) < 0 ? "setrlimit() failed" : NULL;
}

/* The size of this process's address space now, in bytes. */
static rlim_t
address_space(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f != NULL) {
        if (fscanf(f, "%lu", &pages) != 1) {
            pages = 0;
        }
        fclose(f);
    }
    return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* Room for one thread's stack: the engine gives threads 8 MiB or more
 * (sandbox_stack.c), and the C library a guard page. */
#define THREAD_ROOM ((rlim_t)16 * 1024 * 1024)
/* The descriptors a worker may hold. */
#define WORKER_NOFILE 512

static const char *
fence_rlimits(unsigned long long memory, Py_ssize_t threads, int userns)
{
    const char *error = NULL;
    rlim_t space = address_space() + (rlim_t)memory
                   + (rlim_t)threads * THREAD_ROOM;
    if ((error = set_limit(RLIMIT_CORE, 0)) != NULL
        || (error = set_limit(RLIMIT_AS, space)) != NULL
        || (error = set_limit(RLIMIT_FSIZE, (rlim_t)memory)) != NULL
        || (error = set_limit(RLIMIT_NOFILE, WORKER_NOFILE)) != NULL)
    {
        return error;
    }
    /* RLIMIT_NPROC counts the processes of the user; in the worker's own
       user namespace, those of the worker, which seccomp keeps to its
       threads.  Outside one it would count the host's. */
    if (userns) {
        error = set_limit(RLIMIT_NPROC, (rlim_t)threads + 4);
    }
    return error;
}


/* seccomp */

/* Does this kernel have seccomp (and this build libseccomp)? */
static int
seccomp_available(void)
{
#ifdef HAVE_LIBSECCOMP
    return prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
#else
    return 0;
#endif
}

#ifdef HAVE_LIBSECCOMP
/* The system calls a worker makes: files (beneath Landlock's rules),
 * memory, time, threads' synchronization, signals' handling, and I/O on
 * descriptors it has.  Names unknown to this architecture are skipped.
 * Those with conditions follow in fence_seccomp(). */
static const char *const allowed_syscalls[] = {
    /* files and descriptors */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
    "pwritev", "preadv2", "pwritev2", "open", "openat", "openat2",
    "close", "close_range", "creat", "lseek", "fstat", "stat", "lstat",
    "newfstatat", "statx", "fstatfs", "statfs", "getdents", "getdents64",
    "dup", "dup2", "dup3", "pipe", "pipe2", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "mkdir",
    "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat",
    /* None of the calls that change a file's mode, owner or times, which
       Landlock does not cover: on a descriptor opened to read, fchmod()
       would make a library of /usr/lib set-user-ID (the worker's user is
       the host's, root for a root host), as chmod() would by name. */
    "truncate", "ftruncate",
    "fsync", "fdatasync", "sync_file_range", "fallocate", "flock",
    "fadvise64", "readahead", "getcwd", "chdir", "fchdir", "umask",
    "fgetxattr", "flistxattr", "copy_file_range", "sendfile", "splice",
    "tee",
    /* waiting on descriptors */
    "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
    "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    /* sockets it has (socket() itself, and sending, are conditional) */
    "recvfrom", "recvmsg", "recvmmsg",
    "shutdown", "getsockopt", "setsockopt", "getsockname", "getpeername",
    /* memory */
    "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync",
    "mincore", "membarrier",
    /* the process and its threads (the calls that name another process
       are conditional) */
    "exit", "exit_group", "getpid", "gettid", "getppid", "getuid",
    "geteuid", "getgid", "getegid", "getgroups", "getresuid",
    "getresgid", "getpgrp", "uname", "sysinfo", "getrusage", "times",
    "getrlimit", "setrlimit", "getcpu", "sched_yield",
    "sched_get_priority_max", "sched_get_priority_min", "set_robust_list",
    "rseq", "set_tid_address", "arch_prctl", "futex", "futex_waitv",
    /* time */
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
    "gettimeofday", "time", "getrandom", "alarm", "getitimer",
    "setitimer", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete",
    /* signals of its own */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "pause",
    "restart_syscall",
};

/* The fcntl() commands that the C library and Python use: never one that
 * makes the kernel signal a process the worker names (F_SETOWN, with
 * O_ASYNC, F_SETSIG), nor leases and directory notices (F_SETLEASE,
 * F_NOTIFY), which Landlock's signal scope (ABI 6) alone would stop. */
static const int allowed_fcntls[] = {
    F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_GETLK,
    F_SETLK, F_SETLKW, F_GETOWN,
#ifdef F_OFD_GETLK
    F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW,
#endif
#ifdef F_GETPIPE_SZ
    F_GETPIPE_SZ, F_SETPIPE_SZ,
#endif
#ifdef F_ADD_SEALS
    F_ADD_SEALS, F_GET_SEALS,
#endif
};

/* The ioctl() requests that the C library and Python make on an open
 * descriptor: is it a terminal, how much is readable, blocking and
 * close-on-exec. */
static const unsigned long allowed_ioctls[] = {
    TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX,
};

static const char *
fence_seccomp(int network, int listen, int *failed)
{
    if (!seccomp_available()) {
        return "this kernel has no seccomp";
    }
    *failed = 1;
    /* What is not allowed fails with EPERM, as a denied call does. */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL) {
        return "seccomp_init() failed";
    }
    const char *error = NULL;
    for (size_t i = 0; i < Py_ARRAY_LENGTH(allowed_syscalls); i++) {
        int nr = seccomp_syscall_resolve_name(allowed_syscalls[i]);
        if (nr != __NR_SCMP_ERROR
            && seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) < 0)
        {
            error = "a system call could not be allowed";
        }
    }
    pid_t pid = getpid();
    /* Calls that name a process: 0 (itself) or its own ID only.  Its
       user ID is the host's, so the kernel would let it lower the host's
       limits (prlimit64) or read its scheduling. */
    static const char *const self_only[] = {
        "prlimit64", "sched_getaffinity", "sched_getparam",
        "sched_getscheduler", "getpgid", "getsid", "get_robust_list",
    };
    for (size_t i = 0; i < Py_ARRAY_LENGTH(self_only); i++) {
        int nr = seccomp_syscall_resolve_name(self_only[i]);
        if (nr != __NR_SCMP_ERROR
            && (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                 SCMP_A0(SCMP_CMP_EQ, 0)) < 0
                || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                    SCMP_A0(SCMP_CMP_EQ,
                                            (scmp_datum_t)pid)) < 0))
        {
            error = "a rule for a call on itself could not be added";
        }
    }
    /* getpriority(PRIO_PROCESS, 0) */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(getpriority), 2,
                         SCMP_A0(SCMP_CMP_EQ, PRIO_PROCESS),
                         SCMP_A1(SCMP_CMP_EQ, 0)) < 0)
    {
        error = "the getpriority() rule could not be added";
    }
    /* prctl(): what the C library and Python ask, never what would undo
       the fence (PR_SET_PDEATHSIG: the worker dies with its host). */
    static const int prctl_options[] = {
        PR_GET_DUMPABLE, PR_GET_NAME, PR_SET_NAME, PR_GET_SECCOMP,
        PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_GET_TIMERSLACK,
        PR_GET_PDEATHSIG,
    };
    for (size_t i = 0; i < Py_ARRAY_LENGTH(prctl_options); i++) {
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
                             SCMP_A0(SCMP_CMP_EQ,
                                     (scmp_datum_t)prctl_options[i])) < 0)
        {
            error = "a prctl() rule could not be added";
        }
    }
    /* New threads only: clone() with CLONE_THREAD; clone3() passes its
       flags in memory, which a filter cannot read, so it fails as if the
       kernel had none, and the C library falls back to clone(). */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                         SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
                                 CLONE_THREAD)) < 0
        || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
                            0) < 0
        /* A connected pair of Unix sockets, which reaches nothing
           outside the worker: asyncio's event loop wakes itself up
           through one. */
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1,
                            SCMP_A0(SCMP_CMP_EQ, AF_UNIX)) < 0
        /* Signals to itself only. */
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid)) < 0
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid)) < 0)
    {
        error = "a conditional rule could not be added";
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(allowed_fcntls); i++) {
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
                             SCMP_A1(SCMP_CMP_EQ,
                                     (scmp_datum_t)allowed_fcntls[i])) < 0)
        {
            error = "an fcntl() rule could not be added";
        }
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(allowed_ioctls); i++) {
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                             SCMP_A1(SCMP_CMP_EQ,
                                     (scmp_datum_t)allowed_ioctls[i])) < 0)
        {
            error = "an ioctl() rule could not be added";
        }
    }
    /* Sending, without MSG_FASTOPEN: TCP Fast Open connects in sendto()
       and sendmsg(), where Landlock's check of connect() does not see
       it. */
    if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendto), 1,
                         SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, 0)) < 0
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmsg), 1,
                            SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN,
                                    0)) < 0
        || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sendmmsg), 1,
                            SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN,
                                    0)) < 0)
    {
        error = "a rule for sending could not be added";
    }
    if (network) {
        /* TCP streams, to the ports that Landlock allows: no UDP (its
           destinations have no rule in either kernel layer; a worker's
           tenant has TCP only) and no raw or packet socket. */
        for (int family = 0; family < 2; family++) {
            if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 2,
                                 SCMP_A0(SCMP_CMP_EQ,
                                         family ? AF_INET6 : AF_INET),
                                 SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf,
                                         SOCK_STREAM)) < 0)
            {
                error = "a socket rule could not be added";
            }
        }
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(connect),
                             0) < 0)
        {
            error = "a socket rule could not be added";
        }
    }
    if (listen
        && (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(bind), 0) < 0
            || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(listen), 0) < 0
            || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(accept), 0) < 0
            || seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(accept4),
                                0) < 0))
    {
        error = "a socket rule could not be added";
    }
    if (error == NULL && seccomp_load(ctx) < 0) {
        error = "seccomp_load() failed";
    }
    seccomp_release(ctx);
    if (error == NULL) {
        *failed = 0;
    }
    return error;
}
#endif  /* HAVE_LIBSECCOMP */


/* Can this kernel give unprivileged user namespaces?  Asked of a child,
 * which exits at once, so that this process keeps its own. */
static int
userns_available(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        return 0;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}


#endif  /* SANDBOX_FENCE_LINUX */


/* A dict mapping each layer to None, or to why[i], the reason it is not
 * there; or NULL with an exception set. */
static PyObject *
layers_report(const char *const *why)
{
    PyObject *report = PyDict_New();
    for (size_t i = 0; report != NULL && i < Py_ARRAY_LENGTH(layer_names);
         i++)
    {
        PyObject *value = (why[i] == NULL ? Py_NewRef(Py_None)
                                          : PyUnicode_FromString(why[i]));
        if (value == NULL
            || PyDict_SetItemString(report, layer_names[i], value) < 0)
        {
            Py_CLEAR(report);
        }
        Py_XDECREF(value);
    }
    return report;
}


/* What this kernel and build give: a dict mapping each layer to None
 * (available) or the reason it is not, and "landlock_abi". */
PyObject *
_PySandbox_FenceLayers(void)
{
    const char *why[Py_ARRAY_LENGTH(layer_names)];
    int abi = 0;
#ifdef SANDBOX_FENCE_LINUX
    abi = landlock_abi();
    /* Asked of a child once per process: the answer does not change,
       and a host that reports it often forks no more. */
    static int userns = -1;
    if (userns < 0) {
        userns = userns_available();
    }
    why[0] = userns ? NULL
             : "unprivileged user namespaces are not available";
    why[1] = NULL;
    why[2] = NULL;
    why[3] = abi > 0 ? NULL : "this kernel has no Landlock";
#  ifdef HAVE_LIBSECCOMP
    why[4] = seccomp_available() ? NULL : "this kernel has no seccomp";
#  else
    why[4] = "built without libseccomp";
#  endif
#else
    for (size_t i = 0; i < Py_ARRAY_LENGTH(layer_names); i++) {
        why[i] = "only on Linux";
    }
#endif
    PyObject *layers = layers_report(why);
    if (layers == NULL) {
        return NULL;
    }
    PyObject *abi_obj = PyLong_FromLong(abi);
    if (abi_obj == NULL
        || PyDict_SetItemString(layers, "landlock_abi", abi_obj) < 0)
    {
        Py_XDECREF(abi_obj);
        Py_DECREF(layers);
        return NULL;
    }
    Py_DECREF(abi_obj);
    return layers;
}


/* Fence this worker process around its untrusted interpreter, whose
 * state is *state*, before any of its code runs (Python/sandbox_worker.c
 * is the only caller).  *memory* bytes beyond what the process has now,
 * *threads* more threads, the network its policy grants (none: no
 * network at all).  Every layer the kernel gives is applied; a layer named in
 * *required* (a bitmask of layer_names) that cannot be is an error, and
 * the worker must exit.  Return a dict mapping each layer to None
 * (applied) or why not, or NULL with an exception set. */
PyObject *
_PySandbox_Fence(const struct _PySandboxState *state,
                 unsigned long long memory, Py_ssize_t threads,
                 unsigned int required)
{
    int listen = state->policy.n_net[SANDBOX_NET_LISTEN] > 0;
    int network = listen || state->policy.n_net[SANDBOX_NET_CONNECT] > 0;
    const char *why[Py_ARRAY_LENGTH(layer_names)] = {NULL};
    /* A layer that the system gives but that could not be applied fails
       the fence whatever the policy requires; one that the system does
       not give fails it only if required. */
    int failed[Py_ARRAY_LENGTH(layer_names)] = {0};
    const char *missing = NULL;
#ifdef SANDBOX_FENCE_LINUX
    /* The worker dies with the host's thread that started it (the host
       starts workers from one thread that lives as long as it does), and
       seccomp keeps it from undoing this. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    why[0] = fence_namespaces(network, &failed[0]);
    why[1] = fence_rlimits(memory, threads, why[0] == NULL);
    failed[1] = why[1] != NULL;
    why[2] = (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
              ? "prctl(PR_SET_NO_NEW_PRIVS) failed" : NULL);
    failed[2] = why[2] != NULL;
    why[3] = fence_landlock(state, &failed[3], &missing);
#  ifdef HAVE_LIBSECCOMP
    why[4] = fence_seccomp(network, listen, &failed[4]);
#  else
    why[4] = "built without libseccomp";
#  endif
#else
    for (size_t i = 0; i < Py_ARRAY_LENGTH(layer_names); i++) {
        why[i] = "only on Linux";
    }
#endif
    if (missing != NULL) {
        (void)_PySandboxPolicy_Error(
            "write", missing, "a worker process can be granted a file "
            "only if it exists (its fence has no rule for one name): "
            "create it first, or grant its directory");
        return NULL;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(layer_names); i++) {
        if (failed[i]) {
            PyErr_Format(PyExc_RuntimeError, "the worker could not fence "
                         "itself: %s: %s", layer_names[i], why[i]);
            return NULL;
        }
        if ((required & (1u << i)) && why[i] != NULL) {
            PyErr_Format(PyExc_RuntimeError, "the policy requires the "
                         "layer %s, which this system does not give: %s",
                         layer_names[i], why[i]);
            return NULL;
        }
    }
    return layers_report(why);
}

/* The bit of the layer *name* for _PySandbox_Fence()'s *required*, or -1
 * with PolicyError set. */
int
_PySandbox_FenceLayerBit(PyObject *name)
{
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    for (size_t i = 0; text != NULL && i < Py_ARRAY_LENGTH(layer_names);
         i++)
    {
        if (strcmp(text, layer_names[i]) == 0) {
            return 1 << i;
        }
    }
    PyErr_Clear();
    return _PySandboxPolicy_ErrorObject("require_layers", name,
                                        "not a layer (namespaces, rlimits, "
                                        "no_new_privs, landlock, seccomp)");
}

#endif  /* Py_UNTRUSTED */
