"""The demo: an untrusted script in an untrusted interpreter, what it was
granted and what it was denied.  Run with the flag-on interpreter:

    python3.13-untrusted -I demo.py     (or: Tools/sandbox/build.py demo)
"""

import builtins, os, sys, sysconfig, tempfile, textwrap
flag = sysconfig.get_config_var("Py_UNTRUSTED")
print(f"CPython {sys.version.split()[0]} with untrusted interpreters")
print(f"  configure --with-untrusted: {'yes' if flag else 'no'} "
      f"(Py_UNTRUSTED={flag})")
print(f"  __restricted__ in the main interpreter: {builtins.__restricted__}")
import sandbox
data = tempfile.mkdtemp(prefix="sandbox-demo-")
with open(os.path.join(data, "notes.txt"), "w") as f:
    f.write("granted to the script")
policy = sandbox.Policy(threads=1, read=[data])
print(f"  the policy: {policy!r} (not enforced yet: "
      f"{', '.join(policy.unenforced())})")
SCRIPT = textwrap.dedent(f'''
    import threading
    print("hello from inside, __restricted__ =", __restricted__)
    print("a granted read:", open({os.path.join(data, "notes.txt")!r}).read())
    try:
        open("/etc/passwd")             # not granted: denied
    except PermissionError as exc:
        print("/etc/passwd:", type(exc).__name__)
    gate = threading.Event()
    first = threading.Thread(target=gate.wait)
    first.start()                       # granted: one thread
    try:
        threading.Thread(target=print).start()
    except PermissionError as exc:      # a second one at once: denied
        print("a second thread:", type(exc).__name__)
    gate.set(); first.join()
    try:
        import _interpreters            # a trusted interpreter: no
    except ImportError as exc:
        print("_interpreters:", type(exc).__name__)
''')
with sandbox.Interpreter(policy) as interp:
    result = interp.run(SCRIPT, filename="demo.py")
os.remove(os.path.join(data, "notes.txt"))
os.rmdir(data)
print("  an untrusted script printed (captured in C):")
for line in result.stdout.splitlines():
    print("    " + line)
print("  and the host's log of its denials:")
for denial in result.denials:
    print(f"    {denial.resource} at {denial.location}: {denial.detail}")
