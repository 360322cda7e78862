#!/usr/bin/env python3
"""Measure what untrusted interpreters cost, side by side in one run.

The driver runs on any Python 3.11+ and uses only the standard library; it
launches the built interpreters under build/ as subprocesses, which run
the programs in Tools/sandbox/bench/.  Each part compares a baseline A
with a candidate B and prints the ratio B/A:

  lifecycle      create + exec("pass") + destroy, per cycle, in the flag-on
                 build: A = an isolated subinterpreter, B = an untrusted one;
                 and create + imports + a traceback + destroy: A = an
                 untrusted interpreter with filesystem_info (the host's
                 paths), B = one that sees its virtual layout; and create
                 + import json, re, collections, dataclasses, typing,
                 decimal + destroy: A = isolated, B = untrusted.
  pool           job start: from Pool.submit() to the first instruction of
                 the job inside, in the flag-on build: A = a subprocess
                 per job ("python -I -S -c ..."), B = sandbox.Pool.
  worker         worker processes (isolation "process"): job start in a
                 warm worker, A = a subprocess per job, and A = an
                 interpreter in the host's process; a domain's job start
                 through Pool(isolation="process"), A = a subprocess per
                 job, and A = the in-process Pool; the cold start of a
                 worker and the RSS of an idle one (no ratio).
  stops          how late control comes back to the host after a job's
                 time limit, for each target that the limit stops (no
                 ratio: min, median and max of --stop-runs runs).
  kernels        pure-Python kernels (allocation, floats, objects) timed
                 inside the interpreter, in the flag-on build: A = an
                 untrusted interpreter created with the counting of its
                 objects switched off (_sandbox._count_objects(False)),
                 B = one with its memory cap (its arenas and large blocks
                 charged to its heap); the same policy otherwise.
  timelimit      pure-Python and C-heavy kernels (floats, iterators, sort,
                 big ints) timed inside the interpreter, in the flag-on
                 build: A = an untrusted interpreter with the default
                 limits (30 s, its CPU limit never read before the
                 deadline), B = one with a CPU limit of 5 s and two threads
                 granted (the watchdog reads the threads' clocks).
  memory         RSS growth per idle interpreter (N interpreters that have
                 each run "pass"), in a fresh process per sample: A =
                 isolated, B = untrusted.
  network        connect + send + receive + close to a loopback echo
                 server of the benchmark's own, in the flag-on build: A =
                 the trusted main interpreter, B = an untrusted
                 interpreter whose policy grants the port.
  callgrind      instructions executed (callgrind's Ir total) by a fixed,
                 deterministic pure-Python workload run by the trusted main
                 interpreter, by 100,000 calls that take a descriptor, by
                 80,000 that take a path and by 120,000 socket calls: A =
                 build/trusted (flag off), B = build/untrusted (flag on).
                 Needs valgrind.

Timed measurements are interleaved (ABBA order) so that drifts in the load
of the machine hit both sides alike; each line reports medians and the
spread.  Those parts are the subcommand "micro", the default.  The other
subcommands measure release builds (PGO + LTO, as distributors build):

  build          build (or bring up to date) build/release-trusted (flag
                 off) and build/release-untrusted (flag on) with
                 --enable-optimizations --with-lto; a first build of both
                 takes about 45 minutes on 2 cores.
  pyperformance  pyperformance 1.14.0 through pyperf on both release
                 builds, each benchmark on one build then the other: the
                 quick mode (a dozen benchmarks, --fast) or the full
                 default suite (--full); results, pyperf's table, a
                 summary with the geometric mean and its interval, and a
                 chart in a dated folder under build/bench-results/.
  inside         pyperformance's pure-Python benchmarks in the flag-on
                 release build: A = its trusted main interpreter, B = an
                 untrusted interpreter of the same process.
  alternatives   job latency and kernel speed of what users pick instead:
                 a process per job, RestrictedPython, a plain isolated
                 subinterpreter, beside untrusted interpreters and pools.
  scale          RSS of 100 and 1,000 idle interpreters in one process;
                 jobs per second through a Pool against processes per job.
  instructions   callgrind's instruction counts of the quick subset in both
                 release builds; what moved more than 0.5 % since the
                 previous results.
  report         the summary and the chart of a results folder, again.

Run "bench.py SUBCOMMAND --help" for each one's options.
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PARTS = ("lifecycle", "kernels", "timelimit", "memory", "pool", "worker",
         "stops", "network", "callgrind")

# The programs that the builds run for the parts, one file each.
PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench")


# Targets stated in the issue, as the largest acceptable ratio B/A.
TARGETS = {
    "lifecycle": 1.5,
    "layout": 1.05,         # the virtual layout: imports not slower (noise)
    "imports": 1.2,         # issue 19: six imports within 1.2x of isolated
    "pool": 0.1,            # at least 10x faster than a subprocess
    "worker": 0.2,          # at least 5x faster than a subprocess
    "callgrind": 1.005,     # the trusted main interpreter: within 0.5 %
    "kernels": 1.03,        # a memory cap costs a pure-Python kernel 3 %
    "timelimit": 1.03,      # a CPU limit read during the job: 3 %
    "network": 1.2,         # a loopback round trip inside: within 1.2x
}


class BenchError(Exception):
    """A failure explained to the user in one line, without traceback."""


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def program(name):
    """Tools/sandbox/bench/NAME.py: the program a build runs for a part
    (its first comment says what it measures and prints)."""
    return os.path.join(PROGRAMS, name + ".py")


# ---------------------------------------------------------------- builds

class Build:
    """One built interpreter: build/<variant>/python."""

    def __init__(self, build_dir, variant):
        self.variant = variant
        self.dir = os.path.join(build_dir, variant)
        self.python = os.path.join(self.dir, "python")

    def fingerprint(self):
        """What changes when the build is rebuilt: the binary, and the
        modification times of the build directory and of Modules/ (where
        make replaces the extension modules), or None if the binary is
        missing."""
        try:
            st = os.stat(self.python)
        except FileNotFoundError:
            return None
        stamps = [st.st_mtime_ns, st.st_size]
        for d in (self.dir, os.path.join(self.dir, "Modules")):
            try:
                stamps.append(os.stat(d).st_mtime_ns)
            except FileNotFoundError:
                stamps.append(None)
        return tuple(stamps)

    def wait_until_stable(self, quiet=15, timeout=600):
        """Wait for a rebuild in progress to finish: the binary must exist
        and the build stay unchanged for *quiet* seconds."""
        deadline = time.monotonic() + timeout
        last = self.fingerprint()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(1)
            now = self.fingerprint()
            if now != last or now is None:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
        raise BenchError(f"{self.python} is missing or still changing after "
                         f"{timeout} s (a rebuild that failed?)")

    def run(self, args, env=None, what=None, tries=3):
        """Run this python with *args*; return its stdout.

        Another engineer may rebuild the build while we run: a failed
        command is tried again once the build has been left unchanged for
        a while."""
        for attempt in range(tries):
            if self.fingerprint() is None:
                log(f"{self.python} is missing (rebuild?); waiting")
                self.wait_until_stable()
            proc = subprocess.run([self.python, *args], env=env, text=True,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, errors="replace")
            if proc.returncode == 0:
                return proc.stdout
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            if attempt + 1 < tries:
                log(f"{what or 'a run'} failed ({last}); retrying once "
                    f"{self.dir} is stable, in case it was being rebuilt")
                self.wait_until_stable()
        raise BenchError(f"{what or 'a run'} of {self.python} failed "
                         f"(exit status {proc.returncode}): {last}")


def check_builds(args):
    """Both builds must exist; the flag-on build must have _sandbox."""
    builds = {}
    for variant in ("untrusted", "trusted"):
        b = Build(args.build_dir, variant)
        if (not os.path.exists(b.python)
                and os.path.exists(os.path.join(b.dir, "Makefile"))):
            # Configured but without a binary: a rebuild in progress?
            log(f"{b.python} is missing; waiting in case it is being built")
            try:
                b.wait_until_stable(timeout=300)
            except BenchError:
                pass
        if not os.access(b.python, os.X_OK):
            raise BenchError(f"{b.python} is missing; build it with "
                             f"'Tools/sandbox/build.py build {variant}'")
        builds[variant] = b
    has = builds["untrusted"].run(
        ["-I", "-c", "import importlib.util as u; "
                     "print(bool(u.find_spec('_sandbox')))"],
        what="a check").strip()
    if has != "True":
        raise BenchError(f"{builds['untrusted'].python} has no _sandbox "
                         f"module: it was not configured --with-untrusted")
    return builds


# ---------------------------------------------------------------- statistics

def quartiles(values):
    """(first quartile, median, third quartile)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


class Result:
    """One line of the table: medians of A and B, ratio and spread."""

    def __init__(self, name, unit, a, b, ratios=None, spread="iqr",
                 target=None, note=""):
        self.name = name
        self.unit = unit
        self.a = sorted(a)
        self.b = sorted(b)
        # Ratios of paired samples (blocks, rounds), for their range.
        self.ratios = sorted(ratios or [])
        self.spread = spread
        self.target = target
        self.note = note

    @property
    def ratio(self):
        return statistics.median(self.b) / statistics.median(self.a)

    def spread_text(self, fmt):
        if self.spread == "none":
            a, b = self.a[0], self.b[0]
            text = (f"deterministic count: {a:,} vs {b:,}, "
                    f"{b - a:+,} ({(b - a) / a:+.3%})")
        else:
            parts = []
            for side, values in (("A", self.a), ("B", self.b)):
                if self.spread == "iqr":
                    lo, _, hi = quartiles(values)
                    what = "IQR"
                else:
                    lo, hi = values[0], values[-1]
                    what = "min-max"
                parts.append(f"{side} {what} {fmt(lo)}-{fmt(hi)}")
            text = ", ".join(parts)
            if len(self.ratios) > 1:
                # Each pair was measured close in time: their ratios are
                # less exposed to drifts in the load of the machine.
                lo, mid, hi = quartiles(self.ratios)
                if self.spread != "iqr":
                    lo, hi = self.ratios[0], self.ratios[-1]
                text += (f"; {len(self.ratios)} pairs: B/A median "
                         f"{mid:.4f}, {what} {lo:.4f}-{hi:.4f}")
        if self.note:
            text += f" ({self.note})"
        return text


def format_value(value, unit):
    if unit == "Ir":
        return f"{value / 1e6:,.1f}M"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(results):
    rows = [("measurement", "unit", "median A", "median B", "B/A", "target",
             "spread")]
    for r in results:
        fmt = lambda v, u=r.unit: format_value(v, u)
        if r.target is None:
            target = "-"
        else:
            target = (f"<={r.target:g} "
                      f"{'ok' if r.ratio <= r.target else 'MISSED'}")
        rows.append((r.name, r.unit, fmt(statistics.median(r.a)),
                     fmt(statistics.median(r.b)), f"{r.ratio:.4f}",
                     target, r.spread_text(fmt)))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(row[2:5], widths[2:5])]
        cells += [row[5].ljust(widths[5]), row[6]]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * 6)


# ---------------------------------------------------------------- lifecycle

def bench_lifecycle(args, builds):
    log(f"lifecycle: {args.cycles} cycles of each kind in blocks of "
        f"{args.block} (build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("lifecycle"), str(args.cycles), str(args.block),
         str(args.warmup)], what="the lifecycle benchmark")
    data = json.loads(out)
    ms = lambda ns: [t / 1e6 for t in ns]
    pairs = [b / a for a, b in zip(data["blocks"]["isolated"],
                                   data["blocks"]["untrusted"])]
    layout_pairs = [b / a for a, b in zip(data["blocks"]["host_layout"],
                                          data["blocks"]["virtual_layout"])]
    return [Result("lifecycle: create+pass+destroy (A isolated, B untrusted)",
                   "ms", ms(data["times"]["isolated"]),
                   ms(data["times"]["untrusted"]), ratios=pairs,
                   target=TARGETS["lifecycle"]),
            Result("layout: create+imports+traceback+destroy (A host's "
                   "paths, B virtual layout)", "ms",
                   ms(data["times"]["host_layout"]),
                   ms(data["times"]["virtual_layout"]), ratios=layout_pairs,
                   target=TARGETS["layout"]),
            Result("imports: create+6 imports+destroy (A isolated, B "
                   "untrusted)", "ms",
                   ms(data["times"]["isolated_imports"]),
                   ms(data["times"]["untrusted_imports"]),
                   ratios=[b / a for a, b in zip(
                       data["blocks"]["isolated_imports"],
                       data["blocks"]["untrusted_imports"])],
                   target=TARGETS["imports"])], []


# ---------------------------------------------------------------- kernels

def bench_kernels(args, builds):
    log(f"kernels: {args.kernel_rounds} rounds of each kind "
        f"(build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("kernels"), str(args.kernel_rounds)],
        what="the kernels benchmark")
    data = json.loads(out)
    results = []
    for kernel in data["uncounted"][0]:
        a = [r[kernel] / 1e6 for r in data["uncounted"]]
        b = [r[kernel] / 1e6 for r in data["capped"]]
        results.append(Result(f"kernels: {kernel} (A untrusted uncounted, "
                               f"B with a cap)", "ms", a, b,
                               ratios=[y / x for x, y in zip(a, b)],
                               target=TARGETS["kernels"]))
    return results, []


# ---------------------------------------------------------------- timelimit

def bench_timelimit(args, builds):
    log(f"timelimit: {args.kernel_rounds} rounds of each kind "
        f"(build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("timelimit"), str(args.kernel_rounds)],
        what="the timelimit benchmark")
    data = json.loads(out)
    results = []
    for kernel in data["default"][0]:
        a = [r[kernel] / 1e6 for r in data["default"]]
        b = [r[kernel] / 1e6 for r in data["limited"]]
        results.append(Result(f"timelimit: {kernel} (A default limits, "
                               f"B a CPU limit read)", "ms", a, b,
                               ratios=[y / x for x, y in zip(a, b)],
                               target=TARGETS["timelimit"]))
    return results, []


# ---------------------------------------------------------------- network

def bench_network(args, builds):
    log(f"network: {args.net_rounds} loopback round trips of each kind "
        f"(build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("network"), str(args.net_rounds), "50"],
        what="the network benchmark")
    data = json.loads(out)
    us = lambda ns: [t / 1e3 for t in ns]
    pairs = [b / a for a, b in zip(data["blocks"]["trusted"],
                                   data["blocks"]["untrusted"])]
    return [Result("network: connect+send+recv+close on loopback (A trusted "
                   "main, B untrusted)", "us", us(data["times"]["trusted"]),
                   us(data["times"]["untrusted"]), ratios=pairs,
                   target=TARGETS["network"])], []


# ---------------------------------------------------------------- pool

def bench_pool(args, builds):
    log(f"pool: {args.jobs} job starts of each kind (build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("pool"), str(args.jobs), str(args.block)],
        what="the pool benchmark")
    data = json.loads(out)
    ms = lambda ns: [t / 1e6 for t in ns]
    return [Result("pool: job start (A subprocess, B sandbox.Pool)", "ms",
                   ms(data["subprocess"]), ms(data["pool"]),
                   target=TARGETS["pool"])], []


# ---------------------------------------------------------------- worker

def bench_worker(args, builds):
    starts = max(5, args.jobs // 10)
    log(f"worker: {args.jobs} job starts of each kind, {starts} cold "
        f"starts of a worker (build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("worker"), str(args.jobs), str(args.block),
         str(starts)], what="the worker benchmark")
    data = json.loads(out)
    ms = lambda ns: [t / 1e6 for t in ns]
    mib = lambda sizes: [n / 2**20 for n in sizes]
    return [Result("worker: warm job start (A subprocess, B worker)", "ms",
                   ms(data["subprocess"]), ms(data["worker"]),
                   target=TARGETS["worker"]),
            Result("worker: warm job start (A interpreter in the host, "
                   "B worker)", "ms", ms(data["interpreter"]),
                   ms(data["worker"])),
            Result("worker: a domain's job start through a Pool (A "
                   "subprocess, B Pool(isolation='process'))", "ms",
                   ms(data["subprocess"]), ms(data["pool_worker"]),
                   target=TARGETS["worker"]),
            Result("worker: a domain's job start through a Pool (A "
                   "in-process Pool, B Pool(isolation='process'))", "ms",
                   ms(data["pool_interpreter"]), ms(data["pool_worker"]))], [
        f"worker: cold start of a worker (Interpreter() to its first job): "
        f"median {statistics.median(ms(data['cold'])):.1f} ms, "
        f"min {min(ms(data['cold'])):.1f}, max {max(ms(data['cold'])):.1f}",
        f"worker: RSS of an idle worker: median "
        f"{statistics.median(mib(data['rss'])):.1f} MiB, min "
        f"{min(mib(data['rss'])):.1f}, max {max(mib(data['rss'])):.1f}"]


# ---------------------------------------------------------------- stops

def bench_stops(args, builds):
    log(f"stops: each target {args.stop_runs} times, a limit of "
        f"{args.stop_limit:g} s (build/untrusted/python)")
    out = builds["untrusted"].run(
        ["-I", program("stops"), str(args.stop_runs), str(args.stop_limit)],
        what="the stops benchmark")
    data = json.loads(out)
    lines = []
    for name, late in data.items():
        ms = sorted(t * 1e3 for t in late)
        lines.append(f"stops: {name}: control back {min(ms):.1f} / "
                     f"{statistics.median(ms):.1f} / {max(ms):.1f} ms "
                     f"after the deadline (min / median / max of "
                     f"{len(ms)})")
    return [], lines


# ---------------------------------------------------------------- memory

def bench_memory(args, builds):
    log(f"memory: {args.interpreters} idle interpreters per process, "
        f"{args.memory_samples} processes of each kind")
    per = {"isolated": [], "untrusted": []}
    for k in range(args.memory_samples):
        order = (("isolated", "untrusted") if k % 2 == 0
                 else ("untrusted", "isolated"))
        for kind in order:
            out = builds["untrusted"].run(
                ["-I", program("scale"), "idle", kind,
                 str(args.interpreters)],
                what="the memory benchmark")
            data = json.loads(out)
            mib = (data["after"] - data["before"]) / 1024 / args.interpreters
            per[kind].append(mib)
    pairs = [b / a for a, b in zip(per["isolated"], per["untrusted"])]
    return [Result(f"memory: RSS per idle interpreter, N={args.interpreters} "
                   f"(A isolated, B untrusted)", "MiB", per["isolated"],
                   per["untrusted"], ratios=pairs, spread="minmax")], []


# ---------------------------------------------------------------- callgrind

# The arguments of bench/callgrind_workload.py (repetitions of a workload
# of about one second natively), bench/callgrind_descriptors.py and
# bench/callgrind_paths.py (rounds of calls).
CALLGRIND_REPEAT = 16
CALLGRIND_DESCRIPTOR_CALLS = 20_000
CALLGRIND_PATH_CALLS = 20_000
CALLGRIND_SOCKET_CALLS = 20_000


def callgrind_env():
    # No PYTHON* variables from the caller; a fixed hash seed, so that the
    # dict and set work is the same in every run.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONHASHSEED"] = "0"
    return env


def read_callgrind_total(path):
    """The Ir total of a callgrind.out file ("summary:" or "totals:")."""
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise BenchError(f"no summary: or totals: line in {path}")


def bench_callgrind(args, builds, workdir):
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        log("callgrind: skipped, valgrind is not installed; install it with "
            "'apt-get install -y valgrind' (Debian/Ubuntu, as root)")
        return [], []
    jobs = {
        "startup": ["-s", "-c", "pass"],
        "workload": ["-s", program("callgrind_workload"),
                     str(CALLGRIND_REPEAT)],
        "descriptors": ["-s", program("callgrind_descriptors"),
                        str(CALLGRIND_DESCRIPTOR_CALLS)],
        "paths": ["-s", program("callgrind_paths"),
                  str(CALLGRIND_PATH_CALLS)],
        "sockets": ["-s", program("callgrind_sockets"),
                    str(CALLGRIND_SOCKET_CALLS)],
    }
    log(f"callgrind: {', '.join(jobs)} under both builds "
        f"(deterministic, so one run each; the builds run concurrently)")
    counts = {}
    for job, py_args in jobs.items():
        procs = {}
        for variant in ("trusted", "untrusted"):
            out = os.path.join(workdir, f"callgrind.out.{job}.{variant}")
            cmd = [valgrind, "--tool=callgrind", "-q",
                   f"--callgrind-out-file={out}", "--",
                   builds[variant].python, *py_args]
            log("$ " + shlex.join(cmd))
            procs[variant] = out, subprocess.Popen(
                cmd, env=callgrind_env(), text=True, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, errors="replace")
        prints = {}
        for variant, (out, proc) in procs.items():
            stdout, stderr = proc.communicate()
            if proc.returncode != 0:
                last = (stderr.strip().splitlines() or ["no output"])[-1]
                raise BenchError(f"callgrind run of {builds[variant].python} "
                                 f"failed: {last}")
            counts[job, variant] = read_callgrind_total(out)
            prints[variant] = stdout.strip()
        if prints["trusted"] != prints["untrusted"]:
            log(f"callgrind: WARNING: the {job} printed different output "
                f"under the two builds: {prints}")
    results = []
    for job, what in (("startup", "startup+exit ('-c pass')"),
                      ("workload", "workload (~1 s, incl. startup)"),
                      ("descriptors", f"{CALLGRIND_DESCRIPTOR_CALLS:,} x 5 "
                                      "descriptor calls (incl. startup)"),
                      ("paths", f"{CALLGRIND_PATH_CALLS:,} x 4 path calls "
                                "(incl. startup)"),
                      ("sockets", f"{CALLGRIND_SOCKET_CALLS:,} x 6 socket "
                                  "calls (incl. startup)")):
        a = counts[job, "trusted"]
        b = counts[job, "untrusted"]
        results.append(Result(f"callgrind: {what} (A flag off, B flag on)",
                              "Ir", [a], [b], spread="none",
                              target=TARGETS["callgrind"]
                              if job in ("workload", "sockets") else None))
    return results, []


# ---------------------------------------------------------------- main

def run_part(part, args, builds, tmp):
    """Run one part; return its results and lines to print after the table.

    Another engineer may rebuild a build while we measure.  A part during
    which a build changed mixes two binaries (or failed because files were
    missing for a moment): run it again once the builds are stable."""
    func = {"lifecycle": bench_lifecycle, "kernels": bench_kernels,
            "timelimit": bench_timelimit,
            "memory": bench_memory,
            "pool": bench_pool, "worker": bench_worker,
            "stops": bench_stops, "network": bench_network,
            "callgrind": bench_callgrind}[part]
    extra = (tmp,) if part == "callgrind" else ()
    for attempt in range(3):
        before = {v: b.fingerprint() for v, b in builds.items()}
        error = None
        try:
            found = func(args, builds, *extra)
        except BenchError as e:
            error = e
        changed = [b.python for v, b in builds.items()
                   if b.fingerprint() != before[v]]
        if not changed:
            if error is not None:
                raise error
            return found
        if attempt == 2:
            break
        log(f"{part}: {', '.join(changed)} changed during this part "
            f"(rebuilt?); running the part again once it is stable")
        for b in builds.values():
            b.wait_until_stable()
    raise BenchError(f"{part}: the builds kept changing; giving up")


SUITE_COMMANDS = ("build", "pyperformance", "inside", "alternatives",
                  "scale", "instructions", "report")


def suite_main(argv):
    """The subcommands that measure release builds (benchsuite.py)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import benchsuite
    default_build = os.environ.get("SANDBOX_BUILD_DIR",
                                   os.path.join(ROOT, "build"))
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description="Benchmarks of the release builds (PGO + LTO), flag "
                    "off against flag on.  See Doc/sandbox/benchmarks.rst.")
    sub = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--build-dir", default=default_build,
                        help="where the builds are (default: build/ of the "
                             "checkout, or SANDBOX_BUILD_DIR)")
    sub.add_parser(
        "build", parents=[common],
        help="build the release variants (reused when up to date)",
        description="Build build/release-trusted and "
                    "build/release-untrusted with --enable-optimizations "
                    "--with-lto through Tools/sandbox/build.py, which "
                    "reuses what is up to date, profiles again when the "
                    "sources changed, and prints each stage's time.")
    release = argparse.ArgumentParser(add_help=False)
    release.add_argument("--no-build", action="store_true",
                         help="use the release builds as they are, even if "
                              "the sources changed")
    release.add_argument("--results", metavar="DIR",
                         help="where the dated results folders go "
                              "(default: BUILD_DIR/bench-results)")
    release.add_argument("--publish", action="store_true",
                         help="also copy the tables (and the chart) to "
                              "Doc/sandbox/bench/ for the docs page")
    p = sub.add_parser(
        "pyperformance", parents=[common, release],
        help="pyperformance on both release builds",
        description="Run pyperformance (pinned: "
                    + ", ".join(benchsuite.REQUIREMENTS) + ", installed "
                    "into BUILD_DIR/bench-venv on first use) on the flag-off "
                    "and the flag-on release build with identical options, "
                    "benchmark by benchmark in alternating order, and write "
                    "off.json, on.json, pyperf's compare_to table, a "
                    "summary (ratios with 95 % bootstrap intervals, the "
                    "geometric mean) and chart.png to a dated folder.  As "
                    "root, 'pyperf system tune' runs first and 'pyperf "
                    "system reset' after.",
        epilog="The quick mode runs in about 20 minutes on 2 cores once "
               "the builds and the benchmarks' venvs exist; the full "
               "default suite takes hours (--resume continues it).")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const",
                      const="quick", help="a dozen benchmarks ("
                      + ", ".join(benchsuite.QUICK) + "), --fast (default)")
    mode.add_argument("--full", dest="mode", action="store_const",
                      const="full", help="pyperformance's default suite, "
                      "with its default number of runs")
    p.add_argument("--benchmarks", metavar="LIST",
                   help="comma-separated benchmarks instead of the mode's")
    p.add_argument("--resume", metavar="FOLDER",
                   help="continue a run that was cut short: run the "
                        "benchmarks of FOLDER's run that are missing from "
                        "its off.json or on.json, with its options, and "
                        "report on the whole")
    p.add_argument("--rounds", type=int,
                   help="runs of each benchmark on each build, the order "
                        "alternating from round to round; pyperf merges "
                        "them (default: 3 in the quick mode, 1 in the full "
                        "one)")
    p.add_argument("--fast", action=argparse.BooleanOptionalAction,
                   help="pyperformance's --fast (default: on in the quick "
                        "mode, off in the full one)")
    p.add_argument("--tune", action=argparse.BooleanOptionalAction,
                   default=True,
                   help="run 'pyperf system tune' when root (default: on)")
    p = sub.add_parser(
        "inside", parents=[common, release],
        help="pure-Python benchmarks inside an untrusted interpreter vs "
             "the main interpreter",
        description="Run pyperformance's pure-Python benchmarks ("
                    + ", ".join(benchsuite.INSIDE) + ") in the flag-on "
                    "release build's trusted main interpreter (A) and "
                    "inside an untrusted interpreter of the same process "
                    "(B), rounds alternating in ABBA order "
                    "(Tools/sandbox/bench/inside.py times them as pyperf "
                    "would: loops calibrated to 0.1 s a value, the same on "
                    "both sides), and write outside.json, inside.json "
                    "(pyperf's format), pyperf's table, the summary and "
                    "the chart to a dated folder.")
    p.add_argument("--benchmarks", metavar="LIST",
                   help="comma-separated benchmarks instead of those")
    p.add_argument("--rounds", type=int, default=6,
                   help="rounds of each side (default: 6)")
    p.add_argument("--values", type=int, default=3,
                   help="values per round, after one warm-up value "
                        "(default: 3)")
    p = sub.add_parser(
        "alternatives", parents=[common, release],
        help="what users pick instead, on the same jobs and kernels",
        description="Job latency (create + run sum(range(1000)) + collect "
                    "the result + destroy) and the time of four "
                    "pure-Python kernels (floats, calls, strings, objects) "
                    "in: the main interpreter, a python -I -S subprocess "
                    "per job, " + benchsuite.RESTRICTEDPYTHON + " (installed "
                    "from the package index on first use) and a plain "
                    "isolated subinterpreter, all in the flag-off release "
                    "build; an untrusted interpreter, sandbox.Interpreter, "
                    "sandbox.Pool and sandbox.Pool(isolation='process') in "
                    "the flag-on one.  Rounds run the kinds in alternating "
                    "order (Tools/sandbox/bench/alternatives.py).")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of every kind (default: 3)")
    p.add_argument("--jobs", type=int, default=20,
                   help="timed jobs of each kind a round (default: 20)")
    p.add_argument("--kernel-rounds", type=int, default=3,
                   help="runs of each kernel a round (default: 3)")
    p = sub.add_parser(
        "scale", parents=[common, release],
        help="idle interpreters per process, and jobs per second",
        description="The RSS and descriptors of N idle interpreters held "
                    "at once in one process, isolated and untrusted; jobs "
                    "per second through sandbox.Pool (in process and "
                    "isolation 'process') from two host threads, against "
                    "a process per job (Tools/sandbox/bench/scale.py), in "
                    "the flag-on release build.")
    def numbers(value):
        try:
            return [int(x) for x in value.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is not a comma-separated list of numbers")
    p.add_argument("--idle", type=numbers,
                   default=[100, 1000], metavar="N,N",
                   help="numbers of idle interpreters (default: 100,1000)")
    p.add_argument("--jobs", type=int, default=200,
                   help="jobs a round (default: 200)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of each kind (default: 3)")
    p = sub.add_parser(
        "instructions", parents=[common, release],
        help="callgrind's instruction counts of the quick subset, both "
             "builds, and what moved since the previous results",
        description="Count the instructions (callgrind's Ir) of each "
                    "benchmark of the quick subset in both release builds: "
                    "a run of 3 loops less a run of 1 (so the start, the "
                    "imports and the set-up cancel out), PYTHONHASHSEED=0. "
                    "Writes instructions.json to a dated folder and prints "
                    "the benchmarks that moved more than 0.5 % since the "
                    "newest earlier instructions.json under the results "
                    "folder.  Needs valgrind.")
    p.add_argument("--benchmarks", metavar="LIST",
                   help="comma-separated benchmarks instead of the quick "
                        "subset (they must need nothing but pyperf)")
    p = sub.add_parser(
        "report", parents=[common],
        help="the summary and chart of a results folder, again",
        description="Write summary.txt, summary.json, compare.txt and "
                    "chart.png of a results folder again from its "
                    "off.json and on.json.")
    p.add_argument("folder", help="a folder that bench.py pyperformance "
                                  "wrote")
    p.add_argument("--publish", action="store_true",
                   help="also copy them to Doc/sandbox/bench/")
    args = parser.parse_args(argv)
    args.build_dir = os.path.abspath(args.build_dir)
    if args.command == "pyperformance":
        if args.resume and (args.mode or args.benchmarks
                            or args.fast is not None):
            parser.error("--resume continues a run with its own mode, "
                         "benchmarks and options: give none of them")
        if args.resume and args.rounds is not None:
            parser.error("--resume continues a run with its own rounds")
        args.mode = args.mode or "quick"
        if args.fast is None:
            args.fast = args.mode == "quick"
        if args.rounds is None:
            args.rounds = 3 if args.mode == "quick" else 1
    for name in ("rounds", "values", "jobs", "kernel_rounds"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if any(n < 1 for n in getattr(args, "idle", ())):
        parser.error("--idle: each number must be at least 1")
    if args.command in ("pyperformance", "inside", "alternatives", "scale",
                        "instructions"):
        args.results = os.path.abspath(
            args.results or os.path.join(args.build_dir, "bench-results"))
    try:
        if args.command == "build":
            benchsuite.build_release(args.build_dir)
            return 0
        if args.command == "report":
            return benchsuite.cmd_report(args)
        if args.command == "inside":
            return benchsuite.cmd_inside(args)
        if args.command == "alternatives":
            return benchsuite.cmd_alternatives(args)
        if args.command == "scale":
            return benchsuite.cmd_scale(args)
        if args.command == "instructions":
            return benchsuite.cmd_instructions(args)
        return benchsuite.cmd_pyperformance(args)
    except benchsuite.SuiteError as e:
        print(f"bench.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # "--build-dir DIR SUBCOMMAND ...", as build.py takes it: the option
    # goes after the subcommand.
    lead = 2 if argv[:1] == ["--build-dir"] else (
        1 if argv[:1] and argv[0].startswith("--build-dir=") else 0)
    if lead and len(argv) > lead and argv[lead] in SUITE_COMMANDS:
        argv = [argv[lead]] + argv[:lead] + argv[lead + 1:]
    if argv and argv[0] in SUITE_COMMANDS:
        return suite_main(argv)
    if argv and argv[0] == "micro":
        argv = argv[1:]
    parser = argparse.ArgumentParser(
        prog="bench.py [micro]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(__doc__.split("\n\n", 1)[1]),
        epilog=textwrap.fill(
            "Example: Tools/sandbox/bench.py --only lifecycle.  The table "
            "has one line per measurement: median A, median B, the ratio "
            "B/A of the medians, the target from the issue, and the "
            "spread: interquartile range (or min-max, for few samples) of "
            "each side, and of the ratios of paired samples (interleaved "
            "blocks, processes or rounds)."))
    parser.add_argument("--build-dir", default=os.environ.get(
        "SANDBOX_BUILD_DIR", os.path.join(ROOT, "build")),
        help="where the builds are: BUILD_DIR/untrusted/python and "
             "BUILD_DIR/trusted/python (default: build/ of the checkout, "
             "or SANDBOX_BUILD_DIR)")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only this part (repeatable)")
    g = parser.add_argument_group("lifecycle")
    g.add_argument("--cycles", type=int, default=200,
                   help="timed create+pass+destroy cycles of each kind "
                        "(default: 200)")
    g.add_argument("--block", type=int, default=10,
                   help="cycles per block; blocks of the two kinds "
                        "alternate (default: 10)")
    g.add_argument("--warmup", type=int, default=10,
                   help="untimed cycles of each kind first (default: 10)")
    g = parser.add_argument_group("kernels")
    g.add_argument("--kernel-rounds", type=int, default=20,
                   help="rounds of the kernels (and of the timelimit "
                        "part's) in each kind of interpreter, alternating "
                        "(default: 20)")
    g = parser.add_argument_group("stops")
    g.add_argument("--stop-runs", type=int, default=5,
                   help="runs of each target (default 5)")
    g.add_argument("--stop-limit", type=float, default=0.5,
                   help="the jobs' time limit in seconds (default 0.5)")
    g = parser.add_argument_group("network")
    g.add_argument("--net-rounds", type=int, default=1000,
                   help="loopback round trips of each kind, alternating in "
                        "blocks of 50 (default: 1000)")
    g = parser.add_argument_group("memory")
    g.add_argument("--interpreters", type=int, default=20,
                   help="idle interpreters created per process (default: 20)")
    g.add_argument("--memory-samples", type=int, default=5,
                   help="processes of each kind, alternating (default: 5)")
    g = parser.add_argument_group("pool")
    g.add_argument("--jobs", type=int, default=100,
                   help="timed job starts of each kind (default: 100)")
    g = parser.add_argument_group("callgrind")
    g.add_argument("--callgrind", action=argparse.BooleanOptionalAction,
                   default=True,
                   help="count the instructions of a pure-Python workload "
                        "under valgrind's callgrind, flag on vs off (about "
                        "two minutes; default: on)")
    args = parser.parse_args(argv)
    for name in ("cycles", "block", "interpreters", "memory_samples",
                 "jobs", "stop_runs", "kernel_rounds",
                 "net_rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 < args.stop_limit <= 60:
        parser.error("--stop-limit must be more than 0 and at most 60")
    args.build_dir = os.path.abspath(args.build_dir)
    if args.only:
        parts = [p for p in PARTS if p in args.only]
    else:
        parts = [p for p in PARTS
                 if p != "callgrind" or args.callgrind]

    start = time.monotonic()
    results = []
    notes = []
    try:
        builds = check_builds(args)
        with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
            for part in parts:
                res, more = run_part(part, args, builds, tmp)
                results += res
                notes += more
    except BenchError as e:
        print(f"bench.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    print()
    print(f"A = baseline, B = candidate; flag on = "
          f"{builds['untrusted'].python}, flag off = "
          f"{builds['trusted'].python}")
    print_table(results)
    if notes:
        print()
        for line in notes:
            print(line)
    print()
    print(f"total wall time: {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
