/* Untrusted interpreters: imports.
 *
 * The allowlist of extension modules, and their files.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_fileutils.h"     // _Py_EncodeLocaleRaw()
#include "pycore_importdl.h"      // _PyImport_DynLoadFiletab
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // ENOENT
#include <dirent.h>               // opendir()
#include <sys/stat.h>             // stat()

#include "stdlib_module_names.h"  // _Py_stdlib_module_names


/* Extension modules (the 2006 design's "Extension Module Importation").
 *
 * C code is where harm is done, so an untrusted interpreter loads an
 * extension module, built in or shared, only if its name is allowed:
 * in the default set below and not blocked by its policy, or granted by
 * its policy; never one of the "never" set, whatever the policy.  A shared
 * library loads only from its own file: <a directory of the standard
 * library's search path>/<name><an extension suffix>, the directories'
 * symbolic links resolved, so no other file loads under an allowed name.
 * Checked before anything of the module is looked up, opened or run
 * (create_builtin(), _imp.create_dynamic()). */

/* Allowed by default, each for ordinary code (Doc/sandbox/imports.rst has
 * a reason for each).  Sorted. */
static const char *const default_modules[] = {
    "_abc", "_ast", "_asyncio", "_bisect", "_blake2", "_bz2", "_codecs",
    "_codecs_cn", "_codecs_hk", "_codecs_iso2022", "_codecs_jp",
    "_codecs_kr", "_codecs_tw", "_collections", "_contextvars", "_csv",
    "_decimal", "_elementtree", "_functools", "_hashlib", "_heapq", "_imp",
    "_io", "_json", "_locale", "_lzma", "_md5", "_multibytecodec",
    "_opcode", "_operator", "_pickle", "_posixsubprocess", "_queue",
    "_random", "_sandbox",
    "_sha1", "_sha2", "_sha3", "_signal", "_socket", "_sre", "_stat",
    "_statistics", "_string", "_struct", "_suggestions", "_symtable",
    "_sysconfig", "_thread", "_tokenize", "_typing", "_warnings",
    "_weakref", "array", "atexit", "binascii", "builtins",
    "cmath", "errno", "gc", "itertools", "marshal", "math", "posix",
    "pyexpat", "select", "sys", "time", "unicodedata", "zlib",
};

/* Loaded by every interpreter at its start, crippled function by
 * function: a policy cannot block them. */
static const char *const core_modules[] = {
    "_codecs", "_imp", "_io", "_thread", "_warnings", "_weakref",
    "builtins", "marshal", "posix", "sys", "time",
};

/* Only in a worker process's main interpreter (Python/sandbox_worker.c),
 * where a policy may grant them: _datetime keeps objects of the
 * interpreter that loads it first beyond that interpreter's end (its
 * static types; datetime falls back to _pydatetime elsewhere), and fcntl
 * and resource reach other processes (fcntl(F_SETOWN) has the kernel
 * signal any process of the user, prlimit() limits one) and the process
 * itself (setrlimit()), which in a worker is the tenant's own and its
 * seccomp filter keeps to itself. */
static const char *const main_only_modules[] = {
    "_datetime", "fcntl", "resource",
    /* They open files by their own C paths, which no grant checks (a
       worker's Landlock rules do), or make and remove the host's named
       POSIX shared memory and semaphores. */
    "_dbm", "_gdbm", "_multiprocessing", "_posixshmem", "_sqlite3",
};

static int
main_only_module(const char *name)
{
    return _PySandbox_InList(main_only_modules,
                             Py_ARRAY_LENGTH(main_only_modules), name);
}

/* Never, whatever the policy: they reach across interpreters (shared
 * buffers, other interpreters' code), into the C API's internals (one of
 * the test modules creates trusted interpreters), or hold objects in
 * process-wide C state (Doc/sandbox/globals.rst: faulthandler's files,
 * tracemalloc's tables, readline's and curses' hooks and windows,
 * tkinter's interpreter; and _ctypes, whose callbacks from threads that C
 * code starts run in the main interpreter).  The "_test" and "xx"
 * prefixes are never allowed either. */
static const char *const never_modules[] = {
    "_ctypes", "_ctypes_test", "_curses", "_curses_panel", "_interpchannels",
    "_interpqueues", "_interpreters", "_tkinter",
    "_tracemalloc", "faulthandler", "readline",
};

int
_PySandbox_ExecOnCreateSlow(PyObject *mod)
{
    /* _imp.create_builtin() and create_dynamic() return a module of
       multi-phase init that is not executed: its state is NULL until
       _imp.exec_builtin() runs, and its functions read the state's types
       (os.uname() of a posix module made so crashed the process).  The
       untrusted interpreter's importlib is its own code, which need not
       call exec: a module with state is executed here, at once, and
       exec_builtin() then skips it (its state is set). */
    if (!PyModule_Check(mod)) {
        return 0;
    }
    PyModuleDef *def = PyModule_GetDef(mod);
    if (def == NULL || def->m_size <= 0 || PyModule_GetState(mod) != NULL) {
        return 0;
    }
    return PyModule_ExecDef(mod, def);
}

static int
never_module(const char *name)
{
    return (strncmp(name, "_test", 5) == 0 || strncmp(name, "xx", 2) == 0
            || strcmp(name, "_xxtestfuzz") == 0
            || _PySandbox_InList(never_modules,
                                 Py_ARRAY_LENGTH(never_modules), name));
}

static int
is_core_module(const char *name)
{
    return _PySandbox_InList(core_modules, Py_ARRAY_LENGTH(core_modules),
                             name);
}

/* May an interpreter of *policy* load the extension module *name*? */
static int
policy_allows_module(const PySandboxPolicy *policy, const char *name)
{
    /* The last part names the file's init function: "pkg._ctypes" would
       be _ctypes under another name. */
    const char *leaf = strrchr(name, '.');
    leaf = leaf != NULL ? leaf + 1 : name;
    if (never_module(name) || never_module(leaf)) {
        return 0;
    }
    /* Bound to its file: a module of a package root's, perhaps in a
       package (numpy._core._multiarray_umath). */
    if (_PySandboxPolicy_ModuleFile(policy, name) != NULL) {
        return 1;
    }
    if (strchr(name, '.') != NULL) {
        return 0;
    }
    if (_PySandbox_PolicyLists(policy->modules, policy->n_modules, name)) {
        return 1;
    }
    if (_PySandbox_PolicyLists(policy->blocked, policy->n_blocked, name)) {
        return 0;
    }
    return _PySandbox_InList(default_modules,
                             Py_ARRAY_LENGTH(default_modules), name);
}

/* Is *name* a module name that the policy field *field* may hold: a
 * top-level name of a module of the standard library (modules), or a
 * dotted name outside it (module_files: bound to a file)?  Return 0, or -1
 * with PolicyError set. */
static int
check_module_name(const char *field, const char *name, int stdlib)
{
    if (name == NULL || name[0] == '\0'
        || (stdlib && strchr(name, '.') != NULL))
    {
        return _PySandboxPolicy_Error(field, name, "not a top-level module "
                                      "name (pure-Python modules need no "
                                      "grant)");
    }
    /* Each part an identifier; the first decides where it comes from. */
    size_t top = strcspn(name, ".");
    for (const char *part = name; ; ) {
        size_t len = strcspn(part, ".");
        PyObject *str = PyUnicode_DecodeUTF8(part, (Py_ssize_t)len,
                                             "strict");
        int identifier = str != NULL && PyUnicode_IsIdentifier(str);
        Py_XDECREF(str);
        if (!identifier) {
            PyErr_Clear();
            return _PySandboxPolicy_Error(field, name, "not a module name");
        }
        if (part[len] == '\0') {
            break;
        }
        part += len + 1;
    }
    char first[256];
    if (top >= sizeof(first)) {
        return _PySandboxPolicy_Error(field, name, "not a module name");
    }
    memcpy(first, name, top);
    first[top] = '\0';
    int in_stdlib = _PySandbox_InList(
        (const char *const *)_Py_stdlib_module_names,
        Py_ARRAY_LENGTH(_Py_stdlib_module_names), first);
    if (stdlib && !in_stdlib) {
        return _PySandboxPolicy_Error(field, name, "not a module of the "
                                      "standard library (bind a module of "
                                      "your own to its file)");
    }
    if (!stdlib && in_stdlib) {
        /* A binding would let a nested policy, or the name alone, stand
           for the standard library's own module. */
        return _PySandboxPolicy_Error(field, name, "a module of the "
                                      "standard library, which is granted "
                                      "by its name (modules), not bound to "
                                      "a file");
    }
    if (never_module(name)) {
        return _PySandboxPolicy_Error(field, name, "never loaded in an "
                                      "untrusted interpreter");
    }
    /* A dotted name's last part names its init function (PyInit_<it>):
       not one of the standard library's modules under another name. */
    const char *leaf = strrchr(name, '.');
    if (leaf != NULL
        && (never_module(leaf + 1)
            || _PySandbox_InList(
                   (const char *const *)_Py_stdlib_module_names,
                   Py_ARRAY_LENGTH(_Py_stdlib_module_names), leaf + 1)))
    {
        return _PySandboxPolicy_Error(field, name, "named after a module "
                                      "of the standard library, which "
                                      "loads only under its own name");
    }
    return 0;
}

int
PySandboxPolicy_AllowModule(PySandboxPolicy *policy, const char *name)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_AllowModule: policy is NULL");
        return -1;
    }
    if (check_module_name("modules", name, 1) < 0) {
        return -1;
    }
    (void)_PySandbox_RemoveName(policy->blocked, &policy->n_blocked, name);
    return _PySandbox_AddName(&policy->modules, &policy->n_modules, name);
}

int
PySandboxPolicy_AllowModuleFile(PySandboxPolicy *policy, const char *name,
                                const char *path)
{
    if (policy == NULL || path == NULL) {
        PyErr_SetString(PyExc_ValueError, "PySandboxPolicy_AllowModuleFile: "
                        "policy or path is NULL");
        return -1;
    }
    if (check_module_name("module_files", name, 0) < 0) {
        return -1;
    }
    if (path[0] != '/') {
        return _PySandboxPolicy_Error("module_files", path,
                                      "the file must be an absolute path");
    }
    if (_PySandboxPolicy_ModuleFile(policy, name) != NULL) {
        return _PySandboxPolicy_Error("module_files", name,
                                      "bound to a file already");
    }
    return _PySandboxPolicy_AddModuleFile(policy, name, path);
}

int
PySandboxPolicy_BlockModule(PySandboxPolicy *policy, const char *name)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_BlockModule: policy is NULL");
        return -1;
    }
    if (name == NULL || name[0] == '\0' || strchr(name, '.') != NULL) {
        return _PySandboxPolicy_Error("blocked", name,
                                      "not a top-level module name");
    }
    if (is_core_module(name)) {
        return _PySandboxPolicy_Error("blocked", name, "every interpreter "
                                      "loads it at its start");
    }
    (void)_PySandbox_RemoveName(policy->modules, &policy->n_modules, name);
    return _PySandbox_AddName(&policy->blocked, &policy->n_blocked, name);
}

/* Does *inner* allow no extension module that *outer* does not? */
int
_PySandboxPolicy_ModulesWithin(const PySandboxPolicy *inner,
                               const PySandboxPolicy *outer)
{
    /* By name: a module that *outer* binds to a file does not stand for
       one of the standard library's that *inner* names. */
    for (Py_ssize_t i = 0; i < inner->n_modules; i++) {
        const char *name = inner->modules[i];
        if (_PySandboxPolicy_ModuleFile(outer, name) != NULL
            || !policy_allows_module(outer, name))
        {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < outer->n_blocked; i++) {
        if (policy_allows_module(inner, outer->blocked[i])) {
            return 0;
        }
    }
    /* A module bound to a file: the same binding. */
    for (Py_ssize_t i = 0; i < inner->n_module_files; i++) {
        const char *file = _PySandboxPolicy_ModuleFile(
            outer, inner->module_files[i].name);
        if (file == NULL || strcmp(file, inner->module_files[i].file) != 0) {
            return 0;
        }
    }
    return 1;
}

int
_PySandbox_ModuleAllowed(PyInterpreterState *interp, const char *name)
{
    struct _PySandboxState *state = interp->sandbox;
    return (state == NULL
            || (policy_allows_module(&state->policy, name)
                && (!main_only_module(name)
                    || _Py_IsMainInterpreter(interp))));
}

/* Deny the current interpreter the module *name* (a str): log it, and set
 * the ModuleNotFoundError of a module that does not exist. */
static int
deny_module(PyObject *name, const char *detail)
{
    (void)_PySandbox_Deny("module", detail);
    PyErr_Clear();
    PyObject *msg = PyUnicode_FromFormat("No module named %R", name);
    if (msg != NULL) {
        PyErr_SetImportErrorSubclass(PyExc_ModuleNotFoundError, msg, name,
                                     NULL);
        Py_DECREF(msg);
    }
    return -1;
}

int
_PySandbox_CheckModuleSlow(PyObject *name)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (interp->sandbox == NULL) {
        return 0;
    }
    const char *utf8 = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (utf8 == NULL) {
        PyErr_Clear();
        return deny_module(name, "(a module name that is not text)");
    }
    if (_PySandbox_ModuleAllowed(interp, utf8)) {
        return 0;
    }
    return deny_module(name, utf8);
}

int
_PySandbox_CheckModuleName(const char *name)
{
    if (!_PySandbox_IsUntrusted(_PyInterpreterState_GET())) {
        return 0;
    }
    PyObject *str = PyUnicode_FromString(name);
    if (str == NULL) {
        return -1;
    }
    int rc = _PySandbox_CheckModuleSlow(str);
    Py_DECREF(str);
    return rc;
}

/* The inode of each extension module file of the standard library's
 * directories, recorded when the first untrusted interpreter of the
 * process is created, before any untrusted code ran: a file put in an
 * allowed module's place afterwards (a rename over it) does not load.
 * Keys are "<resolved directory>/<file name>". */
typedef struct {
    char *path;
    dev_t dev;
    ino_t ino;
} module_inode;

static struct {
    PyMutex mutex;
    int recorded;
    module_inode *items;
    Py_ssize_t n;
} module_inodes;

/* The directory of the absolute file name *path*, by its name (without
 * "." parts and duplicate slashes, ".." kept): raw-allocated, or NULL.
 * Never its symbolic links resolved: the loader opens the file by its
 * name after the check, so every directory of that name must be the
 * host's, not one that untrusted code could swap meanwhile. */
static char *
module_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL || path[0] != '/') {
        return NULL;
    }
    size_t len = (size_t)(slash - path);
    char *dir = PyMem_RawMalloc(len + 2);
    if (dir == NULL) {
        return NULL;
    }
    memcpy(dir, path, len);
    dir[len] = '\0';
    char *normal = _PySandbox_NormalizedPath(len > 0 ? dir : "/", 0);
    PyMem_RawFree(dir);
    return normal;
}

/* An entry of the search path, the same way: raw-allocated, or NULL.  Raw
 * memory only: it runs with no thread state too. */
static char *
search_dir(const wchar_t *entry)
{
    char *encoded = _Py_EncodeLocaleRaw(entry, NULL);
    char *dir = (encoded != NULL && encoded[0] == '/')
                ? _PySandbox_NormalizedPath(encoded, 0) : NULL;
    PyMem_RawFree(encoded);
    return dir;
}

static int
has_extension_suffix(const char *base)
{
    size_t len = strlen(base);
    for (const char *const *suffix = _PyImport_DynLoadFiletab;
         *suffix != NULL; suffix++)
    {
        size_t n = strlen(*suffix);
        if (len > n && strcmp(base + len - n, *suffix) == 0) {
            return 1;
        }
    }
    return 0;
}

static void
record_module_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!has_extension_suffix(entry->d_name)) {
            continue;
        }
        size_t size = strlen(dir) + strlen(entry->d_name) + 2;
        char *path = PyMem_RawMalloc(size);
        struct stat st;
        module_inode *items = PyMem_RawRealloc(
            module_inodes.items,
            (size_t)(module_inodes.n + 1) * sizeof(module_inode));
        if (items != NULL) {
            module_inodes.items = items;
        }
        if (path == NULL || items == NULL) {
            PyMem_RawFree(path);
            break;
        }
        PyOS_snprintf(path, size, "%s/%s", dir, entry->d_name);
        if (stat(path, &st) != 0) {
            PyMem_RawFree(path);
            continue;
        }
        items[module_inodes.n++] = (module_inode){path, st.st_dev, st.st_ino};
    }
    closedir(d);
}

/* Record the inodes once per process, from *interp*'s search path. */
void
_PySandbox_RecordModuleInodes(PyInterpreterState *interp)
{
    _PySandbox_LOCK(&module_inodes.mutex);
    if (!module_inodes.recorded) {
        module_inodes.recorded = 1;
        const PyWideStringList *paths = &interp->config.module_search_paths;
        for (Py_ssize_t i = 0; i < paths->length; i++) {
            char *dir = search_dir(paths->items[i]);
            if (dir != NULL) {
                record_module_dir(dir);
            }
            PyMem_RawFree(dir);
        }
    }
    PyMutex_Unlock(&module_inodes.mutex);
}

/* Is *path* (whose directory resolves to *dir*, its file name *base*) the
 * file recorded there, the same inode? */
static int
is_recorded_file(const char *path, const char *dir, const char *base)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        return 0;
    }
    size_t dirlen = strlen(dir);
    int same = 0;
    _PySandbox_LOCK(&module_inodes.mutex);
    for (Py_ssize_t i = 0; i < module_inodes.n; i++) {
        const module_inode *item = &module_inodes.items[i];
        if (strncmp(item->path, dir, dirlen) == 0
            && item->path[dirlen] == '/'
            && strcmp(item->path + dirlen + 1, base) == 0)
        {
            same = item->dev == st.st_dev && item->ino == st.st_ino;
            break;
        }
    }
    PyMutex_Unlock(&module_inodes.mutex);
    return same;
}

/* Is *path* (an absolute file name) <a directory of the interpreter's
 * standard-library search path>/<name><an extension suffix>, by the names
 * of its directories? */
static int
is_module_file(PyInterpreterState *interp, const char *name,
               const char *path)
{
    const char *slash = name != NULL ? strrchr(path, '/') : NULL;
    /* The file is named after the last part of a dotted name. */
    const char *leaf = name != NULL ? strrchr(name, '.') : NULL;
    leaf = leaf != NULL ? leaf + 1 : name;
    size_t len = leaf != NULL ? strlen(leaf) : 0;
    if (slash == NULL || strncmp(slash + 1, leaf, len) != 0) {
        return 0;
    }
    int found = 0;
    for (const char *const *suffix = _PyImport_DynLoadFiletab;
         *suffix != NULL && !found; suffix++)
    {
        found = strcmp(slash + 1 + len, *suffix) == 0;
    }
    if (!found) {
        return 0;
    }
    /* The file's directory by its name (a build tree links its modules'
       files from elsewhere: the file itself may be a link, the host's). */
    char *real = module_dirname(path);
    if (real == NULL) {
        return 0;
    }
    found = 0;
    const char *bound = _PySandboxPolicy_ModuleFile(&interp->sandbox->policy,
                                                    name);
    if (bound != NULL) {
        /* Bound by the policy: that file, and no other. */
        char *dir = module_dirname(bound);
        found = (dir != NULL && strcmp(dir, real) == 0
                 && strcmp(strrchr(bound, '/'), slash) == 0);
        PyMem_RawFree(dir);
    }
    else {
        const PyWideStringList *paths = &interp->config.module_search_paths;
        for (Py_ssize_t i = 0; i < paths->length && !found; i++) {
            char *dir = search_dir(paths->items[i]);
            found = dir != NULL && strcmp(dir, real) == 0;
            PyMem_RawFree(dir);
        }
        /* ... and the very file that was there before any untrusted
           code ran. */
        found = found && is_recorded_file(path, real, slash + 1);
    }
    PyMem_RawFree(real);
    return found;
}

int
_PySandbox_CheckExtension(PyObject *name, PyObject *filename,
                          PyObject **encoded)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (!_PySandbox_IsUntrusted(interp)) {
        return 0;
    }
    if (_PySandbox_CheckModuleSlow(name) < 0) {
        return -1;
    }
    /* _imp.create_dynamic() takes the file apart from the name: only the
       module's own file, by the host's path of it (the interpreter's is
       in its layout: Doc/sandbox/information.rst). */
    const char *path = filename != NULL && PyUnicode_Check(filename)
                       ? PyUnicode_AsUTF8(filename) : NULL;
    char *host = (path != NULL && path[0] == '/'
                  ? _PySandbox_HostPath(interp->sandbox, path) : NULL);
    /* Without filesystem_info, only a file of its layout (the host's
       paths would be a guess to confirm), or the very file that the
       policy binds the module to, by the path it names. */
    const char *bound = (path != NULL && host == NULL
                         ? _PySandboxPolicy_ModuleFile(
                               &interp->sandbox->policy,
                               PyUnicode_AsUTF8(name))
                         : NULL);
    const char *file = (host != NULL ? host
                        : (interp->sandbox->policy.filesystem_info
                           || (bound != NULL && strcmp(bound, path) == 0))
                        ? path : NULL);
    if (file == NULL || !is_module_file(interp, PyUnicode_AsUTF8(name),
                                        file))
    {
        PyMem_RawFree(host);
        PyErr_Clear();
        char detail[300];
        PyOS_snprintf(detail, sizeof(detail), "%s from another file: %.200s",
                      PyUnicode_AsUTF8(name), path != NULL ? path : "?");
        return deny_module(name, detail);
    }
    if (host != NULL && encoded != NULL) {
        PyObject *bytes = PyBytes_FromString(host);
        PyMem_RawFree(host);
        if (bytes == NULL) {
            return -1;
        }
        Py_XSETREF(*encoded, bytes);
        return 0;
    }
    PyMem_RawFree(host);
    return 0;
}


void
_PySandbox_ImportAfterFork(void)
{
    /* Another thread may have held it at the fork; the child has only
       this one. */
    module_inodes.mutex = (PyMutex){0};
}

#endif  /* Py_UNTRUSTED */
