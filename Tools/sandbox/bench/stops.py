# The stops part of Tools/sandbox/bench.py, run by the flag-on build with
# the arguments RUNS LIMIT: each target of issue 16 (and two C calls that
# do not poll, which the host gives up on) runs RUNS times, each in a
# fresh untrusted interpreter whose jobs have LIMIT seconds; prints, as
# JSON, how late control came back to the host after the deadline
# (seconds) for each target.

import _sandbox, json, sys, time

runs, limit = int(sys.argv[1]), float(sys.argv[2])

TARGETS = {
    "while True: pass": "while True: pass",
    "except BaseException retry loop":
        "while True:\n"
        "    try:\n"
        "        while True: pass\n"
        "    except BaseException:\n"
        "        pass\n",
    "finally that loops":
        "try:\n"
        "    while True: pass\n"
        "finally:\n"
        "    while True: pass\n",
    "for x in itertools.count(): pass":
        "import itertools\nfor x in itertools.count(): pass",
    "re.match('(a*)*b', 'a' * 40)":
        "import re\nre.match('(a*)*b', 'a' * 40)",
    "time.sleep(10**6)": "import time\ntime.sleep(10**6)",
    "queue.Queue().get()": "import queue\nqueue.Queue().get()",
    "a nested interpreter's loop":
        "import _sandbox\n"
        "k = _sandbox.new_interpreter()\n"
        "_sandbox.exec(k, 'while True: pass')\n",
    "-1 in itertools.count()": "import itertools\n-1 in itertools.count()",
    "any(itertools.repeat(0))": "import itertools\nany(itertools.repeat(0))",
    "collections.deque(itertools.count(), 0)":
        "import collections, itertools\n"
        "collections.deque(itertools.count(), 0)",
    "sum(itertools.repeat(1))": "import itertools\nsum(itertools.repeat(1))",
    "10**10**8": "10**10**8",
    "math.factorial(10**7)": "import math\nmath.factorial(10**7)",
    "select.select([r], [], [])":
        "import os, select\nr, w = os.pipe()\nselect.select([r], [], [])",
    "threading.Lock().acquire() twice":
        "import threading\nl = threading.Lock()\nl.acquire()\nl.acquire()",
    "os.read(r, 1) of an own pipe":
        "import os\nr, w = os.pipe()\nos.read(r, 1)",
    "os.read in a thread, join()":
        "import os, threading\nr, w = os.pipe()\n"
        "t = threading.Thread(target=os.read, args=(r, 1))\n"
        "t.start()\nt.join()",
    "Decimal(3).ln() at precision 200000":
        "import decimal\ndecimal.getcontext().prec = 200000\n"
        "decimal.Decimal(3).ln()",
    # C calls that do not poll: the host gives up on them 100 ms after the
    # deadline, and the interpreter ends as the call returns.
    "pbkdf2_hmac(..., 10**7) (given up)":
        "import hashlib\nhashlib.pbkdf2_hmac('sha256', b'k', b's', 10**7)",
    "Decimal(1 << 2*10**6) (given up)":
        "import decimal\ndecimal.Decimal(1 << (2 * 10**6))",
}


def wait_ended(jail):
    # Not timed: the next run starts with the core that the call held.
    until = time.monotonic() + 60
    while time.monotonic() < until:
        try:
            _sandbox.memory(jail)
        except RuntimeError:
            pass
        except Exception:
            return
        time.sleep(0.05)
    sys.exit("a lost interpreter was not ended within 60 s")


late = {}
for name, source in TARGETS.items():
    late[name] = []
    for _ in range(runs):
        jail = _sandbox.new_interpreter(time=limit, threads=1)
        start = time.monotonic()
        try:
            _sandbox.exec(jail, source)
            sys.exit(f"{name}: ran to its end")
        except _sandbox.RemoteError as exc:
            if exc.type_name != "sandbox.SandboxLimitExceeded":
                sys.exit(f"{name}: {exc.type_name}: {exc.message}")
        late[name].append(time.monotonic() - start - limit)
        lost = _sandbox.lost(jail)
        _sandbox.end_interpreter(jail)
        if lost:
            wait_ended(jail)
print(json.dumps(late))
