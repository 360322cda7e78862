# The kernels part of Tools/sandbox/bench.py, run by the flag-on build
# with the arguments ROUNDS: pure-Python kernels run inside two untrusted
# interpreters with the same policy, one created with the counting of its
# objects switched off (A: _sandbox._count_objects(False), its cap binds
# nothing the kernels allocate) and one with its memory cap (B: every
# arena and large block charged to its heap), in rounds that alternate
# the two in ABBA order.  Each kernel is timed in the interpreter itself;
# prints the per-round times (ns) as JSON.
#
# Two untrusted interpreters rather than an isolated subinterpreter and an
# untrusted one: the two kinds start with different objects in their
# arenas, and for some kernels that alone changes how often obmalloc gives
# an arena back and maps a new one (the allocate kernel maps about twenty
# arenas per job in one kind and two in the other, with the cap counting
# or not), which would be charged to the cap.

import _sandbox, json, sys

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

_sandbox._count_objects(False)
uncounted = _sandbox.new_interpreter(memory=1024 * 2**20)
_sandbox._count_objects(True)
capped = _sandbox.new_interpreter(memory=1024 * 2**20)
sides = {"uncounted": uncounted, "capped": capped}
for jail in sides.values():
    _sandbox.exec(jail, KERNELS)
    _sandbox.eval(jail, "timed()")          # warm-up
times = {name: [] for name in sides}
for k in range(rounds):
    order = ["uncounted", "capped"]
    if k % 2:
        order.reverse()
    for name in order:
        times[name].append(_sandbox.eval(sides[name], "timed()"))
for jail in sides.values():
    _sandbox.end_interpreter(jail)
print(json.dumps(times))
