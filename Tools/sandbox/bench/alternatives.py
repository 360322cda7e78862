# The "alternatives" subcommand of Tools/sandbox/bench.py, run with the
# arguments KIND JOBS ROUNDS by the build that KIND needs: what a user
# could pick instead of an untrusted interpreter, on the same workloads.
#
#   main              the trusted main interpreter (no protection; the
#                     reference for the kernels)
#   subprocess        a new "python -I -S -c ..." process per job
#   restrictedpython  RestrictedPython (on PYTHONPATH) in this process,
#                     set up as its documentation does: compile_restricted
#                     and the guards of safe_globals, safer_getattr,
#                     default_guarded_getitem/getiter,
#                     guarded_iter_unpack_sequence, full_write_guard
#   isolated          a plain isolated subinterpreter (no protection)
#   untrusted         an untrusted interpreter (_sandbox, the engine)
#   interpreter       sandbox.Interpreter, the public API
#   pool              sandbox.Pool, interpreters made ahead
#   worker            sandbox.Pool(isolation="process"), a warm worker
#
# Job latency: create + run a small job (sum(range(1000))) + get its
# result back + destroy, JOBS times (for pool and worker: submit + result,
# the pool refilling between jobs).  Kernels: the KERNELS below, ROUNDS
# times each, timed where they run.  Prints {"latency": [ns...],
# "kernels": {name: [ns...]}, "errors": {name: "why it cannot run"}} as
# JSON.

import json, os, subprocess, sys, time

kind, jobs, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
clock = time.perf_counter_ns
JOB = "sum(range(1000))"
EXPECTED = sum(range(1000))

# Written so that RestrictedPython can compile them (no names with a
# leading underscore, no augmented assignment of attributes or items).
KERNELS = r'''
import time

def floats():
    x = y = z = 0.0
    for i in range(200000):
        x = x * 0.5 + i
        y = (y + x) * 0.25
        z += x * y - z * 0.1
    return z

def calls():
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    return fib(23)

def strings():
    total = 0
    for k in range(20):
        words = [str(i) + "x" for i in range(5000)]
        index = {}
        for w in words:
            index[w] = len(w)
        total += len(",".join(words).split(","))
    return total

def objects():
    class Point:
        def __init__(self, x, y):
            self.x = x
            self.y = y
        def moved(self, dx):
            return Point(self.x + dx, self.y - dx)
    p = Point(0, 0)
    for i in range(150000):
        p = p.moved(1)
    return p.x

def timed(name):
    kernel = {"floats": floats, "calls": calls, "strings": strings,
              "objects": objects}[name]
    t0 = time.perf_counter_ns()
    kernel()
    return time.perf_counter_ns() - t0
'''
NAMES = ("floats", "calls", "strings", "objects")

latency, kernels, errors = [], {n: [] for n in NAMES}, {}


def time_jobs(job, between=None):
    job()                                   # warm-up
    for _ in range(jobs):
        if between:
            between()
        t0 = clock()
        if job() != EXPECTED:
            raise SystemExit(f"{kind}: the job's result is wrong")
        latency.append(clock() - t0)


def time_kernels(run_kernel):
    for name in NAMES:
        try:
            run_kernel(name)                # warm-up
            kernels[name] = [run_kernel(name) for _ in range(rounds)]
        except Exception as e:
            errors[name] = f"{type(e).__name__}: {e}"
            kernels.pop(name)


if kind == "main":
    g = {}
    exec(KERNELS, g)
    time_jobs(lambda: eval(JOB))
    time_kernels(g["timed"])

elif kind == "subprocess":
    def job():
        out = subprocess.run([sys.executable, "-I", "-S", "-c",
                              f"print({JOB})"], capture_output=True,
                             text=True, check=True).stdout
        return int(out)
    def kernel(name):
        out = subprocess.run([sys.executable, "-I", "-S", "-c",
                              KERNELS + f"\nprint(timed({name!r}))"],
                             capture_output=True, text=True, check=True)
        return int(out.stdout)
    time_jobs(job)
    time_kernels(kernel)

elif kind == "restrictedpython":
    import operator
    from RestrictedPython import compile_restricted, safe_globals
    from RestrictedPython.Eval import (default_guarded_getitem,
                                       default_guarded_getiter)
    from RestrictedPython.Guards import (full_write_guard,
                                         guarded_iter_unpack_sequence,
                                         safer_getattr)
    from RestrictedPython.Utilities import utility_builtins
    INPLACE = {"+=": operator.iadd, "-=": operator.isub,
               "*=": operator.imul, "/=": operator.itruediv}

    def restricted_globals():
        g = dict(safe_globals)
        # safe_builtins has no sum(); the job needs it, and it is safe.
        g["__builtins__"] = dict(safe_globals["__builtins__"],
                                 **utility_builtins, sum=sum)
        g.update(_getattr_=safer_getattr,
                 _getitem_=default_guarded_getitem,
                 _getiter_=default_guarded_getiter,
                 _iter_unpack_sequence_=guarded_iter_unpack_sequence,
                 _write_=full_write_guard,
                 _inplacevar_=lambda op, x, y: INPLACE[op](x, y),
                 __metaclass__=type, __name__="restricted")
        # The kernels' "import time": RestrictedPython's safe builtins
        # have no __import__; give the one module they need.
        g["__builtins__"]["__import__"] = (
            lambda name, *a, **k: time if name == "time"
            else operator.getitem({}, name))
        return g

    def job():
        g = restricted_globals()
        exec(compile_restricted(f"result = {JOB}", "<job>", "exec"), g)
        return g["result"]
    g = restricted_globals()
    exec(compile_restricted(KERNELS, "<kernels>", "exec"), g)
    time_jobs(job)
    time_kernels(g["timed"])

elif kind == "isolated":
    import _interpreters
    r, w = os.pipe()

    def job():
        i = _interpreters.create("isolated")
        try:
            err = _interpreters.exec(
                i, f"import os; os.write({w}, str({JOB}).encode())")
            if err is not None:
                raise RuntimeError(err)
            return int(os.read(r, 100))
        finally:
            _interpreters.destroy(i)
    i = _interpreters.create("isolated")
    _interpreters.exec(i, KERNELS)

    def kernel(name):
        err = _interpreters.exec(
            i, f"import os; os.write({w}, str(timed({name!r})).encode())")
        if err is not None:
            raise RuntimeError(err)
        return int(os.read(r, 100))
    time_jobs(job)
    time_kernels(kernel)
    _interpreters.destroy(i)

elif kind == "untrusted":
    import _sandbox

    def job():
        jail = _sandbox.new_interpreter()
        try:
            return _sandbox.eval(jail, JOB)
        finally:
            _sandbox.end_interpreter(jail)
    jail = _sandbox.new_interpreter(memory=1024 * 2**20)
    _sandbox.exec(jail, KERNELS)
    time_jobs(job)
    time_kernels(lambda name: _sandbox.eval(jail, f"timed({name!r})"))
    _sandbox.end_interpreter(jail)

elif kind == "interpreter":
    import sandbox

    def job():
        with sandbox.Interpreter() as interp:
            return interp.eval(JOB)
    time_jobs(job)
    with sandbox.Interpreter(sandbox.Policy(memory="1 GiB")) as interp:
        interp.run(KERNELS)
        time_kernels(lambda name: interp.eval(f"timed({name!r})"))

elif kind in ("pool", "worker"):
    # Their jobs run in untrusted interpreters, the kernels as in
    # "interpreter": only the job latency is measured.
    import sandbox
    kernels = {}
    options = {"isolation": "process"} if kind == "worker" else {}
    with sandbox.Pool(size=2, **options) as pool:
        # The same source as the other kinds' job, run by submit_source
        # (whose Result holds the job's output: print the value); the
        # pool refills between jobs, as a server's would between requests.
        def job():
            return int(pool.submit_source(f"print({JOB})").result().stdout)
        time_jobs(job, between=lambda: time.sleep(0.01))

else:
    raise SystemExit(f"unknown kind {kind!r}")

print(json.dumps({"latency": latency, "kernels": kernels, "errors": errors}))
