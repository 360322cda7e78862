"""The README's demo (build.py demo) runs and shows what it says."""

from support import load_build_script, requires_untrusted, run_python


@requires_untrusted
def test_the_demo_shows_output_and_denials():
    proc = run_python(load_build_script().DEMO)
    assert proc.returncode == 0, proc.stderr
    assert "hello from inside, __restricted__ = True" in proc.stdout
    assert "a granted read: granted to the script" in proc.stdout
    assert "/etc/passwd: SandboxError" in proc.stdout
    assert "file at demo.py:6: open: read /etc/passwd" in proc.stdout
    assert "a second thread: SandboxError" in proc.stdout
    assert "Python.threads at " in proc.stdout
    assert "_interpreters: ModuleNotFoundError" in proc.stdout
    assert "module at <frozen importlib._bootstrap>" in proc.stdout
