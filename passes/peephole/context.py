"""The state a peephole rewrite sees: the function, cached facts, counters and the bisect gate."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.edit import def_counts, use_counts
from passes.facts import Bound
from passes.fold import propagatable
from passes.kinds_on_demand import KindsOnDemand
from zir.analysis.flow import FlowGraph
from zir.analysis.op_effects import TERMINATOR
from zir.ir import Block, Const, Function, Value, Var

_KEEP_CFG = PreservedAnalyses.cfg()


class Rewriter:
    """Shared by the rewrites of one peephole run on one function.

    Facts (`kinds`, `bound`, `uses`) are computed at most once per round of the driver: every
    rewrite only refines them (folding keeps a value's kind, removing an edge only makes more locals
    surely bound), so a fact from the start of a round is still true later in it. The one exception
    is use counts, which rewrites that add a use must bump (`add_use`).
    """

    def __init__(self, f: Function, am: AnalysisManager) -> None:
        self.f = f
        self.am = am
        self.stats: Counter[str] = Counter()
        self.cfg_changed = False
        self.changed = False
        self._kinds: KindsOnDemand | None = None
        #: the last kind facts made, and whether no change since could alter them (`did(kinds_kept=)`)
        self._kinds_prev: KindsOnDemand | None = None
        self._kinds_current = False
        self._bound: Bound | None = None
        self._uses: Counter[str] | None = None
        self._cfg: FlowGraph | None = None
        self._consts: dict[str, Value] | None = None
        self._defs: Counter[str] | None = None
        self._blocks: dict[str, Block] | None = None
        self._blocks_of: list[Block] | None = None  #: the `f.blocks` list `_blocks` was made from

    def new_round(self) -> None:
        """Forget the facts; the next query recomputes them."""
        self._kinds = None
        self._bound = None
        self._uses = None
        self._cfg = None
        self._consts = None
        self._defs = None
        self._blocks = None

    @property
    def kinds(self) -> KindsOnDemand:
        """The int/bool facts of the function as of their first query in this round (`Kinds`,
        computed per Var on demand: a round asks about few of them)."""
        if self._kinds is None:
            if self._kinds_prev is None or not self._kinds_current:
                # (reused from an earlier round only when every change since kept it: the same
                # greatest fixed point a recomputation would find)
                self._kinds_prev = KindsOnDemand(self.f)
                self._kinds_current = True
            self._kinds = self._kinds_prev
        return self._kinds

    @property
    def bound(self) -> Bound:
        if self._bound is None:
            self._bound = Bound(self.f, self.flow)
        return self._bound

    @property
    def defs(self) -> Counter[str]:
        """How many times each Var is assigned (as of the start of the round: rewrites never add
        an assignment of an existing Var)."""
        if self._defs is None:
            self._defs = def_counts(self.f)
        return self._defs

    def block(self, label: str) -> Block:
        """The block called `label` (a map kept while `f.blocks` is the same list of the same
        length: rewrites that add or remove blocks assign a new list; a changed branch does not
        make the map stale, so it is not rebuilt after every fold or thread)."""
        blocks = self.f.blocks
        if self._blocks is None or self._blocks_of is not blocks or len(self._blocks) != len(blocks):
            self._blocks = self.f.block_map()
            self._blocks_of = blocks
        return self._blocks[label]

    @property
    def uses(self) -> Counter[str]:
        if self._uses is None:
            self._uses = use_counts(self.f)
        return self._uses

    @property
    def flow(self) -> FlowGraph:
        """The CFG (dict form) as of the start of this round (or the last CFG change)."""
        if self._cfg is None:
            self._cfg = self.am.flow(self.f)
        return self._cfg

    def reachable(self) -> frozenset[str]:
        """The labels of the blocks reachable from the entry now (exception edges included): from
        the round's CFG when it is current, else by a walk over the terminators and handlers,
        which is cheaper than building the CFG with its predecessor lists."""
        if self._cfg is not None:
            return self._cfg.reachable()
        entry = self.f.blocks[0].label
        self.block(entry)  # (makes the label map current)
        blocks = self._blocks
        assert blocks is not None
        seen = {entry}
        work = [entry]
        terminator = TERMINATOR
        while work:
            b = blocks[work.pop()]
            instrs = b.instrs
            if instrs:
                last = instrs[-1]
                if terminator[last.op]:
                    for s in last.targets:
                        # (a target that does not exist is left to the CFG, which reports it)
                        if s not in seen and s in blocks:
                            seen.add(s)
                            work.append(s)
            h = b.handler
            if h is not None and h not in seen and h in blocks:
                seen.add(h)
                work.append(h)
        return frozenset(seen)

    @property
    def graph(self) -> Any:
        """The CFG as a `networkx.DiGraph`, as of the start of this round (or the last CFG change)."""
        return self.flow.to_networkx()

    def ssa_constants(self) -> dict[str, Value]:
        """SSA form: Var name -> what reads of it may read instead: the literal of its `const`
        definition, or the source of its `copy` (chains followed)."""
        if self._consts is None:
            table: dict[str, Value] = {}
            for _, i in self.f.instructions():
                if i.dest is None or i.op not in ("const", "copy"):
                    continue
                src = i.args[0]
                if isinstance(src, Const) and propagatable(src) or isinstance(src, Var) and src != i.dest:
                    table[i.dest.name] = src
            for name in list(table):
                seen = {name}
                v = table[name]
                while isinstance(v, Var) and v.name in table and v.name not in seen:
                    seen.add(v.name)
                    v = table[v.name]
                table[name] = v
            self._consts = {n: v for n, v in table.items() if v != Var(n)}
        return self._consts

    def note_value(self, dest: Var, src: Value) -> None:
        """SSA form: `dest` is now defined by `const src` or `copy src`; if `ssa_constants` was made
        this round, it learns that too, so the blocks after this one read the literal (or the
        copied Var) in this same round instead of the next."""
        table = self._consts
        if table is None or not self.f.ssa:
            return
        if isinstance(src, Const):
            if propagatable(src):
                table[dest.name] = src
        elif isinstance(src, Var) and src != dest:
            v = table.get(src.name, src)
            if v != dest:
                table[dest.name] = v

    def add_use(self, name: str, n: int = 1) -> None:
        if self._uses is not None:
            self._uses[name] += n

    def allow(self, description: str | Callable[[], str]) -> bool:
        """The bisect gate (`PassManager.allow`); a function making the text is called only when
        the text is logged."""
        return self.am.allow(description)

    def did(self, statistic: str, cfg: bool = False, kinds_kept: bool = False) -> bool:
        """Record one transformation; `cfg` when it changed branches, blocks or handlers;
        `kinds_kept` when it provably leaves every Var's `Kinds` fact as it was (so the next round
        may reuse the facts instead of recomputing them)."""
        self.stats[statistic] += 1
        self.changed = True
        if not kinds_kept:
            self._kinds_current = False
        if cfg:
            self.cfg_changed = True
            # the analysis cache must not hand the old CFG to the next query in this run
            self.am.clear(self.f)
            self._cfg = None
        else:
            self.am.invalidate(self.f, _KEEP_CFG)
        return True
