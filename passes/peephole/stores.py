"""Dead store elimination: an assignment whose value no path reads before it is overwritten or the
function ends is deleted, when deleting the operation itself is harmless (`passes.facts.removable`).

Before SSA, deadness is per instruction, from `zir.analysis.liveness` (`Liveness.dead_defs`, one
backward walk per block), which already counts exception edges: before a may-raise instruction
everything its handler reads is live, so a store a handler may read is never dead. There a local
is assigned many times and only some of the assignments are dead.

In SSA form no liveness is computed: a definition is dead exactly when no reachable block reads its
Var (`ssa_reads`). In strict SSA every use is dominated by the one definition (`zir.verifier`; for
an exception edge, the definition comes before the predecessor's raise point), so a path leads from
the definition to every reachable use, which makes the Var live after it; and a use in an
unreachable block makes nothing live in reachable code. The same answer as `dead_defs`, for the
price of one count of the operands instead of a dataflow problem per round, but for one case where
it keeps more: a phi of a reachable block whose operand comes from a predecessor a rewrite of this
round made unreachable still counts as a read (liveness would not count it), so every phi operand
stays defined until the next round removes that predecessor (which the bisect gate may refuse).
And the count keeps going: deleting a definition takes its reads away, so what only it read is
deleted in the same round too.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from functools import partial

from passes.edit import where
from passes.facts import BoundSet, may_be_unbound_ssa, member_of, removable
from passes.peephole.context import Rewriter
from zir.ir import Block, Function, Instr, Var


def _text(i: Instr, b: Block, f: Function) -> str:
    return f"remove dead store {where(i, b, f)}"


def eliminate_dead_stores(rw: Rewriter) -> bool:
    """Delete removable instructions whose result is dead right after them."""
    if rw.f.ssa:
        return _eliminate_ssa(rw)
    f = rw.f
    live = rw.am.liveness(f)
    changed = False
    for b in f.blocks:
        dead = live.dead_defs(b.label)
        if not dead:
            continue
        doomed: list[int] = []
        states: Sequence[BoundSet] | None = None
        instrs = b.instrs
        for k in dead:
            i = instrs[k]
            if states is None:
                states = rw.bound.before(b)
            # the facts are taken at the first dead store of a round, as every rewrite takes them
            if not removable(i, rw.kinds, member_of(states[k])):
                continue
            if rw.allow(partial(_text, i, b, f)):
                doomed.append(k)
        if doomed:
            keep = set(range(len(instrs))) - set(doomed)
            b.instrs = [i for k, i in enumerate(instrs) if k in keep]
            for _ in doomed:
                changed = rw.did("dead stores removed")
    return changed


def ssa_reads(f: Function, reachable: frozenset[str]) -> Counter[str]:
    """SSA form: how many times each Var is read in the blocks of `reachable` (operands and phi
    operands, those for unreachable predecessors included). A definition in a reachable block
    whose Var has no reads here is dead right after it (see the module docstring)."""
    reach = [b for b in f.blocks if b.label in reachable]
    names = [a.name for b in reach for i in b.instrs for a in i.args if isinstance(a, Var)]
    names += [v.name for b in reach for p in b.phis for v in p.incoming.values() if isinstance(v, Var)]
    return Counter(names)


def _eliminate_ssa(rw: Rewriter) -> bool:
    """SSA form: delete the removable definitions no reachable block reads, and then those only
    they read (a worklist over read counts, in layout order first: Kennedy's dead code
    elimination by use counts, restricted to what `removable` allows)."""
    f = rw.f
    reachable = rw.reachable()
    reads = ssa_reads(f, reachable)
    site: dict[str, tuple[Block, Instr]] = {}
    work: deque[str] = deque()
    for b in f.blocks:
        if b.label not in reachable:
            continue  # an unreachable block goes as a whole
        for i in b.instrs:
            d = i.dest
            if d is not None:
                site[d.name] = (b, i)
                if not reads[d.name]:
                    work.append(d.name)
    if not work:
        return False
    unbound = may_be_unbound_ssa(f)
    doomed: set[int] = set()
    edited: dict[str, Block] = {}
    while work:
        b, i = site[work.popleft()]
        surely_bound = {v.name for v in i.uses() if v.name not in unbound}
        # the facts are taken before the first deletion, as every rewrite takes them
        if not removable(i, rw.kinds, member_of(surely_bound)) or not rw.allow(partial(_text, i, b, f)):
            continue
        doomed.add(id(i))
        edited[b.label] = b
        rw.did("dead stores removed")
        for a in i.args:
            if isinstance(a, Var):
                reads[a.name] -= 1
                if not reads[a.name] and a.name in site:
                    work.append(a.name)
    for b in edited.values():
        b.instrs = [i for i in b.instrs if id(i) not in doomed]
    return bool(doomed)
