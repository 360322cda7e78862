"""The embedding how-to's complete C program builds and runs.

Doc/includes/sandbox-embed.c is shown in Doc/sandbox/embedding.rst; this
test compiles it with the installed runtime's python3.13-config, the way
the page says, and checks the output the page shows.
"""

import os
import shlex
import subprocess

import pytest

from support import REPO, build_dir, requires_untrusted

pytestmark = requires_untrusted

EXAMPLE = os.path.join(REPO, "Doc", "includes", "sandbox-embed.c")
PAGE = os.path.join(REPO, "Doc", "sandbox", "embedding.rst")


def test_the_embedding_example_builds_and_prints_what_the_page_shows(
        tmp_path):
    if os.environ.get("SANDBOX_VARIANT") != "untrusted":
        pytest.skip("only the untrusted variant is installed by the tests")
    config = os.path.join(build_dir(), "install", "untrusted", "bin",
                          "python3.13-config")
    assert os.path.isfile(config), f"{config} was not installed"
    flags = subprocess.run([config, "--cflags", "--ldflags", "--embed"],
                           capture_output=True, text=True, check=True)
    program = str(tmp_path / "sandbox-embed")
    build = subprocess.run(["cc", "-Werror", EXAMPLE,
                            *shlex.split(flags.stdout), "-o", program],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    run = subprocess.run([program], capture_output=True, text=True,
                         timeout=60, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    with open(PAGE) as f:
        page = f.read()
    shown = page.split("It prints:\n\n.. code-block:: text\n\n", 1)[1]
    shown = shown.split("\n\n", 1)[0]
    assert run.stdout == "".join(line.strip() + "\n"
                                 for line in shown.splitlines())
    # What the plugin printed went to the host as data, not to stdout.
    assert "denied:" not in run.stdout
