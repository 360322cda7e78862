"""Threads in untrusted interpreters: none unless the policy grants them,
never more than it grants, never a small stack, and never a crash, a hang
or a fatal error of the host when the interpreter ends with threads alive.

Stock 3.13.5 ends a subinterpreter that still has a thread with the fatal
error "not the last thread", and waits in threading._shutdown() for the
others.  Each teardown test runs a child host and watches its exit and
its time.
"""

import sysconfig
import textwrap

import pytest

from support import UNTRUSTED_BUILD, requires_untrusted, run_host

pytestmark = requires_untrusted

if UNTRUSTED_BUILD:
    import _sandbox


def test_no_threads_unless_the_policy_grants_them(untrusted):
    _sandbox.exec(untrusted, textwrap.dedent("""
        import threading
        ran = []
        try:
            threading.Thread(target=ran.append, args=(1,)).start()
        except RuntimeError as exc:
            refused = str(exc)
        """))
    assert _sandbox.eval(untrusted, "ran") == []
    assert "not supported" in _sandbox.eval(untrusted, "refused")


def test_threads_up_to_the_count_granted():
    interp = _sandbox.new_interpreter(threads=2)
    try:
        _sandbox.exec(interp, textwrap.dedent("""
            import threading
            go = threading.Event()
            done = []
            def work(n):
                go.wait(30)
                done.append(n)
            workers = [threading.Thread(target=work, args=(n,))
                       for n in range(3)]
            workers[0].start()
            workers[1].start()
            try:
                workers[2].start()
            except PermissionError as exc:
                third = type(exc).__name__
            """))
        assert _sandbox.eval(interp, "third") == "SandboxError"
        assert _sandbox.query(interp)[("Python", "threads")] == (2, 2)
        # Readable from inside too, the same.
        assert _sandbox.eval(
            interp, "__import__('_sandbox').query()[('Python', 'threads')]"
        ) == (2, 2)
        _sandbox.exec(interp, "go.set()\n"
                              "for w in workers[:2]: w.join(30)\n")
        assert sorted(_sandbox.eval(interp, "done")) == [0, 1]
        assert _sandbox.query(interp)[("Python", "threads")] == (0, 2)
        # The count came back: new threads start again.
        _sandbox.exec(interp, textwrap.dedent("""
            again = threading.Thread(target=done.append, args=("again",))
            again.start(); again.join(30)
            """))
        assert "again" in _sandbox.eval(interp, "done")
        [denial] = _sandbox.denials(interp)
        assert denial[1] == "Python.threads"
    finally:
        _sandbox.end_interpreter(interp)


def test_a_negative_thread_count_is_refused():
    with pytest.raises(_sandbox.PolicyError, match="threads: -1: out of "
                       "range") as info:
        _sandbox.new_interpreter(threads=-1)
    assert (info.value.field, info.value.value) == ("threads", -1)


DEEP_IN_A_SMALL_THREAD = """
import _sandbox
interp = _sandbox.new_interpreter(threads=1)
_sandbox.exec(interp, '''
import threading
threading.stack_size(32768)
deep = []
for _ in range(5000):
    deep = [deep]
outcome = []
def work():
    try:
        outcome.append(len(repr(deep)))
    except RecursionError:
        outcome.append("RecursionError")
t = threading.Thread(target=work)
t.start(); t.join()
''')
print(_sandbox.eval(interp, "outcome"))
_sandbox.end_interpreter(interp)
"""


def test_deep_recursion_in_a_thread_cannot_overflow_its_stack():
    proc = run_host(DEEP_IN_A_SMALL_THREAD)
    assert proc.returncode == 0, proc.stderr
    # A debug build's C recursion limit (500) stops it first.
    assert proc.stdout in ("[10002]\n", "['RecursionError']\n")
    if sysconfig.get_config_var("Py_DEBUG"):
        return
    # The control: the same code in a trusted interpreter overflows the
    # 32 KiB stack, and the process dies of SIGSEGV.
    code = DEEP_IN_A_SMALL_THREAD.split("'''")[1]
    code += "print(outcome)\n"
    proc = run_host(code)
    assert proc.returncode < 0, (proc.returncode, proc.stdout)


LIVE_THREADS = """
import _interpreters, _sandbox, time
JOBS = {
    "spinning": "while True: pass",
    "stubborn": '''
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
''',
    "asleep": "time.sleep(10**6)",
    "locked": "lock.acquire(); lock.acquire()",
    "waking": "time.sleep(1.5); open('/nonexistent/x', 'w')",
    # Holds the interpreter's GIL in a loop that no check interrupts (the
    # quadratic conversion of an int to a decimal: Doc/sandbox/time.rst).
    "in C": "time.sleep(0.3); import decimal; decimal.Decimal(1 << 3000000)",
}
for name, body in JOBS.items():
    interp = _sandbox.new_interpreter(threads=4)
    _sandbox.exec(interp, f'''
import threading, time
lock = threading.Lock()
def job():
{"".join("    " + line + chr(10) for line in body.strip().splitlines())}
for _ in range(2):
    threading.Thread(target=job, daemon=(_ == 0)).start()
''')
    if name == "in C":
        time.sleep(0.6)
    start = time.monotonic()
    stopped = _sandbox.end_interpreter(interp)
    seconds = time.monotonic() - start
    gone = interp not in [i for i, *_ in _interpreters.list_all()]
    print(name, seconds < 5, gone, stopped, flush=True)
# The waking threads wake up in their abandoned interpreter now, and exit.
time.sleep(2)
# The host goes on: more interpreters come and go.
for _ in range(20):
    interp = _sandbox.new_interpreter()
    assert _sandbox.eval(interp, "6 * 7") == 42
    _sandbox.end_interpreter(interp)
print("host alive", flush=True)
"""


def test_ending_with_live_threads_is_bounded_and_never_fatal():
    proc = run_host(LIVE_THREADS)
    seconds = proc.elapsed
    assert proc.returncode == 0, proc.stderr
    # Threads running Python stop; those blocked outside it cannot, and
    # their interpreter is left to them.
    assert proc.stdout.splitlines() == [
        "spinning True True True", "stubborn True True True",
        "asleep True True False", "locked True True False",
        "waking True True False", "in C True True False", "host alive"]
    assert "Fatal Python error" not in proc.stderr
    assert seconds < 60


RELAY = """
import _sandbox, time
interp = _sandbox.new_interpreter(threads=1)
_sandbox.exec(interp, '''
import _thread, time
loc = _thread._local()
started = [0]
class Relay:
    def __del__(self):
        # Runs as its thread's state is cleared: the next thread.
        try:
            _thread.start_new_thread(worker, ())
            started[0] += 1
        except BaseException:
            pass
        time.sleep(3600)
def worker():
    loc.x = Relay()
_thread.start_new_thread(worker, ())
''')
time.sleep(1.0)
print(_sandbox.eval(interp, "started[0]"),
      _sandbox.query(interp)[("Python", "threads")], flush=True)
"""


def test_a_thread_is_counted_until_its_state_is_cleared():
    # Given back before PyThreadState_Clear(), which runs the finalizers
    # of its thread-local data, the count let each such finalizer start
    # one more thread: thousands, with max_threads=1.
    proc = run_host(RELAY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0 (1, 1)\n"


EXIT_WITH_BLOCKED_THREADS = """
import _sandbox
interp = _sandbox.new_interpreter(threads=2)
_sandbox.exec(interp, "import _thread, time\\n"
                      "_thread.start_new_thread(time.sleep, (100,))\\n"
                      "_thread.start_new_thread(time.sleep, (100,))\\n"
                      "time.sleep(0.1)")
print("host exits", flush=True)
"""


def test_the_host_exits_with_an_unended_interpreter_whose_threads_block():
    # Py_FinalizeEx() ends it: it must be left to its threads, not abort
    # the host ("non-NULL old thread state").
    proc = run_host(EXIT_WITH_BLOCKED_THREADS)
    seconds = proc.elapsed
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "host exits\n"
    assert seconds < 30
