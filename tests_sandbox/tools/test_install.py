"""The distributor's path: configure --with-untrusted --prefix, make install."""

import os
import sysconfig

import pytest

from support import build_dir, requires_untrusted, run_python


@requires_untrusted
def test_installed_python_runs_and_reports_the_flag():
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("only the untrusted variant is installed by the tests")
    prefix = os.path.join(build_dir(), "install", "untrusted")
    python = os.path.join(prefix, "bin", "python3.13")
    # build.py test installs it before running the suite: missing is a failure.
    assert os.path.isfile(python), f"{python} was not installed"
    proc = run_python("-c", "import builtins, sys, sysconfig; print("
                      "sysconfig.get_config_var('Py_UNTRUSTED'), "
                      "builtins.__restricted__, sys.prefix)", python=python)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "False", prefix]


@requires_untrusted
def test_installed_headers_define_the_flag():
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("only the untrusted variant is installed by the tests")
    include = os.path.join(build_dir(), "install", "untrusted", "include",
                           "python" + sysconfig.get_config_var("LDVERSION"))
    with open(os.path.join(include, "pyconfig.h")) as f:
        assert "#define Py_UNTRUSTED 1" in f.read()
    assert os.path.isfile(os.path.join(include, "internal",
                                       "pycore_sandbox.h"))
