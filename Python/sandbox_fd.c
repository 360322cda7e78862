/* Untrusted interpreters: descriptors.
 *
 * The table of the file descriptors an untrusted interpreter owns.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>                // EBADF
#include <sys/stat.h>             // fstat()
#ifdef HAVE_UNISTD_H
#  include <unistd.h>             // close()
#endif
#ifdef HAVE_SYS_SOCKET_H
#  include <sys/socket.h>         // struct msghdr, SCM_RIGHTS, SO_LINGER
#endif
#include <pthread.h>              // pthread_key_create()


/* Descriptors in flight: made by a thread of an untrusted interpreter
 * with its GIL let go (or held by it across a release), not yet recorded
 * in the table nor closed.  Such a thread exits when it takes its GIL back
 * once its interpreter was abandoned (take_gil()), before its caller could
 * record or close them: nobody else knows them, and they would stay open
 * in the host for good.  This thread-specific key's destructor, which runs
 * at that exit, closes them.  A call holds one or two at a time (a pipe's
 * ends), more only when Python code runs under one (a codec of the
 * tenant's, while a traceback's source line is read): the slots grow then.
 * They are the thread's own, read and written by it alone, and allocated
 * with malloc(): no GIL needed, nothing traced.  The key's value is set
 * with the first slots, so that the destructor frees them. */
static _Py_thread_local int *in_flight;         /* -1: a free slot */
static _Py_thread_local Py_ssize_t in_flight_size;
static pthread_key_t in_flight_key;
static pthread_once_t in_flight_once = PTHREAD_ONCE_INIT;
static int in_flight_key_created;

static void
close_in_flight(void *Py_UNUSED(value))
{
    for (Py_ssize_t i = 0; i < in_flight_size; i++) {
        if (in_flight[i] >= 0) {
            (void)close(in_flight[i]);
        }
    }
    free(in_flight);
    in_flight = NULL;
    in_flight_size = 0;
}

static void
create_in_flight_key(void)
{
    in_flight_key_created = (pthread_key_create(&in_flight_key,
                                                close_in_flight) == 0);
}

/* A free slot of this thread's, or NULL (no memory, or no key). */
static int *
free_in_flight_slot(void)
{
    for (Py_ssize_t i = 0; i < in_flight_size; i++) {
        if (in_flight[i] < 0) {
            return &in_flight[i];
        }
    }
    if (in_flight == NULL) {
        (void)pthread_once(&in_flight_once, create_in_flight_key);
        if (!in_flight_key_created) {
            return NULL;
        }
    }
    Py_ssize_t size = in_flight_size > 0 ? 2 * in_flight_size : 4;
    int *slots = realloc(in_flight, (size_t)size * sizeof(int));
    if (slots == NULL) {
        return NULL;
    }
    if (in_flight == NULL
        && pthread_setspecific(in_flight_key, slots) != 0)
    {
        free(slots);
        return NULL;
    }
    for (Py_ssize_t i = in_flight_size; i < size; i++) {
        slots[i] = -1;
    }
    int *slot = &slots[in_flight_size];
    in_flight = slots;
    in_flight_size = size;
    return slot;
}

void
_PySandbox_FdInFlightSlow(int fd)
{
    int *slot = fd >= 0 ? free_in_flight_slot() : NULL;
    if (slot != NULL) {
        *slot = fd;
    }
    /* Else (no memory) it is not closed if the thread exits with it. */
}

void
_PySandbox_FdLandedSlow(int fd)
{
    for (Py_ssize_t i = 0; fd >= 0 && i < in_flight_size; i++) {
        if (in_flight[i] == fd) {
            in_flight[i] = -1;
            return;
        }
    }
}

int
_PySandbox_LandInTable(int fd)
{
    _PySandbox_FdLandedSlow(fd);
    if (fd >= _PySandbox_MAX_FD) {
        /* Out of the table's reach: given back rather than held unusable
           (or unrecorded). */
        (void)close(fd);
        errno = EMFILE;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return 0;
}


/* Own, or forget, *fd*; either way it is not read-only until
   set_fd_readonly() says so. */
static void
set_fd_owned(struct _PySandboxState *state, int fd, int owned)
{
    _PySandbox_SetFdBit(state->fds, fd, owned);
    _PySandbox_SetFdBit(state->ro_fds, fd, 0);
}

/* With a byte budget, the calls that read or write a descriptor by its
 * number (the os module's, FileIO) would move a socket's bytes past it:
 * a socket is then read and written through its methods only. */
static int
socket_io_outside_budget(int fd, const char *func)
{
    static const char *const io_calls[] = {
        "FileIO", "os.read", "os.readv", "os.pread", "os.preadv",
        "os.write", "os.writev", "os.pwrite", "os.pwritev", "os.sendfile",
        "os.splice", "os.copy_file_range", "os.eventfd_read",
        "os.eventfd_write",
    };
    struct stat st;
    if (func == NULL
        || !_PySandbox_InList(io_calls, Py_ARRAY_LENGTH(io_calls), func)
        || fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
    {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "%s on socket %d: with a byte "
                  "budget (net_bytes), through its methods only", func, fd);
    return _PySandbox_Deny("network", detail);
}

int
_PySandbox_CheckFdSlow(int fd, const char *func)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    /* A negative number is no descriptor: the system call fails (EBADF)
       as it does for a closed socket or file. */
    if (state == NULL || fd < 0) {
        return 0;
    }
    if (_PySandbox_FdIsOwned(state, fd)) {
        return state->policy.net_bytes_cap == 0 ? 0
               : socket_io_outside_budget(fd, func);
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
    if (_PySandbox_LandInTable(fd) < 0) {
        return -1;
    }
    set_fd_owned(state, fd, 1);
    if (_PySandbox_FdsStillOpen(state, state->fds, fd) < 0) {
        return -1;
    }
    return fd;
}

/* *fd* was just recorded in *table* of *state*: unless the interpreter's
 * descriptors were closed meanwhile (it was abandoned, then swept, while a
 * thread of it held its GIL in C), which would leave *fd* open in the host
 * for good.  Then close it (if the sweep did not: the one that takes its
 * bit back does) and return -1 with OSError (EBADF) set.  The bit is set
 * before the flag is read, and the sweep sets the flag before it reads
 * the bits (all sequentially consistent): one of them sees the other. */
int
_PySandbox_FdsStillOpen(struct _PySandboxState *state, unsigned char *table,
                        int fd)
{
    if (!_Py_atomic_load_int(&state->fds_closed)) {
        return 0;
    }
    if (fd >= _PySandbox_MAX_FD || _PySandbox_TakeFdBit(table, fd)) {
        (void)close(fd);
    }
    errno = EBADF;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

int
_PySandbox_OwnFdPairSlow(int fds[2])
{
    if (_PySandbox_OwnFdSlow(fds[0]) < 0) {
        _PySandbox_FdLandedSlow(fds[1]);
        (void)close(fds[1]);
        return -1;
    }
    if (_PySandbox_OwnFdSlow(fds[1]) < 0) {
        if (_PySandbox_ForgetFdSlow(fds[0])) {
            (void)close(fds[0]);
        }
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

int
_PySandbox_ForgetFdSlow(int fd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL) {
        return 1;
    }
    _PySandbox_SetFdBit(state->ro_fds, fd, 0);
    /* The one that takes its bit closes it: this caller, or the sweep. */
    return _PySandbox_TakeFdBit(state->fds, fd);
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
#endif  /* SCM_RIGHTS */

int
_PySandbox_CloseFdRange(int low, int high)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    assert(state != NULL);
    low = Py_MAX(low, 0);
    high = Py_MIN(high, _PySandbox_MAX_FD);
    for (int fd = low; fd < high; fd++) {
        if (_PySandbox_FdIsOwned(state, fd)) {
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
void
_PySandbox_NoLinger(int fd)
{
#ifdef SO_LINGER
    struct linger off = {0, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
#endif
}

void
_PySandbox_CloseOwnedFds(struct _PySandboxState *state)
{
    /* Each number is forgotten before it is closed: a thread of an
       abandoned interpreter that checks it afterwards is refused, rather
       than handed a number the host may reuse at once. */
    for (int fd = 0; fd < _PySandbox_MAX_FD; fd++) {
        if (_PySandbox_TakeFdBit(state->fds, fd)) {
            _PySandbox_SetFdBit(state->ro_fds, fd, 0);
            _PySandbox_NoLinger(fd);
            (void)close(fd);
        }
    }
}

#endif  /* Py_UNTRUSTED */
