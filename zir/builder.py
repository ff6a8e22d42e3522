"""A small builder for constructing IR functions from Python (for language front ends and tests).

    b = Builder("sum_squares", ["n"])
    s, i = b.const(0, "s"), b.const(0, "i")
    loop, body, done = b.block("loop"), b.block("body"), b.block("exit")
    b.br(loop)
    b.at(loop); c = b.op("lt", i, b.param("n")); b.cbr(c, body, done)
    ...
    f = b.finish()
"""

from __future__ import annotations

from typing import Any

from zir.errors import VerifyError
from zir.ir import Block, Const, Function, Instr, Phi, Value, Var
from zir.ops import IR_OPS, suggest


def as_value(x: Any) -> Value:
    """A Var or Const stays itself; any other Python literal becomes a Const."""
    if isinstance(x, (Var, Const)):
        return x
    return Const(x)


class Builder:
    """Appends instructions to a current block of a new `Function`; fresh names are `%tN`."""

    def __init__(self, name: str, params: list[str] | None = None) -> None:
        self.function = Function(name, params=[Var(p) for p in params or []])
        self._counter = 0
        self.current = self.block("entry")

    # blocks ---------------------------------------------------------------------------------------
    def block(self, label: str | None = None) -> Block:
        """Create a block (appended in layout order) without moving the insertion point."""
        label = label or f"bb{len(self.function.blocks)}"
        if any(b.label == label for b in self.function.blocks):
            raise VerifyError(f"function @{self.function.name}: block ^{label} defined twice")
        blk = Block(label)
        self.function.blocks.append(blk)
        return blk

    def at(self, block: Block) -> Block:
        """Move the insertion point to the end of `block`."""
        self.current = block
        return block

    # values ---------------------------------------------------------------------------------------
    def param(self, name: str) -> Var:
        for p in self.function.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def fresh(self, hint: str = "t") -> Var:
        self._counter += 1
        return Var(f"{hint}{self._counter}")

    def emit(self, instr: Instr) -> Instr:
        if self.current.terminator is not None:
            raise VerifyError(f"function @{self.function.name}, block ^{self.current.label}: "
                              f"'{instr.op}' appended after the terminator")
        self.current.instrs.append(instr)
        return instr

    def op(self, name: str, *args: Any, dest: str | Var | None = None, line: int | None = None,
           **attrs: Any) -> Var:
        """Emit a value-defining operation and return its result."""
        od = IR_OPS.get(name)
        if od is None:
            raise VerifyError(f"unknown operation '{name}'{suggest(name)}")
        if not od.defines:
            raise VerifyError(f"'{name}' defines no value; use Builder.do")
        d = dest if isinstance(dest, Var) else (Var(dest) if dest else self.fresh())
        self.emit(Instr(name, d, [as_value(a) for a in args], dict(attrs), [], line))
        return d

    def do(self, name: str, *args: Any, line: int | None = None, **attrs: Any) -> Instr:
        """Emit an operation that defines nothing (a store, a call whose result is dropped...)."""
        return self.emit(Instr(name, None, [as_value(a) for a in args], dict(attrs), [], line))

    def const(self, value: Any, dest: str | Var | None = None) -> Var:
        return self.op("const", Const(value), dest=dest)

    def copy(self, value: Any, dest: str | Var) -> Var:
        return self.op("copy", value, dest=dest)

    def phi(self, dest: str | Var, incoming: dict[Block | str, Any]) -> Var:
        d = dest if isinstance(dest, Var) else Var(dest)
        inc = {(k.label if isinstance(k, Block) else k): as_value(v) for k, v in incoming.items()}
        self.current.phis.append(Phi(d, inc))
        return d

    # terminators ----------------------------------------------------------------------------------
    def br(self, target: Block) -> Instr:
        return self.emit(Instr("br", None, [], {}, [target.label]))

    def cbr(self, cond: Any, if_true: Block, if_false: Block) -> Instr:
        return self.emit(Instr("cbr", None, [as_value(cond)], {}, [if_true.label, if_false.label]))

    def ret(self, value: Any = None) -> Instr:
        return self.emit(Instr("ret", None, [as_value(value)]))

    def raise_(self, exc: Any) -> Instr:
        return self.emit(Instr("raise", None, [as_value(exc)]))

    def finish(self, ssa: bool = False) -> Function:
        """The finished function (verified by the caller with `zir.verify` when wanted)."""
        self.function.ssa = ssa
        return self.function
