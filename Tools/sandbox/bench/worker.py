# The worker part of Tools/sandbox/bench.py, run by the flag-on build with
# the arguments JOBS BLOCK STARTS: worker processes (isolation "process").
# Job start, from the call to the job's first instruction (CLOCK_MONOTONIC,
# which perf_counter_ns() reads in every process alike), for a warm
# worker, a new "python -I -S" process per job, an interpreter in this
# process, and the jobs of one domain through a Pool of each isolation
# (its warm interpreter, handed to a pool thread), alternating in blocks;
# then STARTS cold starts of a worker
# (Interpreter() until it can take a job) and the resident memory of each
# idle worker.  Prints the times (ns) and sizes (bytes) as JSON.

import json, subprocess, sys, time
import sandbox

jobs, block, starts = map(int, sys.argv[1:4])
clock = time.perf_counter_ns
code = "import time; print(time.perf_counter_ns())"

def subprocess_start():
    t0 = clock()
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code],
                         capture_output=True, text=True, check=True).stdout
    return int(out) - t0

def job_start(interp):
    t0 = clock()
    return interp.call("time:perf_counter_ns") - t0

def pool_start(pool):
    t0 = clock()
    return pool.submit_to("bench", "time:perf_counter_ns").result() - t0

def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

process = sandbox.Policy(isolation="process")
with sandbox.Interpreter(process) as worker, sandbox.Interpreter() as local, \
        sandbox.Pool(process, size=1) as process_pool, \
        sandbox.Pool(size=1) as local_pool:
    kinds = {"worker": lambda: job_start(worker),
             "interpreter": lambda: job_start(local),
             "subprocess": subprocess_start,
             "pool_worker": lambda: pool_start(process_pool),
             "pool_interpreter": lambda: pool_start(local_pool)}
    for func in kinds.values():
        for _ in range(3):
            func()
    times = {name: [] for name in kinds}
    names = list(kinds)
    for k in range(-(-jobs // block)):
        order = names if k % 2 == 0 else names[::-1]
        for name in order:
            for _ in range(block):
                times[name].append(kinds[name]())

cold, sizes = [], []
for _ in range(starts):
    t0 = clock()
    with sandbox.Interpreter(process) as interp:
        interp.eval("None")
        cold.append(clock() - t0)
        sizes.append(rss(interp.pid))
times.update(cold=cold, rss=sizes)
print(json.dumps(times))
