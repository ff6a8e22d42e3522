"""A tiny test helper that builds ZBC `Code` objects by meaning: operands are written as what they
mean (the constant, the global or attribute name, the local or cell name, a jump label), and the
tables are filled in. The real assembler is `zir.bytecode.assemble`; this keeps the VM tests
independent of its text syntax.

    asm("LOAD_FAST a; LOAD_CONST (1, 2); ADD; RETURN_VALUE", params=("a",))
    asm(["loop:", "JUMP loop"])                  # labels end with ':'
    asm(["LOAD_CONST", ("LOAD_CONST", code_obj)]) # a tuple gives an operand that has no text form
"""

from __future__ import annotations

import ast
from typing import Any

from zir.bytecode.code import Code, Handler, ZInstr, literal_key
from zir.ops import ZBC_OPS, ZArg


def _items(body: str | list[Any]) -> list[Any]:
    """Split `"A x; B; l:"` strings into items; tuples pass through."""
    parts = [body] if isinstance(body, str) else body
    out: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            out.extend(p.strip() for p in part.split(";") if p.strip())
        else:
            out.append(part)
    return out


def _parse(item: str) -> tuple[str, Any, bool]:
    """`"OP operand"` -> (op, operand, operand given as text)."""
    op, _, text = item.partition(" ")
    return op, text.strip() or None, True


def asm(body: str | list[Any], *, name: str = "f", params: tuple[str, ...] = (),
        cellvars: tuple[str, ...] = (), freevars: tuple[str, ...] = (),
        handlers: tuple[tuple[str, str, str, int, bool], ...] = (),
        lines: dict[str, int] | None = None, **fields: Any) -> Code:
    """Build a Code from `body` (see the module docstring). `handlers` are `(start_label,
    end_label, target_label, depth, lasti)`; `params` name the parameters in slot order
    (`argcount` defaults to their number); `lines` gives the source line of the instruction at a
    label; other `Code` fields pass through."""
    items = _items(body)
    labels: dict[str, int] = {}
    index = 0
    for item in items:
        if isinstance(item, str) and item.endswith(":"):
            labels[item[:-1]] = index
        else:
            index += 1
    line_at = {labels[k]: v for k, v in (lines or {}).items()}
    consts: list[Any] = []
    keys: list[Any] = []
    names: list[str] = []
    varnames = list(params)
    cells = list(cellvars) + list(freevars)
    instrs: list[ZInstr] = []
    for item in items:
        if isinstance(item, str) and item.endswith(":"):
            continue
        op, operand, textual = _parse(item) if isinstance(item, str) else (item[0], item[1], False)
        zarg = ZBC_OPS[op].zarg
        if zarg is ZArg.NONE:
            arg = None
        elif zarg is ZArg.CONST:
            value = ast.literal_eval(operand) if textual else operand
            key = literal_key(value)
            if key not in keys:
                consts.append(value)
                keys.append(key)
            arg = keys.index(key)
        elif zarg is ZArg.NAME:
            if operand not in names:
                names.append(operand)
            arg = names.index(operand)
        elif zarg is ZArg.LOCAL:
            if operand not in varnames:
                varnames.append(operand)
            arg = varnames.index(operand)
        elif zarg is ZArg.CELL:
            arg = cells.index(operand)
        elif zarg is ZArg.JUMP:
            arg = labels[operand]
        else:
            arg = int(operand, 0) if textual else operand
        instrs.append(ZInstr(op, arg, line_at.get(len(instrs))))
    fields.setdefault("argcount", len(params))
    table = [Handler(labels[s], labels[e], labels[t], d, lasti) for s, e, t, d, lasti in handlers]
    return Code(name, instrs=instrs, consts=consts, names=names, varnames=varnames, cellvars=list(cellvars),
                freevars=list(freevars), handlers=table, qualname=fields.pop("qualname", name), **fields)
