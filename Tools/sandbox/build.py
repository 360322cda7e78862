#!/usr/bin/env python3
"""Build CPython with untrusted interpreters from the pinned upstream release.

The repository holds only our work: overlay files at their upstream paths
and a quilt patch series.  This script obtains and verifies the upstream
tarball, assembles the source tree under build/src, builds the variants out
of tree, and runs the tests.  Run "build.py --help" for the commands.
"""

import argparse
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

VERSION = "3.13.5"
SHA256 = "93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640"
TARBALL_NAME = f"Python-{VERSION}.tar.xz"
DEBIAN_SOURCE = "python3.13"
DEBIAN_SUITE = "trixie"
DEBIAN_ORIG = f"python3.13_{VERSION}.orig.tar.xz"

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Top-level directories of the repository that are copied into the tree.
OVERLAY_DIRS = ("Include", "Python", "Modules", "Lib", "Doc", "Tools")

# Build variants: directory name under build/ and the configure options.
VARIANTS = {
    "untrusted": ["--with-untrusted"],
    "trusted": [],
    "debug": ["--with-untrusted", "--with-pydebug"],
    # AddressSanitizer, for the fuzzer (Tools/sandbox/fuzz.py).  Not
    # --with-address-sanitizer: in 3.13 it also turns pymalloc off
    # (configure.ac: 'with_pymalloc="no"'), and untrusted interpreters
    # need pymalloc (their memory cap, their heap freed at their end), so
    # none could be created.  The same compiler and linker flags, given
    # directly, keep pymalloc (obmalloc.c's address_in_range is exempt
    # from ASan); ASan then checks what malloc allocates (objects and
    # buffers over 512 bytes, raw allocations, C libraries), and the
    # fuzzer runs it with PYTHONMALLOC=pymalloc_debug for the rest.  -O1
    # (after upstream's -O3, so it wins), as ASan's manual advises:
    # compiling takes less than half as long, so CI can afford it.  The
    # build runs ./python, so ASAN_OPTIONS applies (below).
    "asan": ["--with-untrusted",
             "CFLAGS=-fsanitize=address -fno-omit-frame-pointer -O1",
             "LDFLAGS=-fsanitize=address"],
    # Release builds as distributors make them (Debian's python3.13 is
    # built with PGO and LTO), flag on and flag off, for the benchmarks
    # (Tools/sandbox/bench.py build / pyperformance).  make runs the
    # profile task (regrtest --pgo) and compiles everything twice.
    "release-untrusted": ["--with-untrusted", "--enable-optimizations",
                          "--with-lto"],
    "release-trusted": ["--enable-optimizations", "--with-lto"],
}

# Variants whose make runs a profile task: their profile is made again
# when the assembled tree changed since it was made.
PGO_VARIANTS = ("release-untrusted", "release-trusted")

# What "build.py test" builds (and CI with it): every variant but the
# release builds, which take ~20 minutes each and serve the benchmarks.
TEST_VARIANTS = tuple(v for v in VARIANTS if v not in PGO_VARIANTS)

# What an ASan build runs with, during make and after, unless the caller
# set ASAN_OPTIONS: upstream's CI settings.  No leak report at exit (an
# interpreter frees little at exit by design), NULL from a huge malloc
# (a MemoryError, as without ASan), and faulthandler's own SIGSEGV handler.
ASAN_OPTIONS = "detect_leaks=0:allocator_may_return_null=1:handle_segv=0"

# Debian packages needed to build every stdlib extension module, and the
# tools this script uses.  (libmpdec is bundled by CPython 3.13.)
DEB_PACKAGES = [
    "build-essential", "pkg-config", "autoconf", "autoconf-archive",
    "quilt", "ccache", "xz-utils", "libssl-dev", "libffi-dev",
    "libsqlite3-dev", "libreadline-dev", "libncurses-dev", "libbz2-dev",
    "liblzma-dev", "zlib1g-dev", "uuid-dev", "libgdbm-dev",
    "libgdbm-compat-dev", "libexpat1-dev", "tk-dev", "libseccomp-dev",
    "debian-archive-keyring",
]

# Python packages for the test and documentation environments.
TOOL_REQUIREMENTS = ["tox>=4.11,<5"]


class SetupError(Exception):
    """A failure explained to the user in one paragraph, without traceback."""


def log(msg):
    print(f"[build] {msg}", flush=True)


def run(cmd, cwd=None, env=None, what=None, quiet=False, logfile=None):
    """Run a command; raise SetupError naming *what* when it fails.

    quiet: keep the output, and show its end only if the command fails.
    logfile: also write the output there (and name it in the error)."""
    if not quiet:
        log("$ " + " ".join(shlex.quote(str(c)) for c in cmd))
    capture = quiet or logfile
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None,
                              text=True, errors="replace")
    except FileNotFoundError:
        raise SetupError(f"{cmd[0]} is not installed; run "
                         f"'{sys.argv[0]} deps' to install the build "
                         f"dependencies.")
    if logfile:
        with open(logfile, "w") as f:
            f.write(proc.stdout)
        if not quiet:
            sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        detail = ""
        if quiet and proc.stdout:
            tail = proc.stdout.strip().splitlines()[-8:]
            detail = " Its last output was:\n    " + "\n    ".join(tail)
        if logfile:
            detail += f"\nThe whole output is in {logfile}."
        raise SetupError(f"{what or cmd[0]} failed (exit status "
                         f"{proc.returncode}).{detail}")
    return proc


# Lines of make's output that start a stage of a PGO build, and its name.
PGO_STAGES = (
    ("Running code to generate profile data",
     "compiling with profile instrumentation"),
    ("-m test --pgo", "running the profile task (regrtest --pgo)"),
    ("Rebuilding with profile guided optimizations",
     "compiling with the profile and LTO"),
)


def default_sigint():
    """In make's process: SIGINT back to its default action.  A shell
    starts a command run in the background ("&") with SIGINT ignored, and
    the children inherit that; Python then raises no KeyboardInterrupt,
    and the profile task's test_generators (which raises SIGINT in
    itself) fails, failing the build."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_stages(cmd, cwd, env, what, logfile, stages):
    """Run make writing its output to *logfile* as it comes, and say
    when each of *stages* begins (a line of the output that contains its
    marker) and how long the previous one took."""
    start = last = time.monotonic()
    current = "configured build"
    with open(logfile, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, text=True,
                                errors="replace", stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                preexec_fn=default_sigint)
        tail = []
        for line in proc.stdout:
            out.write(line)
            tail = (tail + [line.rstrip("\n")])[-8:]
            for marker, name in stages:
                if marker in line:
                    now = time.monotonic()
                    log(f"  {current}: {now - last:.0f} s; now {name}")
                    current, last = name, now
                    break
        code = proc.wait()
    now = time.monotonic()
    if code != 0:
        raise SetupError(f"{what} failed (exit status {code}) after "
                         f"{now - start:.0f} s. Its last output was:\n    "
                         + "\n    ".join(tail)
                         + f"\nThe whole output is in {logfile}.")
    log(f"  {current}: {now - last:.0f} s")


def paths(args):
    build = os.path.abspath(args.build_dir)
    return {
        "build": build,
        "src": os.path.join(build, "src"),
        "stamp": os.path.join(build, "src.stamp"),
        "manifest": os.path.join(build, "src.manifest"),
    }


def read_text(path):
    """The content of a small file, or None if it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- deps

def missing_packages():
    if shutil.which("dpkg-query") is None:
        return None
    missing = []
    for pkg in DEB_PACKAGES:
        proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                              stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
        if "install ok installed" not in proc.stdout:
            missing.append(pkg)
    return missing


def cmd_deps(args):
    missing = missing_packages()
    if missing is None:
        log("not a Debian system: make sure a C compiler, quilt and the "
            "development headers CPython needs are installed")
        return
    if not missing:
        log("build dependencies: all installed")
        return
    install = ["apt-get", "install", "-y", "--no-install-recommends"] + missing
    if os.geteuid() != 0:
        raise SetupError(
            "These Debian packages are needed to build: "
            f"{' '.join(missing)}. Install them with:\n    sudo apt-get update "
            f"&& sudo {' '.join(install)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing build dependencies: {' '.join(missing)}")
    run(["apt-get", "update", "-q"], env=env, what="apt-get update",
        quiet=True)
    run(install + ["-q"], env=env, what="apt-get install", quiet=True)


# ---------------------------------------------------------------- fetch

def cache_dir():
    base = (os.environ.get("SANDBOX_CACHE_DIR")
            or os.path.join(os.environ.get("XDG_CACHE_HOME")
                            or os.path.expanduser("~/.cache"),
                            "cpython-untrusted"))
    return os.path.abspath(base)


def check_tarball(path):
    if not os.path.isfile(path):
        raise SetupError(f"The tarball {path} does not exist. Pass the path "
                         f"of {TARBALL_NAME} downloaded from python.org, or "
                         f"leave out --tarball to fetch Debian's copy.")
    digest = sha256_of(path)
    if digest != SHA256:
        raise SetupError(
            f"The tarball {path} has sha256 {digest}, but CPython {VERSION} "
            f"({TARBALL_NAME}) has sha256 {SHA256}. It is another release "
            f"or a damaged download, and nothing was built from it. "
            f"Download {TARBALL_NAME} again from python.org and pass it with "
            f"--tarball, or leave out --tarball to fetch Debian's copy.")


def apt_source_files(etc="/etc/apt"):
    files = []
    if os.path.isfile(os.path.join(etc, "sources.list")):
        files.append(os.path.join(etc, "sources.list"))
    parts = os.path.join(etc, "sources.list.d")
    if os.path.isdir(parts):
        files += [os.path.join(parts, n) for n in sorted(os.listdir(parts))
                  if n.endswith((".list", ".sources"))]
    return files


def debian_archive(files):
    """The Debian archive address and keyring named in apt source *files*.

    Sources of a Debian release suite count (not -security or -updates);
    among them, the first whose address looks like a Debian mirror (its
    path ends in /debian) wins over third-party repositories that reuse
    Debian's suite names."""
    found = []
    codenames = {"buster", "bullseye", "bookworm", "trixie", "forky", "sid",
                 "stable", "testing", "unstable", "oldstable"}
    for name in files:
        try:
            with open(name, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        if name.endswith(".sources"):
            # deb822: stanzas separated by blank lines.
            for stanza in text.split("\n\n"):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line:
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.strip()
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                suites = fields.get("suites", "").split()
                if codenames & set(suites) and fields.get("uris"):
                    found.append((fields["uris"].split()[0],
                                  fields.get("signed-by")))
        else:
            for line in text.splitlines():
                words = line.split("#")[0].split()
                if len(words) < 3 or words[0] not in ("deb", "deb-src"):
                    continue
                keyring = None
                rest = words[1:]
                if rest[0].startswith("["):
                    # Options: "[arch=amd64 signed-by=/path]".
                    opts = []
                    while rest:
                        word = rest.pop(0)
                        opts.append(word)
                        if word.endswith("]"):
                            break
                    for opt in " ".join(opts).strip("[] ").split():
                        if opt.startswith("signed-by="):
                            keyring = opt.split("=", 1)[1]
                if len(rest) >= 2 and rest[1] in codenames:
                    found.append((rest[0], keyring))
    for uri, keyring in found:
        if uri.rstrip("/").endswith("/debian"):
            return uri, keyring
    return found[0] if found else (None, None)


def fetch_from_debian(dest):
    """Download the orig tarball with apt-get under a private configuration."""
    if shutil.which("apt-get") is None:
        raise SetupError(
            f"apt-get is not available, so Debian's copy of CPython {VERSION} "
            f"cannot be fetched. Download {TARBALL_NAME} from python.org and "
            f"pass it with --tarball PATH (or set SANDBOX_TARBALL).")
    uri, keyring = debian_archive(apt_source_files())
    if uri is None:
        raise SetupError(
            "No Debian archive is configured in /etc/apt/sources.list or "
            "/etc/apt/sources.list.d, so the address to fetch CPython "
            f"{VERSION} from is unknown. Download {TARBALL_NAME} from "
            "python.org and pass it with --tarball PATH (or set "
            "SANDBOX_TARBALL).")
    if not keyring or not os.path.exists(keyring):
        keyring = "/usr/share/keyrings/debian-archive-keyring.gpg"
    with tempfile.TemporaryDirectory(prefix="apt-", dir=dest) as tmp:
        for sub in ("lists/partial", "cache/archives/partial", "sources",
                    "prefs", "download"):
            os.makedirs(os.path.join(tmp, sub))
        with open(os.path.join(tmp, "sources", "upstream.sources"), "w") as f:
            f.write(f"Types: deb-src\nURIs: {uri}\nSuites: {DEBIAN_SUITE}\n"
                    f"Components: main\nSigned-By: {keyring}\n")
        opts = {
            "Dir::Etc::SourceList": "/dev/null",
            "Dir::Etc::SourceParts": os.path.join(tmp, "sources"),
            "Dir::Etc::Preferences": "/dev/null",
            "Dir::Etc::PreferencesParts": os.path.join(tmp, "prefs"),
            "Dir::State::Lists": os.path.join(tmp, "lists"),
            "Dir::Cache": os.path.join(tmp, "cache"),
            "APT::Get::Only-Source": "true",
            # Don't run the system's apt hooks (cache cleaners, ...).
            "APT::Update::Pre-Invoke::": "",
            "APT::Update::Post-Invoke::": "",
            "APT::Update::Post-Invoke-Success::": "",
        }
        if os.geteuid() == 0:
            # The private directories are root's; don't switch to _apt.
            opts["APT::Sandbox::User"] = "root"
        else:
            opts["Debug::NoLocking"] = "true"
        apt = ["apt-get", "-q"]
        for k, v in opts.items():
            apt += ["-o", f"{k}={v}"]
        hint = (f"download {TARBALL_NAME} from python.org and pass it with "
                f"--tarball PATH (or set SANDBOX_TARBALL).")
        log(f"fetching {DEBIAN_SOURCE} from {DEBIAN_SUITE} at {uri}")
        try:
            run(apt + ["update", "--error-on=any"], quiet=True,
                what=f"Reading the {DEBIAN_SUITE} source index from {uri}")
        except SetupError as e:
            raise SetupError(f"{e}\nCheck the network and the proxy "
                             f"settings of apt (and, for a signature error, "
                             f"update debian-archive-keyring), or {hint}"
                             ) from None
        try:
            run(apt + ["source", "--download-only", DEBIAN_SOURCE],
                cwd=os.path.join(tmp, "download"), quiet=True,
                what=f"Downloading the {DEBIAN_SOURCE} source package")
        except SetupError as e:
            raise SetupError(f"{e}\nDebian's {DEBIAN_SUITE} may no longer "
                             f"carry {DEBIAN_SOURCE} {VERSION}, or the "
                             f"network failed; {hint}") from None
        got = os.path.join(tmp, "download", DEBIAN_ORIG)
        if not os.path.isfile(got):
            raise SetupError(
                f"Debian's {DEBIAN_SOURCE} source package in {DEBIAN_SUITE} "
                f"no longer ships {DEBIAN_ORIG} (it moved to another "
                f"release); {hint}")
        check_tarball(got)
        final = os.path.join(dest, TARBALL_NAME)
        os.replace(got, final)
    return final


def cmd_fetch(args):
    """Return the path of a verified upstream tarball, fetching if needed."""
    given = args.tarball or os.environ.get("SANDBOX_TARBALL")
    if given:
        path = os.path.abspath(given)
        check_tarball(path)
        return path
    dest = cache_dir()
    cached = os.path.join(dest, TARBALL_NAME)
    if os.path.isfile(cached):
        if sha256_of(cached) == SHA256:
            return cached
        log(f"cached {cached} is damaged; fetching it again")
        os.unlink(cached)
    try:
        os.makedirs(dest, exist_ok=True)
    except OSError as e:
        raise SetupError(f"Cannot create the cache directory {dest}: "
                         f"{e.strerror}. Set SANDBOX_CACHE_DIR to a "
                         f"writable directory.")
    path = fetch_from_debian(dest)
    log(f"cached {path}")
    return path


# ---------------------------------------------------------------- assemble

def series():
    names = []
    with open(os.path.join(ROOT, "patches", "series")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                names.append(line.split()[0])
    return names


def overlay_files():
    """Our files to copy into the tree, as paths relative to ROOT."""
    out = []
    for top in OVERLAY_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(".pyc"):
                    continue
                out.append(os.path.relpath(os.path.join(dirpath, name), ROOT))
    return out


def inputs_digest(tarball):
    """A digest of everything the assembled tree is made from."""
    h = hashlib.sha256(SHA256.encode())
    h.update(os.path.abspath(tarball).encode())
    for name in ["series"] + series():
        h.update(name.encode())
        try:
            with open(os.path.join(ROOT, "patches", name), "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
        except FileNotFoundError:
            raise SetupError(
                f"patches/series names {name}, but patches/{name} does not "
                f"exist. After 'quilt new', save the patch with "
                f"'{sys.argv[0]} refresh'; or remove the name from "
                f"patches/series.") from None
    for rel in overlay_files():
        h.update(rel.encode())
        with open(os.path.join(ROOT, rel), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def tree_digests(top):
    """Map relative path -> sha256 for every file (and symlink) in *top*."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        if rel_dir == ".":
            # quilt's state is rebuilt with the tree; the patches link is ours.
            dirnames[:] = [d for d in dirnames if d not in (".pc", "patches")]
        # Bytecode caches that running the build writes next to Lib/.
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if os.path.islink(full):
                out[rel] = "link:" + os.readlink(full)
            else:
                out[rel] = sha256_of(full)
    return out


def read_manifest(path):
    out = {}
    if os.path.isfile(path):
        with open(path) as f:
            for line in f:
                digest, _, rel = line.rstrip("\n").partition(" ")
                out[rel] = digest
    return out


def quilt_env(src):
    env = dict(os.environ)
    env.update({
        "QUILT_PATCHES": os.path.join(ROOT, "patches"),
        "QUILT_PC": ".pc",
        # Clean, reproducible patches: a/ b/ prefixes, no timestamps, no
        # "Index:" lines, sorted files; DEP-3 headers are kept by quilt.
        "QUILT_REFRESH_ARGS": "-p ab --no-timestamps --no-index --sort",
        "QUILT_DIFF_ARGS": "-p ab --no-timestamps --no-index --color=auto",
        "QUILT_NO_DIFF_INDEX": "1",
        "QUILT_NO_DIFF_TIMESTAMPS": "1",
        "QUILTRC": "/dev/null",
    })
    return env


def stage_tree(tarball, stage):
    """Extract, overlay and patch into *stage*."""
    log(f"extracting {os.path.basename(tarball)}")
    run(["tar", "-xJf", tarball, "-C", stage, "--strip-components=1"],
        what="Extracting the tarball", quiet=True)
    for rel in overlay_files():
        dest = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), dest)
    env = quilt_env(stage)
    if shutil.which("quilt") is None:
        raise SetupError("quilt is not installed; run "
                         f"'{sys.argv[0]} deps' first.")
    for name in series():
        proc = subprocess.run(["quilt", "push", "--fuzz=0", "-q", name],
                              cwd=stage, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise SetupError(
                f"The patch patches/{name} does not apply to the pristine "
                f"CPython {VERSION} tree after the patches before it in "
                f"patches/series; nothing was changed in the build tree. "
                f"quilt said:\n    "
                + "\n    ".join(proc.stdout.strip().splitlines()[-6:]))
    log(f"applied {len(series())} patches")


def check_all_applied(src):
    """Refuse to build a tree in which a patch was popped with quilt."""
    applied = (read_text(os.path.join(src, ".pc", "applied-patches"))
               or "").split()
    if applied != series():
        missing = [n for n in series() if n not in applied]
        raise SetupError(
            f"build/src is not fully patched: {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not applied (quilt "
            f"pop). Finish the change and run '{sys.argv[0]} refresh', "
            f"then '{sys.argv[0]} quilt push -a'.")


def cmd_assemble(args):
    tarball = cmd_fetch(args)
    p = paths(args)
    digest = inputs_digest(tarball)
    if os.path.isdir(p["src"]) and read_text(p["stamp"]) == digest + "\n":
        check_all_applied(p["src"])
        log("source tree is up to date")
        return p["src"]
    os.makedirs(p["build"], exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stage-", dir=p["build"]) as stage:
        # mkdtemp makes it private; the tree is read by other users too
        # (CPython's tests run the build as "nobody").
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(stage, 0o777 & ~umask)
        stage_tree(tarball, stage)
        new = tree_digests(stage)
        old = read_manifest(p["manifest"])
        cur = tree_digests(p["src"]) if os.path.isdir(p["src"]) else {}
        # A file changed in build/src since we wrote it, that the new tree
        # would overwrite, is someone's unsaved work: stop rather than lose it.
        lost = sorted(rel for rel, d in cur.items()
                      if d != old.get(rel) and d != new.get(rel))
        if lost and not args.discard:
            raise SetupError(
                f"build/src has edits that are in no patch and would be "
                f"lost: {', '.join(lost[:8])}"
                f"{' ...' if len(lost) > 8 else ''}. Save them into a "
                f"patch ('{sys.argv[0]} refresh'), or rerun with --discard "
                f"to throw them away.")
        # From here build/src changes: an interrupted run must not leave a
        # stamp that calls the tree up to date.
        if os.path.exists(p["stamp"]):
            os.unlink(p["stamp"])
        if not os.path.isdir(p["src"]):
            os.replace(stage, p["src"])
            os.makedirs(stage)  # for TemporaryDirectory's cleanup
        else:
            sync_tree(stage, p["src"], new, cur)
        os.makedirs(p["src"], exist_ok=True)
        link = os.path.join(p["src"], "patches")
        if not os.path.islink(link):
            os.symlink(os.path.join(ROOT, "patches"), link)
    with open(p["manifest"] + ".tmp", "w") as f:
        for rel, d in sorted(new.items()):
            f.write(f"{d} {rel}\n")
    os.replace(p["manifest"] + ".tmp", p["manifest"])
    with open(p["stamp"] + ".tmp", "w") as f:
        f.write(digest + "\n")
    os.replace(p["stamp"] + ".tmp", p["stamp"])
    log(f"source tree assembled in {p['src']}")
    return p["src"]


def sync_tree(stage, dest, new, cur):
    """Make *dest* equal to *stage*, touching only files that differ, so
    make rebuilds only what changed."""
    changed = 0
    for rel in cur:
        if rel not in new:
            os.unlink(os.path.join(dest, rel))
            changed += 1
    now = time.time()
    for rel, d in new.items():
        if cur.get(rel) == d:
            continue
        s, t = os.path.join(stage, rel), os.path.join(dest, rel)
        parent = os.path.dirname(t)
        if os.path.isfile(parent) or os.path.islink(parent):
            os.unlink(parent)  # a file became a directory
        os.makedirs(parent, exist_ok=True)
        if os.path.isdir(t) and not os.path.islink(t):
            shutil.rmtree(t)  # a directory became a file
        elif os.path.lexists(t):
            os.unlink(t)
        os.replace(s, t)
        if not os.path.islink(t):
            # tar restores upstream's 2025 times: a file going back to its
            # pristine content must still look newer than its objects.
            os.utime(t, (now, now))
        changed += 1
    # quilt's bookkeeping follows the tree.
    pc = os.path.join(dest, ".pc")
    if os.path.isdir(pc):
        shutil.rmtree(pc)
    if os.path.isdir(os.path.join(stage, ".pc")):
        os.replace(os.path.join(stage, ".pc"), pc)
    log(f"updated {changed} files in {dest}")


# ---------------------------------------------------------------- build

def compiler_env():
    env = dict(os.environ)
    if "CC" not in env and shutil.which("ccache"):
        env["CC"] = "ccache gcc"
    env.setdefault("ASAN_OPTIONS", ASAN_OPTIONS)
    return env


def configure_args(args, variant):
    return VARIANTS[variant] + ["--prefix=" + os.path.join(
        paths(args)["build"], "install", variant)]


def check_modules(variant, logfile):
    """Fail when make dropped an extension module: setup's check prints
    the modules that did not build or did not import, and make still
    succeeds (an undefined symbol went unnoticed that way once)."""
    text = read_text(logfile) or ""
    errors = [line for line in text.splitlines()
              if line.startswith("[ERROR]")]
    if ("could not be imported" in text
            or "Failed to build these modules" in text):
        raise SetupError(
            f"extension modules of the {variant} build failed to build "
            f"or to import (see build/{variant}/make.log):\n    "
            + "\n    ".join(errors or ["(no [ERROR] line)"]))


def build_variant(args, variant, src):
    p = paths(args)
    out = os.path.join(p["build"], variant)
    os.makedirs(out, exist_ok=True)
    conf = configure_args(args, variant)
    stamp = os.path.join(out, "configure.args")
    old = read_text(stamp)
    env = compiler_env()
    start = time.monotonic()
    if old != " ".join(conf) or not os.path.isfile(
            os.path.join(out, "Makefile")):
        log(f"configuring {variant}: {' '.join(conf)}")
        run([os.path.join(src, "configure")] + conf, cwd=out, env=env,
            what=f"configure of the {variant} build (see "
                 f"{out}/config.log)", quiet=True)
        with open(stamp, "w") as f:
            f.write(" ".join(conf))
    if variant in PGO_VARIANTS:
        stale_profile(out, p)
    jobs = str(os.cpu_count() or 2)
    log(f"building {variant} with make -j{jobs} (output in "
        f"build/{variant}/make.log)")
    if variant in PGO_VARIANTS:
        run_stages(["make", f"-j{jobs}"], out, env, f"make in "
                   f"build/{variant}", os.path.join(out, "make.log"),
                   PGO_STAGES)
    else:
        run(["make", f"-j{jobs}"], cwd=out, env=env,
            what=f"make in build/{variant}", quiet=not args.verbose,
            logfile=os.path.join(out, "make.log"))
    check_modules(variant, os.path.join(out, "make.log"))
    if variant != "asan":
        compile_stdlib(out, src)
    log(f"built {variant} in {time.monotonic() - start:.0f} s: "
        f"{out}/python")
    return out


def stale_profile(out, p):
    """make's profile-opt target runs the profile task once
    (profile-run-stamp) and then only recompiles what changed, with the
    old profile.  When the assembled tree is not the one the profile was
    made from, the profile and its stamp go, so that make profiles the
    build again; otherwise the build is reused as it is."""
    tree = compiled_digest(p)
    mark = os.path.join(out, "profile.tree")
    if read_text(mark) == tree:
        return
    if os.path.exists(os.path.join(out, "Makefile")):
        if os.path.exists(os.path.join(out, "profile-gen-stamp")):
            log("the compiled files changed since the profile was made: "
                "profiling again")
        run(["make", "profile-removal"], cwd=out, env=compiler_env(),
            what=f"make profile-removal in {out}", quiet=True)
        # And the instrumented build of a profile task that failed, so
        # that make compiles the changed files into a new one.
        for stamp in ("profile-gen-stamp", "profile-clean-stamp"):
            if os.path.exists(os.path.join(out, stamp)):
                os.unlink(os.path.join(out, stamp))
    with open(mark, "w") as f:
        f.write(tree)


# Folders of the assembled tree whose files are not compiled into the
# interpreter: a change there leaves a profile as good as it was.
NOT_COMPILED = ("Lib/", "Doc/", "Tools/", "Misc/", "tests_sandbox/")


def compiled_digest(p):
    """A digest of the assembled tree's files that the build compiles (or
    that configure and make read), from the manifest of the assembly."""
    h = hashlib.sha256()
    for rel, digest in sorted(read_manifest(p["manifest"]).items()):
        if not rel.startswith(NOT_COMPILED):
            h.update(f"{digest} {rel}\n".encode())
    return h.hexdigest() + "\n"


def compile_stdlib(out, src):
    """The standard library's bytecode caches in the source tree, which
    the build tree's interpreters share, as make install writes them for
    an installation: an untrusted interpreter loads the standard library
    from them (Python/sandbox_bytecode.c) instead of compiling every
    module it imports.  Those up to date are left alone; the tests are
    left out (regrtest compiles what it runs)."""
    run([os.path.join(out, "python"), "-m", "compileall", "-q", "-j0",
         "-o", "0", "-x", "/Lib/(test|idlelib|turtledemo)/",
         os.path.join(src, "Lib")], cwd=out,
        what="the bytecode caches of the standard library (compileall)",
        quiet=True, logfile=os.path.join(out, "compileall.log"))


def selected_variants(args, default):
    names = args.variant or default
    for v in names:
        if v not in VARIANTS:
            raise SetupError(f"unknown variant {v!r}; choose from "
                             f"{', '.join(VARIANTS)}")
    return names


def cmd_build(args):
    cmd_deps(args)
    src = cmd_assemble(args)
    for v in selected_variants(args, ["untrusted", "trusted"]):
        build_variant(args, v, src)


def install_variant(args, variant, src):
    """make install of a built variant into build/install/VARIANT."""
    out = build_variant(args, variant, src)
    log(f"installing {variant} into build/install/{variant}")
    run(["make", "install"], cwd=out, env=compiler_env(),
        what=f"make install in build/{variant}", quiet=not args.verbose,
        logfile=os.path.join(out, "install.log"))


def cmd_install(args):
    cmd_deps(args)
    src = cmd_assemble(args)
    for v in selected_variants(args, ["untrusted"]):
        install_variant(args, v, src)


# What "build.py demo" runs; the Debian packages ship it as an example.
DEMO = os.path.join(ROOT, "Tools", "sandbox", "demo.py")


def cmd_demo(args):
    cmd_deps(args)
    src = cmd_assemble(args)
    out = build_variant(args, "untrusted", src)
    python = os.path.join(out, "python")
    proc = subprocess.run([python, "-I", DEMO])
    return proc.returncode


def tools_python(args):
    """A virtual environment with tox, made by the untrusted build (so the
    tools need nothing from the system's Python but this script)."""
    p = paths(args)
    venv = os.path.join(p["build"], "tools")
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, "requirements.txt")
    base = os.path.join(p["build"], "untrusted", "python")
    if not (os.path.isfile(python)
            and read_text(stamp) == "\n".join(TOOL_REQUIREMENTS)):
        shutil.rmtree(venv, ignore_errors=True)
        run([base, "-m", "venv", venv], what="creating build/tools",
            quiet=True)
        run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + TOOL_REQUIREMENTS, what="pip install of the test tools")
        with open(stamp, "w") as f:
            f.write("\n".join(TOOL_REQUIREMENTS))
    return python


def tox_env(args):
    """The environment tox runs in: where the builds and the tarball are."""
    return dict(os.environ, SANDBOX_BUILD_DIR=paths(args)["build"],
                SANDBOX_TARBALL=cmd_fetch(args))


def cmd_test(args):
    start = time.monotonic()
    timings = []
    results = []

    def stage(what, func, *a):
        t = time.monotonic()
        try:
            return func(*a)
        finally:
            timings.append((what, time.monotonic() - t))

    try:
        stage("dependencies", cmd_deps, args)
        src = stage("fetch and assemble", cmd_assemble, args)
        for v in selected_variants(args, list(TEST_VARIANTS)):
            stage(f"build {v}", build_variant, args, v, src)
        stage("install untrusted", install_variant, args, "untrusted", src)
        python = stage("test tools", tools_python, args)
        status = stage("tox", lambda: subprocess.run(
            [python, "-m", "tox", "-c", os.path.join(ROOT, "tox.ini")]
            + (["-e", args.tox_env] if args.tox_env else []),
            env=tox_env(args), cwd=ROOT).returncode)
        results.append(("tox (tests_sandbox, docs)", status))
        results.append(("compat (the standard library's tests inside)",
                        stage("compat", cmd_compat, args)))
        if not args.no_regrtest:
            results.append(("regrtest", stage("regrtest", cmd_regrtest,
                                              args)))
        if not args.no_packages:
            results.append(("Debian packages (build, lintian, install "
                            "test)", stage("packages", packages_test,
                                           args)))
    finally:
        for what, secs in timings:
            log(f"time: {what}: {secs:.0f} s")
        log(f"time: total: {time.monotonic() - start:.0f} s")
    for what, code in results:
        log(f"result: {what}: {'passed' if code == 0 else 'FAILED'}")
    return max(code for _, code in results)


def packages_test(args):
    """build.py test's last stage: the Debian packages from this checkout
    (without PGO and without their own test run: the same tests ran on
    the build tree), lintian, and, as root, the install test."""
    if not shutil.which("dpkg"):
        log("packages: skipped (not a Debian system)")
        return 0
    if os.geteuid() != 0:
        log("packages: skipped (the install test needs root; run "
            "'build.py deb --install-test' as root)")
        return 0
    deb_args = argparse.Namespace(**vars(args))
    deb_args.__dict__.update(nocheck=True, nopgo=True, install_test=True,
                             allow_dirty=True, output=None, deb_output=None)
    try:
        return cmd_deb(deb_args)
    except SetupError as exc:
        log(f"packages: {exc}")
        return 1


def cmd_compat(args):
    """CPython's tests of the standard library's pure-computation modules,
    inside untrusted interpreters of build/untrusted; fails on a failure
    that Doc/sandbox/compatibility.rst does not explain
    (Tools/sandbox/compat.py)."""
    python = os.path.join(paths(args)["build"], "untrusted", "python")
    if not os.path.isfile(python):
        raise SetupError("build/untrusted/python does not exist; run "
                         f"'{sys.argv[0]} build' first.")
    script = os.path.join(ROOT, "Tools", "sandbox", "compat.py")
    return subprocess.run([sys.executable, script, "--python", python]
                          + list(getattr(args, "modules", []) or [])).returncode


# Upstream test files gated by the "network" resource that talk to loopback
# only, so they run here although the resource is off for the rest.
LOOPBACK_NETWORK_TESTS = ["test_socketserver"]


def regrtest_exclusions():
    names = []
    with open(os.path.join(ROOT, "Tools", "sandbox",
                           "regrtest-exclude.txt")) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if line:
                names.append(line)
    return names


def cmd_regrtest(args):
    """CPython's own suite on the flag-on build, minus known environment
    failures (Tools/sandbox/regrtest-exclude.txt)."""
    p = paths(args)
    python = os.path.join(p["build"], "untrusted", "python")
    if not os.path.isfile(python):
        raise SetupError("build/untrusted/python does not exist; run "
                         f"'{sys.argv[0]} build' first.")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(regrtest_exclusions()) + "\n")
        ignore = f.name
    jobs = str((os.cpu_count() or 2) + 1)
    # As "make test" (--fast-ci: every resource but cpu, randomized order,
    # failures rerun once), minus the resources that reach the internet:
    # tests here talk to loopback only.
    base = [python, "-m", "test", "--fast-ci", f"-j{jobs}",
            "--ignorefile", ignore]
    runs = [base + ["--use=all,-cpu,-network,-urlfetch"] + args.tests]
    if not args.tests:
        # Tests gated by the network resource that use loopback only.
        runs.append(base + ["--use=network"] + LOOPBACK_NETWORK_TESTS)
    # A neutral environment, as upstream's CI has: PYTHON* variables of the
    # caller (PYTHONUNBUFFERED, PYTHONDONTWRITEBYTECODE, ...) change what
    # child interpreters do and fail tests that check the defaults.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTHON")}
    status = 0
    try:
        for cmd in runs:
            log("$ " + " ".join(cmd))
            status = max(status, subprocess.run(
                cmd, env=env, cwd=os.path.join(p["build"], "untrusted")
            ).returncode)
    finally:
        os.unlink(ignore)
    return status


def cmd_quilt(args):
    """Run quilt in build/src with the project's settings."""
    src = paths(args)["src"]
    if not os.path.isdir(src):
        raise SetupError("build/src is not assembled yet; run "
                         f"'{sys.argv[0]} assemble' first.")
    if shutil.which("quilt") is None:
        raise SetupError("quilt is not installed; run "
                         f"'{sys.argv[0]} deps' first.")
    return subprocess.run(["quilt"] + args.quilt_args, cwd=src,
                          env=quilt_env(src)).returncode


def cmd_refresh(args):
    args.quilt_args = ["refresh"] + args.quilt_args
    return cmd_quilt(args)


REGEN_PATCH = "9000-build-regenerate-configure.patch"


def cmd_regen_configure(args):
    """Regenerate configure and pyconfig.h.in into their own patch."""
    src = cmd_assemble(args)
    env = quilt_env(src)
    top = subprocess.run(["quilt", "top"], cwd=src, env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if top.stdout.strip() != REGEN_PATCH or series()[-1] != REGEN_PATCH:
        raise SetupError(f"patches/{REGEN_PATCH} must be the last patch in "
                         "patches/series and applied in build/src (quilt "
                         "push -a).")
    # Plain autoconf with upstream's aclocal.m4 reproduces upstream's
    # configure byte for byte, so the patch holds only our changes.
    run(["autoconf"], cwd=src, what="autoconf")
    run(["autoheader"], cwd=src, what="autoheader")
    shutil.rmtree(os.path.join(src, "autom4te.cache"), ignore_errors=True)
    for junk in ("configure~", "pyconfig.h.in~"):
        if os.path.exists(os.path.join(src, junk)):
            os.unlink(os.path.join(src, junk))
    return subprocess.run(["quilt", "refresh"], cwd=src, env=env).returncode


def cmd_docs(args):
    cmd_deps(args)
    build_variant(args, "untrusted", cmd_assemble(args))
    python = tools_python(args)
    return subprocess.run([python, "-m", "tox", "-c",
                           os.path.join(ROOT, "tox.ini"), "-e", "docs"],
                          env=tox_env(args), cwd=ROOT).returncode


def cmd_dist(args):
    """The release source tarball (Tools/sandbox/release.py)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import release
    release.cmd_dist(sys.modules[__name__], args)
    return 0


def cmd_deb(args):
    """The Debian packages (Tools/sandbox/debpackage.py)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import debpackage
    return debpackage.cmd_deb(sys.modules[__name__], args)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="build.py",
        description=f"Build CPython {VERSION} with untrusted interpreters "
                    "from the pinned upstream tarball, our overlay files and "
                    "patches/series, and test it.",
        epilog="Start with 'build.py demo' (build the flag-on interpreter "
               "and run the demo) or 'build.py test' (build everything and "
               "run every test). Environment: SANDBOX_TARBALL, "
               "SANDBOX_CACHE_DIR, SANDBOX_BUILD_DIR, CC (default 'ccache "
               "gcc' when ccache is installed). See Doc/sandbox/building.rst.")
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s for CPython {VERSION} "
                                f"(sha256 {SHA256})")
    parser.add_argument("--build-dir", default=os.environ.get(
        "SANDBOX_BUILD_DIR", os.path.join(ROOT, "build")),
        help="where the assembled tree and builds go (default: build/)")
    parser.add_argument("--tarball", help=f"use this {TARBALL_NAME} instead "
                        "of fetching Debian's copy (also SANDBOX_TARBALL)")
    parser.add_argument("--discard", action="store_true",
                        help="let assembly overwrite edits in build/src that "
                        "are in no patch")
    parser.add_argument("--verbose", action="store_true",
                        help="show the output of configure and make")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name, func, help):
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    add("deps", cmd_deps, "check the build dependencies; install them with "
        "apt-get when run as root, else print the command")
    add("fetch", cmd_fetch, f"obtain and verify the CPython {VERSION} "
        "tarball (cached in SANDBOX_CACHE_DIR or ~/.cache/cpython-untrusted)")
    add("assemble", cmd_assemble, "extract the tarball into build/src, "
        "copy the overlay in and apply patches/series")
    for name, func, help in [
            ("build", cmd_build, "assemble and build variants out of tree "
             "(default: untrusted and trusted; 'asan' is --with-untrusted "
             "built with AddressSanitizer, pymalloc kept, the fuzzer's "
             "child host, see Tools/sandbox/fuzz.py)"),
            ("install", cmd_install, "build and 'make install' a variant "
             "into build/install/VARIANT (default: untrusted)")]:
        b = add(name, func, help)
        b.add_argument("variant", nargs="*",
                       help=f"one of {', '.join(VARIANTS)}")
    add("demo", cmd_demo, "build the flag-on interpreter and run the demo")
    t = add("test", cmd_test, "build the variants "
            + ", ".join(TEST_VARIANTS) + " (not the release ones), run the "
            "pytest suite and the docs build through tox, the standard library's tests "
            "inside untrusted interpreters (compat), CPython's "
            "regression suite, then, as root, the Debian packages (build.py "
            "deb --install-test)")
    t.add_argument("variant", nargs="*", help=argparse.SUPPRESS)
    t.add_argument("--tox-env", help="run only this tox environment")
    t.add_argument("--no-regrtest", action="store_true",
                   help="skip CPython's regression suite")
    t.add_argument("--no-packages", action="store_true",
                   help="skip the Debian packages' build and install test "
                        "(done as root only)")
    t.set_defaults(tests=[])
    r = add("regrtest", cmd_regrtest, "run CPython's regression suite on "
            "build/untrusted, minus Tools/sandbox/regrtest-exclude.txt")
    r.add_argument("tests", nargs="*", help="test names (default: all)")
    c = add("compat", cmd_compat, "run CPython's tests of the standard "
            "library's pure-computation modules inside untrusted "
            "interpreters (Tools/sandbox/compat.py); fail on a failure that "
            "Doc/sandbox/compatibility.rst does not explain")
    c.add_argument("modules", nargs="*",
                   help="test modules (default: the whole list)")
    q = add("quilt", cmd_quilt, "run quilt in build/src with the project's "
            "settings, e.g. 'quilt new 0175-area-untrusted-what.patch'")
    q.add_argument("quilt_args", nargs=argparse.REMAINDER)
    f = add("refresh", cmd_refresh, "save the edits of the topmost applied "
            "patch in build/src into patches/ (quilt refresh)")
    f.add_argument("quilt_args", nargs=argparse.REMAINDER)
    add("regen-configure", cmd_regen_configure, "regenerate configure and "
        f"pyconfig.h.in from configure.ac into patches/{REGEN_PATCH}")
    add("docs", cmd_docs, "build the documentation with warnings as errors")
    d = add("dist", cmd_dist, "write the release source tarball "
            "Python-VERSION+untrusted.N.tar.xz of the assembled tree "
            "(reproducible: SOURCE_DATE_EPOCH, default the commit's time) "
            "and its .sha256, into build/dist; it builds with "
            "'./configure --with-untrusted && make' without this "
            "repository")
    d.add_argument("--output", metavar="DIR",
                   help="where to write it (default: build/dist)")
    d.add_argument("--allow-dirty", action="store_true",
                   help="make it from a checkout with uncommitted changes "
                        "(not a release)")
    b = add("deb", cmd_deb, "build the Debian source package and the "
            "binary packages python3.13-untrusted, "
            "libpython3.13-untrusted-stdlib and python3.13-untrusted-dev "
            "from the release tarball (build.py dist) with "
            "dpkg-buildpackage and Tools/sandbox/debian/, into build/deb, "
            "and check them with lintian (an error fails); as root, the "
            "build dependencies are installed with apt-get build-dep")
    b.add_argument("--nocheck", action="store_true",
                   help="do not run the test suite in the package build "
                        "(DEB_BUILD_OPTIONS=nocheck)")
    b.add_argument("--nopgo", action="store_true",
                   help="build without --enable-optimizations --with-lto "
                        "(DEB_BUILD_OPTIONS=nopgo): about a third of the "
                        "time, for trying the packaging")
    b.add_argument("--install-test", action="store_true",
                   help="then, as root, install the packages with apt-get, "
                        "run python3.13-untrusted -m sandbox, the demo and "
                        "the embedding example built with pkg-config, purge "
                        "them and check that nothing of them is left")
    b.add_argument("--allow-dirty", action="store_true",
                   help="build from a checkout with uncommitted changes "
                        "(not a release)")
    b.add_argument("--output", dest="deb_output", metavar="DIR",
                   help="where to build (default: build/deb); what an "
                        "earlier run made there is replaced")
    b.set_defaults(output=None)
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(ROOT, "patches", "series")):
        print(f"error: {ROOT} is not a checkout of the project "
              "(patches/series is missing)", file=sys.stderr)
        return 1
    try:
        result = args.func(args)
    except SetupError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        # Disk full, a directory that is not writable, ...: say which file.
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}. Nothing was lost: fix "
              f"the cause and run the command again.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
