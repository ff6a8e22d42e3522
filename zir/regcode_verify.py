"""The register-code verifier: `verify_regcode(rc)` checks what the register VM relies on.

Rules (every opcode fact comes from the table, `zir.regcode.REG_OPS`):

* the code has an entry block; `nregs`/`nslots` are not negative; parameters arrive in distinct
  registers below `nregs`, one Python name each, and the signature fits them;
* every block holds instructions and ends in exactly one terminator (none earlier); nothing
  branches to the entry block, which is no handler either;
* each instruction names a register-code operation, has a result exactly when its row defines
  one, the row's operand count (a variadic row: a count its ZBC form could pop, as the IR verifier
  checks) and target count, and exactly the row's attributes;
* operand kinds: results are `Reg`s and operands `Reg`s or `Imm`s, except that a row with a `slot`
  attribute carries a `Slot` instead (its result when it defines nothing, else its only operand);
  `const` takes an `Imm`; register and slot numbers are below `nregs` / `nslots`; targets and
  handlers are block indices in range;
* exception handling: a handler block starts with `catch`, which appears nowhere else, and a
  block's handler is not also one of its branch targets.

A violation raises `zir.VerifyError` naming the function, the block (index and label) and the
instruction in the text form of `zir.regcode_text`.
"""

from __future__ import annotations

from typing import Any, NoReturn

from zir.errors import VerifyError
from zir.ops import VARIADIC, OpDef, ZArg
from zir.printer import format_name
from zir.regcode import REG_OPS, Imm, RBlock, Reg, RegCode, RInstr, Slot
from zir.regcode_text import format_rinstr

__all__ = ["verify_regcode"]


def verify_regcode(rc: RegCode) -> None:
    """Check `rc` (rules in the module docstring); raise `zir.VerifyError` on the first violation."""
    _Checker(rc).run()


def _text(i: Any) -> str:
    try:
        return format_rinstr(i)
    except Exception:  # too broken to print; still name the place
        return repr(i)


class _Checker:
    def __init__(self, rc: RegCode) -> None:
        self.rc = rc
        self.where = f"regcode {format_name('@', rc.name)}"

    def fail(self, msg: str, n: int | None = None, i: RInstr | None = None) -> NoReturn:
        place = self.where
        if n is not None:
            place += f", block b{n} {format_name('^', self.rc.blocks[n].label)}"
        if i is not None:
            place += f", instruction `{_text(i)}`"
        raise VerifyError(f"{place}: {msg}")

    def run(self) -> None:
        rc = self.rc
        if not rc.blocks:
            self.fail("has no blocks (expected at least an entry block)")
        if rc.nregs < 0 or rc.nslots < 0:
            self.fail(f"negative sizes nregs={rc.nregs}, nslots={rc.nslots}")
        self.check_params()
        self.handlers = {b.handler for b in rc.blocks if b.handler is not None}
        if 0 in self.handlers:
            self.fail("the entry block b0 cannot be an exception handler")
        for n, b in enumerate(rc.blocks):
            self.check_block(n, b)

    def check_params(self) -> None:
        rc = self.rc
        if len(set(rc.params)) != len(rc.params):
            self.fail(f"parameters arrive in the same register twice: {rc.params}")
        for p in rc.params:
            if not isinstance(p, int) or not 0 <= p < rc.nregs:
                self.fail(f"parameter register {p!r} out of range (nregs={rc.nregs})")
        if len(rc.param_names) != len(rc.params):
            self.fail(f"{len(rc.params)} parameter registers but {len(rc.param_names)} parameter names")
        sig = rc.signature
        special = sig.kwonly + int(sig.varargs) + int(sig.varkw)
        if sig.posonly < 0 or sig.kwonly < 0 or sig.posonly + special > len(rc.params):
            self.fail(f"signature {sig!r} needs more than the {len(rc.params)} parameters")

    def check_block(self, n: int, b: RBlock) -> None:
        nblocks = len(self.rc.blocks)
        if not b.instrs:
            self.fail("block is empty (expected instructions ending in a terminator)", n)
        if b.handler is not None and not (isinstance(b.handler, int) and 0 <= b.handler < nblocks):
            self.fail(f"handler index {b.handler!r} out of range (0..{nblocks - 1})", n)
        if n in self.handlers and b.instrs[0].op != "catch":
            self.fail("a handler block must start with `catch`", n, b.instrs[0])
        last = len(b.instrs) - 1
        for k, i in enumerate(b.instrs):
            row = REG_OPS.get(i.op)
            if row is None:
                self.fail(f"unknown register-code operation '{i.op}'", n, i)
            self.check_instr(n, i, row)
            if row.terminator and k != last:
                self.fail("terminator before the end of the block (expected it last)", n, i)
            if k == last and not row.terminator:
                self.fail("block does not end in a terminator", n, i)
            if i.op == "catch" and (k != 0 or n not in self.handlers):
                self.fail("`catch` must be the first instruction of a handler block", n, i)
            if 0 in i.targets:
                self.fail("branch to the entry block b0 (expected none)", n, i)
        term = b.instrs[last]
        if b.handler is not None and b.handler in term.targets:
            self.fail(f"handler b{b.handler} is also a branch target (expected a separate block)", n, term)

    def check_instr(self, n: int, i: RInstr, row: OpDef) -> None:
        rc = self.rc
        slotted = "slot" in row.attrs
        args = list(i.args)
        if slotted and row.defines:
            if not args or not isinstance(args[0], Slot):
                self.fail(f"'{i.op}' takes a frame slot (s<N>) as its first operand", n, i)
            self.check_slot(n, i, args.pop(0))
        if row.defines or slotted:
            if i.dest is None:
                self.fail(f"'{i.op}' needs a result", n, i)
            if slotted and not row.defines:
                if not isinstance(i.dest, Slot):
                    self.fail(f"'{i.op}' stores into a frame slot (s<N>), not {i.dest}", n, i)
                self.check_slot(n, i, i.dest)
            else:
                if not isinstance(i.dest, Reg):
                    self.fail(f"the result of '{i.op}' must be a register, not {i.dest!r}", n, i)
                self.check_reg(n, i, i.dest)
        elif i.dest is not None:
            self.fail(f"'{i.op}' defines no value but has a result", n, i)
        for a in args:
            if isinstance(a, Reg):
                self.check_reg(n, i, a)
            elif not isinstance(a, Imm):
                self.fail(f"operand {a!r} is not a register or an immediate", n, i)
        if row.arity != VARIADIC and len(args) != row.arity:
            self.fail(f"'{i.op}' takes {row.arity} operand(s), got {len(args)}", n, i)
        if row.arity == VARIADIC:
            self.check_variadic(n, i, row, len(args))
        if i.op == "const" and not isinstance(args[0], Imm):
            self.fail("`const` takes an immediate operand", n, i)
        want = {a for a in row.attrs if a != "slot"}
        if set(i.attrs) != want:
            self.fail(f"'{i.op}' needs exactly the attributes {sorted(want)}, got {sorted(i.attrs)}", n, i)
        if len(i.targets) != row.targets:
            self.fail(f"'{i.op}' takes {row.targets} target(s), got {len(i.targets)}", n, i)
        for t in i.targets:
            if not isinstance(t, int) or not 0 <= t < len(rc.blocks):
                self.fail(f"target {t!r} out of range (0..{len(rc.blocks) - 1})", n, i)

    def check_variadic(self, n: int, i: RInstr, row: OpDef, count: int) -> None:
        if row.zarg is ZArg.COUNT:
            top = count if row.zmax is None else min(row.zmax, count)
            if not any(row.pops(arg) == count for arg in range(row.zmin, top + 1)):
                self.fail(f"'{i.op}' cannot take {count} operand(s)", n, i)
        elif row.zarg is ZArg.IMM and len(row.attrs) == 1 and row.attrs[0] in i.attrs:
            arg = i.attrs[row.attrs[0]]
            if not isinstance(arg, int) or row.pops(arg) != count:
                self.fail(f"'{i.op}' with {row.attrs[0]}={arg!r} cannot take {count} operand(s)", n, i)

    def check_reg(self, n: int, i: RInstr, r: Reg) -> None:
        if not isinstance(r.n, int) or not 0 <= r.n < self.rc.nregs:
            self.fail(f"register {r} out of range (nregs={self.rc.nregs})", n, i)

    def check_slot(self, n: int, i: RInstr, s: Any) -> None:
        if not isinstance(s, Slot) or not isinstance(s.n, int) or not 0 <= s.n < self.rc.nslots:
            self.fail(f"frame slot {s} out of range (nslots={self.rc.nslots})", n, i)
