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
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, overload

from passes.fold import evaluate
from zir.analysis.flow import flow_graph
from zir.analysis.op_effects import MAY_RAISE
from zir.ir import UNBOUND, Block, Const, Function, Instr, Phi, Value, Var
from zir.ops import IR_OPS, C, OpDef, U, W, X

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


def exact_kind(value: Any) -> str | None:
    """INT for an exact int, BOOL for a bool, else None (type(), not isinstance: bool is an int)."""
    if type(value) is int:
        return INT
    if type(value) is bool:
        return BOOL
    return None


def result_kind(instr: Instr, kinds: list[str | None]) -> str | None:
    """The kind of `instr`'s result given its operands' kinds (None: unknown)."""
    return operation_kind(instr.op, instr.args, kinds)


def operation_kind(op: str, args: Sequence[Value], kinds: list[str | None]) -> str | None:
    """The kind of the result of operation `op` on operands `args`, whose kinds are `kinds`."""
    if op in ALWAYS_BOOL:
        return BOOL
    if op == "const":
        a = args[0]
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
        e = args[1]
        if isinstance(e, Const) and type(e.value) is int and e.value >= 0:
            return INT
    return None


class Kinds:
    """Exact-int / bool facts for every Var of a function (a greatest fixed point).

    A Var has a kind when every definition of it produces that kind (non-SSA functions assign a
    local many times; all assignments must agree). Parameters and Vars with no definition have
    none. In non-SSA form a local may also be unbound where it is read; the lifter guards such
    reads with `check_bound`, and callers that rewrite a use ask `Bound` as well.

    The greatest fixed point (every Var starts at the optimistic top "?" and only goes down,
    ? -> kind -> None; the transfer functions are monotone, so any evaluation order reaches the
    same result, Kildall 1973) is computed in two steps, for speed: one forward sweep in layout
    order settles every Var whose definitions read only settled Vars (or that has a definition
    that is None whatever the rest is), which in SSA form is all but the loop-carried ones; a
    worklist then iterates the rest from the top, with the settled values fixed.
    """

    def __init__(self, f: Function) -> None:
        defs: dict[str, list[Instr | Phi]] = {}
        for b in f.blocks:
            for phi in b.phis:
                defs.setdefault(phi.dest.name, []).append(phi)
            for i in b.instrs:
                if i.dest is not None:
                    defs.setdefault(i.dest.name, []).append(i)
        for p in f.params:
            defs.pop(p.name, None)
        final = _settle(f, defs)
        rest = [n for n in defs if n not in final]
        if rest:
            _iterate(rest, defs, final)
        self._kind = {n: k for n, k in final.items() if k is not None and k != _TOP}

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


_UNSETTLED = "!"  # a Var of `_settle` whose definitions are not all evaluated yet


def _settle(f: Function, defs: dict[str, list[Instr | Phi]]) -> dict[str, str | None]:
    """The forward sweep of `Kinds`: Var name -> its final kind, for the Vars it can settle.

    A definition is evaluated (with the transfer function of `_meet`) when the Vars it reads are
    settled; a Var is settled when all its definitions are evaluated, or at once when one of them
    is None (the meet of anything with None is None). Two shortcuts settle most of the rest: a phi
    with a None operand is None whatever its other operands are; and an operation whose unsettled
    operands are *grounded* (surely not left at the top: they have a definition that is) is None
    when it cannot make an int of what is settled (an operation that maps no ints to ints, or an
    operand already known not to be an int), as its other operands do not matter then.
    """
    final: dict[str, str | None] = {}
    remaining = {n: len(ds) for n, ds in defs.items()}
    acc: dict[str, str | None] = {}
    blocked: set[str] = set()  # Vars with a definition that could not be evaluated
    grounded: set[str] = set()  # unsettled Vars known not to end at the top

    def settle(name: str, k: str | None, ground: bool) -> None:
        if ground:
            grounded.add(name)
        if k == _UNSETTLED:
            blocked.add(name)
        elif k is None:
            final[name] = None
            return
        elif k != _TOP:
            old = acc.get(name, _TOP)
            new = k if old == _TOP or old == k else None
            if new is None:
                final[name] = None
                return
            acc[name] = new
        remaining[name] -= 1
        if remaining[name] == 0 and name not in blocked:
            final[name] = acc.get(name, _TOP)

    for b in f.blocks:
        for phi in b.phis:
            name = phi.dest.name
            if name not in defs or name in final:
                continue
            k: str | None = _TOP
            unsettled = ground = False
            for v in phi.incoming.values():
                if isinstance(v, Const):
                    x = exact_kind(v.value)
                else:
                    n = v.name
                    if n in final:
                        x = final[n]
                    elif n in defs:
                        unsettled = True
                        ground = ground or n in grounded
                        continue
                    else:
                        x = None
                if x == _TOP:
                    continue
                ground = True
                k = x if k == _TOP or k == x else None
                if k is None:
                    break
            settle(name, _UNSETTLED if unsettled and k is not None else k, ground)
        for i in b.instrs:
            d = i.dest
            if d is None:
                continue
            name = d.name
            if name not in defs or name in final:
                continue
            op = i.op
            if op in ALWAYS_BOOL:
                settle(name, BOOL, True)
                continue
            if op == "const":
                a = i.args[0]
                settle(name, exact_kind(a.value) if isinstance(a, Const) else None, True)
                continue
            kinds: list[str | None] = []
            top = unsettled = False
            all_ground = True
            for a in i.args:
                if isinstance(a, Const):
                    kinds.append(exact_kind(a.value))
                    continue
                n = a.name
                if n in final:
                    x = final[n]
                    if x == _TOP:
                        top = True
                    kinds.append(x)
                elif n in defs:
                    unsettled = True
                    if n not in grounded:
                        all_ground = False
                else:
                    kinds.append(None)
            if top:
                # an operand at the top keeps the result there (as in SCCP)
                settle(name, _TOP, False)
            elif not unsettled:
                settle(name, result_kind(i, kinds), True)
            elif all_ground and op != "copy" and (not _int_capable(i) or any(x != INT for x in kinds)):
                settle(name, None, True)
            else:
                settle(name, _UNSETTLED, all_ground)
    return final


def _int_capable(i: Instr) -> bool:
    """Whether `result_kind` can give `i` a kind when all its operands are exact ints."""
    op, n = i.op, len(i.args)
    if n == 2 and (op in INT_CLOSED or op in INT_COMPARE):
        return True
    if n == 1 and op in INT_UNARY:
        return True
    if n == 2 and op in INT_POWER:
        e = i.args[1]
        return isinstance(e, Const) and type(e.value) is int and e.value >= 0
    return False


def _iterate(names: list[str], defs: dict[str, list[Instr | Phi]], final: dict[str, str | None]) -> None:
    """The worklist of `Kinds` over the Vars `_settle` left (they start at the top; the settled
    ones keep their values); writes the results into `final`."""
    kind: dict[str, str | None] = dict(final)
    todo = set(names)
    for n in names:
        kind[n] = _TOP
    # Who reads whom: a change of one Var's kind re-examines the Vars defined from it.
    users: dict[str, list[str]] = {}
    for name in names:
        for d in defs[name]:
            for v in (d.incoming.values() if isinstance(d, Phi) else d.args):
                if isinstance(v, Var) and v.name in todo:
                    users.setdefault(v.name, []).append(name)
    # popped in layout order: definitions mostly before their uses
    iterate_kinds(names[::-1], users, kind, lambda n: _meet(defs[n], kind))
    for n in names:
        final[n] = kind[n]


def iterate_kinds(work: list[str], users: dict[str, list[str]], kind: dict[str, str | None],
                  meet: Callable[[str], str | None]) -> None:
    """Chaotic iteration to the fixpoint, shared by `Kinds` and `passes.kinds_on_demand`: pop a Var
    of `work` (a stack), recompute its kind with `meet`, and when it changed push the Vars defined
    from it (`users`) again. A Var at None (no kind) never changes: the lattice has no way down
    from it. Updates `kind` in place."""
    queued = set(work)
    while work:
        n = work.pop()
        queued.discard(n)
        old = kind[n]
        if old is None:
            continue
        new = meet(n)
        if new != old:
            kind[n] = new
            for u in users.get(n, ()):
                if u not in queued:
                    queued.add(u)
                    work.append(u)


_TOP = "?"  # the optimistic start of `Kinds`: no definition seen to disagree yet


def _meet(defs: list[Instr | Phi], kind: dict[str, str | None]) -> str | None:
    """The kind every definition in `defs` agrees on, given the current kinds of operands (_TOP when
    all that decide it are still at the top; None when they disagree or one is unknown)."""
    out: str | None = _TOP
    for d in defs:
        k: str | None
        if isinstance(d, Phi):
            k = _TOP
            for v in d.incoming.values():
                x = exact_kind(v.value) if isinstance(v, Const) else kind.get(v.name)
                if x == _TOP:
                    continue
                if k == _TOP or k == x:
                    k = x
                else:
                    k = None
                if k is None:
                    break
        else:
            op = d.op
            if op in ALWAYS_BOOL:
                k = BOOL
            elif op == "const":
                a = d.args[0]
                k = exact_kind(a.value) if isinstance(a, Const) else None
            else:
                kinds = [exact_kind(a.value) if isinstance(a, Const) else kind.get(a.name) for a in d.args]
                # an operand still at the optimistic top: so is the result (as in SCCP)
                k = _TOP if _TOP in kinds else result_kind(d, kinds)
        if k is None:
            return None
        if k == _TOP:
            continue
        if out == _TOP or out == k:
            out = k
        else:
            return None
    return out


def may_be_unbound_ssa(f: Function) -> set[str]:
    """In SSA form: the Vars that may hold `undef` (from `const undef`, copies and phis of it, or
    uses with no definition). A least fixed point, grown from those sources along a worklist."""
    defined: set[str] = {p.name for p in f.params}
    flows: dict[str, list[Value]] = {}
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
    maybe: set[str] = set()
    for b in f.blocks:
        for i in b.instrs:
            for a in i.args:
                if isinstance(a, Var) and a.name not in defined:
                    maybe.add(a.name)
        for p in b.phis:
            for v in p.incoming.values():
                if isinstance(v, Var) and v.name not in defined:
                    maybe.add(v.name)
    # who receives whose value: a Var that may be undef makes its receivers maybe-undef too
    receivers: dict[str, list[str]] = {}
    work: list[str] = list(maybe)
    for name, sources in flows.items():
        for v in sources:
            if isinstance(v, Var):
                receivers.setdefault(v.name, []).append(name)
            elif isinstance(v, Const) and v.value is UNBOUND and name not in maybe:
                maybe.add(name)
                work.append(name)
    while work:
        for r in receivers.get(work.pop(), ()):
            if r not in maybe:
                maybe.add(r)
                work.append(r)
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


class BoundStates(Sequence[BoundSet]):
    """The bound sets before each instruction of one block (made one at a time, when asked)."""

    __slots__ = ("_bits", "_index")

    def __init__(self, bits: list[int], index: dict[str, int]) -> None:
        self._bits = bits
        self._index = index

    def __len__(self) -> int:
        return len(self._bits)

    @overload
    def __getitem__(self, k: int) -> BoundSet: ...

    @overload
    def __getitem__(self, k: slice) -> list[BoundSet]: ...

    def __getitem__(self, k: int | slice) -> BoundSet | list[BoundSet]:
        if isinstance(k, slice):
            return [BoundSet(bits, self._index) for bits in self._bits[k]]
        return BoundSet(self._bits[k], self._index)


class Bound:
    """Definite assignment (non-SSA form): which Vars surely hold a value before an instruction.

    A forward must-dataflow problem over the CFG (Kildall 1973), sets as int bitsets: the state
    entering a block is the intersection of the states leaving its predecessors; along an exception
    edge, of the states at each of the predecessor's may-raise instructions (the raise happens
    before the instruction's own result is written). Parameters are bound at entry; an assignment
    binds its destination unless it copies `undef` (a `del`) or a Var that may be unbound.
    `graph` is the function's CFG (a `zir.analysis.FlowGraph` or the `networkx.DiGraph` of
    `zir.analysis.cfg`).
    """

    def __init__(self, f: Function, graph: Any) -> None:
        flow = flow_graph(graph)
        index = self.index = self._numbering(f)
        blocks = f.block_map()
        entry = f.blocks[0].label
        state_in: dict[str, int | None] = {b.label: None for b in f.blocks}
        state_in[entry] = self._mask(p.name for p in f.params)
        phi_masks = {b.label: self._mask(p.dest.name for p in b.phis) for b in f.blocks}
        work = deque([entry])
        queued = {entry}
        may_raise = MAY_RAISE
        succ = flow.succ
        while work:
            label = work.popleft()
            queued.discard(label)
            s = state_in[label]
            if s is None:
                continue
            cur = s | phi_masks[label]
            exc: int | None = None
            for i in blocks[label].instrs:
                if may_raise[i.op]:
                    exc = cur if exc is None else exc & cur
                d = i.dest
                if d is not None:
                    cur = _step(i, d.name, cur, index)
            for target, kind in succ[label].items():
                flow_in = exc if kind == "exception" else cur
                if flow_in is None:
                    continue
                old = state_in[target]
                new = flow_in if old is None else old & flow_in
                if new != old:
                    state_in[target] = new
                    if target not in queued:
                        queued.add(target)
                        work.append(target)
        self._in = state_in
        self._walks: dict[int, tuple[Block, int, BoundStates]] = {}

    @staticmethod
    def _numbering(f: Function) -> dict[str, int]:
        """A bit for every name that is assigned or copied (others are never bound)."""
        index: dict[str, int] = {}
        for param in f.params:
            index.setdefault(param.name, len(index))
        for b in f.blocks:
            for phi in b.phis:
                index.setdefault(phi.dest.name, len(index))
            for i in b.instrs:
                if i.dest is not None:
                    index.setdefault(i.dest.name, len(index))
        return index

    def _mask(self, names: Iterable[str]) -> int:
        m = 0
        for name in names:
            m |= 1 << self.index[name]
        return m

    def before(self, block: Block) -> Sequence[BoundSet]:
        """The bound set before each instruction of `block` (nothing bound if unreachable)."""
        memo = self._walks.get(id(block))
        if memo is not None and memo[0] is block and memo[1] == len(block.instrs):
            return memo[2]
        s = self._in.get(block.label)
        index = self.index
        phis = 0
        for phi in block.phis:
            # a Var a rewrite assigned after the dataflow ran gets a bit now
            phis |= 1 << index.setdefault(phi.dest.name, len(index))
        cur = (0 if s is None else s) | phis
        bits: list[int] = []
        for i in block.instrs:
            bits.append(cur)
            d = i.dest
            if d is not None:
                if d.name not in index:  # assigned by a rewrite after the dataflow ran
                    index[d.name] = len(index)
                cur = _step(i, d.name, cur, index)
        states = BoundStates(bits, index)
        # the block is kept in the memo so its id cannot be reused by another block meanwhile
        self._walks[id(block)] = (block, len(block.instrs), states)
        return states

    def reachable(self, label: str) -> bool:
        """Whether the dataflow reached the block (it is reachable from the entry)."""
        return self._in.get(label) is not None


def _step(i: Instr, dest: str, cur: int, index: dict[str, int]) -> int:
    """The state after instruction `i` (which assigns `dest`), given the state before it."""
    bit = 1 << index[dest]
    op = i.op
    if op == "const" or op == "copy":
        a = i.args[0]
        if isinstance(a, Const):
            if a.value is UNBOUND:
                return cur & ~bit
        else:
            n = index.get(a.name)
            if n is None or not cur >> n & 1:
                return cur & ~bit
    return cur | bit


def member_of(names: set[str] | frozenset[str] | BoundSet) -> Callable[[Var], bool]:
    """A `bound` predicate for `removable`: the Var's name is in `names`."""
    return lambda v: v.name in names


class KindFacts(Protocol):
    """What `removable` asks of the int/bool facts (`Kinds`, or `passes.kinds_on_demand.KindsOnDemand`)."""

    def is_int(self, v: Value) -> bool: ...

    def is_bool(self, v: Value) -> bool: ...


def removable(instr: Instr, kinds: KindFacts, bound: Callable[[Var], bool]) -> bool:
    """Whether deleting `instr` cannot change what the program does, given that its result (if any)
    is never read.

    True for operations with no effect but reading (pure, or read-only like `load_closure`), and for
    may-raise operations proven not to raise here: literal operands the table's `impl` evaluates
    without raising (`add 1, 2`), int-only arithmetic that cannot fail (`add` of two exact ints),
    the truth of a bool, and `check_bound` of a surely bound Var. `bound(v)` says whether `v` surely
    holds a value where `instr` reads it. Terminators and `catch` (which must open its handler
    block) are never removable.
    """
    category = removable_category(instr)
    if category is not None:
        return category
    op = instr.opdef
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


#: op name -> False (never removable), True (always), None (may raise: depends on the operands).
_REMOVABLE: dict[str, bool | None] = {}


def removable_category(instr: Instr) -> bool | None:
    """What `removable` says about `instr` from its operation alone: False for terminators, `catch`
    and operations that write or transfer control, True for operations that cannot raise, None
    for the rest (it depends on the operands). Cached per operation name."""
    op = instr.op
    if op in _REMOVABLE:
        return _REMOVABLE[op]
    row: OpDef = instr.opdef
    category: bool | None = None
    if row.terminator or row.name == "catch" or row.effects & (W | C):
        category = False
    elif not row.effects & (X | U):
        category = True
    _REMOVABLE[op] = category
    return category
