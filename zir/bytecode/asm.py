"""`.zasm`, the text form of ZBC: `assemble(text) -> Code` and `disassemble(code) -> str`.

The syntax (docs/bytecode.md has the full description)::

    .code f                          ; one section per code object; the first is the result
    .filename "demo.py"
    .firstlineno 1
    .params a, b=1, /, c, *args, d=2, **kw
    .locals total
    .line 2                          ; source line of the instructions that follow
        LOAD_FAST a                  ; operands are written as what they mean
        LOAD_CONST @inner            ; a nested code object: the section named `inner`
        JUMP loop                    ; a label
    loop:
        ...
    .handler try0 try1 -> except0 depth 0 lasti

    .code inner
        ...

Mnemonics and the kind of every operand come from the opcode table (`zir.ops.ZBC_OPS`, `zarg`).
`assemble(disassemble(c)) == c` for every code object the ZBC verifier accepts: the disassembler
writes explicit `.consts`/`.names` tables whenever the order the assembler would build on its own
differs, and `#N` (a raw table index) for an operand that would otherwise resolve elsewhere.
"""

from __future__ import annotations

from typing import Any

from zir.bytecode.asm_lexer import format_literal, format_name
from zir.bytecode.asm_parser import NO_DEFAULT, SIGNATURE_FLAGS, Assembler, Table, table_key
from zir.bytecode.code import VARARGS, VARKEYWORDS, Code, ZInstr
from zir.bytecode.verify import verify as verify_code
from zir.errors import ZirError
from zir.ops import ZBC_OPS, ZArg

__all__ = ["assemble", "disassemble"]


def assemble(text: str, filename: str = "<string>", *, verify: bool = True) -> Code:
    """Assemble `.zasm` text into a `Code` (the first `.code` section; the others are the code
    objects its constants refer to). Raises `zir.ParseError` (`file:line:col: ...`) for bad text,
    and, unless `verify=False`, `zir.VerifyError` when the result does not pass the ZBC verifier.

    Without a `.line` directive, instructions take their line in the `.zasm` text as source line,
    `.filename` defaults to `filename` and `.firstlineno` to the line of `.code`, so verifier and
    VM errors point into the assembly text.
    """
    sections = Assembler(filename).run(text)
    code = sections[0].code
    if verify:
        verify_code(code)
    return code


# -------------------------------------------------------------------------------------------------
# Disassembly.


def disassemble(code: Code, *, offsets: bool = False) -> str:
    """The `.zasm` text of `code` and of the code objects nested in its constants (one section
    each, the first being `code`). With `offsets`, each instruction carries its index as a comment
    (the offsets that verifier and VM messages name)."""
    order = [code]
    seen = {id(code)}
    k = 0
    while k < len(order):
        for const in order[k].consts:
            if isinstance(const, Code) and id(const) not in seen:
                seen.add(id(const))
                order.append(const)
        k += 1
    refs: dict[int, str] = {}
    used: set[str] = set()
    for c in order:
        ref, n = c.name, 1
        while ref in used:
            n += 1
            ref = f"{c.name}.{n}"
        used.add(ref)
        refs[id(c)] = ref
    return "\n".join(_Disassembler(c, refs, offsets).text() for c in order)


class _Disassembler:
    def __init__(self, code: Code, refs: dict[int, str], offsets: bool) -> None:
        self.c = code
        self.refs = refs
        self.offsets = offsets
        self.out: list[str] = []

    def text(self) -> str:
        c = self.c
        ref = self.refs[id(c)]
        self.out.append(f".code {format_name(c.name)}" + ("" if ref == c.name else f" @{format_name(ref)}"))
        if c.qualname:
            self.out.append(f".qualname {format_name(c.qualname)}")
        self.out.append(f".filename {format_name(c.filename)}")
        self.out.append(f".firstlineno {c.firstlineno}")
        flags = sorted(c.flags - set(SIGNATURE_FLAGS))
        if flags:
            self.out.append(".flags " + " ".join(flags))
        self._signature()
        for directive, names in ((".cellvars", c.cellvars), (".freevars", c.freevars)):
            if names:
                self.out.append(f"{directive} " + ", ".join(format_name(v) for v in names))
        self._tables()
        self._body()
        return "\n".join(self.out) + "\n"

    def _signature(self) -> None:
        c = self.c
        if c.nparams > len(c.varnames):
            raise ZirError(f"{c.where()}: cannot disassemble: the signature names {c.nparams} "
                           f"parameters but varnames has {len(c.varnames)}")
        v = c.varnames
        parts: list[str] = []
        first_default = c.argcount - len(c.defaults)
        for i in range(c.argcount):
            p = format_name(v[i])
            parts.append(p if i < first_default else f"{p}={format_literal(c.defaults[i - first_default])}")
            if i + 1 == c.posonlyargcount:
                parts.append("/")
        rest = c.argcount + c.kwonlyargcount
        if VARARGS in c.flags:
            parts.append("*" + format_name(v[rest]))
        elif c.kwonlyargcount:
            parts.append("*")
        for name in v[c.argcount:rest]:
            default = c.kwdefaults.get(name, NO_DEFAULT)
            suffix = "" if default is NO_DEFAULT else f"={format_literal(default)}"
            parts.append(format_name(name) + suffix)
        if VARKEYWORDS in c.flags:
            parts.append("**" + format_name(v[rest + (VARARGS in c.flags)]))
        if parts:
            self.out.append(".params " + ", ".join(parts))
        if len(v) > c.nparams:
            self.out.append(".locals " + ", ".join(format_name(n) for n in v[c.nparams:]))

    def _tables(self) -> None:
        """Explicit `.consts`/`.names` only when the assembler would not rebuild them on its own."""
        c = self.c
        consts, names = Table([]), Table([])
        for ins in c.instrs:
            row = ZBC_OPS.get(ins.op)
            if row is None or ins.arg is None:
                continue
            if row.zarg is ZArg.CONST and 0 <= ins.arg < len(c.consts):
                consts.intern(c.consts[ins.arg])
            elif row.zarg is ZArg.NAME and 0 <= ins.arg < len(c.names):
                names.intern(c.names[ins.arg])
        if [table_key(v) for v in consts.items] != [table_key(v) for v in c.consts]:
            for i, v in enumerate(c.consts):
                self.out.append(f".consts {self._const(v)}  ; #{i}")
        if names.items != c.names:
            for i in range(0, len(c.names), 8):
                self.out.append(".names " + ", ".join(format_name(n) for n in c.names[i:i + 8]))

    def _const(self, value: Any) -> str:
        return f"@{format_name(self.refs[id(value)])}" if isinstance(value, Code) else format_literal(value)

    def _body(self) -> None:
        c = self.c
        n = len(c.instrs)
        labels: set[int] = set()
        for ins in c.instrs:
            row = ZBC_OPS.get(ins.op)
            if row is not None and row.zarg is ZArg.JUMP and ins.arg is not None and 0 <= ins.arg < n:
                labels.add(ins.arg)
        for h in c.handlers:
            labels.update(x for x in (h.start, h.end, h.target) if 0 <= x <= n)
        tables = {ZArg.CONST: _first_index(c.consts), ZArg.NAME: _first_index(c.names),
                  ZArg.LOCAL: _first_index(c.varnames), ZArg.CELL: _first_index(c.cell_names)}
        line: int | None = None
        for i, ins in enumerate(c.instrs):
            if i in labels:
                self.out.append(f"L{i}:")
            if i == 0 or ins.line != line:
                line = ins.line
                self.out.append(f"  .line {'none' if line is None else line}")
            text = f"    {ins.op}"
            operand = self._operand(ins, n, tables)
            if operand:
                text += " " + operand
            if self.offsets:
                text = f"{text:<40} ; {i}"
            self.out.append(text)
        if n in labels:
            self.out.append(f"L{n}:")
        for h in c.handlers:
            self.out.append(f".handler {_label(h.start, n)} {_label(h.end, n)} -> {_label(h.target, n)} "
                            f"depth {h.depth}" + (" lasti" if h.lasti else ""))

    def _operand(self, ins: ZInstr, n: int, tables: dict[ZArg, dict[Any, int]]) -> str:
        row = ZBC_OPS.get(ins.op)
        arg = ins.arg
        if arg is None:
            return ""
        if row is None or row.zarg is ZArg.NONE:
            return f"#{arg}"
        kind = row.zarg
        if kind is ZArg.JUMP:
            return _label(arg, n - 1)
        if kind in (ZArg.COUNT, ZArg.IMM):
            return str(arg)
        table = {ZArg.CONST: self.c.consts, ZArg.NAME: self.c.names, ZArg.LOCAL: self.c.varnames,
                 ZArg.CELL: self.c.cell_names}[kind]
        if not 0 <= arg < len(table):
            return f"#{arg}"
        value = table[arg]
        if tables[kind].get(table_key(value)) != arg:
            return f"#{arg}"
        return self._const(value) if kind is ZArg.CONST else format_name(value)


def _first_index(items: list[Any]) -> dict[Any, int]:
    out: dict[Any, int] = {}
    for i, v in enumerate(items):
        out.setdefault(table_key(v), i)
    return out


def _label(index: int, last: int) -> str:
    return f"L{index}" if 0 <= index <= last else f"#{index}"
