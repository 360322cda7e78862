"""The descriptor table (issue 5): an untrusted interpreter uses only the
file descriptors it created.  The host's stdout, files and sockets are one
integer away from its code; each test checks the effect on the host (what
its stdout received, what its file holds, whether its socket still
works), with a control from a trusted isolated interpreter where the stock
hole is visible."""

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from support import AN_ERROR_AND_A_SINK, job_outcome as outcome
from support import requires_untrusted, run_host

pytestmark = requires_untrusted

CANARY = "CANARY-7f3a"


@contextlib.contextmanager
def host_opening(*files, after):
    """While the block runs, a thread of the host opens *files* ((path,
    mode) pairs) *after* seconds: they get the lowest free numbers, those
    the tenant's code may have closed meanwhile.  Closed at the end."""
    held = []

    def opens():
        time.sleep(after)
        held.extend(open(path, mode) for path, mode in files)
    thread = threading.Thread(target=opens)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        for f in held:
            f.close()




STDIO = """
import _sandbox, sys
jail = _sandbox.new_interpreter()
for attempt in (
        "import os; os.write(1, b'{canary}-write\\\\n')",
        "import os; os.write(2, b'{canary}-stderr\\\\n')",
        "open(1, 'w', closefd=False).write('{canary}-open\\\\n')",
        "import socket; socket.socket(fileno=1).send(b'{canary}-sock\\\\n')",
        "import os; r, w = os.pipe(); os.dup2(r, 1)",
        "import os; os.dup2(1, 7); os.write(7, b'{canary}-dup2\\\\n')",
        "import os; os.write(os.dup(1), b'{canary}-dup\\\\n')",
        "import os; os.close(1)",
        "import os; os.close(2)",
        "import os; os.closerange(0, 1024)"):
    try:
        _sandbox.exec(jail, attempt)
        print("ran", flush=True)
    except _sandbox.RemoteError as exc:
        print(exc.type_name.rpartition(".")[2], flush=True)
_sandbox.end_interpreter(jail)
print("host stdout alive", flush=True)
print("host stderr alive", file=sys.stderr, flush=True)
"""


def test_the_hosts_stdio_is_out_of_reach():
    proc = run_host(STDIO.format(canary=CANARY))
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout and CANARY not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:7] == ["SandboxError"] * 7
    # closing nothing it owns is not an error: closerange() closes only
    # the interpreter's own descriptors
    assert lines[7:] == ["SandboxError", "SandboxError", "ran",
                         "host stdout alive"]
    assert proc.stderr == "host stderr alive\n"


CONTROL = """
import _interpreters
i = _interpreters.create("isolated")
_interpreters.exec(i, "import os; os.write(1, b'{canary}\\\\n')")
"""


def test_the_control_shows_the_stock_hole():
    proc = run_host(CONTROL.format(canary=CANARY))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == CANARY + "\n"


def test_the_hosts_file_is_out_of_reach(untrusted, tmp_path):
    path = tmp_path / "host.txt"
    with open(path, "w+") as f:
        f.write("host data")
        f.flush()
        fd = f.fileno()
        attempts = [
            f"import os; os.write({fd}, b'{CANARY}')",
            f"import os; os.lseek({fd}, 0, 0); os.read({fd}, 9)",
            f"import os; os.ftruncate({fd}, 0)",
            f"import os; os.fstat({fd})",
            f"import os; os.stat({fd})",
            f"import os; os.listdir({fd})",
            f"import os; os.set_inheritable({fd}, True)",
            f"import os; os.set_blocking({fd}, False)",
            f"open({fd}, 'w', closefd=False).write('{CANARY}')",
            f"import io; io.FileIO({fd}, 'r+', closefd=False)",
            f"import os; os.fdopen({fd}, 'w').write('{CANARY}')",
            f"open('x', 'w', opener=lambda p, fl: {fd}).write('{CANARY}')",
            f"import os; os.unlink('host.txt', dir_fd={fd})",
            f"import select; select.select([{fd}], [], [], 0)",
            f"import select; select.poll().register({fd})",
            f"import select; select.epoll().register({fd})",
            f"import os; os.fsync({fd})",
            f"import os; os.sendfile({fd}, {fd}, 0, 1)",
            f"import os; os.close({fd})",
        ]
        results = [outcome(untrusted, code) for code in attempts]
        assert results == ["SandboxError"] * len(attempts)
        # The host's file is untouched and its descriptor still works.
        f.seek(0)
        assert f.read() == "host data"
        os.fstat(fd)
        assert os.get_inheritable(fd) is False
        assert os.get_blocking(fd) is True


def test_the_hosts_socket_is_out_of_reach(untrusted):
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    fd = listener.fileno()
    try:
        attempts = [
            f"import socket; socket.socket(fileno={fd}).close()",
            f"import socket; socket.fromfd({fd}, socket.AF_INET, "
            f"socket.SOCK_STREAM)",
            f"import _socket; _socket.close({fd})",
            f"import _socket; _socket.dup({fd})",
            f"import os; os.close({fd})",
        ]
        results = [outcome(untrusted, code) for code in attempts]
        assert results == ["SandboxError"] * len(attempts)
        # The host's listener still accepts.
        with socket.create_connection(listener.getsockname(), timeout=10):
            conn, _ = listener.accept()
            conn.close()
    finally:
        listener.close()


def test_a_number_closed_inside_and_reused_by_the_host(untrusted_tmp, tmp_path):
    # A file object keeps its descriptor: closed behind its back and
    # reused by the host, the number is no longer the interpreter's.
    (tmp_path / "mine.txt").write_text("mine")
    assert outcome(untrusted_tmp, f"""
        import os
        f = open({str(tmp_path / 'mine.txt')!r}, 'r+')
        s = __import__('socket').socket()
        os.close(f.fileno())
        os.close(s.fileno())
        numbers = (f.fileno(), s.fileno())
    """) == "ran"
    import _sandbox
    numbers = _sandbox.eval(untrusted_tmp, "numbers")
    host = [open(tmp_path / "host.txt", "w+"), socket.socket()]
    try:
        # The kernel hands out the lowest free numbers: the host now has
        # the interpreter's old ones.
        assert sorted(o.fileno() for o in host) == sorted(numbers)
        hostfile = host[0] if host[0].fileno() == numbers[0] else None
        for code in ["f.write('" + CANARY + "'); f.flush()", "f.read()",
                     "f.seek(0)", "f.truncate(0)", "s.send(b'x')",
                     "s.bind(('127.0.0.1', 0))", "s.setblocking(False)",
                     "s.getsockname()", "f.close()", "s.close()"]:
            assert outcome(untrusted_tmp, code) == "SandboxError", code
        # the host's objects are untouched
        for o in host:
            os.fstat(o.fileno())
        if hostfile is not None:
            hostfile.seek(0)
            assert hostfile.read() == ""
    finally:
        for o in host:
            o.close()


REUSED_WHILE_IN_USE = r"""
import os, time
r, w = os.pipe()
spare, _ = os.pipe()
os.write(w, b'tenant-data')
got = []
denied = []
def free(fd):
    for call in (lambda: os.close(fd), lambda: os.dup2(spare, fd)):
        try:
            call()
        except PermissionError:
            denied.append(fd)
    os.closerange(fd, fd + 1)       # leaves it: no error, no close
class ReadInto:
    # Runs after readv() checked r, before its system call.
    def __buffer__(self, flags):
        free(r)
        os.writev(w, [WriteFrom()])
        return memoryview(buf)
class WriteFrom:
    # Runs after writev() checked w, before its system call.
    def __buffer__(self, flags):
        free(w)
        time.sleep(1.0)             # the host opens its files meanwhile
        return memoryview(b'TENANT-WROTE')
buf = bytearray(64)
n = os.readv(r, [ReadInto()])
got.append(bytes(buf[:n]))
"""


def test_a_number_stays_while_a_call_that_checked_it_runs_code(
        untrusted, tmp_path):
    # The tenant's code that a call runs between its check of a number and
    # its system call (a __buffer__ here; an __index__, an audit hook) may
    # not close the number or put another file behind it: else the host,
    # opening files meanwhile, gets the number, and the call reads or
    # writes the host's file.
    import _sandbox
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY)
    log = tmp_path / "log.txt"
    with host_opening((secret, "rb"), (log, "ab"), after=0.4):
        result = outcome(untrusted, REUSED_WHILE_IN_USE, message=True)
    got = _sandbox.eval(untrusted, "got")
    denied = _sandbox.eval(untrusted, "denied")
    assert result == "ran", result
    assert CANARY.encode() not in b"".join(got), got
    assert got == [b"tenant-dataTENANT-WROTE"], got
    assert log.read_bytes() == b""
    assert len(denied) == 4, denied
    details = [d[2] for d in _sandbox.denials(untrusted)]
    assert sum("while a call uses it" in d for d in details) == 4, details


C_CALLABLES_BETWEEN = r"""
import functools, operator, os, time
r, w = os.pipe()
os.write(w, b'tenant-data')
# A __len__ made of C callables alone: no Python frame is pushed, no C
# boundary is crossed; the call that runs it is at the same instruction
# as the close it makes.
calls = [functools.partial({free}), functools.partial(time.sleep, 1.0)]
class S(list):
    __len__ = staticmethod(functools.partial(
        operator.countOf, map(operator.call, calls), None))
buf = [bytearray(64) for _ in range({buffers})]
got = []
try:
    n = os.readv(r, S(buf))
    got.append(bytes(b''.join(buf))[:n])
except PermissionError:
    got.append('denied')
"""


@pytest.mark.parametrize("free, buffers, expected", [
    ("os.close, r", 2, "denied"),
    ("os.dup2, w, r", 1, "denied"),
    ("os.closerange, r, r + 1", 2, b"tenant-data"),
])
def test_c_callables_run_by_a_call_do_not_free_its_number(
        untrusted, tmp_path, free, buffers, expected):
    # The same as above with code that pushes no frame: the check's use
    # lasts until the call ends it after its system call, wherever the
    # code that asks for the close runs.
    import _sandbox
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY)
    with host_opening((secret, "rb"), after=0.4):
        result = outcome(untrusted, C_CALLABLES_BETWEEN.format(
            free=free, buffers=buffers), message=True)
    got = _sandbox.eval(untrusted, "got")
    assert result == "ran", result
    assert CANARY.encode() not in repr(got).encode(), got
    assert got == [expected], got


CLOSED_WHERE_USED = r"""
import functools, operator, os, select, socket
p = {path!r}
# Each line uses a number, then closes it at the same instruction: from the
# file's or socket's death, an error path of io.open(), or C callables.
open(p, 'wb').write(b'data')
assert open(p, 'rb').read() == b'data'
try:
    open(p, 'a', encoding='no-such-codec')
except LookupError:
    pass
f = open(p, 'ab'); f.write(b'more'); f.close()
socket.socket().setblocking(False)
s = socket.socket(); socket.socket(fileno=os.dup(s.fileno())).getsockname(); s.close()
select.epoll().poll(0)
r, w = os.pipe()
os.dup2(w, w)
list(map(operator.call, [functools.partial(os.write, w, b'x'),
                         functools.partial(os.read, r, 1),
                         functools.partial(os.close, w),
                         functools.partial(os.close, r)]))
"""


def test_ordinary_code_closes_what_it_has_used(untrusted_tmp, tmp_path):
    # A call's use of a number ends with its system call: a close that
    # follows at the same instruction is not refused, and nothing is left
    # open in the host.
    import _sandbox
    before = len(os.listdir("/proc/self/fd"))
    assert outcome(untrusted_tmp, CLOSED_WHERE_USED.format(
        path=str(tmp_path / "f.bin")), message=True) == "ran"
    assert _sandbox.denials(untrusted_tmp) == []
    assert len(os.listdir("/proc/self/fd")) == before
    assert (tmp_path / "f.bin").read_bytes() == b"datamore"


def test_a_call_made_from_c_keeps_its_number_too(make_untrusted):
    # A thread started on the C function itself has no Python frame: its
    # check is a use all the same, which the code it runs cannot end.
    import _sandbox
    interp = make_untrusted(threads=1)
    assert outcome(interp, """
        import _thread, os, time
        r, w = os.pipe()
        os.write(w, b'x')
        denied = []
        class ReadInto:
            def __buffer__(self, flags):
                try:
                    os.close(r)
                except PermissionError:
                    denied.append(1)
                return memoryview(bytearray(1))
        _thread.start_new_thread(os.readv, (r, [ReadInto()]))
        for i in range(100):
            if denied:
                break
            time.sleep(0.05)
    """) == "ran"
    assert _sandbox.eval(interp, "denied") == [1]


def test_a_call_made_from_c_keeps_its_number_while_it_blocks(make_untrusted):
    # FileIO.readall(), called from C on a thread of its own (no Python
    # frame), checks once and reads many times, releasing the GIL between;
    # and a C __len__ that releases the GIL at the same level: neither
    # ends its use.  Another thread may not close the number meanwhile.
    import _sandbox
    interp = make_untrusted(threads=2)
    assert outcome(interp, """
        import _thread, functools, io, os, time
        r, w = os.pipe()
        f = io.FileIO(r, 'r', closefd=False)
        got = []
        _thread.start_new_thread(got.extend, (map(io.FileIO.readall, [f]),))
        r2, w2 = os.pipe()
        pr, pw = os.pipe()
        class S(list):
            __len__ = staticmethod(functools.partial(os.write, pw, b'x'))
        _thread.start_new_thread(os.readv, (r2, S([bytearray(4)])))
        time.sleep(0.3)                 # both blocked in read()
        denied = []
        for fd in (r, r2):
            try:
                os.close(fd)
            except PermissionError:
                denied.append(fd)
        os.write(w, b'data')
        os.close(w)
        os.write(w2, b'more')
        for i in range(100):
            if got:
                break
            time.sleep(0.05)
    """, message=True) == "ran"
    assert _sandbox.eval(interp, "(got, len(denied))") == ([b"data"], 2)


def test_no_thread_closes_a_number_another_is_using(make_untrusted):
    # A thread blocked in a call on a number (or between its check and
    # its system call) keeps it: another thread of the interpreter may not
    # close it or put another file behind it, which the host could reuse
    # in between.  Once the call has returned, it may.
    import _sandbox
    interp = make_untrusted(threads=1)
    assert outcome(interp, """
        import os, threading, time
        r, w = os.pipe()
        got = []
        reader = threading.Thread(target=lambda: got.append(os.read(r, 5)))
        reader.start()
        time.sleep(0.3)                 # blocked in read(r)
        denied = []
        for call in (lambda: os.close(r), lambda: os.dup2(w, r)):
            try:
                call()
            except PermissionError:
                denied.append(1)
        os.write(w, b'hello')
        reader.join()
        os.close(r)                     # the read has returned
        os.close(w)
    """, message=True) == "ran"
    assert _sandbox.eval(interp, "(got, len(denied))") == ([b"hello"], 2)


REPLACED_WHILE_IN_USE = r"""
import io, os, socket, threading, time
r, w = os.pipe()
m = os.dup(w)                   # another number of its own
f = io.FileIO(r, 'r', closefd=False)
a, b = socket.socketpair()
c, d = socket.socketpair()
got = []
threads = [threading.Thread(target=lambda: got.append(f.readall())),
           threading.Thread(target=lambda: got.append(a.recv(100)))]
for t in threads:
    t.start()
time.sleep(0.3)                 # both blocked, in read() and recv()
denied = []
# Each would put another number behind the object, which the blocked call
# reads again; that number closed, the host's file would get it.
for attempt in (lambda: f.__init__(m, 'r', closefd=False), a.detach,
                lambda: socket.socket.__init__(a, fileno=os.dup(c.fileno()))):
    try:
        attempt()
    except PermissionError:
        denied.append(1)
os.close(m)
time.sleep(0.6)                 # the host opens its file meanwhile
os.write(w, b'pipe')
os.close(w)
b.send(b'sock')
for t in threads:
    t.join()
"""


def test_an_object_keeps_the_number_a_call_uses(make_untrusted, tmp_path):
    # FileIO.readall() reads in a loop, a socket call again after each
    # wait: a second __init__ or a detach() from another thread would put
    # another number behind the object (found by a hostile review: the
    # host's file read through a number closed and reused).
    import _sandbox
    secret = tmp_path / "secret.txt"
    secret.write_text(CANARY)
    interp = make_untrusted(threads=2)
    with host_opening((secret, "rb"), after=0.6):
        result = outcome(interp, REPLACED_WHILE_IN_USE, message=True)
    got, denied = _sandbox.eval(interp, "(got, denied)")
    assert result == "ran", result
    assert CANARY.encode() not in b"".join(got), got
    assert sorted(got) == [b"pipe", b"sock"], got
    assert denied == [1, 1, 1], denied


SOCKET_KEPT_WHILE_IN_USE = r"""
import os, socket, time
s = socket.socket()
y = socket.socket()
Y = y.detach()
log = []
class How:
    # Runs after shutdown() checked s, before its system call.
    def __index__(self):
        for attempt in (s.close,
                        lambda: socket.socket.__init__(s, fileno=Y)):
            try:
                attempt()
            except PermissionError:
                log.append('denied')
        os.close(Y)                     # the host's socket may get Y now
        open({go!r}, 'w').close()
        for i in range(200):
            if os.path.exists({opened!r}):
                break
            time.sleep(0.01)
        return socket.SHUT_WR
try:
    s.shutdown(How())
except OSError as exc:                  # its own socket: not connected
    log.append(exc.errno)
"""


def test_a_refused_close_leaves_the_socket_its_number(untrusted_tmp, tmp_path):
    # Found by a hostile review: a close refused while a call used the
    # number still emptied the socket object, which a second __init__
    # then pointed at another number; the call's system call read the
    # object again and shut the host's connection down.
    import _sandbox
    import errno
    listener = socket.create_server(("127.0.0.1", 0))
    go, opened = tmp_path / "go", tmp_path / "opened"
    host = []

    def host_connects():
        for _ in range(500):
            if go.exists():
                break
            time.sleep(0.01)
        host.append(socket.create_connection(listener.getsockname()))
        opened.touch()
    thread = threading.Thread(target=host_connects)
    thread.start()
    try:
        result = outcome(untrusted_tmp, SOCKET_KEPT_WHILE_IN_USE.format(
            go=str(go), opened=str(opened)), message=True)
        thread.join()
        peer, _ = listener.accept()
        with peer:
            host[0].sendall(b"host-data")   # not shut down
            assert peer.recv(100) == b"host-data"
    finally:
        thread.join()
        for sock in host:
            sock.close()
        listener.close()
    assert result == "ran", result
    assert _sandbox.eval(untrusted_tmp, "log") == ["denied", "denied",
                                                     errno.ENOTCONN]


def test_its_own_descriptors_work(tmp_path):
    import _sandbox
    # A server of its own on a port the kernel picks, and a client of it.
    jail = _sandbox.new_interpreter(write=(str(tmp_path),),
                                    net=("localhost",), listen=("0",))
    try:
        assert outcome(jail, f"""
            import os, socket, tempfile, select
            r, w = os.pipe()
            os.write(w, b'x')
            assert os.read(r, 1) == b'x'
            w2 = os.dup(w)
            os.dup2(r, w2)
            os.close(w2)
            os.close(r); os.close(w)
            a, b = socket.socketpair()
            a.sendall(b'hi')
            assert select.select([b], [], [], 1)[0] == [b]
            assert b.recv(2) == b'hi'
            a.close(); b.close()
            with tempfile.TemporaryFile(dir={str(tmp_path)!r}) as t:
                t.write(b'data'); t.seek(0)
                assert t.read() == b'data'
            path = {str(tmp_path / 'f')!r}
            fd = os.open(path, os.O_CREAT | os.O_WRONLY)
            os.write(fd, b'abc')
            os.close(fd)
            with open(path) as f:
                assert f.read() == 'abc'
            ep = select.epoll()
            srv = socket.create_server(('127.0.0.1', 0))
            ep.register(srv)
            c = socket.create_connection(srv.getsockname())
            assert ep.poll(1)
            conn, _ = srv.accept()
            conn.close(); c.close(); srv.close(); ep.close()
        """) == "ran"
    finally:
        _sandbox.end_interpreter(jail)


def test_what_it_leaves_open_is_closed_when_it_ends(tmp_path):
    import _sandbox
    before = set(os.listdir("/proc/self/fd"))
    jail = _sandbox.new_interpreter(read=(str(tmp_path),))
    before_jail = set(os.listdir("/proc/self/fd"))
    _sandbox.exec(jail, f"""if 1:
        import os, socket
        kept = [os.open({str(tmp_path)!r}, os.O_RDONLY) for _ in range(5)]
        kept += os.pipe()
        kept.append(socket.socket().detach())
    """)
    assert len(set(os.listdir("/proc/self/fd")) - before_jail) >= 8
    _sandbox.end_interpreter(jail)
    assert set(os.listdir("/proc/self/fd")) <= before


def test_denials_name_the_descriptor(untrusted):
    import _sandbox
    assert outcome(untrusted, "import os; os.write(1, b'x')") == \
        "SandboxError"
    resources = [(d[1], d[2]) for d in _sandbox.denials(untrusted)]
    assert ("descriptor", "os.write on descriptor 1") in resources


@pytest.mark.parametrize("module", ["mmap", "fcntl", "termios"])
def test_modules_that_act_behind_the_table_are_not_loaded(untrusted,
                                                          module):
    assert outcome(untrusted, f"import {module}") == "ModuleNotFoundError"



def test_passing_descriptors_in_messages(untrusted):
    # SCM_RIGHTS: an untrusted interpreter passes no descriptor in a
    # message, the host's or its own.  A check of the numbers would race
    # with the kernel's reading of them (another thread swapping the file
    # behind a number), and one in flight would be out of the table's
    # sight (test_escapes.py).
    host_r, host_w = os.pipe()
    try:
        for number in (host_w, "w"):
            assert outcome(untrusted, f"""
                import array, os, socket
                a, b = socket.socketpair()
                r, w = os.pipe()
                a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    array.array('i', [{number}]))])
            """) == "SandboxError"
        os.fstat(host_w)            # the host's pipe is untouched
    finally:
        os.close(host_r)
        os.close(host_w)


def test_what_waits_checks_again(untrusted_tmp, tmp_path):
    # A number registered with poll(), kept by a DirEntry or by a socket
    # that waits, closed and then reused by the host, is refused.
    import _sandbox
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "f").write_text("x" * 12345)
    assert outcome(untrusted_tmp, f"""
        import os, select
        r, w = os.pipe()
        p = select.poll()
        p.register(r)
        d = os.open({str(tmp_path)!r}, os.O_RDONLY)
        entries = list(os.scandir(d))
        os.close(r); os.close(w); os.close(d)
        numbers = (r, d)
    """) == "ran"
    r, d = _sandbox.eval(untrusted_tmp, "numbers")
    held = []
    try:
        while True:                 # the host takes the freed numbers
            fd = os.open(tmp_path / "sub", os.O_RDONLY)
            held.append(fd)
            if fd >= max(r, d):
                break
        assert outcome(untrusted_tmp, "p.poll(0)") == "SandboxError"
        assert outcome(untrusted_tmp, "[e.stat() for e in entries]") == \
            "SandboxError"
    finally:
        for fd in held:
            os.close(fd)


def test_a_pidfd_of_the_hosts_child_is_out_of_reach(untrusted):
    child = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    pidfd = os.pidfd_open(child.pid)
    try:
        assert outcome(untrusted, f"import os; os.waitid(os.P_PIDFD, {pidfd},"
                                  " os.WEXITED)") == "SandboxError"
        assert child.wait(timeout=30) == 7   # the host reaps its child
    finally:
        os.close(pidfd)


def pidfds():
    """The host's descriptors that are pidfds."""
    found = set()
    for n in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{n}") == "anon_inode:[pidfd]":
                found.add(n)
        except OSError:
            pass
    return found


@requires_untrusted
def test_no_pidfd_of_any_process(untrusted):
    # A pidfd is a handle on any process, the host's own or its children:
    # poll() on it tells when that process exits.  A tenant starts none.
    child = subprocess.Popen([sys.executable, "-c", "import time; "
                              "time.sleep(30)"])
    try:
        before = pidfds()
        for pid in (os.getpid(), child.pid):
            assert outcome(untrusted, f"import os; fd = os.pidfd_open({pid})"
                           ) == "SandboxError", pid
        assert pidfds() == before
    finally:
        child.kill()
        child.wait()



SEEKS_AFTER_ITS_CODE = AN_ERROR_AND_A_SINK + r"""
import io, os, time, threading, traceback
traceback._print_exception_bltin = None     # the C display
real_open = io.open
source = []
def tenant_open(*args, **kw):
    if isinstance(args[0], str):            # the source file, by its name
        if source:
            raise OSError("once")
        fd, w = os.pipe()
        os.write(w, b"# -*- coding: latin-1 -*-\nx = 1\n")
        os.close(w)
        source.append(fd)
        return real_open(fd, "rb", closefd=False)
    # The tokenizer's, for the coding cookie, after the descriptor's check:
    # closed, its number is the host's next.
    os.close(source[0])
    time.sleep(2)
    raise OSError("no codec")
def show():
    io.open = tenant_open
    sys.excepthook(ValueError, error, error.__traceback__)
threading.Thread(target=show).start()
"""


@requires_untrusted
def test_a_traceback_seeks_no_number_the_host_reused(tmp_path):
    # A traceback's source line: the descriptor of what the tenant's
    # io.open returned was checked, then the tokenizer ran the tenant's
    # code (its io.open, for a coding cookie), which closed it and waited,
    # then lseek() rewound the number, by then the host's file: the host's
    # next write overwrote the start of its file.
    out = run_host(f"""
        import _sandbox, os, time
        jail = _sandbox.new_interpreter(threads=2)
        _sandbox.exec(jail, {SEEKS_AFTER_ITS_CODE!r})
        time.sleep(0.5)
        fd = os.open({str(tmp_path / "log")!r}, os.O_RDWR | os.O_CREAT)
        os.write(fd, b"x" * 64)
        time.sleep(3)
        print("offset", os.lseek(fd, 0, os.SEEK_CUR))
        _sandbox.end_interpreter(jail)
        print("host alive")
    """)
    assert "host alive" in out.stdout, out.stderr[-3000:]
    assert "offset 64" in out.stdout, out.stdout



@requires_untrusted
def test_an_open_scandir_iterator_does_not_outlive_its_interpreter():
    # The end frees an interpreter's memory without finalizing its objects:
    # an os.scandir() iterator still open kept its directory stream, one
    # descriptor of the host's process, open for good.  The stream's
    # descriptor is now the engine's, closed at the end.
    out = run_host("""
        import _sandbox, json, os
        def fds():
            return set(os.listdir("/proc/self/fd"))
        before = fds()
        lib = os.path.dirname(json.__file__)
        jail = _sandbox.new_interpreter(read=[lib])
        _sandbox.exec(jail, f"import os, sys\\n"
                            f"it = os.scandir({lib!r})\\n"
                            f"next(it)\\n"
                            f"sys.modules['kept'] = it")
        print("ended", _sandbox.end_interpreter(jail))
        print("left", sorted(fds() - before))
        print("host alive")
    """)
    assert "host alive" in out.stdout, out.stderr[-3000:]
    assert "ended True" in out.stdout, out.stdout
    assert "left []" in out.stdout, out.stdout
