"""Imports (issue 6, item 1): an untrusted interpreter loads C code only
from its allowlist, built-in and shared modules alike, each from its own
file, through every loader path; a denied module looks exactly like a
module that does not exist.  The effect that matters: a shared library
whose constructor would create a marker file is never dlopen()ed."""

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from support import job_outcome, requires_untrusted, run_host

pytestmark = requires_untrusted

NEVER_BY_DEFAULT = [
    "_ctypes", "mmap", "resource", "fcntl", "termios",
    "faulthandler", "_tracemalloc", "_testcapi", "_testinternalcapi",
    "_testsinglephase", "_interpreters", "_interpqueues",
    "_interpchannels", "_multiprocessing", "_posixshmem", "readline",
    "_curses", "_tkinter", "pwd", "grp", "syslog", "_lsprof", "_datetime",
    "_sqlite3", "_ssl", "_uuid", "_dbm", "_gdbm", "xxsubtype", "_zoneinfo",
]



@pytest.mark.parametrize("name", NEVER_BY_DEFAULT)
def test_denied_like_a_module_that_does_not_exist(untrusted, name):
    assert outcome(untrusted, f"import {name}") == \
        f"ModuleNotFoundError: No module named '{name}'"
    assert outcome(untrusted, f"""
        try:
            import {name}
        except ModuleNotFoundError as exc:
            assert exc.name == {name!r}, exc.name
    """) == "ran"


def outcome(interp, source):
    return job_outcome(interp, source, message=True)


def test_posixsubprocess_loads_crippled(untrusted):
    # subprocess imports it at its top (and asyncio imports subprocess):
    # the module loads, its one function is denied.
    assert outcome(untrusted, "import subprocess; subprocess.run(['true'])") \
        .startswith("SandboxError")


def test_every_loader_path(untrusted):
    ctypes_file = None
    for entry in sys.path:
        candidate = os.path.join(
            entry, "_ctypes" + sysconfig.get_config_var("EXT_SUFFIX"))
        if os.path.exists(candidate):
            ctypes_file = candidate
    assert ctypes_file is not None
    attempts = {
        "import_module": "importlib.import_module('_ctypes')",
        "create_builtin": "_imp.create_builtin(Spec('pwd'))",
        "create_builtin unknown": "_imp.create_builtin(Spec('_tracemalloc'))",
        "create_dynamic": f"_imp.create_dynamic(Spec('_ctypes', "
                          f"{ctypes_file!r}))",
        "ExtensionFileLoader": f"importlib.machinery.ExtensionFileLoader("
                               f"'_ctypes', {ctypes_file!r}).load_module()",
        "spec_from_file_location": f"""(lambda spec: spec.loader.create_module(
            spec))(importlib.util.spec_from_file_location(
            '_ctypes', {ctypes_file!r}))""",
    }
    prelude = """
import _imp, importlib, importlib.machinery, importlib.util
class Spec:
    def __init__(self, name, origin=None):
        self.name, self.origin = name, origin
"""
    for what, code in attempts.items():
        assert outcome(untrusted, prelude + code).startswith(
            "ModuleNotFoundError: No module named"), what
    # BuiltinImporter says the same of a denied module as of a missing one
    assert outcome(untrusted, prelude + "importlib.machinery.BuiltinImporter"
                   ".load_module('pwd')") == \
        "ImportError: 'pwd' is not a built-in module"
    assert outcome(untrusted, prelude + "importlib.machinery.BuiltinImporter"
                   ".load_module('no_such_mod')") == \
        "ImportError: 'no_such_mod' is not a built-in module"


def test_denied_builtins_are_not_revealed(untrusted):
    import _sandbox
    names = _sandbox.eval(untrusted, "__import__('sys').builtin_module_names")
    for hidden in ("pwd", "_tracemalloc", "faulthandler"):
        assert hidden in sys.builtin_module_names
        assert hidden not in names
    assert "_io" in names and "math" not in sys.builtin_module_names
    assert _sandbox.eval(untrusted,
                         "[__import__('_imp').is_builtin(n) for n in "
                         "('pwd', 'faulthandler', '_io', 'posix')]") == \
        [0, 0, 1, 1]


COMPATIBLE = """
import argparse, asyncio, base64, bisect, collections, contextlib, copy
import csv, dataclasses, datetime, decimal, difflib, enum, fractions
import functools, gzip, hashlib, heapq, io, itertools, json, logging
import operator, pickle, pprint, random, re, secrets, statistics, string
import textwrap, tomllib, typing, uuid, zipfile, abc, zoneinfo
assert json.loads(json.dumps({"a": [1, 2.5]})) == {"a": [1, 2.5]}
assert re.sub(r"(\\d+)", r"<\\1>", "a1b22") == "a<1>b<22>"
assert decimal.Decimal("1.1") + decimal.Decimal("2.2") == decimal.Decimal("3.3")
assert fractions.Fraction(1, 3) * 3 == 1
assert statistics.median([3, 1, 2]) == 2
assert hashlib.sha256(b"x").hexdigest().startswith("2d711642")
assert datetime.date(2026, 11, 26).isoformat() == "2026-11-26"
assert pickle.loads(pickle.dumps({"k": (1, "v")})) == {"k": (1, "v")}
assert uuid.UUID(str(uuid.uuid4())).version == 4 and secrets.token_hex(4)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("a.txt", "zipped")
assert zipfile.ZipFile(io.BytesIO(buf.getvalue())).read("a.txt") == b"zipped"
assert gzip.decompress(gzip.compress(b"data")) == b"data"
assert tomllib.loads("a = 1") == {"a": 1}
import sys
assert "_zoneinfo" not in sys.modules       # its pure-Python ZoneInfo
assert datetime.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC"))
assert list(csv.reader(["a,b"])) == [["a", "b"]]
assert base64.b64decode(base64.b64encode(b"ok")) == b"ok"
@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
assert Point(1) == Point(1, 0)
class Color(enum.Enum):
    RED = 1
assert Color(1) is Color.RED
parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int)
assert parser.parse_args(["--n", "3"]).n == 3
logging.getLogger("job").warning("logged")
async def main():
    await asyncio.sleep(0)
    return 42
assert asyncio.run(main()) == 42
"""


def test_ordinary_code_works_with_the_default_set(untrusted):
    assert outcome(untrusted, COMPATIBLE) == "ran"


def test_a_policy_grants_and_nested_policies_stay_within():
    import _sandbox
    jail = _sandbox.new_interpreter(modules=("pwd", "_lsprof"))
    try:
        assert outcome(jail, "import pwd, cProfile") == "ran"
        assert "pwd" in _sandbox.eval(
            jail, "__import__('sys').builtin_module_names")
        assert outcome(jail, "import grp").startswith("ModuleNotFoundError")
        # a nested interpreter gets only modules its creator has
        assert outcome(jail, "import _sandbox; _sandbox.new_interpreter("
                             "modules=('grp',))").startswith("SandboxError")
        assert outcome(jail, "import _sandbox; i = _sandbox.new_interpreter("
                             "modules=('pwd',)); "
                             "_sandbox.exec(i, 'import pwd'); "
                             "_sandbox.end_interpreter(i)") == "ran"
    finally:
        _sandbox.end_interpreter(jail)
    for bad in ("_interpreters", "_testcapi", "xxsubtype", "os.path", "",
                # they hold objects in process-wide C state (globals.rst)
                "_ctypes", "faulthandler", "_tracemalloc", "readline",
                "_curses", "_curses_panel", "_tkinter"):
        with pytest.raises(_sandbox.PolicyError) as info:
            _sandbox.new_interpreter(modules=(bad,))
        assert (info.value.field, info.value.value) == ("modules", bad)


MARKER_LIB = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void planted(void) {
    int fd = open(MARKER, O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) close(fd);
}
"""


@pytest.fixture
def planted_library(tmp_path):
    """A shared library named like the allowed _json extension, whose
    constructor creates a marker file when it is dlopen()ed."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    marker = tmp_path / "dlopened"
    src = tmp_path / "planted.c"
    src.write_text(MARKER_LIB)
    libdir = tmp_path / "lib"
    libdir.mkdir()
    lib = libdir / ("_json" + sysconfig.get_config_var("EXT_SUFFIX"))
    subprocess.run([cc, "-shared", "-fPIC", f'-DMARKER="{marker}"',
                    "-o", str(lib), str(src)], check=True)
    return lib, marker


def test_no_other_file_loads_under_an_allowed_name(planted_library):
    lib, marker = planted_library
    job = textwrap.dedent(f"""
        import sys, _imp, importlib.util
        outcomes = []
        class Spec:
            name, origin = "_json", {str(lib)!r}
        sys.path.insert(0, {str(lib.parent)!r})
        sys.modules.pop("_json", None)
        for attempt in (lambda: _imp.create_dynamic(Spec()),
                        lambda: __import__("_json"),
                        lambda: importlib.util.spec_from_file_location(
                            "_json", {str(lib)!r}).loader.create_module(
                            Spec())):
            try:
                attempt()
                outcomes.append("loaded")
            except ImportError as exc:
                outcomes.append(type(exc).__name__)
    """)
    proc = run_host(f"""
        import _sandbox
        jail = _sandbox.new_interpreter(read=({str(lib.parent)!r},))
        _sandbox.exec(jail, {job!r})
        print(_sandbox.eval(jail, "outcomes"))
        _sandbox.end_interpreter(jail)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == str(["ModuleNotFoundError"] * 3) + "\n"
    assert not marker.exists()
    # The control: a trusted isolated interpreter dlopen()s it.
    proc = run_host(f"""
        import _interpreters
        i = _interpreters.create("isolated")
        _interpreters.exec(i, {job!r})
    """)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()


SHARE = """
import sys, _sandbox
names = sorted(n for n in sys.stdlib_module_names
               if not n.startswith(("_", "idlelib", "turtledemo"))
               and n not in ("antigravity", "this", "__phello__"))
ok = []
for name in names:
    jail = _sandbox.new_interpreter()
    try:
        _sandbox.exec(jail, "import " + name)
        ok.append(name)
    except _sandbox.RemoteError:
        pass
    finally:
        _sandbox.end_interpreter(jail)
print(len(ok), len(names))
"""


def test_most_of_the_stdlib_imports():
    proc = run_host(SHARE, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ok, total = map(int, proc.stdout.split())
    print(f"{ok} of {total} public stdlib modules import")
    assert ok / total >= 0.75


def test_a_module_bound_to_its_file(planted_library, tmp_path):
    # An embedder's own module outside the standard library loads from the
    # file its policy names, and from no other.
    import _sandbox
    lib, marker = planted_library
    other = tmp_path / "other"
    other.mkdir()
    copy = other / lib.name
    shutil.copy(lib, copy)
    load = ("import importlib.util\n"
            "spec = importlib.util.spec_from_file_location('_json', {!r})\n"
            "spec.loader.create_module(spec)")
    jail = _sandbox.new_interpreter(module_files={"planted": str(lib)})
    try:
        # another name's file, and the bound name from another file
        assert outcome(jail, load.format(str(lib))).startswith(
            "ModuleNotFoundError")
        assert not marker.exists()
    finally:
        _sandbox.end_interpreter(jail)
    planted = lib.with_name("planted" + sysconfig.get_config_var("EXT_SUFFIX"))
    lib.rename(planted)
    copy.rename(copy.with_name(planted.name))
    jail = _sandbox.new_interpreter(module_files={"planted": str(planted)})
    try:
        assert outcome(jail, load.replace("'_json'", "'planted'").format(
            str(other / planted.name))).startswith("ModuleNotFoundError")
        assert not marker.exists()
        # its own file is dlopen()ed (it has no PyInit_planted: ImportError)
        assert outcome(jail, load.replace("'_json'", "'planted'").format(
            str(planted))).startswith("ImportError")
        assert marker.exists()
    finally:
        _sandbox.end_interpreter(jail)
    for name, file, value in [("planted", "relative.so", "relative.so"),
                              ("a..b", "/x.so", "a..b"),
                              ("os.b", "/x.so", "os.b"),
                              ("_interpreters", "/x.so", "_interpreters"),
                              ("planted", 3, 3)]:
        with pytest.raises(_sandbox.PolicyError) as info:
            _sandbox.new_interpreter(module_files={name: file})
        assert (info.value.field, info.value.value) == ("module_files",
                                                        value)
    with pytest.raises(_sandbox.PolicyError, match="expected a dict"):
        _sandbox.new_interpreter(module_files=[("planted", "/x.so")])


SWAP = """
import _sandbox, os, shutil
first = _sandbox.new_interpreter()      # the process records the inodes
_sandbox.end_interpreter(first)
target = {target!r}
backup = target + ".sandbox-test"
os.rename(target, backup)
shutil.copy(backup, target)             # the same bytes, another inode
try:
    jail = _sandbox.new_interpreter()
    try:
        _sandbox.exec(jail, "import _bisect")
        print("loaded")
    except _sandbox.RemoteError as exc:
        print(exc.type_name)
    _sandbox.end_interpreter(jail)
finally:
    os.replace(backup, target)
"""


def test_a_file_put_in_a_modules_place_does_not_load():
    # The standard library's extension files are recorded, inode and all,
    # when the process creates its first untrusted interpreter: a file
    # renamed over one afterwards (here a copy of the same library) is
    # refused.  A new process records the new files.
    import _bisect
    target = os.path.join(os.path.dirname(_bisect.__file__),
                          os.path.basename(_bisect.__file__))
    if not os.access(os.path.dirname(target), os.W_OK):
        pytest.skip("the standard library's directory is read-only")
    proc = run_host(SWAP.format(target=target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ModuleNotFoundError\n"
    proc = run_host("""
        import _sandbox
        jail = _sandbox.new_interpreter()
        _sandbox.exec(jail, "import _bisect")
        print("loaded")
    """)
    assert proc.stdout == "loaded\n", proc.stderr


def test_pickle_imports_only_what_the_allowlist_allows(untrusted):
    # A pickle names a callable by module and name: loading it imports
    # through the same checks.
    import pickle
    payload = pickle.dumps(__import__("pwd").getpwall, protocol=0)
    assert outcome(untrusted, f"import pickle; pickle.loads({payload!r})") \
        == "ModuleNotFoundError: No module named 'pwd'"
    payload = b"cos\nsystem\n(Vtrue\ntR."
    assert outcome(untrusted, f"import pickle; pickle.loads({payload!r})") \
        .startswith("SandboxError")
    assert outcome(untrusted, "import pickle; assert pickle.loads("
                   "pickle.dumps({'a': [1, 2.5, None]})) == "
                   "{'a': [1, 2.5, None]}") == "ran"
