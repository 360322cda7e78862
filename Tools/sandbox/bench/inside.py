# The "inside" subcommand of Tools/sandbox/bench.py, run by the flag-on
# release build with the arguments SPEC_JSON ROUNDS VALUES: pyperformance
# benchmarks run by the trusted main interpreter (A) and inside an
# untrusted interpreter (B) of the same process, the figure a tenant
# cares about.  SPEC_JSON maps each benchmark's name to {"path": its
# run_benchmark.py, "args": its extra options}.  The source runs unchanged but for its "import pyperf",
# which is given a stand-in Runner that records what the benchmark asks
# to time (bench_func or bench_time_func, with its inner loops); this
# program then times it the way pyperf does: loops calibrated once, in the
# main interpreter, so that a value takes at least 0.1 s, and the same
# loops on both sides.  Rounds alternate the sides in ABBA order; each
# round computes one warm-up value, then VALUES values.  Prints
# {name: {"loops": N, "inner_loops": M, "A": [seconds per
# iteration...], "B": [...], "restricted": {"A": False, "B": True}}} as
# JSON (the value of __restricted__ on each side).

import _sandbox, json, sys

spec_path, rounds, nvalues = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(spec_path) as f:
    spec = json.load(f)

# Run in each interpreter before a benchmark's source: the stand-in for
# pyperf, and the timing of one value.  Nothing here reads a file or the
# command line (the untrusted interpreter has neither).
HARNESS = r'''
import argparse, time

class _Runner:
    def __init__(self, *args, **kwargs):
        self.metadata = {}
        self.argparser = argparse.ArgumentParser(prog="benchmark")
    def parse_args(self, args=None):
        return self.argparser.parse_args(_ARGS)
    def bench_func(self, name, func, *args, inner_loops=None, **kwargs):
        _found.append(("func", func, args, inner_loops or 1))
    def bench_time_func(self, name, func, *args, inner_loops=None, **kwargs):
        _found.append(("time", func, args, inner_loops or 1))
    def bench_command(self, *args, **kwargs):
        raise RuntimeError("bench_command is not supported")

class pyperf:
    Runner = _Runner
    perf_counter = staticmethod(time.perf_counter)

_found = []

def _value(loops):
    kind, func, args, inner = _found[0]
    if kind == "time":
        return func(loops, *args) / (loops * inner)
    t0 = time.perf_counter()
    for _ in range(loops):
        func(*args)
    return (time.perf_counter() - t0) / (loops * inner)

def _calibrate():
    kind, func, args, inner = _found[0]
    loops = 1
    while True:
        took = _value(loops) * loops * inner
        if took >= 0.1 or loops >= 2 ** 20:
            return loops
        loops *= 2
'''


def prepare(source):
    """The benchmark's source with its "import pyperf" taken out (the
    harness defines the name), run as __main__."""
    lines = []
    for line in source.splitlines():
        if line.strip() == "import pyperf":
            line = line.replace("import pyperf", "pass")
        lines.append(line)
    return "\n".join(lines) + "\n"


def run_main(source):
    g = {"__name__": "__main__"}
    exec(HARNESS, g)
    exec(compile(source, "run_benchmark.py", "exec"), g)
    return g


results = {}
for name, script in spec.items():
    with open(script["path"]) as f:
        source = prepare(f.read())
    setup = f"_ARGS = {script['args']!r}\n"
    main = run_main(setup + source)
    if len(main["_found"]) != 1:
        raise SystemExit(f"{name}: the benchmark asked to time "
                         f"{len(main['_found'])} functions, not one")
    loops = main["_calibrate"]()
    inner = main["_found"][0][3]
    jail = _sandbox.new_interpreter(memory=2048 * 2**20)
    _sandbox.exec(jail, "__name__ = '__main__'\n" + HARNESS)
    _sandbox.exec(jail, setup + source)
    sides = {"A": lambda: main["_value"](loops),
             "B": lambda: _sandbox.eval(jail, f"_value({loops})")}
    values = {"A": [], "B": []}
    for r in range(rounds):
        order = ("A", "B") if r % 2 == 0 else ("B", "A")
        for side in order:
            sides[side]()                      # warm-up
            values[side] += [sides[side]() for _ in range(nvalues)]
    # Where each side ran, for the record (and the tests).
    restricted = {"A": main["__builtins__"]["__restricted__"]
                  if isinstance(main["__builtins__"], dict)
                  else main["__builtins__"].__restricted__,
                  "B": _sandbox.eval(jail, "__builtins__.__restricted__ if "
                                     "hasattr(__builtins__, '__restricted__')"
                                     " else __builtins__['__restricted__']")}
    _sandbox.end_interpreter(jail)
    results[name] = {"loops": loops, "inner_loops": inner,
                     "restricted": restricted, **values}
    print(f"{name}: {loops} loops", file=sys.stderr, flush=True)
print(json.dumps(results))
