"""The stock 3.13 ABI (issue 13): what is compiled against the headers of
a build without --with-untrusted works with a flag-on libpython.

An embedder's C program sees the flag-off headers and passes the stock
PyInterpreterConfig; the flag-on libpython must not read past it (a field
added only with the flag was read past the end of the caller's struct).
The program is linked with the AddressSanitizer variant's libpython,
which reports any such read.  And a binary wheel from the package index,
built for stock 3.13, installs into the flag-on build and works in its
trusted main interpreter.
"""

import os
import shlex
import subprocess
import sys
import sysconfig

import pytest

from support import REPO, build_dir, requires_untrusted

pytestmark = requires_untrusted

PROGRAM = os.path.join(REPO, "tests_sandbox", "capi", "stock_abi_embed.c")


def variant(name):
    path = os.path.join(build_dir(), name)
    if not os.path.isfile(os.path.join(path, "python")):
        pytest.skip(f"the {name} variant is not built "
                    f"(Tools/sandbox/build.py build {name})")
    return path


def test_a_program_built_on_stock_headers_creates_interpreters(tmp_path):
    trusted = variant("trusted")     # its pyconfig.h: no Py_UNTRUSTED
    asan = variant("asan")           # a flag-on libpython, instrumented
    src = os.path.join(build_dir(), "src")
    config = subprocess.run(["sh", os.path.join(asan, "python-config"),
                             "--ldflags", "--embed"],
                            capture_output=True, text=True, check=True)
    libs = [f for f in shlex.split(config.stdout) if not f.startswith("-L")]
    program = str(tmp_path / "stock-abi")
    build = subprocess.run(
        ["cc", "-fsanitize=address", "-fno-omit-frame-pointer", "-g",
         "-I", trusted, "-I", os.path.join(src, "Include"), PROGRAM,
         "-L", asan, *libs, "-o", program],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    with open(os.path.join(asan, "pybuilddir.txt")) as f:
        dynload = os.path.join(asan, f.read().strip())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONHOME=src,
               PYTHONPATH=os.pathsep.join([os.path.join(src, "Lib"),
                                           dynload]),
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=0")
    run = subprocess.run([program], capture_output=True, text=True,
                         timeout=300, env=env, cwd=tmp_path)
    assert "AddressSanitizer" not in run.stderr, run.stderr[-4000:]
    assert run.returncode == 0, run.stderr[-4000:]
    # Three trusted subinterpreters ran, from a struct of stock size.
    assert run.stdout.count("interpreter False 45") == 3, run.stdout
    assert "config size 28" in run.stdout, run.stdout


def test_a_binary_wheel_for_stock_313_works_in_the_trusted_interpreter(
        tmp_path):
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("installs into the flag-on build only")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   capture_output=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--only-binary=:all:",
         "--disable-pip-version-check", "--no-input", "numpy"],
        capture_output=True, text=True, timeout=900)
    if install.returncode != 0 and ("Could not fetch" in install.stderr
                                    or "NewConnectionError" in install.stderr
                                    or "No matching distribution"
                                    in install.stderr):
        pytest.skip("the package index is not reachable: "
                    + install.stderr.strip().splitlines()[-1])
    assert install.returncode == 0, install.stderr[-3000:]
    # A manylinux wheel tagged for CPython 3.13, not built here.
    assert "cp313-cp313-manylinux" in install.stdout + install.stderr, \
        install.stdout[-2000:]
    smoke = subprocess.run(
        [python, "-I", "-c",
         "import numpy, sys\n"
         "a = numpy.arange(12, dtype=numpy.int64).reshape(3, 4)\n"
         "print(int(a.sum()), a.T.shape, round(float(numpy.linalg.det("
         "numpy.eye(3) * 2)), 6))\n"
         "print(__restricted__, numpy.__version__ >= '2')\n"],
        capture_output=True, text=True, timeout=300)
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    assert smoke.stdout.splitlines() == ["66 (4, 3) 8.0", "False True"], \
        smoke.stdout
