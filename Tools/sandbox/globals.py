#!/usr/bin/env python3
"""The C globals that can hold a Python object, against their inventory.

An untrusted interpreter must never be handed an object of another
interpreter's heap.  A C global (file scope) or function-level static that
holds a PyObject is shared by every interpreter of the process, so each one
reachable from the modules an untrusted interpreter may load is decided in
Tools/sandbox/globals.tsv (documented in Doc/sandbox/globals.rst, which
includes that file).  This script finds them in a CPython source tree and
prints what is new (scanned, but in no row of the inventory) or gone (a row
that matches nothing any more).  It exits with 1 if anything is new or gone.

    python3 Tools/sandbox/globals.py build/src          # compare
    python3 Tools/sandbox/globals.py build/src --list   # every global found

The scan is a tokenizer, not a compiler: comments, strings and preprocessor
lines are dropped (both branches of an #if are read), braces are tracked,
and each declaration at file scope, and each ``static`` one inside a
function, is kept if its type can hold an object:

- ``PyObject``, ``PyTypeObject`` and every ``Py*Object`` / ``_Py*Object``,
  by value (kind ``type`` or ``object``) or through a pointer (``pointer``);
- a struct that holds one of those, found in Include/ and in the file
  itself, transitively (``holder``: ``PyModuleDef``, ``_PyArg_Parser``,
  ``_PyRuntimeState``, a module's own ``static struct { PyObject *x; } s``);
- arrays of all of these.

Macros known to define such globals (``_Py_IDENTIFIER``, the exception
macros of Objects/exceptions.c) are expanded by name.

Standard library only: the test suite runs it in a fraction of a second.
"""

import argparse
import bisect
import fnmatch
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INVENTORY = os.path.join(HERE, "globals.tsv")

KINDS = ("type", "object", "pointer", "holder")
VERDICTS = ("immortal", "per-interpreter", "unreachable", "needs-fix")

# Core modules with no line in Modules/Setup*: the files that define them.
CORE_MODULE_FILES = {
    "builtins": [], "sys": [], "_imp": [], "marshal": [], "_warnings": [],
    "_string": [], "_tokenize": [], "_ast": [], "_opcode": [],
    "gc": ["Modules/gcmodule.c"],
}


# ---------------------------------------------------------------- files

def default_modules(src):
    """The default set, read from the engine's own table."""
    with open(os.path.join(src, "Python", "sandbox_import.c"),
              encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"default_modules\[\]\s*=\s*\{(.*?)\};", text, re.S)
    if m is None:
        raise SystemExit(
            "default_modules[] not found in Python/sandbox_import.c")
    return re.findall(r'"(\w+)"', m.group(1))


def setup_sources(src):
    """{module name: [source files under Modules/]} from Modules/Setup*."""
    result = {}
    for name in ("Setup.bootstrap.in", "Setup.stdlib.in"):
        path = os.path.join(src, "Modules", name)
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = re.sub(r"@\w+@", "", line.split("#", 1)[0]).strip()
                if not line or line.startswith("*"):
                    continue
                words = line.split()
                files = [w for w in words[1:] if w.endswith(".c")]
                result.setdefault(words[0], []).extend(
                    "Modules/" + w for w in files)
    return result


def local_includes(src, relpath, seen):
    """*relpath* and the files it includes with "...", below Modules/."""
    if relpath in seen:
        return
    path = os.path.join(src, relpath)
    if not os.path.isfile(path):
        return
    seen.add(relpath)
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    base = os.path.dirname(relpath)
    for inc in re.findall(r'^\s*#\s*include\s+"([^"]+)"', text, re.M):
        cand = os.path.normpath(os.path.join(base, inc))
        if cand.startswith("Modules/") and os.path.isfile(
                os.path.join(src, cand)):
            local_includes(src, cand, seen)


def scanned_files(src):
    """The files in scope, relative to *src*, sorted."""
    files = set()
    for top in ("Objects", "Python", "Parser"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(src, top)):
            rel = os.path.relpath(dirpath, src)
            dirnames[:] = [d for d in dirnames
                           if d not in ("mimalloc", "frozen_modules")]
            for name in filenames:
                # bytecodes.c and optimizer_bytecodes.c are the input of
                # the cases generator, not C: generated_cases.c.h is.
                if name.endswith((".c", ".h")) and \
                        not name.endswith("bytecodes.c"):
                    files.add(os.path.join(rel, name))
    sources = setup_sources(src)
    seen = set()
    for module in default_modules(src):
        for rel in sources.get(module, CORE_MODULE_FILES.get(module, [])):
            local_includes(src, rel, seen)
    files |= {f for f in seen if "/_hacl/" not in f
              and "/_decimal/libmpdec/" not in f and "/expat/" not in f}
    return sorted(files)


# ---------------------------------------------------------------- lexing

TOKEN = re.compile(r"""
    [A-Za-z_]\w*
  | ""|''
  | ->|[-+*/%&|^!~<>=?:;,.(){}\[\]]
""", re.X)


CLEAN = re.compile(r"""
    /\*.*?\*/                               # a comment
  | //[^\n]*
  | "(?:\\.|[^"\\\n])*"                     # a string literal
  | '(?:\\.|[^'\\\n])*'                     # a character literal
  | (?<![\w.])(?:-?(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*\s*,\s*){2,}  # numbers
""", re.X | re.S)
DIRECTIVE = re.compile(r"^\s*#\s*(\w*)(.*)")


def _keep_branches(lines):
    """Blank the lines of preprocessor branches that must not be read
    together, and every directive line.

    Both branches of an #if are read, so that a global declared in either
    is seen; but when a branch opens or closes a brace (two headers of one
    function, say), only the first branch of that #if is read, or the
    braces would not balance.  #if 0 blocks are dropped."""
    out = list(lines)
    # Each frame: [branches, current branch]; a branch is
    # [first line, balance, kept-line list, dropped?]
    stack = []
    top_balance = [0]

    def current_add(count):
        if stack:
            stack[-1][1][1] += count
        else:
            top_balance[0] += count

    def blank(first, last):
        for k in range(first, last):
            out[k] = ""

    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        m = DIRECTIVE.match(line)
        if m is None:
            current_add(line.count("{") - line.count("}"))
            i += 1
            continue
        # A directive and its continuation lines.
        j = i
        while out[j].rstrip().endswith("\\") and j + 1 < n:
            j += 1
        word, rest = m.group(1), m.group(2).strip()
        blank(i, j + 1)
        if word in ("if", "ifdef", "ifndef"):
            branch = [j + 1, 0, rest == "0" and word == "if"]
            stack.append([[branch], branch])
        elif word in ("elif", "else") and stack:
            branches = stack[-1][0]
            branches[-1].append(i)          # end of previous branch
            branch = [j + 1, 0, False]
            branches.append(branch)
            stack[-1][1] = branch
        elif word == "endif" and stack:
            branches, _ = stack.pop()
            branches[-1].append(i)
            unbalanced = any(b[1] for b in branches)
            kept_balance = None
            for k, b in enumerate(branches):
                drop = b[2] or (unbalanced and k > 0
                                and kept_balance is not None)
                if drop:
                    blank(b[0], b[3])
                elif kept_balance is None:
                    kept_balance = b[1]
            current_add(kept_balance or 0)
        i = j + 1
    return out


def clean(text):
    """Drop comments, string and character literals and preprocessor
    lines (and branches that would unbalance braces), keeping newlines so
    that line numbers stay right."""
    def repl(m):
        s = m.group(0)
        keep = '""' if s[0] in "\"'" else "0," if s[0] in "-0123456789" \
            else " "
        # A comment inside a directive continues it: keep the "\\".
        return keep + " \\\n" * s.count("\n")
    text = CLEAN.sub(repl, text)
    return "\n".join(_keep_branches(text.split("\n")))


def tokens(text):
    """(token, line) pairs of cleaned *text*; numbers are left out, a
    string literal is "S"."""
    newlines = [i for i, c in enumerate(text) if c == "\n"] \
        if len(text) < 200000 else None
    if newlines is None:
        newlines = [m.start() for m in re.finditer("\n", text)]
    result = []
    for m in TOKEN.finditer(text):
        tok = m.group(0)
        if tok in ('""', "''"):
            tok = "S"
        result.append((tok, bisect.bisect_left(newlines, m.start()) + 1))
    return result


# ---------------------------------------------------------------- holders

OBJECT_TYPE = re.compile(
    r"^_?Py\w*Object$|^PyObject$|^PyVarObject$|^_[a-z]\w*object$")
STORAGE = {"static", "const", "volatile", "extern", "register", "inline",
           "_Py_thread_local", "thread_local", "_Thread_local", "__thread",
           "Py_LOCAL_INLINE", "Py_EXPORTED_SYMBOL", "PyAPI_DATA",
           "PyAPI_FUNC", "Py_ALIGNED", "_Py_ALIGNED_DEF", "Py_GCC_ATTRIBUTE",
           "struct", "union", "enum", "signed", "unsigned"}
NON_OBJECT_STRUCTS = {"PyMethodDef", "PyMemberDef", "PyGetSetDef",
                      "PyType_Spec", "PyType_Slot", "PyModuleDef_Slot",
                      "PyStructSequence_Desc", "PyStructSequence_Field",
                      "PyNumberMethods", "PySequenceMethods",
                      "PyMappingMethods", "PyAsyncMethods",
                      "PyBufferProcs"}


def struct_definitions(toks):
    """[(names, member token lists)] for each struct/union body in *toks*:
    names are the tag and any typedef names."""
    found = []
    i = 0
    n = len(toks)
    while i < n:
        t = toks[i][0]
        if t in ("struct", "union") and i + 1 < n:
            j = i + 1
            tag = None
            if re.match(r"[A-Za-z_]", toks[j][0]) and toks[j][0] != "{":
                tag = toks[j][0]
                j += 1
            if j < n and toks[j][0] == "{":
                depth = 0
                k = j
                body = []
                while k < n:
                    if toks[k][0] == "{":
                        depth += 1
                    elif toks[k][0] == "}":
                        depth -= 1
                        if depth == 0:
                            break
                    body.append(toks[k][0])
                    k += 1
                names = [tag] if tag else []
                # typedef struct X {...} Name, *PName;
                back = i - 1
                if back >= 0 and toks[back][0] == "typedef":
                    m = k + 1
                    while m < n and toks[m][0] != ";":
                        if re.match(r"[A-Za-z_]", toks[m][0]) and \
                                toks[m - 1][0] in ("}", ","):
                            names.append(toks[m][0])
                        m += 1
                found.append((names, body[1:]))
        i += 1
    return found


def typedef_aliases(toks):
    """[(alias, base names)] for "typedef struct X Y;" and
    "typedef X Y;"."""
    aliases = []
    for i, (t, _) in enumerate(toks):
        if t != "typedef":
            continue
        j = i + 1
        words = []
        while j < len(toks) and toks[j][0] not in (";", "{", "("):
            words.append(toks[j][0])
            j += 1
        if j < len(toks) and toks[j][0] == ";" and len(words) >= 2 \
                and "*" not in words:
            aliases.append((words[-1], [w for w in words[:-1]
                                        if w not in STORAGE]))
    return aliases


def holds_object(words, holders):
    """Do member tokens *words* hold (or point to) an object?  Function
    pointers (``PyObject *(*f)(void)``) do not."""
    for member in split_top(words, ";"):
        if any(member[k] == "(" and member[k + 1] == "*"
               for k in range(len(member) - 1)):
            continue
        for w in member:
            if OBJECT_TYPE.match(w) or w in holders or w in (
                    "_object", "_typeobject"):
                return True
    return False


def compute_holders(defs, aliases, holders=None):
    """Grow the set of struct names that hold objects to a fixed point."""
    holders = set(holders or ())
    changed = True
    while changed:
        changed = False
        for names, body in defs:
            if any(nm in holders for nm in names) or not names:
                continue
            if holds_object(body, holders):
                holders.update(names)
                changed = True
        for alias, base in aliases:
            if alias not in holders and any(b in holders for b in base):
                holders.add(alias)
                changed = True
    return holders - NON_OBJECT_STRUCTS


_header_holders = {}
_header_structs = {}


def header_holders(src):
    """Holder struct names defined in Include/ (cached per tree)."""
    if src in _header_holders:
        return _header_holders[src]
    defs, aliases = [], []
    for dirpath, _, filenames in os.walk(os.path.join(src, "Include")):
        for name in filenames:
            if name.endswith(".h"):
                with open(os.path.join(dirpath, name), encoding="utf-8",
                          errors="replace") as f:
                    toks = tokens(clean(f.read()))
                rel = os.path.relpath(os.path.join(dirpath, name), src)
                file_defs = struct_definitions(toks)
                for names, body in file_defs:
                    for nm in names:
                        _header_structs.setdefault(src, {})[nm] = (rel, body)
                defs += file_defs
                aliases += typedef_aliases(toks)
    for alias, base in aliases:
        table = _header_structs.setdefault(src, {})
        for b in base:
            if b in table and alias not in table:
                table[alias] = table[b]
    result = compute_holders(defs, aliases)
    _header_holders[src] = result
    return result


# Runtime-wide state: the fields of the one _PyRuntimeState, walked
# through their nested structs, that hold an object or point to a struct
# that does.  They are reported as globals of function "_PyRuntime".
RUNTIME_ROOT = ("_PyRuntime", "_PyRuntimeState")
# Pointers to these are not followed: they are an interpreter's or a
# thread's own state.
STOP_AT = {"PyInterpreterState", "_is", "PyThreadState", "_ts",
           "_PyThreadStateImpl", "PyFrameObject", "_PyInterpreterFrame"}


def parse_member(member):
    """(type words, name, stars, array, inline body) of a struct member,
    or None for a function pointer or something unparsable."""
    if any(member[k] == "(" and member[k + 1] == "*"
           for k in range(len(member) - 1)):
        return None
    body = None
    if "{" in member:
        a = member.index("{")
        depth, b = 0, a
        for b in range(a, len(member)):
            if member[b] == "{":
                depth += 1
            elif member[b] == "}":
                depth -= 1
                if depth == 0:
                    break
        body = member[a + 1:b]
        rest = member[b + 1:]
        head = member[:a]
    else:
        rest = member
        head = []
    idents = [w for w in rest if re.match(r"[A-Za-z_]", w)
              and w not in STORAGE]
    if "[" in rest:
        before = rest[:rest.index("[")]
        names = [w for w in before if re.match(r"[A-Za-z_]", w)]
        name = names[-1] if names else None
    else:
        name = idents[-1] if idents else None
    if name is None:
        return None
    types = [w for w in head + rest[:rest.index(name)]
             if re.match(r"[A-Za-z_]", w) and w not in STORAGE]
    return types, name, rest.count("*"), "[" in rest, body


def runtime_fields(src):
    """[Global] for the object-holding fields of _PyRuntime."""
    header_holders(src)
    table = _header_structs.get(src, {})
    holders = _header_holders[src]
    root = table.get(RUNTIME_ROOT[1])
    if root is None:
        return []
    found = []

    def walk(where, body, path, seen):
        for member in split_top(body, ";"):
            if not member:
                continue
            parsed = parse_member(member)
            if parsed is None:
                continue
            types, name, stars, array, inline = parsed
            full = f"{path}.{name}" if path else name
            if array:
                full += "[]"
            if inline is not None:
                walk(where, inline, full, seen)
                continue
            tname = " ".join(types) + (" " + "*" * stars if stars else "")
            objtype = next((t for t in types if t == "PyTypeObject"
                            or OBJECT_TYPE.match(t)
                            or t in ("_object", "_typeobject")), None)
            struct = next((t for t in types if t in table), None)
            if objtype:
                kind = ("pointer" if stars else
                        "type" if objtype == "PyTypeObject" else "object")
                found.append(Global(where, RUNTIME_ROOT[0], full, kind,
                                    tname, 0))
            elif stars and ("void" in types or "_Py_hashtable_t" in types):
                # Untyped: a C hook's data or a table may hold objects.
                found.append(Global(where, RUNTIME_ROOT[0], full, "holder",
                                    tname, 0))
            elif struct and (stars or struct in STOP_AT):
                sub = table[struct][1]
                untyped = any(sub[k] == "void" and sub[k + 1] == "*"
                              for k in range(len(sub) - 1))
                if struct in holders or struct in STOP_AT or untyped:
                    found.append(Global(where, RUNTIME_ROOT[0], full,
                                        "holder", tname, 0))
            elif struct and struct not in seen:
                rel, sub = table[struct]
                walk(rel, sub, full, seen | {struct})

    walk(root[0], root[1], "", {RUNTIME_ROOT[1]})
    return found


# ---------------------------------------------------------------- scanning

# Macros that expand to the definition of a global holding an object:
# name -> [(kind, type, name template)], {N} being the Nth argument.
MACROS = {
    "_Py_IDENTIFIER": [("holder", "_Py_Identifier", "PyId_{0}")],
    "_Py_static_string": [("holder", "_Py_Identifier", "{0}")],
    "I_AM_A_MODULE_FOR": [("holder", "PyModuleDef", "_cjk_module")],
    "SimpleExtendsException": [("type", "PyTypeObject", "_PyExc_{1}"),
                               ("pointer", "PyObject *", "PyExc_{1}")],
    "MiddlingExtendsException": [("type", "PyTypeObject", "_PyExc_{1}"),
                                 ("pointer", "PyObject *", "PyExc_{1}")],
    "ComplexExtendsException": [("type", "PyTypeObject", "_PyExc_{1}"),
                                ("pointer", "PyObject *", "PyExc_{1}")],
}


#: Files whose braces did not balance: their scan cannot be trusted.
UNBALANCED = []


class Global:
    __slots__ = ("file", "func", "name", "kind", "type", "line")

    def __init__(self, file, func, name, kind, type_, line):
        self.file, self.func, self.name = file, func, name
        self.kind, self.type, self.line = kind, type_, line

    def key(self):
        return (self.file, self.func, self.name)

    def __repr__(self):
        return (f"{self.file}:{self.line}\t{self.func}\t{self.name}\t"
                f"{self.kind}\t{self.type}")


def split_top(toks, sep):
    """Split token list *toks* at *sep* outside (), [] and {}."""
    parts, cur, depth = [], [], 0
    for t in toks:
        if t in "([{":
            depth += 1
        elif t in ")]}":
            depth -= 1
        if t == sep and depth == 0:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def classify(stmt, holders, at_file_scope):
    """[(name, kind, type text)] declared by statement *stmt* (tokens)."""
    words = [t for t, _ in stmt]
    if not words or words[0] in ("typedef", "extern", "return", "goto",
                                 "break", "continue", "case", "default"):
        return []
    if "extern" in words[:3] or "typedef" in words:
        return []
    if not at_file_scope and "static" not in words:
        return []
    # Strip attribute-like macro calls: Py_ALIGNED(8), _Py_ALIGNED_DEF(...)
    # keep the rest.
    decl = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("_Py_COMP_DIAG_"):
            i += 1
            continue
        if w in ("Py_ALIGNED", "_Py_ALIGNED_DEF", "Py_GCC_ATTRIBUTE",
                 "__attribute__", "__declspec", "_Py_NO_SANITIZE_THREAD",
                 "Py_DEPRECATED") and i + 1 < len(words) \
                and words[i + 1] == "(":
            depth = 0
            while i < len(words):
                if words[i] == "(":
                    depth += 1
                elif words[i] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            i += 1
            continue
        decl.append(w)
        i += 1
    # Base type: the leading words up to the first declarator.
    base = []
    i = 0
    while i < len(decl) and re.match(r"[A-Za-z_]", decl[i]):
        base.append(decl[i])
        i += 1
    if i < len(decl) and decl[i] == "{":  # struct body was folded
        pass
    rest = decl[i:]
    if not base:
        return []
    # "static PyObject *x" -> base ends with a type name; with no pointer
    # the last word is the declared name.
    type_words = [w for w in base if w not in STORAGE]
    body_holder = "@HOLDER" in decl
    if not rest or rest[0] in ("=", ",", "[", ";"):
        # The last base word is the first declarator's name.
        name0 = type_words.pop() if type_words else None
        rest = [name0] + rest if name0 else rest
    objtype = None
    for w in type_words:
        if w in ("PyTypeObject", "_typeobject"):
            objtype = "type"
        elif OBJECT_TYPE.match(w) or w == "_object":
            objtype = objtype or "object"
        elif w in holders or w == "@HOLDER":
            objtype = objtype or "holder"
    if body_holder:
        objtype = "holder"
    if objtype is None:
        return []
    results = []
    for d in split_top(rest, ","):
        if "=" in d:
            d = d[:d.index("=")]
        if not d:
            continue
        stars = d.count("*")
        names = [w for w in d if re.match(r"[A-Za-z_]", w)
                 and w not in ("const", "volatile", "restrict")]
        if not names:
            continue
        # A function prototype or pointer: name followed by "(".
        idx = d.index(names[0])
        if idx + 1 < len(d) and d[idx + 1] == "(":
            continue
        if "(" in d and ")" in d:
            # (*name)(args): a function pointer.
            if d.index(")") + 1 < len(d) and d[d.index(")") + 1] == "(":
                continue
        name = names[0]
        array = "[" in d
        if stars:
            kind = "holder" if objtype == "holder" else "pointer"
        elif objtype == "object" and "PyObject" in type_words \
                and not stars:
            kind = "object"
        else:
            kind = objtype
        tname = " ".join(w for w in type_words if w != "@HOLDER") or "struct"
        if objtype == "holder" and body_holder:
            tname = "struct {...}"
        tname += " " + "*" * stars if stars else ""
        if array:
            tname += "[]"
        results.append((name, kind, tname.strip()))
    return results


def function_name(stmt):
    """The name of the function whose header is *stmt* (tokens)."""
    words = [t for t, _ in stmt]
    depth = 0
    last = None
    for i, w in enumerate(words):
        if w == "(":
            if depth == 0 and i > 0 and re.match(r"[A-Za-z_]", words[i - 1]):
                last = words[i - 1]
            depth += 1
        elif w == ")":
            depth -= 1
    return last or "?"


def scan_text(relpath, text, holders):
    """[Global] declared in *text* (the file *relpath*)."""
    toks = tokens(clean(text))
    local_defs = struct_definitions(toks)
    local_aliases = typedef_aliases(toks)
    holders = compute_holders(local_defs, local_aliases, holders)
    found = []
    stack = ["file"]   # file | func | block | init | struct
    funcs = []
    stmt = []
    struct_start = []
    i = 0
    n = len(toks)
    while i < n:
        t, line = toks[i]
        ctx = stack[-1]
        if ctx in ("init",):
            if t == "{":
                stack.append("init")
            elif t == "}":
                stack.pop()
            i += 1
            continue
        if ctx == "struct":
            if t == "{":
                stack.append("struct")
                struct_start.append(i)
            elif t == "}":
                stack.pop()
                start = struct_start.pop()
                if stack[-1] != "struct":
                    body = [x for x, _ in toks[start + 1:i]]
                    stmt.append(("@HOLDER" if holds_object(body, holders)
                                 else "@STRUCT", line))
            i += 1
            continue
        if t == "{":
            words = [w for w, _ in stmt]
            if "=" in words:
                stack.append("init")
            elif words and (words[-1] in ("struct", "union", "enum")
                            or (len(words) > 1 and words[-2] in
                                ("struct", "union", "enum"))):
                stack.append("struct")
                struct_start.append(i)
            elif ctx == "file" and words and ")" in words:
                funcs.append(function_name(stmt))
                stack.append("func")
                stmt = []
            elif ctx == "file" and words and words[0] == "extern":
                stack.append("block")   # extern "C" {
                stmt = []
                stack[-1] = "file"      # treat contents as file scope
            else:
                stack.append("block")
                stmt = []
            i += 1
            continue
        if t == "}":
            if len(stack) == 1:
                UNBALANCED.append(relpath)
            else:
                popped = stack.pop()
                if popped == "func":
                    funcs.pop()
            stmt = []
            i += 1
            continue
        if t == ";":
            if stmt:
                func = funcs[-1] if funcs and ctx != "file" else "-"
                words = [w for w, _ in stmt]
                first_line = stmt[0][1]
                # Macro-defined globals.
                at = next((k for k, w in enumerate(words[:-1])
                           if w in MACROS and words[k + 1] == "("), None)
                if at is not None:
                    words = words[at:]
                    args = [" ".join(a) for a in
                            split_top(words[2:words.index(")") if ")" in
                                            words else len(words)], ",")]
                    for kind, tname, tmpl in MACROS[words[0]]:
                        try:
                            name = tmpl.format(*[a.strip() for a in args])
                        except IndexError:
                            continue
                        found.append(Global(relpath, func, name, kind,
                                            tname, first_line))
                else:
                    for name, kind, tname in classify(
                            stmt, holders, ctx == "file"):
                        where = next((ln for w, ln in stmt if w == name),
                                     first_line)
                        found.append(Global(relpath, func, name, kind, tname,
                                            where))
            stmt = []
            i += 1
            continue
        # A macro invocation at file scope without a ";" (exceptions.c).
        if ctx == "file" and t in MACROS and i + 1 < n \
                and toks[i + 1][0] == "(":
            depth = 0
            j = i + 1
            while j < n:
                if toks[j][0] == "(":
                    depth += 1
                elif toks[j][0] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j + 1 >= n or toks[j + 1][0] != ";":
                words = [w for w, _ in toks[i + 2:j]]
                args = [" ".join(a).strip() for a in split_top(words, ",")]
                for kind, tname, tmpl in MACROS[t]:
                    try:
                        name = tmpl.format(*args)
                    except IndexError:
                        continue
                    found.append(Global(relpath, "-", name, kind, tname,
                                        line))
                stmt = []
                i = j + 1
                continue
        stmt.append((t, line))
        i += 1
    if len(stack) != 1 or funcs:
        UNBALANCED.append(relpath)
    return found


def scan(src, files=None):
    """[Global] of the tree *src* (every file in scope, or *files*)."""
    holders = header_holders(src)
    found = []
    for rel in files if files is not None else scanned_files(src):
        with open(os.path.join(src, rel), encoding="utf-8",
                  errors="replace") as f:
            found += scan_text(rel, f.read(), holders)
    if files is None:
        found += runtime_fields(src)
    # Both branches of an #if may declare the same global: keep one.
    unique = {}
    for g in found:
        unique.setdefault(g.key(), g)
    return list(unique.values())


# ---------------------------------------------------------------- inventory

class Row:
    __slots__ = ("file", "func", "name", "kind", "verdict", "why", "lineno",
                 "hits")

    def matches(self, g):
        kind, _, type_ = self.kind.partition(":")
        return (g.kind == kind
                and (not type_ or fnmatch.fnmatchcase(g.type, type_))
                and fnmatch.fnmatchcase(g.file, self.file)
                and fnmatch.fnmatchcase(g.func, self.func)
                and any(fnmatch.fnmatchcase(g.name, pat)
                        for pat in self.name.split()))


def read_inventory(path=INVENTORY):
    """[Row] of the inventory file: tab-separated, a header line first;
    file, function ("-" at file scope), names, kind, verdict, why.  The
    file, function and names (separated by spaces) may be shell patterns;
    a row matches only globals of its kind, and of its type if the kind is
    written "kind:type"."""
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:5] != ["file", "function", "name", "kind", "verdict"]:
            raise ValueError(f"{path}: unexpected header {header}")
        for lineno, line in enumerate(f, 2):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 6:
                raise ValueError(f"{path}:{lineno}: {len(cols)} columns, "
                                 f"not 6")
            row = Row()
            (row.file, row.func, row.name, row.kind, row.verdict,
             row.why) = cols
            if row.kind.partition(":")[0] not in KINDS:
                raise ValueError(f"{path}:{lineno}: kind {row.kind!r}")
            if row.verdict.split()[0] not in VERDICTS:
                raise ValueError(f"{path}:{lineno}: verdict {row.verdict!r}")
            row.lineno = lineno
            row.hits = 0
            rows.append(row)
    return rows


def compare(found, rows):
    """(new globals, rows that match nothing)."""
    new = []
    for g in found:
        hit = False
        for row in rows:
            if row.matches(g):
                row.hits += 1
                hit = True
                break
        if not hit:
            new.append(g)
    gone = [row for row in rows if row.hits == 0]
    return new, gone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", help="the CPython source tree "
                        "(the assembled build/src)")
    parser.add_argument("--inventory", default=INVENTORY,
                        help="the inventory (default: %(default)s)")
    parser.add_argument("--list", action="store_true",
                        help="print every global found, with its verdict")
    parser.add_argument("--counts", action="store_true",
                        help="print how many globals each verdict covers")
    args = parser.parse_args(argv)
    found = scan(args.src)
    rows = read_inventory(args.inventory)
    new, gone = compare(found, rows)
    if args.list:
        for g in sorted(found, key=Global.key):
            verdict = next((r.verdict for r in rows if r.matches(g)), "NEW")
            print(f"{g!r}\t{verdict}")
    if args.counts:
        counts = {}
        for g in found:
            verdict = next((r.verdict.split()[0] for r in rows
                            if r.matches(g)), "NEW")
            counts[verdict] = counts.get(verdict, 0) + 1
        print(f"{len(found)} globals scanned in "
              f"{len(scanned_files(args.src))} files")
        for verdict, count in sorted(counts.items()):
            print(f"  {verdict}: {count}")
    for g in sorted(new, key=Global.key):
        print(f"new: {g.file}:{g.line}: {g.func} {g.name} ({g.kind}, "
              f"{g.type}): not in {os.path.basename(args.inventory)}")
    for row in gone:
        print(f"gone: {os.path.basename(args.inventory)}:{row.lineno}: "
              f"{row.file} {row.func} {row.name} ({row.kind}) matches "
              f"nothing")
    return 1 if new or gone else 0


if __name__ == "__main__":
    sys.exit(main())
