# The callgrind part of Tools/sandbox/bench.py: the network hooks on the
# trusted fast path, N times (its argument) five socket calls that reach
# them (an address sent to, an option set, a local address read, a name
# spelled as a number resolved, the host name read), from the main
# interpreter.  Loopback only: the datagrams go to a socket of its own.
# callgrind counts only user space, so the system calls weigh nothing.

import socket, sys
n = int(sys.argv[1])
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 0))
addr = sink.getsockname()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(b"x", addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    s.getsockname()
    socket.getaddrinfo("127.0.0.1", 80)
    socket.gethostname()
    if i % 64 == 63:
        sink.setblocking(False)
        try:
            while True:
                sink.recv(16)
        except BlockingIOError:
            pass
print(n)
