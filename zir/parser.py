"""The IR text form, reading side: `zir.parse(text) -> Module`, the inverse of `zir.format`.

A regular-expression lexer turns the text into tokens in one pass; a recursive-descent parser over
the grammar (docs/ir.md) builds the attrs objects of `zir.ir`. Opcodes, operand counts, attribute
names and target counts are checked against the IR rows of the opcode table (`zir.ops.IR_OPS`), so
the parser knows no opcode by name. Every error is a `zir.ParseError` whose message starts with
`file:line:col:` (1-based) and says what was expected there.

Only what the text itself can decide is checked here; whether the IR makes sense (terminators last,
phis matching predecessors, SSA dominance) is the verifier's job (`zir.verify`).
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

from zir.errors import ParseError
from zir.ir import UNBOUND, Block, Const, Function, Instr, Module, Phi, Signature, Value, Var
from zir.ops import IR_OPS, VARIADIC, OpDef, suggest

__all__ = ["parse", "parse_function"]

# --------------------------------------------------------------------------------------------------
# Lexer

_NAME = r'(?:[A-Za-z0-9_.$]+|"(?:[^"\\\n]|\\.)*")'
_TOKEN_RE = re.compile(
    r"""
     (?P<nl>\n)
    |(?P<ws>[ \t\r\f]+|;[^\n]*)
    |(?P<var>%NAME)
    |(?P<label>\^NAME)
    |(?P<func>@NAME)
    |(?P<bytes>b'(?:[^'\\\n]|\\.)*'|b"(?:[^"\\\n]|\\.)*")
    |(?P<str>"(?:[^"\\\n]|\\.)*")
    |(?P<num>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?j?|(?:inf|nan)j?)
        (?![A-Za-z0-9_.$]))
    |(?P<word>[A-Za-z0-9_.$]+)
    |(?P<punct>\*\*|[()\[\]{},:=/*])
    |(?P<opaque><[^<>\n]*>)
    |(?P<bad>.)
    """.replace("NAME", _NAME),
    re.VERBOSE,
)

# A token: (kind, text, line, col). Punctuation uses its own text as its kind.
Token = tuple[str, str, int, int]

_ESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)")
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def tokenize(text: str, filename: str = "<string>") -> list[Token]:
    """The tokens of `text`, ending with an 'eof' token; comments and blanks dropped, newlines kept."""
    tokens: list[Token] = []
    append = tokens.append
    # A byte-order mark (some editors write one) is not part of the text.
    start = 1 if text.startswith("\ufeff") else 0
    line, line_start = 1, start
    for m in _TOKEN_RE.finditer(text, start):
        kind = m.lastgroup
        if kind == "ws":
            continue
        start = m.start()
        if kind == "nl":
            append(("nl", "\n", line, start - line_start + 1))
            line += 1
            line_start = start + 1
            continue
        tok = m.group()
        if kind == "punct":
            kind = tok
        elif kind == "bad":
            what = "unterminated string literal" if tok == "\"" else f"unexpected character {tok!r}"
            raise ParseError(what, filename, line, start - line_start + 1)
        append((kind, tok, line, start - line_start + 1))  # type: ignore[arg-type]
    append(("eof", "", line, len(text) - line_start + 1))
    return tokens


# --------------------------------------------------------------------------------------------------
# Parser

_LITERAL_WORDS: dict[str, Any] = {"None": None, "True": True, "False": False, "undef": UNBOUND,
                                  "...": Ellipsis}
_VALUE_START = frozenset({"var", "num", "str", "bytes", "(", "opaque"})


def _describe(tok: Token) -> str:
    kind, text = tok[0], tok[1]
    if kind == "eof":
        return "end of input"
    if kind == "nl":
        return "end of line"
    return repr(text) if len(text) <= 30 else repr(text[:27] + "...")


class _Parser:
    """Recursive descent over the token list; one method per grammar rule (docs/ir.md)."""

    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.toks = tokenize(text, filename)
        self.i = 0

    # token helpers ---------------------------------------------------------------------------------
    def error(self, message: str, tok: Token | None = None) -> NoReturn:
        t = tok if tok is not None else self.toks[self.i]
        raise ParseError(message, self.filename, t[2], t[3])

    def expected(self, what: str, after: str = "") -> NoReturn:
        tok = self.toks[self.i]
        where = f" {after}" if after else ""
        self.error(f"expected {what}{where}, found {_describe(tok)}", tok)

    def next(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind: str) -> Token | None:
        tok = self.toks[self.i]
        if tok[0] == kind:
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, what: str, after: str = "") -> Token:
        tok = self.toks[self.i]
        if tok[0] != kind:
            self.expected(what, after)
        self.i += 1
        return tok

    def at_word(self, word: str) -> bool:
        tok = self.toks[self.i]
        return tok[0] == "word" and tok[1] == word

    def skip_newlines(self) -> None:
        toks = self.toks
        while toks[self.i][0] == "nl":
            self.i += 1

    def end_of_line(self, after: str) -> None:
        kind = self.toks[self.i][0]
        if kind == "nl":
            self.i += 1
        elif kind != "eof":
            self.expected("end of line", after)

    # names and literals -----------------------------------------------------------------------------
    def unescape(self, body: str, tok: Token, offset: int) -> str:
        """Decode the escapes of a string body that starts `offset` characters into `tok`."""
        if "\\" not in body:
            return body

        def one(m: re.Match[str]) -> str:
            esc = m.group(1)
            if esc in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[esc]
            if len(esc) > 1:
                code = int(esc[1:], 16)
                if code <= 0x10FFFF:
                    return chr(code)
            self.error(f"invalid escape sequence '\\{esc}' in string literal",
                       (tok[0], tok[1], tok[2], tok[3] + offset + m.start()))

        return _ESCAPE_RE.sub(one, body)

    def sigil_name(self, tok: Token) -> str:
        """The name in a `%name` / `^name` / `@name` token (quoted names unescaped)."""
        text = tok[1]
        if text[1] == '"':
            return self.unescape(text[2:-1], tok, 2)
        return text[1:]

    def bare_name(self, what: str) -> str:
        """A cell/free/flag name: bare [A-Za-z0-9_.$]+ (which may lex as a number) or quoted."""
        tok = self.toks[self.i]
        kind = tok[0]
        if kind == "str":
            self.i += 1
            return self.unescape(tok[1][1:-1], tok, 1)
        if kind in ("word", "num") and tok[1][0] not in "+-":
            self.i += 1
            return tok[1]
        self.expected(what)

    def number(self, tok: Token) -> int | float | complex:
        text = tok[1]
        if text[-1] == "j":
            return complex(text)
        body = text.lstrip("+-")
        if body[:2] in ("0x", "0X"):
            value = int(body, 16)
            return -value if text[0] == "-" else value
        if body in ("inf", "nan") or any(c in body for c in ".eE"):
            return float(text)
        try:
            return int(text)
        except ValueError:  # past sys.get_int_max_str_digits()
            self.error("integer literal too long (write it in hexadecimal)", tok)

    def literal(self, after: str) -> Any:
        """A literal: number, string, bytes, None/True/False, `...`, `undef`, tuple or frozenset."""
        tok = self.toks[self.i]
        kind = tok[0]
        if kind == "num":
            self.i += 1
            return self.number(tok)
        if kind == "str":
            self.i += 1
            return self.unescape(tok[1][1:-1], tok, 1)
        if kind == "bytes":
            self.i += 1
            return self.bytes_literal(tok)
        if kind == "word":
            text = tok[1]
            if text in _LITERAL_WORDS:
                self.i += 1
                return _LITERAL_WORDS[text]
            if text == "frozenset":
                self.i += 1
                return self.frozenset_literal()
        if kind == "(":
            self.i += 1
            return self.paren_literal()
        if kind == "opaque":
            self.error(f"the object {tok[1]} has no text form and cannot be parsed back", tok)
        self.expected("a literal", after)

    def bytes_literal(self, tok: Token) -> bytes:
        body = tok[1][2:-1]
        if not body.isascii():
            self.error("a bytes literal may hold only ASCII characters", tok)
        if "\\" not in body:
            return body.encode("ascii")
        out = bytearray()
        pos = 0
        for m in _ESCAPE_RE.finditer(body):
            out += body[pos:m.start()].encode("ascii")
            esc = m.group(1)
            if esc in _SIMPLE_ESCAPES:
                out.append(ord(_SIMPLE_ESCAPES[esc]))
            elif esc[0] == "x":
                out.append(int(esc[1:], 16))
            else:
                self.error(f"invalid escape sequence '\\{esc}' in bytes literal",
                           (tok[0], tok[1], tok[2], tok[3] + 2 + m.start()))
            pos = m.end()
        out += body[pos:].encode("ascii")
        return bytes(out)

    def paren_literal(self) -> Any:
        """After '(': a complex number `(re+imj)`, or a tuple `()`, `(x,)`, `(x, y)`."""
        toks, i = self.toks, self.i
        if (toks[i][0] == "num" and toks[i + 1][0] == "num" and toks[i + 1][1][0] in "+-"
                and toks[i + 1][1][-1] == "j" and toks[i + 2][0] == ")"):
            self.i += 3
            return complex(toks[i][1] + toks[i + 1][1])
        items: list[Any] = []
        if self.accept(")"):
            return ()
        while True:
            items.append(self.literal("in tuple"))
            if self.accept(","):
                if self.accept(")"):
                    return tuple(items)
                continue
            if len(items) == 1:
                self.expected("','", "after the item of a one-element tuple")
            self.expect(")", "',' or ')'", "after tuple item")
            return tuple(items)

    def frozenset_literal(self) -> frozenset[Any]:
        self.expect("(", "'('", "after 'frozenset'")
        if self.accept(")"):
            return frozenset()
        self.expect("{", "'{' or ')'", "after 'frozenset('")
        items = [self.literal("in frozenset")]
        while self.accept(","):
            items.append(self.literal("in frozenset"))
        self.expect("}", "',' or '}'", "after frozenset item")
        self.expect(")", "')'", "after frozenset items")
        return frozenset(items)

    def value(self, after: str) -> Value:
        tok = self.toks[self.i]
        if tok[0] == "var":
            self.i += 1
            return Var(self.sigil_name(tok))
        return Const(self.literal(after))

    def starts_value(self) -> bool:
        tok = self.toks[self.i]
        kind = tok[0]
        if kind in _VALUE_START:
            return True
        return kind == "word" and (tok[1] in _LITERAL_WORDS or tok[1] == "frozenset")

    # module and function ----------------------------------------------------------------------------
    def module(self) -> Module:
        mod = Module()
        first_line: dict[str, int] = {}
        self.skip_newlines()
        while self.toks[self.i][0] != "eof":
            if not self.at_word("func"):
                self.expected("'func'")
            self.i += 1
            tok = self.expect("func", "a function name '@name'", "after 'func'")
            name = self.sigil_name(tok)
            if name in first_line:
                self.error(f"function @{name} defined twice (first at line {first_line[name]})", tok)
            first_line[name] = tok[2]
            mod.add(self.function(name))
            self.skip_newlines()
        return mod

    def function(self, name: str) -> Function:
        f = Function(name)
        self.expect("(", "'('", "after the function name")
        self.params(f)
        seen: set[str] = set()
        while not self.accept("{"):
            tok = self.toks[self.i]
            if tok[0] != "word" or tok[1] not in ("cells", "free", "flags", "ssa"):
                self.expected("'cells(', 'free(', 'flags(', 'ssa' or '{'", "in the function header")
            if tok[1] in seen:
                self.error(f"'{tok[1]}' given twice in the function header", tok)
            seen.add(tok[1])
            self.i += 1
            if tok[1] == "ssa":
                f.ssa = True
                continue
            names = self.name_list(tok[1])
            if tok[1] == "cells":
                f.cellvars = names
            elif tok[1] == "free":
                f.freevars = names
            else:
                f.flags = set(names)
        self.end_of_line("after '{'")
        labels: dict[str, int] = {}
        self.skip_newlines()
        while not self.accept("}"):
            tok = self.toks[self.i]
            if tok[0] != "label":
                self.expected("a block label '^name:' or '}'")
            self.i += 1
            label = self.sigil_name(tok)
            if label in labels:
                self.error(f"block ^{label} defined twice in function @{name} "
                           f"(first at line {labels[label]})", tok)
            labels[label] = tok[2]
            f.blocks.append(self.block(label))
        self.end_of_line("after '}'")
        return f

    def name_list(self, what: str) -> list[str]:
        self.expect("(", "'('", f"after '{what}'")
        names: list[str] = []
        if self.accept(")"):
            return names
        names.append(self.bare_name("a name"))
        while self.accept(","):
            names.append(self.bare_name("a name"))
        self.expect(")", "',' or ')'", f"in '{what}(...)'")
        return names

    def params(self, f: Function) -> None:
        """`(%a, /, %b, *%args, %k, **%kw)`: Python's parameter syntax, stored in co_varnames order."""
        pos: list[Var] = []
        kwonly: list[Var] = []
        varargs: Var | None = None
        varkw: Var | None = None
        posonly = 0
        star: Token | None = None  # the '*' or '*%args' token, once seen
        if not self.accept(")"):
            while True:
                tok = self.next()
                kind = tok[0]
                if varkw is not None:
                    self.error("no parameter may follow '**' parameter", tok)
                if kind == "var":
                    (kwonly if star is not None else pos).append(Var(self.sigil_name(tok)))
                elif kind == "/":
                    if star is not None or posonly or not pos:
                        self.error("'/' must follow the positional parameters, once", tok)
                    posonly = len(pos)
                elif kind == "*":
                    if star is not None:
                        self.error("'*' may appear only once in the parameters", tok)
                    star = tok
                    vtok = self.accept("var")
                    if vtok is not None:
                        varargs = Var(self.sigil_name(vtok))
                elif kind == "**":
                    varkw = Var(self.sigil_name(self.expect("var", "a parameter '%name'", "after '**'")))
                else:
                    self.i -= 1
                    self.expected("a parameter ('%name', '/', '*', '*%name' or '**%name')")
                if not self.accept(","):
                    break
            self.expect(")", "',' or ')'", "after parameter")
            if star is not None and varargs is None and not kwonly:
                self.error("a bare '*' must be followed by keyword-only parameters", star)
        f.params = pos + kwonly + [v for v in (varargs, varkw) if v is not None]
        f.signature = Signature(posonly=posonly, kwonly=len(kwonly), varargs=varargs is not None,
                                varkw=varkw is not None)

    # blocks and instructions ------------------------------------------------------------------------
    def block(self, label: str) -> Block:
        blk = Block(label)
        self.expect(":", "':'", "after the block label")
        if self.at_word("except"):
            self.i += 1
            blk.handler = self.sigil_name(self.expect("label", "a handler label '^name'", "after 'except'"))
        self.end_of_line("after the block header")
        toks = self.toks
        while True:
            kind = toks[self.i][0]
            if kind == "nl":
                self.i += 1
            elif kind == "label" or kind == "}" or kind == "eof":
                if kind == "eof":
                    self.expected("'}'", "at the end of the function")
                return blk
            else:
                self.line(blk)

    def line(self, blk: Block) -> None:
        """One phi or instruction, and the end of its line."""
        dest_tok = self.accept("var")
        if dest_tok is not None:
            self.expect("=", "'='", "after the result name")
        op_tok = self.toks[self.i]
        if op_tok[0] != "word":
            self.expected("an operation name" if dest_tok else "an instruction, a block label or '}'")
        self.i += 1
        name = op_tok[1]
        if name == "phi":
            if dest_tok is None:
                self.error("a phi needs a result: '%name = phi ...'", op_tok)
            if blk.instrs:
                self.error(f"phi after the first instruction of block ^{blk.label}", op_tok)
            blk.phis.append(self.phi(Var(self.sigil_name(dest_tok))))
            self.end_of_line("after phi")
            return
        od = IR_OPS.get(name)
        if od is None:
            self.error(f"unknown operation '{name}'{suggest(name)}", op_tok)
        if dest_tok is not None and not od.defines:
            self.error(f"'{name}' defines no value; drop the '{dest_tok[1]} ='", dest_tok)
        dest = Var(self.sigil_name(dest_tok)) if dest_tok is not None else None
        instr = Instr(name, dest)
        self.operands(instr, od, op_tok)
        if self.accept("{"):
            self.attributes(instr, od)
        if self.at_word("loc"):
            self.i += 1
            self.expect("(", "'('", "after 'loc'")
            tok = self.expect("num", "a line number", "in 'loc('")
            if not re.fullmatch(r"[-+]?\d+", tok[1]):
                self.error("expected an integer line number", tok)
            instr.line = int(tok[1])
            self.expect(")", "')'", "after the line number")
        if self.toks[self.i][0] != "nl":
            self.expected("',', '{', 'loc(' or end of line", "after the instruction")
        self.i += 1
        blk.instrs.append(instr)

    def operands(self, instr: Instr, od: OpDef, op_tok: Token) -> None:
        """Values, then block targets, comma-separated; counts checked against the table row."""
        toks = self.toks
        first_extra: Token | None = None
        if self.starts_value() or toks[self.i][0] == "label":
            while True:
                tok = toks[self.i]
                if tok[0] == "label":
                    self.i += 1
                    if od.targets == 0:
                        self.error(f"'{od.name}' takes no block targets", tok)
                    if len(instr.targets) == od.targets:
                        self.error(f"'{od.name}' takes {od.targets} block target"
                                   f"{'s' if od.targets != 1 else ''}, found more", tok)
                    instr.targets.append(self.sigil_name(tok))
                else:
                    if instr.targets:
                        self.expected("a block label '^name'", "after a block target")
                    if od.arity != VARIADIC and len(instr.args) == od.arity and first_extra is None:
                        first_extra = tok
                    instr.args.append(self.value("as operand"))
                if not self.accept(","):
                    break
            if self.starts_value() or toks[self.i][0] == "label":
                self.expected("','", "between operands")
        if first_extra is not None:
            self.error(f"'{od.name}' takes {_count(od.arity, 'operand')}, found {len(instr.args)}",
                       first_extra)
        if od.arity != VARIADIC and len(instr.args) < od.arity:
            self.error(f"'{od.name}' takes {_count(od.arity, 'operand')}, found {len(instr.args)}", op_tok)
        if len(instr.targets) < od.targets:
            self.error(f"'{od.name}' takes {_count(od.targets, 'block target')}, "
                       f"found {len(instr.targets)}", op_tok)

    def attributes(self, instr: Instr, od: OpDef) -> None:
        """`{key=literal, ...}` after the '{'; keys must be declared by the table row."""
        if self.accept("}"):
            return
        while True:
            tok = self.expect("word", "an attribute name", "in '{...}'")
            key = tok[1]
            if key not in od.attrs:
                takes = ", ".join(od.attrs) if od.attrs else "none"
                self.error(f"'{od.name}' has no attribute '{key}' (its attributes: {takes})", tok)
            if key in instr.attrs:
                self.error(f"attribute '{key}' given twice", tok)
            self.expect("=", "'='", f"after attribute name '{key}'")
            instr.attrs[key] = self.literal(f"as the value of attribute '{key}'")
            if not self.accept(","):
                break
        self.expect("}", "',' or '}'", "after attribute")

    def phi(self, dest: Var) -> Phi:
        """`[^pred: value], ...` after 'phi'."""
        p = Phi(dest)
        if self.toks[self.i][0] != "[":
            return p
        while True:
            self.expect("[", "'['", "before phi operand")
            tok = self.expect("label", "a predecessor label '^name'", "in phi operand")
            label = self.sigil_name(tok)
            if label in p.incoming:
                self.error(f"phi lists predecessor ^{label} twice", tok)
            self.expect(":", "':'", "after the predecessor label")
            p.incoming[label] = self.value("in phi operand")
            self.expect("]", "']'", "after phi operand")
            if not self.accept(","):
                return p


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def parse(text: str, filename: str = "<string>") -> Module:
    """Parse the IR text form (as printed by `zir.format`) into a `Module`.

    Raises `zir.ParseError` (`file:line:col: what was expected`) for malformed text, unknown
    operations, operand/target counts or attributes that the opcode table does not allow, and
    duplicate function names or block labels.
    """
    return _Parser(text, filename).module()


def parse_function(text: str, filename: str = "<string>") -> Function:
    """Parse text holding exactly one function and return it."""
    mod = parse(text, filename)
    if len(mod.functions) != 1:
        raise ParseError(f"expected exactly one function, found {len(mod.functions)}", filename, 1, 1)
    return next(iter(mod.functions.values()))
