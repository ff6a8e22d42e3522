"""Dominators, the dominator tree and dominance frontiers.

Block `a` *dominates* block `b` when every path from the entry to `b` passes through `a` (every
block dominates itself); the *immediate dominator* of `b` is its closest strict dominator, and the
edges idom(b) -> b form the *dominator tree*. The *dominance frontier* of `a` is the set of blocks
`b` such that `a` dominates a predecessor of `b` but does not strictly dominate `b`: where `a`'s
dominance ends (Cytron et al. 1991, the places SSA construction puts phis).

Immediate dominators come from `networkx.immediate_dominators` (Cooper, Harvey & Kennedy, "A
Simple, Fast Dominance Algorithm", 2001), frontiers from `networkx.dominance_frontiers`. Exception
edges are part of the CFG, so a handler is dominated only by what dominates every block that may
raise into it.

Unreachable blocks have no dominators: they are absent from the tree, from `idom` and from the
frontiers, `dominates(a, b)` is False when either block is unreachable, and `frontier(b)` of one
raises KeyError.
"""

from __future__ import annotations

import networkx as nx

from zir.analysis.cfg import cfg
from zir.ir import Function


class Dominators:
    """The dominance facts of one function (read-only; build with `dominators(f)`).

    `dominates` is O(1): it compares preorder/postorder numbers of the dominator tree (an interval
    test), so the verifier can ask it for every use.
    """

    __slots__ = ("cfg", "entry", "idom", "graph", "_pre", "_post", "_frontiers", "_order")

    def __init__(self, graph: nx.DiGraph) -> None:
        self.cfg = graph
        self.entry: str = graph.graph["entry"]
        raw = nx.immediate_dominators(graph, self.entry)
        # networkx < 3.5 maps the entry to itself; later versions leave it out.
        raw.pop(self.entry, None)
        #: The immediate dominator of every reachable block, in layout order; None for the entry.
        self.idom: dict[str, str | None] = {}
        tree = nx.DiGraph(entry=self.entry)
        for label in graph:
            if label == self.entry:
                self.idom[label] = None
                tree.add_node(label)
            elif label in raw:
                self.idom[label] = raw[label]
                tree.add_node(label)
        for label, parent in self.idom.items():
            if parent is not None:
                tree.add_edge(parent, label)
        #: The dominator tree: edges idom -> block, reachable blocks only, children in layout order.
        self.graph: nx.DiGraph = tree
        self._pre: dict[str, int] = {}
        self._post: dict[str, int] = {}
        self._order: list[str] = []
        self._number()
        self._frontiers: dict[str, set[str]] | None = None

    def _number(self) -> None:
        """Preorder and postorder numbers of the tree, by an explicit-stack walk (no recursion)."""
        counter = 0
        stack: list[tuple[str, bool]] = [(self.entry, False)]
        while stack:
            label, done = stack.pop()
            if done:
                self._post[label] = counter
                counter += 1
                continue
            self._pre[label] = counter
            counter += 1
            self._order.append(label)
            stack.append((label, True))
            # reversed so the first child in layout order is visited first
            stack.extend((c, False) for c in reversed(list(self.graph.successors(label))))

    def is_reachable(self, label: str) -> bool:
        """True when `label` is reachable from the entry (has a place in the dominator tree)."""
        return label in self._pre

    def dominates(self, a: str, b: str) -> bool:
        """True when block `a` dominates block `b` (reflexive); False if either is unreachable."""
        pa, pb = self._pre.get(a), self._pre.get(b)
        if pa is None or pb is None:
            return False
        return pa <= pb and self._post[b] <= self._post[a]

    def strictly_dominates(self, a: str, b: str) -> bool:
        """True when `a` dominates `b` and `a != b`."""
        return a != b and self.dominates(a, b)

    def children(self, label: str) -> list[str]:
        """The blocks `label` immediately dominates, in layout order."""
        return list(self.graph.successors(label))

    def dominators_of(self, label: str) -> list[str]:
        """Every dominator of `label`, from the block itself up to the entry."""
        out: list[str] = []
        cur: str | None = label
        while cur is not None:
            out.append(cur)
            cur = self.idom[cur]
        return out

    def preorder(self) -> list[str]:
        """The reachable blocks in a preorder walk of the dominator tree (children in layout order):
        the order SSA renaming visits blocks."""
        return list(self._order)

    @property
    def frontiers(self) -> dict[str, set[str]]:
        """The dominance frontier of every reachable block, keyed in layout order."""
        if self._frontiers is None:
            raw = nx.dominance_frontiers(self.cfg, self.entry)
            self._frontiers = {label: set(raw.get(label, ())) for label in self.idom}
        return self._frontiers

    def frontier(self, label: str) -> set[str]:
        """The dominance frontier of `label` (KeyError when it is unreachable)."""
        return self.frontiers[label]


def dominators(f: Function | nx.DiGraph) -> Dominators:
    """The dominance facts of `f` (or of a CFG made by `zir.analysis.cfg`)."""
    return Dominators(f if isinstance(f, nx.DiGraph) else cfg(f))


def dominator_tree(f: Function | nx.DiGraph) -> nx.DiGraph:
    """The dominator tree of `f` as a DiGraph with edges idom -> block (reachable blocks only)."""
    return dominators(f).graph


def dominance_frontiers(f: Function | nx.DiGraph) -> dict[str, set[str]]:
    """The dominance frontier of every reachable block of `f` (unreachable blocks are absent)."""
    return dominators(f).frontiers
