"""Worker processes: an untrusted interpreter behind a second wall.

With Policy(isolation="process"), an Interpreter runs its untrusted
interpreter in a worker process of its own: this binary, started as
"python -I -S -X sandbox_worker=FD".  The worker's side is C
(Python/sandbox_worker.c): it reads the policy before its main
interpreter exists and creates that interpreter untrusted, fences itself
with the kernel (namespaces, rlimits, no_new_privs, Landlock, seccomp;
Doc/sandbox/isolation.rst) before any untrusted code runs, and then runs
the host's jobs in its main interpreter, so that both walls hold at once
and no Python code but the tenant's runs in the worker.

The host and the worker talk over a socketpair in frames: a 4-byte
big-endian length, then a value encoded by _sandbox.encode(), which the
host decodes in C without running any code of the worker's; the host
then checks the shape of every answer.  No pickle, no marshal.  The first
frame is the policy, packed by _sandbox.pack_worker_start().  A worker
that dies, sends garbage, or does not answer within the job's time and
100 ms is killed and reaped, and the job ends with RemoteError (of type
name "sandbox.SandboxLimitExceeded" for the time).
"""

import os
import socket
import struct
import sys
import threading
import time

import _sandbox

# The largest frame: a value crossing (64 MiB) and the two streams.
MAX_FRAME = 112 * 1024 * 1024
_HEADER = struct.Struct(">I")
# What one frame from a worker may make in the host: values (each a
# pointer or more), and dict keys that are not str, whose hashes a worker
# could make collide (str hashes are salted per process).
MAX_ITEMS = 4_000_000
MAX_OTHER_KEYS = 16_384

# The test switch of the debug build (Doc/sandbox/isolation.rst): with it,
# a worker's main interpreter, where jobs run, is left trusted, with none
# of the engine's checks, as if a tenant had broken the inner wall.
INNER_WALL_OFF = "SANDBOX_TEST_INNER_WALL_OFF"


class FrameError(Exception):
    """The other side sent something that is not a frame."""


def pack_frame(value):
    """*value* as a frame; TypeError or ValueError if it cannot cross."""
    data = _sandbox.encode(value)
    return _HEADER.pack(len(data)) + data


def send_frame(sock, value):
    sock.sendall(pack_frame(value))


# How long after a job's time the host waits for the answer of the stop
# inside before it kills the worker (as in-process: SANDBOX_LATE_NS).
_STOP_GRACE = 0.1


def _recv_exactly(sock, size, deadline):
    chunks = []
    while size:
        if deadline is not None:
            # One deadline for the whole frame: a sender that trickles a
            # byte at a time gains nothing.
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the frame did not come in time")
            sock.settimeout(left)
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock, deadline=None, limited=False):
    """The next value, None at the end of the stream; FrameError for
    anything else, TimeoutError after *deadline* (time.monotonic()).
    *limited*: from a worker, whose frames may make only so much."""
    header = _recv_exactly(sock, _HEADER.size, deadline)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise FrameError(f"a frame of {size} bytes")
    data = _recv_exactly(sock, size, deadline)
    if data is None:
        raise FrameError("a truncated frame")
    try:
        if limited:
            return _sandbox.decode(data, MAX_ITEMS, MAX_OTHER_KEYS)
        return _sandbox.decode(data)
    except Exception as exc:
        # Corrupt, too large, or a dict key that cannot be one.
        raise FrameError(f"an undecodable frame ({exc})") from None


# --- The host's side ------------------------------------------------------

# How long a worker may take to start and fence itself.
START_TIMEOUT = 30.0

# The exceptions a worker reports for a job that could not run (a value
# that cannot cross, a bad target...); any other name is a RuntimeError.
_FAILURES = {"ValueError": ValueError, "TypeError": TypeError,
             "RuntimeError": RuntimeError, "OverflowError": OverflowError,
             "MemoryError": MemoryError}


def _is_denial(entry):
    return (isinstance(entry, tuple) and len(entry) == 4
            and isinstance(entry[0], (int, float))
            and all(isinstance(part, str) for part in entry[1:]))


def _check_answer(answer, job_id):
    """*answer* if it has the shape of an answer to the job *job_id*;
    FrameError if not."""
    if not (isinstance(answer, dict) and answer.get("id") == job_id
            and type(answer.get("ok")) is bool
            and type(answer.get("stdout")) is bytes
            and type(answer.get("stderr")) is bytes
            and type(answer.get("denials")) is list
            and all(_is_denial(entry) for entry in answer["denials"])
            and type(answer.get("query")) is dict
            and all(type(k) is tuple and len(k) == 2
                    and all(type(part) is str for part in k)
                    for k in answer["query"])):
        raise FrameError("an answer of the wrong shape")
    if answer["ok"]:
        if "value" not in answer:
            raise FrameError("an answer without its value")
        return answer
    raised, failed = answer.get("raised"), answer.get("failed")
    if raised is not None:
        if not (type(raised) is tuple and len(raised) == 4
                and all(type(part) is str for part in raised[:3])
                and (raised[3] is None or type(raised[3]) in (int, str))):
            raise FrameError("an exception of the wrong shape")
    elif not (type(failed) is tuple and len(failed) == 2
              and all(type(part) is str for part in failed)):
        raise FrameError("an error of the wrong shape")
    return answer


_spawner_executor = None
_spawner_lock = threading.Lock()


def _spawner():
    """The executor whose one thread starts every worker process."""
    global _spawner_executor
    with _spawner_lock:
        if _spawner_executor is None:
            import concurrent.futures
            _spawner_executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="sandbox-spawner")
        return _spawner_executor


class Worker:
    """One worker process running one untrusted interpreter of *policy*,
    seen from the host.  Not thread-safe: Interpreter serializes jobs."""

    def __init__(self, policy, *, inner_wall_off=False):
        import subprocess
        self.policy = policy
        self.layers = None
        self.lost = None            # why the worker is gone, once it is
        # The policy first: the worker reads it before its main
        # interpreter exists.  A malformed one raises PolicyError here.
        start = _sandbox.pack_worker_start(bool(inner_wall_off),
                                           **policy._engine())
        parent, child = socket.socketpair()
        env = {name: os.environ[name] for name in policy.env
               if name in os.environ}
        if inner_wall_off:
            env[INNER_WALL_OFF] = "1"
        argv = [sys.executable, "-I", "-S", "-X",
                f"sandbox_worker={child.fileno()}"]
        try:
            # From the one thread that starts every worker and lives as
            # long as the host: a worker dies with the thread that started
            # it (PR_SET_PDEATHSIG), not with a thread of the host's that
            # made an Interpreter and went away.
            self._proc = _spawner().submit(
                subprocess.Popen, argv, pass_fds=(child.fileno(),), env=env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True).result()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self._jobs = 0
        self._sock = parent
        hello = {"memory": policy.memory, "threads": policy.threads,
                 "require": list(policy.require_layers),
                 "time": float(policy.time)}
        if policy.cpu is not None:
            hello["cpu"] = float(policy.cpu)
        try:
            self._sock.sendall(_HEADER.pack(len(start)) + start
                               + pack_frame(hello))
            ready = self._receive(START_TIMEOUT, "start")
        except BaseException:
            self.kill()
            raise
        if not (isinstance(ready, dict) and type(ready.get("ready")) is bool):
            self._lose("it answered its start with garbage")
        if not ready["ready"]:
            self.kill()
            self._start_failed(ready)
        layers = ready.get("layers")
        if not (type(ready.get("id")) is int and type(layers) is dict
                and all(type(k) is str and (v is None or type(v) is str)
                        for k, v in layers.items())):
            self._lose("it answered its start with garbage")
        self.layers = ready.get("layers")
        self.interp_id = ready.get("id")
        self.pid = self._proc.pid

    def _start_failed(self, ready):
        from ._policy import _failure
        message = str(ready.get("message"))
        if ready.get("type") == "PolicyError":
            raise _failure(message, ready.get("field"), ready.get("value"))
        if ready.get("type") == "SandboxError":
            raise _sandbox.SandboxError(message)
        raise RuntimeError(f"the worker process could not start its "
                           f"untrusted interpreter: {message}")

    def _receive(self, timeout, what, limit=None):
        """The next frame within *timeout* seconds; the worker is killed and
        the job ended if it does not come (*limit*: the whole time)."""
        limit = timeout if limit is None else limit
        try:
            value = recv_frame(self._sock, time.monotonic() + timeout,
                               limited=True)
        except (socket.timeout, TimeoutError):
            self.kill()
            self.lost = f"its {what} took more than {limit:g} s"
            if what != "job":
                raise RuntimeError(f"the worker process was killed: its "
                                   f"{what} took more than {limit:g} s"
                                   ) from None
            # As in-process: the job's limit, which it did not stop at.
            raise _sandbox.remote_error(
                "sandbox.SandboxLimitExceeded",
                f"time limit of {limit:g} s exceeded; the worker process "
                f"did not answer within {_STOP_GRACE * 1000:g} ms of it, "
                f"and was killed", "", None) from None
        except FrameError as exc:
            self._lose(f"it sent {exc}")
        except OSError as exc:
            self._lose(f"its socket failed ({exc.strerror})")
        except BaseException:
            # A handler of the host's raised (Ctrl-C) in the middle of the
            # wait: the answer would come out of step.  The worker goes.
            self.kill()
            self.lost = f"the host was interrupted during its {what}"
            raise
        if value is None:
            self._lose("it closed its socket")
        return value

    def _lose(self, why):
        status = self.kill()
        if status is not None and status < 0:
            why += f"; it was ended by signal {-status}"
        elif status:
            why += f"; it exited with status {status}"
        self.lost = why
        raise _sandbox.remote_error("sandbox.WorkerLost",
                                    f"the worker process was lost: {why}",
                                    "", None)

    def job(self, request, on_output=None):
        """Send *request*, wait for its answer (the policy's time at most),
        and return it, checked.  With *on_output*, the worker sends what
        the job writes while it runs: on_output(fd, data) gets it.
        TypeError or ValueError, before anything is sent, for a request
        that cannot cross."""
        self._jobs += 1
        job_id = self._jobs
        request = dict(request, id=job_id)
        if on_output is not None:
            request["stream"] = True
        frame = pack_frame(request)
        if self.lost is not None:
            raise _sandbox.remote_error("sandbox.WorkerLost",
                                        f"the worker process is gone: "
                                        f"{self.lost}", "", None)
        try:
            answer = self._exchange(frame, job_id, on_output)
        except _sandbox.RemoteError:
            raise       # the worker is already killed, and lost says why
        except BaseException:
            # A handler of the host's raised (Ctrl-C), or the output could
            # not be delivered, in the middle of the exchange: a frame half
            # sent, or an answer half read, would put the next job out of
            # step.  The worker goes.
            self.kill()
            self.lost = "the host was interrupted during its job"
            raise
        try:
            return _check_answer(answer, job_id)
        except FrameError as exc:
            self._lose(f"it sent {exc}")

    def _exchange(self, frame, job_id, on_output):
        """Send a job's *frame*, pass its output on, and return its
        answer (unchecked)."""
        try:
            self._sock.sendall(frame)
        except OSError as exc:
            self._lose(f"its socket failed ({exc.strerror})")
        # The job's code stops inside at the policy's time, and the worker
        # answers (and serves the next job); the kill is for what does not
        # stop (a blocking call, a C loop): a little later.
        deadline = time.monotonic() + self.policy.time + _STOP_GRACE
        while True:
            left = deadline - time.monotonic()
            answer = self._receive(max(left, 0.001), "job",
                                   self.policy.time)
            if not (isinstance(answer, dict) and "output" in answer):
                return answer
            fd, data = answer.get("output"), answer.get("data")
            if (on_output is None or type(fd) is not int or fd not in (1, 2)
                    or type(data) is not bytes or len(answer) != 3
                    or answer.get("id") != job_id):
                self._lose("it sent output of the wrong shape")
            on_output(fd, data)

    @staticmethod
    def result_of(answer):
        """The value of a checked answer, or its exception raised."""
        if answer["ok"]:
            return answer["value"]
        if "raised" in answer:
            raise _sandbox.remote_error(*answer["raised"])
        name, message = answer["failed"]
        raise _FAILURES.get(name, RuntimeError)(message)

    def kill(self):
        """Kill and reap the worker; its exit status (negative: the
        signal), or None if it could not be reaped."""
        try:
            self._sock.close()
        except OSError:
            pass
        proc = self._proc
        if proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass
        try:
            return proc.wait(timeout=10)
        except Exception:
            return None

    def close(self):
        """End the worker: its socket closes, it exits; killed if it does
        not within a second."""
        if self.lost is None:
            self.lost = "it was closed"
        try:
            self._sock.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=1)
        except Exception:
            self.kill()
