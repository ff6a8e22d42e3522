"""Liveness: which Vars hold a value that some later execution may read.

A Var is *live* at a program point when some path from that point reads it before writing it.
Computed by iterative backward dataflow over the CFG (Kildall 1973; Appel, "Modern Compiler
Implementation", ch. 10), blocks visited from a worklist seeded in postorder. It works on any
form: before SSA (a local assigned many times) or in SSA.

Representation (why it is fast on big functions): the dataflow runs on the dict form of the CFG
(`zir.analysis.flow`) with Python sets of Var *names* per block. A block's sets hold only what is
live at its boundary, which in real code is a handful of names whatever the function's size, so
each step costs O(live names), not O(all variables) as a bitset over every Var of the function
would. Block-local values (most temporaries and stack slots) never enter the block sets at all.
Per-instruction answers are made on demand, one block at a time, by a backward walk from the
block's live-out, and cached. The bitset queries (`index`, `bits_after`, ...) for clients that
want them number the Vars on first use.

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
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet

import networkx as nx

from zir.analysis.flow import FlowGraph, flow_graph
from zir.analysis.op_effects import MAY_RAISE, TERMINATOR
from zir.ir import Block, Function, Var

_EMPTY: frozenset[str] = frozenset()
NameSet = AbstractSet[str]  #: a read-only set of Var names


def iter_bits(bits: int) -> Iterator[int]:
    """The indices of the set bits of `bits`, lowest first."""
    while bits:
        low = bits & -bits
        yield low.bit_length() - 1
        bits ^= low


class _BlockFacts:
    """What the dataflow needs to know about one block, as sets of Var names (read-only)."""

    __slots__ = ("gen", "kill", "kill_pre", "phi_defs", "phi_uses", "succs", "handler")

    def __init__(self, b: Block) -> None:
        phis = b.phis
        if phis:
            phi_uses: dict[str, set[str]] = {}
            phi_defs: set[str] = set()
            for p in phis:
                phi_defs.add(p.dest.name)
                for pred, val in p.incoming.items():
                    if isinstance(val, Var):
                        uses = phi_uses.get(pred)
                        if uses is None:
                            phi_uses[pred] = {val.name}
                        else:
                            uses.add(val.name)
            #: phi operands read at the end of each predecessor: label -> names
            self.phi_uses: Mapping[str, AbstractSet[str]] = phi_uses
            #: the phi results (written at the top of the block)
            self.phi_defs: AbstractSet[str] = phi_defs
        else:
            self.phi_uses = _NO_PHI_USES
            self.phi_defs = _EMPTY
        handler = b.handler
        gen: set[str] = set()
        kill: set[str] = set()
        kill_pre: set[str] | None = None
        instrs = b.instrs
        for i in instrs:
            if handler is not None and kill_pre is None and MAY_RAISE[i.op]:
                kill_pre = set(kill)
            for a in i.args:
                # upward-exposed: read before any write in this block
                if isinstance(a, Var) and a.name not in kill:
                    gen.add(a.name)
            d = i.dest
            if d is not None:
                kill.add(d.name)
        self.gen = gen  #: upward-exposed uses of the instructions
        self.kill = kill  #: everything the instructions define
        #: what the instructions before the first may-raise one define; None when the block has no
        #: handler or nothing in it may raise (then no exception leaves it)
        self.kill_pre = kill_pre
        #: normal successors, each once (read-only; may be the terminator's own list)
        self.succs: list[str] = _NO_SUCCS
        if instrs and TERMINATOR[instrs[-1].op]:
            targets = instrs[-1].targets
            if len(targets) == 2 and targets[0] == targets[1]:
                self.succs = targets[:1]
            elif len(targets) > 2:
                self.succs = list(dict.fromkeys(targets))
            else:
                self.succs = targets
        self.handler = handler


_NO_PHI_USES: Mapping[str, AbstractSet[str]] = {}
_NO_SUCCS: list[str] = []


class Liveness:
    """Live Vars per block and per instruction of one function (read-only; `liveness(f)`).

    `live_in[label]` / `live_out[label]` are frozensets of Vars (every block, unreachable ones too;
    an unreachable block's live-out is computed like any other). Per-instruction queries:
    `live_before(label, i)` and `live_after(label, i)` (i indexes `block.instrs`).

    The same answers by Var name (what passes use; no Var objects are made): `in_names`,
    `out_names`, `exception_names`, `names_after`, `dead_defs`. As bitsets: `vars` and `index` give
    the bit numbering (Vars in order of first appearance, params first) used by `bits_after`,
    `in_bits`, ...
    """

    __slots__ = ("function", "flow", "_blocks", "_facts", "_in", "_out", "_exc", "_walks", "_bit_walks",
                 "_vars", "_index", "_name_bit", "_live_in", "_live_out")

    def __init__(self, f: Function, graph: nx.DiGraph | FlowGraph | None = None) -> None:
        self.function = f
        #: The CFG the dataflow ran on.
        self.flow: FlowGraph = flow_graph(graph) if graph is not None else FlowGraph.of(f)
        self._blocks: dict[str, Block] = {b.label: b for b in f.blocks}
        self._facts: dict[str, _BlockFacts] = {b.label: _BlockFacts(b) for b in f.blocks}
        self._in: dict[str, NameSet] = {}
        self._out: dict[str, NameSet] = {}
        self._exc: dict[str, NameSet] = {}
        self._walks: dict[str, list[frozenset[str]]] = {}
        self._bit_walks: dict[str, list[int]] = {}
        self._vars: list[Var] | None = None
        self._index: dict[Var, int] | None = None
        self._name_bit: dict[str, int] = {}
        self._live_in: dict[str, frozenset[Var]] | None = None
        self._live_out: dict[str, frozenset[Var]] | None = None
        self._solve()

    # construction ---------------------------------------------------------------------------------
    def _solve(self) -> None:
        """Iterate the backward equations to the least fixed point (worklist seeded in postorder,
        unreachable blocks after the reachable ones)."""
        order = self.flow.postorder()
        seen = set(order)
        order += [lbl for lbl in reversed(list(self._blocks)) if lbl not in seen]
        facts = self._facts
        live_in = self._in
        live_out = self._out
        for lbl in order:
            live_in[lbl] = _EMPTY
            live_out[lbl] = _EMPTY
        work = deque(order)
        queued = set(order)
        pred = self.flow.pred
        while work:
            lbl = work.popleft()
            queued.discard(lbl)
            bf = facts[lbl]
            out: set[str] = set()
            for s in bf.succs:
                out |= live_in[s]
                pu = facts[s].phi_uses.get(lbl)
                if pu:
                    out |= pu
            new_in = bf.gen | (out - bf.kill)
            if bf.kill_pre is not None:
                h = bf.handler
                assert h is not None
                exc = live_in[h]
                pu = facts[h].phi_uses.get(lbl)
                if pu:
                    exc = exc | pu
                new_in |= exc - bf.kill_pre
            if bf.phi_defs:
                new_in -= bf.phi_defs
            live_out[lbl] = out
            if new_in != live_in[lbl]:
                live_in[lbl] = new_in
                for p in pred[lbl]:
                    if p not in queued:
                        queued.add(p)
                        work.append(p)

    # queries by name --------------------------------------------------------------------------------
    def in_names(self, label: str) -> NameSet:
        """The names of the Vars live into block `label` (before its phis)."""
        return self._in[label]

    def out_names(self, label: str) -> NameSet:
        """The names of the Vars live out of block `label` (phi operands of its successors included)."""
        return self._out[label]

    def exception_names(self, label: str) -> NameSet:
        """EXC(label) by name: what an exception raised in the block carries to its handler (empty
        when the block has no handler or nothing in it may raise)."""
        exc = self._exc.get(label)
        if exc is None:
            bf = self._facts[label]
            exc = _EMPTY
            if bf.kill_pre is not None:
                h = bf.handler
                assert h is not None
                exc = self._in[h] | self._facts[h].phi_uses.get(label, _EMPTY)
            self._exc[label] = exc
        return exc

    def names_after(self, label: str) -> list[frozenset[str]]:
        """The names live after each instruction of block `label` (on its normal path; cached)."""
        walk = self._walks.get(label)
        if walk is None:
            instrs = self._blocks[label].instrs
            exc = self.exception_names(label)
            live = set(self._out[label])
            walk = [_EMPTY] * len(instrs)
            may_raise = MAY_RAISE
            for n in range(len(instrs) - 1, -1, -1):
                walk[n] = frozenset(live)
                i = instrs[n]
                if i.dest is not None:
                    live.discard(i.dest.name)
                for a in i.args:
                    if isinstance(a, Var):
                        live.add(a.name)
                if exc and may_raise[i.op]:
                    live |= exc
            self._walks[label] = walk
        return walk

    def top_names(self, label: str) -> NameSet:
        """The names live just after the phis of block `label`."""
        instrs = self._blocks[label].instrs
        if not instrs:
            return self._out[label]
        live = set(self.names_after(label)[0])
        i = instrs[0]
        if i.dest is not None:
            live.discard(i.dest.name)
        live.update(a.name for a in i.args if isinstance(a, Var))
        if MAY_RAISE[i.op]:
            live |= self.exception_names(label)
        return frozenset(live)

    def dead_defs(self, label: str) -> list[int]:
        """The indices (ascending) of the instructions of block `label` whose result is not live
        right after them: dead stores. One backward walk, nothing cached."""
        instrs = self._blocks[label].instrs
        exc = self.exception_names(label)
        live = set(self._out[label])
        dead: list[int] = []
        may_raise = MAY_RAISE
        for n in range(len(instrs) - 1, -1, -1):
            i = instrs[n]
            d = i.dest
            if d is not None:
                name = d.name
                if name in live:
                    live.discard(name)
                else:
                    dead.append(n)
            for a in i.args:
                if isinstance(a, Var):
                    live.add(a.name)
            if exc and may_raise[i.op]:
                live |= exc
        dead.reverse()
        return dead

    def is_live_out(self, v: Var, label: str) -> bool:
        """True when `v` is live at the end of block `label`."""
        return v.name in self._out[label]

    # queries by Var ----------------------------------------------------------------------------------
    @property
    def cfg(self) -> nx.DiGraph:
        """The CFG the dataflow ran on, as a `networkx.DiGraph`."""
        return self.flow.to_networkx()

    @staticmethod
    def _members(names: NameSet) -> frozenset[Var]:
        return frozenset(Var(n) for n in names)

    @property
    def live_in(self) -> Mapping[str, frozenset[Var]]:
        """Block label -> the Vars live into it (before its phis)."""
        if self._live_in is None:
            self._live_in = {lbl: self._members(self._in[lbl]) for lbl in self._blocks}
        return self._live_in

    @property
    def live_out(self) -> Mapping[str, frozenset[Var]]:
        """Block label -> the Vars live out of it."""
        if self._live_out is None:
            self._live_out = {lbl: self._members(self._out[lbl]) for lbl in self._blocks}
        return self._live_out

    def live_after(self, label: str, n: int) -> frozenset[Var]:
        """The Vars live just after instruction `n` of block `label` (on its normal path)."""
        return self._members(self.names_after(label)[n])

    def live_before(self, label: str, n: int) -> frozenset[Var]:
        """The Vars live just before instruction `n` of block `label` (including, for a may-raise
        instruction, what its handler needs)."""
        i = self._blocks[label].instrs[n]
        live = set(self.names_after(label)[n])
        if i.dest is not None:
            live.discard(i.dest.name)
        live.update(a.name for a in i.args if isinstance(a, Var))
        if MAY_RAISE[i.op]:
            live |= self.exception_names(label)
        return self._members(frozenset(live))

    def live_at_top(self, label: str) -> frozenset[Var]:
        """The Vars live after the phis of block `label` (its phi results included when used)."""
        return self._members(self.top_names(label))

    def exception_live(self, label: str) -> frozenset[Var]:
        """EXC(label): the Vars an exception raised in block `label` carries to its handler."""
        return self._members(self.exception_names(label))

    # queries as bitsets ------------------------------------------------------------------------------
    def _number(self) -> None:
        """Number every Var in order of first appearance: params, then per block the phis (result,
        then operands) and the instructions (operands, then result)."""
        vars_: list[Var] = []
        index: dict[str, int] = {}

        def bit(v: Var) -> None:
            if v.name not in index:
                index[v.name] = len(vars_)
                vars_.append(v)

        f = self.function
        for p in f.params:
            bit(p)
        for b in f.blocks:
            for ph in b.phis:
                bit(ph.dest)
                for val in ph.incoming.values():
                    if isinstance(val, Var):
                        bit(val)
            for i in b.instrs:
                for a in i.args:
                    if isinstance(a, Var):
                        bit(a)
                if i.dest is not None:
                    bit(i.dest)
        self._vars = vars_
        self._index = {v: n for n, v in enumerate(vars_)}
        self._name_bit = {name: 1 << n for name, n in index.items()}

    @property
    def vars(self) -> list[Var]:
        """Every Var of the function, in order of first appearance (params first)."""
        if self._vars is None:
            self._number()
        assert self._vars is not None
        return self._vars

    @property
    def index(self) -> dict[Var, int]:
        """Var -> bit number (see `vars`)."""
        if self._index is None:
            self._number()
        assert self._index is not None
        return self._index

    def _bits(self, names: NameSet) -> int:
        if self._vars is None:
            self._number()
        name_bit = self._name_bit
        bits = 0
        for n in names:
            bits |= name_bit[n]
        return bits

    def in_bits(self, label: str) -> int:
        """Bitset of `live_in[label]`."""
        return self._bits(self._in[label])

    def out_bits(self, label: str) -> int:
        """Bitset of `live_out[label]`."""
        return self._bits(self._out[label])

    def exception_bits(self, label: str) -> int:
        """EXC(label) as a bitset: live before each may-raise instruction of the block (0 when the
        block has no handler or nothing in it may raise)."""
        return self._bits(self.exception_names(label))

    def bits_after(self, label: str) -> list[int]:
        """Bitsets of the Vars live after each instruction of block `label` (cached)."""
        walk = self._bit_walks.get(label)
        if walk is None:
            instrs = self._blocks[label].instrs
            exc = self.exception_bits(label)
            live = self.out_bits(label)
            name_bit = self._name_bit
            walk = [0] * len(instrs)
            may_raise = MAY_RAISE
            for n in range(len(instrs) - 1, -1, -1):
                walk[n] = live
                i = instrs[n]
                if i.dest is not None:
                    live &= ~name_bit[i.dest.name]
                for a in i.args:
                    if isinstance(a, Var):
                        live |= name_bit[a.name]
                if exc and may_raise[i.op]:
                    live |= exc
            self._bit_walks[label] = walk
        return walk

    def bits_before(self, label: str, n: int) -> int:
        """Bitset of the Vars live just before instruction `n` of block `label`."""
        live = self.bits_after(label)[n]
        i = self._blocks[label].instrs[n]
        name_bit = self._name_bit
        if i.dest is not None:
            live &= ~name_bit[i.dest.name]
        for a in i.args:
            if isinstance(a, Var):
                live |= name_bit[a.name]
        if MAY_RAISE[i.op]:
            live |= self.exception_bits(label)
        return live

    def top_bits(self, label: str) -> int:
        """Bitset of the Vars live just after the phis of block `label`."""
        if self._blocks[label].instrs:
            return self.bits_before(label, 0)
        return self.out_bits(label)


def liveness(f: Function, graph: nx.DiGraph | FlowGraph | None = None) -> Liveness:
    """Liveness of every Var of `f` (see the module docstring for phis and exception edges)."""
    return Liveness(f, graph)
