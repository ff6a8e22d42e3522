"""N-queens: count every placement of n non-attacking queens on an n x n board.

Exercises: recursion (one VM frame per row), `for`/`continue` over `range`, set membership, add and
remove on sets, list append/pop, tuple building, integer arithmetic. Known counts (OEIS A000170):
n=6 -> 4, n=8 -> 92, n=9 -> 352.
"""

from __future__ import annotations

NUMERIC = True
SIZES = {"test": 7, "bench": 11}


def place(n: int, row: int, cols: set[int], up: set[int], down: set[int], board: list[int],
          found: list[tuple[int, ...]]) -> int:
    """Count the completions of `board` (queens in rows < `row`), remembering the first one found."""
    if row == n:
        if not found:
            found.append(tuple(board))
        return 1
    count = 0
    for col in range(n):
        # A queen attacks along its column and both diagonals (row+col and row-col are constant).
        if col in cols or row + col in up or row - col in down:
            continue
        cols.add(col)
        up.add(row + col)
        down.add(row - col)
        board.append(col)
        count += place(n, row + 1, cols, up, down, board, found)
        board.pop()
        down.remove(row - col)
        up.remove(row + col)
        cols.remove(col)
    return count


def run(n: int) -> tuple[int, tuple[int, ...] | None]:
    """Return (number of solutions, the lexicographically first solution or None)."""
    found: list[tuple[int, ...]] = []
    count = place(n, 0, set(), set(), set(), [], found)
    return count, (found[0] if found else None)
