"""Tools/sandbox/debpackage.py (build.py deb): the files it writes into
debian/, what it removes before a run, its refusals.

Building the packages takes minutes; "build.py test" does it as its last
stage (as root, with the install test), not this suite.
"""

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from support import BUILD_SCRIPT, load_build_script

pytestmark = pytest.mark.skipif(
    os.environ.get("SANDBOX_VARIANT", "untrusted") != "untrusted",
    reason="build script tests run once, in the untrusted environment")

DEBIAN = os.path.join(os.path.dirname(BUILD_SCRIPT), "debian")


@pytest.fixture(scope="module")
def deb():
    sys.path.insert(0, os.path.dirname(BUILD_SCRIPT))
    try:
        path = os.path.join(os.path.dirname(BUILD_SCRIPT), "debpackage.py")
        spec = importlib.util.spec_from_file_location("debpackage", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(os.path.dirname(BUILD_SCRIPT))
    return module


def read(name):
    with open(os.path.join(DEBIAN, name)) as f:
        return f.read()


def test_changelog_parses_with_the_release_version_and_the_epoch(
        deb, tmp_path):
    if shutil.which("dpkg-parsechangelog") is None:
        pytest.skip("dpkg-dev is not installed")
    build = load_build_script()
    path = tmp_path / "changelog"
    path.write_text(deb.changelog(build, read("control"), 1796466487))
    fields = subprocess.run(["dpkg-parsechangelog", "-l", str(path)],
                            capture_output=True, text=True, check=True)
    parsed = dict(line.split(": ", 1) for line in fields.stdout.splitlines()
                  if ": " in line and not line.startswith(" "))
    assert parsed["Source"] == "python3.13-untrusted"
    assert parsed["Version"] == (f"{build.VERSION}+untrusted."
                                 f"{deb.release.UNTRUSTED_RELEASE}-"
                                 f"{deb.DEBIAN_REVISION}")
    assert parsed["Timestamp"] == "1796466487"
    assert parsed["Maintainer"] == deb.control_field(read("control"),
                                                     "Maintainer")


def test_copyright_carries_the_license_text_in_debian_format(deb):
    text = deb.copyright_file(read("control"),
                              "PSF LICENSE\n\n1. This LICENSE ...\n")
    assert text.startswith("Format: https://www.debian.org/doc/")
    license = text.split("\nLicense: PSF-2.0\n")[-1]
    # Continuation lines are indented; an empty line is " ."
    assert license == " PSF LICENSE\n .\n 1. This LICENSE ...\n"


def test_the_packages_never_shadow_debians_python(deb):
    control = read("control")
    names = [line.split(":", 1)[1].strip() for line in control.splitlines()
             if line.startswith("Package:")]
    assert tuple(names) == deb.PACKAGES
    links = read("python3.13-untrusted.links").split()
    assert links[1] == "usr/bin/python3.13-untrusted"
    shipped = "".join(read(f"{p}.install") for p in deb.PACKAGES)
    for line in shipped.splitlines():
        assert ("untrusted" in line
                or line.startswith("usr/lib/${DEB_HOST_MULTIARCH}/")), line


def test_only_what_an_earlier_run_made_is_removed(deb, tmp_path):
    mine = ["python3.13-untrusted_1-1_amd64.deb",
            "libpython3.13-untrusted-stdlib_1-1_amd64.deb",
            "build.log", "lintian.txt"]
    for name in mine + ["notes.txt"]:
        (tmp_path / name).write_text("x")
    (tmp_path / "python3.13-untrusted-1").mkdir()
    (tmp_path / "python3.13-untrusted-1" / "f").write_text("x")
    (tmp_path / "keep").mkdir()
    deb.remove_earlier(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["keep", "notes.txt"]


def test_the_install_test_needs_root_and_no_installed_copy(deb,
                                                           monkeypatch):
    build = load_build_script()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(build.SetupError, match="as root"):
        deb.install_test(build, [])
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(deb, "installed",
                        lambda p: p == "python3.13-untrusted-dev")
    with pytest.raises(build.SetupError,
                       match="python3.13-untrusted-dev already installed"):
        deb.install_test(build, [])


def test_the_maintainer_scripts_are_valid_shell():
    for name in os.listdir(DEBIAN):
        if name.endswith((".postinst", ".prerm")):
            proc = subprocess.run(["sh", "-n", os.path.join(DEBIAN, name)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, (name, proc.stderr)


def test_the_debian_patches_apply_to_the_assembled_tree():
    """debian/patches (applied by dpkg-source before the package build)
    still fit the tree that build.py dist makes."""
    from support import build_dir
    src = os.path.join(build_dir(), "src")
    if not os.path.isdir(os.path.join(src, "Lib")) or not shutil.which(
            "patch"):
        pytest.skip("no assembled tree, or no patch(1)")
    for name in read("patches/series").split():
        proc = subprocess.run(["patch", "-p1", "--dry-run", "-s", "-i",
                               os.path.join(DEBIAN, "patches", name)],
                              cwd=src, capture_output=True, text=True)
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
