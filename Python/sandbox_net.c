/* Untrusted interpreters: the network.
 *
 * The 2006 design's "Socket Usage" and "Network Information": a policy's
 * net entries say where an untrusted interpreter may connect and send,
 * its listen entries where it may bind and listen, its deny_net entries
 * where it may never go, and network_info whether it may learn the
 * host's name and interfaces.  The checks are on what the kernel gets
 * (the address getsockaddrarg() made, however the tenant spelled it);
 * names are resolved by the engine (Python/sandbox_names.c), and the
 * budget of bytes and connections is Python/sandbox_netbudget.c's.
 * Doc/sandbox/network.rst.
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

#include <arpa/inet.h>            // inet_aton(), inet_ntop(), inet_pton()
#include <netdb.h>                // NI_NUMERICHOST
#include <netinet/in.h>           // IPPROTO_TCP
#include <netinet/tcp.h>          // TCP_NODELAY
#include <sys/socket.h>           // AF_INET

static const char *const list_names[SANDBOX_NET_LISTS] = {
    "net", "listen", "deny_net",
};


/* Entries */

/* Parse the ports *text* (PORT or LO-HI, decimal) into *lo* and *hi*,
 * each at least *least*.  1 if they are, else 0. */
static int
parse_ports(const char *text, unsigned int least, unsigned int *lo,
            unsigned int *hi)
{
    unsigned int value[2] = {0, 0};
    int n = 0;
    const char *p = text;
    for (;;) {
        int digits = 0;
        unsigned long v = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            v = v * 10 + (unsigned long)(*p - '0');
            p++;
            digits++;
        }
        if (digits == 0 || digits > 5 || v > 65535 || v < least) {
            return 0;
        }
        value[n++] = (unsigned int)v;
        if (*p == '\0') {
            break;
        }
        if (*p != '-' || n == 2) {
            return 0;
        }
        p++;
    }
    *lo = value[0];
    *hi = n == 2 ? value[1] : value[0];
    return *lo <= *hi;
}

/* Is *name* (lower case, without a final dot) a host name: labels of
 * letters, digits, '-' and '_', 1 to 63 each, 253 at most in all, the
 * last not all digits (that would be an address badly spelled)? */
static int
is_host_name(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 253) {
        return 0;
    }
    const char *label = name;
    int all_digits = 1;
    for (const char *p = name; ; p++) {
        if (*p == '.' || *p == '\0') {
            size_t size = (size_t)(p - label);
            if (size == 0 || size > 63 || label[0] == '-' || p[-1] == '-') {
                return 0;
            }
            if (*p == '\0') {
                return !all_digits;
            }
            label = p + 1;
            all_digits = 1;
            continue;
        }
        if (!(Py_ISALNUM(*p) || *p == '-' || *p == '_')) {
            return 0;
        }
        if (!Py_ISDIGIT(*p)) {
            all_digits = 0;
        }
    }
}

/* *name* in the form rules keep: lower case, without its final dot, in
 * *buf* (of *size* bytes).  1, or 0 if it is not a host name. */
int
_PySandbox_NormalizeHostName(const char *name, char *buf, size_t size)
{
    size_t len = strlen(name);
    if (len > 0 && name[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len >= size) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        buf[i] = Py_TOLOWER(name[i]);
    }
    buf[len] = '\0';
    return is_host_name(buf);
}

/* Parse the host *host* of an entry into *rule*.  0, or -1 with *why*. */
static int
parse_host(const char *host, int bracketed, sandbox_net_rule *rule,
           const char **why)
{
    if (bracketed) {
        struct in6_addr a6;
        if (strchr(host, '%') != NULL || inet_pton(AF_INET6, host, &a6) != 1) {
            *why = "invalid IPv6 address";
            return -1;
        }
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
            rule->host = SANDBOX_NET_V4;
            memcpy(rule->addr, &a6.s6_addr[12], 4);
        }
        else {
            rule->host = SANDBOX_NET_V6;
            memcpy(rule->addr, &a6, 16);
        }
        return 0;
    }
    if (strcmp(host, "*") == 0) {
        rule->host = SANDBOX_NET_ANY;
        return 0;
    }
    struct in_addr a4;
    /* Every spelling the C library takes for an IPv4 address (127.1,
       0x7f.0.0.1, 2130706433, 0177.0.0.1), as the tenant's are. */
    if (inet_aton(host, &a4) == 1 && strspn(host, "0123456789abcdefxABCDEFX.")
                                    == strlen(host))
    {
        rule->host = SANDBOX_NET_V4;
        memcpy(rule->addr, &a4, 4);
        return 0;
    }
    char name[256];
    if (!_PySandbox_NormalizeHostName(host, name, sizeof(name))) {
        *why = "invalid host (a name, an IPv4 address, an IPv6 address in "
               "brackets, or *)";
        return -1;
    }
    if (strcmp(name, "localhost") == 0) {
        rule->host = SANDBOX_NET_LOOPBACK;
        return 0;
    }
    rule->host = SANDBOX_NET_NAME;
    rule->name = _PyMem_RawStrdup(name);
    if (rule->name == NULL) {
        *why = NULL;
        return -1;
    }
    return 0;
}

/* The text of *rule* in its one form, raw-allocated, or NULL. */
static char *
rule_text(const sandbox_net_rule *rule, int list)
{
    char host[300];
    switch (rule->host) {
    case SANDBOX_NET_ANY:
        strcpy(host, "*");
        break;
    case SANDBOX_NET_LOOPBACK:
        strcpy(host, "localhost");
        break;
    case SANDBOX_NET_V4:
        inet_ntop(AF_INET, rule->addr, host, sizeof(host));
        break;
    case SANDBOX_NET_V6:
        host[0] = '[';
        inet_ntop(AF_INET6, rule->addr, host + 1, sizeof(host) - 2);
        strcat(host, "]");
        break;
    default:
        PyOS_snprintf(host, sizeof(host), "%s", rule->name);
        break;
    }
    unsigned int least = list == SANDBOX_NET_LISTEN ? 0 : 1;
    char text[320];
    if (rule->lo == least && rule->hi == 65535) {
        PyOS_snprintf(text, sizeof(text), "%s", host);
    }
    else if (rule->lo == rule->hi) {
        PyOS_snprintf(text, sizeof(text), "%s:%u", host, rule->lo);
    }
    else {
        PyOS_snprintf(text, sizeof(text), "%s:%u-%u", host, rule->lo,
                      rule->hi);
    }
    return _PyMem_RawStrdup(text);
}

static void
clear_rule(sandbox_net_rule *rule)
{
    PyMem_RawFree(rule->text);
    PyMem_RawFree(rule->name);
}

/* Parse the entry *text* of the list *list* into *rule*.  0, or -1 with
 * *why* set (NULL: no memory). */
static int
parse_rule(const char *text, int list, sandbox_net_rule *rule,
           const char **why)
{
    memset(rule, 0, sizeof(*rule));
    unsigned int least = list == SANDBOX_NET_LISTEN ? 0 : 1;
    char buf[320];
    if (text[0] == '\0') {
        *why = "an empty entry";
        return -1;
    }
    if (strlen(text) >= sizeof(buf)) {
        *why = "too long";
        return -1;
    }
    strcpy(buf, text);
    char *host = buf, *ports = NULL;
    int bracketed = 0;
    if (buf[0] == '[') {
        char *end = strchr(buf, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            *why = "expected [IPV6] or [IPV6]:PORT";
            return -1;
        }
        *end = '\0';
        host = buf + 1;
        bracketed = 1;
        if (end[1] == ':') {
            ports = end + 2;
        }
    }
    else {
        char *colon = strchr(buf, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            *why = "write an IPv6 address in brackets, as [::1]:8080";
            return -1;
        }
        if (colon != NULL) {
            *colon = '\0';
            ports = colon + 1;
        }
        else if (list == SANDBOX_NET_LISTEN && Py_ISDIGIT(buf[0])
                 && strspn(buf, "0123456789-") == strlen(buf))
        {
            /* A port alone: on the loopback addresses. */
            host = "localhost";
            ports = buf;
        }
    }
    if (host[0] == '\0') {
        *why = "expected a host before the port";
        return -1;
    }
    if (ports != NULL) {
        if (ports[0] == '\0') {
            *why = "expected a port after ':'";
            return -1;
        }
        if (!parse_ports(ports, least, &rule->lo, &rule->hi)) {
            *why = (least == 0 ? "invalid port (0 to 65535, or a range "
                                 "LOW-HIGH)"
                               : "invalid port (1 to 65535, or a range "
                                 "LOW-HIGH)");
            return -1;
        }
    }
    else {
        rule->lo = least;
        rule->hi = 65535;
    }
    if (parse_host(host, bracketed, rule, why) < 0) {
        return -1;
    }
    if (list == SANDBOX_NET_LISTEN && rule->host == SANDBOX_NET_NAME) {
        *why = "listen takes an address, localhost or * (the port alone: "
               "localhost)";
        clear_rule(rule);
        return -1;
    }
    if (list == SANDBOX_NET_DENY && rule->host == SANDBOX_NET_NAME
        && ports != NULL)
    {
        *why = "a denied name takes no port: it is never resolved";
        clear_rule(rule);
        return -1;
    }
    rule->text = rule_text(rule, list);
    if (rule->text == NULL) {
        *why = NULL;
        clear_rule(rule);
        return -1;
    }
    return 0;
}

/* Is *a* within *b* (every address and port of *a* is *b*'s)? */
static int
rule_within(const sandbox_net_rule *a, const sandbox_net_rule *b)
{
    if (a->lo < b->lo || a->hi > b->hi) {
        return 0;
    }
    if (b->host == SANDBOX_NET_ANY) {
        return 1;
    }
    if (b->host == SANDBOX_NET_LOOPBACK) {
        static const unsigned char one6[16] = {
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        if ((a->host == SANDBOX_NET_V4 && a->addr[0] == 127)
            || (a->host == SANDBOX_NET_V6
                && memcmp(a->addr, one6, 16) == 0))
        {
            return 1;
        }
    }
    if (a->host != b->host) {
        return 0;
    }
    switch (a->host) {
    case SANDBOX_NET_V4:
        return memcmp(a->addr, b->addr, 4) == 0;
    case SANDBOX_NET_V6:
        return memcmp(a->addr, b->addr, 16) == 0;
    case SANDBOX_NET_NAME:
        return strcmp(a->name, b->name) == 0;
    default:
        return 1;
    }
}

static int
add_rule(PySandboxPolicy *policy, int list, sandbox_net_rule *rule,
         const char **why)
{
    for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
        if (strcmp(policy->net[list][i].text, rule->text) == 0) {
            clear_rule(rule);
            return 0;
        }
    }
    if (policy->n_net[list] >= SANDBOX_MAX_POLICY_ENTRIES) {
        *why = "too many entries (at most 1024)";
        clear_rule(rule);
        return -1;
    }
    sandbox_net_rule *grown = PyMem_RawRealloc(
        policy->net[list],
        (size_t)(policy->n_net[list] + 1) * sizeof(sandbox_net_rule));
    if (grown == NULL) {
        *why = NULL;
        clear_rule(rule);
        return -1;
    }
    grown[policy->n_net[list]++] = *rule;
    policy->net[list] = grown;
    return 0;
}

int
_PySandboxPolicy_AddNetRaw(PySandboxPolicy *policy, int list,
                           const char *text, const char **why)
{
    sandbox_net_rule rule;
    if (parse_rule(text, list, &rule, why) < 0) {
        return -1;
    }
    return add_rule(policy, list, &rule, why);
}

/* The public setters: *entry* UTF-8; a name that is not ASCII is encoded
 * with IDNA, as the socket module encodes the tenant's. */
static int
add_entry(PySandboxPolicy *policy, int list, const char *entry,
          const char *func)
{
    if (policy == NULL || entry == NULL) {
        PyErr_Format(PyExc_ValueError, "%s: policy or entry is NULL", func);
        return -1;
    }
    PyObject *ascii = NULL;
    const char *text = entry;
    for (const char *p = entry; *p != '\0'; p++) {
        if ((unsigned char)*p >= 0x80) {
            PyObject *str = PyUnicode_FromString(entry);
            if (str != NULL) {
                ascii = PyUnicode_AsEncodedString(str, "idna", NULL);
                Py_DECREF(str);
            }
            if (ascii == NULL) {
                PyErr_Clear();
                return _PySandboxPolicy_Error(list_names[list], entry,
                                              "invalid host (not a name "
                                              "IDNA can encode)");
            }
            text = PyBytes_AS_STRING(ascii);
            break;
        }
    }
    const char *why = NULL;
    int rc = _PySandboxPolicy_AddNetRaw(policy, list, text, &why);
    Py_XDECREF(ascii);
    if (rc < 0) {
        if (why == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        return _PySandboxPolicy_Error(list_names[list], entry, why);
    }
    return 0;
}

int
PySandboxPolicy_AllowNet(PySandboxPolicy *policy, const char *entry)
{
    return add_entry(policy, SANDBOX_NET_CONNECT, entry, __func__);
}

int
PySandboxPolicy_AllowListen(PySandboxPolicy *policy, const char *entry)
{
    return add_entry(policy, SANDBOX_NET_LISTEN, entry, __func__);
}

int
PySandboxPolicy_DenyNet(PySandboxPolicy *policy, const char *entry)
{
    return add_entry(policy, SANDBOX_NET_DENY, entry, __func__);
}

int
PySandboxPolicy_AllowNetworkInfo(PySandboxPolicy *policy, int allow)
{
    if (policy == NULL) {
        PyErr_SetString(PyExc_ValueError,
                        "PySandboxPolicy_AllowNetworkInfo: policy is NULL");
        return -1;
    }
    policy->network_info = allow != 0;
    return 0;
}

static int
copy_rules(const sandbox_net_rule *src, Py_ssize_t n, sandbox_net_rule **dest,
           Py_ssize_t *n_dest)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        sandbox_net_rule rule = src[i];
        rule.text = _PyMem_RawStrdup(src[i].text);
        rule.name = src[i].name != NULL ? _PyMem_RawStrdup(src[i].name)
                                        : NULL;
        sandbox_net_rule *grown = (rule.text == NULL
                                   || (src[i].name != NULL
                                       && rule.name == NULL))
            ? NULL
            : PyMem_RawRealloc(*dest, (size_t)(*n_dest + 1)
                                      * sizeof(sandbox_net_rule));
        if (grown == NULL) {
            clear_rule(&rule);
            return -1;
        }
        grown[(*n_dest)++] = rule;
        *dest = grown;
    }
    return 0;
}

int
_PySandboxPolicy_CopyNet(PySandboxPolicy *dest, const PySandboxPolicy *src)
{
    for (int list = 0; list < SANDBOX_NET_LISTS; list++) {
        dest->net[list] = NULL;
        dest->n_net[list] = 0;
    }
    dest->creator_denied = NULL;
    dest->n_creator_denied = 0;
    for (int list = 0; list < SANDBOX_NET_LISTS; list++) {
        if (copy_rules(src->net[list], src->n_net[list], &dest->net[list],
                       &dest->n_net[list]) < 0)
        {
            return -1;
        }
    }
    /* A nested interpreter is denied what its creator is. */
    return copy_rules(src->creator_denied, src->n_creator_denied,
                      &dest->net[SANDBOX_NET_DENY],
                      &dest->n_net[SANDBOX_NET_DENY]);
}

void
_PySandboxPolicy_ClearNet(PySandboxPolicy *policy)
{
    for (int list = 0; list < SANDBOX_NET_LISTS; list++) {
        for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
            clear_rule(&policy->net[list][i]);
        }
        PyMem_RawFree(policy->net[list]);
        policy->net[list] = NULL;
        policy->n_net[list] = 0;
    }
}

int
_PySandboxPolicy_NetWithin(const PySandboxPolicy *inner,
                           const PySandboxPolicy *outer)
{
    if (inner->network_info && !outer->network_info) {
        return 0;
    }
    for (int list = SANDBOX_NET_CONNECT; list <= SANDBOX_NET_LISTEN; list++) {
        for (Py_ssize_t i = 0; i < inner->n_net[list]; i++) {
            int found = 0;
            for (Py_ssize_t j = 0; !found && j < outer->n_net[list]; j++) {
                found = rule_within(&inner->net[list][i],
                                    &outer->net[list][j]);
            }
            if (!found) {
                return 0;
            }
        }
    }
    return 1;
}

/* An address: its family and its 16 bytes (IPv4 in the first 4; an IPv4
 * address mapped into IPv6 is IPv4), and its port. */
typedef struct {
    int family;
    unsigned char addr[16];
    unsigned int port;
} net_address;

static int
is_loopback(const net_address *a)
{
    static const unsigned char one6[16] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return (a->family == AF_INET ? a->addr[0] == 127
            : memcmp(a->addr, one6, 16) == 0);
}

/* Does *rule* cover *a*?  A name's addresses are resolved if need be. */
static int
rule_covers(struct _PySandboxState *state, const sandbox_net_rule *rule,
            const net_address *a)
{
    if (a->port < rule->lo || a->port > rule->hi) {
        return 0;
    }
    switch (rule->host) {
    case SANDBOX_NET_ANY:
        return 1;
    case SANDBOX_NET_LOOPBACK:
        return is_loopback(a);
    case SANDBOX_NET_V4:
        return a->family == AF_INET && memcmp(a->addr, rule->addr, 4) == 0;
    case SANDBOX_NET_V6:
        return a->family == AF_INET6 && memcmp(a->addr, rule->addr, 16) == 0;
    default:
        return _PySandbox_NameHasAddress(state, rule->name, a->family,
                                         a->addr);
    }
}

static int
any_covers(struct _PySandboxState *state, int list, const net_address *a)
{
    const PySandboxPolicy *policy = &state->policy;
    for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
        /* A denied name is never resolved: it denies no address. */
        if (list == SANDBOX_NET_DENY
            && policy->net[list][i].host == SANDBOX_NET_NAME)
        {
            continue;
        }
        if (rule_covers(state, &policy->net[list][i], a)) {
            return 1;
        }
    }
    return 0;
}

/* Does the IPv6 address *a* carry an IPv4 address that a translator or
 * tunnel on the way delivers to (into *v4*, with *a*'s port)?  The
 * IPv4-compatible ::a.b.c.d (but :: and ::1), SIIT's ::ffff:0:a.b.c.d,
 * NAT64's 64:ff9b::a.b.c.d and 64:ff9b:1::/48 (the /96 form), 6to4's
 * 2002:AABB:CCDD::/48 and Teredo's 2001:0::/32 (the client, inverted).
 * A deny_net entry of an IPv4 address denies these spellings of it too;
 * a grant stays exact. */
static int
embedded_ipv4(const net_address *a, net_address *v4)
{
    static const unsigned char zero[12] = {0};
    static const unsigned char siit[12] = {0, 0, 0, 0, 0, 0, 0, 0,
                                           0xff, 0xff, 0, 0};
    static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b};
    static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
    const unsigned char *b = a->addr;
    const unsigned char *from = NULL;
    int invert = 0;
    if (a->family != AF_INET6) {
        return 0;
    }
    if (memcmp(b, zero, 12) == 0) {
        if (b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] <= 1) {
            return 0;
        }
        from = b + 12;
    }
    else if (memcmp(b, siit, 12) == 0 || memcmp(b, nat64, 12) == 0
             || memcmp(b, nat64_local, 6) == 0)
    {
        from = b + 12;
    }
    else if (b[0] == 0x20 && b[1] == 0x02) {
        from = b + 2;
    }
    else if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) {
        from = b + 12;
        invert = 1;
    }
    else {
        return 0;
    }
    memset(v4, 0, sizeof(*v4));
    v4->family = AF_INET;
    v4->port = a->port;
    for (int i = 0; i < 4; i++) {
        v4->addr[i] = invert ? (unsigned char)~from[i] : from[i];
    }
    return 1;
}

/* Is *a* denied: by a deny_net entry, as it is or as the IPv4 address it
 * carries? */
static int
denied(struct _PySandboxState *state, const net_address *a)
{
    net_address v4;
    return (any_covers(state, SANDBOX_NET_DENY, a)
            || (embedded_ipv4(a, &v4)
                && any_covers(state, SANDBOX_NET_DENY, &v4)));
}

/* The address of *sa* (*len* bytes) into *a*.  0, or -1 if it is not an
 * IPv4 or IPv6 one. */
static int
read_address(const void *sa, int len, net_address *a)
{
    memset(a, 0, sizeof(*a));
    int family = ((const struct sockaddr *)sa)->sa_family;
    if (family == AF_INET && len >= (int)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = sa;
        a->family = AF_INET;
        memcpy(a->addr, &in->sin_addr, 4);
        a->port = ntohs(in->sin_port);
        return 0;
    }
    if (family == AF_INET6 && len >= (int)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = sa;
        a->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            a->family = AF_INET;
            memcpy(a->addr, &in6->sin6_addr.s6_addr[12], 4);
        }
        else {
            a->family = AF_INET6;
            memcpy(a->addr, &in6->sin6_addr, 16);
        }
        return 0;
    }
    return -1;
}

static void
format_address(const net_address *a, char *buf, size_t size)
{
    char host[INET6_ADDRSTRLEN];
    inet_ntop(a->family, a->addr, host, sizeof(host));
    PyOS_snprintf(buf, size, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
                  host, a->port);
}

/* The host as the tenant spelled it: the first item of the address tuple
 * *spelled*, if a str or bytes (never its repr(): no code of the tenant's
 * runs), at most 100 bytes. */
static void
format_spelled(PyObject *spelled, char *buf, size_t size)
{
    buf[0] = '\0';
    if (!PyTuple_Check(spelled) || PyTuple_GET_SIZE(spelled) < 2) {
        return;
    }
    PyObject *host = PyTuple_GET_ITEM(spelled, 0);
    PyObject *port = PyTuple_GET_ITEM(spelled, 1);
    const char *text = NULL;
    if (PyUnicode_Check(host)) {
        text = PyUnicode_AsUTF8(host);
        if (text == NULL) {
            PyErr_Clear();
        }
    }
    else if (PyBytes_Check(host)) {
        text = PyBytes_AS_STRING(host);
    }
    long number = PyLong_CheckExact(port) ? PyLong_AsLong(port) : -1;
    if (number == -1 && PyErr_Occurred()) {
        PyErr_Clear();
    }
    PyOS_snprintf(buf, size, "'%.100s':%ld", text != NULL ? text : "?",
                  number);
}


/* The checks */

/* A socket type without its flags (SOCK_NONBLOCK, SOCK_CLOEXEC). */
static int
base_type(int type)
{
#ifdef SOCK_NONBLOCK
    type &= ~SOCK_NONBLOCK;
#endif
#ifdef SOCK_CLOEXEC
    type &= ~SOCK_CLOEXEC;
#endif
    return type;
}

int
_PySandbox_CheckSocketSlow(int family, int type, int proto)
{
    int base = base_type(type);
    if (((family == AF_INET || family == AF_INET6)
         && ((base == SOCK_STREAM && (proto == 0 || proto == IPPROTO_TCP))
             || (base == SOCK_DGRAM && (proto == 0 || proto == IPPROTO_UDP))))
        /* Every address of a Unix socket is refused (getsockaddrarg()),
           and an unbound one may not listen. */
        || (family == AF_UNIX && proto == 0
            && (base == SOCK_STREAM || base == SOCK_DGRAM)))
    {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "socket(family=%d, type=%d, "
                  "proto=%d): only TCP and UDP over IPv4 and IPv6", family,
                  type, proto);
    return _PySandbox_Deny("network", detail);
}

/* socket(fileno=): the socket object takes the caller's family, type and
 * protocol where it gives them; the checks and the connection budget read
 * them (a TCP socket that says it is UDP would connect by TCP Fast Open
 * outside the budget).  So they must be the descriptor's own. */
int
_PySandbox_CheckSocketFdSlow(int fd, int family, int type, int proto)
{
    static const int options[3] = {SO_DOMAIN, SO_TYPE, SO_PROTOCOL};
    int real[3];
    for (int i = 0; i < 3; i++) {
        socklen_t len = sizeof(real[i]);
        if (getsockopt(fd, SOL_SOCKET, options[i], &real[i], &len) != 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    int base = base_type(type);
    if (family != real[0] || base != real[1]
        || (proto != 0 && proto != real[2]))
    {
        char detail[160];
        PyOS_snprintf(detail, sizeof(detail), "socket(fileno=%d) as "
                      "family=%d, type=%d, proto=%d: the descriptor is "
                      "family=%d, type=%d, proto=%d", fd, family, type,
                      proto, real[0], real[1], real[2]);
        return _PySandbox_Deny("network", detail);
    }
    return _PySandbox_CheckSocketSlow(real[0], real[1], real[2]);
}

int
_PySandbox_CheckSockAddrSlow(const char *caller, int fd, PyObject *spelled,
                             const void *sa, int len)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    net_address a;
    if (read_address(sa, len, &a) < 0) {
        char detail[80];
        PyOS_snprintf(detail, sizeof(detail), "%s(): an address of family "
                      "%d", caller, ((const struct sockaddr *)sa)->sa_family);
        return _PySandbox_Deny("network", detail);
    }
    int bind = strcmp(caller, "bind") == 0;
    net_address to = a;
    if (!bind) {
        /* Linux connects to the unspecified address as to the loopback
           one. */
        static const unsigned char zero[16] = {0};
        if (memcmp(to.addr, zero, to.family == AF_INET ? 4 : 16) == 0) {
            if (to.family == AF_INET) {
                to.addr[0] = 127;
                to.addr[3] = 1;
            }
            else {
                to.addr[15] = 1;
            }
        }
    }
    const char *why = NULL;
    if (denied(state, &to)) {
        why = "denied (deny_net)";
    }
    else if (!any_covers(state, bind ? SANDBOX_NET_LISTEN
                                     : SANDBOX_NET_CONNECT, &to))
    {
        why = bind ? "not granted (listen)" : "not granted (net)";
    }
    if (why == NULL) {
        /* A connection: connect() (TCP or UDP), or TCP Fast Open: a send
           with an address on a TCP socket, as the descriptor is now (the
           socket object's type is what it was made as: os.dup2(), or a
           number closed and reused, may have put a TCP socket behind a
           UDP one).  A descriptor whose type cannot be read counts. */
        if (strncmp(caller, "connect", 7) == 0) {
            return _PySandbox_TakeConnection(state);
        }
        if (strncmp(caller, "send", 4) == 0) {
            int type = SOCK_STREAM;
            socklen_t size = sizeof(type);
            if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) != 0
                || type == SOCK_STREAM)
            {
                return _PySandbox_TakeConnection(state);
            }
        }
        return 0;
    }
    char told[160], normal[64], detail[320];
    format_spelled(spelled, told, sizeof(told));
    format_address(&to, normal, sizeof(normal));
    PyOS_snprintf(detail, sizeof(detail), "%s(%s) = %s: %s", caller, told,
                  normal, why);
    return _PySandbox_Deny("network", detail);
}

/* The options of ordinary clients and servers; any other (binding to a
 * device, transparent proxying, sharing a port with another process,
 * multicast, filters, marks, packet headers) is denied. */
typedef struct {
    int level, option;
} sock_option;

static const sock_option allowed_options[] = {
    {SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_KEEPALIVE},
    {SOL_SOCKET, SO_LINGER}, {SOL_SOCKET, SO_RCVBUF},
    {SOL_SOCKET, SO_SNDBUF}, {SOL_SOCKET, SO_RCVTIMEO},
    {SOL_SOCKET, SO_SNDTIMEO}, {SOL_SOCKET, SO_OOBINLINE},
    {SOL_SOCKET, SO_RCVLOWAT}, {SOL_SOCKET, SO_SNDLOWAT},
    {SOL_SOCKET, SO_BROADCAST},
    {IPPROTO_TCP, TCP_NODELAY},
#ifdef TCP_MAXSEG
    {IPPROTO_TCP, TCP_MAXSEG},
#endif
#ifdef TCP_CORK
    {IPPROTO_TCP, TCP_CORK},
#endif
#ifdef TCP_KEEPIDLE
    {IPPROTO_TCP, TCP_KEEPIDLE},
#endif
#ifdef TCP_KEEPINTVL
    {IPPROTO_TCP, TCP_KEEPINTVL},
#endif
#ifdef TCP_KEEPCNT
    {IPPROTO_TCP, TCP_KEEPCNT},
#endif
#ifdef TCP_QUICKACK
    {IPPROTO_TCP, TCP_QUICKACK},
#endif
#ifdef TCP_USER_TIMEOUT
    {IPPROTO_TCP, TCP_USER_TIMEOUT},
#endif
#ifdef TCP_NOTSENT_LOWAT
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT},
#endif
#ifdef TCP_DEFER_ACCEPT
    {IPPROTO_TCP, TCP_DEFER_ACCEPT},
#endif
    /* Not IP_RECVERR: its error queue names the routers that report an
       error (network information). */
    {IPPROTO_IP, IP_TOS}, {IPPROTO_IP, IP_TTL},
    {IPPROTO_IPV6, IPV6_V6ONLY}, {IPPROTO_IPV6, IPV6_UNICAST_HOPS},
#ifdef IPV6_TCLASS
    {IPPROTO_IPV6, IPV6_TCLASS},
#endif
};

int
_PySandbox_CheckSockOptSlow(int level, int option)
{
    for (size_t i = 0; i < Py_ARRAY_LENGTH(allowed_options); i++) {
        if (allowed_options[i].level == level
            && allowed_options[i].option == option)
        {
            return 0;
        }
    }
    char detail[80];
    PyOS_snprintf(detail, sizeof(detail), "setsockopt(%d, %d)", level,
                  option);
    return _PySandbox_Deny("network", detail);
}

/* getsockopt(): the options setsockopt() takes, and what a socket says of
 * itself (its pending error, type, family, protocol, whether it
 * listens).  Without network_info, not the others: the route's MTU
 * (IP_MTU), the segment size (TCP_MAXSEG) and TCP_INFO tell of the
 * host's interfaces and network. */
int
_PySandbox_CheckNetGetSockOpt(int level, int option)
{
    static const sock_option own_options[] = {
        {SOL_SOCKET, SO_ERROR}, {SOL_SOCKET, SO_TYPE},
        {SOL_SOCKET, SO_DOMAIN}, {SOL_SOCKET, SO_PROTOCOL},
        {SOL_SOCKET, SO_ACCEPTCONN},
    };
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state->policy.network_info) {
        return 0;
    }
    for (size_t i = 0; i < Py_ARRAY_LENGTH(own_options); i++) {
        if (own_options[i].level == level
            && own_options[i].option == option)
        {
            return 0;
        }
    }
#ifdef TCP_MAXSEG
    int segment = level == IPPROTO_TCP && option == TCP_MAXSEG;
#else
    int segment = 0;
#endif
    for (size_t i = 0; !segment && i < Py_ARRAY_LENGTH(allowed_options);
         i++)
    {
        if (allowed_options[i].level == level
            && allowed_options[i].option == option)
        {
            return 0;
        }
    }
    char detail[80];
    PyOS_snprintf(detail, sizeof(detail), "getsockopt(%d, %d) "
                  "(network_info)", level, option);
    return _PySandbox_Deny("network", detail);
}

int
_PySandbox_CheckCmsgSlow(int level, int type)
{
    if ((level == SOL_SOCKET && type == SCM_RIGHTS)
        || (level == IPPROTO_IP && (type == IP_TOS || type == IP_TTL))
#ifdef IPV6_TCLASS
        || (level == IPPROTO_IPV6 && type == IPV6_TCLASS)
#endif
#ifdef IPV6_HOPLIMIT
        || (level == IPPROTO_IPV6 && type == IPV6_HOPLIMIT)
#endif
        )
    {
        return 0;
    }
    char detail[80];
    PyOS_snprintf(detail, sizeof(detail), "sendmsg() ancillary data (%d, "
                  "%d)", level, type);
    return _PySandbox_Deny("network", detail);
}

int
_PySandbox_CheckRecvFlagsSlow(int flags)
{
    if (!(flags & MSG_TRUNC)) {
        return 0;
    }
    /* The socket module would return its buffer unwritten, or grown past
       what the kernel wrote: the host's memory. */
    return _PySandbox_Deny("network", "a receive with MSG_TRUNC");
}

int
_PySandbox_CheckListenSlow(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    net_address a;
    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0
        && read_address(&ss, (int)len, &a) == 0 && a.port != 0)
    {
        return 0;       /* bound, where bind() was granted */
    }
    /* The kernel would bind it to a free port of every interface. */
    return _PySandbox_Deny("network", "listen() on a socket not bound "
                           "where listen grants");
}

int
_PySandbox_CheckNetworkInfoSlow(const char *what)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state->policy.network_info) {
        return 0;
    }
    char detail[120];
    PyOS_snprintf(detail, sizeof(detail), "%s (network_info)", what);
    return _PySandbox_Deny("network", detail);
}

int
_PySandbox_NameInfoFlagsSlow(const char *host, int *flags,
                             unsigned int *scope_id)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (state->policy.network_info) {
        return 0;
    }
    if (*flags & NI_NAMEREQD) {
        return _PySandbox_CheckNetworkInfoSlow("getnameinfo(NI_NAMEREQD)");
    }
    if (host != NULL && _PySandbox_IsNumericHost(state, host) < 0) {
        return -1;
    }
    /* No scope: the C library would write its interface's name. */
    *flags |= NI_NUMERICHOST;
    *scope_id = 0;
    return 0;
}

void
_PySandbox_HideNodeNameSlow(char *name, size_t size)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    if (!state->policy.network_info && size > 0) {
        PyOS_snprintf(name, size, "%s", "localhost");
    }
}

void
_PySandbox_HideSockNameSlow(void *sa, int len)
{
    struct _PySandboxState *state = _PyInterpreterState_GET()->sandbox;
    net_address a;
    static const unsigned char zero[16] = {0};
    if (state->policy.network_info || read_address(sa, len, &a) < 0
        || is_loopback(&a)
        || memcmp(a.addr, zero, a.family == AF_INET ? 4 : 16) == 0)
    {
        return;
    }
    for (Py_ssize_t i = 0; i < state->policy.n_net[SANDBOX_NET_LISTEN]; i++) {
        const sandbox_net_rule *rule =
            &state->policy.net[SANDBOX_NET_LISTEN][i];
        if ((rule->host == SANDBOX_NET_V4 && a.family == AF_INET
             && memcmp(rule->addr, a.addr, 4) == 0)
            || (rule->host == SANDBOX_NET_V6 && a.family == AF_INET6
                && memcmp(rule->addr, a.addr, 16) == 0))
        {
            return;
        }
    }
    int family = ((struct sockaddr *)sa)->sa_family;
    if (family == AF_INET) {
        memset(&((struct sockaddr_in *)sa)->sin_addr, 0, 4);
    }
    else {
        memset(&((struct sockaddr_in6 *)sa)->sin6_addr, 0, 16);
    }
}

#endif  /* Py_UNTRUSTED */
