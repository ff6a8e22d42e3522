"""Peephole rewrites of control flow: branch folding, branch inversion, compare+branch fusion, jump
threading, block merging and removal of unreachable blocks.

Block rewrites are `rewrite(rw, block) -> bool` (they look at the block's terminator); function
rewrites are `rewrite(rw) -> bool`. Every change to a phi's incoming list keeps the rule that a
phi lists exactly its block's predecessors (`zir.analysis.cfg`: a block with a handler always has
its exception edge).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from passes.edit import retarget
from passes.fold import truth
from passes.peephole.context import Rewriter
from zir.analysis.op_effects import MAY_RAISE, TERMINATOR
from zir.ir import Block, Instr, Var
from zir.ops import IR_OPS, OpDef
from zir.printer import format_instr, format_name


def _place(rw: Rewriter, b: Block) -> str:
    return f"{format_name('^', b.label)} of {format_name('@', rw.f.name)}"


def _at(rw: Rewriter, b: Block) -> str:
    return f"in {_place(rw, b)}"


def _drop_edge(rw: Rewriter, src: Block, dst_label: str) -> None:
    """`src` no longer branches to `dst_label`: its phis forget `src`."""
    for p in rw.block(dst_label).phis:
        p.incoming.pop(src.label, None)


def fold_branch(rw: Rewriter, b: Block) -> bool:
    """`cbr` on a literal becomes `br` to the target it selects."""
    t = b.terminator
    if t is None or t.op != "cbr":
        return False
    value = truth(t.args[0])
    if value is None:
        return False
    taken, dropped = (t.targets[0], t.targets[1]) if value else (t.targets[1], t.targets[0])
    if not rw.allow(lambda: f"fold {format_instr(t)} to br {format_name('^', taken)} {_at(rw, b)}"):
        return False
    b.instrs[-1] = Instr("br", None, [], {}, [taken], t.line)
    if dropped != taken:
        _drop_edge(rw, b, dropped)
    return rw.did("branches folded", cfg=True)


def branch_on_bool_same_targets(rw: Rewriter, b: Block) -> bool:
    """`cbr %c, ^a, ^a` on a proven bool (its truth test runs no code) becomes `br ^a`."""
    t = b.terminator
    if t is None or t.op != "cbr" or t.targets[0] != t.targets[1] or not rw.kinds.is_bool(t.args[0]):
        return False
    if not rw.allow(lambda: f"fold {format_instr(t)} to br {format_name('^', t.targets[0])} {_at(rw, b)}"):
        return False
    b.instrs[-1] = Instr("br", None, [], {}, [t.targets[0]], t.line)
    return rw.did("branches folded", cfg=True)


def _single_use_def_before(rw: Rewriter, b: Block, op: str | None) -> Instr | None:
    """The instruction just before the terminator when it defines the terminator's (single-use,
    single-definition) condition, and, if `op` is given, is that operation."""
    t = b.terminator
    if t is None or len(b.instrs) < 2 or not t.args or not isinstance(t.args[0], Var):
        return None
    d = b.instrs[-2]
    cond = t.args[0]
    if d.dest != cond or (op is not None and d.op != op) or rw.uses[cond.name] != 1:
        return None
    if not rw.f.ssa and rw.defs[cond.name] != 1:
        return None
    return d


def invert_not_branch(rw: Rewriter, b: Block) -> bool:
    """`%n = not %x; cbr %n, ^a, ^b` (nothing else reads %n) becomes `cbr %x, ^b, ^a`."""
    t = b.terminator
    if t is None or t.op != "cbr":
        return False
    d = _single_use_def_before(rw, b, "not")
    if d is None:
        return False
    if not rw.allow(lambda: f"invert {format_instr(t)} on {format_instr(d)} {_at(rw, b)}"):
        return False
    # `not` and `cbr` each test the truth once; the fused branch tests it once, at the same point.
    b.instrs[-2:] = [Instr("cbr", None, [d.args[0]], {}, [t.targets[1], t.targets[0]], t.line)]
    return rw.did("branches inverted", cfg=True)


def fused_branch(op: str) -> OpDef | None:
    """The table's fused compare-and-branch row for comparison `op` (`cbr_lt` for `lt`), if any.

    Table-driven: adding a row `cbr_<op>` (2 operands, terminator, 2 targets) to `zir.ops` is all
    it takes for the peephole to start fusing that comparison.
    """
    row = IR_OPS.get(f"cbr_{op}")
    if row is None or not row.terminator or row.targets != 2 or row.arity != 2:
        return None
    return row


def fuse_compare_branch(rw: Rewriter, b: Block) -> bool:
    """`%c = lt %a, %b; cbr %c, ^t, ^f` (nothing else reads %c) becomes `cbr_lt %a, %b, ^t, ^f`
    when the table has a fused row."""
    t = b.terminator
    if t is None or t.op != "cbr" or len(b.instrs) < 2:
        return False
    # the table's fused row first: it is a lookup, the use count below needs every use counted
    row = fused_branch(b.instrs[-2].op)
    if row is None:
        return False
    d = _single_use_def_before(rw, b, None)
    if d is None or len(d.args) != 2:
        return False
    if not rw.allow(lambda: f"fuse {format_instr(d)} into {format_instr(t)} {_at(rw, b)}"):
        return False
    b.instrs[-2:] = [Instr(row.name, None, list(d.args), {}, list(t.targets), t.line)]
    return rw.did("compares fused into branches", cfg=True)


TERMINATOR_REWRITES = [fold_branch, branch_on_bool_same_targets, invert_not_branch, fuse_compare_branch]

#: rewrite -> which last operations of a block it can change at all (the rewrite returns False,
#: touching no fact, on any other), so the driver calls it only on those; a rewrite not listed is
#: tried on every block.
TERMINATOR_APPLIES: dict[Callable[[Rewriter, Block], bool], Callable[[str], bool]] = {
    fold_branch: lambda op: op == "cbr",
    branch_on_bool_same_targets: lambda op: op == "cbr",
    invert_not_branch: lambda op: op == "cbr",
    fuse_compare_branch: lambda op: op == "cbr",
}


def _thread_text(rw: Rewriter, p: Block, t: Instr, mid: str, dest: str) -> str:
    return (f"thread {format_instr(t)} through {format_name('^', mid)} to {format_name('^', dest)} "
            f"{_at(rw, p)}")


def _merge_text(rw: Rewriter, b: Block, c_label: str) -> str:
    return f"merge {format_name('^', c_label)} into {_place(rw, b)}"


def _is_jump_only(b: Block) -> str | None:
    """The target of a block that holds nothing but `br` (no phis), else None."""
    if b.phis or len(b.instrs) != 1 or b.instrs[0].op != "br":
        return None
    return b.instrs[0].targets[0]


def thread_jumps(rw: Rewriter) -> bool:
    """A branch to a block that only jumps on goes straight to that block's target."""
    changed = False
    entry = rw.f.blocks[0].label
    handlers = {b.handler for b in rw.f.blocks if b.handler is not None}
    # (a map of our own: threading adds and removes no block, but each thread resets `rw.block`'s)
    block = rw.f.block_map().__getitem__
    terminator = TERMINATOR
    for p in rw.f.blocks:
        instrs = p.instrs
        if not instrs or not terminator[instrs[-1].op]:
            continue
        t = instrs[-1]
        for mid in list(dict.fromkeys(t.targets)):
            dest = _is_jump_only(block(mid))
            if dest is None or mid == entry or mid in handlers or dest == mid or dest == p.handler:
                continue
            target = block(dest)
            if target.phis and p.label in target.phis[0].incoming:
                continue  # p already reaches dest: the phis cannot tell the two edges apart
            if not rw.allow(partial(_thread_text, rw, p, t, mid, dest)):
                continue
            retarget(t, mid, dest)
            for phi in target.phis:
                value = phi.incoming[mid]
                phi.incoming[p.label] = value
                if isinstance(value, Var):
                    rw.add_use(value.name)
            # ^mid keeps its phi entries until it is removed as unreachable (it still jumps here)
            # the phi gains an operand equal to one it has: the meet of its kinds is the same
            changed = rw.did("jumps threaded", cfg=True, kinds_kept=True)
    return changed


def _raises(instrs: list[Instr]) -> bool:
    """Whether any of `instrs` may raise."""
    may_raise = MAY_RAISE
    return any(may_raise[i.op] for i in instrs)


def merge_blocks(rw: Rewriter) -> bool:
    """A block that jumps to a block with no other predecessor absorbs it (same handler only; in
    SSA form not when both hold a raise point inside a `try`)."""
    changed = False
    flow = rw.flow
    # predecessor lists, kept up to date by hand as blocks merge (rebuilding the CFG each time
    # would make the rewrite quadratic): the CFG's, but for the ones a merge edited
    edited: dict[str, list[str]] = {}

    def preds(label: str) -> list[str]:
        p = edited.get(label)
        return p if p is not None else list(flow.pred[label])

    blocks = rw.f.block_map()
    handlers = {b.handler for b in rw.f.blocks if b.handler is not None}
    entry = rw.f.blocks[0].label
    gone: set[str] = set()
    for b in rw.f.blocks:
        while b.label not in gone:
            t = b.terminator
            if t is None or t.op != "br":
                break
            c_label = t.targets[0]
            if c_label in (b.label, entry, b.handler) or c_label in handlers or preds(c_label) != [b.label]:
                break
            c = blocks[c_label]
            if c.handler != b.handler:
                break
            phi_dests = {p.dest for p in c.phis}
            if any(v in phi_dests for p in c.phis for v in p.incoming.values()):
                break  # phis read each other: their parallel semantics does not survive as copies
            h = blocks[b.handler] if b.handler is not None else None
            take_c = False  # whether the merged block sends the handler c's operands
            if h is not None:
                same = all(p.incoming.get(b.label) == p.incoming.get(c_label) for p in h.phis)
                if rw.f.ssa:
                    b_raises, c_raises = _raises(b.instrs[:-1]), _raises(c.instrs)
                    if b_raises and c_raises:
                        break  # SSA form: one raise point per block inside a try (docs/ir.md)
                    # the operands that matter are those of the block holding the raise point
                    # (a block with none never takes its exception edge)
                    take_c = c_raises and not same
                elif not same:
                    break  # the handler gets different values from the two blocks
            if not rw.allow(partial(_merge_text, rw, b, c_label)):
                break
            copies = [Instr("copy", p.dest, [p.incoming[b.label]]) for p in c.phis]
            b.instrs[-1:] = copies + c.instrs
            for s in dict.fromkeys(c.successors()):
                for p in blocks[s].phis:
                    if c_label in p.incoming:
                        p.incoming = {(b.label if k == c_label else k): v for k, v in p.incoming.items()}
                edited[s] = list(dict.fromkeys(b.label if x == c_label else x for x in preds(s)))
            if h is not None:
                for p in h.phis:
                    value = p.incoming.pop(c_label, None)
                    if take_c and value is not None:
                        p.incoming[b.label] = value
                edited[h.label] = [x for x in preds(h.label) if x != c_label]
            gone.add(c_label)
            # a one-operand phi and a copy of that operand have the same kind; the handler phis
            # lose an operand equal to one they keep (unless they took c's: then recompute)
            changed = rw.did("blocks merged", cfg=True, kinds_kept=not take_c)
    if gone:
        rw.f.blocks = [x for x in rw.f.blocks if x.label not in gone]
    return changed


def remove_unreachable(rw: Rewriter) -> bool:
    """Blocks no path from the entry reaches are deleted, with the phi entries they fed."""
    live = rw.reachable()
    removed = {b.label for b in rw.f.blocks if b.label not in live}
    # All at once: an unreachable block left behind could branch to one that is gone.
    if not removed:
        return False
    names = ", ".join(format_name("^", x) for x in sorted(removed))
    if not rw.allow(f"remove unreachable blocks {names} of {format_name('@', rw.f.name)}"):
        return False
    rw.f.blocks = [b for b in rw.f.blocks if b.label not in removed]
    for b in rw.f.blocks:
        for p in b.phis:
            for label in removed & set(p.incoming):
                del p.incoming[label]
    for _ in removed:
        rw.did("unreachable blocks removed", cfg=True)
    return True


def thread_jumps_then_clean(rw: Rewriter) -> bool:
    """`thread_jumps`, then `remove_unreachable` at once when it threaded anything: the blocks it
    jumped over usually lose their last predecessor, and as long as they stay they are predecessors
    that keep `merge_blocks` from merging their targets (one round of the driver saved)."""
    if not thread_jumps(rw):
        return False
    remove_unreachable(rw)
    return True


FUNCTION_REWRITES = [remove_unreachable, thread_jumps_then_clean, merge_blocks]
#: what the driver runs again after deleting instructions (no edge changed, so nothing new is
#: unreachable; a block may now hold only its jump)
AFTER_DELETIONS = [thread_jumps_then_clean, merge_blocks]
