/* Untrusted interpreters: code objects from trusted bytecode.
 *
 * An untrusted interpreter never reads a .pyc through importlib: its
 * Python is the tenant's, and bytecode that the tenant can write or choose
 * crashes the evaluator.  So it compiled every module it imported, which
 * made its imports several times slower than a plain interpreter's.
 *
 * _imp._sandbox_code(source_path), which SourceLoader.get_code() asks first
 * in an untrusted interpreter (patch 0200), returns the code object of a
 * source file of the standard library, or of a package root that the
 * policy's trusted_bytecode names, from the host's own bytecode cache
 * (__pycache__/NAME.cpython-313[.opt-N].pyc, written by the host's
 * compileall at install time or by its own imports), or None, and the
 * loader compiles the source.  This file opens, reads, checks and
 * unmarshals the cache in C; the bytes never reach the interpreter's
 * Python, and marshal and the code constructor stay denied to it.
 *
 * A cache is used only when nothing untrusted can have written it:
 *   - the source is beneath a grant of the standard library or of such a
 *     package root (found by the
 *     path the interpreter gave, resolved beneath the grant's descriptor as
 *     its own open() would be, through no link that leaves the grant: a
 *     path elsewhere gets None);
 *   - no interpreter may write there: a write grant that overlaps the
 *     standard library is refused (_PySandboxPolicy_CheckWritable()), and
 *     should one overlap it by inode all the same, neither that
 *     interpreter nor any the process creates after it loads a cache (the
 *     process-wide taint below);
 *   - not sysconfig's build variables without filesystem_info: the
 *     interpreter reads them as a copy without the host's paths;
 *   - the source's directory, __pycache__ and the .pyc are owned by root
 *     or by the process's user and writable by no one else (another user
 *     of the machine could have);
 *   - the .pyc has this build's magic number, and matches the source: by
 *     its modification time and size as importlib checks them, or, for a
 *     hash-based .pyc (PEP 552, checked or not), by the hash of the source
 *     read here.
 * The code objects' co_filename is then the path the interpreter gave (the
 * cache names the host's path), as importlib's _fix_co_filename() does.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "marshal.h"              // PyMarshal_ReadObjectFromString()
#include "osdefs.h"                // MAXPATHLEN
#include "pycore_fileutils.h"     // _Py_EncodeLocaleRaw()
#include "pycore_pyhash.h"        // _Py_KeyedHash()
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // EINTR
#include <fcntl.h>                // openat()
#include <sys/stat.h>             // fstat()
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // read(), geteuid()
#endif

/* importlib's MAGIC_NUMBER of CPython 3.13 (Lib/importlib/
 * _bootstrap_external.py; 3.14 moves it to a C header): 3571, then "\r\n",
 * little-endian.  Not read from importlib at run time, which is the
 * tenant's in an untrusted interpreter.  A build whose importlib differs
 * only loses the speed (tests_sandbox/test_bytecode.py fails). */
#define SANDBOX_PYC_MAGIC \
    ((uint32_t)3571 | ((uint32_t)'\r' << 16) | ((uint32_t)'\n' << 24))

/* The header of a .pyc (PEP 552): magic, flags, then the source's
 * modification time and size, or the hash of the source. */
#define PYC_HEADER_SIZE 16
/* No cache of the standard library comes near (the largest is about
 * 1 MiB); a bigger file is not read. */
#define PYC_MAX_SIZE (64 * 1024 * 1024)

/* sys.implementation.cache_tag (Python/sysmodule.c). */
extern const char *_PySys_ImplCacheTag;

/* Set once an untrusted interpreter was created with a write grant over
 * the standard library (or under it) all the same: from then on, any .pyc
 * there may be one that it wrote, for this process and its forks. */
static int bytecode_tainted = 0;

/* The package roots whose caches an interpreter of this process (or a
 * worker it started) was let trust (trusted_bytecode): O_PATH descriptors
 * and the host's paths, kept for the life of the process, so that no later
 * write grant of the process, or of its workers, overlaps one.  The lock
 * is held only to copy or add entries, never across a walk of the
 * directories. */
#define MAX_TRUSTED_ROOTS 64
static struct {
    PyMutex mutex;
    int fds[MAX_TRUSTED_ROOTS];
    char *paths[MAX_TRUSTED_ROOTS];
    int n;
} trusted_roots;

/* Does the opened write grant of descriptor *w_fd* (*w_name* not NULL:
 * a file's, *w_fd* its directory) overlap the directory of descriptor
 * *dir*: a directory grant beneath it or holding it, a file's in it or
 * beneath it?  By their inodes (whatever names lead there, and whatever a
 * link swapped since the names were checked); 1 when it cannot tell. */
static int
write_overlaps(int w_fd, const char *w_name, int dir)
{
    if (_PySandbox_FdBeneath(w_fd, dir)) {
        return 1;
    }
    return w_name == NULL && _PySandbox_FdBeneath(dir, w_fd);
}

/* Copies of the registry's descriptors into *fds*; their number, or -1
 * (none kept) when one cannot be copied (no descriptor left): the caller
 * then refuses, as if it overlapped.  The caller closes them. */
static int
snapshot_roots(int *fds)
{
    int n = 0;
    _PySandbox_LOCK(&trusted_roots.mutex);
    for (int i = 0; i < trusted_roots.n && n >= 0; i++) {
        int fd = fcntl(trusted_roots.fds[i], F_DUPFD_CLOEXEC, 0);
        if (fd >= 0) {
            fds[n++] = fd;
        }
        else {
            for (int j = 0; j < n; j++) {
                (void)close(fds[j]);
            }
            n = -1;
        }
    }
    PyMutex_Unlock(&trusted_roots.mutex);
    return n;
}

static void
close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        (void)close(fds[i]);
    }
}

/* Add the directory of descriptor *fd* (the host's *path*) to the
 * registry, once (by inode).  0, or -1 when it is full or for no memory. */
static int
register_root(int fd, const char *path)
{
    struct stat st, known;
    if (fstat(fd, &st) < 0) {
        return -1;
    }
    int rc = 0;
    _PySandbox_LOCK(&trusted_roots.mutex);
    int listed = 0;
    for (int k = 0; k < trusted_roots.n && !listed; k++) {
        listed = (fstat(trusted_roots.fds[k], &known) == 0
                  && known.st_dev == st.st_dev && known.st_ino == st.st_ino);
    }
    if (!listed) {
        int copy = trusted_roots.n < MAX_TRUSTED_ROOTS
                   ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
        char *name = copy >= 0 ? _PyMem_RawStrdup(path) : NULL;
        if (name == NULL) {
            if (copy >= 0) {
                (void)close(copy);
            }
            rc = -1;
        }
        else {
            trusted_roots.fds[trusted_roots.n] = copy;
            trusted_roots.paths[trusted_roots.n++] = name;
        }
    }
    PyMutex_Unlock(&trusted_roots.mutex);
    return rc;
}

/* The directories of the standard library's search path (the current
 * interpreter's config: the host's paths), opened O_PATH into *fds*;
 * their number. */
static int
open_stdlib_dirs(int *fds, int max)
{
    const PyConfig *config = _Py_GetConfig();
    int n = 0;
    for (Py_ssize_t i = 0; i < config->module_search_paths.length && n < max;
         i++)
    {
        char *dir = _Py_EncodeLocaleRaw(config->module_search_paths.items[i],
                                        NULL);
        if (dir == NULL) {
            continue;
        }
        int fd = dir[0] == '/' ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)
                               : -1;
        int saved = errno;
        PyMem_RawFree(dir);
        if (fd >= 0) {
            fds[n++] = fd;
        }
        else if (saved == EMFILE || saved == ENFILE || saved == ENOMEM) {
            close_all(fds, n);
            return -1;
        }
    }
    return n;
}

int
_PySandboxPolicy_CheckTrustedBytecode(const PySandboxPolicy *policy)
{
    if (policy->n_trusted_bytecode > 0
        && _PySandbox_IsUntrusted(_PyInterpreterState_GET()))
    {
        return _PySandboxPolicy_Error(
            "trusted_bytecode", policy->trusted_bytecode[0],
            "an untrusted interpreter cannot vouch for bytecode");
    }
    for (Py_ssize_t i = 0; i < policy->n_trusted_bytecode; i++) {
        if (!_PySandbox_PolicyLists(policy->packages, policy->n_packages,
                                    policy->trusted_bytecode[i]))
        {
            return _PySandboxPolicy_Error(
                "trusted_bytecode", policy->trusted_bytecode[i],
                "not one of the policy's package roots (packages)");
        }
    }
    return 0;
}

Py_ssize_t
_PySandbox_OpenedWriteOverlap(const PySandboxPolicy *policy, int with_stdlib,
                              const char **what)
{
    *what = NULL;
    Py_ssize_t n_writes = 0;
    for (Py_ssize_t i = 0; i < policy->n_opened; i++) {
        n_writes += (policy->opened[i].access & PySandbox_WRITE) != 0;
    }
    if (n_writes == 0) {
        return -1;      /* nothing to check: no descriptor opened */
    }
    int stdlib[16], roots[MAX_TRUSTED_ROOTS];
    int n_stdlib = with_stdlib ? open_stdlib_dirs(stdlib, 16) : 0;
    int n_roots = snapshot_roots(roots);
    Py_ssize_t found = -1;
    if (n_stdlib < 0 || n_roots < 0) {
        /* No descriptor to check with: refuse the first write grant. */
        for (Py_ssize_t i = 0; i < policy->n_opened && found < 0; i++) {
            if (policy->opened[i].access & PySandbox_WRITE) {
                found = i;
                *what = "cannot be checked: no file descriptor left";
            }
        }
        close_all(stdlib, n_stdlib < 0 ? 0 : n_stdlib);
        close_all(roots, n_roots < 0 ? 0 : n_roots);
        return found;
    }
    for (Py_ssize_t i = 0; i < policy->n_opened && found < 0; i++) {
        const sandbox_grant *w = &policy->opened[i];
        if (!(w->access & PySandbox_WRITE)) {
            continue;
        }
        for (int j = 0; j < n_stdlib && *what == NULL; j++) {
            if (write_overlaps(w->fd, w->name, stdlib[j])) {
                *what = "overlaps the standard library: code that may write "
                        "there can leave bytecode for the host's imports";
            }
        }
        for (Py_ssize_t j = policy->n_paths; j < policy->n_opened
                                             && *what == NULL; j++) {
            if (write_overlaps(w->fd, w->name, policy->opened[j].fd)) {
                *what = "overlaps a package root of the policy (packages): "
                        "a package root is read-only";
            }
        }
        for (int j = 0; j < n_roots && *what == NULL; j++) {
            if (write_overlaps(w->fd, w->name, roots[j])) {
                *what = "overlaps a package root whose bytecode caches an "
                        "interpreter of this process trusts "
                        "(trusted_bytecode)";
            }
        }
        if (*what != NULL) {
            found = i;
        }
    }
    close_all(stdlib, n_stdlib);
    close_all(roots, n_roots);
    return found;
}

int
_PySandbox_CheckOpenedWrites(PySandboxPolicy *policy)
{
    if (_PySandbox_IsUntrusted(_PyInterpreterState_GET())) {
        /* A nested interpreter's grants are opened beneath its creator's,
           which were checked when it was made; and it trusts no root. */
        return 0;
    }
    const char *what;
    Py_ssize_t i = _PySandbox_OpenedWriteOverlap(policy, 1, &what);
    if (i >= 0) {
        return _PySandboxPolicy_Error(
            "write", i < policy->n_paths ? policy->paths[i].path
                                         : policy->opened[i].root, what);
    }
    /* Then its trusted package roots, for the write grants to come. */
    for (Py_ssize_t j = policy->n_paths; j < policy->n_opened; j++) {
        const sandbox_grant *g = &policy->opened[j];
        if (g->trusted_bytecode
            && register_root(g->fd, g->host != NULL ? g->host : g->root) < 0)
        {
            return _PySandboxPolicy_Error(
                "trusted_bytecode", g->root, "too many trusted package "
                "roots in this process (64 at most)");
        }
    }
    return 0;
}

int
_PySandbox_RegisterTrustedPaths(char *const *paths, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        int fd = open(paths[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
        int rc = fd >= 0 ? register_root(fd, paths[i]) : 0;
        if (fd >= 0) {
            (void)close(fd);
        }
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}

char **
_PySandbox_TrustedRootPaths(Py_ssize_t *n)
{
    char **copy = NULL;
    _PySandbox_LOCK(&trusted_roots.mutex);
    *n = trusted_roots.n;
    if (_PySandbox_CopyStrings(trusted_roots.paths, trusted_roots.n,
                               &copy) < 0)
    {
        copy = NULL;
        *n = -1;
    }
    PyMutex_Unlock(&trusted_roots.mutex);
    return copy;
}

void
_PySandbox_BytecodeAfterFork(void)
{
    /* Another thread may have held it at the fork; the child has only
       this one. */
    trusted_roots.mutex = (PyMutex){0};
}

int
_PySandbox_WriteOverlapsTrusted(const char *path)
{
    /* By where the path leads now: the name of a worker's write grant,
       which the worker opens itself (and checks again, by descriptor,
       against this registry, which it gets in its start). */
    struct stat st;
    int fd = -1;
    const char *name = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    else {
        /* A file, or one to be created: in its directory. */
        char *dir = _PyMem_RawStrdup(path);
        char *slash = dir != NULL ? strrchr(dir, '/') : NULL;
        if (slash != NULL) {
            slash[slash == dir ? 1 : 0] = '\0';
            fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
            name = "";
        }
        PyMem_RawFree(dir);
    }
    int overlaps = 0;
    if (fd < 0) {
        /* Nothing there to reach a root; but no descriptor left: refuse. */
        return errno == EMFILE || errno == ENFILE || errno == ENOMEM;
    }
    int roots[MAX_TRUSTED_ROOTS];
    int n_roots = snapshot_roots(roots);
    overlaps = n_roots < 0;
    for (int j = 0; j < n_roots && !overlaps; j++) {
        overlaps = write_overlaps(fd, name, roots[j]);
    }
    close_all(roots, n_roots < 0 ? 0 : n_roots);
    (void)close(fd);
    return overlaps;
}

int
_PySandbox_InitBytecode(struct _PySandboxState *state, int nested)
{
    /* No thread state here: the creation swapped it out. */
    if (nested) {
        /* Made by an untrusted creator: its grants are beneath the
           creator's, checked when it was made (and walking them here
           would cost what the creator chooses). */
        state->trusted_bytecode = 1;
        return 0;
    }
    int writes = 0;
    for (Py_ssize_t j = 0; j < state->n_grants && !writes; j++) {
        writes = (state->grants[j].access & PySandbox_WRITE) != 0;
    }
    if (!writes) {
        state->trusted_bytecode = 1;
        return 0;
    }
    int roots[MAX_TRUSTED_ROOTS];
    int n_roots = snapshot_roots(roots);
    int overlap = 0;
    if (n_roots < 0) {
        n_roots = 0;
        for (Py_ssize_t j = 0; j < state->n_grants && !overlap; j++) {
            overlap = (state->grants[j].access & PySandbox_WRITE) != 0;
        }
    }
    for (Py_ssize_t j = 0; j < state->n_grants && !overlap; j++) {
        const sandbox_grant *w = &state->grants[j];
        if (!(w->access & PySandbox_WRITE)) {
            continue;
        }
        /* The directories it may not write: the standard library's and
           its trusted package roots; and those the process trusts. */
        for (Py_ssize_t i = 0; i < state->n_grants && !overlap; i++) {
            const sandbox_grant *s = &state->grants[i];
            overlap = ((s->stdlib || s->trusted_bytecode) && s->name == NULL
                       && write_overlaps(w->fd, w->name, s->fd));
        }
        for (int i = 0; i < n_roots && !overlap; i++) {
            overlap = write_overlaps(w->fd, w->name, roots[i]);
        }
    }
    close_all(roots, n_roots);
    state->trusted_bytecode = !overlap;
    if (overlap) {
        _Py_atomic_store_int(&bytecode_tainted, 1);
        return -1;
    }
    return 0;
}

/* Is the file of *st* the host's: owned by root or by this process's
 * user, and writable by no one else? */
static int
hosts_own(const struct stat *st)
{
    return ((st->st_uid == 0 || st->st_uid == geteuid())
            && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0);
}

/* The *size* bytes of the regular file *fd*, or NULL.  Allocated with
 * PyMem_Malloc(): charged to the interpreter's memory cap. */
static char *
read_all(int fd, size_t size)
{
    char *buf = PyMem_Malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        return NULL;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            PyMem_Free(buf);
            return NULL;            /* an error, or it shrank */
        }
        done += (size_t)n;
    }
    return buf;
}

static uint32_t
le32(const unsigned char *p)
{
    return ((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16)
            | ((uint32_t)p[3] << 24));
}

/* Does the header of *pyc* match the source *name* in *dirfd*, of
 * status *st*? */
static int
matches_source(const unsigned char *pyc, int dirfd, const char *name,
               const struct stat *st)
{
    if (le32(pyc) != SANDBOX_PYC_MAGIC) {
        return 0;
    }
    uint32_t flags = le32(pyc + 4);
    if (flags == 0) {
        /* As importlib's _validate_timestamp_pyc(): both truncated to 32
           bits. */
        return (le32(pyc + 8) == (uint32_t)(uint64_t)st->st_mtime
                && le32(pyc + 12) == (uint32_t)(uint64_t)st->st_size);
    }
    if (flags != 1 && flags != 3) {
        return 0;
    }
    /* Hash-based, checked or not: checked here, against the source as it
       is now (_imp.source_hash(), keyed by the magic number). */
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                                 | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    struct stat now;
    char *source = NULL;
    if (fstat(fd, &now) == 0 && S_ISREG(now.st_mode)
        && now.st_ino == st->st_ino && now.st_dev == st->st_dev
        && now.st_size <= PYC_MAX_SIZE)
    {
        source = read_all(fd, (size_t)now.st_size);
    }
    (void)close(fd);
    if (source == NULL) {
        return 0;
    }
    uint64_t hash = _Py_KeyedHash((uint64_t)SANDBOX_PYC_MAGIC, source,
                                  (Py_ssize_t)now.st_size);
    PyMem_Free(source);
    /* Stored as _imp.source_hash() returns it: the bytes of the integer
       in the machine's order. */
    return memcmp(&hash, pyc + 8, sizeof(hash)) == 0;
}

/* The contents of the .pyc of the source *leaf* in *dirfd* (of status
 * *st*), when it is the host's and matches the source; *size* is set.
 * Raw-allocated, or NULL. */
static char *
read_cache(int dirfd, const char *leaf, const struct stat *st,
           size_t *size)
{
    int level = _Py_GetConfig()->optimization_level;
    size_t stem = strlen(leaf) - 3;         /* without ".py" */
    char name[MAXPATHLEN + 1];
    char opt[16] = "";
    if (level > 0) {
        PyOS_snprintf(opt, sizeof(opt), ".opt-%d", level);
    }
    if (stem + strlen(_PySys_ImplCacheTag) + strlen(opt) + 8 >= sizeof(name)) {
        return NULL;
    }
    PyOS_snprintf(name, sizeof(name), "%.*s.%s%s.pyc", (int)stem, leaf,
                  _PySys_ImplCacheTag, opt);

    struct stat dst;
    int cache_dir = openat(dirfd, "__pycache__",
                           O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cache_dir < 0) {
        return NULL;
    }
    char *data = NULL;
    int fd = -1;
    if (fstat(cache_dir, &dst) < 0 || !S_ISDIR(dst.st_mode)
        || !hosts_own(&dst))
    {
        goto done;
    }
    fd = openat(cache_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                                 | O_CLOEXEC);
    struct stat pst;
    if (fd < 0 || fstat(fd, &pst) < 0 || !S_ISREG(pst.st_mode)
        || !hosts_own(&pst) || pst.st_size < PYC_HEADER_SIZE
        || pst.st_size > PYC_MAX_SIZE)
    {
        goto done;
    }
    data = read_all(fd, (size_t)pst.st_size);
    if (data != NULL
        && !matches_source((const unsigned char *)data, dirfd, leaf, st))
    {
        PyMem_Free(data);
        data = NULL;
    }
    if (data != NULL) {
        *size = (size_t)pst.st_size;
    }

done:
    if (fd >= 0) {
        (void)close(fd);
    }
    (void)close(cache_dir);
    return data;
}

/* Name *filename* in *code* and the code objects it holds. */
static void
set_filename(PyCodeObject *code, PyObject *filename)
{
    Py_SETREF(code->co_filename, Py_NewRef(filename));
    PyObject *consts = code->co_consts;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(consts); i++) {
        PyObject *item = PyTuple_GET_ITEM(consts, i);
        if (PyCode_Check(item)) {
            set_filename((PyCodeObject *)item, filename);
        }
    }
}

PyObject *
_PySandbox_TrustedCode(PyObject *module, PyObject *path)
{
    (void)module;
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (!PyUnicode_Check(path)) {
        PyErr_Format(PyExc_TypeError, "_sandbox_code() argument must be "
                     "str, not %.100s", Py_TYPE(path)->tp_name);
        return NULL;
    }
    if (state == NULL || !state->trusted_bytecode
        || _Py_atomic_load_int_relaxed(&bytecode_tainted))
    {
        Py_RETURN_NONE;
    }
    PyObject *encoded = PyUnicode_EncodeFSDefault(path);
    if (encoded == NULL) {
        PyErr_Clear();              /* not a file name: no cache */
        Py_RETURN_NONE;
    }
    const char *given = PyBytes_AS_STRING(encoded);
    size_t len = strlen(given);
    PyObject *code = NULL;
    char *data = NULL;
    size_t size = 0;
    int dirfd = -1;
    const char *leaf = NULL;
    if (len != (size_t)PyBytes_GET_SIZE(encoded) || len < 4
        || strcmp(given + len - 3, ".py") != 0)
    {
        goto done;
    }
    dirfd = _PySandbox_OpenStdlibSourceDir(state, given, &leaf);
    struct stat st, dst;
    if (dirfd < 0 || leaf == NULL || strlen(leaf) <= 3
        || fstat(dirfd, &dst) < 0 || !hosts_own(&dst)
        || fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0
        || !S_ISREG(st.st_mode))
    {
        goto done;
    }
    if (!state->policy.filesystem_info) {
        /* sysconfig's build variables, which the interpreter reads as a
           copy without the host's directories (Python/sandbox_layout.c):
           their cache has the host's. */
        int copy;
        if (_PySandbox_SysconfigCopy(&st, &copy) < 0 || copy >= 0) {
            if (copy >= 0) {
                (void)close(copy);
            }
            goto done;
        }
    }
    data = read_cache(dirfd, leaf, &st, &size);
    if (data == NULL) {
        goto done;
    }
    code = PyMarshal_ReadObjectFromString(data + PYC_HEADER_SIZE,
                                          (Py_ssize_t)(size
                                                       - PYC_HEADER_SIZE));
    if (code == NULL || !PyCode_Check(code)) {
        if (code == NULL && PyErr_ExceptionMatches(PyExc_MemoryError)) {
            goto done;              /* the interpreter's memory cap */
        }
        PyErr_Clear();
        Py_CLEAR(code);
        goto done;
    }
    set_filename((PyCodeObject *)code, path);

done:
    PyMem_Free(data);
    if (dirfd >= 0) {
        (void)close(dirfd);
    }
    PyMem_RawFree((void *)leaf);
    Py_DECREF(encoded);
    if (code == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return code;
}

#endif  /* Py_UNTRUSTED */
