"""Which results of one block stay on the operand stack: the expression trees of `zir.stackify`.

This is the block-local half of stackify, after LLVM's WebAssembly back end
(`WebAssemblyRegStackify.cpp`: a single-use definition is folded into the expression tree of its
user). For each instruction K the operands are matched right to left against the instructions just
before it: an operand defined by the instruction immediately before K's tree so far, read once by
K, dead after K (or redefined by K), neither read nor written in between, and not needed by the
block's handler while something in between may raise, stays on the stack; the walk then continues
before that operand's own tree. Operands that are not stacked are locals or constants; their loads
are placed between the stacked trees, in operand order. Moving a load of a local earlier or later
is safe because the instructions it moves across only make stacked values (or emit nothing),
never that local's.

Values that arrive on the stack from the predecessors (`entry`) act as producers standing before
the first instruction: a tree may consume them like any other stacked value, but nothing can be
loaded below them (that would have to happen in the predecessor), so the caller keeps an entry
value on the stack only when the plan says every entry value was consumed cleanly (`entry_ok`).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from zir.ir import Instr, Value, Var

__all__ = ["TreePlan", "plan_trees"]

#: A load group: the user instruction's index and the operands loaded for it, in order.
LoadGroup = tuple[int, list[Value]]


@attrs.define(slots=True)
class TreePlan:
    """The plan for one block.

    `stacked[k]`: instruction k's result stays on the stack for its user. `pre[k]`: the load groups
    to emit before instruction k, in planning order (the last planned belongs to the outermost
    tree, so its loads go first). `consumers[e]`: the instruction that consumes entry value e (None
    when it is not consumed). `entry_ok`: every entry value is consumed with no load below it."""

    stacked: list[bool]
    pre: list[list[LoadGroup]]
    consumers: list[int | None]
    entry_ok: bool


def plan_trees(instrs: list[Instr], templates: list[list[Value]], *, silent: list[bool], dead: list[bool],
               after: list[int], pinned: set[int], entry: list[Var], handler_live: int,
               index: Mapping[Var, int], unbound: set[int]) -> TreePlan:
    """Plan the trees of a block (see the module docstring).

    `templates[k]` are the values instruction k pushes before its ZBC form, in order; `silent[k]`
    says instruction k emits nothing (a dead constant or copy), `dead[k]` that its result is
    unused, `after[k]` the Vars live after it, `pinned` the instructions whose results can never
    stay on the stack for a later user, `entry` the values on the stack when the block starts
    (bottom to top), `handler_live` the Vars the block's handler reads; Var sets are bitsets
    numbered by `index` (`zir.analysis.liveness`). `unbound` are the instructions whose result
    may be UNBOUND: it never waits under other statements, so that a maybe-unbound value is
    always used (or stored) right after it is loaded."""
    m = len(entry)
    n = len(instrs)
    dests: list[Var | None] = [*entry, *(ins.dest for ins in instrs)]
    stacked = [False] * (m + n)
    tree_start = list(range(m + n))
    # Names written by the stored trees that a stacked tree waits across (see `_skip`).
    written: list[frozenset[str]] = [_NOTHING] * (m + n)
    pre: list[list[LoadGroup]] = [[] for _ in range(m + n)]
    consumers: list[int | None] = [None] * m
    for k in range(n):
        q = m + k
        tmpl = templates[k]
        user = instrs[k]
        p = q - 1
        starts: list[int | None] = [None] * len(tmpl)
        writes: set[str] = set()
        for j in range(len(tmpl) - 1, -1, -1):
            v = tmpl[j]
            if not isinstance(v, Var):
                continue
            while p >= m and silent[p - m]:
                p -= 1
            # The value may wait on the stack under statements whose code leaves the stack as it
            # found it (their results are stored or popped), as long as nothing moves across them.
            r, skipped = p, set[str]()
            while r >= m and dests[r] != v and _neutral(r - m, tree_start[r] - m, stacked[r], pinned):
                d = dests[r]
                if d is not None:
                    skipped.add(d.name)
                skipped |= written[r]
                r = tree_start[r] - 1
                while r >= m and silent[r - m]:
                    r -= 1
            if r < 0 or dests[r] != v or tmpl.count(v) != 1:
                continue
            if r >= m and (r - m in pinned or dead[r - m]):
                continue
            bit = 1 << index[v]
            if after[k] & bit and user.dest != v:
                continue
            lo = max(r + 1 - m, 0)
            if any(ins.dest == v or v in ins.args for ins in instrs[lo:k]):
                continue
            if handler_live & bit and any(ins.opdef.may_raise for ins in instrs[lo:k + 1]):
                continue
            moved = skipped | written[r]
            if moved and any(isinstance(a, Var) and a.name in moved for a in tmpl[:j]):
                continue  # a load of an operand to the left would move across a store of it
            if skipped and r - m in unbound:
                continue
            stacked[r] = True
            if r < m:
                consumers[r] = k
            starts[j] = tree_start[r]
            writes |= moved
            p = tree_start[r] - 1
        group: list[Value] = []
        for j, v in enumerate(tmpl):
            s = starts[j]
            if s is not None:
                if group:
                    pre[s].append((k, group))
                group = []
            else:
                group.append(v)
        if group:
            pre[q].append((k, group))
        tree_start[q] = p + 1
        if writes:
            written[q] = frozenset(writes)
    entry_ok = all(stacked[:m]) and not any(pre[:m])
    return TreePlan(stacked[m:], pre[m:], consumers, entry_ok)


_NOTHING: frozenset[str] = frozenset()


def _neutral(k: int, start: int, stacked: bool, pinned: set[int]) -> bool:
    """Instruction k's tree (from `start`) leaves the stack as it found it: its result is stored or
    popped, it consumed no entry value, and it is no part of an unpacking or a `catch`."""
    return start >= 0 and not stacked and k not in pinned
