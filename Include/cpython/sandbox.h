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

/* What PySandboxPolicy_AllowPath() grants, and what a file operation
 * needs: reading, or reading and changing (creating, writing, renaming,
 * removing, chmod...). */
#define PySandbox_READ  1
#define PySandbox_WRITE 2

#ifdef Py_UNTRUSTED

/* Raised when an untrusted interpreter is denied something.  A subclass of
 * PermissionError, carrying errno EACCES. */
PyAPI_DATA(PyObject *) PyExc_SandboxError;

/* Raised when an untrusted interpreter exhausts a limit that it must not be
 * able to catch (its time budget, ...).  A subclass of BaseException. */
PyAPI_DATA(PyObject *) PyExc_SandboxLimitExceeded;

/* Raised in the host when code in an untrusted interpreter raised: the
 * exception stays inside, and its type name, message and traceback come
 * back as strings (attributes type_name, message, traceback; exit_code for
 * SystemExit).  A subclass of Exception. */
PyAPI_DATA(PyObject *) PyExc_SandboxRemoteError;

/* Raised by the PySandboxPolicy_* setters and PySandbox_NewInterpreter()
 * for a malformed policy: a subclass of ValueError whose attributes field
 * ("read", "modules", ...) and value (the bad entry, or None) say what is
 * wrong, with a message "field: 'value': reason". */
PyAPI_DATA(PyObject *) PyExc_SandboxPolicyError;

/* A policy: what an untrusted interpreter may do.  Opaque; made with
 * PySandboxPolicy_New(), which grants nothing, and widened with the
 * PySandboxPolicy_* setters.  An interpreter copies its policy when it is
 * created, so the policy may be freed or reused afterwards. */
typedef struct _PySandboxPolicy PySandboxPolicy;

/* Return a new policy that grants nothing, or NULL with MemoryError set. */
PyAPI_FUNC(PySandboxPolicy *) PySandboxPolicy_New(void);

/* Free a policy; NULL is accepted. */
PyAPI_FUNC(void) PySandboxPolicy_Free(PySandboxPolicy *policy);

/* Let the interpreter run up to *n* threads at once besides the one that
 * runs a job (0, the default: none).  Return 0, or -1 with ValueError set
 * for a negative *n*.  When the interpreter ends, its threads are stopped;
 * any that do not stop within a second (blocked outside Python) leave the
 * interpreter's memory unfreed, never a crash or a hang of the host. */
PyAPI_FUNC(int) PySandboxPolicy_SetMaxThreads(PySandboxPolicy *policy,
                                              Py_ssize_t n);

/* Let the interpreter see the environment variable *name*: its os.environ
 * starts with the value that the creating thread's interpreter has when
 * PySandbox_NewInterpreter() is called (for an untrusted creator, the
 * value it got itself), and holds no other variable.  Changes inside
 * stay inside.  Return 0, or -1 with ValueError set for an empty name or
 * one with '='. */
PyAPI_FUNC(int) PySandboxPolicy_AllowEnv(PySandboxPolicy *policy,
                                         const char *name);

/* Let the interpreter load the extension module *name* (built in or a
 * shared library of the standard library, from its own file), beyond the
 * default set; or block one of the default set.  A module never loaded in
 * an untrusted interpreter (_interpreters, _datetime, the _test* and xx*
 * modules...) cannot be allowed, nor one that every interpreter loads at
 * its start (sys, _io, posix...) blocked.  A denied import raises the
 * ModuleNotFoundError of a module that does not exist.  Return 0, or -1
 * with ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowModule(PySandboxPolicy *policy,
                                            const char *name);
PyAPI_FUNC(int) PySandboxPolicy_BlockModule(PySandboxPolicy *policy,
                                            const char *name);

/* Let the interpreter load the extension module *name* from the file
 * *path* (absolute) and from no other: an embedder's own module, outside
 * the standard library.  Return 0, or -1 with ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowModuleFile(PySandboxPolicy *policy,
                                                const char *name,
                                                const char *path);

/* Let the interpreter use the file or directory *path* (absolute, without
 * "..") and, for a directory, everything beneath it, for *access*:
 * PySandbox_READ, or PySandbox_WRITE (which includes reading).  Every
 * other path of the host is refused with SandboxError, whether it exists
 * or not, except the standard library and the time zone database, which
 * it may read.  The path is opened when the interpreter is created (it
 * need not exist if its directory does: a file to create) and everything
 * is resolved beneath it then, so neither "..", nor symbolic links, nor a
 * rename while a call runs, lead out of it.  Return 0, or -1 with
 * ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowPath(PySandboxPolicy *policy,
                                          const char *path, int access);

/* The same, the interpreter seeing the file or directory *path* at the
 * virtual path *guest* (absolute, without "..", not beneath or above
 * SANDBOX_GUEST_STDLIB, the standard library's; NULL: *path* itself),
 * as wasmtime's --dir HOST::GUEST does.  Two grants whose guest paths
 * nest must nest the same way on the host.  Return 0, or -1 with
 * ValueError (PolicyError) set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowPathAt(PySandboxPolicy *policy,
                                            const char *path,
                                            const char *guest, int access);

/* Put the directory *root* (absolute, without "..") on the interpreter's
 * sys.path, after the standard library, and let it read everything beneath
 * it, as PySandboxPolicy_AllowPath() with PySandbox_READ: the pure-Python
 * modules and packages there import (from their source; never from
 * bytecode).  An extension module there loads only if
 * PySandboxPolicy_AllowModuleFile() binds its name to its file.  The
 * directory must exist when the interpreter is created.  Return 0, or -1
 * with ValueError (PolicyError) set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowPackages(PySandboxPolicy *policy,
                                              const char *root);

/* Let the interpreter import the modules beneath the package root *root*
 * (one that PySandboxPolicy_AllowPackages() added, by the same path) from
 * the bytecode caches there (__pycache__), as it does the standard
 * library's: the host vouches that only it, or root, wrote them.  The
 * engine reads and checks them in C (Doc/sandbox/imports.rst, "Trusted
 * bytecode"); a root that is not a package root is a PolicyError when the
 * interpreter is created.  Return 0, or -1 with ValueError (PolicyError)
 * set. */
PyAPI_FUNC(int) PySandboxPolicy_TrustBytecode(PySandboxPolicy *policy,
                                              const char *root);

/* The network (Doc/sandbox/network.rst).  PySandboxPolicy_AllowNet() lets
 * the interpreter connect and send to *entry*: "HOST:PORT", "HOST" (every
 * port), "HOST:LOW-HIGH", with HOST a name, an IPv4 address, an IPv6
 * address in brackets ("[::1]:8080"), "localhost" (the loopback
 * addresses) or "*" (every address and name).  A granted name is resolved
 * by the engine, once, and reaches only the addresses it resolved to; no
 * other name is resolved at all.  PySandboxPolicy_AllowListen() lets it
 * bind and listen on *entry*: the same, with an address rather than a
 * name ("PORT" alone: localhost; port 0: one the kernel picks).
 * PySandboxPolicy_DenyNet() denies *entry* whatever the others grant (a
 * name with no port: it is never resolved).  Each returns 0, or -1 with
 * ValueError (PolicyError) set for a malformed entry. */
PyAPI_FUNC(int) PySandboxPolicy_AllowNet(PySandboxPolicy *policy,
                                         const char *entry);
PyAPI_FUNC(int) PySandboxPolicy_AllowListen(PySandboxPolicy *policy,
                                            const char *entry);
PyAPI_FUNC(int) PySandboxPolicy_DenyNet(PySandboxPolicy *policy,
                                        const char *entry);

/* Give the interpreter a budget for its whole life: at most *bytes* sent
 * and received through its sockets, and *connections* made (connect(),
 * TCP or UDP) and accepted; -1 for no budget (the default), else at least
 * 1.  A call that would go beyond raises SandboxLimitExceeded (a receive
 * gets as many bytes as are left first).  A nested interpreter's budget
 * must be within what its creator has left, which is charged for it.
 * Return 0, or -1 with ValueError (PolicyError) set. */
PyAPI_FUNC(int) PySandboxPolicy_SetNetBudget(PySandboxPolicy *policy,
                                             Py_ssize_t bytes,
                                             Py_ssize_t connections);

/* Let the interpreter (*allow* nonzero) learn the host's network
 * information: its name (socket.gethostname(), os.uname().nodename, which
 * say "localhost" without it), its interfaces (socket.if_nameindex() and
 * the others, denied without it), reverse lookups (gethostbyaddr(),
 * getnameinfo() without NI_NUMERICHOST) and the host's own addresses
 * (getsockname()).  Return 0, or -1 with ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowNetworkInfo(PySandboxPolicy *policy,
                                                 int allow);

/* Let the interpreter (*allow* nonzero) learn the host's identity: its
 * process and user IDs, processors, load and kernel release, which are
 * neutral values without it (Doc/sandbox/information.rst).  Return 0, or
 * -1 with ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_AllowFilesystemInfo(PySandboxPolicy *policy,
                                                    int allow);

/* Cap the memory that an interpreter of *policy* holds at *bytes*, from
 * 16 MiB to 1 TiB and at most what this host has (256 MiB without it):
 * its objects, the buffers of its modules (zlib, bz2 and lzma included),
 * its threads' stacks and its unread output (Doc/sandbox/memory.rst).  An
 * allocation beyond the cap fails before it reaches the operating system:
 * MemoryError inside, nothing in the host.  Return 0, or -1 with
 * ValueError (PolicyError) set. */
PyAPI_FUNC(int) PySandboxPolicy_SetMemoryCap(PySandboxPolicy *policy,
                                             Py_ssize_t bytes);

/* Set the most that all untrusted interpreters of the process may hold
 * together, beyond their own caps (0: no such budget, the default).  An
 * allocation beyond it fails inside the interpreter that asks, with
 * MemoryError; PySandbox_NewInterpreter() fails (RuntimeError in a trusted
 * interpreter, MemoryError in an untrusted one) while less than 8 MiB of
 * the budget is left.  Only a trusted interpreter may call it.  Return
 * 0, or -1 with an exception set. */
PyAPI_FUNC(int) PySandbox_SetMemoryBudget(Py_ssize_t bytes);

/* A memory group: a budget for the untrusted interpreters created with a
 * policy that names it (a pool's), together, beside each one's own cap.
 * Opaque. */
typedef struct _PySandboxMemoryGroup PySandboxMemoryGroup;

/* Return a new memory group whose interpreters may hold *bytes* together
 * (16 MiB to 1 TiB, and at most what this host has), or NULL with an
 * exception set: ValueError (PolicyError) for a bad budget, MemoryError.
 * An allocation beyond the budget fails inside the interpreter that asks,
 * with MemoryError; PySandbox_NewInterpreter() fails with RuntimeError
 * while less than 8 MiB of it is left.  Only a trusted interpreter may
 * call it. */
PyAPI_FUNC(PySandboxMemoryGroup *) PySandbox_NewMemoryGroup(Py_ssize_t bytes);

/* Let go of the caller's reference to *group* (NULL is accepted).  The
 * group lives on while a policy or an interpreter of it does. */
PyAPI_FUNC(void) PySandbox_FreeMemoryGroup(PySandboxMemoryGroup *group);

/* Store what the interpreters of *group* hold now, and its budget (either
 * pointer may be NULL). */
PyAPI_FUNC(void) PySandbox_GetMemoryGroupUsage(PySandboxMemoryGroup *group,
                                               Py_ssize_t *used,
                                               Py_ssize_t *budget);

/* Make the interpreters that the host creates with *policy* count against
 * *group*'s budget (NULL: none, the default); the policy holds a
 * reference to it.  A policy with a group is refused to an untrusted
 * creator: what its interpreters hold counts against its own cap.  Return
 * 0, or -1 with ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_SetMemoryGroup(PySandboxPolicy *policy,
                                               PySandboxMemoryGroup *group);

/* Store what untrusted interpreter *interp* holds now, its cap, and the
 * most it held since its last job began (any pointer may be NULL).  What
 * the interpreters it created hold counts as held.  Return 0, or -1
 * with an exception set. */
PyAPI_FUNC(int) PySandbox_GetMemoryUsage(PyInterpreterState *interp,
                                         Py_ssize_t *used, Py_ssize_t *cap,
                                         Py_ssize_t *peak);

/* For an extension that allocates memory itself (not through PyMem_* or
 * PyObject_*): charge *bytes* to the current interpreter's memory cap
 * before it allocates them.  Return 0, or -1 with MemoryError set if they
 * do not fit; a trusted interpreter always gets 0.  PySandbox_MemoryFree()
 * gives them back, in the same interpreter, when they are freed. */
PyAPI_FUNC(int) PySandbox_MemoryAlloc(Py_ssize_t bytes);
PyAPI_FUNC(void) PySandbox_MemoryFree(Py_ssize_t bytes);

/* Limit each job (PySandbox_Exec(), _Eval(), _Call()) in an interpreter
 * of *policy* to *seconds* of wall-clock time (more than 0, at most a
 * week; without it, 30 seconds, or a nested interpreter's creator's): at
 * the deadline its code gets SandboxLimitExceeded at every check until
 * the job has unwound, and its except, finally and with blocks no longer
 * run.  A job run inside another job never outlives the outer one's
 * deadline.  Return 0, or -1 with ValueError (PolicyError) set. */
PyAPI_FUNC(int) PySandboxPolicy_SetTimeLimit(PySandboxPolicy *policy,
                                             double seconds);

/* Limit each job in an interpreter of *policy* to *seconds* of CPU time,
 * counted over the job's thread and the threads its code started, each
 * on its own clock (more than 0, at most the time limit times the threads
 * that may run at once: PySandbox_NewInterpreter() checks; without it,
 * the time limit, or a nested interpreter's creator's if that is less).
 * A job that has used it stops as at its deadline.  Return 0, or -1 with
 * ValueError (PolicyError) set. */
PyAPI_FUNC(int) PySandboxPolicy_SetCpuLimit(PySandboxPolicy *policy,
                                            double seconds);

/* Set the highest recursion limit (sys.setrecursionlimit()) that code in
 * an interpreter of *policy* may set, from 1 to 1000000; the interpreter
 * starts at Python's default (1000) or this limit if it is lower.
 * Without it, the limit is Python's default.  Return 0, or -1 with
 * ValueError set. */
PyAPI_FUNC(int) PySandboxPolicy_SetRecursionLimit(PySandboxPolicy *policy,
                                                  int limit);

/* Create an untrusted interpreter limited by *policy*: isolated (its own
 * GIL and object allocator; no fork, no exec, no threads), with no site,
 * a sys.path of the standard library only, and no bytecode cache read or
 * written.  It stays untrusted for its whole life.  The calling thread's
 * current thread state is unchanged.
 *
 * Only a trusted interpreter may call it.  Return the new interpreter, or
 * NULL with an exception set (SandboxError in an untrusted interpreter,
 * RuntimeError when the interpreter cannot be created, for instance
 * because the memory allocator is not pymalloc). */
PyAPI_FUNC(PyInterpreterState *) PySandbox_NewInterpreter(
    const PySandboxPolicy *policy);

/* End untrusted interpreter *interp*, which must not be running, from the
 * host: none of its code runs (no atexit handlers, no
 * threading._shutdown(), no finalizers), and its memory is freed.  Return
 * 0; or 1 if some of its threads, blocked outside Python, could not be
 * stopped: it is then out of reach, its memory left to them; or -1 with an
 * exception set.  Only its creator (the host, or the untrusted interpreter
 * that created it) may call it. */
PyAPI_FUNC(int) PySandbox_EndInterpreter(PyInterpreterState *interp);

/* Run code in untrusted interpreter *interp* on the calling thread, in the
 * namespace of its __main__ module, which persists from one call to the
 * next.  Only a trusted interpreter may call them, and one call at a time
 * runs in an interpreter (RuntimeError otherwise).
 *
 * Values cross as copies, never shared: None, bool, int, float, str,
 * bytes, and tuples, lists and dicts of those (exact types, nested at
 * most 200 deep, at most 64 MiB encoded); anything else raises TypeError
 * or ValueError.  When the code raises, PyExc_SandboxRemoteError is set.
 *
 * PySandbox_Exec() runs the statements *source* (UTF-8), compiled with
 * *filename* for tracebacks ("<string>" if NULL); it returns 0 or -1.
 * PySandbox_Eval() evaluates *expression* and returns a copy of its value.
 * PySandbox_Call() imports *target*'s module, "module:qualname" (for
 * example "json:dumps"), looks up qualname and calls it with copies of
 * *args* (a tuple or NULL) and *kwargs* (a dict with str keys, or NULL);
 * it returns a copy of the result. */
PyAPI_FUNC(int) PySandbox_Exec(PyInterpreterState *interp,
                               const char *source, const char *filename);
PyAPI_FUNC(PyObject *) PySandbox_Eval(PyInterpreterState *interp,
                                      const char *expression);
PyAPI_FUNC(PyObject *) PySandbox_Call(PyInterpreterState *interp,
                                      const char *target,
                                      PyObject *args, PyObject *kwargs);

/* Take what untrusted interpreter *interp* wrote to its standard output
 * (fd 1) or error (fd 2) since the last call: return it as bytes, or NULL
 * with an exception set.  Only a trusted interpreter may call it. */
PyAPI_FUNC(PyObject *) PySandbox_TakeOutput(PyInterpreterState *interp,
                                            int fd);

/* Return 1 if *interp* is an untrusted interpreter, else 0. */
PyAPI_FUNC(int) PySandbox_IsUntrusted(PyInterpreterState *interp);

/* Return a list of the denials of untrusted interpreter *interp*, oldest
 * first (the log keeps the newest 256): tuples (time, resource, detail,
 * location), time in seconds since the epoch, location "file:line" of the
 * Python code that was denied.  A trusted interpreter may read any
 * untrusted interpreter's log, an untrusted one only its own.  Return NULL
 * with an exception set on error. */
PyAPI_FUNC(PyObject *) PySandbox_GetDenials(PyInterpreterState *interp);

/* Return 0 if the current interpreter is trusted.  Otherwise log the
 * denial, set SandboxError and return -1.  Call with the GIL held. */
PyAPI_FUNC(int) PySandbox_CheckTrusted(void);

/* The same, naming the C function that asked, for the denial log. */
PyAPI_FUNC(int) _PySandbox_CheckTrusted(const char *func);

/* Return 0 if the current interpreter may load the extension module
 * *name*; otherwise log the denial, set the ModuleNotFoundError of a
 * module that does not exist, and return -1. */
PyAPI_FUNC(int) _PySandbox_CheckModuleName(const char *name);

/* Make the calling function return *error_return* with that error set
 * when the current interpreter may not load the extension module *name*
 * (a C string); nothing in a trusted interpreter. */
#define PySandbox_CheckModule(name, error_return) \
    do { \
        if (_PySandbox_CheckModuleName(name) < 0) { \
            return error_return; \
        } \
    } while (0)

/* Make the calling function return *error_return*, with SandboxError set
 * and the denial logged under the function's name, when called in an
 * untrusted interpreter. */
#define PySandbox_Trusted(error_return) \
    do { \
        if (_PySandbox_CheckTrusted(__func__) < 0) { \
            return error_return; \
        } \
    } while (0)

/* Extended protections (the 2006 design's "Adding New Protections").
 *
 * A protection is named by a group and a type within it; an extension
 * module uses its own name as its group ("Python" is reserved for the
 * core).  There are four kinds: a flag that is true or not, a numeric cap
 * with what is used of it, a set of allowed strings, and one allowed
 * string.  The host sets them on an untrusted interpreter; checks in that
 * interpreter deny what is not set (logged, SandboxError), and do nothing
 * in a trusted one.  The setters return 0, or -1 with an exception set:
 * SandboxError for an untrusted caller, ValueError for a trusted target,
 * the reserved group, or a protection already set with another kind. */
PyAPI_FUNC(int) PySandbox_ExtendedSetTrue(
    PyInterpreterState *interp, const char *group, const char *type);
PyAPI_FUNC(int) PySandbox_ExtendedValueCap(
    PyInterpreterState *interp, const char *group, const char *type,
    Py_ssize_t cap);
PyAPI_FUNC(int) PySandbox_ExtendedAddMembership(
    PyInterpreterState *interp, const char *group, const char *type,
    const char *member);
PyAPI_FUNC(int) PySandbox_ExtendedSetValue(
    PyInterpreterState *interp, const char *group, const char *type,
    const char *value);

/* The checks: 0 if allowed (always in a trusted interpreter), else -1
 * with the denial logged and SandboxError set.  Use the macros. */
PyAPI_FUNC(int) _PySandbox_ExtendedCheckTrue(const char *group,
                                             const char *type);
PyAPI_FUNC(int) _PySandbox_ExtendedValueAlloc(const char *group,
                                              const char *type,
                                              Py_ssize_t increase);
PyAPI_FUNC(int) _PySandbox_ExtendedValueFree(const char *group,
                                             const char *type,
                                             Py_ssize_t decrease);
PyAPI_FUNC(int) _PySandbox_ExtendedCheckMembership(const char *group,
                                                   const char *type,
                                                   const char *member);
PyAPI_FUNC(int) _PySandbox_ExtendedCheckValue(const char *group,
                                              const char *type,
                                              const char *value);

#define _PySandbox_RETURN_IF(check, error_return) \
    do { \
        if ((check) < 0) { \
            return error_return; \
        } \
    } while (0)
#define PySandbox_ExtendedCheckTrue(group, type, error_return) \
    _PySandbox_RETURN_IF(_PySandbox_ExtendedCheckTrue(group, type), \
                         error_return)
#define PySandbox_ExtendedValueAlloc(group, type, increase, error_return) \
    _PySandbox_RETURN_IF( \
        _PySandbox_ExtendedValueAlloc(group, type, increase), error_return)
#define PySandbox_ExtendedValueFree(group, type, decrease, error_return) \
    _PySandbox_RETURN_IF( \
        _PySandbox_ExtendedValueFree(group, type, decrease), error_return)
#define PySandbox_ExtendedCheckMembership(group, type, member, error_return) \
    _PySandbox_RETURN_IF( \
        _PySandbox_ExtendedCheckMembership(group, type, member), \
        error_return)
#define PySandbox_ExtendedCheckValue(group, type, value, error_return) \
    _PySandbox_RETURN_IF(_PySandbox_ExtendedCheckValue(group, type, value), \
                         error_return)

/* What is set on untrusted interpreter *interp*: a dict mapping
 * (group, type) to True, (used, cap), a frozenset of members, or the
 * value.  Readable as PySandbox_GetDenials(). */
PyAPI_FUNC(PyObject *) PySandbox_ExtendedQuery(PyInterpreterState *interp);

#else  /* !Py_UNTRUSTED */

/* Every interpreter is trusted: the checks do nothing. */
#define PySandbox_Trusted(error_return) do { } while (0)
#define PySandbox_CheckModule(name, error_return) do { } while (0)
#define PySandbox_ExtendedCheckTrue(group, type, error_return) \
    do { } while (0)
#define PySandbox_ExtendedValueAlloc(group, type, increase, error_return) \
    do { } while (0)
#define PySandbox_ExtendedValueFree(group, type, decrease, error_return) \
    do { } while (0)
#define PySandbox_ExtendedCheckMembership(group, type, member, error_return) \
    do { } while (0)
#define PySandbox_ExtendedCheckValue(group, type, value, error_return) \
    do { } while (0)

#endif  /* !Py_UNTRUSTED */

#ifdef __cplusplus
}
#endif
#endif  /* !Py_CPYTHON_SANDBOX_H */
