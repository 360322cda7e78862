"""Shared helpers for the tests of the untrusted-interpreter runtime.

The suite runs under the interpreter it tests: tox makes one virtual
environment per built variant (build/untrusted, build/trusted, build/debug).
Tests that need the feature skip cleanly on a build without it, like
CPython's own ``requires_*`` helpers.
"""

import os
import subprocess
import sys
import sysconfig

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SCRIPT = os.path.join(REPO, "Tools", "sandbox", "build.py")

#: True when this interpreter was configured --with-untrusted.
UNTRUSTED_BUILD = bool(sysconfig.get_config_var("Py_UNTRUSTED"))

requires_untrusted = pytest.mark.skipif(
    not UNTRUSTED_BUILD,
    reason="needs a CPython configured --with-untrusted")


def build_dir():
    """The build/ directory that tox was started for, or skip."""
    path = os.environ.get("SANDBOX_BUILD_DIR")
    if not path:
        pytest.skip("SANDBOX_BUILD_DIR is not set (run through tox or "
                    "Tools/sandbox/build.py test)")
    return path


def run_python(*args, python=sys.executable, **kw):
    """Run a child interpreter in isolated mode with faulthandler on."""
    return subprocess.run([python, "-X", "faulthandler", "-I", *args],
                          capture_output=True, text=True, timeout=120, **kw)


def run_host(code, *options, timeout=120, input=None, **env_extra):
    """Run *code* (dedented) as the main program of a child host: isolated
    mode, no PYTHON* variables of ours, plus *env_extra*; *input* is its
    standard input (else none)."""
    import textwrap
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(env_extra)
    return subprocess.run([sys.executable, *options, "-I", "-c",
                           textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=timeout,
                          env=env, input=input)


def job_outcome(interp, source, message=False):
    """Run *source* (dedented) in untrusted *interp*: "ran", or the short
    name of the exception the job raised ("SandboxError"), with its message
    after ": " when *message* is true."""
    import _sandbox
    import textwrap
    try:
        _sandbox.exec(interp, textwrap.dedent(source))
    except _sandbox.RemoteError as exc:
        name = exc.type_name.rpartition(".")[2]
        return f"{name}: {exc.message}" if message else name
    return "ran"


def load_build_script():
    """Tools/sandbox/build.py as a module."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("sandbox_build",
                                                  BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cached_tarball():
    """The verified upstream tarball the build used, or skip."""
    given = os.environ.get("SANDBOX_TARBALL")
    if given:
        return given
    build = load_build_script()
    path = os.path.join(build.cache_dir(), build.TARBALL_NAME)
    if not os.path.isfile(path):
        if os.environ.get("SANDBOX_BUILD_DIR"):
            # Under build.py test the tarball was just verified.
            pytest.fail("SANDBOX_TARBALL is not set and the tarball is not "
                        f"at {path}")
        pytest.skip("the upstream tarball is not cached")
    return path


@pytest.fixture
def untrusted():
    """A fresh untrusted interpreter (its ID), destroyed after the test."""
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _interpreters
    import _sandbox
    interp = _sandbox.new_interpreter()
    yield interp
    try:
        _sandbox.end_interpreter(interp)
    except _interpreters.InterpreterNotFoundError:
        pass    # the test ended it


@pytest.fixture
def untrusted_tmp(tmp_path):
    """A fresh untrusted interpreter that may read and write tmp_path."""
    if not UNTRUSTED_BUILD:
        pytest.skip("needs a CPython configured --with-untrusted")
    import _sandbox
    interp = _sandbox.new_interpreter(0, 0, (), (), (), (str(tmp_path),))
    yield interp
    _sandbox.end_interpreter(interp)


def run_untrusted(interp, source):
    """Run *source* (dedented) in *interp*: None, or the exception
    snapshot of _interpreters.exec()."""
    import _interpreters
    import textwrap
    return _interpreters.exec(interp, textwrap.dedent(source))
