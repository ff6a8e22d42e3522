"""Control flow of a ZBC code object, as lifting needs it.

`ZFlow.build(code)` splits the instructions into basic blocks and computes, for every block, its
normal successors and predecessors, the exception-table entry that covers it and the set of locals
that are definitely assigned on entry.

Blocks start at offset 0, at jump targets, after jumps and terminators, at handler targets and at
the boundaries of handler ranges, so that every instruction of a block is covered by the same
(innermost, first-listed) exception-table entry.

Definite assignment is the classic forward must-dataflow problem (Aho, Sethi & Ullman, "Compilers",
10.6; the Java "definite assignment" rules): a local is definitely assigned at a point when every
path from the entry stores it with no delete after the store. Sets are Python ints used as bit
sets over `Code.varnames`; the transfer function of a block is `(S & ~kill) | gen`. An exception
edge leaves from anywhere inside its block, so what it carries is the block's entry set minus every
local the block deletes anywhere. The equations are solved by round-robin iteration in offset order
until nothing changes.
"""

from __future__ import annotations

import bisect

import attrs

from zir.bytecode.code import Code, Handler
from zir.errors import VerifyError
from zir.ops import ZBC_OPS, OpDef, ZArg, suggest


@attrs.define(slots=True, eq=False)
class ZBlock:
    """A basic block of ZBC: instructions `[start, end)`."""

    start: int
    end: int
    #: The exception-table entry that catches exceptions raised here, or None.
    handler: Handler | None = None
    #: Offsets of the blocks control can reach normally (jump target, fall-through), in order.
    succs: list[int] = attrs.field(factory=list)
    #: How many normal edges enter this block (jumps and fall-throughs).
    npreds: int = 0
    #: Start offsets of the blocks whose exceptions land here (this block is a handler target).
    exc_preds: list[int] = attrs.field(factory=list)
    #: Definite assignment: locals assigned (gen) or deleted (kill) by the block, net; `killany`
    #: is every local deleted anywhere in it (for exception edges).
    gen: int = 0
    kill: int = 0
    killany: int = 0
    #: Locals definitely assigned on entry (a bit set over `Code.varnames`).
    da_in: int = 0


@attrs.define(slots=True, eq=False)
class ZFlow:
    """The blocks of one code object, in offset order, plus per-instruction table rows."""

    code: Code
    rows: list[OpDef]
    blocks: dict[int, ZBlock]
    #: True when offset 0 is also entered by a jump or an exception edge (the IR entry block may
    #: have no predecessors, so lifting then adds a separate entry block).
    entry_has_preds: bool

    @classmethod
    def build(cls, code: Code) -> ZFlow:
        """Analyse `code`; raise `zir.VerifyError` for an unknown opcode or a bad jump target."""
        instrs = code.instrs
        n = len(instrs)
        if n == 0:
            raise VerifyError(f"{code.where(0)}: the code has no instructions")
        rows = _rows(code)
        leaders = _leaders(code, rows)
        starts = sorted(leaders)
        blocks: dict[int, ZBlock] = {}
        for k, s in enumerate(starts):
            blocks[s] = ZBlock(s, starts[k + 1] if k + 1 < len(starts) else n)
        _link(code, rows, blocks)
        # The innermost entry for a block is the first listed entry that covers its start (all of
        # its instructions are covered alike, since range boundaries start blocks).
        # Innermost first: the first listed entry that covers a block wins. Each entry's blocks
        # are found by bisection, so this is linear in the blocks covered.
        for h in code.handlers:
            for k in range(bisect.bisect_left(starts, h.start), bisect.bisect_left(starts, h.end)):
                b = blocks[starts[k]]
                if b.handler is None:
                    b.handler = h
        for b in blocks.values():
            if b.handler is not None:
                blocks[b.handler.target].exc_preds.append(b.start)
        entry = blocks[0]
        flow = cls(code, rows, blocks, entry.npreds > 0 or bool(entry.exc_preds))
        flow._definite_assignment()
        return flow

    def _definite_assignment(self) -> None:
        code = self.code
        for b in self.blocks.values():
            gen = kill = killany = 0
            prev = ""
            for ins in code.instrs[b.start:b.end]:
                op = ins.op
                if (op == "LOAD_FAST" or op == "STORE_FAST") and not stores_maybe_unbound(prev, op):
                    # A LOAD_FAST that completes proves the local bound; one that raises leaves
                    # along the exception edge, which does not see this block's gen set.
                    bit = 1 << ins.arg  # type: ignore[operator]
                    gen |= bit
                    kill &= ~bit
                elif op == "DELETE_FAST" or op == "STORE_FAST":
                    bit = 1 << ins.arg  # type: ignore[operator]
                    gen &= ~bit
                    kill |= bit
                    killany |= bit
                prev = op
            b.gen, b.kill, b.killany = gen, kill, killany
        top = (1 << len(code.varnames)) - 1
        params = (1 << code.nparams) - 1
        order = list(self.blocks.values())
        preds: dict[int, list[ZBlock]] = {b.start: [] for b in order}
        for b in order:
            b.da_in = top
            for s in b.succs:
                preds[s].append(b)
        changed = True
        while changed:
            changed = False
            for b in order:
                new = params if b.start == 0 else top
                for p in preds[b.start]:
                    new &= (p.da_in & ~p.kill) | p.gen
                for s in b.exc_preds:
                    e = self.blocks[s]
                    new &= e.da_in & ~e.killany
                if new != b.da_in:
                    b.da_in = new
                    changed = True


def stores_maybe_unbound(prev: str, op: str) -> bool:
    """Does STORE_FAST (`op`) store a value that may be UNBOUND, judging by the instruction before
    it? LOAD_UNBOUND and LOAD_FAST_UNCHECKED exist for stackify's moves of maybe-unbound values,
    which it always stores right away; such a store counts as a delete for definite assignment."""
    return op == "STORE_FAST" and (prev == "LOAD_UNBOUND" or prev == "LOAD_FAST_UNCHECKED")


def _rows(code: Code) -> list[OpDef]:
    try:
        return [ZBC_OPS[ins.op] for ins in code.instrs]
    except KeyError:  # name the first unknown opcode, by offset
        i = next(i for i, ins in enumerate(code.instrs) if ins.op not in ZBC_OPS)
        op = code.instrs[i].op
        raise VerifyError(f"{code.where(i)}: unknown ZBC opcode {op!r}{suggest(op, list(ZBC_OPS))}") from None


#: Rows that end a block: jumps (conditional or not) and terminators.
_JUMPS = frozenset(row.zbc for row in ZBC_OPS.values() if row.zarg is ZArg.JUMP)
_ENDS = _JUMPS | frozenset(row.zbc for row in ZBC_OPS.values() if row.terminator)


def _leaders(code: Code, rows: list[OpDef]) -> set[int]:
    n = len(code.instrs)
    leaders = {0}
    for h in code.handlers:
        if not (0 <= h.start < h.end <= n and 0 <= h.target < n):
            raise VerifyError(f"{code.where(0)}: exception-table entry {h} is outside the code")
        leaders.update((h.start, h.end, h.target))
    for i, ins in enumerate(code.instrs):
        if ins.op not in _ENDS:
            continue
        if ins.op in _JUMPS:
            t = ins.arg
            if t is None or not 0 <= t < n:
                raise VerifyError(f"{code.where(i)}: {rows[i].zbc} jumps to {t}, outside the code")
            leaders.add(t)
        leaders.add(i + 1)
    leaders.discard(n)
    return leaders


def _link(code: Code, rows: list[OpDef], blocks: dict[int, ZBlock]) -> None:
    n = len(code.instrs)
    for b in blocks.values():
        last = b.end - 1
        row = rows[last]
        if b.end >= n and not row.terminator:
            raise VerifyError(f"{code.where(last)}: execution can fall off the end of the code")
        if row.zarg is ZArg.JUMP and not row.terminator:
            # Conditional jump or FOR_ITER: fall-through first, then the target (the IR's cbr
            # lists the taken target where the ZBC says; this order is only for the worklist).
            b.succs.append(b.end)
            b.succs.append(code.instrs[last].arg)  # type: ignore[arg-type]
        elif row.zarg is ZArg.JUMP:
            b.succs.append(code.instrs[last].arg)  # type: ignore[arg-type]
        elif not row.terminator:
            b.succs.append(b.end)
        for s in b.succs:
            blocks[s].npreds += 1
