"""Simplify and select: colour the (coalesced) interference graph with optimistic spilling.

Chaitin's simplification (Chaitin, "Register Allocation & Spilling via Graph Coloring", SIGPLAN
1982): a node with fewer neighbours than colours can always be coloured whatever its neighbours
get, so it is removed from the graph and pushed on a stack; removing it lowers its neighbours'
degrees. When every remaining node is significant, a *spill candidate* is chosen, the node with the
lowest spill cost per neighbour (Chaitin's `cost / degree`; spill-code temporaries are never
chosen while another node is left), and pushed too.

Briggs' optimistic colouring (Briggs, Cooper & Torczon, TOPLAS 1994): the candidate is not spilled
yet. Select pops the stack and gives each node a colour none of its already-coloured neighbours
has; a candidate whose neighbours happen to leave a colour free is coloured after all. Only the
nodes left without a colour are *actual spills*.

Select prefers, in order: the colour of an already-coloured move partner (biased colouring,
Briggs' thesis 1992: it removes copies that conservative coalescing did not dare to merge), then,
for spill-code temporaries, the temporary registers K.. before the general ones (leaving general
registers to ordinary values), then the lowest colour.
"""

from __future__ import annotations

import heapq

import attrs

from passes.regalloc.graph import WorkGraph


@attrs.define
class Colouring:
    """The result of one simplify/select round: colour per representative, and the actual spills."""

    colour: dict[int, int]
    spilled: list[int]


def _spill_metric(g: WorkGraph, i: int, degree: int) -> tuple[int, float, int]:
    """Sort key of a spill candidate: spillable first, then cheapest per neighbour."""
    cost = 0.0 if g.remat[i] is not None else g.cost[i]
    return (0 if g.spillable[i] else 1, cost / max(degree, 1), i)


def simplify(g: WorkGraph) -> list[int]:
    """The simplification order (a stack: the last node pushed is coloured first)."""
    remaining = set(g.nodes())
    degree = {i: len(g.adj[i]) for i in remaining}
    low = [i for i in remaining if degree[i] < g.colours[i]]
    heapq.heapify(low)
    stack: list[int] = []

    def remove(i: int) -> None:
        remaining.discard(i)
        stack.append(i)
        for t in g.adj[i]:
            if t in remaining:
                degree[t] -= 1
                if degree[t] == g.colours[t] - 1:
                    heapq.heappush(low, t)

    while remaining:
        while low:
            i = heapq.heappop(low)
            if i in remaining:
                remove(i)
        if not remaining:
            break
        candidate = min(remaining, key=lambda i: _spill_metric(g, i, degree[i]))
        remove(candidate)
    return stack


def select(g: WorkGraph, stack: list[int]) -> Colouring:
    """Colour the nodes in reverse simplification order (see the module docstring)."""
    partners: dict[int, list[tuple[int, int]]] = {}
    for w, x, y in g.moves:
        a, b = g.find(x), g.find(y)
        if a != b:
            partners.setdefault(a, []).append((w, b))
            partners.setdefault(b, []).append((w, a))
    k, total = g.k, g.k + g.temps
    colour: dict[int, int] = {}
    spilled: list[int] = []
    for i in reversed(stack):
        used = {colour[t] for t in g.adj[i] if t in colour}
        n = g.colours[i]
        order: list[int] = []
        for _, p in sorted(partners.get(i, ()), key=lambda wp: (-wp[0], wp[1])):
            c = colour.get(p)
            if c is not None and c < n:
                order.append(c)
        if n > k:
            order.extend(range(k, total))
        order.extend(range(k))
        chosen = next((c for c in order if c not in used), None)
        if chosen is None:
            spilled.append(i)
        else:
            colour[i] = chosen
    spilled.sort()
    return Colouring(colour, spilled)


def colour_graph(g: WorkGraph) -> Colouring:
    """Simplify then select."""
    return select(g, simplify(g))
