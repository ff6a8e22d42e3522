"""The analysis cache: `zir.analysis` results computed on demand, kept per function, dropped unless a
pass says it preserved them.

This is LLVM's new-pass-manager idea (`AnalysisManager` + `PreservedAnalyses`): a pass asks
`am.get("liveness", f)` (or `am.liveness(f)`) instead of calling `zir.analysis` itself, so two
passes in a row that leave the CFG alone share one dominator tree. After each pass the manager calls
`invalidate(f, result.preserved)`; an analysis survives only if it and every analysis it is built
from were preserved.

Known analyses (name: what `get` returns):

* ``cfg``: `zir.analysis.cfg(f)`, a `networkx.DiGraph`
* ``rpo``: `zir.analysis.reverse_postorder(f)`, reachable blocks
* ``dominators``: `zir.analysis.dominators(f)` (query object: `idom`, `dominates`, `frontier`, `.graph`)
* ``domtree``: `zir.analysis.dominator_tree(f)`
* ``frontiers``: `zir.analysis.dominance_frontiers(f)`
* ``loops``: `zir.analysis.natural_loops(f)`
* ``liveness``: `zir.analysis.liveness(f)`
* ``interference``: `zir.analysis.interference_graph(f)`

`register_analysis` adds more (a user's analysis is cached and invalidated the same way).

Sharing: the built-in analyses are made from one `zir.analysis.FlowGraph` (the CFG as dicts) and
one `zir.analysis.Dominators` per function, kept by the manager beside the named results and
dropped with the CFG, so the CFG is walked and dominators are computed once however many of
`cfg`, `rpo`, `dominators`, `domtree`, `frontiers` and `loops` a pipeline asks for. Passes that
want the dict form ask `am.flow(f)` (not counted as a named analysis, so hit/miss counts and
invalidation lists name only what was asked for by name).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from zir.errors import PassError
from zir.ir import Function
from zir.ops import suggest

#: The analyses that depend only on the CFG's shape (terminator targets and block handlers), not on
#: the instructions inside blocks: a pass that rewrites instructions but no branch keeps them
#: (and with "cfg" the manager keeps its shared `FlowGraph` and dominators, see `flow`).
CFG_ANALYSES: frozenset[str] = frozenset({"cfg", "rpo", "dominators", "domtree", "frontiers", "loops"})


@attrs.frozen
class AnalysisInfo:
    """How to compute one analysis, and which analyses its result is built from.

    `compute(f)` makes the result; a built-in analysis has `derive(am, f)` instead, which may
    reuse the manager's shared CFG and dominators.
    """

    name: str
    compute: Callable[[Function], Any]
    requires: tuple[str, ...] = ()
    doc: str = ""
    derive: Callable[[AnalysisManager, Function], Any] | None = None


_ANALYSES: dict[str, AnalysisInfo] = {}


def register_analysis(name: str, compute: Callable[[Function], Any], requires: Iterable[str] = (),
                      doc: str = "") -> AnalysisInfo:
    """Make `am.get(name, f)` compute `compute(f)` (cached). `requires` names the analyses whose
    invalidation must also drop this one (a loop forest is stale once the CFG is)."""
    info = AnalysisInfo(name, compute, tuple(requires), doc)
    _ANALYSES[name] = info
    return info


def known_analyses() -> list[str]:
    """The names `AnalysisManager.get` accepts, sorted."""
    return sorted(_ANALYSES)


def _from_zir(attr: str) -> Callable[[Function], Any]:
    # zir.analysis is imported on first use so `import passes` stays cheap.
    def compute(f: Function) -> Any:
        return getattr(importlib.import_module("zir.analysis"), attr)(f)

    compute.__name__ = attr
    return compute


def _derive_interference(am: AnalysisManager, f: Function) -> Any:
    from zir.analysis.interference import interference_graph
    from zir.analysis.liveness import Liveness
    from zir.analysis.loops import LoopInfo

    live = am.peek("liveness", f)
    if live is None:
        live = Liveness(f, am.flow(f))
    return interference_graph(f, live, LoopInfo(am.flow(f), am.shared_dominators(f)))


def _derive_liveness(am: AnalysisManager, f: Function) -> Any:
    from zir.analysis.liveness import Liveness

    return Liveness(f, am.flow(f))


def _derive_loops(am: AnalysisManager, f: Function) -> Any:
    from zir.analysis.loops import LoopInfo

    return LoopInfo(am.flow(f), am.shared_dominators(f)).loops


_DERIVE: dict[str, Callable[[AnalysisManager, Function], Any]] = {
    "cfg": lambda am, f: am.flow(f).to_networkx(),
    "rpo": lambda am, f: am.flow(f).reverse_postorder(),
    "dominators": lambda am, f: am.shared_dominators(f),
    "domtree": lambda am, f: am.shared_dominators(f).graph,
    "frontiers": lambda am, f: am.shared_dominators(f).frontiers,
    "loops": _derive_loops,
    "liveness": _derive_liveness,
    "interference": _derive_interference,
}

for _name, _attr, _req in [
    ("cfg", "cfg", ()),
    ("rpo", "reverse_postorder", ("cfg",)),
    ("dominators", "dominators", ("cfg",)),
    ("domtree", "dominator_tree", ("cfg",)),
    ("frontiers", "dominance_frontiers", ("cfg",)),
    ("loops", "natural_loops", ("cfg",)),
    ("liveness", "liveness", ("cfg",)),
    ("interference", "interference_graph", ("liveness", "loops")),
]:
    _ANALYSES[_name] = AnalysisInfo(_name, _from_zir(_attr), _req, f"zir.analysis.{_attr}(f)", _DERIVE[_name])


@attrs.frozen
class PreservedAnalyses:
    """What a pass left valid: everything (`all()`), nothing (`none()`), or a set of names.

    `PreservedAnalyses.cfg()` is LLVM's `setPreservesCFG`: the pass changed instructions but no
    branch target and no handler, so the CFG-shaped analyses (`CFG_ANALYSES`) stay valid.
    """

    names: frozenset[str] = frozenset()
    everything: bool = False

    @classmethod
    def all(cls) -> PreservedAnalyses:
        """Every analysis is still valid (the pass changed nothing, or nothing any analysis reads)."""
        return cls(frozenset(), True)

    @classmethod
    def none(cls) -> PreservedAnalyses:
        """No cached analysis survives."""
        return cls(frozenset(), False)

    @classmethod
    def cfg(cls) -> PreservedAnalyses:
        """The CFG and the analyses built only from it survive (blocks, targets, handlers unchanged)."""
        return cls(CFG_ANALYSES, False)

    @classmethod
    def of(cls, *names: str) -> PreservedAnalyses:
        """Exactly the named analyses survive."""
        return cls(frozenset(names), False)

    def preserves(self, name: str) -> bool:
        """Whether the analysis called `name` itself was declared preserved."""
        return self.everything or name in self.names

    def intersect(self, other: PreservedAnalyses) -> PreservedAnalyses:
        """What both preserve (for a pass made of steps)."""
        if self.everything:
            return other
        if other.everything:
            return self
        return PreservedAnalyses(self.names & other.names, False)


class AnalysisManager:
    """Computes analyses on demand and caches them per function (keyed by identity).

    `allow(description)` is the bisect gate: a pass calls it before each transformation and skips
    the transformation when it returns False (see `passes.PassManager`, `bisect_limit`).
    """

    def __init__(self, gate: Callable[[str | Callable[[], str]], bool] | None = None,
                 bisecting: Callable[[], bool] | None = None) -> None:
        # id(f) -> (f, {analysis name: result}); f is kept so its id cannot be reused meanwhile.
        self._cache: dict[int, tuple[Function, dict[str, Any]]] = {}
        # id(f) -> (f, FlowGraph, Dominators or None): the shared CFG, valid while "cfg" would be
        self._shared: dict[int, tuple[Function, Any, Any]] = {}
        self._gate = gate
        self._bisecting = bisecting
        #: How many `get` calls were answered from the cache / had to compute.
        self.hits = 0
        self.misses = 0

    def get(self, name: str, f: Function) -> Any:
        """The analysis `name` of `f`, from the cache when still valid."""
        info = _ANALYSES.get(name)
        if info is None:
            raise PassError(f"unknown analysis '{name}'{suggest(name, list(_ANALYSES))}; "
                            f"known: {', '.join(known_analyses())}")
        entry = self._cache.get(id(f))
        if entry is None:
            entry = self._cache[id(f)] = (f, {})
        results = entry[1]
        if name in results:
            self.hits += 1
            return results[name]
        self.misses += 1
        result = info.derive(self, f) if info.derive is not None else info.compute(f)
        results[name] = result
        return result

    def peek(self, name: str, f: Function) -> Any:
        """The cached result of `name` for `f`, or None; never computes and is not counted."""
        entry = self._cache.get(id(f))
        return None if entry is None else entry[1].get(name)

    def flow(self, f: Function) -> Any:
        """The CFG of `f` as a `zir.analysis.FlowGraph` (dicts), shared by the built-in analyses;
        cached until a pass does not preserve the CFG. Not a named analysis: not counted."""
        shared = self._shared.get(id(f))
        if shared is None:
            from zir.analysis.flow import FlowGraph

            shared = self._shared[id(f)] = (f, FlowGraph.of(f), None)
        return shared[1]

    def shared_dominators(self, f: Function) -> Any:
        """The `zir.analysis.Dominators` of the shared CFG (what `dominators`, `domtree`,
        `frontiers` and `loops` are made from); cached with the CFG. Not counted."""
        flow = self.flow(f)
        shared = self._shared[id(f)]
        if shared[2] is None:
            from zir.analysis.dominance import Dominators

            shared = self._shared[id(f)] = (f, flow, Dominators(flow))
        return shared[2]

    def cached(self, name: str, f: Function) -> bool:
        """Whether `name` of `f` is in the cache now (for tests and instrumentation)."""
        entry = self._cache.get(id(f))
        return entry is not None and name in entry[1]

    # Typed shorthands for the analyses passes ask for most.
    def cfg(self, f: Function) -> Any:
        """`zir.analysis.cfg(f)` (cached)."""
        return self.get("cfg", f)

    def dominators(self, f: Function) -> Any:
        """`zir.analysis.dominators(f)` (cached)."""
        return self.get("dominators", f)

    def frontiers(self, f: Function) -> dict[str, set[str]]:
        """`zir.analysis.dominance_frontiers(f)` (cached)."""
        result: dict[str, set[str]] = self.get("frontiers", f)
        return result

    def liveness(self, f: Function) -> Any:
        """`zir.analysis.liveness(f)` (cached)."""
        return self.get("liveness", f)

    def invalidate(self, f: Function, preserved: PreservedAnalyses) -> list[str]:
        """Drop the cached analyses of `f` that `preserved` does not keep; returns the dropped names.

        An analysis is kept only if it and, transitively, everything it `requires` are preserved.
        """
        if preserved.everything:
            return []
        if not preserved.preserves("cfg"):
            self._shared.pop(id(f), None)
        entry = self._cache.get(id(f))
        if entry is None:
            return []
        results = entry[1]
        dropped = [n for n in sorted(results) if not self._kept(n, preserved)]
        for n in dropped:
            del results[n]
        return dropped

    def _kept(self, name: str, preserved: PreservedAnalyses) -> bool:
        todo, seen = [name], set()
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if not preserved.preserves(n):
                return False
            info = _ANALYSES.get(n)
            if info is not None:
                todo.extend(info.requires)
        return True

    def clear(self, f: Function | None = None) -> None:
        """Forget every cached result (of `f`, or of every function)."""
        if f is None:
            self._cache.clear()
            self._shared.clear()
        else:
            self._cache.pop(id(f), None)
            self._shared.pop(id(f), None)

    def allow(self, description: str | Callable[[], str]) -> bool:
        """May the calling pass perform the transformation `description`? (The bisect gate.)

        `description` may be a function that makes the text: it is called only when the text is
        logged (a bisect limit is set), so an unbisected run formats nothing.
        """
        return True if self._gate is None else self._gate(description)

    @property
    def bisecting(self) -> bool:
        """Whether `allow` may refuse or log (a bisect limit is set); passes may skip work that only
        serves the gate when it is not."""
        return self._gate is not None and (self._bisecting is None or self._bisecting())
