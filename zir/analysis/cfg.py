"""The control-flow graph of a function, as a `networkx.DiGraph`, and the block orders built on it.

The CFG has one node per block label, in layout order (unreachable blocks included), and one edge
per pair of blocks control can pass between. The edge attribute `kind` says how:

* ``"true"`` / ``"false"``: the first / second target of a two-way branch (`cbr`, `cbr_more`);
* ``"jump"``: the only target of a one-way branch (`br`), and also a two-way branch whose two
  targets are the same block (control reaches it either way, so there is one edge, not two);
* ``"exception"``: from every block that names a handler to that handler.

Decisions (documented because analyses and passes depend on them):

* A block with a handler always has its exception edge, even when none of its instructions may
  raise. The CFG thus depends only on terminators and `Block.handler`, so rewriting instructions
  never changes it; a phi in the handler lists the block, and the value it names for that edge is
  never used when nothing can raise. Liveness is finer (per may-raise instruction, see
  `zir.analysis.liveness`).
* If a block's handler is also one of its normal successors (which the verifier rejects), the
  normal edge wins and its kind is kept.

The graph attribute ``graph.graph["entry"]`` is the entry label, ``graph.graph["function"]`` the
function's name. Model: numba's `numba/core/controlflow.py` (`CFGraph`).
"""

from __future__ import annotations

import networkx as nx

from zir.errors import VerifyError
from zir.ir import Function
from zir.printer import format_name

#: The values of the CFG edge attribute `kind`.
EDGE_KINDS: tuple[str, ...] = ("true", "false", "jump", "exception")


def cfg(f: Function) -> nx.DiGraph:
    """The control-flow graph of `f`: nodes are block labels, edges carry `kind` (see module doc).

    Raises `zir.VerifyError` when a terminator or handler names a block that does not exist, or the
    function has no blocks.
    """
    if not f.blocks:
        raise VerifyError(f"function {format_name('@', f.name)}: has no blocks (needs an entry block)")
    g = nx.DiGraph(entry=f.blocks[0].label, function=f.name)
    for b in f.blocks:
        g.add_node(b.label)
    for b in f.blocks:
        targets = b.successors()
        for t in targets:
            if t not in g:
                raise VerifyError(f"function {format_name('@', f.name)}, block {format_name('^', b.label)}: "
                                  f"branch to unknown block {format_name('^', t)}")
        if len(targets) == 2 and targets[0] != targets[1]:
            g.add_edge(b.label, targets[0], kind="true")
            g.add_edge(b.label, targets[1], kind="false")
        else:
            for t in targets:
                if not g.has_edge(b.label, t):
                    g.add_edge(b.label, t, kind="jump")
        if b.handler is not None:
            if b.handler not in g:
                raise VerifyError(f"function {format_name('@', f.name)}, block {format_name('^', b.label)}: "
                                  f"handler {format_name('^', b.handler)} does not exist")
            if not g.has_edge(b.label, b.handler):
                g.add_edge(b.label, b.handler, kind="exception")
    return g


def _graph(f_or_graph: Function | nx.DiGraph) -> nx.DiGraph:
    return f_or_graph if isinstance(f_or_graph, nx.DiGraph) else cfg(f_or_graph)


def postorder(f_or_graph: Function | nx.DiGraph) -> list[str]:
    """The blocks reachable from the entry in depth-first postorder (successors in edge order).

    Accepts a function or a CFG made by `cfg` (which carries its entry). Unreachable blocks are not
    listed.
    """
    g = _graph(f_or_graph)
    return list(nx.dfs_postorder_nodes(g, g.graph["entry"]))


def reverse_postorder(f_or_graph: Function | nx.DiGraph) -> list[str]:
    """The blocks reachable from the entry in reverse postorder: every block comes after its
    dominators, and, but for back edges, after its predecessors. Unreachable blocks are not listed."""
    order = postorder(f_or_graph)
    order.reverse()
    return order


def reachable(f_or_graph: Function | nx.DiGraph) -> set[str]:
    """The labels of the blocks reachable from the entry (exception edges included)."""
    g = _graph(f_or_graph)
    entry = g.graph["entry"]
    return {entry} | nx.descendants(g, entry)


def exception_predecessors(g: nx.DiGraph, label: str) -> list[str]:
    """The blocks whose exception edge leads to `label`, in layout order."""
    return [p for p in g.pred[label] if g.edges[p, label]["kind"] == "exception"]
