# The callgrind part of Tools/sandbox/bench.py: the files protection's
# hooks on the trusted fast path, N times (its argument) four calls that
# take a path, from the main interpreter.

import io, os, sys
n = int(sys.argv[1])
path = os.devnull
for _ in range(n):
    os.stat(path)
    os.lstat(path)
    os.access(path, os.R_OK)
    io.FileIO(path).close()
print(n)
