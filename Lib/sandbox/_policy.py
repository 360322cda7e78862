"""sandbox.Policy: what an untrusted interpreter may do."""

import difflib
import importlib.machinery
import math
import os
import re
import sys
import warnings

try:
    import _sandbox
except ImportError:         # a CPython built without --with-untrusted
    _sandbox = None

__all__ = ["Policy", "PolicyError", "NotEnforcedWarning", "parse_size",
           "UnavailableError"]


if _sandbox is not None:
    # The engine's own: it raises it for what it checks.
    PolicyError = _sandbox.PolicyError
else:
    class PolicyError(ValueError):
        """A policy is malformed.

        Its attribute field names the policy field ("read", "memory",
        ...) and value the bad entry, or None."""

        field = value = None


class NotEnforcedWarning(UserWarning):
    """A policy field was set that the engine does not enforce yet."""


class UnavailableError(RuntimeError):
    """This CPython has no untrusted interpreters."""


def _require_engine(what=None):
    if _sandbox is None:
        need = f" ({what} needs them)" if what else ""
        raise UnavailableError(
            f"this CPython was built without untrusted interpreters{need}: "
            f"configure it with --with-untrusted")


def _failure(message, field=None, value=None):
    """A PolicyError with *message*, and its attributes: the field it is
    about and the bad entry (or None)."""
    exc = PolicyError(message)
    exc.field = field
    exc.value = value
    return exc


def _error(field, value, reason):
    """The PolicyError of the bad entry *value* (None: none) of *field*, as
    the engine makes them: "field: value: reason"."""
    return _failure(f"{field}: {reason}" if value is None else
                    f"{field}: {value!r}: {reason}", field, value)


# The fields, in the order of the command line and of TOML files, with
# their defaults: nothing granted, modest caps.
_DEFAULTS = {
    "read": (),
    "write": (),
    "packages": (),
    "trusted_bytecode": (),
    "net": (),
    "listen": (),
    "deny_net": (),
    "modules": (),
    "env": (),
    "memory": 256 * 1024 * 1024,
    "time": 30.0,
    "cpu": None,
    "threads": 0,
    "recursion_limit": 1000,
    "network_info": False,
    "net_bytes": None,
    "net_connections": None,
    "filesystem_info": False,
    "inherit_stdio": False,
    "isolation": "interpreter",
    "require_layers": (),
}

# What the engine enforces today; every other field is accepted, kept and
# compared, but does not limit the interpreter yet (Policy.unenforced()).
_ENFORCED = frozenset({"threads", "recursion_limit", "trusted_bytecode",
                       "env", "modules", "read", "write",
                       "packages", "isolation", "require_layers", "memory",
                       "time", "cpu", "net", "listen", "deny_net",
                       "network_info", "net_bytes", "net_connections",
                       "filesystem_info"})

# The extension modules that only a worker's main interpreter may load,
# and why (Python/sandbox_import.c, main_only_modules).
_PROCESS_ONLY_MODULES = {
    "_datetime": "its types would outlive an interpreter of the host's "
                 "process",
    "fcntl": "fcntl(F_SETOWN) has the kernel signal any process of the "
             "user",
    "resource": "setrlimit() and prlimit() limit the host's process and "
                "others",
    "_sqlite3": "it opens database files by its own C paths, which no "
                "grant checks",
    "_dbm": "it opens database files by its own C paths, which no grant "
            "checks",
    "_gdbm": "it opens database files by its own C paths, which no grant "
             "checks",
    "_posixshmem": "it makes and removes the host's named shared memory",
    "_multiprocessing": "its SemLock makes the host's named semaphores",
}

# The layers of the second wall around a worker process (isolation
# "process"): _sandbox.fence_layers() says which the system gives.
LAYERS = ("namespaces", "rlimits", "no_new_privs", "landlock", "seccomp")

# The fields that the engine itself checks, keeps and compares
# (_sandbox.check_policy(), _sandbox.policy_within()); this module checks
# the others, until the engine enforces them too.
_ENGINE_FIELDS = ("read", "write", "packages", "trusted_bytecode",
                  "modules", "env", "threads",
                  "recursion_limit", "net", "listen", "deny_net", "network_info",
                  "filesystem_info")

_MEMORY_MIN = 16 * 1024 * 1024             # 16 MiB
_MEMORY_MAX = 1024 ** 4                    # 1 TiB
_TIME_MAX = 7 * 24 * 3600.0                # a week

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3,
               "t": 1024 ** 4}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def parse_size(value, field="memory"):
    """Bytes from an int or a size string: 1048576, "256M", "1G",
    "512MiB", "64k".  K, M, G and T are powers of 1024, with or without
    "B" or "iB"."""
    if isinstance(value, bool):
        raise _error(field, value, "expected a size")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = _SIZE_RE.fullmatch(value.strip())
        if match:
            number, unit = match.groups()
            size = float(number) * _SIZE_UNITS[unit.lower()]
            if size.is_integer() or unit:
                return int(size)
    raise _error(field, value, "expected a size such as 268435456, '256M', "
                 "'1G' or '512MiB'")


def format_size(size):
    """The shortest exact size string: "256MiB", "1GiB", "1000"."""
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3),
                         ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _strings(field, value):
    if isinstance(value, (str, bytes)):
        raise _error(field, value, "expected a list of strings, not a string")
    if not hasattr(value, "__iter__"):
        raise _error(field, value, "expected a list of strings")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise _error(field, item, "expected a string")
        if not item:
            raise _error(field, item, "an empty entry")
        if "\0" in item:
            raise _error(field, item, "not a valid entry")
    return items


def _package_modules(entry, packages):
    """The extension modules that the modules entry *entry* names beneath
    the package roots *packages*: {dotted name: file}.  "pkg.mod" is one
    module, "pkg.*" every one in the package pkg and its subpackages;
    the first root that has it wins, as on sys.path."""
    wildcard = entry.endswith(".*")
    base = entry[:-2] if wildcard else entry
    parts = base.split(".")
    if not all(part.isidentifier() for part in parts):
        raise _error("modules", entry, "not a module name, nor 'package.*'")
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    for root in packages:
        where = os.path.join(root, *parts)
        if not wildcard:
            for suffix in suffixes:
                if os.path.isfile(where + suffix):
                    return {base: where + suffix}
            continue
        found = {}
        for dirpath, dirnames, filenames in os.walk(where):
            dirnames[:] = sorted(d for d in dirnames if d.isidentifier())
            package = os.path.relpath(dirpath, root).split(os.sep)
            for filename in sorted(filenames):
                for suffix in suffixes:
                    stem = filename[:-len(suffix)]
                    # Not one named after a standard library module (the
                    # engine refuses those: _ctypes under another name).
                    if (filename.endswith(suffix) and stem.isidentifier()
                            and stem not in sys.stdlib_module_names
                            and not stem.startswith(("_test", "xx"))):
                        found.setdefault(".".join(package + [stem]),
                                         os.path.join(dirpath, filename))
                        break
        if found:
            return found
    raise _error("modules", entry, "not a module of the standard library, "
                 "nor an extension module beneath the package roots "
                 "(packages)")


def _split_modules(modules, packages):
    """The modules field as the engine takes it: the names of standard
    library modules, and {name: file} of the others, found beneath the
    package roots (a name with a dot, or not of the standard library)."""
    names, files = [], {}
    for entry in _strings("modules", modules):
        if entry.partition(".")[0] in sys.stdlib_module_names:
            names.append(entry)     # the engine's to check
        else:
            files.update(_package_modules(entry, packages))
    return names, files


def _engine_fields(fields):
    """The engine's fields of *fields*, checked and in the form the engine
    keeps them: by the engine, or, in a CPython without it, checked for
    their types only (their meaning is the engine's to check).  Return
    them, and the modules field as the engine takes it (_split_modules():
    the package roots are walked once, here)."""
    if _sandbox is not None:
        modules = fields.get("modules", ())
        if not isinstance(modules, (str, bytes)) and any(
                isinstance(entry, str) and entry.partition(".")[0]
                not in sys.stdlib_module_names for entry in modules):
            # Modules of the package roots: checked by the engine as bound
            # to their files, kept as they were written.
            packages = _sandbox.check_policy(
                packages=fields.get("packages", ()))["packages"]
            names, files = _split_modules(modules, packages)
            kept = _sandbox.check_policy(**dict(fields, modules=names),
                                         module_files=files)
            kept["modules"] = tuple(sorted(set(_strings("modules",
                                                        modules))))
        else:
            kept = _sandbox.check_policy(**fields)
            names, files = kept["modules"], {}
        return {name: kept[name] for name in fields}, (tuple(names), files)
    result = {}
    for name, value in fields.items():
        if name in ("threads", "recursion_limit"):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _error(name, value, "expected a count")
            result[name] = value
        elif name in ("network_info", "filesystem_info"):
            result[name] = _flag(name, value)
        else:
            result[name] = tuple(sorted(set(_strings(name, value))))
    return result, (result.get("modules", ()), {})


def _resolved(fields):
    """The engine's *fields* with each path where it leads now.  The
    engine compares paths by their names, which is exact for a nested
    interpreter (its paths are opened beneath its creator's grants), but
    the host's Interpreter opens them following symbolic links: a link
    beneath one of the other policy's paths may lead out of it."""
    return {name: tuple(_resolved_entry(entry) for entry in value)
            if name in ("read", "write", "packages", "trusted_bytecode")
            else value
            for name, value in fields.items()}


def _resolved_entry(entry):
    """A read or write entry, "HOST" or "HOST:GUEST", with HOST where it
    leads now (GUEST is where the interpreter sees it: kept)."""
    host, colon, guest = entry.partition(":")
    return os.path.realpath(host) + colon + guest


def _memory(field, value):
    size = parse_size(value, field)
    if _sandbox is None:
        if not _MEMORY_MIN <= size <= _MEMORY_MAX:
            raise _error(field, value, "out of range (16MiB to 1TiB)")
        return size
    # The engine's check: its range, and at most what this host can give.
    try:
        _sandbox.check_policy(memory=size)
    except _sandbox.PolicyError as exc:
        raise _error(field, value, str(exc).rpartition(": ")[2]) from None
    return size


def _time(field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(field, value, "expected seconds")
    if not (0 < value <= _TIME_MAX) or math.isnan(value):
        raise _error(field, value, f"out of range (more than 0, at most "
                     f"{_TIME_MAX:g} seconds)")
    return float(value)


def _cpu(field, value):
    return None if value is None else _time(field, value)


def _budget(field, value):
    """net_bytes (a size: 1048576, "10M") or net_connections (a count):
    at least 1, or None for no budget."""
    if value is None:
        return None
    if field == "net_bytes":
        value = parse_size(value, field)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise _error(field, value, "expected a count")
    if value < 1:
        raise _error(field, value, "out of range (at least 1, or none)")
    return value


def _flag(field, value):
    if not isinstance(value, bool):
        raise _error(field, value, "expected true or false")
    return value


def _isolation(field, value):
    if value not in ("interpreter", "process"):
        raise _error(field, value, "expected 'interpreter' or 'process'")
    return value


def _layers(field, value):
    names = _strings(field, value)
    for name in names:
        if name not in LAYERS:
            raise _error(field, name, f"not a layer ({', '.join(LAYERS)})")
    return tuple(sorted(set(names)))


_CHECKS = {
    "memory": _memory, "time": _time, "cpu": _cpu,
    "net_bytes": _budget, "net_connections": _budget,
    "filesystem_info": _flag, "inherit_stdio": _flag,
    "isolation": _isolation, "require_layers": _layers,
}


def _warn_unenforced(policy, given, stacklevel):
    """Warn about the fields in *given* that *policy* sets and the engine
    does not enforce yet; *stacklevel* is the caller's, as for warn()."""
    names = [name for name in given if name not in _ENFORCED
             and getattr(policy, name) != _DEFAULTS[name]]
    if names:
        one = len(names) == 1
        warnings.warn(f"sandbox.Policy: {', '.join(names)} "
                      f"{'is' if one else 'are'} not enforced yet: the "
                      f"interpreter is not limited by {'it' if one else 'them'}",
                      NotEnforcedWarning, stacklevel=stacklevel + 1)


def _quiet(fields):
    """A Policy of *fields*, without warnings (the caller warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEnforcedWarning)
        return Policy(**fields)


def check_policy(policy):
    """*policy*, or Policy() for None; TypeError for anything else."""
    if policy is None:
        return Policy()
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a sandbox.Policy, not "
                        f"{type(policy).__name__}")
    return policy


class Policy:
    """What an untrusted interpreter may do; immutable.

    Policy(**fields) checks every field and raises PolicyError, whose
    attributes field and value name the field and the bad entry.  The
    fields, with the defaults that grant nothing:

      read, write      absolute paths it may read, write (and below them);
                       "HOST:GUEST": HOST, seen inside at GUEST
      packages         absolute directories put on its sys.path after the
                       standard library, read-only: their pure-Python
                       modules and packages import
      trusted_bytecode those of packages whose bytecode caches it imports
                       from, as the standard library's (the host vouches
                       that only it or root wrote them)
      net              where it may connect and send: "HOST:PORT",
                       "HOST" (every port) or "HOST:LOW-HIGH"; HOST is a
                       name (resolved by the engine), an IPv4 address,
                       an IPv6 address in brackets ("[::1]:8080"),
                       "localhost" or "*" (everywhere)
      listen           where it may bind and listen: the same with an
                       address, localhost or *; "PORT" alone is
                       localhost's, port 0 one the kernel picks
      deny_net         what it may never reach, whatever net grants (a
                       name without a port: never resolved)
      modules          extension modules it may import beyond the
                       default set: of the standard library by name,
                       and beneath the package roots ("pkg.mod", or
                       "pkg.*" for all of a package's)
      env              host environment variables its os.environ gets
      memory           bytes, or a size: "256M", "1G", "512MiB" (256MiB)
      time             wall-clock seconds per job (30)
      cpu              CPU seconds per job, over all its threads (None:
                       its time; at most time * (threads + 1))
      threads          threads at once besides the job's (0)
      recursion_limit  the highest sys.setrecursionlimit() it may set
                       (1000; its limit starts there or at the host's,
                       whichever is lower)
      network_info     whether it may see the host's name, interfaces
                       and addresses (False)
      net_bytes        the bytes it may send and receive over its life:
                       a size ("10M"), or None for no budget (None)
      net_connections  the connections it may make and accept over its
                       life, or None (None)
      filesystem_info  whether it may see real paths and the host's
                       identity (False)
      inherit_stdio    whether it writes to the host's fds 0-2 (False)
      isolation        "interpreter" (in the host's process, the default)
                       or "process" (in a worker process fenced by the
                       kernel too)
      require_layers   the layers of the worker's fence that must hold
                       ("namespaces", "rlimits", "no_new_privs",
                       "landlock", "seccomp"), or it is not created

    The engine checks read, write, packages, modules, env, threads,
    recursion_limit, net, listen, deny_net, network_info, memory, time and cpu, keeps them in one form (sorted, each entry once, paths normalized) and
    enforces them; in a CPython without it, only their types are checked.
    The other fields are kept and compared but not enforced yet:
    Policy.unenforced() lists them, and setting one warns
    (NotEnforcedWarning).

    a <= b means that a grants nothing that b does not (the engine's test:
    it needs a CPython with untrusted interpreters).
    """

    # _bound: the modules field as the engine takes it, found beneath the
    # package roots once, when the policy is made.
    __slots__ = tuple(_DEFAULTS) + ("_bound",)

    def __init__(self, **fields):
        unknown = sorted(set(fields) - set(_DEFAULTS))
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, _DEFAULTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f" (the fields: {', '.join(_DEFAULTS)})"
            raise _failure(f"unknown policy field {name!r}{hint}", name)
        values = {name: fields.get(name, default)
                  for name, default in _DEFAULTS.items()}
        kept, bound = _engine_fields(
            {name: values[name] for name in _ENGINE_FIELDS})
        for name, value in kept.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_bound", bound)
        for name, check in _CHECKS.items():
            object.__setattr__(self, name, check(name, values[name]))
        for name in _PROCESS_ONLY_MODULES:
            if name in self.modules and self.isolation != "process":
                raise _error("modules", name, "only in a worker process "
                             "(isolation 'process'): "
                             + _PROCESS_ONLY_MODULES[name])
        if self.cpu is not None and \
                self.cpu > self.time * (self.threads + 1):
            raise _error("cpu", self.cpu, f"above the time limit times the "
                         f"threads that may run at once "
                         f"({self.time * (self.threads + 1):g} s)")
        if self.require_layers and self.isolation != "process":
            raise _error("require_layers", self.require_layers[0],
                         "layers wall a worker process: set isolation to "
                         "'process'")
        _warn_unenforced(self, fields, stacklevel=2)

    def __setattr__(self, name, value):
        raise AttributeError("a Policy is immutable; use replace()")

    def __delattr__(self, name):
        raise AttributeError("a Policy is immutable; use replace()")

    def fields(self):
        """The fields as a dict, in their order."""
        return {name: getattr(self, name) for name in _DEFAULTS}

    def replace(self, **changes):
        """A new policy with *changes* to this one's fields."""
        fields = self.fields()
        fields.update(changes)
        policy = _quiet(fields)
        _warn_unenforced(policy, changes, stacklevel=2)
        return policy

    @staticmethod
    def unenforced():
        """The fields that the engine does not enforce yet."""
        return tuple(name for name in _DEFAULTS if name not in _ENFORCED)

    # TOML

    @classmethod
    def from_toml(cls, text):
        """A policy from TOML text: top-level keys named as the fields."""
        import tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise _failure(f"invalid TOML: {exc}") from None
        if not isinstance(data, dict):
            raise _failure("invalid TOML: expected a table")
        policy = _quiet(data)
        _warn_unenforced(policy, data, stacklevel=2)
        return policy

    @classmethod
    def load(cls, path):
        """A policy from a TOML file."""
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as exc:
            raise _failure(f"cannot read the policy file {path!r}: "
                              f"{exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _failure(f"the policy file {path!r} is not UTF-8") \
                from None
        try:
            return cls.from_toml(text)
        except PolicyError as exc:
            raise _failure(f"{path}: {exc}", getattr(exc, "field", None),
                           getattr(exc, "value", None)) from None

    def to_toml(self):
        """This policy as TOML text that from_toml() reads back."""
        def string(s):
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines = ["# sandbox policy (fields not enforced yet: "
                 + ", ".join(self.unenforced()) + ")"]
        for name, value in self.fields().items():
            if value is None:
                continue            # the default, which TOML cannot say
            if isinstance(value, tuple):
                text = "[" + ", ".join(string(v) for v in value) + "]"
            elif isinstance(value, bool):
                text = "true" if value else "false"
            elif name in ("memory", "net_bytes"):
                text = string(format_size(value))
            else:
                text = repr(value)
            lines.append(f"{name} = {text}")
        return "\n".join(lines) + "\n"

    # Comparison: a <= b when a grants nothing that b does not.

    def __le__(self, other):
        if not isinstance(other, Policy):
            return NotImplemented
        # The engine's fields, by the engine's own test (the one a nested
        # interpreter's policy passes); the others here, until it has them.
        _require_engine("comparing policies")
        return (_sandbox.policy_within(_resolved(self._engine()),
                                       _resolved(other._engine()))
                # What the other denies, this one denies too.
                and set(other.deny_net) <= set(self.deny_net)
                and all(theirs is None or (mine is not None
                                           and mine <= theirs)
                        for mine, theirs in (
                            (self.net_bytes, other.net_bytes),
                            (self.net_connections, other.net_connections)))
                and self.memory <= other.memory
                and self.time <= other.time
                and self._cpu_limit() <= other._cpu_limit()
                and all(other_flag or not flag for flag, other_flag in (
                    (self.filesystem_info, other.filesystem_info),
                    (self.inherit_stdio, other.inherit_stdio)))
                # A worker process is narrower than the host's process,
                # and more layers narrower than fewer.
                and (self.isolation == "process"
                     or other.isolation == "interpreter")
                and set(self.require_layers) >= set(other.require_layers))

    def _engine(self):
        """The engine's fields: the keywords of _sandbox.new_interpreter(),
        the modules of the package roots bound to the files found when the
        policy was made."""
        fields = {name: getattr(self, name) for name in _ENGINE_FIELDS}
        names, files = self._bound
        fields = dict(fields, modules=tuple(names),
                      module_files=dict(files))
        if self.memory != _DEFAULTS["memory"]:
            # The default is the engine's: for a nested interpreter, half
            # of what its creator has left, at most the default.
            fields["memory"] = self.memory
        if self.time != _DEFAULTS["time"]:
            # The same: for a nested interpreter, its creator's.
            fields["time"] = self.time
        if self.cpu is not None:
            fields["cpu"] = self.cpu
        for name in ("net_bytes", "net_connections"):
            if getattr(self, name) is not None:
                fields[name] = getattr(self, name)
        return fields

    def _cpu_limit(self):
        """The CPU seconds of a job: the cpu field, or the time limit."""
        return self.time if self.cpu is None else self.cpu

    def __ge__(self, other):
        if not isinstance(other, Policy):
            return NotImplemented
        return other <= self

    def __lt__(self, other):
        if not isinstance(other, Policy):
            return NotImplemented
        return self <= other and self != other

    def __gt__(self, other):
        if not isinstance(other, Policy):
            return NotImplemented
        return other <= self and self != other

    def __eq__(self, other):
        if not isinstance(other, Policy):
            return NotImplemented
        return self.fields() == other.fields()

    def __hash__(self):
        return hash(tuple(self.fields().items()))

    def __repr__(self):
        changed = [f"{name}={value!r}" for name, value in self.fields().items()
                   if value != _DEFAULTS[name]]
        return f"Policy({', '.join(changed)})"
