/* Built against the headers of a build without --with-untrusted, linked
 * with a flag-on libpython: the stock PyInterpreterConfig crosses. */
#include <Python.h>
#include <stdio.h>

#ifdef Py_UNTRUSTED
#  error "this program must see the headers of a flag-off build"
#endif

int
main(void)
{
    Py_Initialize();
    PyThreadState *main_tstate = PyThreadState_Get();
    for (int i = 0; i < 3; i++) {
        /* On the stack, exactly the size stock 3.13 headers give it. */
        PyInterpreterConfig config = {
            .use_main_obmalloc = 0,
            .allow_fork = 0,
            .allow_exec = 0,
            .allow_threads = 1,
            .allow_daemon_threads = 0,
            .check_multi_interp_extensions = 1,
            .gil = PyInterpreterConfig_OWN_GIL,
        };
        PyThreadState *sub = NULL;
        PyStatus status = Py_NewInterpreterFromConfig(&sub, &config);
        if (PyStatus_Exception(status)) {
            fprintf(stderr, "creation failed: %s\n",
                    status.err_msg ? status.err_msg : "(no message)");
            return 2;
        }
        if (PyRun_SimpleString(
                "import builtins\n"
                "print('interpreter', __restricted__, sum(range(10)))\n")
            != 0)
        {
            return 3;
        }
        Py_EndInterpreter(sub);
        PyThreadState_Swap(main_tstate);
    }
    printf("config size %zu\n", sizeof(PyInterpreterConfig));
    if (Py_FinalizeEx() < 0) {
        return 4;
    }
    return 0;
}
