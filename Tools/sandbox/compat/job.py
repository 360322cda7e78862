# The job of Tools/sandbox/compat.py, run inside an untrusted interpreter by
# compat/host.py: load one of CPython's test modules (MODULE, set before
# this source) with unittest, run it as regrtest runs it by default (no
# optional resource enabled), and print what happened as one JSON line
# after the marker.  Everything here is the tenant's: the host only parses
# that line, and trusts none of it beyond the report.

import io
import json
import sys
import time
import traceback
import unittest

from test import support

# regrtest's defaults: no "-u" resource (network, cpu, largefile, ...),
# tests quiet.
support.use_resources = []
support.verbose = 0

start = time.monotonic()
stream = io.StringIO()
report = {"module": MODULE}
try:
    suite = unittest.defaultTestLoader.loadTestsFromName(MODULE)
except BaseException as exc:
    report["load_error"] = "".join(
        traceback.format_exception_only(exc)).strip()[-2000:]
else:
    result = unittest.TextTestRunner(stream=stream, verbosity=0).run(suite)

    def short(tb):
        lines = [line for line in tb.strip().splitlines() if line.strip()]
        return lines[-1][-500:] if lines else ""

    report.update(
        run=result.testsRun,
        failures=[[t.id(), short(tb)] for t, tb in result.failures],
        errors=[[t.id(), short(tb)] for t, tb in result.errors],
        unexpected=[[t.id(), "unexpected success"]
                    for t in result.unexpectedSuccesses],
        skipped=len(result.skipped),
        expected_failures=len(result.expectedFailures))
report["seconds"] = round(time.monotonic() - start, 2)
print("COMPAT-RESULT " + json.dumps(report))
