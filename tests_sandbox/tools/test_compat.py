"""Tools/sandbox/compat.py: the gate of the standard library's tests run
inside untrusted interpreters.  CI runs the whole list (build.py test);
here, that the gate fails on a failure its document does not explain and
passes once it does, and that its table and explanations are read as
written."""

import importlib.util
import os
import subprocess
import sys

import pytest

from support import REPO, build_dir

COMPAT = os.path.join(REPO, "Tools", "sandbox", "compat.py")


def load_compat():
    spec = importlib.util.spec_from_file_location("compat", COMPAT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_compat(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    python = os.path.join(build_dir(), "untrusted", "python")
    return subprocess.run([sys.executable, COMPAT, "--python", python,
                           *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_explanations_are_read_as_written(tmp_path):
    compat = load_compat()
    doc = tmp_path / "doc.rst"
    doc.write_text(
        ".. list-table::\n\n"
        "   * - Test\n     - Restriction\n"
        "   * - ``test.test_a.T.test_x``\n"
        "     - First reason,\n       on two lines.\n"
        "   * - ``test.test_a.U.*``\n     - The same.\n"
        "   * - ``test.test_b.*_Pure.test_y``\n     - The same: for y.\n")
    rows = compat.read_explained(str(doc))
    assert rows == [
        ("test.test_a.T.test_x", "First reason, on two lines."),
        ("test.test_a.U.*", "First reason, on two lines."),
        ("test.test_b.*_Pure.test_y", "First reason, on two lines. (for y)")]
    assert compat.explain("test.test_a.U.test_z [sub]", rows)[0] == \
        "test.test_a.U.*"
    assert compat.explain("test.test_b.X_Pure.test_y", rows)[0] == \
        "test.test_b.*_Pure.test_y"
    assert compat.explain("test.test_a.T.test_x2", rows) == (None, None)
    # The project's document parses, with a reason for every row.
    rows = compat.read_explained(compat.EXPLAINED)
    assert rows and all(reason for _, reason in rows)


def test_the_gate_fails_on_an_unexplained_failure(tmp_path):
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("run once, from the untrusted variant's environment")
    # test_fractions has one failure inside (the int digits limit).
    empty = tmp_path / "empty.rst"
    empty.write_text("")
    proc = run_compat("--explained", str(empty), "test_fractions")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "UNEXPLAINED test.test_fractions.FractionTest.test_limit_int" \
        in proc.stdout
    proc = run_compat("test_fractions", "test_bisect")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["module", "run", "passed", "failed",
                                "skipped", "explained", "seconds"]
    assert any(line.split()[:1] == ["test_bisect"] for line in lines)
    assert "compat: passed" in proc.stdout
    # Bad arguments are one line, not a traceback.
    proc = run_compat("os.path")
    assert proc.returncode == 2 and "not a test module name" in proc.stderr
