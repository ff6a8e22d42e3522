"""Spill code: move values that got no register to frame slots (Chaitin 1982; Briggs, Cooper &
Torczon 1994, "spill everywhere").

A spilled value lives in a frame slot. Every definition writes the slot right after it and every
use reads it right before, through fresh short-lived temporaries:

    %x = add %a, 1          %t1 = add %a, 1            (%t1: a spill temporary)
                       ->   spill %t1 {slot=0}
    %y = mul %x, %x         %t2 = reload {slot=0}
                            %y = mul %t2, %t2

Moves need no temporary: `%x = copy %a` / `%x = const 5` with %x spilled become `spill %a {slot=0}`
/ `spill 5 {slot=0}`, and `%y = copy %x` becomes `%y = reload {slot=0}`; a copy between two values
spilled to the same slot (a coalesced class) disappears. The instruction right after a spilled
definition reads the value from the definition's temporary instead of reloading it. A spilled
parameter arrives in a temporary that the entry block stores first.

*Rematerialization* (Briggs, Cooper & Torczon, "Rematerialization", PLDI 1992): a value whose only
definition is `const` of a literal, and that is not read before that definition on any path,
needs no slot at all: its uses read the literal itself and the definition goes.

Exception edges need no care: a spill store follows its definition, so an instruction that raises
has stored nothing (exactly as it has defined nothing), and the handler reads the slot as it was.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import attrs

from passes.edit import NameSupply
from zir.ir import Const, Function, Instr, Value, Var


@attrs.define
class SpillSite:
    """Where a spill temporary serves: the block and the instruction (None: the parameters)."""

    block: str
    instr: Instr | None


@attrs.define
class SpillState:
    """What spilling has done so far to one function, across rounds."""

    names: NameSupply
    #: spill temporary -> where it is used (temporaries are never spilled again)
    temps: dict[Var, SpillSite] = attrs.field(factory=dict)
    #: spill temporary -> the original Var it holds
    origin: dict[Var, Var] = attrs.field(factory=dict)
    #: spilled Var -> its frame slot
    slots: dict[Var, int] = attrs.field(factory=dict)
    #: rematerialized Var -> the literal its uses now read
    remat: dict[Var, Const] = attrs.field(factory=dict)
    nslots: int = 0
    stats: Counter[str] = attrs.field(factory=Counter)


def insert_spill_code(f: Function, slots: Mapping[Var, int], remat: Mapping[Var, Const],
                      state: SpillState) -> None:
    """Rewrite `f` so the Vars of `slots` live in their frame slots and those of `remat` are
    replaced by their literals (see the module docstring)."""
    names = state.names

    def temp(v: Var, block: str, i: Instr | None) -> Var:
        t = names.var()
        state.temps[t] = SpillSite(block, i)
        state.origin[t] = state.origin.get(v, v)
        return t

    entry = f.blocks[0]
    head: list[Instr] = []
    for n, p in enumerate(f.params):
        if p in slots:
            t = temp(p, entry.label, None)
            f.params[n] = t
            head.append(Instr("spill", None, [t], {"slot": slots[p]}))
            state.stats["spill instructions"] += 1

    for b in f.blocks:
        out: list[Instr] = head if b is entry else []
        # spilled Var -> the temporary that still holds it, from the instruction just before
        fresh: dict[Var, Var] = {}
        for i in b.instrs:
            held, fresh = fresh, {}
            d = i.dest
            if d is not None and d in remat:
                continue  # the rematerialized definition goes
            args: list[Value] = [remat.get(a, a) if isinstance(a, Var) else a for a in i.args]
            if i.op in ("copy", "const") and d is not None:
                src = args[0]
                src_slot = slots.get(src) if isinstance(src, Var) else None
                if d in slots:
                    if src_slot == slots[d]:
                        state.stats["copies removed"] += 1
                        fresh = held  # nothing ran: what the registers held, they still hold
                        if isinstance(src, Var) and src in held:
                            fresh[d] = held[src]
                        continue  # both sides share the slot: it already holds the value
                    if src_slot is not None:
                        assert isinstance(src, Var)
                        if src in held:
                            src = held[src]
                        else:
                            t = temp(src, b.label, i)
                            out.append(Instr("reload", t, [], {"slot": src_slot}, line=i.line))
                            src = t
                            state.stats["reload instructions"] += 1
                    out.append(Instr("spill", None, [src], {"slot": slots[d]}, line=i.line))
                    state.stats["spill instructions"] += 1
                    continue
                if src_slot is not None:
                    assert isinstance(src, Var)
                    if src in held:
                        out.append(Instr("copy", d, [held[src]], line=i.line))
                    else:
                        out.append(Instr("reload", d, [], {"slot": src_slot}, line=i.line))
                        state.stats["reload instructions"] += 1
                    continue
                if i.op == "copy" and isinstance(src, Const):
                    out.append(Instr("const", d, [src], line=i.line))  # a rematerialized source
                    continue
            reloaded: dict[Var, Var] = dict(held)
            for k, a in enumerate(args):
                if isinstance(a, Var) and a in slots:
                    r = reloaded.get(a)
                    if r is None:
                        r = reloaded[a] = temp(a, b.label, i)
                        out.append(Instr("reload", r, [], {"slot": slots[a]}, line=i.line))
                        state.stats["reload instructions"] += 1
                    args[k] = r
            i.args = args
            out.append(i)
            if d is not None and d in slots:
                t = temp(d, b.label, i)
                i.dest = t
                out.append(Instr("spill", None, [t], {"slot": slots[d]}, line=i.line))
                state.stats["spill instructions"] += 1
                fresh[d] = t  # the next instruction may read it from the register, not the slot
        b.instrs = out
