"""fork() in a host whose subinterpreters run in other threads.

Stock 3.13.5 aborts the child (gh-101437): PyOS_AfterFork_Child() clears
the other interpreters with no thread state.  The series makes the child
forget them instead.  In every build: the fix is not behind the flag.
Each test runs a child host that forks, and checks both processes.
"""

import os
import textwrap

import pytest

from support import UNTRUSTED_BUILD, run_host

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


HOST = textwrap.dedent("""
    import os, sys, threading, time, _interpreters
    UNTRUSTED = {untrusted}
    r, w = os.pipe()
    iid = _interpreters.create()             # isolated: own GIL and heap
    legacy = _interpreters.create('legacy')  # shared GIL and heap
    _interpreters.run_string(legacy, "import json; x = [1] * 10")
    _interpreters.run_string(iid, "import os, atexit\\n"
        "os.register_at_fork(after_in_child=lambda: os.write(2, b'SUB-FORKER'))\\n"
        "atexit.register(lambda: os.write(2, b'SUB-ATEXIT %d;' % os.getpid()))")
    LOOP = '''if 1:
        import time
        end = time.monotonic() + 2.0
        n = 0
        while time.monotonic() < end:
            sum(range(1000))
            n += 1
        '''
    def run():
        _interpreters.run_string(iid, f'''if 1:
            import os, time
            end = time.monotonic() + 2.0
            while time.monotonic() < end:
                sum(range(1000))
                os.write({{w}}, b'.')
                time.sleep(0.01)
            os.write({{w}}, b'!')
            ''')
    threads = [threading.Thread(target=run)]
    if UNTRUSTED:
        import _sandbox
        jail = _sandbox.new_interpreter()
        _sandbox.exec(jail, "print('before the fork')")
        threads.append(threading.Thread(
            target=lambda: _sandbox.exec(jail, LOOP)))
    for t in threads:
        t.start()
    assert os.read(r, 1) == b'.'            # the subinterpreter runs
    if UNTRUSTED:
        while not _interpreters.is_running(jail):
            time.sleep(0.001)
    pid = os.fork()
    if pid == 0:
        import json, decimal
        assert [i for i, *_ in _interpreters.list_all()] == [0]
        for gone in ([iid, legacy, jail] if UNTRUSTED else [iid, legacy]):
            try:
                _interpreters.run_string(gone, "pass")
            except _interpreters.InterpreterNotFoundError:
                pass
            else:
                raise AssertionError("a forgotten interpreter is usable")
        new = _interpreters.create()
        _interpreters.run_string(new, "import json; assert json.dumps([1]) == '[1]'")
        _interpreters.destroy(new)
        if UNTRUSTED:
            new = _sandbox.new_interpreter()
            assert _sandbox.eval(new, "6 * 7") == 42
            _sandbox.end_interpreter(new)
        print(json.dumps(sum(range(10))), flush=True)
        sys.exit(0)                         # full finalization
    _, status = os.waitpid(pid, 0)
    data = b''
    while not data.endswith(b'!'):
        data += os.read(r, 4096)
    for t in threads:
        t.join()
    print('child', pid, os.waitstatus_to_exitcode(status), 'ticks', len(data))
    _interpreters.destroy(iid)
    _interpreters.destroy(legacy)
    if UNTRUSTED:
        assert _sandbox.take_output(jail, 1) == b'before the fork\\n'
        _sandbox.end_interpreter(jail)
""")


def test_fork_while_subinterpreters_run_in_threads():
    proc = run_host(HOST.format(untrusted=UNTRUSTED_BUILD))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "45"                     # the child worked
    _, child_pid, code, _, ticks = lines[1].split()
    assert code == "0", proc.stderr             # and exited normally
    assert int(ticks) > 20                      # the parent's kept running
    # No code of a forgotten interpreter ran in the child.
    assert "SUB-FORKER" not in proc.stderr
    assert f"SUB-ATEXIT {child_pid};" not in proc.stderr
