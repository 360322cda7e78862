# The kernels part of Tools/sandbox/bench.py, run by the flag-on build
# with the arguments ROUNDS: pure-Python kernels run inside an isolated
# subinterpreter (A: nothing counted) and inside an untrusted one with a
# memory cap (B: every arena and large block charged to its heap), in
# rounds that alternate the two in ABBA order.  Each kernel is timed in
# the interpreter itself; prints the per-round times (ns) as JSON.

import _interpreters, _sandbox, json, os, sys

rounds = int(sys.argv[1])

KERNELS = r'''
import time

def allocate():
    # Arenas and large blocks: lists, dicts and strings built and dropped.
    for _ in range(20):
        rows = [[i, str(i), float(i)] for i in range(20000)]
        index = {row[1]: row for row in rows}
        text = ",".join(index)
        del rows, index, text

def floats():
    x = y = z = 0.0
    for i in range(300000):
        x = x * 0.5 + i
        y = (y + x) * 0.25
        z += x * y - z * 0.1
    return z

def objects():
    class Node:
        __slots__ = ("left", "right", "value")
        def __init__(self, left, right, value):
            self.left, self.right, self.value = left, right, value
    def tree(depth):
        if depth == 0:
            return None
        return Node(tree(depth - 1), tree(depth - 1), depth)
    for _ in range(8):
        tree(14)

def timed():
    times = {}
    for kernel in (allocate, floats, objects):
        t0 = time.perf_counter_ns()
        kernel()
        times[kernel.__name__] = time.perf_counter_ns() - t0
    return times
'''

iso = _interpreters.create("isolated")
_interpreters.exec(iso, KERNELS)
jail = _sandbox.new_interpreter(memory=1024 * 2**20)
_sandbox.exec(jail, KERNELS)


def run_isolated():
    # 3.13's _interpreters.exec() hands no value back: the times come
    # through a pipe.
    r, w = os.pipe()
    err = _interpreters.exec(iso, f"import os\n"
                                  f"os.write({w}, repr(timed()).encode())")
    os.close(w)
    data = os.read(r, 65536)
    os.close(r)
    if err is not None:
        sys.exit(f"isolated: {err}")
    return eval(data.decode())


def run_untrusted():
    return _sandbox.eval(jail, "timed()")


sides = {"isolated": run_isolated, "untrusted": run_untrusted}
for func in sides.values():
    func()                          # warm-up
times = {name: [] for name in sides}
for k in range(rounds):
    order = ["isolated", "untrusted"]
    if k % 2:
        order.reverse()
    for name in order:
        times[name].append(sides[name]())
_sandbox.end_interpreter(jail)
_interpreters.destroy(iso)
print(json.dumps(times))
