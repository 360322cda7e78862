# The network part of Tools/sandbox/bench.py, run by the flag-on build with
# the arguments ROUNDS BLOCK: time connect + send + receive + close to a
# loopback echo server of this process, from the trusted main interpreter
# (A) and from an untrusted interpreter whose policy grants the port (B),
# in blocks that alternate in ABBA order.  Prints the per-round times (ns)
# and the per-block medians as JSON.

import _sandbox, json, socket, statistics, sys, threading, time

rounds, block = map(int, sys.argv[1:3])
server = socket.create_server(("127.0.0.1", 0), backlog=128)
port = server.getsockname()[1]

def serve():
    while True:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            data = conn.recv(64)
            if data:
                conn.sendall(data)

threading.Thread(target=serve, daemon=True).start()

ROUND = f"""
def round():
    s = socket.create_connection(("127.0.0.1", {port}))
    s.sendall(b"ping")
    s.recv(64)
    s.close()
"""
CLOCKED = f"""
t0 = time.perf_counter_ns()
for _ in range({block}):
    t = time.perf_counter_ns()
    round()
    samples.append(time.perf_counter_ns() - t)
"""

interp = _sandbox.new_interpreter(net=(f"127.0.0.1:{port}",))
_sandbox.exec(interp, "import socket, time\n" + ROUND)
host = {"socket": socket, "time": time}
exec(ROUND, host)
for _ in range(20):     # warm up both
    host["round"]()
    _sandbox.exec(interp, "round()")

times = {"trusted": [], "untrusted": []}
blocks = {"trusted": [], "untrusted": []}
nblocks = -(-rounds // block)
for k in range(nblocks):
    order = ["trusted", "untrusted"]
    if k % 2:
        order.reverse()
    for name in order:
        if name == "trusted":
            host["samples"] = []
            exec(CLOCKED, host)
            samples = host["samples"]
        else:
            _sandbox.exec(interp, "samples = []\n" + CLOCKED)
            samples = _sandbox.eval(interp, "samples")
        times[name] += samples
        blocks[name].append(statistics.median(samples))
_sandbox.end_interpreter(interp)
server.close()
print(json.dumps({"times": times, "blocks": blocks}))
