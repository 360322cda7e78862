"""Nested untrusted interpreters: created from inside only with a policy
that the engine checks, in C, to be within the creator's; controlled by
their creator and the host only; ended with their creator."""

import textwrap

import pytest

from support import UNTRUSTED_BUILD, requires_untrusted

pytestmark = requires_untrusted

if UNTRUSTED_BUILD:
    import _interpreters
    import _sandbox


def ids():
    return [i for i, *_ in _interpreters.list_all()]


@pytest.fixture
def parent():
    interp = _sandbox.new_interpreter(threads=2)
    yield interp
    try:
        _sandbox.end_interpreter(interp)
    except _interpreters.InterpreterNotFoundError:
        pass


def test_a_nested_policy_must_be_within_its_creators(parent):
    _sandbox.exec(parent, textwrap.dedent("""
        import _sandbox
        outcomes = {}
        for threads in (0, 2, 3):
            try:
                _sandbox.new_interpreter(threads=threads)
            except PermissionError as exc:
                outcomes[threads] = type(exc).__name__
            else:
                outcomes[threads] = "created"
        """))
    assert _sandbox.eval(parent, "outcomes") == {
        0: "created", 2: "created", 3: "SandboxError"}
    [denial] = _sandbox.denials(parent)
    assert denial[1:3] == ("interpreter", "a nested policy wider than its "
                                          "creator's (threads 3 > 2)")


def test_the_creator_runs_code_in_its_child(parent):
    _sandbox.exec(parent, textwrap.dedent("""
        import _sandbox
        child = _sandbox.new_interpreter(threads=1)
        _sandbox.exec(child, "x = 6 * 7\\nprint('from the child')")
        value = _sandbox.eval(child, "(x, __restricted__)")
        output = _sandbox.take_output(child, 1)
        allowed = _sandbox.query(child)
        """))
    child = _sandbox.eval(parent, "child")
    assert _sandbox.eval(parent, "value") == (42, True)
    assert _sandbox.eval(parent, "output") == b"from the child\n"
    allowed = _sandbox.eval(parent, "allowed")
    # Without a cap of its own, its creator's.
    assert allowed.pop(("Python", "memory"))[1] == _sandbox.memory(parent)[1]
    assert allowed.pop(("Python", "time"))[1] == 30.0
    assert allowed.pop(("Python", "cpu"))[1] == 30.0
    assert allowed == {("Python", "threads"): (0, 1)}
    # The host sees and controls the child too.
    assert child in ids()
    assert _sandbox.eval(child, "x") == 42
    assert _sandbox.query(child)[("Python", "threads")] == (0, 1)


def test_a_child_reaches_neither_its_creator_nor_others(parent):
    sibling = _sandbox.new_interpreter()
    try:
        _sandbox.exec(parent, "import _sandbox\n"
                              "child = _sandbox.new_interpreter()\n")
        child = _sandbox.eval(parent, "child")
        for target in (parent, sibling, 0):
            _sandbox.exec(child, textwrap.dedent(f"""
                import _sandbox
                try:
                    _sandbox.exec({target}, "pass")
                except PermissionError:
                    outcome = "denied"
                """))
            assert _sandbox.eval(child, "outcome") == "denied"
        # Nor does another tenant reach the child.
        _sandbox.exec(sibling, textwrap.dedent(f"""
            import _sandbox
            try:
                _sandbox.eval({child}, "1")
            except PermissionError:
                outcome = "denied"
            """))
        assert _sandbox.eval(sibling, "outcome") == "denied"
        # A child creates no trusted interpreter either.
        _sandbox.exec(child, textwrap.dedent("""
            try:
                import _interpreters
            except ImportError as exc:
                refused = type(exc).__name__
            """))
        assert _sandbox.eval(child, "refused") == "ModuleNotFoundError"
    finally:
        _sandbox.end_interpreter(sibling)


def test_children_end_with_their_creator(parent):
    _sandbox.exec(parent, textwrap.dedent("""
        import _sandbox
        children = [_sandbox.new_interpreter() for _ in range(3)]
        grandchild = None
        _sandbox.exec(children[0], "import _sandbox\\n"
                                   "g = _sandbox.new_interpreter()")
        grandchild = _sandbox.eval(children[0], "g")
        """))
    family = _sandbox.eval(parent, "children + [grandchild]")
    assert set(family) <= set(ids())
    _sandbox.end_interpreter(parent)
    assert not set(family + [parent]) & set(ids())


def test_a_creator_ends_its_child_and_runs_no_code_of_it(parent):
    _sandbox.exec(parent, textwrap.dedent("""
        import _sandbox
        child = _sandbox.new_interpreter()
        _sandbox.exec(child, "import atexit, os\\n"
                             "atexit.register(os._exit, 9)")
        _sandbox.end_interpreter(child)
        """))
    assert _sandbox.eval(parent, "child") not in ids()
