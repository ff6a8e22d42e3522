"""Explicit VM frames.

A call from VM code to VM code does not recurse in Python: the interpreter loop makes a `Frame`,
links it to its caller through `back`, and switches to it; RETURN_VALUE switches back. So the depth
of VM recursion is limited by `VM(max_depth=...)`, not by Python's recursion limit, and a frame is an
object that can later be suspended (issue 7's AWAIT) or reused (issue 6's pools).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vm.compiler import Program

__all__ = ["Frame"]


class Frame:
    """One activation of a compiled code object.

    `fast` holds the locals (parameters first; `zir.UNBOUND` marks an empty one), `cells` the cell
    objects (`types.CellType`, cellvars then freevars), `stack` the operand stack, `pc` the index
    of the next instruction, `globals`/`builtins` the namespaces LOAD_GLOBAL reads, `back` the
    calling VM frame (None for the frame a host call entered), `func` the function object being
    run (None for a bare `Code` run directly).
    """

    __slots__ = ("prog", "fast", "cells", "stack", "pc", "globals", "builtins", "back", "func")

    def __init__(self, prog: Program, fast: list[Any], cells: list[Any], globals: dict[str, Any],
                 builtins: dict[str, Any], func: Any = None) -> None:
        self.prog = prog
        self.fast = fast
        self.cells = cells
        self.stack: list[Any] = []
        self.pc = 0
        self.globals = globals
        self.builtins = builtins
        self.back: Frame | None = None
        self.func = func

    def where(self) -> str:
        """`file:line (function name, offset N)` of the instruction this frame is executing."""
        return self.prog.code.where(max(self.pc - 1, 0))

    def __repr__(self) -> str:
        return f"<vm frame {self.prog.code.name} at {self.where()}>"
