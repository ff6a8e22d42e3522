"""Register code: what the register-mode VM runs, produced only by `zir.lower` from allocated IR.

A `RegCode` is a list of blocks of `RInstr`s over numbered registers. Operands are `Reg(n)` (a
register), `Slot(n)` (a frame slot holding a spilled value) or `Imm(value)` (a constant folded into
the instruction: the "load-const + op" fusion). Operations are the IR rows of the one opcode table
(`zir.ops`), plus the register-code rows (moves, spills, reloads, fused compare+branch) declared in the
same table; nothing here re-lists opcodes.
"""

from __future__ import annotations

from typing import Any

import attrs

from zir.ir import Signature, const_key


@attrs.frozen(slots=True)
class Reg:
    """Register number `n`."""

    n: int

    def __str__(self) -> str:
        return f"r{self.n}"


@attrs.frozen(slots=True)
class Slot:
    """Frame slot `n` (a spilled value)."""

    n: int

    def __str__(self) -> str:
        return f"s{self.n}"


@attrs.define(slots=True, frozen=True, eq=False)
class Imm:
    """An immediate constant operand."""

    value: Any

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Imm) and const_key(self.value) == const_key(other.value)

    def __hash__(self) -> int:
        return hash(const_key(self.value))

    def __str__(self) -> str:
        from zir.printer import format_literal

        return format_literal(self.value)


Operand = Reg | Slot | Imm


@attrs.define(slots=True, eq=True)
class RInstr:
    """`dest = op args {attrs}` with block-index `targets` for branches."""

    op: str
    dest: Reg | Slot | None = None
    args: tuple[Operand, ...] = ()
    attrs: dict[str, Any] = attrs.field(factory=dict)
    targets: tuple[int, ...] = ()
    line: int | None = None


@attrs.define(slots=True, eq=True)
class RBlock:
    """A block of register code; `handler` is the index of its exception handler block or None."""

    label: str
    instrs: list[RInstr] = attrs.field(factory=list)
    handler: int | None = None


@attrs.define(slots=True, eq=True)
class RegCode:
    """A lowered function: `params` gives the register each parameter arrives in (in signature
    order); `nregs`/`nslots` size the register file and spill area; block 0 is the entry."""

    name: str
    params: list[int] = attrs.field(factory=list)
    blocks: list[RBlock] = attrs.field(factory=list)
    nregs: int = 0
    nslots: int = 0
    signature: Signature = attrs.field(factory=Signature)
    param_names: list[str] = attrs.field(factory=list)
    cellvars: list[str] = attrs.field(factory=list)
    freevars: list[str] = attrs.field(factory=list)
    flags: set[str] = attrs.field(factory=set)
    filename: str = "<zir>"
    code: Any = attrs.field(default=None, eq=False, repr=False)

    def num_instrs(self) -> int:
        return sum(len(b.instrs) for b in self.blocks)
