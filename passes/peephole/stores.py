"""Dead store elimination: an assignment whose value no path reads before it is overwritten or the
function ends is deleted, when deleting the operation itself is harmless (`passes.facts.removable`).

Deadness is per instruction, from `zir.analysis.liveness`, which already counts exception edges:
before a may-raise instruction everything its handler reads is live, so a store a handler may read
is never dead. Works before SSA, where a local is assigned many times and only some of the
assignments are dead.
"""

from __future__ import annotations

from passes.edit import where
from passes.facts import BoundSet, may_be_unbound_ssa, member_of, removable
from passes.peephole.context import Rewriter


def eliminate_dead_stores(rw: Rewriter) -> bool:
    """Delete removable instructions whose result is dead right after them."""
    live = rw.am.liveness(rw.f)
    changed = False
    unbound = may_be_unbound_ssa(rw.f) if rw.f.ssa else set()
    for b in rw.f.blocks:
        after = live.bits_after(b.label)
        index = live.index
        doomed: list[int] = []
        states = None
        for k, i in enumerate(b.instrs):
            if i.dest is None or after[k] >> index[i.dest] & 1:
                continue
            surely_bound: set[str] | BoundSet
            if rw.f.ssa:
                surely_bound = {v.name for v in i.uses() if v.name not in unbound}
            else:
                if states is None:
                    states = rw.bound.before(b)
                surely_bound = states[k]
            if not removable(i, rw.kinds, member_of(surely_bound)):
                continue
            if rw.allow(f"remove dead store {where(i, b, rw.f)}"):
                doomed.append(k)
        if doomed:
            keep = set(range(len(b.instrs))) - set(doomed)
            b.instrs = [i for k, i in enumerate(b.instrs) if k in keep]
            for _ in doomed:
                changed = rw.did("dead stores removed")
    return changed

