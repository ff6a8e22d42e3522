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

The analyses compute on the same graph in dict form (`zir.analysis.flow.FlowGraph`); the orders
below accept either form.
"""

from __future__ import annotations

import networkx as nx

from zir.analysis.flow import FlowGraph, flow_graph
from zir.ir import Function

#: The values of the CFG edge attribute `kind`.
EDGE_KINDS: tuple[str, ...] = ("true", "false", "jump", "exception")


def cfg(f: Function) -> nx.DiGraph:
    """The control-flow graph of `f`: nodes are block labels, edges carry `kind` (see module doc).

    Raises `zir.VerifyError` when a terminator or handler names a block that does not exist, or the
    function has no blocks. Built from `zir.analysis.flow.FlowGraph` (the dict form the analyses
    use), a fresh graph each call.
    """
    return FlowGraph.of(f).to_networkx()


def postorder(f_or_graph: Function | nx.DiGraph | FlowGraph) -> list[str]:
    """The blocks reachable from the entry in depth-first postorder (successors in edge order).

    Accepts a function, a CFG made by `cfg` (which carries its entry) or a `FlowGraph`.
    Unreachable blocks are not listed.
    """
    return flow_graph(f_or_graph).postorder()


def reverse_postorder(f_or_graph: Function | nx.DiGraph | FlowGraph) -> list[str]:
    """The blocks reachable from the entry in reverse postorder: every block comes after its
    dominators, and, but for back edges, after its predecessors. Unreachable blocks are not listed."""
    return flow_graph(f_or_graph).reverse_postorder()


def reachable(f_or_graph: Function | nx.DiGraph | FlowGraph) -> set[str]:
    """The labels of the blocks reachable from the entry (exception edges included)."""
    return set(flow_graph(f_or_graph).reachable())


def exception_predecessors(g: nx.DiGraph | FlowGraph, label: str) -> list[str]:
    """The blocks whose exception edge leads to `label`, in layout order."""
    if isinstance(g, FlowGraph):
        return g.exception_predecessors(label)
    return [p for p in g.pred[label] if g.edges[p, label]["kind"] == "exception"]
