"""sandbox.Pool: fresh untrusted interpreters, made ahead of demand."""

import collections
import concurrent.futures
import queue
import threading
import time

from ._interpreter import Interpreter, _require_engine, _sandbox
from ._policy import check_policy, parse_size

# What a memory group must have left for the start of an interpreter
# (SANDBOX_START_MEMORY in the engine): below it, the pool waits.
_START_MEMORY = 8 * 1024 * 1024
# How long the pool's budget may stay full with nothing of the pool's
# holding it before the pool gives up (_Pool._stalled()).
_STALL_TIMEOUT = 5.0

__all__ = ["Pool"]


class Pool:
    """Run jobs in fresh untrusted interpreters limited by *policy*.

    A background thread keeps *size* interpreters ready; each job takes
    one, runs in it, and ends it: no interpreter serves two jobs, so no
    state survives from one job to the next.  Jobs run on *workers*
    threads (default: *size*), in parallel.  submit() and submit_source()
    return concurrent.futures.Future objects.  Use it as a context manager,
    or call shutdown().

    isolation="process" (or a policy that says so) makes each interpreter
    a worker process fenced by the kernel.  A job submitted with a
    *domain* (any hashable key, such as a tenant's name) is run in the
    interpreter that the last job of the same domain left, if it is
    still kept, so that one tenant's jobs share a warm interpreter and its
    state; jobs of different domains, and jobs without one, never share
    an interpreter.  The pool keeps the interpreters of the *size* domains
    used last.

    *memory_budget* (bytes, or a size such as "1G") bounds what the pool's
    interpreters hold together, beside each one's cap (policy.memory): an
    allocation beyond it fails inside the interpreter that asks, with
    MemoryError, and the pool makes no new interpreter until there is room
    again.  The interpreters kept ready count against it too.  It binds
    in-process interpreters only: with isolation "process", each worker is
    bounded by its own cap.
    """

    def __init__(self, policy=None, size=4, *, workers=None,
                 isolation=None, memory_budget=None):
        _require_engine()
        policy = check_policy(policy)
        if isolation is not None:
            policy = policy.replace(isolation=isolation)
        self._memory_group = None
        if memory_budget is not None:
            if policy.isolation == "process":
                raise ValueError("memory_budget binds in-process "
                                 "interpreters; with isolation 'process' "
                                 "each worker is bounded by its own cap")
            self._memory_group = _sandbox.MemoryGroup(
                parse_size(memory_budget, "memory_budget"))
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int, not {size!r}")
        workers = size if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) \
                or workers < 1:
            raise ValueError(f"workers must be a positive int, not "
                             f"{workers!r}")
        self.policy = policy
        self.size = size
        self._ready = queue.Queue(maxsize=size)
        # domain -> its idle interpreter, the one used last at the end
        self._kept = collections.OrderedDict()
        self._kept_lock = threading.Lock()
        self._closed = threading.Event()
        self._error = None
        self._running = 0           # jobs that hold an interpreter
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="sandbox-pool")
        self._filler = threading.Thread(target=self._fill, daemon=True,
                                        name="sandbox-pool-filler")
        self._filler.start()

    def _has_room(self):
        # Room for another interpreter's start: in the pool's memory group
        # and in the process's budget (sandbox.memory_budget()).
        if self._memory_group is not None:
            used, budget = self._memory_group.usage()
            if used > budget - _START_MEMORY:
                return False
        used, budget = _sandbox.memory_budget()
        return budget == 0 or used <= budget - _START_MEMORY

    def _stalled(self):
        # The pool's group is full, and nothing the pool holds can give it
        # back: no job runs, no domain is kept, none is ready.  What holds
        # it are interpreters whose end left threads behind (abandoned:
        # their memory stays for the life of the process).
        if self._memory_group is None or self._running or self._kept \
                or not self._ready.empty():
            return False
        used, budget = self._memory_group.usage()
        return used > budget - _START_MEMORY

    def _make_room(self):
        # No room for another interpreter.  While a job may be waiting for
        # one (none is ready), the idle interpreter of the domain used
        # least recently goes; otherwise wait until a job lets go.
        old = None
        if self._ready.empty():
            with self._kept_lock:
                if self._kept:
                    old = self._kept.popitem(last=False)[1]
        if old is not None:
            old.close()
        else:
            self._closed.wait(0.05)

    def _fill(self):
        stalled_since = None
        while not self._closed.is_set():
            try:
                if not self._has_room():
                    if not self._stalled():
                        stalled_since = None
                    elif stalled_since is None:
                        stalled_since = time.monotonic()
                    elif time.monotonic() - stalled_since > _STALL_TIMEOUT:
                        raise RuntimeError(
                            "the pool's memory budget is held by "
                            "interpreters whose end left threads behind")
                    self._make_room()
                    continue
                stalled_since = None
                try:
                    interp = Interpreter(self.policy,
                                         _memory_group=self._memory_group)
                except RuntimeError as exc:
                    if "is used up" not in str(exc):
                        raise
                    # A budget was used up since the check: wait for room.
                    self._closed.wait(0.05)
                    continue
            except BaseException as exc:
                self._error = exc           # reported to the next job
                self._ready.put(None)
                return
            while True:
                if self._closed.is_set():
                    interp.close()
                    return
                try:
                    self._ready.put(interp, timeout=0.1)
                    break
                except queue.Full:
                    continue

    def _take(self):
        while True:
            if self._closed.is_set():
                raise RuntimeError("the pool is shut down")
            try:
                interp = self._ready.get(timeout=0.1)
            except queue.Empty:
                continue
            if interp is None:
                self._ready.put(None)       # for the other workers
                raise RuntimeError("the pool cannot create interpreters") \
                    from self._error
            return interp

    def _run(self, work, domain):
        interp = None
        if domain is not None:
            with self._kept_lock:
                interp = self._kept.pop(domain, None)
        if interp is None:
            interp = self._take()
        with self._kept_lock:
            self._running += 1
        try:
            return work(interp)
        finally:
            # An exception inside leaves the domain's state as it is; a
            # worker that was killed or lost is not kept.
            try:
                if domain is not None and interp._usable():
                    self._keep(domain, interp)
                else:
                    interp.close()
            finally:
                with self._kept_lock:
                    self._running -= 1

    def _keep(self, domain, interp):
        evicted = []
        with self._kept_lock:
            if self._closed.is_set():
                evicted.append(interp)
            else:
                self._kept[domain] = interp
            while len(self._kept) > self.size:
                evicted.append(self._kept.popitem(last=False)[1])
        for old in evicted:
            old.close()

    def memory_usage(self):
        """(used, budget) in bytes: what the pool's interpreters hold now,
        together, and its memory_budget; None without one."""
        if self._memory_group is None:
            return None
        return self._memory_group.usage()

    def _check_domain(self, domain):
        if domain is not None:
            hash(domain)

    def submit(self, target, /, *args, **kwargs):
        """Call *target*, "module:qualname", in a fresh interpreter with
        copies of the arguments; a Future of a copy of its result."""
        return self.submit_to(None, target, *args, **kwargs)

    def submit_to(self, domain, target, /, *args, **kwargs):
        """submit(), in the interpreter of *domain* (None: a fresh one)."""
        if not isinstance(target, str):
            raise TypeError(f"target must be a str, not "
                            f"{type(target).__name__}")
        self._check_domain(domain)
        return self._executor.submit(
            self._run, lambda interp: interp.call(target, *args, **kwargs),
            domain)

    def submit_source(self, source, *, domain=None):
        """Run *source* in a fresh interpreter, or that of *domain*; a
        Future of its Result."""
        if not isinstance(source, str):
            raise TypeError(f"source must be a str, not "
                            f"{type(source).__name__}")
        self._check_domain(domain)
        return self._executor.submit(
            self._run, lambda interp: interp.run(source), domain)

    def shutdown(self, wait=True, *, cancel_futures=False):
        """Stop: no new jobs; end the ready interpreters."""
        self._executor.shutdown(wait=wait, cancel_futures=cancel_futures)
        self._closed.set()
        if wait:
            self._filler.join()
        while True:
            try:
                interp = self._ready.get_nowait()
            except queue.Empty:
                break
            if interp is not None:
                interp.close()
        with self._kept_lock:
            kept = list(self._kept.values())
            self._kept.clear()
        for interp in kept:
            interp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.shutdown()
