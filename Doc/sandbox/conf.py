# Sphinx configuration for the untrusted-interpreter pages.
#
# Run from the repository root, which holds only our pages under Doc/:
#     sphinx-build -W -c Doc/sandbox -b html Doc build/docs
# tox -e docs does this.  The pages use only directives of plain Sphinx and
# upstream's audit-event directives, which audit_event_directives.py
# provides here, so they also build inside upstream's Doc/ tree.

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
extensions = ["audit_event_directives"]

project = "CPython with untrusted interpreters"
copyright = "2026, the untrusted-interpreter contributors"
version = release = "3.13.5"
root_doc = "sandbox/index"
exclude_patterns = ["sandbox/conf.py"]
highlight_language = "python3"
primary_domain = "py"
nitpicky = True
html_theme = "alabaster"
html_title = project

# References to the rest of the standard library's documentation resolve in
# upstream's Doc/ tree, which this standalone build does not have.
nitpick_ignore_regex = [
    (r"py:(mod|func|data|class|exc)", r"(sys|sysconfig|builtins)(\..*)?"),
    (r"py:(exc|attr|data)", r"(PermissionError|OSError|BaseException|"
                            r"Exception|OSError\.errno|errno\.EACCES)"),
    (r"c:.*", r"(PyObject|Py_UNTRUSTED|PyInterpreterState|Py_ssize_t)"),
    (r"py:(mod|data|exc)", r"(site|atexit|MemoryError|RuntimeError)"),
    (r"c:func", r"Py_EndInterpreter"),
    (r"py:(class|data)", r"(bytes|errno\.ENOSPC)"),
    (r"std:envvar", r"(PYTHONPATH|PYTHONMALLOC)"),
]
