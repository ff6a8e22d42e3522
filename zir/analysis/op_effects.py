"""Per-operation facts the analyses ask for every instruction, read from the opcode table once.

`OpDef.may_raise` combines `enum.Flag` values on every call, which is slow in an inner loop over
all instructions. The tables here answer from a dict by operation name: each is filled from
`zir.ops.IR_OPS` the first time a name is looked up, so a row added to the table (even at run
time, before its first use) is answered like any other.
"""

from __future__ import annotations

from zir.ops import IR_OPS


class _RowFacts(dict[str, bool]):
    """op name -> one boolean property of its `zir.ops.IR_OPS` row, computed on first lookup."""

    __slots__ = ("attr",)

    def __init__(self, attr: str) -> None:
        super().__init__()
        self.attr = attr

    def __missing__(self, op: str) -> bool:
        value = bool(getattr(IR_OPS[op], self.attr))
        self[op] = value
        return value


#: op name -> whether the operation may raise (`OpDef.may_raise`: effects include RAISE or CALLS).
MAY_RAISE: dict[str, bool] = _RowFacts("may_raise")
#: op name -> whether the operation ends a block (`OpDef.terminator`).
TERMINATOR: dict[str, bool] = _RowFacts("terminator")
