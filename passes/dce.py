"""Dead code elimination by mark-sweep (Kennedy 1981; Cytron et al. 1991, section 7.1).

Every instruction that may have an effect (per the opcode table, refined by `passes.facts.removable`:
a may-raise operation counts as effect-free only when proven not to raise) is *useful*, and so is
every definition of a Var a useful instruction reads, transitively. The rest (instructions and phis,
dead phi cycles included, since marking starts only from effects) is deleted.

Marking starts from the instructions whose effects are sure (terminators, writes, calls, ...);
only then are the may-raise instructions it did not reach asked whether they can raise here (which
needs int/bool kinds and bound locals, computed on demand for their operands only), each that can
being marked in turn. The useful set is the same as marking from all of them at once, since a
may-raise instruction the first marking reached is useful either way.

Works in both forms: before SSA a Var's usefulness covers all of its assignments (dead single
assignments are the peephole's dead-store job); in SSA form it is exact.

For bisection, dead items are grouped into the strongly connected components of "reads the result
of", and each component is removed as one transformation, users before definitions, so that any
prefix of the transformations leaves valid IR.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import networkx as nx

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.edit import where
from passes.facts import Bound, BoundSet, may_be_unbound_ssa, member_of, removable, removable_category
from passes.kinds_on_demand import KindsOnDemand
from passes.registry import PassResult, register
from zir.ir import Block, Function, Instr, Phi, Value, Var
from zir.printer import format_name, format_phi


class _LazyFacts:
    """The facts `removable` needs, computed the first time an instruction that may raise asks."""

    def __init__(self, f: Function, am: AnalysisManager) -> None:
        self.f = f
        self.am = am
        self._kinds: KindsOnDemand | None = None
        self._unbound: set[str] | None = None
        self._bound: Bound | None = None

    def kinds(self) -> KindsOnDemand:
        if self._kinds is None:
            self._kinds = KindsOnDemand(self.f)
        return self._kinds

    def unbound(self) -> set[str]:
        if self._unbound is None:
            self._unbound = may_be_unbound_ssa(self.f)
        return self._unbound

    def bound(self) -> Bound:
        if self._bound is None:
            self._bound = Bound(self.f, self.am.flow(self.f))
        return self._bound


def _values(item: Instr | Phi) -> list[Value]:
    return list(item.incoming.values()) if isinstance(item, Phi) else list(item.args)


@register("dce")
@attrs.frozen
class DeadCodeElimination:
    """Remove instructions and phis whose results nothing useful reads (cycles included)."""

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        items: list[tuple[Block, Instr | Phi]] = []
        useful: list[bool] = []
        defs: dict[str, list[int]] = {}
        # instructions that may raise: useful unless proven not to raise (asked only of those the
        # marking from the sure effects does not reach: the others are useful either way)
        unsure: list[tuple[int, int]] = []  # (item, index in its block)
        for b in f.blocks:
            for p in b.phis:
                defs.setdefault(p.dest.name, []).append(len(items))
                items.append((b, p))
                useful.append(False)
            for k, i in enumerate(b.instrs):
                if i.dest is not None:
                    defs.setdefault(i.dest.name, []).append(len(items))
                category = removable_category(i)
                if category is None:
                    unsure.append((len(items), k))
                items.append((b, i))
                useful.append(category is False)
        marked: set[str] = set()

        def mark(work: list[int]) -> None:
            """Mark useful the definitions of everything the useful items in `work` read."""
            while work:
                n = work.pop()
                for v in _values(items[n][1]):
                    if isinstance(v, Var) and v.name not in marked:
                        marked.add(v.name)
                        for d in defs.get(v.name, []):
                            if not useful[d]:
                                useful[d] = True
                                work.append(d)

        mark([n for n, u in enumerate(useful) if u])
        facts = _LazyFacts(f, am)
        states: tuple[Block, Sequence[BoundSet]] | None = None
        for n, k in unsure:
            if useful[n]:
                continue
            b, item = items[n]
            assert isinstance(item, Instr)
            ok: Callable[[Var], bool]
            if f.ssa:
                unbound = facts.unbound()
                ok = member_of({v.name for v in item.uses() if v.name not in unbound})
            else:
                if states is None or states[0] is not b:
                    states = (b, facts.bound().before(b))
                ok = member_of(states[1][k])
            # a removable instruction without a result (a check_bound proven bound) is dead
            if not removable(item, facts.kinds(), ok):
                useful[n] = True
                mark([n])
        dead = [n for n, u in enumerate(useful) if not u]
        if not dead:
            return PassResult.unchanged()
        doomed = self._gate(f, am, items, dead, defs)
        if not doomed:
            return PassResult.unchanged()
        doomed_ids = {id(items[n][1]) for n in doomed}
        stats = {"instructions removed": 0, "phis removed": 0}
        for b in f.blocks:
            before_phis, before_instrs = len(b.phis), len(b.instrs)
            b.phis = [p for p in b.phis if id(p) not in doomed_ids]
            b.instrs = [i for i in b.instrs if id(i) not in doomed_ids]
            stats["phis removed"] += before_phis - len(b.phis)
            stats["instructions removed"] += before_instrs - len(b.instrs)
        return PassResult(True, PreservedAnalyses.cfg(), stats)

    @staticmethod
    def _gate(f: Function, am: AnalysisManager, items: list[tuple[Block, Instr | Phi]], dead: list[int],
              defs: dict[str, list[int]]) -> list[int]:
        """Ask the bisect gate, one strongly connected group of dead items at a time (users first)."""
        g = nx.DiGraph()
        g.add_nodes_from(dead)
        dead_set = set(dead)
        for n in dead:
            for v in _values(items[n][1]):
                if isinstance(v, Var):
                    for d in defs.get(v.name, []):
                        if d in dead_set:
                            g.add_edge(n, d)
        cond = nx.condensation(g)
        # a deterministic topological order: users before the definitions they read
        order = list(nx.lexicographical_topological_sort(cond, key=lambda c: min(cond.nodes[c]["members"])))
        doomed: list[int] = []
        refused: set[int] = set()
        for c in order:
            members = sorted(cond.nodes[c]["members"])
            # a kept item keeps what it reads: never remove a definition a refused user reads
            if any(u in refused for m in members for u in g.predecessors(m)):
                refused.update(members)
                continue
            if am.allow("remove " + "; ".join(_describe(items[m], f) for m in members)):
                doomed.extend(members)
            else:
                refused.update(members)
        return doomed


def _describe(item: tuple[Block, Instr | Phi], f: Function) -> str:
    b, x = item
    if isinstance(x, Phi):
        return f"{format_phi(x)} in {format_name('^', b.label)} of {format_name('@', f.name)}"
    return where(x, b, f)
