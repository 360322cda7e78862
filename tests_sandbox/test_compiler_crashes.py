"""Compiler crashes reachable from pure Python source: compile() of a
short, syntactically valid program wrote past a fixed-size array of the
compiler, a heap buffer overflow in the host process before any of the
program ran.  Untrusted code can compile (exec, eval, compile, import),
so each case must end in a clean SyntaxError, in the host and in an
untrusted interpreter of the flag-on build.

Each case runs in a child host process, which must exit 0."""

import textwrap

import pytest

from support import UNTRUSTED_BUILD, run_host, run_untrusted

# nested(n) is a list comprehension nested n deep, each level binding a
# local ("i") of its own, so that each inlined comprehension (PEP 709)
# sets up an exception handler to restore it.
PRELUDE = '''
def nested(n, inner="i for i in r", opening="[", closing="]"):
    e = inner
    for _ in range(n - 1):
        e = opening + e + closing + " for i in r"
    return opening + e + closing

def too_deep(src):
    try:
        compile(src, "<nested>", "exec")
    except SyntaxError as exc:
        assert "too many statically nested blocks" in str(exc), exc
    else:
        raise AssertionError("compiled: " + src[:60])
'''

CASES = {
    # 0070, gh-156091: 23 nested comprehensions pushed 23 handlers onto
    # the 22-slot exception stack of flowgraph.c (handlers[CO_MAXBLOCKS+2]).
    "nested_comprehensions": """
        # the reproducer of gh-156091, through exec as well
        e = "i for i in r"
        for _ in range(22):
            e = "[" + e + "] for i in r"
        too_deep("x = [" + e + "]")
        try:
            exec("x = [" + e + "]", {"r": ()})
        except SyntaxError:
            pass
        else:
            raise AssertionError("exec compiled it")
        for n in (23, 24, 40, 100, 22):
            too_deep("x = " + nested(n))
            too_deep("x = " + nested(n, "i: i for i in r", "{", "}"))
            too_deep("x = " + nested(n, opening="{", closing="}"))
            too_deep("def f(r):\\n    return " + nested(n))
            too_deep("class C:\\n    x = " + nested(n))
        compile("x = " + nested(21), "<nested>", "exec")
        # comprehensions under statement blocks count with them
        src = "def f(r):\\n"
        for k in range(10):
            src += "    " * (k + 1) + "for i in r:\\n"
        too_deep(src + "    " * 11 + "x = " + nested(12))
    """,
    # 0071: a generator expression's StopIteration handler was not
    # counted either: with an await in the innermost of 21 comprehensions
    # nested in it, 23 handlers again (the genexp's, 21, the await's).
    "comprehensions_in_a_generator_expression": """
        def in_genexp(n):
            inner = nested(n, "await z for i in r")
            return "async def f(r, z):\\n    return (" + inner + " for j in r)"
        compile(in_genexp(20), "<nested>", "exec")
        for n in (21, 22, 23, 40):
            too_deep(in_genexp(n))
    """,
}


def case_source(name):
    return PRELUDE + textwrap.dedent(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_the_host(name):
    proc = run_host(case_source(name) + "\nprint('survived')\n")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout == "survived\n", proc.stdout


@pytest.mark.skipif(not UNTRUSTED_BUILD,
                    reason="needs a CPython configured --with-untrusted")
@pytest.mark.parametrize("name", sorted(CASES))
def test_inside_an_untrusted_interpreter(name):
    proc = run_untrusted(case_source(name), threads=0, message=True)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout == "ran\nhost alive\n", proc.stdout
