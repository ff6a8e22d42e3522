"""`KindsOnDemand`: the exact-int / bool facts of `passes.facts.Kinds`, computed only for the Vars
someone asks about.

A peephole round asks about a few dozen Vars (the operands of `x + 0`, `truth x`, a dead `add`)
in a function of thousands; `Kinds` settles every Var of the function each round. A Var's kind
depends only on its *backward slice*: its definitions, the Vars they read, theirs, and so on. The
greatest fixed point of the kind equations restricted to a slice, which is closed under that
dependency, is the restriction of the greatest fixed point of the whole function (Kleene iteration
from the top evolves the slice's Vars exactly as it would inside the whole system, since their
equations read nothing outside it). So a query walks the slice of its Var (depth-first, explicit
stack, stopping at Vars already answered), iterates the kind equations over the slice alone with a
worklist (Kildall 1973), and remembers every answer of the slice for later queries. All queries
together cost at most one pass over the function, and usually a small fraction of it.

The answers are those `Kinds(f)` gives at construction time, whatever rewrites happen after: the
definitions are copied then (operation and operands, a phi's incoming values), because rewrites
edit operand lists and phis in place.
"""

from __future__ import annotations

from passes.facts import ALWAYS_BOOL, BOOL, INT, exact_kind, iterate_kinds, operation_kind
from zir.ir import Const, Function, Value, Var

_TOP = "?"  # still at the optimistic top (as in `passes.facts`)
_PHI = "<phi>"  # the operation of a phi in a copied definition

#: a definition as copied: (operation, operands), with `_PHI` and the incoming values for a phi
_Def = tuple[str, tuple[Value, ...]]


def _meet(defs: list[_Def], kind: dict[str, str | None]) -> str | None:
    """The kind every definition agrees on given the current operand kinds (`passes.facts._meet`
    on copied definitions): _TOP while all that decide it are at the top, None on disagreement."""
    out: str | None = _TOP
    for op, args in defs:
        k: str | None
        if op is _PHI:
            k = _TOP
            for v in args:
                x = exact_kind(v.value) if isinstance(v, Const) else kind.get(v.name)
                if x == _TOP:
                    continue
                k = x if k == _TOP or k == x else None
                if k is None:
                    break
        elif op in ALWAYS_BOOL:
            k = BOOL
        elif op == "const":
            a = args[0]
            k = exact_kind(a.value) if isinstance(a, Const) else None
        else:
            kinds = [exact_kind(a.value) if isinstance(a, Const) else kind.get(a.name) for a in args]
            # an operand still at the optimistic top: so is the result (as in SCCP)
            k = _TOP if _TOP in kinds else operation_kind(op, args, kinds)
        if k is None:
            return None
        if k == _TOP:
            continue
        if out == _TOP or out == k:
            out = k
        else:
            return None
    return out


class KindsOnDemand:
    """`passes.facts.Kinds` of `f` as it is now, each Var's kind computed when first asked.

    Same queries (`kind`, `is_int`, `is_bool`), same answers as `Kinds(f)` made at the same moment.
    """

    __slots__ = ("_defs", "_kind")

    def __init__(self, f: Function) -> None:
        defs: dict[str, list[_Def]] = {}
        for b in f.blocks:
            for phi in b.phis:
                defs.setdefault(phi.dest.name, []).append((_PHI, tuple(phi.incoming.values())))
            for i in b.instrs:
                d = i.dest
                if d is not None:
                    defs.setdefault(d.name, []).append((i.op, tuple(i.args)))
        for p in f.params:
            defs.pop(p.name, None)  # a parameter's kind is unknown whatever else it is assigned
        self._defs = defs
        #: Var name -> its final value (_TOP, INT, BOOL or None), for every Var of an answered slice
        self._kind: dict[str, str | None] = {}

    def kind(self, v: Value) -> str | None:
        """INT, BOOL or None for an operand."""
        if isinstance(v, Const):
            return exact_kind(v.value)
        name = v.name
        kind = self._kind
        if name in kind:
            k = kind[name]
        else:
            k = self._solve(name) if name in self._defs else None
        return None if k == _TOP else k

    def is_int(self, v: Value) -> bool:
        """`v` is an exact int (not a bool) whenever it is read."""
        return self.kind(v) == INT

    def is_bool(self, v: Value) -> bool:
        """`v` is a bool whenever it is read."""
        return self.kind(v) == BOOL

    def _reads(self, name: str) -> list[str]:
        """The defined, not yet answered Vars the definitions of `name` read."""
        defs, kind = self._defs, self._kind
        return [a.name for _, args in defs[name] for a in args
                if isinstance(a, Var) and a.name in defs and a.name not in kind]

    def _solve(self, name: str) -> str | None:
        """Answer the slice of `name` (which has definitions and no answer yet); its final value."""
        kind = self._kind
        # the slice in depth-first postorder: what a Var reads comes before it (except on cycles)
        order: list[str] = []
        seen = {name}
        stack = [(name, iter(self._reads(name)))]
        while stack:
            node, it = stack[-1]
            for m in it:
                if m not in seen:
                    seen.add(m)
                    stack.append((m, iter(self._reads(m))))
                    break
            else:
                stack.pop()
                order.append(node)
        users: dict[str, list[str]] = {}
        for n in order:
            kind[n] = _TOP
            for m in self._reads_in(n, seen):
                users.setdefault(m, []).append(n)
        defs = self._defs
        # popped in postorder: most Vars are final at their first visit
        iterate_kinds(order[::-1], users, kind, lambda n: _meet(defs[n], kind))
        return kind[name]

    def _reads_in(self, name: str, among: set[str]) -> dict[str, None]:
        """The Vars of `among` the definitions of `name` read, each once, in order."""
        return {a.name: None for _, args in self._defs[name] for a in args
                if isinstance(a, Var) and a.name in among}
