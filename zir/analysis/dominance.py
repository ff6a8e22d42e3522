"""Dominators, the dominator tree and dominance frontiers.

Block `a` *dominates* block `b` when every path from the entry to `b` passes through `a` (every
block dominates itself); the *immediate dominator* of `b` is its closest strict dominator, and the
edges idom(b) -> b form the *dominator tree*. The *dominance frontier* of `a` is the set of blocks
`b` such that `a` dominates a predecessor of `b` but does not strictly dominate `b`: where `a`'s
dominance ends (Cytron et al. 1991, the places SSA construction puts phis).

Immediate dominators are computed with Cooper, Harvey & Kennedy's iterative algorithm ("A Simple,
Fast Dominance Algorithm", 2001; the algorithm `networkx.immediate_dominators` implements), here
over postorder numbers in plain lists, on the dict form of the CFG (`zir.analysis.flow`).
Frontiers use the same paper's runner walk (section 5, figure 5: from each predecessor of a join
block up the dominator tree to the join's immediate dominator), which is also what
`networkx.dominance_frontiers` does. Both are checked against networkx and against brute force
from the definitions in the tests. The dominator tree is still a `networkx.DiGraph` (`.graph`),
made when first asked for. Exception edges are part of the CFG, so a handler is dominated only by
what dominates every block that may raise into it.

Unreachable blocks have no dominators: they are absent from the tree, from `idom` and from the
frontiers, `dominates(a, b)` is False when either block is unreachable, and `frontier(b)` of one
raises KeyError.
"""

from __future__ import annotations

from typing import Any

import networkx as nx

from zir.analysis.flow import FlowGraph, flow_graph
from zir.ir import Function


def immediate_dominators(flow: FlowGraph) -> dict[Any, Any]:
    """label -> immediate dominator for every reachable block but the entry (Cooper, Harvey &
    Kennedy 2001, figure 3, over postorder numbers: the entry has the highest)."""
    post = flow.postorder()
    number = {label: n for n, label in enumerate(post)}
    pred = flow.pred
    # predecessors as postorder numbers; unreachable ones never take part
    preds = [[number[p] for p in pred[label] if p in number] for label in post]
    top = len(post) - 1
    doms = [-1] * len(post)
    doms[top] = top
    changed = True
    while changed:
        changed = False
        for b in range(top - 1, -1, -1):  # reverse postorder, entry excluded
            new = -1
            for p in preds[b]:
                if doms[p] == -1:
                    continue
                if new == -1:
                    new = p
                    continue
                # intersect: walk the two fingers up the tree until they meet
                x, y = p, new
                while x != y:
                    while x < y:
                        x = doms[x]
                    while y < x:
                        y = doms[y]
                new = x
            if doms[b] != new:
                doms[b] = new
                changed = True
    return {post[b]: post[doms[b]] for b in range(top)}


class Dominators:
    """The dominance facts of one function (read-only; build with `dominators(f)`).

    `dominates` is O(1): it compares preorder/postorder numbers of the dominator tree (an interval
    test), so the verifier can ask it for every use. Accepts the function's CFG as a
    `networkx.DiGraph` (from `zir.analysis.cfg`) or a `zir.analysis.flow.FlowGraph`.
    """

    __slots__ = ("flow", "entry", "idom", "_children", "_pre", "_post", "_frontiers", "_order", "_tree")

    def __init__(self, graph: nx.DiGraph | FlowGraph) -> None:
        flow = flow_graph(graph)
        self.flow = flow
        self.entry: Any = flow.entry
        raw = immediate_dominators(flow)
        #: The immediate dominator of every reachable block, in layout order; None for the entry.
        self.idom: dict[Any, Any] = {}
        children: dict[Any, list[Any]] = {}
        for label in flow.labels:
            if label == self.entry:
                self.idom[label] = None
                children[label] = []
            elif label in raw:
                self.idom[label] = raw[label]
                children[label] = []
        for label, parent in self.idom.items():
            if parent is not None:
                children[parent].append(label)
        # children in layout order (idom is in layout order)
        self._children = children
        self._pre: dict[Any, int] = {}
        self._post: dict[Any, int] = {}
        self._order: list[Any] = []
        self._number()
        self._frontiers: dict[Any, set[Any]] | None = None
        self._tree: nx.DiGraph | None = None

    def _number(self) -> None:
        """Preorder and postorder numbers of the tree, by an explicit-stack walk (no recursion)."""
        counter = 0
        children = self._children
        pre, post, order = self._pre, self._post, self._order
        stack: list[tuple[Any, bool]] = [(self.entry, False)]
        while stack:
            label, done = stack.pop()
            if done:
                post[label] = counter
                counter += 1
                continue
            pre[label] = counter
            counter += 1
            order.append(label)
            stack.append((label, True))
            # reversed so the first child in layout order is visited first
            stack.extend((c, False) for c in reversed(children[label]))

    @property
    def cfg(self) -> nx.DiGraph:
        """The CFG these facts are about, as a `networkx.DiGraph`."""
        return self.flow.to_networkx()

    @property
    def graph(self) -> nx.DiGraph:
        """The dominator tree: edges idom -> block, reachable blocks only, children in layout order."""
        if self._tree is None:
            tree = nx.DiGraph(entry=self.entry)
            tree.add_nodes_from(self.idom)
            tree.add_edges_from((parent, label) for label, parent in self.idom.items() if parent is not None)
            self._tree = tree
        return self._tree

    def is_reachable(self, label: Any) -> bool:
        """True when `label` is reachable from the entry (has a place in the dominator tree)."""
        return label in self._pre

    def dominates(self, a: Any, b: Any) -> bool:
        """True when block `a` dominates block `b` (reflexive); False if either is unreachable."""
        pa, pb = self._pre.get(a), self._pre.get(b)
        if pa is None or pb is None:
            return False
        return pa <= pb and self._post[b] <= self._post[a]

    def strictly_dominates(self, a: Any, b: Any) -> bool:
        """True when `a` dominates `b` and `a != b`."""
        return a != b and self.dominates(a, b)

    def children(self, label: Any) -> list[Any]:
        """The blocks `label` immediately dominates, in layout order."""
        return list(self._children[label])

    def dominators_of(self, label: Any) -> list[Any]:
        """Every dominator of `label`, from the block itself up to the entry."""
        out: list[Any] = []
        cur: Any = label
        while cur is not None:
            out.append(cur)
            cur = self.idom[cur]
        return out

    def preorder(self) -> list[Any]:
        """The reachable blocks in a preorder walk of the dominator tree (children in layout order):
        the order SSA renaming visits blocks."""
        return list(self._order)

    @property
    def frontiers(self) -> dict[Any, set[Any]]:
        """The dominance frontier of every reachable block, keyed in layout order."""
        if self._frontiers is None:
            idom = self.idom
            df: dict[Any, set[Any]] = {label: set() for label in idom}
            pred = self.flow.pred
            entry = self.entry
            for b in idom:
                preds = pred[b]
                # a join block (or the entry, whose predecessors all leave its dominance)
                if b != entry and len(preds) < 2:
                    continue
                stop = idom[b]
                for p in preds:
                    if p not in idom:
                        continue
                    runner = p
                    while runner is not None and runner != stop:
                        df[runner].add(b)
                        runner = idom[runner]
            self._frontiers = df
        return self._frontiers

    def frontier(self, label: Any) -> set[Any]:
        """The dominance frontier of `label` (KeyError when it is unreachable)."""
        return self.frontiers[label]


def dominators(f: Function | nx.DiGraph | FlowGraph) -> Dominators:
    """The dominance facts of `f` (or of a CFG made by `zir.analysis.cfg`, or a `FlowGraph`)."""
    return Dominators(f if isinstance(f, (nx.DiGraph, FlowGraph)) else FlowGraph.of(f))


def dominator_tree(f: Function | nx.DiGraph | FlowGraph) -> nx.DiGraph:
    """The dominator tree of `f` as a DiGraph with edges idom -> block (reachable blocks only)."""
    return dominators(f).graph


def dominance_frontiers(f: Function | nx.DiGraph | FlowGraph) -> dict[Any, set[Any]]:
    """The dominance frontier of every reachable block of `f` (unreachable blocks are absent)."""
    return dominators(f).frontiers
