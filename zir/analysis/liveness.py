"""Liveness: which Vars hold a value that some later execution may read.

A Var is *live* at a program point when some path from that point reads it before writing it.
Computed by iterative backward dataflow over the CFG (Kildall 1973; Appel, "Modern Compiler
Implementation", ch. 10), blocks visited from a worklist seeded in postorder, sets kept as Python
ints used as bitsets. It works on any form: before SSA (a local assigned many times) or in SSA.

Phi semantics (Appel ch. 19; Boissinot et al. 2009): a phi in block S reads its incoming value for
predecessor P at the end of P, so that value is live out of P (not live into S); the phi's result
is written at the start of S, so it is not live into S either. `live_in(S)` is what is live
before the phis of S; `live_at_top(S)` what is live after them.

Exception edges are per instruction (the project's IR conventions): before every may-raise
instruction I of a block B whose handler is H, the live set also holds ``EXC(B) = live_in(H) ∪
{H's phi operands for B}``; I's own result is not written when I raises. A block with a handler
but no may-raise instruction never passes control to it, so nothing of H is live there. The
handler's live-in therefore does not flow into B's live-out (only into the points before its
may-raise instructions). Per-block transfer, with r0 the first may-raise instruction:
``top(B) = gen(B) ∪ (out(B) − defs(B)) ∪ (EXC(B) − defs(instrs before r0))``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import networkx as nx

from zir.analysis.cfg import cfg, postorder
from zir.ir import Block, Function, Instr, Var


def _may_raise(i: Instr) -> bool:
    return i.opdef.may_raise


def iter_bits(bits: int) -> Iterator[int]:
    """The indices of the set bits of `bits`, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


class _BlockFacts:
    """What the dataflow needs to know about one block, as bitsets over `Liveness.vars`."""

    __slots__ = ("gen", "kill", "kill_pre", "raises", "phi_defs", "phi_uses", "succs", "handler")

    def __init__(self) -> None:
        self.gen = 0  #: upward-exposed uses of the instructions
        self.kill = 0  #: everything the instructions define
        self.kill_pre = 0  #: what the instructions before the first may-raise one define
        self.raises = False  #: has at least one may-raise instruction
        self.phi_defs = 0
        self.phi_uses: dict[str, int] = {}  #: predecessor label -> phi operands read on that edge
        self.succs: list[str] = []  #: normal successors, each once
        self.handler: str | None = None


class Liveness:
    """Live Vars per block and per instruction of one function (read-only; `liveness(f)`).

    `live_in[label]` / `live_out[label]` are frozensets of Vars (every block, unreachable ones too;
    an unreachable block's live-out is computed like any other). Per-instruction queries:
    `live_before(label, i)` and `live_after(label, i)` (i indexes `block.instrs`). `vars` and
    `index` give the bit numbering used by `bits_after` for clients that want bitsets.
    """

    __slots__ = ("function", "cfg", "vars", "index", "live_in", "live_out", "_facts", "_in", "_out",
                 "_walks", "_blocks")

    def __init__(self, f: Function, graph: nx.DiGraph | None = None) -> None:
        self.function = f
        self.cfg = graph if graph is not None else cfg(f)
        self._blocks: dict[str, Block] = f.block_map()
        #: Every Var of the function, in order of first appearance (params first).
        self.vars: list[Var] = []
        #: Var -> bit number.
        self.index: dict[Var, int] = {}
        for p in f.params:
            self._bit(p)
        self._facts: dict[str, _BlockFacts] = {b.label: self._block_facts(b) for b in f.blocks}
        self._in: dict[str, int] = {}
        self._out: dict[str, int] = {}
        self._walks: dict[str, list[int]] = {}
        self._solve()
        members = self._members
        self.live_in: dict[str, frozenset[Var]] = {lbl: members(self._in[lbl]) for lbl in self._blocks}
        self.live_out: dict[str, frozenset[Var]] = {lbl: members(self._out[lbl]) for lbl in self._blocks}

    # construction ---------------------------------------------------------------------------------
    def _bit(self, v: Var) -> int:
        n = self.index.get(v)
        if n is None:
            n = self.index[v] = len(self.vars)
            self.vars.append(v)
        return 1 << n

    def _block_facts(self, b: Block) -> _BlockFacts:
        bf = _BlockFacts()
        for p in b.phis:
            bf.phi_defs |= self._bit(p.dest)
            for pred, val in p.incoming.items():
                if isinstance(val, Var):
                    bf.phi_uses[pred] = bf.phi_uses.get(pred, 0) | self._bit(val)
        # bits are assigned in forward order so numbering follows the text
        uses_defs = []
        for i in b.instrs:
            u = 0
            for a in i.uses():
                u |= self._bit(a)
            d = self._bit(i.dest) if i.dest is not None else 0
            uses_defs.append((u, d))
        kill_pre = None
        for i, (_, d) in zip(b.instrs, uses_defs, strict=True):
            if kill_pre is None and b.handler is not None and _may_raise(i):
                kill_pre = bf.kill
            bf.kill |= d
        if kill_pre is not None:
            bf.raises = True
            bf.kill_pre = kill_pre
        gen = 0
        for u, d in reversed(uses_defs):
            gen = (gen & ~d) | u
        bf.gen = gen
        bf.succs = list(dict.fromkeys(b.successors()))
        bf.handler = b.handler
        return bf

    def _exc(self, label: str, bf: _BlockFacts) -> int:
        """EXC(B): what an exception leaving block `label` carries into its handler."""
        assert bf.handler is not None
        return self._in.get(bf.handler, 0) | self._facts[bf.handler].phi_uses.get(label, 0)

    def _out_of(self, label: str, bf: _BlockFacts) -> int:
        out = 0
        facts, live_in = self._facts, self._in
        for s in bf.succs:
            out |= live_in.get(s, 0) | facts[s].phi_uses.get(label, 0)
        return out

    def _solve(self) -> None:
        """Iterate the backward equations to the least fixed point (worklist seeded in postorder,
        unreachable blocks after the reachable ones)."""
        order = postorder(self.cfg)
        seen = set(order)
        order += [lbl for lbl in reversed(list(self._blocks)) if lbl not in seen]
        for lbl in order:
            self._in[lbl] = 0
            self._out[lbl] = 0
        work = deque(order)
        queued = set(order)
        pred = self.cfg.pred
        while work:
            lbl = work.popleft()
            queued.discard(lbl)
            bf = self._facts[lbl]
            out = self._out_of(lbl, bf)
            top = bf.gen | (out & ~bf.kill)
            if bf.raises:
                top |= self._exc(lbl, bf) & ~bf.kill_pre
            new_in = top & ~bf.phi_defs
            self._out[lbl] = out
            if new_in != self._in[lbl]:
                self._in[lbl] = new_in
                for p in pred[lbl]:
                    if p not in queued:
                        queued.add(p)
                        work.append(p)

    # queries --------------------------------------------------------------------------------------
    def _members(self, bits: int) -> frozenset[Var]:
        vs = self.vars
        return frozenset(vs[n] for n in iter_bits(bits))

    def in_bits(self, label: str) -> int:
        """Bitset of `live_in[label]`."""
        return self._in[label]

    def out_bits(self, label: str) -> int:
        """Bitset of `live_out[label]`."""
        return self._out[label]

    def exception_bits(self, label: str) -> int:
        """EXC(label) as a bitset: live before each may-raise instruction of the block (0 when the
        block has no handler or nothing in it may raise)."""
        bf = self._facts[label]
        return self._exc(label, bf) if bf.raises else 0

    def bits_after(self, label: str) -> list[int]:
        """Bitsets of the Vars live after each instruction of block `label` (cached)."""
        walk = self._walks.get(label)
        if walk is None:
            b = self._blocks[label]
            exc = self.exception_bits(label)
            live = self._out[label]
            walk = [0] * len(b.instrs)
            index = self.index
            for n in range(len(b.instrs) - 1, -1, -1):
                walk[n] = live
                i = b.instrs[n]
                if i.dest is not None:
                    live &= ~(1 << index[i.dest])
                for a in i.uses():
                    live |= 1 << index[a]
                if exc and _may_raise(i):
                    live |= exc
            self._walks[label] = walk
        return walk

    def bits_before(self, label: str, n: int) -> int:
        """Bitset of the Vars live just before instruction `n` of block `label`."""
        b = self._blocks[label]
        live = self.bits_after(label)[n]
        i = b.instrs[n]
        if i.dest is not None:
            live &= ~(1 << self.index[i.dest])
        for a in i.uses():
            live |= 1 << self.index[a]
        if _may_raise(i):
            live |= self.exception_bits(label)
        return live

    def top_bits(self, label: str) -> int:
        """Bitset of the Vars live just after the phis of block `label`."""
        if self._blocks[label].instrs:
            return self.bits_before(label, 0)
        return self._out[label]

    def live_after(self, label: str, n: int) -> frozenset[Var]:
        """The Vars live just after instruction `n` of block `label` (on its normal path)."""
        return self._members(self.bits_after(label)[n])

    def live_before(self, label: str, n: int) -> frozenset[Var]:
        """The Vars live just before instruction `n` of block `label` (including, for a may-raise
        instruction, what its handler needs)."""
        return self._members(self.bits_before(label, n))

    def live_at_top(self, label: str) -> frozenset[Var]:
        """The Vars live after the phis of block `label` (its phi results included when used)."""
        return self._members(self.top_bits(label))

    def exception_live(self, label: str) -> frozenset[Var]:
        """EXC(label): the Vars an exception raised in block `label` carries to its handler."""
        return self._members(self.exception_bits(label))

    def is_live_out(self, v: Var, label: str) -> bool:
        """True when `v` is live at the end of block `label`."""
        n = self.index.get(v)
        return n is not None and bool(self._out[label] >> n & 1)


def liveness(f: Function, graph: nx.DiGraph | None = None) -> Liveness:
    """Liveness of every Var of `f` (see the module docstring for phis and exception edges)."""
    return Liveness(f, graph)
