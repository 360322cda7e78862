"""python -m sandbox: run, info, check-policy; exit codes, one-line errors,
streaming output, and the flag-off build."""

import os
import subprocess
import sys
import time

import pytest

from support import UNTRUSTED_BUILD, requires_untrusted


def cli(*args, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run([sys.executable, "-m", "sandbox", *args],
                          capture_output=True, text=True, timeout=120,
                          env=env, **kw)


def one_line_error(proc, *texts):
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert any(text in proc.stderr for text in texts), proc.stderr


def test_help_and_version():
    proc = cli("--help")
    assert proc.returncode == 0 and "check-policy" in proc.stdout
    proc = cli("run", "--help")
    assert proc.returncode == 0
    for option in ("--allow-read", "--allow-write", "--allow-net",
                   "--allow-listen", "--deny-net", "--allow-network-info",
                   "--allow-module", "--allow-env", "--memory", "--time",
                   "--threads", "--policy", "--inherit-stdio",
                   "--show-denials"):
        assert option in proc.stdout
    # What is not enforced yet says so; threads and files are.
    words = " ".join(proc.stdout.split())
    assert "--allow-net HOST[:PORT] let it connect and send to HOST:PORT;" \
           in words
    assert "--inherit-stdio let it use this process's fds 0-2 (not " \
           "enforced yet)" in words
    assert "what is below it (relative to the current directory); with " \
           "GUEST, it sees PATH there (an absolute path, not beneath " \
           "/sandbox/lib) --allow-write PATH[:GUEST]" in words
    assert "--threads N let it run N threads at once (default 0) " \
           "--recursion-limit N" in words
    assert "--allow-env NAME copy the host's environment variable NAME " \
           "into its os.environ --memory" in words
    assert "exit status" in proc.stdout
    proc = cli("--version")
    assert proc.returncode == 0 and "3.13.5" in proc.stdout


@pytest.mark.parametrize("args, text", [
    (["run", "--memory", "12x", "-c", "pass"], "memory: '12x': expected a size"),
    (["run", "--allow-read", "/no/such/dir/f", "-c", "pass"],
     "read: '/no/such/dir/f': No such file or directory"),
    (["run", "--allow-net", "host:", "-c", "pass"],
     "net: 'host:': expected a port after ':'"),
    (["run", "--allow-listen", "a.example:80", "-c", "pass"],
     "listen: 'a.example:80': listen takes an address"),
    (["run", "--allow-module", "numpy", "-c", "pass"],
     "modules: 'numpy': not a module of the standard library"),
    (["run", "--threads", "x", "-c", "pass"], "expected a count"),
    (["run", "--time", "-1", "-c", "pass"], "time: -1.0: out of range"),
    (["run", "--bogus", "-c", "pass"], "unrecognized arguments: --bogus"),
    (["run"], "give either SCRIPT or -c CODE"),
    (["run", "/nonexistent/script.py"], "cannot open the script"),
    (["run", "--policy", "/nonexistent.toml", "-c", "pass"],
     "cannot read the policy file"),
    (["run", "--allow-module", "_interpreters", "-c", "pass"],
     "modules: '_interpreters': never loaded in an untrusted interpreter"),
    ([], "required: COMMAND"),
])
def test_bad_input_is_one_clear_line(args, text):
    texts = [text]
    if args[:1] == ["run"] and not UNTRUSTED_BUILD:
        # Without the flag, what gets past argparse says so.
        texts.append("configure it with --with-untrusted")
    one_line_error(cli(*args), *texts)


@requires_untrusted
def test_exit_codes():
    assert cli("run", "-c", "print('ok')").returncode == 0
    proc = cli("run", "-c", "1/0")
    assert proc.returncode == 1
    assert proc.stderr.endswith("ZeroDivisionError: division by zero\n")
    proc = cli("run", "-c", "import _sandbox; _sandbox.new_interpreter(threads=1)")
    assert proc.returncode == 3
    assert "sandbox.SandboxError" in proc.stderr
    assert cli("run", "-c", "import sys; sys.exit(7)").returncode == 7
    assert cli("run", "-c", "import sys; sys.exit()").returncode == 0
    proc = cli("run", "-c", "import sys; sys.exit('bye')")
    assert proc.returncode == 1 and proc.stderr == "bye\n"
    proc = cli("run", "-c", "import _sandbox\n"
                            "raise _sandbox.SandboxLimitExceeded('spent')")
    assert proc.returncode == 4


@requires_untrusted
def test_scripts_get_their_arguments(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("import sys\nprint(sys.argv)\n")
    proc = cli("run", str(script), "a", "--flag")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "['tool.py', 'a', '--flag']\n"
    proc = cli("run", "-c", "import sys; print(sys.argv)", "x", "y")
    assert proc.stdout == "['-c', 'x', 'y']\n"


@requires_untrusted
def test_denials_are_shown_on_request():
    code = ("import _sandbox\ntry:\n    _sandbox.take_output(0, 1)\n"
            "except PermissionError:\n    print('denied')\n")
    proc = cli("run", "--show-denials", "-c", code)
    assert proc.returncode == 0
    assert proc.stdout == "denied\n"
    # (_sandbox.take_output in the host's process, where 0 is the host's
    # interpreter; PySandbox_TakeOutput in a worker, where it is its own)
    assert "sandbox: denied trusted at <string>:3: " in proc.stderr
    assert "denied trusted" not in cli("run", "-c", code).stderr


@requires_untrusted
def test_a_denial_that_ends_it_says_which_option_grants_it(tmp_path):
    canary = tmp_path / "canary data"
    canary.write_text("secret-canary")
    cases = [
        (f"print(open({str(canary)!r}).read())",
         f"to allow it: '--allow-read={canary}'", 3),
        (f"open({str(tmp_path / 'new')!r}, 'w')",
         f"to allow it: --allow-write={tmp_path / 'new'}", 3),
        ("import socket; socket.create_connection(('127.0.0.1', 9), 1)",
         "to allow it: --allow-net=127.0.0.1:9", 3),
        ("import os; os.getloadavg()", "to allow it: --allow-fs-info", 3),
        # A path of the virtual layout: a host's path shown there.
        ("open('/sandbox/data/x.csv')",
         "to allow it: --allow-read=HOST:/sandbox/data/x.csv", 3),
        # A relative path: the working directory is the layout's own
        # until the host's is granted, which it then is.
        ("open('data.csv')", "to allow it: --allow-read=.", 3),
        ("open('../up.csv')", "no option allows it", 3),
        ("import pwd", "to allow it: --allow-module=pwd", 1),
        ("import _ctypes", "no option allows it", 1),
        ("import os; os.kill(os.getpid(), 0)", "no option allows it", 3),
    ]
    for code, hint, status in cases:
        proc = cli("run", "--isolate", "interpreter", "-c", code)
        assert proc.returncode == status, (code, proc.stderr)
        lines = proc.stderr.splitlines()
        # After the traceback: what was denied, then the option.
        assert lines[-1] == f"python -m sandbox run: {hint}", (code, lines)
        assert lines[-2].startswith("python -m sandbox run: it was denied "), \
            lines
        assert "secret-canary" not in proc.stdout + proc.stderr
    # The message inside names the operation, nothing it found.
    proc = cli("run", "--isolate", "interpreter", "-c",
               f"open({str(canary)!r})")
    assert (f"SandboxError: [Errno 13] open: not allowed in an untrusted "
            f"interpreter") in proc.stderr, proc.stderr
    # --show-denials lists them all instead; a job that ends otherwise
    # gets no hint.
    proc = cli("run", "--show-denials", "--isolate", "interpreter", "-c",
               "import os; os.getloadavg()")
    assert "to allow it" not in proc.stderr
    assert "sandbox: denied information at <string>:1: os.getloadavg " \
        "(filesystem_info)" in proc.stderr
    proc = cli("run", "-c", "import os\ntry: os.getloadavg()\n"
                            "except OSError: pass\n1/0")
    assert proc.returncode == 1 and "to allow it" not in proc.stderr


@requires_untrusted
def test_unenforced_grants_warn(tmp_path):
    proc = cli("run", "--inherit-stdio", "-c", "pass")
    assert proc.returncode == 0
    assert "warning: sandbox.Policy: inherit_stdio is not enforced yet" \
        in proc.stderr
    proc = cli("run", "--threads", "2", "-c",
               "import sandbox; print(sandbox.allowed()[('Python', 'threads')])")
    assert proc.stderr == ""
    assert proc.stdout == "(0, 2)\n"


@requires_untrusted
def test_a_policy_file_and_options_widen_it(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("threads = 1\n")
    proc = cli("run", "--policy", str(policy), "-c",
               "import sandbox; print(sandbox.allowed()[('Python', 'threads')])")
    assert proc.stdout == "(0, 1)\n"
    proc = cli("run", "--policy", str(policy), "--threads", "3", "-c",
               "import sandbox; print(sandbox.allowed()[('Python', 'threads')])")
    assert proc.stdout == "(0, 3)\n"


@requires_untrusted
def test_output_streams_while_the_code_runs():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    code = ("import time\nprint('early', flush=True)\n"
            "time.sleep(3)\nprint('late')\n")
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "run", "-c",
                             code], stdout=subprocess.PIPE, text=True,
                            env=env)
    try:
        start = time.monotonic()
        first = proc.stdout.readline()
        elapsed = time.monotonic() - start
        assert first == "early\n"
        assert elapsed < 2.5, elapsed          # before the code ended
        assert proc.stdout.read() == "late\n"
    finally:
        proc.stdout.close()
        proc.wait(60)
    assert proc.returncode == 0


def test_info():
    proc = cli("info")
    assert proc.returncode == 0
    flag = "yes" if UNTRUSTED_BUILD else "no"
    assert f"configure --with-untrusted: {flag}" in proc.stdout
    assert "threads = 0" in proc.stdout


def test_check_policy(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('threads = 2\nmemory = "1G"\nread = ["/data"]\n')
    proc = cli("check-policy", str(good))
    assert proc.returncode == 0
    assert f"{good}: valid" in proc.stdout
    assert 'memory = "1GiB"' in proc.stdout
    assert "not enforced" not in proc.stderr     # memory is
    bad = tmp_path / "bad.toml"
    bad.write_text("time = -2\n")
    proc = cli("check-policy", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert "time: -2: out of range" in proc.stderr
    bad.write_text("threads = -2\n")
    proc = cli("check-policy", str(bad))
    if UNTRUSTED_BUILD:
        # The engine's fields are the engine's to check.
        assert proc.returncode == 1
        assert "threads: -2: out of range (0 to 1024)" in proc.stderr
    else:
        assert proc.returncode == 0
        assert "not checked: this CPython has no untrusted " \
               "interpreters" in proc.stderr


@requires_untrusted
def test_allow_module_grants_an_extension_module():
    proc = cli("run", "-c", "import pwd")
    assert proc.returncode == 1
    assert "ModuleNotFoundError: No module named 'pwd'" in proc.stderr
    proc = cli("run", "--allow-module=pwd", "-c",
               "import pwd; print(pwd.getpwuid(0).pw_uid)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "0\n"
