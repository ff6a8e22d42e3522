"""Conservative coalescing: merge move-related values when that cannot make the graph uncolourable.

Two values joined by a `copy` (a move) that do not interfere may share a register, and the copy
then disappears. Merging them blindly (Chaitin's aggressive coalescing) can turn a K-colourable
graph into one that spills, so a merge is made only when one of two safe tests holds:

* Briggs' test (Briggs, Cooper & Torczon, "Improvements to Graph Coloring Register Allocation",
  TOPLAS 1994): the merged node has fewer than K neighbours of *significant* degree (at least as
  many neighbours as colours). Simplify removes every insignificant neighbour first, so the merged
  node will then have fewer than K neighbours and simplify too.
* George's test (George & Appel, "Iterated Register Coalescing", TOPLAS 1996): every neighbour of
  `a` either already interferes with `b` or has insignificant degree. Merging `a` into `b` then adds
  no significant neighbour to `b`. It succeeds in cases Briggs' test refuses (a low-degree `a` next
  to a high-degree `b`), so it is tried when Briggs' test fails, in both directions.

Moves are visited heaviest first (`10 ** loop depth` per copy), repeatedly until no merge happens,
since a merge can lower a neighbour's degree and make another move safe. Only values with the same
colour set merge: the temporaries of spill code are never coalesced (they are already as short as
a live range gets, and merging them would make an ordinary value unspillable).
"""

from __future__ import annotations

from passes.regalloc.graph import WorkGraph


def briggs(g: WorkGraph, a: int, b: int) -> bool:
    """Briggs' test for merging representatives `a` and `b`."""
    k = min(g.colours[a], g.colours[b])
    adj_a, adj_b = g.adj[a], g.adj[b]
    count = 0
    for t in adj_a | adj_b:
        # A neighbour of both loses one edge when a and b become one node.
        degree = len(g.adj[t]) - (1 if t in adj_a and t in adj_b else 0)
        if degree >= g.colours[t]:
            count += 1
            if count >= k:
                return False
    return True


def george(g: WorkGraph, a: int, b: int) -> bool:
    """George's test for merging `a` into `b`: `a`'s neighbours are `b`'s or insignificant."""
    adj_b = g.adj[b]
    return all(t in adj_b or len(g.adj[t]) < g.colours[t] for t in g.adj[a])


def coalesce(g: WorkGraph) -> int:
    """Merge every move-related pair the tests allow; returns how many merges were made."""
    merged = 0
    pending = list(g.moves)
    while True:
        progress = False
        rest = []
        for move in pending:
            _, x, y = move
            a, b = g.find(x), g.find(y)
            if a == b:
                continue
            if b in g.adj[a]:
                continue  # constrained: the two values interfere; never mergeable again
            if g.colours[a] != g.colours[b] or not (g.spillable[a] and g.spillable[b]):
                continue
            if briggs(g, a, b):
                keep, gone = min(a, b), max(a, b)
            elif george(g, a, b):
                keep, gone = b, a
            elif george(g, b, a):
                keep, gone = a, b
            else:
                rest.append(move)
                continue
            g.merge(keep, gone)
            merged += 1
            progress = True
        pending = rest
        if not progress or not pending:
            return merged
