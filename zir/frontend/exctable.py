"""Decoding CPython 3.11's exception table (`co_exceptiontable`) into instruction indices.

The format (CPython `Objects/exception_handling_notes.txt`): a sequence of entries, each four
varints -- start, length, target (in code units) and `depth << 1 | lasti`. The entries do not
overlap and are sorted by start; for each instruction the one entry covering it names the innermost
handler. Depths here are still CPython's (they count NULL stack slots); `zir.frontend.stacksim`
recomputes them for ZBC.
"""

from __future__ import annotations

import types
from collections.abc import Iterator

import attrs

from zir.frontend.decode import PyInstr, frontend_error, index_at_or_after
from zir.frontend.versions import CODE_UNIT, EXC_ENTRY_START, EXC_VARINT_BITS, EXC_VARINT_MORE


@attrs.frozen
class ExcEntry:
    """One exception-table entry, over CPython instruction indices `[start, end)`."""

    start: int
    end: int
    target: int
    depth: int  #: CPython's depth (NULL slots included)
    lasti: bool


def _varint(data: Iterator[int], first: int | None = None) -> int:
    byte = next(data) if first is None else first
    value = byte & ((1 << EXC_VARINT_BITS) - 1)
    while byte & EXC_VARINT_MORE:
        byte = next(data)
        value = (value << EXC_VARINT_BITS) | (byte & ((1 << EXC_VARINT_BITS) - 1))
    return value


def raw_entries(table: bytes) -> list[tuple[int, int, int, int, bool]]:
    """The entries of an exception table as `(start, end, target, depth, lasti)`, offsets in bytes."""
    out: list[tuple[int, int, int, int, bool]] = []
    data = iter(table)
    for first in data:
        if not first & EXC_ENTRY_START:
            raise ValueError("exception table entry does not start with a start byte")
        start = _varint(data, first) * CODE_UNIT
        end = start + _varint(data) * CODE_UNIT
        target = _varint(data) * CODE_UNIT
        depth_lasti = _varint(data)
        out.append((start, end, target, depth_lasti >> 1, bool(depth_lasti & 1)))
    return out


def exception_entries(pycode: types.CodeType, instrs: list[PyInstr]) -> list[ExcEntry]:
    """The exception table of `pycode` over the indices of `instrs` (as `decode` made them)."""
    try:
        raw = raw_entries(pycode.co_exceptiontable)
    except (ValueError, StopIteration):
        raise frontend_error(pycode, pycode.co_firstlineno, "malformed exception table") from None
    starts = {ins.offset: ins.index for ins in instrs}
    entries: list[ExcEntry] = []
    for start, end, target, depth, lasti in raw:
        if start not in starts or target not in starts:
            raise frontend_error(pycode, pycode.co_firstlineno,
                                 f"exception table entry {start}-{end} -> {target} does not fall on "
                                 "instruction boundaries")
        entries.append(ExcEntry(starts[start], index_at_or_after(instrs, end), starts[target], depth, lasti))
    return entries


def handler_of(entries: list[ExcEntry], count: int) -> list[ExcEntry | None]:
    """For each of `count` instructions, the entry that covers it (the innermost handler) or None."""
    cover: list[ExcEntry | None] = [None] * count
    for entry in entries:
        for i in range(entry.start, entry.end):
            if cover[i] is None:  # entries do not overlap; keep the first should one ever repeat
                cover[i] = entry
    return cover
