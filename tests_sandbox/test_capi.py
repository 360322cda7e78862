"""The public C API (Include/cpython/sandbox.h), used from a C extension.

The probe extension is compiled against the headers of the build under
test, with warnings as errors: it proves the API compiles in both builds
(without the flag, PySandbox_Trusted() does nothing) and behaves in a
trusted interpreter.
"""

import importlib.util
import os
import shlex
import subprocess
import sysconfig

import pytest

from support import UNTRUSTED_BUILD

PROBE_SOURCE = os.path.join(os.path.dirname(__file__), "capi",
                            "sandbox_capi_probe.c")


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    if not sysconfig.is_python_build():
        pytest.skip("needs the build tree's headers")
    out = tmp_path_factory.mktemp("capi") / (
        "sandbox_capi_probe" + sysconfig.get_config_var("EXT_SUFFIX"))
    cc = shlex.split(sysconfig.get_config_var("CC"))
    includes = [os.path.join(sysconfig.get_config_var("abs_srcdir"),
                             "Include"),
                sysconfig.get_config_var("abs_builddir")]
    cmd = (cc + ["-shared", "-fPIC", "-std=c11", "-Wall", "-Wextra",
                 "-Wno-unused-parameter", "-Wno-missing-field-initializers",
                 "-Werror"]
           + [f"-I{d}" for d in includes]
           + [PROBE_SOURCE, "-o", str(out)])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    spec = importlib.util.spec_from_file_location("sandbox_capi_probe", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trusted_interpreter_runs_trusted_only_code(probe):
    assert probe.trusted_only() == "ran"


def test_check_trusted_succeeds_in_a_trusted_interpreter(probe):
    expected = 0 if UNTRUSTED_BUILD else None
    assert probe.check_trusted() == expected


def test_exception_objects_are_the_ones_sandbox_exposes(probe):
    if not UNTRUSTED_BUILD:
        assert probe.exception_types() is None
        return
    import _sandbox
    assert probe.exception_types() == (_sandbox.SandboxError,
                                       _sandbox.SandboxLimitExceeded)


@pytest.mark.skipif(not UNTRUSTED_BUILD,
                    reason="needs a CPython configured --with-untrusted")
def test_trusted_macro_denies_and_logs_in_an_untrusted_interpreter(probe):
    import _interpreters
    import _sandbox
    # The probe is an extension module outside the standard library: the
    # policy binds it to its file.
    interp = _sandbox.new_interpreter(
        module_files={"sandbox_capi_probe": probe.__file__})
    try:
        failure = _interpreters.exec(interp, f"""if 1:
            import importlib.util
            spec = importlib.util.spec_from_file_location(
                "sandbox_capi_probe", {probe.__file__!r})
            probe = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(probe)
            try:
                probe.trusted_only()
            except PermissionError as e:
                assert type(e).__name__ == "SandboxError"
            else:
                raise AssertionError("trusted_only ran")
            try:
                probe.check_trusted()
            except PermissionError:
                pass
            else:
                raise AssertionError("check_trusted passed")
        """)
        assert failure is None, failure
        assert [d[1:3] for d in _sandbox.denials(interp)] == [
            ("trusted", "trusted_only"), ("trusted", "(C code)")]
    finally:
        _interpreters.destroy(interp)


@pytest.mark.skipif(not UNTRUSTED_BUILD,
                    reason="needs a CPython configured --with-untrusted")
def test_a_memory_group_from_c_outlives_its_handle(probe):
    budget, during, after = probe.memory_group()
    assert budget == 32 * 2**20
    assert 0 < during < 24 * 2**20
    assert after == 0
