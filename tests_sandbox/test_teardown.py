"""Ending an untrusted interpreter never runs its Python code on the host.

Stock 3.13.5 calls threading._shutdown() and the atexit handlers of the
interpreter being ended, on the thread that ends it: untrusted code could
hang the host there, or act after its job is over.  Each test runs a child
host and watches its output and its exit, so a hang or a crash is seen.
"""

from support import requires_untrusted, run_host

pytestmark = requires_untrusted


ATEXIT = """
import _interpreters, _sandbox
for make, label in ((_sandbox.new_interpreter, "UNTRUSTED"),
                    (lambda: _interpreters.create("isolated"), "TRUSTED")):
    interp = make()
    failure = _interpreters.exec(interp, f'''
import atexit, os
atexit.register(os.write, 1, b"{label}-ATEXIT-RAN\\\\n")
''')
    assert failure is None, failure
    _interpreters.destroy(interp)
print("host alive")
"""


def test_atexit_handlers_of_untrusted_code_never_run():
    proc = run_host(ATEXIT)
    assert proc.returncode == 0, proc.stderr
    # The trusted interpreter's handler runs: the probe works.
    assert "TRUSTED-ATEXIT-RAN" in proc.stdout
    assert "UNTRUSTED-ATEXIT-RAN" not in proc.stdout
    assert proc.stdout.endswith("host alive\n")


HANG = """
import _interpreters, _sandbox, time
interp = _sandbox.new_interpreter()
failure = _interpreters.exec(interp, '''
import threading, time
threading._shutdown = lambda: time.sleep(10**6)
''')
assert failure is None, failure
start = time.monotonic()
_interpreters.destroy(interp)
print(f"ended in {time.monotonic() - start:.1f} s")
"""


def test_a_patched_threading_shutdown_cannot_hang_the_host():
    proc = run_host(HANG, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seconds = float(proc.stdout.split()[2])
    assert seconds < 10, proc.stdout


FINALIZERS = """
import _interpreters, _sandbox, os, sys, time
marker = sys.argv[1]
SOURCE = f'''
import gc, os, sys, weakref
# Everything it needs is bound now: module globals are gone at the end.
def mark(what, path={marker!r}, flags=os.O_WRONLY | os.O_APPEND | os.O_CREAT,
         open=os.open, write=os.write, close=os.close):
    fd = open(path, flags)
    write(fd, what.encode() + b" ")
    close(fd)
class Del:
    def __del__(self, mark=mark):
        mark("del")
        while True:
            pass
held = Del()
loop = Del(); loop.me = loop
class Target: pass
target = Target()
ref = weakref.ref(target, lambda r, mark=mark: mark("weakref"))
sys.addaudithook(lambda event, args, mark=mark:
                 event.startswith("cpython.") and mark("audit"))
sys.unraisablehook = lambda unraisable, mark=mark: mark("unraisable")
def gen(mark=mark):
    try:
        yield 1
    finally:
        mark("generator")
running = gen(); next(running)
'''
for make, end, label in (
        (_sandbox.new_interpreter, _sandbox.end_interpreter, "untrusted"),
        (lambda: _interpreters.create("isolated"), _interpreters.destroy,
         "trusted")):
    interp = make()
    if label == "trusted":
        # The control, without the endless loop: the probes work.
        failure = _interpreters.exec(
            interp, SOURCE.replace("while True:", "while False:"))
        assert failure is None, failure
    else:
        _sandbox.exec(interp, SOURCE)
    start = time.monotonic()
    end(interp)
    seconds = time.monotonic() - start
    try:
        with open(marker) as f:
            ran = sorted(set(f.read().split()))
        os.unlink(marker)
    except FileNotFoundError:
        ran = []
    print(label, ran, seconds < 10, flush=True)
"""


def test_no_finalizer_runs_when_an_untrusted_interpreter_ends(tmp_path):
    marker = str(tmp_path / "ran")
    proc = run_host(FINALIZERS.replace("sys.argv[1]", repr(marker)),
                    timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # Nothing of its Python ran, and the end took no time.
    assert lines[0] == "untrusted [] True"
    # The control: in a trusted interpreter they run (which weakref
    # callbacks run at the end depends on the order modules are cleared).
    assert lines[1].startswith("trusted ['audit', 'del', 'generator'")


C_CALLABLES = """
import _sandbox, time
JOBS = {
    "__del__": "class Holder:\\n    __del__ = lock.acquire\\nheld = Holder()",
    "weakref": "class T: pass\\nt = T()\\nr = weakref.ref(t, lock.acquire)",
    "generator": ("def g():\\n    try:\\n        yield 1\\n    finally:\\n"
                  "        time.sleep(3600)\\nrunning = g(); next(running)"),
}
for name, job in JOBS.items():
    interp = _sandbox.new_interpreter()
    _sandbox.exec(interp, "import threading, time, weakref\\n"
                          "lock = threading.Lock(); lock.acquire()\\n" + job)
    start = time.monotonic()
    _sandbox.end_interpreter(interp)
    print(name, time.monotonic() - start < 5, flush=True)
"""


def test_finalizers_that_are_c_callables_do_not_block_the_end():
    # A finalizer need not be a Python function: the eval-breaker bit
    # cannot stop a lock's acquire() or a generator resumed past its
    # entry.  An ending untrusted interpreter runs no finalizer at all.
    proc = run_host(C_CALLABLES, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n") == [
        "__del__ True", "weakref True", "generator True", ""]
