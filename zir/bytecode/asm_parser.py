"""The `.zasm` assembler proper: lines to sections, operands resolved into tables.

`zir.bytecode.asm.assemble` is the public entry point; docs/bytecode.md describes the syntax. Each
line is tokenized (`asm_lexer`), directives fill the current section's header, instructions are
kept with their operands as written (a literal, a name, a label, `#N`) and, once every section is
read, resolved: constants, names and locals are interned into the tables (after any explicit
`.consts`/`.names`), labels and `@section` references are looked up, and the reference graph of
the sections is checked (every section used, none containing itself).
"""

from __future__ import annotations

from typing import Any

import attrs

from zir.bytecode.asm_lexer import CodeRef, Cursor, Token, tokenize
from zir.bytecode.code import FLAG_NAMES, VARARGS, VARKEYWORDS, Code, Handler, ZInstr, literal_key
from zir.errors import ParseError
from zir.ops import ZBC_OPS, OpDef, ZArg, suggest

__all__ = ["NO_DEFAULT", "SIGNATURE_FLAGS", "Assembler", "Table", "table_key"]

_INDEXED = (ZArg.CONST, ZArg.NAME, ZArg.LOCAL, ZArg.CELL, ZArg.JUMP)
_LISTS = {".locals": "locals", ".cellvars": "cellvars", ".freevars": "freevars", ".names": "names"}
_ONCE = (".qualname", ".filename", ".firstlineno", ".flags", ".params", ".cellvars", ".freevars")
_DIRECTIVES = sorted({".code", ".consts", ".line", ".handler", *_LISTS, *_ONCE})
#: The flags `.params` implies (`*args`, `**kwargs`); `.flags` may not name them.
SIGNATURE_FLAGS = (VARARGS, VARKEYWORDS)


@attrs.define
class _Operand:
    """An operand before resolution: a raw index (`#N`), or what it means (a literal, a name, a
    label, a count), with its position for error messages."""

    kind: str  # "index" | "value" | "name" | "int" | "none"
    value: Any
    lineno: int
    col: int


@attrs.define
class _Pending:
    op: str
    row: OpDef
    operand: _Operand
    line: int | None


@attrs.define
class _Section:
    name: str
    ref: str
    lineno: int
    code: Code
    seen: set[str] = attrs.field(factory=set)
    consts: list[Any] = attrs.field(factory=list)
    names: list[str] = attrs.field(factory=list)
    locals: list[str] = attrs.field(factory=list)
    cellvars: list[str] = attrs.field(factory=list)
    freevars: list[str] = attrs.field(factory=list)
    varnames: list[str] = attrs.field(factory=list)
    pending: list[_Pending] = attrs.field(factory=list)
    labels: dict[str, int] = attrs.field(factory=dict)
    handlers: list[tuple[_Operand, _Operand, _Operand, int, bool]] = attrs.field(factory=list)
    line: int | None = None
    explicit_line: bool = False
    refs: list[CodeRef] = attrs.field(factory=list)


class Assembler:
    """Reads `.zasm` text into code objects; `run` returns the sections, the first one first."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.sections: list[_Section] = []
        self.by_ref: dict[str, _Section] = {}

    def run(self, text: str) -> list[_Section]:
        if text.startswith("\ufeff"):  # a UTF-8 byte order mark some editors write
            text = text[1:]
        for lineno, raw in enumerate(text.split("\n"), 1):
            tokens = tokenize(raw, self.filename, lineno)
            if tokens:
                self._line(Cursor(tokens, self.filename, lineno, len(raw.rstrip("\r"))))
        if not self.sections:
            raise ParseError("expected a '.code NAME' section", self.filename, 1, 1)
        for s in self.sections:
            self._resolve(s)
        self._check_references()
        return self.sections

    # ---------------------------------------------------------------------------------------------
    # Reading lines.

    def _line(self, cur: Cursor) -> None:
        first = cur.tokens[0]
        if first.kind == "word" and first.text.startswith(".") and first.text != "...":
            cur.pos = 1
            self._directive(first, cur)
            return
        sec = self._current(cur, first)
        if first.kind == "word" and len(cur.tokens) > 1 and cur.tokens[1].text == ":":
            if first.text in sec.labels:
                raise cur.error(f"duplicate label {first.text!r}", first)
            sec.labels[first.text] = len(sec.pending)
            cur.pos = 2
            if cur.done():
                return
        self._instruction(sec, cur)

    def _current(self, cur: Cursor, tok: Token) -> _Section:
        if not self.sections:
            raise cur.error(f"expected '.code NAME' before {tok.text!r}", tok)
        return self.sections[-1]

    def _instruction(self, sec: _Section, cur: Cursor) -> None:
        tok = cur.next("an instruction")
        row = ZBC_OPS.get(tok.text) if tok.kind == "word" else None
        if row is None:
            raise cur.error(f"unknown opcode {tok.text!r}{suggest(tok.text.upper(), list(ZBC_OPS))}", tok)
        assert row.zbc is not None
        operand = self._operand(sec, row, cur)
        cur.expect_end(f"the operand of {row.zbc}")
        line = sec.line if sec.explicit_line else cur.lineno
        sec.pending.append(_Pending(row.zbc, row, operand, line))

    def _operand(self, sec: _Section, row: OpDef, cur: Cursor) -> _Operand:
        tok = cur.peek()
        col = tok.col if tok is not None else cur.end_col
        kind = row.zarg
        if kind is ZArg.NONE:
            return _Operand("none", None, cur.lineno, col)
        if tok is None:
            raise cur.error(f"{row.zbc} needs {_ARG_WORDS[kind]}")
        if kind in _INDEXED and cur.at("#"):
            cur.pos += 1
            return _Operand("index", cur.integer("a table index after '#'"), cur.lineno, col)
        if kind is ZArg.CONST:
            return _Operand("value", self._literal(sec, cur), cur.lineno, col)
        if kind in (ZArg.COUNT, ZArg.IMM):
            return _Operand("int", cur.integer(_ARG_WORDS[kind]), cur.lineno, col)
        return _Operand("name", cur.name(_ARG_WORDS[kind]), cur.lineno, col)

    def _directive(self, tok: Token, cur: Cursor) -> None:
        name = tok.text
        if name not in _DIRECTIVES:
            raise cur.error(f"unknown directive {name!r}{suggest(name, _DIRECTIVES)}", tok)
        if name == ".code":
            self._code(cur)
            return
        sec = self._current(cur, tok)
        if name in _ONCE:
            if name in sec.seen:
                raise cur.error(f"duplicate {name} directive in section {sec.name!r}", tok)
            sec.seen.add(name)
        if name in _LISTS:
            getattr(sec, _LISTS[name]).extend(self._names(cur))
        elif name == ".consts":
            sec.consts.extend(self._consts(sec, cur))
        elif name == ".qualname":
            sec.code.qualname = cur.name("a qualified name")
        elif name == ".filename":
            sec.code.filename = cur.name("a file name")
        elif name == ".firstlineno":
            sec.code.firstlineno = cur.integer("a line number")
        elif name == ".flags":
            self._flags(sec, cur)
        elif name == ".params":
            self._params(sec, cur)
        elif name == ".line":
            if cur.at("none"):
                cur.pos += 1
                sec.line = None
            else:
                sec.line = cur.integer("a line number or 'none'")
            sec.explicit_line = True
        elif name == ".handler":
            self._handler(sec, cur)
        cur.expect_end(name)

    def _code(self, cur: Cursor) -> None:
        name = cur.name("a code object name after .code")
        ref = name
        if cur.at("@"):
            cur.pos += 1
            ref = cur.name("a section name after '@'")
        if ref in self.by_ref:
            raise cur.error(f"duplicate code section {ref!r} (first at line {self.by_ref[ref].lineno}); "
                            "give one another name with '.code NAME @OTHER'")
        cur.expect_end(".code")
        sec = _Section(name, ref, cur.lineno, Code(name, filename=self.filename, firstlineno=cur.lineno))
        self.sections.append(sec)
        self.by_ref[ref] = sec

    def _names(self, cur: Cursor) -> list[str]:
        out: list[str] = []
        while not cur.done():
            out.append(cur.name("a name"))
            if not cur.done():
                cur.expect(",", "',' between names")
        return out

    def _consts(self, sec: _Section, cur: Cursor) -> list[Any]:
        out: list[Any] = []
        while not cur.done():
            out.append(self._literal(sec, cur))
            if not cur.done():
                cur.expect(",", "',' between constants")
        return out

    def _literal(self, sec: _Section, cur: Cursor, code_ref: bool = True) -> Any:
        value = cur.literal(code_ref=code_ref)
        if isinstance(value, CodeRef):
            sec.refs.append(value)
        return value

    def _flags(self, sec: _Section, cur: Cursor) -> None:
        flags = set(sec.code.flags)
        while not cur.done():
            tok = cur.next("a flag")
            if tok.text == ",":
                continue
            if tok.text in SIGNATURE_FLAGS:
                raise cur.error(f"the {tok.text} flag comes from "
                                f"{'*name' if tok.text == VARARGS else '**name'} in .params", tok)
            if tok.text not in FLAG_NAMES or tok.kind != "word":
                known = sorted(FLAG_NAMES - set(SIGNATURE_FLAGS))
                raise cur.error(f"unknown flag {tok.text!r} (known: {', '.join(known)})", tok)
            flags.add(tok.text)
        sec.code.flags = frozenset(flags)

    def _params(self, sec: _Section, cur: Cursor) -> None:
        """`a, b=1, /, c, *args, d=2, **kw` (Python's own syntax)."""
        c = sec.code
        positional: list[str] = []
        kwonly: list[str] = []
        defaults: list[Any] = []
        kwdefaults: dict[str, Any] = {}
        varargs = varkw = None
        stage = "pos"  # -> "kw" after '*', "end" after '**name'
        while not cur.done():
            tok = cur.peek()
            assert tok is not None
            if stage == "end":
                raise cur.error("no parameter may follow **name", tok)
            if cur.at("/"):
                if stage != "pos" or not positional or c.posonlyargcount:
                    raise cur.error("'/' must come once, after a positional parameter, before '*'", tok)
                cur.pos += 1
                c.posonlyargcount = len(positional)
            elif cur.at("*"):
                if stage != "pos":
                    raise cur.error("'*' may appear only once", tok)
                cur.pos += 1
                stage = "kw"
                if not cur.at(",") and not cur.done():
                    varargs = cur.name("a parameter name")
            elif cur.at("**"):
                cur.pos += 1
                varkw = cur.name("a parameter name")
                stage = "end"
            else:
                pname = cur.name("a parameter name")
                value: Any = NO_DEFAULT
                if cur.at("="):
                    cur.pos += 1
                    value = self._literal(sec, cur, code_ref=False)
                if stage == "pos":
                    if value is NO_DEFAULT and defaults:
                        raise cur.error(f"parameter {pname!r} without a default follows one "
                                        "with a default", tok)
                    positional.append(pname)
                    if value is not NO_DEFAULT:
                        defaults.append(value)
                else:
                    kwonly.append(pname)
                    if value is not NO_DEFAULT:
                        kwdefaults[pname] = value
            if not cur.done():
                cur.expect(",", "',' between parameters")
        if stage == "kw" and varargs is None and not kwonly:
            raise cur.error("a bare '*' must be followed by keyword-only parameters")
        params = positional + kwonly + [p for p in (varargs, varkw) if p is not None]
        dup = next((p for i, p in enumerate(params) if p in params[:i]), None)
        if dup is not None:
            raise cur.error(f"duplicate parameter {dup!r}")
        c.argcount, c.kwonlyargcount = len(positional), len(kwonly)
        c.defaults, c.kwdefaults = tuple(defaults), kwdefaults
        c.flags = c.flags | {f for f, p in ((VARARGS, varargs), (VARKEYWORDS, varkw)) if p is not None}
        sec.varnames = params

    def _handler(self, sec: _Section, cur: Cursor) -> None:
        """`.handler START END -> TARGET depth N [lasti]` (labels or `#index`)."""
        start = self._label(cur, "a start label")
        end = self._label(cur, "an end label")
        cur.expect("->")
        target = self._label(cur, "a target label")
        cur.expect("depth")
        depth = cur.integer("a stack depth")
        lasti = cur.at("lasti")
        if lasti:
            cur.pos += 1
        sec.handlers.append((start, end, target, depth, lasti))

    def _label(self, cur: Cursor, what: str) -> _Operand:
        tok = cur.peek()
        col = tok.col if tok is not None else cur.end_col
        if cur.at("#"):
            cur.pos += 1
            return _Operand("index", cur.integer("an instruction index after '#'"), cur.lineno, col)
        return _Operand("name", cur.name(what), cur.lineno, col)

    # ---------------------------------------------------------------------------------------------
    # Resolving operands into tables.

    def _error(self, message: str, op: _Operand) -> ParseError:
        return ParseError(message, self.filename, op.lineno, op.col)

    def _resolve(self, sec: _Section) -> None:
        c = sec.code
        consts = Table([self._code_of(v) for v in sec.consts])
        names = Table(list(sec.names))
        varnames = Table(sec.varnames + sec.locals)
        c.consts, c.names, c.varnames = consts.items, names.items, varnames.items
        c.cellvars, c.freevars = list(sec.cellvars), list(sec.freevars)
        cells = c.cellvars + c.freevars
        instrs: list[ZInstr] = []
        for p in sec.pending:
            o = p.operand
            arg: int | None
            if o.kind == "none":
                arg = None
            elif o.kind in ("index", "int"):
                arg = o.value
            elif p.row.zarg is ZArg.CONST:
                arg = consts.intern(self._code_of(o.value))
            elif p.row.zarg is ZArg.NAME:
                arg = names.intern(o.value)
            elif p.row.zarg is ZArg.LOCAL:
                arg = varnames.intern(o.value)
            elif p.row.zarg is ZArg.CELL:
                if o.value not in cells:
                    raise self._error(f"undeclared cell variable {o.value!r} (declare it with "
                                      ".cellvars or .freevars)", o)
                arg = cells.index(o.value)
            else:
                arg = self._target(sec, o)
            instrs.append(ZInstr(p.op, arg, p.line))
        c.instrs = instrs
        c.handlers = [Handler(self._target(sec, s), self._target(sec, e), self._target(sec, t), d, lasti)
                      for s, e, t, d, lasti in sec.handlers]

    def _target(self, sec: _Section, o: _Operand) -> int:
        if o.kind == "index":
            return int(o.value)
        if o.value not in sec.labels:
            raise self._error(f"undefined label {o.value!r} in section {sec.name!r}", o)
        return sec.labels[o.value]

    def _code_of(self, value: Any) -> Any:
        if not isinstance(value, CodeRef):
            return value
        target = self.by_ref.get(value.name)
        if target is None:
            raise ParseError(f"no code section named {value.name!r}", self.filename, value.lineno, value.col)
        return target.code

    def _check_references(self) -> None:
        """Every section but the first is a constant of another, and no code object contains
        itself (iterative depth-first search with colours)."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done
        first = self.sections[0]
        stack: list[tuple[_Section, list[CodeRef]]] = [(first, list(reversed(first.refs)))]
        state[first.ref] = 1
        while stack:
            sec, todo = stack[-1]
            if not todo:
                state[sec.ref] = 2
                stack.pop()
                continue
            ref = todo.pop()
            child = self.by_ref[ref.name]
            if state.get(child.ref) == 1:
                raise ParseError(f"code section {child.ref!r} contains itself (through @{ref.name})",
                                 self.filename, ref.lineno, ref.col)
            if child.ref not in state:
                state[child.ref] = 1
                stack.append((child, list(reversed(child.refs))))
        for s in self.sections:
            if s.ref not in state:
                raise ParseError(f"code section {s.ref!r} is never used: only the first section and "
                                 "the code objects its constants name (@name) are assembled",
                                 self.filename, s.lineno, 1)


class _NoDefault:
    """The marker for a parameter without a default (None is a default value)."""


NO_DEFAULT = _NoDefault()

_ARG_WORDS = {ZArg.CONST: "a constant", ZArg.NAME: "a name", ZArg.LOCAL: "a local variable name",
              ZArg.CELL: "a cell or free variable name", ZArg.JUMP: "a label", ZArg.COUNT: "a count",
              ZArg.IMM: "an integer argument"}


def table_key(value: Any) -> Any:
    """How a constant or name is found in its table: nested code objects by identity, literals
    exactly (`literal_key`)."""
    return ("code", id(value)) if isinstance(value, Code) else literal_key(value)


class Table:
    """A const/name/local table being built: lookup finds the first equal entry, else appends."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.index: dict[Any, int] = {}
        for i, v in enumerate(items):
            self.index.setdefault(table_key(v), i)

    def intern(self, value: Any) -> int:
        key = table_key(value)
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.items)
            self.items.append(value)
        return i
