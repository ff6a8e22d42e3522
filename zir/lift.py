"""`zir.lift(code) -> Function`: ZBC stack bytecode to IR.

The work is done in `zir.lifting`: `zir.lifting.flow` finds the blocks, their edges and the locals
definitely assigned at each; `zir.lifting.interp` interprets the operand stack abstractly (worklist
over blocks, no recursion) and emits IR with stack slots as positional Vars (`%$0`, `%$1`, ...) and
locals as named Vars assigned many times (the result is not in SSA form).
"""

from __future__ import annotations

import sys
import types

from zir.bytecode.code import Code
from zir.ir import Function
from zir.lifting.interp import lift_code

__all__ = ["lift"]


def lift(code: Code) -> Function:
    """Lift a ZBC code object (not its nested code objects, which stay constants) to a Function.

    The result has `ssa=False`, keeps every instruction's source line and `f.code = code`, and
    passes `zir.verify`. A stack-depth mismatch at a join, an unknown opcode or a stack underflow
    raises `zir.VerifyError` naming the offset and source line.
    """
    return lift_code(code)


class _CallableModule(types.ModuleType):
    """Importing the submodule `zir.lift` makes the package attribute `zir.lift` this module,
    shadowing the lazily loaded function of the same name; so the module calls like the function."""

    def __call__(self, code: Code) -> Function:
        return lift(code)


sys.modules[__name__].__class__ = _CallableModule
