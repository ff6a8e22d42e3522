"""`zir.lower(f) -> RegCode`: register-allocated IR to register code (`zir.regcode`).

(The module is `zir.lowering`, so that no module shadows the public function `zir.lower`.)

The input is IR whose every Var is a register `%r<N>` (the output of the `regalloc` pass; any IR
named that way is register code already) and which holds no phis. Lowering keeps the blocks, their
order and their instructions, and changes their form:

* operands become `Reg(n)` and `Imm(value)`; `spill`/`reload` carry their frame slot as a `Slot`
  operand (`s0 = spill r1`, `r1 = reload s0`); branch targets and handlers become block indices;
  every instruction keeps its source line;
* **load-const + op fusion**: within a block, a register last written by `%rN = const C` is read as
  the immediate `C` (forward substitution), and a `const` whose register is then dead goes
  (liveness over the registers, `zir.analysis.liveness`, exception edges included);
* **compare + branch fusion**: `%rC = lt %rA, %rB; cbr %rC, ^t, ^f` becomes `cbr_lt rA, rB, t, f`
  when the two are adjacent and %rC is dead after the branch, also along the block's exception
  edge (a handler reads the register `cbr` would have seen); the table's `cbr_<compare>` rows;
* copies whose source and destination are the same register are dropped; a copy of a constant is
  a `const`; `br` to the next block stays (the VM chooses the layout).

Nothing is rearranged across instructions, so exception behaviour is unchanged: an instruction
that raises has written nothing, in IR and in register code alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from zir.analysis.liveness import liveness
from zir.errors import VerifyError
from zir.ir import Block, Const, Function, Instr, Value, Var
from zir.printer import format_instr, format_name
from zir.regcode import REG_OPS, Imm, Operand, RBlock, Reg, RegCode, RInstr, Slot

__all__ = ["lower", "register_number"]

_REGISTER = re.compile(r"r(0|[1-9][0-9]*)")


def register_number(v: Var) -> int | None:
    """N for a Var named `r<N>` (a register of allocated IR), else None."""
    m = _REGISTER.fullmatch(v.name)
    return int(m.group(1)) if m else None


def lower(f: Function, param_names: Sequence[str] | None = None) -> RegCode:
    """Register code for register-allocated `f` (see the module docstring); `f` is not changed.

    The parameters' Python names come from `param_names` when given, else from the code object
    `f` was lifted from (`f.code.varnames`), else they are the registers' names (allocation
    renames parameters; pass the names taken before it to keep them).

    Raises `zir.VerifyError` naming the function, block and instruction when `f` is in SSA form,
    has phis, or mentions a Var that is not a register (run the `regalloc` pass first).
    """
    _check(f)
    work = _clone(f)
    for b in work.blocks:
        _forward_constants(b)
    _drop_dead_constants(work)
    rc = _Lowerer(work, f).run()
    if param_names is not None:
        if len(param_names) != len(f.params):
            raise VerifyError(f"function {format_name('@', f.name)}: {len(param_names)} parameter names "
                              f"for {len(f.params)} parameters")
        rc.param_names = list(param_names)
    return rc


def _check(f: Function) -> None:
    where = f"function {format_name('@', f.name)}"
    if f.ssa:
        raise VerifyError(f"{where}: lowering needs register-allocated IR out of SSA form (run "
                          "'ssa-destroy' and 'regalloc')")
    for p in f.params:
        if register_number(p) is None:
            raise VerifyError(f"{where}: parameter {format_name('%', p.name)} is not a register "
                              "(run 'regalloc' before lowering)")
    for b in f.blocks:
        place = f"{where}, block {format_name('^', b.label)}"
        if b.phis:
            raise VerifyError(f"{place}: has phis (run 'ssa-destroy' and 'regalloc' before lowering)")
        for i in b.instrs:
            if i.op not in REG_OPS:
                raise VerifyError(f"{place}, instruction `{format_instr(i)}`: unknown operation '{i.op}'")
            slot = i.attrs.get("slot", 0)
            if type(slot) is not int or slot < 0:
                raise VerifyError(f"{place}, instruction `{format_instr(i)}`: slot {slot!r} is not a "
                                  "frame slot number (an int >= 0)")
            for v in [*i.uses(), *([i.dest] if i.dest is not None else [])]:
                if register_number(v) is None:
                    raise VerifyError(f"{place}, instruction `{format_instr(i)}`: "
                                      f"{format_name('%', v.name)} is not a register (run 'regalloc' "
                                      "before lowering)")


def _clone(f: Function) -> Function:
    """A copy of `f` whose blocks and instructions may be edited (literals are shared)."""
    blocks = [Block(b.label, [], [Instr(i.op, i.dest, list(i.args), dict(i.attrs), list(i.targets), i.line)
                                  for i in b.instrs], b.handler) for b in f.blocks]
    return Function(f.name, list(f.params), blocks, f.signature, list(f.cellvars), list(f.freevars),
                    set(f.flags), f.ssa, f.code)


def _forward_constants(b: Block) -> None:
    """Within `b`, read a register last set by `const` as that literal (`copy` of it: `const`)."""
    known: dict[Var, Const] = {}
    for n, i in enumerate(b.instrs):
        if known and any(isinstance(a, Var) and a in known for a in i.args):
            i.args = [known.get(a, a) if isinstance(a, Var) else a for a in i.args]
            if i.op == "copy":
                b.instrs[n] = i = Instr("const", i.dest, i.args, {}, [], i.line)
        if i.dest is not None:
            known.pop(i.dest, None)
            if i.op == "const" and isinstance(i.args[0], Const):
                known[i.dest] = i.args[0]


def _drop_dead_constants(f: Function) -> None:
    """Delete `const` instructions whose register nothing reads afterwards."""
    live = liveness(f)
    for b in f.blocks:
        after = live.bits_after(b.label)
        keep = []
        for n, i in enumerate(b.instrs):
            if i.op == "const" and i.dest is not None and not after[n] >> live.index[i.dest] & 1:
                continue
            keep.append(i)
        b.instrs = keep


class _Lowerer:
    def __init__(self, f: Function, original: Function) -> None:
        self.f = f
        self.original = original
        self.index = {b.label: n for n, b in enumerate(f.blocks)}
        self.live = liveness(f)
        self.max_reg = -1
        self.max_slot = -1

    def reg(self, v: Var) -> Reg:
        n = register_number(v)
        assert n is not None
        self.max_reg = max(self.max_reg, n)
        return Reg(n)

    def operand(self, v: Value) -> Operand:
        return self.reg(v) if isinstance(v, Var) else Imm(v.value)

    def slot(self, n: int) -> Slot:
        self.max_slot = max(self.max_slot, n)
        return Slot(n)

    def run(self) -> RegCode:
        f = self.f
        params = [self.reg(p).n for p in f.params]
        blocks = [RBlock(b.label, self.block(b), None if b.handler is None else self.index[b.handler])
                  for b in f.blocks]
        names, filename = [p.name for p in f.params], "<zir>"
        code = self.original.code
        varnames = getattr(code, "varnames", None)
        if isinstance(varnames, list) and len(varnames) >= len(f.params):
            names = list(varnames[:len(f.params)])
        if isinstance(getattr(code, "filename", None), str):
            filename = code.filename
        return RegCode(f.name, params, blocks, self.max_reg + 1, self.max_slot + 1, f.signature, names,
                       list(f.cellvars), list(f.freevars), set(f.flags), filename, code)

    def fusable(self, b: Block) -> str | None:
        """The fused branch row for `b`'s last two instructions, when they fuse."""
        if len(b.instrs) < 2:
            return None
        d, t = b.instrs[-2], b.instrs[-1]
        if t.op != "cbr" or d.dest is None or t.args[0] != d.dest or len(d.args) != 2:
            return None
        row = REG_OPS.get(f"cbr_{d.op}")
        if row is None or not row.terminator or row.targets != 2 or row.arity != 2:
            return None
        c = d.dest
        if self.live.is_live_out(c, b.label) or c in self.live.exception_live(b.label):
            return None
        return row.name

    def block(self, b: Block) -> list[RInstr]:
        out = []
        instrs = b.instrs
        fused = self.fusable(b)
        if fused is not None:
            instrs = instrs[:-2]
        for i in instrs:
            r = self.instr(i)
            if r is not None:
                out.append(r)
        if fused is not None:
            d, t = b.instrs[-2], b.instrs[-1]
            line = d.line if d.line is not None else t.line
            out.append(RInstr(fused, None, tuple(self.operand(a) for a in d.args), {},
                              tuple(self.index[x] for x in t.targets), line))
        return out

    def instr(self, i: Instr) -> RInstr | None:
        if i.op == "copy" and i.args[0] == i.dest:
            return None
        row = REG_OPS[i.op]
        args = tuple(self.operand(a) for a in i.args)
        attrs = dict(i.attrs)
        dest: Reg | Slot | None = self.reg(i.dest) if i.dest is not None else None
        if "slot" in row.attrs:
            s = self.slot(attrs.pop("slot"))
            if row.defines:
                args = (s, *args)
            else:
                dest = s
        return RInstr(i.op, dest, args, attrs, tuple(self.index[t] for t in i.targets), i.line)

