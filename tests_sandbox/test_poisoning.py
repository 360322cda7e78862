"""Poisoning stays inside (issue 5, item 6): builtins, modules, warnings
filters, codecs and hooks changed by untrusted code affect neither the
host nor a sibling interpreter; its atexit handlers and finalizers never
run after its job, nor on the host's thread, nor at the host's exit."""

import codecs
import json
import os
import sys
import textwrap
import warnings

from support import requires_untrusted, run_host

pytestmark = requires_untrusted

POISON = """
import builtins, codecs, json, os, sys, warnings
builtins.len = lambda obj: 42
builtins.print = None
json.dumps = lambda *a, **k: "poisoned"
os.sep = "!"
sys.modules["textwrap"] = None
warnings.simplefilter("error")
warnings.filters.insert(0, ("error", None, Warning, None, 0))
codecs.register(lambda name: codecs.lookup("rot13")
                if name == "poisoned_codec" else None)
import io
io.open = None
"""

CHECK = """(
    len("abc"), print is not None, json.dumps(1), os.sep,
    __import__("sys").modules.get("textwrap", "absent") is not None,
    (__import__("warnings").filters[:1] or [("none",)])[0][0],
)"""


def test_builtins_modules_and_filters_stay_inside():
    import _sandbox
    filters = list(warnings.filters)
    poisoned = _sandbox.new_interpreter()
    sibling = _sandbox.new_interpreter()
    try:
        _sandbox.exec(poisoned, POISON)
        # it did poison itself
        assert _sandbox.eval(poisoned, "len('abc'), json.dumps(1)") == \
            (42, "poisoned")
        # the host
        assert len("abc") == 3 and print is not None
        assert json.dumps(1) == "1" and os.sep == "/"
        assert sys.modules["textwrap"] is textwrap
        assert warnings.filters == filters
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            warnings.warn("still a warning", UserWarning)
        assert len(caught) == 1
        try:
            codecs.lookup("poisoned_codec")
        except LookupError:
            pass
        else:
            raise AssertionError("the host found the tenant's codec")
        # a sibling
        _sandbox.exec(sibling, "import json, os, warnings, codecs")
        result = _sandbox.eval(sibling, CHECK)
        assert result[:5] == (3, True, "1", "/", True)
        assert result[5] != "error"
        _sandbox.exec(sibling, textwrap.dedent("""
            try:
                codecs.lookup("poisoned_codec")
                found = True
            except LookupError:
                found = False
        """))
        assert _sandbox.eval(sibling, "found") is False
    finally:
        _sandbox.end_interpreter(poisoned)
        _sandbox.end_interpreter(sibling)


HOSTILE_EXIT = """
import atexit, weakref, sys
MARK = {marker!r}
def fire(*args):
    open(MARK, "a").write("fired\\n")
atexit.register(fire)
class Finalized:
    def __del__(self):
        fire()
kept = Finalized()
cycle = [Finalized()]
cycle.append(cycle)
weakref.finalize(kept, fire)
sys.unraisablehook = fire
sys.excepthook = fire
"""

HOST = """
import _sandbox, os
ended = _sandbox.new_interpreter()
left = _sandbox.new_interpreter()
for jail in (ended, left):
    _sandbox.exec(jail, {hostile!r})
_sandbox.end_interpreter(ended)
print(os.path.exists({marker!r}))
# `left` is still alive when the host exits
"""


def test_atexit_and_finalizers_never_run_after_the_job(tmp_path):
    marker = str(tmp_path / "marker")
    hostile = HOSTILE_EXIT.format(marker=marker)
    proc = run_host(HOST.format(hostile=hostile, marker=marker))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False\n"
    assert not os.path.exists(marker)
    # the control: in a trusted isolated interpreter they do run
    control = textwrap.dedent(f"""
        import _interpreters
        i = _interpreters.create("isolated")
        _interpreters.exec(i, {hostile!r})
        _interpreters.destroy(i)
    """)
    proc = run_host(control)
    assert proc.returncode == 0, proc.stderr
    assert os.path.exists(marker)
