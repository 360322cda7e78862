/* Untrusted interpreters: standard I/O.
 *
 * The C buffers behind sys.stdin, sys.stdout and sys.stderr.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_import.h"        // _PyImport_GetModuleAttrString()
#include "pycore_initconfig.h"    // _PyStatus_OK()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // EBADF


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
    _PySandbox_LOCK(&out->mutex);
    if (n > SANDBOX_OUTPUT_LIMIT - out->len) {
        full = 1;
    }
    else {
        if (out->len + n > out->allocated) {
            size_t size = Py_MAX(out->allocated * 2, out->len + n);
            size = Py_MIN(Py_MAX(size, (size_t)4096), SANDBOX_OUTPUT_LIMIT);
            /* The buffer counts against the memory cap, until the end. */
            Py_ssize_t more = (Py_ssize_t)(size - out->allocated);
            char *data = NULL;
            if (_PySandbox_HeapCharge(&state->heap, more, 1) == 0) {
                data = PyMem_RawRealloc(out->data, size);
                if (data == NULL) {
                    _PySandbox_HeapUncharge(&state->heap, more);
                }
            }
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

PyTypeObject _PySandbox_StreamType = {
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
    /* Its package roots, with sys set up. */
    return _PySandbox_InitPackagePaths(tstate);

error:
    Py_XDECREF(textio);
    (void)tstate;
    return _PyStatus_ERR("cannot create the standard streams of an "
                         "untrusted interpreter");
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
    _PySandbox_LOCK(&out->mutex);
    PyObject *result = PyBytes_FromStringAndSize(out->data,
                                                 (Py_ssize_t)out->len);
    if (result != NULL) {
        out->len = 0;
    }
    PyMutex_Unlock(&out->mutex);
    return result;
}

int
_PySandbox_TakeOutputRaw(struct _PySandboxState *state, int fd, char **data,
                         size_t *size)
{
    sandbox_output *out = &state->output[fd - 1];
    *data = NULL;
    *size = 0;
    _PySandbox_LOCK(&out->mutex);
    if (out->len > 0) {
        *data = PyMem_RawMalloc(out->len);
        if (*data == NULL) {
            PyMutex_Unlock(&out->mutex);
            return -1;
        }
        memcpy(*data, out->data, out->len);
        *size = out->len;
        out->len = 0;
    }
    PyMutex_Unlock(&out->mutex);
    return 0;
}

/* Free what the interpreter wrote and the host did not take. */
void
_PySandbox_ClearOutput(struct _PySandboxState *state)
{
    for (size_t i = 0; i < Py_ARRAY_LENGTH(state->output); i++) {
        PyMem_RawFree(state->output[i].data);
    }
}

#endif  /* Py_UNTRUSTED */
