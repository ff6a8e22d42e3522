"""Spectral norm: the largest singular value of the infinite matrix A(i, j) = 1 / ((i+j)(i+j+1)/2 + i + 1).

Exercises: nested `for` loops over `range`, float division, many small function calls (the matrix
entry is a function), list building with `[0.0] * n` and item stores, list comprehensions, `zip`,
`**` for the square root. Power iteration as in the benchmarks game (10 rounds of A^T A); known
result: n=100 -> 1.274219991.
"""

from __future__ import annotations

NUMERIC = True
SIZES = {"test": 12, "bench": 100}


def entry(i: int, j: int) -> float:
    """A(i, j) for 0-based i, j."""
    return 1.0 / ((i + j) * (i + j + 1) // 2 + i + 1)


def times(v: list[float]) -> list[float]:
    """A v."""
    n = len(v)
    out = [0.0] * n
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += entry(i, j) * v[j]
        out[i] = total
    return out


def times_transposed(v: list[float]) -> list[float]:
    """A^T v."""
    n = len(v)
    out = [0.0] * n
    for i in range(n):
        total = 0.0
        for j in range(n):
            total += entry(j, i) * v[j]
        out[i] = total
    return out


def run(n: int) -> float:
    """Return sqrt(u.v / v.v) after 10 rounds of v = A^T A u, u = A^T A v, starting from ones."""
    u = [1.0] * n
    v = u
    for _ in range(10):
        v = times_transposed(times(u))
        u = times_transposed(times(v))
    vbv = 0.0
    vv = 0.0
    for ui, vi in zip(u, v, strict=True):
        vbv += ui * vi
        vv += vi * vi
    squares = [x * x for x in v]
    assert abs(sum(squares) - vv) <= 1e-9 * vv, "dot product and comprehension disagree"
    return (vbv / vv) ** 0.5
