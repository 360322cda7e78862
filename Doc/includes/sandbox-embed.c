/* A C host that runs untrusted Python code in an untrusted interpreter.
 *
 * Build it against a CPython configured --with-untrusted:
 *
 *     cc sandbox-embed.c $(python3.13-config --cflags --ldflags --embed) \
 *         -o sandbox-embed
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Print str() of a value that came back, and drop it. */
static void
show(const char *label, PyObject *value)
{
    PyObject *text = PyObject_Str(value);
    if (text != NULL) {
        printf("%s: %s\n", label, PyUnicode_AsUTF8(text));
        Py_DECREF(text);
    }
    Py_DECREF(value);
}

/* The plugin: code the host does not trust. */
static const char PLUGIN[] =
    "def area(width, height):\n"
    "    print('computing', width, 'x', height)\n"
    "    return {'area': width * height, 'unit': 'm2'}\n"
    "\n"
    "def broken():\n"
    "    return 1 / 0\n";

static int
run_jobs(PyInterpreterState *jail)
{
    /* Define the plugin's functions inside; its namespace persists. */
    if (PySandbox_Exec(jail, PLUGIN, "<plugin>") < 0) {
        return -1;
    }

    /* Call one: arguments and result cross as copies. */
    PyObject *args = Py_BuildValue("(ii)", 6, 7);
    if (args == NULL) {
        return -1;
    }
    PyObject *result = PySandbox_Call(jail, "__main__:area", args, NULL);
    Py_DECREF(args);
    if (result == NULL) {
        return -1;
    }
    show("result", result);

    /* What it printed went to a buffer in C, not to our stdout. */
    PyObject *out = PySandbox_TakeOutput(jail, 1);
    if (out == NULL) {
        return -1;
    }
    show("captured", out);

    /* An exception inside comes back as RemoteError, with text made
       inside: the exception object itself never leaves. */
    result = PySandbox_Call(jail, "__main__:broken", NULL, NULL);
    if (result != NULL || !PyErr_ExceptionMatches(PyExc_SandboxRemoteError)) {
        Py_XDECREF(result);
        return -1;
    }
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *type_name = PyObject_GetAttrString(exc, "type_name");
    Py_DECREF(exc);
    if (type_name == NULL) {
        return -1;
    }
    show("raised", type_name);

    /* What it is denied is logged for the host: here, a nested
       interpreter with a thread, which its own policy does not grant. */
    if (PySandbox_Exec(jail,
                       "import _sandbox\n"
                       "try:\n"
                       "    _sandbox.new_interpreter(threads=1)\n"
                       "except PermissionError as exc:\n"
                       "    print('denied:', exc)\n", NULL) < 0)
    {
        return -1;
    }
    PyObject *log = PySandbox_GetDenials(jail);
    if (log == NULL) {
        return -1;
    }
    printf("denials: %zd\n", PyList_GET_SIZE(log));
    Py_DECREF(log);
    return 0;
}

int
main(void)
{
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        Py_ExitStatusException(status);
    }

    int exitcode = 1;
    PySandboxPolicy *policy = PySandboxPolicy_New();   /* grants nothing */
    PyInterpreterState *jail = NULL;
    if (policy != NULL) {
        jail = PySandbox_NewInterpreter(policy);
        PySandboxPolicy_Free(policy);   /* the interpreter has its copy */
    }
    if (jail != NULL) {
        if (run_jobs(jail) == 0) {
            exitcode = 0;
        }
        if (PyErr_Occurred()) {
            PyErr_Print();      /* a host error: ours to report */
        }
        if (PySandbox_EndInterpreter(jail) < 0) {
            PyErr_Print();
            exitcode = 1;
        }
    }
    else {
        PyErr_Print();
    }
    if (Py_FinalizeEx() < 0) {
        exitcode = 120;
    }
    return exitcode;
}
