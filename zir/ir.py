"""The IR data model: values, instructions, phis, blocks, functions, modules.

All classes are attrs classes with slots and structural equality, so a function printed and parsed
back compares equal to the original. Transformations mutate blocks and instructions in place; the
pass manager tracks which analyses survive.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from attrs import define, field

from zir.ops import IR_OPS, OpDef


class _Unbound:
    """The value of a local that holds nothing (before assignment, after `del`); a singleton."""

    _instance: _Unbound | None = None

    def __new__(cls) -> _Unbound:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undef"

    def __reduce__(self) -> str:
        return "UNBOUND"


UNBOUND = _Unbound()


def const_key(value: Any) -> Any:
    """A hashable key that tells literal values apart exactly (1 vs 1.0 vs True, 0.0 vs -0.0, nan)."""
    if isinstance(value, tuple):
        return ("tuple", tuple(const_key(v) for v in value))
    if isinstance(value, frozenset):
        return ("frozenset", tuple(sorted(repr(const_key(v)) for v in value)))
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    if type(value) is int:  # hex: decimal repr raises past sys.get_int_max_str_digits()
        return ("int", hex(value))
    if isinstance(value, (int, float, complex, str, bytes, bool, type(None), type(Ellipsis))):
        return (type(value).__name__, repr(value))
    return (type(value).__name__, id(value))


@define(slots=True, eq=False, frozen=True, repr=False)
class Const:
    """A literal operand: int, float, complex, str, bytes, bool, None, Ellipsis, a tuple/frozenset of
    literals, `UNBOUND`, or an opaque object such as a nested code object."""

    value: Any

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Const) and const_key(self.value) == const_key(other.value)

    def __hash__(self) -> int:
        return hash(const_key(self.value))

    def __repr__(self) -> str:
        return f"Const({self.value!r})"


@define(slots=True, frozen=True, repr=False)
class Var:
    """A virtual register. Before SSA construction a Var may be assigned many times; after, once."""

    name: str

    def __repr__(self) -> str:
        return f"%{self.name}"


Value = Var | Const


@define(slots=True, eq=True, repr=False)
class Instr:
    """One operation: `dest = op args {attrs}`; terminators also name block `targets`."""

    op: str
    dest: Var | None = None
    args: list[Value] = field(factory=list)
    attrs: dict[str, Any] = field(factory=dict)
    targets: list[str] = field(factory=list)
    line: int | None = None

    @property
    def opdef(self) -> OpDef:
        return IR_OPS[self.op]

    @property
    def is_terminator(self) -> bool:
        return IR_OPS[self.op].terminator

    def uses(self) -> Iterator[Var]:
        """The Vars this instruction reads, in operand order."""
        for a in self.args:
            if isinstance(a, Var):
                yield a

    def __repr__(self) -> str:
        from zir.printer import format_instr

        return f"<Instr {format_instr(self)}>"


@define(slots=True, eq=True, repr=False)
class Phi:
    """`dest = phi [^pred: value], ...`: one incoming value per predecessor block, in order."""

    dest: Var
    incoming: dict[str, Value] = field(factory=dict)

    def __repr__(self) -> str:
        from zir.printer import format_phi

        return f"<Phi {format_phi(self)}>"


@define(slots=True, eq=True, repr=False)
class Block:
    """A basic block: phis, then instructions, the last of which is the one terminator.

    `handler` names the block that receives control when an instruction here raises (the block is
    inside a `try`); None means an exception unwinds the frame.
    """

    label: str
    phis: list[Phi] = field(factory=list)
    instrs: list[Instr] = field(factory=list)
    handler: str | None = None

    @property
    def terminator(self) -> Instr | None:
        if self.instrs and self.instrs[-1].is_terminator:
            return self.instrs[-1]
        return None

    def successors(self) -> list[str]:
        """Normal successors, in terminator order (exception edges not included)."""
        t = self.terminator
        return list(t.targets) if t is not None else []

    def __repr__(self) -> str:
        return f"<Block ^{self.label}: {len(self.phis)} phis, {len(self.instrs)} instrs>"


@define(slots=True, eq=True)
class Signature:
    """How a call's arguments bind to a function's parameters (names only; defaults are runtime)."""

    posonly: int = 0  #: how many leading positional parameters are positional-only
    kwonly: int = 0  #: how many parameters after the positional ones are keyword-only
    varargs: bool = False  #: a `*args` parameter follows the keyword-only ones
    varkw: bool = False  #: a `**kwargs` parameter comes last


@define(slots=True, eq=True, repr=False)
class Function:
    """A function: parameters, blocks in layout order (the first is the entry), flags.

    `ssa` says which form the function claims: the verifier checks single definitions and dominance
    only for SSA functions. `cellvars`/`freevars` name the function's cells (as in CPython).
    `code` keeps the ZBC the function was lifted from (consts such as nested code, defaults); it is
    not part of equality or the text form.
    """

    name: str
    params: list[Var] = field(factory=list)
    blocks: list[Block] = field(factory=list)
    signature: Signature = field(factory=Signature)
    cellvars: list[str] = field(factory=list)
    freevars: list[str] = field(factory=list)
    flags: set[str] = field(factory=set)
    ssa: bool = False
    code: Any = field(default=None, eq=False)

    @property
    def entry(self) -> Block:
        return self.blocks[0]

    def block(self, label: str) -> Block:
        """The block called `label` (KeyError when none)."""
        for b in self.blocks:
            if b.label == label:
                return b
        raise KeyError(label)

    def block_map(self) -> dict[str, Block]:
        return {b.label: b for b in self.blocks}

    def instructions(self) -> Iterator[tuple[Block, Instr]]:
        for b in self.blocks:
            for i in b.instrs:
                yield b, i

    def num_instrs(self) -> int:
        return sum(len(b.instrs) + len(b.phis) for b in self.blocks)

    def __str__(self) -> str:
        from zir.printer import format

        return format(self)

    def __repr__(self) -> str:
        return f"<Function @{self.name}: {len(self.blocks)} blocks>"


@define(slots=True, eq=True, repr=False)
class Module:
    """A set of functions, by name, in definition order."""

    functions: dict[str, Function] = field(factory=dict)

    def add(self, f: Function) -> Function:
        self.functions[f.name] = f
        return f

    def __str__(self) -> str:
        from zir.printer import format

        return format(self)

    def __repr__(self) -> str:
        return f"<Module {list(self.functions)}>"
