"""Copy propagation on SSA form.

Every read of a Var defined by `copy v` reads `v` instead, every read of a Var defined by
`const c` (a literal or undef) reads `c`, and a phi whose incoming values are all the same value
`v` (ignoring the phi itself: "trivial" phis, Braun et al. 2013, section 3.1) is replaced by `v`.
Chains resolve transitively; the definitions are then deleted. In strict SSA the replacement
dominates every use it gets (the copy's source dominates the copy, a trivial phi's only value
dominates the phi), and along exception edges it is defined no later than the original was, so the
handler-phi invariant keeps holding.
"""

from __future__ import annotations

from functools import partial

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.edit import replace_uses, where
from passes.fold import propagatable
from passes.registry import PassResult, register
from zir.ir import Block, Const, Function, Instr, Phi, Value, Var
from zir.printer import format_name, format_phi, format_value


def _propagate_text(i: Instr, b: Block, f: Function) -> str:
    return f"propagate {where(i, b, f)}"


def _phi_text(p: Phi, b: Block, f: Function, value: Value) -> str:
    return f"replace {format_phi(p)} in {format_name('^', b.label)} of {format_name('@', f.name)} by " \
           f"{format_value(value)}"


def _resolve(v: Value, mapping: dict[str, Value]) -> Value:
    seen = set()
    while isinstance(v, Var) and v.name in mapping and v.name not in seen:
        seen.add(v.name)
        v = mapping[v.name]
    return v


@register("copyprop")
@attrs.frozen
class CopyPropagation:
    """Replace uses of copies, constants and trivial phis by their sources (SSA form only)."""

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        if not f.ssa:
            # Nothing to do before SSA construction (a bisect limit may have refused it); the
            # statistic tells a user who forgot 'ssa' in the pipeline.
            return PassResult.unchanged(stats={"functions skipped (not in SSA form; run 'ssa' first)": 1})
        mapping: dict[str, Value] = {}
        stats = {"copies propagated": 0, "constants propagated": 0, "phis removed": 0}
        params = {p.name for p in f.params}
        for b in f.blocks:
            for i in b.instrs:
                op = i.op
                if (op != "copy" and op != "const") or i.dest is None or i.dest.name in params:
                    continue
                src = i.args[0]
                if op == "const" and not (isinstance(src, Const) and propagatable(src)):
                    continue
                if isinstance(src, Var) and src.name == i.dest.name:
                    continue
                if am.allow(partial(_propagate_text, i, b, f)):
                    mapping[i.dest.name] = src
                    stats["copies propagated" if i.op == "copy" else "constants propagated"] += 1
        # Trivial phis: repeat, since removing one can make another trivial.
        phis = [(b, p) for b in f.blocks for p in b.phis]
        progress = True
        while progress:
            progress = False
            for b, p in phis:
                if p.dest.name in mapping:
                    continue
                value = self._trivial(p, mapping)
                if value is None:
                    continue
                if am.allow(partial(_phi_text, p, b, f, value)):
                    mapping[p.dest.name] = value
                    stats["phis removed"] += 1
                    progress = True
        if not mapping:
            return PassResult.unchanged()
        resolved = {name: _resolve(v, mapping) for name, v in mapping.items()}
        replace_uses(f, resolved)
        for b in f.blocks:
            b.phis = [p for p in b.phis if p.dest.name not in resolved]
            b.instrs = [i for i in b.instrs if i.dest is None or i.dest.name not in resolved
                        or i.op not in ("copy", "const")]
        return PassResult(True, PreservedAnalyses.cfg(), stats)

    @staticmethod
    def _trivial(p: Phi, mapping: dict[str, Value]) -> Value | None:
        """The one value a phi merges (itself aside), or None."""
        values: list[Value] = []
        for v in p.incoming.values():
            r = _resolve(v, mapping)
            if r == p.dest or r in values:
                continue
            values.append(r)
        return values[0] if len(values) == 1 else None
