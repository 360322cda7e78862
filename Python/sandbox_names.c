/* Untrusted interpreters: the names of the network.
 *
 * Only the engine resolves a name, and only one its policy grants
 * (Python/sandbox_net.c keeps the entries): first from the host's
 * /etc/hosts, then from DNS as an absolute name, so that no search domain
 * turns it into another.  A name granted by a name entry is resolved once
 * per interpreter and its addresses kept (its "pin"): the socket module's
 * lookups answer from them, and a connection through the name reaches
 * only them.  No query for any other name leaves the process.
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

#include <arpa/inet.h>            // inet_ntop(), inet_pton()
#include <netdb.h>                // getaddrinfo()
#include <netinet/in.h>           // struct sockaddr_in6
#include <stdio.h>                // fopen()
#include <sys/socket.h>           // AF_INET
/* The most addresses the engine keeps for one name. */
#define SANDBOX_PIN_MAX 16

/* The addresses the engine resolved for a granted name: the only ones a
 * connection through the name may reach, whatever later answers say (no
 * DNS rebinding into an address the policy does not grant). */
typedef struct sandbox_pin {
    struct sandbox_pin *next;
    char *name;
    int n;
    int family[SANDBOX_PIN_MAX];
    unsigned char addr[SANDBOX_PIN_MAX][16];
} sandbox_pin;


static const sandbox_pin no_pin = {NULL, NULL, 0, {0}, {{0}}};

void
_PySandbox_ClearPins(struct _PySandboxState *state)
{
    sandbox_pin *pin = state->pins;
    while (pin != NULL) {
        sandbox_pin *next = pin->next;
        PyMem_RawFree(pin->name);
        PyMem_RawFree(pin);
        pin = next;
    }
    state->pins = NULL;
}

static sandbox_pin *
find_pin(struct _PySandboxState *state, const char *name)
{
    for (sandbox_pin *pin = state->pins; pin != NULL; pin = pin->next) {
        if (strcmp(pin->name, name) == 0) {
            return pin;
        }
    }
    return NULL;
}

/* Add the address *addr* of *family* to *pin*, unless it is there or
 * full. */
static void
pin_add(sandbox_pin *pin, int family, const unsigned char *addr)
{
    for (int i = 0; i < pin->n; i++) {
        if (pin->family[i] == family
            && memcmp(pin->addr[i], addr, family == AF_INET ? 4 : 16) == 0)
        {
            return;
        }
    }
    if (pin->n < SANDBOX_PIN_MAX) {
        pin->family[pin->n] = family;
        memset(pin->addr[pin->n], 0, 16);
        memcpy(pin->addr[pin->n], addr, family == AF_INET ? 4 : 16);
        pin->n++;
    }
}

/* The addresses of *name* in the host's /etc/hosts, into *pin*: the C
 * library does not look there for an absolute name ("name."), which the
 * engine asks DNS for.  The C library reads the file, not Python: the
 * tenant's files protection is not involved. */
static void
hosts_file_lookup(const char *name, sandbox_pin *pin)
{
    FILE *f = fopen("/etc/hosts", "re");
    if (f == NULL) {
        return;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        char *save = NULL;
        char *addr = strtok_r(line, " \t\r\n", &save);
        if (addr == NULL) {
            continue;
        }
        int match = 0;
        for (char *entry = strtok_r(NULL, " \t\r\n", &save);
             entry != NULL && !match;
             entry = strtok_r(NULL, " \t\r\n", &save))
        {
            char norm[256];
            match = (_PySandbox_NormalizeHostName(entry, norm, sizeof(norm))
                     && strcmp(norm, name) == 0);
        }
        unsigned char bytes[16];
        if (!match) {
            continue;
        }
        if (inet_pton(AF_INET, addr, bytes) == 1) {
            pin_add(pin, AF_INET, bytes);
        }
        else if (inet_pton(AF_INET6, addr, bytes) == 1) {
            if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)bytes)) {
                pin_add(pin, AF_INET, bytes + 12);
            }
            else {
                pin_add(pin, AF_INET6, bytes);
            }
        }
    }
    fclose(f);
}

/* Resolve *name* (lower case, no final dot) into *pin*: from the host's
 * /etc/hosts if it is there, else from DNS as an absolute name (the
 * resolver's search domains would turn a name into another, which the
 * policy may deny); at most SANDBOX_PIN_MAX addresses, each once.
 * Without the GIL while the resolver runs.  0, or -1 if it does not
 * resolve (*pin* then has none). */
static int
resolve_into(const char *name, sandbox_pin *pin)
{
    pin->n = 0;
    hosts_file_lookup(name, pin);
    if (pin->n > 0) {
        return 0;
    }
    char absolute[260];
    PyOS_snprintf(absolute, sizeof(absolute), "%s.", name);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int error;
    Py_BEGIN_ALLOW_THREADS
    error = getaddrinfo(absolute, NULL, &hints, &res);
    Py_END_ALLOW_THREADS
    if (error != 0) {
        return -1;
    }
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family == AF_INET
            && ai->ai_addrlen >= (socklen_t)sizeof(struct sockaddr_in))
        {
            pin_add(pin, AF_INET, (const unsigned char *)
                    &((struct sockaddr_in *)ai->ai_addr)->sin_addr);
        }
        else if (ai->ai_family == AF_INET6
                 && ai->ai_addrlen >= (socklen_t)sizeof(struct sockaddr_in6))
        {
            pin_add(pin, AF_INET6, (const unsigned char *)
                    &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
        }
    }
    freeaddrinfo(res);
    return 0;
}

/* The addresses of the granted *name*: resolved by the engine the first
 * time, the same ever after.  A name that does not resolve now is not
 * remembered (the next use asks again), and has no address. */
static const sandbox_pin *
pin_of(struct _PySandboxState *state, const char *name)
{
    _PySandbox_LOCK(&state->net_mutex);
    sandbox_pin *pin = find_pin(state, name);
    PyMutex_Unlock(&state->net_mutex);
    if (pin != NULL) {
        return pin;
    }
    sandbox_pin *made = PyMem_RawCalloc(1, sizeof(*made));
    if (made == NULL || (made->name = _PyMem_RawStrdup(name)) == NULL) {
        PyMem_RawFree(made);
        return &no_pin;
    }
    if (resolve_into(name, made) < 0) {
        PyMem_RawFree(made->name);
        PyMem_RawFree(made);
        return &no_pin;
    }
    _PySandbox_LOCK(&state->net_mutex);
    pin = find_pin(state, name);
    if (pin == NULL) {
        made->next = state->pins;
        state->pins = pin = made;
        made = NULL;
    }
    PyMutex_Unlock(&state->net_mutex);
    if (made != NULL) {
        /* Another thread resolved it first: its answer stands. */
        PyMem_RawFree(made->name);
        PyMem_RawFree(made);
    }
    return pin;
}

int
_PySandbox_NameHasAddress(struct _PySandboxState *state, const char *name,
                          int family, const unsigned char *addr)
{
    const sandbox_pin *pin = pin_of(state, name);
    for (int i = 0; i < pin->n; i++) {
        if (pin->family[i] == family
            && memcmp(pin->addr[i], addr, family == AF_INET ? 4 : 16) == 0)
        {
            return 1;
        }
    }
    return 0;
}

void
_PySandbox_InheritPins(struct _PySandboxState *child,
                       struct _PySandboxState *creator)
{
    const PySandboxPolicy *policy = &child->policy;
    for (Py_ssize_t i = 0; i < policy->n_net[SANDBOX_NET_CONNECT]; i++) {
        const sandbox_net_rule *rule = &policy->net[SANDBOX_NET_CONNECT][i];
        if (rule->host != SANDBOX_NET_NAME
            || find_pin(child, rule->name) != NULL)
        {
            continue;
        }
        const sandbox_pin *pin = pin_of(creator, rule->name);
        if (pin->n == 0) {
            continue;       /* it resolves nothing now: asked again later */
        }
        sandbox_pin *copy = PyMem_RawMalloc(sizeof(*copy));
        if (copy == NULL || (copy->name = _PyMem_RawStrdup(rule->name))
                            == NULL)
        {
            PyMem_RawFree(copy);
            continue;
        }
        copy->n = pin->n;
        memcpy(copy->family, pin->family, sizeof(copy->family));
        memcpy(copy->addr, pin->addr, sizeof(copy->addr));
        copy->next = child->pins;
        child->pins = copy;
    }
}

void
_PySandbox_PinNames(struct _PySandboxState *state)
{
    const PySandboxPolicy *policy = &state->policy;
    for (Py_ssize_t i = 0; i < policy->n_net[SANDBOX_NET_CONNECT]; i++) {
        const sandbox_net_rule *rule = &policy->net[SANDBOX_NET_CONNECT][i];
        if (rule->host == SANDBOX_NET_NAME) {
            (void)pin_of(state, rule->name);
        }
    }
}

/* Is *name* an address, however spelled (no query leaves the process for
 * it)?  Its scope, after '%', is an interface's name only with
 * network_info: else -1, denied (names the tenant could probe). */
int
_PySandbox_IsNumericHost(struct _PySandboxState *state, const char *name)
{
    const char *scope = strchr(name, '%');
    if (scope != NULL && !state->policy.network_info
        && (scope[1] == '\0' || strspn(scope + 1, "0123456789")
                                != strlen(scope + 1)))
    {
        char detail[160];
        PyOS_snprintf(detail, sizeof(detail), "the interface name of "
                      "'%.100s' (network_info)", name);
        return _PySandbox_Deny("network", detail);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICHOST;
    if (getaddrinfo(name, NULL, &hints, &res) != 0) {
        return 0;
    }
    freeaddrinfo(res);
    return 1;
}

/* How the policy grants the name *name* (normalized into *norm*):
 * SANDBOX_NET_ANY (any name: resolved as usual),
 * SANDBOX_NET_LOOPBACK (localhost: the loopback addresses, never
 * resolved), SANDBOX_NET_NAME (resolved by the engine, once); or -1
 * denied, with the denial logged. */
static int
name_grant(struct _PySandboxState *state, const char *name, char *norm,
           size_t size)
{
    const PySandboxPolicy *policy = &state->policy;
    const char *why = "not granted (net)";
    int any_name = 0;
    if (!_PySandbox_NormalizeHostName(name, norm, size)) {
        why = "not a host name";
    }
    else {
        for (Py_ssize_t i = 0; i < policy->n_net[SANDBOX_NET_DENY]; i++) {
            const sandbox_net_rule *rule = &policy->net[SANDBOX_NET_DENY][i];
            if ((rule->host == SANDBOX_NET_NAME
                 && strcmp(rule->name, norm) == 0)
                || (rule->host == SANDBOX_NET_LOOPBACK
                    && strcmp(norm, "localhost") == 0))
            {
                why = "denied (deny_net)";
                goto deny;
            }
        }
        int local = strcmp(norm, "localhost") == 0;
        for (int list = SANDBOX_NET_CONNECT; list <= SANDBOX_NET_LISTEN;
             list++)
        {
            for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
                const sandbox_net_rule *rule = &policy->net[list][i];
                if (local && (rule->host == SANDBOX_NET_LOOPBACK
                              || rule->host == SANDBOX_NET_ANY))
                {
                    return SANDBOX_NET_LOOPBACK;
                }
                if (rule->host == SANDBOX_NET_NAME
                    && strcmp(rule->name, norm) == 0)
                {
                    return SANDBOX_NET_NAME;
                }
                if (rule->host == SANDBOX_NET_ANY
                    && list == SANDBOX_NET_CONNECT)
                {
                    any_name = 1;
                }
            }
        }
        if (any_name) {
            return SANDBOX_NET_ANY;
        }
    }
deny:
    {
        char detail[400];
        PyOS_snprintf(detail, sizeof(detail), "resolving '%.300s': %s",
                      name, why);
        return _PySandbox_Deny("network", detail);
    }
}

/* The addresses the engine answers for *name*: -1 denied; 1 for an
 * address, however spelled (numeric_address(): read by the C library with
 * AI_NUMERICHOST, so that no query can leave for it); 0 with *pin* set: the
 * loopback addresses for localhost, the pinned ones of a granted name,
 * or, for a name "*" grants, those it resolves now into *scratch*.  Every
 * name is resolved as an absolute one: the resolver's search domains do
 * not apply. */
static int
granted_addresses(struct _PySandboxState *state, const char *name,
                  char *norm, size_t size, const sandbox_pin **pin,
                  sandbox_pin *scratch)
{
    static const sandbox_pin loopback = {
        NULL, (char *)"localhost", 2, {AF_INET, AF_INET6},
        {{127, 0, 0, 1}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
    };
    int numeric = _PySandbox_IsNumericHost(state, name);
    if (numeric != 0) {
        return numeric < 0 ? -1 : 1;
    }
    int grant = name_grant(state, name, norm, size);
    if (grant < 0) {
        return -1;
    }
    if (grant == SANDBOX_NET_ANY) {
        (void)resolve_into(norm, scratch);
        *pin = scratch;
    }
    else {
        *pin = grant == SANDBOX_NET_LOOPBACK ? &loopback
                                              : pin_of(state, norm);
    }
    return 0;
}

/* Raise OSError(*code*, *message*), as the resolver's errors are. */
static void
resolver_error(int code, const char *message)
{
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", code,
                                          message);
    if (exc != NULL) {
        PyErr_SetObject(PyExc_OSError, exc);
        Py_DECREF(exc);
    }
}

/* *name*, an address however spelled (_PySandbox_IsNumericHost()), of
 * *family* (or AF_UNSPEC), read by the C library with AI_NUMERICHOST:
 * never through the name services (the hosts file, DNS and its search
 * domains), which a spelling that only inet_aton() reads, such as
 * "0x7f.1", would otherwise reach through gethostbyname_r().  Copy its
 * socket address into *addr* (at most *size* bytes) and return its
 * family, or return -1 with OSError set. */
static int
numeric_address(const char *name, int family, void *addr, size_t size)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_flags = AI_NUMERICHOST;
    int error = getaddrinfo(name, NULL, &hints, &res);
    if (error != 0) {
        resolver_error(error, gai_strerror(error));
        return -1;
    }
    int found = res->ai_family;
    if (found != AF_INET && found != AF_INET6) {
        freeaddrinfo(res);
        resolver_error(EAI_FAMILY, gai_strerror(EAI_FAMILY));
        return -1;
    }
    memset(addr, 0, size);
    memcpy(addr, res->ai_addr, Py_MIN(size, (size_t)res->ai_addrlen));
    freeaddrinfo(res);
    return found;
}

int
_PySandbox_ResolveNameSlow(const char *name, int family, void *addr,
                           size_t size)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    char norm[256];
    const sandbox_pin *pin = NULL;
    sandbox_pin scratch;
    int rc = granted_addresses(state, name, norm, sizeof(norm), &pin,
                               &scratch);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0) {
        int found = numeric_address(name, family, addr, size);
        return found < 0 ? -1 : found == AF_INET ? 4 : 16;
    }
    for (int i = 0; i < pin->n; i++) {
        if (pin->family[i] == AF_INET && family != AF_INET6
            && size >= sizeof(struct sockaddr_in))
        {
            struct sockaddr_in *in = addr;
            memset(in, 0, sizeof(*in));
            in->sin_family = AF_INET;
            memcpy(&in->sin_addr, pin->addr[i], 4);
            return 4;
        }
        if (pin->family[i] == AF_INET6 && family != AF_INET
            && size >= sizeof(struct sockaddr_in6))
        {
            struct sockaddr_in6 *in6 = addr;
            memset(in6, 0, sizeof(*in6));
            in6->sin6_family = AF_INET6;
            memcpy(&in6->sin6_addr, pin->addr[i], 16);
            return 16;
        }
    }
    resolver_error(EAI_NONAME, "Name or service not known");
    return -1;
}

int
_PySandbox_GetAddrInfoSlow(const char *name, const char *port,
                           const void *hints_p, void *res_p, int *error)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    const struct addrinfo *hints = hints_p;
    struct addrinfo **res = res_p;
    char norm[256];
    const sandbox_pin *pin = NULL;
    sandbox_pin scratch;
    int rc = granted_addresses(state, name, norm, sizeof(norm), &pin,
                               &scratch);
    if (rc < 0) {
        return -1;
    }
    if (rc > 0) {
        /* An address: as the C library reads it, never as a name. */
        struct addrinfo numeric = *hints;
        numeric.ai_flags |= AI_NUMERICHOST;
        *error = getaddrinfo(name, port, &numeric, res);
        return 1;
    }
    /* Each address as the C library answers for it spelled as a number
       (no query), with the caller's port and hints; the lists joined. */
    struct addrinfo numeric = *hints;
    numeric.ai_flags = (hints->ai_flags & ~AI_CANONNAME) | AI_NUMERICHOST;
    struct addrinfo *head = NULL, *tail = NULL;
    *error = EAI_NONAME;
    for (int i = 0; i < pin->n; i++) {
        if (hints->ai_family != AF_UNSPEC
            && hints->ai_family != pin->family[i])
        {
            continue;
        }
        char text[INET6_ADDRSTRLEN];
        inet_ntop(pin->family[i], pin->addr[i], text, sizeof(text));
        struct addrinfo *one = NULL;
        int e = getaddrinfo(text, port, &numeric, &one);
        if (e != 0) {
            *error = e;
            continue;
        }
#ifndef __GLIBC__
        /* Only glibc's freeaddrinfo() frees joined lists node by node. */
        *res = one;
        *error = 0;
        return 1;
#else
        if (head == NULL) {
            head = one;
        }
        else {
            tail->ai_next = one;
        }
        for (tail = one; tail->ai_next != NULL; tail = tail->ai_next) {
        }
#endif
    }
    if (head != NULL) {
        *res = head;
        *error = 0;
    }
    return 1;
}

PyObject *
_PySandbox_HostByNameExSlow(const char *name)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    char norm[256];
    const sandbox_pin *pin = NULL;
    sandbox_pin scratch;
    int rc = granted_addresses(state, name, norm, sizeof(norm), &pin,
                               &scratch);
    if (rc < 0) {
        return NULL;        /* denied (error set) */
    }
    if (rc > 0) {
        /* An address, however spelled: the engine answers as the C
           library does for a dotted quad, (name, [], [address]). */
        struct sockaddr_in in;
        char text[INET_ADDRSTRLEN];
        if (numeric_address(name, AF_INET, &in, sizeof(in)) < 0) {
            return NULL;
        }
        inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
        return Py_BuildValue("(s[][s])", name, text);
    }
    PyObject *addrs = PyList_New(0);
    for (int i = 0; addrs != NULL && i < pin->n; i++) {
        if (pin->family[i] != AF_INET) {
            continue;
        }
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, pin->addr[i], text, sizeof(text));
        PyObject *item = PyUnicode_FromString(text);
        if (item == NULL || PyList_Append(addrs, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(addrs);
            break;
        }
        Py_DECREF(item);
    }
    if (addrs != NULL && PyList_GET_SIZE(addrs) == 0) {
        Py_DECREF(addrs);
        resolver_error(HOST_NOT_FOUND, "Unknown host");
        return NULL;
    }
    return addrs == NULL ? NULL : Py_BuildValue("(s[]N)", norm, addrs);
}

#endif  /* Py_UNTRUSTED */
