/* Untrusted interpreters: the transport between the host and them.
 *
 * The host runs source, evaluates an expression or calls a function in an
 * untrusted interpreter (PySandbox_Exec, PySandbox_Eval, PySandbox_Call).
 * Arguments and results cross as copies: one side encodes them into a
 * buffer outside both heaps, the other decodes it, so that no object is
 * ever shared between the two interpreters.  Only plain data crosses:
 * None, bool, int, float, str, bytes, and tuples, lists and dicts of
 * those, of their exact types (a subclass could run code or carry state).
 *
 * An exception raised inside comes back as RemoteError, with three strings
 * that the untrusted side made: its type name, its message and its
 * formatted traceback.  The host never reads the files that untrusted code
 * names, nor touches its objects.
 *
 * Untrusted code is never run with PyRun_Simple*() nor reported with
 * PyErr_Print(): SystemExit inside ends the job, not the process.
 */

#include "Python.h"
#include "pycore_pyerrors.h"      // _PyErr_SetString()
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyThreadState_NewBound()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // _PySandbox_Enter()
#include "pycore_sandbox_stack.h"  // _PySandbox_CheckJobStack()

#ifdef Py_UNTRUSTED



/* RemoteError */

typedef struct {
    PyException_HEAD
    PyObject *type_name;
    PyObject *message;
    PyObject *remote_traceback;
    PyObject *exit_code;
} RemoteErrorObject;

static int
remote_error_clear(RemoteErrorObject *self)
{
    Py_CLEAR(self->type_name);
    Py_CLEAR(self->message);
    Py_CLEAR(self->remote_traceback);
    Py_CLEAR(self->exit_code);
    return ((PyTypeObject *)PyExc_Exception)->tp_clear((PyObject *)self);
}

static void
remote_error_dealloc(RemoteErrorObject *self)
{
    PyObject_GC_UnTrack(self);
    (void)remote_error_clear(self);
    Py_TYPE(self)->tp_free(self);
}

static int
remote_error_traverse(RemoteErrorObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->type_name);
    Py_VISIT(self->message);
    Py_VISIT(self->remote_traceback);
    Py_VISIT(self->exit_code);
    return ((PyTypeObject *)PyExc_Exception)->tp_traverse((PyObject *)self,
                                                          visit, arg);
}

static PyMemberDef remote_error_members[] = {
    {"type_name", _Py_T_OBJECT, offsetof(RemoteErrorObject, type_name),
     Py_READONLY,
     PyDoc_STR("the qualified name of the exception's type, as the "
               "untrusted side named it")},
    {"message", _Py_T_OBJECT, offsetof(RemoteErrorObject, message),
     Py_READONLY, PyDoc_STR("str() of the exception, made inside")},
    {"traceback", _Py_T_OBJECT, offsetof(RemoteErrorObject, remote_traceback),
     Py_READONLY,
     PyDoc_STR("the traceback text that the untrusted side formatted")},
    {"exit_code", _Py_T_OBJECT, offsetof(RemoteErrorObject, exit_code),
     Py_READONLY,
     PyDoc_STR("for SystemExit, its code (None if it was not plain data); "
               "else None")},
    {NULL},
};

PyDoc_STRVAR(remote_error_doc,
"An exception raised by code in an untrusted interpreter, carried back.\n\
\n\
The exception itself stays inside; type_name, message and traceback are\n\
strings that the untrusted side made, so treat them as untrusted text.\n\
SystemExit comes back as RemoteError too, with its code in exit_code.");

PyTypeObject _PySandbox_RemoteErrorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.RemoteError",
    .tp_basicsize = sizeof(RemoteErrorObject),
    .tp_dealloc = (destructor)remote_error_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = remote_error_doc,
    .tp_traverse = (traverseproc)remote_error_traverse,
    .tp_clear = (inquiry)remote_error_clear,
    .tp_members = remote_error_members,
    .tp_dictoffset = offsetof(RemoteErrorObject, dict),
    /* .tp_base is Exception, set in _PySandbox_InitTypes() */
};
PyObject *PyExc_SandboxRemoteError = (PyObject *)&_PySandbox_RemoteErrorType;


/* A RemoteError of the strings *type_name*, *message* and *traceback*
 * (str), and *exit_code*; or NULL with an exception set. */
PyObject *
_PySandbox_NewRemoteError(PyObject *type_name, PyObject *message,
                          PyObject *traceback, PyObject *exit_code)
{
    if (!PyUnicode_Check(type_name) || !PyUnicode_Check(message)
        || !PyUnicode_Check(traceback))
    {
        PyErr_SetString(PyExc_TypeError, "a RemoteError is made of strings");
        return NULL;
    }
    /* str(exc) reads like the last line of the traceback. */
    PyObject *summary = PyUnicode_GET_LENGTH(message)
        ? PyUnicode_FromFormat("%U: %U", type_name, message)
        : Py_NewRef(type_name);
    if (summary == NULL) {
        return NULL;
    }
    RemoteErrorObject *exc = (RemoteErrorObject *)PyObject_CallOneArg(
        PyExc_SandboxRemoteError, summary);
    Py_DECREF(summary);
    if (exc != NULL) {
        Py_XSETREF(exc->type_name, Py_NewRef(type_name));
        Py_XSETREF(exc->message, Py_NewRef(message));
        Py_XSETREF(exc->remote_traceback, Py_NewRef(traceback));
        Py_XSETREF(exc->exit_code, Py_NewRef(exit_code));
    }
    return (PyObject *)exc;
}


/* Encoded values.
 *
 * A value is a tag byte followed by its content; sizes and counts are
 * size_t in native byte order (both sides are this process).  The buffer
 * is raw-allocated, outside both interpreters' heaps. */

enum {
    TAG_NONE = 'N',
    TAG_TRUE = 'T',
    TAG_FALSE = 'F',
    TAG_INT = 'i',          /* size, little-endian two's complement bytes */
    TAG_FLOAT = 'f',        /* a C double */
    TAG_STR = 's',          /* size, UTF-8 with lone surrogates kept */
    TAG_BYTES = 'b',        /* size, bytes */
    TAG_TUPLE = '(',        /* count, items */
    TAG_LIST = '[',         /* count, items */
    TAG_DICT = '{',         /* count, key and value of each item */
};

/* How deep containers may nest (a cycle ends here too), and the largest
 * encoded value. */
#define XFER_MAX_DEPTH 200
#define XFER_MAX_SIZE ((size_t)64 * 1024 * 1024)

typedef struct {
    char *data;
    size_t len;
    size_t allocated;
    size_t pos;             /* decoding */
    /* Decoding what a worker process sent (_PySandbox_DecodeValue()):
       how many more values, and dict keys that are not str, it may make.
       Each value takes a pointer or more in the host, and keys whose
       hashes the sender chooses (int, float, tuple) can all collide. */
    int limited;
    Py_ssize_t items_left;
    Py_ssize_t keys_left;
} xfer_buf;

static void
xfer_clear(xfer_buf *buf)
{
    PyMem_RawFree(buf->data);
    memset(buf, 0, sizeof(*buf));
}

/* Append *size* bytes to *buf* and return where they go, or NULL with an
 * exception set. */
static char *
xfer_grow(xfer_buf *buf, size_t size)
{
    if (size > XFER_MAX_SIZE - buf->len) {
        PyErr_Format(PyExc_ValueError,
                     "the value is too large to cross interpreters "
                     "(more than %zu MiB encoded)", XFER_MAX_SIZE >> 20);
        return NULL;
    }
    if (buf->len + size > buf->allocated) {
        size_t allocated = Py_MAX(buf->allocated * 2, buf->len + size);
        allocated = Py_MAX(allocated, (size_t)256);
        char *data = PyMem_RawRealloc(buf->data, allocated);
        if (data == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        buf->data = data;
        buf->allocated = allocated;
    }
    char *at = buf->data + buf->len;
    buf->len += size;
    return at;
}

static int
xfer_put(xfer_buf *buf, const void *data, size_t size)
{
    char *at = xfer_grow(buf, size);
    if (at == NULL) {
        return -1;
    }
    if (size > 0) {
        memcpy(at, data, size);
    }
    return 0;
}

static int
xfer_put_tag(xfer_buf *buf, char tag)
{
    return xfer_put(buf, &tag, 1);
}

static int
xfer_put_size(xfer_buf *buf, char tag, size_t size)
{
    if (xfer_put_tag(buf, tag) < 0) {
        return -1;
    }
    return xfer_put(buf, &size, sizeof(size));
}

static int
encode_value(xfer_buf *buf, PyObject *obj, int depth)
{
    if (depth > XFER_MAX_DEPTH) {
        PyErr_Format(PyExc_ValueError,
                     "the value is nested too deeply to cross interpreters "
                     "(more than %d levels)", XFER_MAX_DEPTH);
        return -1;
    }
    if (obj == Py_None) {
        return xfer_put_tag(buf, TAG_NONE);
    }
    if (obj == Py_True || obj == Py_False) {
        return xfer_put_tag(buf, obj == Py_True ? TAG_TRUE : TAG_FALSE);
    }
    if (PyLong_CheckExact(obj)) {
        Py_ssize_t size = PyLong_AsNativeBytes(obj, NULL, 0,
                                               Py_ASNATIVEBYTES_LITTLE_ENDIAN);
        if (size < 0) {
            return -1;
        }
        if (xfer_put_size(buf, TAG_INT, (size_t)size) < 0) {
            return -1;
        }
        char *at = xfer_grow(buf, (size_t)size);
        if (at == NULL) {
            return -1;
        }
        if (PyLong_AsNativeBytes(obj, at, size,
                                 Py_ASNATIVEBYTES_LITTLE_ENDIAN) < 0)
        {
            return -1;
        }
        return 0;
    }
    if (PyFloat_CheckExact(obj)) {
        double value = PyFloat_AS_DOUBLE(obj);
        if (xfer_put_tag(buf, TAG_FLOAT) < 0) {
            return -1;
        }
        return xfer_put(buf, &value, sizeof(value));
    }
    if (PyUnicode_CheckExact(obj)) {
        /* Lone surrogates (from os.fsdecode() and friends) cross too. */
        PyObject *utf8 = PyUnicode_AsEncodedString(obj, "utf-8",
                                                   "surrogatepass");
        if (utf8 == NULL) {
            return -1;
        }
        int rc = xfer_put_size(buf, TAG_STR, (size_t)PyBytes_GET_SIZE(utf8));
        if (rc == 0) {
            rc = xfer_put(buf, PyBytes_AS_STRING(utf8),
                          (size_t)PyBytes_GET_SIZE(utf8));
        }
        Py_DECREF(utf8);
        return rc;
    }
    if (PyBytes_CheckExact(obj)) {
        if (xfer_put_size(buf, TAG_BYTES, (size_t)PyBytes_GET_SIZE(obj)) < 0) {
            return -1;
        }
        return xfer_put(buf, PyBytes_AS_STRING(obj),
                        (size_t)PyBytes_GET_SIZE(obj));
    }
    if (PyTuple_CheckExact(obj) || PyList_CheckExact(obj)) {
        int is_tuple = PyTuple_CheckExact(obj);
        Py_ssize_t n = Py_SIZE(obj);
        if (xfer_put_size(buf, is_tuple ? TAG_TUPLE : TAG_LIST,
                          (size_t)n) < 0)
        {
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            /* No Python code runs while encoding, but stay safe if a
               list changed size anyway. */
            if (i >= Py_SIZE(obj)) {
                PyErr_SetString(PyExc_RuntimeError,
                                "list changed size while crossing");
                return -1;
            }
            PyObject *item = Py_NewRef(is_tuple ? PyTuple_GET_ITEM(obj, i)
                                                : PyList_GET_ITEM(obj, i));
            int rc = encode_value(buf, item, depth + 1);
            Py_DECREF(item);
            if (rc < 0) {
                return -1;
            }
        }
        return 0;
    }
    if (PyDict_CheckExact(obj)) {
        Py_ssize_t n = PyDict_GET_SIZE(obj);
        if (xfer_put_size(buf, TAG_DICT, (size_t)n) < 0) {
            return -1;
        }
        Py_ssize_t pos = 0, count = 0;
        PyObject *key, *value;
        while (PyDict_Next(obj, &pos, &key, &value)) {
            if (++count > n) {
                break;
            }
            Py_INCREF(key);
            Py_INCREF(value);
            int rc = encode_value(buf, key, depth + 1);
            if (rc == 0) {
                rc = encode_value(buf, value, depth + 1);
            }
            Py_DECREF(key);
            Py_DECREF(value);
            if (rc < 0) {
                return -1;
            }
        }
        if (count != n) {
            PyErr_SetString(PyExc_RuntimeError,
                            "dict changed size while crossing");
            return -1;
        }
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "a value of type '%.200s' cannot cross interpreters: only "
                 "None, bool, int, float, str, bytes, and tuples, lists and "
                 "dicts of those can", Py_TYPE(obj)->tp_name);
    return -1;
}

static int
xfer_get(xfer_buf *buf, void *out, size_t size)
{
    if (size > buf->len - buf->pos) {
        PyErr_SetString(PyExc_RuntimeError, "truncated value");
        return -1;
    }
    memcpy(out, buf->data + buf->pos, size);
    buf->pos += size;
    return 0;
}

static int
xfer_get_size(xfer_buf *buf, size_t *size)
{
    if (xfer_get(buf, size, sizeof(*size)) < 0) {
        return -1;
    }
    if (*size > buf->len - buf->pos) {
        /* Every item takes at least one byte. */
        PyErr_SetString(PyExc_RuntimeError, "corrupt value");
        return -1;
    }
    return 0;
}

static PyObject *
decode_value(xfer_buf *buf, int depth)
{
    char tag;
    size_t size;
    if (depth > XFER_MAX_DEPTH + 1 || xfer_get(buf, &tag, 1) < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "corrupt value");
        }
        return NULL;
    }
    if (buf->limited && --buf->items_left < 0) {
        PyErr_SetString(PyExc_RuntimeError, "a value of too many items");
        return NULL;
    }
    switch (tag) {
    case TAG_NONE:
        Py_RETURN_NONE;
    case TAG_TRUE:
        Py_RETURN_TRUE;
    case TAG_FALSE:
        Py_RETURN_FALSE;
    case TAG_FLOAT: {
        double value;
        if (xfer_get(buf, &value, sizeof(value)) < 0) {
            return NULL;
        }
        return PyFloat_FromDouble(value);
    }
    case TAG_INT:
    case TAG_STR:
    case TAG_BYTES: {
        if (xfer_get_size(buf, &size) < 0) {
            return NULL;
        }
        const char *data = buf->data + buf->pos;
        buf->pos += size;
        if (tag == TAG_INT) {
            if (size == 0) {
                return PyLong_FromLong(0);
            }
            return PyLong_FromNativeBytes(data, size,
                                          Py_ASNATIVEBYTES_LITTLE_ENDIAN);
        }
        if (tag == TAG_STR) {
            return PyUnicode_DecodeUTF8(data, (Py_ssize_t)size,
                                        "surrogatepass");
        }
        return PyBytes_FromStringAndSize(data, (Py_ssize_t)size);
    }
    case TAG_TUPLE:
    case TAG_LIST: {
        if (xfer_get_size(buf, &size) < 0) {
            return NULL;
        }
        /* The container is made before its items: count them first. */
        if (buf->limited && size > (size_t)buf->items_left) {
            PyErr_SetString(PyExc_RuntimeError, "a value of too many items");
            return NULL;
        }
        PyObject *result = tag == TAG_TUPLE ? PyTuple_New((Py_ssize_t)size)
                                            : PyList_New((Py_ssize_t)size);
        if (result == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < size; i++) {
            PyObject *item = decode_value(buf, depth + 1);
            if (item == NULL) {
                Py_DECREF(result);
                return NULL;
            }
            if (tag == TAG_TUPLE) {
                PyTuple_SET_ITEM(result, (Py_ssize_t)i, item);
            }
            else {
                PyList_SET_ITEM(result, (Py_ssize_t)i, item);
            }
        }
        return result;
    }
    case TAG_DICT: {
        if (xfer_get_size(buf, &size) < 0) {
            return NULL;
        }
        PyObject *result = PyDict_New();
        if (result == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < size; i++) {
            PyObject *key = decode_value(buf, depth + 1);
            if (key != NULL && buf->limited && !PyUnicode_CheckExact(key)
                && --buf->keys_left < 0)
            {
                Py_CLEAR(key);
                PyErr_SetString(PyExc_RuntimeError,
                                "dicts of too many keys that are not str");
            }
            PyObject *value = key ? decode_value(buf, depth + 1) : NULL;
            int rc = value ? PyDict_SetItem(result, key, value) : -1;
            Py_XDECREF(key);
            Py_XDECREF(value);
            if (rc < 0) {
                Py_DECREF(result);
                return NULL;
            }
        }
        return result;
    }
    default:
        PyErr_SetString(PyExc_RuntimeError, "corrupt value");
        return NULL;
    }
}

/* Decode the one value in *buf*. */
static PyObject *
xfer_decode(xfer_buf *buf)
{
    buf->pos = 0;
    PyObject *value = decode_value(buf, 0);
    if (value != NULL && buf->pos != buf->len) {
        Py_DECREF(value);
        PyErr_SetString(PyExc_RuntimeError, "corrupt value");
        return NULL;
    }
    return value;
}


/* The same encoding as bytes, for a worker process and its host
 * (Lib/sandbox/_worker.py): both run this binary.  Decoding runs no code
 * of the sender's, whatever it sends: only the plain types are made, with
 * every size checked against what is left. */
PyObject *
_PySandbox_EncodeValue(PyObject *value)
{
    xfer_buf buf = {0};
    if (encode_value(&buf, value, 0) < 0) {
        xfer_clear(&buf);
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(buf.data,
                                                 (Py_ssize_t)buf.len);
    xfer_clear(&buf);
    return result;
}

PyObject *
_PySandbox_DecodeValue(const char *data, Py_ssize_t size,
                       Py_ssize_t max_items, Py_ssize_t max_keys)
{
    if (size > (Py_ssize_t)XFER_MAX_SIZE) {
        PyErr_SetString(PyExc_RuntimeError, "corrupt value");
        return NULL;
    }
    xfer_buf buf = {.data = (char *)data, .len = (size_t)size,
                    .limited = max_items >= 0 || max_keys >= 0,
                    .items_left = max_items >= 0 ? max_items
                                                 : PY_SSIZE_T_MAX,
                    .keys_left = max_keys >= 0 ? max_keys : PY_SSIZE_T_MAX};
    return xfer_decode(&buf);
}


/* Jobs */

typedef enum {
    JOB_EXEC,
    JOB_EVAL,
    JOB_CALL,
} job_kind;

typedef enum {
    OUTCOME_OK,             /* result holds the value (not for exec) */
    OUTCOME_RAISED,         /* untrusted code raised: the three strings */
    OUTCOME_FAILED,         /* the transport failed: fail_type, message */
} outcome_kind;

/* What a job brings back: raw memory only, so that it outlives the switch
 * back to the host. */
typedef struct {
    outcome_kind kind;
    xfer_buf result;
    char *type_name;
    char *message;
    char *traceback;
    int has_exit_code;
    xfer_buf exit_code;
    PyObject *fail_type;    /* a static exception type: valid in both */
} job_outcome;

/* The most of each string of an exception that comes back. */
#define TYPE_NAME_LIMIT 1024
#define MESSAGE_LIMIT (64 * 1024)
#define TRACEBACK_LIMIT (1024 * 1024)

static void
outcome_clear(job_outcome *out)
{
    xfer_clear(&out->result);
    xfer_clear(&out->exit_code);
    PyMem_RawFree(out->type_name);
    PyMem_RawFree(out->message);
    PyMem_RawFree(out->traceback);
    memset(out, 0, sizeof(*out));
}

/* A raw copy of at most *limit* bytes of the UTF-8 of str *text* (NULL
 * taken as a failure), or of *fallback*. */
static char *
raw_text(PyObject *text, size_t limit, const char *fallback)
{
    const char *utf8 = NULL;
    Py_ssize_t size = 0;
    if (text != NULL && PyUnicode_Check(text)) {
        utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    }
    if (utf8 == NULL) {
        PyErr_Clear();
        utf8 = fallback;
        size = (Py_ssize_t)strlen(fallback);
    }
    size_t n = Py_MIN((size_t)size, limit);
    char *copy = PyMem_RawMalloc(n + 1);
    if (copy != NULL) {
        memcpy(copy, utf8, n);
        copy[n] = '\0';
    }
    return copy;
}

/* Record the transport's own failure: the exception set now (in either
 * interpreter) is raised again in the host as the same static type. */
static void
fail_with_current(job_outcome *out)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyTypeObject *type = exc != NULL ? Py_TYPE(exc) : NULL;
    outcome_clear(out);
    out->kind = OUTCOME_FAILED;
    /* Only the static types of our own errors are shared. */
    if (type == (PyTypeObject *)PyExc_TypeError
        || type == (PyTypeObject *)PyExc_ValueError
        || type == (PyTypeObject *)PyExc_MemoryError)
    {
        out->fail_type = (PyObject *)type;
    }
    else {
        out->fail_type = PyExc_RuntimeError;
    }
    PyObject *text = exc != NULL ? PyObject_Str(exc) : NULL;
    out->message = raw_text(text, MESSAGE_LIMIT, "the transport failed");
    Py_XDECREF(text);
    Py_XDECREF(exc);
}

/* In the untrusted interpreter: turn the exception that its code raised
 * into strings.  Formatting runs its own code (str(), the traceback
 * module), which it may have replaced: whatever it makes is only text. */
static void
capture_exception(job_outcome *out)
{
    PyObject *exc = PyErr_GetRaisedException();
    out->kind = OUTCOME_RAISED;
    if (exc == NULL) {
        /* A C function of CPython failed without an exception (out of
           memory, at the cap): never trust that one is set. */
        PyErr_SetString(PyExc_SystemError,
                        "error return without exception set");
        exc = PyErr_GetRaisedException();
        if (exc == NULL) {
            out->type_name = _PyMem_RawStrdup("MemoryError");
            out->message = _PyMem_RawStrdup("");
            out->traceback = _PyMem_RawStrdup("");
            return;
        }
    }

    PyObject *name = PyType_GetFullyQualifiedName(Py_TYPE(exc));
    out->type_name = raw_text(name, TYPE_NAME_LIMIT, Py_TYPE(exc)->tp_name);
    Py_XDECREF(name);

    /* A stopped job's message is the engine's own, read as it is:
       str() polls for signals, which fails once the job is stopped. */
    PyObject *args = (Py_IS_TYPE(exc, (PyTypeObject *)PyExc_SandboxLimitExceeded)
                      ? ((PyBaseExceptionObject *)exc)->args : NULL);
    PyObject *message = (args != NULL && PyTuple_GET_SIZE(args) == 1
                         && PyUnicode_CheckExact(PyTuple_GET_ITEM(args, 0))
                         ? Py_NewRef(PyTuple_GET_ITEM(args, 0))
                         : PyObject_Str(exc));
    out->message = raw_text(message, MESSAGE_LIMIT, "<str() failed>");
    Py_XDECREF(message);

    PyObject *text = NULL;
    PyObject *lines = _PyImport_GetModuleAttrString("traceback",
                                                    "format_exception");
    if (lines != NULL) {
        Py_SETREF(lines, PyObject_CallOneArg(lines, exc));
    }
    if (lines != NULL) {
        PyObject *empty = PyUnicode_FromStringAndSize("", 0);
        if (empty != NULL) {
            text = PyUnicode_Join(empty, lines);
            Py_DECREF(empty);
        }
        Py_DECREF(lines);
    }
    out->traceback = raw_text(text, TRACEBACK_LIMIT,
                              "(the traceback could not be formatted)\n");
    Py_XDECREF(text);

    if (PyErr_GivenExceptionMatches(exc, PyExc_SystemExit)) {
        out->has_exit_code = 1;
        PyObject *code = ((PySystemExitObject *)exc)->code;
        if (code == NULL || encode_value(&out->exit_code, code, 0) < 0) {
            PyErr_Clear();
            xfer_clear(&out->exit_code);
            (void)encode_value(&out->exit_code, Py_None, 0);
        }
    }
    PyErr_Clear();
    Py_DECREF(exc);
}

/* A job that failed once its deadline passed was stopped by its time
 * limit, whatever exception its unwinding turned the stop into (a
 * RemoteError of a nested job stopped at the same deadline, an error of
 * a handler): the host is told so.  Its traceback stays. */
static void
stopped_by_limit(PyInterpreterState *interp, job_outcome *out)
{
    struct _PySandboxState *state = interp->sandbox;
    if (state == NULL || !_PySandbox_TimeExpired(state)
        || (out->type_name != NULL
            && strcmp(out->type_name, "sandbox.SandboxLimitExceeded") == 0))
    {
        return;
    }
    char detail[96];
    _PySandbox_TimeLimitDetail(state, detail, sizeof(detail));
    char *type_name = _PyMem_RawStrdup("sandbox.SandboxLimitExceeded");
    char *message = _PyMem_RawStrdup(detail);
    if (type_name == NULL || message == NULL) {
        PyMem_RawFree(type_name);
        PyMem_RawFree(message);
        return;
    }
    PyMem_RawFree(out->type_name);
    PyMem_RawFree(out->message);
    out->type_name = type_name;
    out->message = message;
    out->has_exit_code = 0;
    xfer_clear(&out->exit_code);
}

/* "module:qualname" -> the object, imported and looked up inside. */
static PyObject *
resolve_target(const char *target)
{
    const char *colon = strchr(target, ':');
    PyObject *modname = PyUnicode_FromStringAndSize(target, colon - target);
    if (modname == NULL) {
        return NULL;
    }
    PyObject *obj = PyImport_Import(modname);
    Py_DECREF(modname);
    for (const char *part = colon + 1; obj != NULL; ) {
        const char *dot = strchr(part, '.');
        size_t n = dot != NULL ? (size_t)(dot - part) : strlen(part);
        PyObject *attr = PyUnicode_FromStringAndSize(part, (Py_ssize_t)n);
        if (attr == NULL) {
            Py_CLEAR(obj);
            break;
        }
        Py_SETREF(obj, PyObject_GetAttr(obj, attr));
        Py_DECREF(attr);
        if (dot == NULL) {
            break;
        }
        part = dot + 1;
    }
    return obj;
}

/* In the untrusted interpreter, with its thread state current: run the
 * job and fill *out*. */
static void
run_job(PyInterpreterState *interp, job_kind kind, const char *text,
        const char *filename, xfer_buf *args, job_outcome *out)
{
    PyObject *call_args = NULL;
    if (kind == JOB_CALL) {
        _PySandbox_EngineAllocates(1);
        call_args = xfer_decode(args);
        _PySandbox_EngineAllocates(0);
        if (call_args == NULL) {
            capture_exception(out);
            return;
        }
    }

    PyObject *main_mod = PyUnstable_InterpreterState_GetMainModule(interp);
    PyObject *ns = main_mod != NULL ? PyModule_GetDict(main_mod) : NULL;
    PyObject *result = NULL;
    if (ns == NULL) {
        goto done;
    }
    if (kind == JOB_CALL) {
        PyObject *func = resolve_target(text);
        if (func != NULL) {
            result = PyObject_Call(func, PyTuple_GET_ITEM(call_args, 0),
                                   PyTuple_GET_ITEM(call_args, 1));
            Py_DECREF(func);
        }
    }
    else {
        /* The source is UTF-8 whatever coding cookie it carries, as for
           exec() of a str. */
        PyCompilerFlags flags = _PyCompilerFlags_INIT;
        flags.cf_flags = PyCF_SOURCE_IS_UTF8 | PyCF_IGNORE_COOKIE;
        _PySandbox_EngineAllocates(1);
        PyObject *code = Py_CompileStringExFlags(
            text, filename, kind == JOB_EVAL ? Py_eval_input : Py_file_input,
            &flags, -1);
        _PySandbox_EngineAllocates(0);
        if (code != NULL) {
            result = PyEval_EvalCode(code, ns, ns);
            Py_DECREF(code);
        }
    }

done:
    if (result == NULL) {
        capture_exception(out);
        stopped_by_limit(interp, out);
    }
    else {
        out->kind = OUTCOME_OK;
        _PySandbox_EngineAllocates(1);
        int rc = kind != JOB_EXEC ? encode_value(&out->result, result, 0) : 0;
        _PySandbox_EngineAllocates(0);
        if (rc < 0) {
            fail_with_current(out);
        }
    }
    Py_XDECREF(result);
    Py_XDECREF(main_mod);
    Py_XDECREF(call_args);
}

/* A str of the raw text *text* of an outcome; NULL (its copy failed) is
 * MemoryError. */
static PyObject *
outcome_text(const char *text)
{
    if (text == NULL) {
        return PyErr_NoMemory();
    }
    return PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
}

/* The parts of a raised outcome: (type name, message, traceback, exit
 * code or None), or NULL with an exception set. */
static PyObject *
raised_parts(job_outcome *out)
{
    PyObject *type_name = outcome_text(out->type_name);
    PyObject *message = type_name ? outcome_text(out->message) : NULL;
    PyObject *traceback = message ? outcome_text(out->traceback) : NULL;
    PyObject *exit_code = (traceback == NULL ? NULL
                           : out->has_exit_code
                           ? xfer_decode(&out->exit_code)
                           : Py_NewRef(Py_None));
    PyObject *parts = (exit_code == NULL ? NULL
                       : PyTuple_Pack(4, type_name, message, traceback,
                                      exit_code));
    Py_XDECREF(type_name);
    Py_XDECREF(message);
    Py_XDECREF(traceback);
    Py_XDECREF(exit_code);
    return parts;
}

/* The host's view of the outcome: the result, or an exception raised. */
static PyObject *
finish_job(job_outcome *out)
{
    PyObject *result = NULL;
    switch (out->kind) {
    case OUTCOME_OK:
        if (out->result.data == NULL) {
            result = Py_NewRef(Py_None);
        }
        else {
            result = xfer_decode(&out->result);
        }
        break;
    case OUTCOME_FAILED:
        if (out->message == NULL) {
            PyErr_NoMemory();
        }
        else {
            PyErr_SetString(out->fail_type, out->message);
        }
        break;
    case OUTCOME_RAISED: {
        PyObject *parts = raised_parts(out);
        if (parts != NULL) {
            PyObject *exc = _PySandbox_NewRemoteError(
                PyTuple_GET_ITEM(parts, 0), PyTuple_GET_ITEM(parts, 1),
                PyTuple_GET_ITEM(parts, 2), PyTuple_GET_ITEM(parts, 3));
            if (exc != NULL) {
                PyErr_SetRaisedException(exc);
            }
            Py_DECREF(parts);
        }
        break;
    }
    }
    outcome_clear(out);
    return result;
}

/* Jobs on a thread of their own.
 *
 * A job that the host's main interpreter runs goes to a runner thread,
 * while the host's thread waits for it (the GIL released) until the job's
 * deadline and SANDBOX_LATE_NS more.  A job stops at its deadline
 * (Python/sandbox_time.c) and comes back at once; one that is still inside
 * then is in a call that does not poll, or blocked in the kernel: the host
 * gives up on it (SandboxLimitExceeded, logged with where its code is) and
 * gets its thread back, and the runner ends the interpreter as the job
 * comes out (the threads: Python/sandbox_runner.c).  A nested job (a
 * tenant's call) runs on its caller's thread: its creator's job bounds
 * it. */

typedef struct {
    PyInterpreterState *interp;
    job_kind kind;
    char *text;
    char *filename;
    xfer_buf args;
    job_outcome out;
    int interrupted;            /* atomic: the host stopped it (Ctrl-C) */
} job_run;

static void
free_run(job_run *run)
{
    PyMem_RawFree(run->text);
    PyMem_RawFree(run->filename);
    xfer_clear(&run->args);
    outcome_clear(&run->out);
    PyMem_RawFree(run);
}

/* On a runner, with no thread state: run *arg*'s job in its interpreter,
 * which the host holds for it. */
static void
runner_job(_PySandboxRunnerTicket *ticket, void *arg)
{
    job_run *run = arg;
    PyInterpreterState *interp = run->interp;
    _PySandboxJobTimer *timer = NULL;
    PyThreadState *tstate = NULL;
    if (_PySandbox_RunnerGaveUp(ticket)) {
        /* The host gave up before this thread began (it was that slow to
           start): nothing of the job runs. */
        return;
    }
    if ((tstate = _PyThreadState_NewBound(
             interp, _PyThreadState_WHENCE_EXEC)) == NULL)
    {
        run->out.kind = OUTCOME_FAILED;     /* no message: MemoryError */
        run->out.fail_type = PyExc_MemoryError;
        return;
    }
    (void)PyThreadState_Swap(tstate);
    /* The peak of its memory is the job's; and its time limit starts (the
       timer is this thread's: the wake signal and the CPU clock are its). */
    (void)_PySandbox_HeapPeak(&interp->sandbox->heap, 1);
    if ((timer = _PySandbox_JobTimerStart(interp)) == NULL) {
        fail_with_current(&run->out);
    }
    else {
        _PySandbox_PushJobTimer(timer);
        _PySandbox_RunnerSetThread(ticket, timer->tid);
        /* The start of the timer clears the interpreter's last stop: an
           interrupt that came before it is made again (one that comes
           after this reaches the job itself). */
        if (_Py_atomic_load_int(&run->interrupted)) {
            _PySandbox_InterruptJob(interp, timer->tid);
        }
        if (_PyInterpreterState_SetRunningMain(interp) < 0) {
            fail_with_current(&run->out);
        }
        else {
            _PySandbox_SetJobThreadState(tstate);
            run_job(interp, run->kind, run->text, run->filename, &run->args,
                    &run->out);
            _PySandbox_FreeDeferred(tstate);
            _PySandbox_SetJobThreadState(NULL);
            _PyInterpreterState_SetNotRunningMain(interp);
        }
    }
    assert(!PyErr_Occurred());
    PyThreadState_Clear(tstate);
    PyThreadState_DeleteCurrent();
    if (timer != NULL) {
        _PySandbox_PopJobTimer(timer);
        _PySandbox_JobTimerStop(timer);
    }
}

/* On the runner, once a job that the host gave up on is out: its
 * interpreter ends now, once the host lets it go. */
static void
runner_job_lost(void *arg)
{
    job_run *run = arg;
    _PySandbox_EndLost(run->interp);
    free_run(run);
}

/* The host gave up on the job of *run* (its thread *tid*) in *interp*,
 * which it still holds: log it, with where the code is, and make the
 * error. */
static void
give_up(PyInterpreterState *interp, long tid)
{
    struct _PySandboxState *state = interp->sandbox;
    char where[512], limit[96], detail[800];
    _PySandbox_AskWhere(tid, interp, where, sizeof(where));
    _PySandbox_TimeLimitDetail(state, limit, sizeof(limit));
    PyOS_snprintf(detail, sizeof(detail),
                  "%s; the job did not stop within %d ms of it (a call "
                  "that does not poll, or a blocked thread): its "
                  "interpreter ends once it stops", limit,
                  (int)(SANDBOX_LATE_NS / 1000000));
    _PySandbox_LogDenialAt(
        state, (_Py_atomic_load_int(&state->stop_reason) == SANDBOX_STOP_CPU
                ? "cpu" : "time"), detail, where);
    if (where[0] != '\0') {
        size_t len = strlen(detail);
        PyOS_snprintf(detail + len, sizeof(detail) - len, " (it was at %s)",
                      where);
    }
    PyObject *type_name = PyUnicode_FromString(
        "sandbox.SandboxLimitExceeded");
    PyObject *message = type_name == NULL ? NULL
                        : PyUnicode_DecodeUTF8(detail, strlen(detail),
                                               "replace");
    PyObject *traceback = message == NULL ? NULL : PyUnicode_FromString("");
    PyObject *exc = traceback == NULL ? NULL
                    : _PySandbox_NewRemoteError(type_name, message,
                                                traceback, Py_None);
    Py_XDECREF(type_name);
    Py_XDECREF(message);
    Py_XDECREF(traceback);
    if (exc != NULL) {
        PyErr_SetRaisedException(exc);
    }
}

/* Run the job on a runner and wait for it, with the caller's hold of
 * *interp*, which is released.  NULL and *ran* 0 if no runner could take
 * it (the caller runs it itself); *args* is taken in any case. */
static PyObject *
job_on_runner(PyInterpreterState *interp, job_kind kind, const char *text,
              const char *filename, xfer_buf *args, int *ran)
{
    *ran = 0;
    job_run *run = PyMem_RawCalloc(1, sizeof(*run));
    if (run == NULL) {
        return NULL;
    }
    run->text = _PyMem_RawStrdup(text);
    run->filename = filename != NULL ? _PyMem_RawStrdup(filename) : NULL;
    if (run->text == NULL || (filename != NULL && run->filename == NULL)) {
        free_run(run);
        return NULL;
    }
    run->interp = interp;
    run->kind = kind;
    run->args = *args;
    memset(args, 0, sizeof(*args));

    /* The job's deadline is a little later: its timer starts on the
       runner. */
    PyTime_t until = (_PySandbox_MonotonicNs()
                      + _PySandbox_TimeLimit(&interp->sandbox->policy)
                      + SANDBOX_LATE_NS);
    _PySandboxRunnerTicket *ticket = _PySandbox_RunnerStart(
        runner_job, runner_job_lost, run);
    if (ticket == NULL) {
        /* The caller runs it: the arguments back. */
        *args = run->args;
        memset(&run->args, 0, sizeof(run->args));
        free_run(run);
        return NULL;
    }
    *ran = 1;
    /* The host's handlers run while it waits (a job in a loop does not
       hold off Ctrl-C): one that raises stops the job, which comes back at
       once (or is given up SANDBOX_LATE_NS later), and its exception is
       the call's. */
    int signals = PyThread_get_thread_ident() == _PyRuntime.main_thread;
    PyObject *interrupt = NULL;
    long tid = 0;
    int outcome;
    while ((outcome = _PySandbox_RunnerWait(ticket, until, signals, &tid))
           == 2)
    {
        if (PyErr_CheckSignals() < 0) {
            interrupt = PyErr_GetRaisedException();
            signals = 0;
            _Py_atomic_store_int(&run->interrupted, 1);
            _PySandbox_InterruptJob(interp, tid);
            PyTime_t late = _PySandbox_MonotonicNs() + SANDBOX_LATE_NS;
            if (late < until) {
                until = late;
            }
        }
    }
    if (outcome == 0) {
        /* The runner owns *run* now.  The interpreter is lost before the
           hold is released: no job runs in it again, and its end is the
           runner's (unless the runner, already out, left it to the host:
           SANDBOX_LOST_STOPPED stays). */
        int none = 0;
        (void)_Py_atomic_compare_exchange_int(&interp->sandbox->lost, &none,
                                              SANDBOX_LOST_RUNNING);
        give_up(interp, tid);
        _PySandbox_Leave(interp);
        if (interrupt != NULL) {
            /* Logged as given up; the host's exception is the call's. */
            PyErr_Clear();
            PyErr_SetRaisedException(interrupt);
        }
        return NULL;
    }
    _PySandbox_RunnerFree(ticket);
    _PySandbox_Leave(interp);
    if (interrupt != NULL) {
        free_run(run);
        PyErr_SetRaisedException(interrupt);
        return NULL;
    }
    PyObject *result = finish_job(&run->out);
    free_run(run);
    return result;
}

/* Give up the caller's hold of *interp*, if *held*, and fail. */
static PyObject *
release(PyInterpreterState *interp, int held)
{
    if (held) {
        _PySandbox_Leave(interp);
    }
    return NULL;
}

/* Run one job in *interp* on this thread, and come back.  With *held*,
 * the caller holds *interp*; the hold is given up in any case. */
static PyObject *
do_job(PyInterpreterState *interp, job_kind kind, const char *text,
       const char *filename, PyObject *args, PyObject *kwargs, int held)
{
    xfer_buf encoded_args = {0};
    if (kind == JOB_CALL) {
        PyObject *pair = PyTuple_Pack(2, args, kwargs);
        int rc = pair == NULL ? -1 : encode_value(&encoded_args, pair, -1);
        Py_XDECREF(pair);
        if (rc < 0) {
            xfer_clear(&encoded_args);
            return release(interp, held);
        }
    }

    /* The caller's hold (_PySandbox_HoldByID()) is the job's own. */
    if (_PySandbox_CheckJobStack() < 0
        || (held ? _PySandbox_CheckJobHeld(interp)
                 : _PySandbox_Enter(interp)) < 0)
    {
        xfer_clear(&encoded_args);
        return release(interp, held);
    }
    /* A job that the host's main interpreter runs goes to a runner, so
       that the host gets its thread back at the deadline. */
    if (_Py_atomic_load_int(&interp->sandbox->lost)) {
        PyErr_SetString(PyExc_RuntimeError, "the untrusted interpreter's "
                        "last job did not stop in time: it is ended");
        xfer_clear(&encoded_args);
        return release(interp, 1);
    }
    if (_PyInterpreterState_GET() == _PyInterpreterState_Main()) {
        int ran;
        PyObject *result = job_on_runner(interp, kind, text, filename,
                                         &encoded_args, &ran);
        if (ran) {
            return result;
        }
        PyErr_Clear();
    }
    /* The peak of its memory is the job's; and its time limit starts. */
    (void)_PySandbox_HeapPeak(&interp->sandbox->heap, 1);
    _PySandboxJobTimer *timer = _PySandbox_JobTimerStart(interp);
    if (timer == NULL) {
        xfer_clear(&encoded_args);
        return release(interp, 1);
    }
    job_outcome out = {0};
    PyThreadState *host = PyThreadState_Get();
    PyThreadState *tstate = _PyThreadState_NewBound(
        interp, _PyThreadState_WHENCE_EXEC);
    if (tstate == NULL) {
        _PySandbox_JobTimerStop(timer);
        _PySandbox_Leave(interp);
        xfer_clear(&encoded_args);
        return PyErr_NoMemory();
    }
    _PySandbox_PushJobTimer(timer);
    (void)PyThreadState_Swap(tstate);
    if (_PyInterpreterState_SetRunningMain(interp) < 0) {
        fail_with_current(&out);
    }
    else {
        run_job(interp, kind, text, filename, &encoded_args, &out);
        /* Objects whose deallocation waited for stack are freed now,
           with the whole stack free, not left for a later job. */
        _PySandbox_FreeDeferred(tstate);
        _PyInterpreterState_SetNotRunningMain(interp);
    }
    assert(!PyErr_Occurred());
    /* Everything of the job goes before the swap back: if the caller's
       interpreter is ending (a creator ended under its thread inside), the
       swap ends this thread, and the interpreter would stay entered for
       good, its end refused. */
    PyThreadState_Clear(tstate);
    PyThreadState_DeleteCurrent();
    _PySandbox_PopJobTimer(timer);
    _PySandbox_JobTimerStop(timer);
    _PySandbox_Leave(interp);
    xfer_clear(&encoded_args);
    (void)PyThreadState_Swap(host);
    return finish_job(&out);
}


static PyObject *
exec_job(PyInterpreterState *interp, const char *source,
         const char *filename, int held)
{
    if (_PySandbox_CheckController(interp, "PySandbox_Exec") < 0) {
        return release(interp, held);
    }
    if (source == NULL) {
        PyErr_SetString(PyExc_ValueError, "PySandbox_Exec: source is NULL");
        return release(interp, held);
    }
    return do_job(interp, JOB_EXEC, source,
                  filename != NULL ? filename : "<string>", NULL, NULL,
                  held);
}

int
PySandbox_Exec(PyInterpreterState *interp, const char *source,
               const char *filename)
{
    PyObject *result = exec_job(interp, source, filename, 0);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}

int
_PySandbox_ExecHeld(PyInterpreterState *interp, const char *source,
                    const char *filename)
{
    PyObject *result = exec_job(interp, source, filename, 1);
    if (result == NULL) {
        return -1;
    }
    Py_DECREF(result);
    return 0;
}


static PyObject *
eval_job(PyInterpreterState *interp, const char *expression, int held)
{
    if (_PySandbox_CheckController(interp, "PySandbox_Eval") < 0) {
        return release(interp, held);
    }
    if (expression == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandbox_Eval: expression is NULL");
        return release(interp, held);
    }
    return do_job(interp, JOB_EVAL, expression, "<string>", NULL, NULL,
                  held);
}

PyObject *
PySandbox_Eval(PyInterpreterState *interp, const char *expression)
{
    return eval_job(interp, expression, 0);
}

PyObject *
_PySandbox_EvalHeld(PyInterpreterState *interp, const char *expression)
{
    return eval_job(interp, expression, 1);
}


/* Is *target* "module:qualname", each a dotted name? */
static int
valid_target(const char *target)
{
    const char *colon = strchr(target, ':');
    if (colon == NULL || strchr(colon + 1, ':') != NULL) {
        return 0;
    }
    int at_start = 1;
    for (const char *p = target; *p != '\0'; p++) {
        if (*p == '.' || *p == ':') {
            if (at_start) {
                return 0;
            }
            at_start = 1;
        }
        else if (*p == ' ' || *p == '\t' || *p == '\n') {
            return 0;
        }
        else {
            at_start = 0;
        }
    }
    return !at_start;
}


/* The keyword arguments of a call: a dict with str keys.  0, or -1 with
 * an exception set. */
static int
check_kwargs(PyObject *kwargs)
{
    if (!PyDict_Check(kwargs)) {
        PyErr_SetString(PyExc_TypeError,
                        "PySandbox_Call: kwargs must be a dict");
        return -1;
    }
    Py_ssize_t pos = 0;
    PyObject *key;
    while (PyDict_Next(kwargs, &pos, &key, NULL)) {
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError,
                            "PySandbox_Call: keywords must be strings");
            return -1;
        }
    }
    return 0;
}

static PyObject *
call_job(PyInterpreterState *interp, const char *target, PyObject *args,
         PyObject *kwargs, int held)
{
    if (_PySandbox_CheckController(interp, "PySandbox_Call") < 0) {
        return release(interp, held);
    }
    if (target == NULL || !valid_target(target)) {
        PyErr_Format(PyExc_ValueError,
                     "PySandbox_Call: the target must be 'module:qualname', "
                     "not '%.200s'", target != NULL ? target : "(NULL)");
        return release(interp, held);
    }
    if (args != NULL && !PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError,
                        "PySandbox_Call: args must be a tuple");
        return release(interp, held);
    }
    if (kwargs != NULL && check_kwargs(kwargs) < 0) {
        return release(interp, held);
    }
    args = args != NULL ? Py_NewRef(args) : PyTuple_New(0);
    kwargs = kwargs != NULL ? Py_NewRef(kwargs) : PyDict_New();
    if (args == NULL || kwargs == NULL) {
        Py_XDECREF(args);
        Py_XDECREF(kwargs);
        return release(interp, held);
    }
    PyObject *result = do_job(interp, JOB_CALL, target, NULL, args, kwargs,
                              held);
    Py_DECREF(args);
    Py_DECREF(kwargs);
    return result;
}

PyObject *
PySandbox_Call(PyInterpreterState *interp, const char *target,
               PyObject *args, PyObject *kwargs)
{
    return call_job(interp, target, args, kwargs, 0);
}

PyObject *
_PySandbox_CallHeld(PyInterpreterState *interp, const char *target,
                    PyObject *args, PyObject *kwargs)
{
    return call_job(interp, target, args, kwargs, 1);
}

/* A worker process's job, in its own interpreter (the current one):
 * the answer Python/sandbox_worker.c sends to the host. */

/* The answer's dict of *out*, which this clears. */
static PyObject *
outcome_answer(job_outcome *out)
{
    PyObject *answer = PyDict_New();
    PyObject *value = NULL;
    const char *key = "value";
    if (answer == NULL) {
        goto done;
    }
    switch (out->kind) {
    case OUTCOME_OK:
        value = (out->result.data == NULL ? Py_NewRef(Py_None)
                                          : xfer_decode(&out->result));
        break;
    case OUTCOME_RAISED:
        key = "raised";
        value = raised_parts(out);
        break;
    case OUTCOME_FAILED:
        key = "failed";
        value = Py_BuildValue("(sN)",
                              ((PyTypeObject *)out->fail_type)->tp_name,
                              outcome_text(out->message));
        break;
    }
    if (value == NULL
        || PyDict_SetItemString(answer, "ok", out->kind == OUTCOME_OK
                                              ? Py_True : Py_False) < 0
        || PyDict_SetItemString(answer, key, value) < 0)
    {
        Py_CLEAR(answer);
    }
done:
    Py_XDECREF(value);
    outcome_clear(out);
    return answer;
}

PyObject *
_PySandbox_RunHere(const char *op, const char *text, const char *filename,
                   PyObject *args, PyObject *kwargs)
{
    PyThreadState *tstate = _PyThreadState_GET();
    job_outcome out = {0};
    xfer_buf encoded_args = {0};
    job_kind kind;
    if (strcmp(op, "exec") == 0) {
        kind = JOB_EXEC;
    }
    else if (strcmp(op, "eval") == 0) {
        kind = JOB_EVAL;
    }
    else if (strcmp(op, "call") == 0) {
        kind = JOB_CALL;
        if (!valid_target(text)) {
            PyErr_Format(PyExc_ValueError, "the target must be "
                         "'module:qualname', not '%.200s'", text);
            fail_with_current(&out);
            return outcome_answer(&out);
        }
        /* The arguments are the request's, decoded here: no code of the
           interpreter's has seen them.  They are encoded again so that
           run_job() decodes them as for any job. */
        PyObject *pair = (PyTuple_CheckExact(args) && PyDict_CheckExact(kwargs)
                          && check_kwargs(kwargs) == 0)
                         ? PyTuple_Pack(2, args, kwargs) : NULL;
        if (pair == NULL && !PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "args must be a tuple and "
                            "kwargs a dict");
        }
        if (pair == NULL || encode_value(&encoded_args, pair, -1) < 0) {
            Py_XDECREF(pair);
            xfer_clear(&encoded_args);
            fail_with_current(&out);
            return outcome_answer(&out);
        }
        Py_DECREF(pair);
    }
    else {
        PyErr_Format(PyExc_ValueError, "no such job: '%.100s'", op);
        fail_with_current(&out);
        return outcome_answer(&out);
    }
    /* The test switch (Python/sandbox_worker.c) leaves the interpreter
       trusted: none of the engine's state. */
    int untrusted = tstate->interp->sandbox != NULL;
    _PySandboxJobTimer *timer = NULL;
    if (untrusted && (_PySandbox_CheckJobStack() < 0
                      || (timer = _PySandbox_JobTimerStart(
                              tstate->interp)) == NULL))
    {
        fail_with_current(&out);
    }
    else {
        if (untrusted) {
            _PySandbox_PushJobTimer(timer);
        }
        run_job(tstate->interp, kind, text,
                filename != NULL ? filename : "<string>", &encoded_args,
                &out);
        if (untrusted) {
            _PySandbox_FreeDeferred(tstate);
            _PySandbox_PopJobTimer(timer);
            _PySandbox_JobTimerStop(timer);
        }
    }
    xfer_clear(&encoded_args);
    assert(!PyErr_Occurred());
    _PySandbox_EngineAllocates(1);
    PyObject *answer = outcome_answer(&out);
    _PySandbox_EngineAllocates(0);
    return answer;
}

#endif  /* Py_UNTRUSTED */
