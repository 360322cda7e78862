"""What the tests of the untrusted-interpreter runtime share: the paths of
the repository, the build under test, and the ways they run code in a
child host or in an untrusted interpreter.  conftest.py holds the
fixtures.

The suite runs under the interpreter it tests: tox makes one virtual
environment per built variant (build/untrusted, build/trusted, build/debug).
Tests that need the feature skip cleanly on a build without it, like
CPython's own ``requires_*`` helpers.
"""

import os
import subprocess
import sys
import sysconfig
import textwrap
import time

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


# --- Child processes ------------------------------------------------------

def run_python(*args, python=sys.executable, isolated=True,
               faulthandler=True, timeout=120, input=None, cwd=None,
               **env_extra):
    """Run the interpreter *python* (this one by default) with *args* in a
    child process, as CPython's script_helper does: in isolated mode
    (``-I``) with faulthandler on (``-X faulthandler``), in an environment
    without the caller's ``PYTHON*`` variables, plus *env_extra* (None
    removes a variable).  *input* is its standard input.

    Return the CompletedProcess, text captured, with the seconds it took
    in its ``elapsed`` attribute.  *isolated* and *faulthandler* are false
    only where a test needs it (the call says why).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for name, value in env_extra.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    options = ["-X", "faulthandler"] if faulthandler else []
    if isolated:
        options.append("-I")
    start = time.monotonic()
    proc = subprocess.run([python, *options, *args], capture_output=True,
                          text=True, timeout=timeout, input=input, cwd=cwd,
                          env=env)
    proc.elapsed = time.monotonic() - start
    return proc


def run_host(code, *options, args=(), **kw):
    """Run *code* (dedented) as the main program of a child host: the
    interpreter *options* (``"-X", "importtime"``) before ``-c``, *args*
    in its ``sys.argv[1:]``; *kw* are run_python()'s."""
    return run_python(*options, "-c", textwrap.dedent(code), *args, **kw)


def run_untrusted(source, *, threads=1, message=False, **kw):
    """Run *source* as it is in a fresh untrusted interpreter, granted
    *threads* threads, of a child host (run_host(), whose keywords *kw*
    are).  The child prints "ran", or the short name of the exception the
    job raised (with its message after a space when *message* is true),
    then "host alive" once it has ended the interpreter."""
    name = "exc.type_name.rpartition('.')[2]"
    report = f"{name}, exc.message" if message else name
    return run_host(f"""
        import _sandbox
        jail = _sandbox.new_interpreter(threads={threads})
        try:
            _sandbox.exec(jail, {source!r})
            print("ran")
        except _sandbox.RemoteError as exc:
            print({report})
        _sandbox.end_interpreter(jail)
        print("host alive")
    """, **kw)


# Tenant code that leaves *error*, raised in a standard-library module (a
# traceback with source files to show), and a sys.stderr that keeps
# nothing, so that tracebacks may be shown over and over.
AN_ERROR_AND_A_SINK = r"""
import json, sys
class Sink:
    write = staticmethod(len)
    flush = staticmethod(int)
sys.stderr = Sink()
try:
    json.loads("{")
except ValueError as exc:
    error = exc
"""

# --- Untrusted interpreters of this process -------------------------------

def exec_in_interpreter(interp, source):
    """Run *source* (dedented) in *interp*: None, or the exception
    snapshot of _interpreters.exec()."""
    import _interpreters
    return _interpreters.exec(interp, textwrap.dedent(source))


def job_outcome(interp, source, message=False):
    """Run *source* (dedented) in untrusted *interp*: "ran", or the short
    name of the exception the job raised ("SandboxError"), with its message
    after ": " when *message* is true."""
    import _sandbox
    try:
        _sandbox.exec(interp, textwrap.dedent(source))
    except _sandbox.RemoteError as exc:
        name = exc.type_name.rpartition(".")[2]
        return f"{name}: {exc.message}" if message else name
    return "ran"


# --- The build script -----------------------------------------------------

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
