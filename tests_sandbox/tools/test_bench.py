"""Tools/sandbox/bench.py runs and prints its table.

A smoke test with tiny counts: the benchmark's numbers are for people to
read (DESIGN: speed is proven by benchmarks, not by timed assertions), but
the script must not rot.
"""

import os
import subprocess
import sys

import pytest

from support import REPO, build_dir

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
