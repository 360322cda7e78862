"""sandbox.Policy: what an untrusted interpreter may do."""

import difflib
import ipaddress
import math
import os
import re
import sys
import warnings

__all__ = ["Policy", "PolicyError", "NotEnforcedWarning", "parse_size"]


class PolicyError(ValueError):
    """A policy is malformed: the message names the field and the value."""


class NotEnforcedWarning(UserWarning):
    """A policy field was set that the engine does not enforce yet."""


# The fields, in the order of the command line and of TOML files, with
# their defaults: nothing granted, modest caps.
_DEFAULTS = {
    "read": (),
    "write": (),
    "net": (),
    "modules": (),
    "env": (),
    "memory": 256 * 1024 * 1024,
    "time": 30.0,
    "threads": 0,
    "network_info": False,
    "filesystem_info": False,
    "inherit_stdio": False,
}

# What the engine enforces today; every other field is accepted, kept and
# compared, but does not limit the interpreter yet (Policy.unenforced()).
_ENFORCED = frozenset({"threads", "env", "modules", "read", "write"})

_MEMORY_MIN = 1024 * 1024                  # 1 MiB
_MEMORY_MAX = 1024 ** 4                    # 1 TiB
_TIME_MAX = 7 * 24 * 3600.0                # a week
_THREADS_MAX = 1024

_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3,
               "t": 1024 ** 4}
_SIZE_RE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST_RE = re.compile(r"(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
                      r"(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def parse_size(value, field="memory"):
    """Bytes from an int or a size string: 1048576, "256M", "1G",
    "512MiB", "64k".  K, M, G and T are powers of 1024, with or without
    "B" or "iB"."""
    if isinstance(value, bool):
        raise PolicyError(f"{field}: expected a size, not {value!r}")
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
    raise PolicyError(f"{field}: expected a size such as 268435456, '256M', "
                      f"'1G' or '512MiB', not {value!r}")


def format_size(size):
    """The shortest exact size string: "256MiB", "1GiB", "1000"."""
    for unit, factor in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3),
                         ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _strings(field, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise PolicyError(f"{field}: expected a list of strings, not "
                          f"{value!r}")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise PolicyError(f"{field}: expected strings, not {item!r}")
        if "\0" in item or not item:
            raise PolicyError(f"{field}: invalid entry {item!r}")
    return items


def _paths(field, value):
    result = []
    for path in _strings(field, value):
        if not os.path.isabs(path):
            raise PolicyError(f"{field}: paths must be absolute, not "
                              f"{path!r}")
        result.append(os.path.normpath(path))
    return tuple(sorted(set(result)))


def _hostports(field, value):
    result = []
    for entry in _strings(field, value):
        host, sep, port = entry.rpartition(":")
        if not sep or not host:
            raise PolicyError(f"{field}: expected HOST:PORT, not {entry!r}")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise PolicyError(f"{field}: invalid port in {entry!r} "
                              "(1 to 65535)")
        if host.startswith("[") and host.endswith("]"):
            try:
                ipaddress.IPv6Address(host[1:-1])
            except ValueError:
                raise PolicyError(f"{field}: invalid IPv6 address in "
                                  f"{entry!r}") from None
        elif ":" in host:
            raise PolicyError(f"{field}: write an IPv6 address in brackets, "
                              f"as [::1]:8080, not {entry!r}")
        elif not _HOST_RE.fullmatch(host):
            raise PolicyError(f"{field}: invalid host in {entry!r}")
        result.append(f"{host.lower()}:{int(port)}")
    return tuple(sorted(set(result)))


def _modules(field, value):
    result = []
    for name in _strings(field, value):
        parts = name.split(".")
        if not all(part.isidentifier() for part in parts):
            raise PolicyError(f"{field}: invalid module name {name!r}")
        if parts[0] not in sys.stdlib_module_names:
            raise PolicyError(f"{field}: unknown module {name!r} (untrusted "
                              "interpreters import from the standard "
                              "library only)")
        result.append(name)
    return tuple(sorted(set(result)))


def _env(field, value):
    result = []
    for name in _strings(field, value):
        if not _ENV_RE.fullmatch(name):
            raise PolicyError(f"{field}: invalid environment variable name "
                              f"{name!r}")
        result.append(name)
    return tuple(sorted(set(result)))


def _memory(field, value):
    size = parse_size(value, field)
    if not _MEMORY_MIN <= size <= _MEMORY_MAX:
        raise PolicyError(f"{field}: {value!r} is out of range (1MiB to "
                          "1TiB)")
    return size


def _time(field, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f"{field}: expected seconds, not {value!r}")
    if not (0 < value <= _TIME_MAX) or math.isnan(value):
        raise PolicyError(f"{field}: {value!r} is out of range (more than 0, "
                          f"at most {_TIME_MAX:g} seconds)")
    return float(value)


def _threads(field, value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise PolicyError(f"{field}: expected a count, not {value!r}")
    if not 0 <= value <= _THREADS_MAX:
        raise PolicyError(f"{field}: {value!r} is out of range (0 to "
                          f"{_THREADS_MAX})")
    return value


def _flag(field, value):
    if not isinstance(value, bool):
        raise PolicyError(f"{field}: expected true or false, not {value!r}")
    return value


_CHECKS = {
    "read": _paths, "write": _paths, "net": _hostports,
    "modules": _modules, "env": _env, "memory": _memory, "time": _time,
    "threads": _threads, "network_info": _flag, "filesystem_info": _flag,
    "inherit_stdio": _flag,
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


def _within(path, roots):
    return any(path == root or path.startswith(root.rstrip("/") + "/")
               for root in roots)


class Policy:
    """What an untrusted interpreter may do; immutable.

    Policy(**fields) checks every field and raises PolicyError naming the
    field and the bad value.  The fields, with the defaults that grant
    nothing:

      read, write      absolute paths it may read, write (and below them)
      net              "HOST:PORT" it may connect to
      modules          extension modules it may import beyond the default
      env              host environment variables its os.environ gets
      memory           bytes, or a size: "256M", "1G", "512MiB" (256MiB)
      time             seconds of CPU and wall time per job (30)
      threads          threads at once besides the job's (0)
      network_info     whether it may see network information (False)
      filesystem_info  whether it may see real paths (False)
      inherit_stdio    whether it writes to the host's fds 0-2 (False)

    Only "threads", "env" and "modules" are enforced yet: the others are
    kept and
    compared, and Policy.unenforced() lists them; setting one warns
    (NotEnforcedWarning).
    a <= b means that a grants nothing that b does not.
    """

    __slots__ = tuple(_DEFAULTS)

    def __init__(self, **fields):
        unknown = sorted(set(fields) - set(_DEFAULTS))
        if unknown:
            name = unknown[0]
            close = difflib.get_close_matches(name, _DEFAULTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else \
                f" (the fields: {', '.join(_DEFAULTS)})"
            raise PolicyError(f"unknown policy field {name!r}{hint}")
        for name, default in _DEFAULTS.items():
            value = fields.get(name, default)
            object.__setattr__(self, name, _CHECKS[name](name, value))
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
            raise PolicyError(f"invalid TOML: {exc}") from None
        if not isinstance(data, dict):
            raise PolicyError("invalid TOML: expected a table")
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
            raise PolicyError(f"cannot read the policy file {path!r}: "
                              f"{exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError(f"the policy file {path!r} is not UTF-8") \
                from None
        try:
            return cls.from_toml(text)
        except PolicyError as exc:
            raise PolicyError(f"{path}: {exc}") from None

    def to_toml(self):
        """This policy as TOML text that from_toml() reads back."""
        def string(s):
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines = ["# sandbox policy (fields not enforced yet: "
                 + ", ".join(self.unenforced()) + ")"]
        for name, value in self.fields().items():
            if isinstance(value, tuple):
                text = "[" + ", ".join(string(v) for v in value) + "]"
            elif isinstance(value, bool):
                text = "true" if value else "false"
            elif name == "memory":
                text = string(format_size(value))
            else:
                text = repr(value)
            lines.append(f"{name} = {text}")
        return "\n".join(lines) + "\n"

    # Comparison: a <= b when a grants nothing that b does not.

    def __le__(self, other):
        if not isinstance(other, Policy):
            return NotImplemented
        # Writing includes reading.
        return (all(_within(p, other.read + other.write) for p in self.read)
                and all(_within(p, other.write) for p in self.write)
                and set(self.net) <= set(other.net)
                and set(self.modules) <= set(other.modules)
                and set(self.env) <= set(other.env)
                and self.memory <= other.memory
                and self.time <= other.time
                and self.threads <= other.threads
                and all(other_flag or not flag for flag, other_flag in (
                    (self.network_info, other.network_info),
                    (self.filesystem_info, other.filesystem_info),
                    (self.inherit_stdio, other.inherit_stdio))))

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
