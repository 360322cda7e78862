# The timelimit part of Tools/sandbox/bench.py, run by the flag-on build
# with the arguments ROUNDS: pure-Python and C-heavy kernels run inside two
# untrusted interpreters with the same policy but their limits: A with the
# default (a time limit of 30 s, whose CPU limit the watchdog never needs
# to read before the deadline), B with a CPU limit below it and threads
# granted (the watchdog reads the threads' clocks during the job), in
# rounds that alternate the two in ABBA order.  The polls that patches
# 0187-0190 add cost the same in both (a branch on the eval-breaker bit);
# their cost to a trusted interpreter is the callgrind part's.  Each kernel
# is timed in the interpreter itself; prints the per-round times (ns) as
# JSON.

import _sandbox, json, sys

rounds = int(sys.argv[1])

KERNELS = r'''
import collections, itertools, time

def floats():
    x = y = z = 0.0
    for i in range(300000):
        x = x * 0.5 + i
        y = (y + x) * 0.25
        z += x * y - z * 0.1
    return z

def iterators():
    # C loops over sources that poll: itertools, range, iter(f, sentinel).
    for _ in range(5):
        sum(range(10**6))
        collections.deque(itertools.islice(itertools.count(), 10**6), 0)
        any(itertools.repeat(0, 10**6))
        collections.deque(itertools.product(range(300), repeat=2), 0)

def sort():
    data = [(i * 7919) % 100003 for i in range(200000)]
    for _ in range(5):
        sorted(data)

def bigint():
    x = 3 ** 200000
    for _ in range(3):
        x * x
    pow(3, 1 << 100000, 10**40)

def timed():
    times = {}
    for kernel in (floats, iterators, sort, bigint):
        t0 = time.perf_counter_ns()
        kernel()
        times[kernel.__name__] = time.perf_counter_ns() - t0
    return times
'''

default = _sandbox.new_interpreter(threads=2)
limited = _sandbox.new_interpreter(time=30.0, cpu=5.0, threads=2)
sides = {"default": default, "limited": limited}
for jail in sides.values():
    _sandbox.exec(jail, KERNELS)
    _sandbox.eval(jail, "timed()")          # warm-up
times = {name: [] for name in sides}
for k in range(rounds):
    order = ["default", "limited"]
    if k % 2:
        order.reverse()
    for name in order:
        times[name].append(_sandbox.eval(sides[name], "timed()"))
for jail in sides.values():
    _sandbox.end_interpreter(jail)
print(json.dumps(times))
