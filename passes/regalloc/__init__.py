"""Register allocation: the `regalloc{k=N,temps=M}` pass (Chaitin-Briggs graph colouring).

    pm = passes.PassManager.parse("O2,regalloc{k=16,temps=8}")
    pm.run(f)                      # every Var of f is now a register %r0 .. %r23
    rc = zir.lower(f)              # register code for the register VM

The pass takes IR out of SSA form (after `ssa-destroy`, or straight from `zir.lift` at O0) and
renames every Var, parameters included, to a register `%rN`; values that do not fit live in frame
slots, moved by `spill %rN {slot=S}` / `%rN = reload {slot=S}`. The modules:

* `passes.regalloc.graph`: the working interference graph (from `zir.analysis.interference_graph`);
* `passes.regalloc.coalesce`: conservative coalescing (Briggs' and George's tests);
* `passes.regalloc.color`: simplify and select with optimistic spilling;
* `passes.regalloc.spill`: spill code and rematerialization;
* `passes.regalloc.allocate`: the rounds, `allocate(f, k, temps)`, `assign_registers` and
  `registers_needed(f)` (the least `k + temps` that works); its docstring says what the `temps`
  registers are for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.regalloc.allocate import Allocation, allocate, assign_registers, register_name, registers_needed
from passes.registry import PassResult, register
from zir.ir import Function
from zir.printer import format_name

__all__ = ["Allocation", "RegAlloc", "allocate", "assign_registers", "register_name", "registers_needed"]


def _at_least(minimum: int) -> Callable[[Any, attrs.Attribute[int], int], None]:
    """An attrs validator: an int option no smaller than `minimum` (pipelines report the message)."""

    def check(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"option '{attribute.name}' must be an integer >= {minimum}, got {value!r}")

    return check


@register("regalloc")
@attrs.frozen
class RegAlloc:
    """Chaitin-Briggs register allocation to `k` general registers plus `temps` registers reserved
    for spill code (conservative coalescing, optimistic spilling, spill to frame slots)."""

    k: int = attrs.field(default=16, validator=_at_least(1))
    temps: int = attrs.field(default=8, validator=_at_least(0))

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        if not am.allow(f"allocate registers of {format_name('@', f.name)}"):
            return PassResult.unchanged()
        # A cached interference graph saves the first build (computing one here would not).
        graph = am.get("interference", f) if am.cached("interference", f) and not f.ssa else None
        allocation = allocate(f, self.k, self.temps, graph=graph)
        dropped = assign_registers(f, allocation)
        stats = dict(allocation.stats)
        stats["copies removed"] = stats.get("copies removed", 0) + dropped
        # Instructions changed; blocks, branch targets and handlers did not.
        return PassResult(True, PreservedAnalyses.cfg(), stats)
