"""Tools/sandbox/build.py: obtaining, verifying and assembling upstream.

These tests drive the script the way a user does, in a scratch copy of the
repository, and check its effect on disk.  They don't depend on the build
variant, so they run once, in the "untrusted" tox environment.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from support import BUILD_SCRIPT, cached_tarball, load_build_script

pytestmark = pytest.mark.skipif(
    os.environ.get("SANDBOX_VARIANT", "untrusted") != "untrusted",
    reason="build script tests run once, in the untrusted environment")

SHA256 = "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640"


def build_script(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, BUILD_SCRIPT, *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})




def assert_clear_error(proc, *phrases):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr


def test_wrong_hash_is_rejected_and_nothing_is_assembled(tmp_path):
    bad = tmp_path / "Python-3.13.5.tar.xz"
    bad.write_bytes(b"not the release")
    build = tmp_path / "build"
    proc = build_script("--build-dir", str(build), "--tarball", str(bad),
                        "assemble")
    assert_clear_error(
        proc,
        f"The tarball {bad} has sha256 ",
        f"but CPython 3.13.5 (Python-3.13.5.tar.xz) has sha256 {SHA256}",
        "It is another release or a damaged download, and nothing was "
        "built from it.",
        "--tarball")
    assert not (build / "src").exists()


def test_missing_tarball_is_a_clear_error(tmp_path):
    proc = build_script("--build-dir", str(tmp_path / "build"), "--tarball",
                        str(tmp_path / "nowhere.tar.xz"), "fetch")
    assert_clear_error(proc, "nowhere.tar.xz does not exist")


def test_apt_sources_are_read_in_both_formats(tmp_path):
    build = load_build_script()
    deb822 = tmp_path / "debian.sources"
    deb822.write_text(textwrap.dedent("""\
        Types: deb
        URIs: https://deb.nodesource.com/node_20.x
        Suites: nodistro
        Components: main

        Types: deb
        URIs: https://download.docker.example/linux/debian-docker
        Suites: bookworm
        Components: stable

        Types: deb
        URIs: http://mirror.example/debian
        Suites: bookworm bookworm-updates
        Components: main
        Signed-By: /usr/share/keyrings/example.gpg
        """))
    assert build.debian_archive([str(deb822)]) == (
        "http://mirror.example/debian", "/usr/share/keyrings/example.gpg")
    oneline = tmp_path / "sources.list"
    oneline.write_text(textwrap.dedent("""\
        # deb http://old.example/debian bullseye main
        deb https://packages.example/apt cloud-sdk-bookworm main
        deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main
        """))
    assert build.debian_archive([str(oneline)]) == (
        "http://mirror.example/debian", "/k.gpg")
    assert build.debian_archive([]) == (None, None)


def test_missing_packages_are_listed_with_the_command(monkeypatch):
    build = load_build_script()
    monkeypatch.setattr(build, "missing_packages", lambda: ["quilt", "ccache"])
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    with pytest.raises(build.SetupError) as info:
        build.cmd_deps(None)
    assert ("sudo apt-get update && sudo apt-get install -y "
            "--no-install-recommends quilt ccache") in str(info.value)


@pytest.fixture
def scratch_repo(tmp_path):
    """A minimal copy of the repository: the script, a series, an overlay."""
    if shutil.which("quilt") is None:
        pytest.skip("quilt is not installed")
    repo = tmp_path / "repo"
    (repo / "Tools" / "sandbox").mkdir(parents=True)
    shutil.copy(BUILD_SCRIPT, repo / "Tools" / "sandbox" / "build.py")
    (repo / "Lib").mkdir()
    (repo / "Lib" / "sandbox_probe.py").write_text("VALUE = 1\n")
    (repo / "patches").mkdir()
    (repo / "patches" / "0001-readme-title.patch").write_text(textwrap.dedent("""\
        Description: test: change the README's title
        Forwarded: not-needed
        ---
        --- a/README.rst
        +++ b/README.rst
        @@ -1,4 +1,4 @@
        -This is Python version 3.13.5
        +This is Python version 3.13.5, patched
         =============================
         
         .. image:: https://github.com/python/cpython/workflows/Tests/badge.svg
        """))
    (repo / "patches" / "series").write_text("0001-readme-title.patch\n")
    return repo


def scratch_env():
    # The scratch repository builds in its own build/, never in the one tox
    # was started for.
    env = dict(os.environ)
    env.pop("SANDBOX_BUILD_DIR", None)
    return env


def assemble(repo, *extra):
    return subprocess.run(
        [sys.executable, str(repo / "Tools" / "sandbox" / "build.py"),
         "--tarball", cached_tarball(), *extra, "assemble"],
        capture_output=True, text=True, timeout=300, env=scratch_env())


def test_assembly_is_idempotent_and_incremental(scratch_repo):
    src = scratch_repo / "build" / "src"
    first = assemble(scratch_repo)
    assert first.returncode == 0, first.stderr
    assert (src / "README.rst").read_text().startswith(
        "This is Python version 3.13.5, patched\n")
    assert (src / "Lib" / "sandbox_probe.py").read_text() == "VALUE = 1\n"
    # Readable by other users, as a tree extracted by tar would be.
    umask = os.umask(0)
    os.umask(umask)
    assert src.stat().st_mode & 0o777 == 0o777 & ~umask
    untouched = (src / "Python" / "ceval.c").stat().st_mtime_ns

    again = assemble(scratch_repo)
    assert again.returncode == 0, again.stderr
    assert "source tree is up to date" in again.stdout

    (scratch_repo / "Lib" / "sandbox_probe.py").write_text("VALUE = 2\n")
    changed = assemble(scratch_repo)
    assert changed.returncode == 0, changed.stderr
    assert "updated 1 files" in changed.stdout
    assert (src / "Lib" / "sandbox_probe.py").read_text() == "VALUE = 2\n"
    # Files that did not change keep their time stamps: make rebuilds
    # only what changed.
    assert (src / "Python" / "ceval.c").stat().st_mtime_ns == untouched

    (scratch_repo / "Lib" / "sandbox_probe.py").unlink()
    removed = assemble(scratch_repo)
    assert removed.returncode == 0, removed.stderr
    assert not (src / "Lib" / "sandbox_probe.py").exists()


def test_a_patch_that_does_not_apply_is_named(scratch_repo):
    patch = scratch_repo / "patches" / "0001-readme-title.patch"
    patch.write_text(patch.read_text().replace(
        "-This is Python version 3.13.5", "-This is Python version 3.12.0"))
    proc = assemble(scratch_repo)
    assert_clear_error(proc, "The patch patches/0001-readme-title.patch "
                             "does not apply")
    assert not (scratch_repo / "build" / "src").exists()


def test_a_failing_patch_leaves_the_assembled_tree_alone(scratch_repo):
    assert assemble(scratch_repo).returncode == 0
    src = scratch_repo / "build" / "src"
    before = (src / "README.rst").read_text()
    (scratch_repo / "Lib" / "sandbox_probe.py").write_text("VALUE = 3\n")
    patch = scratch_repo / "patches" / "0001-readme-title.patch"
    patch.write_text(patch.read_text().replace("3.13.5\n", "3.12.0\n", 1))
    proc = assemble(scratch_repo)
    assert_clear_error(proc, "patches/0001-readme-title.patch")
    assert (src / "README.rst").read_text() == before
    assert (src / "Lib" / "sandbox_probe.py").read_text() == "VALUE = 1\n"


def test_edits_in_no_patch_are_never_lost(scratch_repo):
    assert assemble(scratch_repo).returncode == 0
    src = scratch_repo / "build" / "src"
    ceval = src / "Python" / "ceval.c"
    ceval.write_text(ceval.read_text() + "/* work in progress */\n")
    (scratch_repo / "Lib" / "sandbox_probe.py").write_text("VALUE = 2\n")
    proc = assemble(scratch_repo)
    assert_clear_error(proc, "Python/ceval.c", "--discard")
    assert ceval.read_text().endswith("/* work in progress */\n")

    proc = assemble(scratch_repo, "--discard")
    assert proc.returncode == 0, proc.stderr
    assert not ceval.read_text().endswith("/* work in progress */\n")
    assert (src / "Lib" / "sandbox_probe.py").read_text() == "VALUE = 2\n"


def test_refresh_saves_an_edit_into_its_patch(scratch_repo):
    assert assemble(scratch_repo).returncode == 0
    script = [sys.executable, str(scratch_repo / "Tools" / "sandbox" /
                                  "build.py")]
    readme = scratch_repo / "build" / "src" / "README.rst"
    readme.write_text(readme.read_text().replace(", patched", ", refreshed"))
    proc = subprocess.run(script + ["refresh"], capture_output=True,
                          text=True, timeout=60, env=scratch_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    patch = (scratch_repo / "patches" / "0001-readme-title.patch").read_text()
    assert patch.startswith("Description: test: change the README's title\n")
    assert "+This is Python version 3.13.5, refreshed\n" in patch
    # The saved edit is no longer "in no patch": assembly goes on.
    (scratch_repo / "Lib" / "sandbox_probe.py").write_text("VALUE = 2\n")
    assert assemble(scratch_repo).returncode == 0
    assert ", refreshed" in readme.read_text()


def test_unreachable_archive_is_a_clear_error(tmp_path, monkeypatch):
    # The fetch as it goes with no network: apt-get cannot reach the
    # archive.  A closed port on loopback stands in for it.
    import socket
    build = load_build_script()
    if shutil.which("apt-get") is None:
        pytest.skip("apt-get is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # The port is closed again: connections to it are refused.
    monkeypatch.setattr(build, "debian_archive", lambda files: (
        f"http://127.0.0.1:{port}/debian", None))
    with pytest.raises(build.SetupError) as info:
        build.fetch_from_debian(str(tmp_path))
    message = str(info.value)
    assert message.startswith(
        f"Reading the trixie source index from http://127.0.0.1:{port}/debian "
        "failed")
    assert "Check the network and the proxy settings of apt" in message
    assert "or download " \
        "Python-3.13.5.tar.xz" in message
    assert "--tarball PATH" in message
    # Nothing is left behind: no tarball, no private apt directories.
    assert os.listdir(tmp_path) == []


def test_regen_configure_reproduces_the_committed_patch(tmp_path):
    # The generated configure is a patch of its own; regenerating it from
    # the series must give back exactly what is committed, else the patch
    # is stale or the tools differ from the ones it was made with.
    if not (shutil.which("quilt") and shutil.which("autoconf")):
        pytest.skip("quilt and autoconf are needed")
    repo = tmp_path / "repo"
    (repo / "Tools" / "sandbox").mkdir(parents=True)
    shutil.copy(BUILD_SCRIPT, repo / "Tools" / "sandbox" / "build.py")
    shutil.copytree(os.path.join(os.path.dirname(BUILD_SCRIPT), "..", "..",
                                 "patches"), repo / "patches")
    regen = repo / "patches" / "9000-build-regenerate-configure.patch"
    committed = regen.read_text()
    proc = subprocess.run(
        [sys.executable, str(repo / "Tools" / "sandbox" / "build.py"),
         "--tarball", cached_tarball(), "regen-configure"],
        capture_output=True, text=True, timeout=300, env=scratch_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert regen.read_text() == committed
    assert not (repo / "build" / "src" / "autom4te.cache").exists()


def test_a_popped_patch_is_not_built(scratch_repo):
    assert assemble(scratch_repo).returncode == 0
    script = [sys.executable, str(scratch_repo / "Tools" / "sandbox" /
                                  "build.py")]
    proc = subprocess.run(script + ["quilt", "pop", "-a"],
                          capture_output=True, text=True, timeout=60,
                          env=scratch_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = assemble(scratch_repo)
    assert_clear_error(proc, "build/src is not fully patched: "
                             "0001-readme-title.patch is not applied")


def test_a_patch_named_in_series_but_missing_is_a_clear_error(scratch_repo):
    with open(scratch_repo / "patches" / "series", "a") as f:
        f.write("0002-not-refreshed-yet.patch\n")
    proc = assemble(scratch_repo)
    assert_clear_error(proc, "patches/0002-not-refreshed-yet.patch does not "
                             "exist", "refresh")


def test_a_file_back_to_upstream_content_is_rebuilt(scratch_repo):
    # Dropping a patch puts back upstream's file, whose time in the tarball
    # is older than any object built from the patched one.
    assert assemble(scratch_repo).returncode == 0
    readme = scratch_repo / "build" / "src" / "README.rst"
    patched_at = readme.stat().st_mtime
    (scratch_repo / "patches" / "series").write_text("")
    assert assemble(scratch_repo).returncode == 0
    assert readme.read_text().startswith("This is Python version 3.13.5\n")
    assert readme.stat().st_mtime >= patched_at


def test_a_release_build_profiles_again_when_the_tree_changed(tmp_path):
    """The PGO variants: make's profile-opt runs the profile task once
    (profile-run-stamp); build.py removes the profile when a compiled file
    of the assembled tree is not the one it was made from, and keeps it
    otherwise (a change of the pure-Python library or the tools)."""
    build = load_build_script()
    out = tmp_path / "release-untrusted"
    out.mkdir()
    (out / "Makefile").write_text(
        "profile-removal:\n\trm -f profile-run-stamp x.gcda\n")
    manifest = tmp_path / "src.manifest"
    p = {"manifest": str(manifest)}

    def tree(python_c, lib_py):
        manifest.write_text(f"{python_c} Python/ceval.c\n"
                            f"{lib_py} Lib/json/__init__.py\n"
                            f"{lib_py} Tools/sandbox/bench.py\n")
    tree("c1", "l1")
    build.stale_profile(str(out), p)
    (out / "profile-run-stamp").write_text("")
    (out / "x.gcda").write_text("")
    tree("c1", "l2")
    build.stale_profile(str(out), p)            # Python code only: kept
    assert (out / "profile-run-stamp").exists()
    tree("c2", "l2")
    build.stale_profile(str(out), p)            # C changed: profiled again
    assert not (out / "profile-run-stamp").exists()
    assert not (out / "x.gcda").exists()
    assert (out / "profile.tree").read_text() == build.compiled_digest(p)
    assert set(build.PGO_VARIANTS) <= set(build.VARIANTS)
    for v in build.PGO_VARIANTS:
        assert "--enable-optimizations" in build.VARIANTS[v]
        assert "--with-lto" in build.VARIANTS[v]
        # "build.py test" (CI) does not build them: ~20 minutes each.
        assert v not in build.TEST_VARIANTS
    assert set(build.TEST_VARIANTS) | set(build.PGO_VARIANTS) \
        == set(build.VARIANTS)


def load_release():
    import importlib.util
    path = os.path.join(os.path.dirname(BUILD_SCRIPT), "release.py")
    spec = importlib.util.spec_from_file_location("sandbox_release", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tarball_is_the_same_byte_for_byte(tmp_path):
    """write_tarball: the same files and epoch give the same bytes, what
    the files' times, owners and order on disk are; modes are 644/755."""
    import tarfile
    build = load_build_script()
    release = load_release()
    src = tmp_path / "src"
    (src / "b").mkdir(parents=True)
    (src / "b" / "z.txt").write_text("z")
    (src / "a.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "a.sh", 0o775)
    os.symlink("a.sh", src / "link")
    files = ["b/z.txt", "a.sh", "link"]
    one, two = tmp_path / "one.tar.xz", tmp_path / "two.tar.xz"
    (tmp_path / "extra.txt").write_text("e")
    extra = {"t/extra.txt": str(tmp_path / "extra.txt")}
    release.write_tarball(build, str(src), files, "Top-1", 1700000000,
                          "note\n", str(one), preset=0, extra=extra)
    os.utime(src / "b" / "z.txt", (1, 1))
    os.chmod(src / "b" / "z.txt", 0o600)
    release.write_tarball(build, str(src), list(reversed(files)), "Top-1",
                          1700000000, "note\n", str(two), preset=0,
                          extra=extra)
    assert one.read_bytes() == two.read_bytes()
    with tarfile.open(one) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "Top-1", "Top-1/SOURCES", "Top-1/a.sh", "Top-1/b", "Top-1/b/z.txt",
        "Top-1/link", "Top-1/t", "Top-1/t/extra.txt"]
    modes = {m.name: (m.mode, m.uid, m.uname, m.mtime) for m in members}
    assert modes["Top-1/a.sh"] == (0o755, 0, "root", 1700000000)
    assert modes["Top-1/b/z.txt"] == (0o644, 0, "root", 1700000000)
    assert [m.linkname for m in members if m.issym()] == ["a.sh"]


def git_commit_all(repo):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t",
               GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
               GIT_COMMITTER_DATE="2026-01-01T00:00:00Z")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True,
                       capture_output=True)


def test_dist_writes_a_release_or_one_clear_line(scratch_repo):
    """build.py dist: refused on a dirty checkout and on a tree with edits
    in no patch, leaving nothing; else the tarball of the assembled tree,
    its .sha256, and SOURCES naming the upstream hash and the patches."""
    import tarfile
    shutil.copy(os.path.join(os.path.dirname(BUILD_SCRIPT), "release.py"),
                scratch_repo / "Tools" / "sandbox" / "release.py")
    (scratch_repo / ".gitignore").write_text("build/\n")
    git_commit_all(scratch_repo)
    script = scratch_repo / "Tools" / "sandbox" / "build.py"

    def dist(*before):
        return subprocess.run(
            [sys.executable, str(script), "--tarball", cached_tarball(),
             *before, "dist"], capture_output=True, text=True, timeout=600,
            env=scratch_env())
    out = scratch_repo / "build" / "dist"
    (scratch_repo / "Lib" / "sandbox_probe.py").write_text("VALUE = 2\n")
    proc = dist()
    assert_clear_error(proc, "uncommitted changes", "sandbox_probe.py")
    assert not out.exists() or not os.listdir(out)
    subprocess.run(["git", "checkout", "Lib/sandbox_probe.py"],
                   cwd=scratch_repo, check=True)
    assert assemble(scratch_repo).returncode == 0
    readme = scratch_repo / "build" / "src" / "README.rst"
    readme.write_text(readme.read_text() + "edit in no patch\n")
    proc = dist()
    assert_clear_error(proc, "build/src")
    assert not out.exists() or not os.listdir(out)
    proc = dist("--discard")
    assert proc.returncode == 0, proc.stderr
    name = "Python-3.13.5+untrusted.1.tar.xz"
    assert sorted(os.listdir(out)) == [name, name + ".sha256"]
    digest = (out / (name + ".sha256")).read_text().split()[0]
    assert f"sha256 {digest}" in proc.stdout
    with tarfile.open(out / name) as tar:
        sources = tar.extractfile(
            "Python-3.13.5+untrusted.1/SOURCES").read().decode()
        readme_text = tar.extractfile(
            "Python-3.13.5+untrusted.1/README.rst").read().decode()
        names = tar.getnames()
    assert SHA256 in sources and "0001-readme-title.patch" in sources
    assert "3.13.5, patched" in readme_text
    assert "edit in no patch" not in readme_text
    assert "Python-3.13.5+untrusted.1/Lib/sandbox_probe.py" in names
    assert not any("__pycache__" in n or "/.pc/" in n for n in names)


def test_the_tarball_carries_the_suite_but_not_the_tools_tests():
    """release.test_files: tests_sandbox/ as committed, for the package
    build and installed copies; tools/ tests this repository's scripts."""
    release = load_release()
    files = release.test_files()
    if not files:
        pytest.skip("not a git checkout")
    assert "tests_sandbox/conftest.py" in files
    assert "tests_sandbox/support.py" in files
    assert not [f for f in files if f.startswith("tests_sandbox/tools/")]
    assert all(os.path.isfile(path) for path in files.values())
