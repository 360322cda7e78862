"""Ending untrusted interpreters gives their memory back, whatever ran.

Stock 3.13.5 keeps every arena of an isolated interpreter in which any
block is left allocated, which is always: each create/destroy leaks about
1.65 MiB (more with a bigger job).  An untrusted interpreter shares none of
its heap, so all of its arenas are freed at its end (patch 0116), and with
them the large blocks its objects still hold (patch 0181).  The
proof, run in a child host: 1,000 create/run/destroy cycles of hostile jobs
and the host's RSS afterwards, against the same host after a warm-up.
"""

from support import requires_untrusted, run_host

pytestmark = requires_untrusted


HOST = """
import _interpreters, _sandbox, sys, time

def rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

# Hostile to the end of the interpreter: a __del__ that never returns in a
# cycle and in a global, an atexit handler, a weakref callback and an
# audit hook that would end the process, a patched threading._shutdown(),
# and memory in small objects, large blocks and a cycle.
JOB = '''
import atexit, os, sys, threading, weakref
class Forever:
    def __del__(self):
        while True:
            pass
loop = Forever(); loop.me = loop
held = Forever()
# Large blocks that only the end can free: never finalized, they stayed
# allocated (1 MiB a cycle) before the heap listed them.
loop.data = bytes(2**20)
held.data = [bytearray(100_000) for _ in range(3)]
atexit.register(os._exit, 9)
class Target: pass
target = Target()
ref = weakref.ref(target, lambda r: os._exit(8))
sys.addaudithook(lambda event, args: event == "cpython._PySys_ClearAuditHooks" and os._exit(7))
threading._shutdown = lambda: __import__("time").sleep(10**6)
small = [str(i) * 5 for i in range(%(small)d)]
large = [bytes(64 * 1024) for _ in range(%(large)d)]
mesh = [[] for _ in range(1000)]
for a, b in zip(mesh, mesh[1:]):
    a.append(b); b.append(a)
'''
HEAVY = "import json, re, decimal\\n"

def cycle(i):
    interp = _sandbox.new_interpreter()
    source = JOB % {"small": 2000 + i % 7 * 500, "large": 4 + i % 5}
    if i % 50 == 0:
        source = HEAVY + source
    _sandbox.exec(interp, source)
    _sandbox.end_interpreter(interp)

CYCLES = int(sys.argv[1])
WARMUP = 50
for i in range(WARMUP):
    cycle(i)
before = rss_mib()
start = time.monotonic()
for i in range(CYCLES):
    cycle(i)
after = rss_mib()
print(f"{before:.1f} {after:.1f} {time.monotonic() - start:.1f}")
"""


def test_a_thousand_hostile_cycles_leave_no_growth():
    proc = run_host(HOST, args=["1000"], timeout=900)
    # The hostile handlers would have ended the process with 7, 8 or 9.
    assert proc.returncode == 0, proc.stderr
    before, after, seconds = map(float, proc.stdout.split())
    print(f"RSS {before:.1f} MiB after warm-up, {after:.1f} MiB after "
          f"1000 cycles ({seconds:.0f} s)")
    # Stock isolated interpreters would grow by well over 1 GiB here; an
    # allocator's noise is a few MiB.
    assert after - before < 8, (before, after)
