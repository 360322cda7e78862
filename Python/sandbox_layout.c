/* Untrusted interpreters: the virtual layout.
 *
 * Where an interpreter without filesystem_info sees its files
 * (Doc/sandbox/information.rst, "The virtual layout"): the standard
 * library's and the package roots' guest paths, the sys attributes that
 * name them, and the copy of sysconfig's build variables without the
 * host's directories.  The grants themselves, and the translation of a
 * path between the two layouts, are Python/sandbox_files.c's.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_fileutils.h"     // _Py_EncodeLocaleRaw()
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // EINTR
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // read(), write()
#endif
#include <dirent.h>               // fdopendir()
#include <fcntl.h>                // F_ADD_SEALS
#include <sys/mman.h>             // memfd_create()
#include <sys/stat.h>             // fstat()


/* Where the interpreter sees the directory *path* of the standard
 * library's search path, without filesystem_info: beneath the virtual
 * standard library what is beneath the host's (*stdlib_dir*), its
 * lib-dynload for the first other directory (a build tree's extension
 * modules), then lib/path-N.  Raw-allocated, or NULL. */
char *
_PySandbox_StdlibGuest(const char *path, const char *stdlib_dir, int *others)
{
    const char *rest = (stdlib_dir != NULL
                        ? _PySandbox_PathBeneath(path, stdlib_dir) : NULL);
    if (rest != NULL) {
        return _PySandbox_JoinPath(SANDBOX_GUEST_STDLIB, rest);
    }
    char buf[100];
    if ((*others)++ == 0) {
        return _PyMem_RawStrdup(SANDBOX_GUEST_STDLIB "/lib-dynload");
    }
    PyOS_snprintf(buf, sizeof(buf), SANDBOX_GUEST_ROOT "/lib/path-%d",
                  *others);
    return _PyMem_RawStrdup(buf);
}

/* Where an interpreter without filesystem_info sees its package root
 * *i* (into *buf*): /sandbox/lib/site-packages, then -2, -3... */
const char *
_PySandbox_PackageGuest(Py_ssize_t i, char *buf, size_t size)
{
    if (i == 0) {
        return SANDBOX_GUEST_ROOT "/lib/site-packages";
    }
    PyOS_snprintf(buf, size, SANDBOX_GUEST_ROOT "/lib/site-packages-%zd",
                  i + 1);
    return buf;
}

/* *path* (a str) where *state* sees it: a new reference, or NULL with no
 * exception when no grant holds it (or with MemoryError). */
static PyObject *
guest_object(struct _PySandboxState *state, PyObject *path)
{
    PyObject *bytes = NULL;
    if (!PyUnicode_Check(path) || !PyUnicode_FSConverter(path, &bytes)) {
        PyErr_Clear();
        return NULL;
    }
    char *guest = _PySandbox_GuestPath(state, PyBytes_AS_STRING(bytes));
    Py_DECREF(bytes);
    if (guest == NULL) {
        return NULL;
    }
    PyObject *result = PyUnicode_DecodeFSDefault(guest);
    PyMem_RawFree(guest);
    return result;
}

PyStatus
_PySandbox_InitLayout(PyThreadState *tstate)
{
    struct _PySandboxState *state = tstate->interp->sandbox;
    if (state == NULL || state->policy.filesystem_info) {
        return _PyStatus_OK();
    }
    /* Each entry of sys.path where it sees it (one it cannot read goes). */
    PyObject *path = PySys_GetObject("path");     /* borrowed */
    PyObject *guest_path = PyList_New(0);
    if (path == NULL || !PyList_Check(path) || guest_path == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(path); i++) {
        PyObject *entry = guest_object(state, PyList_GET_ITEM(path, i));
        if (entry == NULL && PyErr_Occurred()) {
            goto error;
        }
        int rc = entry != NULL ? PyList_Append(guest_path, entry) : 0;
        Py_XDECREF(entry);
        if (rc < 0) {
            goto error;
        }
    }
    if (PySys_SetObject("path", guest_path) < 0) {
        goto error;
    }
    Py_CLEAR(guest_path);
    /* The prefixes, where sysconfig finds its standard library then. */
    static const char *const prefixes[] = {
        "prefix", "base_prefix", "exec_prefix", "base_exec_prefix",
    };
    PyObject *root = PyUnicode_FromString(SANDBOX_GUEST_ROOT);
    if (root == NULL) {
        goto error;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(prefixes); i++) {
        if (PySys_SetObject(prefixes[i], root) < 0) {
            Py_DECREF(root);
            goto error;
        }
    }
    Py_DECREF(root);
    /* Where the frozen modules say they come from. */
    PyObject *stdlib_dir = PySys_GetObject("_stdlib_dir");
    if (stdlib_dir != NULL && stdlib_dir != Py_None) {
        PyObject *guest = PyUnicode_FromString(SANDBOX_GUEST_STDLIB);
        int rc = guest == NULL ? -1 : PySys_SetObject("_stdlib_dir", guest);
        Py_XDECREF(guest);
        if (rc < 0) {
            goto error;
        }
    }
    return _PyStatus_OK();

error:
    Py_XDECREF(guest_path);
    PyErr_Clear();
    return _PyStatus_ERR("cannot give an untrusted interpreter its "
                         "virtual layout");
}

/* sysconfig's build variables (_sysconfigdata_*.py beneath the standard
 * library) name where the host built and installed Python, and its
 * compiler's flags with their paths.  Without filesystem_info an
 * interpreter reads a copy in which each of those directories is
 * /sandbox: made once per process, before any untrusted code runs, and
 * served for the file's inode as a sealed memfd, one per open (the
 * process keeps no descriptor of it), but in a worker, whose fence
 * allows no memfd_create(): one made then, and kept. */
typedef struct {
    dev_t dev;
    ino_t ino;
    char *text;
    size_t size;
    int memfd;                  /* a worker's, or -1 */
} sysconfig_copy;

/* A sealed memfd of *text*, or -1 with errno set. */
static int
sealed_memfd(const char *text, size_t size)
{
#ifdef MFD_ALLOW_SEALING
    int memfd = memfd_create("sysconfigdata",
                             MFD_CLOEXEC | MFD_ALLOW_SEALING);
    size_t put = 0;
    while (memfd >= 0 && put < size) {
        ssize_t w = write(memfd, text + put, size - put);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        put += (size_t)w;
    }
    if (memfd >= 0
        && (put != size
            || fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK
                                         | F_SEAL_GROW | F_SEAL_WRITE) < 0))
    {
        int saved = put != size ? EIO : errno;
        (void)close(memfd);
        errno = saved;
        return -1;
    }
    return memfd;
#else
    (void)text; (void)size;
    errno = ENOSYS;
    return -1;
#endif
}

static struct {
    PyMutex mutex;
    sysconfig_copy *items;
    Py_ssize_t n;
    struct stat scanned[8];     /* the directories looked in */
    int n_scanned;
} sysconfig_copies;

/* Directories of the host's that the copy does not name: no host's own. */
static int
is_system_directory(const char *dir, size_t len)
{
    static const char *const system[] = {
        "/", "/usr", "/usr/local", "/usr/lib", "/usr/lib64",
        "/usr/local/lib", "/lib", "/lib64", "/opt",
    };
    for (size_t i = 0; i < Py_ARRAY_LENGTH(system); i++) {
        if (strlen(system[i]) == len && memcmp(system[i], dir, len) == 0) {
            return 1;
        }
    }
    return len < 2;
}

/* The value of the variable *key* in the text of _sysconfigdata: its
 * start, and *len* (a quoted path without quotes or escapes), or NULL. */
static const char *
sysconfig_value(const char *text, const char *key, size_t *len)
{
    char pattern[64];
    PyOS_snprintf(pattern, sizeof(pattern), "'%s': '/", key);
    const char *p = strstr(text, pattern);
    if (p == NULL) {
        return NULL;
    }
    p += strlen(pattern) - 1;
    size_t n = strcspn(p, "'\\\n\"");
    if (p[n] != '\'') {
        return NULL;
    }
    while (n > 1 && p[n - 1] == '/') {
        n--;
    }
    *len = n;
    return p;
}

/* A character that continues a path's last component. */
static int
continues_name(char c)
{
    return Py_ISALNUM(c) || c == '_' || c == '-' || c == '.';
}

/* *text* (*size* bytes) with each of the *n* directories *dirs* (their
 * lengths *lens*), where a whole path or its beginning, replaced by
 * /sandbox: raw-allocated (*out_size*), or NULL. */
static char *
replace_directories(const char *text, size_t size, const char **dirs,
                    const size_t *lens, int n, size_t *out_size)
{
    static const char guest[] = SANDBOX_GUEST_ROOT;
    size_t cap = size + 1, len = 0;
    char *out = PyMem_RawMalloc(cap);
    for (size_t i = 0; out != NULL && i < size; ) {
        int found = -1;
        for (int k = 0; k < n && text[i] == '/'; k++) {
            if (lens[k] <= size - i && memcmp(text + i, dirs[k], lens[k]) == 0
                && (i + lens[k] == size || !continues_name(text[i + lens[k]]))
                && (found < 0 || lens[k] > lens[found]))
            {
                found = k;
            }
        }
        const char *piece = found >= 0 ? guest : text + i;
        size_t piece_len = found >= 0 ? sizeof(guest) - 1 : 1;
        if (len + piece_len + 1 > cap) {
            cap = cap * 2 + piece_len;
            char *grown = PyMem_RawRealloc(out, cap);
            if (grown == NULL) {
                PyMem_RawFree(out);
                return NULL;
            }
            out = grown;
        }
        memcpy(out + len, piece, piece_len);
        len += piece_len;
        i += found >= 0 ? lens[found] : 1;
    }
    if (out != NULL) {
        out[len] = '\0';
        *out_size = len;
    }
    return out;
}

/* Make the copy of the file *name* in the directory *dirfd* of the
 * standard library, which the host has at *host*. */
static void
copy_sysconfigdata(int dirfd, const char *name, const char *host,
                   const PyConfig *config)
{
#ifdef MFD_ALLOW_SEALING
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)
        || st.st_size > 8 * 1024 * 1024)
    {
        if (fd >= 0) {
            (void)close(fd);
        }
        return;
    }
    for (Py_ssize_t i = 0; i < sysconfig_copies.n; i++) {
        if (sysconfig_copies.items[i].dev == st.st_dev
            && sysconfig_copies.items[i].ino == st.st_ino)
        {
            (void)close(fd);
            return;
        }
    }
    size_t size = (size_t)st.st_size;
    char *text = PyMem_RawMalloc(size + 1);
    size_t got = 0;
    while (text != NULL && got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        got += (size_t)r;
    }
    (void)close(fd);
    if (text == NULL || got != size) {
        PyMem_RawFree(text);
        return;
    }
    text[size] = '\0';
    /* The directories: where it was built and installed, by its own
       variables, and where this process found its standard library. */
    static const char *const keys[] = {
        "abs_builddir", "abs_srcdir", "srcdir", "prefix", "exec_prefix",
    };
    const char *dirs[Py_ARRAY_LENGTH(keys) + 8];
    size_t lens[Py_ARRAY_LENGTH(keys) + 8];
    char *owned[4] = {NULL, NULL, NULL, NULL};
    int n = 0;
    for (size_t i = 0; i < Py_ARRAY_LENGTH(keys); i++) {
        const char *v = sysconfig_value(text, keys[i], &lens[n]);
        if (v != NULL && !is_system_directory(v, lens[n])) {
            dirs[n++] = v;
        }
    }
    /* The host's directory of this file, its parent, and the prefixes
       of this process's config (a tree moved since it was built). */
    owned[0] = _PyMem_RawStrdup(host);
    owned[1] = config->prefix != NULL
               ? _Py_EncodeLocaleRaw(config->prefix, NULL) : NULL;
    owned[2] = config->stdlib_dir != NULL
               ? _Py_EncodeLocaleRaw(config->stdlib_dir, NULL) : NULL;
    if (owned[2] != NULL && strrchr(owned[2], '/') != NULL) {
        *strrchr(owned[2], '/') = '\0';    /* a build tree's srcdir */
    }
    owned[3] = config->executable != NULL
               ? _Py_EncodeLocaleRaw(config->executable, NULL) : NULL;
    if (owned[3] != NULL && strrchr(owned[3], '/') != NULL) {
        *strrchr(owned[3], '/') = '\0';
    }
    for (int i = 0; i < 4; i++) {
        if (owned[i] != NULL && owned[i][0] == '/'
            && !is_system_directory(owned[i], strlen(owned[i])))
        {
            dirs[n] = owned[i];
            lens[n++] = strlen(owned[i]);
        }
    }
    size_t out_size = 0;
    char *out = replace_directories(text, size, dirs, lens, n, &out_size);
    if (out != NULL && out_size < size) {
        /* As long as the file (os.stat() tells its size): a comment. */
        char *grown = PyMem_RawRealloc(out, size + 1);
        if (grown == NULL) {
            PyMem_RawFree(out);
            out = NULL;
        }
        else {
            out = grown;
            size_t pad = size - out_size;
            memset(out + out_size, ' ', pad);
            if (pad >= 2) {
                out[out_size] = '#';
            }
            out[size - 1] = '\n';
            out[size] = '\0';
            out_size = size;
        }
    }
    for (int i = 0; i < 4; i++) {
        PyMem_RawFree(owned[i]);
    }
    PyMem_RawFree(text);
    int memfd = -1;
    if (out != NULL && _PySandbox_IsWorker()
        && (memfd = sealed_memfd(out, out_size)) < 0)
    {
        PyMem_RawFree(out);
        return;
    }
    sysconfig_copy *items = out == NULL ? NULL : PyMem_RawRealloc(
        sysconfig_copies.items,
        (size_t)(sysconfig_copies.n + 1) * sizeof(*items));
    if (items == NULL) {
        PyMem_RawFree(out);
        if (memfd >= 0) {
            (void)close(memfd);
        }
        return;
    }
    items[sysconfig_copies.n++] = (sysconfig_copy){
        st.st_dev, st.st_ino, out, out_size, memfd};
    sysconfig_copies.items = items;
#else
    (void)dirfd; (void)name; (void)host; (void)config;
#endif
}

void
_PySandbox_CopySysconfigData(const sandbox_grant *grant,
                             const PyConfig *config)
{
    struct stat dir_st;
    if (fstat(grant->fd, &dir_st) < 0) {
        return;
    }
    _PySandbox_LOCK(&sysconfig_copies.mutex);
    for (int i = 0; i < sysconfig_copies.n_scanned; i++) {
        if (sysconfig_copies.scanned[i].st_dev == dir_st.st_dev
            && sysconfig_copies.scanned[i].st_ino == dir_st.st_ino)
        {
            PyMutex_Unlock(&sysconfig_copies.mutex);
            return;             /* each interpreter's, the first's */
        }
    }
    int dirfd = openat(grant->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dirfd >= 0 ? fdopendir(dirfd) : NULL;
    if (d == NULL) {
        if (dirfd >= 0) {
            (void)close(dirfd);
        }
        PyMutex_Unlock(&sysconfig_copies.mutex);
        return;
    }
    if (sysconfig_copies.n_scanned
        < (int)Py_ARRAY_LENGTH(sysconfig_copies.scanned))
    {
        sysconfig_copies.scanned[sysconfig_copies.n_scanned++] = dir_st;
    }
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (strncmp(entry->d_name, "_sysconfigdata_", 15) == 0
            && len > 3 && strcmp(entry->d_name + len - 3, ".py") == 0)
        {
            copy_sysconfigdata(dirfd, entry->d_name, grant->host, config);
        }
    }
    PyMutex_Unlock(&sysconfig_copies.mutex);
    closedir(d);
}

int
_PySandbox_SysconfigCopy(const struct stat *st, int *fd)
{
    *fd = -1;
    if (!S_ISREG(st->st_mode)) {
        return 0;
    }
    int failed = 0;
    _PySandbox_LOCK(&sysconfig_copies.mutex);
    for (Py_ssize_t i = 0; i < sysconfig_copies.n; i++) {
        const sysconfig_copy *item = &sysconfig_copies.items[i];
        if (item->dev == st->st_dev && item->ino == st->st_ino) {
            *fd = (item->memfd >= 0
                   ? fcntl(item->memfd, F_DUPFD_CLOEXEC, 0)
                   : sealed_memfd(item->text, item->size));
            failed = *fd < 0;
            break;
        }
    }
    int saved = errno;
    PyMutex_Unlock(&sysconfig_copies.mutex);
    errno = saved;
    return failed ? -1 : 0;
}

void
_PySandbox_LayoutAfterFork(void)
{
    /* Another thread may have held it at the fork; the child has only
       this one. */
    sysconfig_copies.mutex = (PyMutex){0};
}

#endif  /* Py_UNTRUSTED */
