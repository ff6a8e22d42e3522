"""Natural loops and the loop nesting forest.

A *back edge* is an edge t -> h whose head h dominates its tail t. The *natural loop* of a back edge
is h together with every block that can reach t without passing through h; loops that share a
header are merged into one (one loop per header, with several latches). Two natural loops with
different headers are either disjoint or nested (Aho, Lam, Sethi & Ullman, "Compilers", 2nd ed.,
section 9.6.6), which gives the nesting forest: a loop's parent is the smallest other loop that
contains its header. Model: numba's `controlflow.py` (`CFGraph.loops`, `Loop(header, body, entries,
exits)`).

Retreating edges of an irreducible region (whose head does not dominate the tail) form no natural
loop. Unreachable blocks belong to no loop. Exception edges count like any other edge.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import networkx as nx

from zir.analysis.dominance import Dominators
from zir.analysis.flow import FlowGraph, flow_graph
from zir.ir import Function


@attrs.frozen
class Loop:
    """One natural loop. Every tuple of labels is in layout order.

    `body` includes the header; `back_edges` are the (latch, header) edges closing the loop;
    `entries` are the blocks outside the loop that branch to the header; `exits` are the blocks
    outside the loop that some block of the loop branches (or raises) to; `depth` is 1 for an
    outermost loop; `parent` is the header of the enclosing loop, or None.
    """

    header: str
    body: tuple[str, ...]
    back_edges: tuple[tuple[str, str], ...]
    entries: tuple[str, ...]
    exits: tuple[str, ...]
    depth: int
    parent: str | None

    @property
    def latches(self) -> tuple[str, ...]:
        """The tails of the back edges."""
        return tuple(t for t, _ in self.back_edges)

    def __contains__(self, label: object) -> bool:
        return label in self.body


class LoopInfo:
    """The natural loops of a function with their nesting (read-only; build with `loop_info(f)`).

    `loops` lists them outer before inner (headers in dominator-tree preorder); `graph` is the nesting
    forest as a DiGraph with edges parent header -> child header.
    """

    __slots__ = ("loops", "graph", "_by_header", "_innermost")

    def __init__(self, graph: nx.DiGraph | FlowGraph, doms: Dominators | None = None) -> None:
        flow = flow_graph(graph)
        doms = doms if doms is not None else Dominators(flow)
        layout = {label: n for n, label in enumerate(flow.labels)}
        pre = {label: n for n, label in enumerate(doms.preorder())}
        pred, succ = flow.pred, flow.succ
        # back edges grouped by header
        latches: dict[str, list[str]] = {}
        for t in flow.labels:
            for h in succ[t]:
                if doms.dominates(h, t):
                    latches.setdefault(h, []).append(t)
        bodies: dict[str, set[str]] = {}
        for h, tails in latches.items():
            body = {h}
            work = [t for t in tails if t != h]
            body.update(work)
            while work:
                n = work.pop()
                for p in pred[n]:
                    if p not in body and doms.is_reachable(p):
                        body.add(p)
                        work.append(p)
            bodies[h] = body
        # a loop's parent is the smallest other loop holding its header
        parents: dict[str, str | None] = {}
        for h in bodies:
            best: str | None = None
            for other, obody in bodies.items():
                if other != h and h in obody and (best is None or len(obody) < len(bodies[best])):
                    best = other
            parents[h] = best
        # a loop's header dominates its body, so in dominator-tree preorder parents come first
        headers = sorted(bodies, key=pre.__getitem__)
        depth: dict[str, int] = {}
        for h in headers:
            p = parents[h]
            depth[h] = 1 if p is None else depth[p] + 1

        def ordered(labels: set[str]) -> tuple[str, ...]:
            return tuple(sorted(labels, key=layout.__getitem__))

        self.loops: list[Loop] = []
        for h in headers:
            body = bodies[h]
            entries = {p for p in pred[h] if p not in body and doms.is_reachable(p)}
            exits = {s for n in body for s in succ[n] if s not in body}
            back = tuple((t, h) for t in sorted(latches[h], key=layout.__getitem__))
            self.loops.append(Loop(h, ordered(body), back, ordered(entries), ordered(exits),
                                   depth[h], parents[h]))
        self._by_header = {lp.header: lp for lp in self.loops}
        forest = nx.DiGraph()
        for lp in self.loops:
            forest.add_node(lp.header)
            if lp.parent is not None:
                forest.add_edge(lp.parent, lp.header)
        self.graph: nx.DiGraph = forest
        # innermost loop of each block: the deepest loop whose body holds it
        self._innermost: dict[str, Loop] = {}
        for lp in self.loops:  # outer before inner, so inner loops overwrite
            for label in lp.body:
                cur = self._innermost.get(label)
                if cur is None or cur.depth < lp.depth:
                    self._innermost[label] = lp

    def __iter__(self) -> Iterator[Loop]:
        return iter(self.loops)

    def __len__(self) -> int:
        return len(self.loops)

    def loop(self, header: str) -> Loop:
        """The loop headed by `header` (KeyError when it heads none)."""
        return self._by_header[header]

    def innermost(self, label: str) -> Loop | None:
        """The innermost loop containing block `label`, or None."""
        return self._innermost.get(label)

    def loop_depth(self, label: str) -> int:
        """How many loops contain block `label` (0 outside every loop and for unreachable blocks)."""
        lp = self._innermost.get(label)
        return 0 if lp is None else lp.depth

    def is_header(self, label: str) -> bool:
        """True when `label` heads a natural loop."""
        return label in self._by_header


def loop_info(f: Function | nx.DiGraph | FlowGraph) -> LoopInfo:
    """The natural loops of `f` (or of a CFG made by `zir.analysis.cfg`, or a `FlowGraph`) with
    nesting and depths."""
    return LoopInfo(flow_graph(f))


def natural_loops(f: Function | nx.DiGraph | FlowGraph) -> list[Loop]:
    """The natural loops of `f`, one per header, outer loops before the loops they contain."""
    return loop_info(f).loops
