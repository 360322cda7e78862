# The callgrind part of Tools/sandbox/bench.py: the descriptor table's
# checks on the trusted fast path, N times (its argument) five calls that
# take a descriptor, from the main interpreter.  callgrind counts only
# user space, so the system calls themselves weigh nothing here.

import io, os, sys
n = int(sys.argv[1])
fd = os.open(os.devnull, os.O_RDWR)
f = io.FileIO(os.devnull, "r+")
data = b"x" * 16
for _ in range(n):
    os.write(fd, data)
    os.fstat(fd)
    os.lseek(fd, 0, 0)
    f.write(data)
    f.seek(0)
print(n)
