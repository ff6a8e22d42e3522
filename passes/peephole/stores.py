"""Dead store elimination: an assignment whose value no path reads before it is overwritten or the
function ends is deleted, when deleting the operation itself is harmless (`passes.facts.removable`).

Before SSA, deadness is per instruction, from `zir.analysis.liveness` (`Liveness.dead_defs`, one
backward walk per block), which already counts exception edges: before a may-raise instruction
everything its handler reads is live, so a store a handler may read is never dead. There a local
is assigned many times and only some of the assignments are dead.

In SSA form no liveness is computed: a definition is dead exactly when no reachable block reads its
Var (`_ssa_dead`). In strict SSA every use is dominated by the one definition (`zir.verifier`; for
an exception edge, the definition comes before the predecessor's raise point), so a path leads from
the definition to every reachable use, which makes the Var live after it; and a use in an
unreachable block makes nothing live in reachable code. The same answer as `dead_defs`, for the
price of one count of the operands instead of a dataflow problem per round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial

from passes.edit import where
from passes.facts import BoundSet, may_be_unbound_ssa, member_of, removable
from passes.peephole.context import Rewriter
from zir.ir import Block, Function, Instr, Var


def _text(i: Instr, b: Block, f: Function) -> str:
    return f"remove dead store {where(i, b, f)}"


def eliminate_dead_stores(rw: Rewriter) -> bool:
    """Delete removable instructions whose result is dead right after them."""
    f = rw.f
    dead_in = _ssa_dead(f, rw.flow.reachable()) if f.ssa else rw.am.liveness(f).dead_defs
    changed = False
    unbound: set[str] | None = None
    for b in f.blocks:
        dead = dead_in(b.label)
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


def _ssa_dead(f: Function, reachable: frozenset[str]) -> Callable[[str], list[int]]:
    """SSA form: block label -> the indices (ascending) of its instructions whose Var no reachable
    block reads (none for an unreachable block: it goes as a whole)."""
    reach = [b for b in f.blocks if b.label in reachable]
    names = [a.name for b in reach for i in b.instrs for a in i.args if isinstance(a, Var)]
    names += [v.name for b in reach for p in b.phis for v in p.incoming.values() if isinstance(v, Var)]
    reads = Counter(names)
    dead: dict[str, list[int]] = {}
    for b in reach:
        ks = [k for k, i in enumerate(b.instrs) if i.dest is not None and not reads[i.dest.name]]
        if ks:
            dead[b.label] = ks
    return lambda label: dead.get(label, [])
