"""Peephole rewrites of single instructions: constant folding, constant propagation and the
algebraic identities that are sound for Python values.

Each instruction rewrite is `rewrite(rw, block, k) -> bool` on `block.instrs[k]`, returns early
when it does not match, asks the bisect gate before changing anything, and replaces the
instruction in place (never removes it, so indices stay valid for the driver).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from passes.edit import where
from passes.fold import evaluate, foldable, propagatable
from passes.peephole.context import Rewriter
from zir.ir import Block, Const, Instr, Phi, Value, Var
from zir.ops import IR_OPS
from zir.printer import format_instr, format_value

#: op -> the constant c with `x op c == x` for every exact int x.
RIGHT_IDENTITY: dict[str, int] = {
    "add": 0, "sub": 0, "mul": 1, "floordiv": 1, "or": 0, "xor": 0, "lshift": 0, "rshift": 0, "pow": 1,
    "iadd": 0, "isub": 0, "imul": 1, "ifloordiv": 1, "ior": 0, "ixor": 0, "ilshift": 0, "irshift": 0,
    "ipow": 1,
}
#: op -> the constant c with `c op x == x` for every exact int x.
LEFT_IDENTITY: dict[str, int] = {
    "add": 0, "mul": 1, "or": 0, "xor": 0, "iadd": 0, "imul": 1, "ior": 0, "ixor": 0,
}
#: op -> the constant c with `x op c == c op x == 0` for every exact int x.
ANNIHILATOR: dict[str, int] = {"mul": 0, "and": 0, "imul": 0, "iand": 0}
#: ops with `x op x == 0` for every exact int x.
SELF_ZERO: frozenset[str] = frozenset({"sub", "xor", "isub", "ixor"})

for _name in [*RIGHT_IDENTITY, *LEFT_IDENTITY, *ANNIHILATOR, *SELF_ZERO]:
    if _name not in IR_OPS:
        raise AssertionError(f"peephole identity names unknown operation {_name!r}")


def _int_const(v: Value, c: int) -> bool:
    return isinstance(v, Const) and type(v.value) is int and v.value == c


def _bound_ints(rw: Rewriter, b: Block, k: int, vs: list[Value]) -> bool:
    """All of `vs` are exact ints that hold a value where instruction k reads them."""
    if not all(rw.kinds.is_int(v) for v in vs):
        return False
    names = [v.name for v in vs if isinstance(v, Var)]
    if rw.f.ssa or not names:
        return True
    state = rw.bound.before(b)[k]
    return all(n in state for n in names)


def _replace(rw: Rewriter, b: Block, k: int, new: Instr, verb: str, statistic: str,
             kinds_kept: bool = False) -> bool:
    old = b.instrs[k]
    if not rw.allow(lambda: f"{verb} {where(old, b, rw.f)} to {format_instr(new)}"):
        return False
    new.line = old.line
    b.instrs[k] = new
    if new.dest is not None and (new.op == "const" or new.op == "copy"):
        rw.note_value(new.dest, new.args[0])
    return rw.did(statistic, kinds_kept=kinds_kept)


def copy_of_constant(rw: Rewriter, b: Block, k: int) -> bool:
    """`%x = copy 5` becomes `%x = const 5`."""
    i = b.instrs[k]
    if i.op != "copy" or not isinstance(i.args[0], Const) or not propagatable(i.args[0]):
        return False
    # `copy c` and `const c` have the kind of the literal c
    return _replace(rw, b, k, Instr("const", i.dest, [i.args[0]]), "rewrite", "copies of constants",
                    kinds_kept=True)


def fold_constant(rw: Rewriter, b: Block, k: int) -> bool:
    """An operation on literal operands becomes `const` of its value, computed by the table's impl."""
    i = b.instrs[k]
    if i.dest is None or not i.args or not all(isinstance(a, Const) for a in i.args):
        return False
    ok, value = evaluate(i.opdef, i.args)
    if not ok:
        return False
    return _replace(rw, b, k, Instr("const", i.dest, [Const(value)]), "fold",
                    "constants folded")


def simplify_identity(rw: Rewriter, b: Block, k: int) -> bool:
    """`x + 0`, `x * 1`, `x * 0`, `x - x`, ... on a proven exact int become a copy or a constant."""
    i = b.instrs[k]
    if i.dest is None or len(i.args) != 2:
        return False
    x, y = i.args
    op = i.op
    result: Value | None = None
    if op in RIGHT_IDENTITY and _int_const(y, RIGHT_IDENTITY[op]) and _bound_ints(rw, b, k, [x]):
        result = x
    elif op in LEFT_IDENTITY and _int_const(x, LEFT_IDENTITY[op]) and _bound_ints(rw, b, k, [y]):
        result = y
    elif op in ANNIHILATOR and (_int_const(y, ANNIHILATOR[op]) or _int_const(x, ANNIHILATOR[op])) \
            and _bound_ints(rw, b, k, [x, y]):
        result = Const(ANNIHILATOR[op])
    elif op in SELF_ZERO and isinstance(x, Var) and x == y and _bound_ints(rw, b, k, [x]):
        result = Const(0)
    if result is None:
        return False
    new = Instr("const", i.dest, [result]) if isinstance(result, Const) else Instr("copy", i.dest, [result])
    # an int operation of ints proven int becomes a copy of such an int or an int constant
    return _replace(rw, b, k, new, "simplify", "identities simplified", kinds_kept=True)


def truth_of_bool(rw: Rewriter, b: Block, k: int) -> bool:
    """`truth %b` of a proven bool is a copy of it."""
    i = b.instrs[k]
    if i.op != "truth" or i.dest is None or not rw.kinds.is_bool(i.args[0]):
        return False
    a = i.args[0]
    if isinstance(a, Var) and not rw.f.ssa and a.name not in rw.bound.before(b)[k]:
        return False
    new = Instr("copy", i.dest, [a])
    # `truth` of a proven bool and a copy of it are both bools
    return _replace(rw, b, k, new, "simplify", "truth tests removed", kinds_kept=True)


INSTRUCTION_REWRITES = [copy_of_constant, fold_constant, simplify_identity, truth_of_bool]

_IDENTITY_OPS = frozenset(RIGHT_IDENTITY) | frozenset(LEFT_IDENTITY) | frozenset(ANNIHILATOR) | SELF_ZERO

#: rewrite -> which operations it can change at all (the rewrite returns False, touching no fact,
#: on any other), so the driver calls it only on those; a rewrite not listed is tried everywhere.
APPLIES: dict[Callable[[Rewriter, Block, int], bool], Callable[[str], bool]] = {
    copy_of_constant: lambda op: op == "copy",
    fold_constant: lambda op: foldable(IR_OPS[op]),
    simplify_identity: lambda op: op in _IDENTITY_OPS,
    truth_of_bool: lambda op: op == "truth",
}


def propagate_constants(rw: Rewriter, b: Block) -> bool:
    """Reads of a Var defined by `const` read the literal instead (SSA: everywhere, and reads of a
    `copy` read its source; before SSA: later in the same block, until the Var is assigned again)."""
    changed = False
    ssa = rw.f.ssa
    table: dict[str, Value]
    if ssa:
        table = rw.ssa_constants()
        if not table:
            return False
        for p in b.phis:
            for label, v in list(p.incoming.items()):
                if isinstance(v, Var) and v.name in table and v != p.dest:
                    new = table[v.name]
                    if rw.allow(partial(_phi_text, rw, b, p, v, new)):
                        p.incoming[label] = new
                        _count_use(rw, new)
                        changed = rw.did(_statistic(new), kinds_kept=True)
    else:
        table = {}  # the constants assigned earlier in this block and not reassigned since
    for i in b.instrs:
        if table and i.op != "const":
            args = i.args
            for n, a in enumerate(args):
                if isinstance(a, Var) and a.name in table:
                    new = table[a.name]
                    if rw.allow(partial(_operand_text, rw, b, i, a, new)):
                        args[n] = new
                        _count_use(rw, new)
                        # in SSA the one definition of the replaced Var gives it the kind of
                        # what replaces it; before SSA the Var's kind meets all its assignments
                        changed = rw.did(_statistic(new), kinds_kept=ssa)
        if not ssa and i.dest is not None:
            table.pop(i.dest.name, None)
            if i.op == "const" and isinstance(i.args[0], Const) and propagatable(i.args[0]):
                table[i.dest.name] = i.args[0]
    return changed


def _phi_text(rw: Rewriter, b: Block, p: Phi, v: Value, new: Value) -> str:
    return (f"replace {format_value(v)} by {format_value(new)} in the phi of {format_value(p.dest)} "
            f"in ^{b.label} of @{rw.f.name}")


def _operand_text(rw: Rewriter, b: Block, i: Instr, a: Value, new: Value) -> str:
    return f"replace {format_value(a)} by {format_value(new)} in {where(i, b, rw.f)}"


def _count_use(rw: Rewriter, new: Value) -> None:
    if isinstance(new, Var):
        rw.add_use(new.name)


def _statistic(new: Value) -> str:
    return "constants propagated" if isinstance(new, Const) else "copies propagated"
