"""Register code: what the register-mode VM runs, produced only by `zir.lower` from allocated IR.

A `RegCode` is a list of blocks of `RInstr`s over numbered registers. Operands are `Reg(n)` (a
register), `Slot(n)` (a frame slot holding a spilled value) or `Imm(value)` (a constant folded into
the instruction: the "load-const + op" fusion). Operations are the IR rows of the one opcode table
(`zir.ops`), plus the register-code rows (moves, spills, reloads, fused compare+branch) declared in the
same table; nothing here re-lists opcodes. `REG_OPS` is that set, derived from the table. The text
form is `zir.regcode_text.disassemble(rc)` (also `str(rc)`).

The contract between lowering and the register VM (`zir.regcode_verify.verify_regcode` checks the
static part):

* An instruction means what its IR row means (`RInstr.op` names the row; `args` are its operands in
  IR order; `attrs` its IR attributes; `dest` its result), with these register-code forms:

  - `dest` is a `Reg` and every argument a `Reg` or an `Imm`, except for the two slot moves: a row
    with a `slot` attribute carries the slot as a `Slot` operand instead of the attribute: as its
    result when the IR form defines nothing (`s0 = spill r1`, store r1 in slot 0), else as its only
    argument (`r1 = reload s0`). Both are plain moves between the register file and the slots;
  - `copy` is the register-to-register move (`r1 = copy r2`); `r1 = const Imm(5)` loads a constant;
  - `cbr_lt a, b, T, F` (and the other `cbr_<compare>` rows) branch on the truth of the compare,
    which is the row's `impl`; `targets` are block indices (the first is taken when true);
  - a may-raise instruction that raises does not write its `dest`; when its block has a `handler`
    (a block index), control goes there and the handler's first instruction, `catch`, receives
    the exception; without a handler the exception leaves the function.

* Registers `0 .. nregs-1` and slots `0 .. nslots-1` exist in every frame. At entry, parameter `i`
  is in register `params[i]` (its Python name is `param_names[i]`); every other register and every
  slot holds `zir.UNBOUND` (the IR value of a local never assigned; `check_bound` tests it).
* Block 0 is the entry; blocks end in exactly one terminator and never fall through (a `br` to
  the next block is explicit, so the VM is free to lay blocks out as it likes). `line` is the
  source line of the instruction (None when unknown), for tracebacks and profiles.
"""

from __future__ import annotations

from typing import Any

import attrs

from zir.ir import Signature, const_key
from zir.ops import OPS, OpDef

#: The operations register code may hold: the IR rows plus the rows that only register code has
#: (no IR form and no ZBC form, such as the fused compare-and-branch rows).
REG_OPS: dict[str, OpDef] = {name: op for name, op in OPS.items() if op.ir or op.zbc is None}


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

    def block_index(self, label: str) -> int:
        """The index of the block called `label` (KeyError when none)."""
        for n, b in enumerate(self.blocks):
            if b.label == label:
                return n
        raise KeyError(label)

    def __str__(self) -> str:
        from zir.regcode_text import disassemble

        return disassemble(self)
