"""The --with-untrusted configure flag, as each build variant reports it."""

import os
import subprocess
import sys
import sysconfig

import pytest

from support import UNTRUSTED_BUILD, build_dir

# What each variant that tox tests was configured with.
EXPECTED_FLAG = {"untrusted": 1, "trusted": 0, "debug": 1}


def variant():
    name = os.environ.get("SANDBOX_VARIANT")
    if name not in EXPECTED_FLAG:
        pytest.skip("SANDBOX_VARIANT is not set (run through tox)")
    return name


def test_sysconfig_reports_the_flag_of_this_variant():
    assert sysconfig.get_config_var("Py_UNTRUSTED") == EXPECTED_FLAG[variant()]


def test_pyconfig_h_defines_py_untrusted_only_with_the_flag():
    with open(sysconfig.get_config_h_filename()) as f:
        text = f.read()
    if UNTRUSTED_BUILD:
        assert "#define Py_UNTRUSTED 1" in text
    else:
        assert "#define Py_UNTRUSTED" not in text
        assert "/* #undef Py_UNTRUSTED */" in text


def test_debug_variant_is_a_pydebug_build():
    is_debug = variant() == "debug"
    assert hasattr(sys, "gettotalrefcount") == is_debug
    assert bool(sysconfig.get_config_var("Py_DEBUG")) == is_debug


def configure():
    path = os.path.join(build_dir(), "src", "configure")
    if not os.path.isfile(path):
        pytest.skip("the assembled source tree is not there")
    return path


def test_configure_help_lists_the_flag():
    out = subprocess.run([configure(), "--help"], capture_output=True,
                         text=True, check=True).stdout
    line = next(l for l in out.splitlines() if "--with-untrusted" in l)
    assert "enable untrusted interpreters" in line


def test_configure_refuses_disable_gil(tmp_path):
    proc = subprocess.run([configure(), "--with-untrusted", "--disable-gil"],
                          cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    assert ("configure: error: --with-untrusted cannot be used with "
            "--disable-gil") in proc.stderr
    # It stopped at configure time: nothing to build from was written.
    assert not (tmp_path / "Makefile").exists()
    assert not (tmp_path / "pyconfig.h").exists()
