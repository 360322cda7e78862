# The pool part of Tools/sandbox/bench.py, run by the flag-on build with
# the arguments JOBS BLOCK: the time from submitting a job to its first
# instruction (CLOCK_MONOTONIC, which perf_counter_ns() reads in every
# interpreter and process alike).  A: a new "python -I -S" process per
# job; B: a sandbox.Pool with interpreters made ahead.  Alternating in
# blocks; the pool refills between jobs, as a server's would between
# requests.  Prints the times (ns) as JSON.

import json, subprocess, sys, time
import sandbox

jobs, block = map(int, sys.argv[1:3])
clock = time.perf_counter_ns
code = "import time; print(time.perf_counter_ns())"

def subprocess_start():
    t0 = clock()
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code],
                         capture_output=True, text=True, check=True).stdout
    return int(out) - t0

def pool_start(pool):
    time.sleep(0.01)                    # let the pool refill
    t0 = clock()
    return pool.submit("time:perf_counter_ns").result() - t0

with sandbox.Pool(size=2) as pool:
    for _ in range(3):
        pool_start(pool); subprocess_start()
    times = {"subprocess": [], "pool": []}
    for k in range(-(-jobs // block)):
        order = ["subprocess", "pool"] if k % 2 == 0 else ["pool", "subprocess"]
        for name in order:
            for _ in range(block):
                times[name].append(pool_start(pool) if name == "pool"
                                   else subprocess_start())
print(json.dumps(times))
