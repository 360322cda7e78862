"""The virtual layout (issue 18, Doc/sandbox/information.rst): without
filesystem_info an untrusted interpreter sees the standard library at
/sandbox/lib/python3.13, its script at /sandbox/NAME, its working
directory at /sandbox unless a grant shows the host's, and each grant
where the policy puts it ("HOST:GUEST").  Checked from the host by what
the interpreter prints: no path of the host's tree appears, while
relative paths, granted paths, extension modules and tracebacks with
their source lines keep working."""

import os
import secrets
import shutil
import subprocess
import sys
import sysconfig

import pytest

from support import (build_dir, job_outcome as outcome, requires_untrusted,
                     run_python)

pytestmark = requires_untrusted

STDLIB = "/sandbox/lib/python3.13"

# Every place a path shows, printed one per line; then a traceback through
# a standard-library module, a denied open and a missing file.
PROBE = r"""
import importlib.resources, inspect, json, os, sys, sysconfig, traceback
import warnings, _json
def show(name, value):
    print(f"{name} = {value!r}")
for name in ("path", "prefix", "exec_prefix", "base_prefix",
             "base_exec_prefix", "executable", "_base_executable",
             "_stdlib_dir", "argv", "orig_argv", "warnoptions",
             "_xoptions"):
    show("sys." + name, getattr(sys, name))
show("__file__", __file__)
show("json.__file__", json.__file__)
show("json.__spec__.origin", json.__spec__.origin)
show("json.__path__", list(json.__path__))
show("json.__cached__", json.__cached__)
show("_json.__file__", _json.__file__)
show("os.__file__", os.__file__)
show("co_filename", json.loads.__code__.co_filename)
show("getsourcefile", inspect.getsourcefile(json))
show("resources", str(importlib.resources.files("json")))
show("getcwd", os.getcwd())
show("abspath", os.path.abspath("x"))
show("realpath", os.path.realpath(json.__file__))
show("expanduser", os.path.expanduser("~"))
show("get_paths", sysconfig.get_paths())
show("config_vars", sysconfig.get_config_vars())
dynload = os.path.dirname(_json.__file__) + "/"
for name in os.listdir(dynload):
    if name.startswith("_sysconfigdata"):
        with open(dynload + name) as f:
            show("sysconfigdata", f.read())
        fd = os.open(dynload, os.O_RDONLY)
        show("sysconfigdata by fd", os.read(
            os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd), 10**7))
for path in (STDLIB_DIR + "/__pycache__", STDLIB_DIR + "/json/__pycache__"):
    try:
        show("pycache", os.listdir(path))
    except OSError as exc:
        print("pycache", type(exc).__name__)
show("uname", tuple(os.uname()))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    warnings.warn("w", stacklevel=1)
show("warning", caught[0].filename)
try:
    json.loads("{bad")
except ValueError:
    traceback.print_exc(file=sys.stdout)
for path in ("/etc/passwd", "no-such-file", STDLIB_FILE):
    try:
        open(path).close()
        print("opened", path)
    except OSError as exc:
        print(type(exc).__name__, exc)
print("probe done")
""".replace("STDLIB_FILE", repr(STDLIB + "/no-such-module.py")).replace(
    "STDLIB_DIR", repr(STDLIB))


@pytest.fixture(scope="module")
def token_tree(tmp_path_factory):
    """The build tree's python run from a directory whose name is a random
    token (its source tree, the standard library, by a link), and a working
    directory and home named after the token too."""
    build_dir()         # tox's or build.py's run: a build tree
    built = sysconfig.get_config_var("abs_builddir") or ""
    if not os.path.isfile(os.path.join(built, "pybuilddir.txt")):
        pytest.skip("needs the build tree (pybuilddir.txt)")
    token = "tok" + secrets.token_hex(6)
    root = tmp_path_factory.mktemp(token)
    tree = root / token
    (tree / "Modules").mkdir(parents=True)
    shutil.copy2(os.path.join(built, "python"), tree / "python")
    for name in ("pybuilddir.txt", "Modules/Setup.local"):
        shutil.copy2(os.path.join(built, name), tree / name)
    with open(os.path.join(built, "pybuilddir.txt")) as f:
        platdir = f.read().strip()
    os.symlink(os.path.join(built, platdir.partition("/")[0]),
               tree / platdir.partition("/")[0])
    # The source tree, where the build tree's VPATH says (a relative one
    # from the copy too).
    vpath = sysconfig.get_config_var("VPATH") or "."
    src = os.path.realpath(os.path.join(built, vpath))
    if not os.path.isabs(vpath) and vpath != ".":
        os.symlink(src, os.path.normpath(os.path.join(tree, vpath)))
    cwd = root / f"cwd-{token}"
    home = root / f"home-{token}"
    cwd.mkdir()
    home.mkdir()
    (cwd / "probe.py").write_text(PROBE)
    (cwd / "data.txt").write_text("relative canary\n")
    return {"python": str(tree / "python"), "token": token,
            "cwd": str(cwd), "home": str(home), "built": built,
            "src": src}


def run_probe(tree, *options):
    proc = run_python("-m", "sandbox", "run", *options, "probe.py",
                      python=tree["python"], cwd=tree["cwd"],
                      HOME=tree["home"])
    assert "probe done" in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout


def host_tokens(tree):
    """What must not show without filesystem_info."""
    uname = os.uname()
    tokens = [tree["token"], tree["cwd"], tree["home"],
              os.path.realpath(tree["built"]), tree["src"],
              uname.nodename, uname.release, uname.version]
    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    if user and len(user) >= 5:
        tokens.append(user)
    return [t for t in tokens if t]


@pytest.mark.parametrize("isolation", ["interpreter", "process"])
def test_no_path_of_the_host_shows(token_tree, isolation):
    out = run_probe(token_tree, "--isolate", isolation)
    for token in host_tokens(token_tree):
        assert token not in out, (token, out)
    assert f"sys.path = ['{STDLIB}', '{STDLIB}/lib-dynload']" in out
    assert f"json.__file__ = '{STDLIB}/json/__init__.py'" in out
    assert f"_json.__file__ = '{STDLIB}/lib-dynload/_json." in out
    assert "sys.prefix = '/sandbox'" in out
    assert "getcwd = '/sandbox'" in out
    assert "__file__ = '/sandbox/probe.py'" in out
    # The tracebacks keep their source lines, the script's and the
    # standard library's, read through the virtual paths.
    assert 'File "/sandbox/probe.py", line' in out
    assert '    json.loads("{bad")' in out
    assert f'File "{STDLIB}/json/decoder.py", line' in out
    assert "obj, end = self.raw_decode(" in out
    # The denial and the missing file in the tenant's own spelling.
    assert "SandboxError [Errno 13] open: not allowed" in out
    assert "FileNotFoundError" in out
    # sysconfig's build variables, read as the module or as a file, name
    # the layout; the bytecode caches are not read.
    assert "'prefix': '/sandbox'" in out
    assert "build_time_vars = {" in out
    assert "sysconfigdata by fd = b'" in out
    assert out.count("pycache SandboxError") == 2


def test_filesystem_info_is_enforced():
    import sandbox
    assert "filesystem_info" not in sandbox.Policy.unenforced()


def test_filesystem_info_shows_the_real_layout(token_tree):
    out = run_probe(token_tree, "--isolate", "interpreter",
                    "--allow-fs-info")
    assert token_tree["token"] in out
    assert f"getcwd = '{token_tree['cwd']}'" in out
    assert f"sys.path = ['{STDLIB}'" not in out
    assert os.path.realpath(token_tree["built"]) in out


def test_relative_and_granted_paths_keep_working(token_tree):
    cwd = token_tree["cwd"]
    code = ("import os; print(os.getcwd()); print(open('data.txt').read(), "
            "end=''); print(open(os.path.abspath('data.txt')).read(), "
            "end='')")
    proc = run_python("-m", "sandbox", "run", "--isolate", "interpreter",
                      f"--allow-read={cwd}", "-c", code,
                      python=token_tree["python"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{cwd}\nrelative canary\nrelative canary\n"
    # Granted elsewhere: the working directory follows where it shows.
    proc = run_python("-m", "sandbox", "run", "--isolate", "interpreter",
                      "--allow-read=.:/data", "-c",
                      code.replace("os.path.abspath('data.txt')",
                                   "'/data/data.txt'"),
                      python=token_tree["python"], cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "/data\nrelative canary\nrelative canary\n"


def test_a_grant_shows_where_the_policy_puts_it(make_untrusted, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "canary.txt").write_text("guest canary")
    out = tmp_path / "out"
    out.mkdir()
    interp = make_untrusted(read=[f"{tmp_path / 'in'}:/data"],
                            write=[f"{out}:/results"])
    assert outcome(interp, """
        import os, sys
        assert sys.path[0] == '/sandbox/lib/python3.13', sys.path
        assert os.listdir('/data') == ['canary.txt']
        text = open('/data/canary.txt').read()
        with open('/results/copy.txt', 'w') as f:
            f.write(text)
        try:
            open(%r)
        except PermissionError:
            pass
        else:
            raise AssertionError('the host path of a grant opened')
    """ % str(tmp_path / "in" / "canary.txt")) == "ran"
    assert (out / "copy.txt").read_text() == "guest canary"


def test_the_standard_library_is_not_at_its_host_path(make_untrusted):
    interp = make_untrusted()
    stdlib = os.path.dirname(os.__file__)
    assert outcome(interp, f"""
        import os
        try:
            open({os.path.join(stdlib, 'os.py')!r})
        except PermissionError:
            pass
        else:
            raise AssertionError('the host path of the stdlib opened')
        assert open('{STDLIB}/os.py').read(10)
    """) == "ran"
    # With filesystem_info, where the host has it.
    interp = make_untrusted(filesystem_info=True)
    assert outcome(interp, f"""
        import os, sys
        assert os.__file__ == {os.__file__!r}, os.__file__
        assert sys.path[0] != '{STDLIB}'
    """) == "ran"


@pytest.mark.parametrize("entry, reason", [
    ("/tmp:relative", "must be absolute"),
    ("/tmp:/a/../b", "cannot contain '..'"),
    ("/tmp:/sandbox/lib", "overlaps /sandbox/lib"),
    ("/tmp:/sandbox/lib/python3.13/x", "overlaps /sandbox/lib"),
    ("/tmp:/", "overlaps /sandbox/lib"),
    ("/tmp:", "no guest path"),
    (":/x", "no host path"),
])
def test_bad_guest_paths_are_refused(entry, reason):
    import sandbox
    with pytest.raises(sandbox.PolicyError) as info:
        sandbox.Policy(read=[entry])
    assert info.value.field == "read"
    assert info.value.value == entry
    assert reason in str(info.value)
    proc = subprocess.run([sys.executable, "-m", "sandbox", "run",
                           "--isolate", "interpreter",
                           f"--allow-write={entry}", "-c", "pass"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert reason in proc.stderr


def test_guest_paths_that_overlap_are_refused(tmp_path):
    import sandbox
    with pytest.raises(sandbox.PolicyError) as info:
        sandbox.Policy(read=[f"{tmp_path}:/data", "/etc:/data/etc"])
    assert "overlaps that of" in str(info.value)
    with pytest.raises(sandbox.PolicyError):
        sandbox.Policy(read=[f"{tmp_path}:/data", "/data"])
    # The same layout twice, or nested as on the host, is one layout.
    (tmp_path / "sub").mkdir()
    sandbox.Policy(read=[f"{tmp_path}:/data"],
                   write=[f"{tmp_path / 'sub'}:/data/sub"])
    sandbox.Policy(read=[str(tmp_path)], write=[str(tmp_path / "sub")])


def test_a_worker_process_sees_the_same_layout(tmp_path):
    (tmp_path / "canary.txt").write_text("worker canary")
    import sandbox
    policy = sandbox.Policy(read=[f"{tmp_path}:/data"],
                            isolation="process")
    with sandbox.Interpreter(policy) as interp:
        seen = interp.eval("(__import__('os').listdir('/data'), "
                           "open('/data/canary.txt').read(), "
                           "__import__('sys').path[0], "
                           "__import__('_json').__file__)")
    assert seen[:3] == (["canary.txt"], "worker canary", STDLIB)
    assert seen[3].startswith(f"{STDLIB}/lib-dynload/_json.")


def test_guest_paths_survive_toml_and_compare_in_the_layout(tmp_path):
    import sandbox
    policy = sandbox.Policy(read=[f"{tmp_path}:/data"])
    assert sandbox.Policy.from_toml(policy.to_toml()) == policy
    assert policy.read == (f"{tmp_path}:/data",)
    # A nested interpreter's policy names its paths in this layout.
    assert sandbox.Policy(read=["/data/sub"]) <= policy
    assert not sandbox.Policy(read=[str(tmp_path)]) <= policy


def test_what_the_host_built_is_not_read(make_untrusted):
    interp = make_untrusted()
    import _json
    host_so = _json.__file__
    assert outcome(interp, f"""
        import os, _json
        so = _json.__file__
        assert so.startswith('{STDLIB}/lib-dynload/'), so
        assert os.stat(so).st_size > 0          # the finder's stat
        for opener in (lambda: open(so, 'rb'),
                       lambda: os.open(so, os.O_RDONLY | os.O_NOFOLLOW)):
            try:
                opener()
            except PermissionError:
                pass
            else:
                raise AssertionError('an extension module file was read')
        # Loaded by the host's path of it: never by a guess of that path.
        import _imp
        class Spec:
            name = '_csv'
            origin = {os.path.join(os.path.dirname(host_so),
                                   os.path.basename(host_so).replace(
                                       '_json', '_csv'))!r}
        try:
            _imp.create_dynamic(Spec())
        except ImportError:
            pass
        else:
            raise AssertionError('the host path of a module loaded')
        # sysconfig's copy is as long as the file.
        name = [n for n in os.listdir(os.path.dirname(so))
                if n.startswith('_sysconfigdata')][0]
        path = os.path.join(os.path.dirname(so), name)
        with open(path, 'rb') as f:
            assert len(f.read()) == os.stat(path).st_size
    """) == "ran"


def test_allowed_and_packages_show_the_layout(make_untrusted, tmp_path):
    (tmp_path / "data").mkdir()
    pkgs = tmp_path / "pkgs"
    (pkgs / "plugin").mkdir(parents=True)
    (pkgs / "plugin" / "__init__.py").write_text("VALUE = 7\n")
    interp = make_untrusted(read=[f"{tmp_path / 'data'}:/data"],
                            packages=[str(pkgs)])
    assert outcome(interp, f"""
        import sandbox, sys, plugin
        allowed = sandbox.allowed()[('Python', 'read')]
        assert allowed == frozenset({{'/data'}}), allowed
        assert sys.path[-1] == '/sandbox/lib/site-packages', sys.path
        assert plugin.__file__ == \\
            '/sandbox/lib/site-packages/plugin/__init__.py', plugin.__file__
        assert plugin.VALUE == 7
        assert {str(tmp_path)!r} not in repr(sys.path)
    """) == "ran"


def test_control_characters_in_a_guest_path_are_refused():
    import sandbox
    with pytest.raises(sandbox.PolicyError, match="control character"):
        sandbox.Policy(read=["/tmp:/g\n"])


def test_a_guest_path_that_is_not_utf8(tmp_path):
    # Paths are bytes: an undecodable one round-trips as os.fsdecode()
    # makes it, in the policy, inside, and in what the host reads back.
    (tmp_path / "f.txt").write_text("bytes canary")
    import sandbox
    guest = "/x\udcff"
    with sandbox.Interpreter(sandbox.Policy(
            read=[f"{tmp_path}:{guest}"])) as interp:
        assert interp.eval(f"open({guest + '/f.txt'!r}).read()") == \
            "bytes canary"
        assert interp.eval("sorted(__import__('sandbox').allowed()"
                           "[('Python', 'read')])") == [guest]
