# The "scale" subcommand of Tools/sandbox/bench.py, run by the flag-on
# release build with the arguments
#
#   idle KIND N          N idle interpreters of KIND ("isolated" or
#                        "untrusted"), each having run "pass", held at
#                        once in this process: prints the VmRSS (KiB) and
#                        the open descriptors before and after, and the
#                        seconds the creations took, as JSON.  One
#                        interpreter is created and destroyed first, so
#                        that one-time costs (the allocator's first
#                        arenas, runtime state made on first use) are not
#                        charged to the N.  (Also the micro-benchmarks'
#                        memory part, in a fresh process per sample.)
#   throughput KIND JOBS JOBS small jobs (print(sum(range(1000)))) submitted
#                        from two host threads: KIND "pool" (sandbox.Pool
#                        of 4 interpreters, 2 workers), "worker" (the same
#                        with isolation "process") or "subprocess" (a new
#                        "python -I -S -c" per job); prints the seconds
#                        from the first submission to the last result
#
# The soft limit of open descriptors is raised to the hard one first: an
# untrusted interpreter holds a few (its grants' directories).

import json, os, resource, subprocess, sys, time

mode, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
JOB = "print(sum(range(1000)))"
EXPECTED = str(sum(range(1000)))


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def fds():
    return len(os.listdir("/proc/self/fd"))


if mode == "idle":
    import _interpreters, _sandbox, gc

    def make():
        if kind == "isolated":
            i = _interpreters.create("isolated")
            if _interpreters.exec(i, "pass") is not None:
                sys.exit("exec('pass') failed in an isolated interpreter")
        else:
            i = _sandbox.new_interpreter()
            _sandbox.exec(i, "pass")
        return i

    _interpreters.destroy(make())
    gc.collect()
    before, fds_before = rss_kib(), fds()
    t0 = time.perf_counter()
    ids = [make() for _ in range(n)]
    took = time.perf_counter() - t0
    gc.collect()
    after, fds_after = rss_kib(), fds()
    for i in ids:
        _interpreters.destroy(i)
    print(json.dumps({"before": before, "after": after,
                      "fds_before": fds_before, "fds_after": fds_after,
                      "seconds": took, "fd_limit": hard}))

elif mode == "throughput":
    from concurrent.futures import ThreadPoolExecutor

    if kind == "subprocess":
        def job():
            out = subprocess.run([sys.executable, "-I", "-S", "-c", JOB],
                                 capture_output=True, text=True,
                                 check=True).stdout
            return out.strip()
        pool = None
    else:
        import sandbox
        options = {"isolation": "process"} if kind == "worker" else {}
        pool = sandbox.Pool(size=4, workers=2, **options)

        def job():
            return pool.submit_source(JOB).result().stdout.strip()
    job()                                       # warm-up
    time.sleep(0.5)                             # let the pool fill
    with ThreadPoolExecutor(2) as hosts:
        t0 = time.perf_counter()
        results = list(hosts.map(lambda _: job(), range(n)))
        took = time.perf_counter() - t0
    if pool is not None:
        pool.shutdown()
    if results != [EXPECTED] * n:
        sys.exit(f"{kind}: wrong results")
    print(json.dumps({"seconds": took, "jobs": n}))

else:
    sys.exit(f"unknown mode {mode!r}")
