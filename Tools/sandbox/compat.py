#!/usr/bin/env python3
"""Run CPython's own tests of the standard library inside untrusted
interpreters, and say which failures are explained.

Each test module runs in a fresh untrusted interpreter of a child host
(compat/host.py, with the policy that Doc/sandbox/compatibility.rst
describes), loaded by unittest as regrtest runs it by default (no optional
resource such as "network" or "cpu").  The driver prints a table (module,
tests run, passed, failed, skipped, time), then every failing test with
its explanation: a row of the table of deliberate restrictions in
Doc/sandbox/compatibility.rst, by test ID ("test.test_x.Class.test_y", or
a prefix ending in "*").  The exit status is 1 when a failure is not
explained there, when a module could not be loaded or run, or when a host
crashed; 0 otherwise.  An explanation that matched nothing is reported
too (the restriction may have gone), without failing.

The driver runs on any Python 3.11+ and uses only the standard library.
Run "compat.py --help" for the options; "build.py compat" runs it on
build/untrusted.
"""

import argparse
import concurrent.futures
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
HOST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compat",
                    "host.py")
EXPLAINED = os.path.join(ROOT, "Doc", "sandbox", "compatibility.rst")

# Issue 19's list: the pure-computation part of the standard library.
MODULES = """
test_math test_cmath test_json test_re test_collections test_dataclasses
test_itertools test_functools test_operator test_statistics test_fractions
test_decimal test_string test_textwrap test_enum test_heapq test_bisect
test_difflib test_datetime test_zoneinfo test_csv test_struct test_base64
test_binascii test_hashlib test_zlib test_unicodedata test_typing
test_contextlib test_abc test_copy test_pprint test_random test_calendar
test_tomllib test_ast test_tokenize test_grammar test_exceptions test_sort
test_set test_dict test_list test_str test_bytes test_int test_float
test_long
""".split()

MARKER = "COMPAT-RESULT "


def log(msg):
    print(f"[compat] {msg}", file=sys.stderr, flush=True)


def read_explained(path):
    """The rows of the list-tables of *path*: [(pattern, reason)], where
    a row is "   * - ``test.ID``" then "     - reason" (continued on
    the lines indented as it)."""
    rows = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise SystemExit(f"compat.py: cannot read {path}: {exc}")
    i = 0
    while i < len(lines):
        m = re.match(r"^\s*\* - ``(test\.[\w.*]+)``\s*$", lines[i])
        if m and i + 1 < len(lines):
            r = re.match(r"^(\s*)- (.*)$", lines[i + 1])
            if r:
                reason = [r.group(2).strip()]
                indent = len(r.group(1)) + 2
                j = i + 2
                while (j < len(lines) and lines[j].strip()
                       and len(lines[j]) - len(lines[j].lstrip()) >= indent
                       and not lines[j].lstrip().startswith(("* -", "- "))):
                    reason.append(lines[j].strip())
                    j += 1
                text = " ".join(reason)
                if text.startswith("The same") and rows:
                    # "The same": the restriction of the rows above.
                    rest = text[len("The same"):].strip(".: ")
                    text = base + (f" ({rest})" if rest else "")
                else:
                    base = text
                rows.append((m.group(1), text))
                i = j
                continue
        i += 1
    return rows


def explain(test_id, rows):
    for pattern, reason in rows:
        if fnmatch.fnmatchcase(test_id, pattern):
            return pattern, reason
    return None, None


def run_module(python, module, timeout):
    """Run *module* in a child host in a fresh temporary directory; return
    its report (a dict)."""
    work = tempfile.mkdtemp(prefix=f"compat-{module}-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [python, "-X", "faulthandler", "-I", HOST, f"test.{module}",
             str(timeout)],
            cwd=work, env=env, capture_output=True, text=True,
            errors="replace", timeout=timeout + 120)
    except subprocess.TimeoutExpired:
        return {"module": f"test.{module}",
                "load_error": f"the host did not return in {timeout + 120} s"}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = None
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            report = json.loads(line[len(MARKER):])
    if proc.returncode != 0 or report is None:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
        what = (f"the host crashed (signal {-proc.returncode})"
                if proc.returncode < 0 else
                f"the host exited with status {proc.returncode}")
        report = {"module": f"test.{module}",
                  "load_error": what + ": " + " | ".join(tail)}
    report["wall"] = round(time.monotonic() - start, 1)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="The modules default to issue 19's list of "
               f"{len(MODULES)} (--list prints it).")
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="test modules to run (test_math, ...)")
    parser.add_argument("--python", default=os.path.join(
        ROOT, "build", "untrusted", "python"),
        help="the flag-on interpreter (default: build/untrusted/python)")
    parser.add_argument("--jobs", "-j", type=int,
                        default=min(2, os.cpu_count() or 1),
                        help="modules run at once (default: 2, or 1 on one "
                             "core)")
    parser.add_argument("--timeout", type=float, default=900,
                        help="the time limit of each module's job, in "
                             "seconds (default: 900)")
    parser.add_argument("--explained", default=EXPLAINED,
                        help="the document whose tables explain failures "
                             "(default: Doc/sandbox/compatibility.rst)")
    parser.add_argument("--json", metavar="FILE",
                        help="also write the reports there")
    parser.add_argument("--list", action="store_true",
                        help="print the default modules and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(MODULES))
        return 0
    modules = [m.removeprefix("test.") for m in args.modules] or MODULES
    for m in modules:
        if not re.fullmatch(r"test_\w+", m):
            parser.error(f"not a test module name: {m!r}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if not os.path.isfile(args.python):
        parser.error(f"{args.python} does not exist; build it first "
                     "(Tools/sandbox/build.py build untrusted)")
    rows = read_explained(args.explained)
    log(f"{len(modules)} modules with {args.python}, {args.jobs} at a time; "
        f"{len(rows)} explained failures in {args.explained}")
    start = time.monotonic()
    reports = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_module, args.python, m, args.timeout): m
                   for m in modules}
        for future in concurrent.futures.as_completed(futures):
            report = future.result()
            reports[futures[future]] = report
            bad = (len(report.get("failures", ())) + len(report.get(
                "errors", ())) + len(report.get("unexpected", ())))
            log(f"{futures[future]}: "
                + (report["load_error"][:200] if "load_error" in report
                   else f"{report['run']} run, {bad} failed")
                + f" ({report['wall']} s)")
    return print_report([reports[m] for m in modules], rows,
                        time.monotonic() - start, args.json)


def print_report(reports, rows, elapsed, json_path):
    used = set()
    unexplained = 0
    lines = []
    header = (f"{'module':<22} {'run':>6} {'passed':>7} {'failed':>7} "
              f"{'skipped':>8} {'explained':>10} {'seconds':>8}")
    print(header)
    print("-" * len(header))
    totals = [0, 0, 0, 0, 0]
    for r in reports:
        name = r["module"].removeprefix("test.")
        if "load_error" in r:
            unexplained += 1
            print(f"{name:<22} {'-':>6} {'-':>7} {'-':>7} {'-':>8} "
                  f"{'-':>10} {r.get('wall', 0):>8.1f}  NOT RUN")
            lines.append(f"NOT RUN {r['module']}: {r['load_error']}")
            continue
        bad = r["failures"] + r["errors"] + r["unexpected"]
        explained = 0
        for test_id, detail in bad:
            pattern, reason = explain(test_id, rows)
            if pattern is None:
                unexplained += 1
                lines.append(f"UNEXPLAINED {test_id}: {detail}")
            else:
                explained += 1
                used.add(pattern)
                lines.append(f"explained   {test_id}: {reason}")
        skipped = r["skipped"] + r["expected_failures"]
        passed = r["run"] - len(bad) - skipped
        for i, n in enumerate((r["run"], passed, len(bad), skipped,
                               explained)):
            totals[i] += n
        print(f"{name:<22} {r['run']:>6} {passed:>7} {len(bad):>7} "
              f"{skipped:>8} {explained:>10} {r['wall']:>8.1f}")
    print("-" * len(header))
    print(f"{'total':<22} {totals[0]:>6} {totals[1]:>7} {totals[2]:>7} "
          f"{totals[3]:>8} {totals[4]:>10} {elapsed:>8.1f}")
    if lines:
        print()
        print("\n".join(lines))
    stale = [p for p, _ in rows if p not in used]
    if stale:
        print()
        print("explanations that matched no failure of this run (a module "
              "not run, or the restriction gone):")
        print("\n".join(f"  {p}" for p in stale))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(reports, f, indent=1)
    print()
    if unexplained:
        print(f"compat: FAILED, {unexplained} unexplained (a failure not in "
              f"the tables of Doc/sandbox/compatibility.rst, a module not "
              f"run or a host that crashed)")
        return 1
    print(f"compat: passed ({totals[0]} tests in {len(reports)} modules, "
          f"{totals[2]} failures, all explained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
