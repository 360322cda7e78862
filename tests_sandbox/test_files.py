"""Files: an untrusted interpreter reads only beneath what its policy grants
(and the standard library), and changes only beneath what it grants for
writing, whatever the path: "..", symbolic links, descriptors, races.

Every test proves it by its effect, from the host: the canary's text never
comes out, the file outside was not created or changed, the listener saw
no connection.  Controls show the same code reaching the file when it is
granted.
"""

import os
import secrets
import socket
import stat
import subprocess
import textwrap

import pytest

from support import UNTRUSTED_BUILD, job_outcome, requires_untrusted, run_host

pytestmark = requires_untrusted


@pytest.fixture
def tree(tmp_path):
    """tmp_path/canary.txt (never granted), ro/ (granted for reading) with
    links in and out, rw/ (granted for writing)."""
    secret = "CANARY-" + secrets.token_hex(8)
    (tmp_path / "canary.txt").write_text(secret)
    ro = tmp_path / "ro"
    (ro / "sub").mkdir(parents=True)
    (ro / "a.txt").write_text("hello")
    (ro / "sub" / "b.txt").write_text("below")
    os.symlink(tmp_path / "canary.txt", ro / "abs_link")
    os.symlink("../canary.txt", ro / "rel_link")
    os.symlink("a.txt", ro / "ok_link")
    os.symlink(tmp_path, ro / "dir_link")
    (tmp_path / "rw").mkdir()
    tree = type("Tree", (), {})()
    tree.root, tree.ro, tree.rw = tmp_path, ro, tmp_path / "rw"
    tree.canary, tree.secret = tmp_path / "canary.txt", secret
    return tree


@pytest.fixture
def jail(tree):
    """An untrusted interpreter that may read tree.ro and write tree.rw,
    with two threads."""
    import _sandbox
    interp = _sandbox.new_interpreter(threads=2, read=(str(tree.ro),), write=(str(tree.rw),))
    yield interp
    _sandbox.end_interpreter(interp)


def attempts(interp, cases):
    """Run each source of *cases* in *interp*, and return the outcomes."""
    return {name: job_outcome(interp, source)
            for name, source in cases.items()}


def read_attempts(tree):
    canary = str(tree.canary)
    ro = str(tree.ro)
    return {
        "open": f"data = open({canary!r}).read()",
        "bytes path": f"data = open({canary.encode()!r}).read()",
        "os.open": f"import os; data = os.read(os.open({canary!r}, 0), 99)",
        "FileIO": f"import io; data = io.FileIO({canary!r}).read()",
        "pathlib": f"import pathlib; data = pathlib.Path({canary!r})"
                   f".read_text()",
        "open_code": f"import io; data = io.open_code({canary!r}).read()",
        "dotdot": f"data = open({ro + '/../canary.txt'!r}).read()",
        "deep dotdot": f"data = open({ro + '/sub/../../canary.txt'!r})"
                       f".read()",
        "absolute link": f"data = open({ro + '/abs_link'!r}).read()",
        "relative link": f"data = open({ro + '/rel_link'!r}).read()",
        "directory link": f"data = open({ro + '/dir_link/canary.txt'!r})"
                          f".read()",
        "dir_fd dotdot": f"import os; d = os.open({ro!r}, os.O_RDONLY); "
                         f"data = os.read(os.open('../canary.txt', 0, "
                         f"dir_fd=d), 99)",
        "dir_fd absolute": f"import os; d = os.open({ro!r}, os.O_RDONLY); "
                           f"data = os.read(os.open({canary!r}, 0, "
                           f"dir_fd=d), 99)",
        "chdir relative": f"import os; os.chdir({ro!r}); "
                          f"data = open('../canary.txt').read()",
        "proc fd": f"import os; fd = os.open({ro + '/a.txt'!r}, 0); "
                   f"data = open(f'/proc/self/fd/{{fd}}/../../../../"
                   f"{canary.lstrip('/')}').read()",
        "proc root": f"data = open('/proc/self/root{canary}').read()",
        "stat link": f"import os; data = str(os.stat({ro + '/abs_link'!r}))",
        "listdir": f"import os; data = str(os.listdir({str(tree.root)!r}))",
        "scandir": f"import os; data = str([e.name for e in "
                   f"os.scandir({str(tree.root)!r})])",
        "linecache": f"import linecache; "
                     f"data = linecache.getline({canary!r}, 1)",
    }


def test_the_canary_never_comes_out(tree, jail):
    import _sandbox
    outcomes = attempts(jail, read_attempts(tree))
    assert outcomes.pop("linecache") == "ran"   # it swallows the error
    assert _sandbox.eval(jail, "data") == ""
    assert set(outcomes.values()) == {"SandboxError"}, outcomes
    assert tree.secret not in _sandbox.take_output(jail, 1).decode()


def test_a_syntax_error_shows_no_line_of_the_canary(tree, jail):
    # The compiler's SyntaxError ('return' outside a function) read its
    # source line by the file name given to compile(), beneath no grant:
    # any file's line came back as the exception's text.
    import _sandbox
    source = f"""
        try:
            compile("return 1", {str(tree.canary)!r}, "exec")
        except SyntaxError as exc:
            data = exc.text
    """
    assert job_outcome(jail, source) == "ran"
    assert _sandbox.eval(jail, "data") is None
    assert tree.secret not in _sandbox.take_output(jail, 1).decode()
    # Control: the host's own compile() shows the line.
    namespace = {}
    exec(textwrap.dedent(source), namespace)
    assert namespace["data"].strip() == tree.secret


def test_source_given_as_text_looks_for_no_file(jail, tmp_path,
                                                monkeypatch):
    # A SyntaxError of source given as text ("<unknown>", as ast.parse()
    # names it) looks for its line by that name all the same: missing, as
    # for the host, and no denial logged for what the code did not ask
    # (numpy's import logged four).  A file of that name in the host's
    # directory stays unread.
    import _sandbox
    monkeypatch.chdir(tmp_path)
    (tmp_path / "<unknown>").write_text("return 'CANARY-in-cwd'\n")
    before = len(_sandbox.denials(jail))
    source = """
        try:
            compile("return 1", "<unknown>", "exec")
        except SyntaxError as exc:
            data = exc.text
    """
    assert job_outcome(jail, source) == "ran"
    assert _sandbox.eval(jail, "data") is None
    assert len(_sandbox.denials(jail)) == before
    # Control: the host's own compile() reads that file.
    namespace = {}
    exec(textwrap.dedent(source), namespace)
    assert "CANARY-in-cwd" in namespace["data"]


def write_mo(path, catalog):
    """A GNU message catalog (.mo) at *path* with the msgid: msgstr pairs
    of *catalog*."""
    import struct
    items = sorted((k.encode(), v.encode()) for k, v in catalog.items())
    header = 7 * 4
    originals, translations = header, header + 8 * len(items)
    data = translations + 8 * len(items)
    blob, tables = b"", [[], []]
    for key, value in items:
        for table, text in zip(tables, (key, value)):
            table.append(struct.pack("<2I", len(text), data + len(blob)))
            blob += text + b"\0"
    path.write_bytes(struct.pack("<7I", 0x950412de, 0, len(items), originals,
                                 translations, 0, 0)
                     + b"".join(tables[0]) + b"".join(tables[1]) + blob)


@requires_untrusted
def test_a_message_domain_reads_no_catalog_outside(tree, tmp_path):
    # The C library opens <localedir>/<locale>/<category>/<domain>.mo by
    # name, and a domain "../../.." leads anywhere: locale.dgettext()
    # returned the translations of any catalog the host's process could
    # read (in a host that runs in a real locale).
    import shutil
    if shutil.which("localedef") is None or \
            not os.path.exists("/usr/share/i18n/locales/en_US"):
        pytest.skip("needs localedef and the en_US locale's source")
    locales = tmp_path / "locales"
    locales.mkdir()
    subprocess.run(["localedef", "-i", "en_US", "-f", "UTF-8",
                    str(locales / "en_US.UTF-8")], check=True,
                   capture_output=True)
    write_mo(tmp_path / "catalog.mo",
             {"": "Content-Type: text/plain; charset=UTF-8\n",
              "key": tree.secret})
    domain = "../" * 12 + str(tmp_path / "catalog").lstrip("/")
    out = run_host(f"""
        import _sandbox, locale
        locale.setlocale(locale.LC_ALL, "en_US.UTF-8")
        # Control: the host itself reads the catalog so.
        print("host", locale.dgettext({domain!r}, "key"))
        jail = _sandbox.new_interpreter(read=[{str(tree.ro)!r}])
        for func in ("dgettext({domain!r}, 'key')",
                     "dcgettext({domain!r}, 'key', locale.LC_MESSAGES)"):
            try:
                _sandbox.exec(jail, "import locale\\ndata = locale." + func)
                print("tenant", _sandbox.eval(jail, "data"))
            except _sandbox.RemoteError as exc:
                print("refused", exc.type_name.rpartition(".")[2])
        _sandbox.end_interpreter(jail)
        print("host alive")
    """, LOCPATH=str(locales))
    assert "host alive" in out.stdout, out.stderr[-3000:]
    assert f"host {tree.secret}" in out.stdout, out.stdout
    assert out.stdout.count("refused SandboxError") == 2, out.stdout
    assert out.stdout.count(tree.secret) == 1, out.stdout


@requires_untrusted
def test_no_terminal_is_made_from_a_device_by_its_name(jail):
    # os.posix_openpt() and os.openpty() open /dev/ptmx by its name, under
    # no grant: a tenant made as many terminals as it liked, from the
    # kernel's limited supply.
    def terminals():
        try:
            return set(os.listdir("/dev/pts"))
        except OSError:
            return set()
    before = terminals()
    for call in ("os.posix_openpt(os.O_RDWR)", "os.openpty()"):
        assert job_outcome(jail, f"import os; fds = {call}") == \
            "SandboxError", call
    assert terminals() <= before


def test_control_the_same_code_reads_a_granted_canary(tree):
    # Granted, the same attempts that follow the rules read it: the
    # attempts above are not failing for another reason.  (Not an absolute
    # symbolic link, even one that points inside the grant: see files.rst.)
    import _sandbox
    interp = _sandbox.new_interpreter(read=(str(tree.root),))
    try:
        cases = read_attempts(tree)
        for name in ("open", "bytes path", "os.open", "FileIO", "pathlib",
                     "open_code", "dotdot", "deep dotdot", "relative link",
                     "chdir relative"):
            assert job_outcome(interp, cases[name]) == "ran", name
            data = _sandbox.eval(interp, "data")
            if isinstance(data, bytes):
                data = data.decode()
            assert data == tree.secret, name
    finally:
        _sandbox.end_interpreter(interp)


def test_no_existence_oracle(tree, jail):
    # Outside the grants, a file that exists and one that does not raise
    # the same error with the same message.
    there = job_outcome(jail, f"open({str(tree.canary)!r})", message=True)
    absent = job_outcome(jail, f"open({str(tree.root / 'absent')!r})",
                         message=True)
    assert there == absent == ("SandboxError: [Errno 13] open: not allowed in an "
                               "untrusted interpreter")
    for func in ("os.stat", "os.lstat", "os.listdir", "os.access"):
        args = ", 0" if func == "os.access" else ""
        assert job_outcome(jail, f"import os; {func}({str(tree.canary)!r}"
                                 f"{args})", message=True) == \
            job_outcome(jail, f"import os; {func}("
                              f"{str(tree.root / 'absent')!r}{args})",
                        message=True)
    assert job_outcome(jail, f"import os; "
                             f"r = os.path.exists({str(tree.canary)!r})") \
        == "ran"
    import _sandbox
    assert _sandbox.eval(jail, "r") is False


def test_nothing_is_changed_outside_or_in_a_read_only_grant(tree, jail):
    target = tree.ro / "a.txt"
    before = os.stat(target)
    ro, root = str(tree.ro), str(tree.root)
    cases = {
        "write": f"open({ro + '/a.txt'!r}, 'w')",
        "append": f"open({ro + '/a.txt'!r}, 'a')",
        "r+": f"open({ro + '/a.txt'!r}, 'r+')",
        "create": f"open({ro + '/new.txt'!r}, 'x')",
        "create outside": f"open({root + '/new.txt'!r}, 'w')",
        "os.open trunc": f"import os; os.open({ro + '/a.txt'!r}, "
                         f"os.O_RDONLY | os.O_TRUNC)",
        "truncate": f"import os; os.truncate({ro + '/a.txt'!r}, 0)",
        "chmod": f"import os; os.chmod({ro + '/a.txt'!r}, 0o777)",
        "chown": f"import os; os.chown({ro + '/a.txt'!r}, 1, 1)",
        "utime": f"import os; os.utime({ro + '/a.txt'!r}, (0, 0))",
        "rename": f"import os; os.rename({ro + '/a.txt'!r}, "
                  f"{ro + '/b.txt'!r})",
        "unlink": f"import os; os.unlink({ro + '/a.txt'!r})",
        "rmdir": f"import os; os.rmdir({ro + '/sub'!r})",
        "mkdir": f"import os; os.mkdir({ro + '/d'!r})",
        "symlink": f"import os; os.symlink('x', {ro + '/s'!r})",
        "link": f"import os; os.link({ro + '/a.txt'!r}, {ro + '/l'!r})",
        "mkfifo": f"import os; os.mkfifo({ro + '/f'!r})",
        "setxattr": f"import os; os.setxattr({ro + '/a.txt'!r}, "
                    f"'user.x', b'1')",
        "fchmod": f"import os; os.fchmod(os.open({ro + '/a.txt'!r}, 0), "
                  f"0o777)",
        "chmod fd": f"import os; os.chmod(os.open({ro + '/a.txt'!r}, 0), "
                    f"0o777)",
        "dup fchmod": f"import os; fd = os.dup(os.open({ro + '/a.txt'!r}, "
                      f"0)); os.fchmod(fd, 0o777)",
        "dup2 fchmod": f"import os; fd = os.open({ro + '/a.txt'!r}, 0); "
                       f"r, w = os.pipe(); os.dup2(fd, w); "
                       f"os.fchmod(w, 0o777)",
        "utime fd": f"import os; os.utime(os.open({ro + '/a.txt'!r}, 0), "
                    f"(0, 0))",
        "dir_fd unlink": f"import os; d = os.open({ro!r}, os.O_RDONLY); "
                         f"os.unlink('a.txt', dir_fd=d)",
        "dir_fd create": f"import os; d = os.open({ro!r}, os.O_RDONLY); "
                         f"os.open('n', os.O_CREAT | os.O_WRONLY, "
                         f"dir_fd=d)",
        "hard link out": f"import os; os.link({ro + '/a.txt'!r}, "
                         f"{str(tree.rw / 'l')!r})",
        "rename in": f"import os; os.rename({ro + '/a.txt'!r}, "
                     f"{str(tree.rw / 'a.txt')!r})",
        "write via link": f"import os; os.symlink({ro + '/a.txt'!r}, "
                          f"{str(tree.rw / 'wl')!r}); "
                          f"open({str(tree.rw / 'wl')!r}, 'w')",
        "mknod device": f"import os, stat; os.mknod("
                        f"{str(tree.rw / 'dev')!r}, stat.S_IFCHR | 0o600, "
                        f"os.makedev(1, 3))",
    }
    outcomes = attempts(jail, cases)
    assert set(outcomes.values()) == {"SandboxError"}, outcomes
    after = os.stat(target)
    assert target.read_text() == "hello"
    assert (after.st_mode, after.st_uid, after.st_mtime_ns) == \
        (before.st_mode, before.st_uid, before.st_mtime_ns)
    assert sorted(p.name for p in tree.ro.iterdir()) == \
        ["a.txt", "abs_link", "dir_link", "ok_link", "rel_link", "sub"]
    assert sorted(p.name for p in tree.root.iterdir()) == \
        ["canary.txt", "ro", "rw"]
    assert sorted(p.name for p in tree.rw.iterdir()) == ["wl"]
    assert not os.path.exists(tree.rw / "dev")


def test_ordinary_code_works_inside_the_grants(tree, jail):
    import _sandbox
    rw, ro = str(tree.rw), str(tree.ro)
    assert job_outcome(jail, f"""
        import os, shutil, tempfile, pathlib, glob, zipfile
        out = []
        out.append(open({ro + '/ok_link'!r}).read())
        out.append(sorted(os.listdir({ro!r})))
        out.append(sorted((e.name, e.path, e.is_dir())
                          for e in os.scandir({ro + '/sub'!r})))
        out.append([(d, sorted(f)) for d, _, f in os.walk({ro + '/sub'!r})])
        shutil.copytree({ro + '/sub'!r}, {rw + '/copy'!r})
        out.append([(d, sorted(f)) for d, _, f, _ in os.fwalk({rw!r})])
        shutil.move({rw + '/copy'!r}, {rw + '/moved'!r})
        with tempfile.TemporaryDirectory(dir={rw!r}) as t:
            p = pathlib.Path(t, 'x.txt')
            p.write_text('pathlib')
            out.append(p.read_text())
            with zipfile.ZipFile(pathlib.Path(t, 'z.zip'), 'w') as z:
                z.writestr('inner.txt', 'zipped')
            out.append(zipfile.ZipFile(pathlib.Path(t, 'z.zip'))
                       .read('inner.txt').decode())
        with tempfile.NamedTemporaryFile(dir={rw!r}) as f:
            f.write(b'named')
        os.mkdir({rw + '/d'!r})
        os.symlink('d', {rw + '/d_link'!r})
        os.link({rw + '/moved/b.txt'!r}, {rw + '/d/hard.txt'!r})
        out.append(open({rw + '/d_link/hard.txt'!r}).read())
        out.append(sorted(os.path.basename(p)
                          for p in glob.glob({rw + '/*'!r})))
        shutil.rmtree({rw + '/moved'!r})
        out.append(os.path.realpath({rw + '/d_link'!r}))
        fd = os.open({rw!r}, os.O_RDONLY)
        os.rename('d', 'e', src_dir_fd=fd, dst_dir_fd=fd)
        out.append(os.stat('e', dir_fd=fd).st_nlink)
    """) == "ran"
    assert _sandbox.eval(jail, "out") == [
        "hello",
        ["a.txt", "abs_link", "dir_link", "ok_link", "rel_link", "sub"],
        [("b.txt", ro + "/sub/b.txt", False)],
        [(ro + "/sub", ["b.txt"])],
        [(rw, []), (rw + "/copy", ["b.txt"])],
        "pathlib", "zipped", "below",
        ["d", "d_link", "moved"],
        rw + "/d",
        2]
    assert sorted(os.listdir(tree.rw)) == ["d_link", "e"]
    assert (tree.rw / "e" / "hard.txt").read_text() == "below"


def test_the_working_directory_is_virtual(tree, jail):
    import _sandbox
    host_cwd = os.getcwd()
    assert job_outcome(jail, f"""
        import os
        first = os.getcwd()
        os.chdir({str(tree.ro / 'sub')!r})
        second = os.getcwd()
        text = open('b.txt').read()
        os.chdir('..')
        third = (os.getcwd(), os.getcwdb(), open('a.txt').read())
    """) == "ran"
    # The host's is not beneath a grant: the layout's root.
    assert _sandbox.eval(jail, "first") == "/sandbox"
    assert _sandbox.eval(jail, "second") == str(tree.ro / "sub")
    assert _sandbox.eval(jail, "text") == "below"
    assert _sandbox.eval(jail, "third") == (str(tree.ro),
                                            os.fsencode(tree.ro), "hello")
    assert os.getcwd() == host_cwd
    assert job_outcome(jail, f"import os; os.chdir({str(tree.root)!r})") \
        == "SandboxError"
    assert job_outcome(jail, "import os; os.chdir('..')") == "SandboxError"
    assert job_outcome(jail, f"import os; "
                             f"os.chdir({str(tree.ro / 'a.txt')!r})") \
        == "NotADirectoryError"
    assert job_outcome(jail, "import os; os.fchdir(0)") == "SandboxError"
    assert _sandbox.eval(jail, "__import__('os').getcwd()") == str(tree.ro)
    assert os.getcwd() == host_cwd


def test_a_symbolic_link_race_never_leads_out(tree):
    # One thread swaps a link between a file inside and the canary outside
    # while another opens it: resolution and use are one, so the canary is
    # never read.  Bounded in rounds and time.
    import _sandbox
    interp = _sandbox.new_interpreter(threads=1, write=(str(tree.rw),))
    try:
        (tree.rw / "inside.txt").write_text("inside")
        assert job_outcome(interp, f"""
            import os, threading, time
            link = {str(tree.rw / 'link')!r}
            tmp = {str(tree.rw / 'tmp_link')!r}
            stop = False
            def flip():
                n = 0
                while not stop:
                    target = ('inside.txt' if n % 2 else
                              {str(tree.canary)!r})
                    try:
                        os.symlink(target, tmp)
                        os.replace(tmp, link)
                    except OSError:
                        pass
                    n += 1
            t = threading.Thread(target=flip)
            t.start()
            seen = set()
            deadline = time.monotonic() + 3
            for _ in range(20000):
                if time.monotonic() > deadline:
                    break
                try:
                    seen.add(open(link).read())
                except OSError as exc:
                    seen.add(type(exc).__name__)
            stop = True
            t.join()
            seen = sorted(seen)
        """) == "ran"
        seen = _sandbox.eval(interp, "seen")
        assert tree.secret not in seen
        assert "inside" in seen            # the race did run
        assert "SandboxError" in seen      # and the canary was refused
    finally:
        _sandbox.end_interpreter(interp)


def test_kernel_files_and_devices_stay_out_even_under_a_granted_root(tree):
    # Granted "/", an interpreter still reads nothing of /proc (the
    # host's environment, its memory), /sys, nor the host's disks; the
    # harmless devices work.
    import _sandbox
    secret = "HOSTSECRET" + secrets.token_hex(6)
    os.environ["SANDBOX_TEST_SECRET"] = secret
    interp = _sandbox.new_interpreter(read=("/",))
    try:
        cases = {
            "environ": "data = open('/proc/self/environ', 'rb').read()",
            "mem": "data = open('/proc/self/mem', 'rb').read(1)",
            "proc listdir": "import os; data = os.listdir('/proc/self')",
            "sys": "import os; data = os.listdir('/sys')",
            "proc cmdline": "data = open('/proc/1/cmdline', 'rb').read()",
        }
        outcomes = attempts(interp, cases)
        assert set(outcomes.values()) == {"SandboxError"}, outcomes
        assert job_outcome(interp, """
            import os
            data = (open('/dev/null').read(),
                    len(open('/dev/urandom', 'rb').read(8)),
                    open('/etc/hostname').read() != '')
        """) == "ran"
        assert _sandbox.eval(interp, "data") == ("", 8, True)
        for dev in os.listdir("/dev"):
            path = os.path.join("/dev", dev)
            st = os.lstat(path)
            if stat.S_ISBLK(st.st_mode):
                assert job_outcome(interp, f"open({path!r}, 'rb')") in (
                    "SandboxError", "PermissionError"), path
        assert secret not in _sandbox.take_output(interp, 1).decode()
    finally:
        del os.environ["SANDBOX_TEST_SECRET"]
        _sandbox.end_interpreter(interp)


def test_no_unix_socket_reaches_the_host(tmp_path, jail):
    path = str(tmp_path / "host.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    listener.settimeout(0.5)
    try:
        cases = {
            "connect": f"import socket; s = socket.socket(socket.AF_UNIX); "
                       f"s.connect({path!r})",
            "connect_ex": f"import socket; s = socket.socket("
                          f"socket.AF_UNIX); s.connect_ex({path!r})",
            "sendto": f"import socket; s = socket.socket(socket.AF_UNIX, "
                      f"socket.SOCK_DGRAM); s.sendto(b'x', {path!r})",
            "abstract": "import socket; s = socket.socket(socket.AF_UNIX); "
                        "s.connect('\\0sandbox-test')",
            "bind": f"import socket; s = socket.socket(socket.AF_UNIX); "
                    f"s.bind({str(tmp_path / 'rw' / 'x.sock')!r})",
        }
        (tmp_path / "rw").mkdir(exist_ok=True)
        outcomes = attempts(jail, cases)
        assert set(outcomes.values()) == {"SandboxError"}, outcomes
        with pytest.raises(TimeoutError):
            listener.accept()
        assert not (tmp_path / "rw" / "x.sock").exists()
        # A pair of connected sockets still works (asyncio's self-pipe).
        assert job_outcome(jail, "import socket; a, b = socket.socketpair();"
                                 " a.send(b'x'); assert b.recv(1) == b'x'") \
            == "ran"
    finally:
        listener.close()


def test_nested_interpreters_stay_beneath_their_creator(tree, jail):
    import _sandbox
    inner_ok = str(tree.ro / "sub")
    inner_read = f"open({inner_ok + '/b.txt'!r}).read()"
    through = f"open({str(tree.ro / 'dir_link' / 'canary.txt')!r}).read()"
    cases = {
        "narrower": f"import _sandbox; i = _sandbox.new_interpreter("
                    f"read=({inner_ok!r},)); "
                    f"data = _sandbox.eval(i, {inner_read!r})",
        "wider": f"import _sandbox; _sandbox.new_interpreter("
                 f"read=({str(tree.root)!r},))",
        "write in read": f"import _sandbox; _sandbox.new_interpreter("
                         f"write=({inner_ok!r},))",
        # A link at a nested grant's name is not followed: the grant is
        # that name, as a file's, and leads nowhere.
        "through a link": f"import _sandbox; i = _sandbox.new_interpreter("
                          f"read=({str(tree.ro / 'dir_link')!r},));"
                          f" _sandbox.exec(i, {through!r})",
    }
    outcomes = attempts(jail, cases)
    assert outcomes == {"narrower": "ran", "wider": "SandboxError",
                        "write in read": "SandboxError",
                        "through a link": "RemoteError"}, outcomes
    assert _sandbox.eval(jail, "data") == "below"


def test_denials_name_the_file(tree, jail):
    import _sandbox
    job_outcome(jail, f"open({str(tree.canary)!r})")
    job_outcome(jail, f"open({str(tree.ro / 'x')!r}, 'w')")
    details = [(d[1], d[2]) for d in _sandbox.denials(jail)]
    assert ("file", f"open: read {tree.canary}") in details
    assert ("file", f"open: write {tree.ro / 'x'}") in details


def test_imports_read_no_bytecode_and_log_nothing():
    # The standard library is readable; looking for its bytecode in the
    # empty virtual cache is no denial.
    import _sandbox
    interp = _sandbox.new_interpreter()
    try:
        assert job_outcome(interp, "import json, email.message, asyncio") \
            == "ran"
        assert [d for d in _sandbox.denials(interp) if d[1] == "file"] == []
    finally:
        _sandbox.end_interpreter(interp)


def test_a_grant_that_cannot_be_opened_is_a_clear_error(tmp_path):
    import _sandbox
    missing = str(tmp_path / "no" / "such")
    with pytest.raises(_sandbox.PolicyError, match="read: .*/no/such': No "
                       "such file") as info:
        _sandbox.new_interpreter(read=(missing,))
    assert (info.value.field, info.value.value) == ("read", missing)
    with pytest.raises(_sandbox.PolicyError, match="absolute") as info:
        _sandbox.new_interpreter(read=("relative",))
    assert (info.value.field, info.value.value) == ("read", "relative")
    with pytest.raises(_sandbox.PolicyError, match=r"'\.\.'") as info:
        _sandbox.new_interpreter(write=(str(tmp_path) + "/../x",))
    assert info.value.field == "write"
    # A file that does not exist yet, in a directory that does: granted.
    target = tmp_path / "out.txt"
    interp = _sandbox.new_interpreter(write=(str(target),))
    try:
        assert job_outcome(interp, f"open({str(target)!r}, 'w')"
                                   f".write('made')") == "ran"
        assert job_outcome(interp, f"open({str(tmp_path / 'other')!r}, "
                                   f"'w')") == "SandboxError"
    finally:
        _sandbox.end_interpreter(interp)
    assert target.read_text() == "made"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_paths_by_the_rules_of_os_path(tree, jail):
    # "" names no file; ".." is taken by the name (as os.path.normpath()
    # does) so a relative path reaches another grant; a final slash needs a
    # directory; listdir() lists the virtual working directory.
    import _sandbox
    (tree.rw / "sub").mkdir()
    assert job_outcome(jail, f"""
        import os
        os.chdir({str(tree.rw / 'sub')!r})
        out = []
        for call in (lambda: os.stat(''), lambda: os.rmdir(''),
                     lambda: os.listdir(''), lambda: open('')):
            try:
                call()
            except OSError as exc:
                out.append(type(exc).__name__)
        out.append(open('../../ro/a.txt').read())
        try:
            open({str(tree.ro / 'a.txt') + '/'!r})
        except OSError as exc:
            out.append(type(exc).__name__)
        out.append(os.listdir())
        os.chdir('..')
        out.append(os.listdir())
    """) == "ran"
    assert _sandbox.eval(jail, "out") == [
        "FileNotFoundError"] * 4 + ["hello", "NotADirectoryError", [],
                                    ["sub"]]
    assert (tree.rw / "sub").is_dir()


def test_the_read_only_mark_survives_every_copy(tree, jail):
    # A descriptor from a read-only grant, copied by socket.dup or sent over
    # a socket pair, still changes nothing.
    target = tree.ro / "a.txt"
    before = os.stat(target)
    ro = str(tree.ro)
    cases = {
        "socket.dup fchmod": f"import os, _socket; "
                             f"fd = _socket.dup(os.open({ro + '/a.txt'!r}, "
                             f"0)); os.fchmod(fd, 0o777)",
        "socket.dup dir_fd": f"import os, _socket; "
                             f"d = _socket.dup(os.open({ro!r}, 0)); "
                             f"os.open('a.txt', os.O_WRONLY | os.O_TRUNC, "
                             f"dir_fd=d)",
        "send_fds": f"import os, socket; a, b = socket.socketpair(); "
                    f"socket.send_fds(a, [b'x'], "
                    f"[os.open({ro + '/a.txt'!r}, 0)])",
    }
    outcomes = attempts(jail, cases)
    assert set(outcomes.values()) == {"SandboxError"}, outcomes
    after = os.stat(target)
    assert target.read_text() == "hello"
    assert (after.st_mode, after.st_mtime_ns) == \
        (before.st_mode, before.st_mtime_ns)
    # No descriptor travels in a message, not even one of its own from a
    # write grant (test_descriptors.py says why).
    assert job_outcome(jail, f"""
        import os, socket
        a, b = socket.socketpair()
        fd = os.open({str(tree.rw / 'mine.txt')!r},
                     os.O_CREAT | os.O_WRONLY)
        socket.send_fds(a, [b'x'], [fd])
    """) == "SandboxError"


def test_an_extension_module_loads_by_its_own_name_only(tree, jail):
    # A link in a writable directory to the standard library's extension
    # directory, swapped while the loader runs (here by an audit hook, run
    # between the check and the load), cannot make it load another file:
    # the directory must be the search path's by its name.
    import _json
    origin = getattr(_json, "__file__", None)
    if origin is None:
        pytest.skip("_json is built in")
    real_dir = os.path.dirname(origin)
    name = os.path.basename(origin)
    link = str(tree.rw / "lnk")
    assert job_outcome(jail, f"""
        import os, sys, _imp
        from importlib.machinery import ModuleSpec
        os.symlink({real_dir!r}, {link!r})
        sys.modules.pop('_json', None)
        spec = ModuleSpec('_json', None, origin={link + '/' + name!r})
        _imp.create_dynamic(spec)
    """) == "ModuleNotFoundError"


def test_the_grants_can_be_queried_from_both_sides(tree, jail):
    import _sandbox
    expected = {("Python", "read"): frozenset({str(tree.ro)}),
                ("Python", "write"): frozenset({str(tree.rw)})}
    queried = _sandbox.query(jail)
    assert {k: v for k, v in queried.items() if k[1] in ("read", "write")} \
        == expected
    assert job_outcome(jail, "import sandbox; a = sandbox.allowed(); "
                             "mine = (a[('Python', 'read')], "
                             "a[('Python', 'write')])") == "ran"
    assert _sandbox.eval(jail, "tuple(sorted(x) for x in mine)") == \
        ([str(tree.ro)], [str(tree.rw)])


def test_a_file_grant_stays_a_file_for_nested_interpreters(tmp_path):
    # The creator may write the granted file's name: it makes it a link to
    # its directory, then grants the name to a nested interpreter.  The
    # nested grant is still that one name, and follows no link.
    import _sandbox
    (tmp_path / "secret.txt").write_text("SECRET")
    granted = tmp_path / "f"
    granted.write_text("")
    interp = _sandbox.new_interpreter(write=(str(granted),))
    try:
        assert job_outcome(interp, f"""
            import os, _sandbox
            os.unlink({str(granted)!r})
            os.symlink('.', {str(granted)!r})
            inner = _sandbox.new_interpreter(write=({str(granted)!r},))
            try:
                _sandbox.exec(inner, "open({str(granted / 'secret.txt')!r})"
                                     ".read()")
            finally:
                _sandbox.end_interpreter(inner)
        """) == "RemoteError"
    finally:
        _sandbox.end_interpreter(interp)
    assert sorted(os.listdir(tmp_path)) == ["f", "secret.txt"]


def test_no_set_id_programs(tree, jail):
    # The host may run as root: a set-user-ID file in a write grant would
    # be a program with its rights.
    rw = str(tree.rw)
    cases = {
        "chmod": f"import os; open({rw + '/p'!r}, 'w').close(); "
                 f"os.chmod({rw + '/p'!r}, 0o4755)",
        "fchmod": f"import os; fd = os.open({rw + '/q'!r}, "
                  f"os.O_CREAT | os.O_WRONLY); os.fchmod(fd, 0o2755)",
        "open mode": f"import os; os.open({rw + '/r'!r}, "
                     f"os.O_CREAT | os.O_WRONLY, 0o4755)",
        "mknod": f"import os, stat; os.mknod({rw + '/s'!r}, "
                 f"stat.S_IFREG | 0o4755)",
        # File capabilities are set-user-ID's successor.
        "capability": f"import os; open({rw + '/c'!r}, 'w').close(); "
                      f"os.setxattr({rw + '/c'!r}, 'security.capability', "
                      f"b'\\x01\\x00\\x00\\x02' + bytes(16))",
        "trusted xattr": f"import os; os.setxattr({rw + '/c'!r}, "
                         f"'trusted.x', b'1')",
        "remove security": f"import os; os.removexattr({rw + '/c'!r}, "
                           f"'security.selinux')",
    }
    outcomes = attempts(jail, cases)
    assert set(outcomes.values()) == {"SandboxError"}, outcomes
    for entry in tree.rw.iterdir():
        assert not os.stat(entry).st_mode & (stat.S_ISUID | stat.S_ISGID)
    assert not (tree.rw / "r").exists() and not (tree.rw / "s").exists()
    assert "security.capability" not in os.listxattr(tree.rw / "c")
    # The user's own attributes, where the file system has them, work.
    try:
        os.setxattr(tree.rw / "c", "user.host", b"1")
    except OSError:
        return
    assert job_outcome(jail, f"import os; os.setxattr({rw + '/c'!r}, "
                             f"'user.mine', b'2')") == "ran"
    assert os.getxattr(tree.rw / "c", "user.mine") == b"2"


def test_a_device_is_not_opened_to_be_refused(tmp_path):
    # Opening a terminal multiplexer makes a pseudo-terminal: refused
    # before the open, nothing is made.
    import _sandbox
    if not os.path.exists("/dev/ptmx") or not os.path.isdir("/dev/pts"):
        pytest.skip("no /dev/ptmx")
    before = set(os.listdir("/dev/pts"))
    interp = _sandbox.new_interpreter(read=("/dev",))
    try:
        outcomes = {job_outcome(interp, "open('/dev/ptmx', 'rb')")
                    for _ in range(50)}
        assert outcomes == {"SandboxError"}
        assert job_outcome(interp, "open('/dev/null').read()") == "ran"
    finally:
        _sandbox.end_interpreter(interp)
    assert set(os.listdir("/dev/pts")) <= before


def test_the_standard_librarys_links_lead_nowhere_writable(tmp_path):
    # A build tree links its extension modules from ../../Modules.  Granted
    # that directory for writing, an interpreter could replace a module
    # that the standard library's link then loads: the link is not
    # followed into anything it may write.
    import sys
    import _sandbox
    linked = None
    for entry in sys.path:
        if os.path.isdir(entry):
            for name in sorted(os.listdir(entry)):
                path = os.path.join(entry, name)
                if name.startswith("_json.") and os.path.islink(path):
                    linked = path
    if linked is None:
        pytest.skip("no extension module of the search path is a link")
    target_dir = os.path.dirname(os.path.realpath(linked))
    interp = _sandbox.new_interpreter(write=(target_dir,))
    try:
        assert job_outcome(interp, f"import os; os.stat({linked!r})") == \
            "SandboxError"
        assert job_outcome(interp, "import _json") == "ModuleNotFoundError"
    finally:
        _sandbox.end_interpreter(interp)
    control = _sandbox.new_interpreter()
    try:
        assert job_outcome(control, "import _json") == "ran"
    finally:
        _sandbox.end_interpreter(control)


def test_what_a_job_leaves_open_is_closed_at_its_end(tmp_path):
    # Iterators of os.scandir() kept in globals, never freed: the
    # descriptors the engine resolved their paths with are closed when
    # the interpreter ends.  (Their directory streams, one descriptor
    # each, are not yet: see files.rst.)
    import _sandbox
    before = len(os.listdir("/proc/self/fd"))
    interp = _sandbox.new_interpreter(read=(str(tmp_path),))
    assert job_outcome(interp, f"""
        import os
        kept = [os.scandir({str(tmp_path)!r}) for _ in range(200)]
    """) == "ran"
    _sandbox.end_interpreter(interp)
    assert len(os.listdir("/proc/self/fd")) - before <= 200
