# A finding of Tools/sandbox/fuzz.py: host harm (stdin) by sys._baserepl.
# signature: host harm (stdin) by sys._baserepl
# status: fixed
# fixed by: patches/0137-stdio-untrusted-no-c-streams.patch (input() and
#   sys._baserepl never read C's stdin in an untrusted interpreter)
# found: 2026-12-02 19:33 UTC, --seed 8, build/untrusted/python, in an untrusted interpreter of a child host
# what it does, after the prelude that defines the hostile classes: these calls,
# in order (call 'sys._baserepl' was running):
#   sys._baserepl()
# note: found as a hang by the campaign of --seed 8 on build/untrusted (its
#   programs came on the child's stdin then, so the REPL waited for more);
#   minimized by hand to its one call. sys._baserepl() runs a REPL on C's
#   stdin, the host process's descriptor 0: the untrusted interpreter reads,
#   consumes and runs the host's standard input as its own code, past the
#   capture of its stdio. The child host's stdin holds one line here; after
#   the job it is gone.
# what it found (the end of the report):
#   HARM stdin: 18 -> 0
# replay: python3 Tools/sandbox/fuzz.py --python build/untrusted/python --replay tests_sandbox/fuzz_corpus/host_harm_stdin_by_sys_baserepl_91fe13c8.py

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

def _act(obj):
    if obj.n <= 0:
        return
    obj.n -= 1
    what, k = obj.act, obj.k
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
        if name.startswith("__"):
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
import sys
def _k0():
    V[:] = []
    return sys._baserepl(*V)
_c(0, _k0)
