"""Decoding a CPython code object into a list of instructions, and naming places in it.

`dis.get_instructions` does the byte-level work: it folds EXTENDED_ARG prefixes into the argument of
the instruction they extend (the prefix itself is still listed, as a no-op), skips CACHE entries,
resolves relative jumps (counted in code units) to absolute byte offsets, and gives each
instruction its source position (from `co_positions`). Here those offsets become instruction
indices, so nothing after this module looks at byte offsets again.
"""

from __future__ import annotations

import dis
import types
from typing import Any

import attrs

from zir.errors import FrontendError

#: Opcodes whose `argval` is a jump target (a byte offset), as `dis` decodes them.
_JUMPS = frozenset(dis.hasjrel) | frozenset(dis.hasjabs)


@attrs.frozen
class PyInstr:
    """One decoded CPython instruction."""

    index: int  #: position in the decoded list
    offset: int  #: byte offset in `co_code`
    opname: str
    opcode: int
    arg: int | None  #: the full argument (EXTENDED_ARG prefixes folded in)
    argval: Any  #: `dis`'s resolved argument: a name, a constant, a jump offset, ...
    line: int | None  #: source line, None for instructions the compiler made up
    target: int | None = None  #: for a jump, the index of the instruction it jumps to


def decode(pycode: types.CodeType) -> list[PyInstr]:
    """The instructions of `pycode`, with jump targets as instruction indices."""
    try:
        raw = list(dis.get_instructions(pycode))
    except (IndexError, KeyError, ValueError) as exc:  # an argument out of its table's range
        raise frontend_error(pycode, pycode.co_firstlineno, f"undecodable bytecode ({exc})") from None
    index_of = {ins.offset: i for i, ins in enumerate(raw)}
    out: list[PyInstr] = []
    for i, ins in enumerate(raw):
        target = None
        if ins.opcode in _JUMPS:
            if ins.argval not in index_of:
                raise frontend_error(pycode, ins.positions.lineno if ins.positions else None,
                                     f"jump to offset {ins.argval}, which starts no instruction",
                                     ins.opname)
            target = index_of[ins.argval]
        line = ins.positions.lineno if ins.positions is not None else None
        out.append(PyInstr(i, ins.offset, ins.opname, ins.opcode, ins.arg, ins.argval, line, target))
    return out


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
