"""The denial log: every denial, in C state the host reads directly.

The denied code gets a generic SandboxError; the log keeps the time, the
resource, the full detail and the Python location.
"""

import errno
import sys
import textwrap
import time

import _interpreters
import pytest

from support import exec_in_interpreter as run, requires_untrusted

pytestmark = requires_untrusted


@pytest.fixture
def sandbox():
    import _sandbox
    return _sandbox


def test_a_denial_is_logged_with_its_detail_and_location(sandbox, untrusted):
    before = time.time()
    failure = run(untrusted, """
        import _sandbox
        x = 1
        _sandbox.take_output(0, 1)
    """)
    after = time.time()
    assert failure.type.__name__ == "SandboxError"
    # The denied code learns nothing but "no", for what it asked.
    assert failure.msg == (f"[Errno {errno.EACCES}] _sandbox.take_output: "
                           "not allowed in an untrusted interpreter")
    [(when, resource, detail, location)] = sandbox.denials(untrusted)
    assert before - 1 <= when <= after + 1
    assert resource == "trusted"
    assert detail == "_sandbox.take_output"
    assert location == "<string>:4"


def test_untrusted_code_reads_its_own_log_only(sandbox, untrusted):
    other = sandbox.new_interpreter()
    try:
        assert run(other, """
            import _sandbox
            try:
                _sandbox.take_output(0, 1)
            except PermissionError:
                pass
            [(when, resource, detail, location)] = _sandbox.denials()
            assert (resource, detail) == ("trusted",
                                          "_sandbox.take_output")
        """) is None
        failure = run(untrusted, f"""
            import _sandbox
            _sandbox.denials({other})
        """)
        # A sibling is denied like an interpreter that does not exist.
        assert failure.type.__name__ == "SandboxError"
        assert [d[1:3] for d in sandbox.denials(untrusted)] == [
            ("trusted", "_sandbox.denials")]
        assert len(sandbox.denials(other)) == 1
    finally:
        _interpreters.destroy(other)


def test_trusted_interpreters_have_no_log(sandbox):
    with pytest.raises(ValueError):
        sandbox.denials()


def test_forged_audit_events_do_not_enter_the_log(sandbox, untrusted):
    assert run(untrusted, """
        import sys
        sys.audit("sandbox.denied", "trusted", "forged")
    """) is None
    assert sandbox.denials(untrusted) == []


def test_the_log_is_bounded_and_keeps_the_newest(sandbox, untrusted):
    assert run(untrusted, """
        import _sandbox
        for i in range(300):
            try:
                _sandbox.take_output(0, 1)
            except PermissionError:
                pass
    """) is None
    log = sandbox.denials(untrusted)
    assert len(log) == 256
    assert {d[2] for d in log} == {"_sandbox.take_output"}
    times = [d[0] for d in log]
    assert times == sorted(times)


def test_the_audit_event_is_raised_inside(sandbox, untrusted):
    # A convenience for the untrusted side's own hooks.
    assert run(untrusted, """
        import sys, _sandbox
        seen = []
        sys.addaudithook(lambda event, args: event == "sandbox.denied"
                         and seen.append(args))
        try:
            _sandbox.take_output(0, 1)
        except PermissionError:
            pass
        assert seen == [("trusted", "_sandbox.take_output")], seen
    """) is None


def test_denials_name_the_python_function(untrusted):
    # PySandbox_Trusted() in an Argument Clinic function logs the name
    # Python code called, not the C one.
    import _sandbox
    for code in ("import os; os.umask(0)", "import os; os._exit(1)"):
        try:
            _sandbox.exec(untrusted, code)
        except _sandbox.RemoteError:
            pass
    details = [d[2] for d in _sandbox.denials(untrusted)]
    assert details[-2:] == ["os.umask", "os._exit"]
