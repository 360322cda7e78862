"""bench.py's release subcommands: PGO+LTO builds of both variants, and
pyperformance run on them through pyperf, with the comparison, its
statistics and a chart kept in a dated results folder.

Like bench.py, this module runs on any Python 3.11+ with the standard
library only.  pyperformance, pyperf and matplotlib live in a venv of
their own (build/bench-venv, pinned versions, made on first use); the
chart is drawn by Tools/sandbox/bench/chart.py with that venv's Python.
"""

import datetime
import itertools
import json
import math
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PROGRAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench")
BUILD_PY = os.path.join(ROOT, "Tools", "sandbox", "build.py")

# What the release benchmarks install into their venv, pinned: a result is
# comparable with an earlier one only when the tools are the same.
REQUIREMENTS = ("pyperformance==1.14.0", "pyperf==2.11.0",
                "matplotlib==3.11.2")

# The release builds (Tools/sandbox/build.py's variants): A and B.
RELEASE = {"off": "release-trusted", "on": "release-untrusted"}

# The quick mode: a dozen benchmarks of the default suite that cover
# calls and objects (richards, deltablue, chaos, go), floats (nbody,
# float), the eval loop's fast paths (unpack_sequence), C code driven from
# Python (json_dumps, regex_v8), pickling in Python, coroutines, and the
# file system calls that the flag-on build hooks (pathlib).
QUICK = ("unpack_sequence", "nbody", "richards", "float", "chaos",
         "deltablue", "go", "json_dumps", "regex_v8", "pathlib",
         "pickle_pure_python", "coroutines")

# The ratio a benchmark may move by before the summary calls it out, and
# the band the chart draws around 1.
BAND = 0.01
BOOTSTRAP = 1000


class SuiteError(Exception):
    """A failure explained to the user in one line, without traceback."""


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ builds

def build_release(build_dir, verbose=True):
    """Build (or bring up to date) both release variants with build.py,
    which reuses what is up to date and prints the stages' times."""
    cmd = [sys.executable, BUILD_PY, "--build-dir", build_dir, "build",
           RELEASE["off"], RELEASE["on"]]
    log("$ " + shlex.join(cmd))
    start = time.monotonic()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SuiteError(f"the release builds failed (exit status "
                         f"{proc.returncode}); see the output above")
    log(f"release builds ready in {time.monotonic() - start:.0f} s")


def release_pythons(build_dir):
    """{"off": path, "on": path} of the built release interpreters."""
    found = {}
    for side, variant in RELEASE.items():
        exe = os.path.join(build_dir, variant, "python")
        if not os.access(exe, os.X_OK):
            raise SuiteError(f"{exe} is missing; build it with "
                             f"'Tools/sandbox/bench.py build'")
        found[side] = exe
    return found


# -------------------------------------------------------------------- venv

def ensure_venv(build_dir):
    """build/bench-venv with REQUIREMENTS; return its Python."""
    venv = os.path.join(build_dir, "bench-venv")
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, "requirements.txt")
    wanted = "\n".join(REQUIREMENTS) + "\n"
    try:
        with open(marker) as f:
            if f.read() == wanted and os.access(python, os.X_OK):
                return python
    except FileNotFoundError:
        pass
    log(f"installing {', '.join(REQUIREMENTS)} into {venv} from the "
        f"package index")
    if not os.access(python, os.X_OK):
        run_quiet([sys.executable, "-m", "venv", venv], "creating the venv")
    run_quiet([python, "-m", "pip", "install", "-q", *REQUIREMENTS],
              "pip install")
    with open(marker + ".tmp", "w") as f:
        f.write(wanted)
    os.replace(marker + ".tmp", marker)
    return python


def run_quiet(cmd, what, cwd=None, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, errors="replace",
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        last = (proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise SuiteError(f"{what} failed ({shlex.join(cmd)}): {last}")
    return proc.stdout


def run_json(cmd, what, env=None):
    """Run a program of Tools/sandbox/bench/ that prints its results as
    JSON on its last line of output; return them."""
    proc = subprocess.run(cmd, env=env, text=True, errors="replace",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = proc.stdout.strip().splitlines()
    try:
        if proc.returncode == 0 and lines:
            return json.loads(lines[-1])
    except ValueError:
        pass
    last = (proc.stderr.strip().splitlines()
            or lines or ["no output"])[-1]
    raise SuiteError(f"{what} failed (exit status {proc.returncode}, "
                     f"{shlex.join(cmd)}): {last}")


def venv_tool(venv_python, name):
    return os.path.join(os.path.dirname(venv_python), name)


# ----------------------------------------------------------------- machine

def command_output(cmd, cwd=None):
    try:
        proc = subprocess.run(cmd, cwd=cwd, text=True, errors="replace",
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"({cmd[0]}: {e})"
    return proc.stdout.strip()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_description(pythons):
    """What the results were measured on, for the results folder."""
    commit = command_output(["git", "rev-parse", "HEAD"], cwd=ROOT)
    dirty = command_output(["git", "status", "--porcelain",
                            "--untracked-files=no"], cwd=ROOT)
    desc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": platform.platform(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
        "builds": {},
    }
    probe = ("import sys, sysconfig; print(sys.version.split()[0]); "
             "print(sysconfig.get_config_var('CC')); "
             "print(sysconfig.get_config_var('CONFIG_ARGS'))")
    for side, exe in pythons.items():
        out = command_output([exe, "-I", "-c", probe]).splitlines() + [""] * 3
        cc = out[1].split()[-1] if out[1].split() else "cc"
        if cc == "gcc" or cc.endswith("gcc"):
            version = command_output([cc, "--version"]).splitlines()
        else:
            version = [cc]
        desc["builds"][side] = {
            "python": exe, "version": out[0],
            "compiler": version[0] if version else cc,
            "configure": out[2]}
    return desc


def format_machine(desc):
    lines = [f"date: {desc['date']}", f"CPU: {desc['cpu']}",
             f"cores: {desc['cores']}", f"kernel: {desc['kernel']}",
             f"OS: {desc['os']}", f"commit: {desc['commit']}"]
    for side, b in desc["builds"].items():
        lines.append(f"flag {side}: {b['python']} (Python {b['version']}, "
                     f"{b['compiler']})")
        lines.append(f"  configure {b['configure']}")
    if desc.get("tune"):
        lines.append(f"pyperf system tune: {desc['tune']}")
    return "\n".join(lines) + "\n"


def system_tune(venv_python, folder, enable):
    """Let pyperf tune the system when root (CPU frequency, turbo, ...);
    keep what it said.  Returns a one-line summary."""
    pyperf = venv_tool(venv_python, "pyperf")
    if not enable:
        what, cmd = "not tuned (--no-tune)", [pyperf, "system", "show"]
    elif os.geteuid() != 0:
        what, cmd = "not tuned (not root)", [pyperf, "system", "show"]
    else:
        what, cmd = "tuned", [pyperf, "system", "tune"]
    out = command_output(cmd)
    with open(os.path.join(folder, "system.txt"), "a") as f:
        f.write(f"$ {shlex.join(cmd)}\n{out}\n")
    errors = [line.strip() for line in out.splitlines()
              if line.startswith(("ERROR", "WARNING"))]
    if errors:
        what += f"; {len(errors)} of pyperf's checks complained, e.g. " \
                f"{errors[0]!r} (see system.txt)"
    return what


def system_reset(venv_python, folder):
    out = command_output([venv_tool(venv_python, "pyperf"), "system",
                          "reset"])
    with open(os.path.join(folder, "system.txt"), "a") as f:
        f.write(f"\n$ pyperf system reset\n{out}\n")


# ------------------------------------------------------------------- runs

def suite_benchmarks(venv_python, mode, names):
    if names:
        return [n for n in names.split(",") if n]
    if mode == "quick":
        return list(QUICK)
    out = run_quiet([venv_tool(venv_python, "pyperformance"), "list",
                     "-b", "default"], "pyperformance list")
    found = [line[2:].strip() for line in out.splitlines()
             if line.startswith("- ")]
    if not found:
        raise SuiteError("pyperformance list printed no benchmark")
    return found


def run_pyperformance(args, venv_python, pythons, folder, names):
    """Run each benchmark on both builds, one after the other, the order
    alternating from benchmark to benchmark and from round to round
    (drifts of the machine's load hit both alike), appending to off.json
    and on.json (pyperf merges the runs of a benchmark's rounds)."""
    exe = venv_tool(venv_python, "pyperformance")
    workdir = os.path.join(os.path.dirname(os.path.dirname(venv_python)),
                           "work")
    os.makedirs(workdir, exist_ok=True)
    options = ["--fast"] if args.fast else []
    cpus = os.cpu_count() or 1
    if cpus >= 2:
        # The benchmarks on the last CPU, the rest of the machine on the
        # others.
        options += ["--affinity", str(cpus - 1)]
    commands, failed = [], []
    start = time.monotonic()
    # What ran to the end, a line "ROUND SIDE BENCHMARK" each (the names
    # that pyperf writes into the JSON files are not always
    # pyperformance's): a resumed run skips exactly those.
    progress = os.path.join(folder, "progress.txt")
    try:
        with open(progress) as f:
            done = set(line.strip() for line in f)
    except FileNotFoundError:
        done = set()
    rounds = getattr(args, "rounds", 1)
    jobs = [(r, i, name) for r in range(rounds)
            for i, name in enumerate(names)]
    logs = open(os.path.join(folder, "pyperformance.log"), "a")
    with logs:
        for k, (r, i, name) in enumerate(jobs):
            order = ("off", "on") if (i + r) % 2 == 0 else ("on", "off")
            order = [side for side in order
                     if f"{r} {side} {name}" not in done]
            if not order:
                continue
            took = {"off": 0.0, "on": 0.0}
            for side in order:
                out = os.path.join(folder, f"{side}.json")
                cmd = [exe, "run", *options, "-p", pythons[side], "-b", name,
                       "--append", out]
                commands.append(shlex.join(cmd))
                logs.write(f"$ {commands[-1]}\n")
                logs.flush()
                t = time.monotonic()
                proc = subprocess.run(cmd, cwd=workdir, stdout=logs,
                                      stderr=subprocess.STDOUT)
                took[side] = time.monotonic() - t
                if proc.returncode != 0:
                    failed.append(f"{name} (flag {side}, exit status "
                                  f"{proc.returncode})")
                else:
                    with open(progress, "a") as f:
                        f.write(f"{r} {side} {name}\n")
            elapsed = time.monotonic() - start
            left = elapsed / (k + 1) * (len(jobs) - k - 1)
            log(f"[{k + 1}/{len(jobs)}] {name}: flag off "
                f"{took['off']:.0f} s, flag on {took['on']:.0f} s "
                f"(elapsed {elapsed / 60:.0f} min, about "
                f"{left / 60:.0f} min left)")
    with open(os.path.join(folder, "commands.txt"), "a") as f:
        f.write(f"# in {workdir}\n" + "\n".join(commands) + "\n")
    return failed


# -------------------------------------------------------------- statistics

def read_runs(path):
    """{benchmark: [[values of a run (a pyperf process)], ...]} of a pyperf
    JSON file, in seconds (the calibration runs, which have no values,
    left out)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise SuiteError(f"{path} cannot be read ({e}); a run interrupted "
                         f"while pyperf wrote it?")
    found = {}
    for bench in data.get("benchmarks", ()):
        meta = dict(data.get("metadata", {}), **bench.get("metadata", {}))
        for run in bench.get("runs", ()):
            if run.get("values"):
                found.setdefault(meta["name"], []).append(
                    list(run["values"]))
    return found


def percentile(sorted_values, q):
    """The q-th quantile (0..1) of sorted values, by linear interpolation."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (
        pos - lo)


def resampled_mean(rng, runs):
    """The mean of one bootstrap resample of *runs*, in two stages: runs
    drawn with replacement, then values within each drawn run.  The values
    of one process (or one round) are alike; resampling runs whole keeps
    the variation between processes and rounds in the interval."""
    total = count = 0
    for run in rng.choices(runs, k=len(runs)):
        drawn = rng.choices(run, k=len(run))
        total += sum(drawn)
        count += len(drawn)
    return total / count


def compare(a, b, resamples=BOOTSTRAP, seed=0):
    """The comparison of two {benchmark: [[values of a run], ...]} maps:
    per benchmark the ratio of the means B/A with a 95 % interval from a
    two-stage bootstrap (runs, then values within them: resampled_mean()),
    and the geometric mean of the ratios with its own interval (all
    benchmarks resampled together in each round).  A benchmark differs
    significantly when its interval excludes 1."""
    rng = random.Random(seed)
    names = [n for n in a if n in b]
    rows = []
    boot = {n: [] for n in names}
    for _ in range(resamples):
        for n in names:
            boot[n].append(resampled_mean(rng, b[n])
                           / resampled_mean(rng, a[n]))
    runs_a, runs_b = a, b
    a = {n: [v for run in runs for v in run] for n, runs in runs_a.items()}
    b = {n: [v for run in runs for v in run] for n, runs in runs_b.items()}
    geo_boot = []
    for r in range(resamples):
        geo_boot.append(math.exp(statistics.fmean(
            math.log(boot[n][r]) for n in names)) if names else 1.0)
    for n in names:
        ratio = statistics.fmean(b[n]) / statistics.fmean(a[n])
        s = sorted(boot[n])
        lo, hi = percentile(s, 0.025), percentile(s, 0.975)
        rows.append({
            "name": n, "a_mean": statistics.fmean(a[n]),
            "b_mean": statistics.fmean(b[n]),
            "a_stdev": statistics.stdev(a[n]) if len(a[n]) > 1 else 0.0,
            "b_stdev": statistics.stdev(b[n]) if len(b[n]) > 1 else 0.0,
            "a_n": len(a[n]), "b_n": len(b[n]),
            "a_runs": len(runs_a[n]), "b_runs": len(runs_b[n]),
            "ratio": ratio, "low": lo, "high": hi,
            "significant": not lo <= 1.0 <= hi})
    geo = (math.exp(statistics.fmean(math.log(r["ratio"]) for r in rows))
           if rows else None)
    g = sorted(geo_boot)
    return {
        "benchmarks": rows,
        "geomean": geo,
        "geomean_low": percentile(g, 0.025) if rows else None,
        "geomean_high": percentile(g, 0.975) if rows else None,
        "only_a": sorted(set(a) - set(b)),
        "only_b": sorted(set(b) - set(a)),
        "resamples": resamples,
    }


def format_seconds(value):
    """A duration with three or four significant digits and its unit."""
    for unit, scale in (("s", 1), ("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        x = value * scale
        if x >= 0.9995 or unit == "ns":
            digits = 0 if x >= 100 else 1 if x >= 10 else 2
            return f"{x:.{digits}f} {unit}"


def format_summary(result, labels=("flag off", "flag on")):
    """The table of a comparison, then the geomean and what differs."""
    rows = sorted(result["benchmarks"], key=lambda r: r["name"])
    wa, wb = (max(10, len(label)) for label in labels)
    head = (f"{'benchmark':28} {labels[0]:>{wa}} {labels[1]:>{wb}} "
            f"{'ratio':>7}  {'95 % interval':15} sig.")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['name'][:28]:28} {format_seconds(r['a_mean']):>{wa}} "
            f"{format_seconds(r['b_mean']):>{wb}} {r['ratio']:7.3f}  "
            f"{r['low']:.3f}-{r['high']:.3f}     "
            f"{'yes' if r['significant'] else ''}")
    lines.append("")
    if result["geomean"] is not None:
        lines.append(
            f"geometric mean of the ratios ({labels[1]} / {labels[0]}): "
            f"{result['geomean']:.4f}, 95 % interval "
            f"{result['geomean_low']:.4f}-{result['geomean_high']:.4f} "
            f"({len(rows)} benchmarks; bootstrap, {result['resamples']} "
            f"resamples of each benchmark's runs and of their values)")
    sig = sorted((r for r in rows if r["significant"]),
                 key=lambda r: r["ratio"])
    moved = [r for r in sig if abs(r["ratio"] - 1) > BAND]
    lines.append(f"significantly different (interval excludes 1): "
                 f"{len(sig)} of {len(rows)}; by more than "
                 f"{BAND:.0%}: {len(moved)}"
                 + "".join(f"\n  {r['name']}: {r['ratio']:.3f} "
                           f"({r['low']:.3f}-{r['high']:.3f})"
                           for r in moved))
    for key, label in (("only_a", labels[0]), ("only_b", labels[1])):
        if result[key]:
            lines.append(f"only measured with {label}: "
                         + ", ".join(result[key]))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------- the run

def results_folder(base, mode):
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    for n in itertools.count():
        folder = os.path.join(base, f"{stamp}{f'.{n}' if n else ''}-{mode}")
        try:
            os.makedirs(folder)
            return folder
        except FileExistsError:
            continue


def write_json(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(path + ".tmp", path)


# The two sides of each kind of results folder: the files, and their
# labels in the tables and the chart.
SIDES = {
    "pyperformance": (("off.json", "on.json"), ("flag off", "flag on")),
    "inside": (("outside.json", "inside.json"),
               ("main interpreter", "untrusted")),
}


def folder_kind(folder):
    for kind, (files, _) in SIDES.items():
        if os.path.isfile(os.path.join(folder, files[0])):
            return kind
    raise SuiteError(f"{folder} has neither off.json nor outside.json: not "
                     f"a results folder of bench.py")


def report(venv_python, folder):
    """From the two sides' pyperf JSON files of *folder*: pyperf's own
    table (compare.txt), our summary (summary.txt, summary.json) and the
    chart (chart.png).  Returns the summary's text."""
    kind = folder_kind(folder)
    (file_a, file_b), labels = SIDES[kind]
    a = read_runs(os.path.join(folder, file_a))
    b = read_runs(os.path.join(folder, file_b))
    if not a or not b:
        raise SuiteError(f"no benchmark values in {folder}/{file_a} and "
                         f"{file_b}; see the log in {folder}")
    result = compare(a, b)
    result["labels"] = list(labels)
    result["title"] = kind
    machine = os.path.join(folder, "machine.json")
    if os.path.exists(machine):
        with open(machine) as f:
            result["machine"] = json.load(f)
    write_json(os.path.join(folder, "summary.json"), result)
    text = format_summary(result, labels)
    with open(os.path.join(folder, "summary.txt"), "w") as f:
        f.write(text)
    pyperf = venv_tool(venv_python, "pyperf")
    cmd = ["compare_to", "--table", "--table-format", "md", file_a, file_b]
    table = command_output([pyperf, *cmd], cwd=folder)
    with open(os.path.join(folder, "compare.txt"), "w") as f:
        f.write(f"$ pyperf {shlex.join(cmd)}\n{table}\n")
    run_quiet([venv_python, os.path.join(PROGRAMS, "chart.py"),
               os.path.join(folder, "summary.json"),
               os.path.join(folder, "chart.png")], "drawing the chart")
    return text


def prepare_run(args, mode):
    """Builds, venv, results folder and the machine's description."""
    if not args.no_build:
        build_release(args.build_dir)
    pythons = release_pythons(args.build_dir)
    venv_python = ensure_venv(args.build_dir)
    folder = results_folder(args.results, mode)
    log(f"results in {folder}")
    return pythons, venv_python, folder, machine_description(pythons)


def write_machine(folder, desc):
    write_json(os.path.join(folder, "machine.json"), desc)
    with open(os.path.join(folder, "machine.txt"), "w") as f:
        f.write(format_machine(desc))


def resume_run(args):
    """The builds, the venv, the folder and the description of the run
    that args.resume names; its mode, options and benchmarks are kept."""
    folder = os.path.abspath(args.resume)
    try:
        with open(os.path.join(folder, "machine.json")) as f:
            desc = json.load(f)
        names, fast = desc["benchmarks"], desc["options"] == "--fast"
        if desc.get("mode") not in ("quick", "full"):
            raise KeyError("mode")
        args.rounds = desc.get("rounds", 1)
    except (OSError, ValueError, KeyError):
        raise SuiteError(f"{folder} is not a results folder of 'bench.py "
                         f"pyperformance' (no readable machine.json)")
    if not args.no_build:
        build_release(args.build_dir)
    pythons = release_pythons(args.build_dir)
    if desc.get("commit") != machine_description(pythons)["commit"]:
        log(f"resuming a run of commit {desc.get('commit')}")
    args.fast, args.mode = fast, desc.get("mode", "full")
    log(f"resuming {folder}")
    return pythons, ensure_venv(args.build_dir), folder, desc, names


def cmd_pyperformance(args):
    if args.resume:
        pythons, venv_python, folder, desc, names = resume_run(args)
    else:
        pythons, venv_python, folder, desc = prepare_run(args, args.mode)
        names = suite_benchmarks(venv_python, args.mode, args.benchmarks)
        desc["mode"] = args.mode
        desc["options"] = ("--fast" if args.fast
                           else "(pyperformance's defaults)")
        desc["rounds"] = args.rounds
        desc["benchmarks"] = names
    desc["tune"] = system_tune(venv_python, folder, args.tune)
    write_machine(folder, desc)
    log(f"{len(names)} benchmarks, {desc['options']}, pyperf: "
        f"{desc['tune']}")
    start = time.monotonic()
    try:
        failed = run_pyperformance(args, venv_python, pythons, folder, names)
    finally:
        if args.tune and os.geteuid() == 0:
            system_reset(venv_python, folder)
    for side in ("off", "on"):
        if not os.path.isfile(os.path.join(folder, f"{side}.json")):
            raise SuiteError(f"no benchmark ran on the flag-{side} build "
                             f"({', '.join(failed)}); see "
                             f"{folder}/pyperformance.log")
    text = report(venv_python, folder)
    if failed:
        text += "failed: " + ", ".join(failed) + " (see pyperformance.log)\n"
    return finish(args, folder, desc, text, start)


# Where the docs page finds the latest published results.
PUBLISHED = os.path.join(ROOT, "Doc", "sandbox", "bench")


def publish(folder):
    """Copy the chart, the summary, pyperf's table and the machine's
    description to Doc/sandbox/bench/, which benchmarks.rst includes."""
    mode = folder.rstrip("/").rsplit("-", 1)[-1]
    prefix = "inside" if mode == "inside" else f"pyperformance-{mode}"
    publish_files(folder, prefix, ("chart.png", "summary.txt",
                                   "compare.txt", "machine.txt"))


def cmd_report(args):
    """Write the report of an existing results folder again."""
    folder_kind(args.folder)
    venv_python = ensure_venv(args.build_dir)
    text = report(venv_python, args.folder)
    print(text)
    if args.publish:
        publish(args.folder)
    return 0


# ------------------------------------------------------------------ inside

# The pure-Python benchmarks of pyperformance that the "inside"
# subcommand runs in an untrusted interpreter and in the main one.
INSIDE = ("nbody", "richards", "float", "chaos", "spectral_norm",
          "json_dumps", "regex_v8", "deltablue", "go", "hexiom", "raytrace",
          "unpack_sequence")


def benchmark_sources(venv_python, names):
    """{name: {"path": its run_benchmark.py, "args": [its extra options]}}
    in the installed pyperformance, as its MANIFEST says: "<local>" is
    the benchmark's own folder, "<local:OTHER>" another's, with the
    options of bm_OTHER/bm_NAME.toml."""
    import tomllib
    out = run_quiet([venv_python, "-c", "import os, pyperformance; print("
                     "os.path.dirname(pyperformance.__file__))"],
                    "finding pyperformance's benchmarks")
    base = os.path.join(out.strip(), "data-files", "benchmarks")
    manifest = {}
    with open(os.path.join(base, "MANIFEST")) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[1].startswith("<local"):
                manifest[parts[0]] = parts[1]
    found = {}
    for name in names:
        where = manifest.get(name)
        if where is None:
            raise SuiteError(f"pyperformance has no benchmark {name!r} "
                             f"(not in {base}/MANIFEST)")
        folder = where[len("<local:"):-1] if ":" in where else name
        path = os.path.join(base, f"bm_{folder}", "run_benchmark.py")
        args = []
        meta = os.path.join(base, f"bm_{folder}", f"bm_{name}.toml")
        if folder != name and os.path.isfile(meta):
            with open(meta, "rb") as f:
                args = tomllib.load(f).get("tool", {}).get(
                    "pyperformance", {}).get("extra_opts", [])
        if not os.path.isfile(path):
            raise SuiteError(f"{path} is missing")
        found[name] = {"path": path, "args": list(args)}
    return found


def pyperf_suite(values, loops, metadata):
    """A pyperf JSON document (format 1.0) of {name: [[values of a
    round], ...]}, one run per round, values in seconds per iteration."""
    now = datetime.datetime.now().isoformat(sep=" ")
    benchmarks = []
    for name, rounds in values.items():
        benchmarks.append({
            "metadata": {"name": name, "unit": "second",
                         "loops": loops[name][0],
                         "inner_loops": loops[name][1]},
            "runs": [{"metadata": {"date": now}, "values": r}
                     for r in rounds]})
    return {"version": "1.0", "metadata": metadata, "benchmarks": benchmarks}


def cmd_inside(args):
    pythons, venv_python, folder, desc = prepare_run(args, "inside")
    names = [n for n in (args.benchmarks or ",".join(INSIDE)).split(",")
             if n]
    spec = os.path.join(folder, "spec.json")
    write_json(spec, benchmark_sources(venv_python, names))
    desc.update(mode="inside", benchmarks=names,
                options=f"{args.rounds} rounds x {args.values} values, "
                        f"loops calibrated to 0.1 s a value")
    write_machine(folder, desc)
    cmd = [pythons["on"], "-I", os.path.join(PROGRAMS, "inside.py"), spec,
           str(args.rounds), str(args.values)]
    log(f"{len(names)} benchmarks, {desc['options']}, in the flag-on "
        f"release build: $ {shlex.join(cmd)}")
    start = time.monotonic()
    with open(os.path.join(folder, "inside.log"), "w") as errors:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=errors,
                              text=True)
    if proc.returncode != 0:
        raise SuiteError(f"the inside benchmark failed (exit status "
                         f"{proc.returncode}); see {folder}/inside.log")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise SuiteError(f"the inside benchmark printed no results; see "
                         f"{folder}/inside.log")
    loops = {n: (d["loops"], d["inner_loops"]) for n, d in data.items()}
    per_round = args.values
    for side, file in (("A", "outside.json"), ("B", "inside.json")):
        rounds = {n: [d[side][i:i + per_round]
                      for i in range(0, len(d[side]), per_round)]
                  for n, d in data.items()}
        write_json(os.path.join(folder, file), pyperf_suite(
            rounds, loops, {"description": "Tools/sandbox/bench/inside.py: "
                            + ("the trusted main interpreter" if side == "A"
                               else "an untrusted interpreter")}))
    text = report(venv_python, folder)
    return finish(args, folder, desc, text, start)


# ------------------------------------------------------------ alternatives

# RestrictedPython, for the alternatives: installed into its own folder
# (a pure-Python wheel) and put on the flag-off build's PYTHONPATH.
RESTRICTEDPYTHON = "RestrictedPython==9.0"

# Each kind of the alternatives (Tools/sandbox/bench/alternatives.py):
# the build that runs it, and how the tables name it.
ALTERNATIVES = (
    ("main", "off", "main interpreter, no protection (flag off)"),
    ("subprocess", "off", "python -I -S subprocess per job (flag off)"),
    ("restrictedpython", "off", "RestrictedPython 9.0 (flag off)"),
    ("isolated", "off", "isolated subinterpreter, no protection (flag off)"),
    ("untrusted", "on", "untrusted interpreter (_sandbox, flag on)"),
    ("interpreter", "on", "sandbox.Interpreter (flag on)"),
    ("pool", "on", "sandbox.Pool, in process (flag on)"),
    ("worker", "on", "sandbox.Pool, isolation process (flag on)"),
)
KERNEL_NAMES = ("floats", "calls", "strings", "objects")


def install_target(venv_python, folder, requirement):
    """*requirement* (a pure-Python wheel) installed alone into *folder*
    beside the venv, for a build's PYTHONPATH; reused while the pin is
    the same.  Returns the folder."""
    target = os.path.join(os.path.dirname(os.path.dirname(venv_python)),
                          folder)
    marker = os.path.join(target, "requirement.txt")
    try:
        with open(marker) as f:
            if f.read() == requirement:
                return target
    except FileNotFoundError:
        pass
    log(f"installing {requirement} into {target}")
    shutil.rmtree(target, ignore_errors=True)
    run_quiet([venv_python, "-m", "pip", "install", "-q", "--no-deps",
               "--target", target, requirement], "pip install")
    with open(marker, "w") as f:
        f.write(requirement)
    return target


def median_iqr(values):
    """(median, first quartile, third quartile)."""
    s = sorted(values)
    return (statistics.median(s), percentile(s, 0.25), percentile(s, 0.75))


def format_ms(ns_values):
    m, lo, hi = median_iqr([v / 1e6 for v in ns_values])
    digits = 3 if m < 1 else 1
    return f"{m:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def alternatives_table(found):
    """The table of the alternatives: job latency and kernel times
    (median and interquartile range, ms) with the ratio to the main
    interpreter's."""
    ref = {k: statistics.median(found["main"]["kernels"][k])
           for k in KERNEL_NAMES if found["main"]["kernels"].get(k)}
    lines = [f"{'approach':52} {'job latency, ms':>22}   kernels: median "
             f"ms (ratio to the main interpreter)"]
    lines.append(f"{'':52} {'median (IQR)':>22}   "
                 + "  ".join(f"{k:>14}" for k in KERNEL_NAMES))
    lines.append("-" * (52 + 26 + 16 * len(KERNEL_NAMES)))
    for kind, _, label in ALTERNATIVES:
        d = found.get(kind)
        if d is None:
            continue
        cells = []
        for k in KERNEL_NAMES:
            if d["kernels"].get(k):
                m = statistics.median(d["kernels"][k])
                cells.append(f"{m / 1e6:6.1f} ({m / ref[k]:.2f})"
                             if k in ref else f"{m / 1e6:6.1f}")
            elif k in d["errors"]:
                cells.append("cannot run")
            else:
                cells.append("-")
        lines.append(f"{label:52} {format_ms(d['latency']):>22}   "
                     + "  ".join(f"{c:>14}" for c in cells))
    why = {f"{kind}/{k}": e for kind, d in found.items()
           for k, e in d["errors"].items()}
    for key, e in sorted(why.items()):
        lines.append(f"{key}: {e}")
    return "\n".join(lines) + "\n"


def cmd_alternatives(args):
    pythons, venv_python, folder, desc = prepare_run(args, "alternatives")
    rp = install_target(venv_python, "restrictedpython",
                        RESTRICTEDPYTHON)
    desc.update(mode="alternatives",
                options=f"{args.rounds} rounds x {args.jobs} jobs, kernels "
                        f"{args.kernel_rounds} times a round",
                restrictedpython=RESTRICTEDPYTHON)
    write_machine(folder, desc)
    program = os.path.join(PROGRAMS, "alternatives.py")
    found = {kind: {"latency": [], "kernels": {}, "errors": {}}
             for kind, _, _ in ALTERNATIVES}
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    start = time.monotonic()
    commands = []
    for r in range(args.rounds):
        kinds = list(ALTERNATIVES) if r % 2 == 0 else \
            list(reversed(ALTERNATIVES))
        for kind, side, label in kinds:
            cmd = [pythons[side], "-I" if kind != "restrictedpython"
                   else "-s", program, kind, str(args.jobs),
                   str(args.kernel_rounds)]
            run_env = dict(env, PYTHONPATH=rp) \
                if kind == "restrictedpython" else env
            commands.append(shlex.join(cmd))
            out = run_json(cmd, f"the {kind} alternative", env=run_env)
            d = found[kind]
            d["latency"] += out["latency"]
            for k, v in out["kernels"].items():
                d["kernels"].setdefault(k, []).extend(v)
            d["errors"].update(out["errors"])
        log(f"round {r + 1}/{args.rounds} done "
            f"({(time.monotonic() - start) / 60:.1f} min)")
    write_json(os.path.join(folder, "alternatives.json"), found)
    with open(os.path.join(folder, "commands.txt"), "w") as f:
        f.write(f"# RestrictedPython's run has PYTHONPATH={rp}\n"
                + "\n".join(commands) + "\n")
    text = alternatives_table(found)
    with open(os.path.join(folder, "alternatives.txt"), "w") as f:
        f.write(text)
    return finish(args, folder, desc, text, start, "alternatives.txt")


# ------------------------------------------------------------------- scale

def cmd_scale(args):
    pythons, venv_python, folder, desc = prepare_run(args, "scale")
    desc.update(mode="scale", options=f"idle: {args.idle}; throughput: "
                f"{args.jobs} jobs x {args.rounds} rounds from 2 threads")
    write_machine(folder, desc)
    program = os.path.join(PROGRAMS, "scale.py")
    on = pythons["on"]
    start = time.monotonic()
    idle = {}
    for n in args.idle:
        for kind in ("isolated", "untrusted"):
            out = run_json([on, "-I", program, "idle", kind, str(n)],
                           f"{n} idle {kind}")
            idle[f"{kind} {n}"] = out
            log(f"{n} idle {kind} interpreters: "
                f"{(out['after'] - out['before']) / 1024:.0f} MiB")
    rates = {k: [] for k in ("pool", "worker", "subprocess")}
    for r in range(args.rounds):
        order = list(rates) if r % 2 == 0 else list(reversed(rates))
        for kind in order:
            out = run_json([on, "-I", program, "throughput", kind,
                            str(args.jobs)], f"the {kind} throughput")
            rates[kind].append(out["jobs"] / out["seconds"])
    write_json(os.path.join(folder, "scale.json"),
               {"idle": idle, "jobs_per_second": rates})
    lines = ["idle interpreters held at once in one process (flag-on "
             "release build):",
             f"{'':24} {'RSS growth':>12} {'per interpreter':>16} "
             f"{'descriptors':>12} {'creation':>10}"]
    for key, d in idle.items():
        kib = d["after"] - d["before"]
        n = int(key.split()[1])
        lines.append(f"{key:24} {kib / 1024:9.0f} MiB {kib / n:12.0f} KiB "
                     f"{d['fds_after'] - d['fds_before']:12d} "
                     f"{d['seconds']:8.1f} s")
    lines += ["", f"jobs per second, {args.jobs} small jobs submitted from "
                  f"two host threads ({args.rounds} rounds; median, "
                  f"min-max):"]
    for kind, label in (("pool", "sandbox.Pool (in process)"),
                        ("worker", "sandbox.Pool (isolation process)"),
                        ("subprocess", "a python -I -S process per job")):
        v = rates[kind]
        lines.append(f"{label:36} {statistics.median(v):8.1f} "
                     f"({min(v):.1f}-{max(v):.1f})")
    base = statistics.median(rates["subprocess"])
    lines.append(f"sandbox.Pool / processes per job: "
                 f"{statistics.median(rates['pool']) / base:.2f}x the jobs "
                 f"per second")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(folder, "scale.txt"), "w") as f:
        f.write(text)
    return finish(args, folder, desc, text, start, "scale.txt")


def finish(args, folder, desc, text, start, table=None):
    """Print the machine, the results and where they are; with --publish,
    copy them for the docs: *table* and machine.txt, or (without a table)
    a comparison's chart and tables."""
    print(format_machine(desc))
    print(text)
    print(f"results: {folder}")
    print(f"total wall time: {(time.monotonic() - start) / 60:.1f} min")
    if args.publish:
        if table is None:
            publish(folder)
        else:
            publish_files(folder, desc["mode"], (table, "machine.txt"))
    return 0


def publish_files(folder, prefix, names):
    os.makedirs(PUBLISHED, exist_ok=True)
    for name in names:
        dest = name if name == f"{prefix}.txt" else f"{prefix}-{name}"
        shutil.copyfile(os.path.join(folder, name),
                        os.path.join(PUBLISHED, dest))
    log(f"published to {PUBLISHED}")


# ------------------------------------------------------------ instructions

# Loops of each benchmark under callgrind: a run of 3L loops less one of
# L loops leaves the instructions of 2L loops of the benchmark's own work,
# without the interpreter's start, the imports and the set-up.  L is
# calibrated natively so that L loops take WORK_SECONDS (the counts of
# the start vary by a few hundred thousand instructions from run to run,
# with the addresses the kernel gives; the work must dwarf that).
WORK_SECONDS = 0.05
# A benchmark whose count moved by more than this since the previous
# results is called out.
MOVED = 0.005


def ensure_pyperf_only(venv_python):
    """pyperf alone in a folder, for the builds' PYTHONPATH: the quick
    subset's benchmarks need nothing else."""
    pin = [r for r in REQUIREMENTS if r.startswith("pyperf==")][0]
    return install_target(venv_python, "pyperf-only", pin)


# Unique names for the files of the runs (the runs go two at a time).
_RUNS = itertools.count()


def benchmark_env(pythonpath):
    """No PYTHON* variables of the caller's; a fixed hash seed; and no
    bytecode caches written: a module whose cache is stale (its source
    was touched during the run) is then compiled by both runs of a
    benchmark alike, and its cost cancels out of the difference."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONHASHSEED="0", PYTHONPATH=pythonpath,
               PYTHONDONTWRITEBYTECODE="1")
    return env


def calibrate_loops(python, script, pythonpath, workdir):
    """L: the loops that take WORK_SECONDS natively (at least 1)."""
    out = os.path.join(workdir, f"calibrate.{next(_RUNS)}.json")
    cmd = [python, script["path"], "--worker", "--loops=1", "--values=1",
           "--warmups=0", "-o", out, *script["args"]]
    run_quiet(cmd, f"a run of {script['path']}",
              cwd=workdir, env=benchmark_env(pythonpath))
    with open(out) as f:
        data = json.load(f)
    os.unlink(out)
    bench = data["benchmarks"][0]
    meta = dict(data.get("metadata", {}), **bench.get("metadata", {}))
    value = [v for run in bench["runs"] for v in run.get("values", ())][0]
    per_loop = value * meta.get("inner_loops", 1)
    return max(1, math.ceil(WORK_SECONDS / per_loop))


def callgrind_count(python, script, loops, pythonpath, workdir):
    out = os.path.join(workdir, f"callgrind.{next(_RUNS)}.out")
    env = benchmark_env(pythonpath)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           python, script["path"], "--worker", f"--loops={loops}",
           "--values=1", "--warmups=0", *script["args"]]
    proc = subprocess.run(cmd, env=env, cwd=workdir, text=True,
                          errors="replace", stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
    try:
        if proc.returncode != 0:
            last = (proc.stdout.strip().splitlines() or ["no output"])[-1]
            raise SuiteError(f"{shlex.join(cmd)} failed: {last}")
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
        raise SuiteError(f"no total in {out}")
    finally:
        if os.path.exists(out):
            os.unlink(out)


def previous_instructions(base, folder):
    """The newest earlier results folder with instructions.json."""
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return None
    mine = os.path.basename(folder)
    for name in reversed(names):
        path = os.path.join(base, name, "instructions.json")
        if name < mine and os.path.isfile(path):
            return path
    return None


def instructions_table(counts, previous):
    """Per benchmark: the instructions of a loop in each build, their
    ratio, and the moves since *previous* (a counts map or None)."""
    lines = [f"{'benchmark':22} {'flag off':>14} {'flag on':>14} "
             f"{'on/off':>8}   moved since the previous results"]
    moved = []
    for name in counts["off"]:
        off, on = counts["off"][name], counts["on"][name]
        note = ""
        if previous:
            parts = []
            for side in ("off", "on"):
                old = previous.get(side, {}).get(name)
                if old:
                    change = counts[side][name] / old - 1
                    parts.append(f"{side} {change:+.2%}")
                    if abs(change) > MOVED:
                        moved.append(f"{name} (flag {side}: {change:+.2%})")
            note = ", ".join(parts)
        lines.append(f"{name:22} {off:14,d} {on:14,d} {on / off:8.4f}   "
                     f"{note}")
    ratios = [counts["on"][n] / counts["off"][n] for n in counts["off"]
              if counts["on"][n] > 0 and counts["off"][n] > 0]
    if ratios:
        geo = math.exp(statistics.fmean(math.log(r) for r in ratios))
        lines.append(f"geometric mean of on/off: {geo:.4f}")
    if previous is None:
        lines.append("no previous results to compare with")
    elif moved:
        lines.append(f"moved more than {MOVED:.1%} since the previous "
                     f"results: " + ", ".join(moved))
    else:
        lines.append(f"nothing moved more than {MOVED:.1%} since the "
                     f"previous results")
    return "\n".join(lines) + "\n", moved


def cmd_instructions(args):
    if not shutil.which("valgrind"):
        raise SuiteError("valgrind is not installed (apt-get install "
                         "valgrind)")
    pythons, venv_python, folder, desc = prepare_run(args, "instructions")
    pyperf_path = ensure_pyperf_only(venv_python)
    names = [n for n in (args.benchmarks or ",".join(QUICK)).split(",") if n]
    sources = benchmark_sources(venv_python, names)
    desc.update(mode="instructions", benchmarks=names,
                options=f"callgrind Ir of a loop: (3L loops - L loops) / "
                        f"2L, L loops taking {WORK_SECONDS} s natively; "
                        f"PYTHONHASHSEED=0")
    write_machine(folder, desc)
    from concurrent.futures import ThreadPoolExecutor
    workdir = os.path.join(folder, "work")
    os.makedirs(workdir)
    start = time.monotonic()
    # The bytecode caches of pyperf first (both builds share them), or
    # the first run under callgrind would count their compilation.
    for side in ("off", "on"):
        run_quiet([pythons[side], "-m", "compileall", "-q", pyperf_path],
                  "compiling pyperf")
    base = {n: calibrate_loops(pythons["off"], sources[n], pyperf_path,
                               workdir) for n in names}
    tasks = [(side, name, loops) for name in names for side in ("off", "on")
             for loops in (base[name], 3 * base[name])]
    log(f"{len(tasks)} runs under callgrind, {os.cpu_count() or 1} at a "
        f"time (counts do not depend on the machine's load)")
    with ThreadPoolExecutor(os.cpu_count() or 1) as ex:
        totals = list(ex.map(lambda t: callgrind_count(
            pythons[t[0]], sources[t[1]], t[2], pyperf_path, workdir),
            tasks))
    shutil.rmtree(workdir, ignore_errors=True)
    raw = {(s, n, l): total for (s, n, l), total in zip(tasks, totals)}
    counts = {side: {n: (raw[side, n, 3 * base[n]] - raw[side, n, base[n]])
                        // (2 * base[n]) for n in names}
              for side in ("off", "on")}
    wrong = [f"{n} (flag {side})" for side in counts
             for n, c in counts[side].items() if c <= 0]
    if wrong:
        raise SuiteError(f"more loops counted fewer instructions for "
                         f"{', '.join(wrong)}: something else ran in those "
                         f"processes; run it again")
    write_json(os.path.join(folder, "instructions.json"),
               dict(counts, loops=base))
    prev_path = previous_instructions(args.results, folder)
    previous = None
    if prev_path:
        with open(prev_path) as f:
            previous = json.load(f)
    text, moved = instructions_table(counts, previous)
    if prev_path:
        text = f"compared with {prev_path}\n" + text
    with open(os.path.join(folder, "instructions.txt"), "w") as f:
        f.write(text)
    return finish(args, folder, desc, text, start, "instructions.txt")
