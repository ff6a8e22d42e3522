"""Pipeline strings: ``"peephole,ssa,dce,copyprop,ssa-destroy,regalloc{k=16}"``.

Grammar (whitespace allowed between tokens):

    pipeline := [ item { "," item } ]
    item     := NAME [ "{" [ option { "," option } ] "}" ]
    option   := KEY "=" VALUE
    NAME     := [A-Za-z0-9_-]+          a registered pass, or a level O0 / O1 / O2
    VALUE    := a run of characters other than ",{}" (surrounding blanks dropped), or a "quoted" string

A value is converted to the type of the pass's attrs field of that name: `int` (decimal, 0x..),
`float`, `bool` (true/false/yes/no/on/off/1/0), `str`, `Literal[...]` (one of the listed values),
or `X | None` (`none` gives None). Every mistake is a `zir.PassError` naming the pipeline column.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

import attrs

from passes.levels import LEVELS
from passes.registry import OptionInfo, pass_class, pass_options
from zir.errors import PassError


@attrs.frozen
class PipelineItem:
    """One pass of a parsed pipeline: its name, its raw option strings, and its column (1-based)."""

    name: str
    options: tuple[tuple[str, str], ...] = ()
    column: int = 1


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int | None = None) -> PassError:
        col = (self.pos if pos is None else pos) + 1
        return PassError(f"pipeline '{self.text}', column {col}: {message}")

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_blanks()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def word(self, what: str) -> tuple[str, int]:
        self.skip_blanks()
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_-"):
            self.pos += 1
        if start == self.pos:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of pipeline"
            raise self.error(f"expected {what}, found {found}")
        return self.text[start:self.pos], start

    def value(self) -> str:
        self.skip_blanks()
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            start = self.pos
            self.pos += 1
            out = []
            while self.pos < len(self.text) and self.text[self.pos] != '"':
                if self.text[self.pos] == "\\" and self.pos + 1 < len(self.text):
                    self.pos += 1
                out.append(self.text[self.pos])
                self.pos += 1
            if self.pos >= len(self.text):
                raise self.error("unterminated string", start)
            self.pos += 1
            return "".join(out)
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",{}":
            self.pos += 1
        raw = self.text[start:self.pos].strip()
        if not raw:
            raise self.error("expected an option value")
        return raw

    def expect(self, ch: str, what: str) -> None:
        if self.peek() != ch:
            found = repr(self.peek()) if self.peek() else "end of pipeline"
            raise self.error(f"expected {what}, found {found}")
        self.pos += 1


def parse_items(text: str) -> list[PipelineItem]:
    """Split a pipeline string into items (levels expanded), checking only the syntax."""
    sc = _Scanner(text)
    items: list[PipelineItem] = []
    if not sc.peek():
        return items
    while True:
        name, start = sc.word("a pass name")
        options: list[tuple[str, str]] = []
        if sc.peek() == "{":
            sc.pos += 1
            if sc.peek() != "}":
                while True:
                    key, kpos = sc.word("an option name")
                    if any(k == key for k, _ in options):
                        raise sc.error(f"option '{key}' given twice", kpos)
                    sc.expect("=", f"'=' after option '{key}'")
                    options.append((key, sc.value()))
                    if sc.peek() == ",":
                        sc.pos += 1
                        continue
                    break
            sc.expect("}", "',' or '}' in the option list")
        if name in LEVELS:
            if options:
                raise sc.error(f"level '{name}' takes no options", start)
            items.extend(attrs.evolve(it, column=start + 1) for it in parse_items(LEVELS[name]))
        else:
            items.append(PipelineItem(name, tuple(options), start + 1))
        if not sc.peek():
            return items
        sc.expect(",", "',' between passes")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def convert_option(value: str, typ: Any) -> Any:
    """Convert the option text `value` to `typ`; ValueError with what was expected otherwise."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if type(None) in args and value.lower() == "none":
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return convert_option(value, a)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(" or ".join(errors))
    if origin is typing.Literal:
        choices = typing.get_args(typ)
        for c in choices:
            if str(c) == value or (isinstance(c, bool) and value.lower() in (_TRUE if c else _FALSE)):
                return c
        raise ValueError(f"one of {', '.join(str(c) for c in choices)}")
    if typ is bool:
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError("a boolean (true/false)")
    if typ is int:
        try:
            return int(value, 0)
        except ValueError:
            raise ValueError("an integer") from None
    if typ is float:
        try:
            return float(value)
        except ValueError:
            raise ValueError("a number") from None
    if typ is str or typ is Any:
        return value
    raise ValueError(f"a value of a type pipeline strings cannot spell ({typ!r})")


def instantiate(item: PipelineItem, source: str = "") -> Any:
    """Make the pass object for `item`, its options converted and type-checked."""
    where = f"pipeline '{source}', column {item.column}: " if source else ""
    try:
        cls = pass_class(item.name)
    except PassError as e:
        raise PassError(where + str(e)) from None
    opts = {o.name: o for o in pass_options(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in item.options:
        info: OptionInfo | None = opts.get(key)
        if info is None:
            known = ", ".join(opts) if opts else "none"
            raise PassError(f"{where}pass '{item.name}' has no option '{key}' (its options: {known})")
        try:
            kwargs[key] = convert_option(raw, info.type)
        except ValueError as e:
            raise PassError(f"{where}option '{key}' of pass '{item.name}' expects {e}, got '{raw}'") from None
    missing = [o.name for o in opts.values() if not o.has_default and o.name not in kwargs]
    if missing:
        raise PassError(f"{where}pass '{item.name}' needs option(s) {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        # attrs validators on the pass class reject out-of-range values here.
        raise PassError(f"{where}pass '{item.name}': {e}") from None


def parse_pipeline(text: str) -> list[Any]:
    """The pass objects a pipeline string names, in order (levels expanded)."""
    return [instantiate(it, text) for it in parse_items(text)]


def format_option(value: Any) -> str:
    """An option value as pipeline text (the inverse of `convert_option`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str) and (not value or any(c in value for c in ',{}"') or value != value.strip()):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def format_pass(p: Any) -> str:
    """A pass object as pipeline text: its name, then the options that differ from the defaults."""
    opts = [f"{o.name}={format_option(getattr(p, o.name))}" for o in pass_options(type(p))
            if not o.has_default or getattr(p, o.name) != o.default]
    return p.name + ("{" + ",".join(opts) + "}" if opts else "")


def format_pipeline(ps: Sequence[Any]) -> str:
    """The canonical pipeline string of a list of pass objects (parses back to equal objects)."""
    return ",".join(format_pass(p) for p in ps)
