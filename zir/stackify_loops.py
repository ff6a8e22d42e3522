"""Loop iterators that stay on the operand stack for a whole loop, as CPython keeps a `for` loop's
iterator on the stack under the loop body (`zir.stackify`'s cross-block part).

A `for` loop lifts to a header block `%v = iter_next %it; cbr_more %v, ^body, ^exit` that ZBC does
in one FOR_ITER, which reads the iterator from the top of the stack and leaves it there. When the
iterator is *resident* (pushed once before the loop and kept at the bottom of the stack in every
block of the loop), each iteration saves the LOAD_FAST before FOR_ITER and the POP_TOP after it.

The region of an iterator `%it` is the live range of the value the header reads: the blocks
reached from the header (along normal and exception edges) that `%it` is live into. `%it` is made
resident when:

* inside the region nothing writes `%it` and nothing but the header's `iter_next` reads it (so its
  local is never needed while the value sits on the stack);
* the region is entered only along one edge `^p -> ^header`, where `^p` (outside the region) ends
  in `br ^header`: that edge pushes the iterator;
* the function's entry block is not in the region, the loop body is, the exit is not, and every
  block whose handler lies in the region is in it too (an exception keeps the handler's resident
  values: the exception table depth is how many there are);
* regions of resident iterators nest (two regions are disjoint or one contains the other): the
  stack of a block is the iterators of the regions holding it, outermost first.

Every edge is then checked: leaving regions pops their iterators (FOR_ITER's exhausted edge pops
its own), entering one pushes it, and an exception edge keeps a prefix of the stack. A candidate
that breaks a check is dropped (innermost first) until all edges agree.
"""

from __future__ import annotations

import attrs

from zir.analysis.liveness import Liveness
from zir.ir import Block, Function, Var

__all__ = ["ForLoop", "Residents", "resident_iterators"]


@attrs.frozen
class ForLoop:
    """A header block that ends in `%item = iter_next %it; cbr_more %item, ^body, ^exit`, fusable
    into FOR_ITER (the item is dead on the exit path)."""

    header: str
    iterator: Var
    item: Var
    body: str
    exit: str


@attrs.frozen
class Residents:
    """Which loop iterators live on the operand stack, per block."""

    #: Block label -> the resident iterators on the stack at its entry, outermost first.
    stack: dict[str, tuple[Var, ...]]
    #: Header label -> its loop, for loops whose iterator is resident.
    loops: dict[str, ForLoop]
    #: Label of a block whose `br` enters a resident loop -> the iterator that edge pushes.
    enters: dict[str, Var]

    def at(self, label: str) -> tuple[Var, ...]:
        """The resident iterators on the stack when block `label` starts."""
        return self.stack.get(label, ())


@attrs.frozen
class _Candidate:
    loop: ForLoop
    preheader: str
    region: frozenset[str]


def resident_iterators(f: Function, live: Liveness, loops: list[ForLoop]) -> Residents:
    """The resident loop iterators of `f` (see the module docstring); `loops` are the fusable
    `for` headers, in layout order."""
    blocks = {b.label: b for b in f.blocks}
    preds: dict[str, list[str]] = {b.label: [] for b in f.blocks}
    guarded: dict[str, list[str]] = {}
    for b in f.blocks:
        for t in dict.fromkeys(b.successors()):
            preds[t].append(b.label)
        if b.handler is not None:
            guarded.setdefault(b.handler, []).append(b.label)
    entry = f.blocks[0].label if f.blocks else ""
    cands: list[_Candidate] = []
    for loop in loops:
        c = _candidate(loop, blocks, preds, guarded, live, entry)
        if c is not None:
            cands.append(c)
    # Outer regions first: a region is accepted when it nests with every accepted one.
    cands.sort(key=lambda c: -len(c.region))
    accepted: list[_Candidate] = []
    for c in cands:
        if all(c.region <= a.region or not c.region & a.region for a in accepted):
            accepted.append(c)
    while True:
        stack = {lbl: tuple(a.loop.iterator for a in accepted if lbl in a.region) for lbl in blocks}
        bad = _first_conflict(f, accepted, stack)
        if bad is None:
            break
        accepted.remove(bad)
    return Residents(stack={k: v for k, v in stack.items() if v},
                     loops={a.loop.header: a.loop for a in accepted},
                     enters={a.preheader: a.loop.iterator for a in accepted})


def _candidate(loop: ForLoop, blocks: dict[str, Block], preds: dict[str, list[str]],
               guarded: dict[str, list[str]], live: Liveness, entry: str) -> _Candidate | None:
    it = loop.iterator
    bit = 1 << live.index[it]
    if not live.in_bits(loop.header) & bit:
        return None
    # The live range of the value the header reads: from the header along normal and exception
    # edges while the name stays live (before SSA the same name may hold other values elsewhere).
    region = {loop.header}
    work = [loop.header]
    while work:
        b = blocks[work.pop()]
        nexts = b.successors() + ([b.handler] if b.handler is not None else [])
        for t in nexts:
            if t not in region and live.in_bits(t) & bit:
                region.add(t)
                work.append(t)
    if entry in region or loop.body not in region or loop.exit in region:
        return None
    for lbl in region:
        instrs = blocks[lbl].instrs
        for k, ins in enumerate(instrs):
            if ins.dest == it:
                return None
            if it in ins.args and not (lbl == loop.header and k == len(instrs) - 2):
                return None
    outside = [(q, lbl) for lbl in sorted(region) for q in preds[lbl] if q not in region]
    if len(outside) != 1 or outside[0][1] != loop.header:
        return None
    pre = outside[0][0]
    pb = blocks[pre]
    if not pb.instrs or pb.instrs[-1].op != "br" or pb.handler in region:
        return None
    for h in region:
        if any(src not in region for src in guarded.get(h, ())):
            return None
    return _Candidate(loop, pre, frozenset(region))


def _first_conflict(f: Function, accepted: list[_Candidate],
                    stack: dict[str, tuple[Var, ...]]) -> _Candidate | None:
    """The innermost candidate involved in the first edge whose stacks do not agree, or None."""
    enters = {a.preheader: a for a in accepted}
    headers = {a.loop.header: a for a in accepted}
    for b in f.blocks:
        rb = stack[b.label]
        checks: list[tuple[str, tuple[Var, ...], tuple[Var, ...]]] = []
        h = headers.get(b.label)
        if h is not None and (not rb or rb[-1] != h.loop.iterator):
            return h
        for t in dict.fromkeys(b.successors()):
            rt = stack[t]
            e = enters.get(b.label)
            if e is not None and t == e.loop.header:
                checks.append((t, rb + (e.loop.iterator,), rt))
            elif h is not None and t == h.loop.exit:
                checks.append((t, rb[:-1][:len(rt)], rt))
            else:
                checks.append((t, rb[:len(rt)], rt))
        if b.handler is not None:
            rh = stack[b.handler]
            checks.append((b.handler, rb[:len(rh)], rh))
        for t, want, got in checks:
            if want != got:
                involved = [a for a in accepted if b.label in a.region or t in a.region]
                return involved[-1]
    return None
