# The host of one module of Tools/sandbox/compat.py: run CPython's test
# module sys.argv[1] in a fresh untrusted interpreter, with the policy of
# Doc/sandbox/compatibility.rst, and print the job's report line (or one of
# its own when the job did not get to print one).  The working directory
# (a fresh temporary directory of compat.py's) is granted for writing, so
# test.support's TESTFN files land there.

import json
import os
import sys
import time

import sandbox

module = sys.argv[1]
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "job.py")) as f:
    job = f"MODULE = {module!r}\n" + f.read()

# zoneinfo's time zone data, where the system keeps it.
zones = [d for d in ("/usr/share/zoneinfo", "/usr/lib/zoneinfo",
                     "/usr/share/lib/zoneinfo", "/etc/zoneinfo")
         if os.path.isdir(d)]
policy = sandbox.Policy(threads=16, write=[os.getcwd()], read=zones,
                        memory="2G", time=float(sys.argv[2]),
                        recursion_limit=100_000)
start = time.monotonic()
report = None
try:
    with sandbox.Interpreter(policy) as interp:
        result = interp.run(job)
except Exception as exc:
    # The job raised (a limit, or an exception out of the runner itself):
    # its output so far is on the exception.
    result = getattr(exc, "result", None)
    error = f"{getattr(exc, 'type_name', type(exc).__name__)}: {exc}"
else:
    error = "the job printed no report"
output = (result.stdout + result.stderr) if result is not None else ""
for line in output.splitlines():
    if line.startswith("COMPAT-RESULT "):
        report = json.loads(line[len("COMPAT-RESULT "):])
if report is None:
    tail = output.strip().splitlines()[-3:]
    report = {"module": module,
              "load_error": " | ".join([error[-1000:]] + tail)[-2000:]}
report["host_seconds"] = round(time.monotonic() - start, 2)
print("COMPAT-RESULT " + json.dumps(report))
