"""Known interpreter crashes (issue 6, item 4): each case of the corpus runs
in a child process and must end cleanly.  A case that crashes stock
3.13.5 is either fixed by a patch of ours (and then runs anywhere) or
unreachable from an untrusted interpreter (and then runs inside one).
Doc/sandbox/imports.rst lists the corpus and what remains open
upstream."""

import os
import textwrap

import pytest

from support import (UNTRUSTED_BUILD, requires_untrusted, run_host,
                     run_untrusted)

CRASHERS = os.path.join(os.path.dirname(os.__file__), "test", "crashers")

# Fixed by a patch of ours (every build): they run in the host itself.
FIXED = {
    # 0028, gh-142560/142558/142559: a search's __index__ clears the
    # bytearray under it.
    "bytearray_search": """
        victim = bytearray(b"A" * 0x100000)
        class Evil:
            def __index__(self):
                victim.clear()
                return 65
        for name in ("find", "rfind", "index", "rindex", "count",
                     "__contains__", "startswith", "endswith"):
            victim[:] = b"B" * 0x100000
            arg = Evil() if name not in ("startswith", "endswith") else b"A"
            try:
                getattr(victim, name)(arg)
            except (BufferError, ValueError, TypeError):
                pass
        class EvilBuffer:
            def __buffer__(self, flags):
                victim.clear()
                return memoryview(b",")
        victim[:] = b"a,b" * 0x10000
        victim.split(EvilBuffer()); victim.rsplit(EvilBuffer())
    """,
    # 0029, gh-152405: a reflected __eq__ or __ror__ gets a type's dict.
    "mappingproxy": """
        class A:
            def f(self):
                return 1
        class Evil(dict):
            def __eq__(self, other):
                other["f"] = lambda self: 2
                return NotImplemented
            def __ror__(self, other):
                other["f"] = lambda self: 3
                return NotImplemented
        a = A()
        for i in range(10):
            a.f()
        A.__dict__ == Evil()
        try:
            A.__dict__ | Evil()
        except TypeError:
            pass
        class Grab:
            def __eq__(self, other):
                return other
        leaked = vars(type) == Grab()
        leaked["__instancecheck__"] = lambda *args: False
        for i in range(100000):
            assert a.f() == 1
        assert "__instancecheck__" not in vars(type) or \\
            vars(type)["__instancecheck__"] is not leaked["__instancecheck__"]
    """,
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_by_a_patch(name):
    proc = run_host(FIXED[name])
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])


@requires_untrusted
@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed_inside_too(name):
    proc = run_untrusted(textwrap.dedent(FIXED[name]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == "ran\nhost alive\n"


# Unreachable from an untrusted interpreter: what the job ends with.
UNREACHABLE = {
    # stale on 3.13 (the constructor takes 16 arguments now); the crashing
    # code object of test_bytecode.py covers the constructor
    "bogus_code_obj.py": "TypeError",
    "gc_inspection.py": "SandboxError",        # gc.get_referrers
    "underlying_dict.py": "SandboxError",      # gc.get_referrers
    "recursive_call.py": "SandboxError",       # setrecursionlimit(1 << 30)
    # not crashes on 3.13.5, kept as cases
    "trace_at_recursion_limit.py": "RecursionError",
    "mutation_inside_cyclegc.py": "ran",
}


@requires_untrusted
@pytest.mark.parametrize("name", sorted(UNREACHABLE))
def test_the_corpus_inside(name):
    with open(os.path.join(CRASHERS, name)) as f:
        source = f.read().replace("if __name__ == '__main__':",
                                  "if True:")
    proc = run_untrusted(source)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == f"{UNREACHABLE[name]}\nhost alive\n"


def test_the_corpus_is_what_we_know():
    # A new upstream crasher must be looked at, not silently skipped.
    known = set(UNREACHABLE) | {"infinite_loop_re.py"}
    assert set(n for n in os.listdir(CRASHERS) if n.endswith(".py")) == known


# Deep nesting through C, recursion limits, small thread stacks, and
# hand-built ASTs: each ends in an exception, never a crash.
NESTING = {
    "repr": "l = []\nfor i in range(10**6): l = [l]\nrepr(l)",
    "json": "import json\nl = []\nfor i in range(10**5): l = [l]\n"
            "json.dumps(l)",
    "pickle": "import pickle\nl = []\nfor i in range(10**5): l = [l]\n"
              "pickle.dumps(l)",
    "parser": "eval('(' * 100000 + ')' * 100000)",
    "compile_ast": "import ast\ne = ast.Constant(1)\n"
                   "for i in range(10**5): e = ast.UnaryOp(ast.Not(), e)\n"
                   "compile(ast.fix_missing_locations(ast.Expression(e)),"
                   " '<ast>', 'eval')",
    "thread_stack": "import threading\nthreading.stack_size(32768)\n"
                    "def deep():\n    l = []\n"
                    "    for i in range(10**6): l = [l]\n"
                    "    try:\n        repr(l)\n"
                    "    except RecursionError:\n        pass\n"
                    "t = threading.Thread(target=deep); t.start(); t.join()\n"
                    "raise RecursionError",
    "bad_ast": "import ast\n"
               "bad = [ast.Expression(ast.Name('x', ast.Store())),\n"
               "       ast.Expression(ast.Constant([1])),\n"
               "       ast.Module([ast.Expr(ast.Constant(1, lineno=9,"
               " col_offset=5, end_lineno=1, end_col_offset=0))], []),\n"
               "       ast.Expression(ast.Starred(ast.Name('x', ast.Load()),"
               " ast.Load()))]\n"
               "for tree in bad:\n"
               "    try:\n"
               "        eval(compile(ast.fix_missing_locations(tree),"
               " '<ast>', 'eval' if isinstance(tree, ast.Expression)"
               " else 'exec'))\n"
               "    except (ValueError, TypeError, SyntaxError, NameError):\n"
               "        pass\n"
               "raise RecursionError",
}


@requires_untrusted
@pytest.mark.parametrize("name", sorted(NESTING))
def test_deep_nesting_inside(name):
    proc = run_untrusted(NESTING[name], timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == "host alive"
    assert proc.stdout.splitlines()[0] in ("RecursionError", "MemoryError",
                                           "SyntaxError")


@pytest.mark.skipif(UNTRUSTED_BUILD, reason="the control runs on the "
                    "flag-off build, where nothing is denied")
def test_control_the_corpus_still_crashes_stock_code():
    # On the flag-off build (patched too), what is only made unreachable
    # still crashes: the tests above are not vacuous.
    for name in ("gc_inspection.py", "underlying_dict.py"):
        with open(os.path.join(CRASHERS, name)) as f:
            proc = run_host(f.read())
        assert proc.returncode < 0, name
