"""sandbox.Policy: validation, TOML, comparison, what is not enforced.

Pure Python: these run on every build, the flag-off one included.
"""

import warnings

import pytest

import sandbox
from sandbox import NotEnforcedWarning, Policy, PolicyError


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


def test_values_are_normalized():
    p = Policy(read=["/data/../srv/", "/srv"], net=["Example.COM:0443"],
               modules=["json", "json", "os.path"], env=["HOME"],
               memory="1G", time=2, threads=3)
    assert p.read == ("/srv",)
    assert p.net == ("example.com:443",)
    assert p.modules == ("json", "os.path")
    assert p.memory == 1024 ** 3 and p.time == 2.0


@pytest.mark.parametrize("text, size", [
    ("256M", 256 * 2**20), ("1G", 2**30), ("512MiB", 512 * 2**20),
    ("64k", 64 * 2**10), ("1.5G", 3 * 2**29), (" 2 GB ", 2 * 2**30),
    ("1048576", 2**20), (2**21, 2**21)])
def test_sizes(text, size):
    assert sandbox.parse_size(text) == size
    if size >= 2**20:
        assert Policy(memory=text).memory == size


@pytest.mark.parametrize("fields, message", [
    ({"reed": ["/x"]}, "unknown policy field 'reed'; did you mean 'read'"),
    ({"colour": 1}, "unknown policy field 'colour' (the fields: read"),
    ({"read": ["relative/path"]}, "read: paths must be absolute"),
    ({"write": "/tmp"}, "write: expected a list of strings"),
    ({"read": [1]}, "read: expected strings, not 1"),
    ({"read": ["/a\0b"]}, "read: invalid entry"),
    ({"net": ["example.com"]}, "net: expected HOST:PORT"),
    ({"net": ["example.com:0"]}, "net: invalid port"),
    ({"net": ["example.com:99999"]}, "net: invalid port"),
    ({"net": ["exa mple.com:80"]}, "net: invalid host"),
    ({"net": ["::1:80"]}, "net: write an IPv6 address in brackets"),
    ({"net": ["[::zz]:80"]}, "net: invalid IPv6 address"),
    ({"modules": ["numpy"]}, "modules: unknown module 'numpy'"),
    ({"modules": ["json..x"]}, "modules: invalid module name"),
    ({"env": ["BAD-NAME"]}, "env: invalid environment variable name"),
    ({"memory": -1}, "memory: -1 is out of range"),
    ({"memory": "12x"}, "memory: expected a size"),
    ({"memory": 10}, "memory: 10 is out of range"),
    ({"memory": "2T"}, "memory: '2T' is out of range"),
    ({"memory": True}, "memory: expected a size"),
    ({"time": 0}, "time: 0 is out of range"),
    ({"time": -3}, "time: -3 is out of range"),
    ({"time": float("nan")}, "time: nan is out of range"),
    ({"time": "10"}, "time: expected seconds"),
    ({"threads": -1}, "threads: -1 is out of range"),
    ({"threads": 10**6}, "threads: 1000000 is out of range"),
    ({"threads": 1.5}, "threads: expected a count"),
    ({"network_info": "yes"}, "network_info: expected true or false"),
])
def test_bad_fields_name_the_field_and_the_value(fields, message):
    with pytest.raises(PolicyError) as info:
        Policy(**fields)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


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
    ("read = ['rel']", "read: paths must be absolute"),
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
    wrong.write_text("threads = -1\n")
    with pytest.raises(PolicyError, match=r"wrong.toml: threads: -1"):
        Policy.load(str(wrong))


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
    assert Policy() <= Policy() and not Policy() < Policy()
    assert (Policy() == 1) is False


def test_what_is_not_enforced_is_reported():
    assert Policy.unenforced() == Policy().unenforced()
    assert "threads" not in Policy.unenforced()
    assert "env" not in Policy.unenforced()
    assert "modules" not in Policy.unenforced()
    assert "read" not in Policy.unenforced()
    assert "write" not in Policy.unenforced()
    for field in ("net", "memory",
                  "time", "network_info", "filesystem_info",
                  "inherit_stdio"):
        assert field in Policy.unenforced()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NotEnforcedWarning)
        Policy(threads=2)                       # enforced: no warning
        Policy(read=["/data"], memory="256M")   # the default memory: none
        Policy.from_toml("net = ['a.example:1']")
    assert [str(w.message) for w in caught] == [
        "sandbox.Policy: net is not enforced yet: the interpreter is not "
        "limited by it"]
    assert caught[0].filename == __file__   # points at the caller
