"""Small IR-editing helpers the passes share: use counts, replacing uses, retargeting branches,
fresh names, and the first may-raise point of a block."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet

from zir.analysis.op_effects import MAY_RAISE
from zir.ir import Block, Const, Function, Instr, Value, Var
from zir.printer import format_instr, format_name


def use_counts(f: Function) -> Counter[str]:
    """How many times each Var name is read (instruction operands and phi operands)."""
    # gather the names, then count them in one C-level pass
    blocks = f.blocks
    names = [a.name for b in blocks for i in b.instrs for a in i.args if isinstance(a, Var)]
    names += [v.name for b in blocks for p in b.phis for v in p.incoming.values() if isinstance(v, Var)]
    return Counter(names)


def def_counts(f: Function) -> Counter[str]:
    """How many times each Var name is assigned (parameters count once)."""
    counts: Counter[str] = Counter(p.name for p in f.params)
    for b in f.blocks:
        for p in b.phis:
            counts[p.dest.name] += 1
        for i in b.instrs:
            if i.dest is not None:
                counts[i.dest.name] += 1
    return counts


def replace_uses(f: Function, mapping: Mapping[str, Value]) -> int:
    """Replace every read of a Var named in `mapping` by its value; returns how many operands changed."""
    if not mapping:
        return 0
    n = 0
    for b in f.blocks:
        for p in b.phis:
            for label, v in p.incoming.items():
                if isinstance(v, Var) and v.name in mapping:
                    p.incoming[label] = mapping[v.name]
                    n += 1
        for i in b.instrs:
            for k, a in enumerate(i.args):
                if isinstance(a, Var) and a.name in mapping:
                    i.args[k] = mapping[a.name]
                    n += 1
    return n


def all_names(f: Function) -> set[str]:
    """Every Var name the function mentions."""
    names = {p.name for p in f.params}
    for b in f.blocks:
        for p in b.phis:
            names.add(p.dest.name)
            names.update(v.name for v in p.incoming.values() if isinstance(v, Var))
        for i in b.instrs:
            if i.dest is not None:
                names.add(i.dest.name)
            names.update(v.name for v in i.uses())
    return names


class NameSupply:
    """Fresh names that collide with nothing in the function: `$t1`, `$t2`, ... or `base.N`."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)
        self._next: dict[str, int] = {}

    def fresh(self, base: str = "$t", sep: str = "", start: int = 1) -> str:
        n = self._next.get(base + sep, start)
        while f"{base}{sep}{n}" in self.taken:
            n += 1
        self._next[base + sep] = n + 1
        name = f"{base}{sep}{n}"
        self.taken.add(name)
        return name

    def var(self, base: str = "$t", sep: str = "", start: int = 1) -> Var:
        return Var(self.fresh(base, sep, start))


def fresh_label(f: Function, base: str) -> str:
    """A block label not used in `f`: `base`, else `base.1`, `base.2`, ..."""
    return fresh_name({b.label for b in f.blocks}, base)


def fresh_name(taken: AbstractSet[str], base: str) -> str:
    """A name not in `taken`: `base`, else `base.1`, `base.2`, ..."""
    if base not in taken:
        return base
    n = 1
    while f"{base}.{n}" in taken:
        n += 1
    return f"{base}.{n}"


def retarget(term: Instr, old: str, new: str) -> None:
    """Make the terminator branch to `new` wherever it branched to `old`."""
    term.targets = [new if t == old else t for t in term.targets]


def first_may_raise(block: Block) -> int | None:
    """The index of the first instruction of `block` that may raise (terminator included), or None."""
    for k, i in enumerate(block.instrs):
        if i.opdef.may_raise:
            return k
    return None


def where(instr: Instr, block: Block, f: Function) -> str:
    """`%t5 = add %a, 1 in ^bb2 of @f`: how bisect logs and messages name an instruction."""
    return f"{format_instr(instr)} in {format_name('^', block.label)} of {format_name('@', f.name)}"


def literal(v: Value) -> bool:
    """Whether the operand is a Const (a literal, undef or an opaque constant)."""
    return isinstance(v, Const)


def raise_point(b: Block) -> int | None:
    """The index of `b`'s raise point: its first instruction that may raise (terminator included),
    or None. In SSA form a block with a handler has at most one (`passes.ssa.split_at_raise_points`)."""
    may_raise = MAY_RAISE
    for k, i in enumerate(b.instrs):
        if may_raise[i.op]:
            return k
    return None
