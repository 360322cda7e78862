/* Untrusted interpreters: the public C API for embedders and extensions.
 *
 * Documented in Doc/c-api/sandbox.rst.  Everything here exists only in a
 * CPython configured --with-untrusted (Py_UNTRUSTED), except the macros,
 * which are defined in both builds so that an extension can use them
 * without #ifdefs: without the flag they do nothing.
 */
#ifndef Py_CPYTHON_SANDBOX_H
#define Py_CPYTHON_SANDBOX_H
#ifdef __cplusplus
extern "C" {
#endif

#ifdef Py_UNTRUSTED

/* Raised when an untrusted interpreter is denied something.  A subclass of
 * PermissionError, carrying errno EACCES. */
PyAPI_DATA(PyObject *) PyExc_SandboxError;

/* Raised when an untrusted interpreter exhausts a limit that it must not be
 * able to catch (its time budget, ...).  A subclass of BaseException. */
PyAPI_DATA(PyObject *) PyExc_SandboxLimitExceeded;

/* Return 0 if the current interpreter is trusted.  Otherwise set
 * SandboxError and return -1.  Call with an attached thread state. */
PyAPI_FUNC(int) PySandbox_CheckTrusted(void);

/* Make the calling function return *error_return*, with SandboxError set,
 * when called in an untrusted interpreter. */
#define PySandbox_Trusted(error_return) \
    do { \
        if (PySandbox_CheckTrusted() < 0) { \
            return error_return; \
        } \
    } while (0)

#else  /* !Py_UNTRUSTED */

/* Every interpreter is trusted. */
#define PySandbox_Trusted(error_return) do { } while (0)

#endif  /* !Py_UNTRUSTED */

#ifdef __cplusplus
}
#endif
#endif  /* !Py_CPYTHON_SANDBOX_H */
