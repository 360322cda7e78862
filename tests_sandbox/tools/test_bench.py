"""Tools/sandbox/bench.py runs and prints its table.

A smoke test with tiny counts: the benchmark's numbers are for people to
read (DESIGN: speed is proven by benchmarks, not by timed assertions), but
the script must not rot.
"""

import json
import os
import subprocess
import sys

import pytest

from support import REPO, build_dir, requires_untrusted

BENCH = os.path.join(REPO, "Tools", "sandbox", "bench.py")


def run_bench(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([sys.executable, BENCH, *args], capture_output=True,
                          text=True, timeout=300, env=env)


def test_lifecycle_and_memory_parts_print_ratios():
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("run once, from the untrusted variant's environment")
    proc = run_bench("--build-dir", build_dir(), "--only", "lifecycle",
                     "--only", "memory", "--only", "pool", "--cycles", "20",
                     "--block", "5", "--warmup", "2", "--interpreters", "3",
                     "--memory-samples", "1", "--jobs", "5")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("lifecycle: create+pass+destroy")
               for line in lines), proc.stdout
    assert any(line.startswith("memory: RSS per idle interpreter")
               for line in lines), proc.stdout
    assert any(line.startswith("pool: job start")
               for line in lines), proc.stdout


def test_a_missing_build_is_one_clear_line(tmp_path):
    proc = run_bench("--build-dir", str(tmp_path), "--only", "lifecycle")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "bench.py: error:" in proc.stderr


# ------------------------------------------------- the release subcommands

def load_benchsuite():
    import importlib.util
    path = os.path.join(REPO, "Tools", "sandbox", "benchsuite.py")
    spec = importlib.util.spec_from_file_location("benchsuite", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def noisy(rng, centre, runs=10, values=4, drift=0.0):
    """Runs of values around *centre*; each run (process) off by its own
    random drift, as the processes of a pyperf benchmark are."""
    out = []
    for _ in range(runs):
        level = centre * (1 + rng.gauss(0, drift))
        out.append([level * (1 + rng.gauss(0, 0.01))
                    for _ in range(values)])
    return out


def test_the_comparison_finds_what_moved_and_only_that():
    import random
    suite = load_benchsuite()
    rng = random.Random(7)
    a = {f"bench{i}": noisy(rng, 0.01 * (i + 1)) for i in range(10)}
    b = {name: noisy(rng, 0.01 * (i + 1) * (1.05 if name == "bench3"
                                               else 1.0))
         for i, name in enumerate(a)}
    b["only_b"] = [[1.0, 1.0]]
    result = suite.compare(a, b)
    rows = {r["name"]: r for r in result["benchmarks"]}
    assert set(rows) == set(a)
    assert rows["bench3"]["significant"]
    assert 1.03 < rows["bench3"]["ratio"] < 1.07
    assert rows["bench3"]["low"] > 1.0
    # Ten benchmarks of equal centres: at most one false alarm at 95 %.
    assert sum(r["significant"] for n, r in rows.items()
               if n != "bench3") <= 1
    assert result["geomean_low"] < result["geomean"] < result["geomean_high"]
    assert 1.0 < result["geomean"] < 1.01
    assert result["only_b"] == ["only_b"]
    # The same inputs give the same intervals (a fixed seed).
    assert suite.compare(a, b) == result
    text = suite.format_summary(result)
    assert "geometric mean of the ratios (flag on / flag off)" in text
    assert "bench3: 1.0" in text.split("by more than 1%")[1]
    assert "only measured with flag on: only_b" in text


def test_the_intervals_keep_the_variation_between_processes():
    """Values alike within a process but not between processes: a
    resampling of single values would call a 2 % difference significant;
    resampling whole runs first does not."""
    import random
    suite = load_benchsuite()
    rng = random.Random(3)
    a = {"x": noisy(rng, 1.0, runs=6, values=20, drift=0.05)}
    b = {"x": noisy(rng, 1.02, runs=6, values=20, drift=0.05)}
    row = suite.compare(a, b)["benchmarks"][0]
    assert row["a_runs"] == 6 and row["a_n"] == 120
    assert row["high"] - row["low"] > 0.05, row
    flat = suite.compare({"x": [[v] for r in a["x"] for v in r]},
                         {"x": [[v] for r in b["x"] for v in r]})
    width = flat["benchmarks"][0]["high"] - flat["benchmarks"][0]["low"]
    assert width < row["high"] - row["low"]


def test_pyperf_files_are_read_without_calibration_runs(tmp_path):
    suite = load_benchsuite()
    doc = suite.pyperf_suite({"x": [[1.0, 2.0], [3.0]], "y": [[5.0]]},
                             {"x": (4, 1), "y": (1, 10)}, {})
    doc["benchmarks"][0]["runs"].insert(0, {"metadata": {},
                                            "warmups": [[1, 9.0]]})
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    assert suite.read_runs(str(path)) == {"x": [[1.0, 2.0], [3.0]],
                                          "y": [[5.0]]}
    # Several benchmarks in one file: each names itself; one benchmark:
    # its name may be in the suite's metadata (pyperformance --append).
    one = {"version": "1.0", "metadata": {"name": "z"},
           "benchmarks": [{"runs": [{"values": [0.5]}]}]}
    path.write_text(json.dumps(one))
    assert suite.read_runs(str(path)) == {"z": [[0.5]]}


def test_durations_are_formatted_with_their_unit():
    suite = load_benchsuite()
    assert suite.format_seconds(1.5) == "1.50 s"
    assert suite.format_seconds(0.9997) == "1.00 s"
    assert suite.format_seconds(0.0234) == "23.4 ms"
    assert suite.format_seconds(2.3e-8) == "23.0 ns"


def test_subcommands_fail_with_one_clear_line(tmp_path):
    for args in (["report", str(tmp_path)],
                 ["pyperformance", "--no-build", "--build-dir",
                  str(tmp_path)],
                 ["inside", "--no-build", "--build-dir", str(tmp_path)]):
        proc = run_bench(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert proc.stderr.startswith("bench.py: error: "), proc.stderr
        assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert not os.listdir(tmp_path)
    proc = run_bench("inside", "--rounds", "0")
    assert proc.returncode == 2 and "--rounds must be at least 1" in \
        proc.stderr
    proc = run_bench("pyperformance", "--quick", "--full")
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
    proc = run_bench("--help")
    assert proc.returncode == 0
    for sub in ("micro", "build", "pyperformance", "inside", "report"):
        assert sub in proc.stdout


FAKE_BENCHMARK = '''
import pyperf

def work(n):
    return sum(range(n))

def timed(loops, n):
    t0 = pyperf.perf_counter()
    for _ in range(loops):
        work(n)
    return pyperf.perf_counter() - t0

if __name__ == "__main__":
    runner = pyperf.Runner(add_cmdline_args=None)
    runner.metadata["description"] = "a benchmark's usual set-up"
    runner.argparser.add_argument("--n", type=int, default=300)
    args = runner.parse_args()
    assert args.n == 200, args.n
    runner.bench_time_func("fake", timed, args.n, inner_loops=3)
'''


@requires_untrusted
def test_the_inside_harness_times_both_sides_where_it_says(tmp_path):
    """Tools/sandbox/bench/inside.py runs a pyperformance benchmark's
    source in the main interpreter and in an untrusted one: the values
    come from both, and the B side ran with __restricted__ set."""
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("run once, from the untrusted variant's environment")
    bench = tmp_path / "run_benchmark.py"
    bench.write_text(FAKE_BENCHMARK)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"fake": {"path": str(bench),
                                         "args": ["--n", "200"]}}))
    python = os.path.join(build_dir(), "untrusted", "python")
    proc = subprocess.run([python, "-I", os.path.join(
        REPO, "Tools", "sandbox", "bench", "inside.py"), str(spec), "2",
        "2"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["fake"]
    assert data["restricted"] == {"A": False, "B": True}
    assert data["inner_loops"] == 3 and data["loops"] >= 1
    assert len(data["A"]) == len(data["B"]) == 4
    assert all(v > 0 for v in data["A"] + data["B"])


def test_instruction_counts_call_out_what_moved(tmp_path):
    suite = load_benchsuite()
    counts = {"off": {"a": 1000, "b": 2000}, "on": {"a": 1004, "b": 2030}}
    text, moved = suite.instructions_table(counts, None)
    assert "no previous results" in text and moved == []
    previous = {"off": {"a": 1000, "b": 2000}, "on": {"a": 1004, "b": 2000}}
    text, moved = suite.instructions_table(counts, previous)
    assert moved == ["b (flag on: +1.50%)"], moved
    assert "1.0150" in text                     # b's on/off
    # The newest earlier folder with counts is the previous one.
    for name in ("2026-01-01-000000-instructions",
                 "2026-02-01-000000-quick",
                 "2026-03-01-000000-instructions"):
        (tmp_path / name).mkdir()
    (tmp_path / "2026-01-01-000000-instructions" / "instructions.json") \
        .write_text("{}")
    (tmp_path / "2026-02-01-000000-quick" / "off.json").write_text("{}")
    now = tmp_path / "2026-03-01-000000-instructions"
    assert suite.previous_instructions(str(tmp_path), str(now)) == str(
        tmp_path / "2026-01-01-000000-instructions" / "instructions.json")


def run_program(name, *args, variant="untrusted", env=None):
    python = os.path.join(build_dir(), variant, "python")
    proc = subprocess.run([python, "-I", os.path.join(
        REPO, "Tools", "sandbox", "bench", name + ".py"), *args],
        capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@requires_untrusted
def test_the_alternatives_and_scale_programs_run():
    """Smoke tests of the programs behind "bench.py alternatives" and
    "bench.py scale", with tiny counts (their figures are for people)."""
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("run once, from the untrusted variant's environment")
    for kind in ("main", "isolated", "untrusted", "interpreter", "pool"):
        out = run_program("alternatives", kind, "2", "1")
        assert len(out["latency"]) == 2, kind
        if kind != "pool":
            assert set(out["kernels"]) == {"floats", "calls", "strings",
                                           "objects"}, (kind, out)
        assert out["errors"] == {}, (kind, out)
    idle = run_program("scale", "idle", "untrusted", "3")
    assert idle["after"] > idle["before"]
    rate = run_program("scale", "throughput", "pool", "4")
    assert rate["jobs"] == 4 and rate["seconds"] > 0
    suite = load_benchsuite()
    found = {"main": {"latency": [1e5, 2e5], "kernels": {
        k: [1e7] for k in suite.KERNEL_NAMES}, "errors": {}},
        "restrictedpython": {"latency": [3e5], "kernels": {"floats": [2e7]},
                             "errors": {"objects": "TypeError: no"}}}
    table = suite.alternatives_table(found)
    assert "cannot run" in table and "(2.00)" in table
    assert "restrictedpython/objects: TypeError: no" in table


FAKE_PYPERFORMANCE = '''#!{python}
# Stands in for pyperformance: records its command line, fails where told
# (FAKE_FAIL: "BENCHMARK PYTHON"), and appends the benchmark to the
# --append file under the name pyperf would give it (not always
# pyperformance's: "argparse" is "many_optionals").
import json, os, sys
args = sys.argv[1:]
name, out = args[args.index("-b") + 1], args[args.index("--append") + 1]
python = args[args.index("-p") + 1]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps(args) + "\\n")
if os.environ.get("FAKE_FAIL") == f"{{name}} {{python}}":
    sys.exit(1)
data = {{"version": "1.0", "metadata": {{}}, "benchmarks": []}}
if os.path.exists(out):
    with open(out) as f:
        data = json.load(f)
data["benchmarks"].append({{"metadata": {{"name": name + "_pyperf"}},
                           "runs": [{{"values": [1.0]}}]}})
with open(out, "w") as f:
    json.dump(data, f)
'''


def test_benchmarks_alternate_and_a_cut_run_resumes(tmp_path, monkeypatch):
    """run_pyperformance: each benchmark on both builds, the order
    alternating by benchmark and round, identical options; run again on
    the same folder, exactly what did not complete runs (by round, build
    and benchmark, whatever names pyperf wrote into the JSON files)."""
    import argparse
    suite = load_benchsuite()
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    tool = venv / "bin" / "pyperformance"
    tool.write_text(FAKE_PYPERFORMANCE.format(python=sys.executable))
    tool.chmod(0o755)
    log = tmp_path / "calls"
    monkeypatch.setenv("FAKE_LOG", str(log))
    folder = tmp_path / "run"
    folder.mkdir()
    pythons = {"off": "/py/off", "on": "/py/on"}

    def ran():
        calls = [json.loads(line) for line in log.read_text().splitlines()]
        log.write_text("")
        return [(c[c.index("-b") + 1], c[c.index("-p") + 1][4:])
                for c in calls], calls
    args = argparse.Namespace(fast=True, rounds=2)
    # The second round's "b" fails on the flag-on build (as a run cut
    # short there would leave it).
    monkeypatch.setenv("FAKE_FAIL", "b /py/on")
    failed = suite.run_pyperformance(args, str(venv / "bin" / "python"),
                                     pythons, str(folder), ["a", "b"])
    assert failed == ["b (flag on, exit status 1)"] * 2
    order, calls = ran()
    assert order == [("a", "off"), ("a", "on"), ("b", "on"), ("b", "off"),
                     ("a", "on"), ("a", "off"), ("b", "off"), ("b", "on")]
    for c in calls:
        assert c[:2] == ["run", "--fast"]
    monkeypatch.delenv("FAKE_FAIL")
    suite.run_pyperformance(args, str(venv / "bin" / "python"), pythons,
                            str(folder), ["a", "b"])
    order, _ = ran()
    assert order == [("b", "on"), ("b", "on")]      # one per round
    suite.run_pyperformance(args, str(venv / "bin" / "python"), pythons,
                            str(folder), ["a", "b"])
    assert ran()[0] == []                           # all done
    assert suite.read_runs(str(folder / "on.json")) == {
        "a_pyperf": [[1.0], [1.0]], "b_pyperf": [[1.0], [1.0]]}
