/* Untrusted interpreters: the network budget.
 *
 * A policy may cap, over an interpreter's life, the bytes it sends and
 * receives through its sockets and the connections it makes and accepts.
 * The socket module reserves bytes before each system call and gives
 * back what the call did not use (Modules/socketmodule.c, patch 0194), so
 * threads cannot race past the cap; a nested interpreter's budget comes
 * out of its creator's.  Doc/sandbox/network.rst.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyInterpreterState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <sys/uio.h>              // struct iovec
int
PySandboxPolicy_SetNetBudget(PySandboxPolicy *policy, Py_ssize_t bytes,
                             Py_ssize_t connections)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_SetNetBudget: policy is NULL");
        return -1;
    }
    if (bytes < -1 || bytes == 0) {
        return _PySandboxPolicy_ErrorInt("net_bytes", bytes, "out of range "
                                         "(at least 1, or none)");
    }
    if (connections < -1 || connections == 0) {
        return _PySandboxPolicy_ErrorInt("net_connections", connections,
                                         "out of range (at least 1, or "
                                         "none)");
    }
    policy->net_bytes_cap = bytes < 0 ? 0 : bytes;
    policy->net_connections_cap = connections < 0 ? 0 : connections;
    return 0;
}

/* Is the budget of *inner* within what *outer* (an untrusted creator)
 * has left? */
static int
budget_within(const PySandboxPolicy *inner,
              const struct _PySandboxState *outer)
{
    const PySandboxPolicy *policy = &outer->policy;
    return ((policy->net_bytes_cap == 0
             || (inner->net_bytes_cap != 0
                 && inner->net_bytes_cap
                    <= policy->net_bytes_cap
                       - _Py_atomic_load_ssize(&outer->net_bytes_used)))
            && (policy->net_connections_cap == 0
                || (inner->net_connections_cap != 0
                    && inner->net_connections_cap
                       <= policy->net_connections_cap
                          - _Py_atomic_load_ssize(
                              &outer->net_connections_used))));
}

int
_PySandbox_NestedNetBudget(PySandboxPolicy *sized,
                           const PySandboxPolicy **policy,
                           struct _PySandboxState *creator)
{
    Py_ssize_t bytes_cap = creator->policy.net_bytes_cap;
    Py_ssize_t connections_cap = creator->policy.net_connections_cap;
    if (bytes_cap != 0 && (*policy)->net_bytes_cap == 0) {
        sized->net_bytes_cap = Py_MAX(
            (bytes_cap - _Py_atomic_load_ssize(&creator->net_bytes_used)) / 2,
            1);
        *policy = sized;
    }
    if (connections_cap != 0 && (*policy)->net_connections_cap == 0) {
        sized->net_connections_cap = Py_MAX(
            (connections_cap
             - _Py_atomic_load_ssize(&creator->net_connections_used)) / 2,
            1);
        *policy = sized;
    }
    if (!budget_within(*policy, creator)) {
        return _PySandbox_Deny("interpreter", "a nested policy's network "
                               "budget beyond what its creator has left "
                               "(net_bytes, net_connections)");
    }
    if (bytes_cap != 0) {
        _Py_atomic_add_ssize(&creator->net_bytes_used,
                             (*policy)->net_bytes_cap);
    }
    if (connections_cap != 0) {
        _Py_atomic_add_ssize(&creator->net_connections_used,
                             (*policy)->net_connections_cap);
    }
    return 0;
}

/* Take *n* of the budget *cap* whose use is *used*: all of them (*exact*),
 * or as many as are left, at least 1.  Return what was taken, or 0 if
 * none could be. */
static Py_ssize_t
take(Py_ssize_t *used, Py_ssize_t cap, Py_ssize_t n, int exact)
{
    Py_ssize_t old = _Py_atomic_load_ssize(used);
    for (;;) {
        Py_ssize_t left = cap - old;
        Py_ssize_t got = n <= left ? n : exact ? 0 : left;
        if (got <= 0) {
            return 0;
        }
        if (_Py_atomic_compare_exchange_ssize(used, &old, old + got)) {
            return got;
        }
    }
}

static int
spent(const char *field, Py_ssize_t cap, const char *what)
{
    char detail[160];
    PyOS_snprintf(detail, sizeof(detail), "%s: the budget of %zd %s is "
                  "spent", field, cap, what);
    _PySandbox_LogDenialRaw(_PyInterpreterState_GET()->sandbox, "network",
                            detail);
    PyErr_Format(PyExc_SandboxLimitExceeded, "the network budget is spent "
                 "(%s: %zd %s)", field, cap, what);
    return -1;
}

int
_PySandbox_NetReserveSlow(Py_ssize_t *len, int exact)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    Py_ssize_t cap = state->policy.net_bytes_cap;
    if (cap == 0 || *len <= 0) {
        return 0;
    }
    Py_ssize_t got = take(&state->net_bytes_used, cap, *len, exact);
    if (got == 0) {
        return spent("net_bytes", cap, "bytes");
    }
    *len = got;
    return 0;
}

void
_PySandbox_NetReleaseSlow(Py_ssize_t reserved, Py_ssize_t used)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state->policy.net_bytes_cap == 0 || reserved <= 0) {
        return;
    }
    if (used < 0) {
        used = 0;
    }
    if (used < reserved) {
        _Py_atomic_add_ssize(&state->net_bytes_used, used - reserved);
    }
}

int
_PySandbox_NetReserveIovSlow(void *iov_p, int *iovlen, Py_ssize_t *reserved)
{
    struct iovec *iov = iov_p;
    Py_ssize_t total = 0;
    for (int i = 0; i < *iovlen; i++) {
        total += (Py_ssize_t)iov[i].iov_len;
    }
    Py_ssize_t room = total;
    if (_PySandbox_NetReserveSlow(&room, 0) < 0) {
        return -1;
    }
    /* Fewer bytes than asked for: the buffers cut to them. */
    Py_ssize_t left = room;
    for (int i = 0; i < *iovlen; i++) {
        if ((Py_ssize_t)iov[i].iov_len >= left) {
            iov[i].iov_len = (size_t)left;
            *iovlen = i + 1;
            break;
        }
        left -= (Py_ssize_t)iov[i].iov_len;
    }
    *reserved = room;
    return 0;
}

int
_PySandbox_TakeConnection(struct _PySandboxState *state)
{
    Py_ssize_t cap = state->policy.net_connections_cap;
    if (cap == 0 || take(&state->net_connections_used, cap, 1, 1) == 1) {
        return 0;
    }
    return spent("net_connections", cap, "connections");
}

int
_PySandbox_NetAcceptSlow(void)
{
    return _PySandbox_TakeConnection(_PyInterpreterState_GET()->sandbox);
}

void
_PySandbox_NetAcceptFailedSlow(void)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state->policy.net_connections_cap != 0) {
        _Py_atomic_add_ssize(&state->net_connections_used, -1);
    }
}

void
_PySandbox_NetUsage(const struct _PySandboxState *state, Py_ssize_t *bytes,
                    Py_ssize_t *connections)
{
    bytes[0] = _Py_atomic_load_ssize(&state->net_bytes_used);
    bytes[1] = state->policy.net_bytes_cap;
    connections[0] = _Py_atomic_load_ssize(&state->net_connections_used);
    connections[1] = state->policy.net_connections_cap;
}

#endif  /* Py_UNTRUSTED */
