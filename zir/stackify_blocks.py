"""The facts `zir.stackify` plans one block with: what each instruction pushes, which results are
dead, which IR pairs fuse into one ZBC instruction, which results may be UNBOUND.

Fusions, where ZBC has one instruction for an IR pair: `is %x, None` + `cbr` is POP_JUMP_IFNONE /
POP_JUMP_IF_NOTNONE, `iter_next` + `cbr_more` is FOR_ITER, `unpack`/`unpack_star` + its
`tuple_item`s is UNPACK_SEQUENCE/UNPACK_EX.
"""

from __future__ import annotations

import attrs

from zir.analysis.liveness import Liveness
from zir.ir import UNBOUND, Block, Const, Instr, Value, Var
from zir.stackify_loops import ForLoop

__all__ = ["BlockInfo", "analyse_block"]

#: Result-defining operations that may be dropped entirely when the result is unused.
DROPPABLE = frozenset({"const", "copy"})
NONE = Const(None)
UNDEF = Const(UNBOUND)


@attrs.define(slots=True, eq=False)
class BlockInfo:
    """What planning one block needs, computed once: per instruction the values it pushes before
    its ZBC form (`templates`), whether it emits nothing (`silent`: a dead constant or copy) and
    whether its result is unused (`dead`), the live Vars after it (`after`, a bitset); the Vars
    the block's handler reads (`handler_live`); the fusion of its final test and branch (`fused`:
    "is", "is_not", "iter" or None, with the `loop` for "iter"); the fused unpackings (`unpacks`:
    position -> item count); the results that never stay on the stack for a later user
    (`pinned`) and those that may be UNBOUND (`unbound`)."""

    templates: list[list[Value]]
    silent: list[bool]
    dead: list[bool]
    after: list[int]
    handler_live: int
    fused: str | None
    loop: ForLoop | None
    unpacks: dict[int, int]
    pinned: set[int]
    unbound: set[int]


def analyse_block(block: Block, live: Liveness) -> BlockInfo:
    """The facts `zir.stackify` plans `block` with (see `BlockInfo`)."""
    instrs = block.instrs
    after = live.bits_after(block.label)
    index = live.index
    dead = [ins.dest is not None and not after[k] >> index[ins.dest] & 1 for k, ins in enumerate(instrs)]
    silent = [ins.op in DROPPABLE and dead[k] for k, ins in enumerate(instrs)]
    templates: list[list[Value]] = []
    for k, ins in enumerate(instrs):
        if silent[k]:
            templates.append([])
        elif ins.op == "with_exit":
            # WITH_EXCEPT_START reads [exit, lasti, prev_exc, exc]; the middle two are unused.
            templates.append([ins.args[0], NONE, NONE, ins.args[1]])
        elif ins.op == "dict_merge":
            # DICT_MERGE 1 reads the callable two below the dict: [callable, args, dict, m].
            templates.append([ins.args[2], NONE, ins.args[0], ins.args[1]])
        else:
            templates.append(list(ins.args))
    handler_live = live.exception_bits(block.label)
    fused, loop = _fuse(block, templates, after, handler_live, live)
    unpacks = _fuse_unpacks(block, templates, after, live)
    # Results that never stay on the stack for a later user: the caught exception (it is on
    # the stack before any load could go below it) and unpacked items (pushed all at once).
    pinned = {0} if instrs and instrs[0].op == "catch" else set()
    for k, n in unpacks.items():
        pinned.update(range(k, k + n + 1))
    unbound = _maybe_unbound(instrs)
    return BlockInfo(templates, silent, dead, list(after), handler_live, fused, loop, unpacks, pinned,
                      unbound)

def _fuse_unpacks(block: Block, templates: list[list[Value]], after: list[int],
                  live: Liveness) -> dict[int, int]:
    """`%t = unpack %s {count=n}` followed by `tuple_item %t` for indices 0..n-1, with the tuple
    dead afterwards, is UNPACK_SEQUENCE n (UNPACK_EX for `unpack_star`). Returns the
    positions of such `unpack`s with their item counts; the items' templates become empty."""
    out: dict[int, int] = {}
    instrs = block.instrs
    for k, ins in enumerate(instrs):
        if ins.op == "unpack":
            n = ins.attrs["count"]
        elif ins.op == "unpack_star":
            n = ins.attrs["before"] + ins.attrs["after"] + 1
        else:
            continue
        t = ins.dest
        items = instrs[k + 1:k + 1 + n]
        if t is None or len(items) != n or not all(
                q.op == "tuple_item" and q.args == [t] and q.attrs.get("index") == j
                and (q.dest != t or j == n - 1) for j, q in enumerate(items)):
            continue
        if after[k + n] >> live.index[t] & 1 and (not items or items[-1].dest != t):
            continue
        out[k] = n
        for j in range(k + 1, k + 1 + n):
            templates[j] = []
    return out

def _fuse(block: Block, templates: list[list[Value]], after: list[int], handler_live: int,
          live: Liveness) -> tuple[str | None, ForLoop | None]:
    """Fuse a block's final test with its branch where ZBC has one instruction for both:
    `%c = is %x, None; cbr %c` becomes POP_JUMP_IFNONE (or NOTNONE) on `%x`, and
    `%v = iter_next %it; cbr_more %v` becomes FOR_ITER (when exhausted FOR_ITER pops the
    iterator and jumps, so the item must be dead on that path). Returns the kind of fusion
    ("is", "is_not", "iter" or None) and, for "iter", the loop. `templates` is updated: the
    fused test no longer loads None / the branch reads nothing."""
    instrs = block.instrs
    if len(instrs) < 2:
        return None, None
    term, prod = instrs[-1], instrs[-2]
    d = prod.dest
    if not term.args or d is None or term.args[0] != d:
        return None, None
    bit = 1 << live.index[d]
    if term.op == "cbr" and prod.op in ("is", "is_not"):
        if after[-1] & bit or handler_live & bit:
            return None, None
        a, b = prod.args
        x = a if b == NONE else b if a == NONE else None
        if x is None:
            return None, None
        templates[-2] = [x]
        return prod.op, None
    if term.op == "cbr_more" and prod.op == "iter_next":
        body, exit_ = term.targets
        if live.in_bits(exit_) & bit:
            return None, None
        templates[-1] = []
        it = prod.args[0]
        loop = ForLoop(block.label, it, d, body, exit_) if isinstance(it, Var) and body != exit_ else None
        return "iter", loop
    return None, None


def _maybe_unbound(instrs: list[Instr]) -> set[int]:
    """The instructions whose result may be UNBOUND: `undef` constants and copies of values not
    known to be bound (a value is known bound when this block made it with any other operation,
    or checked it, before)."""
    bound: set[Var] = set()
    out: set[int] = set()
    for k, ins in enumerate(instrs):
        d = ins.dest
        if ins.op == "check_bound" and isinstance(ins.args[0], Var):
            bound.add(ins.args[0])
        if d is None:
            continue
        if ins.op == "const":
            known = ins.args != [UNDEF]
        elif ins.op == "copy":
            a = ins.args[0]
            known = a in bound if isinstance(a, Var) else a != UNDEF
        else:
            known = True
        if known:
            bound.add(d)
        else:
            bound.discard(d)
            out.add(k)
    return out
