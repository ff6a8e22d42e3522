"""The allocator's working interference graph: integer nodes, adjacency sets, coalesced classes.

It is built from `zir.analysis.interference_graph` (a `networkx.Graph` over Vars with spill costs
and a second graph of move affinities) and then changed in place by coalescing, which merges nodes
(union-find: `find(i)` is the node that now stands for `i`). Every node has a *colour count*: how
many registers it may take. Ordinary values take the K general registers; the short-lived values
spill code introduces (reload results, spilled definitions' results) may also take the
temporaries, so they have K + T colours and are never spilled again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set

import networkx as nx

from zir.ir import Const, Var


class WorkGraph:
    """Interference graph over node numbers `0 .. n-1` (one per Var of `vars`).

    * `adj[i]`: the nodes interfering with node `i` (only for representatives; merged nodes are
      emptied);
    * `colours[i]`: how many registers node `i` may use; `spillable[i]`: may it be spilled;
    * `cost[i]`: the spill cost (uses and definitions weighted by `10 ** loop depth`, summed over
      the merged Vars; infinite for the `pointless` Vars, whose spilling frees nothing);
      `remat[i]`: the constant a rematerializable node is, or None;
    * `moves`: move-related pairs `(weight, a, b)`, heaviest first.
    """

    def __init__(self, graph: nx.Graph, k: int, temps: int, unspillable: Mapping[Var, object],
                 remat: Mapping[Var, Const], pointless: Set[Var] = frozenset()) -> None:
        self.k = k
        self.temps = temps
        self.vars: list[Var] = list(graph.nodes)
        self.index: dict[Var, int] = {v: i for i, v in enumerate(self.vars)}
        n = len(self.vars)
        self.adj: list[set[int]] = [set() for _ in range(n)]
        for u, v in graph.edges:
            a, b = self.index[u], self.index[v]
            self.adj[a].add(b)
            self.adj[b].add(a)
        self.spillable = [v not in unspillable for v in self.vars]
        self.colours = [k if s else k + temps for s in self.spillable]
        self.cost: list[float] = [math.inf if v in pointless else float(graph.nodes[v].get("spill_cost", 1))
                                  for v in self.vars]
        self.remat: list[Const | None] = [remat.get(v) for v in self.vars]
        self.parent = list(range(n))
        self.members: list[list[int]] = [[i] for i in range(n)]
        aff: nx.Graph = graph.graph.get("affinities", nx.Graph())
        moves = [(int(d.get("weight", 1)), self.index[u], self.index[v]) for u, v, d in aff.edges(data=True)]
        # heaviest first; ties in order of first appearance, so the result is deterministic
        moves.sort(key=lambda m: (-m[0], min(m[1], m[2]), max(m[1], m[2])))
        self.moves = moves

    def __len__(self) -> int:
        return len(self.vars)

    def find(self, i: int) -> int:
        """The representative of node `i` (path halving)."""
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def nodes(self) -> list[int]:
        """The representatives, in order of first appearance."""
        return [i for i in range(len(self.vars)) if self.parent[i] == i]

    def degree(self, i: int) -> int:
        return len(self.adj[i])

    def significant(self, i: int) -> bool:
        """Whether node `i` has at least as many neighbours as colours (it may not simplify)."""
        return len(self.adj[i]) >= self.colours[i]

    def merge(self, keep: int, gone: int) -> None:
        """Coalesce node `gone` into node `keep` (both representatives, not interfering)."""
        adj = self.adj
        for t in adj[gone]:
            adj[t].discard(gone)
            adj[t].add(keep)
        adj[keep] |= adj[gone]
        adj[gone] = set()
        self.parent[gone] = keep
        self.members[keep].extend(self.members[gone])
        self.members[gone] = []
        self.cost[keep] += self.cost[gone]
        self.remat[keep] = None  # a merged class has several definitions: no longer one constant
        self.colours[keep] = min(self.colours[keep], self.colours[gone])
        self.spillable[keep] = self.spillable[keep] and self.spillable[gone]

    def member_vars(self, i: int) -> list[Var]:
        """The Vars node `i` stands for, in order of first appearance."""
        return [self.vars[m] for m in sorted(self.members[i])]
