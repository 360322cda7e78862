"""Hostile bytecode (issue 6, item 3) and the crippled gc (item 2): an
untrusted interpreter cannot hand the interpreter bytecode, through any
entry point, nor reach objects that only gc hands out.  The effects: a
code object that crashes a stock interpreter never runs (the host lives),
a .pyc never loads (its marker file never appears), while source,
frozen modules and marshalled data keep working."""

import py_compile
import textwrap

import pytest

from support import job_outcome as outcome, requires_untrusted, run_host

pytestmark = requires_untrusted



# A function whose bytecode loads constant 0x7fffff of a one-constant
# tuple: far out of bounds, a crash wherever it is run.
CRASHER = """
import opcode
def f():
    return None
op = opcode.opmap
code = bytes([op["RESUME"], 0,
              op["EXTENDED_ARG"], 0x7f, op["EXTENDED_ARG"], 0xff,
              op["LOAD_CONST"], 0xff, op["RETURN_VALUE"], 0])
f.__code__ = f.__code__.replace(co_code=code)
f()
"""



def test_crashing_bytecode_never_runs():
    proc = run_host(f"""
        import _sandbox
        jail = _sandbox.new_interpreter()
        try:
            _sandbox.exec(jail, {CRASHER!r})
        except _sandbox.RemoteError as exc:
            print(exc.type_name)
        _sandbox.end_interpreter(jail)
        print("host alive")
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sandbox.SandboxError\nhost alive\n"
    # The control: in a trusted isolated interpreter it takes the process.
    control = run_host(f"""
        import _interpreters
        i = _interpreters.create("isolated")
        _interpreters.exec(i, {CRASHER!r})
        print("survived")
    """)
    assert control.returncode < 0 and "survived" not in control.stdout


@pytest.mark.parametrize("attempt", [
    "import types; c = (lambda: 0).__code__; types.CodeType(c.co_argcount,"
    " c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals,"
    " c.co_stacksize, c.co_flags, c.co_code, c.co_consts, c.co_names,"
    " c.co_varnames, c.co_filename, c.co_name, c.co_qualname,"
    " c.co_firstlineno, c.co_linetable, c.co_exceptiontable)",
    "(lambda: 0).__code__.replace(co_consts=(1,))",
    "(lambda: 0).__code__.replace(co_code=(lambda: 0).__code__.co_code)",
    "c = (lambda: 0).__code__; c.replace(co_consts=tuple(list(c.co_consts)))",
    "(lambda: 0).__code__.replace(co_flags=0x04)",
    "(lambda: 0).__code__.replace(co_nlocals=5)",
    "(lambda: 0).__code__.replace(co_stacksize=0)",
    "(lambda: 0).__code__.replace(co_varnames=('a',))",
    "(lambda: 0).__code__.replace(co_linetable=b'')",
    "(lambda: 0).__code__.replace(co_exceptiontable=b'\\xff')",
    "(lambda: 0).__code__.__replace__(co_names=('x',))",
    "import copy; copy.replace((lambda: 0).__code__, co_consts=())",
    "import marshal; marshal.loads(marshal.dumps((lambda: 0).__code__))",
    "import marshal; marshal.loads(marshal.dumps([1, (lambda: 0).__code__]))",
    "import io, marshal; marshal.load(io.BytesIO("
    "marshal.dumps((lambda: 0).__code__)))",
    "import _imp, marshal; _imp.get_frozen_object('os',"
    " marshal.dumps((lambda: 0).__code__))",
    "import _imp; _imp.get_frozen_object('os', b'')",
    "import _imp; _imp._override_multi_interp_extensions_check(-1)",
    "import gc; gc.get_referrers(int)",
    "import gc; gc.get_referents(int)",
    "import gc; gc.get_objects()",
    "import gc; gc.get_objects(generation=0)",
    "import gc; gc.set_threshold(0)",
    "import gc; gc.freeze()",
    "import gc; gc.unfreeze()",
])
def test_each_entry_point_is_denied(untrusted, attempt):
    assert outcome(untrusted, attempt) == "SandboxError"


def test_source_frozen_modules_and_data_keep_working(untrusted):
    import _sandbox
    assert outcome(untrusted, """
        import marshal, gc, importlib, json, os, _imp
        assert marshal.loads(marshal.dumps([1, 'a', b'b', 2.5, None,
                                            {'k': (1, 2)}])) == [
            1, 'a', b'b', 2.5, None, {'k': (1, 2)}]
        try:
            marshal.loads(marshal.dumps((lambda: 0).__code__),
                          allow_code=False)
        except ValueError:
            pass
        exec(compile("x = 6 * 7", "<job>", "exec"))
        assert eval("x") == 42
        code = compile("y = 1", "<s>", "exec")
        assert code.co_consts
        assert _imp.is_frozen("zipimport")
        assert _imp.get_frozen_object("zipimport")
        gc.collect(); gc.disable(); gc.enable()
        assert gc.get_threshold() and gc.isenabled()
        importlib.reload(json)
        # what the evaluator does not trust may change: names, file, line,
        # and the flag types.coroutine() sets
        import copy, types
        c = (lambda: 0).__code__
        c2 = c.replace(co_name="n", co_qualname="q", co_filename="f",
                       co_firstlineno=7, co_flags=c.co_flags | 0x100)
        assert (c2.co_name, c2.co_firstlineno) == ("n", 7)
        assert copy.replace(c, co_name="m").co_name == "m"
        @types.coroutine
        def gen():
            yield
    """) == "ran"
    assert _sandbox.eval(untrusted, "x") == 42


def test_no_pyc_loads(tmp_path):
    # A module that only exists as bytecode: importing it would run it and
    # create the marker.
    marker = tmp_path / "marker"
    source = tmp_path / "src" / "sourceless.py"
    source.parent.mkdir()
    source.write_text(f"open({str(marker)!r}, 'w').close()\n")
    pyc = tmp_path / "lib" / "sourceless.pyc"
    pyc.parent.mkdir()
    py_compile.compile(str(source), cfile=str(pyc), doraise=True)
    job = textwrap.dedent(f"""
        import sys, importlib.machinery
        sys.path.insert(0, {str(pyc.parent)!r})
        outcomes = []
        for attempt in (
                lambda: __import__("sourceless"),
                lambda: importlib.machinery.SourcelessFileLoader(
                    "s2", {str(pyc)!r}).load_module()):
            try:
                attempt()
                outcomes.append("ran")
            except PermissionError as exc:
                outcomes.append(type(exc).__name__)
    """)
    proc = run_host(f"""
        import _sandbox
        jail = _sandbox.new_interpreter(read=({str(tmp_path)!r},))
        _sandbox.exec(jail, {job!r})
        print(_sandbox.eval(jail, "outcomes"))
        _sandbox.end_interpreter(jail)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "['SandboxError', 'SandboxError']\n"
    assert not marker.exists()
    control = run_host(f"""
        import _interpreters
        i = _interpreters.create("isolated")
        _interpreters.exec(i, {job!r})
    """)
    assert control.returncode == 0, control.stderr
    assert marker.exists()
