"""Tokens and literals of the `.zasm` text form, both ways: reading them and writing them.

A `.zasm` line is a sequence of tokens: strings (Python syntax, `b` prefix for bytes), numbers
(ints, hex ints, floats, imaginary `2j`), words (mnemonics, names, labels, `None`, `inf`, `...`),
and punctuation (`, ( ) { } = / * ** @ # : ->`). `;` starts a comment. The literal grammar is a
small subset of Python's: numbers, strings, bytes, `True`/`False`/`None`/`...`, `inf`/`-inf`/`nan`,
tuples `(a, b)`, `frozenset({a, b})`, `complex(re, im)`, `slice(a, b, c)`. `format_literal` writes
exactly that grammar, and `parse_literal(format_literal(v))` gives back a value with the same
`literal_key` for every literal the ZBC verifier accepts.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

import attrs

from zir.errors import ParseError

_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\f\v]+)
  | (?P<comment>;.*)
  | (?P<str>[bB]?(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'))
  | (?P<num>[-+]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?[jJ]?))
  | (?P<punct>->|\*\*|[,(){}=/*@#:])
  | (?P<word>[^\s,;(){}=/*@#:"'\[\]]+)
""", re.VERBOSE)

#: Names written bare (without quotes); anything else is quoted.
_BARE = re.compile(r"[A-Za-z_<][A-Za-z0-9_<>.$]*\Z")
#: Big ints are written in hex: CPython refuses to convert ints of more than 4300 digits to decimal.
_HEX_BITS = 8192


@attrs.frozen
class Token:
    """One token: `kind` is "str", "num", "word" or "punct"; `col` counts from 1."""

    kind: str
    text: str
    col: int


def tokenize(line: str, filename: str, lineno: int) -> list[Token]:
    """The tokens of one line, without whitespace and comments."""
    out: list[Token] = []
    pos = 0
    while pos < len(line):
        m = _TOKEN.match(line, pos)
        if m is None:
            ch = line[pos]
            what = "unterminated string" if ch in "\"'" else f"unexpected character {ch!r}"
            raise ParseError(what, filename, lineno, pos + 1)
        kind = m.lastgroup
        assert kind is not None
        if kind not in ("ws", "comment"):
            out.append(Token(kind, m.group(), pos + 1))
        pos = m.end()
    return out


class Cursor:
    """A position in the tokens of one line, with helpers that raise `ParseError` at the right
    column."""

    def __init__(self, tokens: list[Token], filename: str, lineno: int, line_len: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.filename = filename
        self.lineno = lineno
        self.end_col = line_len + 1

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind in ("punct", "word") and tok.text == text

    def next(self, what: str) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.error(f"expected {what}, found end of line")
        self.pos += 1
        return tok

    def expect(self, text: str, what: str | None = None) -> Token:
        tok = self.peek()
        if tok is None or tok.text != text or tok.kind == "str":
            raise self.error(f"expected {what or repr(text)}, found {self.describe(tok)}", tok)
        self.pos += 1
        return tok

    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def expect_end(self, after: str) -> None:
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {self.describe(tok)} after {after}", tok)

    def error(self, message: str, tok: Token | None = None) -> ParseError:
        """A ParseError at `tok`, else at the current token, else at the end of the line."""
        at = tok if tok is not None else self.peek()
        return ParseError(message, self.filename, self.lineno, at.col if at is not None else self.end_col)

    @staticmethod
    def describe(tok: Token | None) -> str:
        return "end of line" if tok is None else repr(tok.text)

    # ---------------------------------------------------------------------------------------------
    # Operands.

    def name(self, what: str) -> str:
        """A name: a bare word or a quoted string."""
        tok = self.next(what)
        if tok.kind == "word":
            return tok.text
        if tok.kind == "str" and tok.text[0] in "\"'":
            return self.string(tok)
        raise self.error(f"expected {what}, found {tok.text!r}", tok)

    def integer(self, what: str) -> int:
        tok = self.next(what)
        value = _number(tok.text) if tok.kind == "num" else None
        if type(value) is not int:
            raise self.error(f"expected {what} (an integer), found {tok.text!r}", tok)
        return value

    def string(self, tok: Token) -> Any:
        try:
            return ast.literal_eval(tok.text)
        except (SyntaxError, ValueError) as e:
            raise self.error(f"bad string literal: {e}", tok) from None

    def literal(self, code_ref: bool = False) -> Any:
        """A literal constant (see the module docstring); with `code_ref`, also `@name`, returned
        as a `CodeRef`."""
        tok = self.next("a literal constant")
        if tok.kind == "str":
            return self.string(tok)
        if tok.kind == "num":
            value = _number(tok.text)
            if value is None:
                raise self.error(f"bad number {tok.text!r}", tok)
            return value
        if tok.kind == "punct":
            if tok.text == "@" and code_ref:
                ref = self.next("a code section name after '@'")
                if ref.kind not in ("word", "str"):
                    raise self.error(f"expected a code section name after '@', found {ref.text!r}", ref)
                return CodeRef(ref.text if ref.kind == "word" else self.string(ref), self.lineno, ref.col)
            if tok.text == "(":
                return self._tuple(tok)
        if tok.kind == "word":
            if tok.text in _WORDS:
                return _WORDS[tok.text]
            if tok.text[-1] in "jJ":
                try:
                    return complex(tok.text)
                except ValueError:
                    pass
            if tok.text in ("complex", "frozenset", "slice") and self.at("("):
                return self._call(tok)
        hint = " (code objects are written @name)" if tok.text == "@" else ""
        raise self.error(f"expected a literal constant, found {tok.text!r}{hint}", tok)

    def _items(self, close: str) -> tuple[list[Any], bool]:
        """Comma-separated literals up to `close`; also says whether a trailing comma was seen."""
        items: list[Any] = []
        trailing = False
        while not self.at(close):
            items.append(self.literal())
            trailing = False
            if self.at(","):
                self.pos += 1
                trailing = True
            elif not self.at(close):
                raise self.error(f"expected ',' or {close!r}, found {self.describe(self.peek())}")
        self.pos += 1
        return items, trailing

    def _tuple(self, open_tok: Token) -> Any:
        items, trailing = self._items(")")
        if len(items) == 1 and not trailing:
            return items[0]  # a parenthesized literal, as in Python
        return tuple(items)

    def _call(self, tok: Token) -> Any:
        self.expect("(")
        if tok.text == "frozenset":
            if self.at(")"):
                self.pos += 1
                return frozenset()
            self.expect("{", "'{' or ')' after 'frozenset('")
            items, _ = self._items("}")
            self.expect(")")
            try:
                return frozenset(items)
            except TypeError as e:
                raise self.error(f"frozenset of unhashable items: {e}", tok) from None
        args, _ = self._items(")")
        if tok.text == "complex":
            if len(args) != 2 or not all(type(a) in (int, float) for a in args):
                raise self.error("complex(re, im) takes two real numbers", tok)
            return complex(args[0], args[1])
        if len(args) != 3:
            raise self.error("slice(start, stop, step) takes three literals", tok)
        return slice(*args)


@attrs.frozen
class CodeRef:
    """`@name` in a constant: the code object of the `.code` section named `name`."""

    name: str
    lineno: int
    col: int


_WORDS: dict[str, Any] = {
    "None": None, "True": True, "False": False, "...": Ellipsis,
    "inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "nan": math.nan,
}


def _number(text: str) -> int | float | complex | None:
    try:
        if text[-1] in "jJ":
            return complex(text)
        if text.lstrip("+-")[:2] in ("0x", "0X"):
            return int(text, 16)
        if any(c in text for c in ".eE"):
            return float(text)
        return int(text, 10)
    except ValueError:
        return None


# -------------------------------------------------------------------------------------------------
# Writing.


def format_name(name: str) -> str:
    """A name as the assembler reads it: bare when it is a plain identifier-like word."""
    return name if _BARE.match(name) else _quote(name)


def _quote(s: str) -> str:
    return repr(s)


def format_literal(value: Any) -> str:
    """`value` in the `.zasm` literal grammar (inverse of `Cursor.literal`)."""
    if value is None or value is Ellipsis or isinstance(value, bool):
        return "..." if value is Ellipsis else repr(value)
    if isinstance(value, int):
        return hex(value) if value.bit_length() > _HEX_BITS else str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, complex):
        text = repr(value)
        if text.startswith("("):
            return f"complex({format_literal(value.real)}, {format_literal(value.imag)})"
        return text
    if isinstance(value, (str, bytes)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(format_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, frozenset):
        # Sorted by text, so the output does not depend on hash order.
        items = sorted(format_literal(v) for v in value)
        return "frozenset({" + ", ".join(items) + "})" if items else "frozenset()"
    if isinstance(value, slice):
        parts = (value.start, value.stop, value.step)
        return "slice(" + ", ".join(format_literal(v) for v in parts) + ")"
    raise TypeError(f"not a ZBC literal: {type(value).__name__}")
