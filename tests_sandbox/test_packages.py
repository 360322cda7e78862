"""The packages field: read-only package roots on a tenant's sys.path, in
the host's process and in a worker process; from the host's side."""

import glob
import os
import py_compile
import shutil
import sys
import sysconfig

import pytest

from support import requires_untrusted

pytestmark = requires_untrusted

CANARY = "CANARY-packages-7f3e"


@pytest.fixture
def site(tmp_path):
    """A package root (a pure-Python package, a module, a sourceless
    module, an extension module copied from the standard library) and a
    canary beside it, outside every grant."""
    root = tmp_path / "site-packages"
    pkg = root / "demopkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        "from .helpers import double\nVERSION = '1.0'\n")
    (pkg / "helpers.py").write_text(
        "def double(x):\n    return 2 * x\n")
    (pkg / "data.txt").write_text("package data\n")
    (root / "single.py").write_text("NAME = 'single'\n")
    # Bytecode without its source, valid for this Python: never loaded.
    source = tmp_path / "compiled.py"
    source.write_text("print('PYC-RAN')\nVALUE = 1\n")
    py_compile.compile(str(source), cfile=str(root / "compiled.pyc"),
                       doraise=True)
    source.unlink()
    # An extension module, a real one, under a name of the package's:
    # no policy binds it, so it does not load.
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    json_ext = [p for p in map(os.path.join, sys.path,
                                ["_json" + suffix] * len(sys.path))
                if os.path.exists(p)]
    if json_ext:
        shutil.copy(json_ext[0], pkg / ("_json" + suffix))
    canary = tmp_path / "canary.txt"
    canary.write_text(CANARY)
    return root, canary


def run(expression, **fields):
    """The value of *expression* in a fresh interpreter of a policy of
    *fields*, or the short name of what it raised; and the job's result
    (its output, its denials)."""
    import sandbox
    with sandbox.Interpreter(sandbox.Policy(**fields)) as interp:
        try:
            value = interp.eval(expression)
        except sandbox.RemoteError as exc:
            return exc.type_name.rpartition(".")[2], exc.result
        return value, interp.last_result


@pytest.mark.parametrize("isolation", ["interpreter", "process"])
def test_a_package_root_imports_read_only(site, isolation):
    root, canary = site
    fields = {"packages": [str(root)], "isolation": isolation}
    # Its package and module import, with their data, after the stdlib.
    assert run("__import__('demopkg').double(21)", **fields)[0] == 42
    assert run("__import__('single').NAME", **fields)[0] == "single"
    assert run("open(__import__('demopkg').__path__[0] + '/data.txt')"
               ".read()", **fields)[0] == "package data\n"
    # Where the interpreter sees it (the host's path with filesystem_info).
    assert run("__import__('sys').path[-1]", **fields)[0] == \
        "/sandbox/lib/site-packages"
    assert run("__import__('sys').path[-1]", filesystem_info=True,
               **fields)[0] == str(root)
    # Read-only: nothing is created there.
    value, result = run("open('/sandbox/lib/site-packages/new.py', 'w')",
                        **fields)
    assert value == "SandboxError" and result.denials
    assert not (root / "new.py").exists()
    # Nothing beside it: the canary stays unread.
    value, _ = run(f"open({str(canary)!r}).read()", **fields)
    assert value == "SandboxError"
    # Never bytecode, never an extension module no policy binds.
    value, result = run("__import__('compiled').VALUE", **fields)
    assert value != 1 and "PYC-RAN" not in result.stdout, value
    if glob.glob(str(root / "demopkg" / "_json.*")):
        value, result = run("__import__('demopkg._json')", **fields)
        assert value == "ModuleNotFoundError", value
        assert [d.detail for d in result.denials] == ["demopkg._json"]


def test_without_the_field_nothing_imports(site):
    root, _ = site
    assert run("__import__('demopkg')")[0] == "ModuleNotFoundError"
    # A read grant alone does not put it on sys.path.
    assert run("__import__('demopkg')", read=[str(root)])[0] == \
        "ModuleNotFoundError"


def test_the_field_is_checked_by_the_engine(site, tmp_path):
    import sandbox
    root, canary = site
    policy = sandbox.Policy(packages=[str(root) + "//", str(root)])
    assert policy.packages == (str(root),)
    for bad, reason in (("relative/site", "absolute"),
                        (str(root) + "/../x", "'..'"),
                        ("", "empty")):
        with pytest.raises(sandbox.PolicyError, match=reason) as info:
            sandbox.Policy(packages=[bad])
        assert info.value.field == "packages"
    # It must be a directory that exists, when the interpreter is made.
    for bad in (canary, tmp_path / "missing"):
        with pytest.raises(sandbox.PolicyError) as info:
            sandbox.Interpreter(sandbox.Policy(packages=[str(bad)]))
        assert info.value.field == "packages"
    # Narrower: its roots beneath the other's reads or package roots.
    inner = sandbox.Policy(packages=[str(root / "demopkg")])
    assert inner <= sandbox.Policy(packages=[str(root)])
    assert inner <= sandbox.Policy(read=[str(tmp_path)])
    assert not sandbox.Policy(packages=[str(tmp_path)]) <= \
        sandbox.Policy(packages=[str(root)])
    # ... and a package root grants reading only.
    assert not sandbox.Policy(write=[str(root)]) <= \
        sandbox.Policy(packages=[str(root)])
    assert "packages" not in sandbox.Policy.unenforced()
    assert "packages = [" in policy.to_toml()
    assert sandbox.Policy.from_toml(policy.to_toml()) == policy


def test_a_nested_interpreter_gets_only_its_creators_roots(site, tmp_path):
    root, _ = site
    source = f"""
import _sandbox
def make(path):
    try:
        return _sandbox.new_interpreter(packages=[path]) > 0
    except Exception as exc:
        return type(exc).__name__
result = (make('/sandbox/lib/site-packages/demopkg'),
          make({str(tmp_path)!r}))
"""
    import sandbox
    with sandbox.Interpreter(sandbox.Policy(packages=[str(root)])) as i:
        i.run(source)
        assert i.eval("result") == (True, "SandboxError")


def test_the_command_line_takes_a_relative_root(site):
    import subprocess
    root, _ = site
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "run", "--isolate=interpreter",
         "--allow-packages", root.name, "-c",
         "import demopkg; print(demopkg.double(4))"],
        capture_output=True, text=True, timeout=120, env=env,
        cwd=root.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "8\n"


def test_a_nested_grant_of_a_file_name_stays_a_files(tmp_path):
    # The creator was granted a name that did not exist (a file's grant);
    # a directory made there since was a directory's grant for the
    # interpreter it created: it read and wrote beneath what its creator
    # could not (review of the packages field).
    import sandbox
    later, result = tmp_path / "later", tmp_path / "result"
    source = """
import _sandbox, os
def make(**fields):
    try:
        _sandbox.new_interpreter(**fields)
        return "made"
    except Exception as exc:
        return type(exc).__name__
os.mkdir(RESULT)
outcome = (make(read=[LATER]), make(packages=[LATER]),
           make(write=[RESULT]), make(packages=[RESULT]))
""".replace("LATER", repr(str(later))).replace("RESULT", repr(str(result)))
    policy = sandbox.Policy(read=[str(later)], write=[str(result)])
    with sandbox.Interpreter(policy) as interp:
        later.mkdir()
        (later / "secret.py").write_text("SECRET = 1\n")
        interp.run(source)
        assert interp.eval("outcome") == ("SandboxError",) * 4
    assert result.is_dir() and list(result.iterdir()) == []


def test_comparing_follows_links_as_the_host_opens_them(site, tmp_path):
    import sandbox
    root, canary = site
    (root / "link_out").symlink_to(tmp_path)
    (root / "link_in").symlink_to(root / "demopkg")
    for field in ("packages", "read"):
        outer = sandbox.Policy(**{field: [str(root)]})
        assert not sandbox.Policy(**{field: [str(root / "link_out")]}) \
            <= outer
        assert sandbox.Policy(**{field: [str(root / "link_in")]}) <= outer


def test_a_package_root_or_module_file_it_may_write_is_refused(tmp_path):
    import _sandbox
    import sandbox
    ws = tmp_path / "ws"
    (ws / "site").mkdir(parents=True)
    for fields in ({"packages": [str(ws / "site")], "write": [str(ws)]},
                   {"packages": [str(ws)], "write": [str(ws / "site")]}):
        with pytest.raises(sandbox.PolicyError, match="read-only") as info:
            sandbox.Policy(**fields)
        assert info.value.field == "packages"
    so = str(ws / "site" / ("myext" + sysconfig.get_config_var("EXT_SUFFIX")))
    with pytest.raises(sandbox.PolicyError) as info:
        _sandbox.new_interpreter(write=[str(ws)], module_files={"myext": so})
    assert (info.value.field, info.value.value) == ("module_files", so)
    # Beside one another, they are accepted.
    sandbox.Policy(packages=[str(ws / "site")], write=[str(tmp_path / "o")])
