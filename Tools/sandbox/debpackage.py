"""build.py's Debian subcommand ("build.py deb"): the source package and
the binary packages python3.13-untrusted, libpython3.13-untrusted-stdlib
and python3.13-untrusted-dev, built with dpkg-buildpackage from the
release tarball ("build.py dist") and Tools/sandbox/debian/, checked with
lintian; with --install-test (root), installed, exercised as a user of
the packages would, and purged, leaving nothing behind.
"""

import os
import re
import shutil
import subprocess
import tempfile
import textwrap
import time

import release

SOURCE = "python3.13-untrusted"
PACKAGES = ("python3.13-untrusted", "libpython3.13-untrusted-stdlib",
            "python3.13-untrusted-dev")
PREFIX = "/usr/lib/python3.13-untrusted"
COMMAND = "/usr/bin/python3.13-untrusted"
EXAMPLES = "/usr/share/doc/python3.13-untrusted/examples"

# The Debian revision of the packages: raise it for a new packaging of the
# same release tarball (and start again at 1 for a new release).
DEBIAN_REVISION = 1

# What building the packages needs beyond the build dependencies in
# debian/control (apt-get build-dep installs those).
PACKAGING_TOOLS = ["dpkg-dev", "debhelper", "lintian", "pkgconf"]


def package_version(build):
    return f"{release.release_version(build)}-{DEBIAN_REVISION}"


def control_field(control, name):
    match = re.search(rf"^{name}:\s*(.+)$", control, re.MULTILINE)
    return match.group(1).strip() if match else None


def changelog(build, control, epoch):
    """debian/changelog: one entry for this release, dated by
    SOURCE_DATE_EPOCH (so the source package is reproducible too)."""
    code, commit = release.git("rev-parse", "--short=12", "HEAD")
    origin = f" (project commit {commit})" if code == 0 else ""
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(epoch))
    entry = textwrap.fill(
        f"Release {release.release_version(build)}: CPython "
        f"{build.VERSION} with the patch series and overlay of the "
        f"untrusted-interpreter runtime{origin}.", width=76,
        initial_indent="  * ", subsequent_indent="    ")
    return (f"{SOURCE} ({package_version(build)}) unstable; urgency=medium\n"
            f"\n{entry}\n\n"
            f" -- {control_field(control, 'Maintainer')}  {date}\n")


def copyright_file(control, license_text):
    """debian/copyright in Debian's machine-readable format; the license
    is upstream's LICENSE, as the tarball carries it."""
    body = "\n".join(" " + line if line.strip() else " ."
                     for line in license_text.rstrip().splitlines())
    maintainer = control_field(control, "Maintainer")
    return (
        "Format: https://www.debian.org/doc/packaging-manuals/"
        "copyright-format/1.0/\n"
        "Upstream-Name: CPython with untrusted interpreters\n"
        "Source: https://www.python.org/downloads/source/ and the project's "
        "repository\n"
        "Comment: The release tarball is CPython's source with the\n"
        " project's patch series applied and its overlay added (the SOURCES\n"
        " file of the tarball lists them). The project's files are\n"
        " contributed under CPython's license.\n"
        "\n"
        "Files: *\n"
        "Copyright: 2001-2025 Python Software Foundation and the\n"
        " contributors named in the files and in LICENSE\n"
        "License: PSF-2.0\n"
        "Comment: Software incorporated into CPython under other licenses\n"
        " (libmpdec, HACL*, mimalloc, expat's copy, SipHash, ...) is listed\n"
        " with each license's text in upstream's Doc/license.rst, section\n"
        " \"Licenses and Acknowledgements for Incorporated Software\";\n"
        " the packages install it as /usr/share/doc/PACKAGE/license.rst.\n"
        "\n"
        "Files: Lib/sandbox/* Tools/sandbox/* tests_sandbox/* "
        "Doc/sandbox/*\n"
        f"Copyright: 2026 {maintainer}\n"
        "License: PSF-2.0\n"
        "\n"
        "License: PSF-2.0\n"
        f"{body}\n")


_updated = []


def apt_update(build):
    """apt-get update, once: a fresh machine may have no package lists."""
    if not _updated:
        build.run(["apt-get", "update", "-q"], what="apt-get update",
                  env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                  quiet=True)
        _updated.append(True)


def check_tools(build):
    missing = [t for t, p in [("dpkg-buildpackage", "dpkg-dev"),
                              ("dh", "debhelper"), ("lintian", "lintian")]
               if shutil.which(t) is None]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        build.log(f"installing {', '.join(PACKAGING_TOOLS)}")
        apt_update(build)
        build.run(["apt-get", "install", "-y", "-q",
                   "--no-install-recommends"] + PACKAGING_TOOLS,
                  env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                  what="apt-get install of the packaging tools", quiet=True)
        return
    raise build.SetupError(
        f"{', '.join(missing)} not found; install them with: sudo apt-get "
        f"install {' '.join(PACKAGING_TOOLS)}")


def unpack(build, tarball, work):
    """The tarball as the package's orig tarball, unpacked with the
    debian/ directory in place; return the source directory."""
    upstream = release.release_version(build)
    shutil.copyfile(tarball, os.path.join(
        work, f"{SOURCE}_{upstream}.orig.tar.xz"))
    build.run(["tar", "-xf", tarball, "-C", work],
              what=f"unpacking {os.path.basename(tarball)}")
    srcdir = os.path.join(work, f"{SOURCE}-{upstream}")
    os.rename(os.path.join(work, f"Python-{upstream}"), srcdir)
    shutil.copytree(os.path.join(srcdir, "Tools", "sandbox", "debian"),
                    os.path.join(srcdir, "debian"), symlinks=True)
    return srcdir


def remove_earlier(work):
    """Remove what an earlier run made in *work* (and only that), so that
    no package of it is taken for this run's."""
    os.makedirs(work, exist_ok=True)
    for name in os.listdir(work):
        path = os.path.join(work, name)
        if name.startswith((SOURCE, "lib" + SOURCE)) or name in (
                "build.log", "lintian.txt"):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)


def build_options(args):
    options = []
    if args.nocheck:
        options.append("nocheck")
    if args.nopgo:
        options.append("nopgo")
    options.append(f"parallel={len(os.sched_getaffinity(0))}")
    return options


def cmd_deb(build, args):
    check_tools(build)
    tarball = release.cmd_dist(build, args)
    p = build.paths(args)
    work = os.path.abspath(args.deb_output or os.path.join(p["build"],
                                                           "deb"))
    remove_earlier(work)
    srcdir = unpack(build, tarball, work)
    debian = os.path.join(srcdir, "debian")
    with open(os.path.join(debian, "control")) as f:
        control = f.read()
    with open(os.path.join(srcdir, "LICENSE")) as f:
        license_text = f.read()
    epoch = release.source_date_epoch(build)
    with open(os.path.join(debian, "changelog"), "w") as f:
        f.write(changelog(build, control, epoch))
    with open(os.path.join(debian, "copyright"), "w") as f:
        f.write(copyright_file(control, license_text))
    options = build_options(args)
    env = dict(os.environ, DEB_BUILD_OPTIONS=" ".join(options),
               SOURCE_DATE_EPOCH=str(epoch))
    env.pop("MAKEFLAGS", None)
    if args.nocheck:
        env["DEB_BUILD_PROFILES"] = "nocheck"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        build.log("installing the build dependencies of debian/control")
        apt_update(build)
        build.run(["apt-get", "build-dep", "-y", "-q"]
                  + (["-P", "nocheck"] if args.nocheck else [])
                  + ["./" + os.path.basename(srcdir)], cwd=work,
                  env=dict(env, DEBIAN_FRONTEND="noninteractive"),
                  what="apt-get build-dep", quiet=True)
    build.log(f"dpkg-buildpackage of {SOURCE} {package_version(build)} "
              f"(DEB_BUILD_OPTIONS={' '.join(options)}), log in "
              f"{os.path.join(work, 'build.log')}")
    build.run(["dpkg-buildpackage", "-us", "-uc"], cwd=srcdir, env=env,
              what="dpkg-buildpackage", quiet=not args.verbose,
              logfile=os.path.join(work, "build.log"))
    changes = os.path.join(work, f"{SOURCE}_{package_version(build)}_"
                                 f"{architecture()}.changes")
    debs = sorted(os.path.join(work, name) for name in os.listdir(work)
                  if name.endswith(".deb"))
    for deb in debs:
        print(f"{deb}  {os.path.getsize(deb) / 2**20:.1f} MiB")
    lintian(build, changes, work)
    if args.install_test:
        install_test(build, [d for d in debs
                             if os.path.basename(d).split("_")[0]
                             in PACKAGES])
    return 0


def architecture():
    return subprocess.run(["dpkg", "--print-architecture"], text=True,
                          capture_output=True, check=True).stdout.strip()


def lintian(build, changes, work):
    """lintian on the source and binary packages; its report goes to
    lintian.txt and, counted by kind, to the terminal; an error fails."""
    proc = subprocess.run(["lintian", "--fail-on", "error", "--info",
                           changes], text=True, capture_output=True)
    report = os.path.join(work, "lintian.txt")
    with open(report, "w") as f:
        f.write(proc.stdout + proc.stderr)
    lines = [line for line in proc.stdout.splitlines()
             if re.match(r"^[EWIPXNO]: ", line)]
    counts = {}
    for line in lines:
        counts[line[0]] = counts.get(line[0], 0) + 1
    kinds = {"E": "errors", "W": "warnings", "I": "info", "P": "pedantic",
             "X": "experimental", "O": "overridden", "N": "notes"}
    summary = ", ".join(f"{counts[k]} {kinds[k]}" for k in "EWIPXO"
                        if k in counts) or "nothing to report"
    print(f"lintian: {summary} (report in {report})")
    for line in lines:
        if line.startswith(("E: ", "W: ")):
            print("  " + line)
    if proc.returncode != 0:
        raise build.SetupError(
            f"lintian reported errors on {os.path.basename(changes)} "
            f"(exit status {proc.returncode}; see {report})")


# --- the installed packages, as their users see them --------------------

def installed(package):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          text=True, capture_output=True)
    return proc.returncode == 0 and "installed" in proc.stdout.split()


def check(build, what, condition, detail=""):
    if not condition:
        raise build.SetupError(f"install test: {what} failed"
                               + (f": {detail}" if detail else ""))
    print(f"  ok: {what}")


def run_checked(build, what, cmd, expect, **kw):
    proc = subprocess.run(cmd, text=True, capture_output=True, timeout=300,
                          **kw)
    output = proc.stdout + proc.stderr
    check(build, what, proc.returncode == 0 and all(
        e in output for e in expect),
        f"exit status {proc.returncode}, output:\n{output[-2000:]}")
    return output


def exercise(build, tmp):
    """What a user of the packages does, each with the result it shows."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON")}
    run_checked(build, "python3.13-untrusted reports the flag",
                [COMMAND, "-c", "import builtins, sys, sysconfig; "
                 "print(sysconfig.get_config_var('Py_UNTRUSTED'), "
                 "builtins.__restricted__, sys.prefix)"],
                [f"1 False {PREFIX}"], env=env)
    secret = os.path.join(tmp, "secret.txt")
    with open(secret, "w") as f:
        f.write("canary-7d1f")
    out = run_checked(
        build, "python3.13-untrusted -I -m sandbox run denies an ungranted "
        "read",
        [COMMAND, "-I", "-m", "sandbox", "run", "--show-denials", "-c",
         f"print('inside', __restricted__)\n"
         f"try:\n    open({secret!r}).read()\n"
         f"except Exception as exc:\n    print('denied', type(exc).__name__)"],
        ["inside True", "denied SandboxError"], env=env)
    check(build, "the canary's content did not appear",
          "canary-7d1f" not in out)
    run_checked(build, "the demo (examples/demo.py)",
                [COMMAND, "-I", os.path.join(EXAMPLES, "demo.py")],
                ["hello from inside, __restricted__ = True",
                 "/etc/passwd: SandboxError"], env=env)
    flags = subprocess.run(["pkg-config", "--cflags", "--libs",
                            "python-3.13-untrusted-embed"], text=True,
                           capture_output=True)
    check(build, "pkg-config knows python-3.13-untrusted-embed",
          flags.returncode == 0, flags.stderr)
    program = os.path.join(tmp, "sandbox-embed")
    run_checked(build, "the embedding example compiles with pkg-config",
                ["cc", "-Werror", os.path.join(EXAMPLES, "sandbox-embed.c"),
                 *flags.stdout.split(), "-o", program], [])
    run_checked(build, "the embedding example runs an untrusted plugin",
                [program], ["result: {'area': 42, 'unit': 'm2'}",
                           "raised: ZeroDivisionError"], env=env, cwd=tmp)
    check(build, "the postinst compiled the standard library's bytecode",
          have_caches())
    run_checked(build, "no user site-packages (Debian's python3.13's)",
                [COMMAND, "-c", "import site, sys; "
                 "print(site.ENABLE_USER_SITE, sys.flags.no_user_site)"],
                ["False 0"], env=env)


def have_caches():
    caches = os.path.join(PREFIX, "lib", "python3.13", "__pycache__")
    return os.path.isdir(caches) and any(
        n.startswith("os.cpython-313") for n in os.listdir(caches))


def install_test(build, debs):
    if os.geteuid() != 0:
        raise build.SetupError("--install-test installs the packages with "
                               "apt-get: run it as root (CI does)")
    present = [p for p in PACKAGES if installed(p)]
    if present:
        raise build.SetupError(
            f"{', '.join(present)} already installed; the install test "
            f"would replace and then purge it: remove it first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    build.log(f"installing {', '.join(os.path.basename(d) for d in debs)}")
    files = {}
    try:
        build.run(["apt-get", "install", "-y", "-q",
                   "--no-install-recommends"] + debs, env=env,
                  what="apt-get install of the packages", quiet=True)
        for package in PACKAGES:
            listing = subprocess.run(["dpkg-query", "-L", package],
                                     text=True, capture_output=True,
                                     check=True).stdout.split("\n")
            files[package] = [f for f in listing if f.startswith("/")]
        shipped = {f for fs in files.values() for f in fs}
        check(build, "nothing shadows Debian's python3 or python3.13",
              not shipped & {"/usr/bin/python3", "/usr/bin/python3.13",
                             "/usr/bin/python", "/usr/lib/python3.13",
                             "/usr/include/python3.13"})
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            exercise(build, tmp)
        stdlib = [d for d in debs if os.path.basename(d).startswith(
            "libpython3.13-untrusted-stdlib_")]
        build.run(["apt-get", "install", "-y", "-q", "--reinstall"] + stdlib,
                  env=env, what="apt-get install --reinstall", quiet=True)
        check(build, "a reinstalled standard library gets its caches again "
                     "(the trigger)", have_caches())
    finally:
        build.log("purging the packages")
        subprocess.run(["apt-get", "purge", "-y", "-q"]
                       + [p for p in PACKAGES if installed(p)], env=env,
                       stdout=subprocess.DEVNULL)
    left = [p for p in PACKAGES if installed(p)]
    check(build, "the packages are gone", not left, ", ".join(left))
    # Directories that other packages own too (/usr, /usr/bin,
    # /usr/share/lintian/overrides, ...) stay; nothing else of theirs may.
    existing = sorted({f for fs in files.values() for f in fs
                       if os.path.lexists(f) and f not in ("/", "/.")})
    shared = owned_by_installed_packages(
        [f for f in existing if os.path.isdir(f) and not os.path.islink(f)])
    remaining = [f for f in existing if f not in shared]
    check(build, f"nothing of them is left ({sum(map(len, files.values()))}"
                 f" paths checked)", not remaining and not os.path.exists(
                     PREFIX), ", ".join(remaining[:5]))


def owned_by_installed_packages(paths):
    """Those of *paths* that an installed package owns (dpkg -S)."""
    if not paths:
        return set()
    proc = subprocess.run(["dpkg-query", "-S", *paths], text=True,
                          capture_output=True)
    owned = set()
    for line in proc.stdout.splitlines():
        packages, _, path = line.partition(": ")
        if path and not set(packages.split(", ")) & set(PACKAGES):
            owned.add(path)
    return owned
