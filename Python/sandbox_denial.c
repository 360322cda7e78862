/* Untrusted interpreters: denials.
 *
 * The exceptions, the denial log, and who may act on whom.
 *
 * Every check denies through _PySandbox_Deny(): a generic SandboxError for
 * the untrusted code, the full detail in a log in C state that the host
 * reads (PySandbox_GetDenials()).  The trust checks decide which
 * interpreter may control or read which.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_frame.h"         // _PyInterpreterFrame
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState
#include "pycore_typeobject.h"    // _PyStaticType_InitBuiltin()

#ifdef Py_UNTRUSTED

#include <errno.h>                // EACCES


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
PyObject *PyExc_SandboxLimitExceeded =
    (PyObject *)&_PyExc_SandboxLimitExceeded;

PyDoc_STRVAR(sandbox_policy_error_doc,
"A policy is malformed.\n\
\n\
A subclass of ValueError.  Its attribute field names the policy field\n\
(\"read\", \"modules\", ...) and value the bad entry, or None.");

static PyTypeObject _PyExc_SandboxPolicyError = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sandbox.PolicyError",
    .tp_basicsize = sizeof(PyBaseExceptionObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = sandbox_policy_error_doc,
    /* .tp_base is ValueError, set in _PySandbox_InitTypes() */
};
PyObject *PyExc_SandboxPolicyError = (PyObject *)&_PyExc_SandboxPolicyError;

/* Raise PolicyError("field: value: reason") with the attributes field and
 * value (*value* may be None, and is then left out of the message).
 * Return -1. */
int
_PySandboxPolicy_ErrorObject(const char *field, PyObject *value,
                             const char *reason)
{
    PyObject *field_obj = PyUnicode_FromString(field);
    PyObject *message = NULL, *exc = NULL;
    if (field_obj == NULL) {
        goto done;
    }
    message = (value != Py_None
               ? PyUnicode_FromFormat("%s: %R: %s", field, value, reason)
               : PyUnicode_FromFormat("%s: %s", field, reason));
    if (message == NULL) {
        goto done;
    }
    exc = PyObject_CallOneArg(PyExc_SandboxPolicyError, message);
    if (exc != NULL
        && PyObject_SetAttrString(exc, "field", field_obj) == 0
        && PyObject_SetAttrString(exc, "value", value) == 0)
    {
        PyErr_SetObject(PyExc_SandboxPolicyError, exc);
    }
done:
    Py_XDECREF(exc);
    Py_XDECREF(message);
    Py_XDECREF(field_obj);
    return -1;
}

/* The same for an integer *value*. */
int
_PySandboxPolicy_ErrorInt(const char *field, Py_ssize_t value,
                          const char *reason)
{
    PyObject *value_obj = PyLong_FromSsize_t(value);
    if (value_obj == NULL) {
        return -1;
    }
    (void)_PySandboxPolicy_ErrorObject(field, value_obj, reason);
    Py_DECREF(value_obj);
    return -1;
}

/* The same for a string *value* (NULL: None), decoded as a path is. */
int
_PySandboxPolicy_Error(const char *field, const char *value,
                       const char *reason)
{
    PyObject *value_obj = (value != NULL ? PyUnicode_DecodeFSDefault(value)
                                         : Py_NewRef(Py_None));
    if (value_obj == NULL) {
        return -1;
    }
    (void)_PySandboxPolicy_ErrorObject(field, value_obj, reason);
    Py_DECREF(value_obj);
    return -1;
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


static PyTypeObject *const sandbox_static_types[] = {
    &_PyExc_SandboxError,
    &_PyExc_SandboxLimitExceeded,
    &_PyExc_SandboxPolicyError,
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
        _PyExc_SandboxPolicyError.tp_base = (PyTypeObject *)PyExc_ValueError;
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

/* Append *text* to *buf* at *pos*, within *size* (the last byte stays
 * for the terminator); the new position. */
static size_t
put_text(char *buf, size_t size, size_t pos, const char *text)
{
    while (*text != '\0' && pos + 1 < size) {
        buf[pos++] = *text++;
    }
    return pos;
}

/* The length of the valid UTF-8 sequence at *p* (2 to 4), or 0. */
static int
utf8_length(const unsigned char *p)
{
    int n = (p[0] >= 0xc2 && p[0] <= 0xdf ? 2
             : p[0] >= 0xe0 && p[0] <= 0xef ? 3
             : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0);
    for (int i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }
    /* No overlong form, surrogate, or code point above U+10FFFF. */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f)
        || (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
    {
        return 0;
    }
    return n;
}

/* Append *text* to *buf* like put_text(), as valid UTF-8: its control
 * characters (C0, DEL, and C1) and the bytes that are not UTF-8 written
 * as \xNN.  A tenant's file or host name reaches the host's terminal and
 * logs, and the host decodes the log as UTF-8. */
static size_t
put_name(char *buf, size_t size, size_t pos, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)text;
    while (*p != '\0' && pos + 1 < size) {
        unsigned int c = *p;
        int n = c >= 0x80 ? utf8_length(p) : 1;
        if (c == 0xc2 && n == 2 && p[1] <= 0x9f) {
            c = p[1];           /* a C1 control character */
            p += 2;
        }
        else if (n > 1) {
            if (pos + (size_t)n >= size) {
                break;
            }
            memcpy(buf + pos, p, (size_t)n);
            pos += (size_t)n;
            p += n;
            continue;
        }
        else if (n == 1 && c >= 0x20 && c != 0x7f) {
            buf[pos++] = (char)c;
            p++;
            continue;
        }
        else {
            p++;
        }
        char escaped[5] = {'\\', 'x', hex[c >> 4], hex[c & 15], '\0'};
        if (pos + 4 >= size) {
            break;
        }
        pos = put_text(buf, size, pos, escaped);
    }
    return pos;
}

/* The compact str *text* encoded in UTF-8 into *buf* (truncated at a
 * character to fit *size*, lone surrogates as '?'): *buf*.  No allocation,
 * no lock: the wake signal's handler calls it. */
static const char *
encode_utf8(PyObject *text, char *buf, size_t size)
{
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    size_t pos = 0;
    for (Py_ssize_t i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        unsigned char out[4];
        size_t n;
        if (c < 0x80) {
            out[0] = (unsigned char)c;
            n = 1;
        }
        else if (c < 0x800) {
            out[0] = (unsigned char)(0xc0 | (c >> 6));
            out[1] = (unsigned char)(0x80 | (c & 0x3f));
            n = 2;
        }
        else if (c >= 0xd800 && c <= 0xdfff) {
            out[0] = '?';
            n = 1;
        }
        else if (c < 0x10000) {
            out[0] = (unsigned char)(0xe0 | (c >> 12));
            out[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
            out[2] = (unsigned char)(0x80 | (c & 0x3f));
            n = 3;
        }
        else {
            out[0] = (unsigned char)(0xf0 | (c >> 18));
            out[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
            out[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
            out[3] = (unsigned char)(0x80 | (c & 0x3f));
            n = 4;
        }
        if (pos + n >= size) {
            break;
        }
        memcpy(buf + pos, out, n);
        pos += n;
    }
    buf[pos] = '\0';
    return buf;
}

void
_PySandbox_FrameLocation(PyThreadState *tstate, char *buf, size_t size)
{
    buf[0] = '\0';
    if (tstate == NULL || size < 2) {
        return;
    }
    _PyInterpreterFrame *frame = tstate->current_frame;
    while (frame != NULL && _PyFrame_IsIncomplete(frame)) {
        frame = frame->previous;
    }
    if (frame == NULL || !PyCode_Check(frame->f_executable)) {
        return;
    }
    PyCodeObject *code = _PyFrame_GetCode(frame);
    const char *filename = "?";
    char encoded[256];
    PyObject *name = code->co_filename;
    if (PyUnicode_Check(name) && PyUnicode_IS_COMPACT_ASCII(name)) {
        filename = (const char *)PyUnicode_DATA(name);
    }
    else if (PyUnicode_Check(name) && PyUnicode_IS_COMPACT(name)
             && ((PyCompactUnicodeObject *)name)->utf8 != NULL)
    {
        filename = ((PyCompactUnicodeObject *)name)->utf8;
    }
    else if (PyUnicode_Check(name) && PyUnicode_IS_COMPACT(name)) {
        /* Not encoded yet (only ASCII is, at creation): here, on the
           stack. */
        filename = encode_utf8(name, encoded, sizeof(encoded));
    }
    /* No snprintf(): this runs in a signal handler too. */
    char digits[24];
    int line = PyUnstable_InterpreterFrame_GetLine(frame);
    unsigned int n = line < 0 ? 0 : (unsigned int)line;
    size_t k = sizeof(digits) - 1;
    digits[k] = '\0';
    do {
        digits[--k] = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0 && k > 0);
    size_t pos = put_name(buf, size, 0, filename);
    pos = put_text(buf, size, pos, ":");
    pos = put_text(buf, size, pos, digits + k);
    buf[pos] = '\0';
}

/* A raw copy of *text* with its control characters written as \xNN
 * (put_name()): a detail names a path that the tenant chose, and the log
 * reaches the host's terminal (--show-denials) and its files.  NULL if no
 * memory. */
static char *
escaped_copy(const char *text)
{
    size_t size = 4 * strlen(text) + 1;
    char *copy = PyMem_RawMalloc(size);
    if (copy != NULL) {
        copy[put_name(copy, size, 0, text)] = '\0';
    }
    return copy;
}

static void
log_denial_at(struct _PySandboxState *state, const char *resource,
              const char *detail, const char *location)
{
    PyTime_t now;
    if (PyTime_TimeRaw(&now) < 0) {
        now = 0;
    }
    /* If a copy fails, the entry keeps what could be copied: a denial is
       never lost for want of memory. */
    char *copies[3] = {escaped_copy(resource), escaped_copy(detail),
                       escaped_copy(location)};
    _PySandbox_LOCK(&state->log_mutex);
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

/* Logged with the "file:line" of the innermost Python frame of the
 * current thread, read without allocating anything: the memory cap logs
 * its refusals from inside the allocator (Python/sandbox_memory.c), with
 * or without a thread state. */
static void
log_denial(struct _PySandboxState *state, const char *resource,
           const char *detail)
{
    char location[512];
    _PySandbox_FrameLocation(_PyThreadState_GET(), location,
                             sizeof(location));
    log_denial_at(state, resource, detail, location);
}

void
_PySandbox_LogDenialRaw(struct _PySandboxState *state, const char *resource,
                        const char *detail)
{
    log_denial(state, resource, detail);
}

void
_PySandbox_LogDenialAt(struct _PySandboxState *state, const char *resource,
                       const char *detail, const char *location)
{
    log_denial_at(state, resource, detail, location);
}

/* The length of the operation that *detail* names first ("open: read
 * /etc/passwd", "connect('x':1) = ...", "os.getloadavg (filesystem_info)",
 * "os.read on descriptor 5"), or 0.  The exception's message names it, and
 * nothing the engine found: the same for a path that exists as for one
 * that does not, for an address that answers as for one that does not. */
static size_t
operation(const char *detail)
{
    size_t n = 0;
    while (n < 64 && (Py_ISALNUM(detail[n]) || detail[n] == '_'
                      || (detail[n] == '.' && n > 0)))
    {
        n++;
    }
    const char *rest = detail + n;
    if (n > 0 && (*rest == '\0' || *rest == ':' || *rest == '('
                  || strncmp(rest, " (", 2) == 0
                  || strncmp(rest, " on ", 4) == 0))
    {
        return n;
    }
    return 0;
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
    size_t op = operation(detail);
    PyObject *exc = op > 0
        ? PyObject_CallFunction(PyExc_SandboxError, "iN", EACCES,
                                PyUnicode_FromFormat(
                                    "%.*s: not allowed in an untrusted "
                                    "interpreter", (int)op, detail))
        : PyObject_CallFunction(PyExc_SandboxError, "is", EACCES,
                                "not allowed in an untrusted interpreter");
    if (exc != NULL) {
        PyErr_SetObject(PyExc_SandboxError, exc);
        Py_DECREF(exc);
    }
    return -1;
}


/* The state of untrusted interpreter *interp* for a query: a trusted
 * interpreter may read any, an untrusted one only its own.  NULL with an
 * exception set otherwise. */
struct _PySandboxState *
_PySandbox_ReadableState(PyInterpreterState *interp, const char *func)
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
    struct _PySandboxState *state =
        _PySandbox_ReadableState(interp, "PySandbox_GetDenials");
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
    _PySandbox_LOCK(&state->log_mutex);
    uint64_t end = state->denials;
    uint64_t start = end > SANDBOX_DENIAL_LOG_SIZE
                     ? end - SANDBOX_DENIAL_LOG_SIZE : 0;
    for (uint64_t i = start; i < end; i++, n++) {
        sandbox_denial *entry = &state->log[i % SANDBOX_DENIAL_LOG_SIZE];
        copy[n].time = entry->time;
        copy[n].resource = (entry->resource
                            ? _PyMem_RawStrdup(entry->resource) : NULL);
        copy[n].detail = (entry->detail
                          ? _PyMem_RawStrdup(entry->detail) : NULL);
        copy[n].location = (entry->location
                            ? _PyMem_RawStrdup(entry->location) : NULL);
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
    if (len > 5 && len < sizeof(name)
        && strcmp(func + len - 5, "_impl") == 0)
    {
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

/* Free the entries of the denial log. */
void
_PySandbox_ClearLog(struct _PySandboxState *state)
{
    for (size_t i = 0; i < SANDBOX_DENIAL_LOG_SIZE; i++) {
        clear_denial(&state->log[i]);
    }
}

#endif  /* Py_UNTRUSTED */
