"""Memory-safety bugs reachable from pure Python, and so from untrusted
code: C code that calls back into Python (__index__, __float__,
__buffer__, __eq__, write()...) while it holds a borrowed pointer or
length of a container the callback can change, and buffers lent to
Python code that outlive their owner.  Each case crashed, or corrupted or
disclosed memory, on stock 3.13.5 (json_decode_error only shows under
AddressSanitizer) and is fixed by a patch of ours, named in its comment,
in every build.

Each case runs in a child host process, which must end cleanly; each
also proves that its hostile callback ran (``hit()``), so that it cannot
pass vacuously.  On the flag-on build each case runs again inside an
untrusted interpreter."""

import textwrap

import pytest

from support import requires_untrusted, run_host, run_untrusted

# Prepended to every case: hit() records that a hostile callback ran;
# done() fails the case if none did.
PRELUDE = """
_hits = []
def hit():
    _hits.append(1)
def done():
    if not _hits:
        raise AssertionError("the hostile callback never ran")
"""

CASES = {
    # 0040, gh-151295: an item's __buffer__ empties the joined list.
    "bytes_join": """
        class Item:
            def __buffer__(self, flags):
                hit()
                victim.clear()
                return memoryview(b"x" * 64)
        for join in (b"".join, bytearray().join, b",".join):
            for n in (1, 2, 12):
                victim = [Item() for i in range(n)]
                try:
                    join(victim)
                except (RuntimeError, TypeError):
                    pass
            class Bad:      # the error message names the freed item's type
                def __buffer__(self, flags):
                    hit()
                    victim.clear()
                    raise TypeError
            victim = [Bad()]
            try:
                join(victim)
            except TypeError:
                pass
        done()
    """,
    # 0041, gh-142555, gh-142882, gh-152166: a conversion (__index__,
    # __float__) empties the array under item assignment, insert(),
    # append(), extend() and fromlist().
    "array_setitem": """
        import array
        N = 1 << 17
        for code in "bBhHiIlLqQfd":
            class Evil:
                def __index__(self):
                    hit()
                    victim.clear()
                    return 1
                def __float__(self):
                    hit()
                    victim.clear()
                    return 1.0
            ops = [lambda: victim.__setitem__(N - 1, Evil()),
                   lambda: victim.__setitem__(-1, Evil()),
                   lambda: victim.insert(N - 1, Evil()),
                   lambda: victim.insert(0, Evil()),
                   lambda: victim.append(Evil()),
                   lambda: victim.extend([Evil(), Evil()]),
                   lambda: victim.fromlist([Evil(), Evil()])]
            for op in ops:
                victim = array.array(code, [0]) * N
                try:
                    op()
                except IndexError:
                    pass
                assert all(x == 0 for x in victim[:3]), victim[:3]
        # Growing the array in a conversion leaves no slot uninitialized.
        class Grow:
            def __index__(self):
                hit()
                victim.insert(0, 0)
                return 7
        victim = array.array("q")
        victim.fromlist([Grow()] * 64)
        assert set(victim) <= {0, 7}, set(victim)
        # A second conversion that fails leaves no uninitialized item.
        class Once:
            calls = 0
            def __index__(self):
                hit()
                Once.calls += 1
                if Once.calls % 2 == 0:
                    raise ValueError
                return 7
        victim = array.array("q")
        for i in range(64):
            try:
                victim.append(Once())
            except ValueError:
                pass
        assert set(victim) <= {0, 7}, set(victim)
        done()
    """,
    # 0042, gh-142884: tofile()'s write() empties the array.
    "array_tofile": """
        import array
        class Writer:
            def write(self, data):
                hit()
                victim.clear()
        for code in "bd":
            victim = array.array(code, [0]) * (1 << 20)
            victim.tofile(Writer())
        done()
    """,
    # 0043, gh-60198: raw.write() keeps the memoryview of the
    # BufferedWriter's buffer, and views made from it, past the call.
    "buffered_writer_keeps_view": """
        import io, struct
        SIZE = 1 << 20          # freed with munmap(): a stale access faults
        kept = []
        class Raw(io.RawIOBase):
            def writable(self):
                return True
            def write(self, b):
                hit()
                kept.extend([b, b[1:], b.cast("c"), memoryview(b)])
                kept.append(struct.iter_unpack("B", b[:8]))
                return len(b)
        for i in range(3):
            bw = io.BufferedWriter(Raw(), SIZE)
            bw.write(b"A" * 100)
            bw.flush()
            bw.write(b"B" * 100)
            bw.close()
            del bw
            # large writes bypass the buffer: a view of the caller's data
            data = bytearray(b"C" * (2 * SIZE))
            bw = io.BufferedWriter(Raw(), SIZE)
            bw.write(data)
            try:
                data.clear()        # pinned by the kept view
            except BufferError:
                pass
            bw.close()
            del bw, data
        churn = [bytes(SIZE) for i in range(8)]
        for v in kept:
            if isinstance(v, memoryview):
                assert bytes(v[:1]) in (b"A", b"B", b"C"), bytes(v[:1])
            else:
                assert set(x for x, in v) <= set(b"ABC")
        done()
    """,
    # 0043, gh-60198: raw.readinto() keeps the memoryview of the
    # BufferedReader's buffer (or of the bytes being read, or of the
    # caller's buffer) and writes through it later.
    "buffered_reader_keeps_view": """
        import io
        SIZE = 1 << 20
        kept = []
        class Raw(io.RawIOBase):
            data = 1    # one read of b"abc", then the end of the file
            def readable(self):
                return True
            def readinto(self, b):
                hit()
                kept.extend([b, b[2:], b.cast("B"), memoryview(b)])
                if not self.data:
                    return 0
                self.data -= 1
                b[:3] = b"abc"
                return 3
        class Exporter:     # a class with __buffer__ cannot be pinned
            def __init__(self):
                self.ba = bytearray(4 * SIZE)
            def __buffer__(self, flags):
                return memoryview(self.ba)
        for i in range(3):
            br = io.BufferedReader(Raw(), SIZE)
            assert br.read(1) == b"a"
            br.close()
            del br
            br = io.BufferedReader(Raw(), SIZE)
            data = br.read(3 * SIZE)            # read into a new bytes
            br.close()
            del br
            kept[-4][:3] = b"XYZ"
            assert data == b"abc", data[:8]     # not changed by the view
            dest = bytearray(4 * SIZE)
            br = io.BufferedReader(Raw(), SIZE)
            assert br.readinto(dest) == 3 and dest[:3] == b"abc"
            br.close()
            try:
                dest.clear()
            except BufferError:
                pass
            dest = Exporter()
            br = io.BufferedReader(Raw(), SIZE)
            assert br.readinto(dest) == 3 and dest.ba[:3] == b"abc"
            dest.ba.clear()
            br.close()
            del br, dest, data
        churn = [bytes(SIZE) for i in range(8)]
        for v in kept:
            v[:4] = b"QQQQ"[:len(v)]
        zeros = bytes(SIZE)
        assert all(c == zeros for c in churn), "a stale view wrote on them"
        done()
    """,
    # 0043: a raw method re-initializes the buffered object under its
    # own call (its buffer and lock were freed).
    "buffered_init_reentrant": """
        import io
        class Raw(io.RawIOBase):
            def readable(self):
                return True
            def writable(self):
                return True
            def seekable(self):
                return True
            def seek(self, pos, whence=0):
                return 0
            def tell(self):
                return 0
            def readinto(self, b):
                hit()
                try:
                    obj.__init__(Raw(), 1 << 20)
                except RuntimeError:
                    pass
                b[:3] = b"abc"
                return 3
            def write(self, b):
                hit()
                try:
                    obj.__init__(Raw(), 1 << 20)
                except RuntimeError:
                    pass
                return len(b)
        for cls in (io.BufferedReader, io.BufferedRandom):
            obj = cls(Raw(), 1 << 20)
            try:
                obj.read(1)
            except (RuntimeError, ValueError, OSError):
                pass
        obj = io.BufferedWriter(Raw(), 1 << 20)
        obj.write(b"x" * 10)
        try:
            obj.flush()
        except (RuntimeError, ValueError, OSError):
            pass
        done()
    """,
    # 0044, gh-142637: a key's __eq__ clears the OrderedDict under
    # __delitem__, pop(), move_to_end() and __setitem__.
    "odict_lookup": """
        from collections import OrderedDict
        class Original:
            def __hash__(self):
                return 1
        class Trigger:
            def __hash__(self):
                return 1
            def __eq__(self, other):
                hit()
                od.clear()
                return True
        ops = [lambda: od.__delitem__(Trigger()),
               lambda: od.pop(Trigger()),
               lambda: od.pop(Trigger(), None),
               lambda: od.move_to_end(Trigger()),
               lambda: od.move_to_end(Trigger(), last=False),
               lambda: od.__setitem__(Trigger(), 1),
               lambda: od.get(Trigger()),
               lambda: od.setdefault(Trigger(), 1)]
        for op in ops:
            od = OrderedDict()
            od[Original()] = None
            for i in range(20):
                od[i] = i
            try:
                op()
            except (KeyError, RuntimeError):
                pass
            try:
                list(od.items()), len(od)
            except KeyError:    # not consistent, but not a crash either
                pass
        done()
    """,
    # 0045, gh-143988, gh-143637: an item's __buffer__ or __index__
    # empties the list that sendmsg() or recvmsg_into() parses.
    "socket_msg_lists": """
        import socket
        try:
            a, b = socket.socketpair()
        except OSError:     # no AF_UNIX: a pair of loopback UDP sockets
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            a.bind(("127.0.0.1", 0))
            b.bind(("127.0.0.1", 0))
            a.connect(b.getsockname())
            b.connect(a.getsockname())
        class Data:
            def __init__(self):
                self.data = bytearray(b"x" * 64)
            def __buffer__(self, flags):
                hit()
                victim.clear()
                return memoryview(self.data)
        class Level:
            def __index__(self):
                hit()
                victim.clear()
                return socket.SOL_SOCKET
        for i in range(20):
            victim = [Data() for i in range(8)]
            a.sendmsg(victim)
            b.recv(1 << 16)
            victim = [Data() for i in range(8)]
            a.send(b"y" * 64)
            b.recvmsg_into(victim)
            victim = [(Level(), socket.SCM_RIGHTS, b"")
                      for i in range(8)]
            try:
                a.sendmsg([b"z"], victim)
                b.recv(1 << 16)
            except OSError:
                pass
        a.close()
        b.close()
        done()
    """,
    # 0046, gh-143308: buffer_callback's result releases the PickleBuffer
    # (and frees its memory) before the pickler copies it.
    "pickle_picklebuffer": """
        import pickle
        for i in range(20):
            base = bytearray(b"A" * (1 << 20))
            pb = pickle.PickleBuffer(base)
            class Evil:
                def __bool__(self):
                    global base
                    hit()
                    pb.release()
                    base = None
                    return True
            data = pickle.dumps(pb, protocol=5, buffer_callback=lambda b: Evil())
            junk = [bytes(1 << 20) for i in range(2)]
            assert pickle.loads(data) == b"A" * (1 << 20)
        done()
    """,
    # 0047, gh-143638, gh-143639: Python code run by load() (a __dict__'s
    # __setitem__, a key's __hash__) or dump() (persistent_id) calls it
    # again on the same object, which clears the stack or memo the outer
    # call holds.
    "pickle_reentrant": """
        import io, pickle
        current = None
        class Trap(dict):
            def __setitem__(self, key, value):
                if not hasattr(self, "tripped"):
                    self.tripped = True
                    hit()
                    try:
                        current.load()
                    except Exception:    # RuntimeError, now
                        pass
                super().__setitem__(key, value)
        class Victim:
            __slots__ = ("__dict__", "slot")
            def __init__(self):
                self.__dict__ = Trap()
                self.slot = None
        import __main__
        __main__.Victim = Victim
        PAYLOAD = (b"\\x80\\x05c__main__\\nVictim\\n)R}(\\x8c\\x01aK\\x01\\x8c"
                   b"\\x01bK\\x02u}\\x8c\\x04slotK\\x03s\\x86b.")
        current = pickle.Unpickler(io.BytesIO(PAYLOAD))
        current.load()
        class Key:
            armed = True
            def __hash__(self):
                if Key.armed:
                    Key.armed = False
                    hit()
                    try:
                        current.load()
                    except Exception:    # RuntimeError, now
                        pass
                return 1337
        class Box(dict):
            pass
        class Payload:
            pass
        __main__.Key, __main__.Box, __main__.Payload = Key, Box, Payload
        class Recorder(pickle.Unpickler):
            def find_class(self, module, name):
                global current
                current = self
                return super().find_class(module, name)
        DATA = (b"\\x80\\x05c__main__\\nBox\\n)\\x81c__main__\\nKey\\n)\\x81"
                b"c__main__\\nPayload\\n)\\x81s\\x80\\x05N..")
        Recorder(io.BytesIO(DATA)).load()
        class P(pickle.Pickler):
            def persistent_id(self, obj):
                if obj == "again":
                    hit()
                    for f in (self.dump, self.clear_memo, self.memo.clear):
                        try:
                            f("x") if f == self.dump else f()
                        except Exception:    # RuntimeError, now
                            pass
                return None
        P(io.BytesIO()).dump([[1, 2], "again", [3, 4]] * 10)
        done()
    """,
    # 0048, gh-151046: the file's readinto() keeps the memoryview of the
    # bytes or bytearray object being loaded.
    "pickle_readinto_keeps_view": """
        import io, pickle
        kept = []
        class File:
            def __init__(self, data):
                self.f = io.BytesIO(data)
            def readinto(self, b):
                hit()
                kept.extend([b, b[1:], memoryview(b), b.cast("B")])
                return self.f.readinto(b)
            def readline(self):
                return self.f.readline()
            def read(self, n=-1):
                return self.f.read(n)
        N = 3000000
        for proto in (4, 5):
            data = pickle.dumps([b"x" * N, bytearray(b"y" * N)],
                                protocol=proto)
            res = pickle.Unpickler(File(data)).load()
            for m in kept:
                m[:1] = b"Z"
            assert res[0] == b"x" * N, "the loaded bytes changed"
            try:
                res[1].clear()      # pinned by the kept views
            except BufferError:
                pass
            del res
        zeros = bytes(N)
        junk = [bytes(N) for i in range(6)]
        for m in kept:
            m[:10] = b"Z" * 10
        assert all(j == zeros for j in junk), "a stale view wrote on them"
        done()
    """,
    # 0049, gh-157363: the raw stream under a TextIOWrapper's
    # BufferedReader detaches the wrapper, which frees the BufferedReader
    # while its read() runs.
    "textio_detach_under_read": """
        import io
        class Raw(io.RawIOBase):
            calls = 0
            def readable(self):
                return True
            def readinto(self, b):
                Raw.calls += 1
                if Raw.calls > 1:
                    return 0
                hit()
                try:
                    wrapper.detach()
                except Exception:
                    pass
                b[:3] = b"abc"
                return 3
        for i in range(5):
            Raw.calls = 0
            wrapper = io.TextIOWrapper(io.BufferedReader(Raw(), 1 << 20),
                                       encoding="utf-8")
            try:
                wrapper.read()
            except ValueError:
                pass
            junk = [bytes(1 << 20) for i in range(4)]
        done()
    """,
    # 0050, gh-153539: a decoder's getstate() seeks, which frees the
    # snapshot's bytes that tell() decodes from.
    "textio_tell_reentrant_seek": """
        import codecs, io
        armed = False
        class Decoder(codecs.IncrementalDecoder):
            def decode(self, b, final=False):
                return bytes(b).decode("latin-1")
            def getstate(self):
                global armed
                if armed:
                    armed = False
                    hit()
                    wrapper.seek(0)
                return (b"", 0)
            def setstate(self, state):
                pass
        def search(name):
            if name == "hostile_latin1":
                return codecs.CodecInfo(
                    name=name,
                    encode=lambda s, e=0: (s.encode("latin-1"), len(s)),
                    decode=lambda b, e=0: (bytes(b).decode("latin-1"), len(b)),
                    incrementaldecoder=Decoder)
        codecs.register(search)
        for i in range(5):
            raw = io.BytesIO(b"x" * (8 << 20))
            wrapper = io.TextIOWrapper(io.BufferedReader(raw),
                                       encoding="hostile_latin1", newline="")
            wrapper._CHUNK_SIZE = 4 << 20
            wrapper.read(5)
            armed = True
            try:
                wrapper.tell()
            except OSError:
                pass
        codecs.unregister(search)
        done()
    """,
    # 0051, gh-148735: the sought tag's __eq__ removes the child whose
    # text findtext() returns.
    "elementtree_findtext": """
        from xml.etree.ElementTree import Element, SubElement
        class Tag(str):
            __hash__ = str.__hash__
            def __eq__(self, other):
                hit()
                root.clear()
                return True
        for i in range(50):
            root = Element("a")
            SubElement(root, Tag("a")).text = "t" * 100000 + str(i)
            junk = [object() for i in range(100)]
            text = root.findtext("a")
            assert text == "t" * 100000 + str(i), len(text)
        done()
    """,
    # 0052, gh-148625: the sought tag's __eq__ replaces the tag that
    # iter() is comparing.
    "elementtree_iter": """
        import gc
        import xml.etree.ElementTree as ET
        seen = []
        class TagBase:
            __hash__ = object.__hash__
            def __eq__(self, other):
                seen.append(self)       # a freed tag here corrupts the heap
                return NotImplemented
        class Sought(TagBase):
            def __eq__(self, other):
                if type(other) is TagBase:
                    hit()
                    child.tag = "x"
                return NotImplemented
        for i in range(20):
            root = ET.Element("root")
            child = ET.SubElement(root, "x")
            child.tag = TagBase()
            for _ in root.iter(Sought()):
                pass
        junk = [TagBase() for i in range(100)]
        try:
            gc.collect()
        except Exception:       # denied in an untrusted interpreter
            pass
        done()
    """,
    # 0053, gh-142831, gh-145244: the string encoder empties the list
    # that a dict subclass's items() returned, and default() empties the
    # dict being encoded, under the items the encoder borrowed.
    "json_encoder": """
        import json.encoder
        make_encoder = json.encoder.c_make_encoder
        cache = []
        junk = []
        class BadDict(dict):
            def items(self):
                entries = [("k" * 1000 + str(i), [7] * 100)
                           for i in range(10)]
                cache.append(entries)
                return entries
        def encode_str(obj):
            if cache:
                hit()
                cache.pop().clear()
                # take the freed pairs' memory, if they were freed
                junk.extend([None] * 100 for i in range(100))
            return '"x"'
        enc = make_encoder(None, lambda o: None, encode_str, None, ":", ",",
                           False, False, False)
        for i in range(10):
            for obj in (BadDict(a=1), [BadDict(a=1)]):
                out = "".join(enc(obj, 0))
                assert "null" not in out, "encoded a freed value"
        class Evil:
            pass
        class AlsoEvil:
            pass
        def default(o):
            if isinstance(o, Evil):
                hit()
                target.clear()
                junk.extend("Q" * 300 + str(j) for j in range(100))
                return AlsoEvil()
            raise TypeError("not serializable")
        for i in range(10):
            target = {"key" * 100 + str(i): Evil()}
            try:
                json.dumps(target, default=default)
            except TypeError as exc:
                notes = "".join(getattr(exc, "__notes__", []))
                assert "QQQ" not in notes, "named a freed key"
        done()
    """,
    # 0054, gh-143544: a JSONDecodeError replacement removes itself from
    # json.decoder when it is called.
    "json_decode_error": """
        import json, json.decoder
        saved = json.decoder.JSONDecodeError, json.JSONDecodeError
        class Hook:
            def __call__(self, *args):
                hit()
                for target in (json.decoder, json):
                    if getattr(target, "JSONDecodeError", None) is self:
                        delattr(target, "JSONDecodeError")
                return ValueError(*args)
        for i in range(20):
            json.decoder.JSONDecodeError = json.JSONDecodeError = Hook()
            try:
                json.loads('"' + chr(92) + 'uZZZZ"')
            except BaseException:
                pass
            junk = [Hook() for i in range(10)]
        json.decoder.JSONDecodeError, json.JSONDecodeError = saved
        done()
    """,
    # 0055, gh-145105, gh-157379: the reader's input iterator calls the
    # reader, whose nested call returns the row the outer one fills.
    "csv_reader_reentrant": """
        import csv
        for end in (False, True):
            class Lines:
                n = 0
                def __iter__(self):
                    return self
                def __next__(self):
                    self.n += 1
                    if self.n == 1:
                        return 'x,"y'
                    if self.n == 2:
                        hit()
                        try:
                            next(reader)
                        except (csv.Error, StopIteration):
                            pass
                        if end:
                            raise StopIteration
                        return 'z"'
                    if self.n == 3:
                        return "q,w"
                    raise StopIteration
            reader = csv.reader(Lines())
            try:
                list(reader)
            except csv.Error:
                pass
        done()
    """,
    # 0056 (no upstream issue found): the character data handler, called
    # to flush the text buffer, turns text buffering off.
    "pyexpat_buffer_text_off": """
        from xml.parsers import expat
        for i in range(5):
            parser = expat.ParserCreate()
            parser.buffer_text = True
            parser.buffer_size = 64
            once = [True]
            def handler(data):
                if once[0]:
                    once[0] = False
                    hit()
                    parser.buffer_text = False
            parser.CharacterDataHandler = handler
            parser.Parse(b"<a>" + b"x" * 40 + b"&amp;" + b"y" * 40 + b"</a>",
                         True)
        done()
    """,
    # 0057, gh-146169: ParseFile()'s read(), and a handler, feed the
    # parser that is running (Expat reallocates the buffer ParseFile()
    # is filling).
    "pyexpat_reentrant_parse": """
        from xml.parsers import expat
        for k in range(30):
            class File:
                n = 0
                def read(self, size):
                    File.n += 1
                    if File.n == 1:
                        return b"<a>" + b"x" * 100
                    if File.n == 2:
                        hit()
                        try:
                            parser.Parse(b"y" * (1 << 20), False)
                        except RuntimeError:
                            pass
                        return b"z" * size
                    if File.n == 3:
                        return b"</a>"
                    return b""
            parser = expat.ParserCreate()
            parser.CharacterDataHandler = lambda data: None
            try:
                parser.ParseFile(File())
            except (expat.ExpatError, RuntimeError):
                pass
            junk = [bytes(2048) for i in range(100)]
            assert all(j == bytes(2048) for j in junk), "a stale write"
        parser = expat.ParserCreate()
        def start(name, attrs):
            hit()
            parser.CharacterDataHandler = lambda data: parser.Parse(data, 0)
        parser.StartElementHandler = start
        data = b"\\xff\\xfe<\\x00a\\x00>\\x00x\\x00"
        for i in range(len(data)):
            try:
                parser.Parse(data[i:i + 1], i == len(data) - 1)
            except Exception:       # RuntimeError, now
                pass
        done()
    """,
    # 0058, gh-143195: sep's __len__ releases the memoryview and empties
    # the bytearray whose address hex() took.
    "hex_sep_len": """
        data = bytearray(b"A" * (1 << 20))
        view = memoryview(data)
        class Sep(bytes):
            def __len__(self):
                hit()
                try:
                    view.release()
                    data.clear()
                except BufferError:
                    pass
                return 1
        for i in range(3):
            assert view.hex(Sep(b":")) == ":".join(["41"] * (1 << 20))
        other = bytearray(b"B" * (1 << 20))
        class Sep2(bytes):
            def __len__(self):
                hit()
                try:
                    other.clear()
                except BufferError:
                    pass
                return 1
        assert other.hex(Sep2(b":")) == ":".join(["42"] * (1 << 20))
        done()
    """,
    # 0059, gh-142664: the exporter's __hash__ releases the memoryview
    # that holds its last reference.
    "memoryview_hash": """
        class Exporter(bytes):
            def __hash__(self):
                global obj
                hit()
                try:
                    view.release()
                except BufferError:
                    pass
                obj = None
                junk = [bytes(len(self)) for i in range(10)]
                return 1
        for i in range(10):
            obj = Exporter(b"x" * (1 << 20) + bytes([i]))
            view = memoryview(obj)
            assert hash(view) == hash(b"x" * (1 << 20) + bytes([i])), (
                "hashed freed memory")
        done()
    """,
    # 0060, gh-143543, gh-146613: a key's __eq__ advances the groupby,
    # or its group, which frees the keys under the comparison.
    "itertools_groupby_keys": """
        from itertools import groupby
        class Key(bytearray):
            seen = False
            def __init__(self, is_first):
                self.is_first = is_first
            def __eq__(self, other):
                if self.is_first and not Key.seen:
                    Key.seen = True
                    hit()
                    next(outer)
                    return NotImplemented
                return False
        def keys():
            yield Key(True)
            while True:
                yield Key(False)
        outer = groupby([None, 1], keys().send)
        next(outer)
        try:
            next(outer)
        except StopIteration:
            pass
        group = None
        class Key2:
            __hash__ = None
            def __init__(self, advance):
                self.advance = advance
            def __eq__(self, other):
                if self.advance:
                    self.advance = False
                    hit()
                    try:
                        next(group)
                    except StopIteration:
                        pass
                    return NotImplemented
                return False
        groups = groupby(range(4), lambda x: Key2(x == 0))
        key, group = next(groups)
        for i in range(3):
            try:
                next(group)
            except StopIteration:
                pass
        done()
    """,
    # 0061, gh-143379: a value's __bool__ re-initializes the Struct that
    # packs it; iter_unpack() goes on after the format changed.
    "struct_reinit": """
        import struct
        packer = struct.Struct("?I")
        class Evil:
            def __bool__(self):
                hit()
                try:
                    packer.__init__("4000s")
                except RuntimeError:
                    pass
                return True
        for i in range(20):
            packer.__init__("?I")
            packer.pack(Evil(), 0)
        s = struct.Struct("B")
        items = s.iter_unpack(b"x" * 16)
        next(items)
        hit()
        s.__init__("1000s")
        try:
            next(items)     # 1000 bytes from a buffer of 16
        except RuntimeError:
            pass
        else:
            raise AssertionError("read past the buffer")
        s.__init__("")
        try:
            items.__length_hint__()
        except RuntimeError:
            pass
        done()
    """,
    # 0062, gh-141805, gh-139071: a key's __eq__ adds the key to the set
    # that is inserting it, into the slot the insertion kept for it.
    "set_add_reentrant": """
        for i in range(20):
            tasks = set()
            class Dummy:
                def __hash__(self):
                    return 0
            class Trigger:
                counter = 0
                def __hash__(self):
                    return 0
                def __eq__(self, other):
                    if self.counter < 1:
                        self.counter += 1
                        hit()
                        tasks.add(self)
                    return False
            tasks.add(Dummy())
            tasks.add(Dummy())
            tasks.pop()
            tasks.add(Trigger())
            assert len(tasks) == len(list(tasks)), "a corrupted set"
            repr(tasks)
            del tasks
        done()
    """,
    # 0063 (no upstream issue found): marshal.load()'s file keeps the
    # memoryview readinto() gets of the loader's buffer.
    "marshal_readinto_keeps_view": """
        import io, marshal
        kept = []
        class File:
            def __init__(self, data):
                self.f = io.BytesIO(data)
            def readinto(self, b):
                hit()
                kept.extend([b, b[1:], memoryview(b), b.cast("B")])
                return self.f.readinto(b)
            def read(self, n=-1):
                return self.f.read(n)
        N = 1 << 20
        for i in range(5):
            data = marshal.dumps([b"x" * N, "y" * N, b"z" * (2 * N)])
            assert marshal.load(File(data))[0] == b"x" * N
        zeros = bytes(2 * N)
        junk = [bytes(2 * N) for i in range(6)]
        for m in kept:
            k = min(len(m), 10)
            m[:k] = b"Q" * k
        assert all(j == zeros for j in junk), "a stale view wrote on them"
        done()
    """,
    # 0064 (no upstream issue found): a registered codec keeps the
    # memoryview it is given to decode, past the bytes' life.
    "codec_keeps_view": """
        import codecs
        kept = []
        def decode(data, errors="strict"):
            hit()
            kept.extend([data, data[1:], memoryview(data)])
            return str(bytes(data), "latin-1"), len(data)
        def search(name):
            if name == "hostile_keeper":
                return codecs.CodecInfo(
                    name=name, decode=decode,
                    encode=lambda s, e="strict": (s.encode("latin-1"), len(s)))
        codecs.register(search)
        N = 1 << 20
        for i in range(5):
            data = bytearray(b"x" * N)
            assert data.decode("hostile_keeper") == "x" * N
            data.clear()
            assert (b"y" * N).decode("hostile_keeper") == "y" * N
        codecs.unregister(search)
        junk = [bytes(N) for i in range(8)]
        for m in kept:
            assert set(bytes(m[:16])) <= set(b"xy"), "read freed memory"
        done()
    """,
    # 0065 (no upstream issue found): a replaced struct.Struct keeps the
    # view of the item buffer that comparing memoryviews lends it.
    "memoryview_compare_unpacker": """
        import array, struct
        kept = []
        Real = struct.Struct
        class Keeper:
            def __init__(self, fmt):
                self.s = Real(fmt)
            def unpack_from(self, view):
                hit()
                kept.append(view)
                return self.s.unpack_from(view)
        struct.Struct = Keeper
        try:
            for i in range(50):
                assert (memoryview(array.array("q", [1, 2, 3]))
                        == memoryview(array.array("Q", [1, 2, 3])))
        finally:
            struct.Struct = Real
        junk = [bytearray(8) for i in range(1000)]
        for view in kept:
            view[:] = b"\\xff" * len(view)
        assert all(j == bytearray(8) for j in junk), "a stale view wrote"
        done()
    """,
    # 0066, gh-140607: readinto() returns more than the bytearray that
    # RawIOBase.read() lends it holds, or empties it.
    "rawiobase_read_count": """
        import io
        class Liar(io.RawIOBase):
            def readable(self):
                return True
            def readinto(self, b):
                hit()
                return 1 << 16
        class Shrinker(io.RawIOBase):
            def readable(self):
                return True
            def readinto(self, b):
                hit()
                n = len(b)
                b.clear()
                return n
        for cls in (Liar, Shrinker):
            try:
                data = cls().read(8)
            except ValueError:
                pass
            else:
                raise AssertionError(f"read {len(data)} bytes out of bounds")
        done()
    """,
}


def case_source(name):
    return PRELUDE + textwrap.dedent(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_the_host(name):
    proc = run_host(case_source(name) + "\nprint('survived')\n",
                    timeout=180)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout == "survived\n", proc.stdout


@requires_untrusted
@pytest.mark.parametrize("name", sorted(CASES))
def test_inside_an_untrusted_interpreter(name):
    proc = run_untrusted(case_source(name), message=True, timeout=180)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout == "ran\nhost alive\n", proc.stdout
