"""Lifting ZBC to IR: `zir.lift(code) -> Function`.

`zir.lifting.flow` finds the blocks, their edges and the locals definitely assigned at each;
`zir.lifting.interp` interprets the operand stack abstractly (worklist over blocks, no recursion) and
emits IR with stack slots as positional Vars (`%$0`, `%$1`, ...) and locals as named Vars assigned
many times (the result is not in SSA form).
"""

from __future__ import annotations

from zir.bytecode.code import Code
from zir.ir import Function
from zir.lifting.emitter import LASTI, local_var_names
from zir.lifting.interp import lift_code, liftable

__all__ = ["LASTI", "lift", "lift_code", "liftable", "local_var_names"]


def lift(code: Code) -> Function:
    """Lift a ZBC code object (not its nested code objects, which stay constants) to a Function.

    The result has `ssa=False`, keeps every instruction's source line and `f.code = code`, and
    passes `zir.verify`. A stack-depth mismatch at a join, an unknown opcode or a stack underflow
    raises `zir.VerifyError` naming the offset and source line.
    """
    return lift_code(code)
