# The callgrind part of Tools/sandbox/bench.py: the network hooks on the
# trusted fast path, N times (its argument) five socket calls that reach
# them (an address sent to, an option set, a local address read, a name
# spelled as a number resolved, the host name read) and the receive of
# what was sent, from the main interpreter.  Loopback only: the datagrams go to a socket of its own.
# callgrind counts only user space, so the system calls weigh nothing.

import socket, sys
n = int(sys.argv[1])
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 0))
addr = sink.getsockname()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.setblocking(False)
# The calls bound once: what is counted is the calls, not the lookups of
# their names.
sendto, setsockopt, getsockname = s.sendto, s.setsockopt, s.getsockname
getaddrinfo, gethostname, recv = (socket.getaddrinfo, socket.gethostname,
                                  sink.recv)
SOL_SOCKET, SO_SNDBUF = socket.SOL_SOCKET, socket.SO_SNDBUF
for i in range(n):
    sendto(b"x", addr)
    setsockopt(SOL_SOCKET, SO_SNDBUF, 65536)
    getsockname()
    getaddrinfo("127.0.0.1", 80)
    gethostname()
    recv(16)                # the datagram just sent
print(n)
