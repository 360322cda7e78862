/* Untrusted interpreters: the worker process's side of isolation "process".
 *
 * The host (Lib/sandbox/_worker.py) starts this binary as
 *
 *     python -I -S -X sandbox_worker=FD
 *
 * FD being its end of a socketpair.  Before the main interpreter exists,
 * pycore_create_interpreter() asks _PySandbox_ReadWorkerStart() for the
 * policy: it reads the start frame (_sandbox.pack_worker_start()) in C,
 * opens the policy's grants as PySandbox_NewInterpreter() does for a
 * trusted creator, and the main interpreter is created untrusted with it,
 * so that the tenant's code runs in the worker's main interpreter with
 * every check of an untrusted one.  C extension modules that support only
 * a main interpreter (numpy) load there, bound to their files by the
 * policy like any extension module; and no Python code but the tenant's
 * ever runs in the process.
 *
 * Then Py_RunMain() gives the process to _PySandbox_ServeWorker(), which
 * never returns: it fences the process (Python/sandbox_fence.c), answers
 * the start, and runs the host's jobs in the main interpreter, on the
 * main thread, until the socket closes; then the process ends with
 * _exit(), so that no finalization runs the tenant's code after its last
 * job.  Everything here is C: the tenant cannot replace any of it.
 *
 * Frames, both ways: a 4-byte big-endian length, then a value encoded as
 * Python/sandbox_transport.c encodes values crossing interpreters.  The
 * host decodes them in C with limits and checks their shape.
 *
 * Part of the engine (Doc/sandbox/internals.rst); compiled only with
 * Py_UNTRUSTED (configure --with-untrusted).
 */

#include "Python.h"
#include "pycore_interp.h"        // _PyInterpreterState_SetRunningMain()
#include "pycore_pymem.h"         // _PyMem_RawStrdup()
#include "pycore_pystate.h"       // _PyThreadState_GET()
#include "pycore_sandbox.h"
#include "pycore_sandbox_state.h" // struct _PySandboxState

#ifdef Py_UNTRUSTED

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>                 // nanosleep()
#include <unistd.h>               // read(), write(), _exit()


/* The -X option that makes a process a worker, and the start frame's
 * magic. */
#define WORKER_XOPTION L"sandbox_worker="
#define START_MAGIC "SBW1"
/* The largest frame either side sends (a value crossing, 64 MiB encoded,
 * and the two streams). */
#define MAX_FRAME ((uint32_t)112 * 1024 * 1024)
/* The longest string of a packed policy (a path, a name). */
#define MAX_PACKED_STRING 65536
/* The test switch (Doc/sandbox/isolation.rst): with this variable set to
 * "1" in a debug build, a start that asks for it leaves the main
 * interpreter trusted, as if a tenant had broken the inner wall. */
#define INNER_WALL_OFF "SANDBOX_TEST_INNER_WALL_OFF"
#define START_INNER_WALL_OFF 1

static struct {
    int fd;                     /* the socket to the host; -1: not a worker */
    int unwalled;               /* the test switch is on */
    /* The policy of the main interpreter, with what a creator fills. */
    PySandboxPolicy policy;
    /* With the switch on: the state the main interpreter would have had,
       whose grants the fence still mirrors. */
    struct _PySandboxState *unwalled_state;
    /* Frames are written whole: by the job loop and the output stream. */
    pthread_mutex_t send_lock;
} worker = {.fd = -1, .send_lock = PTHREAD_MUTEX_INITIALIZER};


/* Raw input and output on the socket */

/* Read *size* bytes.  Return 0, 1 at the end of the stream before the
 * first byte, or -1. */
static int
read_exactly(int fd, char *data, size_t size)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, data + done, size - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return (n == 0 && done == 0) ? 1 : -1;
        }
        done += (size_t)n;
    }
    return 0;
}

static int
write_all(int fd, const char *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* The next frame's body, raw-allocated, in *data* and *size*.  Return 0,
 * 1 at the end of the stream, or -1 for a broken one. */
static int
read_frame(int fd, char **data, uint32_t *size)
{
    unsigned char header[4];
    int rc = read_exactly(fd, (char *)header, sizeof(header));
    if (rc != 0) {
        return rc;
    }
    *size = ((uint32_t)header[0] << 24) | ((uint32_t)header[1] << 16)
            | ((uint32_t)header[2] << 8) | header[3];
    if (*size > MAX_FRAME) {
        return -1;
    }
    *data = PyMem_RawMalloc(*size > 0 ? *size : 1);
    if (*data == NULL) {
        return -1;
    }
    if (read_exactly(fd, *data, *size) != 0) {
        PyMem_RawFree(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

/* Send the frame of *body*, whole, under the send lock. */
static int
send_frame(const char *body, size_t size)
{
    if (size > MAX_FRAME) {
        return -1;
    }
    unsigned char header[4] = {
        (unsigned char)(size >> 24), (unsigned char)(size >> 16),
        (unsigned char)(size >> 8), (unsigned char)size,
    };
    pthread_mutex_lock(&worker.send_lock);
    int rc = write_all(worker.fd, (const char *)header, sizeof(header));
    if (rc == 0) {
        rc = write_all(worker.fd, body, size);
    }
    pthread_mutex_unlock(&worker.send_lock);
    return rc;
}


/* Values written without Python objects: before the main interpreter
 * exists, and from the output thread, which has no thread state.  The
 * encoding is Python/sandbox_transport.c's. */

typedef struct {
    char *data;
    size_t len;
    size_t allocated;
    int failed;
} raw_value;

static void
raw_put(raw_value *v, const void *data, size_t size)
{
    if (v->failed) {
        return;
    }
    if (v->len + size > v->allocated) {
        size_t allocated = Py_MAX(v->allocated * 2, v->len + size + 64);
        char *grown = PyMem_RawRealloc(v->data, allocated);
        if (grown == NULL) {
            v->failed = 1;
            return;
        }
        v->data = grown;
        v->allocated = allocated;
    }
    memcpy(v->data + v->len, data, size);
    v->len += size;
}

static void
raw_sized(raw_value *v, char tag, size_t size)
{
    raw_put(v, &tag, 1);
    raw_put(v, &size, sizeof(size));
}

static void
raw_bytes(raw_value *v, char tag, const char *data, size_t size)
{
    raw_sized(v, tag, size);
    raw_put(v, data, size);
}

static void
raw_str(raw_value *v, const char *text)
{
    if (text == NULL) {
        raw_put(v, "N", 1);
    }
    else {
        raw_bytes(v, 's', text, strlen(text));
    }
}

static void
raw_int(raw_value *v, int64_t value)
{
    unsigned char le[8];
    uint64_t u = (uint64_t)value;
    for (int i = 0; i < 8; i++) {
        le[i] = (unsigned char)(u >> (8 * i));
    }
    raw_bytes(v, 'i', (const char *)le, sizeof(le));
}

static int
raw_send(raw_value *v)
{
    int rc = v->failed ? -1 : send_frame(v->data, v->len);
    PyMem_RawFree(v->data);
    memset(v, 0, sizeof(*v));
    return rc;
}

/* Tell the host that the start failed, and end the process. */
static void _Py_NO_RETURN
start_failed(const char *type, const char *message, const char *field,
             const char *value)
{
    raw_value v = {0};
    raw_sized(&v, '{', 5);
    raw_str(&v, "ready");
    raw_put(&v, "F", 1);
    raw_str(&v, "type");
    raw_str(&v, type);
    raw_str(&v, "message");
    raw_str(&v, message);
    raw_str(&v, "field");
    raw_str(&v, field);
    raw_str(&v, "value");
    raw_str(&v, value);
    (void)raw_send(&v);
    _exit(1);
}


/* The start: the packed policy */

typedef struct {
    const unsigned char *data;
    size_t len;
    size_t pos;
    int bad;
} unpacker;

static uint32_t
get_u32(unpacker *u)
{
    if (u->bad || u->len - u->pos < 4) {
        u->bad = 1;
        return 0;
    }
    const unsigned char *p = u->data + u->pos;
    u->pos += 4;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16)
           | ((uint32_t)p[2] << 8) | p[3];
}

/* A raw-allocated copy of the next string (no NUL inside), or NULL. */
static char *
get_string(unpacker *u)
{
    uint32_t size = get_u32(u);
    if (u->bad || size > MAX_PACKED_STRING || u->len - u->pos < size
        || memchr(u->data + u->pos, '\0', size) != NULL)
    {
        u->bad = 1;
        return NULL;
    }
    char *text = PyMem_RawMalloc((size_t)size + 1);
    if (text == NULL) {
        u->bad = 1;
        return NULL;
    }
    memcpy(text, u->data + u->pos, size);
    text[size] = '\0';
    u->pos += size;
    return text;
}

/* The next count of a list, at most SANDBOX_MAX_POLICY_ENTRIES. */
static Py_ssize_t
get_count(unpacker *u)
{
    uint32_t n = get_u32(u);
    if (n > SANDBOX_MAX_POLICY_ENTRIES) {
        u->bad = 1;
        return 0;
    }
    return u->bad ? 0 : (Py_ssize_t)n;
}

static void
get_strings(unpacker *u, char ***list, Py_ssize_t *n)
{
    Py_ssize_t count = get_count(u);
    *list = NULL;
    *n = 0;
    if (count == 0) {
        return;
    }
    *list = PyMem_RawCalloc((size_t)count, sizeof(char *));
    if (*list == NULL) {
        u->bad = 1;
        return;
    }
    for (Py_ssize_t i = 0; i < count && !u->bad; i++) {
        (*list)[i] = get_string(u);
        *n = i + 1;
    }
}

/* The package roots whose caches the host's process trusts (the start's
 * last list): no write grant of the worker may reach them. */
static char **worker_trusted_roots;
static Py_ssize_t worker_n_trusted_roots;

/* Unpack *data* into worker.policy (zeroed).  Return the start's flags,
 * or -1 if it is not a start. */
static int
unpack_start(const char *data, size_t len)
{
    PySandboxPolicy *policy = &worker.policy;
    unpacker u = {(const unsigned char *)data, len, 0, 0};
    if (len < 5 || memcmp(data, START_MAGIC, 4) != 0) {
        return -1;
    }
    u.pos = 4;
    int flags = u.data[u.pos++];
    policy->max_threads = (Py_ssize_t)get_u32(&u);
    policy->recursion_limit = (int)get_u32(&u);
    uint64_t memory = (uint64_t)get_u32(&u) << 32;
    memory |= get_u32(&u);
    policy->memory = (Py_ssize_t)Py_MIN(memory, (uint64_t)PY_SSIZE_T_MAX);
    if (policy->memory != 0 && (policy->memory < SANDBOX_MIN_MEMORY
                                || policy->memory > SANDBOX_MAX_MEMORY))
    {
        u.bad = 1;
    }
    if (policy->max_threads > SANDBOX_MAX_THREADS
        || policy->recursion_limit < 0
        || policy->recursion_limit > SANDBOX_MAX_RECURSION_LIMIT)
    {
        u.bad = 1;
    }
    get_strings(&u, &policy->env, &policy->n_env);
    get_strings(&u, &policy->modules, &policy->n_modules);
    get_strings(&u, &policy->blocked, &policy->n_blocked);
    get_strings(&u, &policy->packages, &policy->n_packages);
    get_strings(&u, &policy->trusted_bytecode, &policy->n_trusted_bytecode);
    policy->network_info = get_u32(&u) != 0;
    policy->filesystem_info = get_u32(&u) != 0;
    for (int i = 0; i < 2; i++) {
        uint64_t cap = (uint64_t)get_u32(&u) << 32;
        cap |= get_u32(&u);
        if (cap > (uint64_t)PY_SSIZE_T_MAX) {
            u.bad = 1;
        }
        *(i ? &policy->net_connections_cap : &policy->net_bytes_cap) =
            (Py_ssize_t)Py_MIN(cap, (uint64_t)PY_SSIZE_T_MAX);
    }
    for (int list = 0; list < SANDBOX_NET_LISTS; list++) {
        char **entries = NULL;
        Py_ssize_t n_entries = 0;
        get_strings(&u, &entries, &n_entries);
        for (Py_ssize_t i = 0; i < n_entries && !u.bad; i++) {
            const char *why;
            u.bad = (entries[i] == NULL
                     || _PySandboxPolicy_AddNetRaw(policy, list, entries[i],
                                                   &why) < 0);
        }
        _PySandbox_FreeStrings(entries, n_entries);
    }
    Py_ssize_t n = get_count(&u);
    if (n > 0 && !u.bad) {
        policy->module_files = PyMem_RawCalloc((size_t)n,
                                               sizeof(sandbox_module_file));
        u.bad = policy->module_files == NULL;
    }
    for (Py_ssize_t i = 0; i < n && !u.bad; i++) {
        policy->module_files[i].name = get_string(&u);
        policy->module_files[i].file = get_string(&u);
        policy->n_module_files = i + 1;
    }
    n = get_count(&u);
    if (n > 0 && !u.bad) {
        policy->paths = PyMem_RawCalloc((size_t)n, sizeof(sandbox_path_rule));
        u.bad = policy->paths == NULL;
    }
    for (Py_ssize_t i = 0; i < n && !u.bad; i++) {
        policy->paths[i].path = get_string(&u);
        policy->paths[i].access = (int)get_u32(&u);
        policy->paths[i].guest = get_string(&u);   /* "": at the path */
        policy->n_paths = i + 1;
        if (policy->paths[i].guest != NULL
            && policy->paths[i].guest[0] == '\0')
        {
            PyMem_RawFree(policy->paths[i].guest);
            policy->paths[i].guest = NULL;
        }
        else if (policy->paths[i].guest == NULL
                 || policy->paths[i].guest[0] != '/')
        {
            u.bad = 1;
        }
        if (policy->paths[i].path == NULL
            || policy->paths[i].path[0] != '/'
            || (policy->paths[i].access != PySandbox_READ
                && policy->paths[i].access
                   != (PySandbox_READ | PySandbox_WRITE)))
        {
            u.bad = 1;
        }
    }
    get_strings(&u, &worker_trusted_roots, &worker_n_trusted_roots);
    if (u.bad || u.pos != u.len) {
        return -1;
    }
    return flags;
}

static void
put_u32(raw_value *v, uint32_t n)
{
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    raw_put(v, be, 4);
}

static void
put_string(raw_value *v, const char *text)
{
    put_u32(v, (uint32_t)strlen(text));
    raw_put(v, text, strlen(text));
}

static void
put_strings(raw_value *v, char *const *list, Py_ssize_t n)
{
    put_u32(v, (uint32_t)n);
    for (Py_ssize_t i = 0; i < n; i++) {
        put_string(v, list[i]);
    }
}

PyObject *
_PySandbox_PackWorkerStart(const PySandboxPolicy *policy, int inner_wall_off)
{
    raw_value v = {0};
    raw_put(&v, START_MAGIC, 4);
    unsigned char flags = inner_wall_off ? START_INNER_WALL_OFF : 0;
    raw_put(&v, &flags, 1);
    put_u32(&v, (uint32_t)policy->max_threads);
    put_u32(&v, (uint32_t)policy->recursion_limit);
    put_u32(&v, (uint32_t)((uint64_t)policy->memory >> 32));
    put_u32(&v, (uint32_t)policy->memory);
    put_strings(&v, policy->env, policy->n_env);
    put_strings(&v, policy->modules, policy->n_modules);
    put_strings(&v, policy->blocked, policy->n_blocked);
    put_strings(&v, policy->packages, policy->n_packages);
    put_strings(&v, policy->trusted_bytecode, policy->n_trusted_bytecode);
    put_u32(&v, (uint32_t)policy->network_info);
    put_u32(&v, (uint32_t)policy->filesystem_info);
    put_u32(&v, (uint32_t)((uint64_t)policy->net_bytes_cap >> 32));
    put_u32(&v, (uint32_t)policy->net_bytes_cap);
    put_u32(&v, (uint32_t)((uint64_t)policy->net_connections_cap >> 32));
    put_u32(&v, (uint32_t)policy->net_connections_cap);
    for (int list = 0; list < SANDBOX_NET_LISTS; list++) {
        put_u32(&v, (uint32_t)policy->n_net[list]);
        for (Py_ssize_t i = 0; i < policy->n_net[list]; i++) {
            put_string(&v, policy->net[list][i].text);
        }
    }
    put_u32(&v, (uint32_t)policy->n_module_files);
    for (Py_ssize_t i = 0; i < policy->n_module_files; i++) {
        put_string(&v, policy->module_files[i].name);
        put_string(&v, policy->module_files[i].file);
    }
    put_u32(&v, (uint32_t)policy->n_paths);
    for (Py_ssize_t i = 0; i < policy->n_paths; i++) {
        put_string(&v, policy->paths[i].path);
        put_u32(&v, (uint32_t)policy->paths[i].access);
        put_string(&v, policy->paths[i].guest != NULL
                       ? policy->paths[i].guest : "");
    }
    /* The package roots whose caches this process trusts (its policy's
       own among them), which no write grant of the worker may reach: the
       worker checks its grants against them as it opens them. */
    if (_PySandbox_RegisterTrustedPaths(policy->trusted_bytecode,
                                        policy->n_trusted_bytecode) < 0)
    {
        PyMem_RawFree(v.data);
        (void)_PySandboxPolicy_Error(
            "trusted_bytecode", policy->trusted_bytecode[0],
            "too many trusted package roots in this process (64 at most)");
        return NULL;
    }
    Py_ssize_t n_roots;
    char **roots = _PySandbox_TrustedRootPaths(&n_roots);
    if (n_roots < 0) {
        v.failed = 1;
    }
    else {
        put_strings(&v, roots, n_roots);
        _PySandbox_FreeStrings(roots, n_roots);
    }
    PyObject *result = (v.failed ? PyErr_NoMemory()
                        : PyBytes_FromStringAndSize(v.data,
                                                    (Py_ssize_t)v.len));
    PyMem_RawFree(v.data);
    return result;
}


/* The start, before the main interpreter exists (raw memory only) */

/* The socket's number from "-X sandbox_worker=FD", or -1. */
static int
worker_fd(const PyConfig *config)
{
    const size_t prefix = wcslen(WORKER_XOPTION);
    for (Py_ssize_t i = 0; i < config->xoptions.length; i++) {
        const wchar_t *option = config->xoptions.items[i];
        if (wcsncmp(option, WORKER_XOPTION, prefix) != 0) {
            continue;
        }
        const wchar_t *digits = option + prefix;
        long fd = 0;
        for (const wchar_t *p = digits; *p != L'\0'; p++) {
            if (*p < L'0' || *p > L'9' || fd > 1000000) {
                return -1;
            }
            fd = fd * 10 + (*p - L'0');
        }
        return *digits != L'\0' ? (int)fd : -1;
    }
    return -1;
}

PyStatus
_PySandbox_ReadWorkerStart(const PyConfig *config,
                           const PySandboxPolicy **policy)
{
    *policy = NULL;
    int fd = worker_fd(config);
    if (fd < 0) {
        return _PyStatus_OK();
    }
    worker.fd = fd;
    char *data = NULL;
    uint32_t size = 0;
    if (read_frame(fd, &data, &size) != 0) {
        _exit(2);
    }
    _PySandboxPolicy_Clear(&worker.policy);
    memset(&worker.policy, 0, sizeof(worker.policy));
    int flags = unpack_start(data, size);
    PyMem_RawFree(data);
    if (flags < 0) {
        start_failed("RuntimeError", "a malformed start frame", NULL, NULL);
    }
#ifdef Py_DEBUG
    const char *off = getenv(INNER_WALL_OFF);
    worker.unwalled = ((flags & START_INNER_WALL_OFF)
                       && off != NULL && strcmp(off, "1") == 0);
#endif
    /* What PySandbox_NewInterpreter() fills for a trusted creator: the
       variables this process has (the host passed only the policy's),
       its working directory, and the grants, opened here. */
    PySandboxPolicy *p = &worker.policy;
    Py_ssize_t failed;
    if (_PySandboxPolicy_SnapshotEnvironRaw(p, NULL) < 0
        || (p->cwd = _PySandbox_CreatorCwd(NULL)) == NULL)
    {
        start_failed("MemoryError", "out of memory", NULL, NULL);
    }
    if (_PySandbox_RegisterTrustedPaths(worker_trusted_roots,
                                        worker_n_trusted_roots) < 0)
    {
        start_failed("RuntimeError", "cannot record the host's trusted "
                     "package roots", NULL, NULL);
    }
    if (_PySandbox_OpenGrantsRaw(p, NULL, &failed) < 0) {
        if (failed < 0) {
            start_failed("MemoryError", "out of memory", NULL, NULL);
        }
        const char *path;
        const char *field = _PySandbox_GrantField(p, failed, &path);
        char message[400];
        PyOS_snprintf(message, sizeof(message), "%s: '%.300s': %s", field,
                      path, strerror(errno));
        start_failed("PolicyError", message, field, path);
    }
    /* Its write grants as opened (a link swapped since the host checked
       their names is seen) against its package roots and the host's
       trusted ones; the standard library's, once its paths are known
       (_PySandbox_InitFiles()). */
    const char *what;
    Py_ssize_t overlap = _PySandbox_OpenedWriteOverlap(p, 0, &what);
    if (overlap >= 0) {
        const char *path = (overlap < p->n_paths ? p->paths[overlap].path
                            : p->opened[overlap].root);
        char message[500];
        PyOS_snprintf(message, sizeof(message), "write: '%.300s': %s (as "
                      "the worker opened it)", path, what);
        start_failed("PolicyError", message, "write", path);
    }
    *policy = p;
    return _PyStatus_OK();
}

int
_PySandbox_IsWorkerPolicy(const PySandboxPolicy *policy)
{
    return worker.fd >= 0 && policy == &worker.policy;
}

int
_PySandbox_WorkerUnwalled(struct _PySandboxState *state)
{
    if (!worker.unwalled) {
        return 0;
    }
    worker.unwalled_state = state;
    return 1;
}

const PySandboxPolicy *
_PySandbox_WorkerPolicy(void)
{
    return &worker.policy;
}

struct _PySandboxState *
_PySandbox_WorkerState(PyInterpreterState *interp)
{
    if (worker.fd < 0 || !_Py_IsMainInterpreter(interp)) {
        return NULL;
    }
    return interp->sandbox != NULL ? interp->sandbox : worker.unwalled_state;
}


/* The jobs, in the main interpreter */

/* What the job writes while it runs, sent every 20 ms as frames
 * {"output": 1 or 2, "data": bytes, "id": the job's}; the answer carries
 * the rest.  A thread without a thread state: it touches raw memory only
 * (the streams' buffers, under their mutexes). */
typedef struct {
    pthread_t thread;
    struct _PySandboxState *state;
    int64_t job_id;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int done;
} streamer;

static void
stream_once(streamer *s)
{
    for (int fd = 1; fd <= 2; fd++) {
        char *data;
        size_t size;
        if (_PySandbox_TakeOutputRaw(s->state, fd, &data, &size) < 0
            || data == NULL)
        {
            continue;
        }
        raw_value v = {0};
        raw_sized(&v, '{', 3);
        raw_str(&v, "output");
        raw_int(&v, fd);
        raw_str(&v, "data");
        raw_bytes(&v, 'b', data, size);
        raw_str(&v, "id");
        raw_int(&v, s->job_id);
        PyMem_RawFree(data);
        (void)raw_send(&v);
    }
}

static void *
stream_output(void *arg)
{
    streamer *s = arg;
    pthread_mutex_lock(&s->mutex);
    while (!s->done) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 20 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        (void)pthread_cond_timedwait(&s->cond, &s->mutex, &until);
        if (!s->done) {
            pthread_mutex_unlock(&s->mutex);
            stream_once(s);
            pthread_mutex_lock(&s->mutex);
        }
    }
    pthread_mutex_unlock(&s->mutex);
    return NULL;
}

static int
start_streamer(streamer *s, struct _PySandboxState *state, int64_t job_id)
{
    memset(s, 0, sizeof(*s));
    s->state = state;
    s->job_id = job_id;
    pthread_mutex_init(&s->mutex, NULL);
    pthread_cond_init(&s->cond, NULL);
    if (pthread_create(&s->thread, NULL, stream_output, s) != 0) {
        pthread_mutex_destroy(&s->mutex);
        pthread_cond_destroy(&s->cond);
        return -1;
    }
    return 0;
}

static void
stop_streamer(streamer *s)
{
    pthread_mutex_lock(&s->mutex);
    s->done = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mutex);
    Py_BEGIN_ALLOW_THREADS
    pthread_join(s->thread, NULL);
    Py_END_ALLOW_THREADS
    pthread_mutex_destroy(&s->mutex);
    pthread_cond_destroy(&s->cond);
}

/* The next request from the host, decoded here; NULL at the end of the
 * stream, or for a broken one (the host is trusted: its frames are never
 * broken unless it is going away). */
static PyObject *
receive(void)
{
    char *data = NULL;
    uint32_t size = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = read_frame(worker.fd, &data, &size);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        return NULL;
    }
    PyObject *value = _PySandbox_DecodeValue(data, (Py_ssize_t)size, -1, -1);
    PyMem_RawFree(data);
    if (value == NULL || !PyDict_CheckExact(value)) {
        PyErr_Clear();
        Py_XDECREF(value);
        return NULL;
    }
    return value;
}

/* Encode *value* and send it; with the GIL released while it is sent. */
static int
send_value(PyObject *value)
{
    PyObject *data = _PySandbox_EncodeValue(value);
    if (data == NULL) {
        return -1;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = send_frame(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data));
    Py_END_ALLOW_THREADS
    Py_DECREF(data);
    return rc;
}

/* request[key] if it is a str: its UTF-8, or NULL. */
static const char *
text_of(PyObject *request, const char *key)
{
    PyObject *value = PyDict_GetItemString(request, key);
    if (value == NULL || !PyUnicode_CheckExact(value)) {
        return NULL;
    }
    const char *text = PyUnicode_AsUTF8(value);
    if (text == NULL) {
        PyErr_Clear();
    }
    return text;
}

/* Its caps, as _sandbox.query() gives them: {(group, kind): (used,
 * cap)}, the other entries left out (a membership is a frozenset, which
 * does not cross).  The host says what is left of each
 * (Lib/sandbox/_interpreter.py). */
static PyObject *
caps_of(PyInterpreterState *interp)
{
    PyObject *query = PySandbox_ExtendedQuery(interp);
    PyObject *caps = query != NULL ? PyDict_New() : NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (caps != NULL && PyDict_Next(query, &pos, &key, &value)) {
        if (PyTuple_CheckExact(value)
            && PyDict_SetItem(caps, key, value) < 0)
        {
            Py_CLEAR(caps);
        }
    }
    Py_XDECREF(query);
    return caps;
}

/* The most memory the job held, as answer["peak"] (None without the
 * inner wall). */
static int
set_peak(PyObject *answer, struct _PySandboxState *state)
{
    PyObject *peak = (state != NULL
                      ? PyLong_FromSsize_t(_PySandbox_HeapPeak(&state->heap,
                                                               0))
                      : Py_NewRef(Py_None));
    int rc = peak != NULL ? PyDict_SetItemString(answer, "peak", peak) : -1;
    Py_XDECREF(peak);
    return rc;
}

static int
set_taken_output(PyObject *answer, struct _PySandboxState *state, int fd,
                 const char *key)
{
    char *data = NULL;
    size_t size = 0;
    if (state != NULL && _PySandbox_TakeOutputRaw(state, fd, &data,
                                                  &size) < 0)
    {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(data, (Py_ssize_t)size);
    PyMem_RawFree(data);
    int rc = bytes != NULL ? PyDict_SetItemString(answer, key, bytes) : -1;
    Py_XDECREF(bytes);
    return rc;
}

/* The job of *request*: its answer, with what it wrote, the denials and
 * its caps; NULL with an exception set if that cannot be made. */
static PyObject *
run_request(PyInterpreterState *interp, PyObject *request)
{
    struct _PySandboxState *state = interp->sandbox;
    const char *op = text_of(request, "op");
    PyObject *answer = NULL;
    if (state != NULL) {
        (void)_PySandbox_HeapPeak(&state->heap, 1);   /* the job's */
    }
    if (op == NULL) {
        answer = Py_BuildValue("{s:O,s:(ss)}", "ok", Py_False, "failed",
                               "ValueError", "a request without its job");
    }
    else if (strcmp(op, "exec") == 0) {
        const char *setup = text_of(request, "setup");
        const char *source = text_of(request, "source");
        const char *filename = text_of(request, "filename");
        if (setup != NULL && setup[0] != '\0') {
            answer = _PySandbox_RunHere("exec", setup, "<string>", NULL,
                                        NULL);
            if (answer != NULL
                && PyDict_GetItemString(answer, "ok") != Py_True)
            {
                source = NULL;
            }
            else {
                Py_CLEAR(answer);
            }
        }
        if (answer == NULL) {
            answer = _PySandbox_RunHere("exec", source != NULL ? source : "",
                                        filename, NULL, NULL);
        }
    }
    else if (strcmp(op, "eval") == 0) {
        const char *expression = text_of(request, "expression");
        answer = _PySandbox_RunHere("eval",
                                    expression != NULL ? expression : "None",
                                    NULL, NULL, NULL);
    }
    else if (strcmp(op, "call") == 0) {
        const char *target = text_of(request, "target");
        PyObject *args = PyDict_GetItemString(request, "args");
        PyObject *kwargs = PyDict_GetItemString(request, "kwargs");
        PyObject *tuple = (args != NULL && (PyList_CheckExact(args)
                                            || PyTuple_CheckExact(args))
                           ? PySequence_Tuple(args) : PyTuple_New(0));
        PyObject *empty = kwargs == NULL ? PyDict_New() : NULL;
        if (tuple != NULL && (kwargs != NULL || empty != NULL)) {
            answer = _PySandbox_RunHere("call", target != NULL ? target : "",
                                        NULL, tuple,
                                        kwargs != NULL ? kwargs : empty);
        }
        Py_XDECREF(tuple);
        Py_XDECREF(empty);
    }
    else {
        answer = _PySandbox_RunHere(op, "", NULL, NULL, NULL);
    }
    if (answer == NULL) {
        return NULL;
    }
    _PySandbox_EngineAllocates(1);
    PyObject *denials = (state != NULL ? PySandbox_GetDenials(interp)
                                       : PyList_New(0));
    PyObject *caps = state != NULL ? caps_of(interp) : PyDict_New();
    if (denials == NULL || caps == NULL
        || set_taken_output(answer, state, 1, "stdout") < 0
        || set_taken_output(answer, state, 2, "stderr") < 0
        || PyDict_SetItemString(answer, "denials", denials) < 0
        || PyDict_SetItemString(answer, "query", caps) < 0
        || set_peak(answer, state) < 0)
    {
        Py_CLEAR(answer);
    }
    Py_XDECREF(denials);
    Py_XDECREF(caps);
    _PySandbox_EngineAllocates(0);
    return answer;
}

/* Send the answer to job *job_id*; one that cannot cross (a value too
 * large, of a type that cannot) fails the job, not the worker. */
static int
send_answer(PyObject *answer, PyObject *job_id)
{
    if (answer != NULL && PyDict_SetItemString(answer, "id", job_id) == 0
        && send_value(answer) == 0)
    {
        return 0;
    }
    if (answer != NULL && !PyErr_Occurred()) {
        return -1;              /* the socket broke */
    }
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *text = exc != NULL ? PyObject_Str(exc) : NULL;
    PyErr_Clear();
    const char *message = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    PyErr_Clear();
    const char *type = (exc != NULL && (PyErr_GivenExceptionMatches(
                            exc, PyExc_TypeError)
                        || PyErr_GivenExceptionMatches(exc, PyExc_ValueError)
                        || PyErr_GivenExceptionMatches(exc,
                                                       PyExc_OverflowError)
                        || PyErr_GivenExceptionMatches(exc,
                                                       PyExc_MemoryError))
                        ? Py_TYPE(exc)->tp_name : "RuntimeError");
    if (message != NULL && message[0] == '\0') {
        message = NULL;
    }
    PyObject *failed = Py_BuildValue(
        "{s:O,s:(ss),s:y,s:y,s:[],s:{},s:O}", "ok", Py_False, "failed",
        type, message != NULL ? message : "the answer could not be made",
        "stdout", "", "stderr", "", "denials", "query", "id", job_id);
    Py_XDECREF(text);
    Py_XDECREF(exc);
    int rc = failed != NULL ? send_value(failed) : -1;
    Py_XDECREF(failed);
    PyErr_Clear();
    return rc;
}

/* The start's second frame: {"memory", "threads", "require",
 * "time", "cpu"};
 * fence the process with it and answer the start. */
static void
fence_and_answer(PyInterpreterState *interp)
{
    struct _PySandboxState *state = _PySandbox_WorkerState(interp);
    PyObject *hello = receive();
    if (hello == NULL || state == NULL) {
        _exit(2);
    }
    PyObject *memory = PyDict_GetItemString(hello, "memory");
    PyObject *threads = PyDict_GetItemString(hello, "threads");
    PyObject *require = PyDict_GetItemString(hello, "require");
    if (memory == NULL || !PyLong_CheckExact(memory) || threads == NULL
        || !PyLong_CheckExact(threads) || require == NULL
        || !PyList_CheckExact(require))
    {
        start_failed("RuntimeError", "a malformed start frame", NULL, NULL);
    }
    unsigned int required = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(require); i++) {
        int bit = _PySandbox_FenceLayerBit(PyList_GET_ITEM(require, i));
        if (bit < 0) {
            start_failed("RuntimeError", "a malformed start frame", NULL,
                         NULL);
        }
        required |= (unsigned int)bit;
    }
    unsigned long long bytes = PyLong_AsUnsignedLongLongMask(memory);
    Py_ssize_t more = PyLong_AsSsize_t(threads);
    if (PyErr_Occurred()) {
        start_failed("RuntimeError", "a malformed start frame", NULL, NULL);
    }
    /* Each job's time limit (Python/sandbox_time.c), inside; the host
       kills a worker whose answer does not come in time. */
    PyObject *seconds = PyDict_GetItemString(hello, "time");
    if (seconds != NULL
        && (!PyFloat_CheckExact(seconds)
            || PySandboxPolicy_SetTimeLimit(&state->policy,
                                            PyFloat_AS_DOUBLE(seconds)) < 0))
    {
        start_failed("RuntimeError", "a malformed start frame", NULL, NULL);
    }
    PyObject *cpu = PyDict_GetItemString(hello, "cpu");
    if (cpu != NULL
        && (!PyFloat_CheckExact(cpu)
            || PySandboxPolicy_SetCpuLimit(&state->policy,
                                           PyFloat_AS_DOUBLE(cpu)) < 0))
    {
        start_failed("RuntimeError", "a malformed start frame", NULL, NULL);
    }
    /* The names it is granted, resolved while the resolver's files and
       sockets are still there. */
    _PySandbox_PinNames(state);
    PyObject *layers = _PySandbox_Fence(state, bytes, more, required);
    if (layers == NULL) {
        PyObject *exc = PyErr_GetRaisedException();
        PyObject *text = PyObject_Str(exc);
        const char *message = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
        int policy_error = PyErr_GivenExceptionMatches(
            exc, PyExc_SandboxPolicyError);
        PyObject *field = (policy_error
                           ? PyObject_GetAttrString(exc, "field") : NULL);
        PyObject *value = (policy_error
                           ? PyObject_GetAttrString(exc, "value") : NULL);
        PyErr_Clear();
        start_failed(policy_error ? "PolicyError" : "RuntimeError",
                     message != NULL ? message : "the fence failed",
                     field != NULL && PyUnicode_Check(field)
                     ? PyUnicode_AsUTF8(field) : NULL,
                     value != NULL && PyUnicode_Check(value)
                     ? PyUnicode_AsUTF8(value) : NULL);
    }
    /* Its memory cap applies from now on. */
    if (interp->sandbox != NULL
        && _PySandbox_HeapCreated(interp->sandbox) < 0)
    {
        PyErr_Clear();
        start_failed("PolicyError", "memory: below what the interpreter "
                     "needs to start", "memory", NULL);
    }
    PyObject *ready = Py_BuildValue("{s:O,s:N,s:i,s:l}", "ready", Py_True,
                                    "layers", layers, "id", 0,
                                    "pid", (long)getpid());
    if (ready == NULL || send_value(ready) < 0) {
        _exit(2);
    }
    Py_DECREF(ready);
    Py_DECREF(hello);
}

void _Py_NO_RETURN
_PySandbox_ServeWorker(void)
{
    PyThreadState *tstate = _PyThreadState_GET();
    PyInterpreterState *interp = tstate->interp;
    fence_and_answer(interp);
    (void)_PyInterpreterState_SetRunningMain(interp);
    struct _PySandboxState *state = interp->sandbox;
    for (;;) {
        /* The request and the answer are the engine's, bounded by the
           host: charged to the cap, never refused by it. */
        _PySandbox_EngineAllocates(1);
        PyObject *request = receive();
        _PySandbox_EngineAllocates(0);
        if (request == NULL) {
            break;
        }
        PyObject *job_id = PyDict_GetItemString(request, "id");
        if (job_id == NULL) {
            job_id = Py_None;
        }
        Py_INCREF(job_id);
        streamer s;
        int streaming = (state != NULL
                         && PyDict_GetItemString(request, "stream") == Py_True
                         && PyLong_CheckExact(job_id)
                         && start_streamer(&s, state,
                                           PyLong_AsLongLong(job_id)) == 0);
        PyObject *answer = run_request(interp, request);
        if (streaming) {
            stop_streamer(&s);
        }
        Py_DECREF(request);
        _PySandbox_EngineAllocates(1);
        int rc = send_answer(answer, job_id);
        _PySandbox_EngineAllocates(0);
        Py_XDECREF(answer);
        Py_DECREF(job_id);
        if (rc < 0) {
            break;
        }
    }
    /* The host closed the socket (or went away): end here, without a
       finalization that would run the tenant's code. */
    _exit(0);
}

int
_PySandbox_IsWorker(void)
{
    return worker.fd >= 0;
}

#endif  /* Py_UNTRUSTED */
