"""Where the profiled register code counts, and how every block's count follows from the counters.

Optimal edge profiling (Knuth & Stevenson 1973, "Optimal measurement points for program frequency
counts"; Ball & Larus 1994, "Optimally Profiling and Tracing Programs", section 3): add a virtual
edge from the function's exit to its entry, so that flow is conserved at every node (what enters a
block leaves it). The counts of the edges of any spanning tree of that graph then follow from the
counts of the edges off the tree, so only those are counted; choosing a *maximum*-weight spanning
tree leaves the counters on the edges expected to run least. Weights are static estimates: an edge
inside `d` nested loops weighs `10**d`, shared equally among its source's successors (Ball & Larus
use the same loop-nesting heuristic). The virtual edge is in the tree, so the function's entry
count, and every loop's entry and exit count, need no counter when they can be derived.

The graph here has the reachable blocks and a virtual exit node (`EXIT`); its edges are

* the *normal* edges of the terminators (a `ret` is an edge to `EXIT`), candidates for counters;
  the generated code counts an edge on its branch arm, before the jump (`vm.codegen.emit`);
* in generators and coroutines, an *abandon* edge `Y -> EXIT` from every block `Y` with a
  suspending instruction (a frame suspended there that is never resumed, or closed without a
  handler, leaves `Y` by neither kind of edge): never counted, always in the tree;
* the virtual edge `EXIT -> entry` (`VIRTUAL`): in the tree, unless block 0 may suspend (its
  abandon edge and the virtual edge would make a cycle); then activations are counted as the
  function starts;
* the *exceptional* flows: every exception that leaves a block midway is located by the profile
  (`vm.profiler.RegisterProfile.exit`), so these edges (to the block's handler, or to `EXIT`) are
  known without a counter and enter the conservation equations as constants.

Handlers entered only by exceptions are then in components of their own: the tree is a spanning
forest, with |E| - |V| + C counters (C components), the fewest any placement can have.

The counts of the tree edges are found by peeling leaves off the tree: a node with one unknown
edge left gives that edge its count by conservation, which may make its neighbour a leaf (a
worklist, linear in the edges). A block's count is the sum of what enters it.

`count_everything` is the other plan: a counter at every block's start and on every edge, used as
the independently counted reference in the tests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import attrs

from vm.codegen.layout import Layout
from zir.regcode import REG_OPS

__all__ = ["EXIT", "VIRTUAL", "CounterPlan", "count_everything", "plan_counters"]

#: The virtual exit node: where a `ret`, an exception leaving the function, or an abandoned
#: suspension goes; its edge back to block 0 stands for the next activation.
EXIT = -1

Edge = tuple[int, int]

#: The virtual edge: its count is the number of activations. Counted (at the function's start,
#: before block 0) only when the tree cannot hold it: when block 0 itself may suspend, its abandon
#: edge and the virtual edge make a cycle.
VIRTUAL: Edge = (EXIT, 0)


@attrs.frozen
class CounterPlan:
    """Which counters the generated code updates (`_P[slot] += 1`), and the graph to derive the
    rest from (see the module docstring).

    `edges`: every normal edge `(source, target)` of the reachable blocks (`target == EXIT` for a
    `ret`), once each, sorted. `edge_slots`: the counted ones, with their slot in `_P`.
    `block_slots`: blocks counted at their start (only in the reference plan, `count_everything`).
    `abandon`: blocks with an edge to `EXIT` that is never counted (suspending instructions).
    `exc_target[k]`: where an exception leaving block `k` goes (its handler, or `EXIT`).
    `sampled`: blocks whose count the timing samples give (DETAILED and FULL, see `plan_counters`)."""

    nblocks: int
    reachable: tuple[int, ...]
    edges: tuple[Edge, ...]
    edge_slots: Mapping[Edge, int]
    block_slots: Mapping[int, int]
    abandon: frozenset[int]
    exc_target: Mapping[int, int]
    sampled: frozenset[int] = frozenset()

    @property
    def nslots(self) -> int:
        """How many counters `_P` holds."""
        return len(self.edge_slots) + len(self.block_slots)

    def out_node(self, k: int) -> int:
        """The node block `k`'s outgoing edges leave from: a sampled block is two nodes, `k` (what
        enters) and `nblocks + k` (what leaves), joined by an edge of known count."""
        return self.nblocks + k if k in self.sampled else k

    def solve(self, counters: Sequence[int], exits: Mapping[tuple[int, int], int],
              samples: Sequence[int] = ()) -> tuple[list[int], dict[Edge, int]]:
        """Every block's execution count and every normal edge's count, from the counters, the
        located exceptions (`exits[(block, instruction)]`) and, for the sampled blocks, how many
        timing samples each has (`samples[k]`)."""
        exc = [0] * self.nblocks
        for (k, _), n in exits.items():
            exc[k] += n
        known: dict[Edge, int] = {e: counters[s] for e, s in self.edge_slots.items()}
        out = self.out_node
        # balance: known inflow minus known outflow, per node (EXIT included)
        bal: dict[int, int] = {k: 0 for k in self.reachable}
        bal.update((self.nblocks + k, 0) for k in self.sampled)
        bal[EXIT] = 0
        for (s, t), n in known.items():
            bal[out(s)] -= n
            bal[t] += n
        for k in self.reachable:
            if exc[k]:
                bal[out(k)] -= exc[k]
                bal[self.exc_target[k]] += exc[k]
        blocks = [0] * self.nblocks
        for k in self.sampled:
            # a block's interval is closed by whatever runs next in its frame (vm.codegen.emit),
            # except when an exception leaves the function from it: those the profile located
            blocks[k] = samples[k] + (exc[k] if self.exc_target[k] == EXIT else 0)
            bal[k] -= blocks[k]
            bal[self.nblocks + k] += blocks[k]
        # the unknown edges: a spanning forest (edge_slots is its complement), as (source, target, id)
        unknown: list[tuple[int, int, object]] = [(out(s), t, (s, t)) for s, t in self.edges
                                                  if (s, t) not in known]
        values: dict[object, int] = {}
        if not self.block_slots:
            if VIRTUAL not in known and self.reachable:
                unknown.append((EXIT, 0, VIRTUAL))
            unknown.extend((out(y), EXIT, ("abandon", y)) for y in sorted(self.abandon))
            self._peel(unknown, bal, values)
        edge_counts = {e: known[e] if e in known else values.get(e, 0) for e in self.edges}
        if self.block_slots:
            for k, s in self.block_slots.items():
                blocks[k] = counters[s]
            return blocks, edge_counts
        inflow = [0] * self.nblocks
        if self.reachable:
            inflow[0] = known[VIRTUAL] if VIRTUAL in known else values.get(VIRTUAL, 0)
        for (_, t), n in edge_counts.items():
            if t != EXIT:
                inflow[t] += n
        for k in self.reachable:
            if exc[k] and self.exc_target[k] != EXIT:
                inflow[self.exc_target[k]] += exc[k]
            if k not in self.sampled:
                blocks[k] = inflow[k]
        return blocks, edge_counts

    @staticmethod
    def _peel(unknown: list[tuple[int, int, object]], bal: dict[int, int], values: dict[object, int]) -> None:
        """Give every tree edge its count: a node with one unknown edge left conserves flow only
        with that edge's count; repeat from the leaves inwards (worklist)."""
        incident: dict[int, list[int]] = {v: [] for v in bal}
        for n, (s, t, _) in enumerate(unknown):
            incident[s].append(n)
            incident[t].append(n)
        left = {v: len(es) for v, es in incident.items()}
        done = [False] * len(unknown)
        work = deque(v for v in sorted(bal) if left[v] == 1)
        while work:
            v = work.popleft()
            if left[v] != 1:
                continue
            (n,) = [e for e in incident[v] if not done[e]]
            s, t, key = unknown[n]
            value = -bal[v] if t == v else bal[v]  # in + unknown_in - unknown_out == 0 at v
            values[key] = value
            done[n] = True
            bal[s] -= value
            bal[t] += value
            for u in (s, t):
                left[u] -= 1
                if left[u] == 1:
                    work.append(u)


def _graph(layout: Layout) -> tuple[tuple[Edge, ...], frozenset[int], dict[int, int]]:
    rc = layout.rc
    edges: set[Edge] = set()
    abandon = set()
    exc_target: dict[int, int] = {}
    for k in layout.reachable:
        b = rc.blocks[k]
        term = b.instrs[-1]
        if term.op == "ret":
            edges.add((k, EXIT))
        for t in term.targets:
            edges.add((k, t))
        if any(REG_OPS[i.op].suspends for i in b.instrs):
            abandon.add(k)
        # as vm.codegen.emit writes it: a `try:` only around a block with something that may raise
        handled = b.handler is not None and any(REG_OPS[i.op].may_raise for i in b.instrs)
        exc_target[k] = b.handler if handled and b.handler is not None else EXIT
    return tuple(sorted(edges)), frozenset(abandon), exc_target


def _common_depth(layout: Layout, s: int, t: int) -> int:
    """The loop depth of the innermost region holding both blocks (0 for an edge to `EXIT`)."""
    if t == EXIT:
        return 0
    r = layout.region_of[s]
    while r.parent is not None and t not in r.subtree:
        r = r.parent
    return r.depth


def plan_counters(layout: Layout, timed: bool = False) -> CounterPlan:
    """Counters on the edges off a maximum-weight spanning tree (Kruskal's algorithm with
    union-find: on the kernels' functions, a few dozen edges each, about 20 us per function, where
    building a networkx graph for `maximum_spanning_tree` took about 90 us).

    `timed` (DETAILED, FULL): every block the generated code times has one sample per execution
    that did not end its frame by an exception (`vm.codegen.emit.count_block`; those exceptions
    are located), so its count is known: it becomes two nodes joined by a known edge, which breaks
    the cycles through it, and most edges need no counter. Not sampled: a `for` header (never
    timed), and a block that may suspend (a frame abandoned there never closes its interval)."""
    rc = layout.rc
    edges, abandon, exc_target = _graph(layout)
    sampled = frozenset(k for k in layout.reachable if k not in abandon and k not in layout.for_loops
                        ) if timed else frozenset()
    n = len(rc.blocks)

    def out(k: int) -> int:
        return n + k if k in sampled else k

    nsucc: dict[int, int] = {}
    for s, _ in edges:
        nsucc[s] = nsucc.get(s, 0) + 1
    parent: dict[int, int] = {k: k for k in layout.reachable}
    parent.update((n + k, n + k) for k in sampled)
    parent[EXIT] = EXIT

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> bool:
        ra, rb = find(a), find(b)
        if ra == rb:
            return False
        parent[ra] = rb
        return True

    # the forced tree edges first: the abandon edges (never counted; distinct sources, all to
    # EXIT, so no cycle among them), then the virtual edge where it makes no cycle with them
    for y in sorted(abandon):
        union(out(y), EXIT)
    slots: dict[Edge, int] = {}
    if layout.reachable and not union(*VIRTUAL):
        slots[VIRTUAL] = 0
    weighted = sorted(edges, key=lambda e: (-10.0 ** _common_depth(layout, *e) / nsucc[e[0]], e))
    for e in weighted:
        if not union(out(e[0]), e[1]):
            slots[e] = len(slots)
    return CounterPlan(n, tuple(layout.reachable), edges, slots, {}, abandon, exc_target, sampled)


def count_everything(layout: Layout, timed: bool = False) -> CounterPlan:
    """The reference plan: a counter at the start of every reachable block and on every edge
    (`timed` changes nothing: it takes no count from the timing samples)."""
    edges, abandon, exc_target = _graph(layout)
    blocks = {k: n for n, k in enumerate(layout.reachable)}
    slots = {e: len(blocks) + n for n, e in enumerate(edges)}
    return CounterPlan(len(layout.rc.blocks), tuple(layout.reachable), edges, slots, blocks, abandon,
                       exc_target)
