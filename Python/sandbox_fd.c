/* Untrusted interpreters: descriptors.
 *
 * The table of the file descriptors an untrusted interpreter owns.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_frame.h"         // _PyInterpreterFrame
#include "pycore_pystate.h"       // _PyInterpreterState_GET(), HEAD_LOCK()
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


/* Uses
 *
 * A C call checks a descriptor, then may run the tenant's code before its
 * system call uses it: an argument's conversion (__index__, __buffer__, a
 * sequence's items, a bool), a finalizer, an audit hook; code made of C
 * callables alone (functools.partial, map, operator.call) pushes no frame
 * of its own.  Were that code to close the number (or dup2() another file
 * onto it), the call would use whatever has the number by then: the
 * host's file or socket, opened meanwhile by another thread of the host,
 * or another file of the tenant's (a socket behind a pipe, past the byte
 * budget).  Another thread of the tenant's could do the same between the
 * check and the system call, or while the call waits in it.
 *
 * So each check records a use, and the call ends it with
 * _PySandbox_FdUsed() after its last system call on the number.  Until
 * then the number may not be closed or replaced, by any code of the
 * interpreter's.  A use names the thread, the Python frame that made the
 * call and its instruction (a C function pushes no frame of its own):
 * while the frame is still at that instruction, the call may not have
 * returned.  A use that a call could not end (it failed between its check
 * and its system call) lapses when its frame moves on or is gone: no code
 * moves a frame that is in a call, since an untrusted interpreter's trace
 * functions may not set f_lineno.  A call made from C with no Python frame
 * between (a thread started on the C function; code that runs while a
 * frame is torn down) is anchored at that C level instead: the entry
 * frame the thread is at, which stays on its stack until the C code that
 * called Python returns, or, below all frames, the thread itself (a job's
 * thread state ends with the job).  The same use made again before it
 * ends (a nested call at the same instruction, a loop of C calls) is
 * counted, and ends when each of them has ended it.  A close or dup2()
 * that succeeds forgets the number's uses. */
struct _PySandboxFdUse {
    PyThreadState *tstate;
    uint64_t tid;       /* its tstate->id: a new thread state may reuse
                           the address of one deleted since */
    /* The frame that made the call, at *instr*; or, for a call made from
       C code with no Python frame between (a thread started on the C
       function, code that runs while a frame is torn down), the frame the
       thread was at (NULL, or an entry frame), with *instr* NULL. */
    _PyInterpreterFrame *frame;
    _Py_CODEUNIT *instr;
    int fd;
    int calls;          /* the calls that have not ended it yet */
};

static int
is_mine(PyThreadState *tstate, const struct _PySandboxFdUse *use)
{
    return use->tstate == tstate && use->tid == tstate->id;
}

/* The frame and instruction of a use that the current thread makes now. */
static void
current_call(PyThreadState *tstate, _PyInterpreterFrame **frame,
             _Py_CODEUNIT **instr)
{
    _PyInterpreterFrame *f = tstate->current_frame;
    *frame = f;
    /* A call made from C (see above): anchored at this C level. */
    *instr = f == NULL || f->owner == FRAME_OWNED_BY_CSTACK
             ? NULL : f->instr_ptr;
}

/* May the call that *use* recorded still be under way: is its frame on the
 * stack of *tstate* (whose frames do not change meanwhile: the current
 * thread, or one whose GIL the caller holds) at the same instruction?  For
 * a call made from C, is its anchor on the stack (below all frames: the
 * thread is alive)? */
static int
call_on_stack(PyThreadState *tstate, const struct _PySandboxFdUse *use)
{
    if (use->frame == NULL) {
        return 1;
    }
    for (_PyInterpreterFrame *f = tstate->current_frame; f != NULL;
         f = f->previous)
    {
        if (f == use->frame) {
            return use->instr == NULL || f->instr_ptr == use->instr;
        }
    }
    return 0;
}

/* The same for another thread of the interpreter: it holds no GIL (the
 * caller does), so its frames stay as they are while they are read, and
 * the runtime's lock of threads keeps it from being deleted meanwhile. */
static int
other_thread_in_call(PyInterpreterState *interp,
                     const struct _PySandboxFdUse *use)
{
    int found = 0;
    HEAD_LOCK(interp->runtime);
    for (PyThreadState *t = interp->threads.head; t != NULL; t = t->next) {
        if (t == use->tstate && t->id == use->tid) {
            found = call_on_stack(t, use);
            break;
        }
    }
    HEAD_UNLOCK(interp->runtime);
    return found;
}

static int
use_is_live(PyThreadState *tstate, const struct _PySandboxFdUse *use)
{
    return is_mine(tstate, use) ? call_on_stack(tstate, use)
           : other_thread_in_call(tstate->interp, use);
}

/* Drop the uses whose calls have returned, of any thread (and those of
 * threads that are no more). */
static void
forget_gone_uses(struct _PySandboxState *state, PyThreadState *tstate)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < state->n_fd_uses; i++) {
        if (use_is_live(tstate, &state->fd_uses[i])) {
            state->fd_uses[kept++] = state->fd_uses[i];
        }
    }
    state->n_fd_uses = kept;
}

/* The current thread's use of *fd* at its current call, or NULL. */
static struct _PySandboxFdUse *
find_use(struct _PySandboxState *state, PyThreadState *tstate, int fd)
{
    _PyInterpreterFrame *frame;
    _Py_CODEUNIT *instr;
    current_call(tstate, &frame, &instr);
    for (Py_ssize_t i = state->n_fd_uses - 1; i >= 0; i--) {
        struct _PySandboxFdUse *use = &state->fd_uses[i];
        if (use->fd == fd && use->frame == frame && use->instr == instr
            && is_mine(tstate, use))
        {
            return use;
        }
    }
    return NULL;
}

/* Record that the current call checked *fd*: 0, or -1 with MemoryError
 * set. */
static int
record_use(struct _PySandboxState *state, int fd)
{
    PyThreadState *tstate = _PyThreadState_GET();
    if (tstate == NULL) {
        return 0;
    }
    struct _PySandboxFdUse *same = find_use(state, tstate, fd);
    if (same != NULL) {
        same->calls++;
        return 0;
    }
    if (state->n_fd_uses == state->fd_uses_allocated) {
        forget_gone_uses(state, tstate);
    }
    if (state->n_fd_uses == state->fd_uses_allocated) {
        Py_ssize_t allocated = state->fd_uses_allocated * 2 + 16;
        struct _PySandboxFdUse *uses = PyMem_RawRealloc(
            state->fd_uses, (size_t)allocated * sizeof(*uses));
        if (uses == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        state->fd_uses = uses;
        state->fd_uses_allocated = allocated;
    }
    struct _PySandboxFdUse *use = &state->fd_uses[state->n_fd_uses++];
    use->tstate = tstate;
    use->tid = tstate->id;
    current_call(tstate, &use->frame, &use->instr);
    use->fd = fd;
    use->calls = 1;
    return 0;
}

void
_PySandbox_FdUsedSlow(int fd)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    PyThreadState *tstate = _PyThreadState_GET();
    if (state == NULL || tstate == NULL) {
        return;
    }
    struct _PySandboxFdUse *use = find_use(state, tstate, fd);
    if (use != NULL && --use->calls == 0) {
        *use = state->fd_uses[--state->n_fd_uses];
    }
}

/* *fd* is closed or replaced: what was recorded of it is gone. */
static void
forget_fd_uses(struct _PySandboxState *state, int fd)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < state->n_fd_uses; i++) {
        if (state->fd_uses[i].fd != fd) {
            state->fd_uses[kept++] = state->fd_uses[i];
        }
    }
    state->n_fd_uses = kept;
}

/* Is *fd* checked by a call, of any thread of the interpreter's, that has
 * not ended its use (see "Uses")? */
static int
in_use_by_a_call(struct _PySandboxState *state, int fd)
{
    PyThreadState *tstate = _PyThreadState_GET();
    for (Py_ssize_t i = 0; tstate != NULL && i < state->n_fd_uses; i++) {
        const struct _PySandboxFdUse *use = &state->fd_uses[i];
        if (use->fd == fd && use_is_live(tstate, use)) {
            return 1;
        }
    }
    return 0;
}

static int
deny_in_use(int fd, const char *func)
{
    char detail[160];
    PyOS_snprintf(detail, sizeof(detail), "%s of descriptor %d while a "
                  "call uses it", func, fd);
    return _PySandbox_Deny("descriptor", detail);
}

void
_PySandbox_ClearFdUses(struct _PySandboxState *state)
{
    PyMem_RawFree(state->fd_uses);
    state->fd_uses = NULL;
    state->n_fd_uses = state->fd_uses_allocated = 0;
}

/* Does the current interpreter own *fd*?  0, or -1 with the denial
 * logged. */
static int
check_owned(struct _PySandboxState *state, int fd, const char *func)
{
    if (_PySandbox_FdIsOwned(state, fd)) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "%s on descriptor %d",
                  func != NULL ? func : "an operation", fd);
    return _PySandbox_Deny("descriptor", detail);
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
    /* Nothing is recorded for a check that fails: its caller does not
       end a use (which would end another call's, of the same number at
       the same instruction). */
    if (check_owned(state, fd, func) < 0
        || (state->policy.net_bytes_cap != 0
            && socket_io_outside_budget(fd, func) < 0))
    {
        return -1;
    }
    return record_use(state, fd);
}

int
_PySandbox_CheckFdUnusedSlow(int fd, const char *func)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL || fd < 0 || !in_use_by_a_call(state, fd)) {
        return 0;
    }
    return deny_in_use(fd, func);
}

/* *fd*, owned, is about to be closed or replaced: unless a call uses it.
 * Its uses are forgotten.  0, or -1 denied. */
static int
take_over(struct _PySandboxState *state, int fd, const char *func)
{
    if (check_owned(state, fd, func) < 0) {
        return -1;
    }
    if (in_use_by_a_call(state, fd)) {
        return deny_in_use(fd, func != NULL ? func : "a close");
    }
    forget_fd_uses(state, fd);
    return 0;
}

int
_PySandbox_CheckFdTargetSlow(int fd, const char *func)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state == NULL || fd < 0) {
        return 0;
    }
    if (take_over(state, fd, func) < 0) {
        return -1;
    }
    return record_use(state, fd);
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
    if (state == NULL || fd < 0) {
        return 0;
    }
    if (take_over(state, fd, func) < 0) {
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
        /* Not one that a call which runs this code uses: left open. */
        if (_PySandbox_FdIsOwned(state, fd)
            && !in_use_by_a_call(state, fd))
        {
            forget_fd_uses(state, fd);
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
