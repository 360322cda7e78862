"""Imports from trusted bytecode (issue 19, part 1): an untrusted
interpreter takes the standard library's code objects from the host's own
bytecode caches, loaded in C (Python/sandbox_bytecode.c), and from nothing
else.

The tests run a child host on a private copy of the standard library
(PYTHONHOME), whose caches they write themselves: a cache whose code differs
from its source shows by its effect which one an import ran.  The crafted
code only sets a marker, as a tenant's own crafted bytecode would do far
worse; the point is whether it ran."""

import importlib.util
import os
import shutil
import sys
import sysconfig
import textwrap
from importlib import _bootstrap_external as bx

import pytest

from support import build_dir, requires_untrusted, run_python

pytestmark = requires_untrusted

TAG = sys.implementation.cache_tag
GUEST_STDLIB = f"/sandbox/lib/python{sys.version_info[0]}.{sys.version_info[1]}"

# What each tenant job prints: where colorsys's code came from.
PROBE = ("import colorsys; print(getattr(colorsys, 'MARK', 'source'), "
         "colorsys.rgb_to_hsv.__code__.co_filename)")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A copy of this interpreter's standard library, tests left out, with
    its extension modules (linked), that a child host uses through
    PYTHONHOME."""
    build_dir()
    stdlib = os.path.dirname(os.__file__)
    dynload = os.path.join(stdlib, "lib-dynload")
    if not os.path.isdir(dynload):
        # A build tree: they are where pybuilddir.txt says.
        built = sysconfig.get_config_var("abs_builddir") or ""
        try:
            with open(os.path.join(built, "pybuilddir.txt")) as f:
                dynload = os.path.join(built, f.read().strip())
        except OSError:
            pytest.skip("needs the build tree (pybuilddir.txt)")
    root = tmp_path_factory.mktemp("home")
    lib = root / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    shutil.copytree(stdlib, lib, symlinks=True,
                    ignore=shutil.ignore_patterns(
                        "test", "idlelib", "tkinter", "turtledemo",
                        "__pycache__", "site-packages", "lib-dynload"))
    os.symlink(dynload, lib / "lib-dynload")
    return lib


def host(home, code):
    """Run *code* as a child host on the copy *home*; return its stdout.
    Not isolated (-I): PYTHONHOME names the copy."""
    proc = run_python("-c", textwrap.dedent(code), isolated=False,
                      PYTHONHOME=str(home.parent.parent))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def tenant(home, probe=PROBE, **fields):
    """What *probe* prints in a fresh untrusted interpreter of a child
    host on *home*, limited by the policy *fields*."""
    return host(home, f"""
        import sandbox
        policy = sandbox.Policy(**{fields!r})
        with sandbox.Interpreter(policy) as it:
            r = it.run({probe!r})
        print(r.stdout, end="")
        print(r.stderr, end="")
    """)


def craft(source, pyc, *, hashed=None, mark="from cache", mode=0o644):
    """Write *pyc*, the cache of *source*, holding code that sets MARK: by
    the source's modification time and size, or (*hashed* "checked" or
    "unchecked") by the hash of the source's bytes."""
    code = compile(f"MARK = {mark!r}\ndef rgb_to_hsv(): pass\n",
                   str(source), "exec")
    if hashed is None:
        st = os.stat(source)
        data = bx._code_to_timestamp_pyc(code, st.st_mtime, st.st_size)
    else:
        data = bx._code_to_hash_pyc(
            code, importlib.util.source_hash(source.read_bytes()),
            hashed == "checked")
    pyc.parent.mkdir(exist_ok=True)
    if pyc.exists():
        pyc.chmod(0o644)
    pyc.write_bytes(data)
    pyc.chmod(mode)


@pytest.fixture
def colorsys(home):
    """colorsys.py in the copy, its cache removed after the test and its
    source restored."""
    source = home / "colorsys.py"
    text = source.read_bytes()
    st = os.stat(source)
    pyc = home / "__pycache__" / f"colorsys.{TAG}.pyc"
    yield source, pyc
    pyc.unlink(missing_ok=True)
    (home / "__pycache__").chmod(0o755)
    source.write_bytes(text)
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_the_standard_library_loads_from_its_cache(home, colorsys):
    source, pyc = colorsys
    # Without a cache, the source; then the host's cache, and the code
    # object names the path the interpreter sees.
    assert tenant(home) == f"source {GUEST_STDLIB}/colorsys.py\n"
    craft(source, pyc)
    assert tenant(home) == f"from cache {GUEST_STDLIB}/colorsys.py\n"
    # With filesystem_info, the host's path.
    assert (tenant(home, filesystem_info=True)
            == f"from cache {home}/colorsys.py\n")


@pytest.mark.parametrize("isolation", ["interpreter", "process"])
def test_the_installed_caches_are_used(isolation):
    # The installation's own caches (make install's compileall), in the
    # host's process and in a worker's (which ignores PYTHONHOME, so not
    # on the copy).
    proc = run_python("-c", textwrap.dedent(f"""
        import sandbox
        policy = sandbox.Policy(isolation={isolation!r})
        with sandbox.Interpreter(policy) as it:
            r = it.run("import _imp; print(_imp._sandbox_code("
                       "{GUEST_STDLIB!r} + '/json/decoder.py'))")
        print(r.stdout, end="")
    """))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("<code object <module> at ")
    assert proc.stdout.endswith(f'file "{GUEST_STDLIB}/json/decoder.py", '
                                'line 1>\n')


def test_a_stale_cache_is_not_used(home, colorsys):
    source, pyc = colorsys
    craft(source, pyc)
    assert tenant(home).startswith("from cache ")
    # A source edited since, of the same size: its time differs.
    st = os.stat(source)
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    assert tenant(home).startswith("source ")


@pytest.mark.parametrize("hashed", ["checked", "unchecked"])
def test_hash_based_caches_are_checked(home, colorsys, hashed):
    source, pyc = colorsys
    craft(source, pyc, hashed=hashed)
    assert tenant(home).startswith("from cache ")
    # The source changed, its time and size kept: the hash tells.
    text = source.read_bytes()
    st = os.stat(source)
    source.write_bytes(text.replace(b"HSV", b"hsv", 1))
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert tenant(home).startswith("source ")


def test_a_cache_that_others_may_write_is_not_used(home, colorsys):
    source, pyc = colorsys
    craft(source, pyc, mode=0o664)
    assert tenant(home).startswith("source ")
    craft(source, pyc)
    assert tenant(home).startswith("from cache ")
    (home / "__pycache__").chmod(0o777)
    assert tenant(home).startswith("source ")


def test_a_linked_cache_directory_is_not_followed(home, tmp_path):
    # shlex's cache directory is a link to one with a crafted cache.
    source = home / "shlex.py"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    crafted = elsewhere / f"shlex.{TAG}.pyc"
    code = compile("MARK = 'from cache'", str(source), "exec")
    st = os.stat(source)
    crafted.write_bytes(bx._code_to_timestamp_pyc(code, st.st_mtime,
                                                  st.st_size))
    pkgdir = home / "shlexpkg"
    pkgdir.mkdir()
    try:
        shutil.copy2(source, pkgdir / "shlex.py")
        probe = ("import sys; sys.path.insert(0, %r); import shlex; "
                 "print(getattr(shlex, 'MARK', 'source'))"
                 % f"{GUEST_STDLIB}/shlexpkg")
        # The same cache in a directory of its own is used.
        shutil.copytree(elsewhere, pkgdir / "__pycache__")
        assert tenant(home, probe) == "from cache\n"
        shutil.rmtree(pkgdir / "__pycache__")
        os.symlink(elsewhere, pkgdir / "__pycache__")
        assert tenant(home, probe) == "source\n"
    finally:
        shutil.rmtree(pkgdir)


@pytest.mark.parametrize("isolation", ["interpreter", "process"])
def test_a_write_grant_over_the_standard_library_is_refused(home,
                                                           isolation):
    # Code that may write beneath the standard library could leave a cache
    # there for the host's own imports and the other interpreters', in
    # this process or a later one: such a grant is refused, whether it
    # lies beneath the standard library or holds it.
    out = host(home, f"""
        import sandbox
        for path in [{str(home / "email")!r}, {str(home.parent)!r}]:
            try:
                sandbox.Interpreter(sandbox.Policy(
                    write=[path], isolation={isolation!r}))
            except sandbox.PolicyError as exc:
                print(exc.field, "overlaps the standard library" in str(exc))
            else:
                print("created")
    """)
    assert out.split() == ["write", "True", "write", "True"]


def test_a_link_out_of_the_standard_library_is_not_followed(home,
                                                           tmp_path):
    # A directory of the host's installation that is a link to one that
    # others may write (here: where the host put a crafted cache).
    shared = tmp_path / "vendored"
    shared.mkdir()
    (shared / "mod.py").write_text("MARK = 'source'\n")
    craft(shared / "mod.py", shared / "__pycache__" / f"mod.{TAG}.pyc")
    probe = textwrap.dedent(f"""
        import _imp
        code = _imp._sandbox_code({GUEST_STDLIB!r} + "/vendored/mod.py")
        print(type(code).__name__)
    """)
    try:
        # The control: the same directory in the installation is used.
        shutil.copytree(shared, home / "vendored")
        assert tenant(home, probe) == "code\n"
        shutil.rmtree(home / "vendored")
        os.symlink(shared, home / "vendored")
        assert tenant(home, probe) == "NoneType\n"
    finally:
        if os.path.islink(home / "vendored"):
            os.unlink(home / "vendored")
        shutil.rmtree(home / "vendored", ignore_errors=True)


def test_sysconfig_is_not_loaded_from_its_cache():
    # Its build variables are served as a copy with /sandbox for the host's
    # directories; its cache (compiled from the host's file) has the host's.
    proc = run_python("-c", textwrap.dedent(f"""
        import sandbox, sysconfig
        name = sysconfig._get_sysconfigdata_name()
        __import__(name)                # its cache exists
        with sandbox.Interpreter() as it:
            r = it.run(f\"\"\"if 1:
                import _imp, sysconfig, sys
                prefix = sysconfig.get_config_var('prefix')
                mod = sys.modules[{{name!r}}]
                print(_imp._sandbox_code(mod.__file__))
                print(prefix, sysconfig.get_config_var('abs_builddir'))
            \"\"\")
        print(r.stdout, end="")
    """))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "None"
    assert lines[1].split()[0] == "/sandbox"
    for host_path in (sysconfig.get_config_var("prefix"),
                      sysconfig.get_config_var("abs_builddir")):
        if host_path and host_path != "/sandbox":
            assert host_path not in proc.stdout


def test_caches_outside_the_standard_library_are_not_read(home, colorsys,
                                                          tmp_path):
    # A tenant's own directory on sys.path, with a cache the host (for the
    # test) put next to the module: the source runs.
    (tmp_path / "mod.py").write_text("MARK = 'source'\n")
    craft(tmp_path / "mod.py", tmp_path / "__pycache__" / f"mod.{TAG}.pyc")
    probe = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
             "import mod; print(mod.MARK)")
    assert tenant(home, probe, write=[str(tmp_path)]) == "source\n"
    assert tenant(home, probe, read=[str(tmp_path)]) == "source\n"
    # Asked directly, for that file, or for a path that leaves the standard
    # library by "..": None.
    craft(*colorsys)
    probe = textwrap.dedent(f"""
        import _imp
        print(_imp._sandbox_code({str(tmp_path / "mod.py")!r}))
        print(_imp._sandbox_code({GUEST_STDLIB!r} + "/../../.."
                                 + {str(tmp_path / "mod.py")!r}))
        print(_imp._sandbox_code({GUEST_STDLIB!r} + "/colorsys.py\\0"))
        print(_imp._sandbox_code({GUEST_STDLIB!r} + "/__pycache__/x.py"))
        try:
            _imp._sandbox_code(b"/x.py")
        except TypeError:
            print("TypeError")
        print(type(_imp._sandbox_code({GUEST_STDLIB!r}
                                      + "/colorsys.py")).__name__)
    """)
    assert tenant(home, probe, read=[str(tmp_path)]).split() == [
        "None", "None", "None", "None", "TypeError", "code"]


def test_a_tenant_cannot_plant_a_cache(home, colorsys, tmp_path):
    # A tenant that may write a directory copies a crafted cache's bytes
    # next to a module of its own there: its import compiles the source.
    source, pyc = colorsys
    craft(source, pyc)
    data = pyc.read_bytes()
    (tmp_path / "colorsys.py").write_bytes(source.read_bytes())
    st = os.stat(source)
    os.utime(tmp_path / "colorsys.py", ns=(st.st_atime_ns, st.st_mtime_ns))
    probe = textwrap.dedent(f"""
        import os, sys
        os.mkdir({str(tmp_path / "__pycache__")!r})
        with open({str(tmp_path / "__pycache__" / f"colorsys.{TAG}.pyc")!r},
                  "wb") as f:
            f.write({data!r})
        sys.path.insert(0, {str(tmp_path)!r})
        import colorsys
        print(getattr(colorsys, "MARK", "source"), colorsys.__file__)
    """)
    assert (tenant(home, probe, write=[str(tmp_path)])
            == f"source {tmp_path}/colorsys.py\n")


def test_other_loaders_are_not_bypassed(home, colorsys):
    # A loader of the tenant's own (another get_data()) gets its source
    # compiled, not the cache of the file it names.
    source, pyc = colorsys
    craft(source, pyc)
    probe = textwrap.dedent("""
        import importlib.machinery, importlib.util, sys
        spec = importlib.util.find_spec("colorsys")
        class Loader(importlib.machinery.SourceFileLoader):
            def get_data(self, path):
                if path.endswith(".py"):
                    return b"MARK = 'own loader'"
                raise OSError(path)
        loader = Loader("colorsys", spec.origin)
        spec = importlib.util.spec_from_file_location(
            "colorsys", spec.origin, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        print(module.MARK)
    """)
    assert tenant(home, probe) == "own loader\n"


def test_the_magic_number_is_the_engines():
    # Python/sandbox_bytecode.c has the magic number of the build's
    # importlib as a constant (importlib is the tenant's at run time).
    assert importlib.util.MAGIC_NUMBER == (3571).to_bytes(2, "little") + b"\r\n"


def test_package_roots_the_host_vouches_for(tmp_path):
    # A package root's caches are read only where the policy says the host
    # vouches for them (trusted_bytecode), with the standard library's
    # checks; a bad entry is a PolicyError.
    root = tmp_path / "site-packages"
    root.mkdir()
    (root / "tmod.py").write_text("MARK = 'source'\n")
    craft(root / "tmod.py", root / "__pycache__" / f"tmod.{TAG}.pyc")
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(f"packages = [{str(root)!r}]\n"
                           f"trusted_bytecode = [{str(root)!r}]\n")
    proc = run_python("-c", textwrap.dedent(f"""
        import sandbox
        root = {str(root)!r}
        probe = "import tmod; print(tmod.MARK, tmod.__file__)"
        def run(**fields):
            with sandbox.Interpreter(sandbox.Policy(**fields)) as it:
                print(it.run(probe).stdout, end="")
        run(packages=[root])
        run(packages=[root], trusted_bytecode=[root])
        run(packages=[root], trusted_bytecode=[root], isolation="process")
        run(packages=[root], trusted_bytecode=[root], filesystem_info=True)
        for bad in ({{"trusted_bytecode": [root]}},
                    {{"packages": [root],
                      "trusted_bytecode": [root + "/sub"]}}):
            try:
                sandbox.Policy(**bad)
            except sandbox.PolicyError as exc:
                print(exc.field, exc.value == bad["trusted_bytecode"][0])
        trusting = sandbox.Policy(packages=[root], trusted_bytecode=[root])
        plain = sandbox.Policy(packages=[root])
        print(plain <= trusting, trusting <= plain)
    """))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "source /sandbox/lib/site-packages/tmod.py",
        "from cache /sandbox/lib/site-packages/tmod.py",
        "from cache /sandbox/lib/site-packages/tmod.py",
        f"from cache {root}/tmod.py",
        "trusted_bytecode True", "trusted_bytecode True",
        "True False"]
    # The command line and a policy file say it the same way.
    for options in (["--allow-packages", str(root), "--trust-bytecode",
                     str(root)], ["--policy", str(policy_file)]):
        proc = run_python("-m", "sandbox", "run", "--isolate=interpreter",
                          *options, "-c", "import tmod; print(tmod.MARK)")
        assert proc.stdout == "from cache\n", proc.stderr
    # The checks of the standard library's caches hold here too: a cache
    # that others may write, or one older than its source, is not read.
    probe = ["-m", "sandbox", "run", "--isolate=interpreter",
             "--policy", str(policy_file), "-c",
             "import tmod; print(tmod.MARK)"]
    (root / "__pycache__" / f"tmod.{TAG}.pyc").chmod(0o666)
    assert run_python(*probe).stdout == "source\n"
    craft(root / "tmod.py", root / "__pycache__" / f"tmod.{TAG}.pyc")
    assert run_python(*probe).stdout == "from cache\n"
    st = os.stat(root / "tmod.py")
    os.utime(root / "tmod.py", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert run_python(*probe).stdout == "source\n"


def test_an_untrusted_creator_cannot_vouch(tmp_path):
    # A nested interpreter's policy cannot trust bytecode: its creator is
    # untrusted, whatever its own policy trusts.
    root = tmp_path / "site-packages"
    root.mkdir()
    proc = run_python("-c", textwrap.dedent(f"""
        import sandbox
        root = {str(root)!r}
        policy = sandbox.Policy(packages=[root], trusted_bytecode=[root])
        with sandbox.Interpreter(policy) as it:
            r = it.run(f'''if 1:
                import _sandbox
                try:
                    _sandbox.new_interpreter(packages=["/sandbox/lib/site-packages"],
                        trusted_bytecode=["/sandbox/lib/site-packages"])
                except Exception as exc:
                    print(type(exc).__name__, exc)
            ''')
        print(r.stdout, end="")
    """))
    assert proc.returncode == 0, proc.stderr
    assert "cannot vouch for bytecode" in proc.stdout, proc.stdout


@pytest.mark.parametrize("trusting_isolation", ["interpreter", "process"])
def test_no_write_grant_reaches_a_trusted_root_later(tmp_path,
                                                     trusting_isolation):
    # Once an interpreter of the process (or a worker it started) trusts a
    # package root's caches, no write grant of the process reaches into
    # it: in the process or in a worker, on the root, beneath it or
    # holding it.
    root = tmp_path / "site-packages"
    (root / "sub").mkdir(parents=True)
    proc = run_python("-c", textwrap.dedent(f"""
        import sandbox
        root = {str(root)!r}
        trusting = sandbox.Interpreter(sandbox.Policy(
            packages=[root], trusted_bytecode=[root],
            isolation={trusting_isolation!r}))
        for path, isolation in ((root, "interpreter"),
                                (root + "/sub", "interpreter"),
                                ({str(tmp_path)!r}, "interpreter"),
                                (root + "/sub", "process"),
                                (root + "/new.pyc", "interpreter")):
            try:
                sandbox.Interpreter(sandbox.Policy(
                    write=[path], isolation=isolation)).close()
                print("created")
            except sandbox.PolicyError as exc:
                print(exc.field, "trusted_bytecode" in str(exc))
        trusting.close()
    """))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["write", "True"] * 5


def test_a_file_grant_beside_the_standard_library_keeps_it(home, colorsys):
    # A file's grant holds only the file: one in a directory that holds
    # the standard library is no write grant over it.
    craft(*colorsys)
    out = host(home, f"""
        import sandbox
        path = {str(home.parent / "out.txt")!r}
        with sandbox.Interpreter(sandbox.Policy(write=[path])) as it:
            it.run("open(%r, 'w').write('x')" % path)
        with sandbox.Interpreter() as it:
            print(it.run({PROBE!r}).stdout.split()[0])
    """)
    assert out.split() == ["from"]
    assert (home.parent / "out.txt").read_text() == "x"


def link_flipper(tmp_path, target, seconds):
    """A script that swaps the link tmp_path/L between tmp_path/real (made
    here) and *target* for *seconds*, as fast as it can (run as a process
    of its own); the link's path and the script's."""
    (tmp_path / "real").mkdir()
    link = str(tmp_path / "L")
    flipper = tmp_path / "flip.py"
    flipper.write_text(textwrap.dedent(f"""
        import os, time
        targets = [{str(tmp_path / "real")!r}, {str(target)!r}]
        stop = time.monotonic() + {seconds}
        i = 0
        while time.monotonic() < stop:
            tmp = {link!r} + ".tmp"
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            os.symlink(targets[i % 2], tmp)
            os.replace(tmp, {link!r})
            i += 1
    """))
    return link, flipper


def test_a_link_swapped_under_a_write_grant_never_reaches_the_stdlib(
        home, tmp_path):
    # The names of the write grants are checked, then opened: a link that
    # another party swaps in between (here a process of its own, as a
    # worker could) must not land the grant in the standard library.  The
    # grant is checked again as opened.  Probabilistic, bounded: 4 seconds
    # of creations (a hostile review hit the window within seconds).
    link, flipper = link_flipper(tmp_path, home / "email", 4)
    out = host(home, f"""
        import sandbox, subprocess, sys, time
        link = {link!r}
        flipper = subprocess.Popen([sys.executable, {str(flipper)!r}])
        stop = time.monotonic() + 4
        made = refused = 0
        while time.monotonic() < stop:
            try:
                it = sandbox.Interpreter(sandbox.Policy(write=[link]))
            except Exception:
                refused += 1
                continue
            try:
                it.run("open(%r, 'w').close()" % (link + "/marker"))
                made += 1
            except Exception:
                pass                # the link moved under the job
            finally:
                it.close()
        flipper.wait()
        print(made + refused > 10)
    """)
    assert out.split() == ["True"]
    assert not (home / "email" / "marker").exists()


def test_a_link_swapped_under_a_workers_grant_never_reaches_a_trusted_root(
        tmp_path):
    # The host checks a worker's write grants by name, the worker opens
    # them: it checks them again, as opened, against the package roots the
    # host's process trusts (sent in its start).  Probabilistic, bounded:
    # 5 seconds of worker starts while another process swaps a link.
    root = tmp_path / "site-packages"
    root.mkdir()
    link, flipper = link_flipper(tmp_path, root, 5)
    proc = run_python("-c", textwrap.dedent(f"""
        import sandbox, subprocess, sys, time
        link = {link!r}
        trusting = sandbox.Interpreter(sandbox.Policy(
            packages=[{str(root)!r}], trusted_bytecode=[{str(root)!r}]))
        flipper = subprocess.Popen([sys.executable, {str(flipper)!r}])
        stop = time.monotonic() + 5
        attempts = 0
        while time.monotonic() < stop:
            attempts += 1
            try:
                with sandbox.Interpreter(sandbox.Policy(
                        write=[link], isolation="process")) as it:
                    it.run("open(%r, 'w').close()" % (link + "/marker"))
            except Exception:
                pass
        flipper.wait()
        trusting.close()
        print(attempts > 3)
    """), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True"]
    assert not (root / "marker").exists()
