"""The standard streams of an untrusted interpreter are C buffers.

What untrusted code prints never reaches the process's real file
descriptors 0-2; the host takes it with PySandbox_TakeOutput() (here the
_sandbox.take_output() harness).
"""

import errno
import textwrap

import _interpreters
import pytest

from support import (exec_in_interpreter as run, requires_untrusted,
                     run_host)

pytestmark = requires_untrusted


def take(interp, fd):
    import _sandbox
    return _sandbox.take_output(interp, fd)


def test_print_reaches_the_host_not_the_terminal():
    # In a child host: the marker must not appear on the child's real
    # stdout or stderr, only in what the host takes.
    inner = ("import sys\n"
             "print('OUT-MARKER')\n"
             "print('ERR-MARKER', file=sys.stderr)\n"
             "sys.stdout.flush()\n")
    code = textwrap.dedent(f"""
        import _interpreters, _sandbox
        interp = _sandbox.new_interpreter()
        failure = _interpreters.exec(interp, {inner!r})
        assert failure is None, failure
        out = _sandbox.take_output(interp, 1)
        err = _sandbox.take_output(interp, 2)
        _interpreters.destroy(interp)
        print("host took", out.hex(), err.hex())
    """)
    proc = run_host(code)
    assert proc.returncode == 0, proc.stderr
    assert "MARKER" not in proc.stdout
    assert "MARKER" not in proc.stderr
    assert proc.stdout == "host took %s %s\n" % (b"OUT-MARKER\n".hex(),
                                                 b"ERR-MARKER\n".hex())


def test_output_is_taken_once_and_in_order(untrusted):
    assert run(untrusted, """
        import sys
        print("one")
        sys.stdout.write("two\\n")
        sys.stdout.buffer.write(b"three\\n")
    """) is None
    assert take(untrusted, 1) == b"one\ntwo\nthree\n"
    assert take(untrusted, 1) == b""
    assert run(untrusted, "print('four')") is None
    assert take(untrusted, 1) == b"four\n"
    assert take(untrusted, 2) == b""


def test_text_is_utf8_and_stderr_never_fails(untrusted):
    assert run(untrusted, """
        import sys
        print("caf\\u00e9")
        print("lone \\udc80 surrogate", file=sys.stderr)
    """) is None
    assert take(untrusted, 1) == "café\n".encode()
    assert take(untrusted, 2) == b"lone \\udc80 surrogate\n"


def test_stdin_is_empty_and_streams_have_no_fd(untrusted):
    assert run(untrusted, """
        import io, sys
        try:
            input()
        except EOFError:
            pass
        else:
            raise AssertionError("stdin was not empty")
        assert sys.stdin.read() == ""
        for stream in (sys.stdin, sys.stdout, sys.stderr):
            assert not stream.isatty()
            try:
                stream.fileno()
            except io.UnsupportedOperation:
                pass
            else:
                raise AssertionError("a file descriptor")
    """) is None


def test_replacing_sys_stdout_does_not_fool_the_host(untrusted):
    # Untrusted code may swap its streams for anything; the host takes only
    # what went through the engine's buffers.
    assert run(untrusted, """
        import io, sys
        print("before")
        sys.stdout = io.StringIO()
        print("swallowed")
        sys.__stdout__.write("after\\n")
    """) is None
    assert take(untrusted, 1) == b"before\nafter\n"


def test_output_is_bounded(untrusted):
    # The buffers live outside the interpreter's heap: a writer that never
    # stops gets ENOSPC at 16 MiB, and the host's memory stays bounded.
    assert run(untrusted, """
        import errno, sys
        chunk = b"x" * (1 << 20)
        for i in range(17):
            try:
                sys.stdout.buffer.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
                assert i == 16, i
                break
        else:
            raise AssertionError("no limit")
    """) is None
    assert len(take(untrusted, 1)) == 16 << 20
    assert run(untrusted, "print('room again')") is None
    assert take(untrusted, 1) == b"room again\n"


def test_untrusted_code_cannot_take_output(untrusted):
    failure = run(untrusted, f"""
        import _sandbox
        _sandbox.take_output({untrusted}, 1)
    """)
    assert failure is not None
    assert failure.type.__name__ == "SandboxError"
    assert failure.msg.startswith(f"[Errno {errno.EACCES}]")
