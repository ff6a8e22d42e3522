"""Decoding a CPython code object into a list of instructions, and naming places in it.

The decoder reads `co_code` directly, two bytes per code unit, with the tables of `dis`/`opcode`
(the specialized-to-base opcode map, the inline CACHE counts per opcode, which opcodes take a
name, local, cell, constant or jump argument), and gives exactly what `dis.get_instructions`
gives, without building its `Instruction` tuples, argument reprs and label sets: EXTENDED_ARG
prefixes fold into the argument of the instruction they extend (the prefix itself is still listed,
as a no-op), CACHE entries are skipped, relative jumps (counted in code units) become absolute
instructions, and each instruction gets its source line (from `co_lines`, which reads the same
location table as `co_positions`). Jump targets are instruction indices, so nothing after this
module looks at byte offsets again (except the exception table, mapped once by `exctable`).
"""

from __future__ import annotations

import dis
import opcode
import types
from typing import Any

from zir.errors import FrontendError

# Per-opcode facts, as 256-entry tables indexed by the opcode byte (built once from dis/opcode).
_OPNAME: list[str] = list(dis._all_opname)  # type: ignore[attr-defined]
#: A specialized (adaptive) opcode's base opcode; `co_code` is already deoptimized in 3.11, this
#: keeps the decoder exact for any byte string `dis` accepts.
_DEOP: list[int] = [dis.opmap[dis.deoptmap[name]] if name in dis.deoptmap else op  # type: ignore[attr-defined]
                    for op, name in enumerate(_OPNAME)]
_CACHES: list[int] = [opcode._inline_cache_entries[_DEOP[op]]  # type: ignore[attr-defined]
                      for op in range(256)]

# How the argument of a (base) opcode is resolved to `argval`, as `dis` does it.
(_K_PLAIN, _K_CONST, _K_NAME, _K_GLOBAL, _K_JREL_FWD, _K_JREL_BACK, _K_JABS, _K_VAR, _K_CMP, _K_FMT,
 _K_UNKNOWN) = range(11)


def _arg_kind(op: int) -> int:
    if op in dis.hasconst:  # dis resolves LOAD_CONST's only (KW_NAMES's argval is dis.UNKNOWN)
        return _K_CONST if op == dis.opmap["LOAD_CONST"] else _K_UNKNOWN
    if op in dis.hasname:
        return _K_GLOBAL if op == dis.opmap["LOAD_GLOBAL"] else _K_NAME
    if op in dis.hasjabs:
        return _K_JABS
    if op in dis.hasjrel:
        return _K_JREL_BACK if "JUMP_BACKWARD" in _OPNAME[op] else _K_JREL_FWD
    if op in dis.haslocal or op in dis.hasfree:
        return _K_VAR
    if op in dis.hascompare:
        return _K_CMP
    if op == dis.opmap["FORMAT_VALUE"]:
        return _K_FMT
    return _K_PLAIN


_KIND: list[int] = [_arg_kind(_DEOP[op]) for op in range(256)]
_HAVE_ARGUMENT = dis.HAVE_ARGUMENT
_EXTENDED_ARG = dis.EXTENDED_ARG
_INT_OVERFLOW = 2 ** 31  # dis's wrap of an over-long EXTENDED_ARG chain to a negative C int
_FORMAT_CONVERTERS = tuple(conv for conv, _ in dis.FORMAT_VALUE_CONVERTERS)  # type: ignore[attr-defined]


class PyInstr:
    """One decoded CPython instruction (a slotted plain class: the decoder makes one per
    instruction, so construction cost matters)."""

    __slots__ = ("index", "offset", "opname", "opcode", "arg", "argval", "line", "target")

    def __init__(self, index: int, offset: int, opname: str, opcode: int, arg: int | None,
                 argval: Any, line: int | None, target: int | None = None) -> None:
        self.index = index  #: position in the decoded list
        self.offset = offset  #: byte offset in `co_code`
        self.opname = opname
        self.opcode = opcode
        self.arg = arg  #: the full argument (EXTENDED_ARG prefixes folded in)
        self.argval = argval  #: `dis`'s resolved argument: a name, a constant, a jump offset, ...
        self.line = line  #: source line, None for instructions the compiler made up
        self.target = target  #: for a jump, the index of the instruction it jumps to

    def __repr__(self) -> str:
        return (f"PyInstr(index={self.index}, offset={self.offset}, opname={self.opname!r}, "
                f"opcode={self.opcode}, arg={self.arg}, argval={self.argval!r}, line={self.line}, "
                f"target={self.target})")


def decode(pycode: types.CodeType) -> list[PyInstr]:
    """The instructions of `pycode`, with jump targets as instruction indices."""
    try:
        out, jumps = _decode(pycode)
    except (IndexError, KeyError, ValueError) as exc:  # an argument out of its table's range
        raise frontend_error(pycode, pycode.co_firstlineno, f"undecodable bytecode ({exc})") from None
    if jumps:
        index_at = {ins.offset: ins.index for ins in out}
        for ins in jumps:
            target = index_at.get(ins.argval)
            if target is None:
                raise frontend_error(pycode, ins.line,
                                     f"jump to offset {ins.argval}, which starts no instruction",
                                     ins.opname)
            ins.target = target
    return out


def _decode(pycode: types.CodeType) -> tuple[list[PyInstr], list[PyInstr]]:
    """The instructions (targets not yet set) and the jumps among them, in one pass over co_code."""
    code = pycode.co_code
    consts, names, varname = pycode.co_consts, pycode.co_names, pycode._varname_from_oparg  # type: ignore[attr-defined]
    opname_of, deop_of, caches_of, kind_of = _OPNAME, _DEOP, _CACHES, _KIND
    cmp_op = dis.cmp_op
    # The line table as sorted ranges [start, end) of byte offsets, walked alongside the code.
    lines = pycode.co_lines()
    line_end, line = 0, None
    out: list[PyInstr] = []
    jumps: list[PyInstr] = []
    append = out.append
    n = len(code)
    i = ext = 0
    while i < n:
        op = code[i]
        deop = deop_of[op]
        if deop >= _HAVE_ARGUMENT:
            arg: int | None = code[i + 1] | ext
            ext = (arg << 8) if deop == _EXTENDED_ARG else 0  # type: ignore[operator]
            if ext >= _INT_OVERFLOW:
                ext -= 2 * _INT_OVERFLOW
            kind = kind_of[deop]
            if kind == _K_PLAIN:
                argval: Any = arg
            elif kind == _K_VAR:
                argval = varname(arg)
            elif kind == _K_NAME:
                argval = names[arg]  # type: ignore[index]
            elif kind == _K_CONST:
                argval = consts[arg]  # type: ignore[index]
            elif kind == _K_GLOBAL:
                argval = names[arg // 2]  # type: ignore[operator]
            elif kind == _K_JREL_FWD:
                argval = i + 2 + arg * 2  # type: ignore[operator]
            elif kind == _K_JREL_BACK:
                argval = i + 2 - arg * 2  # type: ignore[operator]
            elif kind == _K_JABS:
                argval = arg * 2  # type: ignore[operator]
            elif kind == _K_UNKNOWN:
                argval = dis.UNKNOWN  # type: ignore[attr-defined]
            elif kind == _K_CMP:
                argval = cmp_op[arg]  # type: ignore[index]
            else:  # FORMAT_VALUE: (converter, has a format spec)
                argval = (_FORMAT_CONVERTERS[arg & 0x3], bool(arg & 0x4))  # type: ignore[operator]
        else:
            arg = argval = None
            ext = 0
            kind = _K_PLAIN
        while i >= line_end:  # the ranges are sorted and contiguous: advance to the one holding i
            span = next(lines, None)
            line_end, line = (n, None) if span is None else span[1:]
        ins = PyInstr(len(out), i, opname_of[op], op, arg, argval, line)
        append(ins)
        if _K_JREL_FWD <= kind <= _K_JABS:
            jumps.append(ins)
        i += 2 + 2 * caches_of[deop]
    return out, jumps


def index_at_or_after(instrs: list[PyInstr], offset: int) -> int:
    """The index of the first instruction at byte offset `offset` or later (`len(instrs)` at the end)."""
    lo, hi = 0, len(instrs)
    while lo < hi:  # binary search: instrs are sorted by offset
        mid = (lo + hi) // 2
        if instrs[mid].offset < offset:
            lo = mid + 1
        else:
            hi = mid
    return lo


def line_near(pycode: types.CodeType, instrs: list[PyInstr], index: int) -> int:
    """The source line of instruction `index`, or of the nearest earlier one that has a line."""
    for i in range(min(index, len(instrs) - 1), -1, -1):
        line = instrs[i].line
        if line is not None:
            return line
    return pycode.co_firstlineno


def frontend_error(pycode: types.CodeType, line: int | None, construct: str,
                   opname: str | None = None) -> FrontendError:
    """A `FrontendError` naming file, line, function and construct:
    `demo.py:12: function 'gen': generators are not supported yet (issue 7) [YIELD_VALUE]`."""
    where = f"{pycode.co_filename}:{line if line is not None else pycode.co_firstlineno}"
    tail = f" [{opname}]" if opname else ""
    return FrontendError(f"{where}: function '{pycode.co_qualname}': {construct}{tail}")
