"""The peephole pass: small local rewrites applied by a driver until none applies.

Rewrites (one function each, in these modules):

* `branches`: remove unreachable blocks, thread jumps, merge straight-line blocks, fold branches on
  literals (and on a bool with one target), invert a branch on `not`, fuse compare+branch when
  the opcode table has a fused row;
* `values`: propagate constants, fold operations on literals with the table's own `impl`
  (never what raises, never a large result), simplify algebraic identities on proven exact ints,
  drop the truth test of a bool;
* `stores`: dead store elimination (per-instruction liveness, exception edges included).

Works before and after SSA construction. Model: xDSL's canonicalize pass and LLVM's InstCombine /
SimplifyCFG, scaled down.
"""

from __future__ import annotations

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.peephole.branches import FUNCTION_REWRITES, TERMINATOR_REWRITES
from passes.peephole.context import Rewriter
from passes.peephole.stores import eliminate_dead_stores
from passes.peephole.values import INSTRUCTION_REWRITES, propagate_constants
from passes.registry import PassResult, register
from zir.ir import Function


def run_round(rw: Rewriter, dse: bool) -> bool:
    """One sweep of every rewrite over the function; True when anything changed."""
    changed = False
    for rewrite in FUNCTION_REWRITES:
        changed |= rewrite(rw)
    for b in list(rw.f.blocks):
        for term_rewrite in TERMINATOR_REWRITES:
            changed |= term_rewrite(rw, b)
        changed |= propagate_constants(rw, b)
        for k in range(len(b.instrs)):
            for instr_rewrite in INSTRUCTION_REWRITES:
                changed |= instr_rewrite(rw, b, k)
    if dse:
        changed |= eliminate_dead_stores(rw)
    return changed


@register("peephole")
@attrs.frozen
class Peephole:
    """Fold constants and branches, thread jumps, drop unreachable blocks and dead stores."""

    dse: bool = True  #: run dead store elimination
    max_rounds: int = 32  #: give up after this many sweeps (each sweep is linear)

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        rw = Rewriter(f, am)
        rounds = 0
        while rounds < self.max_rounds:
            rounds += 1
            rw.new_round()
            if not run_round(rw, self.dse):
                break
        if not rw.changed:
            return PassResult.unchanged()
        preserved = PreservedAnalyses.none() if rw.cfg_changed else PreservedAnalyses.cfg()
        return PassResult(True, preserved, dict(sorted(rw.stats.items())))
