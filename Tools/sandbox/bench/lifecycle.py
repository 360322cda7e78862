# The lifecycle part of Tools/sandbox/bench.py, run by the flag-on build
# with the arguments CYCLES BLOCK WARMUP: time create + exec("pass") +
# destroy per cycle, in blocks that alternate between the two kinds in
# ABBA order; then, for a quarter of the cycles, create + imports and a
# traceback + destroy of an untrusted interpreter that sees the host's
# paths (filesystem_info) and of one that sees its virtual layout; and
# create + six imports + destroy of an isolated interpreter and of an
# untrusted one (issue 19).  Prints the per-cycle times (ns) and the per-block medians as JSON.

import _interpreters, _sandbox, json, statistics, sys, time

cycles, block, warmup = map(int, sys.argv[1:4])

def isolated():
    i = _interpreters.create("isolated")
    err = _interpreters.exec(i, "pass")
    _interpreters.destroy(i)
    return err

def untrusted():
    # The engine's own transport and end (which frees all the arenas).
    i = _sandbox.new_interpreter()
    _sandbox.exec(i, "pass")
    _sandbox.end_interpreter(i)
    return None

# Imports from files (a pure-Python package and an extension module) and
# a traceback with its source lines, read through the paths it sees.
WORK = """if 1:
    import json, traceback, io, _json
    try:
        json.loads("{")
    except ValueError:
        traceback.print_exc(file=io.StringIO())
"""

# Issue 19's six imports, in a new interpreter of each kind.
IMPORTS = "import json, re, collections, dataclasses, typing, decimal"

def isolated_imports():
    i = _interpreters.create("isolated")
    err = _interpreters.exec(i, IMPORTS)
    _interpreters.destroy(i)
    return err

def untrusted_imports():
    i = _sandbox.new_interpreter()
    _sandbox.exec(i, IMPORTS)
    _sandbox.end_interpreter(i)
    return None

def layout(filesystem_info):
    i = _sandbox.new_interpreter(filesystem_info=filesystem_info)
    _sandbox.exec(i, WORK)
    _sandbox.end_interpreter(i)
    return None

kinds = {"isolated": isolated, "untrusted": untrusted,
         "host_layout": lambda: layout(True),
         "virtual_layout": lambda: layout(False),
         "isolated_imports": isolated_imports,
         "untrusted_imports": untrusted_imports}
for name, func in kinds.items():
    err = func()
    if err is not None:
        sys.exit(f"{name}: exec('pass') failed: {err}")
    # The imports take about 20 cycles to reach their steady state in a
    # process (the first untrusted ones are up to 20 % slower; measured
    # 2026-12-05): they warm up three times as long.
    for _ in range(warmup * (3 if name.endswith("_imports") else 1)):
        func()

times = {name: [] for name in kinds}
blocks = {name: [] for name in kinds}
clock = time.perf_counter_ns

def compare(a, b, cycles):
    nblocks = -(-cycles // block)
    for k in range(nblocks):
        order = [a, b]
        if k % 2:
            order.reverse()
        for name in order:
            func = kinds[name]
            samples = []
            for _ in range(block):
                t0 = clock()
                func()
                samples.append(clock() - t0)
            times[name] += samples
            blocks[name].append(statistics.median(samples))

compare("isolated", "untrusted", cycles)
compare("host_layout", "virtual_layout", max(cycles // 4, 2 * block))
compare("isolated_imports", "untrusted_imports", max(cycles // 4, 2 * block))
print(json.dumps({"times": times, "blocks": blocks}))
