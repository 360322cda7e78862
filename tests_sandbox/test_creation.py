"""Creating untrusted interpreters (the engine's PySandbox_NewInterpreter).

Driven through the _sandbox harness and _interpreters.exec(); the sandbox
package and the engine's own transport come later.  Whatever touches the
host's configuration runs in a child host process.
"""

import errno
import textwrap

import _interpreters
import pytest

from support import (exec_in_interpreter as run, requires_untrusted,
                     run_host, run_python)

pytestmark = requires_untrusted


def test_restricted_is_true_inside_only(untrusted):
    assert run(untrusted, """
        import builtins
        assert __restricted__ is True
        assert builtins.__restricted__ is True
    """) is None
    assert __restricted__ is False  # noqa: F821


def test_a_sibling_stays_trusted(untrusted):
    other = _interpreters.create("isolated")
    try:
        assert run(other, "assert __restricted__ is False") is None
    finally:
        _interpreters.destroy(other)


def test_no_site_no_bytecode_no_host_argv(untrusted):
    assert run(untrusted, """
        import sys
        assert "site" not in sys.modules
        assert sys.flags.no_site == 1
        assert sys.flags.safe_path
        assert sys.dont_write_bytecode
        assert sys.pycache_prefix == "/sandbox/no-bytecode-cache"
        assert sys.argv == [""], sys.argv
        assert sys.orig_argv == [], sys.orig_argv
    """) is None


def test_stdlib_imports_work(untrusted):
    assert run(untrusted, """
        import json, collections, re, decimal
        assert json.loads(json.dumps({"a": [1, 2]})) == {"a": [1, 2]}
        assert re.match(r"a+", "aaa").end() == 3
    """) is None


def test_isolated_no_threads(untrusted):
    failure = run(untrusted, """
        import threading
        threading.Thread(target=print).start()
    """)
    assert failure is not None
    assert failure.type.__name__ == "RuntimeError"


def test_untrusted_code_creates_no_interpreter_wider_than_itself(untrusted):
    # Its policy grants no threads: a nested one that would is refused.
    failure = run(untrusted, """
        import _sandbox
        _sandbox.new_interpreter(threads=1)
    """)
    assert failure is not None
    assert failure.type.__name__ == "SandboxError"
    assert failure.msg == (f"[Errno {errno.EACCES}] not allowed in an "
                           "untrusted interpreter")


def test_the_config_dict_cannot_make_an_untrusted_interpreter():
    # The dict form (_interpreters) has no field for it: a trusted
    # interpreter is never turned untrusted through it.
    with pytest.raises(ValueError):
        _interpreters.new_config("isolated", untrusted=True)
    with pytest.raises(ValueError):
        _interpreters.new_config("isolated", sandbox=True)


def test_interpreters_come_and_go(untrusted):
    import _sandbox
    for _ in range(50):
        interp = _sandbox.new_interpreter()
        assert run(interp, "assert __restricted__ is True") is None
        _interpreters.destroy(interp)
    assert __restricted__ is False  # noqa: F821


HOST = """
import _interpreters, _sandbox, json, sys
interp = _sandbox.new_interpreter()
results = {}
for name in ("canary_in_script_dir", "canary_on_pythonpath"):
    failure = _interpreters.exec(interp, f"import {name}")
    results[name] = None if failure is None else failure.type.__name__
failure = _interpreters.exec(interp, "import sys; assert 'sitecustomize' not in sys.modules")
results["sitecustomize"] = None if failure is None else failure.msg
_interpreters.destroy(interp)
import canary_in_script_dir, canary_on_pythonpath   # the host can
print(json.dumps(results))
"""


def test_host_directories_are_not_on_the_path(tmp_path):
    # A host run as "python script.py" with PYTHONPATH and a sitecustomize:
    # the untrusted interpreter sees none of it, and site's hooks do not
    # run in it (the marker file gets one line: the host's).
    script_dir = tmp_path / "app"
    script_dir.mkdir()
    (script_dir / "canary_in_script_dir.py").write_text("")
    (script_dir / "host.py").write_text(HOST)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "canary_on_pythonpath.py").write_text("")
    marker = tmp_path / "site-ran"
    (extra / "sitecustomize.py").write_text(
        f"with open({str(marker)!r}, 'a') as f: f.write('ran\\n')\n")
    # Not -I: the host's PYTHONPATH and script directory are what must
    # not reach the untrusted interpreter.
    proc = run_python(str(script_dir / "host.py"), isolated=False,
                      cwd=tmp_path, PYTHONPATH=str(extra))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        '{"canary_in_script_dir": "ModuleNotFoundError", '
        '"canary_on_pythonpath": "ModuleNotFoundError", '
        '"sitecustomize": null}')
    assert marker.read_text() == "ran\n"


def test_creation_refuses_other_allocators():
    # PYTHONMALLOC=malloc would bypass the memory cap: no untrusted
    # interpreter then, a clear error, and the host goes on.
    code = textwrap.dedent("""
        import _sandbox
        try:
            _sandbox.new_interpreter()
        except RuntimeError as e:
            print("refused:", e)
        print("host alive")
    """)
    # Not -I, which would ignore PYTHONMALLOC.
    proc = run_host(code, isolated=False, PYTHONMALLOC="malloc")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "refused: cannot create an untrusted interpreter: untrusted "
        "interpreters need the pymalloc memory "
        "allocator; unset PYTHONMALLOC or set it to pymalloc\n"
        "host alive\n")
