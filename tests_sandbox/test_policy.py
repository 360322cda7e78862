"""sandbox.Policy: validation, TOML, comparison, what is not enforced.

Pure Python: these run on every build, the flag-off one included.
"""

import warnings

import pytest

import sandbox
from sandbox import NotEnforcedWarning, Policy, PolicyError

from support import (UNTRUSTED_BUILD, requires_untrusted, run_host,
                     run_python, run_untrusted)


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEnforcedWarning)
        yield


def test_the_default_grants_nothing_with_modest_caps():
    p = Policy()
    assert (p.read, p.write, p.net, p.modules, p.env) == ((),) * 5
    assert p.memory == 256 * 1024 * 1024 and p.time == 30.0
    assert p.threads == 0
    assert not (p.network_info or p.filesystem_info or p.inherit_stdio)
    assert repr(p) == "Policy()"


def test_values_are_kept_in_one_form():
    p = Policy(memory="1G", time=2, threads=3, env=["HOME", "HOME"])
    assert p.env == ("HOME",)
    assert p.memory == 1024 ** 3 and p.time == 2.0


@requires_untrusted
def test_network_entries_are_kept_in_one_form():
    p = Policy(net=["Example.COM.:0443", "127.1:80", "[::FFFF:127.0.0.1]",
                    "0x7f.0.0.1:1-65535", "LOCALHOST:8000-8010", "*:443",
                    "bücher.example:80"],
               listen=["8080", "0", "[::1]:9000-9001", "*:80"],
               deny_net=["169.254.169.254", "Metadata.Example"])
    assert p.net == ("*:443", "127.0.0.1", "127.0.0.1:80",
                     "example.com:443", "localhost:8000-8010",
                     "xn--bcher-kva.example:80")
    assert p.listen == ("*:80", "[::1]:9000-9001", "localhost:0",
                        "localhost:8080")
    assert p.deny_net == ("169.254.169.254", "metadata.example")


@requires_untrusted
def test_the_engine_keeps_its_fields_in_one_form():
    p = Policy(read=["/srv//sub/", "/srv/./sub", "/srv"],
               modules=["zlib", "_json", "zlib"], write=["/tmp/a/"])
    assert p.read == ("/srv", "/srv/sub")
    assert p.modules == ("_json", "zlib") and p.write == ("/tmp/a",)
    import _sandbox
    assert _sandbox.check_policy(read=["/a//b"], threads=2) == {
        "memory": 256 * 2**20, "time": 30.0, "cpu": 30.0, "threads": 2, "recursion_limit": 1000, "env": (), "modules": (),
        "module_files": {}, "read": ("/a/b",), "write": (), "packages": (),
        "trusted_bytecode": (), "net": (), "listen": (), "deny_net": (), "network_info": False,
        "net_bytes": None, "net_connections": None, "filesystem_info": False}


@pytest.mark.parametrize("text, size", [
    ("256M", 256 * 2**20), ("1G", 2**30), ("512MiB", 512 * 2**20),
    ("64k", 64 * 2**10), ("1.5G", 3 * 2**29), (" 2 GB ", 2 * 2**30),
    ("1048576", 2**20), (2**24, 2**24)])
def test_sizes(text, size):
    assert sandbox.parse_size(text) == size
    if size >= 16 * 2**20:
        assert Policy(memory=text).memory == size


def check_error(fields, field, value, reason):
    with pytest.raises(PolicyError) as info:
        Policy(**fields)
    exc = info.value
    assert isinstance(exc, ValueError)
    assert (exc.field, exc.value) == (field, value)
    assert reason in str(exc)
    expected = f"{field}: {value!r}: " if value is not None else f"{field}: "
    assert str(exc).startswith(expected), str(exc)


# Checked on every build: the fields of this package, and the types of
# the engine's.
@pytest.mark.parametrize("fields, field, value, reason", [
    ({"write": "/tmp"}, "write", "/tmp", "expected a list of strings"),
    ({"env": 5}, "env", 5, "expected a list of strings"),
    ({"read": [1]}, "read", 1, "expected a string"),
    ({"modules": [b"zlib"]}, "modules", b"zlib", "expected a string"),
    ({"read": ["/a\0b"]}, "read", "/a\0b", "not a valid entry"),
    ({"env": [""]}, "env", "", "an empty entry"),
    ({"threads": 1.5}, "threads", 1.5, "expected a count"),
    ({"threads": True}, "threads", True, "expected a count"),
    ({"recursion_limit": 1.5}, "recursion_limit", 1.5, "expected a count"),
    ({"recursion_limit": True}, "recursion_limit", True,
     "expected a count"),
    ({"net": "a.example:80"}, "net", "a.example:80",
     "expected a list of strings"),
    ({"net": [80]}, "net", 80, "expected a string"),
    ({"memory": -1}, "memory", -1, "out of range"),
    ({"memory": "12x"}, "memory", "12x", "expected a size"),
    ({"memory": 10}, "memory", 10, "out of range"),
    ({"memory": "2T"}, "memory", "2T", "out of range"),
    ({"memory": True}, "memory", True, "expected a size"),
    ({"time": 0}, "time", 0, "out of range"),
    ({"time": -3}, "time", -3, "out of range"),
    ({"time": "10"}, "time", "10", "expected seconds"),
    ({"network_info": "yes"}, "network_info", "yes",
     "expected true or false"),
])
def test_bad_fields_name_the_field_and_the_value(fields, field, value,
                                                 reason):
    check_error(fields, field, value, reason)


# The engine's checks of the network entries.
@requires_untrusted
@pytest.mark.parametrize("fields, field, value, reason", [
    ({"net": ["host:"]}, "net", "host:", "expected a port after ':'"),
    ({"net": [":80"]}, "net", ":80", "expected a host before the port"),
    ({"net": [""]}, "net", "", "an empty entry"),
    ({"net": ["example.com:0"]}, "net", "example.com:0", "invalid port"),
    ({"net": ["example.com:99999"]}, "net", "example.com:99999",
     "invalid port"),
    ({"net": ["example.com:90-80"]}, "net", "example.com:90-80",
     "invalid port"),
    ({"net": ["example.com:8o"]}, "net", "example.com:8o", "invalid port"),
    ({"net": ["exa mple.com:80"]}, "net", "exa mple.com:80", "invalid host"),
    ({"net": ["-a.example"]}, "net", "-a.example", "invalid host"),
    ({"net": ["1.2.3.999"]}, "net", "1.2.3.999", "invalid host"),
    ({"net": ["a:b:c"]}, "net", "a:b:c", "write an IPv6 address in "
                                         "brackets"),
    ({"net": ["::1:80"]}, "net", "::1:80", "write an IPv6 address in "
                                           "brackets"),
    ({"net": ["[::zz]:80"]}, "net", "[::zz]:80", "invalid IPv6 address"),
    ({"net": ["[fe80::1%eth0]"]}, "net", "[fe80::1%eth0]",
     "invalid IPv6 address"),
    ({"net": ["[::1]80"]}, "net", "[::1]80", "expected [IPV6]"),
    ({"listen": ["example.com:80"]}, "listen", "example.com:80",
     "listen takes an address"),
    ({"listen": ["70000"]}, "listen", "70000", "invalid port"),
    ({"deny_net": ["example.com:80"]}, "deny_net", "example.com:80",
     "a denied name takes no port"),
    ({"network_info": 1}, "network_info", 1, "expected true or false"),
])
def test_bad_network_entries_name_the_field_and_the_value(fields, field,
                                                          value, reason):
    check_error(fields, field, value, reason)


def test_nan_time():
    with pytest.raises(PolicyError, match="time: nan: out of range"):
        Policy(time=float("nan"))


# Checked by the engine, in C: what the entries mean.
@requires_untrusted
@pytest.mark.parametrize("fields, field, value, reason", [
    ({"read": ["relative/path"]}, "read", "relative/path",
     "the path must be absolute"),
    ({"read": ["/data/../etc"]}, "read", "/data/../etc",
     "the path cannot contain '..'"),
    ({"write": ["/a/.."]}, "write", "/a/..", "cannot contain '..'"),
    ({"modules": ["numpy"]}, "modules", "numpy",
     "not a module of the standard library"),
    ({"modules": ["json..x"]}, "modules", "json..x",
     "not a top-level module name"),
    ({"modules": ["os.path"]}, "modules", "os.path",
     "pure-Python modules need no grant"),
    ({"modules": ["9x"]}, "modules", "9x", "not a module name"),
    ({"modules": ["_interpreters"]}, "modules", "_interpreters",
     "never loaded in an untrusted interpreter"),
    ({"env": ["BAD-NAME"]}, "env", "BAD-NAME",
     "not an environment variable name"),
    ({"env": ["A=B"]}, "env", "A=B", "not an environment variable name"),
    ({"threads": -1}, "threads", -1, "out of range (0 to 1024)"),
    ({"threads": 10**6}, "threads", 10**6, "out of range"),
    ({"threads": 10**30}, "threads", 10**30, "out of range"),
])
def test_the_engine_names_the_field_and_the_value(fields, field, value,
                                                  reason):
    check_error(fields, field, value, reason)


@pytest.mark.skipif(UNTRUSTED_BUILD, reason="a build without the engine")
def test_without_the_engine_only_types_are_checked():
    p = Policy(read=["relative", "/a/../b"], modules=["numpy"])
    assert p.read == ("/a/../b", "relative")
    with pytest.raises(sandbox.UnavailableError, match="comparing policies"):
        p <= Policy()


def test_unknown_fields_are_named():
    with pytest.raises(PolicyError, match="unknown policy field 'reed'; "
                       "did you mean 'read'") as info:
        Policy(reed=["/x"])
    assert (info.value.field, info.value.value) == ("reed", None)
    with pytest.raises(PolicyError, match=r"unknown policy field 'colour' "
                       r"\(the fields: read"):
        Policy(colour=1)


def test_immutable_and_hashable():
    p = Policy(threads=1)
    with pytest.raises(AttributeError):
        p.threads = 5
    with pytest.raises(AttributeError):
        del p.threads
    assert p.replace(threads=2).threads == 2 and p.threads == 1
    assert len({Policy(threads=1), p}) == 1


def test_toml_round_trip(tmp_path):
    p = Policy(read=["/data"], write=["/tmp/out"], net=["[::1]:8080"],
               modules=["json"], env=["LANG"], memory="512MiB", time=1.5,
               threads=4, network_info=True)
    text = p.to_toml()
    assert 'memory = "512MiB"' in text
    assert Policy.from_toml(text) == p
    path = tmp_path / "policy.toml"
    path.write_text(text)
    assert Policy.load(str(path)) == p


@pytest.mark.parametrize("text, message", [
    ("threads = ", "invalid TOML"),
    ("thread = 2", "unknown policy field 'thread'; did you mean 'threads'"),
    ("read = 'rel'", "read: 'rel': expected a list of strings"),
])
def test_bad_toml(text, message):
    with pytest.raises(PolicyError, match=message):
        Policy.from_toml(text)


def test_unreadable_policy_files(tmp_path):
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        Policy.load(str(tmp_path / "missing.toml"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b"# \xe9\n")
    with pytest.raises(PolicyError, match="is not UTF-8"):
        Policy.load(str(bad))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("time = -1\n")
    with pytest.raises(PolicyError, match=r"wrong.toml: time: -1: out of "
                       "range") as info:
        Policy.load(str(wrong))
    assert (info.value.field, info.value.value) == ("time", -1)


@requires_untrusted
def test_comparison_means_grants_nothing_more():
    small = Policy(read=["/data/sub"], net=["a.example:443"], threads=1,
                   memory="64M")
    big = Policy(read=["/data"], net=["a.example:443", "b.example:80"],
                 threads=2, memory="1G", network_info=True)
    assert small <= big and small < big and big >= small and big > small
    assert not big <= small
    assert Policy(memory="64M") <= small
    assert not Policy() <= small        # its default memory cap is larger
    assert not Policy(read=["/data2"]) <= Policy(read=["/data"])
    assert not Policy(network_info=True) <= Policy()
    assert not Policy(time=60) <= Policy()
    # Network entries: within the other's hosts and ports; what the other
    # denies, this one denies too.
    assert Policy(net=["a.example:443"]) <= Policy(net=["a.example"])
    assert Policy(net=["a.example:80-90"]) <= Policy(net=["*:1-100"])
    assert not Policy(net=["a.example"]) <= Policy(net=["a.example:443"])
    assert not Policy(net=["b.example:443"]) <= Policy(net=["a.example"])
    assert Policy(listen=["8080"]) <= Policy(listen=["localhost"])
    assert not Policy(listen=["*:8080"]) <= Policy(listen=["8080"])
    assert not Policy(net=["127.0.0.1:80"]) <= Policy(listen=["*"])
    assert not Policy() <= Policy(deny_net=["10.0.0.1"])
    assert Policy(deny_net=["10.0.0.1"]) <= Policy()
    assert Policy() <= Policy() and not Policy() < Policy()
    assert (Policy() == 1) is False
    # Writing includes reading; the engine's own test (nested policies).
    assert Policy(read=["/data/x"]) <= Policy(write=["/data"])
    assert not Policy(write=["/data/x"]) <= Policy(read=["/data"])
    assert Policy(modules=["zlib"]) <= Policy(modules=["zlib", "_json"])
    assert not Policy(modules=["pwd"]) <= Policy()
    assert not Policy(env=["HOME"]) <= Policy()
    assert not Policy(threads=2) <= Policy(threads=1)
    assert Policy(recursion_limit=500) <= Policy()
    assert not Policy(recursion_limit=5000) <= Policy()


def test_what_is_not_enforced_is_reported():
    assert Policy.unenforced() == Policy().unenforced()
    assert "threads" not in Policy.unenforced()
    assert "env" not in Policy.unenforced()
    assert "modules" not in Policy.unenforced()
    assert "read" not in Policy.unenforced()
    assert "write" not in Policy.unenforced()
    assert "memory" not in Policy.unenforced()
    assert "time" not in Policy.unenforced()
    assert "cpu" not in Policy.unenforced()
    for field in ("net", "listen", "deny_net", "network_info",
                  "filesystem_info"):
        assert field not in Policy.unenforced()
    assert "inherit_stdio" in Policy.unenforced()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotEnforcedWarning)
        Policy(threads=2)                       # enforced: no warning
        Policy(read=["/data"], memory="256M")   # the default memory: none
        Policy(net=["a.example:1"], network_info=True)   # enforced
        Policy(filesystem_info=True)                     # enforced
        Policy.from_toml("inherit_stdio = true")
    assert [str(w.message) for w in caught] == [
        "sandbox.Policy: inherit_stdio is not enforced yet: the interpreter "
        "is not limited by it"]
    assert caught[0].filename == __file__   # points at the caller


# A policy whose entries change it while the engine reads it: the keys and
# values it holds must not be freed under the engine (a use-after-free
# from pure Python).  The debug build fills freed memory, so a field name
# read after its free shows in the error.
MUTATING_POLICY = r'''
import _sandbox, gc
def key(name):
    return "".join(list(name))          # not interned: freed with the dict
class Sly:
    def __init__(self, fields, path):
        self.fields, self.path = fields, path
    def __fspath__(self):
        self.fields.clear()
        gc.collect()
        return self.path
outcomes = []
inner = {}
inner[key("read")] = [Sly(inner, "/tmp"), 1]
try:
    _sandbox.policy_within(inner, {})
except _sandbox.PolicyError as exc:
    outcomes.append((exc.field, exc.value))
files = {}
files[key("zlib_x")] = Sly(files, "relative.so")
try:
    _sandbox.check_policy(module_files=files)
except _sandbox.PolicyError as exc:
    outcomes.append((exc.field, exc.value, str(exc)))
print(outcomes)
'''


@requires_untrusted
def test_a_policy_that_changes_while_it_is_read():
    expected = ("[('read', 1), ('module_files', 'relative.so', "
                "\"module_files: 'relative.so': the file must be an "
                "absolute path\")]")
    proc = run_host(MUTATING_POLICY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected
    proc = run_untrusted(MUTATING_POLICY.replace("print(outcomes)",
                                                 "assert outcomes == "
                                                 + expected))
    assert proc.stdout.split() == ["ran", "host", "alive"], proc.stderr


@requires_untrusted
def test_module_files_are_for_modules_outside_the_standard_library():
    import _sandbox
    for name in ("mmap", "pwd", "json"):
        with pytest.raises(_sandbox.PolicyError, match="a module of the "
                           "standard library") as info:
            _sandbox.check_policy(module_files={name: "/x/m.so"})
        assert (info.value.field, info.value.value) == ("module_files", name)
    # A binding of the outer policy never stands for a name of the inner.
    assert not _sandbox.policy_within({"modules": ["mmap"]},
                                      {"module_files": {"own": "/x/own.so"}})


@requires_untrusted
def test_entries_that_do_not_convert_and_exceptions_that_are_kept():
    import _sandbox
    for fields, field in [({"module_files": {"a\udcff": "/x"}}, "module_files"),
                          ({"modules": ["\udce9"]}, "modules"),
                          ({"module_files": {"a\x00evil": "/x"}},
                           "module_files"),
                          ({"env": ["A\x00B"]}, "env")]:
        with pytest.raises(_sandbox.PolicyError) as info:
            _sandbox.check_policy(**fields)
        assert info.value.field == field

    class Interrupting:
        def __fspath__(self):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        _sandbox.check_policy(read=[Interrupting()])
    with pytest.raises(KeyboardInterrupt):
        _sandbox.check_policy(module_files={"own": Interrupting()})

    class Iterating:
        def __iter__(self):
            raise MemoryError
    with pytest.raises(MemoryError):
        _sandbox.check_policy(env=Iterating())


@requires_untrusted
def test_a_policy_list_is_bounded():
    import _sandbox
    paths = [f"/data/{n}" for n in range(1025)]
    with pytest.raises(_sandbox.PolicyError, match="at most 1024 entries"):
        _sandbox.check_policy(read=paths)
    assert len(_sandbox.check_policy(read=paths[:1024])["read"]) == 1024


@requires_untrusted
def test_the_recursion_limit_is_the_policys(tmp_path):
    # sys.setrecursionlimit() up to the policy's, not above; the command
    # line and a policy file say it the same way.
    probe = ("import sys\n"
             "sys.setrecursionlimit(20_000)\n"
             "def f(n): return n and f(n - 1) + 1\n"
             "print(f(15_000))")
    with sandbox.Interpreter(Policy(recursion_limit=20_000)) as it:
        assert it.run(probe).stdout == "15000\n"
    with sandbox.Interpreter(Policy()) as it:
        with pytest.raises(Exception, match="sys.setrecursionlimit") as info:
            it.run(probe)
        assert info.value.type_name == "sandbox.SandboxError"
    policy = tmp_path / "policy.toml"
    policy.write_text("recursion_limit = 20000\n")
    for options in (["--recursion-limit", "20000"], ["--policy", str(policy)]):
        proc = run_python("-m", "sandbox", "run", *options, "-c", probe)
        assert proc.stdout == "15000\n", proc.stderr
    with pytest.raises(PolicyError, match="out of range"):
        Policy(recursion_limit=10**7)
