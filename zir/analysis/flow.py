"""The control-flow graph as plain dicts: the fast form the analyses and passes compute on.

`FlowGraph` holds exactly what `zir.analysis.cfg` puts in its `networkx.DiGraph` (the same nodes
in layout order, the same edges in the same order, the same edge `kind`s; see `zir.analysis.cfg`
for the rules), but as dicts of dicts, built in one pass over the blocks' terminators and
handlers. Dominators, liveness, definite assignment and the passes walk it directly; a
`networkx.DiGraph` is made from it only when someone asks for one (`to_networkx`, and so
`zir.analysis.cfg(f)`), which keeps graph construction out of every pass of a pipeline.

    flow = zir.analysis.flow_graph(f)
    flow.succ["bb0"]            # {"bb1": "true", "bb2": "false"}
    flow.pred["bb2"]            # {"bb0": "false"}
    flow.postorder()            # the order networkx.dfs_postorder_nodes gives, without networkx
    flow.to_networkx()          # what zir.analysis.cfg(f) returns
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

import networkx as nx

from zir.errors import VerifyError
from zir.ir import Function
from zir.ops import IR_OPS
from zir.printer import format_name


class FlowGraph:
    """The CFG of one function (or of a `networkx.DiGraph` made by `zir.analysis.cfg`), read-only.

    `labels` lists the blocks in layout order, `entry` is the first; `succ[label]` and
    `pred[label]` map neighbouring labels to the edge kind ("true", "false", "jump",
    "exception"), in the order `zir.analysis.cfg` adds the edges, so iteration orders match the
    networkx graph's. Orders and reachability are computed once, on first use.
    """

    __slots__ = ("function", "entry", "labels", "succ", "pred", "_post", "_reach", "_nx")

    def __init__(self, function: str, entry: Hashable, labels: list[Any],
                 succ: dict[Any, dict[Any, str]], pred: dict[Any, dict[Any, str]],
                 nx_graph: nx.DiGraph | None = None) -> None:
        self.function = function
        self.entry: Any = entry
        self.labels = labels
        self.succ = succ
        self.pred = pred
        self._post: list[Any] | None = None
        self._reach: frozenset[Any] | None = None
        self._nx = nx_graph

    @classmethod
    def of(cls, f: Function) -> FlowGraph:
        """The CFG of `f`. Raises `zir.VerifyError` when a terminator or handler names a block that
        does not exist, or the function has no blocks (as `zir.analysis.cfg` does)."""
        if not f.blocks:
            raise VerifyError(f"function {format_name('@', f.name)}: has no blocks (needs an entry block)")
        labels = [b.label for b in f.blocks]
        succ: dict[str, dict[str, str]] = {label: {} for label in labels}
        pred: dict[str, dict[str, str]] = {label: {} for label in labels}
        ops = IR_OPS
        fname = format_name("@", f.name)
        for b in f.blocks:
            label = b.label
            out = succ[label]
            instrs = b.instrs
            targets: list[str] = instrs[-1].targets if instrs and ops[instrs[-1].op].terminator else []
            for t in targets:
                if t not in succ:
                    raise VerifyError(f"function {fname}, block {format_name('^', label)}: "
                                      f"branch to unknown block {format_name('^', t)}")
            if len(targets) == 2 and targets[0] != targets[1]:
                out[targets[0]] = "true"
                out[targets[1]] = "false"
            else:
                for t in targets:
                    out.setdefault(t, "jump")
            h = b.handler
            if h is not None:
                if h not in succ:
                    raise VerifyError(f"function {fname}, block {format_name('^', label)}: "
                                      f"handler {format_name('^', h)} does not exist")
                out.setdefault(h, "exception")
            for t, kind in out.items():
                pred[t][label] = kind
        return cls(f.name, labels[0], labels, succ, pred)

    @classmethod
    def from_networkx(cls, g: nx.DiGraph) -> FlowGraph:
        """The same graph from a `networkx.DiGraph` that carries `graph["entry"]` (edges without a
        `kind` count as "jump")."""
        labels = list(g)
        succ = {u: {v: d.get("kind", "jump") for v, d in g.succ[u].items()} for u in labels}
        pred = {v: {u: d.get("kind", "jump") for u, d in g.pred[v].items()} for v in labels}
        return cls(g.graph.get("function", ""), g.graph["entry"], labels, succ, pred, g)

    # orders -----------------------------------------------------------------------------------------
    def postorder(self) -> list[Any]:
        """The blocks reachable from the entry in depth-first postorder, successors in edge order
        (the order `networkx.dfs_postorder_nodes` gives). A fresh list each call."""
        if self._post is None:
            succ = self.succ
            entry = self.entry
            out: list[Any] = []
            seen = {entry}
            # an explicit stack of (block, iterator over its successors): no recursion
            stack: list[tuple[Any, Iterator[Any]]] = [(entry, iter(succ[entry]))]
            while stack:
                node, it = stack[-1]
                for child in it:
                    if child not in seen:
                        seen.add(child)
                        stack.append((child, iter(succ[child])))
                        break
                else:
                    stack.pop()
                    out.append(node)
            self._post = out
        return list(self._post)

    def reverse_postorder(self) -> list[Any]:
        """The reachable blocks in reverse postorder (dominators before the blocks they dominate)."""
        order = self.postorder()
        order.reverse()
        return order

    def reachable(self) -> frozenset[Any]:
        """The labels of the blocks reachable from the entry (exception edges included)."""
        if self._reach is None:
            if self._post is not None:
                self._reach = frozenset(self._post)
            else:
                succ = self.succ
                seen = {self.entry}
                work = [self.entry]
                while work:
                    for s in succ[work.pop()]:
                        if s not in seen:
                            seen.add(s)
                            work.append(s)
                self._reach = frozenset(seen)
        return self._reach

    def exception_predecessors(self, label: Any) -> list[Any]:
        """The blocks whose exception edge leads to `label`, in layout order."""
        return [p for p, kind in self.pred[label].items() if kind == "exception"]

    # networkx -----------------------------------------------------------------------------------------
    def to_networkx(self) -> nx.DiGraph:
        """The CFG as a `networkx.DiGraph` (what `zir.analysis.cfg` returns); made once and shared,
        so treat it as read-only."""
        if self._nx is None:
            g = nx.DiGraph(entry=self.entry, function=self.function)
            g.add_nodes_from(self.labels)
            g.add_edges_from((u, v, {"kind": kind}) for u in self.labels for v, kind in self.succ[u].items())
            self._nx = g
        return self._nx

    def __contains__(self, label: object) -> bool:
        return label in self.succ

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        return f"<FlowGraph @{self.function}: {len(self.labels)} blocks>"


def flow_graph(f: Function | nx.DiGraph | FlowGraph) -> FlowGraph:
    """The `FlowGraph` of a function (or of a CFG made by `zir.analysis.cfg`; a FlowGraph is
    returned as it is)."""
    if isinstance(f, FlowGraph):
        return f
    if isinstance(f, nx.DiGraph):
        return FlowGraph.from_networkx(f)
    return FlowGraph.of(f)
