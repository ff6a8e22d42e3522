"""ZBC, the stack bytecode: the `Code` object the stack-mode VM runs.

Instructions are `(op, arg, line)` triples: `op` is a ZBC mnemonic from the opcode table
(`zir.ops.ZBC_OPS`), `arg` an int whose meaning the row's `zarg` gives (a const/name/local/cell
index, an absolute jump target, a count or an immediate), `line` the source line or None.

Unlike CPython's bytecode there are no CACHE entries, no EXTENDED_ARG, no NULLs on the stack, no
PRECALL/KW_NAMES, and jumps are absolute instruction indices.
"""

from __future__ import annotations

from typing import Any

import attrs

#: Code flags.
VARARGS = "varargs"
VARKEYWORDS = "varkeywords"
GENERATOR = "generator"
COROUTINE = "coroutine"
NESTED = "nested"
#: A nested code object the front end could not translate (a class body, say): it can only become a
#: host function through MAKE_FUNCTION (from its `pycode`); it has no instructions and no JSON form.
HOST = "host"
FLAG_NAMES = frozenset({VARARGS, VARKEYWORDS, GENERATOR, COROUTINE, NESTED, HOST})


@attrs.define(slots=True, eq=True)
class ZInstr:
    """One ZBC instruction."""

    op: str
    arg: int | None = None
    line: int | None = None


@attrs.define(slots=True, eq=True)
class Handler:
    """An exception-table entry: an exception raised by an instruction in `[start, end)` truncates
    the operand stack to `depth` items, pushes the instruction index when `lasti`, pushes the
    exception, and jumps to `target`. The innermost (first matching) entry wins."""

    start: int
    end: int
    target: int
    depth: int
    lasti: bool = False


@attrs.define(slots=True, eq=True)
class Code:
    """A ZBC code object: a function's instructions and the tables they index.

    `varnames` lists the locals, parameters first: `argcount` positional (of which the first
    `posonlyargcount` are positional-only), then `kwonlyargcount` keyword-only, then `*args`
    when VARARGS is in `flags`, then `**kwargs` when VARKEYWORDS is. Cells and free variables have
    their own index space: `cellvars + freevars`; a parameter that is also a cell is copied into its
    cell by the code itself (`LOAD_FAST p; STORE_DEREF c`).

    `defaults`/`kwdefaults` are used when the Code is run directly (from `.zasm`, JSON or a
    builder); a Code from the CPython front end takes them from the function object instead.
    `pycode` is the CPython code object it was translated from (not part of equality or JSON).
    """

    name: str
    instrs: list[ZInstr] = attrs.field(factory=list)
    consts: list[Any] = attrs.field(factory=list)
    names: list[str] = attrs.field(factory=list)
    varnames: list[str] = attrs.field(factory=list)
    cellvars: list[str] = attrs.field(factory=list)
    freevars: list[str] = attrs.field(factory=list)
    argcount: int = 0
    posonlyargcount: int = 0
    kwonlyargcount: int = 0
    flags: frozenset[str] = frozenset()
    defaults: tuple[Any, ...] = ()
    kwdefaults: dict[str, Any] = attrs.field(factory=dict)
    handlers: list[Handler] = attrs.field(factory=list)
    filename: str = "<zbc>"
    firstlineno: int = 1
    qualname: str = ""
    pycode: Any = attrs.field(default=None, eq=False, repr=False)

    @property
    def nparams(self) -> int:
        """How many leading `varnames` are parameters (including *args/**kwargs)."""
        return (self.argcount + self.kwonlyargcount + (VARARGS in self.flags)
                + (VARKEYWORDS in self.flags))

    @property
    def cell_names(self) -> list[str]:
        """The cell index space: `cellvars + freevars`."""
        return self.cellvars + self.freevars

    def line_of(self, index: int) -> int | None:
        """The source line of instruction `index` (the nearest earlier line when it has none)."""
        for i in range(min(index, len(self.instrs) - 1), -1, -1):
            if self.instrs[i].line is not None:
                return self.instrs[i].line
        return self.firstlineno

    def where(self, index: int) -> str:
        """`file:line (function name, offset N)`, for error messages."""
        return f"{self.filename}:{self.line_of(index)} (function {self.name}, offset {index})"
