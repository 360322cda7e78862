/* Untrusted interpreters: paths.
 *
 * Their grammar, openat2(), kernel file systems and devices.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // EINTR
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // close()
#endif
#include <fcntl.h>                // O_PATH
#include <sys/stat.h>             // fstat()
#if defined(__linux__) && defined(__has_include)
#  if __has_include(<linux/openat2.h>)
#    include <linux/openat2.h>    // struct open_how, RESOLVE_BENEATH
#  endif
#endif
#include <sys/syscall.h>          // SYS_openat2
#ifdef __linux__
#  include <sys/statfs.h>         // fstatfs()
#  include <sys/sysmacros.h>      // major(), minor()
#endif


/* Skip slashes and "." components. */
const char *
_PySandbox_SkipSeparators(const char *p)
{
    for (;;) {
        if (*p == '/') {
            p++;
        }
        else if (p[0] == '.' && (p[1] == '/' || p[1] == '\0')) {
            p++;
        }
        else {
            return p;
        }
    }
}

/* If the absolute *path* is *root* or beneath it, return what follows the
 * root in it (after separators: "" for the root itself); else NULL.  A
 * ".." before the end of the root is never beneath it. */
const char *
_PySandbox_PathBeneath(const char *path, const char *root)
{
    const char *p = path, *r = root;
    for (;;) {
        p = _PySandbox_SkipSeparators(p);
        r = _PySandbox_SkipSeparators(r);
        if (*r == '\0') {
            return p;
        }
        size_t rn = strcspn(r, "/"), pn = strcspn(p, "/");
        if (rn != pn || memcmp(r, p, rn) != 0
            || (pn == 2 && p[0] == '.' && p[1] == '.'))
        {
            return NULL;
        }
        p += pn;
        r += rn;
    }
}

/* A raw-allocated copy of the absolute *path* without "." components,
 * duplicate or final slashes; ".." is resolved by the name when *dotdot*
 * (the virtual working directory, as a shell's cd does), else kept. */
char *
_PySandbox_NormalizedPath(const char *path, int dotdot)
{
    size_t size = strlen(path) + 2;
    char *out = PyMem_RawMalloc(size);
    if (out == NULL) {
        return NULL;
    }
    size_t len = 0;
    const char *p = path;
    for (;;) {
        p = _PySandbox_SkipSeparators(p);
        if (*p == '\0') {
            break;
        }
        size_t n = strcspn(p, "/");
        if (dotdot && n == 2 && p[0] == '.' && p[1] == '.') {
            while (len > 0 && out[len - 1] != '/') {
                len--;
            }
            if (len > 0) {
                len--;              /* the slash before it */
            }
        }
        else {
            out[len++] = '/';
            memcpy(out + len, p, n);
            len += n;
        }
        p += n;
    }
    if (len == 0) {
        out[len++] = '/';
    }
    out[len] = '\0';
    return out;
}

/* The absolute path that *path* names for *state*: relative to its working
 * directory, ".." taken by the name (as os.path.normpath() does, and as
 * the working directory itself is kept), a final slash kept.
 * Raw-allocated, or NULL (no exception set). */
char *
_PySandbox_AbsolutePath(struct _PySandboxState *state, const char *path)
{
    char *joined = NULL;
    if (path[0] != '/') {
        size_t size = strlen(state->cwd) + strlen(path) + 2;
        joined = PyMem_RawMalloc(size);
        if (joined == NULL) {
            return NULL;
        }
        PyOS_snprintf(joined, size, "%s/%s", state->cwd, path);
        path = joined;
    }
    char *normal = _PySandbox_NormalizedPath(path, 1);
    size_t len = normal != NULL ? strlen(normal) : 0;
    if (normal != NULL && len > 1 && path[strlen(path) - 1] == '/') {
        normal[len] = '/';          /* "dir/" must be a directory */
        normal[len + 1] = '\0';
    }
    PyMem_RawFree(joined);
    return normal;
}

/* *root* followed by the part *rest* of a path beneath it, raw-allocated
 * (NULL: no memory). */
char *
_PySandbox_JoinPath(const char *root, const char *rest)
{
    size_t size = strlen(root) + strlen(rest) + 2;
    char *joined = PyMem_RawMalloc(size);
    if (joined != NULL) {
        PyOS_snprintf(joined, size, "%s%s%s", root,
                      (*rest == '\0' || strcmp(root, "/") == 0) ? "" : "/",
                      rest);
    }
    return joined;
}

#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
/* openat2() with *resolve*, retried on EINTR and EAGAIN. */
int
_PySandbox_Openat2(int dirfd, const char *path, int flags, int mode,
                   uint64_t resolve)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? (uint64_t)mode : 0,
        .resolve = resolve,
    };
    for (int tries = 0; tries < 100; tries++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd >= 0) {
            return (int)fd;
        }
        if (errno != EINTR && errno != EAGAIN) {
            break;
        }
    }
    return -1;
}
#endif  /* SYS_openat2 && RESOLVE_BENEATH */

/* Is *fd* on a file system that is the kernel's, not files: /proc (whose
 * /proc/self/mem is every tenant's memory), /sys, the pseudo-terminals
 * (the host's terminal), cgroups, bpf...?  Nothing there is granted, even
 * beneath a granted directory ("/"). */
int
_PySandbox_OnKernelFilesystem(int fd)
{
#ifdef __linux__
    static const unsigned long kernel_fs[] = {
        0x9fa0,         /* proc */
        0x62656572,     /* sysfs */
        0x1cd1,         /* devpts */
        0x64626720,     /* debugfs */
        0x74726163,     /* tracefs */
        0x73636673,     /* securityfs */
        0xcafe4a11,     /* bpf */
        0x27e0eb,       /* cgroup */
        0x63677270,     /* cgroup2 */
        0xde5e81e4,     /* efivarfs */
        0x62656570,     /* configfs */
        0xf97cff8c,     /* selinuxfs */
        0x43415d53,     /* smackfs */
        0x6165676c,     /* pstore */
        0x42494e4d,     /* binfmt_misc */
        0x6e736673,     /* nsfs */
        0x65735543,     /* fusectl */
        0x07655821,     /* resctrl */
        0x19800202,     /* mqueue */
        0x958458f6,     /* hugetlbfs */
    };
    struct statfs st;
    if (fstatfs(fd, &st) < 0) {
        return 1;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(kernel_fs); i++) {
        if ((unsigned long)st.f_type == kernel_fs[i]) {
            return 1;
        }
    }
#endif  /* __linux__ */
    return 0;
}

/* May a descriptor opened on this file be used?  Not a device node other
 * than the harmless ones (/dev/null, zero, full, random, urandom): a
 * granted directory may hold the host's disks or terminals. */
int
_PySandbox_IsForbiddenDeviceStat(const struct stat *st)
{
    if (!S_ISCHR(st->st_mode) && !S_ISBLK(st->st_mode)) {
        return 0;
    }
#ifdef __linux__
    if (S_ISCHR(st->st_mode) && major(st->st_rdev) == 1) {
        switch (minor(st->st_rdev)) {
        case 3: case 5: case 7: case 8: case 9:
            return 0;
        }
    }
#endif  /* __linux__ */
    return 1;
}

int
_PySandbox_IsForbiddenDevice(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 || _PySandbox_IsForbiddenDeviceStat(&st);
}

/* Is the directory of descriptor *fd* the one of *outer*, or beneath it?
 * By their inodes, walking up through ".." (whatever names lead there).
 * 1 when it cannot tell. */
int
_PySandbox_FdBeneath(int fd, int outer)
{
    struct stat target, st, up_st;
    if (fstat(outer, &target) < 0) {
        return 1;
    }
    int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
        if (fstat(cur, &st) < 0) {
            break;
        }
        if (st.st_dev == target.st_dev && st.st_ino == target.st_ino) {
            break;
        }
        int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up < 0 || fstat(up, &up_st) < 0) {
            if (up >= 0) {
                (void)close(up);
            }
            break;
        }
        (void)close(cur);
        cur = up;
        if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino) {
            (void)close(cur);
            return 0;               /* the root, and *outer* not met */
        }
    }
    if (cur >= 0) {
        (void)close(cur);
    }
    return 1;
}

#endif  /* Py_UNTRUSTED */
