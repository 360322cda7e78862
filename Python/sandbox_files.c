/* Untrusted interpreters: files.
 *
 * The grants, and the resolution of every path beneath one.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_fileutils.h"     // _Py_EncodeLocaleRaw()
#include "pycore_importdl.h"      // _PyImport_DynLoadFiletab
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState
#include "osdefs.h"               // SEP

#ifdef Py_UNTRUSTED

#include <errno.h>                // EXDEV
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // close()
#endif
#include <fcntl.h>                // O_PATH
#include <sys/stat.h>             // fstat()
#if defined(__linux__) && defined(__has_include)
#  if __has_include(<linux/openat2.h>)
#    include <linux/openat2.h>    // RESOLVE_BENEATH
#  endif
#endif
#include <sys/syscall.h>          // SYS_openat2


/* Files (DESIGN §4 "files"; Deno's --allow-read and --allow-write; WASI's
 * pre-opened directories).
 *
 * An untrusted interpreter reads only beneath the files and directories
 * its policy grants (and the standard library, for its imports), and
 * changes only beneath those granted for writing.  Checking a path, then
 * using it, is a race that symbolic links win; so each grant is opened
 * once, when the interpreter is created, and every path is resolved
 * beneath that descriptor with openat2(RESOLVE_BENEATH), which fails on
 * any ".." or symbolic link that would leave it.  The call then acts on
 * the result through /proc/self/fd: "/proc/self/fd/T" names the very file
 * resolved (the calls that follow a final symbolic link), and
 * "/proc/self/fd/P/name" the entry *name* of the very directory resolved
 * (the calls that act on the entry itself: unlink, rename, lstat, mkdir).
 * Nothing the untrusted code does between the check and the call changes
 * what the call reaches.
 *
 * A path outside every grant is refused before any system call, so the
 * error does not tell whether it exists.  Relative paths are relative to a
 * virtual working directory (os.chdir() and os.getcwd() use it); the
 * process's own is the host's. */

/* How a path is resolved beneath a grant's descriptor: */
enum {
    LINKS_BENEATH,      /* symbolic links followed while they stay beneath */
    LINKS_NONE,         /* a file's grant: no symbolic link at all */
    LINKS_HOST,         /* as LINKS_BENEATH, and a final link that leads
                           out (the host's, in the standard library) is
                           followed once, with no link after it */
};

static int
grant_links(const sandbox_grant *grant)
{
    if (grant == NULL) {
        return LINKS_BENEATH;
    }
    return grant->name != NULL ? LINKS_NONE
           : grant->host_links ? LINKS_HOST : LINKS_BENEATH;
}


static void
clear_grant(sandbox_grant *grant)
{
    if (grant->fd >= 0) {
        (void)close(grant->fd);
    }
    PyMem_RawFree(grant->root);
    PyMem_RawFree(grant->host);
    PyMem_RawFree(grant->name);
}

void
_PySandbox_ClearGrants(sandbox_grant *grants, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        clear_grant(&grants[i]);
    }
    PyMem_RawFree(grants);
}

#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
/* The final component of *path*, beneath *dirfd*, is a symbolic link that
 * the host made in its standard library (a build tree links its extension
 * modules from ../../Modules; Debian links sitecustomize.py to /etc):
 * follow it once, and no link after it, so that nothing the untrusted code
 * can write leads further.  -1 with errno EXDEV if it is no link. */
static int host_target_allowed(struct _PySandboxState *state, int dirfd);

static int
follow_host_link(struct _PySandboxState *state, int dirfd, const char *path,
                 int flags, int mode)
{
    char *copy = _PyMem_RawStrdup(path);
    if (copy == NULL) {
        errno = ENOMEM;
        return -1;
    }
    char *slash = strrchr(copy, '/');
    const char *leaf = slash != NULL ? slash + 1 : copy;
    if (slash != NULL) {
        *slash = '\0';
    }
    int parent = _PySandbox_Openat2(dirfd, slash == NULL ? "." : copy,
                                    O_PATH | O_DIRECTORY, 0,
                                    RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
    int fd = -1;
    char target[MAXPATHLEN + 1];
    ssize_t n = parent >= 0 && leaf[0] != '\0'
                ? readlinkat(parent, leaf, target, MAXPATHLEN) : -1;
    if (n > 0) {
        target[n] = '\0';
        /* Not into anything the interpreter, or an untrusted creator of
           it, may write: its directory, by inode (with no link on the
           way, the file is in that very directory). */
        char *dir_end = strrchr(target, '/');
        int allowed = 1;
        if (state != NULL) {
            if (dir_end != NULL) {
                *dir_end = '\0';
            }
            int d = _PySandbox_Openat2(parent, dir_end == NULL ? "."
                                       : (target[0] == '\0' ? "/" : target),
                                       O_PATH | O_DIRECTORY, 0,
                                       RESOLVE_NO_SYMLINKS
                                       | RESOLVE_NO_MAGICLINKS);
            allowed = d >= 0 && host_target_allowed(state, d);
            if (d >= 0) {
                (void)close(d);
            }
            if (dir_end != NULL) {
                *dir_end = '/';
            }
        }
        if (allowed) {
            fd = _PySandbox_Openat2(
                parent, target, flags, mode,
                RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        }
        else {
            errno = EXDEV;
        }
    }
    int saved = n > 0 ? errno : EXDEV;
    if (parent >= 0) {
        (void)close(parent);
    }
    PyMem_RawFree(copy);
    if (fd < 0) {
        errno = saved == ELOOP ? EXDEV : saved;
    }
    return fd;
}
#endif  /* defined(SYS_openat2) && defined(RESOLVE_BENEATH) */

/* openat2() beneath *dirfd*, no magic links, symbolic links as *links*
 * says.  Return the descriptor, or -1 with errno set: EXDEV when the path
 * leaves *dirfd*. */
static int
open_beneath(struct _PySandboxState *state, int dirfd, const char *path,
             int flags, int mode, int links)
{
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    int fd = _PySandbox_Openat2(
        dirfd, path, flags, mode,
        RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
        | (links == LINKS_NONE ? RESOLVE_NO_SYMLINKS : 0));
    if (fd < 0 && links == LINKS_HOST && errno == EXDEV) {
        return follow_host_link(state, dirfd, path, flags, mode);
    }
    if (fd < 0 && errno == ELOOP && links == LINKS_NONE) {
        errno = EXDEV;
    }
    return fd;
#else
    /* Without openat2(), no resolution can be trusted. */
    errno = ENOSYS;
    return -1;
#endif
}

static int resolve_entry_parent(struct _PySandboxState *state,
                                const char *path, int dir_fd, int access,
                                int *pfd, char **owned);

static const sandbox_grant *find_grant(struct _PySandboxState *state,
                                       const char *path, int access,
                                       const char **rest);

/* Open the grant of *path* for *access*, seen at *guest* (NULL: at
 * *path*): *resolver*, if not NULL, is the untrusted creator's state,
 * beneath whose grants (and in whose layout) the path must resolve;
 * otherwise the creator is trusted and the path is opened as it is.
 * Return 0, or -1 with errno set (nothing allocated). */
static int
open_grant(sandbox_grant *grant, const char *path, const char *guest,
           int access, struct _PySandboxState *resolver)
{
    memset(grant, 0, sizeof(*grant));
    grant->fd = -1;
    grant->access = access;
    char *where = _PySandbox_NormalizedPath(path, 0);
    grant->root = (guest != NULL ? _PySandbox_NormalizedPath(guest, 0)
                   : where != NULL ? _PyMem_RawStrdup(where) : NULL);
    if (where == NULL || grant->root == NULL) {
        PyMem_RawFree(where);
        PyMem_RawFree(grant->root);
        grant->root = NULL;
        errno = ENOMEM;
        return -1;
    }
    /* On the host; an untrusted creator's in its own layout. */
    grant->host = (resolver == NULL ? _PyMem_RawStrdup(where)
                   : _PySandbox_HostPath(resolver, where));
    const char *root = where;
    const char *slash = strrchr(root, '/');
    const char *leaf = root[1] == '\0' ? "." : slash + 1;
    int parent = -1;
    char *owned_leaf = NULL;
    if (resolver == NULL) {
        char *dir = _PyMem_RawStrdup(root);
        if (dir == NULL) {
            errno = ENOMEM;
            goto error;
        }
        dir[slash == root ? 1 : slash - root] = '\0';
        parent = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        PyMem_RawFree(dir);
    }
    else {
        if (resolve_entry_parent(resolver, root, AT_FDCWD, access, &parent,
                                 &owned_leaf) < 0)
        {
            goto error;
        }
        leaf = owned_leaf;
    }
    if (parent < 0) {
        goto error;
    }
    /* For an untrusted creator, a link at the name is not followed (it
       could be the creator's, to a directory around a file it may
       write): the name is then a file's grant, which follows no link. */
    int fd = resolver == NULL
             ? openat(parent, leaf, O_PATH | O_DIRECTORY | O_CLOEXEC)
             : open_beneath(resolver, parent, leaf,
                            O_PATH | O_DIRECTORY | O_NOFOLLOW,
                            0, LINKS_BENEATH);
    const char *below;
    const sandbox_grant *creators;
    if (fd >= 0 && resolver != NULL
        && (creators = find_grant(resolver, root, access, &below)) != NULL
        && creators->name != NULL)
    {
        /* The creator's grant is a file's, of a name where a directory
           was made since: not a directory's for the new one either. */
        (void)close(fd);
        errno = EACCES;
        goto error;
    }
    if (fd >= 0) {
        grant->fd = fd;
    }
    else if (errno == ENOTDIR || errno == ENOENT || errno == ELOOP) {
        /* A file, or one that may be created: that name, in that
           directory. */
        grant->name = _PyMem_RawStrdup(leaf);
        if (grant->name == NULL) {
            errno = ENOMEM;
            goto error;
        }
        grant->fd = parent;
        parent = -1;
    }
    else {
        goto error;
    }
    if (parent >= 0) {
        (void)close(parent);
    }
    PyMem_RawFree(owned_leaf);
    PyMem_RawFree(where);
    return 0;

error:;
    int saved = errno;
    if (parent >= 0) {
        (void)close(parent);
    }
    PyMem_RawFree(owned_leaf);
    PyMem_RawFree(where);
    PyMem_RawFree(grant->root);
    PyMem_RawFree(grant->host);
    PyMem_RawFree(grant->name);
    memset(grant, 0, sizeof(*grant));
    grant->fd = -1;
    errno = saved;
    return -1;
}

/* The grant of *state* for *access* with the longest root that holds the
 * absolute *path*; *rest* is set to what follows the root.  A file's grant
 * holds only the file. */
static const sandbox_grant *
find_grant(struct _PySandboxState *state, const char *path, int access,
           const char **rest)
{
    const sandbox_grant *best = NULL;
    size_t best_len = 0;
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        const sandbox_grant *grant = &state->grants[i];
        if ((grant->access & access) != access) {
            continue;
        }
        const char *r = _PySandbox_PathBeneath(path, grant->root);
        if (r == NULL || (grant->name != NULL && *r != '\0')) {
            continue;
        }
        size_t len = strlen(grant->root);
        if (best == NULL || len > best_len) {
            best = grant;
            best_len = len;
            *rest = r;
        }
    }
    return best;
}

char *
_PySandbox_HostPath(struct _PySandboxState *state, const char *path)
{
    const char *rest;
    const sandbox_grant *grant = find_grant(state, path, 0, &rest);
    if (grant == NULL || grant->host == NULL) {
        return NULL;
    }
    return _PySandbox_JoinPath(grant->host, rest);
}

char *
_PySandbox_GuestPath(struct _PySandboxState *state, const char *path)
{
    const sandbox_grant *best = NULL;
    const char *best_rest = NULL;
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        const sandbox_grant *grant = &state->grants[i];
        const char *r = (grant->host != NULL
                         ? _PySandbox_PathBeneath(path, grant->host) : NULL);
        if (r == NULL || (grant->name != NULL && *r != '\0')) {
            continue;
        }
        if (best == NULL || strlen(grant->host) > strlen(best->host)) {
            best = grant;
            best_rest = r;
        }
    }
    return best != NULL ? _PySandbox_JoinPath(best->root, best_rest) : NULL;
}

static int hidden_in_stdlib(const char *rest, int anywhere);

int
_PySandbox_OpenStdlibSourceDir(struct _PySandboxState *state,
                               const char *path, const char **leaf)
{
    *leaf = NULL;
    char *normal = _PySandbox_AbsolutePath(state, path);
    if (normal == NULL) {
        return -1;
    }
    const char *rest = NULL;
    const sandbox_grant *grant = find_grant(state, normal, PySandbox_READ,
                                            &rest);
    int fd = -1;
    if (grant != NULL && (grant->stdlib || grant->trusted_bytecode)
        && grant->name == NULL && rest[0] != '\0'
        && !hidden_in_stdlib(rest, 1))
    {
        /* Its directory, beneath the grant as the interpreter's open()
           resolves it; and its name there. */
        char *dir = _PyMem_RawStrdup(rest);
        char *end = dir != NULL ? strrchr(dir, '/') : NULL;
        char *name = _PyMem_RawStrdup(end != NULL ? end + 1 : rest);
        if (end != NULL) {
            *end = '\0';
        }
        if (dir != NULL && name != NULL && name[0] != '\0') {
            /* No link that leaves the grant is followed, not even the
               host's own (grant_links()): where it leads, others may
               write. */
            fd = open_beneath(state, grant->fd, end != NULL ? dir : ".",
                              O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                              LINKS_BENEATH);
        }
        PyMem_RawFree(dir);
        if (fd >= 0) {
            *leaf = name;
        }
        else {
            PyMem_RawFree(name);
        }
    }
    PyMem_RawFree(normal);
    return fd;
}

/* Where *path* (relative to *dir_fd*, AT_FDCWD for the virtual working
 * directory) is: a descriptor to resolve beneath, *base*, and the path
 * below it, *rest* (pointing into *path* or *joined*, which the caller
 * frees with PyMem_RawFree).  Return 0; or 1 when the path is outside every
 * grant for *access* (*base* is -1); or -1 with MemoryError set. */
static int
locate_in_grants(struct _PySandboxState *state, const char *path, int dir_fd,
                 int access, int *base, const char **rest, int *readonly,
                 const sandbox_grant **grant, char **joined)
{
    *joined = NULL;
    *grant = NULL;
    *base = -1;
    if (path[0] != '/' && dir_fd != AT_FDCWD) {
        /* Beneath a directory descriptor it owns and opened beneath a
           grant (anything else is no directory to resolve in). */
        if (!_PySandbox_FdIsOwned(state, dir_fd)
            || (_PySandbox_FdIsReadonly(state, dir_fd)
                && (access & PySandbox_WRITE)))
        {
            return 1;
        }
        *base = dir_fd;
        *rest = path;
        *readonly = _PySandbox_FdIsReadonly(state, dir_fd);
        return 0;
    }
    path = *joined = _PySandbox_AbsolutePath(state, path);
    if (path == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* The kernel's, whatever is mounted there and whatever is granted
       (_PySandbox_OnKernelFilesystem() checks the file system it ends on). */
    if (_PySandbox_PathBeneath(path, "/proc") != NULL
        || _PySandbox_PathBeneath(path, "/sys") != NULL)
    {
        return 1;
    }
    *grant = find_grant(state, path, access, rest);
    if (*grant == NULL) {
        return 1;
    }
    *base = (*grant)->fd;
    *readonly = !((*grant)->access & PySandbox_WRITE);
    return 0;
}

/* Log and raise the denial of *path* for *how* in *func*.  Return -1. */
static int
deny_path(const char *func, const char *path, int how)
{
    char detail[600];
    PyOS_snprintf(detail, sizeof(detail), "%s: %s %.500s",
                  func != NULL ? func : "open",
                  (how & _PySandbox_PATH_DEVICE) ? "device node"
                  : (how & PySandbox_WRITE) ? "write" : "read", path);
    return _PySandbox_Deny("file", detail);
}

/* The directory entry that *rest* names beneath *base* (located by
 * locate_in_grants(), with its *grant* or NULL): *pfd*, a new O_PATH
 * descriptor of its directory, and its name there, *owned* (raw-allocated:
 * the caller frees it).  Return 0; or, with *by_name*, 1 and nothing
 * opened when the entry is a directory by its name ("", "." or ".."); or
 * -1 with errno set (EXDEV for a path that leaves its grant) and no
 * exception. */
static int
open_entry_parent(struct _PySandboxState *state, int base, const char *rest,
                  const sandbox_grant *grant, int by_name, int *pfd,
                  char **owned)
{
    *pfd = -1;
    *owned = NULL;
    if (grant != NULL && grant->name != NULL) {
        *pfd = fcntl(base, F_DUPFD_CLOEXEC, 0);
        *owned = _PyMem_RawStrdup(grant->name);
    }
    else {
        /* Split the rest at its last component. */
        char *copy = _PyMem_RawStrdup(*rest != '\0' ? rest : ".");
        if (copy == NULL) {
            errno = ENOMEM;
            return -1;
        }
        size_t len = strlen(copy);
        while (len > 1 && copy[len - 1] == '/') {
            copy[--len] = '\0';
        }
        char *slash = strrchr(copy, '/');
        const char *leaf = slash != NULL ? slash + 1 : copy;
        if (by_name && (leaf[0] == '\0' || strcmp(leaf, ".") == 0
                        || strcmp(leaf, "..") == 0))
        {
            PyMem_RawFree(copy);
            return 1;
        }
        if (slash != NULL) {
            *slash = '\0';
        }
        *pfd = open_beneath(state, base, slash == NULL ? "."
                            : (copy[0] == '\0' ? "/" : copy),
                            O_PATH | O_DIRECTORY, 0, grant_links(grant));
        *owned = _PyMem_RawStrdup(leaf);
        PyMem_RawFree(copy);
    }
    if (*pfd < 0 || *owned == NULL) {
        int saved = *owned == NULL ? ENOMEM : errno;
        if (*pfd >= 0) {
            (void)close(*pfd);
            *pfd = -1;
        }
        PyMem_RawFree(*owned);
        *owned = NULL;
        errno = saved;
        return -1;
    }
    return 0;
}

/* The same for *path*, relative to *dir_fd* or the working directory;
 * EACCES for a path outside the grants (open_grant()). */
static int
resolve_entry_parent(struct _PySandboxState *state, const char *path,
                     int dir_fd, int access, int *pfd, char **owned)
{
    int base, readonly;
    const char *rest;
    const sandbox_grant *grant;
    char *joined;
    *pfd = -1;
    *owned = NULL;
    int rc = locate_in_grants(state, path, dir_fd, access, &base, &rest,
                              &readonly, &grant, &joined);
    if (rc == 0) {
        rc = open_entry_parent(state, base, rest, grant, 0, pfd, owned);
    }
    else if (rc < 0) {
        PyErr_Clear();
        errno = ENOMEM;
    }
    else {
        rc = -1;
        errno = EACCES;
    }
    int saved = errno;
    PyMem_RawFree(joined);
    errno = saved;
    return rc;
}

/* May the standard library's links lead to the file of *fd*?  Not into
 * anything the interpreter or an untrusted creator of it may write (the
 * build tree's links lead to ../../Modules, which a policy could grant for
 * writing: its extension modules would then be the tenant's code). */
static int
host_target_allowed(struct _PySandboxState *state, int fd)
{
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        const sandbox_grant *grant = &state->grants[i];
        if ((grant->access & PySandbox_WRITE)
            && _PySandbox_FdBeneath(fd, grant->fd))
        {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        if (_PySandbox_FdBeneath(fd, state->write_roots[i])) {
            return 0;
        }
    }
    return 1;
}

/* What a resolved path keeps until its call is done. */
typedef struct {
    int fd;                 /* the descriptor it names, closed at the end */
    int pinned;             /* an open's final entry, pinned (O_PATH) */
    int readonly;           /* beneath a read-only grant */
    int stdlib;             /* beneath the standard library's directories */
    const char *original;   /* the path as given, in *keep* */
    PyObject *keep;
    char path[64];          /* "/proc/self/fd/N" or "/proc/self/fd/N/name" */
    char *long_path;        /* the same, when it does not fit */
} resolved_path;

#define RESOLVED_PATH_CAPSULE "_sandbox.resolved_path"

/* The engine now holds descriptor *fd* for a resolved path.  Return 0, or
 * -1 with OSError set and *fd* closed if the interpreter's descriptors
 * were closed (_PySandbox_FdsStillOpen()). */
static int
hold_internal_fd(struct _PySandboxState *state, int fd)
{
    _PySandbox_SetFdBit(state->internal_fds, fd, 1);
    return _PySandbox_FdsStillOpen(state, state->internal_fds, fd);
}

int
_PySandbox_HoldFdSlow(int fd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL || fd < 0) {
        return 0;
    }
    if (_PySandbox_LandInTable(fd) < 0) {
        return -1;
    }
    return hold_internal_fd(state, fd);
}

int
_PySandbox_ReleaseHeldFdSlow(int fd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 1;
    }
    /* The one that takes its bit closes it: this caller, or the end. */
    return _PySandbox_TakeFdBit(state->internal_fds, fd);
}

/* ... and no longer: close it, if the interpreter still has it (its end
   closes those of objects it never freed). */
static void
release_internal_fd(int fd)
{
    if (fd >= 0
        && (fd >= _PySandbox_MAX_FD || _PySandbox_ReleaseHeldFdSlow(fd)))
    {
        (void)close(fd);
    }
}

static void
resolved_path_destructor(PyObject *capsule)
{
    resolved_path *r = PyCapsule_GetPointer(capsule, RESOLVED_PATH_CAPSULE);
    if (r == NULL) {
        PyErr_Clear();
        return;
    }
    release_internal_fd(r->fd);
    release_internal_fd(r->pinned);
    Py_XDECREF(r->keep);
    PyMem_Free(r->long_path);
    PyMem_Free(r);
}

static resolved_path *
as_resolved_path(PyObject *keep)
{
    if (keep == NULL || !PyCapsule_IsValid(keep, RESOLVED_PATH_CAPSULE)) {
        return NULL;
    }
    return PyCapsule_GetPointer(keep, RESOLVED_PATH_CAPSULE);
}

/* Raise the error of a failed resolution of *display*: a denial when the
 * path leaves its grant, else the OSError that the call would have
 * raised. */
static int
resolution_error(const char *func, const char *path, int how,
                 PyObject *display)
{
    if (errno == EXDEV || errno == EACCES) {
        return deny_path(func, path, how);
    }
    if (errno == ENOSYS) {
        return deny_path(func, "(openat2() is not available)", how);
    }
    if (display != NULL) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, display);
    }
    else {
        PyErr_SetFromErrno(PyExc_OSError);
    }
    return -1;
}

/* May *func* change the file of descriptor *fd*: not from a read-only
 * grant?  0, or -1 with the denial logged. */
static int
check_fd_writable(struct _PySandboxState *state, int fd, const char *func)
{
    if (!_PySandbox_FdIsReadonly(state, fd)) {
        return 0;
    }
    char detail[40];
    PyOS_snprintf(detail, sizeof(detail), "descriptor %d", fd);
    return deny_path(func, detail, PySandbox_WRITE);
}

/* An open for the current interpreter of the file *st* of the resolved
 * path *keep*: if it is a _sysconfigdata file and the interpreter has no
 * filesystem_info, open the copy instead (*path*, pinned in *keep*).
 * Whatever name leads to the file (by its inode).  Return 0, or -1 with
 * an exception set. */
static int
open_sysconfig_copy(const char **path, PyObject *keep,
                    const struct stat *st)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    resolved_path *r = as_resolved_path(keep);
    if (state == NULL || state->policy.filesystem_info || r == NULL
        || !S_ISREG(st->st_mode))
    {
        return 0;
    }
    int copy;
    if (_PySandbox_SysconfigCopy(st, &copy) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    if (copy < 0) {
        return 0;
    }
    release_internal_fd(r->pinned);
    r->pinned = -1;
    if (hold_internal_fd(state, copy) < 0) {
        return -1;
    }
    r->pinned = copy;
    PyOS_snprintf(r->path, sizeof(r->path), "/proc/self/fd/%d", copy);
    *path = r->path;
    return 0;
}

/* Is *rest*, a path beneath a directory of the standard library, what
 * an interpreter without filesystem_info does not read: a bytecode cache
 * (whose code objects name the host's paths; imports never read them)
 * or the build files of an installation (config-3.13-*: its Makefile). */
static int
hidden_in_stdlib(const char *rest, int anywhere)
{
    for (const char *p = rest; *p != '\0'; ) {
        size_t n = strcspn(p, "/");
        if ((n == 11 && memcmp(p, "__pycache__", 11) == 0)
            || ((anywhere || p == rest) && strncmp(p, "config-", 7) == 0))
        {
            return 1;
        }
        p += n;
        p += strspn(p, "/");
    }
    return 0;
}

/* Is the last component of *path* the file name of an extension module
 * (<name><one of the suffixes of the import system>)? */
static int
extension_file_name(const char *path)
{
    size_t len = strlen(path);
    for (const char *const *suffix = _PyImport_DynLoadFiletab;
         *suffix != NULL; suffix++)
    {
        size_t n = strlen(*suffix);
        if (len > n && strcmp(path + len - n, *suffix) == 0
            && path[len - n - 1] != '/')
        {
            return 1;
        }
    }
    return 0;
}

/* Before an open for reading of *given*, resolved (*keep*): not an
 * extension module's file beneath the standard library without
 * filesystem_info, whose debug information names where the host built
 * it (the engine loads it by the host's path; no import reads it).
 * Return 0, or -1 with the denial. */
static int
check_extension_read(PyObject *keep, const char *given)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    resolved_path *r = as_resolved_path(keep);
    if (state != NULL && r != NULL && r->stdlib
        && !state->policy.filesystem_info && extension_file_name(given))
    {
        return deny_path("open", given, PySandbox_READ);
    }
    return 0;
}

/* Is the directory of descriptor *fd* (one the interpreter opened) in
 * the standard library?  By inode, walking up. */
static int
fd_in_stdlib(struct _PySandboxState *state, int fd)
{
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        if (state->grants[i].stdlib
            && _PySandbox_FdBeneath(fd, state->grants[i].fd))
        {
            return 1;
        }
    }
    return 0;
}

int
_PySandbox_ResolvePathSlow(const char **path, int fd, int dir_fd, int how,
                           PyObject *display, const char *func,
                           PyObject **keep)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 0;
    }
    int access = how & (PySandbox_READ | PySandbox_WRITE);
    if (fd != -1) {
        /* A descriptor: the table checked that it owns it. */
        if (access & PySandbox_WRITE) {
            return check_fd_writable(state, fd, func);
        }
        return 0;
    }
    const char *given = *path != NULL ? *path : ".";
    if (given[0] == '\0') {
        /* "" names no file (not the working directory). */
        errno = ENOENT;
        return resolution_error(func, given, how, display);
    }
    if (how & _PySandbox_PATH_DEVICE) {
        return deny_path(func, given, how);
    }
    if (_PySandbox_PathBeneath(given, SANDBOX_NO_BYTECODE_CACHE) != NULL) {
        /* The empty virtual directory of restrict_config(), where
           importlib looks for bytecode: nothing there, and no denial. */
        errno = ENOENT;
        return resolution_error(func, given, how, display);
    }
    resolved_path *r = PyMem_Calloc(1, sizeof(*r));
    if (r == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    r->fd = r->pinned = -1;
    r->original = *path;
    r->keep = *keep != NULL ? Py_NewRef(*keep) : NULL;
    PyObject *capsule = PyCapsule_New(r, RESOLVED_PATH_CAPSULE,
                                      resolved_path_destructor);
    if (capsule == NULL) {
        Py_XDECREF(r->keep);
        PyMem_Free(r);
        return -1;
    }

    /* The entry itself (lstat(), unlink(), mkdir(), ...), unless it is a
       directory by its name: ".", ".." and a grant's root. */
    int entry = (how & _PySandbox_PATH_NOFOLLOW) != 0;
    const char *name = NULL;
    int base, readonly = 0;
    const char *rest = "";
    const sandbox_grant *grant;
    char *joined = NULL;        /* what *rest* points into, until the end */
    int rc = locate_in_grants(state, given, dir_fd, access, &base, &rest,
                              &readonly, &grant, &joined);
    if (rc == 0 && !state->policy.filesystem_info
        && (grant != NULL
            ? grant->stdlib && hidden_in_stdlib(rest, 0)
            : hidden_in_stdlib(rest, 1) && fd_in_stdlib(state, base)))
    {
        rc = 1;
    }
    if (rc != 0) {
        if (rc > 0) {
            (void)deny_path(func, given, how);
        }
        goto error;
    }
    r->stdlib = (grant != NULL ? grant->stdlib
                 : extension_file_name(given) && fd_in_stdlib(state, base));
    char *owned = NULL;
    if (entry) {
        rc = open_entry_parent(state, base, rest, grant, 1, &r->fd, &owned);
        if (rc < 0) {
            (void)resolution_error(func, given, how, display);
            goto error;
        }
        if (rc > 0) {
            /* A directory by its name, as "/proc/self/fd/T/.": a call
               that does not follow a final link acts on it, not on the
               descriptor's link in /proc. */
            entry = 0;
            name = ".";
        }
        else {
            name = owned;
        }
    }
    if (!entry) {
        const char *target = *rest != '\0' ? rest : ".";
        if (grant != NULL && grant->name != NULL) {
            target = grant->name;
        }
        r->fd = open_beneath(state, base, target, O_PATH, 0,
                             grant_links(grant));
        if (r->fd < 0) {
            (void)resolution_error(func, given, how, display);
            goto error;
        }
    }
    if (hold_internal_fd(state, r->fd) < 0) {
        r->fd = -1;
        PyMem_RawFree(owned);
        goto error;
    }
    if (_PySandbox_OnKernelFilesystem(r->fd)) {
        PyMem_RawFree(owned);
        (void)deny_path(func, given, how);
        goto error;
    }
    r->readonly = readonly;
    size_t size = strlen("/proc/self/fd/") + 12
                  + (name != NULL ? strlen(name) + 1 : 0) + 1;
    char *buf = r->path;
    if (size > sizeof(r->path)) {
        buf = r->long_path = PyMem_Malloc(size);
        if (buf == NULL) {
            PyMem_RawFree(owned);
            PyErr_NoMemory();
            goto error;
        }
    }
    if (name != NULL) {
        PyOS_snprintf(buf, size, "/proc/self/fd/%d/%s", r->fd, name);
    }
    else {
        PyOS_snprintf(buf, size, "/proc/self/fd/%d", r->fd);
    }
    PyMem_RawFree(owned);
    PyMem_RawFree(joined);
    *path = buf;
    Py_XSETREF(*keep, capsule);
    return 0;

error:
    PyMem_RawFree(joined);
    Py_DECREF(capsule);
    return -1;
}

/* Before an open of the resolved *path* ("/proc/self/fd/T", pinned): not
 * a device node but the harmless ones, since opening one can act (a
 * terminal, a watchdog, a tape).  Return 0, or -1 with the denial. */
static int
check_device(const char **path, const char *given, PyObject *keep)
{
    struct stat st;
    if (stat(*path, &st) < 0) {
        return 0;                   /* the open fails */
    }
    if (_PySandbox_IsForbiddenDeviceStat(&st)) {
        return deny_path("open", given, PySandbox_READ);
    }
    return open_sysconfig_copy(path, keep, &st);
}

/* An open with O_NOFOLLOW of the resolved entry *path*
 * ("/proc/self/fd/P/name"): pin the entry with O_PATH, check it (no link,
 * no device), then open that very file through "/proc/self/fd/T".  A
 * missing entry to create is created exclusively.  0, or -1 with an
 * exception set. */
static int
open_entry_pinned(const char **path, int *flags, PyObject *display,
                  PyObject *keep, const char *given)
{
    resolved_path *r = as_resolved_path(keep);
    int t = open(*path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (t < 0) {
        if (errno == ENOENT && (*flags & O_CREAT)) {
            *flags |= O_EXCL;
        }
        return 0;                   /* the open fails, or creates */
    }
    struct stat st;
    if (r == NULL || fstat(t, &st) < 0) {
        (void)close(t);
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, display);
        return -1;
    }
    if (hold_internal_fd(_PyInterpreterState_GET()->sandbox, t) < 0) {
        return -1;
    }
    r->pinned = t;
    if (S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, display);
        return -1;
    }
    if (_PySandbox_IsForbiddenDeviceStat(&st)) {
        return deny_path("open", given, PySandbox_READ);
    }
    PyOS_snprintf(r->path, sizeof(r->path), "/proc/self/fd/%d", t);
    *path = r->path;
    *flags &= ~O_NOFOLLOW;          /* through the descriptor's link */
    return open_sysconfig_copy(path, keep, &st);
}

int
_PySandbox_ResolveOpenSlow(const char **path, int dir_fd, int *flags,
                           PyObject *display, PyObject **keep)
{
    int how = PySandbox_READ;
    if ((*flags & O_ACCMODE) != O_RDONLY
        || (*flags & (O_CREAT | O_TRUNC | O_APPEND)))
    {
        how = PySandbox_WRITE;
    }
#ifdef O_TMPFILE
    if ((*flags & O_TMPFILE) == O_TMPFILE) {
        how = PySandbox_WRITE;
    }
#endif
    const char *given = *path != NULL ? *path : "";
    if (*flags & O_NOFOLLOW) {
        /* The entry itself, pinned: a symbolic link there fails (ELOOP),
           and what is checked is what is opened. */
        if (_PySandbox_ResolvePathSlow(path, -1, dir_fd,
                                       how | _PySandbox_PATH_NOFOLLOW,
                                       display, "open", keep) < 0)
        {
            return -1;
        }
        if (check_extension_read(*keep, given) < 0) {
            return -1;
        }
        return open_entry_pinned(path, flags, display, *keep, given);
    }
    const char *resolved = *path;
    if (_PySandbox_ResolvePathSlow(&resolved, -1, dir_fd, how, display,
                                   "open", keep) == 0)
    {
        if (check_extension_read(*keep, given) < 0) {
            return -1;
        }
        *path = resolved;
        return check_device(path, given, *keep);
    }
    if (!(*flags & O_CREAT)
        || !PyErr_ExceptionMatches(PyExc_FileNotFoundError))
    {
        return -1;
    }
    /* Not there, to be created: its entry, and anything made there
       meanwhile (a link, a device node) is not opened. */
    PyErr_Clear();
    *flags |= O_NOFOLLOW | O_EXCL;
    return _PySandbox_ResolvePathSlow(path, -1, dir_fd,
                                      how | _PySandbox_PATH_NOFOLLOW,
                                      display, "open", keep);
}

int
_PySandbox_OwnOpenedFdSlow(int fd, PyObject *keep)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    resolved_path *r = as_resolved_path(keep);
    if (state != NULL && fd >= 0 && _PySandbox_IsForbiddenDevice(fd)) {
        _PySandbox_FdLandedSlow(fd);
        (void)close(fd);
        return deny_path("open", r != NULL && r->original != NULL
                                 ? r->original : "a device node",
                         PySandbox_READ);
    }
    if (_PySandbox_OwnFdSlow(fd) < 0) {
        return -1;
    }
    if (state != NULL && fd >= 0 && r != NULL && r->readonly) {
        _PySandbox_SetFdBit(state->ro_fds, fd, 1);
    }
    return fd;
}

int
_PySandbox_OwnDupFdSlow(int newfd, int oldfd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    int readonly = state != NULL && _PySandbox_FdIsReadonly(state, oldfd);
    if (_PySandbox_OwnFdSlow(newfd) < 0) {
        return -1;
    }
    if (state != NULL && newfd >= 0) {
        _PySandbox_SetFdBit(state->ro_fds, newfd, readonly);
    }
    return newfd;
}

int
_PySandbox_CheckFdWriteSlow(int fd, const char *func)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 0;
    }
    /* The ownership check last: it records a use, which a failed check
       must not leave. */
    if (fd >= 0 && check_fd_writable(state, fd, func) < 0) {
        return -1;
    }
    return _PySandbox_CheckFdSlow(fd, func);
}

int
_PySandbox_CheckOpenByNameSlow(const char *path)
{
    size_t len = strlen(path);
    if (len >= 2 && path[0] == '<' && path[len - 1] == '>') {
        /* The name of no file ("<unknown>", "<string>": source given as
           text, whose SyntaxError looks for its line all the same):
           missing, as it is for the host, and nothing to log. */
        errno = ENOENT;
        PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
        return -1;
    }
    return deny_path("open by name from C", path, PySandbox_READ);
}

int
_PySandbox_CheckModeSlow(int mode, const char *func)
{
    if (_PyInterpreterState_GET()->sandbox == NULL
        || !(mode & (S_ISUID | S_ISGID)))
    {
        return 0;
    }
    char detail[80];
    PyOS_snprintf(detail, sizeof(detail), "%s: set-user or set-group ID "
                  "mode %o", func, (unsigned)mode);
    return _PySandbox_Deny("file", detail);
}

int
_PySandbox_CheckXattrSlow(const char *name, const char *func)
{
    if (_PyInterpreterState_GET()->sandbox == NULL
        || (name != NULL && strncmp(name, "user.", 5) == 0))
    {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "%s: attribute %.60s", func,
                  name != NULL ? name : "?");
    return _PySandbox_Deny("file", detail);
}

void
_PySandbox_OriginalPath(const char **path, PyObject *keep)
{
    resolved_path *r = as_resolved_path(keep);
    if (r != NULL) {
        *path = r->original;
    }
}

PyObject *
_PySandbox_GetCwd(int use_bytes)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    assert(state != NULL);
    if (use_bytes) {
        return PyBytes_FromString(state->cwd);
    }
    return PyUnicode_DecodeFSDefault(state->cwd);
}

PyObject *
_PySandbox_Chdir(const char *path, int fd, PyObject *display)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    assert(state != NULL);
    if (fd != -1) {
        /* The directory of a descriptor has no path to keep. */
        return _PySandbox_Deny("file", "os.chdir: a descriptor"), NULL;
    }
    PyObject *keep = NULL;
    const char *resolved = path;
    if (_PySandbox_ResolvePathSlow(&resolved, -1, AT_FDCWD, PySandbox_READ,
                                   display, "os.chdir", &keep) < 0)
    {
        return NULL;
    }
    struct stat st;
    int rc = stat(resolved, &st);
    Py_DECREF(keep);
    if (rc == 0 && !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        rc = -1;
    }
    if (rc < 0) {
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, display);
    }
    char *cwd = _PySandbox_AbsolutePath(state, path);
    if (cwd == NULL) {
        return PyErr_NoMemory();
    }
    size_t len = strlen(cwd);
    if (len > 1 && cwd[len - 1] == '/') {
        cwd[len - 1] = '\0';
    }
    PyMem_RawFree(state->cwd);
    state->cwd = cwd;
    Py_RETURN_NONE;
}


/* The grants of a new interpreter: those its policy names, opened by
 * PySandbox_NewInterpreter() for an untrusted creator, else here (the
 * creator is trusted), and the standard library's, read-only.  Called
 * without a thread state: raw memory only. */
static int
add_grant(struct _PySandboxState *state, const char *path, const char *guest,
          int access)
{
    sandbox_grant grant;
    if (open_grant(&grant, path, guest, access, NULL) < 0) {
        return -1;
    }
    sandbox_grant *grown = PyMem_RawRealloc(
        state->grants, (size_t)(state->n_grants + 1) * sizeof(grant));
    if (grown == NULL) {
        clear_grant(&grant);
        errno = ENOMEM;
        return -1;
    }
    grown[state->n_grants++] = grant;
    state->grants = grown;
    return 0;
}

/* The time zone database, which zoneinfo reads: public data. */
static const char *const public_directories[] = {
    "/usr/share/zoneinfo",
    "/usr/lib/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/etc/zoneinfo",
};

/* May the symbolic links beneath the host's *grant* (the standard
 * library's) be followed wherever they lead?  Only if the interpreter
 * can write nowhere beneath or above it (by inode: by whatever name it
 * was granted), and its untrusted creator, if any, could not either. */
static int
host_links_allowed(struct _PySandboxState *state, Py_ssize_t n_explicit,
                   const sandbox_grant *grant,
                   const PySandboxPolicy *policy)
{
    for (Py_ssize_t i = 0; i < n_explicit; i++) {
        const sandbox_grant *other = &state->grants[i];
        if ((other->access & PySandbox_WRITE)
            && (_PySandbox_FdBeneath(other->fd, grant->fd)
                || _PySandbox_FdBeneath(grant->fd, other->fd)))
        {
            return 0;
        }
    }
    if (policy->creator_grants != NULL) {
        for (Py_ssize_t i = 0; i < policy->n_creator_grants; i++) {
            const sandbox_grant *c = &policy->creator_grants[i];
            if (c->host_links && c->host != NULL && grant->host != NULL
                && strcmp(c->host, grant->host) == 0)
            {
                return 1;
            }
        }
        return 0;
    }
    return 1;
}

PyStatus
_PySandbox_InitFiles(struct _PySandboxState *state,
                     const PySandboxPolicy *policy, const PyConfig *config)
{
    /* Its creator opened the grants (_PySandbox_OpenGrants()). */
    state->grants = PyMem_RawCalloc((size_t)policy->n_opened + 1,
                                    sizeof(sandbox_grant));
    if (state->grants == NULL) {
        return _PyStatus_NO_MEMORY();
    }
    for (Py_ssize_t i = 0; i < policy->n_opened; i++) {
        const sandbox_grant *from = &policy->opened[i];
        sandbox_grant *to = &state->grants[state->n_grants];
        to->fd = fcntl(from->fd, F_DUPFD_CLOEXEC, 0);
        to->root = _PyMem_RawStrdup(from->root);
        to->host = (from->host != NULL ? _PyMem_RawStrdup(from->host)
                                       : NULL);
        to->name = (from->name != NULL ? _PyMem_RawStrdup(from->name)
                                       : NULL);
        to->access = from->access;
        to->host_links = from->host_links;
        to->stdlib = from->stdlib;
        to->trusted_bytecode = from->trusted_bytecode;
        state->n_grants++;
        if (to->fd < 0 || to->root == NULL
            || (from->host != NULL && to->host == NULL)
            || (from->name != NULL && to->name == NULL))
        {
            return _PyStatus_ERR("cannot copy the file grants of an "
                                 "untrusted interpreter");
        }
    }
    /* Its imports read the standard library; nothing else of the host. */
    Py_ssize_t n_explicit = state->n_grants;
    char *stdlib_dir = (config->stdlib_dir != NULL
                        ? _Py_EncodeLocaleRaw(config->stdlib_dir, NULL)
                        : NULL);
    int others = 0;
    for (Py_ssize_t i = 0; i < config->module_search_paths.length; i++) {
        char *path = _Py_EncodeLocaleRaw(
            config->module_search_paths.items[i], NULL);
        char *guest = NULL;
        struct stat st;
        int rc = path == NULL ? -1 : 0;
        if (rc == 0 && path[0] == '/' && stat(path, &st) == 0) {
            if (!policy->filesystem_info) {
                guest = _PySandbox_StdlibGuest(path, stdlib_dir, &others);
                rc = guest == NULL ? -1 : 0;
            }
            if (rc == 0) {
                rc = add_grant(state, path, guest, PySandbox_READ);
            }
            if (rc == 0) {
                state->grants[state->n_grants - 1].stdlib = 1;
                if (!policy->filesystem_info) {
                    _PySandbox_CopySysconfigData(&state->grants[state->n_grants - 1],
                                          config);
                }
            }
        }
        PyMem_RawFree(guest);
        PyMem_RawFree(path);
        if (rc < 0) {
            PyMem_RawFree(stdlib_dir);
            return _PyStatus_ERR("cannot open the standard library for an "
                                 "untrusted interpreter");
        }
    }
    PyMem_RawFree(stdlib_dir);
    for (size_t i = 0; i < Py_ARRAY_LENGTH(public_directories); i++) {
        struct stat st;
        if (stat(public_directories[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            (void)add_grant(state, public_directories[i], NULL,
                            PySandbox_READ);
        }
    }
    /* Its working directory, the host's, where a grant shows it, else
       the layout's root: no path of the host's that it was not given. */
    if (!policy->filesystem_info && policy->creator_grants == NULL) {
        char *cwd = _PySandbox_GuestPath(state, state->cwd);
        if (cwd == NULL) {
            cwd = _PyMem_RawStrdup(SANDBOX_GUEST_ROOT);
        }
        if (cwd == NULL) {
            return _PyStatus_NO_MEMORY();
        }
        PyMem_RawFree(state->cwd);
        state->cwd = cwd;
    }
    for (Py_ssize_t i = n_explicit; i < state->n_grants; i++) {
        state->grants[i].host_links = host_links_allowed(
            state, n_explicit, &state->grants[i], policy);
    }
    /* Where its untrusted creators may write. */
    Py_ssize_t n_roots = policy->n_creator_roots;
    for (Py_ssize_t i = 0; i < policy->n_creator_grants; i++) {
        n_roots += (policy->creator_grants[i].access & PySandbox_WRITE) != 0;
    }
    if (n_roots > 0) {
        state->write_roots = PyMem_RawCalloc((size_t)n_roots, sizeof(int));
        if (state->write_roots == NULL) {
            return _PyStatus_NO_MEMORY();
        }
        for (Py_ssize_t i = 0; i < policy->n_creator_roots; i++) {
            int fd = fcntl(policy->creator_roots[i], F_DUPFD_CLOEXEC, 0);
            if (fd < 0) {
                return _PyStatus_ERR("cannot copy the write grants of an "
                                     "untrusted interpreter's creator");
            }
            state->write_roots[state->n_write_roots++] = fd;
        }
        for (Py_ssize_t i = 0; i < policy->n_creator_grants; i++) {
            const sandbox_grant *grant = &policy->creator_grants[i];
            if (!(grant->access & PySandbox_WRITE)) {
                continue;
            }
            int fd = fcntl(grant->fd, F_DUPFD_CLOEXEC, 0);
            if (fd < 0) {
                return _PyStatus_ERR("cannot copy the write grants of an "
                                     "untrusted interpreter's creator");
            }
            state->write_roots[state->n_write_roots++] = fd;
        }
    }
    if (_PySandbox_InitBytecode(state, policy->creator_grants != NULL) < 0) {
        return _PyStatus_ERR("a write grant of an untrusted interpreter "
                             "overlaps the standard library or a trusted "
                             "package root");
    }
    return _PyStatus_OK();
}

/* The working directory a new interpreter starts in: its creator's. */
char *
_PySandbox_CreatorCwd(const struct _PySandboxState *creator_state)
{
    if (creator_state != NULL) {
        return _PyMem_RawStrdup(creator_state->cwd);
    }
    char buf[MAXPATHLEN + 1];
    if (getcwd(buf, sizeof(buf)) == NULL) {
        return _PyMem_RawStrdup("/");
    }
    return _PyMem_RawStrdup(buf);
}

/* Open the grants of *policy*, which the new interpreter copies: beneath
 * the grants of an untrusted creator, as they are for a trusted one
 * (creator_state NULL).  Return 0, or -1 with errno set and *failed* the
 * index of the path that cannot be opened (-1: no memory); nothing is
 * left allocated.  Raw: a worker process opens its grants with it before
 * its main interpreter exists (Python/sandbox_worker.c). */
int
_PySandbox_OpenGrantsRaw(PySandboxPolicy *policy,
                         struct _PySandboxState *creator_state,
                         Py_ssize_t *failed)
{
    policy->opened = NULL;
    policy->n_opened = 0;
    *failed = -1;
    Py_ssize_t n = policy->n_paths + policy->n_packages;
    sandbox_grant *grants = PyMem_RawCalloc((size_t)n + 1,
                                            sizeof(sandbox_grant));
    if (grants == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* The paths, then the package roots (directories, read). */
    for (Py_ssize_t i = 0; i < n; i++) {
        int package = i >= policy->n_paths;
        const char *path = package ? policy->packages[i - policy->n_paths]
                                   : policy->paths[i].path;
        int access = package ? PySandbox_READ : policy->paths[i].access;
        char buf[80];
        const char *guest = (!package ? policy->paths[i].guest
                             : policy->filesystem_info ? NULL
                             : _PySandbox_PackageGuest(i - policy->n_paths, buf,
                                             sizeof(buf)));
        int rc = open_grant(&grants[i], path, guest, access, creator_state);
        if (rc == 0 && package) {
            grants[i].trusted_bytecode = _PySandbox_PolicyLists(
                policy->trusted_bytecode, policy->n_trusted_bytecode, path);
        }
        if (rc == 0 && package && grants[i].name != NULL) {
            /* A package root is a directory that exists. */
            struct stat st;
            int missing = fstatat(grants[i].fd, grants[i].name, &st,
                                  AT_SYMLINK_NOFOLLOW) < 0;
            clear_grant(&grants[i]);
            errno = missing ? ENOENT : ENOTDIR;
            rc = -1;
        }
        if (rc < 0) {
            int error = errno;
            _PySandbox_ClearGrants(grants, i);
            *failed = i;
            errno = error;
            return -1;
        }
    }
    policy->opened = grants;
    policy->n_opened = n;
    return 0;
}

/* The field and the path of the grant _PySandbox_OpenGrantsRaw() could
 * not open, *failed* its index. */
const char *
_PySandbox_GrantField(const PySandboxPolicy *policy, Py_ssize_t failed,
                      const char **path)
{
    if (failed >= policy->n_paths) {
        *path = policy->packages[failed - policy->n_paths];
        return "packages";
    }
    *path = policy->paths[failed].path;
    return (policy->paths[failed].access & PySandbox_WRITE) ? "write"
                                                            : "read";
}

/* _PySandbox_OpenGrantsRaw() for PySandbox_NewInterpreter().  Return 0, or
 * -1 with a denial set (untrusted creator) or PolicyError naming the path
 * that cannot be opened. */
int
_PySandbox_OpenGrants(PySandboxPolicy *policy,
                      struct _PySandboxState *creator_state)
{
    Py_ssize_t failed;
    if (_PySandbox_OpenGrantsRaw(policy, creator_state, &failed) == 0) {
        /* The write grants as opened (a link swapped since the names were
           checked is seen), against what must stay read-only. */
        if (_PySandbox_CheckOpenedWrites(policy) < 0) {
            _PySandbox_ClearGrants(policy->opened, policy->n_opened);
            policy->opened = NULL;
            policy->n_opened = 0;
            return -1;
        }
        return 0;
    }
    if (failed < 0) {
        PyErr_NoMemory();
        return -1;
    }
    const char *path;
    const char *field = _PySandbox_GrantField(policy, failed, &path);
    if (creator_state == NULL) {
        return _PySandboxPolicy_Error(field, path, strerror(errno));
    }
    char detail[300];
    PyOS_snprintf(detail, sizeof(detail),
                  "a nested policy grants %.200s, not beneath the "
                  "creator's grants", path);
    return _PySandbox_Deny("interpreter", detail);
}

/* Where *path* leads now: its real path, or its directory's and its
 * name if it does not exist; a raw copy of *path* if neither resolves,
 * NULL for no memory. */
static char *
path_leads_to(const char *path)
{
    char *real = realpath(path, NULL);
    if (real == NULL) {
        const char *slash = strrchr(path, '/');
        char *dir = slash != NULL && slash != path
                    ? PyMem_RawMalloc((size_t)(slash - path) + 1) : NULL;
        if (dir != NULL) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
            real = realpath(dir, NULL);
            PyMem_RawFree(dir);
        }
        if (real != NULL) {
            size_t size = strlen(real) + strlen(slash) + 1;
            char *joined = PyMem_RawMalloc(size);
            if (joined != NULL) {
                PyOS_snprintf(joined, size, "%s%s", real, slash);
            }
            free(real);
            return joined;
        }
        return _PyMem_RawStrdup(path);
    }
    char *copy = _PyMem_RawStrdup(real);
    free(real);
    return copy;
}

/* Does the write grant *w* cover *path*, or (*both_ways*) *path* cover
 * it?  By the names, and by where both lead now: a write grant that is a
 * link to a package root, or a module file that is a link into a write
 * grant, is caught.  -1 for no memory. */
static int
writable_by(const char *w, const char *path, int both_ways)
{
    if (_PySandbox_PathBeneath(path, w) != NULL
        || (both_ways && _PySandbox_PathBeneath(w, path) != NULL))
    {
        return 1;
    }
    if (_PySandbox_IsUntrusted(_PyInterpreterState_GET())) {
        /* Not for an untrusted caller, to whom where the host's paths lead
           would be news; its nested interpreter's paths are opened beneath
           its own grants, where no link leads out. */
        return 0;
    }
    char *rw = path_leads_to(w);
    char *rp = path_leads_to(path);
    int covered = -1;
    if (rw != NULL && rp != NULL) {
        covered = (_PySandbox_PathBeneath(rp, rw) != NULL
                   || (both_ways && _PySandbox_PathBeneath(rw, rp) != NULL));
    }
    PyMem_RawFree(rw);
    PyMem_RawFree(rp);
    return covered;
}

/* Do the policy's own write grants leave alone what it trusts to be the
 * host's: its package roots (the source it imports) and the files of its
 * extension modules (C code it loads)?  By the names, as the rules are
 * compared, and by where they lead now.  Return 0, or -1 with PolicyError
 * set. */
/* Does the write grant *w* cover a directory of the standard library's
 * search path, or lie beneath one (checked by a trusted creator, in whose
 * config the host's paths are)?  -1 for no memory. */
static int
writes_stdlib(const char *w, const char **which, char **owned)
{
    *owned = NULL;
    if (_PySandbox_IsUntrusted(_PyInterpreterState_GET())) {
        return 0;       /* its own policy's were checked, and this is within */
    }
    const PyConfig *config = _Py_GetConfig();
    for (Py_ssize_t i = 0; i < config->module_search_paths.length; i++) {
        char *dir = _Py_EncodeLocaleRaw(config->module_search_paths.items[i],
                                        NULL);
        if (dir == NULL) {
            return -1;
        }
        struct stat st;
        int covered = (dir[0] == '/' && stat(dir, &st) == 0
                       && S_ISDIR(st.st_mode)) ? writable_by(w, dir, 1) : 0;
        if (covered != 0) {
            *which = *owned = dir;
            return covered;
        }
        PyMem_RawFree(dir);
    }
    return 0;
}

int
_PySandboxPolicy_CheckWritable(const PySandboxPolicy *policy)
{
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const sandbox_path_rule *w = &policy->paths[i];
        if (!(w->access & PySandbox_WRITE)) {
            continue;
        }
        /* Not the standard library: an interpreter that may write there
           can leave bytecode caches that the host's own imports load, and
           the other interpreters' (Python/sandbox_bytecode.c), in this
           process or a later one. */
        const char *stdlib = NULL;
        char *owned;
        int covered = writes_stdlib(w->path, &stdlib, &owned);
        if (covered < 0) {
            PyErr_NoMemory();
            return -1;
        }
        if (!covered && !_PySandbox_IsUntrusted(_PyInterpreterState_GET())
            && _PySandbox_WriteOverlapsTrusted(w->path))
        {
            return _PySandboxPolicy_Error(
                "write", w->path, "overlaps a package root whose bytecode "
                "caches an interpreter of this process trusts "
                "(trusted_bytecode)");
        }
        if (covered) {
            char reason[MAXPATHLEN + 200];
            PyOS_snprintf(reason, sizeof(reason),
                          "overlaps the standard library (%.*s): code that "
                          "may write there can leave bytecode for the "
                          "host's imports", MAXPATHLEN, stdlib);
            PyMem_RawFree(owned);
            return _PySandboxPolicy_Error("write", w->path, reason);
        }
        for (Py_ssize_t j = 0; j < policy->n_packages; j++) {
            const char *root = policy->packages[j];
            int covered = writable_by(w->path, root, 1);
            if (covered < 0) {
                PyErr_NoMemory();
                return -1;
            }
            if (covered) {
                return _PySandboxPolicy_Error(
                    "packages", root, "writable by the interpreter (its "
                    "write grants cover it): a package root is read-only");
            }
        }
        for (Py_ssize_t j = 0; j < policy->n_module_files; j++) {
            const char *file = policy->module_files[j].file;
            int covered = writable_by(w->path, file, 0);
            if (covered < 0) {
                PyErr_NoMemory();
                return -1;
            }
            if (covered) {
                return _PySandboxPolicy_Error(
                    "module_files", file, "writable by the interpreter (its "
                    "write grants cover it)");
            }
        }
    }
    return 0;
}

/* Is *path* beneath a path of *outer* granted for *access* or more, or
 * beneath one of its package roots (read)? */
static int
path_within(const char *path, int access, const PySandboxPolicy *outer)
{
    for (Py_ssize_t j = 0; j < outer->n_paths; j++) {
        const sandbox_path_rule *o = &outer->paths[j];
        if ((access & ~o->access) == 0
            && _PySandbox_PathBeneath(path, o->guest != NULL ? o->guest
                                                             : o->path)
               != NULL)
        {
            return 1;
        }
    }
    for (Py_ssize_t j = 0; j < outer->n_packages; j++) {
        /* Where it sees the root, or the host's path of it (a host's
           comparison: a nested interpreter's paths are opened beneath
           its creator's grants, where that path is none). */
        char buf[80];
        const char *guest = _PySandbox_PackageGuest(j, buf, sizeof(buf));
        if ((access & ~PySandbox_READ) == 0
            && (_PySandbox_PathBeneath(path, outer->packages[j]) != NULL
                || (!outer->filesystem_info
                    && _PySandbox_PathBeneath(path, guest) != NULL)))
        {
            return 1;
        }
    }
    return 0;
}

/* Is every path that *policy* grants beneath one that *outer* grants with
 * the same access or more, where *outer* sees it (its layout, in which a
 * nested interpreter's policy names its paths)?  (By the name; PySandbox_NewInterpreter() then
 * opens them beneath the creator's, which symbolic links cannot leave.) */
int
_PySandboxPolicy_PathsWithin(const PySandboxPolicy *policy,
                             const PySandboxPolicy *outer)
{
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const sandbox_path_rule *rule = &policy->paths[i];
        if (!path_within(rule->path, rule->access, outer)) {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < policy->n_packages; i++) {
        if (!path_within(policy->packages[i], PySandbox_READ, outer)) {
            return 0;
        }
    }
    return 1;
}

/* *path* of the policy field *field* (read, write, packages), normalized
 * (raw-allocated), or NULL with PolicyError or MemoryError set: absolute,
 * without "..". */
static char *
policy_path(const char *field, const char *path, const char *entry)
{
    if (entry == NULL) {
        entry = path;
    }
    if (path[0] != '/') {
        (void)_PySandboxPolicy_Error(field, entry,
                                     "the path must be absolute");
        return NULL;
    }
    for (const char *p = path; *p != '\0'; p += strcspn(p, "/")) {
        p = _PySandbox_SkipSeparators(p);
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')) {
            (void)_PySandboxPolicy_Error(field, entry,
                                         "the path cannot contain '..'");
            return NULL;
        }
    }
    char *normal = _PySandbox_NormalizedPath(path, 0);
    if (normal == NULL) {
        PyErr_NoMemory();
    }
    return normal;
}

int
PySandboxPolicy_AllowPath(PySandboxPolicy *policy, const char *path,
                          int access)
{
    return PySandboxPolicy_AllowPathAt(policy, path, NULL, access);
}

/* Is *a* beneath *b* or *b* beneath *a* (or both the same)? */
static int
paths_nest(const char *a, const char *b)
{
    return (_PySandbox_PathBeneath(a, b) != NULL
            || _PySandbox_PathBeneath(b, a) != NULL);
}

/* May the guest path *guest* of the host path *path* join the rules of
 * *policy*?  Not where the standard library is, nor nesting with another
 * rule's guest path unless their host paths nest the same way (one
 * layout, whatever the grant that resolves a path).  0, or -1 with
 * PolicyError naming *entry*. */
static int
check_guest(const PySandboxPolicy *policy, const char *field,
            const char *entry, const char *path, const char *guest)
{
    if (strcmp(guest, path) != 0
        && paths_nest(guest, SANDBOX_GUEST_ROOT "/lib"))
    {
        return _PySandboxPolicy_Error(
            field, entry, "the guest path overlaps " SANDBOX_GUEST_ROOT
            "/lib, where the interpreter sees the standard library");
    }
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const sandbox_path_rule *rule = &policy->paths[i];
        const char *other = rule->guest != NULL ? rule->guest : rule->path;
        const char *below = _PySandbox_PathBeneath(guest, other);
        const char *host_below = _PySandbox_PathBeneath(path, rule->path);
        const char *above = _PySandbox_PathBeneath(other, guest);
        const char *host_above = _PySandbox_PathBeneath(rule->path, path);
        if ((below != NULL
             && (host_below == NULL || strcmp(below, host_below) != 0))
            || (above != NULL
                && (host_above == NULL || strcmp(above, host_above) != 0)))
        {
            char reason[300];
            PyOS_snprintf(reason, sizeof(reason),
                          "the guest path overlaps that of %.200s, which "
                          "is another path of the host", rule->path);
            return _PySandboxPolicy_Error(field, entry, reason);
        }
    }
    return 0;
}

int
PySandboxPolicy_AllowPathAt(PySandboxPolicy *policy, const char *path,
                            const char *guest, int access)
{
    if (policy == NULL || path == NULL
        || (access != PySandbox_READ && access != PySandbox_WRITE
            && access != (PySandbox_READ | PySandbox_WRITE)))
    {
        PyErr_SetString(PyExc_ValueError, "PySandboxPolicy_AllowPathAt: "
                        "policy or path is NULL, or access is not "
                        "PySandbox_READ or PySandbox_WRITE");
        return -1;
    }
    /* Writing includes reading. */
    access |= PySandbox_READ;
    const char *field = (access & PySandbox_WRITE) ? "write" : "read";
    char *entry = NULL;
    if (guest != NULL) {
        /* The entry as the command line and TOML spell it. */
        size_t size = strlen(path) + strlen(guest) + 2;
        entry = PyMem_RawMalloc(size);
        if (entry == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        PyOS_snprintf(entry, size, "%s:%s", path, guest);
    }
    for (const char *p = guest; p != NULL && *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            int rc = _PySandboxPolicy_Error(
                field, entry, "the guest path has a control character");
            PyMem_RawFree(entry);
            return rc;
        }
    }
    char *normal = policy_path(field, path, entry);
    char *normal_guest = (normal != NULL && guest != NULL
                          ? policy_path(field, guest, entry) : NULL);
    int rc = -1;
    if (normal != NULL && (guest == NULL || normal_guest != NULL)
        && check_guest(policy, field, entry != NULL ? entry : normal, normal,
                       guest != NULL ? normal_guest : normal) == 0)
    {
        rc = _PySandboxPolicy_AddPathRule(policy, normal, access,
                                          normal_guest);
    }
    PyMem_RawFree(normal);
    PyMem_RawFree(normal_guest);
    PyMem_RawFree(entry);
    return rc;
}

int
PySandboxPolicy_AllowPackages(PySandboxPolicy *policy, const char *root)
{
    if (policy == NULL || root == NULL) {
        PyErr_SetString(PyExc_ValueError, "PySandboxPolicy_AllowPackages: "
                        "policy or root is NULL");
        return -1;
    }
    char *normal = policy_path("packages", root, NULL);
    if (normal == NULL) {
        return -1;
    }
    int rc = _PySandbox_AddName(&policy->packages, &policy->n_packages,
                                normal);
    PyMem_RawFree(normal);
    return rc;
}

int
PySandboxPolicy_TrustBytecode(PySandboxPolicy *policy, const char *root)
{
    if (policy == NULL || root == NULL) {
        PyErr_SetString(PyExc_ValueError, "PySandboxPolicy_TrustBytecode: "
                        "policy or root is NULL");
        return -1;
    }
    char *normal = policy_path("trusted_bytecode", root, NULL);
    if (normal == NULL) {
        return -1;
    }
    int rc = _PySandbox_AddName(&policy->trusted_bytecode,
                                &policy->n_trusted_bytecode, normal);
    PyMem_RawFree(normal);
    return rc;
}

/* sys.path of a new interpreter: the standard library's (its config's),
 * then its package roots. */
PyStatus
_PySandbox_InitPackagePaths(PyThreadState *tstate)
{
    const PySandboxPolicy *policy = &tstate->interp->sandbox->policy;
    if (policy->n_packages == 0) {
        return _PyStatus_OK();
    }
    PyObject *path = PySys_GetObject("path");     /* borrowed */
    if (path == NULL || !PyList_Check(path)) {
        return _PyStatus_ERR("an untrusted interpreter has no sys.path");
    }
    for (Py_ssize_t i = 0; i < policy->n_packages; i++) {
        char buf[80];
        PyObject *root = PyUnicode_DecodeFSDefault(
            policy->filesystem_info ? policy->packages[i]
                                    : _PySandbox_PackageGuest(i, buf, sizeof(buf)));
        int rc = root == NULL ? -1 : PyList_Append(path, root);
        Py_XDECREF(root);
        if (rc < 0) {
            PyErr_Clear();
            return _PyStatus_NO_MEMORY();
        }
    }
    return _PyStatus_OK();
}

/* Close and free the files part of an interpreter's state: its grants, its
 * working directory, the descriptors the engine still holds for resolved
 * paths, and its creators' write roots. */
void
_PySandbox_ClearFiles(struct _PySandboxState *state)
{
    _PySandbox_ClearGrants(state->grants, state->n_grants);
    PyMem_RawFree(state->cwd);
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (_PySandbox_FdBit(state->internal_fds, fd)) {
            (void)close(fd);
        }
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        (void)close(state->write_roots[i]);
    }
    PyMem_RawFree(state->write_roots);
}

#endif  /* Py_UNTRUSTED */
