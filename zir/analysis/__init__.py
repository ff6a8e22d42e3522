"""Analyses of a `zir.Function`, as read-only query objects over networkx graphs.

    g = zir.analysis.cfg(f)                   # nx.DiGraph of block labels, edge attr `kind`
    flow = zir.analysis.flow_graph(f)         # the same CFG as dicts (.succ, .pred), what analyses use
    zir.analysis.reverse_postorder(f)         # reachable blocks, RPO
    doms = zir.analysis.dominators(f)         # .idom, .graph (tree), .dominates(a, b), .frontiers
    zir.analysis.dominator_tree(f)            # nx.DiGraph, edges idom -> block
    zir.analysis.dominance_frontiers(f)       # dict label -> set of labels
    zir.analysis.natural_loops(f)             # list[Loop]; loop_info(f).loop_depth(label)
    live = zir.analysis.liveness(f)           # .live_in/.live_out, .live_before(label, i)
    zir.analysis.interference_graph(f)        # nx.Graph over Vars; .graph["affinities"]

Exception edges are CFG edges for all of them; unreachable blocks never make them fail (see each
module's docstring for what they contribute). Model: numba's `numba/core/controlflow.py`.
"""

from __future__ import annotations

from zir.analysis.cfg import EDGE_KINDS, cfg, exception_predecessors, postorder, reachable, reverse_postorder
from zir.analysis.dominance import Dominators, dominance_frontiers, dominator_tree, dominators
from zir.analysis.flow import FlowGraph, flow_graph
from zir.analysis.interference import interference_graph
from zir.analysis.liveness import Liveness, liveness
from zir.analysis.loops import Loop, LoopInfo, loop_info, natural_loops

__all__ = [
    "EDGE_KINDS", "Dominators", "FlowGraph", "Liveness", "Loop", "LoopInfo", "cfg", "dominance_frontiers",
    "dominator_tree", "dominators", "exception_predecessors", "flow_graph", "interference_graph", "liveness",
    "loop_info", "natural_loops", "postorder", "reachable", "reverse_postorder",
]
