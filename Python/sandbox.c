/* Untrusted interpreters: the engine.
 *
 * The hooks that upstream files call are in
 * Include/internal/pycore_sandbox.h; the public C API is
 * Include/cpython/sandbox.h.  Everything here is compiled only with
 * Py_UNTRUSTED (configure --with-untrusted), except what the child of
 * fork() does with the other interpreters, at the end.
 */

#include "Python.h"
#include "pycore_ceval.h"         // _Py_set_eval_breaker_bit()
#include "pycore_crossinterp.h"   // PyExc_InterpreterNotFoundError
#include "pycore_import.h"        // _PyImport_GetModuleAttrString()
#include "pycore_fileutils.h"     // _Py_EncodeLocaleRaw()
#include "pycore_importdl.h"      // _PyImport_DynLoadFiletab
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_long.h"          // _PY_LONG_DEFAULT_MAX_STR_DIGITS
#include "pycore_pymem.h"         // _PyMem_GetCurrentAllocatorName()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_stack.h"  // struct _PySandboxDeferred
#include "pycore_typeobject.h"    // _PyStaticType_InitBuiltin()
#include "pycore_sysmodule.h"     // _PySys_SetAttr()
#include "osdefs.h"               // DELIM

#if defined(Py_UNTRUSTED) || defined(HAVE_FORK)
/* Did *interp* ready the managed static type of index *i*, which the
 * runtime counts in types.managed_static.types[i].interp_count? */
static int
readied_static_type(_PyRuntimeState *runtime, PyInterpreterState *interp,
                    size_t i)
{
    PyTypeObject *type = runtime->types.managed_static.types[i].type;
    if (type == NULL) {
        return 0;
    }
    managed_static_type_state *state =
        i < _Py_MAX_MANAGED_STATIC_BUILTIN_TYPES
        ? &interp->types.builtins.initialized[i]
        : &interp->types.for_extensions.initialized[
                i - _Py_MAX_MANAGED_STATIC_BUILTIN_TYPES];
    return state->type == type;
}
#endif


#ifdef Py_UNTRUSTED

#include <errno.h>                // EACCES
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // close()
#endif
#include <dirent.h>               // opendir()
#ifdef HAVE_SYS_SOCKET_H
#  include <sys/socket.h>         // struct msghdr, SCM_RIGHTS
#endif
#include <sys/stat.h>             // stat()
#include <pthread.h>              // pthread_key_create()


/* A policy: what an untrusted interpreter may do.  The protections add
 * their fields here as they are enforced; a zeroed policy grants nothing. */
struct _PySandboxPolicy {
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
    char **module_files;        /* "name=/file": others, from that file */
    Py_ssize_t n_module_files;
    char **paths;               /* "r/abs/path" or "w/abs/path": the files
                                   and directories it may read (r), or
                                   read and change (w) */
    Py_ssize_t n_paths;
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

/* The recursion limit of a policy that sets none. */
#define SANDBOX_DEFAULT_RECURSION_LIMIT Py_DEFAULT_RECURSION_LIMIT
/* The most a policy may set: deeper Python recursion costs memory, not C
   stack, in 3.13, but nothing ordinary needs more. */
#define SANDBOX_MAX_RECURSION_LIMIT 1000000

static int
policy_recursion_limit(const PySandboxPolicy *policy)
{
    return (policy->recursion_limit > 0 ? policy->recursion_limit
                                        : SANDBOX_DEFAULT_RECURSION_LIMIT);
}

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
    PyMutex ext_mutex;          /* the host sets while the interpreter runs */
    ext_entry *ext;
    Py_ssize_t next;
    Py_ssize_t ext_allocated;
    PySandboxPolicy policy;     /* the interpreter's own copy */
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
    /* The threads it started that have not ended, as their own exit sees
       them (watch_thread()), even when it is abandoned. */
    Py_ssize_t watched;
    /* The jobs running in it (threads of the host or of its creator,
       inside), and whether its end began: one excludes the other, under
       the runtime's lock of interpreters (_PySandbox_Enter()). */
    Py_ssize_t entered;
    int end_claimed;
    /* Abandoned (with threads it could not stop): when, whether its
       descriptors were closed, and the next of the runtime's list
       (sweep_abandoned()). */
    PyTime_t abandoned_at;
    int fds_closed;
    struct _PySandboxState *next_abandoned;
};


/* The exceptions (DESIGN: "Exceptions").  Static core types, like
 * PermissionError, so that any hook can raise them without importing a
 * module; they are not builtins: _sandbox and sandbox expose them. */

PyDoc_STRVAR(sandbox_error_doc,
"An untrusted interpreter was denied an operation by its policy.\n\
\n\
A subclass of PermissionError with errno EACCES, so code that handles\n\
OSError degrades gracefully.");

static PyTypeObject _PyExc_SandboxError = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.SandboxError",
    .tp_basicsize = sizeof(PyOSErrorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = sandbox_error_doc,
    /* .tp_base is PermissionError, set in _PySandbox_InitTypes() */
};
PyObject *PyExc_SandboxError = (PyObject *)&_PyExc_SandboxError;

PyDoc_STRVAR(sandbox_limit_exceeded_doc,
"An untrusted interpreter exhausted a limit of its policy.\n\
\n\
A subclass of BaseException, not of Exception: code that catches\n\
Exception does not swallow it.");

static PyTypeObject _PyExc_SandboxLimitExceeded = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.SandboxLimitExceeded",
    .tp_basicsize = sizeof(PyBaseExceptionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = sandbox_limit_exceeded_doc,
    /* .tp_base is BaseException, set in _PySandbox_InitTypes() */
};
PyObject *PyExc_SandboxLimitExceeded = (PyObject *)&_PyExc_SandboxLimitExceeded;

/* Standard I/O (the 2006 design's "Stdin, Stdout, and Stderr").
 *
 * sys.stdin, sys.stdout and sys.stderr of an untrusted interpreter are
 * text wrappers over these raw streams, which keep what is written in C
 * buffers that the host takes (PySandbox_TakeOutput()).  No real file
 * descriptor is behind them; stdin is empty.  Untrusted code can replace
 * the Python objects, but not what reaches the host: only what goes
 * through these streams does. */

typedef struct {
    PyObject_HEAD
    int fd;         /* 0, 1 or 2 */
    int closed;
} SandboxStreamObject;

static const char *const stream_names[] = {"<stdin>", "<stdout>", "<stderr>"};

static PyObject *
stream_unsupported(const char *what)
{
    PyObject *exc = _PyImport_GetModuleAttrString("_io",
                                                  "UnsupportedOperation");
    if (exc != NULL) {
        PyErr_SetString(exc, what);
        Py_DECREF(exc);
    }
    return NULL;
}

static int
stream_check_open(SandboxStreamObject *self)
{
    if (self->closed) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed file.");
        return -1;
    }
    return 0;
}

static PyObject *
stream_write(SandboxStreamObject *self, PyObject *data)
{
    if (stream_check_open(self) < 0) {
        return NULL;
    }
    if (self->fd == 0) {
        return stream_unsupported("not writable");
    }
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        /* The object was carried into another interpreter. */
        return stream_unsupported("not writable from this interpreter");
    }
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    sandbox_output *out = &state->output[self->fd - 1];
    size_t n = (size_t)view.len;
    int full = 0, nomem = 0;
    PyMutex_Lock(&out->mutex);
    if (n > SANDBOX_OUTPUT_LIMIT - out->len) {
        full = 1;
    }
    else {
        if (out->len + n > out->allocated) {
            size_t size = Py_MAX(out->allocated * 2, out->len + n);
            size = Py_MIN(Py_MAX(size, (size_t)4096), SANDBOX_OUTPUT_LIMIT);
            char *data = PyMem_RawRealloc(out->data, size);
            if (data == NULL) {
                nomem = 1;
            }
            else {
                out->data = data;
                out->allocated = size;
            }
        }
        if (!nomem) {
            memcpy(out->data + out->len, view.buf, n);
            out->len += n;
        }
    }
    PyMutex_Unlock(&out->mutex);
    PyBuffer_Release(&view);
    if (nomem) {
        return PyErr_NoMemory();
    }
    if (full) {
        errno = ENOSPC;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError,
                                              stream_names[self->fd]);
    }
    return PyLong_FromSize_t(n);
}

static PyObject *
stream_read(SandboxStreamObject *self, PyObject *Py_UNUSED(args))
{
    if (stream_check_open(self) < 0) {
        return NULL;
    }
    if (self->fd != 0) {
        return stream_unsupported("not readable");
    }
    return PyBytes_FromStringAndSize(NULL, 0);  /* stdin is empty */
}

static PyObject *
stream_readinto(SandboxStreamObject *self, PyObject *Py_UNUSED(buffer))
{
    if (stream_check_open(self) < 0) {
        return NULL;
    }
    if (self->fd != 0) {
        return stream_unsupported("not readable");
    }
    return PyLong_FromLong(0);
}

static PyObject *
stream_readable(SandboxStreamObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->fd == 0);
}

static PyObject *
stream_writable(SandboxStreamObject *self, PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(self->fd != 0);
}

static PyObject *
stream_false(SandboxStreamObject *self, PyObject *Py_UNUSED(ignored))
{
    Py_RETURN_FALSE;
}

static PyObject *
stream_flush(SandboxStreamObject *self, PyObject *Py_UNUSED(ignored))
{
    if (stream_check_open(self) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
stream_close(SandboxStreamObject *self, PyObject *Py_UNUSED(ignored))
{
    self->closed = 1;
    Py_RETURN_NONE;
}

static PyObject *
stream_fileno(SandboxStreamObject *self, PyObject *Py_UNUSED(ignored))
{
    return stream_unsupported("the standard streams of an untrusted "
                              "interpreter have no file descriptor");
}

static PyObject *
stream_get_closed(SandboxStreamObject *self, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(self->closed);
}

static PyObject *
stream_get_name(SandboxStreamObject *self, void *Py_UNUSED(closure))
{
    return PyUnicode_FromString(stream_names[self->fd]);
}

static PyMethodDef stream_methods[] = {
    {"write", (PyCFunction)stream_write, METH_O, NULL},
    {"read", (PyCFunction)stream_read, METH_VARARGS, NULL},
    {"read1", (PyCFunction)stream_read, METH_VARARGS, NULL},
    {"readall", (PyCFunction)stream_read, METH_VARARGS, NULL},
    {"readline", (PyCFunction)stream_read, METH_VARARGS, NULL},
    {"readinto", (PyCFunction)stream_readinto, METH_O, NULL},
    {"readable", (PyCFunction)stream_readable, METH_NOARGS, NULL},
    {"writable", (PyCFunction)stream_writable, METH_NOARGS, NULL},
    {"seekable", (PyCFunction)stream_false, METH_NOARGS, NULL},
    {"isatty", (PyCFunction)stream_false, METH_NOARGS, NULL},
    {"flush", (PyCFunction)stream_flush, METH_NOARGS, NULL},
    {"close", (PyCFunction)stream_close, METH_NOARGS, NULL},
    {"fileno", (PyCFunction)stream_fileno, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"closed", (getter)stream_get_closed, NULL, NULL, NULL},
    {"name", (getter)stream_get_name, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(stream_doc,
"A standard stream of an untrusted interpreter, kept for its host.");

static PyTypeObject _PySandbox_StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.StandardStream",
    .tp_basicsize = sizeof(SandboxStreamObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = stream_doc,
    .tp_methods = stream_methods,
    .tp_getset = stream_getset,
    .tp_dealloc = (destructor)PyObject_Free,
};


PyStatus
_PySandbox_InitStdio(PyThreadState *tstate)
{
    static const char *const attrs[][2] = {
        {"__stdin__", "stdin"},
        {"__stdout__", "stdout"},
        {"__stderr__", "stderr"},
    };
    PyObject *textio = _PyImport_GetModuleAttrString("_io", "TextIOWrapper");
    if (textio == NULL) {
        goto error;
    }
    for (int fd = 0; fd <= 2; fd++) {
        SandboxStreamObject *raw = PyObject_New(SandboxStreamObject,
                                                &_PySandbox_StreamType);
        if (raw == NULL) {
            goto error;
        }
        raw->fd = fd;
        raw->closed = 0;
        PyObject *text = PyObject_CallFunction(
            textio, "Osssii", raw, "utf-8",
            fd == 2 ? "backslashreplace" : "strict", "\n",
            /* line_buffering */ 0, /* write_through */ 1);
        Py_DECREF(raw);
        if (text == NULL) {
            goto error;
        }
        int rc = PySys_SetObject(attrs[fd][0], text);
        if (rc == 0) {
            rc = PySys_SetObject(attrs[fd][1], text);
        }
        Py_DECREF(text);
        if (rc < 0) {
            goto error;
        }
    }
    Py_DECREF(textio);
    /* No path of the host's program (import recomputes the config's):
       the empty string is what sys.executable is when Python cannot
       tell. */
    PyObject *empty = Py_GetConstant(Py_CONSTANT_EMPTY_STR);
    if (PySys_SetObject("executable", empty) < 0
        || PySys_SetObject("_base_executable", empty) < 0)
    {
        return _PyStatus_ERR("cannot hide the host's executable from an "
                             "untrusted interpreter");
    }
    return _PyStatus_OK();

error:
    Py_XDECREF(textio);
    (void)tstate;
    return _PyStatus_ERR("cannot create the standard streams of an "
                         "untrusted interpreter");
}


int
_PySandbox_IsChild(PyInterpreterState *parent, PyInterpreterState *child)
{
    struct _PySandboxState *state = child->sandbox;
    return (state != NULL && _PySandbox_IsUntrusted(parent)
            && state->parent_id == PyInterpreterState_GetID(parent));
}


int
_PySandbox_CheckController(PyInterpreterState *interp, const char *func)
{
    PyInterpreterState *current = _PyInterpreterState_GET();
    if (_PySandbox_IsUntrusted(current)) {
        /* An untrusted interpreter controls the ones it created, and no
           other (not even itself). */
        if (interp == NULL || !_PySandbox_IsChild(current, interp)) {
            return _PySandbox_Deny("trusted", func);
        }
        return 0;
    }
    if (interp == NULL || !_PySandbox_IsUntrusted(interp)) {
        PyErr_Format(PyExc_ValueError, "%s: not an untrusted interpreter",
                     func);
        return -1;
    }
    return 0;
}


PyObject *
PySandbox_TakeOutput(PyInterpreterState *interp, int fd)
{
    if (_PySandbox_CheckController(interp, "PySandbox_TakeOutput") < 0) {
        return NULL;
    }
    if (fd != 1 && fd != 2) {
        PyErr_Format(PyExc_ValueError, "fd must be 1 or 2, not %d", fd);
        return NULL;
    }
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        PyErr_SetString(PyExc_ValueError, "not an untrusted interpreter");
        return NULL;
    }
    sandbox_output *out = &state->output[fd - 1];
    PyMutex_Lock(&out->mutex);
    PyObject *result = PyBytes_FromStringAndSize(out->data,
                                                 (Py_ssize_t)out->len);
    if (result != NULL) {
        out->len = 0;
    }
    PyMutex_Unlock(&out->mutex);
    return result;
}


static PyTypeObject *const sandbox_static_types[] = {
    &_PyExc_SandboxError,
    &_PyExc_SandboxLimitExceeded,
    &_PySandbox_StreamType,
    &_PySandbox_RemoteErrorType,
};


PyStatus
_PySandbox_InitTypes(PyInterpreterState *interp)
{
    if (_Py_IsMainInterpreter(interp)) {
        /* The bases are static types of Objects/exceptions.c, whose
           addresses are not constant expressions here. */
        _PyExc_SandboxError.tp_base = (PyTypeObject *)PyExc_PermissionError;
        _PyExc_SandboxLimitExceeded.tp_base =
            (PyTypeObject *)PyExc_BaseException;
        _PySandbox_RemoteErrorType.tp_base = (PyTypeObject *)PyExc_Exception;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(sandbox_static_types); i++) {
        if (_PyStaticType_InitBuiltin(interp, sandbox_static_types[i]) < 0) {
            return _PyStatus_ERR("failed to initialize a sandbox exception "
                                 "type");
        }
    }
    return _PyStatus_OK();
}


void
_PySandbox_FiniTypes(PyInterpreterState *interp)
{
    for (Py_ssize_t i = Py_ARRAY_LENGTH(sandbox_static_types) - 1;
         i >= 0; i--)
    {
        _PyStaticType_FiniBuiltin(interp, sandbox_static_types[i]);
    }
}


/* The denial log (DESIGN: "Queries and the denial log"; Tcl's
 * setLogCmd).  The denied code gets a generic SandboxError; the full
 * detail goes to a log in C state that the host reads directly. */

static void
clear_denial(sandbox_denial *entry)
{
    PyMem_RawFree(entry->resource);
    PyMem_RawFree(entry->detail);
    PyMem_RawFree(entry->location);
    memset(entry, 0, sizeof(*entry));
}

static char *
raw_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = PyMem_RawMalloc(n);
    if (copy != NULL) {
        memcpy(copy, s, n);
    }
    return copy;
}

/* "file:line" of the innermost Python frame of the current thread. */
static void
current_location(char *buf, size_t size)
{
    buf[0] = '\0';
    PyFrameObject *frame = PyEval_GetFrame();   /* borrowed */
    if (frame == NULL) {
        return;
    }
    PyCodeObject *code = PyFrame_GetCode(frame);
    const char *filename = PyUnicode_AsUTF8(code->co_filename);
    if (filename == NULL) {
        PyErr_Clear();
        filename = "?";
    }
    PyOS_snprintf(buf, size, "%s:%d", filename, PyFrame_GetLineNumber(frame));
    Py_DECREF(code);
}

static void
log_denial(struct _PySandboxState *state, const char *resource,
           const char *detail)
{
    char location[512];
    current_location(location, sizeof(location));
    PyTime_t now;
    if (PyTime_TimeRaw(&now) < 0) {
        now = 0;
    }
    /* If a copy fails, the entry keeps what could be copied: a denial is
       never lost for want of memory. */
    char *copies[3] = {raw_strdup(resource), raw_strdup(detail),
                       raw_strdup(location)};
    PyMutex_Lock(&state->log_mutex);
    sandbox_denial *entry =
        &state->log[state->denials % SANDBOX_DENIAL_LOG_SIZE];
    clear_denial(entry);
    entry->time = now;
    entry->resource = copies[0];
    entry->detail = copies[1];
    entry->location = copies[2];
    state->denials++;
    PyMutex_Unlock(&state->log_mutex);
}

int
_PySandbox_Deny(const char *resource, const char *detail)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    assert(interp->sandbox != NULL);
    log_denial(interp->sandbox, resource, detail);
    /* A convenience for the untrusted side's own audit hooks: the host's
       hooks do not see another interpreter's events, and untrusted code
       can forge them, so the log above is the record. */
    if (PySys_Audit("sandbox.denied", "ss", resource, detail) < 0) {
        PyErr_Clear();
    }
    PyObject *exc = PyObject_CallFunction(
        PyExc_SandboxError, "is", EACCES,
        "not allowed in an untrusted interpreter");
    if (exc != NULL) {
        PyErr_SetObject(PyExc_SandboxError, exc);
        Py_DECREF(exc);
    }
    return -1;
}


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
static int
fd_bit(const unsigned char *table, int fd)
{
    return (fd >= 0 && fd < _PySandbox_MAX_FD
            && (table[fd / CHAR_BIT] >> (fd % CHAR_BIT)) & 1);
}

static int
fd_is_owned(struct _PySandboxState *state, int fd)
{
    return fd_bit(state->fds, fd);
}

static void
set_fd_bit(unsigned char *table, int fd, int value)
{
    if (fd < 0 || fd >= _PySandbox_MAX_FD) {
        return;
    }
    unsigned char bit = (unsigned char)(1U << (fd % CHAR_BIT));
    if (value) {
        table[fd / CHAR_BIT] |= bit;
    }
    else {
        table[fd / CHAR_BIT] &= (unsigned char)~bit;
    }
}

/* Own, or forget, *fd*; either way it is not read-only until
   set_fd_readonly() says so. */
static void
set_fd_owned(struct _PySandboxState *state, int fd, int owned)
{
    set_fd_bit(state->fds, fd, owned);
    set_fd_bit(state->ro_fds, fd, 0);
}

static int
fd_is_readonly(struct _PySandboxState *state, int fd)
{
    return fd_bit(state->ro_fds, fd);
}

int
_PySandbox_CheckFdSlow(int fd, const char *func)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    /* A negative number is no descriptor: the system call fails (EBADF)
       as it does for a closed socket or file. */
    if (state == NULL || fd < 0 || fd_is_owned(state, fd)) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "%s on descriptor %d",
                  func != NULL ? func : "an operation", fd);
    return _PySandbox_Deny("descriptor", detail);
}

int
_PySandbox_OwnFdSlow(int fd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL || fd < 0) {
        return fd;
    }
    if (fd >= _PySandbox_MAX_FD) {
        /* Unusable: give it back rather than hold what cannot be used. */
        (void)close(fd);
        errno = EMFILE;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    set_fd_owned(state, fd, 1);
    return fd;
}

int
_PySandbox_OwnFdPairSlow(int fds[2])
{
    if (_PySandbox_OwnFdSlow(fds[0]) < 0) {
        (void)close(fds[1]);
        return -1;
    }
    if (_PySandbox_OwnFdSlow(fds[1]) < 0) {
        _PySandbox_ForgetFdSlow(fds[0]);
        (void)close(fds[0]);
        return -1;
    }
    return 0;
}

int
_PySandbox_ReleaseFdSlow(int fd, const char *func)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 0;
    }
    if (_PySandbox_CheckFdSlow(fd, func) < 0) {
        return -1;
    }
    set_fd_owned(state, fd, 0);
    return 0;
}

void
_PySandbox_ForgetFdSlow(int fd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state != NULL) {
        set_fd_owned(state, fd, 0);
    }
}

int
_PySandbox_CheckFdArraySlow(const void *data, Py_ssize_t count,
                            const char *func)
{
    /* No descriptor is passed in a message (SCM_RIGHTS) from an untrusted
       interpreter.  A check of the numbers here would race with the
       kernel's own reading of them in sendmsg(): another thread could
       swap the file behind a number in between (dup2() of a read-only
       grant's directory, a socket, or a number closed and reused by the
       host for its own file); and a descriptor in flight is out of the
       table's sight (a socket left in a queue that the end closes would
       close there, lingering).  Receiving stays possible (the host may
       pass one) and is recorded. */
    (void)data;
    if (count == 0) {
        return 0;
    }
    char detail[80];
    PyOS_snprintf(detail, sizeof(detail),
                  "%s: passing %zd descriptor(s) in a message", func, count);
    return _PySandbox_Deny("descriptor", detail);
}

#ifdef SCM_RIGHTS
void
_PySandbox_OwnReceivedFdsSlow(const struct msghdr *msg)
{
    if (msg->msg_controllen == 0) {
        return;
    }
    const char *end = (const char *)msg->msg_control + msg->msg_controllen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)msg, c))
    {
        /* A truncated message ends inside the buffer. */
        size_t len = Py_MIN((size_t)c->cmsg_len,
                            (size_t)(end - (const char *)c));
        if (len < CMSG_LEN(0)) {
            break;
        }
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        const char *data = (const char *)CMSG_DATA(c);
        len -= CMSG_LEN(0);
        for (size_t k = 0; k + sizeof(int) <= len; k += sizeof(int)) {
            int fd;
            memcpy(&fd, data + k, sizeof(int));
            if (_PySandbox_OwnFdSlow(fd) < 0) {
                PyErr_Clear();      /* one it could not own is closed */
            }
        }
    }
}
#endif

int
_PySandbox_CloseFdRange(int low, int high)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    assert(state != NULL);
    low = Py_MAX(low, 0);
    high = Py_MIN(high, _PySandbox_MAX_FD);
    for (int fd = low; fd < high; fd++) {
        if (fd_is_owned(state, fd)) {
            set_fd_owned(state, fd, 0);
            (void)close(fd);
        }
    }
    return 0;
}

/* The interpreter is gone: close what it left open (os.open() without
 * os.close()), so that its files do not stay open in the host. */
/* Make a close() of *fd* return at once: a socket's SO_LINGER, which
 * untrusted code may set to hours, would make it wait for unsent data
 * (the kernel still sends it, in the background).  Ignored for what is not
 * a socket. */
static void
no_linger(int fd)
{
#ifdef SO_LINGER
    struct linger off = {0, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
#endif
}

static void
close_owned_fds(struct _PySandboxState *state)
{
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (fd_is_owned(state, fd)) {
            no_linger(fd);
            (void)close(fd);
        }
    }
    memset(state->fds, 0, sizeof(state->fds));
    memset(state->ro_fds, 0, sizeof(state->ro_fds));
}


/* sys (the 2006 design's "Changing the Behaviour of the Interpreter"):
 * what is per-interpreter stays; the limits an untrusted interpreter's
 * code may change, it may lower, never raise above its policy's. */

int
_PySandbox_CheckRecursionLimitSlow(int new_limit)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    int limit = policy_recursion_limit(&state->policy);
    if (new_limit <= limit) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "sys.setrecursionlimit(%d) above "
                  "the policy's %d", new_limit, limit);
    return _PySandbox_Deny("sys", detail);
}

int
_PySandbox_CheckIntMaxStrDigitsSlow(int maxdigits)
{
    if (maxdigits > 0 && maxdigits <= _PY_LONG_DEFAULT_MAX_STR_DIGITS) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "sys.set_int_max_str_digits(%d) "
                  "above %d", maxdigits, _PY_LONG_DEFAULT_MAX_STR_DIGITS);
    return _PySandbox_Deny("sys", detail);
}


int
_PySandbox_CheckCodeReplaceSlow(
    PyCodeObject *self, int argcount, int posonlyargcount,
    int kwonlyargcount, int nlocals, int stacksize, int flags,
    PyObject *code, PyObject *consts, PyObject *names, PyObject *varnames,
    PyObject *freevars, PyObject *cellvars, PyObject *linetable,
    PyObject *exceptiontable)
{
    /* What the evaluator trusts: the bytecode and what it indexes (the
       constants, names, the frame's layout), the flags that shape the
       frame, and the tables it decodes without checks. */
    if (argcount == self->co_argcount
        && posonlyargcount == self->co_posonlyargcount
        && kwonlyargcount == self->co_kwonlyargcount
        && nlocals == self->co_nlocals
        && stacksize == self->co_stacksize
        && (flags & ~CO_ITERABLE_COROUTINE)
           == (self->co_flags & ~CO_ITERABLE_COROUTINE)
        && code == NULL && varnames == NULL && freevars == NULL
        && cellvars == NULL
        && consts == self->co_consts && names == self->co_names
        && linetable == self->co_linetable
        && exceptiontable == self->co_exceptiontable)
    {
        return 0;
    }
    return _PySandbox_Deny("bytecode", "code.replace of what the "
                           "evaluator trusts");
}


/* The state of untrusted interpreter *interp* for a query: a trusted
 * interpreter may read any, an untrusted one only its own.  NULL with an
 * exception set otherwise. */
static struct _PySandboxState *
readable_state(PyInterpreterState *interp, const char *func)
{
    PyInterpreterState *current = _PyInterpreterState_GET();
    if (interp != current && _PySandbox_IsUntrusted(current)
        && !_PySandbox_IsChild(current, interp))
    {
        (void)_PySandbox_Deny("trusted", func);
        return NULL;
    }
    if (interp->sandbox == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: not an untrusted interpreter",
                     func);
        return NULL;
    }
    return interp->sandbox;
}


PyObject *
PySandbox_GetDenials(PyInterpreterState *interp)
{
    struct _PySandboxState *state = readable_state(interp, "PySandbox_GetDenials");
    if (state == NULL) {
        return NULL;
    }
    /* Copy the entries under the lock, and make Python objects after:
       making them can run code (a finalizer) that is denied in turn. */
    sandbox_denial *copy = PyMem_RawCalloc(SANDBOX_DENIAL_LOG_SIZE,
                                           sizeof(*copy));
    if (copy == NULL) {
        return PyErr_NoMemory();
    }
    size_t n = 0;
    PyMutex_Lock(&state->log_mutex);
    uint64_t end = state->denials;
    uint64_t start = end > SANDBOX_DENIAL_LOG_SIZE
                     ? end - SANDBOX_DENIAL_LOG_SIZE : 0;
    for (uint64_t i = start; i < end; i++, n++) {
        sandbox_denial *entry = &state->log[i % SANDBOX_DENIAL_LOG_SIZE];
        copy[n].time = entry->time;
        copy[n].resource = entry->resource ? raw_strdup(entry->resource) : NULL;
        copy[n].detail = entry->detail ? raw_strdup(entry->detail) : NULL;
        copy[n].location = entry->location ? raw_strdup(entry->location) : NULL;
    }
    PyMutex_Unlock(&state->log_mutex);

    PyObject *result = PyList_New(0);
    for (size_t i = 0; result != NULL && i < n; i++) {
        PyObject *item = Py_BuildValue(
            "(dzzz)", PyTime_AsSecondsDouble(copy[i].time),
            copy[i].resource, copy[i].detail, copy[i].location);
        if (item == NULL || PyList_Append(result, item) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(item);
    }
    for (size_t i = 0; i < n; i++) {
        clear_denial(&copy[i]);
    }
    PyMem_RawFree(copy);
    return result;
}


/* Extended protections (the 2006 design's "Adding New Protections"):
 * one registry that later protections use for their policy too. */

static void
clear_ext_entry(ext_entry *entry)
{
    PyMem_RawFree(entry->group);
    PyMem_RawFree(entry->type);
    for (Py_ssize_t i = 0; i < entry->nmembers; i++) {
        PyMem_RawFree(entry->members[i]);
    }
    PyMem_RawFree(entry->members);
    PyMem_RawFree(entry->value);
    memset(entry, 0, sizeof(*entry));
}

static const char *const ext_kind_names[] = {
    NULL, "flag", "numeric cap", "membership", "value"};

/* Called with ext_mutex held. */
static ext_entry *
find_ext(struct _PySandboxState *state, const char *group, const char *type)
{
    for (Py_ssize_t i = 0; i < state->next; i++) {
        ext_entry *entry = &state->ext[i];
        if (strcmp(entry->group, group) == 0
            && strcmp(entry->type, type) == 0)
        {
            return entry;
        }
    }
    return NULL;
}

/* The checks every setter makes; return the target's state or NULL with
 * an exception set. */
static struct _PySandboxState *
ext_target(PyInterpreterState *interp, const char *group, const char *type,
           const char *func)
{
    if (_PySandbox_CheckTrusted(func) < 0) {
        return NULL;
    }
    if (group == NULL || type == NULL || *group == '\0' || *type == '\0') {
        PyErr_Format(PyExc_ValueError, "%s: empty group or type", func);
        return NULL;
    }
    if (strcmp(group, "Python") == 0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: the group \"Python\" is reserved for the core",
                     func);
        return NULL;
    }
    if (interp == NULL || interp->sandbox == NULL) {
        PyErr_Format(PyExc_ValueError,
                     "%s: not an untrusted interpreter", func);
        return NULL;
    }
    return interp->sandbox;
}

/* Find or add the entry (group, type) of *kind*, with ext_mutex held.
 * Return NULL with *error* set to a message (no exception: the mutex is
 * held). */
static ext_entry *
get_ext(struct _PySandboxState *state, const char *group, const char *type,
        ext_kind kind, const char **error)
{
    ext_entry *entry = find_ext(state, group, type);
    if (entry != NULL) {
        if (entry->kind != kind) {
            *error = "already set with another kind";
            return NULL;
        }
        return entry;
    }
    if (state->next == state->ext_allocated) {
        Py_ssize_t size = Py_MAX(state->ext_allocated * 2, 8);
        ext_entry *ext = PyMem_RawRealloc(state->ext, size * sizeof(*ext));
        if (ext == NULL) {
            *error = NULL;      /* no memory */
            return NULL;
        }
        state->ext = ext;
        state->ext_allocated = size;
    }
    entry = &state->ext[state->next];
    memset(entry, 0, sizeof(*entry));
    entry->group = raw_strdup(group);
    entry->type = raw_strdup(type);
    if (entry->group == NULL || entry->type == NULL) {
        clear_ext_entry(entry);
        *error = NULL;
        return NULL;
    }
    entry->kind = kind;
    state->next++;
    return entry;
}

/* The one setter behind the four public ones: set (group, type) of
 * *kind* on *interp*, with *cap* or a copy of *str*. */
static int
ext_set(PyInterpreterState *interp, const char *group, const char *type,
        ext_kind kind, Py_ssize_t cap, const char *str, const char *func)
{
    struct _PySandboxState *state = ext_target(interp, group, type, func);
    if (state == NULL) {
        return -1;
    }
    if (kind == EXT_CAP && cap < 0) {
        PyErr_Format(PyExc_ValueError, "%s: negative cap", func);
        return -1;
    }
    char *copy = NULL;
    if (kind == EXT_MEMBERSHIP || kind == EXT_VALUE) {
        if (str == NULL) {
            PyErr_Format(PyExc_ValueError, "%s: NULL string", func);
            return -1;
        }
        copy = raw_strdup(str);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    const char *error = "";
    PyMutex_Lock(&state->ext_mutex);
    ext_entry *entry = get_ext(state, group, type, kind, &error);
    if (entry != NULL) {
        switch (kind) {
        case EXT_TRUE:
            break;
        case EXT_CAP:
            entry->cap = cap;   /* what is used stays: a cap may be lowered */
            break;
        case EXT_MEMBERSHIP: {
            char **members = PyMem_RawRealloc(
                entry->members, (entry->nmembers + 1) * sizeof(char *));
            if (members == NULL) {
                entry = NULL;
                error = NULL;
                break;
            }
            entry->members = members;
            entry->members[entry->nmembers++] = copy;
            copy = NULL;
            break;
        }
        case EXT_VALUE:
            PyMem_RawFree(entry->value);
            entry->value = copy;
            copy = NULL;
            break;
        }
    }
    PyMutex_Unlock(&state->ext_mutex);
    PyMem_RawFree(copy);
    if (entry == NULL) {
        if (error == NULL) {
            PyErr_NoMemory();
        }
        else {
            PyErr_Format(PyExc_ValueError, "%s: %s.%s is %s (as a %s)", func,
                         group, type, error, ext_kind_names[kind]);
        }
        return -1;
    }
    return 0;
}

int
PySandbox_ExtendedSetTrue(PyInterpreterState *interp, const char *group,
                          const char *type)
{
    return ext_set(interp, group, type, EXT_TRUE, 0, NULL,
                   "PySandbox_ExtendedSetTrue");
}

int
PySandbox_ExtendedValueCap(PyInterpreterState *interp, const char *group,
                           const char *type, Py_ssize_t cap)
{
    return ext_set(interp, group, type, EXT_CAP, cap, NULL,
                   "PySandbox_ExtendedValueCap");
}

int
PySandbox_ExtendedAddMembership(PyInterpreterState *interp,
                                const char *group, const char *type,
                                const char *member)
{
    return ext_set(interp, group, type, EXT_MEMBERSHIP, 0, member,
                   "PySandbox_ExtendedAddMembership");
}

int
PySandbox_ExtendedSetValue(PyInterpreterState *interp, const char *group,
                           const char *type, const char *value)
{
    return ext_set(interp, group, type, EXT_VALUE, 0, value,
                   "PySandbox_ExtendedSetValue");
}

/* The checks.  Each one decides with the mutex held and denies after. */

static int
ext_deny(const char *group, const char *type, const char *fmt, ...)
{
    char resource[256], detail[512];
    PyOS_snprintf(resource, sizeof(resource), "%s.%s", group, type);
    va_list vargs;
    va_start(vargs, fmt);
    PyOS_vsnprintf(detail, sizeof(detail), fmt, vargs);
    va_end(vargs);
    return _PySandbox_Deny(resource, detail);
}

/* The one check behind the five public ones: in an untrusted interpreter,
 * decide with the mutex held whether (group, type) of *kind* allows the
 * operation (*n* for a cap, *str* for a member or value), apply it to a
 * cap, and deny after letting the mutex go. */
static int
ext_check(const char *group, const char *type, ext_kind kind,
          Py_ssize_t n, const char *str)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 0;   /* trusted */
    }
    int ok = 0;
    Py_ssize_t used = -1, cap = -1;
    PyMutex_Lock(&state->ext_mutex);
    ext_entry *entry = find_ext(state, group, type);
    if (entry != NULL && entry->kind == kind) {
        switch (kind) {
        case EXT_TRUE:
            ok = 1;
            break;
        case EXT_CAP:
            used = entry->used;
            cap = entry->cap;
            if (n >= 0 && n <= cap - used) {        /* alloc */
                entry->used += n;
                ok = 1;
            }
            else if (n < 0 && -n <= used) {          /* free */
                entry->used += n;
                ok = 1;
            }
            break;
        case EXT_MEMBERSHIP:
            for (Py_ssize_t i = 0; !ok && str && i < entry->nmembers; i++) {
                ok = (strcmp(entry->members[i], str) == 0);
            }
            break;
        case EXT_VALUE:
            ok = (str != NULL && strcmp(entry->value, str) == 0);
            break;
        }
    }
    PyMutex_Unlock(&state->ext_mutex);
    if (ok) {
        return 0;
    }
    const char *shown = str != NULL ? str : "(NULL)";
    switch (kind) {
    case EXT_TRUE:
        return ext_deny(group, type, "not set true");
    case EXT_CAP:
        if (n < 0) {
            return ext_deny(group, type, "free %zd: %zd used", -n, used);
        }
        if (cap < 0) {
            return ext_deny(group, type, "no cap set (alloc %zd)", n);
        }
        return ext_deny(group, type, "alloc %zd: %zd of %zd used", n, used,
                        cap);
    case EXT_MEMBERSHIP:
        return ext_deny(group, type, "not a member: %.200s", shown);
    case EXT_VALUE:
        return ext_deny(group, type, "not the value: %.200s", shown);
    }
    Py_UNREACHABLE();
}

int
_PySandbox_ExtendedCheckTrue(const char *group, const char *type)
{
    return ext_check(group, type, EXT_TRUE, 0, NULL);
}

int
_PySandbox_ExtendedValueAlloc(const char *group, const char *type,
                              Py_ssize_t increase)
{
    if (increase < 0 && _PyInterpreterState_GET()->sandbox != NULL) {
        return ext_deny(group, type, "alloc of a negative amount");
    }
    return ext_check(group, type, EXT_CAP, increase, NULL);
}

int
_PySandbox_ExtendedValueFree(const char *group, const char *type,
                             Py_ssize_t decrease)
{
    if (decrease < 0 && _PyInterpreterState_GET()->sandbox != NULL) {
        return ext_deny(group, type, "free of a negative amount");
    }
    return ext_check(group, type, EXT_CAP, -decrease, NULL);
}

int
_PySandbox_ExtendedCheckMembership(const char *group, const char *type,
                                   const char *member)
{
    return ext_check(group, type, EXT_MEMBERSHIP, 0, member);
}

int
_PySandbox_ExtendedCheckValue(const char *group, const char *type,
                              const char *value)
{
    return ext_check(group, type, EXT_VALUE, 0, value);
}

/* A snapshot of one entry, made with the mutex held: Python objects are
 * built after it is released. */
static PyObject *
ext_entry_value(const ext_entry *entry)
{
    switch (entry->kind) {
    case EXT_TRUE:
        Py_RETURN_TRUE;
    case EXT_CAP:
        return Py_BuildValue("(nn)", entry->used, entry->cap);
    case EXT_MEMBERSHIP: {
        PyObject *members = PyFrozenSet_New(NULL);
        for (Py_ssize_t i = 0; members != NULL && i < entry->nmembers; i++) {
            PyObject *s = PyUnicode_FromString(entry->members[i]);
            if (s == NULL || PySet_Add(members, s) < 0) {
                Py_CLEAR(members);
            }
            Py_XDECREF(s);
        }
        return members;
    }
    case EXT_VALUE:
        return PyUnicode_FromString(entry->value);
    }
    Py_UNREACHABLE();
}

PyObject *
PySandbox_ExtendedQuery(PyInterpreterState *interp)
{
    struct _PySandboxState *state = readable_state(interp, "PySandbox_ExtendedQuery");
    if (state == NULL) {
        return NULL;
    }
    /* Copy under the lock (raw memory only), build objects after. */
    PyMutex_Lock(&state->ext_mutex);
    Py_ssize_t n = state->next;
    ext_entry *copy = PyMem_RawCalloc(n > 0 ? n : 1, sizeof(*copy));
    int nomem = (copy == NULL);
    for (Py_ssize_t i = 0; !nomem && i < n; i++) {
        const ext_entry *e = &state->ext[i];
        copy[i].kind = e->kind;
        copy[i].cap = e->cap;
        copy[i].used = e->used;
        copy[i].group = raw_strdup(e->group);
        copy[i].type = raw_strdup(e->type);
        nomem = (copy[i].group == NULL || copy[i].type == NULL);
        if (!nomem && e->value != NULL) {
            copy[i].value = raw_strdup(e->value);
            nomem = (copy[i].value == NULL);
        }
        if (!nomem && e->nmembers > 0) {
            copy[i].members = PyMem_RawCalloc(e->nmembers, sizeof(char *));
            nomem = (copy[i].members == NULL);
            for (Py_ssize_t j = 0; !nomem && j < e->nmembers; j++) {
                copy[i].members[j] = raw_strdup(e->members[j]);
                copy[i].nmembers = j + 1;
                nomem = (copy[i].members[j] == NULL);
            }
        }
    }
    PyMutex_Unlock(&state->ext_mutex);

    PyObject *result = nomem ? PyErr_NoMemory() : PyDict_New();
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *key = Py_BuildValue("(ss)", copy[i].group, copy[i].type);
        PyObject *value = key ? ext_entry_value(&copy[i]) : NULL;
        if (value == NULL || PyDict_SetItem(result, key, value) < 0) {
            Py_CLEAR(result);
        }
        Py_XDECREF(key);
        Py_XDECREF(value);
    }
    if (copy != NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            clear_ext_entry(&copy[i]);
        }
        PyMem_RawFree(copy);
    }
    return result;
}


/* Policies */

PySandboxPolicy *
PySandboxPolicy_New(void)
{
    PySandboxPolicy *policy = PyMem_RawCalloc(1, sizeof(*policy));
    if (policy == NULL) {
        PyErr_NoMemory();
    }
    return policy;
}


static void
free_strings(char **list, Py_ssize_t n)
{
    if (list == NULL) {
        return;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyMem_RawFree(list[i]);
    }
    PyMem_RawFree(list);
}

/* A raw-allocated copy of *n* strings, or NULL (and *n* 0: an empty list
 * is NULL too). */
static int
copy_strings(char *const *src, Py_ssize_t n, char ***dest)
{
    *dest = NULL;
    if (n == 0) {
        return 0;
    }
    char **list = PyMem_RawCalloc((size_t)n, sizeof(char *));
    if (list == NULL) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        list[i] = raw_strdup(src[i]);
        if (list[i] == NULL) {
            free_strings(list, i);
            return -1;
        }
    }
    *dest = list;
    return 0;
}

static int
in_list(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(list[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
policy_lists(char *const *list, Py_ssize_t n, const char *name)
{
    return in_list((const char *const *)list, (size_t)n, name);
}

/* Append *entry* (raw-allocated; taken, freed on failure) to *list*.
 * Return 0, or -1 with MemoryError set. */
static int
push_string(char ***list, Py_ssize_t *n, char *entry)
{
    char **grown = entry == NULL ? NULL
        : PyMem_RawRealloc(*list, (size_t)(*n + 1) * sizeof(char *));
    if (grown == NULL) {
        PyMem_RawFree(entry);
        PyErr_NoMemory();
        return -1;
    }
    grown[(*n)++] = entry;
    *list = grown;
    return 0;
}

/* Add a copy of *name* to *list* unless it is there.  0 or -1. */
static int
add_name(char ***list, Py_ssize_t *n, const char *name)
{
    if (policy_lists(*list, *n, name)) {
        return 0;
    }
    return push_string(list, n, raw_strdup(name));
}

static int
remove_name(char **list, Py_ssize_t *n, const char *name)
{
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (strcmp(list[i], name) == 0) {
            PyMem_RawFree(list[i]);
            list[i] = list[--(*n)];
            return 1;
        }
    }
    return 0;
}

/* The value of the "name=value" entry of *list* for *name*, or NULL. */
static const char *
find_value(char *const *list, Py_ssize_t n, const char *name)
{
    size_t len = strlen(name);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (strncmp(list[i], name, len) == 0 && list[i][len] == '=') {
            return list[i] + len + 1;
        }
    }
    return NULL;
}

void
PySandboxPolicy_Free(PySandboxPolicy *policy)
{
    if (policy != NULL) {
        free_strings(policy->env, policy->n_env);
        free_strings(policy->environ, policy->n_environ);
        free_strings(policy->modules, policy->n_modules);
        free_strings(policy->blocked, policy->n_blocked);
        free_strings(policy->module_files, policy->n_module_files);
        free_strings(policy->paths, policy->n_paths);
    }
    PyMem_RawFree(policy);
}


int
PySandboxPolicy_SetMaxThreads(PySandboxPolicy *policy, Py_ssize_t n)
{
    if (policy == NULL || n < 0) {
        PyErr_Format(PyExc_ValueError,
                     "PySandboxPolicy_SetMaxThreads: %s",
                     policy == NULL ? "policy is NULL"
                                    : "the count cannot be negative");
        return -1;
    }
    policy->max_threads = n;
    return 0;
}

int
PySandboxPolicy_AllowEnv(PySandboxPolicy *policy, const char *name)
{
    if (policy == NULL || name == NULL || name[0] == '\0'
        || strchr(name, '=') != NULL)
    {
        PyErr_Format(PyExc_ValueError, "PySandboxPolicy_AllowEnv: %s",
                     policy == NULL ? "policy is NULL"
                     : "the name must be a non-empty string without '='");
        return -1;
    }
    return add_name(&policy->env, &policy->n_env, name);
}

int
PySandboxPolicy_SetRecursionLimit(PySandboxPolicy *policy, int limit)
{
    if (policy == NULL || limit < 1 || limit > SANDBOX_MAX_RECURSION_LIMIT) {
        PyErr_Format(PyExc_ValueError,
                     "PySandboxPolicy_SetRecursionLimit: %s",
                     policy == NULL ? "policy is NULL"
                                    : "the limit must be from 1 to 1000000");
        return -1;
    }
    policy->recursion_limit = limit;
    return 0;
}


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

#include <fcntl.h>                // O_PATH
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

/* Where importlib looks for bytecode (restrict_config()): never there. */
#define SANDBOX_NO_BYTECODE_CACHE "/sandbox/no-bytecode-cache"

typedef struct sandbox_grant {
    char *root;         /* the path as granted, absolute, without "." parts,
                           duplicate or final slashes */
    int fd;             /* O_PATH: the directory, or the file's directory */
    char *name;         /* a file: its name in fd; NULL for a directory */
    int access;         /* PySandbox_READ, or with PySandbox_WRITE */
    int host_links;     /* the standard library's: its symbolic links are
                           the host's, followed wherever they lead */
} sandbox_grant;

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
clear_grants(sandbox_grant *grants, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (grants[i].fd >= 0) {
            (void)close(grants[i].fd);
        }
        PyMem_RawFree(grants[i].root);
        PyMem_RawFree(grants[i].name);
    }
    PyMem_RawFree(grants);
}

/* Skip slashes and "." components. */
static const char *
skip_separators(const char *p)
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
static const char *
path_beneath(const char *path, const char *root)
{
    const char *p = path, *r = root;
    for (;;) {
        p = skip_separators(p);
        r = skip_separators(r);
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
static char *
normalized_path(const char *path, int dotdot)
{
    size_t size = strlen(path) + 2;
    char *out = PyMem_RawMalloc(size);
    if (out == NULL) {
        return NULL;
    }
    size_t len = 0;
    const char *p = path;
    for (;;) {
        p = skip_separators(p);
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
static char *
absolute_path(struct _PySandboxState *state, const char *path)
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
    char *normal = normalized_path(path, 1);
    size_t len = normal != NULL ? strlen(normal) : 0;
    if (normal != NULL && len > 1 && path[strlen(path) - 1] == '/') {
        normal[len] = '/';          /* "dir/" must be a directory */
        normal[len + 1] = '\0';
    }
    PyMem_RawFree(joined);
    return normal;
}

#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
/* openat2() with *resolve*, retried on EINTR and EAGAIN. */
static int
openat2_retry(int dirfd, const char *path, int flags, int mode,
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
    char *copy = raw_strdup(path);
    if (copy == NULL) {
        errno = ENOMEM;
        return -1;
    }
    char *slash = strrchr(copy, '/');
    const char *leaf = slash != NULL ? slash + 1 : copy;
    if (slash != NULL) {
        *slash = '\0';
    }
    int parent = openat2_retry(dirfd, slash == NULL ? "." : copy,
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
            int d = openat2_retry(parent, dir_end == NULL ? "."
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
            fd = openat2_retry(parent, target, flags, mode,
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
#endif

/* openat2() beneath *dirfd*, no magic links, symbolic links as *links*
 * says.  Return the descriptor, or -1 with errno set: EXDEV when the path
 * leaves *dirfd*. */
static int
open_beneath(struct _PySandboxState *state, int dirfd, const char *path,
             int flags, int mode, int links)
{
#if defined(SYS_openat2) && defined(RESOLVE_BENEATH)
    int fd = openat2_retry(dirfd, path, flags, mode,
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

static int resolve_entry(struct _PySandboxState *state, const char *path,
                         int dir_fd, int access, int *pfd, char **owned);

/* Open the grant of *path* for *access*: *resolver*, if not NULL, is the
 * untrusted creator's state, beneath whose grants the path must resolve;
 * otherwise the creator is trusted and the path is opened as it is.
 * Return 0, or -1 with errno set (nothing allocated). */
static int
open_grant(sandbox_grant *grant, const char *path, int access,
           struct _PySandboxState *resolver)
{
    memset(grant, 0, sizeof(*grant));
    grant->fd = -1;
    grant->access = access;
    grant->root = normalized_path(path, 0);
    if (grant->root == NULL) {
        errno = ENOMEM;
        return -1;
    }
    const char *root = grant->root;
    const char *slash = strrchr(root, '/');
    const char *leaf = root[1] == '\0' ? "." : slash + 1;
    int parent = -1;
    char *owned_leaf = NULL;
    if (resolver == NULL) {
        char *dir = raw_strdup(root);
        if (dir == NULL) {
            errno = ENOMEM;
            goto error;
        }
        dir[slash == root ? 1 : slash - root] = '\0';
        parent = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        PyMem_RawFree(dir);
    }
    else {
        if (resolve_entry(resolver, root, AT_FDCWD, access, &parent,
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
    if (fd >= 0) {
        grant->fd = fd;
    }
    else if (errno == ENOTDIR || errno == ENOENT || errno == ELOOP) {
        /* A file, or one that may be created: that name, in that
           directory. */
        grant->name = raw_strdup(leaf);
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
    return 0;

error:;
    int saved = errno;
    if (parent >= 0) {
        (void)close(parent);
    }
    PyMem_RawFree(owned_leaf);
    PyMem_RawFree(grant->root);
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
        const char *r = path_beneath(path, grant->root);
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

/* Where *path* (relative to *dir_fd*, AT_FDCWD for the virtual working
 * directory) is: a descriptor to resolve beneath, *base*, and the path
 * below it, *rest* (pointing into *path* or *joined*, which the caller
 * frees with PyMem_RawFree).  Return 0; or 1 when the path is outside every
 * grant for *access* (*base* is -1); or -1 with MemoryError set. */
static int
locate(struct _PySandboxState *state, const char *path, int dir_fd,
       int access, int *base, const char **rest, int *readonly,
       const sandbox_grant **grant, char **joined)
{
    *joined = NULL;
    *grant = NULL;
    *base = -1;
    if (path[0] != '/' && dir_fd != AT_FDCWD) {
        /* Beneath a directory descriptor it owns and opened beneath a
           grant (anything else is no directory to resolve in). */
        if (!fd_is_owned(state, dir_fd)
            || (fd_is_readonly(state, dir_fd) && (access & PySandbox_WRITE)))
        {
            return 1;
        }
        *base = dir_fd;
        *rest = path;
        *readonly = fd_is_readonly(state, dir_fd);
        return 0;
    }
    path = *joined = absolute_path(state, path);
    if (path == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* The kernel's, whatever is mounted there and whatever is granted
       (on_kernel_filesystem() checks the file system it ends on). */
    if (path_beneath(path, "/proc") != NULL
        || path_beneath(path, "/sys") != NULL)
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
 * locate(), with its *grant* or NULL): *pfd*, a new O_PATH descriptor of
 * its directory, and its name there, *owned* (raw-allocated: the caller
 * frees it).  Return 0; or, with *by_name*, 1 and nothing opened when the
 * entry is a directory by its name ("", "." or ".."); or -1 with errno set
 * (EXDEV for a path that leaves its grant) and no exception. */
static int
open_entry(struct _PySandboxState *state, int base, const char *rest,
           const sandbox_grant *grant, int by_name, int *pfd, char **owned)
{
    *pfd = -1;
    *owned = NULL;
    if (grant != NULL && grant->name != NULL) {
        *pfd = fcntl(base, F_DUPFD_CLOEXEC, 0);
        *owned = raw_strdup(grant->name);
    }
    else {
        /* Split the rest at its last component. */
        char *copy = raw_strdup(*rest != '\0' ? rest : ".");
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
        *owned = raw_strdup(leaf);
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
resolve_entry(struct _PySandboxState *state, const char *path, int dir_fd,
              int access, int *pfd, char **owned)
{
    int base, readonly;
    const char *rest;
    const sandbox_grant *grant;
    char *joined;
    *pfd = -1;
    *owned = NULL;
    int rc = locate(state, path, dir_fd, access, &base, &rest, &readonly,
                    &grant, &joined);
    if (rc == 0) {
        rc = open_entry(state, base, rest, grant, 0, pfd, owned);
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

/* Is *fd* on a file system that is the kernel's, not files: /proc (whose
 * /proc/self/mem is every tenant's memory), /sys, the pseudo-terminals
 * (the host's terminal), cgroups, bpf...?  Nothing there is granted, even
 * beneath a granted directory ("/"). */
static int
on_kernel_filesystem(int fd)
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
#endif
    return 0;
}

/* May a descriptor opened on this file be used?  Not a device node other
 * than the harmless ones (/dev/null, zero, full, random, urandom): a
 * granted directory may hold the host's disks or terminals. */
static int
is_forbidden_device_stat(const struct stat *st)
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
#endif
    return 1;
}

static int
is_forbidden_device(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 || is_forbidden_device_stat(&st);
}

static int fd_beneath(int fd, int outer);

/* May the standard library's links lead to the file of *fd*?  Not into
 * anything the interpreter or an untrusted creator of it may write (the
 * build tree's links lead to ../../Modules, which a policy could grant for
 * writing: its extension modules would then be the tenant's code). */
static int
host_target_allowed(struct _PySandboxState *state, int fd)
{
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        const sandbox_grant *grant = &state->grants[i];
        if ((grant->access & PySandbox_WRITE) && fd_beneath(fd, grant->fd)) {
            return 0;
        }
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        if (fd_beneath(fd, state->write_roots[i])) {
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
    const char *original;   /* the path as given, in *keep* */
    PyObject *keep;
    char path[64];          /* "/proc/self/fd/N" or "/proc/self/fd/N/name" */
    char *long_path;        /* the same, when it does not fit */
} resolved_path;

#define RESOLVED_PATH_CAPSULE "_sandbox.resolved_path"

/* The engine now holds descriptor *fd* for a resolved path. */
static void
hold_internal_fd(struct _PySandboxState *state, int fd)
{
    set_fd_bit(state->internal_fds, fd, 1);
}

/* ... and no longer: close it, if the interpreter still has it (its end
   closes those of objects it never freed). */
static void
release_internal_fd(int fd)
{
    if (fd < 0) {
        return;
    }
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (fd >= _PySandbox_MAX_FD) {
        (void)close(fd);
    }
    else if (state != NULL && fd_bit(state->internal_fds, fd)) {
        set_fd_bit(state->internal_fds, fd, 0);
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
    if (!fd_is_readonly(state, fd)) {
        return 0;
    }
    char detail[40];
    PyOS_snprintf(detail, sizeof(detail), "descriptor %d", fd);
    return deny_path(func, detail, PySandbox_WRITE);
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
    if (path_beneath(given, SANDBOX_NO_BYTECODE_CACHE) != NULL) {
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
    const char *rest;
    const sandbox_grant *grant;
    char *joined = NULL;        /* what *rest* points into, until the end */
    int rc = locate(state, given, dir_fd, access, &base, &rest, &readonly,
                    &grant, &joined);
    if (rc != 0) {
        if (rc > 0) {
            (void)deny_path(func, given, how);
        }
        goto error;
    }
    char *owned = NULL;
    if (entry) {
        rc = open_entry(state, base, rest, grant, 1, &r->fd, &owned);
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
    hold_internal_fd(state, r->fd);
    if (on_kernel_filesystem(r->fd)) {
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
check_device(const char *path, const char *given)
{
    struct stat st;
    if (stat(path, &st) == 0 && is_forbidden_device_stat(&st)) {
        return deny_path("open", given, PySandbox_READ);
    }
    return 0;
}

/* An open with O_NOFOLLOW of the resolved entry *path*
 * ("/proc/self/fd/P/name"): pin the entry with O_PATH, check it (no link,
 * no device), then open that very file through "/proc/self/fd/T".  A
 * missing entry to create is created exclusively.  0, or -1 with an
 * exception set. */
static int
pin_entry(const char **path, int *flags, PyObject *display, PyObject *keep,
          const char *given)
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
    hold_internal_fd(_PyInterpreterState_GET()->sandbox, t);
    r->pinned = t;
    if (S_ISLNK(st.st_mode)) {
        errno = ELOOP;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, display);
        return -1;
    }
    if (is_forbidden_device_stat(&st)) {
        return deny_path("open", given, PySandbox_READ);
    }
    PyOS_snprintf(r->path, sizeof(r->path), "/proc/self/fd/%d", t);
    *path = r->path;
    *flags &= ~O_NOFOLLOW;          /* through the descriptor's link */
    return 0;
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
        return pin_entry(path, flags, display, *keep, given);
    }
    const char *resolved = *path;
    if (_PySandbox_ResolvePathSlow(&resolved, -1, dir_fd, how, display,
                                   "open", keep) == 0)
    {
        *path = resolved;
        return check_device(*path, given);
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
    if (state != NULL && fd >= 0 && is_forbidden_device(fd)) {
        (void)close(fd);
        return deny_path("open", r != NULL && r->original != NULL
                                 ? r->original : "a device node",
                         PySandbox_READ);
    }
    if (_PySandbox_OwnFdSlow(fd) < 0) {
        return -1;
    }
    if (state != NULL && fd >= 0 && r != NULL && r->readonly) {
        set_fd_bit(state->ro_fds, fd, 1);
    }
    return fd;
}

int
_PySandbox_OwnDupFdSlow(int newfd, int oldfd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    int readonly = state != NULL && fd_is_readonly(state, oldfd);
    if (_PySandbox_OwnFdSlow(newfd) < 0) {
        return -1;
    }
    if (state != NULL && newfd >= 0) {
        set_fd_bit(state->ro_fds, newfd, readonly);
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
    if (_PySandbox_CheckFdSlow(fd, func) < 0) {
        return -1;
    }
    return check_fd_writable(state, fd, func);
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
    char *cwd = absolute_path(state, path);
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
add_grant(struct _PySandboxState *state, const char *path, int access)
{
    sandbox_grant grant;
    if (open_grant(&grant, path, access, NULL) < 0) {
        return -1;
    }
    sandbox_grant *grown = PyMem_RawRealloc(
        state->grants, (size_t)(state->n_grants + 1) * sizeof(grant));
    if (grown == NULL) {
        (void)close(grant.fd);
        PyMem_RawFree(grant.root);
        PyMem_RawFree(grant.name);
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

/* Is the directory of descriptor *fd* the one of *outer*, or beneath it?
 * By their inodes, walking up through ".." (whatever names lead there).
 * 1 when it cannot tell. */
static int
fd_beneath(int fd, int outer)
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
            && (fd_beneath(other->fd, grant->fd)
                || fd_beneath(grant->fd, other->fd)))
        {
            return 0;
        }
    }
    if (policy->creator_grants != NULL) {
        for (Py_ssize_t i = 0; i < policy->n_creator_grants; i++) {
            const sandbox_grant *c = &policy->creator_grants[i];
            if (c->host_links && strcmp(c->root, grant->root) == 0) {
                return 1;
            }
        }
        return 0;
    }
    return 1;
}

static PyStatus
init_files(struct _PySandboxState *state, const PySandboxPolicy *policy,
           const PyConfig *config)
{
    if (policy->opened != NULL) {
        state->grants = PyMem_RawCalloc((size_t)policy->n_opened + 1,
                                        sizeof(sandbox_grant));
        if (state->grants == NULL) {
            return _PyStatus_NO_MEMORY();
        }
        for (Py_ssize_t i = 0; i < policy->n_opened; i++) {
            const sandbox_grant *from = &policy->opened[i];
            sandbox_grant *to = &state->grants[state->n_grants];
            to->fd = fcntl(from->fd, F_DUPFD_CLOEXEC, 0);
            to->root = raw_strdup(from->root);
            to->name = from->name != NULL ? raw_strdup(from->name) : NULL;
            to->access = from->access;
            to->host_links = from->host_links;
            state->n_grants++;
            if (to->fd < 0 || to->root == NULL
                || (from->name != NULL && to->name == NULL))
            {
                return _PyStatus_ERR("cannot copy the file grants of an "
                                     "untrusted interpreter");
            }
        }
    }
    else {
        for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
            const char *entry = policy->paths[i];
            int access = entry[0] == 'w' ? PySandbox_READ | PySandbox_WRITE
                                         : PySandbox_READ;
            if (add_grant(state, entry + 1, access) < 0) {
                static _Py_thread_local char message[300];
                PyOS_snprintf(message, sizeof(message),
                              "%s: %.200s: %s",
                              entry[0] == 'w' ? "write" : "read",
                              entry + 1, strerror(errno));
                return _PyStatus_ERR(message);
            }
        }
    }
    /* Its imports read the standard library; nothing else of the host. */
    Py_ssize_t n_explicit = state->n_grants;
    for (Py_ssize_t i = 0; i < config->module_search_paths.length; i++) {
        char *path = _Py_EncodeLocaleRaw(
            config->module_search_paths.items[i], NULL);
        if (path == NULL) {
            return _PyStatus_NO_MEMORY();
        }
        struct stat st;
        if (path[0] == '/' && stat(path, &st) == 0
            && add_grant(state, path, PySandbox_READ) < 0)
        {
            PyMem_RawFree(path);
            return _PyStatus_ERR("cannot open the standard library for an "
                                 "untrusted interpreter");
        }
        PyMem_RawFree(path);
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(public_directories); i++) {
        struct stat st;
        if (stat(public_directories[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            (void)add_grant(state, public_directories[i], PySandbox_READ);
        }
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
    return _PyStatus_OK();
}

/* The working directory a new interpreter starts in: its creator's. */
static char *
creator_cwd(const struct _PySandboxState *creator_state)
{
    if (creator_state != NULL) {
        return raw_strdup(creator_state->cwd);
    }
    char buf[MAXPATHLEN + 1];
    if (getcwd(buf, sizeof(buf)) == NULL) {
        return raw_strdup("/");
    }
    return raw_strdup(buf);
}

/* Open the grants of *policy* beneath those of its untrusted creator
 * (PySandbox_NewInterpreter()).  Return 0, or -1 with a denial set. */
static int
open_nested_grants(PySandboxPolicy *policy,
                   struct _PySandboxState *creator_state)
{
    policy->opened = NULL;
    policy->n_opened = 0;
    sandbox_grant *grants = PyMem_RawCalloc((size_t)policy->n_paths + 1,
                                            sizeof(sandbox_grant));
    if (grants == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const char *entry = policy->paths[i];
        int access = entry[0] == 'w' ? PySandbox_READ | PySandbox_WRITE
                                     : PySandbox_READ;
        if (open_grant(&grants[i], entry + 1, access, creator_state) < 0) {
            clear_grants(grants, i);
            char detail[300];
            PyOS_snprintf(detail, sizeof(detail),
                          "a nested policy grants %.200s, not beneath the "
                          "creator's grants", entry + 1);
            return _PySandbox_Deny("interpreter", detail);
        }
    }
    policy->opened = grants;
    policy->n_opened = policy->n_paths;
    return 0;
}

/* Is every path that *policy* grants beneath one that *outer* grants with
 * the same access or more?  (By the name; PySandbox_NewInterpreter() then
 * opens them beneath the creator's, which symbolic links cannot leave.) */
static int
paths_within(const PySandboxPolicy *policy, const PySandboxPolicy *outer)
{
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        const char *entry = policy->paths[i];
        int found = 0;
        for (Py_ssize_t j = 0; !found && j < outer->n_paths; j++) {
            const char *o = outer->paths[j];
            found = (entry[0] == 'r' || o[0] == 'w')
                    && path_beneath(entry + 1, o + 1) != NULL;
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

int
PySandboxPolicy_AllowPath(PySandboxPolicy *policy, const char *path,
                          int access)
{
    const char *error = NULL;
    if (policy == NULL) {
        error = "policy is NULL";
    }
    else if (path == NULL || path[0] != '/') {
        error = "the path must be absolute";
    }
    else if (access != PySandbox_READ
             && access != (PySandbox_READ | PySandbox_WRITE)
             && access != PySandbox_WRITE)
    {
        error = "access must be PySandbox_READ or PySandbox_WRITE";
    }
    else {
        for (const char *p = path; *p != '\0'; p += strcspn(p, "/")) {
            p = skip_separators(p);
            if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0')) {
                error = "the path cannot contain '..'";
                break;
            }
        }
    }
    if (error != NULL) {
        PyErr_Format(PyExc_ValueError, "PySandboxPolicy_AllowPath: %s",
                     error);
        return -1;
    }
    char *normal = normalized_path(path, 0);
    if (normal == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t size = strlen(normal) + 2;
    char *entry = PyMem_RawMalloc(size);
    if (entry != NULL) {
        PyOS_snprintf(entry, size, "%c%s",
                      (access & PySandbox_WRITE) ? 'w' : 'r', normal);
    }
    PyMem_RawFree(normal);
    if (entry != NULL && policy_lists(policy->paths, policy->n_paths, entry)) {
        PyMem_RawFree(entry);
        return 0;
    }
    return push_string(&policy->paths, &policy->n_paths, entry);
}


/* Creation (DESIGN: "Decisions fixed now"; the 2006 design's
 * PyXXX_NewInterpreter) */

/* An untrusted interpreter is an isolated one, and more. */
static PyStatus
check_isolated(const PyInterpreterConfig *config)
{
    if (config->use_main_obmalloc) {
        return _PyStatus_ERR("an untrusted interpreter needs its own object "
                             "allocator (use_main_obmalloc = 0)");
    }
    if (config->gil != PyInterpreterConfig_OWN_GIL) {
        return _PyStatus_ERR("an untrusted interpreter needs its own GIL");
    }
    if (config->allow_fork || config->allow_exec) {
        return _PyStatus_ERR("an untrusted interpreter cannot allow fork or "
                             "exec");
    }
    if (!config->check_multi_interp_extensions) {
        return _PyStatus_ERR("an untrusted interpreter cannot load "
                             "single-phase init extension modules");
    }
    return _PyStatus_OK();
}


static int
uses_pymalloc(void)
{
    const char *name = _PyMem_GetCurrentAllocatorName();
    return name != NULL && (strcmp(name, "pymalloc") == 0
                            || strcmp(name, "pymalloc_debug") == 0);
}


/* Remove from *list* the entries of the colon-separated *remove*. */
static PyStatus
remove_path_entries(PyWideStringList *list, const wchar_t *remove)
{
    if (remove == NULL || *remove == L'\0') {
        return _PyStatus_OK();
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < list->length; i++) {
        wchar_t *item = list->items[i];
        size_t len = wcslen(item);
        int found = 0;
        for (const wchar_t *p = remove; !found && *p != L'\0'; ) {
            const wchar_t *end = wcschr(p, DELIM);
            size_t n = end != NULL ? (size_t)(end - p) : wcslen(p);
            found = (n == len && wcsncmp(p, item, n) == 0);
            p += n + (end != NULL);
        }
        if (found) {
            PyMem_RawFree(item);
        }
        else {
            list->items[kept++] = item;
        }
    }
    list->length = kept;
    return _PyStatus_OK();
}


/* The new interpreter's PyConfig is a copy of its creator's: take out
 * everything of the host's that it would otherwise act on or show. */
static PyStatus
restrict_config(PyConfig *config)
{
    PyStatus status;

    /* No site: no site-packages, no .pth files, no sitecustomize. */
    config->site_import = 0;
    config->user_site_directory = 0;
    /* sys.path: the standard library that getpath found, not the host's
       script directory nor its PYTHONPATH. */
    config->safe_path = 1;
    PyMem_RawFree(config->sys_path_0);
    config->sys_path_0 = NULL;
    status = remove_path_entries(&config->module_search_paths,
                                 config->pythonpath_env);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    /* ... minus the entries that do not exist (python313.zip, mostly):
       looking for them would only try the host's directories above. */
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < config->module_search_paths.length; i++) {
        wchar_t *item = config->module_search_paths.items[i];
        char *path = _Py_EncodeLocaleRaw(item, NULL);
        struct stat st;
        if (path != NULL && stat(path, &st) == 0) {
            config->module_search_paths.items[kept++] = item;
        }
        else {
            PyMem_RawFree(item);
        }
        PyMem_RawFree(path);
    }
    config->module_search_paths.length = kept;
    /* No bytecode files: none written, and none read, since the cache is
       looked up under a prefix that does not exist. */
    config->write_bytecode = 0;
    status = PyConfig_SetString(config, &config->pycache_prefix,
                                L"" SANDBOX_NO_BYTECODE_CACHE);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    /* The host's command line is not the untrusted code's business. */
    _PyWideStringList_Clear(&config->orig_argv);
    _PyWideStringList_Clear(&config->argv);
    status = PyWideStringList_Append(&config->argv, L"");
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    _PyWideStringList_Clear(&config->warnoptions);
    _PyWideStringList_Clear(&config->xoptions);
    config->inspect = 0;
    config->interactive = 0;
    /* Nothing written to the process's C stderr, the host's, by its
       imports (-X importtime, -v). */
    config->import_time = 0;
    config->verbose = 0;
    /* Python's cap on int<->str conversion, never lifted: a host run with
       -X int_max_str_digits=0 does not give its tenants quadratic
       conversions. */
    if (config->int_max_str_digits <= 0
        || config->int_max_str_digits > _PY_LONG_DEFAULT_MAX_STR_DIGITS)
    {
        config->int_max_str_digits = _PY_LONG_DEFAULT_MAX_STR_DIGITS;
    }
    return _PyStatus_OK();
}


static void
clear_state(struct _PySandboxState *state)
{
    close_owned_fds(state);
    free_strings(state->policy.env, state->policy.n_env);
    free_strings(state->policy.environ, state->policy.n_environ);
    free_strings(state->policy.modules, state->policy.n_modules);
    free_strings(state->policy.blocked, state->policy.n_blocked);
    free_strings(state->policy.module_files, state->policy.n_module_files);
    free_strings(state->policy.paths, state->policy.n_paths);
    clear_grants(state->grants, state->n_grants);
    PyMem_RawFree(state->cwd);
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (fd_bit(state->internal_fds, fd)) {
            (void)close(fd);
        }
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        (void)close(state->write_roots[i]);
    }
    PyMem_RawFree(state->write_roots);
    for (size_t i = 0; i < Py_ARRAY_LENGTH(state->output); i++) {
        PyMem_RawFree(state->output[i].data);
    }
    for (size_t i = 0; i < SANDBOX_DENIAL_LOG_SIZE; i++) {
        clear_denial(&state->log[i]);
    }
    for (Py_ssize_t i = 0; i < state->next; i++) {
        clear_ext_entry(&state->ext[i]);
    }
    PyMem_RawFree(state->ext);
    _PySandbox_ClearDeferred(&state->deferred);
    PyMem_RawFree(state);
}


static void record_module_inodes(PyInterpreterState *interp);

PyStatus
_PySandbox_InitInterpreter(PyInterpreterState *interp,
                           const PyInterpreterConfig *config)
{
    if (config->sandbox == NULL) {
        return _PyStatus_OK();
    }
    if (_Py_IsMainInterpreter(interp)) {
        return _PyStatus_ERR("the main interpreter cannot be untrusted");
    }
    PyStatus status = check_isolated(config);
    if (_PyStatus_EXCEPTION(status)) {
        return status;
    }
    if (!uses_pymalloc()) {
        /* PYTHONMALLOC=malloc or mimalloc would bypass the memory cap. */
        return _PyStatus_ERR("untrusted interpreters need the pymalloc "
                             "memory allocator; unset PYTHONMALLOC or set "
                             "it to pymalloc");
    }
    struct _PySandboxState *state = PyMem_RawCalloc(1, sizeof(*state));
    if (state == NULL) {
        return _PyStatus_NO_MEMORY();
    }
    /* The policy's own copy: the creator frees its policy afterwards. */
    const PySandboxPolicy *policy = config->sandbox;
    state->policy = *policy;
    state->policy.env = state->policy.environ = NULL;
    state->policy.modules = state->policy.blocked = NULL;
    state->policy.module_files = state->policy.paths = NULL;
    state->policy.opened = NULL;
    state->policy.n_opened = 0;
    state->policy.cwd = NULL;
    state->policy.creator_grants = NULL;
    state->policy.n_creator_grants = 0;
    state->policy.creator_roots = NULL;
    state->policy.n_creator_roots = 0;
    if (copy_strings(policy->env, policy->n_env, &state->policy.env) < 0
        || copy_strings(policy->environ, policy->n_environ,
                        &state->policy.environ) < 0
        || copy_strings(policy->modules, policy->n_modules,
                        &state->policy.modules) < 0
        || copy_strings(policy->blocked, policy->n_blocked,
                        &state->policy.blocked) < 0
        || copy_strings(policy->module_files, policy->n_module_files,
                        &state->policy.module_files) < 0
        || copy_strings(policy->paths, policy->n_paths,
                        &state->policy.paths) < 0
        || (state->cwd = policy->cwd != NULL ? raw_strdup(policy->cwd)
                                             : creator_cwd(NULL)) == NULL)
    {
        clear_state(state);
        return _PyStatus_NO_MEMORY();
    }
    state->parent_id = -1;
    if (config->allow_threads && state->policy.max_threads == 0) {
        clear_state(state);
        return _PyStatus_ERR("the policy of an untrusted interpreter grants "
                             "no threads, but its config allows them");
    }
    if (state->policy.max_threads > 0) {
        const char *error = NULL;
        ext_entry *entry = get_ext(state, "Python", "threads", EXT_CAP,
                                   &error);
        if (entry == NULL) {
            clear_state(state);
            return _PyStatus_NO_MEMORY();
        }
        entry->cap = state->policy.max_threads;
    }
    status = restrict_config(&interp->config);
    if (_PyStatus_EXCEPTION(status)) {
        clear_state(state);
        return status;
    }
    status = init_files(state, policy, &interp->config);
    if (_PyStatus_EXCEPTION(status)) {
        clear_state(state);
        return status;
    }
    /* What it may read and write, for the queries of both sides
       (sandbox.allowed()): ("Python", "read") and ("Python", "write"). */
    for (Py_ssize_t i = 0; i < state->policy.n_paths; i++) {
        const char *entry = state->policy.paths[i];
        const char *error = NULL;
        ext_entry *ext = get_ext(state, "Python",
                                 entry[0] == 'w' ? "write" : "read",
                                 EXT_MEMBERSHIP, &error);
        char **grown = ext == NULL ? NULL : PyMem_RawRealloc(
            ext->members, (size_t)(ext->nmembers + 1) * sizeof(char *));
        char *copy = grown == NULL ? NULL : raw_strdup(entry + 1);
        if (grown != NULL) {
            ext->members = grown;
        }
        if (copy == NULL) {
            clear_state(state);
            return _PyStatus_NO_MEMORY();
        }
        ext->members[ext->nmembers++] = copy;
    }
    record_module_inodes(interp);
    /* Before its first thread state, which copies it. */
    interp->ceval.recursion_limit = Py_MIN(interp->ceval.recursion_limit,
                                           policy_recursion_limit(
                                               &state->policy));
    interp->sandbox = state;
    interp->feature_flags |= Py_RTFLAGS_UNTRUSTED;
    return _PyStatus_OK();
}




void
_PySandbox_ClearInterpreter(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return;
    }
    interp->sandbox = NULL;
    clear_state(state);
}


/* The eval breaker (DESIGN: "Decisions fixed now": bit 7 is ours) */

int
_PySandbox_HandlePending(PyThreadState *tstate)
{
    struct _PySandboxState *state = tstate->interp->sandbox;
    if (state != NULL && (state->ending || state->stopping)) {
        /* The bit stays set: every Python function fails at its entry. */
        PyErr_SetString(PyExc_SandboxLimitExceeded,
                        "the untrusted interpreter is ending: its Python "
                        "code no longer runs");
        return -1;
    }
    _Py_unset_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
    if (state != NULL) {
        _PySandbox_FreeDeferred(tstate);
    }
    return 0;
}


struct _PySandboxDeferred *
_PySandbox_Deferred(PyInterpreterState *interp)
{
    return &interp->sandbox->deferred;
}


/* End the interpreters that *interp* created, which are not running;
 * one that runs (a job in another of its threads) stays for the host to
 * end. */
static void
end_children(PyInterpreterState *interp)
{
    int64_t id = PyInterpreterState_GetID(interp);
    int64_t children[64];
    for (;;) {
        size_t n = 0;
        _PyRuntimeState *runtime = &_PyRuntime;
        HEAD_LOCK(runtime);
        for (PyInterpreterState *i = runtime->interpreters.head;
             i != NULL && n < Py_ARRAY_LENGTH(children); i = i->next)
        {
            if (i->sandbox != NULL && i->sandbox->parent_id == id
                && !_PyInterpreterState_IsRunningMain(i))
            {
                children[n++] = PyInterpreterState_GetID(i);
            }
        }
        HEAD_UNLOCK(runtime);
        if (n == 0) {
            return;
        }
        size_t ended = 0;
        for (size_t k = 0; k < n; k++) {
            PyInterpreterState *child = _PyInterpreterState_LookUpID(
                children[k]);
            if (child != NULL && PySandbox_EndInterpreter(child) == 0) {
                ended++;
            }
            PyErr_Clear();
        }
        if (ended == 0) {
            return;
        }
    }
}


void
_PySandbox_StopPython(PyInterpreterState *interp, PyThreadState *tstate)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL || tstate == NULL || tstate->interp != interp) {
        return;
    }
    if (!state->ending) {
        /* Its children end with it, before it stops. */
        PyObject *exc = PyErr_GetRaisedException();
        end_children(interp);
        PyErr_SetRaisedException(exc);
    }
    /* From here, no thread of it runs Python: this one stops at once,
       the others in _PySandbox_EndThreads(). */
    state->ending = 1;
    _Py_set_eval_breaker_bit(tstate, _PY_SANDBOX_BIT);
}


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

/* Never, whatever the policy: they reach across interpreters (shared
 * buffers, other interpreters' code), into the C API's internals (one of
 * the test modules creates trusted interpreters), keep objects of a
 * freed heap (_datetime's static types, readied first by an untrusted
 * interpreter; datetime falls back to _pydatetime), or hold objects in
 * process-wide C state (Doc/sandbox/globals.rst: faulthandler's files,
 * tracemalloc's tables, readline's and curses' hooks and windows,
 * tkinter's interpreter; and _ctypes, whose callbacks from threads that C
 * code starts run in the main interpreter).  The "_test" and "xx"
 * prefixes are never allowed either. */
static const char *const never_modules[] = {
    "_ctypes", "_ctypes_test", "_curses", "_curses_panel", "_datetime",
    "_interpchannels", "_interpqueues", "_interpreters", "_tkinter",
    "_tracemalloc", "faulthandler", "readline",
};

static int
never_module(const char *name)
{
    return (strncmp(name, "_test", 5) == 0 || strncmp(name, "xx", 2) == 0
            || strcmp(name, "_xxtestfuzz") == 0
            || in_list(never_modules, Py_ARRAY_LENGTH(never_modules), name));
}

static int
is_core_module(const char *name)
{
    return in_list(core_modules, Py_ARRAY_LENGTH(core_modules), name);
}

/* The file that *policy* binds the module *name* to ("name=/file"), or
 * NULL. */
static const char *
policy_module_file(const PySandboxPolicy *policy, const char *name)
{
    return find_value(policy->module_files, policy->n_module_files, name);
}

/* May an interpreter of *policy* load the extension module *name*? */
static int
policy_allows_module(const PySandboxPolicy *policy, const char *name)
{
    if (never_module(name) || strchr(name, '.') != NULL) {
        return 0;
    }
    if (policy_module_file(policy, name) != NULL) {
        return 1;
    }
    if (policy_lists(policy->modules, policy->n_modules, name)) {
        return 1;
    }
    if (policy_lists(policy->blocked, policy->n_blocked, name)) {
        return 0;
    }
    return in_list(default_modules, Py_ARRAY_LENGTH(default_modules), name);
}

static int
check_module_name(const char *func, const char *name)
{
    if (name == NULL || name[0] == '\0' || strchr(name, '.') != NULL) {
        PyErr_Format(PyExc_ValueError, "%s: not a top-level module name: "
                     "'%s'", func, name != NULL ? name : "(null)");
        return -1;
    }
    return 0;
}

int
PySandboxPolicy_AllowModule(PySandboxPolicy *policy, const char *name)
{
    const char *func = "PySandboxPolicy_AllowModule";
    if (policy == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: policy is NULL", func);
        return -1;
    }
    if (check_module_name(func, name) < 0) {
        return -1;
    }
    if (never_module(name)) {
        PyErr_Format(PyExc_ValueError, "%s: '%s' is never loaded in an "
                     "untrusted interpreter", func, name);
        return -1;
    }
    (void)remove_name(policy->blocked, &policy->n_blocked, name);
    return add_name(&policy->modules, &policy->n_modules, name);
}

int
PySandboxPolicy_AllowModuleFile(PySandboxPolicy *policy, const char *name,
                                const char *path)
{
    const char *func = "PySandboxPolicy_AllowModuleFile";
    if (policy == NULL || path == NULL || path[0] != '/') {
        PyErr_Format(PyExc_ValueError, "%s: %s", func,
                     policy == NULL ? "policy is NULL"
                                    : "the file must be an absolute path");
        return -1;
    }
    if (check_module_name(func, name) < 0) {
        return -1;
    }
    if (never_module(name) || policy_module_file(policy, name) != NULL) {
        PyErr_Format(PyExc_ValueError, "%s: '%s' %s", func, name,
                     never_module(name)
                     ? "is never loaded in an untrusted interpreter"
                     : "is bound to a file already");
        return -1;
    }
    size_t size = strlen(name) + strlen(path) + 2;
    char *entry = PyMem_RawMalloc(size);
    if (entry == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyOS_snprintf(entry, size, "%s=%s", name, path);
    return push_string(&policy->module_files, &policy->n_module_files,
                       entry);
}

int
PySandboxPolicy_BlockModule(PySandboxPolicy *policy, const char *name)
{
    const char *func = "PySandboxPolicy_BlockModule";
    if (policy == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: policy is NULL", func);
        return -1;
    }
    if (check_module_name(func, name) < 0) {
        return -1;
    }
    if (is_core_module(name)) {
        PyErr_Format(PyExc_ValueError, "%s: every interpreter loads '%s' "
                     "at its start", func, name);
        return -1;
    }
    (void)remove_name(policy->modules, &policy->n_modules, name);
    return add_name(&policy->blocked, &policy->n_blocked, name);
}

/* Does *inner* allow no extension module that *outer* does not? */
static int
modules_within(const PySandboxPolicy *inner, const PySandboxPolicy *outer)
{
    for (Py_ssize_t i = 0; i < inner->n_modules; i++) {
        if (!policy_allows_module(outer, inner->modules[i])) {
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
        if (!policy_lists(outer->module_files, outer->n_module_files,
                          inner->module_files[i]))
        {
            return 0;
        }
    }
    return 1;
}

int
_PySandbox_ModuleAllowed(PyInterpreterState *interp, const char *name)
{
    struct _PySandboxState *state = interp->sandbox;
    return state == NULL || policy_allows_module(&state->policy, name);
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
    if (policy_allows_module(&interp->sandbox->policy, utf8)) {
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
    char *normal = normalized_path(len > 0 ? dir : "/", 0);
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
                ? normalized_path(encoded, 0) : NULL;
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
static void
record_module_inodes(PyInterpreterState *interp)
{
    PyMutex_Lock(&module_inodes.mutex);
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
    PyMutex_Lock(&module_inodes.mutex);
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
    size_t len = name != NULL ? strlen(name) : 0;
    if (slash == NULL || strncmp(slash + 1, name, len) != 0) {
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
    const char *bound = policy_module_file(&interp->sandbox->policy, name);
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
_PySandbox_CheckExtension(PyObject *name, PyObject *filename)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (!_PySandbox_IsUntrusted(interp)) {
        return 0;
    }
    if (_PySandbox_CheckModuleSlow(name) < 0) {
        return -1;
    }
    /* _imp.create_dynamic() takes the file apart from the name: only the
       module's own file. */
    const char *path = filename != NULL && PyUnicode_Check(filename)
                       ? PyUnicode_AsUTF8(filename) : NULL;
    if (path == NULL || !is_module_file(interp, PyUnicode_AsUTF8(name),
                                        path))
    {
        PyErr_Clear();
        char detail[300];
        PyOS_snprintf(detail, sizeof(detail), "%s from another file: %.200s",
                      PyUnicode_AsUTF8(name), path != NULL ? path : "?");
        return deny_module(name, detail);
    }
    return 0;
}


int
_PySandbox_IsEnding(PyInterpreterState *interp)
{
    return interp->sandbox != NULL && interp->sandbox->ending;
}


/* Threads (the policy's max_threads; a core cap ("Python", "threads") of
 * the extended protections, so that queries show it) */

int
_PySandbox_ThreadStart(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return 0;
    }
    if (state->ending || state->stopping) {
        /* A new thread would not have the stop bit set. */
        return _PySandbox_Deny("thread", "a thread started while the "
                               "interpreter ends");
    }
    return _PySandbox_ExtendedValueAlloc("Python", "threads", 1);
}


static void end_watch(struct _PySandboxState *state);

void
_PySandbox_ThreadEnd(PyInterpreterState *interp)
{
    /* Called as the thread's state is deleted: no exception is raised,
       no Python code runs. */
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL) {
        return;
    }
    PyMutex_Lock(&state->ext_mutex);
    ext_entry *entry = find_ext(state, "Python", "threads");
    if (entry != NULL && entry->used > 0) {
        entry->used--;
    }
    PyMutex_Unlock(&state->ext_mutex);
    /* In the thread that ends (its state just cleared), not in the one
       whose start of a new thread failed (thread_run() and
       ThreadHandle_start()). */
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate != NULL && tstate->_status.cleared) {
        end_watch(state);
    }
}


/* Is *interp* in the runtime's list?  Under its lock: a pointer that the
 * caller looked up may have been ended and freed since. */
static int
is_listed(_PyRuntimeState *runtime, PyInterpreterState *interp)
{
    for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
         i = i->next)
    {
        if (i == interp) {
            return 1;
        }
    }
    return 0;
}

int
_PySandbox_Enter(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    int ok = (is_listed(runtime, interp) && interp->sandbox != NULL
              && !interp->sandbox->end_claimed);
    if (ok) {
        interp->sandbox->entered++;
    }
    HEAD_UNLOCK(runtime);
    if (!ok) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the untrusted interpreter is ending");
        return -1;
    }
    return 0;
}

void
_PySandbox_Leave(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    interp->sandbox->entered--;
    HEAD_UNLOCK(runtime);
}

PyInterpreterState *
_PySandbox_HoldByID(int64_t id, const char *func)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    PyInterpreterState *current = _PyInterpreterState_GET();
    PyInterpreterState *interp = NULL;
    enum { MISSING, TRUSTED, ENDING, HELD } found = MISSING;
    HEAD_LOCK(runtime);
    for (PyInterpreterState *i = runtime->interpreters.head; i != NULL;
         i = i->next)
    {
        if (i->id == id) {
            interp = i;
            break;
        }
    }
    /* The checks read the found interpreter's state: under the lock, as
       long as it is listed, it is not freed. */
    if (interp == NULL || !_PySandbox_MayFindInterpreter(current, interp)) {
        found = MISSING;
    }
    else if (interp->sandbox == NULL) {
        found = TRUSTED;
    }
    else if (interp->sandbox->end_claimed) {
        found = ENDING;
    }
    else {
        interp->sandbox->entered++;
        found = HELD;
    }
    HEAD_UNLOCK(runtime);
    switch (found) {
    case HELD:
        return interp;
    case MISSING:
        if (_PySandbox_IsUntrusted(current)) {
            /* The same denial as for an interpreter it may not act on:
               no oracle of the others' IDs. */
            (void)_PySandbox_Deny("trusted", func);
        }
        else {
            PyErr_Format(PyExc_InterpreterNotFoundError,
                         "unrecognized interpreter ID %lld", (long long)id);
        }
        return NULL;
    case TRUSTED:
        PyErr_Format(PyExc_ValueError, "%s: not an untrusted interpreter",
                     func);
        return NULL;
    case ENDING:
        PyErr_Format(PyExc_RuntimeError, "%s: the interpreter is ending",
                     func);
        return NULL;
    }
    Py_UNREACHABLE();
}

int
_PySandbox_ClaimEnd(PyInterpreterState *interp, const char *func,
                    Py_ssize_t holds)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    const char *refusal = NULL;
    HEAD_LOCK(runtime);
    if (!is_listed(runtime, interp) || interp->sandbox == NULL
        || interp->sandbox->end_claimed)
    {
        refusal = "is ending";
    }
    else if (interp->sandbox->entered > holds) {
        refusal = "is running";
    }
    else {
        interp->sandbox->end_claimed = 1;
        interp->sandbox->entered -= holds;
    }
    HEAD_UNLOCK(runtime);
    if (refusal != NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s: the interpreter %s", func,
                     refusal);
        return -1;
    }
    return 0;
}


static int
only_thread(PyThreadState *tstate)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    int only = (tstate->interp->threads.head == tstate
                && tstate->next == NULL && tstate->prev == NULL);
    HEAD_UNLOCK(runtime);
    return only;
}


/* The threads that an untrusted interpreter started are watched from
 * their start (_PySandbox_BindThreadSlow()) to their end
 * (_PySandbox_ThreadEnd()), or to their exit anywhere else: once their
 * interpreter is abandoned, a thread that wakes up exits in take_gil(),
 * running nothing of ours but this key's destructor. */
static pthread_key_t watch_key;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;
static int watch_key_created;

static void close_parked_fds(struct _PySandboxState *state);

static void
unwatch(struct _PySandboxState *state)
{
    if (_Py_atomic_add_ssize(&state->watched, -1) == 1
        && _Py_atomic_load_int(&state->abandoned))
    {
        /* The last thread of an abandoned interpreter is gone. */
        close_parked_fds(state);
    }
}


/* The abandoned interpreters whose descriptors are still parked, a list
 * of the runtime's.  A thread that never ends (blocked on a lock for
 * good) would keep their numbers for good: a tenant could use up the
 * host's descriptors.  So they are closed at the host's first call to the
 * engine (a creation or an end) SANDBOX_PARKED_NS after the abandonment,
 * even with threads left: by then a thread that was about to make a system
 * call on one of them has made it (it holds the file, not the number), and
 * a thread that wakes up takes its interpreter's GIL, and exits, before
 * any other call. */
#define SANDBOX_PARKED_NS ((PyTime_t)10 * 1000 * 1000 * 1000)
static PyMutex abandoned_mutex;
static struct _PySandboxState *abandoned_list;

static void
sweep_abandoned(void)
{
    PyTime_t now;
    (void)PyTime_MonotonicRaw(&now);
    PyMutex_Lock(&abandoned_mutex);
    struct _PySandboxState **link = &abandoned_list;
    while (*link != NULL) {
        struct _PySandboxState *state = *link;
        if (_Py_atomic_load_int(&state->fds_closed)
            || now - state->abandoned_at >= SANDBOX_PARKED_NS)
        {
            close_parked_fds(state);
            *link = state->next_abandoned;
        }
        else {
            link = &state->next_abandoned;
        }
    }
    PyMutex_Unlock(&abandoned_mutex);
}

static void
thread_gone(void *state)
{
    unwatch((struct _PySandboxState *)state);
}

static void
create_watch_key(void)
{
    watch_key_created = (pthread_key_create(&watch_key, thread_gone) == 0);
}

void
_PySandbox_BindThreadSlow(PyThreadState *tstate)
{
    _PySandbox_InitStackSlow(tstate);
    if (tstate->_whence != _PyThreadState_WHENCE_THREADING) {
        return;     /* a job's thread, the host's or a creator's */
    }
    struct _PySandboxState *state = tstate->interp->sandbox;
    (void)pthread_once(&watch_once, create_watch_key);
    if (watch_key_created && pthread_setspecific(watch_key, state) == 0) {
        _Py_atomic_add_ssize(&state->watched, 1);
    }
}

static void
end_watch(struct _PySandboxState *state)
{
    if (watch_key_created && pthread_getspecific(watch_key) == state) {
        (void)pthread_setspecific(watch_key, NULL);
        unwatch(state);
    }
}


/* An abandoned interpreter's threads may still wake up in a system call
 * on one of its descriptors, or between two: its files are closed now
 * (a pipe's reader sees its end), but their numbers stay taken, by
 * /dev/null, until the last of those threads is gone, so that meanwhile
 * the host never gets one of them for a file of its own. */
static void
park_fd(int fd, int null)
{
    if (fd >= 0 && fd != null) {
        no_linger(fd);
        (void)dup3(null, fd, O_CLOEXEC);
    }
}

static void
park_fds(struct _PySandboxState *state)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        return;     /* they stay open until its threads are gone */
    }
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (fd_is_owned(state, fd) || fd_bit(state->internal_fds, fd)) {
            park_fd(fd, null);
        }
    }
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        park_fd(state->grants[i].fd, null);
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        park_fd(state->write_roots[i], null);
    }
    (void)close(null);
}

static void
close_parked_fds(struct _PySandboxState *state)
{
    /* Once: from the exit of its last thread, or from the sweep. */
    int expected = 0;
    if (!_Py_atomic_compare_exchange_int(&state->fds_closed, &expected, 1)) {
        return;
    }
    close_owned_fds(state);
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (fd_bit(state->internal_fds, fd)) {
            (void)close(fd);
        }
    }
    memset(state->internal_fds, 0, sizeof(state->internal_fds));
    for (Py_ssize_t i = 0; i < state->n_grants; i++) {
        if (state->grants[i].fd >= 0) {
            (void)close(state->grants[i].fd);
            state->grants[i].fd = -1;
        }
    }
    for (Py_ssize_t i = 0; i < state->n_write_roots; i++) {
        (void)close(state->write_roots[i]);
    }
    state->n_write_roots = 0;
}


/* Take an ending interpreter whose threads did not stop out of the
 * runtime: out of the list of interpreters (lookups, walks and the
 * runtime's finalization go through it) and out of the count of the
 * static types it readied, so that the main interpreter still finalizes
 * them.  Its memory stays: its threads may still wake up in it, and then
 * exit (it is marked finalizing). */
static void
abandon_interpreter(PyInterpreterState *interp)
{
    _PyRuntimeState *runtime = &_PyRuntime;
    HEAD_LOCK(runtime);
    PyInterpreterState **link = &runtime->interpreters.head;
    while (*link != NULL && *link != interp) {
        link = &(*link)->next;
    }
    if (*link == interp) {
        *link = interp->next;
        interp->next = NULL;
    }
    for (size_t i = 0; i < _Py_MAX_MANAGED_STATIC_TYPES; i++) {
        if (readied_static_type(runtime, interp, i)) {
            _Py_atomic_add_int64(
                &runtime->types.managed_static.types[i].interp_count, -1);
        }
    }
    HEAD_UNLOCK(runtime);
    /* Its descriptors: closed when its last thread is gone, parked until
       then.  Counted as a watcher meanwhile, so that exactly one closes
       them: a last thread that exits now, or this. */
    struct _PySandboxState *state = interp->sandbox;
    _Py_atomic_add_ssize(&state->watched, 1);
    park_fds(state);
    (void)PyTime_MonotonicRaw(&state->abandoned_at);
    PyMutex_Lock(&abandoned_mutex);
    state->next_abandoned = abandoned_list;
    abandoned_list = state;
    PyMutex_Unlock(&abandoned_mutex);
    _Py_atomic_store_int(&state->abandoned, 1);
    unwatch(state);
}


_Py_thread_local int _PySandbox_last_end_abandoned = 0;


int
_PySandbox_PrepareEnd(PyInterpreterState *interp)
{
    struct _PySandboxState *state = interp->sandbox;
    assert(state != NULL);
    sweep_abandoned();
    /* No more Python in any of its threads, from their next check. */
    state->stopping = 1;
    _Py_set_eval_breaker_bit_all(interp, _PY_SANDBOX_BIT);
    /* A thread may hold its GIL in a long C loop (sum(range(10**12))),
       which no check interrupts: entering would wait as long. */
    struct _gil_runtime_state *gil = interp->ceval.gil;
    PyTime_t deadline, now;
    (void)PyTime_MonotonicRaw(&deadline);
    deadline += SANDBOX_THREADS_GRACE_NS;
    while (gil != NULL && _Py_atomic_load_int_relaxed(&gil->locked) > 0) {
        (void)PyTime_MonotonicRaw(&now);
        if (now >= deadline) {
            /* Leave it to that thread, which stops at its next check. */
            abandon_interpreter(interp);
            return 1;
        }
        Py_BEGIN_ALLOW_THREADS
        struct timespec pause = {0, 1000 * 1000};
        (void)nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
    }
    return 0;
}


int
_PySandbox_EndThreads(PyThreadState *tstate)
{
    PyInterpreterState *interp = tstate->interp;
    if (interp->sandbox == NULL || only_thread(tstate)) {
        return 0;
    }
    /* Every Python function of every thread raises from now on (new
       threads are refused: see _PySandbox_ThreadStart()).  Give them the
       GIL for a while to unwind and end. */
    assert(interp->sandbox->ending);
    _Py_set_eval_breaker_bit_all(interp, _PY_SANDBOX_BIT);
    PyTime_t deadline, now;
    (void)PyTime_MonotonicRaw(&deadline);
    deadline += SANDBOX_THREADS_GRACE_NS;
    do {
        Py_BEGIN_ALLOW_THREADS
        struct timespec pause = {0, 1000 * 1000};
        (void)nanosleep(&pause, NULL);
        Py_END_ALLOW_THREADS
        if (only_thread(tstate)) {
            return 0;
        }
        (void)PyTime_MonotonicRaw(&now);
    } while (now < deadline);
    /* Some are blocked outside Python (a long sleep, a lock, a read).
       They exit when they wake up, in take_gil(), since the interpreter
       is finalizing; until then its memory must stay. */
    _PyInterpreterState_SetFinalizing(interp, tstate);
    abandon_interpreter(interp);
    /* Leave as Py_EndInterpreter() does, with no thread state current;
       this one stays with the interpreter. */
    _PyThreadState_Detach(tstate);
    _PySandbox_last_end_abandoned = 1;
    return 1;
}


PyStatus
_PySandbox_CheckCreator(const PyInterpreterConfig *config)
{
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL || !_PySandbox_IsUntrusted(tstate->interp)) {
        return _PyStatus_OK();
    }
    /* A trusted interpreter made from inside would be an escape; a nested
       untrusted one needs its policy checked to be within this one's,
       which the engine does not do yet. */
    (void)_PySandbox_Deny("interpreter",
                          config->sandbox != NULL
                          ? "creating an untrusted interpreter"
                          : "creating a trusted interpreter");
    return _PyStatus_ERR("an untrusted interpreter cannot create "
                         "interpreters");
}


/* Does *policy* grant nothing that *outer* does not?  Every field of the
 * policy is compared here as it is added. */
static int
policy_within(const PySandboxPolicy *policy, const PySandboxPolicy *outer)
{
    if (policy->max_threads > outer->max_threads
        || policy_recursion_limit(policy) > policy_recursion_limit(outer))
    {
        return 0;
    }
    for (Py_ssize_t i = 0; i < policy->n_env; i++) {
        if (!policy_lists(outer->env, outer->n_env, policy->env[i])) {
            return 0;
        }
    }
    return modules_within(policy, outer) && paths_within(policy, outer);
}


/* Fill policy->environ with "NAME=value" for each variable the policy
 * names that the creator has: from the C environment for a trusted
 * creator, from what an untrusted one got at its own creation (never what
 * its code set).  Return 0, or -1 with MemoryError set. */
static int
snapshot_environ(PySandboxPolicy *policy,
                 const struct _PySandboxState *creator_state)
{
    policy->environ = NULL;
    policy->n_environ = 0;
    if (policy->n_env == 0) {
        return 0;
    }
    char **list = PyMem_RawCalloc((size_t)policy->n_env, sizeof(char *));
    if (list == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < policy->n_env; i++) {
        const char *name = policy->env[i];
        const char *value = NULL;
        if (creator_state == NULL) {
            value = getenv(name);
        }
        else {
            value = find_value(creator_state->policy.environ,
                               creator_state->policy.n_environ, name);
        }
        if (value == NULL) {
            continue;
        }
        size_t size = strlen(name) + strlen(value) + 2;
        char *entry = PyMem_RawMalloc(size);
        if (entry == NULL) {
            free_strings(list, n);
            PyErr_NoMemory();
            return -1;
        }
        PyOS_snprintf(entry, size, "%s=%s", name, value);
        list[n++] = entry;
    }
    policy->environ = list;
    policy->n_environ = n;
    return 0;
}


int
_PySandbox_FillEnviron(PyObject *environ)
{
    const struct _PySandboxState *state =
        _PyInterpreterState_GET()->sandbox;
    assert(state != NULL);
    const PySandboxPolicy *policy = &state->policy;
    for (Py_ssize_t i = 0; i < policy->n_environ; i++) {
        const char *entry = policy->environ[i];
        const char *eq = strchr(entry, '=');
        PyObject *key = PyBytes_FromStringAndSize(entry, eq - entry);
        PyObject *value = PyBytes_FromString(eq + 1);
        int rc = (key != NULL && value != NULL)
                 ? PyDict_SetDefaultRef(environ, key, value, NULL) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
            return -1;
        }
    }
    return 0;
}


PyInterpreterState *
PySandbox_NewInterpreter(const PySandboxPolicy *policy)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandbox_NewInterpreter: policy is NULL");
        return NULL;
    }
    sweep_abandoned();
    /* An untrusted interpreter may create one whose policy is within its
       own (nothing it does not have itself), checked here, in C. */
    PyInterpreterState *creator = _PyInterpreterState_GET();
    struct _PySandboxState *creator_state = creator->sandbox;
    if (creator_state != NULL) {
        if (creator_state->ending) {
            (void)_PySandbox_Deny("interpreter", "creating an untrusted "
                                  "interpreter while ending");
            return NULL;
        }
        if (!policy_within(policy, &creator_state->policy)) {
            char detail[200];
            if (policy->max_threads > creator_state->policy.max_threads) {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(threads %zd > %zd)", policy->max_threads,
                              creator_state->policy.max_threads);
            }
            else {
                PyOS_snprintf(detail, sizeof(detail),
                              "a nested policy wider than its creator's "
                              "(recursion, env, modules or files)");
            }
            (void)_PySandbox_Deny("interpreter", detail);
            return NULL;
        }
    }
    /* The variables it may see, with their values in its creator. */
    PySandboxPolicy local = *policy;
    if (snapshot_environ(&local, creator_state) < 0) {
        return NULL;
    }
    /* Its files: beneath its creator's, and its working directory. */
    local.opened = NULL;
    local.n_opened = 0;
    local.creator_grants = creator_state != NULL ? creator_state->grants
                                                 : NULL;
    local.n_creator_grants = creator_state != NULL ? creator_state->n_grants
                                                   : 0;
    local.creator_roots = creator_state != NULL ? creator_state->write_roots
                                                : NULL;
    local.n_creator_roots = creator_state != NULL
                            ? creator_state->n_write_roots : 0;
    local.cwd = creator_cwd(creator_state);
    if (local.cwd == NULL
        || (creator_state != NULL
            && open_nested_grants(&local, creator_state) < 0))
    {
        if (local.cwd == NULL) {
            PyErr_NoMemory();
        }
        free_strings(local.environ, local.n_environ);
        PyMem_RawFree(local.cwd);
        return NULL;
    }
    const PyInterpreterConfig config = {
        .use_main_obmalloc = 0,
        .allow_fork = 0,
        .allow_exec = 0,
        .allow_threads = policy->max_threads > 0,
        .allow_daemon_threads = policy->max_threads > 0,
        .check_multi_interp_extensions = 1,
        .gil = PyInterpreterConfig_OWN_GIL,
        .sandbox = &local,
    };
    PyThreadState *save_tstate = PyThreadState_Swap(NULL);
    PyThreadState *tstate = NULL;
    PyStatus status = Py_NewInterpreterFromConfig(&tstate, &config);
    free_strings(local.environ, local.n_environ);
    clear_grants(local.opened, local.n_opened);
    PyMem_RawFree(local.cwd);
    if (PyStatus_Exception(status)) {
        PyThreadState_Swap(save_tstate);
        if (_PyStatus_IS_ERROR(status) && status.err_msg != NULL) {
            PyErr_Format(PyExc_RuntimeError,
                         "cannot create an untrusted interpreter: %s",
                         status.err_msg);
        }
        else {
            _PyErr_SetFromPyStatus(status);
        }
        return NULL;
    }
    PyInterpreterState *interp = PyThreadState_GetInterpreter(tstate);
    interp->sandbox->parent_id = creator_state != NULL
                                 ? PyInterpreterState_GetID(creator) : -1;
    /* The initial thread state is not needed: runs get their own. */
    PyThreadState_Clear(tstate);
    PyThreadState_Swap(save_tstate);
    PyThreadState_Delete(tstate);
    return interp;
}


const PySandboxPolicy *
_PySandbox_GetPolicy(PyInterpreterState *interp)
{
    return interp->sandbox != NULL ? &interp->sandbox->policy : NULL;
}


int
PySandbox_IsUntrusted(PyInterpreterState *interp)
{
    return _PySandbox_IsUntrusted(interp);
}


int
_PySandbox_CheckTrusted(const char *func)
{
    PyInterpreterState *interp = _PyInterpreterState_GET();
    if (!_PySandbox_IsUntrusted(interp)) {
        return 0;
    }
    if (func == NULL) {
        return _PySandbox_Deny("trusted", "(C code)");
    }
    /* Argument Clinic's "os_system_impl" is os.system for the reader of
       the log: the module (leading underscores kept), a dot, the rest. */
    char name[100];
    size_t len = strlen(func);
    if (len > 5 && len < sizeof(name) && strcmp(func + len - 5, "_impl") == 0) {
        memcpy(name, func, len - 5);
        name[len - 5] = '\0';
        char *sep = strchr(name + strspn(name, "_"), '_');
        if (sep != NULL) {
            *sep = '.';
            func = name;
        }
    }
    return _PySandbox_Deny("trusted", func);
}


int
PySandbox_CheckTrusted(void)
{
    return _PySandbox_CheckTrusted(NULL);
}

#endif  /* Py_UNTRUSTED */


#ifdef HAVE_FORK

/* fork() in a process with subinterpreters (gh-101437), in every build.
 *
 * The child has one thread, the one that called fork(), and it runs the
 * main interpreter (os.fork() and PyOS_AfterFork_Child() insist).  Any
 * other interpreter may have been running in a thread that is gone: with
 * its own GIL and locks held, halfway through a change to its own heap.
 * Upstream's _PyInterpreterState_DeleteExceptMain() clears them with no
 * current thread state, under the runtime's lock that interpreter_clear()
 * takes again, and aborts at the first deallocation.  Nothing of theirs
 * can be run, cleared or freed safely, so the child forgets them: they
 * leave the runtime's list, through which every lookup by ID, every walk
 * of the interpreters and the finalization go, and their memory is leaked
 * as it is.  No code of theirs runs in the child: not their
 * os.register_at_fork() or atexit callbacks, not their finalizers.
 *
 * The one runtime state that counts them is corrected: how many
 * interpreters use each static type, which must fall to zero when the
 * main interpreter finalizes the type (an assertion in debug builds). */

/* The forgotten interpreters, linked through ->next: still reachable for
 * leak checkers, never used again. */
static PyInterpreterState *forgotten_after_fork = NULL;

PyStatus
_PySandbox_ForgetInterpretersAfterFork(void)
{
#ifdef Py_UNTRUSTED
    /* Another thread may have held it at the fork; the child has only
       this one. */
    module_inodes.mutex = (PyMutex){0};
#endif
    _PyRuntimeState *runtime = &_PyRuntime;
    struct pyinterpreters *interpreters = &runtime->interpreters;
    PyInterpreterState *main_interp = interpreters->main;
    PyThreadState *tstate = _PyThreadState_GET();
    if (main_interp == NULL) {
        return _PyStatus_ERR("missing main interpreter");
    }
    if (tstate == NULL || tstate->interp != main_interp) {
        return _PyStatus_ERR("not main interpreter");
    }

    /* The runtime's lock was reinitialized by
       _PyRuntimeState_ReInitThreads(); the list is consistent, since the
       parent held the lock across fork() (PyOS_BeforeFork()). */
    HEAD_LOCK(runtime);
    PyInterpreterState *interp = interpreters->head;
    while (interp != NULL) {
        PyInterpreterState *next = interp->next;
        if (interp != main_interp) {
            interp->next = forgotten_after_fork;
            forgotten_after_fork = interp;
        }
        interp = next;
    }
    main_interp->next = NULL;
    interpreters->head = main_interp;

    /* A static type the main interpreter readied is now used by it alone.
       One that only forgotten interpreters readied keeps its count, so it
       is never finalized: its objects live in their heaps. */
    for (size_t i = 0; i < _Py_MAX_MANAGED_STATIC_TYPES; i++) {
        if (readied_static_type(runtime, main_interp, i)) {
            _Py_atomic_store_int64(
                &runtime->types.managed_static.types[i].interp_count, 1);
        }
    }
    HEAD_UNLOCK(runtime);
    return _PyStatus_OK();
}

#endif  /* HAVE_FORK */
