"""Abstract interpretation of a 3.11 code object's stack shape (where the NULL slots are).

A forward dataflow over the instructions with a worklist (Kildall 1973; the same walk as CPython's
own `stackdepth()` in `Python/compile.c`, tracking NULL-ness per slot instead of a depth). Each
reachable instruction is lowered once, with the shape it is entered with; every path into an
instruction must bring the same shape (CPython's compiler guarantees it; if it did not, we refuse
rather than guess). Exception edges run from each instruction in a handler's range to the handler,
with the stack cut to the entry's depth, plus the lasti item when asked for, plus the exception.

The result also gives each exception-table entry its ZBC depth: the number of values (not NULLs)
in the slots the handler keeps.
"""

from __future__ import annotations

import attrs

from zir.frontend.decode import PyInstr
from zir.frontend.exctable import ExcEntry, handler_of
from zir.frontend.lowering import VAL, Lowered, Lowerer, State


@attrs.define
class Simulation:
    """The outcome: per reachable instruction its entry shape and lowering; per entry its ZBC depth."""

    states: dict[int, State]
    lowered: dict[int, Lowered]
    zbc_depth: dict[ExcEntry, int]


def simulate(instrs: list[PyInstr], entries: list[ExcEntry], lowerer: Lowerer) -> Simulation:
    """Lower every instruction reachable from the first, each with its stack shape."""
    cover = handler_of(entries, len(instrs))
    states: dict[int, State] = {0: ()}
    lowered: dict[int, Lowered] = {}
    zbc_depth: dict[ExcEntry, int] = {}
    worklist = [0]
    while worklist:
        k = worklist.pop()
        ins = instrs[k]
        state = states[k]
        low = lowerer.lower(ins, state)
        lowered[k] = low
        edges: list[tuple[int, State]] = []
        if low.fall is not None:
            if k + 1 >= len(instrs):
                raise lowerer.error(ins, "control falls off the end of the code")
            edges.append((k + 1, low.fall))
        if low.branch is not None:
            assert ins.target is not None
            edges.append((ins.target, low.branch))
        entry = cover[k]
        if entry is not None:
            if len(state) < entry.depth:
                raise lowerer.error(ins, f"stack of {len(state)} below its handler's depth {entry.depth}")
            kept = state[:entry.depth]
            depth = entry.depth - sum(kept)
            if zbc_depth.setdefault(entry, depth) != depth:
                raise lowerer.error(ins, "handler depth differs between instructions of one range")
            edges.append((entry.target, kept + (VAL,) * (1 + entry.lasti)))
        for target, shape in edges:
            known = states.get(target)
            if known is None:
                states[target] = shape
                worklist.append(target)
            elif known != shape:
                raise lowerer.error(instrs[target], f"paths reach this instruction with stack shapes "
                                    f"{_show(known)} and {_show(shape)}")
    return Simulation(states, lowered, zbc_depth)


def _show(state: State) -> str:
    return "[" + ", ".join("NULL" if s else "value" for s in state) + "]"
