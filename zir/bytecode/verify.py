"""The ZBC verifier: nothing runs before it has checked the code.

`verify(code)` checks a `Code` and every code object nested in its constants (a worklist, no
recursion) and records each one's maximum stack depth in `Code.stacksize`. Every failure is a
`zir.VerifyError` whose message names the place: `demo.zasm:12 (function f, offset 7): ...`.

The stack check is the classic abstract interpretation of a stack machine's depth (the JVM's
type-inference verifier, Lindholm & Yellin, "The Java Virtual Machine Specification", 4.10.2,
restricted to depths; CPython's `stackdepth()` in compile.c does the same over blocks): a worklist
of instruction indices, each reached with one depth, every row's stack effect taken from the opcode
table (`pops`, `pushes`, `branch_pushes`, `reach`), a join reached with two depths is an error.
"""

from __future__ import annotations

from typing import Any

import attrs

from zir.bytecode.code import COROUTINE, FLAG_NAMES, GENERATOR, HOST, LITERAL_TYPES, Code, Handler, ZInstr
from zir.errors import VerifyError
from zir.ops import ZBC_OPS, OpDef, ZArg, suggest

__all__ = ["StackInfo", "stack_depths", "verify"]


@attrs.frozen
class StackInfo:
    """The result of the stack-depth analysis of one code object.

    `depths[i]` is the operand stack depth before instruction `i` (None when `i` is unreachable);
    `max_depth` is the largest depth the code ever reaches, handler entries included.
    """

    depths: tuple[int | None, ...]
    max_depth: int


def verify(code: Code) -> None:
    """Check `code` and every nested code constant; raise `zir.VerifyError` naming the code object,
    offset and source line of the first problem. Records `Code.stacksize` on each code object."""
    seen: set[int] = set()
    work = [code]
    while work:
        c = work.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        if not isinstance(c, Code):
            raise VerifyError(f"expected a zir.bytecode.Code, got {type(c).__name__}")
        _check_header(c)
        if HOST in c.flags:
            # A host code object only ever becomes a host function (from its pycode).
            if c.instrs or c.handlers:
                raise VerifyError(f"{c.where()}: a code object with the 'host' flag has no "
                                  "instructions or handlers")
            continue
        _check_consts(c)
        _check_instrs(c)
        _check_handlers(c)
        c.stacksize = stack_depths(c, checked=True).max_depth
        # Reversed so nested code objects are checked in constant order (first error first).
        work.extend(reversed([k for k in c.consts if isinstance(k, Code)]))


def stack_depths(code: Code, *, checked: bool = False) -> StackInfo:
    """The stack depth before every instruction of `code` (not of nested code objects).

    Raises `zir.VerifyError` for an underflow, a join reached with two depths, a handler whose
    depth exceeds the stack at a covered instruction, or code that can fall off its end. Unless
    `checked`, the instructions and handler table are first checked as `verify` does.
    """
    if not checked:
        _check_instrs(code)
        _check_handlers(code)
    instrs = code.instrs
    n = len(instrs)
    depths: list[int | None] = [None] * n
    came_from: list[int] = [-1] * n
    # For each instruction, the handler that catches its exceptions: the first covering entry.
    catcher: list[Handler | None] = [None] * n
    for entry in reversed(code.handlers):
        for i in range(entry.start, entry.end):
            catcher[i] = entry
    max_depth = 0
    depths[0] = 0
    work = [0]

    def reach(target: int, depth: int, source: int, how: str) -> None:
        old = depths[target]
        if old is None:
            depths[target] = depth
            came_from[target] = source
            work.append(target)
        elif old != depth:
            other = f"offset {came_from[target]}" if came_from[target] >= 0 else "the code's entry"
            raise VerifyError(
                f"{code.where(target)}: stack depth mismatch at a join: {depth} {how} offset "
                f"{source}, but {old} from {other}")

    while work:
        i = work.pop()
        d = depths[i]
        assert d is not None
        ins = instrs[i]
        row = ZBC_OPS[ins.op]
        arg = ins.arg if ins.arg is not None else 0
        need = row.reach(arg) if row.reach is not None else row.pops(arg)
        if d < need:
            raise VerifyError(f"{code.where(i)}: stack underflow: {_show(ins)} needs {need} "
                              f"item{'s' if need != 1 else ''}, the stack has {d}")
        after = d - row.pops(arg) + row.pushes(arg)
        max_depth = max(max_depth, d, after)
        h = catcher[i]
        if h is not None:
            if h.depth > d:
                raise VerifyError(f"{code.where(i)}: handler -> {h.target} keeps {h.depth} stack "
                                  f"item{'s' if h.depth != 1 else ''}, but the stack here has {d}")
            at = h.depth + int(h.lasti) + 1
            max_depth = max(max_depth, at)
            reach(h.target, at, i, "on the exception edge from")
        if row.zarg is ZArg.JUMP:
            assert ins.arg is not None
            branch = d - row.pops(arg) + (row.branch_pushes or row.pushes)(arg)
            max_depth = max(max_depth, branch)
            reach(ins.arg, branch, i, "jumping from")
        if not row.terminator:
            if i + 1 >= n:
                raise VerifyError(f"{code.where(i)}: execution can fall off the end of the code "
                                  f"after {_show(ins)}")
            reach(i + 1, after, i, "falling through from")
    return StackInfo(tuple(depths), max_depth)


def _show(ins: ZInstr) -> str:
    return ins.op if ins.arg is None else f"{ins.op} {ins.arg}"


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(type(s) is str for s in v)


def _check_header(c: Code) -> None:
    """The tables and signature, before any instruction is looked at."""
    if type(c.name) is not str or type(c.qualname) is not str or type(c.filename) is not str:
        raise VerifyError(f"{c.where()}: name, qualname and filename must be strings")
    if not _is_int(c.firstlineno) or c.firstlineno < 0:
        raise VerifyError(f"{c.where()}: firstlineno must be an int >= 0, not {c.firstlineno!r}")
    for field in ("names", "varnames", "cellvars", "freevars"):
        if not _is_str_list(getattr(c, field)):
            raise VerifyError(f"{c.where()}: {field} must be a list of strings")
    if not isinstance(c.flags, frozenset) or not c.flags <= FLAG_NAMES:
        raise VerifyError(f"{c.where()}: unknown flags {sorted(set(c.flags) - FLAG_NAMES)!r} "
                          f"(known: {', '.join(sorted(FLAG_NAMES))})")
    for field in ("argcount", "posonlyargcount", "kwonlyargcount"):
        v = getattr(c, field)
        if not _is_int(v) or v < 0:
            raise VerifyError(f"{c.where()}: {field} must be an int >= 0, not {v!r}")
    if c.posonlyargcount > c.argcount:
        raise VerifyError(f"{c.where()}: posonlyargcount {c.posonlyargcount} exceeds argcount {c.argcount}")
    if c.nparams > len(c.varnames):
        raise VerifyError(f"{c.where()}: the signature names {c.nparams} parameters but varnames "
                          f"has {len(c.varnames)} entries")
    for field in ("varnames", "cellvars", "freevars", "cell_names"):
        dup = _first_duplicate(getattr(c, field))
        if dup is not None:
            raise VerifyError(f"{c.where()}: {dup!r} appears twice in {field}")
    if not isinstance(c.defaults, tuple) or len(c.defaults) > c.argcount:
        raise VerifyError(f"{c.where()}: defaults must be a tuple of at most argcount "
                          f"({c.argcount}) values")
    if not isinstance(c.kwdefaults, dict):
        raise VerifyError(f"{c.where()}: kwdefaults must be a dict")
    kwonly = set(c.varnames[c.argcount:c.argcount + c.kwonlyargcount])
    for key in c.kwdefaults:
        if key not in kwonly:
            raise VerifyError(f"{c.where()}: kwdefaults names {key!r}, which is not a keyword-only parameter")
    for v in (*c.defaults, *c.kwdefaults.values()):
        _check_literal(c, v, "a default value")
    if not isinstance(c.instrs, list) or not isinstance(c.handlers, list) or not isinstance(c.consts, list):
        raise VerifyError(f"{c.where()}: instrs, consts and handlers must be lists")


def _first_duplicate(items: list[str]) -> str | None:
    seen: set[str] = set()
    for s in items:
        if s in seen:
            return s
        seen.add(s)
    return None


def _check_consts(c: Code) -> None:
    for k, v in enumerate(c.consts):
        if not isinstance(v, Code):
            _check_literal(c, v, f"constant #{k}")


def _check_literal(c: Code, value: Any, what: str) -> None:
    """Literals only (tuples/frozensets/slices of literals), so every form can spell the code."""
    work = [value]
    while work:
        v = work.pop()
        if isinstance(v, Code):
            raise VerifyError(f"{c.where()}: {what} holds a code object inside a container or "
                              "default (code objects may only be top-level constants)")
        if type(v) not in LITERAL_TYPES:
            raise VerifyError(f"{c.where()}: {what} is not a literal: {type(v).__name__} {v!r:.60}")
        if isinstance(v, (tuple, frozenset)):
            work.extend(v)
        elif isinstance(v, slice):
            work.extend((v.start, v.stop, v.step))


def _table_size(c: Code, kind: ZArg) -> int | None:
    if kind is ZArg.CONST:
        return len(c.consts)
    if kind is ZArg.NAME:
        return len(c.names)
    if kind is ZArg.LOCAL:
        return len(c.varnames)
    if kind is ZArg.CELL:
        return len(c.cellvars) + len(c.freevars)
    if kind is ZArg.JUMP:
        return len(c.instrs)
    return None


_TABLE = {ZArg.CONST: "consts", ZArg.NAME: "names", ZArg.LOCAL: "varnames",
          ZArg.CELL: "cellvars + freevars", ZArg.JUMP: "the instructions"}


#: A frame may suspend only in code with one of these flags.
_SUSPENDING_FLAGS = frozenset({GENERATOR, COROUTINE})


def _check_instrs(c: Code) -> None:
    """Every op known, every argument present or absent and in range, as its row's zarg says."""
    if not c.instrs:
        raise VerifyError(f"{c.where()}: the code has no instructions (execution falls off its end)")
    for i, ins in enumerate(c.instrs):
        if not isinstance(ins, ZInstr):
            raise VerifyError(f"{c.where(i)}: expected a ZInstr, got {type(ins).__name__}")
        if ins.line is not None and (not _is_int(ins.line) or ins.line < 0):
            raise VerifyError(f"{c.where(i)}: line must be None or an int >= 0, not {ins.line!r}")
        row: OpDef | None = ZBC_OPS.get(ins.op) if type(ins.op) is str else None
        if row is None:
            raise VerifyError(f"{c.where(i)}: unknown opcode {ins.op!r}"
                              f"{suggest(str(ins.op), list(ZBC_OPS))}")
        if row.suspends and not c.flags & _SUSPENDING_FLAGS:
            raise VerifyError(f"{c.where(i)}: {ins.op} suspends the frame, but '{c.name}' is neither a "
                              "generator nor a coroutine (give the code the 'generator' or 'coroutine' flag)")
        if row.zarg is ZArg.NONE:
            if ins.arg is not None:
                raise VerifyError(f"{c.where(i)}: {ins.op} takes no argument, got {ins.arg!r}")
            continue
        if ins.arg is None:
            raise VerifyError(f"{c.where(i)}: {ins.op} needs a {row.zarg.value} argument")
        if not _is_int(ins.arg) or ins.arg < 0:
            raise VerifyError(f"{c.where(i)}: {ins.op} argument must be an int >= 0, not {ins.arg!r}")
        size = _table_size(c, row.zarg)
        if size is not None:
            if ins.arg >= size:
                raise VerifyError(f"{c.where(i)}: {ins.op} {ins.arg}: index out of range for "
                                  f"{_TABLE[row.zarg]} ({size} entr{'y' if size == 1 else 'ies'})")
        elif ins.arg < row.zmin or (row.zmax is not None and ins.arg > row.zmax):
            upper = "" if row.zmax is None else f" and <= {row.zmax}"
            raise VerifyError(f"{c.where(i)}: {ins.op} argument {ins.arg} must be >= {row.zmin}{upper}")


def _check_handlers(c: Code) -> None:
    n = len(c.instrs)
    for k, h in enumerate(c.handlers):
        if not isinstance(h, Handler):
            raise VerifyError(f"{c.where()}: handler #{k} is not a Handler")
        fields = (h.start, h.end, h.target, h.depth)
        if not all(_is_int(v) for v in fields) or type(h.lasti) is not bool:
            raise VerifyError(f"{c.where()}: handler #{k} must have int start/end/target/depth and "
                              "a bool lasti")
        if not 0 <= h.start < h.end <= n:
            raise VerifyError(f"{c.where()}: handler #{k} covers [{h.start}, {h.end}), which is "
                              f"empty or outside the code (0..{n})")
        if not 0 <= h.target < n:
            raise VerifyError(f"{c.where()}: handler #{k} target {h.target} is outside the code (0..{n - 1})")
        if h.depth < 0:
            raise VerifyError(f"{c.where()}: handler #{k} has negative depth {h.depth}")
