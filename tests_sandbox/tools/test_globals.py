"""The guard of the C globals that can hold a Python object.

An object of one interpreter must never reach another (the lesson of
signal.getsignal(), which handed an untrusted interpreter the host's
handler).  Every C global of the assembled tree that can hold one, in the
files an untrusted interpreter reaches, is decided in
Tools/sandbox/globals.tsv (Doc/sandbox/globals.rst): a new one fails here
until someone decides it.  The scanner is checked on a planted global too,
so that the guard cannot pass by finding nothing.
"""

import os
import shutil
import subprocess
import sys

import pytest

import support

TOOLS = os.path.join(support.REPO, "Tools", "sandbox")
SCRIPT = os.path.join(TOOLS, "globals.py")
INVENTORY = os.path.join(TOOLS, "globals.tsv")


def load():
    import importlib.util
    spec = importlib.util.spec_from_file_location("sandbox_globals", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def source_tree():
    src = os.path.join(support.build_dir(), "src")
    if not os.path.isfile(os.path.join(src, "Python", "sandbox.c")):
        pytest.skip(f"no assembled source tree at {src}")
    return src


def test_inventory_is_well_formed():
    rows = load().read_inventory(INVENTORY)
    assert len(rows) > 50
    for row in rows:
        assert row.why.strip(), f"globals.tsv:{row.lineno}: no reason"


@pytest.fixture(scope="module")
def scanned():
    """(the scanner module, every global of the assembled tree)."""
    globals_ = load()
    return globals_, globals_.scan(source_tree())


def test_every_global_is_in_the_inventory(scanned):
    globals_, found = scanned
    new, gone = globals_.compare(found, globals_.read_inventory(INVENTORY))
    report = [f"new: {g.file}:{g.line}: {g.func} {g.name} ({g.kind}, "
              f"{g.type})" for g in new]
    report += [f"gone: globals.tsv:{r.lineno}: {r.file} {r.func} {r.name}"
               for r in gone]
    assert not report, (
        "C globals that can hold an object are new or gone; decide each "
        "in Tools/sandbox/globals.tsv (see Doc/sandbox/globals.rst):\n"
        + "\n".join(report))


def test_the_scan_parses_every_file(scanned):
    # A file whose braces do not balance would hide its globals.
    globals_, found = scanned
    assert not globals_.UNBALANCED, globals_.UNBALANCED
    names = {(g.file, g.func, g.name) for g in found}
    # The globals of the escape that started the inventory, and a few
    # of each kind, are found.
    for key in [
            ("Include/internal/pycore_signal.h", "_PyRuntime",
             "signals.handlers[].func"),
            ("Python/pylifecycle.c", "-", "_PyRuntime"),
            ("Objects/object.c", "-", "_Py_NoneStruct"),
            ("Objects/exceptions.c", "-", "PyExc_TypeError"),
            ("Modules/signalmodule.c", "-", "signal_module"),
            ]:
        assert key in names, key


PLANTS = [
    ("static PyObject *planted_cache;\n", "planted_cache", "pointer"),
    ("static PyObject *planted_a = NULL, *planted_b;\n", "planted_b",
     "pointer"),
    ("static struct { int n; PyObject *obj; } planted_state;\n",
     "planted_state", "holder"),
    ("static PyTupleObject *planted_array[4];\n", "planted_array",
     "pointer"),
    ("PyObject *\nplanted_func(void)\n{\n    static PyObject *planted_static"
     " = NULL;\n    return planted_static;\n}\n", "planted_static",
     "pointer"),
    ("static PyTypeObject planted_type = {\n"
     "    PyVarObject_HEAD_INIT(NULL, 0)\n    .tp_name = \"p\",\n};\n",
     "planted_type", "type"),
    ("#ifdef PLANTED\nstatic int\nplanted_g(void) {\n#else\nstatic int\n"
     "planted_g(int x) {\n#endif\n    _Py_IDENTIFIER(planted_id);\n"
     "    return 0;\n}\n", "PyId_planted_id", "holder"),
]


@pytest.mark.parametrize("code,name,kind", PLANTS,
                         ids=[p[1] for p in PLANTS])
def test_a_planted_global_is_caught(tmp_path, code, name, kind):
    globals_ = load()
    src = source_tree()
    rel = "Modules/_json.c"
    copy = tmp_path / "src"
    (copy / "Modules").mkdir(parents=True)
    with open(os.path.join(src, rel), encoding="utf-8") as f:
        text = f.read()
    # Plant it after the includes, at file scope.
    at = text.index("\n\n", text.rindex("#include"))
    with open(copy / rel, "w", encoding="utf-8") as f:
        f.write(text[:at] + "\n\n" + code + text[at:])
    found = globals_.scan(str(copy), files=[rel])
    planted = [g for g in found if g.name == name]
    assert planted and planted[0].kind == kind, [repr(g) for g in found]
    rows = globals_.read_inventory(INVENTORY)
    new, _ = globals_.compare(found, rows)
    assert name in [g.name for g in new]
    assert all("planted_" in g.name for g in new), new


def test_the_command_fails_on_a_planted_global(tmp_path):
    # The whole command, on a copy of the tree with one file changed.
    src = source_tree()
    copy = tmp_path / "src"
    # Only what the scan reads.
    for top in ("Include", "Modules", "Objects", "Parser", "Python"):
        shutil.copytree(os.path.join(src, top), copy / top)
    path = copy / "Objects" / "floatobject.c"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "\nstatic PyObject *planted_float_cache;\n",
                    encoding="utf-8")
    proc = subprocess.run([sys.executable, SCRIPT, str(copy)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("new: Objects/floatobject.c:" in proc.stdout
            and "planted_float_cache" in proc.stdout), proc.stdout
    assert "gone:" not in proc.stdout, proc.stdout


def test_a_removed_global_is_reported_gone(scanned):
    globals_, found = scanned
    rows = globals_.read_inventory(INVENTORY)
    found = [g for g in found if g.name != "_Py_EllipsisObject"]
    _, gone = globals_.compare(found, rows)
    assert [r.name for r in gone] == ["_Py_EllipsisObject"]
