# The memory part of Tools/sandbox/bench.py, run by the flag-on build in a
# fresh process per sample with the arguments KIND N ("isolated" or
# "untrusted"): VmRSS growth for N idle interpreters of one kind, each
# having run "pass".  One interpreter is created and destroyed first so
# that one-time costs (the first use of the allocator arenas, lazily
# initialised runtime state) are not charged to the N measured.  Prints
# VmRSS (KiB) before and after as JSON.

import _interpreters, _sandbox, gc, json, sys

kind, n = sys.argv[1], int(sys.argv[2])

def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

def make():
    if kind == "isolated":
        i = _interpreters.create("isolated")
        err = _interpreters.exec(i, "pass")
        if err is not None:
            sys.exit(f"{kind}: exec('pass') failed: {err}")
    else:
        i = _sandbox.new_interpreter()
        _sandbox.exec(i, "pass")
    return i

_interpreters.destroy(make())
gc.collect()
before = rss_kib()
ids = [make() for _ in range(n)]
gc.collect()
after = rss_kib()
for i in ids:
    _interpreters.destroy(i)
print(json.dumps({"before": before, "after": after}))
