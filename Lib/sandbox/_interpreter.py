"""sandbox.Interpreter: an untrusted interpreter, seen from the host."""

import collections
import os
import threading
import tokenize
import weakref

from ._policy import (UnavailableError, _require_engine, check_policy,
                      parse_size)

try:
    from . import _worker
except ImportError:         # no _sandbox
    _worker = None

try:
    import _sandbox
except ImportError:         # a CPython built without --with-untrusted
    _sandbox = None

__all__ = ["Interpreter", "Result", "Denial", "run", "UnavailableError"]


#: Where an interpreter without filesystem_info sees its virtual layout's
#: root, and the script that run_path() runs beneath it.
GUEST_ROOT = "/sandbox"


def script_guest_path(path):
    """Where run_path() shows the script at *path* without
    filesystem_info: /sandbox/NAME."""
    return f"{GUEST_ROOT}/{os.path.basename(path)}"


#: One denial: when (seconds since the epoch), what was asked for
#: ("file", "trusted", "Python.threads", ...), the full detail, and the
#: "file:line" of the untrusted code.
Denial = collections.namedtuple("Denial", "time resource detail location")


class Result:
    """What one job left: its output, its denials, what remains of each
    cap, and its value (None for run()).

    stdout, stderr  what it wrote, decoded from UTF-8
    denials         a tuple of Denial, oldest first
    remaining       a dict: cap name -> what is left of it ("memory" in
                    bytes)
    value           the value of eval() and call()
    peak            the most memory, in bytes, that the interpreter held
                    during the job (None if unknown)
    """

    __slots__ = ("stdout", "stderr", "denials", "remaining", "value",
                 "peak")

    def __init__(self, stdout="", stderr="", denials=(), remaining=None,
                 value=None, peak=None):
        self.stdout = stdout
        self.stderr = stderr
        self.denials = tuple(denials)
        self.remaining = dict(remaining or {})
        self.value = value
        self.peak = peak

    def __repr__(self):
        return (f"Result(stdout={self.stdout!r}, stderr={self.stderr!r}, "
                f"denials={self.denials!r}, remaining={self.remaining!r}, "
                f"value={self.value!r}, peak={self.peak!r})")


def _end(interp_id):
    # Called by the finalizer when an Interpreter is dropped unclosed.
    try:
        _sandbox.end_interpreter(interp_id)
    except Exception:
        pass


class Interpreter:
    """An untrusted interpreter limited by *policy* (default: Policy()).

    Use it as a context manager, or call close().  Its __main__ namespace
    persists from one job to the next.  Jobs from several host threads
    are serialized; different Interpreters run in parallel.  An exception
    inside raises RemoteError, with the job's Result as its "result"
    attribute; eval() and call() leave their Result in last_result.
    """

    def __init__(self, policy=None, *, _inner_wall_off=False,
                 _memory_group=None):
        _require_engine()
        self.policy = policy = check_policy(policy)
        self.last_result = None
        self._ended = None          # why the engine ended it, if it did
        self._lock = threading.Lock()
        self._log_seen = []
        self._worker = None
        # For the command line: called with (fd, bytes) as a worker's job
        # writes, instead of all of it in the Result.
        self._on_output = None
        if policy.isolation == "process":
            # A worker process of its own (Lib/sandbox/_worker.py).  The
            # switch is the debug build's, for the tests of the second
            # wall alone; the worker ignores it elsewhere.
            self._worker = _worker.Worker(policy,
                                          inner_wall_off=_inner_wall_off)
            self._id = self._worker.interp_id
            self._finalizer = weakref.finalize(self, self._worker.kill)
            return
        # A path that cannot be opened raises PolicyError there.  A pool's
        # memory group (a _sandbox.MemoryGroup) is the engine's, not a
        # field of the policy.
        fields = policy._engine()
        if _memory_group is not None:
            fields["memory_group"] = _memory_group
        self._id = _sandbox.new_interpreter(**fields)
        self._finalizer = weakref.finalize(self, _end, self._id)

    @property
    def layers(self):
        """For isolation "process", the layers of the worker's fence: a
        dict mapping each to None (it holds) or why it does not; None for
        an interpreter in the host's process."""
        return None if self._worker is None else self._worker.layers

    @property
    def pid(self):
        """The worker process's ID (isolation "process"), else None."""
        return None if self._worker is None else self._worker.pid

    @property
    def id(self):
        """The interpreter's ID, or None once it is closed."""
        return self._id

    def close(self):
        """End the interpreter: none of its code runs, its memory is given
        back.  Closing twice does nothing."""
        with self._lock:
            if self._id is None:
                return
            interp_id, self._id = self._id, None
            self._finalizer.detach()
            if self._worker is not None:
                self._worker.close()
            else:
                _sandbox.end_interpreter(interp_id)

    def _usable(self):
        """Can it take another job?  (Not closed, its worker not lost.)"""
        return self._id is not None and (self._worker is None
                                         or self._worker.lost is None)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        state = ("closed" if self._id is None else f"id={self._id}"
                 if self._worker is None else f"worker pid={self.pid}")
        return f"<sandbox.Interpreter {state} {self.policy!r}>"

    # Jobs

    def run(self, source, *, filename="<string>"):
        """Run the statements *source*; return the job's Result."""
        if not isinstance(source, str):
            raise TypeError(f"source must be a str, not "
                            f"{type(source).__name__}")
        return self._job(lambda i: _sandbox.exec(i, source, filename),
                         {"op": "exec", "source": source,
                          "filename": filename})

    def run_path(self, path, argv=()):
        """Run the script at *path* (read by the host) as __main__, with
        sys.argv set to [its file name, *argv]; return the job's Result.
        Its __file__ and code are /sandbox/NAME, or NAME with
        filesystem_info; a read grant "PATH:/sandbox/NAME" shows its
        source lines in tracebacks."""
        argv = [str(arg) for arg in argv]
        try:
            with open(path, "rb") as f:
                encoding, _ = tokenize.detect_encoding(f.readline)
                f.seek(0)
                source = f.read().decode(encoding)
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            raise OSError(f"cannot read the script {path!r}: {exc}") from None
        name = os.path.basename(path)
        shown = (name if self.policy.filesystem_info
                 else script_guest_path(path))
        setup = (f"import sys as _sys\n_sys.argv = {[name] + argv!r}\n"
                 f"del _sys\n__file__ = {shown!r}\n")

        def job(interp_id):
            _sandbox.exec(interp_id, setup)
            _sandbox.exec(interp_id, source, shown)
        return self._job(job, {"op": "exec", "setup": setup,
                               "source": source, "filename": shown})

    def eval(self, expression):
        """Evaluate *expression* inside; return a copy of its value."""
        if not isinstance(expression, str):
            raise TypeError(f"expression must be a str, not "
                            f"{type(expression).__name__}")
        result = self._job(lambda i: _sandbox.eval(i, expression),
                           {"op": "eval", "expression": expression})
        self.last_result = result
        return result.value

    def call(self, target, /, *args, **kwargs):
        """Call *target*, "module:qualname", inside with copies of the
        arguments; return a copy of its result."""
        if not isinstance(target, str):
            raise TypeError(f"target must be a str, not "
                            f"{type(target).__name__}")
        result = self._job(lambda i: _sandbox.call(i, target, args, kwargs),
                           {"op": "call", "target": target, "args": args,
                            "kwargs": kwargs})
        self.last_result = result
        return result.value

    def _job(self, work, request):
        with self._lock:
            if self._id is None:
                raise ValueError(self._ended or "the interpreter is closed")
            if self._worker is not None:
                return self._worker_job(request)
            try:
                value = work(self._id)
            except _sandbox.RemoteError as exc:
                lost = (exc.type_name == "sandbox.SandboxLimitExceeded"
                        and _sandbox.lost(self._id))
                exc.result = self._collect(None, lost)
                self.last_result = exc.result
                if lost:
                    # The engine ends it as the job comes out.
                    self._id = None
                    self._finalizer.detach()
                    self._ended = ("the interpreter was ended: its last job "
                                   "did not stop in time")
                raise
            except BaseException:
                self.last_result = self._collect(None)
                raise
            return self._collect(value)

    def _worker_job(self, request):
        # Arguments that cannot cross raise there, as in-process.
        answer = self._worker.job(request, self._on_output)
        result = Result(answer["stdout"].decode("utf-8", "replace"),
                        answer["stderr"].decode("utf-8", "replace"),
                        self._new_denials(answer["denials"]),
                        _remaining_of(answer["query"]),
                        peak=answer.get("peak"))
        self.last_result = result
        try:
            result.value = self._worker.result_of(answer)
        except _sandbox.RemoteError as exc:
            exc.result = result
            raise
        return result

    def _collect(self, value, lost=False):
        interp_id = self._id
        try:
            stdout = _sandbox.take_output(interp_id, 1).decode("utf-8",
                                                               "replace")
            stderr = _sandbox.take_output(interp_id, 2).decode("utf-8",
                                                               "replace")
            return Result(stdout, stderr,
                          self._new_denials(_sandbox.denials(interp_id)),
                          self._remaining(), value,
                          _sandbox.memory(interp_id)[2])
        except Exception:
            if not lost:
                raise
            # Its job came out and ended it in between: nothing left.
            return Result(value=value)

    def _new_denials(self, entries):
        log = [Denial(*entry) for entry in entries]
        seen = self._log_seen
        # The log keeps the newest entries: find where the last one seen
        # is, and take what follows it.
        start = 0
        if seen:
            last = seen[-1]
            for index in range(len(log) - 1, -1, -1):
                if log[index] == last:
                    start = index + 1
                    break
        self._log_seen = log
        return tuple(log[start:])

    def _remaining(self):
        return _remaining_of(_sandbox.query(self._id))


def _remaining_of(query):
    """What is left of each cap of *query* (_sandbox.query(), or a worker's
    answer): {name: cap - used}, "group.kind" outside the core's."""
    remaining = {}
    for (group, kind), value in query.items():
        if (type(value) is tuple and len(value) == 2
                and all(type(part) is int for part in value)):
            used, cap = value
            name = kind if group == "Python" else f"{group}.{kind}"
            remaining[name] = cap - used
    return remaining


def memory_budget(budget=None, /):
    """The memory that all untrusted interpreters of this process hold
    together, and its budget: (used, budget) in bytes, budget 0 for none.
    With *budget* (bytes, or a size such as "2G"; 0 for none), set it
    first: an allocation beyond it fails inside the interpreter that asks
    (MemoryError), and no interpreter is created while it is used up.
    Worker processes (isolation "process") are not counted: each has its
    own cap."""
    _require_engine()
    if budget is not None:
        budget = parse_size(budget, "budget")
        if budget < 0:
            raise ValueError("a budget cannot be negative")
    return _sandbox.memory_budget(budget)


def run(source, policy=None):
    """Run *source* in a new untrusted interpreter limited by *policy*,
    end it, and return the Result."""
    with Interpreter(policy) as interp:
        return interp.run(source)
