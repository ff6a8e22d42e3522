"""The IR text form, printing side (`zir.format`). The grammar is in docs/ir.md; `zir.parser` reads it.

    func @f(%a, /, %b, *%args, %k, **%kw) cells(x) free(y) flags(async) ssa {
    ^entry:
      %c = add %a, 1 loc(3)
      cbr %c, ^then, ^else
    ^then: except ^handler
      ...
    }
"""

from __future__ import annotations

import math
import re
from typing import Any

from zir.ir import UNBOUND, Block, Const, Function, Instr, Module, Phi, Value, Var

_BARE = re.compile(r"[A-Za-z0-9_.$]+")


def format_name(sigil: str, name: str) -> str:
    """`%name` / `^name` / `@name`, quoted when the name has characters outside [A-Za-z0-9_.$]."""
    if _BARE.fullmatch(name):
        return sigil + name
    return sigil + _quote(name)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape_char(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if c.isprintable():
        return c
    # Control characters, line/paragraph separators, lone surrogates: keep the text one line and
    # encodable, spelled as Python spells them.
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _quote(s: str) -> str:
    """A double-quoted string literal; escapes: \\\\ \\" \\n \\t \\r \\xNN \\uNNNN \\UNNNNNNNN."""
    if s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    return '"' + "".join(map(_escape_char, s)) + '"'


def format_literal(value: Any) -> str:
    """A Python literal in the text form (repr, with `undef`, `inf`, `nan` and `...`)."""
    if value is UNBOUND:
        return "undef"
    if value is Ellipsis:
        return "..."
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, complex):
        return repr(value)
    if isinstance(value, int) and value.bit_length() > 10000:
        # Past sys.get_int_max_str_digits() decimal conversion raises; hex has no such limit.
        return hex(value)
    if isinstance(value, (int, bytes)):
        return repr(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, tuple):
        inner = ", ".join(format_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, frozenset):
        items = sorted(format_literal(v) for v in value)
        return "frozenset({" + ", ".join(items) + "})" if items else "frozenset()"
    name = getattr(value, "name", None) or getattr(value, "co_name", None) or type(value).__name__
    return f"<{type(value).__name__} {name}>"


def format_value(v: Value) -> str:
    if isinstance(v, Var):
        return format_name("%", v.name)
    return format_literal(v.value)


def format_attrs(attrs: dict[str, Any]) -> str:
    if not attrs:
        return ""
    return " {" + ", ".join(f"{k}={format_literal(v)}" for k, v in attrs.items()) + "}"


def format_instr(i: Instr) -> str:
    parts = [format_value(a) for a in i.args] + [format_name("^", t) for t in i.targets]
    text = i.op + (" " + ", ".join(parts) if parts else "") + format_attrs(i.attrs)
    if i.line is not None:
        text += f" loc({i.line})"
    return f"{format_name('%', i.dest.name)} = {text}" if i.dest is not None else text


def format_phi(p: Phi) -> str:
    inc = ", ".join(f"[{format_name('^', lbl)}: {format_value(v)}]" for lbl, v in p.incoming.items())
    return f"{format_name('%', p.dest.name)} = phi" + (" " + inc if inc else "")


def format_block(b: Block) -> str:
    head = format_name("^", b.label) + ":"
    if b.handler is not None:
        head += " except " + format_name("^", b.handler)
    lines = [head]
    lines += ["  " + format_phi(p) for p in b.phis]
    lines += ["  " + format_instr(i) for i in b.instrs]
    return "\n".join(lines)


def format_params(f: Function) -> str:
    """Parameters in Python's order: `%a, /, %b, *%args, %k, **%kw` (or a bare `*` before keyword-only
    ones). `f.params` is in CPython's co_varnames order: positional, keyword-only, *args, **kwargs."""
    sig = f.signature
    names = [format_name("%", p.name) for p in f.params]
    npos = len(names) - sig.kwonly - int(sig.varargs) - int(sig.varkw)
    out = names[:npos]
    if sig.posonly:
        out.insert(sig.posonly, "/")
    kwonly = names[npos:npos + sig.kwonly]
    if sig.varargs:
        out.append("*" + names[npos + sig.kwonly])
    elif sig.kwonly:
        out.append("*")
    out += kwonly
    if sig.varkw:
        out.append("**" + names[-1])
    return ", ".join(out)


def format_function(f: Function) -> str:
    head = f"func {format_name('@', f.name)}({format_params(f)})"
    if f.cellvars:
        head += " cells(" + ", ".join(format_name("", c) for c in f.cellvars) + ")"
    if f.freevars:
        head += " free(" + ", ".join(format_name("", c) for c in f.freevars) + ")"
    if f.flags:
        head += " flags(" + ", ".join(format_name("", c) for c in sorted(f.flags)) + ")"
    if f.ssa:
        head += " ssa"
    body = "\n".join(format_block(b) for b in f.blocks)
    return head + " {\n" + body + ("\n" if body else "") + "}\n"


def format(obj: Function | Module | Block | Instr | Phi) -> str:
    """The text form of a module, function, block, instruction or phi."""
    if isinstance(obj, Module):
        return "\n".join(format_function(f) for f in obj.functions.values())
    if isinstance(obj, Function):
        return format_function(obj)
    if isinstance(obj, Block):
        return format_block(obj)
    if isinstance(obj, Phi):
        return format_phi(obj)
    return format_instr(obj)


__all__ = ["format", "format_instr", "format_phi", "format_literal", "format_value", "Const"]
