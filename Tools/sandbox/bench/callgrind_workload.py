# The callgrind part of Tools/sandbox/bench.py: a deterministic pure-Python
# workload of about one second natively, repeated REPEAT times (its
# argument): calls and recursion, instances and class attributes,
# properties, dicts and strings, builtins, closures and exceptions.  It
# prints a checksum, which must be the same under both builds.

import sys

REPEAT = int(sys.argv[1])


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Vector:
    dims = 2

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __add__(self, other):
        return Vector(self.x + other.x, self.y + other.y)

    def dot(self, other):
        return self.x * other.x + self.y * other.y

    @property
    def norm2(self):
        return self.dot(self)


class Vector3(Vector):
    dims = 3


def vectors(n):
    total = Vector(0, 0)
    acc = 0
    for i in range(n):
        v = Vector3(i % 7, i % 11)
        total = total + v
        acc += v.norm2 + v.dims + Vector.dims
    return acc + total.x + total.y


def dicts_and_strings(n):
    words = {}
    text = []
    for i in range(n):
        key = f"k{i % 257}"
        words[key] = words.get(key, 0) + 1
        text.append(key.upper() if i % 3 else key)
    joined = " ".join(text)
    counts = {}
    for part in joined.split():
        lower = part.lower()
        if lower in counts:
            counts[lower] += 1
        else:
            counts[lower] = 1
    return sum(words.values()) + len(counts) + len(joined)


def builtins_mix(n):
    data = list(range(n))
    acc = 0
    for i in data:
        acc += abs(i - n // 2) + len(str(i)) + (1 if isinstance(i, int) else 0)
    acc += max(data) + min(data) + sum(x * x for x in data if x % 3 == 0)
    acc += len(sorted(data, key=lambda x: -x)) + len({x % 97 for x in data})
    return acc


def closures_and_exceptions(n):
    def make_adder(k):
        def add(x):
            return x + k
        return add
    adders = [make_adder(k) for k in range(10)]
    acc = 0
    for i in range(n):
        try:
            acc += adders[i % 10](i)
            if i % 50 == 0:
                raise ValueError(i)
        except ValueError as e:
            acc -= e.args[0]
    return acc


checksum = 0
for _ in range(REPEAT):
    checksum += fib(22)
    checksum += vectors(60_000)
    checksum += dicts_and_strings(60_000)
    checksum += builtins_mix(60_000)
    checksum += closures_and_exceptions(60_000)
print(checksum)
