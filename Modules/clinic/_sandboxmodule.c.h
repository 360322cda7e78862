/*[clinic input]
preserve
[clinic start generated code]*/

#if defined(Py_BUILD_CORE) && !defined(Py_BUILD_CORE_MODULE)
#  include "pycore_gc.h"          // PyGC_Head
#  include "pycore_runtime.h"     // _Py_ID()
#endif
#include "pycore_abstract.h"      // _PyNumber_Index()
#include "pycore_modsupport.h"    // _PyArg_CheckPositional()

PyDoc_STRVAR(_sandbox_policy_within__doc__,
"policy_within($module, inner, outer, /)\n"
"--\n"
"\n"
"Does the policy inner grant nothing that outer does not?\n"
"\n"
"Both are dicts of the keywords of check_policy().  This is the test\n"
"that an untrusted interpreter\'s own new_interpreter() must pass.");

#define _SANDBOX_POLICY_WITHIN_METHODDEF    \
    {"policy_within", _PyCFunction_CAST(_sandbox_policy_within), METH_FASTCALL, _sandbox_policy_within__doc__},

static PyObject *
_sandbox_policy_within_impl(PyObject *module, PyObject *inner,
                            PyObject *outer);

static PyObject *
_sandbox_policy_within(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    PyObject *inner;
    PyObject *outer;

    if (!_PyArg_CheckPositional("policy_within", nargs, 2, 2)) {
        goto exit;
    }
    if (!PyDict_Check(args[0])) {
        _PyArg_BadArgument("policy_within", "argument 1", "dict", args[0]);
        goto exit;
    }
    inner = args[0];
    if (!PyDict_Check(args[1])) {
        _PyArg_BadArgument("policy_within", "argument 2", "dict", args[1]);
        goto exit;
    }
    outer = args[1];
    return_value = _sandbox_policy_within_impl(module, inner, outer);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_end_interpreter__doc__,
"end_interpreter($module, interp_id, /)\n"
"--\n"
"\n"
"End an untrusted interpreter without running any of its code.\n"
"\n"
"Return True, or False if some of its threads could not be stopped (its\n"
"memory is then left to them).");

#define _SANDBOX_END_INTERPRETER_METHODDEF    \
    {"end_interpreter", (PyCFunction)_sandbox_end_interpreter, METH_O, _sandbox_end_interpreter__doc__},

static PyObject *
_sandbox_end_interpreter_impl(PyObject *module, long long interp_id);

static PyObject *
_sandbox_end_interpreter(PyObject *module, PyObject *arg)
{
    PyObject *return_value = NULL;
    long long interp_id;

    interp_id = PyLong_AsLongLong(arg);
    if (interp_id == -1 && PyErr_Occurred()) {
        goto exit;
    }
    return_value = _sandbox_end_interpreter_impl(module, interp_id);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_lost__doc__,
"lost($module, interp_id, /)\n"
"--\n"
"\n"
"Whether the host gave up on a job of an untrusted interpreter.\n"
"\n"
"True once a job did not stop within 100 ms of its deadline: the\n"
"interpreter runs no other job, and it is ended as that job comes out\n"
"(True too once it is gone).  False otherwise.");

#define _SANDBOX_LOST_METHODDEF    \
    {"lost", (PyCFunction)_sandbox_lost, METH_O, _sandbox_lost__doc__},

static PyObject *
_sandbox_lost_impl(PyObject *module, long long interp_id);

static PyObject *
_sandbox_lost(PyObject *module, PyObject *arg)
{
    PyObject *return_value = NULL;
    long long interp_id;

    interp_id = PyLong_AsLongLong(arg);
    if (interp_id == -1 && PyErr_Occurred()) {
        goto exit;
    }
    return_value = _sandbox_lost_impl(module, interp_id);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_exec__doc__,
"exec($module, interp_id, source, /, filename=\'<string>\')\n"
"--\n"
"\n"
"Run source in the __main__ namespace of an untrusted interpreter.\n"
"\n"
"An exception inside raises RemoteError here.");

#define _SANDBOX_EXEC_METHODDEF    \
    {"exec", _PyCFunction_CAST(_sandbox_exec), METH_FASTCALL|METH_KEYWORDS, _sandbox_exec__doc__},

static PyObject *
_sandbox_exec_impl(PyObject *module, long long interp_id, const char *source,
                   const char *filename);

static PyObject *
_sandbox_exec(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *return_value = NULL;
    #if defined(Py_BUILD_CORE) && !defined(Py_BUILD_CORE_MODULE)

    #define NUM_KEYWORDS 1
    static struct {
        PyGC_Head _this_is_not_used;
        PyObject_VAR_HEAD
        PyObject *ob_item[NUM_KEYWORDS];
    } _kwtuple = {
        .ob_base = PyVarObject_HEAD_INIT(&PyTuple_Type, NUM_KEYWORDS)
        .ob_item = { &_Py_ID(filename), },
    };
    #undef NUM_KEYWORDS
    #define KWTUPLE (&_kwtuple.ob_base.ob_base)

    #else  // !Py_BUILD_CORE
    #  define KWTUPLE NULL
    #endif  // !Py_BUILD_CORE

    static const char * const _keywords[] = {"", "", "filename", NULL};
    static _PyArg_Parser _parser = {
        .keywords = _keywords,
        .fname = "exec",
        .kwtuple = KWTUPLE,
    };
    #undef KWTUPLE
    PyObject *argsbuf[3];
    Py_ssize_t noptargs = nargs + (kwnames ? PyTuple_GET_SIZE(kwnames) : 0) - 2;
    long long interp_id;
    const char *source;
    const char *filename = "<string>";

    args = _PyArg_UnpackKeywords(args, nargs, NULL, kwnames, &_parser, 2, 3, 0, argsbuf);
    if (!args) {
        goto exit;
    }
    interp_id = PyLong_AsLongLong(args[0]);
    if (interp_id == -1 && PyErr_Occurred()) {
        goto exit;
    }
    if (!PyUnicode_Check(args[1])) {
        _PyArg_BadArgument("exec", "argument 2", "str", args[1]);
        goto exit;
    }
    Py_ssize_t source_length;
    source = PyUnicode_AsUTF8AndSize(args[1], &source_length);
    if (source == NULL) {
        goto exit;
    }
    if (strlen(source) != (size_t)source_length) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        goto exit;
    }
    if (!noptargs) {
        goto skip_optional_pos;
    }
    if (!PyUnicode_Check(args[2])) {
        _PyArg_BadArgument("exec", "argument 'filename'", "str", args[2]);
        goto exit;
    }
    Py_ssize_t filename_length;
    filename = PyUnicode_AsUTF8AndSize(args[2], &filename_length);
    if (filename == NULL) {
        goto exit;
    }
    if (strlen(filename) != (size_t)filename_length) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        goto exit;
    }
skip_optional_pos:
    return_value = _sandbox_exec_impl(module, interp_id, source, filename);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_eval__doc__,
"eval($module, interp_id, expression, /)\n"
"--\n"
"\n"
"Evaluate expression in an untrusted interpreter and return a copy of it.");

#define _SANDBOX_EVAL_METHODDEF    \
    {"eval", _PyCFunction_CAST(_sandbox_eval), METH_FASTCALL, _sandbox_eval__doc__},

static PyObject *
_sandbox_eval_impl(PyObject *module, long long interp_id,
                   const char *expression);

static PyObject *
_sandbox_eval(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    long long interp_id;
    const char *expression;

    if (!_PyArg_CheckPositional("eval", nargs, 2, 2)) {
        goto exit;
    }
    interp_id = PyLong_AsLongLong(args[0]);
    if (interp_id == -1 && PyErr_Occurred()) {
        goto exit;
    }
    if (!PyUnicode_Check(args[1])) {
        _PyArg_BadArgument("eval", "argument 2", "str", args[1]);
        goto exit;
    }
    Py_ssize_t expression_length;
    expression = PyUnicode_AsUTF8AndSize(args[1], &expression_length);
    if (expression == NULL) {
        goto exit;
    }
    if (strlen(expression) != (size_t)expression_length) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        goto exit;
    }
    return_value = _sandbox_eval_impl(module, interp_id, expression);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_call__doc__,
"call($module, interp_id, target, args=(), kwargs=None, /)\n"
"--\n"
"\n"
"Call \"module:qualname\" in an untrusted interpreter.\n"
"\n"
"The arguments and the result cross as copies.");

#define _SANDBOX_CALL_METHODDEF    \
    {"call", _PyCFunction_CAST(_sandbox_call), METH_FASTCALL, _sandbox_call__doc__},

static PyObject *
_sandbox_call_impl(PyObject *module, long long interp_id, const char *target,
                   PyObject *args, PyObject *kwargs);

static PyObject *
_sandbox_call(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    long long interp_id;
    const char *target;
    PyObject *__clinic_args = NULL;
    PyObject *__clinic_kwargs = NULL;

    if (!_PyArg_CheckPositional("call", nargs, 2, 4)) {
        goto exit;
    }
    interp_id = PyLong_AsLongLong(args[0]);
    if (interp_id == -1 && PyErr_Occurred()) {
        goto exit;
    }
    if (!PyUnicode_Check(args[1])) {
        _PyArg_BadArgument("call", "argument 2", "str", args[1]);
        goto exit;
    }
    Py_ssize_t target_length;
    target = PyUnicode_AsUTF8AndSize(args[1], &target_length);
    if (target == NULL) {
        goto exit;
    }
    if (strlen(target) != (size_t)target_length) {
        PyErr_SetString(PyExc_ValueError, "embedded null character");
        goto exit;
    }
    if (nargs < 3) {
        goto skip_optional;
    }
    __clinic_args = args[2];
    if (nargs < 4) {
        goto skip_optional;
    }
    __clinic_kwargs = args[3];
skip_optional:
    return_value = _sandbox_call_impl(module, interp_id, target, __clinic_args, __clinic_kwargs);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_take_output__doc__,
"take_output($module, interp_id, fd, /)\n"
"--\n"
"\n"
"Take what an untrusted interpreter wrote to fd 1 or 2 since the last call.");

#define _SANDBOX_TAKE_OUTPUT_METHODDEF    \
    {"take_output", _PyCFunction_CAST(_sandbox_take_output), METH_FASTCALL, _sandbox_take_output__doc__},

static PyObject *
_sandbox_take_output_impl(PyObject *module, long long interp_id, int fd);

static PyObject *
_sandbox_take_output(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    long long interp_id;
    int fd;

    if (!_PyArg_CheckPositional("take_output", nargs, 2, 2)) {
        goto exit;
    }
    interp_id = PyLong_AsLongLong(args[0]);
    if (interp_id == -1 && PyErr_Occurred()) {
        goto exit;
    }
    fd = PyLong_AsInt(args[1]);
    if (fd == -1 && PyErr_Occurred()) {
        goto exit;
    }
    return_value = _sandbox_take_output_impl(module, interp_id, fd);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_denials__doc__,
"denials($module, interp_id=None, /)\n"
"--\n"
"\n"
"The denial log of an untrusted interpreter (default: this one).\n"
"\n"
"A list of (time, resource, detail, location) tuples, oldest first.");

#define _SANDBOX_DENIALS_METHODDEF    \
    {"denials", _PyCFunction_CAST(_sandbox_denials), METH_FASTCALL, _sandbox_denials__doc__},

static PyObject *
_sandbox_denials_impl(PyObject *module, PyObject *interp_id);

static PyObject *
_sandbox_denials(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    PyObject *interp_id = Py_None;

    if (!_PyArg_CheckPositional("denials", nargs, 0, 1)) {
        goto exit;
    }
    if (nargs < 1) {
        goto skip_optional;
    }
    interp_id = args[0];
skip_optional:
    return_value = _sandbox_denials_impl(module, interp_id);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_query__doc__,
"query($module, interp_id=None, /)\n"
"--\n"
"\n"
"What an untrusted interpreter (default: this one) is allowed.\n"
"\n"
"A dict mapping (group, type) to True, (used, cap), a frozenset of\n"
"members, or a value; the core\'s own limits are in the group \"Python\".");

#define _SANDBOX_QUERY_METHODDEF    \
    {"query", _PyCFunction_CAST(_sandbox_query), METH_FASTCALL, _sandbox_query__doc__},

static PyObject *
_sandbox_query_impl(PyObject *module, PyObject *interp_id);

static PyObject *
_sandbox_query(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    PyObject *interp_id = Py_None;

    if (!_PyArg_CheckPositional("query", nargs, 0, 1)) {
        goto exit;
    }
    if (nargs < 1) {
        goto skip_optional;
    }
    interp_id = args[0];
skip_optional:
    return_value = _sandbox_query_impl(module, interp_id);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_memory__doc__,
"memory($module, interp_id=None, /)\n"
"--\n"
"\n"
"The memory of an untrusted interpreter (default: this one).\n"
"\n"
"A tuple (used, cap, peak) in bytes: what it holds now (with what the\n"
"interpreters it created hold), its cap, and the most it held since its\n"
"last job began.");

#define _SANDBOX_MEMORY_METHODDEF    \
    {"memory", _PyCFunction_CAST(_sandbox_memory), METH_FASTCALL, _sandbox_memory__doc__},

static PyObject *
_sandbox_memory_impl(PyObject *module, PyObject *interp_id);

static PyObject *
_sandbox_memory(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    PyObject *interp_id = Py_None;

    if (!_PyArg_CheckPositional("memory", nargs, 0, 1)) {
        goto exit;
    }
    if (nargs < 1) {
        goto skip_optional;
    }
    interp_id = args[0];
skip_optional:
    return_value = _sandbox_memory_impl(module, interp_id);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_memory_budget__doc__,
"memory_budget($module, budget=None, /)\n"
"--\n"
"\n"
"The memory of all untrusted interpreters of the process, and its budget.\n"
"\n"
"With *budget* (bytes; 0 for none), set the budget first: the most that\n"
"they may hold together.  Return (used, budget), budget 0 for none.");

#define _SANDBOX_MEMORY_BUDGET_METHODDEF    \
    {"memory_budget", _PyCFunction_CAST(_sandbox_memory_budget), METH_FASTCALL, _sandbox_memory_budget__doc__},

static PyObject *
_sandbox_memory_budget_impl(PyObject *module, PyObject *budget);

static PyObject *
_sandbox_memory_budget(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    PyObject *budget = Py_None;

    if (!_PyArg_CheckPositional("memory_budget", nargs, 0, 1)) {
        goto exit;
    }
    if (nargs < 1) {
        goto skip_optional;
    }
    budget = args[0];
skip_optional:
    return_value = _sandbox_memory_budget_impl(module, budget);

exit:
    return return_value;
}

PyDoc_STRVAR(_sandbox_fence_layers__doc__,
"fence_layers($module, /)\n"
"--\n"
"\n"
"The layers of the second wall that this system gives.\n"
"\n"
"A dict mapping each layer (\"namespaces\", \"rlimits\", \"no_new_privs\",\n"
"\"landlock\", \"seccomp\") to None when it is available, or why it is not;\n"
"and \"landlock_abi\" to the kernel\'s Landlock ABI (0: none).");

#define _SANDBOX_FENCE_LAYERS_METHODDEF    \
    {"fence_layers", (PyCFunction)_sandbox_fence_layers, METH_NOARGS, _sandbox_fence_layers__doc__},

static PyObject *
_sandbox_fence_layers_impl(PyObject *module);

static PyObject *
_sandbox_fence_layers(PyObject *module, PyObject *Py_UNUSED(ignored))
{
    return _sandbox_fence_layers_impl(module);
}

PyDoc_STRVAR(_sandbox_encode__doc__,
"encode($module, value, /)\n"
"--\n"
"\n"
"Encode a plain value as bytes, as values cross interpreters.\n"
"\n"
"None, bool, int, float, str, bytes, and tuples, lists and dicts of\n"
"those, of their exact types.  A worker process and its host use it.");

#define _SANDBOX_ENCODE_METHODDEF    \
    {"encode", (PyCFunction)_sandbox_encode, METH_O, _sandbox_encode__doc__},

PyDoc_STRVAR(_sandbox_decode__doc__,
"decode($module, data, max_items=-1, max_keys=-1, /)\n"
"--\n"
"\n"
"Decode what encode() made; RuntimeError for anything else.\n"
"\n"
"No code of the sender\'s runs, whatever the bytes are.  At most\n"
"max_items values are made, and dict keys that are not str (whose hashes\n"
"a sender can make collide) at most max_keys; -1: no limit.");

#define _SANDBOX_DECODE_METHODDEF    \
    {"decode", _PyCFunction_CAST(_sandbox_decode), METH_FASTCALL, _sandbox_decode__doc__},

static PyObject *
_sandbox_decode_impl(PyObject *module, Py_buffer *data, Py_ssize_t max_items,
                     Py_ssize_t max_keys);

static PyObject *
_sandbox_decode(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    Py_buffer data = {NULL, NULL};
    Py_ssize_t max_items = -1;
    Py_ssize_t max_keys = -1;

    if (!_PyArg_CheckPositional("decode", nargs, 1, 3)) {
        goto exit;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) != 0) {
        goto exit;
    }
    if (nargs < 2) {
        goto skip_optional;
    }
    {
        Py_ssize_t ival = -1;
        PyObject *iobj = _PyNumber_Index(args[1]);
        if (iobj != NULL) {
            ival = PyLong_AsSsize_t(iobj);
            Py_DECREF(iobj);
        }
        if (ival == -1 && PyErr_Occurred()) {
            goto exit;
        }
        max_items = ival;
    }
    if (nargs < 3) {
        goto skip_optional;
    }
    {
        Py_ssize_t ival = -1;
        PyObject *iobj = _PyNumber_Index(args[2]);
        if (iobj != NULL) {
            ival = PyLong_AsSsize_t(iobj);
            Py_DECREF(iobj);
        }
        if (ival == -1 && PyErr_Occurred()) {
            goto exit;
        }
        max_keys = ival;
    }
skip_optional:
    return_value = _sandbox_decode_impl(module, &data, max_items, max_keys);

exit:
    /* Cleanup for data */
    if (data.obj) {
       PyBuffer_Release(&data);
    }

    return return_value;
}

PyDoc_STRVAR(_sandbox_remote_error__doc__,
"remote_error($module, type_name, message, traceback, exit_code, /)\n"
"--\n"
"\n"
"A RemoteError as a job\'s end makes it: for a worker\'s answer.");

#define _SANDBOX_REMOTE_ERROR_METHODDEF    \
    {"remote_error", _PyCFunction_CAST(_sandbox_remote_error), METH_FASTCALL, _sandbox_remote_error__doc__},

static PyObject *
_sandbox_remote_error_impl(PyObject *module, PyObject *type_name,
                           PyObject *message, PyObject *traceback,
                           PyObject *exit_code);

static PyObject *
_sandbox_remote_error(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *return_value = NULL;
    PyObject *type_name;
    PyObject *message;
    PyObject *traceback;
    PyObject *exit_code;

    if (!_PyArg_CheckPositional("remote_error", nargs, 4, 4)) {
        goto exit;
    }
    if (!PyUnicode_Check(args[0])) {
        _PyArg_BadArgument("remote_error", "argument 1", "str", args[0]);
        goto exit;
    }
    type_name = args[0];
    if (!PyUnicode_Check(args[1])) {
        _PyArg_BadArgument("remote_error", "argument 2", "str", args[1]);
        goto exit;
    }
    message = args[1];
    if (!PyUnicode_Check(args[2])) {
        _PyArg_BadArgument("remote_error", "argument 3", "str", args[2]);
        goto exit;
    }
    traceback = args[2];
    exit_code = args[3];
    return_value = _sandbox_remote_error_impl(module, type_name, message, traceback, exit_code);

exit:
    return return_value;
}
/*[clinic end generated code: output=2ac1a8dab4414770 input=a9049054013a1b77]*/
