"""Fannkuch-redux: for every permutation of 0..n-1, count the pancake flips until 0 comes first.

Exercises: `while` loops with `break`, list indexing and item stores, slice reads and slice
assignment with a negative step (`perm[:k + 1] = perm[k::-1]`), list copies, tuple results, integer
arithmetic with sign alternation. Permutations are generated in the benchmarks-game order (rotation
counts), on which the checksum depends: it adds the flip count of even-indexed permutations and
subtracts that of odd ones. Known results (benchmarks game): n=7 -> (228, 16), n=8 -> (1616, 22).
"""

from __future__ import annotations

NUMERIC = True
SIZES = {"test": 6, "bench": 8}


def count_flips(perm: list[int]) -> int:
    """Reverse the first perm[0]+1 items until perm[0] is 0; return how many reversals it took."""
    perm = perm[:]
    flips = 0
    k = perm[0]
    while k:
        perm[: k + 1] = perm[k::-1]
        flips += 1
        k = perm[0]
    return flips


def run(n: int) -> tuple[int, int]:
    """Return (checksum, maximum number of flips) over all n! permutations."""
    perm = list(range(n))
    counts = [0] * n  # counts[i]: how often the prefix of length i+1 has been rotated
    checksum = 0
    max_flips = 0
    index = 0
    while True:
        flips = count_flips(perm)
        if flips > max_flips:
            max_flips = flips
        checksum += flips if index % 2 == 0 else -flips
        index += 1
        # Next permutation: rotate the shortest prefix whose rotation count has not wrapped.
        i = 1
        while i < n:
            first = perm[0]
            perm[:i] = perm[1 : i + 1]
            perm[i] = first
            counts[i] += 1
            if counts[i] <= i:
                break
            counts[i] = 0
            i += 1
        else:
            return checksum, max_flips
