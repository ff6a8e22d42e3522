"""The readable text form of register code: `disassemble(rc) -> str` (also `str(rc)`).

    regcode @sum_to(n=r1) nregs=3 nslots=1 file="demo.py"
    b0 ^entry:
      r0 = const 0
      r2 = const 0
      br b1
    b1 ^loop:
      cbr_lt r2, r1, b2, b3 loc(4)
    b2 ^body: except b4
      s0 = spill r0
      r0 = add r0, r2 loc(5)
      r2 = add r2, 1 loc(6)
      br b1
    ...

Blocks are numbered (`b<N>`, the index branch targets and handlers use) and keep their IR label;
registers print as `r<N>`, frame slots as `s<N>`, immediates as IR literals (`1`, `"text"`, `None`,
`undef`); attributes and source lines as in the IR text form (`{name="len"}`, `loc(7)`). The header
gives each parameter's Python name and arrival register, the register file and spill area sizes,
and the cells, free variables and flags when there are any. The output is deterministic.
"""

from __future__ import annotations

from zir.printer import format_attrs, format_literal, format_name
from zir.regcode import RBlock, RegCode, RInstr

__all__ = ["disassemble", "format_rinstr"]


def format_rinstr(i: RInstr) -> str:
    """One instruction: `r1 = add r0, 1 {attrs} loc(3)`, targets as `b<N>`."""
    parts = [str(a) for a in i.args] + [f"b{t}" for t in i.targets]
    text = i.op + (" " + ", ".join(parts) if parts else "") + format_attrs(i.attrs)
    if i.line is not None:
        text += f" loc({i.line})"
    return f"{i.dest} = {text}" if i.dest is not None else text


def _format_block(n: int, b: RBlock) -> list[str]:
    head = f"b{n} {format_name('^', b.label)}:"
    if b.handler is not None:
        head += f" except b{b.handler}"
    return [head] + ["  " + format_rinstr(i) for i in b.instrs]


def disassemble(rc: RegCode) -> str:
    """The text form of `rc` (see the module docstring), ending in a newline."""
    params = ", ".join(f"{format_name('', name)}=r{reg}" for name, reg in zip(rc.param_names, rc.params,
                                                                                 strict=False))
    head = f"regcode {format_name('@', rc.name)}({params}) nregs={rc.nregs} nslots={rc.nslots}"
    if rc.cellvars:
        head += " cells(" + ", ".join(format_name("", c) for c in rc.cellvars) + ")"
    if rc.freevars:
        head += " free(" + ", ".join(format_name("", c) for c in rc.freevars) + ")"
    if rc.flags:
        head += " flags(" + ", ".join(format_name("", c) for c in sorted(rc.flags)) + ")"
    if rc.filename != "<zir>":
        head += " file=" + format_literal(rc.filename)
    lines = [head]
    for n, b in enumerate(rc.blocks):
        lines += _format_block(n, b)
    return "\n".join(lines) + "\n"
