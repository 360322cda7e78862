"""python -m sandbox: run Python code in an untrusted interpreter.

    python -m sandbox run [options] SCRIPT [ARGS...]
    python -m sandbox run [options] -c CODE [ARGS...]
    python -m sandbox info
    python -m sandbox check-policy FILE.toml
"""

import argparse
import os
import re
import shlex
import sys
import sysconfig
import threading
import warnings

import sandbox
from sandbox._policy import (_DEFAULTS, _ENGINE_FIELDS, LAYERS, Policy,
                             PolicyError, NotEnforcedWarning)
from sandbox._interpreter import GUEST_ROOT, script_guest_path

# Exit codes of "run" (besides the code a script passes to sys.exit()).
EXIT_OK = 0
EXIT_RAISED = 1             # the untrusted code raised an exception
EXIT_USAGE = 2              # bad options or policy, as argparse does
EXIT_DENIED = 3             # it ended on a denial (an uncaught SandboxError)
EXIT_LIMIT = 4              # it exhausted a limit (SandboxLimitExceeded)

EXIT_CODES = f"""\
exit status of "run":
  {EXIT_OK}  the code ran to its end (or called sys.exit(0))
  {EXIT_RAISED}  the code raised an exception (its traceback is printed)
  {EXIT_USAGE}  bad options, policy or script (one line on stderr)
  {EXIT_DENIED}  the code ended on a denial: an uncaught SandboxError
  {EXIT_LIMIT}  the code exhausted a limit: SandboxLimitExceeded
  N  the code called sys.exit(N)
"""


class _Parser(argparse.ArgumentParser):
    """Errors are one line, with a pointer to --help."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} "
                              f"(see {self.prog} --help)\n")


# The repeatable options that add to a list field of the policy.
LIST_GRANTS = (
    ("--allow-read", "read", "PATH[:GUEST]",
     "let it read the file or directory PATH and what is below it "
     "(relative to the current directory); with GUEST, it sees PATH "
     "there (an absolute path, not beneath /sandbox/lib)"),
    ("--allow-write", "write", "PATH[:GUEST]",
     "let it read and change (create, write, rename, remove) PATH and "
     "what is below it; GUEST as for --allow-read"),
    ("--allow-packages", "packages", "DIR",
     "put the directory DIR (a site-packages, say) on its sys.path, "
     "read-only: its pure-Python modules and packages import"),
    ("--trust-bytecode", "trusted_bytecode", "DIR",
     "import the modules beneath the package root DIR (one of "
     "--allow-packages) from its bytecode caches, as the standard "
     "library's: only for a directory whose caches you or root wrote"),
    ("--allow-net", "net", "HOST[:PORT]",
     "let it connect and send to HOST:PORT; HOST alone: every port; "
     "PORT may be a range LOW-HIGH; HOST is a name (resolved once, by the "
     "engine), an address ([::1] for IPv6), localhost or * (everywhere)"),
    ("--allow-listen", "listen", "[HOST:]PORT",
     "let it bind and listen on HOST:PORT (HOST an address, localhost or "
     "*; PORT alone: localhost; port 0: one the kernel picks)"),
    ("--deny-net", "deny_net", "HOST[:PORT]",
     "never let it reach HOST:PORT, whatever --allow-net grants (a name "
     "without a port is never resolved)"),
    ("--allow-module", "modules", "NAME",
     "let it import the extension module NAME of the standard library "
     "beyond the default set, or of a package root: 'pkg.mod', or "
     "'pkg.*' for all of a package's"),
    ("--allow-env", "env", "NAME",
     "copy the host's environment variable NAME into its os.environ"),
)


def _not_yet(field):
    return "" if field not in Policy.unenforced() else " (not enforced yet)"


def build_parser():
    parser = _Parser(
        prog="python -m sandbox",
        description="Run untrusted Python code in an untrusted interpreter, "
                    "limited by a policy in C.  The code gets nothing that "
                    "the options do not grant.",
        epilog='Run "python -m sandbox COMMAND --help" for the options of '
               "a command.")
    parser.add_argument("--version", action="version",
                        version=f"sandbox, CPython {sys.version.split()[0]}"
                                f" with untrusted interpreters "
                                f"({'available' if sandbox.available else 'not built in'})")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=_Parser)
    commands.required = True

    run = parser.run_parser = commands.add_parser(
        "run", help="run a script or code in an untrusted interpreter",
        description="Run SCRIPT (read by the host) or -c CODE in a new "
                    "untrusted interpreter.  Its output streams to this "
                    "terminal as it is produced.  Options may be repeated "
                    "where they take a list.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("-c", dest="code", metavar="CODE",
                     help="the code to run, instead of SCRIPT")
    grants = run.add_argument_group(
        "grants", "Each option widens the policy; --policy gives the "
                  "starting point (default: nothing granted).")
    grants.add_argument("--policy", metavar="FILE.toml",
                        help="start from the policy in this TOML file")
    for option, field, metavar, text in LIST_GRANTS:
        grants.add_argument(option, action="append", default=[],
                            metavar=metavar, help=text + _not_yet(field))
    grants.add_argument("--memory", metavar="SIZE",
                        help="its memory cap: bytes, or 256M, 1G, 512MiB "
                             "(default 256MiB); beyond it, MemoryError "
                             "inside")
    grants.add_argument("--time", metavar="SECONDS", type=_seconds,
                        help="its wall-clock time limit (default 30)"
                             + _not_yet("time"))
    grants.add_argument("--cpu", metavar="SECONDS", type=_seconds,
                        help="its CPU time limit, over all its threads "
                             "(default: its time limit)" + _not_yet("cpu"))
    grants.add_argument("--threads", metavar="N", type=_count,
                        help="let it run N threads at once (default 0)"
                             + _not_yet("threads"))
    grants.add_argument("--recursion-limit", metavar="N", type=_count,
                        help="the highest recursion limit its code may "
                             "set with sys.setrecursionlimit() (default "
                             "1000)")
    grants.add_argument("--net-bytes", metavar="SIZE",
                        help="the bytes it may send and receive over the "
                             "network in all: bytes, or 64K, 10M; beyond, "
                             "SandboxLimitExceeded (default: no budget)")
    grants.add_argument("--net-connections", metavar="N", type=_count,
                        help="the connections it may make and accept in all "
                             "(default: no budget)")
    grants.add_argument("--allow-network-info", action="store_true",
                        default=None, dest="network_info",
                        help="let it learn this host's name, interfaces "
                             "and addresses (without it: 'localhost', and "
                             "denials)" + _not_yet("network_info"))
    grants.add_argument("--allow-fs-info", action="store_true",
                        default=None, dest="filesystem_info",
                        help="let it learn this host's identity (process "
                             "and user IDs, processors, load, kernel "
                             "release) and its real paths (without it: "
                             "neutral values, denials, and a virtual "
                             "layout: the standard library at "
                             "/sandbox/lib/python3.13)"
                             + _not_yet("filesystem_info"))
    grants.add_argument("--inherit-stdio", action="store_true", default=None,
                        help="let it use this process's fds 0-2"
                             + _not_yet("inherit_stdio"))
    grants.add_argument("--isolate", choices=("interpreter", "process"),
                        dest="isolation",
                        help="run it in a worker process fenced by the "
                             "kernel too (process: the default where the "
                             "kernel gives seccomp, which 'info' shows; its "
                             "output comes when it ends), or in this "
                             "process (interpreter: output streams)")
    grants.add_argument("--require-layer", action="append", default=[],
                        dest="require_layers", metavar="LAYER",
                        choices=LAYERS,
                        help="with --isolate=process, refuse to run unless "
                             "the worker's fence has LAYER: "
                             + ", ".join(LAYERS))
    run.add_argument("--show-denials", action="store_true",
                     help="print what it was denied, after it ends")
    run.add_argument("script", nargs="?", metavar="SCRIPT",
                     help="the script to run")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                     help="its arguments (its sys.argv[1:])")

    commands.add_parser(
        "info", help="print the build's flag and the default policy",
        description="Print whether this CPython has untrusted interpreters, "
                    "and the default policy as TOML.")

    check = commands.add_parser(
        "check-policy", help="check a TOML policy file",
        description="Check a TOML policy file and print it as the engine "
                    "reads it.  Exit 0 if it is valid, 1 if not.  Without "
                    "untrusted interpreters in this CPython, the values of "
                    "the fields that the engine checks (read, write, "
                    "modules, env, threads, net, listen, deny_net) are "
                    "not checked, only their "
                    "types.")
    check.add_argument("file", metavar="FILE.toml")

    return parser


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, not {text!r}")
    return value


def _count(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count, not {text!r}")


def _host_abspath(entry):
    host, colon, guest = entry.partition(":")
    return (os.path.abspath(host) if host else host) + colon + guest


def policy_from(args):
    """The policy of "run": --policy, widened by the options."""
    base = Policy.load(args.policy) if args.policy else Policy()
    fields = base.fields()
    for option, field, _, _ in LIST_GRANTS:
        dest = option.lstrip("-").replace("-", "_")
        given = getattr(args, dest)
        if field in ("read", "write"):
            # On the command line, as a shell user means them (the host's
            # path; GUEST, inside, as it is).
            given = [_host_abspath(entry) for entry in given]
        elif field in ("packages", "trusted_bytecode"):
            given = [os.path.abspath(path) for path in given]
        fields[field] = list(fields[field]) + given
    if args.require_layers:
        fields["require_layers"] = (list(fields["require_layers"])
                                    + args.require_layers)
    for field in ("memory", "time", "cpu", "threads", "recursion_limit",
                  "net_bytes",
                  "net_connections", "network_info", "filesystem_info",
                  "inherit_stdio",
                  "isolation"):
        value = getattr(args, field)
        if value is not None:
            fields[field] = value
    if args.isolation is None and fields["isolation"] == "interpreter":
        # A one-shot script can afford a process: the default where the
        # kernel gives seccomp (--isolate=interpreter to stay in this one).
        fields["isolation"] = default_isolation()
    policy = Policy(**fields)
    script = getattr(args, "script", None)
    if (script is not None and args.code is None
            and not policy.filesystem_info and os.path.isfile(script)):
        # The script reads its own source where it sees itself (its
        # tracebacks show their lines), unless the policy's own layout
        # has something else there.
        host = os.path.realpath(script)
        if ":" not in host:
            try:
                policy = Policy(**dict(fields, read=list(fields["read"]) + [
                    f"{host}:{script_guest_path(script)}"]))
            except PolicyError:
                pass
    return policy


def default_isolation():
    """The command line's isolation: "process" where seccomp is given."""
    import _sandbox
    return ("process" if _sandbox.fence_layers()["seccomp"] is None
            else "interpreter")


def _write(stream, data):
    stream.buffer.write(data)
    stream.flush()


def run_command(args, parser):
    if not sandbox.available:
        parser.error("this CPython was built without untrusted "
                     "interpreters: configure it with --with-untrusted")
    if args.code is not None and args.script is not None:
        # With -c, what looked like SCRIPT is the first argument.
        args.args.insert(0, args.script)
        args.script = None
    if args.code is None and args.script is None:
        parser.error("give either SCRIPT or -c CODE")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotEnforcedWarning)
        try:
            policy = policy_from(args)
        except PolicyError as exc:
            parser.error(str(exc))
    for warning in caught:
        print(f"{parser.prog}: warning: {warning.message}", file=sys.stderr)
    if args.script is not None and args.code is None:
        if not os.path.isfile(args.script):
            parser.error(f"cannot open the script {args.script!r}")

    import _sandbox
    try:
        interp = sandbox.Interpreter(policy)
    except (PolicyError, RuntimeError, OSError) as exc:
        # A path that cannot be opened, a layer the system does not give,
        # a worker that could not start.
        parser.error(str(exc))
    outcome = {}
    if interp.pid is not None:
        # A worker sends its output as it comes.
        interp._on_output = lambda fd, data: _write(
            sys.stdout if fd == 1 else sys.stderr, data)

    def job():
        try:
            if args.code is not None:
                interp.run("import sys as _s\n_s.argv = "
                           f"{['-c'] + list(args.args)!r}\ndel _s\n")
                outcome["result"] = interp.run(args.code)
            else:
                outcome["result"] = interp.run_path(args.script, args.args)
        except BaseException as exc:
            outcome["error"] = exc

    # The job runs on this (the main) thread, so that Ctrl-C stops it at
    # once; what it writes is streamed meanwhile (in this process; a worker
    # process's output comes with its answer).
    done = threading.Event()
    interp_id = interp.id

    def stream():
        while True:
            finished = done.wait(0.02)
            for fd, out in ((1, sys.stdout), (2, sys.stderr)):
                try:
                    data = _sandbox.take_output(interp_id, fd)
                except Exception:
                    return      # a late job's end ended it meanwhile
                if data:
                    _write(out, data)
            if finished:
                return

    streamer = None
    if interp.pid is None:
        streamer = threading.Thread(target=stream, name="sandbox-output",
                                    daemon=True)
        streamer.start()
    try:
        job()
    finally:
        done.set()
        if streamer is not None:
            streamer.join()
    result = outcome.get("result")
    error = outcome.get("error")
    if error is not None:
        result = getattr(error, "result", None) or interp.last_result
    if result is not None:
        _write(sys.stdout, result.stdout.encode("utf-8"))
        _write(sys.stderr, result.stderr.encode("utf-8"))
    interp.close()
    if args.show_denials and result is not None:
        for denial in result.denials:
            print(f"sandbox: denied {denial.resource} at {denial.location}: "
                  f"{denial.detail}", file=sys.stderr)

    if error is None:
        return EXIT_OK
    if isinstance(error, OSError) and not isinstance(error,
                                                     sandbox.SandboxError):
        parser.error(str(error))
    if not isinstance(error, sandbox.RemoteError):
        raise error
    if error.type_name == "sandbox.WorkerLost":
        print(f"{parser.prog}: {error.message}", file=sys.stderr)
        return EXIT_RAISED
    if error.type_name == "SystemExit":
        code = error.exit_code
        if code is None:
            return EXIT_OK
        if isinstance(code, int) and not isinstance(code, bool):
            return code & 0xFF
        print(code, file=sys.stderr)
        return EXIT_RAISED
    if error.type_name == "sandbox.SandboxLimitExceeded":
        # One line: its code could not run, not even to format where it
        # was (the denial log has that).
        print(f"{parser.prog}: {error.message}", file=sys.stderr)
        return EXIT_LIMIT
    sys.stderr.write(error.traceback)
    sys.stderr.flush()
    ended_by = _ending_denial(error, result)
    if ended_by is not None and not args.show_denials:
        denial, option = ended_by
        where = f", at {denial.location}" if denial.location else ""
        print(f"{parser.prog}: it was denied {denial.detail} "
              f"({denial.resource}{where})", file=sys.stderr)
        print(f"{parser.prog}: " + (f"to allow it: {option}" if option
                                    else "no option allows it"),
              file=sys.stderr)
    if error.type_name == "sandbox.SandboxError":
        return EXIT_DENIED
    return EXIT_RAISED


# A denial's detail (Python/sandbox*.c) -> the option that grants it.
_FILE_DENIAL = re.compile(r"[\w.]+: (read|write) (.+)", re.DOTALL)
_NET_DENIAL = re.compile(r"\w+\(.*\) = (\S+): not granted \((net|listen)\)",
                         re.DOTALL)
_NAME_DENIAL = re.compile(r"resolving '(.*)': not granted \(net\)",
                          re.DOTALL)


def _grant_for(denial):
    """The command-line option that grants what *denial* denied, or
    None."""
    detail = denial.detail
    if denial.resource == "file":
        match = _FILE_DENIAL.fullmatch(detail)
        if match:
            access, path = match[1], os.path.normpath(match[2])
            if not os.path.isabs(path):
                # Relative to its working directory, /sandbox unless a
                # grant holds this one's: granting this one makes it its.
                return (None if path.split(os.sep)[0] == os.pardir
                        else f"--allow-{access}=.")
            if path.startswith("//"):
                path = path[1:]
            if (path == GUEST_ROOT or path == f"{GUEST_ROOT}/lib"
                    or path.startswith(f"{GUEST_ROOT}/lib/")):
                return None     # the virtual layout's own
            if path.startswith(f"{GUEST_ROOT}/"):
                # A path of the virtual layout: a host's path shown there.
                return shlex.quote(f"--allow-{access}=HOST:{path}")
            return shlex.quote(f"--allow-{access}={path}")
    elif denial.resource == "network":
        match = _NET_DENIAL.fullmatch(detail)
        if match:
            return shlex.quote(f"--allow-{match[2]}={match[1]}")
        match = _NAME_DENIAL.fullmatch(detail)
        if match:
            return shlex.quote(f"--allow-net={match[1]}")
        if detail.endswith("(network_info)"):
            return "--allow-network-info"
    elif denial.resource == "information":
        if detail.endswith("(filesystem_info)"):
            return "--allow-fs-info"
    elif denial.resource == "module":
        import _sandbox
        try:
            _sandbox.check_policy(modules=[detail])
        except (ValueError, TypeError):
            return None         # never loaded, or not one of the stdlib's
        return shlex.quote(f"--allow-module={detail}")
    return None


def _ending_denial(error, result):
    """The denial that ended the job with *error*, and the option that
    grants it (or None), or None if no denial ended it: the last one
    logged, when the job ended on SandboxError, or on the
    ModuleNotFoundError of a module denied."""
    denials = list(result.denials) if result is not None else []
    last = denials[-1] if denials else None
    if error.type_name == "sandbox.SandboxError" and last is not None:
        return last, _grant_for(last)
    if error.type_name != "ModuleNotFoundError":
        return None
    if (last is not None and last.resource == "module"
            and error.message == f"No module named {last.detail!r}"):
        return last, _grant_for(last)
    # A built-in module beyond the default set is not found, and not
    # logged: one of the standard library that this host has.
    match = re.fullmatch(r"No module named '(\w+)'", error.message)
    if (match and match[1] in sys.stdlib_module_names
            and match[1] in sys.builtin_module_names):
        denial = sandbox.Denial(0.0, "module", match[1], "")
        return denial, _grant_for(denial)
    return None


def info_command():
    flag = sysconfig.get_config_var("Py_UNTRUSTED")
    print(f"configure --with-untrusted: {'yes' if flag else 'no'}")
    print(f"untrusted interpreters available: "
          f"{'yes' if sandbox.available else 'no'}")
    print(f"enforced policy fields: "
          + ", ".join(f for f in _DEFAULTS if f not in Policy.unenforced()))
    print(f"not enforced yet: {', '.join(Policy.unenforced())}")
    if sandbox.available:
        import _sandbox
        layers = _sandbox.fence_layers()
        print(f"worker process layers (isolation \"process\", Landlock "
              f"ABI {layers.pop('landlock_abi')}):")
        for name in LAYERS:
            why = layers.get(name)
            print(f"  {name}: {'yes' if why is None else 'no: ' + why}")
    print()
    print("default policy:")
    print(Policy().to_toml(), end="")
    return EXIT_OK


def check_command(args):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NotEnforcedWarning)
            policy = Policy.load(args.file)
    except PolicyError as exc:
        print(f"python -m sandbox check-policy: error: {exc}",
              file=sys.stderr)
        return 1
    for warning in caught:
        print(f"python -m sandbox check-policy: warning: {warning.message}",
              file=sys.stderr)
    if not sandbox.available:
        print(f"python -m sandbox check-policy: warning: "
              f"{', '.join(_ENGINE_FIELDS)} not checked: this CPython has no "
              f"untrusted interpreters, whose engine checks their values "
              f"(only their types were checked)", file=sys.stderr)
    print(f"{args.file}: valid")
    print(policy.to_toml(), end="")
    return EXIT_OK


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "info":
        return info_command()
    if args.command == "check-policy":
        return check_command(args)
    return run_command(args, parser.run_parser)

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
