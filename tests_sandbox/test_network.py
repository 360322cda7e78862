"""The network: an untrusted interpreter connects, sends, binds and listens
only where its policy grants (net, listen, deny_net), resolves only the
names it grants (through the engine, once), and learns nothing of the
host's name, interfaces or addresses without network_info.

Every test proves it by its effect, from the host: loopback listeners on
ports not granted count no contact, whatever the spelling of the address
or the socket call; a DNS stub the test runs sees no query for a name not
granted; the host's name never comes out.  Controls show granted ones
working.  Loopback only; every server is the test's own.
"""

import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from support import job_outcome as outcome, requires_untrusted, run_host

pytestmark = requires_untrusted


class Listeners:
    """Loopback listeners of the host that count what reaches them: TCP
    and UDP on 127.0.0.1 and ::1, each on a port the kernel picks."""

    def __init__(self):
        self.contacts = 0
        self.received = []
        self.socks = []
        self.stop = False
        for family, host in ((socket.AF_INET, "127.0.0.1"),
                             (socket.AF_INET6, "::1")):
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.bind((host, 0))
            tcp.listen(64)
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((host, 0))
            self.socks += [tcp, udp]
        self.tcp4, self.udp4, self.tcp6, self.udp6 = (
            s.getsockname()[1] for s in self.socks)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        deadline = time.monotonic() + 300
        while not self.stop and time.monotonic() < deadline:
            ready = select.select(self.socks, [], [], 0.05)[0]
            for s in ready:
                if s.type == socket.SOCK_STREAM:
                    conn, _ = s.accept()
                    self.contacts += 1
                    conn.close()
                else:
                    data, _ = s.recvfrom(4096)
                    self.contacts += 1
                    self.received.append(data)

    def settle(self):
        """The count once what is in flight has arrived."""
        time.sleep(0.3)
        return self.contacts

    def close(self):
        self.stop = True
        self.thread.join(10)
        for s in self.socks:
            s.close()


@pytest.fixture
def listeners():
    lst = Listeners()
    yield lst
    lst.close()


@pytest.fixture
def jail(make_untrusted):
    """Make untrusted interpreters with the given network fields."""
    return make_untrusted


# Every spelling of the loopback addresses the C library takes.
SPELLINGS_V4 = ["127.0.0.1", "127.1", "0x7f.0.0.1", "0x7f000001",
                "2130706433", "0177.0.0.1", "017700000001", "127.0.1",
                "0.0.0.0", "", "localhost", "LOCALHOST", "localhost.",
                b"127.0.0.1", b"localhost"]
SPELLINGS_V6 = ["::1", "0:0:0:0:0:0:0:1", "::0:1", "::", "::ffff:127.0.0.1",
                "::ffff:7f00:1", "::1%1", "localhost", b"::1"]

# Every socket call that sends or connects to an address.
CALLS = {
    "connect": "s = socket.socket(FAM, socket.SOCK_STREAM); "
               "s.settimeout(2); s.connect(ADDR)",
    "connect_ex": "s = socket.socket(FAM, socket.SOCK_STREAM); "
                  "s.settimeout(2); r = s.connect_ex(ADDR); "
                  "assert r != 0, r",
    "create_connection": "socket.create_connection(ADDR, timeout=2)",
    "nonblocking": "s = socket.socket(FAM, socket.SOCK_STREAM); "
                   "s.setblocking(False)\n"
                   "try: s.connect(ADDR)\n"
                   "except BlockingIOError: select.select([], [s], [], 2)",
    "fastopen": "s = socket.socket(FAM, socket.SOCK_STREAM); "
                "s.sendto(b'x', socket.MSG_FASTOPEN, ADDR)",
    "sendto": "s = socket.socket(FAM, socket.SOCK_DGRAM); "
              "s.sendto(b'x', UADDR)",
    "sendmsg": "s = socket.socket(FAM, socket.SOCK_DGRAM); "
               "s.sendmsg([b'x'], [], 0, UADDR)",
    "udp_connect": "s = socket.socket(FAM, socket.SOCK_DGRAM); "
                   "s.connect(UADDR); s.send(b'x')",
}


def attack(family, host, tcp, udp, call):
    """The tenant's code: *call* of CALLS to *host* (TCP port *tcp*, UDP
    port *udp*), reporting what it raised."""
    f = "socket.AF_INET6" if family == socket.AF_INET6 else "socket.AF_INET"
    extra = ", 0, 0" if family == socket.AF_INET6 else ""
    body = (CALLS[call].replace("FAM", f)
            .replace("UADDR", f"({host!r}, {udp}{extra})")
            .replace("ADDR", f"({host!r}, {tcp}{extra})"))
    if call == "create_connection":
        body = body.replace(f"{extra})", ")")
    return f"import select, socket\n{body}\n"


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_no_spelling_and_no_call_reaches_a_port_not_granted(jail, listeners,
                                                            family):
    # Granted: another port of the same hosts, which the attempts must not
    # be mistaken for.
    interp = jail(net=(f"localhost:{listeners.tcp4 ^ 1}",
                       "127.0.0.1:1-2", "[::1]:1-2"))
    spellings = SPELLINGS_V4 if family == socket.AF_INET else SPELLINGS_V6
    tcp, udp = ((listeners.tcp4, listeners.udp4) if family == socket.AF_INET
                else (listeners.tcp6, listeners.udp6))
    results = {}
    for host in spellings:
        for call in CALLS:
            if call == "create_connection" and host == "":
                continue
            results[host, call] = outcome(interp,
                                          attack(family, host, tcp, udp, call))
    assert listeners.settle() == 0, results
    assert listeners.received == []
    allowed = {"SandboxError", "gaierror", "OSError", "TypeError"}
    assert set(results.values()) <= allowed, results
    assert list(results.values()).count("SandboxError") > len(results) // 2


def test_a_granted_address_and_port_receive_what_it_sent(jail, listeners):
    interp = jail(net=(f"127.0.0.1:{listeners.udp4}",
                       f"127.0.0.1:{listeners.tcp4}",
                       f"[::1]:{listeners.udp6}"))
    token = secrets.token_hex(8)
    assert outcome(interp, f"""
        import socket
        socket.create_connection(('127.0.0.1', {listeners.tcp4}),
                                 timeout=5).close()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.sendto(b'{token}-4', ('127.1', {listeners.udp4}))
        u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        u6.sendto(b'{token}-6', ('::1', {listeners.udp6}))
    """) == "ran"
    listeners.settle()
    assert listeners.contacts == 3
    assert sorted(listeners.received) == [f"{token}-4".encode(),
                                          f"{token}-6".encode()]


def test_a_denial_is_logged_once_as_spelled_and_as_normalized(jail,
                                                             listeners):
    import _sandbox
    interp = jail()
    assert outcome(interp, f"""
        import socket
        socket.socket().connect(('0x7f.1', {listeners.tcp4}))
    """, message=True) == ("SandboxError: [Errno 13] connect: not allowed in "
                           "an untrusted interpreter")
    entries = [d for d in _sandbox.denials(interp) if d[1] == "network"]
    assert len(entries) == 1, entries
    assert (f"connect('0x7f.1':{listeners.tcp4}) = "
            f"127.0.0.1:{listeners.tcp4}: not granted (net)") == entries[0][2]


def test_deny_wins_over_allow(jail, listeners):
    interp = jail(net=("*",), deny_net=("127.0.0.1", "[::1]"))
    results = [outcome(interp, attack(socket.AF_INET, host, listeners.tcp4,
                                      listeners.udp4, call))
               for host in ("127.0.0.1", "127.1", "localhost", "0.0.0.0")
               for call in ("connect", "sendto")]
    results += [outcome(interp, attack(socket.AF_INET6, "::1",
                                       listeners.tcp6, listeners.udp6,
                                       "connect"))]
    assert listeners.settle() == 0, results
    assert set(results) == {"SandboxError"}, results
    # An IPv6 address that carries a denied IPv4 one, which a translator
    # or tunnel on the way would deliver to, is denied too (no route here:
    # the denial is what shows).
    carriers = ("::127.0.0.1", "::ffff:0:127.0.0.1", "64:ff9b::127.0.0.1",
                "64:ff9b:1::7f00:1", "2002:7f00:1::1",
                "2001:0:4136:e378:8000:63bf:80ff:fffe")
    interp = jail(net=("*",), deny_net=("127.0.0.1",))
    results = {host: outcome(interp, attack(socket.AF_INET6, host, 9, 9,
                                            "sendto"))
               for host in carriers}
    assert set(results.values()) == {"SandboxError"}, results
    # The control: another IPv4 address denied, the same ones pass the
    # check (and the kernel has no route for them, or sends them nowhere).
    interp = jail(net=("*",), deny_net=("127.0.0.2",))
    results = {host: outcome(interp, attack(socket.AF_INET6, host, 9, 9,
                                            "sendto"))
               for host in carriers}
    assert "SandboxError" not in results.values(), results
    # A denied name is never resolved, whatever the ports.
    interp = jail(net=("localhost",), deny_net=("localhost",))
    assert outcome(interp, "import socket\n"
                           "socket.getaddrinfo('localhost', 80)") \
        == "SandboxError"


def test_sockets_other_than_tcp_and_udp_are_denied(jail):
    interp = jail(net=("*",))
    results = {}
    for name, args in {
        "raw": "socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP",
        "raw6": "socket.AF_INET6, socket.SOCK_RAW, 58",
        "packet": "socket.AF_PACKET, socket.SOCK_RAW, 0",
        "netlink": "socket.AF_NETLINK, socket.SOCK_RAW, 0",
        "netlink_dgram": "socket.AF_NETLINK, socket.SOCK_DGRAM, 0",
        "vsock": "socket.AF_VSOCK, socket.SOCK_STREAM, 0",
        "alg": "socket.AF_ALG, socket.SOCK_SEQPACKET, 0",
        "sctp": "socket.AF_INET, socket.SOCK_STREAM, 132",
        "seqpacket": "socket.AF_INET, socket.SOCK_SEQPACKET, 0",
    }.items():
        results[name] = outcome(interp, f"import socket\n"
                                        f"socket.socket({args})")
    results["socketpair"] = outcome(interp, "import socket\nsocket."
                                            "socketpair(socket.AF_INET6, 3)")
    assert set(results.values()) == {"SandboxError"}, results
    # What ordinary code uses still works.
    assert outcome(interp, """
        import socket
        a, b = socket.socketpair()
        a.send(b'x'); assert b.recv(1) == b'x'
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()
        socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK,
                      socket.IPPROTO_TCP).close()
    """) == "ran"


def test_setsockopt_takes_only_what_clients_and_servers_need(jail):
    interp = jail(net=("*",))
    denied = {
        "SO_BINDTODEVICE": "socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'lo'",
        "SO_REUSEPORT": "socket.SOL_SOCKET, socket.SO_REUSEPORT, 1",
        "SO_MARK": "socket.SOL_SOCKET, socket.SO_MARK, 1",
        "SO_PRIORITY": "socket.SOL_SOCKET, socket.SO_PRIORITY, 7",
        "IP_TRANSPARENT": "socket.SOL_IP, 19, 1",
        "IP_FREEBIND": "socket.SOL_IP, 15, 1",
        "IP_ADD_MEMBERSHIP": "socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, "
                             "bytes(8)",
        "IP_MULTICAST_IF": "socket.IPPROTO_IP, socket.IP_MULTICAST_IF, "
                           "bytes(4)",
        "IP_PKTINFO": "socket.IPPROTO_IP, socket.IP_PKTINFO, 1",
        "SO_ATTACH_FILTER": "socket.SOL_SOCKET, 26, bytes(16)",
        "TCP_CONGESTION": "socket.IPPROTO_TCP, socket.TCP_CONGESTION, b'bbr'",
        "IP_RECVERR": "socket.IPPROTO_IP, 11, 1",
        "IPV6_RECVERR": "socket.IPPROTO_IPV6, 25, 1",
        "None form": "socket.SOL_SOCKET, socket.SO_BINDTODEVICE, None, 0",
    }
    results = {name: outcome(interp, f"import socket\n"
                                     f"socket.socket().setsockopt({args})")
               for name, args in denied.items()}
    assert set(results.values()) == {"SandboxError"}, results
    assert outcome(interp, """
        import socket
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s6 = socket.socket(socket.AF_INET6)
        s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    """) == "ran"


def test_it_listens_only_where_listen_grants(jail):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    interp = jail(listen=(str(port),))
    # Not granted: another port, every interface, UDP elsewhere, listen()
    # on an unbound socket (which the kernel binds everywhere).
    for source in [
        f"socket.socket().bind(('127.0.0.1', {port ^ 1}))",
        f"socket.socket().bind(('', {port}))",
        f"socket.socket().bind(('0.0.0.0', {port}))",
        f"socket.socket(socket.AF_INET6).bind(('::', {port}))",
        "socket.socket().bind(('127.0.0.1', 0))",
        "s = socket.socket(); s.listen()",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.sendto(b'x', ('127.0.0.1', 9))",
        f"socket.create_server(('127.0.0.1', {port ^ 1}))",
    ]:
        # create_server() raises its own OSError with the denial's errno.
        assert outcome(interp, "import socket\n" + source) in (
            "SandboxError", "PermissionError"), source
    # Granted: the tenant serves, the host connects.
    import _sandbox
    _sandbox.exec(interp, f"""if 1:
        import socket
        srv = socket.create_server(('127.0.0.1', {port}))
        srv.settimeout(10)
    """)
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    _sandbox.exec(interp, "conn, _ = srv.accept(); conn.sendall(b'hi'); "
                          "conn.close(); srv.close()")
    assert client.recv(2) == b"hi"
    client.close()


def test_the_host_name_and_interfaces_stay_hidden(jail):
    import _sandbox
    real = socket.gethostname()
    interp = jail(net=("localhost",))
    _sandbox.exec(interp, """if 1:
        import os, platform, socket
        seen = [socket.gethostname(), os.uname().nodename, platform.node(),
                socket.getfqdn(), platform.uname().node,
                socket.getnameinfo(('127.0.0.1', 80), 0)[0],
                socket.getnameinfo(('::1', 80, 0, 0), 0)[0]]
        denied = []
        for call in (lambda: socket.if_nameindex(),
                     lambda: socket.if_nametoindex('lo'),
                     lambda: socket.if_indextoname(1),
                     lambda: socket.gethostbyaddr('127.0.0.1'),
                     lambda: socket.getnameinfo(('127.0.0.1', 80),
                                                socket.NI_NAMEREQD),
                     lambda: socket.getaddrinfo('fe80::1%lo', 80),
                     lambda: socket.socket(socket.AF_INET6).connect(
                         ('fe80::1%lo', 80))):
            try:
                call()
                denied.append('ran')
            except PermissionError:
                denied.append('denied')
    """)
    scopes = _sandbox.eval(interp, "[socket.getnameinfo(('fe80::1', 0, 0, i),"
                                   " socket.NI_NUMERICHOST)[0] "
                                   "for i in range(1, 6)]")
    assert scopes == ["fe80::1"] * 5, scopes
    seen = _sandbox.eval(interp, "seen")
    assert seen[:5] == ["localhost"] * 5, seen
    assert seen[5:] == ["127.0.0.1", "::1"], seen
    assert real not in seen or real == "localhost"
    assert _sandbox.eval(interp, "denied") == ["denied"] * 7
    # With the grant, the real ones.
    interp = jail(network_info=True)
    assert _sandbox.eval(interp, "__import__('socket').gethostname()") \
        == real
    assert _sandbox.eval(interp, "__import__('os').uname().nodename") \
        == os.uname().nodename
    assert _sandbox.eval(interp, "__import__('socket').if_nametoindex('lo')") \
        == socket.if_nametoindex("lo")


def test_its_local_address_on_the_host_network_stays_hidden(jail):
    # A UDP socket connected to an address beyond the host (which sends
    # nothing) has the host's own address as its local one.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        local = probe.getsockname()[0]
    except OSError:
        pytest.skip("no route beyond the host")
    finally:
        probe.close()
    if local.startswith("127."):
        pytest.skip("the route beyond the host is loopback")
    import _sandbox
    for info, expected in ((False, "0.0.0.0"), (True, local)):
        interp = jail(net=("192.0.2.1:9",), network_info=info)
        _sandbox.exec(interp, "import socket\n"
                              "s = socket.socket(socket.AF_INET, "
                              "socket.SOCK_DGRAM)\n"
                              "s.connect(('192.0.2.1', 9))")
        assert _sandbox.eval(interp, "s.getsockname()[0]") == expected


def test_ordinary_clients_work_unmodified(jail, tmp_path):
    import http.server
    import _sandbox
    (tmp_path / "index.txt").write_text("served")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *args):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    smtp = socket.create_server(("127.0.0.1", 0))
    smtp_port = smtp.getsockname()[1]

    def serve_smtp():
        conn, _ = smtp.accept()
        with conn, conn.makefile("rwb") as f:
            f.write(b"220 test ESMTP\r\n"); f.flush()
            for line in f:
                if line.upper().startswith(b"QUIT"):
                    f.write(b"221 bye\r\n"); f.flush()
                    return
                f.write(b"250 ok\r\n"); f.flush()
    threading.Thread(target=serve_smtp, daemon=True).start()
    port = httpd.server_address[1]
    try:
        # No thread: asyncio resolves localhost without its executor.
        interp = jail(net=(f"127.0.0.1:{port}", f"localhost:{smtp_port}",
                           f"localhost:{port}"), threads=0)
        _sandbox.exec(interp, f"""if 1:
            import asyncio, http.client, smtplib, socket, urllib.request
            got = []
            with urllib.request.urlopen(
                    'http://127.0.0.1:{port}/index.txt', timeout=10) as r:
                got.append(r.read().decode())
            c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=10)
            c.request('GET', '/index.txt')
            got.append(c.getresponse().read().decode())
            c.close()
            with smtplib.SMTP('localhost', {smtp_port}, timeout=10) as s:
                got.append(s.noop()[0])
            async def fetch(host):
                r, w = await asyncio.open_connection(host, {port})
                w.write(b'GET /index.txt HTTP/1.0\\r\\n\\r\\n')
                data = await r.read()
                w.close()
                return data.split(b'\\r\\n\\r\\n', 1)[1].decode()
            got.append(asyncio.run(fetch('127.0.0.1')))
            got.append(asyncio.run(fetch('localhost')))
        """)
        assert _sandbox.eval(interp, "got") == ["served", "served", 250,
                                                "served", "served"]
    finally:
        httpd.shutdown()
        httpd.server_close()
        smtp.close()


def test_an_asyncio_server_on_a_granted_port(jail):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    interp = jail(listen=(f"127.0.0.1:{port}",))
    answer = []

    def client():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port),
                                              timeout=5) as c:
                    c.sendall(b"ping\n")
                    answer.append(c.recv(100))
                    return
            except ConnectionRefusedError:
                time.sleep(0.05)
    t = threading.Thread(target=client)
    t.start()
    assert outcome(interp, f"""
        import asyncio
        async def main():
            done = asyncio.Event()
            async def handle(r, w):
                line = await r.readline()
                w.write(b'pong:' + line)
                await w.drain()
                w.close()
                done.set()
            server = await asyncio.start_server(handle, '127.0.0.1', {port})
            async with server:
                await asyncio.wait_for(done.wait(), 20)
        asyncio.run(main())
    """, message=True) == "ran"
    t.join(30)
    assert answer == [b"pong:ping\n"]


def test_a_nested_interpreter_is_narrower_and_denied_what_its_creator_is(
        jail, listeners):
    interp = jail(net=(f"localhost:{listeners.tcp4}", "127.0.0.2:80"),
                  deny_net=("127.0.0.2",))
    assert outcome(interp, f"""
        import _sandbox
        try:
            _sandbox.new_interpreter(net=('localhost',))
        except PermissionError:
            pass
        else:
            raise AssertionError('wider')
        inner = _sandbox.new_interpreter(net=('127.0.0.1:{listeners.tcp4}',
                                              '127.0.0.2:80'))
        assert '127.0.0.2' in _sandbox.check_policy()['deny_net'] or True
        try:
            _sandbox.exec(inner, 'import socket\\n'
                                 'socket.socket().connect(("127.0.0.2", 80))')
        except _sandbox.RemoteError as exc:
            assert 'SandboxError' in exc.type_name, exc.type_name
        else:
            raise AssertionError('the creator denies it')
        _sandbox.exec(inner, 'import socket\\n'
                             'socket.create_connection(("127.0.0.1", '
                             '{listeners.tcp4}), timeout=5).close()')
        _sandbox.end_interpreter(inner)
    """, message=True) == "ran"
    assert listeners.settle() == 1


# --- Names: a DNS stub in a network namespace of the test's own ------------

DNS_HOST = r'''
import ctypes, fcntl, os, socket, struct, sys, threading, time
# The loopback interface of this fresh network namespace, up.
s = socket.socket()
fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", 1 | 8 | 0x40))
s.close()
# A resolv.conf that names the stub, where the C library reads it.
open(RESOLV, "w").write("nameserver 127.0.0.1\nsearch corp.test\n"
                        "options attempts:1 timeout:1\n")
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(RESOLV.encode(), b"/etc/resolv.conf", None, 4096, None) != 0:
    print("no bind mount", ctypes.get_errno()); sys.exit(0)
# And a hosts file with a name of its own.
HOSTS = RESOLV + ".hosts"
open(HOSTS, "w").write("127.0.0.1 localhost\n::1 localhost\n"
                       "127.0.0.9 hosts.test  # from the file\n")
if libc.mount(HOSTS.encode(), b"/etc/hosts", None, 4096, None) != 0:
    print("no bind mount", ctypes.get_errno()); sys.exit(0)

queries = []
answers = {"granted.test": ["127.0.0.1", "127.0.0.3"],
           "worker.test": ["127.0.0.1"], "good.corp.test": ["127.0.0.1"]}
stub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
stub.bind(("127.0.0.1", 53))
def serve():
    while True:
        data, peer = stub.recvfrom(512)
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        pos, labels = 12, []
        while data[pos]:
            labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
            pos += 1 + data[pos]
        qtype = struct.unpack("!H", data[pos + 1:pos + 3])[0]
        name = ".".join(labels).lower()
        queries.append(name)
        question = data[12:pos + 5]
        addrs = answers.get(name, []) if qtype == 1 else []
        # DNS rebinding: the next answer for a granted name is elsewhere.
        if name == "granted.test" and qtype == 1:
            answers[name] = ["127.0.0.2"]
        rcode = 0 if name in answers else 3
        reply = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(addrs),
                            0, 0) + question
        for a in addrs:
            reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 0, 4) \
                + socket.inet_aton(a)
        stub.sendto(reply, peer)
threading.Thread(target=serve, daemon=True).start()

# The listeners: one where granted.test first resolves, two where the
# tenant must not go.
lst = {}
for addr in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
    l = socket.socket()
    l.bind((addr, 0))
    l.listen()
    l.settimeout(0.5)
    lst[addr] = l
port = lst["127.0.0.1"].getsockname()[1]

import _sandbox
jail = _sandbox.new_interpreter(net=(f"granted.test:{port}",
                                     f"127.0.0.2:{port + 1}", "hosts.test"))
code = f"""
import socket
out = {{}}
def attempt(name, call):
    try:
        out[name] = call()
    except PermissionError:
        out[name] = 'denied'
    except OSError as exc:
        out[name] = type(exc).__name__
for host in ('ungranted.test', 'UNGRANTED.TEST.', 'x.granted.test',
             'granted.test.evil', b'ungranted.test', 'ungranted\\u3002test',
             'bücher.test'):
    attempt(('gai', host), lambda: socket.getaddrinfo(host, 80))
    attempt(('ghbn', host), lambda: socket.gethostbyname(host))
    attempt(('ghbn_ex', host), lambda: socket.gethostbyname_ex(host))
    attempt(('connect', host), lambda: socket.socket().connect((host, 80)))
    attempt(('udp', host), lambda: socket.socket(2, 2).sendto(b'x', (host, 53)))
    attempt(('cc', host), lambda: socket.create_connection((host, 80), 1))
# Spellings of addresses that only inet_aton() reads: answered without a
# query (the C library's gethostbyname_r() would look them up as names,
# with the search domain).
for host in ('0x7f.1', '0x7f000001', '0x1.0x2.0x3.0x4', '0177.1'):
    attempt(('num gai', host), lambda: socket.getaddrinfo(host, 80)[0][4][0])
    attempt(('num ghbn', host), lambda: socket.gethostbyname(host))
    attempt(('num ghbn_ex', host), lambda: socket.gethostbyname_ex(host))
    attempt(('num connect', host), lambda: socket.socket().connect((host, 9)))
attempt('granted', lambda: sorted({{a[4][0] for a in
                                   socket.getaddrinfo('granted.test', {port})}}))
attempt('granted again', lambda: sorted({{a[4][0] for a in
                                   socket.getaddrinfo('granted.test', {port})}}))
attempt('byname', lambda: socket.gethostbyname('Granted.Test.'))
attempt('byname_ex', lambda: list(socket.gethostbyname_ex('granted.test')))
attempt('hosts file', lambda: socket.gethostbyname('hosts.test'))
# A nested interpreter gets its creator's addresses: it cannot resolve the
# name again to move it.
import _sandbox
inner = _sandbox.new_interpreter(net=('granted.test:{port}',))
_sandbox.exec(inner, "import socket\\n"
                     "got = sorted({{a[4][0] for a in socket.getaddrinfo("
                     "'granted.test', {port})}})")
attempt('nested', lambda: _sandbox.eval(inner, 'got'))
_sandbox.end_interpreter(inner)
def conn(addr):
    socket.create_connection((addr, {port}), timeout=2).close()
    return 'connected'
attempt('connect granted', lambda: conn('granted.test'))
attempt('connect rebound', lambda: conn('127.0.0.2'))
attempt('connect second', lambda: conn('127.0.0.3'))
"""
_sandbox.exec(jail, code)
out = _sandbox.eval(jail, "{repr(k): v for k, v in out.items()}")
accepted = {}
for addr, l in lst.items():
    accepted[addr] = 0
    try:
        while True:
            l.accept()[0].close()
            accepted[addr] += 1
    except OSError:
        pass
# A name "*" grants is resolved as an absolute one: the search domain
# does not turn "good" into the denied good.corp.test.
jail2 = _sandbox.new_interpreter(net=("*",), deny_net=("good.corp.test",),
                                 threads=1)
_sandbox.exec(jail2, """if 1:
    import socket, threading, time
    out = {}
    for host in ('good', 'good.corp.test'):
        try:
            out[host] = socket.getaddrinfo(host, 80)
        except OSError as exc:
            out[host] = type(exc).__name__
    # A bytearray host that another thread rewrites while it resolves.
    host = bytearray(b'127.1')
    stop = []
    def flip():
        while not stop:
            host[:] = b'ev.l1'
            host[:] = b'127.1'
    t = threading.Thread(target=flip)
    t.start()
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        try:
            socket.socket().connect_ex((host, 9))
        except OSError:
            pass
    stop.append(1)
    t.join()
""")
out2 = _sandbox.eval(jail2, "{k: str(v) for k, v in out.items()}")
print("OUT2", out2)
# A worker process: its granted names resolved before its fence.
import sandbox
with sandbox.Interpreter(sandbox.Policy(net=[f"worker.test:{port}"],
                                        isolation="process")) as w:
    w.run(f"import socket\nsocket.create_connection(('worker.test', {port}), "
          f"timeout=5).close()")
print("WORKER ok")
print("OUT", out)
print("QUERIES", sorted(set(queries)))
print("GRANTED_QUERIES", queries.count("granted.test"))
print("ACCEPTED", accepted)
print("host alive")
'''


def test_names_are_resolved_by_the_engine_and_only_if_granted(tmp_path):
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a network namespace")
    resolv = tmp_path / "resolv.conf"
    proc = subprocess.run(
        [unshare, "--net", "--mount", "--propagation", "private",
         sys.executable, "-X", "faulthandler", "-I", "-c",
         DNS_HOST.replace("RESOLV", repr(str(resolv)))],
        capture_output=True, text=True, timeout=120)
    if "no bind mount" in proc.stdout or proc.returncode != 0 and \
            "unshare failed" in proc.stderr:
        pytest.skip(f"no namespace here: {proc.stdout}{proc.stderr}")
    assert "host alive" in proc.stdout, proc.stdout + proc.stderr
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines()
                 if line.startswith(("OUT", "QUERIES", "ACCEPTED",
                                     "GRANTED_QUERIES")))
    out, out2, queries, accepted = (eval(lines[k]) for k in
                                    ("OUT", "OUT2", "QUERIES", "ACCEPTED"))
    # No query ever left for a name not granted, however it was spelled,
    # nor for the search domain's expansion of a name "*" grants.
    assert queries == ["good", "granted.test", "worker.test"], \
        (queries, out, out2)
    assert out2["good.corp.test"] == "SandboxError", out2
    assert out2["good"] == "gaierror", out2
    assert "WORKER ok" in proc.stdout
    ungranted = {k: v for k, v in out.items()
                 if k.startswith("(") and not k.startswith("('num")}
    assert set(ungranted.values()) == {"denied"}, ungranted
    assert out["('num ghbn_ex', '0x1.0x2.0x3.0x4')"] == \
        ("0x1.0x2.0x3.0x4", [], ["1.2.3.4"]), out
    assert out["('num gai', '0x7f.1')"] == "127.0.0.1", out
    assert out["('num ghbn', '0177.1')"] == "127.0.0.1", out
    assert out["('num connect', '0x7f000001')"] == "denied", out
    # The granted name: resolved once, its answer pinned (the stub
    # rebinds it to 127.0.0.2 after its first answer).
    assert out["'granted'"] == ["127.0.0.1", "127.0.0.3"], out
    assert out["'granted again'"] == ["127.0.0.1", "127.0.0.3"], out
    assert out["'byname'"] == "127.0.0.1", out
    assert out["'byname_ex'"] == ["granted.test", [],
                                  ["127.0.0.1", "127.0.0.3"]], out
    # /etc/hosts first, as the host's resolver: no query for it.
    assert out["'hosts file'"] == "127.0.0.9", out
    assert out["'nested'"] == ["127.0.0.1", "127.0.0.3"], out
    # One resolution of the granted name (an A and an AAAA query).
    assert int(lines["GRANTED_QUERIES"]) <= 2, lines
    assert out["'connect granted'"] in ("connected", "ConnectionRefusedError")
    assert out["'connect rebound'"] == "denied", out
    # 127.0.0.3 is the name's too (its port there is not listening).
    assert out["'connect second'"] in ("ConnectionRefusedError",
                                       "connected"), out
    assert accepted["127.0.0.2"] == 0 and accepted["127.0.0.3"] == 0
    assert accepted["127.0.0.1"] >= 1, accepted


# --- The command line -------------------------------------------------------

def test_the_command_line_grants_the_network(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    code = (f"import socket; s = socket.create_connection(('127.0.0.1', "
            f"{port}), 5); s.sendall(b'cli'); s.close()")
    try:
        proc = run_host(f"""
            import subprocess, sys
            for grant in ([], ["--allow-net", "127.0.0.1:{port}"]):
                p = subprocess.run([sys.executable, "-m", "sandbox", "run",
                                    "--isolate", "interpreter", *grant,
                                    "-c", {code!r}], capture_output=True,
                                   text=True)
                print("status", p.returncode,
                      " ".join(p.stderr.split())[-200:])
            p = subprocess.run([sys.executable, "-m", "sandbox", "run",
                                "--allow-net", "a:b:c", "-c", "pass"],
                               capture_output=True, text=True)
            print("bad", p.returncode, p.stderr.strip())
        """, isolated=False)
        conn, _ = server.accept()
        assert conn.recv(10) == b"cli"
        conn.close()
        with pytest.raises(socket.timeout):
            server.settimeout(0.5)
            server.accept()
    finally:
        server.close()
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("status 3"), proc.stdout
    assert lines[1].startswith("status 0"), proc.stdout
    assert lines[2].startswith("bad 2 python -m sandbox run: error: net: 'a:b:c': "
                               "write an IPv6 address in brackets"), lines[2]


def test_sendmsg_carries_no_interface_route_or_source(jail, listeners):
    interp = jail(net=(f"127.0.0.1:{listeners.udp4}",
                       f"[::1]:{listeners.udp6}"))
    results = {}
    for name, (family, host, port, cmsg) in {
        "IP_PKTINFO": ("AF_INET", "127.0.0.1", listeners.udp4,
                       "(socket.IPPROTO_IP, socket.IP_PKTINFO, "
                       "struct.pack('i4s4s', 1, bytes(4), bytes(4)))"),
        "IPV6_PKTINFO": ("AF_INET6", "::1", listeners.udp6,
                         "(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, "
                         "bytes(16) + struct.pack('i', 1))"),
        "IP_OPTIONS": ("AF_INET", "127.0.0.1", listeners.udp4,
                       "(socket.IPPROTO_IP, 4, bytes([131, 7, 4]) + "
                       "socket.inet_aton('127.0.0.2') + bytes(1))"),
        "SCM_CREDENTIALS": ("AF_INET", "127.0.0.1", listeners.udp4,
                            "(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, "
                            "struct.pack('iII', 1, 0, 0))"),
    }.items():
        results[name] = outcome(interp, f"""
            import socket, struct
            s = socket.socket(socket.{family}, socket.SOCK_DGRAM)
            s.sendmsg([b'x'], [{cmsg}], 0, ({host!r}, {port}))
        """)
    assert listeners.settle() == 0, results
    assert set(results.values()) == {"SandboxError"}, results
    assert outcome(interp, f"""
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendmsg([b'tos'], [(socket.IPPROTO_IP, socket.IP_TOS,
                              (16).to_bytes(4, 'little'))], 0,
                  ('127.0.0.1', {listeners.udp4}))
    """) == "ran"
    listeners.settle()
    assert listeners.received == [b"tos"]


GROWING_HOST = r'''
import socket
host = bytearray(b"1" * 300000)
class Port:
    def __index__(self):
        host.extend(b"1" * 3000000)
        return 80
for i in range(20):
    try:
        socket.socket().connect_ex((host, Port()))
    except OSError:
        pass
'''


def test_a_host_name_that_changes_under_the_call_is_a_copy():
    # A bytearray host name that the port's __index__() grows: the socket
    # module read it after its buffer moved (a segfault from pure Python).
    proc = run_host(f"""
        import _sandbox
        jail = _sandbox.new_interpreter(net=("127.0.0.1:1-2",))
        try:
            _sandbox.exec(jail, {GROWING_HOST!r})
        except _sandbox.RemoteError as exc:
            print(exc.type_name)
        _sandbox.end_interpreter(jail)
        print("host alive")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "host alive" in proc.stdout


def test_a_receive_returns_no_memory_the_kernel_did_not_write(jail):
    # MSG_TRUNC: the socket module returned its buffer unwritten (TCP), or
    # grown to the datagram's length (UDP): the host's heap.
    interp = jail(net=("localhost",), listen=("0",))
    for source in ("s.recv(4096, socket.MSG_TRUNC)",
                   "u.recvfrom(8, socket.MSG_TRUNC)",
                   "u.recv_into(bytearray(8), 8, socket.MSG_TRUNC)",
                   "u.recvmsg(8, 0, socket.MSG_TRUNC)"):
        assert outcome(interp, """
            import socket
            srv = socket.create_server(('127.0.0.1', 0))
            s = socket.create_connection(srv.getsockname())
            a, _ = srv.accept(); a.sendall(b'x' * 100)
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(('127.0.0.1', 0))
            u.sendto(b'y' * 1000, u.getsockname())
        """ + "\n" + textwrap.indent(source, "            ")) == \
            "SandboxError", source


def test_a_host_name_that_is_not_utf8_leaves_the_log_readable(jail):
    import _sandbox
    interp = jail()
    assert outcome(interp, "import socket\n"
                           "socket.getaddrinfo(b'ev\\xff\\xfe\\x1b[31m', 80)"
                   ) == "SandboxError"
    details = [d[2] for d in _sandbox.denials(interp)]
    assert details == ["resolving 'ev\\xff\\xfe\\x1b[31m': not a host name"], \
        details
    assert outcome(interp, "x = 1") == "ran"


# --- The budget of bytes and connections ------------------------------------

def test_the_byte_budget_is_exact_and_ends_with_a_limit(jail):
    import _sandbox
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)
    port = server.getsockname()[1]
    interp = jail(net=(f"127.0.0.1:{port}",), net_bytes=1000)
    try:
        _sandbox.exec(interp, f"""if 1:
            import socket
            s = socket.create_connection(('127.0.0.1', {port}), timeout=10)
            s.sendall(b'a' * 600)
        """)
        conn, _ = server.accept()
        conn.settimeout(10)
        got = b""
        while len(got) < 600:
            got += conn.recv(4096)
        # A send past the budget sends nothing.
        assert outcome(interp, "s.sendall(b'b' * 600)") == \
            "SandboxLimitExceeded"
        # A receive gets what is left, then the limit.
        conn.sendall(b"c" * 2000)
        assert _sandbox.eval(interp, "len(s.recv(4096))") == 400
        assert outcome(interp, "s.recv(4096)") == "SandboxLimitExceeded"
        assert _sandbox.eval(interp, "__import__('sandbox').allowed()"
                                     "[('Python', 'net_bytes')]") == \
            (1000, 1000)
        conn.settimeout(0.5)
        with pytest.raises(socket.timeout):
            conn.recv(10)           # the 600 b's never came
        assert got == b"a" * 600
        conn.close()
        details = [d[2] for d in _sandbox.denials(interp)]
        assert "net_bytes: the budget of 1000 bytes is spent" in details
    finally:
        server.close()


def test_with_a_byte_budget_sockets_move_bytes_by_their_methods_only(jail):
    interp = jail(net=("localhost",), listen=("0",), net_bytes=10**6)
    assert outcome(interp, """
        import os, socket
        srv = socket.create_server(('127.0.0.1', 0))
        c = socket.create_connection(srv.getsockname())
        a, _ = srv.accept()
        denied = []
        for call in (lambda: os.write(c.fileno(), b'x'),
                     lambda: os.read(a.fileno(), 1),
                     lambda: os.writev(c.fileno(), [b'x']),
                     lambda: os.sendfile(c.fileno(), a.fileno(), 0, 1)):
            try:
                call()
            except PermissionError:
                denied.append(1)
        assert len(denied) == 4, denied
        c.sendall(b'hi'); assert a.recv(2) == b'hi'
    """, message=True) == "ran"


class ByteCounter:
    """A loopback TCP server of the host that counts the bytes it gets."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            try:
                while chunk := conn.recv(4096):
                    self.received += chunk
            except OSError:
                pass

    def close(self):
        self.thread.join(15)
        self.server.close()
        return self.received


def test_the_byte_budget_holds_for_calls_that_read_a_descriptor(jail):
    # os.eventfd_write() and eventfd_read() read and write eight bytes of
    # any descriptor: on a socket, past the budget, were they not
    # refused.  The host's server gets what the budget allows only.
    counter = ByteCounter()
    interp = jail(net=("localhost",), net_bytes=16)
    result = outcome(interp, f"""
        import os, socket
        c = socket.create_connection(('127.0.0.1', {counter.port}))
        denied = 0
        for i in range(8):
            try:
                os.eventfd_write(c.fileno(), 0x2121444e45545645)
            except PermissionError:
                denied += 1
        try:
            os.eventfd_read(c.fileno())
        except PermissionError:
            denied += 1
        c.sendall(b'0123456789')
        c.close()
        assert denied == 9, denied
    """, message=True)
    received = counter.close()
    assert received == b"0123456789", (received, result)
    assert result == "ran"


def test_no_file_is_put_behind_a_number_a_call_checked(jail):
    # os.writev() checks a pipe (no budget applies to it), then converts
    # its buffers: a __buffer__ that put a socket behind the pipe's number
    # would send past the byte budget.
    counter = ByteCounter()
    interp = jail(net=("localhost",), net_bytes=16)
    result = outcome(interp, f"""
        import os, socket
        s = socket.create_connection(('127.0.0.1', {counter.port}))
        s.sendall(b'B' * 16)
        r, w = os.pipe()
        class Swap:
            def __buffer__(self, flags):
                try:
                    os.dup2(s.fileno(), w)
                except PermissionError:
                    pass
                return memoryview(b'LEAK' * 1000)
        try:
            os.writev(w, [Swap()])
        except OSError:
            pass
        s.close()
    """, message=True)
    received = counter.close()
    assert received == b"B" * 16, (received[:40], len(received), result)
    assert result == "ran", result


def test_socket_options_tell_nothing_of_the_route(jail, listeners):
    # IP_MTU is the MTU of the interface the route takes; TCP_MAXSEG and
    # TCP_INFO tell as much.  A socket's own state reads as usual.
    code = f"""
        import socket
        s = socket.create_connection(('127.0.0.1', {listeners.tcp4}),
                                     timeout=5)
        got = {{}}
        for name, level, option in (
                ('mtu', socket.IPPROTO_IP, 14),
                ('maxseg', socket.IPPROTO_TCP, socket.TCP_MAXSEG),
                ('info', socket.IPPROTO_TCP, socket.TCP_INFO),
                ('error', socket.SOL_SOCKET, socket.SO_ERROR),
                ('type', socket.SOL_SOCKET, socket.SO_TYPE),
                ('nodelay', socket.IPPROTO_TCP, socket.TCP_NODELAY)):
            try:
                s.getsockopt(level, option)
                got[name] = 'read'
            except PermissionError:
                got[name] = 'denied'
        s.close()
    """
    import _sandbox
    interp = jail(net=("localhost",))
    assert outcome(interp, code) == "ran"
    assert _sandbox.eval(interp, "got") == {
        "mtu": "denied", "maxseg": "denied", "info": "denied",
        "error": "read", "type": "read", "nodelay": "read"}
    interp = jail(net=("localhost",), network_info=True)
    assert outcome(interp, code) == "ran"
    assert set(_sandbox.eval(interp, "got").values()) == {"read"}


def test_a_socket_is_what_its_descriptor_is(jail, listeners):
    # socket(fileno=) with another type: a TCP socket that says it is UDP
    # would connect by TCP Fast Open outside the connection budget.
    interp = jail(net=("localhost",), net_connections=1)
    result = outcome(interp, f"""
        import sandbox, socket
        socket.create_connection(('127.0.0.1', {listeners.tcp4}),
                                 timeout=5).close()
        for i in range(3):
            fd = socket.socket().detach()
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, 0, fd)
            except PermissionError:
                socket.socket(fileno=fd).close()
                continue
            s.sendto(b'x', socket.MSG_FASTOPEN,
                     ('127.0.0.1', {listeners.tcp4}))
        # Nor a TCP descriptor put behind a UDP socket object afterwards:
        # what counts is what the descriptor is when it sends.
        import os
        for i in range(3):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            t = socket.socket()
            os.dup2(t.fileno(), u.fileno())
            try:
                u.sendto(b'x', socket.MSG_FASTOPEN,
                         ('127.0.0.1', {listeners.tcp4}))
            except sandbox.SandboxLimitExceeded:
                pass
            u.close(); t.close()
        # Its own family, type and protocol, given or not, are fine.
        fd = socket.socket().detach()
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0, fd).close()
        fd = socket.socket().detach()
        socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM).close()
        socket.socket(fileno=fd).close()
    """, message=True)
    assert listeners.settle() == 1, result
    assert result == "ran", result


def test_the_connection_budget_counts_connects_and_accepts(jail, listeners):
    import _sandbox
    interp = jail(net=("localhost",), net_connections=2)
    results = [outcome(interp, f"""
        import socket
        socket.create_connection(('127.0.0.1', {listeners.tcp4}),
                                 timeout=5).close()
    """) for _ in range(3)]
    assert results == ["ran", "ran", "SandboxLimitExceeded"], results
    assert listeners.settle() == 2
    # Accepting is a connection too: the third is left waiting.
    interp = jail(net=("localhost",), listen=("0",), net_connections=2)
    _sandbox.exec(interp, """if 1:
        import socket
        srv = socket.create_server(('127.0.0.1', 0))
        srv.settimeout(5)
    """)
    port = _sandbox.eval(interp, "srv.getsockname()[1]")
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5)
               for _ in range(3)]
    assert outcome(interp, "srv.accept()") == "ran"
    assert outcome(interp, "srv.accept()") == "ran"
    assert outcome(interp, "srv.accept()") == "SandboxLimitExceeded"
    for c in clients:
        c.close()


def test_a_nested_budget_comes_out_of_its_creators(jail, listeners):
    interp = jail(net=("localhost",), net_bytes=10000, net_connections=4)
    assert outcome(interp, """
        import _sandbox, sandbox
        inner = _sandbox.new_interpreter(net=('localhost',))
        got = _sandbox.eval(inner, "__import__('sandbox').allowed()"
                                   "[('Python', 'net_bytes')]")
        assert got == (0, 5000), got
        mine = sandbox.allowed()[('Python', 'net_bytes')]
        assert mine == (5000, 10000), mine
        try:
            _sandbox.new_interpreter(net=('localhost',), net_bytes=6000)
        except PermissionError:
            pass
        else:
            raise AssertionError('beyond what is left')
        _sandbox.end_interpreter(inner)
    """, message=True) == "ran"


@pytest.mark.parametrize("fields, field, value, reason", [
    ({"net_bytes": 0}, "net_bytes", 0, "out of range"),
    ({"net_bytes": "12x"}, "net_bytes", "12x", "expected a size"),
    ({"net_connections": -1}, "net_connections", -1, "out of range"),
    ({"net_connections": 1.5}, "net_connections", 1.5, "expected a count"),
])
def test_bad_budgets_name_the_field(fields, field, value, reason):
    import sandbox
    with pytest.raises(sandbox.PolicyError) as info:
        sandbox.Policy(**fields)
    assert (info.value.field, info.value.value) == (field, value)
    assert reason in str(info.value)
    p = sandbox.Policy(net_bytes="10M", net_connections=5)
    assert (p.net_bytes, p.net_connections) == (10 * 2**20, 5)
    assert sandbox.Policy.from_toml(p.to_toml()) == p
    assert p <= sandbox.Policy() and not sandbox.Policy() <= p
