"""Dead store elimination: an assignment whose value no path reads before it is overwritten or the
function ends is deleted, when deleting the operation itself is harmless (`passes.facts.removable`).

Deadness is per instruction, from `zir.analysis.liveness` (`Liveness.dead_defs`, one backward walk
per block), which already counts exception edges: before a may-raise instruction everything its
handler reads is live, so a store a handler may read is never dead. Works before SSA, where a
local is assigned many times and only some of the assignments are dead.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from passes.edit import where
from passes.facts import BoundSet, may_be_unbound_ssa, member_of, removable
from passes.peephole.context import Rewriter
from zir.ir import Block, Function, Instr


def _text(i: Instr, b: Block, f: Function) -> str:
    return f"remove dead store {where(i, b, f)}"


def eliminate_dead_stores(rw: Rewriter) -> bool:
    """Delete removable instructions whose result is dead right after them."""
    f = rw.f
    live = rw.am.liveness(f)
    changed = False
    unbound: set[str] | None = None
    for b in f.blocks:
        dead = live.dead_defs(b.label)
        if not dead:
            continue
        doomed: list[int] = []
        states: Sequence[BoundSet] | None = None
        instrs = b.instrs
        for k in dead:
            i = instrs[k]
            surely_bound: set[str] | BoundSet
            if f.ssa:
                if unbound is None:
                    unbound = may_be_unbound_ssa(f)
                surely_bound = {v.name for v in i.uses() if v.name not in unbound}
            else:
                if states is None:
                    states = rw.bound.before(b)
                surely_bound = states[k]
            # the facts are taken at the first dead store of a round, as every rewrite takes them
            if not removable(i, rw.kinds, member_of(surely_bound)):
                continue
            if rw.allow(partial(_text, i, b, f)):
                doomed.append(k)
        if doomed:
            keep = set(range(len(instrs))) - set(doomed)
            b.instrs = [i for k, i in enumerate(instrs) if k in keep]
            for _ in doomed:
                changed = rw.did("dead stores removed")
    return changed
