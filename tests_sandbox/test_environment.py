"""The environment (issue 5, item 3): an untrusted interpreter's os.environ
holds only the variables its policy names, with the values its creator
had; what it changes stays in it, never in the host's os.environ nor in
the C environment that the host's children inherit."""

import subprocess
import sys
import textwrap

import pytest

from support import requires_untrusted, run_host

pytestmark = requires_untrusted

HOST = """
import _sandbox, os, subprocess
jail = _sandbox.new_interpreter(env=("ALLOWED", "UNSET_HERE"))
print(_sandbox.eval(jail, "dict(__import__('os').environ)"))
_sandbox.exec(jail, '''
import os
os.environ["ALLOWED"] = "changed inside"
os.environ["INJECTED"] = "from inside"
del os.environ["ALLOWED"]
os.environ["ALLOWED"] = "again"
''')
print(os.environ.get("ALLOWED"), os.environ.get("INJECTED"))
child = subprocess.run(["sh", "-c", 'echo "$ALLOWED:$INJECTED:$SECRET"'],
                       capture_output=True, text=True)
print(child.stdout.strip())
# a nested interpreter gets its creator's value, and only names it has
print(_sandbox.eval(jail, '''(lambda _sandbox: (
    _sandbox.eval(_sandbox.new_interpreter(env=("ALLOWED",)),
                  "dict(__import__('os').environ)")))(
    __import__('_sandbox'))'''))
try:
    _sandbox.exec(jail, "import _sandbox; "
                        "_sandbox.new_interpreter(env=('SECRET',))")
except _sandbox.RemoteError as exc:
    print(exc.type_name)
_sandbox.end_interpreter(jail)
"""


def test_only_the_named_variables_and_nothing_back():
    proc = run_host(HOST, UNSET_HERE=None, ALLOWED="host value",
                    SECRET="s3cret")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "{'ALLOWED': 'host value'}",
        "host value None",
        "host value::s3cret",
        "{'ALLOWED': 'host value'}",
        "sandbox.SandboxError",
    ]


def test_bad_names_are_refused():
    import _sandbox
    for names in [("",), ("A=B",), (b"A",), ("1A",), ("A B",), "AB"]:
        with pytest.raises(_sandbox.PolicyError) as info:
            _sandbox.new_interpreter(env=names)
        assert info.value.field == "env"
        assert info.value.value in (names, names[0])
    with pytest.raises(TypeError, match="no policy field 'environ'"):
        _sandbox.new_interpreter(environ=["A"])
    with pytest.raises(TypeError, match="positional"):
        _sandbox.new_interpreter(0)


def test_the_package_and_the_command_line(tmp_path, monkeypatch):
    import sandbox
    monkeypatch.setenv("SANDBOX_TEST_GRANTED", "granted value")
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "s3cret")
    policy = sandbox.Policy(env=["SANDBOX_TEST_GRANTED"])
    assert "env" not in policy.unenforced()
    with sandbox.Interpreter(policy) as interp:
        assert interp.eval("dict(__import__('os').environ)") == {
            "SANDBOX_TEST_GRANTED": "granted value"}
    with sandbox.Interpreter() as interp:
        assert interp.eval("dict(__import__('os').environ)") == {}
    script = tmp_path / "show.py"
    script.write_text(textwrap.dedent("""
        import os
        print(sorted(os.environ.items()))
    """))
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "run",
         "--allow-env=SANDBOX_TEST_GRANTED", str(script)],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == \
        "[('SANDBOX_TEST_GRANTED', 'granted value')]\n"
    assert "not enforced" not in proc.stderr
