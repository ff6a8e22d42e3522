"""Where the profiled register code counts, and how every block's count follows from the counters.

Counting every block costs a list update per block; most blocks' counts follow from others' by
flow conservation (Knuth's observation behind optimal profiling, Ball & Larus 1994: count a subset
of the edges and derive the rest). The generator writes blocks with one entry edge at that edge
(vm.codegen.layout), which makes three cheap rules enough:

* a block whose only entry is the `br` of block P ran as often as P's terminator ran;
* of a two-way branch P whose first target T has P as its only predecessor, T is counted and
  T's count is also the branch's "taken" count; the second target F, if its only entry is P too, ran
  as often as P's terminator ran without raising, minus T;
* the header of a loop written as a Python `for` counts only the exhausted exit (in the `for`'s
  `else`) and an exception from its `next()`; its iterations are its body's count.

A terminator's executions are its block's count minus the exceptions that left the block before it
(the profile locates every such exception, vm.profiler). Everything else is counted directly.
"""

from __future__ import annotations

import attrs

from vm.codegen.layout import Layout

__all__ = ["CounterPlan", "plan_counters"]


@attrs.frozen
class CounterPlan:
    """`counted`: blocks with their own counter at their start. `after_br[X] = P`: X counts as P's
    terminator. `false_arm[F] = P`: F counts as P's terminator minus P's first arm (and minus an
    exception in the terminator). `for_headers[H] = B`: H's counter holds the loop exits, B's the
    iterations. `taken_by[P] = T`: branch P's taken count is block T's count (no `taken` counter)."""

    counted: frozenset[int]
    after_br: dict[int, int]
    false_arm: dict[int, int]
    for_headers: dict[int, int]
    taken_by: dict[int, int]

    def block_counts(self, layout: Layout, counters: list[int], taken: list[int],
                     exits: dict[tuple[int, int], int]) -> list[int]:
        """Every block's execution count from the counters (see the module docstring)."""
        rc = layout.rc
        n = len(rc.blocks)
        known: dict[int, int] = {}

        def term(p: int) -> int:
            last = len(rc.blocks[p].instrs) - 1
            return known[p] - sum(exits.get((p, i), 0) for i in range(last))

        def deps(k: int) -> list[int]:
            if k in self.after_br:
                return [self.after_br[k]]
            if k in self.false_arm:
                p = self.false_arm[k]
                t = self.taken_by.get(p)
                return [p] + ([t] if t is not None else [])
            if k in self.for_headers:
                return [self.for_headers[k]]
            return []

        for root in range(n):
            work = [root]
            while work:  # resolve dependencies first, without recursion
                k = work[-1]
                if k in known:
                    work.pop()
                    continue
                missing = [d for d in deps(k) if d not in known]
                if missing:
                    work.extend(missing)
                    continue
                work.pop()
                if k in self.after_br:
                    known[k] = term(self.after_br[k])
                elif k in self.false_arm:
                    p = self.false_arm[k]
                    t = self.taken_by.get(p)
                    first = known[t] if t is not None else taken[p]
                    last = len(rc.blocks[p].instrs) - 1
                    known[k] = term(p) - exits.get((p, last), 0) - first
                elif k in self.for_headers:
                    known[k] = counters[k] + known[self.for_headers[k]]
                else:
                    known[k] = counters[k]
        return [known[k] for k in range(n)]

    def taken_count(self, p: int, counts: list[int], taken: list[int]) -> int:
        """How often two-way branch `p` went to its first target."""
        t = self.taken_by.get(p)
        return counts[t] if t is not None else taken[p]


def plan_counters(layout: Layout, full: bool) -> CounterPlan:
    """The counters for `layout`'s generated code; `full` says branch `taken` counters exist."""
    rc = layout.rc
    attached_plain = {k for k in layout.attached if k not in layout.regions
                      and all(r.follow != k for r in layout.regions.values())}
    after_br: dict[int, int] = {}
    false_arm: dict[int, int] = {}
    taken_by: dict[int, int] = {}
    for_headers: dict[int, int] = {}
    for h, spec in layout.for_loops.items():
        if spec.body in attached_plain and layout.normal_preds[spec.body] == [h]:
            for_headers[h] = spec.body
            taken_by[h] = spec.body
    for k in sorted(attached_plain):
        (p,) = layout.normal_preds[k]
        t = rc.blocks[p].instrs[-1]
        if t.op == "br":
            after_br[k] = p
        elif len(t.targets) == 2 and t.targets[0] != t.targets[1]:
            first, second = t.targets
            if k == first:
                taken_by[p] = k
    for k in sorted(attached_plain):
        (p,) = layout.normal_preds[k]
        t = rc.blocks[p].instrs[-1]
        if len(t.targets) == 2 and t.targets[0] != t.targets[1] and k == t.targets[1]:
            if p in taken_by or full:
                false_arm[k] = p
    counted = frozenset(k for k in layout.reachable if k not in after_br and k not in false_arm)
    return CounterPlan(counted, after_br, false_arm, for_headers, taken_by)
