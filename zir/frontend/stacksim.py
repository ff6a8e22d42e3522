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

from collections.abc import Callable

import attrs

from zir.errors import FrontendError
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
    lower = lowerer.lower
    count = len(instrs)
    worklist = [0]
    pop, push = worklist.pop, worklist.append
    while worklist:
        k = pop()
        ins = instrs[k]
        state = states[k]
        low = lower(ins, state)
        lowered[k] = low
        # The edges in the order fall-through, jump, exception, as a worklist (LIFO), so the walk
        # and the first error met are the same however the joins are written.
        fall, branch, entry = low.fall, low.branch, cover[k]
        if fall is not None and k + 1 >= count:
            raise lowerer.error(ins, "control falls off the end of the code")
        exc: State | None = None
        if entry is not None:
            if len(state) < entry.depth:
                raise lowerer.error(ins, f"stack of {len(state)} below its handler's depth {entry.depth}")
            kept = state[:entry.depth]
            depth = entry.depth - sum(kept)
            if zbc_depth.setdefault(entry, depth) != depth:
                raise lowerer.error(ins, "handler depth differs between instructions of one range")
            exc = kept + (VAL,) * (1 + entry.lasti)
        if fall is not None:
            known = states.get(k + 1)
            if known is None:
                states[k + 1] = fall
                push(k + 1)
            elif known != fall:
                raise _mismatch(lowerer, instrs[k + 1], known, fall)
        if branch is not None:
            assert ins.target is not None
            _join(instrs, states, push, lowerer, ins.target, branch)
        if exc is not None:
            assert entry is not None
            _join(instrs, states, push, lowerer, entry.target, exc)
    return Simulation(states, lowered, zbc_depth)


def _join(instrs: list[PyInstr], states: dict[int, State], push: Callable[[int], None],
          lowerer: Lowerer, target: int, shape: State) -> None:
    """Enter `target` with `shape`: the first time, queue it; after that, the shapes must agree."""
    known = states.get(target)
    if known is None:
        states[target] = shape
        push(target)
    elif known != shape:
        raise _mismatch(lowerer, instrs[target], known, shape)


def _mismatch(lowerer: Lowerer, ins: PyInstr, known: State, shape: State) -> FrontendError:
    return lowerer.error(ins, f"paths reach this instruction with stack shapes {_show(known)} and "
                         f"{_show(shape)}")


def _show(state: State) -> str:
    return "[" + ", ".join("NULL" if s else "value" for s in state) + "]"
