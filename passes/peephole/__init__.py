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
from passes.peephole.branches import (
    AFTER_DELETIONS,
    FUNCTION_REWRITES,
    TERMINATOR_APPLIES,
    TERMINATOR_REWRITES,
)
from passes.peephole.context import Rewriter
from passes.peephole.stores import eliminate_dead_stores
from passes.peephole.values import APPLIES, INSTRUCTION_REWRITES, propagate_constants
from passes.registry import PassResult, register
from zir.ir import Function


def run_round(rw: Rewriter, dse: bool) -> bool:
    """One sweep of every rewrite over the function; True when anything changed.

    Each instruction goes through `INSTRUCTION_REWRITES` in order, each rewrite seeing what the
    ones before it left; a rewrite is skipped on operations `APPLIES` says it cannot change (it
    would return False there without looking at anything), which spares most calls.
    """
    changed = False
    for rewrite in FUNCTION_REWRITES:
        changed |= rewrite(rw)
    rewrites = INSTRUCTION_REWRITES
    table: dict[str, tuple[int, ...]] = {}

    def candidates(op: str) -> tuple[int, ...]:
        cands = table.get(op)
        if cands is None:
            cands = table[op] = tuple(
                j for j, r in enumerate(rewrites) if (pred := APPLIES.get(r)) is None or pred(op))
        return cands

    term_rewrites = TERMINATOR_REWRITES
    term_table: dict[str | None, tuple[int, ...]] = {}

    def term_candidates(op: str | None) -> tuple[int, ...]:
        cands = term_table.get(op)
        if cands is None:
            cands = term_table[op] = tuple(
                j for j, r in enumerate(term_rewrites)
                if (pred := TERMINATOR_APPLIES.get(r)) is None or (op is not None and pred(op)))
        return cands

    for b in list(rw.f.blocks):
        last = b.instrs[-1].op if b.instrs else None
        cands = term_candidates(last)
        done = -1  # the last rewrite tried on this block
        while cands:
            for j in cands:
                if j <= done:
                    continue
                done = j
                if term_rewrites[j](rw, b):
                    changed = True
                    now = b.instrs[-1].op if b.instrs else None
                    if now != last:
                        # a new last operation: the later rewrites that apply to it
                        last = now
                        cands = term_candidates(last)
                        break
            else:
                break
        changed |= propagate_constants(rw, b)
        instrs = b.instrs  # instruction rewrites replace items, never the list
        for k in range(len(instrs)):
            op = instrs[k].op
            known = table.get(op)
            cands = known if known is not None else candidates(op)
            done = -1  # the last rewrite tried on this instruction
            while cands:
                for j in cands:
                    if j <= done:
                        continue
                    done = j
                    if rewrites[j](rw, b, k):
                        changed = True
                        if instrs[k].op != op:
                            # a new operation: the later rewrites that apply to it
                            op = instrs[k].op
                            cands = candidates(op)
                            break
                else:
                    break
    if dse and eliminate_dead_stores(rw):
        changed = True
        # a block that lost everything but its jump is threaded now rather than in another round
        for rewrite in AFTER_DELETIONS:
            rewrite(rw)
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
