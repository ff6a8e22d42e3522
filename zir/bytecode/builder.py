"""`CodeBuilder`: how a language front end writes ZBC without counting indices.

    cb = CodeBuilder("count", params=["n"])
    loop, done = cb.label("loop"), cb.label("done")
    cb.emit("LOAD_CONST", 0); cb.emit("STORE_FAST", "i")    # locals are added as they are named
    cb.place(loop)
    cb.emit("LOAD_FAST", "i"); cb.emit("LOAD_FAST", "n"); cb.emit("LT")
    cb.emit("POP_JUMP_IF_FALSE", done)
    ...
    cb.emit("JUMP", loop)
    cb.place(done)
    cb.emit("LOAD_FAST", "i"); cb.emit("RETURN_VALUE")
    code = cb.finish()                                         # verified

Operands are given by meaning, as the opcode table's `zarg` says: a constant (any literal, a `Code`,
or a nested `CodeBuilder`), a global/attribute name, a local name, a cell name, a `Label`, a count.
The builder tracks the stack depth as it goes (as CPython's compiler does), so a mistake is
reported at the instruction that makes it, and a handler region's depth defaults to the depth where
the region starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs

from zir.bytecode.code import NESTED, VARARGS, VARKEYWORDS, Code, Handler, ZInstr, literal_key
from zir.bytecode.verify import verify
from zir.errors import VerifyError
from zir.ops import ZBC_OPS, ZArg, suggest

__all__ = ["CodeBuilder", "Label"]


@attrs.define(eq=False)
class Label:
    """A jump target; `CodeBuilder.place` fixes where it is."""

    name: str
    index: int | None = None  #: the instruction it names, once placed
    depth: int | None = None  #: the stack depth there, once known


class CodeBuilder:
    """Builds one ZBC `Code`; see the module docstring. `finish()` returns the verified Code."""

    def __init__(self, name: str, params: Sequence[str] = (), *, posonly: int = 0,
                 kwonly: Sequence[str] = (), varargs: str | None = None, varkw: str | None = None,
                 defaults: Sequence[Any] = (), kwdefaults: dict[str, Any] | None = None,
                 cellvars: Sequence[str] = (), freevars: Sequence[str] = (), flags: Sequence[str] = (),
                 filename: str = "<zbc>", firstlineno: int = 1, qualname: str = "") -> None:
        sig_flags = {VARARGS} if varargs is not None else set()
        if varkw is not None:
            sig_flags.add(VARKEYWORDS)
        varnames = [*params, *kwonly, *(p for p in (varargs, varkw) if p is not None)]
        self.code = Code(
            name, varnames=varnames, cellvars=list(cellvars), freevars=list(freevars),
            argcount=len(params), posonlyargcount=posonly, kwonlyargcount=len(kwonly),
            flags=frozenset(flags) | sig_flags, defaults=tuple(defaults), kwdefaults=dict(kwdefaults or {}),
            filename=filename, firstlineno=firstlineno, qualname=qualname or name)
        self._consts: list[Any] = []
        self._const_index: dict[Any, int] = {}
        self._name_index: dict[str, int] = {}
        self._local_index = {v: i for i, v in reversed(list(enumerate(varnames)))}
        self._jumps: list[tuple[int, Label]] = []
        self._handlers: list[tuple[Label, Label, Label, int, bool]] = []
        self._labels = 0
        self._line: int | None = None
        self._depth: int | None = 0

    # ---------------------------------------------------------------------------------------------

    @property
    def depth(self) -> int | None:
        """The stack depth before the next instruction (None right after a jump or a return,
        until a label with a known depth is placed)."""
        return self._depth

    def label(self, name: str | None = None) -> Label:
        """A new, not yet placed label."""
        self._labels += 1
        return Label(name or f"L{self._labels}")

    def place(self, label: Label) -> None:
        """The next instruction is `label`'s target."""
        if label.index is not None:
            raise self._error(f"label {label.name!r} is placed twice")
        label.index = len(self.code.instrs)
        if label.depth is None:
            label.depth = self._depth
        elif self._depth is None:
            self._depth = label.depth
        elif self._depth != label.depth:
            raise self._error(f"stack depth {self._depth} falling into label {label.name!r}, "
                              f"which is reached elsewhere with depth {label.depth}")

    def line(self, lineno: int | None) -> None:
        """The source line of the instructions emitted from now on."""
        self._line = lineno

    def local(self, name: str) -> int:
        """The index of local `name`, adding it to `varnames` if new."""
        i = self._local_index.get(name)
        if i is None:
            i = self._local_index[name] = len(self.code.varnames)
            self.code.varnames.append(name)
        return i

    def nested(self, name: str, params: Sequence[str] = (), **kw: Any) -> CodeBuilder:
        """A builder for a code object nested in this one (emit it with `LOAD_CONST`): it gets
        the NESTED flag, this file name and a qualified name under this one."""
        kw.setdefault("filename", self.code.filename)
        kw.setdefault("firstlineno", self._line if self._line is not None else self.code.firstlineno)
        kw.setdefault("qualname", f"{self.code.qualname}.<locals>.{name}")
        kw["flags"] = {*kw.get("flags", ()), NESTED}
        return CodeBuilder(name, params, **kw)

    def emit(self, op: str, arg: Any = None) -> int:
        """Append instruction `op` with its operand given by meaning; returns its index."""
        row = ZBC_OPS.get(op)
        index = len(self.code.instrs)
        if row is None:
            raise self._error(f"unknown opcode {op!r}{suggest(op, list(ZBC_OPS))}", index)
        kind = row.zarg
        value: int | None
        if kind is ZArg.NONE:
            if arg is not None:
                raise self._error(f"{op} takes no operand, got {arg!r}", index)
            value = None
        elif kind is ZArg.CONST:
            value = self._const(arg)
        elif kind is ZArg.JUMP:
            if not isinstance(arg, Label):
                raise self._error(f"{op} needs a Label, got {arg!r}", index)
            self._jumps.append((index, arg))
            value = -1  # resolved by finish()
        elif kind in (ZArg.COUNT, ZArg.IMM):
            if type(arg) is not int:
                raise self._error(f"{op} needs an int, got {arg!r}", index)
            value = arg
        else:
            if type(arg) is not str:
                raise self._error(f"{op} needs a name (str), got {arg!r}", index)
            value = self._named(kind, arg, index)
        if self._depth is not None:
            a = value if value is not None and kind is not ZArg.JUMP else 0
            need = row.reach(a) if row.reach is not None else row.pops(a)
            if self._depth < need:
                raise self._error(f"stack underflow: {op} needs {need} items, the stack has "
                                  f"{self._depth}", index)
            after = self._depth - row.pops(a) + row.pushes(a)
            if kind is ZArg.JUMP:
                self._join(arg, after if row.branch_pushes is None else
                           self._depth - row.pops(a) + row.branch_pushes(a), index)
            self._depth = None if row.terminator else after
        self.code.instrs.append(ZInstr(op, value, self._line))
        return index

    @contextmanager
    def protect(self, handler: Label, depth: int | None = None, lasti: bool = False) -> Iterator[None]:
        """Instructions emitted inside the `with` block send their exceptions to `handler`, with
        the stack cut to `depth` items (default: the depth here), then the instruction index if
        `lasti`, then the exception. Nested regions take precedence over the ones around them."""
        if depth is None:
            if self._depth is None:
                raise self._error("protect(): the stack depth here is unknown; pass depth=")
            depth = self._depth
        self._join(handler, depth + int(lasti) + 1, len(self.code.instrs))
        start = self.label()
        self.place(start)
        yield
        end = self.label()
        self.place(end)
        # A region closes before the one around it, so closing order is innermost first.
        self._handlers.append((start, end, handler, depth, lasti))

    def handler(self, start: Label, end: Label, target: Label, depth: int, lasti: bool = False) -> None:
        """Add an exception-table entry by labels (after the entries added before it)."""
        self._join(target, depth + int(lasti) + 1, len(self.code.instrs))
        self._handlers.append((start, end, target, depth, lasti))

    def finish(self, *, check: bool = True) -> Code:
        """The Code: labels resolved, nested builders finished, verified unless `check=False`."""
        c = self.code
        for index, label in self._jumps:
            c.instrs[index].arg = self._resolve(label)
        c.consts = [k.finish(check=False) if isinstance(k, CodeBuilder) else k for k in self._consts]
        c.handlers = [Handler(self._resolve(s), self._resolve(e), self._resolve(t), d, lasti)
                      for s, e, t, d, lasti in self._handlers if self._resolve(s) < self._resolve(e)]
        if check:
            verify(c)
        return c

    # ---------------------------------------------------------------------------------------------

    def _const(self, value: Any) -> int:
        key = ("code", id(value)) if isinstance(value, (Code, CodeBuilder)) else literal_key(value)
        i = self._const_index.get(key)
        if i is None:
            i = self._const_index[key] = len(self._consts)
            self._consts.append(value)
        return i

    def _named(self, kind: ZArg, name: str, index: int) -> int:
        if kind is ZArg.NAME:
            i = self._name_index.get(name)
            if i is None:
                i = self._name_index[name] = len(self.code.names)
                self.code.names.append(name)
            return i
        if kind is ZArg.LOCAL:
            return self.local(name)
        cells = self.code.cell_names
        if name not in cells:
            raise self._error(f"{name!r} is not a cell or free variable (declare it in cellvars= "
                              "or freevars=)", index)
        return cells.index(name)

    def _join(self, label: Label, depth: int, index: int) -> None:
        if label.depth is None:
            label.depth = depth
        elif label.depth != depth:
            raise self._error(f"stack depth {depth} reaching label {label.name!r}, which is reached "
                              f"elsewhere with depth {label.depth}", index)

    def _resolve(self, label: Label) -> int:
        if label.index is None:
            raise self._error(f"label {label.name!r} is used but never placed")
        return label.index

    def _error(self, message: str, index: int | None = None) -> VerifyError:
        where = self.code.where() if index is None else (
            f"{self.code.filename}:{self._line if self._line is not None else self.code.firstlineno} "
            f"(function {self.code.name}, offset {index})")
        return VerifyError(f"{where}: {message}")
