"""The fuzzer, Tools/sandbox/fuzz.py (issue 12, item 3).

A short campaign with a fixed seed on the AddressSanitizer build (the
untrusted one when build/asan was not built) fails on a crash that is not
in tests_sandbox/fuzz_corpus/; planted crashes and host harm show that its
detection is not vacuous; every reproducer in the corpus is replayed.
These run once, in the "untrusted" tox environment (the fuzzer needs
hypothesis, which tox.ini installs there).  Doc/sandbox/fuzzing.rst.
"""

import json
import os
import subprocess
import sys

import pytest

from support import REPO, UNTRUSTED_BUILD, load_build_script

FUZZ = os.path.join(REPO, "Tools", "sandbox", "fuzz.py")
CORPUS = os.path.join(REPO, "tests_sandbox", "fuzz_corpus")

# The short campaign of CI: its seed and length (seconds).
CI_SEED = 20261202
CI_SECONDS = 120

pytestmark = [
    pytest.mark.skipif(not UNTRUSTED_BUILD,
                       reason="needs a CPython configured --with-untrusted"),
    pytest.mark.skipif(
        os.environ.get("SANDBOX_VARIANT", "untrusted") != "untrusted",
        reason="runs once, in the untrusted tox environment"),
]

hypothesis = pytest.importorskip("hypothesis")


def child_python(prefer_asan=True):
    """build/asan/python if built, else this (untrusted) interpreter's
    build."""
    build = os.environ.get("SANDBOX_BUILD_DIR", os.path.join(REPO, "build"))
    asan = os.path.join(build, "asan", "python")
    if prefer_asan and os.path.isfile(asan):
        return asan
    untrusted = os.path.join(build, "untrusted", "python")
    return untrusted if os.path.isfile(untrusted) else sys.executable


def fuzz(*args, timeout=900):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([sys.executable, FUZZ, *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def reproducers(corpus):
    return sorted(n for n in os.listdir(corpus) if n.endswith(".py"))


def header(path):
    out = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if not line.startswith("#"):
                break
            key, sep, value = line[2:].partition(": ")
            if sep and key in ("signature", "status", "note"):
                out[key] = value.strip()
    return out


# A crash only the planted target causes: SIGABRT when its first argument
# is an int above 1000, in the child host's main interpreter (--trusted).
PLANT_ABORT = ("lambda *a: a and type(a[0]) is int and a[0] > 1000 "
               "and __import__('os').abort()")


def test_a_planted_crash_is_found_and_minimized(tmp_path):
    proc = fuzz("--python", child_python(prefer_asan=False), "--trusted",
                "--plant", PLANT_ABORT, "--programs", "600", "--seed", "1",
                "--max-findings", "1", "--corpus", str(tmp_path), "--summary",
                str(tmp_path / "summary.json"), "--timeout", "10")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = reproducers(tmp_path)
    assert len(found) == 1, (found, proc.stdout[-3000:])
    path = tmp_path / found[0]
    info = header(path)
    assert info["signature"].startswith("SIGABRT in lambda"), info
    text = path.read_text()
    # Minimized: one call, to the planted target.
    assert text.count("\n_c(") == 1, text
    assert "# what it does" in text
    assert ("Fatal Python error: Aborted" in text
            or "AddressSanitizer: ABRT" in text), text
    with open(tmp_path / "findings.log") as f:
        entries = [json.loads(line) for line in f]
    assert [e["signature"] for e in entries] == [info["signature"]]
    # The reproducer crashes again on its own.
    replay = fuzz("--python", child_python(prefer_asan=False), "--trusted",
                  "--replay", str(path))
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "crash: SIGABRT" in replay.stdout
    # And a known crash is not new: the same campaign against it passes.
    again = fuzz("--python", child_python(prefer_asan=False), "--trusted",
                 "--plant", PLANT_ABORT, "--programs", "100", "--seed", "1",
                 "--corpus", str(tmp_path / "new"), "--known",
                 str(tmp_path))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "known crashes hit" in again.stdout


def test_a_planted_asan_report_is_found(tmp_path):
    """A read of freed malloc memory (5,000 bytes: not pymalloc's), which
    does not crash by itself: only AddressSanitizer sees it."""
    python = child_python()
    if "/asan/" not in python:
        pytest.skip("build/asan is not built")
    plant = ("lambda *a: __import__('ctypes').string_at(id(bytes(5000)) "
             "+ 64, 100)")
    proc = fuzz("--python", python, "--trusted", "--plant", plant,
                "--programs", "50", "--max-findings", "1", "--seed", "3",
                "--corpus", str(tmp_path), "--timeout", "30")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    sigs = [header(tmp_path / n)["signature"] for n in reproducers(tmp_path)]
    assert sigs and sigs[0].startswith("asan heap-use-after-free in "), sigs


@pytest.mark.parametrize("plant, what", [
    # The host's own canary global, changed by the program.
    ("lambda *a: setattr(__import__('__main__').CANARY, 'value', 0)",
     "canary"),
    # A descriptor left open in the host.
    ("lambda *a: __import__('os').open('/dev/null', 0)", "fds"),
])
def test_planted_host_harm_is_found(tmp_path, plant, what):
    proc = fuzz("--python", child_python(prefer_asan=False), "--trusted",
                "--plant", plant, "--programs", "300", "--seed", "2",
                "--max-findings", "1", "--corpus", str(tmp_path),
                "--timeout", "10")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    sigs = [header(tmp_path / n)["signature"] for n in reproducers(tmp_path)]
    assert any(s.startswith(f"host harm ({what}") for s in sigs), sigs


def test_short_campaign_finds_nothing_new(tmp_path):
    """CI's campaign: CI_SECONDS on the ASan build, a fixed seed; a crash
    not in tests_sandbox/fuzz_corpus fails, and its minimized reproducer
    is in the output (copy it into the corpus once it has an issue)."""
    summary = tmp_path / "summary.json"
    proc = fuzz("--python", child_python(), "--time", str(CI_SECONDS),
                "--seed", str(CI_SEED), "--corpus", str(tmp_path / "new"),
                "--known", CORPUS, "--summary", str(summary), "--quiet",
                timeout=CI_SECONDS + 900)
    print(proc.stdout)
    result = json.loads(summary.read_text())
    assert result["programs"] > 0, proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        "the fuzzer found new crashes:\n" + proc.stdout + "\n".join(
            open(p).read() for p in result["new_findings"].values()))


@pytest.mark.parametrize("name", reproducers(CORPUS) if os.path.isdir(CORPUS)
                         else [])
def test_corpus_reproducer(name):
    """Each known finding replays: one still open may crash (an expected
    failure); a fixed one must not."""
    path = os.path.join(CORPUS, name)
    info = header(path)
    proc = fuzz("--python", child_python(), "--replay", path,
                *(["--trusted"] if "--trusted" in open(path).read(2000)
                  else []))
    if (info.get("status") == "open" and proc.returncode == 1
            and ": crash: " in proc.stdout):
        pytest.xfail(f"open finding: {info.get('signature')}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ": ok" in proc.stdout


def test_the_asan_variant():
    build = load_build_script()
    flags = build.VARIANTS["asan"]
    assert "--with-untrusted" in flags
    assert any(f.startswith("CFLAGS=-fsanitize=address") for f in flags)
    # Not --with-address-sanitizer: it turns pymalloc off, and untrusted
    # interpreters need pymalloc.
    assert "--with-address-sanitizer" not in flags
    env = build.compiler_env()
    assert "detect_leaks=0" in env["ASAN_OPTIONS"] or \
        "ASAN_OPTIONS" in os.environ


def test_help():
    proc = fuzz("--help")
    assert proc.returncode == 0
    for option in ("--python", "--time", "--programs", "--seed", "--corpus",
                   "--jobs", "--replay", "--plant"):
        assert option in proc.stdout
