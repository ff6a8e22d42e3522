"""ZBC, the stack bytecode: the `Code` object the stack-mode VM runs.

Instructions are `(op, arg, line)` triples: `op` is a ZBC mnemonic from the opcode table
(`zir.ops.ZBC_OPS`), `arg` an int whose meaning the row's `zarg` gives (a const/name/local/cell
index, an absolute jump target, a count or an immediate), `line` the source line or None.

Unlike CPython's bytecode there are no CACHE entries, no EXTENDED_ARG, no NULLs on the stack, no
PRECALL/KW_NAMES, and jumps are absolute instruction indices.
"""

from __future__ import annotations

import math
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

#: The Python types a ZBC constant may have besides a nested `Code` (which may appear only as a
#: top-level entry of `Code.consts`). Tuples, frozensets and slices hold literals only. Every
#: text and serialized form can spell exactly these.
LITERAL_TYPES: tuple[type, ...] = (
    int, float, complex, str, bytes, bool, type(None), type(Ellipsis), tuple, frozenset, slice,
)


def literal_key(value: Any) -> Any:
    """A key that tells constants apart exactly: `1`, `1.0` and `True` differ, `0.0` and `-0.0`
    differ, every nan equals every nan. Nested `Code` objects compare structurally.

    `Code` equality compares `consts`, `defaults` and `kwdefaults` through this key, so a Code read
    back from `.zasm` or JSON equals the original even when it holds nan or signed zeros.
    """
    if isinstance(value, Code):
        return ("code", value)
    if isinstance(value, tuple):
        return ("tuple", tuple(literal_key(v) for v in value))
    if isinstance(value, frozenset):
        return ("frozenset", frozenset(literal_key(v) for v in value))
    if isinstance(value, slice):
        return ("slice", literal_key(value.start), literal_key(value.stop), literal_key(value.step))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    if isinstance(value, complex):
        return ("complex", repr(value))
    if type(value) in (int, bool, str, bytes, type(None), type(Ellipsis)):
        return (type(value).__name__, value)
    return ("object", value)


def _consts_key(values: list[Any] | tuple[Any, ...]) -> Any:
    return tuple(literal_key(v) for v in values)


def _kwdefaults_key(values: dict[str, Any]) -> Any:
    return {k: literal_key(v) for k, v in values.items()}


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
    Constants compare exactly (see `literal_key`): `-0.0` differs from `0.0`, nan equals nan.
    """

    name: str
    instrs: list[ZInstr] = attrs.field(factory=list)
    consts: list[Any] = attrs.field(factory=list, eq=_consts_key)
    names: list[str] = attrs.field(factory=list)
    varnames: list[str] = attrs.field(factory=list)
    cellvars: list[str] = attrs.field(factory=list)
    freevars: list[str] = attrs.field(factory=list)
    argcount: int = 0
    posonlyargcount: int = 0
    kwonlyargcount: int = 0
    flags: frozenset[str] = frozenset()
    defaults: tuple[Any, ...] = attrs.field(default=(), eq=_consts_key)
    kwdefaults: dict[str, Any] = attrs.field(factory=dict, eq=_kwdefaults_key)
    handlers: list[Handler] = attrs.field(factory=list)
    filename: str = "<zbc>"
    firstlineno: int = 1
    qualname: str = ""
    pycode: Any = attrs.field(default=None, eq=False, repr=False)
    #: The maximum operand stack depth, recorded by `zir.bytecode.verify` (None until verified).
    stacksize: int | None = attrs.field(default=None, eq=False, repr=False)

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

    def where(self, index: int | None = None) -> str:
        """`file:line (function name, offset N)`, for error messages; without an index, the code
        object's own place `file:firstlineno (function name)`."""
        if index is None:
            return f"{self.filename}:{self.firstlineno} (function {self.name})"
        return f"{self.filename}:{self.line_of(index)} (function {self.name}, offset {index})"
