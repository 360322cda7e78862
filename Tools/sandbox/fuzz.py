#!/usr/bin/env python3
"""Fuzz untrusted interpreters with hostile calls, in the style of fusil.

The fuzzer generates small untrusted programs, with hypothesis, that call the
functions, classes and methods of the modules an untrusted interpreter may
import by default (default_modules[] of Python/sandbox_import.c) with hostile
arguments: objects whose __index__, __len__, __iter__, __eq__, __hash__,
__buffer__, __float__, __del__ or __getitem__ mutate the container being
processed or the call's other arguments, re-enter the call, or raise; deep
nesting; huge, negative and boundary sizes; wrong types.

Each program runs in a fresh untrusted interpreter of a CHILD host process
(--python, ideally the AddressSanitizer build, build/asan/python); one
child runs many programs, one after another.  A finding is a child that
died by a signal, printed an AddressSanitizer report or a "Fatal Python
error", exited without its sentinel, or whose own state changed across a
program (a canary global, its open descriptors, builtins, sys, the
signal handlers, the dicts of static types: "host harm").  Every finding
is minimized (hypothesis shrinking, then removal of calls one by one) and
saved as a reproducer, NAME.py in the corpus directory, with a comment
saying what it does and what it found; the findings log (findings.log
there) gets one entry per finding.  A crash whose signature is already in
the corpus (or in a --known directory) is counted, not reported again.

Exit status: 0 when nothing new was found, 1 when something was, 2 for a
usage error.  Doc/sandbox/fuzzing.rst explains the design and how to read
a finding.
"""

import argparse
import hashlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_CORPUS = os.path.join(ROOT, "tests_sandbox", "fuzz_corpus")

# The default module set (default_modules[] of Python/sandbox_import.c), less
# what only blocks or hangs (_signal's pause/sigwait, _thread's locks,
# _queue) and the sandbox's own module.
MODULES = [
    "builtins", "array", "_struct", "_json", "_pickle", "_csv", "_io",
    "_collections", "itertools", "_functools", "_heapq", "_bisect", "_sre",
    "_decimal", "binascii", "zlib", "select", "_socket", "unicodedata",
    "pyexpat", "_elementtree", "math", "cmath", "time", "posix",
    "_operator", "_codecs", "_multibytecodec", "_codecs_cn", "_codecs_jp",
    "_random", "_statistics", "_string", "_bz2", "_lzma", "_md5", "_sha1",
    "_sha2", "_sha3", "_blake2", "_hashlib", "_abc", "_ast", "_asyncio",
    "_contextvars", "_locale", "_opcode", "_stat", "_symtable", "_tokenize",
    "_typing", "_warnings", "_weakref", "atexit", "errno", "gc", "marshal",
    "sys", "_suggestions", "_sysconfig", "_posixsubprocess",
]

# Modules whose import in a fresh untrusted interpreter (no bytecode
# cache) takes 0.3 to 2 seconds: drawn 2 or 8 times less often.
SLOW_IMPORTS = {"_asyncio": 8, "_elementtree": 2, "_decimal": 2,
                "_pickle": 2}
WEIGHT = 8

# Calls that wait forever, or for a time their arguments say, by design:
# a hang is not a finding, and they would only burn the campaign's time.
SKIP = {
    "builtins.help", "builtins.breakpoint",
    "time.sleep", "select.select", "select.poll.poll", "select.epoll.poll",
    "posix.wait", "posix.waitpid", "posix.wait3", "posix.wait4",
    "posix.waitid",
    "_socket.socket.accept", "_socket.socket.recv",
    "_socket.socket.recv_into", "_socket.socket.recvfrom",
    "_socket.socket.recvfrom_into", "_socket.socket.recvmsg",
    "_socket.socket.recvmsg_into", "_socket.socket.connect",
    "_socket.socket.connect_ex", "_socket.socket.sendall",
    "_socket.socket.sendto", "_socket.socket.send",
    "_socket.socket.sendmsg", "_socket.socket.sendfile",
    "_socket.getaddrinfo", "_socket.gethostbyname", "_socket.gethostbyaddr",
    "_socket.gethostbyname_ex", "_socket.getnameinfo",
    "sys.exit", "atexit._run_exitfuncs", "gc.collect",
    "_asyncio.get_event_loop", "_asyncio.get_running_loop",
    # Work exponential in an argument (math.factorial(10**9), 10**10**10):
    # minutes of CPU in C, which no timeout of ours can interrupt earlier.
    "math.factorial", "math.comb", "math.perm", "math.lcm", "math.prod",
    "builtins.pow", "_operator.pow", "_operator.ipow", "_operator.mul",
    "_operator.imul", "_operator.lshift", "_operator.ilshift",
    "builtins.int.__pow__", "builtins.int.__rpow__",
    "builtins.int.__lshift__", "builtins.int.__rlshift__",
    "_decimal.Decimal.__pow__", "_decimal.Decimal.__rpow__",
    "_decimal.Context.power", "_decimal.Decimal.scaleb",
    "_decimal.Context.scaleb", "_decimal.Decimal.exp",
    "_decimal.Context.exp", "_decimal.Context.create_decimal",
}
SKIP_METHODS = {
    "__getattribute__", "__setattr__", "__delattr__", "__init_subclass__",
    "__subclasshook__", "__class_getitem__", "__dir__", "__format__",
    "__new__", "__sizeof__", "__reduce__",
}

# Receivers of methods, when calling the class with no argument does not
# make a useful one: "module.Class" -> constructor expressions.
SEEDS = {
    "builtins.list": ["[1, 2, 3]", "list(range(100))", "[H(1, 'clear', 0)]"],
    "builtins.dict": ["{1: 2, 'a': 'b'}", "{i: i for i in range(50)}"],
    "builtins.bytearray": ["bytearray(b'abc,def')",
                           "bytearray(b'x' * 1000)"],
    "builtins.bytes": ["b'abc,def'"], "builtins.str": ["'abc,def'"],
    "builtins.set": ["{1, 2, 3}"], "builtins.frozenset": ["frozenset({1})"],
    "builtins.tuple": ["(1, 2, 3)"], "builtins.int": ["12345"],
    "builtins.float": ["1.5"], "builtins.complex": ["1j"],
    "builtins.memoryview": ["memoryview(bytearray(b'abcdef'))",
                            "memoryview(b'abcdef')"],
    "builtins.range": ["range(10)"], "builtins.slice": ["slice(1, 5, 2)"],
    "array.array": ["array.array('i', [1, 2, 3])",
                    "array.array('b', b'abcdef')", "array.array('u', 'ab')",
                    "array.array('d', [1.0, 2.0])"],
    "_collections.deque": ["_collections.deque([1, 2, 3])",
                           "_collections.deque(range(10), 5)"],
    "_collections.OrderedDict": ["_collections.OrderedDict(a=1, b=2)"],
    "_collections.defaultdict": ["_collections.defaultdict(list, a=[1])"],
    "_io.BytesIO": ["_io.BytesIO(b'abc\\ndef\\n')"],
    "_io.StringIO": ["_io.StringIO('abc\\ndef\\n')"],
    "_io.TextIOWrapper": ["_io.TextIOWrapper(_io.BytesIO(b'ab\\ncd'))"],
    "_io.BufferedReader": ["_io.BufferedReader(_io.BytesIO(b'abcdef'))"],
    "_io.BufferedWriter": ["_io.BufferedWriter(_io.BytesIO())"],
    "_io.BufferedRandom": ["_io.BufferedRandom(_io.BytesIO(b'abc'))"],
    "_io.BufferedRWPair": ["_io.BufferedRWPair(_io.BytesIO(b'ab'), "
                           "_io.BytesIO())"],
    "_io.IncrementalNewlineDecoder": [
        "_io.IncrementalNewlineDecoder(None, True)"],
    "_struct.Struct": ["_struct.Struct('<iHq')", "_struct.Struct('3s')"],
    "_pickle.Pickler": ["_pickle.Pickler(_io.BytesIO())"],
    "_pickle.Unpickler": ["_pickle.Unpickler(_io.BytesIO(b'\\x80\\x04K\\x01.'))"],
    "_csv.Dialect": ["_csv.Dialect()"],
    "_elementtree.Element": ["_elementtree.Element('a', {'k': 'v'})"],
    "_elementtree.TreeBuilder": ["_elementtree.TreeBuilder()"],
    "_elementtree.XMLParser": ["_elementtree.XMLParser()"],
    "zlib._ZlibDecompressor": ["zlib._ZlibDecompressor()"],
    "_decimal.Decimal": ["_decimal.Decimal('1.5')",
                         "_decimal.Decimal('-1e-9999')"],
    "_decimal.Context": ["_decimal.Context()"],
    "_socket.socket": ["_socket.socket()"],
    "_functools.partial": ["_functools.partial(print, 1)"],
    "_random.Random": ["_random.Random(1)"],
    "_sre.SRE_Pattern": ["_sre_compile('a+(b)?')"],
    "_sre.SRE_Match": ["_sre_compile('a+(b)?').match('aab')"],
    "_sre.SRE_Scanner": ["_sre_compile('a').scanner('aaa')"],
    "_bz2.BZ2Decompressor": ["_bz2.BZ2Decompressor()"],
    "_lzma.LZMADecompressor": ["_lzma.LZMADecompressor()"],
    "itertools.count": ["itertools.count(1)"],
    "itertools.cycle": ["itertools.cycle([1, 2])"],
    "itertools.groupby": ["itertools.groupby([1, 1, 2])"],
    "itertools.tee": ["itertools.tee([1, 2])[0]"],
    "_operator.itemgetter": ["_operator.itemgetter(0)"],
    "_operator.attrgetter": ["_operator.attrgetter('real')"],
    "_operator.methodcaller": ["_operator.methodcaller('append', 1)"],
    "_json.Scanner": ["_json.make_scanner(_JSONCTX)"],
    "_json.Encoder": ["_json.make_encoder(None, repr, repr, ': ', ', ', "
                      "False, False, True)"],
    "select.epoll": ["select.epoll()"],
    "pyexpat.xmlparser": ["pyexpat.ParserCreate()"],
    "_hashlib.HASH": ["_hashlib.new('sha256')"],
    "zlib.Compress": ["zlib.compressobj()"],
    "zlib.Decompress": ["zlib.decompressobj()"],
    "unicodedata.UCD": ["unicodedata.ucd_3_2_0"],
}

# The hostile objects, defined at the top of every program.  Each takes a
# value to return from its protocol methods, an action to run first
# (clear, grow or close the call's receiver or argument number k, drop our
# reference to it, call the same callable again, raise), k, and how many
# times the action runs before the object behaves.
PRELUDE = r'''
import gc, os, sys
V = []          # the current call: its receiver (if any), then its arguments
R = []          # the results of the calls so far
_CUR = [None, 0]
try:
    _PF = os.open(_PROGRESS, os.O_WRONLY)
except BaseException:
    _PF = None

def _clear(x):
    for how in ("clear", "__init__"):
        try:
            getattr(x, how)()
            return
        except BaseException:
            pass
    for how in (lambda: x.__delitem__(slice(None)), lambda: x.truncate(0)):
        try:
            how()
            return
        except BaseException:
            pass

def _grow(x):
    for how in (lambda: x.extend(range(10000)),
                lambda: x.extend(b'x' * 10000),
                lambda: x.update({i: i for i in range(1000)}),
                lambda: x.write(b'x' * 10000), lambda: x.write('x' * 10000),
                lambda: x.append(x)):
        try:
            how()
            return
        except BaseException:
            pass

_DEPTH = [0]

def _act(obj):
    # Not obj.n: an object made without __init__ (copy, pickle) would
    # ask H.__getattr__, which acts, which asks again...
    try:
        d = object.__getattribute__(obj, "__dict__")
    except BaseException:
        return
    if d.get("n", 0) <= 0 or _DEPTH[0] > 8:
        return
    d["n"] -= 1
    _DEPTH[0] += 1
    try:
        _act1(d.get("act"), d.get("k", 0))
    finally:
        _DEPTH[0] -= 1

def _act1(what, k):
    target = V[k % len(V)] if V else None
    if what == "clear":
        _clear(target)
    elif what == "grow":
        _grow(target)
    elif what == "close":
        try:
            target.close()
        except BaseException:
            pass
    elif what == "drop":
        if V:
            V[k % len(V)] = None
    elif what == "dropall":
        V.clear()
    elif what == "reenter":
        if _CUR[1] < 3 and _CUR[0] is not None:
            _CUR[1] += 1
            try:
                _CUR[0]()
            except BaseException:
                pass
            finally:
                _CUR[1] -= 1
    elif what == "gc":
        gc.collect()
    elif what == "raise":
        raise ValueError("hostile")
    elif what == "swap":
        try:
            target[:] = [H(0, "clear", 0), None, 2**64]
        except BaseException:
            pass

class H:
    """Every protocol at once."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def _int(self):
        _act(self)
        return self.ret if isinstance(self.ret, int) else 1
    def __index__(self): return self._int()
    def __int__(self): return self._int()
    def __len__(self): return self._int()
    def __hash__(self): return self._int()
    def __float__(self):
        _act(self)
        return float(self.ret) if isinstance(self.ret, (int, float)) else 1.5
    def __complex__(self): return complex(self.__float__())
    def __bool__(self):
        _act(self)
        return bool(self.ret)
    def __eq__(self, other):
        _act(self)
        return self.ret
    __lt__ = __le__ = __gt__ = __ge__ = __ne__ = __eq__
    def __iter__(self):
        _act(self)
        items = self.ret if isinstance(self.ret, (list, tuple)) else [self.ret] * 3
        for i, x in enumerate(items):
            if i == 1:
                _act(self)
            yield x
    def __getitem__(self, i):
        _act(self)
        if isinstance(i, int) and i > 3:
            raise IndexError(i)
        return self.ret
    def __setitem__(self, i, v): _act(self)
    def __contains__(self, x):
        _act(self)
        return True
    def __buffer__(self, flags):
        _act(self)
        return memoryview(self.ret if isinstance(self.ret, (bytes, bytearray)) else b"abc,def")
    def __release_buffer__(self, view): _act(self)
    def __call__(self, *args, **kw):
        _act(self)
        return self.ret
    def __str__(self):
        _act(self)
        return self.ret if isinstance(self.ret, str) else "h"
    __repr__ = __str__
    def __fspath__(self):
        _act(self)
        return "x"
    def __getattr__(self, name):
        if name.startswith("__") or name in ("ret", "act", "k", "n"):
            raise AttributeError(name)
        _act(self)
        return self.ret
    def __del__(self): _act(self)

class HIndex:
    """__index__ only: an integer argument."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __index__(self):
        _act(self)
        return self.ret

class HSeq:
    """__len__ and __getitem__: a sequence whose length lies."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __len__(self):
        _act(self)
        return self.ret if isinstance(self.ret, int) else 3
    def __getitem__(self, i):
        _act(self)
        if not isinstance(i, int) or i > 3:
            raise IndexError(i)
        return i

class HIter:
    """__iter__ and __length_hint__: an iterable that acts midway."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __length_hint__(self):
        return self.ret if isinstance(self.ret, int) else 3
    def __iter__(self):
        for i in range(5):
            if i == 2:
                _act(self)
            yield self.ret if i % 2 else i

class HKey:
    """__eq__ and __hash__: a dict key or set member that acts."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __hash__(self):
        _act(self)
        return hash(self.ret) if isinstance(self.ret, int) else 1
    def __eq__(self, other):
        _act(self)
        return True
    __lt__ = __eq__

class HBuf:
    """__buffer__: a bytes-like argument."""
    def __init__(self, ret=b"abc", act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __buffer__(self, flags):
        _act(self)
        return memoryview(self.ret if isinstance(self.ret, (bytes, bytearray)) else bytearray(b"abc,def"))

class HFloat(float):
    """A float subclass whose __float__ and __index__ act."""
    def __new__(cls, ret=0, act="none", k=0, n=1):
        self = float.__new__(cls, 1.5)
        self.ret, self.act, self.k, self.n = ret, act, k, n
        return self
    def __float__(self):
        _act(self)
        return 2.5
    def __index__(self):
        _act(self)
        return self.ret if isinstance(self.ret, int) else 1

class HDel:
    """Acts when freed: put in a container the call clears."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __del__(self):
        _act(self)

class HList(list):
    """A list subclass whose protocol methods act."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        super().__init__([1, H(ret, act, k, n), 3])
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def __len__(self):
        _act(self)
        return list.__len__(self)
    def __iter__(self):
        _act(self)
        return list.__iter__(self)
    def __getitem__(self, i):
        _act(self)
        return list.__getitem__(self, i)
    def __eq__(self, other):
        _act(self)
        return True
    __hash__ = object.__hash__

class HDict(dict):
    """A dict subclass whose keys(), __getitem__ and __iter__ act."""
    def __init__(self, ret=0, act="none", k=0, n=1):
        super().__init__({"a": 1, H(ret, act, k, n): 2, 3: ret})
        self.ret, self.act, self.k, self.n = ret, act, k, n
    def keys(self):
        _act(self)
        return dict.keys(self)
    def __getitem__(self, key):
        _act(self)
        return dict.__getitem__(self, key)
    def __iter__(self):
        _act(self)
        return dict.__iter__(self)

def _nest(empty, depth):
    x = empty
    for i in range(depth):
        if isinstance(empty, list):
            x = [x]
        elif isinstance(empty, tuple):
            x = (x,)
        elif isinstance(empty, dict):
            x = {"k": x}
        else:
            x = H(x)
    return x

def _sre_compile(pattern):
    import re
    return re.compile(pattern)

class _JSONCTX:
    strict = True
    object_hook = object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo = {}

def _c(i, f):
    if _PF is not None:
        try:
            os.pwrite(_PF, b"%-8d" % i, 0)
        except BaseException:
            pass
    _CUR[:] = [f, 0]
    try:
        R.append(f())
    except BaseException as e:
        R.append(e)
    _CUR[0] = None
    V.clear()
'''

PRELUDE_LINES = PRELUDE.count("\n")
# Names the prelude defines that are not modules.
HOSTILE = ["H", "HIndex", "HSeq", "HIter", "HKey", "HBuf", "HFloat", "HDel",
           "HList", "HDict"]
ACTS = ["none", "clear", "grow", "drop", "reenter", "raise", "close",
        "dropall", "swap", "gc"]

# The child host: runs each program it is sent in a new untrusted
# interpreter (or, with --trusted, in its own main interpreter: only to
# test the fuzzer's detection), then checks that its own state did not
# change.  Protocol: "<length>\n<source>" in, "OK" or "HARM <what>" out.
CHILD = r'''
import array, builtins, fcntl, gc, os, signal, sys, termios
TRUSTED = int(sys.argv[1])
PROGRESS = sys.argv[2]
TRANSPORT = 99999999            # the progress mark of the copies out
PROGRAMS = int(sys.argv[3])     # the programs come on this descriptor;
                                # stdin holds a line no one should read

def unread_stdin():
    n = array.array("i", [0])
    try:
        fcntl.ioctl(0, termios.FIONREAD, n, True)
    except OSError:
        return -1
    return n[0]
if not TRUSTED:
    import _sandbox

class Canary:
    value = 42
CANARY = Canary()
CANARY_ID = id(CANARY)

def state():
    s = {}
    s["canary"] = (id(CANARY) == CANARY_ID and CANARY.value == 42
                   and globals().get("CANARY") is CANARY)
    s["fds"] = sorted(os.listdir("/proc/self/fd"))
    s["stdin"] = unread_stdin()
    s["builtins"] = sorted(vars(builtins))
    s["builtins.len"] = builtins.len is LEN
    s["sys.path"] = list(sys.path)
    s["sys.modules"] = len(sys.modules)
    s["sys.flags"] = tuple(sys.flags)
    s["recursionlimit"] = sys.getrecursionlimit()
    s["switchinterval"] = sys.getswitchinterval()
    s["stdio"] = (sys.stdout is STDOUT, sys.stderr is STDERR)
    s["cwd"] = os.getcwd()
    s["environ"] = dict(os.environ)
    s["signals"] = [signal.getsignal(n) for n in
                    (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD,
                     signal.SIGPIPE, signal.SIGALRM)]
    s["gc"] = (gc.isenabled(), gc.get_threshold())
    mask = os.umask(0o22)
    os.umask(mask)
    s["umask"] = mask
    for t in (object, type, int, str, bytes, bytearray, list, dict, tuple,
              set, float, memoryview, BaseException):
        s["type:" + t.__name__] = sorted(vars(t))
    s["int.__add__"] = int.__dict__["__add__"] is INT_ADD
    s["list.append"] = list.__dict__["append"] is LIST_APPEND
    return s

LEN, STDOUT, STDERR = builtins.len, sys.stdout, sys.stderr
INT_ADD, LIST_APPEND = int.__dict__["__add__"], list.__dict__["append"]

def run(src):
    if TRUSTED:
        ns = {"__name__": "__fuzz__", "_PROGRESS": PROGRESS}
        try:
            exec(compile(src, "<fuzz>", "exec"), ns)
        except BaseException:
            pass
        if isinstance(ns.get("_PF"), int):
            os.close(ns["_PF"])     # the untrusted interpreter's end would
        return
    j = _sandbox.new_interpreter(threads=1, write=(PROGRESS,))
    try:
        _sandbox.exec(j, "_PROGRESS = %r" % PROGRESS)
        _sandbox.exec(j, src, filename="<fuzz>")
    except _sandbox.RemoteError:
        pass
    # The results, hostile objects among them, cross into the host as
    # copies: the transport is fuzzed too.
    with open(PROGRESS, "r+b") as f:
        f.write(b"%-8d" % TRANSPORT)
    for expr in ("R", "V", "R[-1] if R else None"):
        try:
            _sandbox.eval(j, expr)
        except Exception:
            pass
    _sandbox.end_interpreter(j)

run("x = 1")
run("raise ValueError")
base = state()
if TRUSTED:
    del base["sys.modules"]     # the programs import into this one
inp = os.fdopen(PROGRAMS, "rb")
print("READY", flush=True)
while True:
    line = inp.readline()
    if not line:
        break
    src = inp.read(int(line)).decode("utf-8", "surrogatepass")
    run(src)
    now = state()
    bad = [k for k in base if now[k] != base[k]]
    if bad:
        print("HARM " + "; ".join("%s: %.120r -> %.120r"
                                  % (k, base[k], now[k]) for k in bad),
              flush=True)
        break
    print("OK", flush=True)
print("host alive", flush=True)
'''

# What the child reports with, besides our own ASAN_OPTIONS of build.py:
# a report then abort (so faulthandler shows the host's frames too), NULL
# rather than a report for allocations a hostile size asks for.
CHILD_ASAN_OPTIONS = ("detect_leaks=0:allocator_may_return_null=1:"
                      "max_allocation_size_mb=1024:abort_on_error=1:"
                      "handle_abort=1:detect_stack_use_after_return=0:"
                      "print_summary=1")
# The memory one non-ASan child may use (ASan reserves terabytes of
# address space for its shadow, so there the limit is per allocation).
CHILD_RLIMIT_AS = 6 << 30


# ---------------------------------------------------------------- programs

class Program:
    """A generated program: a list of calls, each (target, receiver
    expression or None, argument expressions)."""

    def __init__(self, calls):
        self.calls = list(calls)

    def source(self):
        lines = []
        mods = {t.split(".")[0] for t, _, _ in self.calls
                if not t.startswith("!")}
        for i, (target, recv, args) in enumerate(self.calls):
            lines.append(f"def _k{i}():")
            if target.startswith("!"):          # a planted target
                lines.append(f"    V[:] = [{', '.join(args)}]")
                lines.append(f"    return ({target[1:]})(*V)")
            elif recv is not None:
                mod_cls, _, meth = target.rpartition(".")
                lines.append(f"    V[:] = [{', '.join([recv] + args)}]")
                lines.append(f"    return getattr(V[0], {meth!r})(*V[1:])")
            else:
                lines.append(f"    V[:] = [{', '.join(args)}]")
                lines.append(f"    return {target}(*V)")
            lines.append(f"_c({i}, _k{i})")
        body = "\n".join(lines) + "\n"
        if "array." in body:
            mods.add("array")
        imports = "import " + ", ".join(sorted(mods)) if mods else ""
        return PRELUDE.rstrip("\n") + "\n" + imports + "\n" + body

    def callees(self):
        return [t.lstrip("!") for t, _, _ in self.calls]

    def describe(self):
        out = []
        for target, recv, args in self.calls:
            who = f"{recv}.{target.rpartition('.')[2]}" if recv else \
                target.lstrip("!")
            out.append(f"{who}({', '.join(args)})")
        return out


DISCOVER = r'''
import sys
SKIP_METHODS = %r
out = []
seen = set()
for m in %r:
    try:
        mod = __import__(m)
    except BaseException:
        continue
    for n in sorted(dir(mod)):
        if n.startswith("__"):
            continue
        try:
            o = getattr(mod, n)
        except BaseException:
            continue
        if isinstance(o, type):
            if id(o) in seen:
                continue
            seen.add(id(o))
            if issubclass(o, BaseException):
                continue
            out.append((m + "." + n, 0))
            for a in sorted(vars(o)):
                if a in SKIP_METHODS or a.startswith("_abc"):
                    continue
                d = vars(o)[a]
                if callable(d) and not isinstance(d, type):
                    out.append((m + "." + n + "." + a, 1))
        elif callable(o) and type(o).__name__ in ("builtin_function_or_method", "function"):
            out.append((m + "." + n, 0))
_OUT = out
'''


def discover(python, trusted):
    """The callable targets of MODULES in an interpreter of *python*:
    sorted (dotted name, is_method) pairs, less SKIP."""
    script = DISCOVER % (SKIP_METHODS, MODULES)
    host = textwrap.dedent(f"""
        import json, sys
        src = {script!r}
        if {int(trusted)}:
            ns = {{}}
            exec(src, ns)
            out = ns["_OUT"]
        else:
            import _sandbox
            j = _sandbox.new_interpreter(threads=1)
            _sandbox.exec(j, src)
            out = _sandbox.eval(j, "_OUT")
            _sandbox.end_interpreter(j)
        print(json.dumps(out))
    """)
    proc = subprocess.run([python, "-I", "-c", host], capture_output=True,
                          text=True, timeout=300, env=child_env())
    if proc.returncode != 0:
        raise SystemExit(f"fuzz.py: could not list the targets with "
                         f"{python}: {proc.stderr.strip()[-2000:]}")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    return sorted((n, bool(meth)) for n, meth in found
                  if n not in SKIP and n.rpartition(".")[0] not in SKIP)


def strategies(targets, max_calls, plant=None):
    """The hypothesis strategy of a Program over *targets*."""
    from hypothesis import strategies as st

    ints = st.one_of(
        st.sampled_from([0, 1, -1, 2, 3, 8, 255, 256, 1000, 2**31 - 1,
                         2**31, -2**31, 2**32, 2**63 - 1, 2**63, -2**63,
                         2**64, 10**20, -10**20, 2**1000]),
        st.integers(-300, 300)).map(str)
    simple = st.one_of(
        ints,
        st.sampled_from(
            ["None", "True", "False", "1.5", "float('nan')", "float('inf')",
             "-0.0", "1e308", "1j", "''", "'abc,def'", "'\\udcff'",
             "'\\x00'", "'a' * 100000", "b''", "b'abc,def'",
             "b'\\x00' * 100000", "bytearray(b'abc,def')", "[]", "[1, 2]",
             "()", "{}", "{1: 2}", "set()", "frozenset({1})", "object()",
             "object", "int", "str", "type", "list", "print", "len",
             "slice(None, None, -1)", "slice(-1, 2**63, 3)",
             "slice(2**63, -2**63)", "range(10)", "range(-1, 2**63, 2**60)",
             "memoryview(b'abcdef')",
             "memoryview(bytearray(b'abcdef'))[::2]",
             "array.array('b', [1, 2])", "array.array('d', [1.0])",
             "Ellipsis", "NotImplemented", "(lambda *a, **k: None)",
             "R[-1]", "R[0]", "V", "iter([1, 2, 3])",
             "_nest([], 100000)", "_nest((), 100000)", "_nest({}, 10000)",
             "_nest(None, 2000)", "sys.maxsize", "-sys.maxsize - 1",
             "'%s' * 1000", "'{0}' * 10", "'(' * 1000"]),
        st.binary(max_size=12).map(repr),
        st.text(max_size=8).map(repr))

    def hostile(value):
        return st.builds(
            lambda cls, ret, act, k, n: f"{cls}({ret}, {act!r}, {k}, {n})",
            st.sampled_from(HOSTILE), value, st.sampled_from(ACTS),
            st.integers(0, 3), st.integers(1, 3))

    def containers(value):
        return st.one_of(
            st.lists(value, max_size=4).map(lambda xs: "[" + ", ".join(xs)
                                            + "]"),
            st.lists(value, max_size=4).map(lambda xs: "(" + "".join(
                x + ", " for x in xs) + ")"),
            st.lists(st.tuples(value, value), max_size=3).map(
                lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv)
                + "}"))

    value = st.recursive(simple, lambda v: st.one_of(hostile(v),
                                                     containers(v)),
                         max_leaves=6)
    args = st.lists(value, max_size=5)

    names = [n for n, _ in targets]
    is_method = dict(targets)
    classes = {n for n, m in targets if not m}

    def receivers(target):
        cls = target.rpartition(".")[0]
        seeds = SEEDS.get(cls, [])
        options = [st.sampled_from(seeds)] if seeds else []
        if cls in classes:
            options.append(st.just(f"{cls}()"))
            options.append(args.map(lambda a: f"{cls}({', '.join(a)})"))
        options.append(value)
        return st.one_of(*options)

    def call(target):
        if target.startswith("!"):
            return st.tuples(st.just(target), st.none(), args)
        if is_method[target]:
            return st.tuples(st.just(target), receivers(target), args)
        return st.tuples(st.just(target), st.none(), args)

    # Each module as likely as another, whatever its number of callables,
    # but for those whose import costs a fresh interpreter a second or so.
    by_module = {}
    for n in names:
        by_module.setdefault(n.split(".")[0], []).append(n)
    if plant:
        by_module["!"] = [f"!{plant}"]
    modules = [m for m in sorted(by_module)
               for _ in range(WEIGHT // SLOW_IMPORTS.get(m, 1))]
    pick = st.sampled_from(modules).flatmap(
        lambda m: st.sampled_from(by_module[m]))
    return st.lists(pick.flatmap(call), min_size=1,
                    max_size=max_calls).map(Program)


# ---------------------------------------------------------------- children

def child_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # pymalloc's debug hooks (untrusted interpreters need pymalloc, so
    # ASan does not see inside its pools): freed memory is filled with
    # 0xDD, so a use after free crashes soon; pads around each block are
    # checked when it is freed (a "Fatal Python error" on an overflow).
    env["PYTHONMALLOC"] = "pymalloc_debug"
    env["ASAN_OPTIONS"] = CHILD_ASAN_OPTIONS
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    return env


def limit_memory():
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_AS,
                           (CHILD_RLIMIT_AS, CHILD_RLIMIT_AS))
    except (ValueError, OSError):
        pass
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


class Outcome:
    """What running one program did: kind is "ok", "timeout" or "crash"
    (a finding: signature and report then say which)."""

    def __init__(self, kind, signature="", report="", callee=None):
        self.kind, self.signature, self.report = kind, signature, report
        self.callee = callee

    def __repr__(self):
        return f"Outcome({self.kind!r}, {self.signature!r})"


class Child:
    """A child host that runs programs one after another."""

    def __init__(self, python, trusted, timeout, asan):
        self.python, self.trusted, self.timeout = python, trusted, timeout
        self.asan = asan
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="sandbox-fuzz-")
        self.progress = os.path.join(self.dir, "progress")
        self.ran = 0

    def start(self):
        with open(self.progress, "wb"):
            pass
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+b")
        # The child host's stdin: a line, then its end.  Its programs come
        # on another pipe, so code that reads the host's stdin (C's stdin)
        # shows as host harm ("stdin"), not as a hang.
        canary_r, canary_w = os.pipe()
        os.write(canary_w, b"HOST-STDIN-CANARY\n")
        os.close(canary_w)
        programs_r, programs_w = os.pipe()
        self.proc = subprocess.Popen(
            # -s -P and an environment without PYTHON* are -I, but for
            # PYTHONMALLOC (which -I would ignore).
            [self.python, "-X", "faulthandler", "-s", "-P", "-c", CHILD,
             str(int(self.trusted)), self.progress, str(programs_r)],
            stdin=canary_r, stdout=subprocess.PIPE, pass_fds=(programs_r,),
            stderr=self.stderr, env=child_env(),
            preexec_fn=None if self.asan else limit_memory)
        os.close(canary_r)
        os.close(programs_r)
        self.programs_w = os.fdopen(programs_w, "wb")
        self.ran = 0
        line = self._readline(120)
        if line != b"READY\n":
            raise SystemExit(f"fuzz.py: the child host {self.python} did "
                             f"not start: {self._stderr()[-3000:]}")

    def _stderr(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def _readline(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            return None
        return self.proc.stdout.readline()

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.programs_w, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
            self.stderr.close()
            self.proc = None

    def close(self):
        self.stop()
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, program):
        """Run *program* (a Program or source text); return an Outcome."""
        if self.proc is None:
            self.start()
        src = program if isinstance(program, str) else program.source()
        data = src.encode("utf-8", "surrogatepass")
        with open(self.progress, "wb"):
            pass
        try:
            self.programs_w.write(b"%d\n" % len(data) + data)
            self.programs_w.flush()
        except (BrokenPipeError, OSError):
            pass
        line = self._readline(self.timeout)
        self.ran += 1
        if line == b"OK\n":
            return Outcome("ok")
        if line is None:
            self.stop()
            return Outcome("timeout")
        # The child is gone (or stopped at host harm): wait for its end.
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        rest = b""
        try:
            rest = self.proc.stdout.read() or b""
        except (OSError, ValueError):
            pass
        code = self.proc.poll()
        report = self._stderr()
        callee = self._callee(program)
        self.stop()
        return classify(line.decode("utf-8", "replace") if line else "",
                        rest.decode("utf-8", "replace"), code, report,
                        callee)

    def _callee(self, program):
        try:
            with open(self.progress, "rb") as f:
                index = int(f.read(8).decode().strip())
        except (OSError, ValueError):
            return None
        if index == 99999999:
            return "_sandbox.eval (the results copied out)"
        if isinstance(program, Program) and 0 <= index < len(program.calls):
            return program.callees()[index]
        if isinstance(program, str):
            m = re.findall(rf"^def _k{index}\(\):\n(.*)\n(.*)$", program,
                           re.M)
            if m:
                return call_target(m[0][1])
        return None


def call_target(line):
    """The callee of a program's call line ("    return X(*V)")."""
    line = line.strip()
    m = re.match(r"return getattr\(V\[0\], '(\w+)'\)", line)
    if m:
        return "." + m.group(1)
    m = re.match(r"return \(?(.*?)\)?\(\*V\)$", line)
    return m.group(1) if m else None


ASAN_FRAME_SKIP = re.compile(
    r"^(__asan|__interceptor|___interceptor|__sanitizer|__lsan|__ubsan|"
    r"_asan|__GI_|__libc|__memcpy|__memmove|__memset|__strlen|memcpy|"
    r"memmove|memset|strlen|wcslen|malloc|free|realloc|calloc|abort|raise|"
    r"__pthread_kill|pthread_kill|gsignal|faulthandler_|_Py_DumpTraceback|"
    r"dump_)")


def normalize(text):
    text = re.sub(r"0x[0-9a-fA-F]+", "ADDR", text)
    text = re.sub(r"\d+", "N", text)
    return text.strip()


# faulthandler's names of the fatal signals: a "Fatal Python error" that
# only says which signal came is named by the signal (or ASan's report).
SIGNAL_MESSAGES = ("Segmentation fault", "Aborted", "Bus error",
                   "Floating-point exception", "Illegal instruction")


ASAN_SIGNALS = {"SEGV": "SIGSEGV", "ABRT": "SIGABRT", "BUS": "SIGBUS",
                "FPE": "SIGFPE", "ILL": "SIGILL"}


def classify(line, rest, code, report, callee):
    """The finding a dead (or harmed) child host stands for."""
    where = callee or "?"
    if line.startswith("HARM "):
        what = "; ".join(p.split(":")[0] for p in line[5:].split("; "))
        return Outcome("crash", f"host harm ({what}) by {where}",
                       line + report, callee)
    fatal = re.search(r"Fatal Python error: (.*)", report)
    if fatal and not fatal.group(1).startswith(SIGNAL_MESSAGES):
        return Outcome("crash", f"fatal error {normalize(fatal.group(1))[:80]}"
                       f" in {where}", report, callee)
    m = re.search(r"ERROR: AddressSanitizer: ([\w-]+)", report)
    if m:
        # The first frame after the report's line that is not the
        # sanitizer's own or libc's.
        frames = [f for f in re.findall(r"^\s*#\d+ 0x[0-9a-f]+ in (\S+)",
                                        report[m.start():], re.M)
                  if not ASAN_FRAME_SKIP.match(f)]
        top = frames[0] if frames else "?"
        if m.group(1) in ASAN_SIGNALS:
            # A signal ASan caught: named as one, with where in C.
            return Outcome("crash", f"{ASAN_SIGNALS[m.group(1)]} in {where} "
                           f"at {top}", report, callee)
        return Outcome("crash", f"asan {m.group(1)} in {top}", report,
                       callee)
    m = re.search(r"runtime error: (.*)", report)
    if m:
        return Outcome("crash", f"ubsan {normalize(m.group(1))[:80]}",
                       report, callee)
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return Outcome("crash", f"{name} in {where}", report, callee)
    if "host alive" in rest:
        return Outcome("crash", f"host stopped early in {where}", report,
                       callee)
    return Outcome("crash", f"exit status {code} in {where}", report, callee)


# ---------------------------------------------------------------- corpus

def known_signatures(dirs):
    sigs = {}
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith(".py"):
                continue
            with open(os.path.join(d, name), encoding="utf-8",
                      errors="surrogateescape") as f:
                for line in f:
                    if line.startswith("# signature: "):
                        sigs[line[len("# signature: "):].strip()] = name
                    if not line.startswith("#"):
                        break
    return sigs


def slug(signature):
    words = re.sub(r"[^A-Za-z0-9]+", "_", signature).strip("_").lower()
    digest = hashlib.sha256(signature.encode()).hexdigest()[:8]
    return f"{words[:60]}_{digest}"


def save_finding(corpus, outcome, program, args, note=""):
    """Write the reproducer and append to the findings log; return the
    reproducer's path."""
    os.makedirs(corpus, exist_ok=True)
    path = os.path.join(corpus, slug(outcome.signature) + ".py")
    calls = program.describe() if isinstance(program, Program) else []
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    where = "its main interpreter (--trusted)" if args.trusted else \
        "an untrusted interpreter"
    head = [
        f"# A finding of Tools/sandbox/fuzz.py: {outcome.signature}.",
        f"# signature: {outcome.signature}",
        "# status: open",
        f"# found: {when}, --seed {args.seed}, {args.python_rel}, "
        f"in {where} of a child host",
        "# what it does, after the prelude that defines the hostile "
        "classes: these calls,",
        f"# in order{f' (call {outcome.callee!r} was running)' if outcome.callee else ''}:",
    ]
    head += [f"#   {c[:200]}" for c in calls]
    if note:
        head += textwrap.wrap(f"note: {note}", 76, initial_indent="# ",
                              subsequent_indent="#   ")
    lines = [ln for ln in outcome.report.strip().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines)
                  if "ERROR: AddressSanitizer" in ln), None)
    if start is not None:
        head += ["# what it found (the start of ASan's report):"]
        excerpt = lines[start:start + 30]
    else:
        head += ["# what it found (the end of the report):"]
        excerpt = lines[-25:]
    head += [f"#   {ln[:160]}" for ln in excerpt]
    head += [f"# replay: python3 Tools/sandbox/fuzz.py --python "
             f"{args.python_rel} --replay {os.path.relpath(path, ROOT) if path.startswith(ROOT) else path}"
             + (" --trusted" if args.trusted else ""), ""]
    src = program.source() if isinstance(program, Program) else program
    with open(path, "w", encoding="utf-8", errors="surrogatepass") as f:
        f.write("\n".join(head) + src)
    with open(args.log or os.path.join(corpus, "findings.log"), "a",
              encoding="utf-8") as f:
        f.write(json.dumps({"time": when, "signature": outcome.signature,
                            "reproducer": path, "seed": args.seed,
                            "python": args.python, "calls": calls,
                            "note": note}) + "\n")
    return path


# ---------------------------------------------------------------- fuzzing

class Campaign:
    def __init__(self, args, targets):
        self.args = args
        self.targets = targets
        self.child = Child(args.python, args.trusted, args.timeout,
                           args.asan)
        self.known = known_signatures([args.corpus] + args.known)
        self.found = {}          # signature -> reproducer path
        self.programs = 0
        self.calls = 0
        self.timeouts = 0
        self.known_hits = 0
        self.start = time.monotonic()
        self.target_sig = None   # the crash being shrunk
        self.shrink_start = None
        self.history = []

    def out_of_time(self):
        a = self.args
        if a.max_findings and len(self.found) >= a.max_findings:
            return True
        if a.programs and self.programs >= a.programs:
            return True
        return a.time and time.monotonic() - self.start >= a.time

    def say(self, msg):
        if not self.args.quiet:
            print(f"[fuzz] {time.monotonic() - self.start:6.0f} s: {msg}",
                  flush=True)

    def test(self, program):
        """Hypothesis's test function: raise Crash for the crash being
        looked at."""
        if self.target_sig is None and self.out_of_time():
            return
        if self.target_sig is not None and (
                time.monotonic() - self.shrink_start > self.args.shrink_time):
            return      # shrunk enough: every further attempt "passes"
        outcome = self.child.run(program)
        ran = self.child.ran        # programs this child host ran
        self.programs += 1
        self.calls += len(program.calls)
        self.history = (self.history + [program])[-20:]
        if self.programs % 200 == 0:
            self.say(f"{self.programs} programs, {self.calls} calls, "
                     f"{self.timeouts} timeouts, {self.known_hits} known "
                     f"crashes hit, {len(self.found)} new findings")
        if outcome.kind == "timeout":
            self.timeouts += 1
            if self.target_sig is None:
                self.say("timeout (not a finding): "
                         + "; ".join(c[:100] for c in program.describe()))
            return
        if outcome.kind != "crash":
            return
        sig = outcome.signature
        if self.target_sig is None:
            if sig in self.known or sig in self.found:
                self.known_hits += 1
                return
            # Is it the program's own doing, or the child's history?
            again = self.child.run(program)
            if again.kind != "crash" or again.signature != sig:
                self.say(f"not reproduced alone: {sig}")
                self.record_unshrunk(outcome, self.history[-ran:])
                return
            self.say(f"found: {sig}; shrinking")
            self.target_sig = sig
            self.shrink_start = time.monotonic()
            self.best = (program, again)
        elif sig != self.target_sig:
            return
        elif size(program) <= size(self.best[0]):
            self.best = (program, outcome)
        # One place: hypothesis tells failures apart by where they raise.
        raise Crash(sig)

    def record_unshrunk(self, outcome, programs):
        """A crash that needs the programs run before it in the child:
        try them all in a fresh child, save them if that crashes."""
        src = JOB_SEPARATOR.join(p.source() for p in programs)
        self.child.stop()
        out = self.run_jobs(src)
        self.child.stop()
        if out.kind == "crash":
            path = save_finding(self.args.corpus, out, src, self.args,
                                note=f"needs the {len(programs)} programs "
                                "run before it in the same child host; "
                                "separated by '# --- job ---' lines, each "
                                "in a new interpreter")
            self.found[out.signature] = path
            self.say(f"saved (not minimized): {path}")

    def run_jobs(self, text):
        out = Outcome("ok")
        for job in text.split(JOB_SEPARATOR):
            out = self.child.run(job)
            if out.kind != "ok":
                break
        return out

    def minimize_calls(self, program, sig):
        """Delta debugging of the call list: drop calls one by one while the
        crash stays."""
        calls = list(program.calls)
        i = 0
        while i < len(calls) and len(calls) > 1:
            trial = Program(calls[:i] + calls[i + 1:])
            self.child.stop()
            out = self.child.run(trial)
            if out.kind == "crash" and out.signature == sig:
                calls = trial.calls
            else:
                i += 1
        self.child.stop()
        return Program(calls)

    def chunk(self, seed):
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hseed
        strategy = strategies(self.targets, self.args.max_calls,
                              self.args.plant)
        self.target_sig = None

        @hseed(seed)
        @settings(max_examples=self.args.chunk, deadline=None,
                  database=None, derandomize=False, print_blob=False,
                  report_multiple_bugs=False,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.generate, Phase.shrink])
        @given(strategy)
        def fuzz(program):
            self.test(program)

        try:
            fuzz()
        except Exception as exc:
            if os.environ.get("SANDBOX_FUZZ_DEBUG"):
                import traceback
                traceback.print_exc()
            # Crash, or hypothesis's report that the last shrink attempt
            # passed once shrinking was cut short (Flaky...): either way
            # self.best is the smallest program that crashed.
            if self.target_sig is None:
                raise
            sig = self.target_sig
            program, outcome = self.best
            program = self.minimize_calls(program, sig)
            final = self.child.run(program)
            self.child.stop()
            note = ""
            if final.kind == "crash" and final.signature == sig:
                outcome = final
            else:
                note = "did not crash again when saved: flaky"
            path = save_finding(self.args.corpus, outcome, program,
                                self.args, note)
            self.found[sig] = path
            self.say(f"NEW FINDING: {sig}\n        reproducer: {path}")
        finally:
            self.target_sig = None

    def run(self):
        k = 0
        try:
            while not self.out_of_time():
                self.chunk(self.args.seed * 100003 + k)
                k += 1
        except KeyboardInterrupt:
            self.say("interrupted: the numbers so far")
        finally:
            self.child.close()
        return {"programs": self.programs, "calls": self.calls,
                "seconds": round(time.monotonic() - self.start, 1),
                "timeouts": self.timeouts, "known_hits": self.known_hits,
                "new_findings": self.found, "targets": len(self.targets)}


def size(program):
    return (len(program.calls), len(program.source()))


class Crash(Exception):
    """Raised in hypothesis's test function for the crash it shrinks."""


JOB_SEPARATOR = "\n# --- job ---\n"


def replay(args):
    """Run each reproducer in a fresh child host; report what it does."""
    child = Child(args.python, args.trusted, args.timeout, args.asan)
    status = 0
    try:
        for path in args.replay:
            with open(path, encoding="utf-8", errors="surrogatepass") as f:
                text = f.read()
            out = Outcome("ok")
            for job in text.split(JOB_SEPARATOR):
                out = child.run(job)
                if out.kind != "ok":
                    break
            child.stop()
            print(f"{path}: {out.kind}"
                  + (f": {out.signature}" if out.signature else ""))
            if out.kind == "crash":
                status = 1
                if args.verbose:
                    print(out.report)
    finally:
        child.close()
    return status


def is_asan(python):
    proc = subprocess.run(
        [python, "-I", "-c", "import sysconfig; print('-fsanitize=address' "
         "in (sysconfig.get_config_var('PY_CFLAGS') or ''))"],
        capture_output=True, text=True, env=child_env(), timeout=120)
    return proc.stdout.strip() == "True"


def default_python():
    for variant in ("asan", "untrusted"):
        p = os.path.join(os.environ.get("SANDBOX_BUILD_DIR",
                                        os.path.join(ROOT, "build")),
                         variant, "python")
        if os.path.isfile(p):
            return p
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="fuzz.py",
        description="Fuzz untrusted interpreters: generate programs (with "
        "hypothesis) that call the default-set modules' functions and "
        "methods with hostile arguments, run them in untrusted interpreters "
        "of a child host, and save every crash or host harm, minimized, as "
        "a reproducer.",
        epilog="Exit status: 0 nothing new found, 1 a new finding (or, "
        "with --replay, a reproducer still crashes), 2 usage error. "
        "See Doc/sandbox/fuzzing.rst.")
    parser.add_argument("--python", metavar="PATH", default=None,
                        help="the child host interpreter (default: "
                        "build/asan/python if built, else "
                        "build/untrusted/python)")
    parser.add_argument("--time", metavar="SECONDS", type=float, default=0,
                        help="stop after this many seconds")
    parser.add_argument("--programs", metavar="N", type=int, default=0,
                        help="stop after this many programs (default, with "
                        "neither limit: 60 seconds)")
    parser.add_argument("--max-findings", metavar="N", type=int, default=0,
                        help="stop after this many new findings")
    parser.add_argument("--seed", metavar="N", type=int, default=0,
                        help="the seed: the same seed, build and options "
                        "give the same programs (default 0)")
    parser.add_argument("--corpus", metavar="DIR", default=DEFAULT_CORPUS,
                        help="where reproducers of new findings go, and whose "
                        "reproducers count as known (default: "
                        "tests_sandbox/fuzz_corpus)")
    parser.add_argument("--known", metavar="DIR", action="append", default=[],
                        help="another directory of known reproducers "
                        "(repeatable)")
    parser.add_argument("--log", metavar="FILE", help="the findings log, one JSON object a "
                        "line (default: CORPUS/findings.log)")
    parser.add_argument("--jobs", metavar="N", type=int, default=1,
                        help="child hosts fuzzing at once, each with its "
                        "own seed (default 1)")
    parser.add_argument("--timeout", metavar="SECONDS", type=float, default=20,
                        help="seconds one program may take before its "
                        "child is killed; a hang is counted, not a finding "
                        "(default 20)")
    parser.add_argument("--max-calls", metavar="N", type=int, default=6,
                        help="calls per program at most (default 6)")
    parser.add_argument("--chunk", metavar="N", type=int, default=100,
                        help="programs per hypothesis run (default 100)")
    parser.add_argument("--shrink-time", metavar="SECONDS", type=float, default=120,
                        help="seconds hypothesis may spend shrinking one "
                        "finding (default 120)")
    parser.add_argument("--trusted", action="store_true",
                        help="run the programs in the child host's main "
                        "interpreter, not an untrusted one, and call only "
                        "the --plant target: to test the fuzzer itself")
    parser.add_argument("--plant", metavar="EXPR",
                        help="add a callable expression to the targets, "
                        "e.g. a deliberately crashing one, to check that "
                        "the fuzzer reports it")
    parser.add_argument("--replay", nargs="+", metavar="FILE",
                        help="run these reproducers, each in a fresh child "
                        "host, and say what they do; fuzz nothing")
    parser.add_argument("--list-targets", action="store_true",
                        help="print the callables the programs call, then "
                        "exit")
    parser.add_argument("--summary", metavar="FILE",
                        help="also write the campaign's numbers there, as "
                        "JSON")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the summary")
    parser.add_argument("--verbose", action="store_true",
                        help="with --replay: print each crash's report")
    args = parser.parse_args(argv)
    args.python = args.python or default_python()
    if not args.python or not os.path.isfile(args.python):
        parser.error("no child host interpreter: build one with "
                     "'Tools/sandbox/build.py build asan' or pass --python")
    args.python = os.path.abspath(args.python)
    args.python_rel = (os.path.relpath(args.python, ROOT)
                       if args.python.startswith(ROOT + os.sep)
                       else args.python)
    args.corpus = os.path.abspath(args.corpus)
    args.known = [os.path.abspath(k) for k in args.known]
    args.asan = is_asan(args.python)
    if args.replay:
        return replay(args)
    if not (args.time or args.programs):
        args.time = 60
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        parser.error("hypothesis is not installed for this Python "
                     f"({sys.executable}): pip install hypothesis")
    if args.jobs > 1:
        return run_jobs(args, argv)
    if args.trusted and not args.plant:
        parser.error("--trusted needs --plant: in the host's own interpreter "
                     "the default targets harm the host by design")
    # With --trusted, only the planted target: the others (gc.disable,
    # select.epoll, ...) change the host's state by design there.
    targets = [] if args.trusted else discover(args.python, args.trusted)
    if args.list_targets:
        for name, meth in targets:
            print(name + ("  (method)" if meth else ""))
        return 0
    # kill PID (SIGTERM) ends a campaign as ^C does: with its numbers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    campaign = Campaign(args, targets)
    campaign.say(f"{len(targets)} targets, child host {args.python}"
                 f"{' (ASan)' if args.asan else ''}, seed {args.seed}")
    result = campaign.run()
    result["seed"] = args.seed
    report(result, args)
    return 1 if result["new_findings"] else 0


def report(result, args):
    print(f"[fuzz] {result['programs']} programs ({result['calls']} calls "
          f"to {result.get('targets', '?')} targets) in "
          f"{result['seconds']} s, {result['timeouts']} timeouts, "
          f"{result['known_hits']} known crashes hit, "
          f"{len(result['new_findings'])} new findings", flush=True)
    for sig, path in sorted(result["new_findings"].items()):
        print(f"[fuzz] NEW: {sig}\n       {path}", flush=True)
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(result, f, indent=1)


def run_jobs(args, argv):
    """--jobs N: N copies of this script, seeds SEED..SEED+N-1."""
    argv = list(sys.argv[1:] if argv is None else argv)
    strip = {"--jobs", "--seed", "--summary"}
    base = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.split("=")[0] in strip:
            i += 1 if "=" in a else 2
            continue
        base.append(a)
        i += 1
    procs = []
    tmp = tempfile.mkdtemp(prefix="sandbox-fuzz-jobs-")
    for k in range(args.jobs):
        summary = os.path.join(tmp, f"{k}.json")
        procs.append((summary, subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)] + base
            + ["--seed", str(args.seed + k), "--summary", summary])))
    total = {"programs": 0, "calls": 0, "seconds": 0, "timeouts": 0,
             "known_hits": 0, "new_findings": {}}
    for summary, proc in procs:
        proc.wait()
        try:
            with open(summary) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        for k in ("programs", "calls", "timeouts", "known_hits"):
            total[k] += r[k]
        total["seconds"] = max(total["seconds"], r["seconds"])
        total["targets"] = r.get("targets")
        total["new_findings"].update(r["new_findings"])
    total["seed"] = args.seed
    print(f"[fuzz] {args.jobs} jobs:")
    report(total, args)
    return 1 if total["new_findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
