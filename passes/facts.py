"""Facts about values that transformations need to be sound for Python: which values are exact
`int`s or `bool`s, which operations cannot raise on them, and which locals are surely bound.

Python's operators dispatch on the runtime type, so `x + 0 == x` holds for an `int` but not for a
`bool` (`True + 0` is `1`), a float (`-0.0 + 0` is `0.0`), a string or a user class. These facts
are therefore *proofs from the program text*: a value is an exact int when it is an int literal or
the result of an int-closed operation on exact ints (and, in SSA form, a phi of exact ints,
computed optimistically over loops, i.e. the greatest fixed point).

The type rules below are semantic facts about Python's built-in types, not an opcode list: each
names rows of `zir.ops` (checked at import) and says what they return for int operands.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from passes.fold import evaluate
from zir.ir import UNBOUND, Block, Const, Function, Instr, Value, Var
from zir.ops import IR_OPS, C, U, W, X

#: Operations that map two exact ints to an exact int (when they return at all).
INT_CLOSED: frozenset[str] = frozenset({
    "add", "sub", "mul", "floordiv", "mod", "and", "or", "xor", "lshift", "rshift",
    "iadd", "isub", "imul", "ifloordiv", "imod", "iand", "ior", "ixor", "ilshift", "irshift",
})
#: Unary operations that map an exact int to an exact int.
INT_UNARY: frozenset[str] = frozenset({"neg", "pos", "invert"})
#: Operations whose result is an int when the exponent (second operand) is a non-negative int.
INT_POWER: frozenset[str] = frozenset({"pow", "ipow"})
#: Comparisons that map two exact ints to a bool.
INT_COMPARE: frozenset[str] = frozenset({"lt", "le", "eq", "ne", "gt", "ge"})
#: Operations that return a bool whatever their operands are (`x in y` coerces to bool).
ALWAYS_BOOL: frozenset[str] = frozenset({"not", "truth", "is", "is_not", "in", "not_in"})
#: Operations that cannot raise when every operand is an exact int (no division, no shifts: those
#: raise on zero / negative counts).
INT_NO_RAISE: frozenset[str] = frozenset({
    "add", "sub", "mul", "and", "or", "xor", "iadd", "isub", "imul", "iand", "ior", "ixor",
    "neg", "pos", "invert", *INT_COMPARE,
})
#: Operations that cannot raise on a bool operand (its truth is itself).
BOOL_NO_RAISE: frozenset[str] = frozenset({"not", "truth"})

for _name in INT_CLOSED | INT_UNARY | INT_POWER | INT_COMPARE | ALWAYS_BOOL | INT_NO_RAISE | BOOL_NO_RAISE:
    if _name not in IR_OPS:
        raise AssertionError(f"passes.facts names unknown operation {_name!r}")

INT, BOOL = "int", "bool"
# A definition: an instruction, or ("phi", incoming values).
_Def = Instr | tuple[str, list[Value]]


def exact_kind(value: Any) -> str | None:
    """INT for an exact int, BOOL for a bool, else None (type(), not isinstance: bool is an int)."""
    if type(value) is int:
        return INT
    if type(value) is bool:
        return BOOL
    return None


def result_kind(instr: Instr, kinds: list[str | None]) -> str | None:
    """The kind of `instr`'s result given its operands' kinds (None: unknown)."""
    op = instr.op
    if op in ALWAYS_BOOL:
        return BOOL
    if op == "const":
        a = instr.args[0]
        return exact_kind(a.value) if isinstance(a, Const) else None
    if op == "copy":
        return kinds[0]
    if not kinds or any(k != INT for k in kinds):
        return None
    if op in INT_CLOSED and len(kinds) == 2:
        return INT
    if op in INT_UNARY and len(kinds) == 1:
        return INT
    if op in INT_COMPARE and len(kinds) == 2:
        return BOOL
    if op in INT_POWER and len(kinds) == 2:
        e = instr.args[1]
        if isinstance(e, Const) and type(e.value) is int and e.value >= 0:
            return INT
    return None


class Kinds:
    """Exact-int / bool facts for every Var of a function (a greatest fixed point).

    A Var has a kind when every definition of it produces that kind (non-SSA functions assign a
    local many times; all assignments must agree). Parameters and Vars with no definition have
    none. In non-SSA form a local may also be unbound where it is read; the lifter guards such
    reads with `check_bound`, and callers that rewrite a use ask `Bound` as well.
    """

    def __init__(self, f: Function) -> None:
        defs: dict[str, list[_Def]] = {}
        for b in f.blocks:
            for p in b.phis:
                defs.setdefault(p.dest.name, []).append(("phi", list(p.incoming.values())))
            for i in b.instrs:
                if i.dest is not None:
                    defs.setdefault(i.dest.name, []).append(i)
        params = {p.name for p in f.params}
        # Who reads whom: a change of one Var's kind re-examines the Vars defined from it.
        users: dict[str, set[str]] = {}
        for name, ds in defs.items():
            for d in ds:
                for v in (d[1] if isinstance(d, tuple) else d.args):
                    if isinstance(v, Var):
                        users.setdefault(v.name, set()).add(name)
        # Optimistic start (every defined Var may have a kind), then a worklist descends to the
        # greatest fixed point; each Var changes at most twice (? -> kind -> None).
        kind: dict[str, str | None] = {n: "?" for n in defs if n not in params}
        work = deque(sorted(kind))
        queued = set(work)
        while work:
            name = work.popleft()
            queued.discard(name)
            if kind[name] is None:
                continue
            new = self._meet(defs[name], kind)
            if new != kind[name]:
                kind[name] = new
                for u in sorted(users.get(name, ())):
                    if u in kind and u not in queued:
                        queued.add(u)
                        work.append(u)
        self._kind = {n: k for n, k in kind.items() if k not in (None, "?")}

    @staticmethod
    def _value_kind(v: Value, kind: dict[str, str | None]) -> str | None:
        if isinstance(v, Const):
            return exact_kind(v.value)
        k = kind.get(v.name)
        return None if k is None else k

    def _meet(self, defs: Iterable[_Def], kind: dict[str, str | None]) -> str | None:
        out: str | None = "?"
        for d in defs:
            if isinstance(d, tuple):
                ks = [self._value_kind(v, kind) for v in d[1]]
                k: str | None = "?"
                for x in ks:
                    if x == "?":
                        continue
                    if k in ("?", x):
                        k = x
                    else:
                        k = None
                        break
            else:
                operand_kinds = [self._value_kind(a, kind) for a in d.args]
                if "?" in operand_kinds and d.op not in ALWAYS_BOOL and d.op != "const":
                    # depends on a Var still at the optimistic top: so is the result (as in SCCP)
                    k = "?"
                else:
                    k = result_kind(d, operand_kinds)
            if k is None:
                return None
            if k == "?":
                continue
            if out in ("?", k):
                out = k
            else:
                return None
        return out

    def kind(self, v: Value) -> str | None:
        """INT, BOOL or None for an operand."""
        if isinstance(v, Const):
            return exact_kind(v.value)
        return self._kind.get(v.name)

    def is_int(self, v: Value) -> bool:
        """`v` is an exact int (not a bool) whenever it is read."""
        return self.kind(v) == INT

    def is_bool(self, v: Value) -> bool:
        """`v` is a bool whenever it is read."""
        return self.kind(v) == BOOL


def may_be_unbound_ssa(f: Function) -> set[str]:
    """In SSA form: the Vars that may hold `undef` (from `const undef`, copies and phis of it, or
    uses with no definition)."""
    defined: set[str] = {p.name for p in f.params}
    flows: dict[str, list[Value]] = {}
    maybe: set[str] = set()
    for b in f.blocks:
        for p in b.phis:
            defined.add(p.dest.name)
            flows[p.dest.name] = list(p.incoming.values())
        for i in b.instrs:
            if i.dest is None:
                continue
            defined.add(i.dest.name)
            if i.op in ("const", "copy"):
                flows[i.dest.name] = [i.args[0]]
    for b in f.blocks:
        for i in b.instrs:
            maybe.update(v.name for v in i.uses() if v.name not in defined)
        for p in b.phis:
            maybe.update(v.name for v in p.incoming.values() if isinstance(v, Var) and v.name not in defined)
    changed = True
    while changed:
        changed = False
        for name in sorted(flows):
            if name in maybe:
                continue
            for v in flows[name]:
                if (isinstance(v, Const) and v.value is UNBOUND) or (isinstance(v, Var) and v.name in maybe):
                    maybe.add(name)
                    changed = True
                    break
    return maybe


class BoundSet:
    """The Vars surely bound at one point, as a bitset; `name in state` asks about one."""

    __slots__ = ("bits", "index")

    def __init__(self, bits: int, index: dict[str, int]) -> None:
        self.bits = bits
        self.index = index

    def __contains__(self, name: object) -> bool:
        n = self.index.get(name) if isinstance(name, str) else None
        return n is not None and bool(self.bits >> n & 1)


class Bound:
    """Definite assignment (non-SSA form): which Vars surely hold a value before an instruction.

    A forward must-dataflow problem over the CFG (Kildall 1973), sets as int bitsets: the state
    entering a block is the intersection of the states leaving its predecessors; along an exception
    edge, of the states at each of the predecessor's may-raise instructions (the raise happens
    before the instruction's own result is written). Parameters are bound at entry; an assignment
    binds its destination unless it copies `undef` (a `del`) or a Var that may be unbound.
    """

    def __init__(self, f: Function, graph: Any) -> None:
        self.index: dict[str, int] = {}
        for p in f.params:
            self._bit(p.name)
        blocks = f.block_map()
        entry = f.blocks[0].label
        state_in: dict[str, int | None] = {b.label: None for b in f.blocks}
        state_in[entry] = self._mask(p.name for p in f.params)
        work = deque([entry])
        queued = {entry}
        while work:
            label = work.popleft()
            queued.discard(label)
            s = state_in[label]
            if s is None:
                continue
            b = blocks[label]
            cur = s | self._mask(p.dest.name for p in b.phis)
            exc: int | None = None
            for i in b.instrs:
                if i.opdef.may_raise:
                    exc = cur if exc is None else exc & cur
                cur = self._step(i, cur)
            for succ in graph.successors(label):
                flow = exc if graph.edges[label, succ]["kind"] == "exception" else cur
                if flow is None:
                    continue
                old = state_in[succ]
                new = flow if old is None else old & flow
                if new != old:
                    state_in[succ] = new
                    if succ not in queued:
                        queued.add(succ)
                        work.append(succ)
        self._in = state_in
        self._walks: dict[int, tuple[Block, int, list[BoundSet]]] = {}

    def _bit(self, name: str) -> int:
        n = self.index.get(name)
        if n is None:
            n = self.index[name] = len(self.index)
        return n

    def _mask(self, names: Iterable[str]) -> int:
        m = 0
        for name in names:
            m |= 1 << self._bit(name)
        return m

    def _step(self, i: Instr, cur: int) -> int:
        """The state after instruction `i`, given the state before it."""
        if i.dest is None:
            return cur
        bit = 1 << self._bit(i.dest.name)
        if i.op in ("const", "copy"):
            a = i.args[0]
            if (isinstance(a, Const) and a.value is UNBOUND) or (
                    isinstance(a, Var) and not cur >> self._bit(a.name) & 1):
                return cur & ~bit
        return cur | bit

    def before(self, block: Block) -> list[BoundSet]:
        """The bound set before each instruction of `block` (nothing bound if unreachable)."""
        memo = self._walks.get(id(block))
        if memo is not None and memo[0] is block and memo[1] == len(block.instrs):
            return memo[2]
        s = self._in.get(block.label)
        cur = (0 if s is None else s) | self._mask(p.dest.name for p in block.phis)
        states = []
        for i in block.instrs:
            states.append(BoundSet(cur, self.index))
            cur = self._step(i, cur)
        # the block is kept in the memo so its id cannot be reused by another block meanwhile
        self._walks[id(block)] = (block, len(block.instrs), states)
        return states

    def reachable(self, label: str) -> bool:
        """Whether the dataflow reached the block (it is reachable from the entry)."""
        return self._in.get(label) is not None


def member_of(names: set[str] | frozenset[str] | BoundSet) -> Callable[[Var], bool]:
    """A `bound` predicate for `removable`: the Var's name is in `names`."""
    return lambda v: v.name in names


def removable(instr: Instr, kinds: Kinds, bound: Callable[[Var], bool]) -> bool:
    """Whether deleting `instr` cannot change what the program does, given that its result (if any)
    is never read.

    True for operations with no effect but reading (pure, or read-only like `load_closure`), and for
    may-raise operations proven not to raise here: literal operands the table's `impl` evaluates
    without raising (`add 1, 2`), int-only arithmetic that cannot fail (`add` of two exact ints),
    the truth of a bool, and `check_bound` of a surely bound Var. `bound(v)` says whether `v` surely
    holds a value where `instr` reads it. Terminators and `catch` (which must open its handler
    block) are never removable.
    """
    op = instr.opdef
    if op.terminator or op.name == "catch" or op.effects & (W | C):
        return False
    if not op.effects & (X | U):
        return True
    args = instr.args
    if all(isinstance(a, Const) for a in args) and args:
        ok, _ = evaluate(op, args)
        if ok:
            return True
    bound_vars = all(bound(a) for a in args if isinstance(a, Var))
    if op.name == "check_bound":
        a = args[0]
        return bound_vars and not (isinstance(a, Const) and a.value is UNBOUND)
    if op.name in INT_NO_RAISE and args and all(kinds.is_int(a) for a in args):
        return bound_vars
    if op.name in BOOL_NO_RAISE and len(args) == 1 and kinds.is_bool(args[0]):
        return bound_vars
    return False
