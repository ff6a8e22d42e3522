"""`await-batch`: run independent awaits of calls concurrently (spawn them all, then await them all).

In a coroutine, a run of statements such as

    a = await fetch(1)
    b = await fetch(2)

lifts to, per statement, `%c = call %f, ...; %i = get_awaitable %c {flags=0}; %r = yield_from %i,
None`. When the awaits are independent, the pass rewrites the run so that every call is started as a
VM task first and the results are awaited afterwards, in the original order:

    %t1 = spawn %fetch, 1
    %t2 = spawn %fetch, 2
    %a = await %t1
    %b = await %t2

(the shape of the seed's BatchAwaitDetector, and of `asyncio.gather`). A task that never suspends
finishes inside its `spawn` (vm/tasks.py), so for such calls nothing is even reordered; a task that
suspends (it waits for I/O, a timer, another task) lets the following calls start meanwhile, which is
the point.

What the pass checks (SSA form, one basic block at a time, blocks without an exception handler):

* each unit is exactly `call` -> `get_awaitable {flags=0}` -> `yield_from _, None`, with the call's
  and the awaitable's values used by nothing else;
* no data dependence: nothing hoisted above an earlier await reads that await's result (the
  arguments and callee of a later call, and everything computed between the awaits);
* no effects between them that could observe the order: every instruction between two units must be
  pure (the opcode table's effects): a call, an attribute or global read, a store, anything that may
  raise or run user code ends the group, and the unit after it starts a new one.

The contract a program accepts with this pass (it is not part of O1/O2; name it in a pipeline): the
awaited calls of a batch are independent tasks whose bodies may interleave once they suspend, as
under `asyncio.gather`; when one fails, the others have already started. Exceptions are raised by the
awaits, in the original order.
"""

from __future__ import annotations

from collections import Counter

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.edit import NameSupply, all_names
from passes.registry import PassResult, register
from zir.ir import Block, Const, Function, Instr, Var
from zir.ops import OPS

__all__ = ["AwaitBatch"]


@attrs.frozen
class _Unit:
    """One `%r = await f(args)`: the positions of its three instructions in the block."""

    call: int
    get: int
    wait: int


@register("await-batch")
@attrs.frozen
class AwaitBatch:
    """Spawn independent awaited calls together, then await them in order (see the module doc)."""

    min_batch: int = 2  #: the fewest awaits worth batching

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        if not f.ssa or "coroutine" not in f.flags:
            return PassResult.unchanged()
        uses = _use_counts(f)
        names = NameSupply(all_names(f))
        batched = awaits = refused = 0
        for block in f.blocks:
            if block.handler is not None:
                continue
            groups, cut = _groups(block, uses, self.min_batch)
            refused += cut
            for group in reversed(groups):  # later groups first: earlier positions stay valid
                where = f"batch {len(group)} awaits in ^{block.label}"
                if not am.allow(where):
                    continue
                _rewrite(block, group, names)
                batched += 1
                awaits += len(group)
        stats = {"batches": batched, "awaits batched": awaits, "awaits left in order": refused}
        if not batched:
            return PassResult.unchanged(stats)
        # Instructions moved and changed within blocks: the CFG and what comes from it still hold.
        return PassResult(True, PreservedAnalyses.cfg(), stats)


def _use_counts(f: Function) -> Counter[str]:
    counts: Counter[str] = Counter()
    for b in f.blocks:
        for phi in b.phis:
            counts.update(v.name for v in phi.incoming.values() if isinstance(v, Var))
        for i in b.instrs:
            counts.update(v.name for v in i.uses())
    return counts


def _unit_at(instrs: list[Instr], k: int, uses: Counter[str]) -> _Unit | None:
    """The await unit starting at instruction `k`, or None."""
    if k + 2 >= len(instrs):
        return None
    call, get, wait = instrs[k], instrs[k + 1], instrs[k + 2]
    if call.op != "call" or call.dest is None or get.op != "get_awaitable" or get.dest is None:
        return None
    if get.attrs.get("flags", 0) != 0 or get.args != [call.dest] or uses[call.dest.name] != 1:
        return None
    if wait.op != "yield_from" or wait.args != [get.dest, Const(None)] or uses[get.dest.name] != 1:
        return None
    return _Unit(k, k + 1, k + 2)


def _groups(block: Block, uses: Counter[str], least: int) -> tuple[list[list[_Unit]], int]:
    """Maximal runs of independent units (see the module docstring), and how many units could not
    join the run before them."""
    instrs = block.instrs
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    pending: set[Var] = set()  # results of the current group's awaits
    refused = 0
    k = 0
    while k < len(instrs):
        unit = _unit_at(instrs, k, uses)
        if unit is None:
            k += 1
            continue
        if current and _joins(instrs, current[-1], unit, pending):
            current.append(unit)
        else:
            if current:
                refused += 1
                if len(current) >= least:
                    groups.append(current)
            current = [unit]
            pending = set()
        dest = instrs[unit.wait].dest
        if dest is not None:
            pending.add(dest)
        k = unit.wait + 1
    if len(current) >= least:
        groups.append(current)
    return groups, refused


def _joins(instrs: list[Instr], last: _Unit, unit: _Unit, pending: set[Var]) -> bool:
    """May `unit` be spawned before the awaits of its group (those ending at `last`)?"""
    hoisted = instrs[last.wait + 1:unit.call + 1]
    for i in hoisted[:-1]:
        if not OPS[i.op].pure or i.op in ("yield", "yield_from", "await"):
            return False  # an effect between the awaits could observe their order
    return not any(v in pending for i in hoisted for v in i.uses())


def _rewrite(block: Block, group: list[_Unit], names: NameSupply) -> None:
    """Spawns (with what lies between them) in order, then the awaits, in place of the group."""
    instrs = block.instrs
    first, last = group[0], group[-1]
    spawned: list[Instr] = []
    awaited: list[Instr] = []
    for n, unit in enumerate(group):
        if n:
            spawned.extend(instrs[group[n - 1].wait + 1:unit.call])
        call, wait = instrs[unit.call], instrs[unit.wait]
        task = names.var()
        spawned.append(Instr("spawn", task, list(call.args), line=call.line))
        awaited.append(Instr("await", wait.dest, [task], line=wait.line))
    block.instrs = instrs[:first.call] + spawned + awaited + instrs[last.wait + 1:]
