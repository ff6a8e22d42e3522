"""The interference graph: which Vars may not share a register.

Contract for register allocation (Chaitin 1982; Briggs, Cooper & Torczon 1994, "Improvements to
graph coloring register allocation"):

* nodes: every Var of the function (params, phi results and operands, instruction results and
  operands), in order of first appearance; node attribute ``spill_cost`` = the number of uses and
  definitions, each weighted by ``10 ** loop_depth`` of the block where it happens (a phi operand
  is read at the end of its predecessor block, so it weighs with that block; a parameter is one
  definition in the entry block);
* edges: between two Vars that are live at the same time, found by the def-point rule: a
  definition of `d` interferes with every Var live just after it, except `d` itself and, for
  ``d = copy s``, the source `s` (they hold the same value, so they may share a register). Phi
  results of a block are written together at its start, so they interfere with each other and with
  everything live after the phis. The function entry defines the parameters, and any Var read
  before it is written (live into the entry), all at once: those interfere pairwise, so parameters
  always interfere with each other;
* ``graph.graph["affinities"]``: a second `nx.Graph` (same nodes) whose edges are the move-related
  pairs, `copy` source/result and phi result/operand, with attribute ``weight`` (the moves' summed
  ``10 ** loop_depth``), for coalescing. A pair can be both an affinity and an interference edge
  (for example a copy whose source is redefined while the copy is still live); an allocator must
  not coalesce those.

Liveness is the one of `zir.analysis.liveness`, so exception edges are respected: what a handler
needs is live before every may-raise instruction of the blocks it covers.
"""

from __future__ import annotations

from collections.abc import Set

import networkx as nx

from zir.analysis.flow import FlowGraph
from zir.analysis.liveness import Liveness, iter_bits
from zir.analysis.loops import LoopInfo
from zir.analysis.op_effects import MAY_RAISE
from zir.ir import Function, Var


def interference_graph(f: Function, live: Liveness | None = None,
                       loops: LoopInfo | None = None) -> nx.Graph:
    """The interference graph of `f` (contract in the module docstring).

    `live` and `loops` may be passed when the caller already has them for this exact function.
    """
    flow = live.flow if live is not None else FlowGraph.of(f)
    live = live if live is not None else Liveness(f, flow)
    loops = loops if loops is not None else LoopInfo(flow)
    index, vars_ = live.index, live.vars
    weight = {b.label: 10 ** loops.loop_depth(b.label) for b in f.blocks}

    g = nx.Graph(function=f.name)
    aff = nx.Graph(function=f.name)
    cost = [0] * len(vars_)
    for v in vars_:
        g.add_node(v)
        aff.add_node(v)

    def interfere(d: Var, bits: int) -> None:
        dn = index[d]
        for n in iter_bits(bits & ~(1 << dn)):
            g.add_edge(d, vars_[n])

    def affinity(a: Var, b: Var, w: int) -> None:
        if a == b:
            return
        if aff.has_edge(a, b):
            aff.edges[a, b]["weight"] += w
        else:
            aff.add_edge(a, b, weight=w)

    entry = f.blocks[0].label
    at_entry = live.in_bits(entry)
    for param in f.params:
        at_entry |= 1 << index[param]
        cost[index[param]] += weight[entry]
    for n in iter_bits(at_entry):
        interfere(vars_[n], at_entry)

    for b in f.blocks:
        w = weight[b.label]
        if b.phis:
            defs = 0
            for p in b.phis:
                defs |= 1 << index[p.dest]
                cost[index[p.dest]] += w
                for pred, val in p.incoming.items():
                    if isinstance(val, Var):
                        pw = weight.get(pred, 1)
                        cost[index[val]] += pw
                        affinity(p.dest, val, pw)
            after = live.top_bits(b.label) | defs
            for p in b.phis:
                interfere(p.dest, after)
        walk = live.bits_after(b.label)
        for n, i in enumerate(b.instrs):
            for a in i.uses():
                cost[index[a]] += w
            d = i.dest
            if d is None:
                continue
            cost[index[d]] += w
            after = walk[n]
            if i.op == "copy" and isinstance(i.args[0], Var):
                src = i.args[0]
                affinity(d, src, w)
                after &= ~(1 << index[src])
            interfere(d, after)

    for v in vars_:
        g.nodes[v]["spill_cost"] = cost[index[v]]
    g.graph["affinities"] = aff
    return g


def interference_among(f: Function, live: Liveness, names: Set[str]) -> dict[str, set[str]]:
    """The interference graph of `f` restricted to the Vars called `names`, by name: name ->
    the names in `names` it interferes with.

    Exactly the subgraph of `interference_graph(f)` induced by `names` (same def-point rule, copy
    exception, phi and entry rules), computed without building the whole graph: the per-block
    walks track only `names`, so a caller that needs a few Vars (phi-web coalescing asks about
    phi results and operands) pays for those, not for every Var of the function.
    """
    adj: dict[str, set[str]] = {n: set() for n in names}

    def interfere(d: str, group: Set[str]) -> None:
        mine = adj[d]
        for x in group:
            if x != d:
                mine.add(x)
                adj[x].add(d)

    entry = f.blocks[0].label
    at_entry = set(live.in_names(entry) & names)
    at_entry.update(p.name for p in f.params if p.name in names)
    for n in at_entry:
        interfere(n, at_entry)
    may_raise = MAY_RAISE
    for b in f.blocks:
        label = b.label
        live_now = set(live.out_names(label) & names)
        exc = live.exception_names(label) & names
        instrs = b.instrs
        for k in range(len(instrs) - 1, -1, -1):
            i = instrs[k]
            d = i.dest
            if d is not None:
                dn = d.name
                if dn in names:
                    # a copy's source holds the same value: they may share (Chaitin's rule)
                    src = i.args[0] if i.op == "copy" else None
                    if isinstance(src, Var) and src.name in live_now:
                        interfere(dn, live_now - {src.name})
                    else:
                        interfere(dn, live_now)
                live_now.discard(dn)
            for a in i.args:
                if isinstance(a, Var) and a.name in names:
                    live_now.add(a.name)
            if exc and may_raise[i.op]:
                live_now |= exc
        if b.phis:
            # phi results are written together at the top: with each other and what is live there
            defs = {p.dest.name for p in b.phis if p.dest.name in names}
            after = live_now | defs
            for dn in defs:
                interfere(dn, after)
    return adj
