"""From a CPython 3.11 code object to a ZBC `Code`: the steps in order.

1. Refuse what the front end does not translate (async generator and `types.coroutine` bodies,
   class and module bodies, refused or unknown opcodes), naming the construct, function, file and
   line. Generator and coroutine bodies translate; their Code carries the "generator" or
   "coroutine" flag instead of RETURN_GENERATOR.
2. Decode the instructions (`decode`) and the exception table (`exctable`).
3. Simulate the stack shape and lower each reachable instruction (`stacksim`, `lowering`).
4. Lay the ZBC out in CPython's order, dropping unreachable code, and map jump targets and handler
   ranges from CPython instruction indices to ZBC indices.
5. Translate nested code objects among the constants eagerly (lambdas, comprehensions, inner
   functions, generator expressions), keeping their `pycode`. A nested body that cannot run in the
   VM (a class body, an async generator, anything refused) becomes a `host` Code: the VM builds a
   real function from its `pycode` and that function runs on the host, which is exact.
"""

from __future__ import annotations

import types
from typing import Any

from zir.bytecode.code import HOST, NESTED, VARARGS, VARKEYWORDS, Code, Handler, ZInstr
from zir.errors import FrontendError
from zir.frontend import versions as v
from zir.frontend.decode import PyInstr, decode, frontend_error, line_near
from zir.frontend.exctable import ExcEntry, exception_entries
from zir.frontend.lowering import Lowerer
from zir.frontend.stacksim import Simulation, simulate
from zir.ops import ZBC_OPS, ZArg

#: ZBC mnemonics whose argument is a jump target (from the opcode table).
_JUMP_OPS = frozenset(op for op, row in ZBC_OPS.items() if row.zarg is ZArg.JUMP)
_KNOWN = v.PASSTHROUGH | v.RENAMED.keys() | v.DEPTH_ARG.keys() | v.DROPPED | v.SPECIAL


def translate(pycode: types.CodeType) -> Code:
    """The ZBC for a function body; raises `FrontendError` for what it cannot translate."""
    if not v.running_version_supported():
        want = ".".join(map(str, v.SUPPORTED_VERSION))
        raise frontend_error(pycode, pycode.co_firstlineno,
                             f"the front end reads CPython {want} bytecode only")
    instrs = decode(pycode)
    _refuse_unsupported(pycode, instrs)
    consts: list[Any] = [translate_nested(c) if isinstance(c, types.CodeType) else c
                         for c in pycode.co_consts]
    lowerer = Lowerer(pycode, instrs, consts)
    entries = exception_entries(pycode, instrs)
    sim = simulate(instrs, entries, lowerer)
    zinstrs, start = _layout(instrs, sim)
    code = _signature(pycode)
    code.instrs = zinstrs
    code.consts = consts
    code.names = list(pycode.co_names)
    code.handlers = _handlers(entries, sim, start)
    return code


def translate_nested(pycode: types.CodeType) -> Code:
    """A nested code object as a constant: translated when possible, else a `host` Code."""
    if not pycode.co_flags & v.CO_OPTIMIZED:  # a class body: __build_class__ runs it on the host
        return host_code(pycode)
    try:
        return translate(pycode)
    except FrontendError:
        return host_code(pycode)


def host_code(pycode: types.CodeType) -> Code:
    """A Code with no instructions that only carries `pycode`, for the VM to make a host function."""
    code = _signature(pycode)
    code.flags = code.flags | {HOST}
    # A class body nested in a method that uses `__class__` has that name both as its own cell and
    # as a free variable; the host function makes its cells from pycode, so ZBC keeps the free one
    # (MAKE_FUNCTION's closure tuple matches the free variables) and the cell index space stays unique.
    code.cellvars = [name for name in code.cellvars if name not in code.freevars]
    return code


def _signature(pycode: types.CodeType) -> Code:
    """A Code with `pycode`'s names, parameters, flags and location (no instructions yet)."""
    flags: set[str] = set()
    if pycode.co_flags & v.CO_VARARGS:
        flags.add(VARARGS)
    if pycode.co_flags & v.CO_VARKEYWORDS:
        flags.add(VARKEYWORDS)
    if pycode.co_flags & v.CO_NESTED:
        flags.add(NESTED)
    for bit, name in v.SUSPENDING_CODE_KINDS:
        if pycode.co_flags & bit:
            flags.add(name)
    return Code(
        name=pycode.co_name, varnames=list(pycode.co_varnames), cellvars=list(pycode.co_cellvars),
        freevars=list(pycode.co_freevars), argcount=pycode.co_argcount,
        posonlyargcount=pycode.co_posonlyargcount, kwonlyargcount=pycode.co_kwonlyargcount,
        flags=frozenset(flags), filename=pycode.co_filename, firstlineno=pycode.co_firstlineno,
        qualname=pycode.co_qualname, pycode=pycode,
    )


def _refuse_unsupported(pycode: types.CodeType, instrs: list[PyInstr]) -> None:
    """Raise for a body kind or an opcode the front end does not translate (the first one met)."""
    if not pycode.co_flags & v.CO_OPTIMIZED:
        raise frontend_error(pycode, pycode.co_firstlineno,
                             "class and module bodies are not supported (only function bodies)")
    for flag, construct, markers in v.REFUSED_CODE_KINDS:
        if pycode.co_flags & flag:
            for marker in markers:
                hits = [ins for ins in instrs if ins.opname == marker]
                if hits:
                    raise frontend_error(pycode, line_near(pycode, instrs, hits[0].index), construct, marker)
            raise frontend_error(pycode, pycode.co_firstlineno, construct)
    for ins in instrs:
        refused = v.REFUSED.get(ins.opname) or (None if ins.opname in _KNOWN else v.UNKNOWN_OPCODE)
        if refused is not None:
            raise frontend_error(pycode, line_near(pycode, instrs, ins.index), refused, ins.opname)


def _layout(instrs: list[PyInstr], sim: Simulation) -> tuple[list[ZInstr], list[int]]:
    """The ZBC in CPython's order, and for each CPython instruction the ZBC index it starts at."""
    start: list[int] = []
    out: list[ZInstr] = []
    jumps: list[ZInstr] = []
    lowered = sim.lowered.get
    mark, emit = start.append, out.append
    for k, ins in enumerate(instrs):
        mark(len(out))
        low = lowered(k)
        if low is None:
            continue  # unreachable: nothing jumps here and no handler covers a reachable path to it
        line = ins.line
        for op, arg in low.zops:
            zi = ZInstr(op, arg, line)
            emit(zi)
            if op in _JUMP_OPS:
                jumps.append(zi)
    mark(len(out))
    for zi in jumps:  # jumps: CPython instruction index -> ZBC index (removed instructions fall through)
        assert zi.arg is not None
        zi.arg = start[zi.arg]
    return out, start


def _handlers(entries: list[ExcEntry], sim: Simulation, start: list[int]) -> list[Handler]:
    """The ZBC exception table: ranges and targets as ZBC indices, depths without NULL slots."""
    out: list[Handler] = []
    for entry in entries:
        depth = sim.zbc_depth.get(entry)
        lo, hi = start[entry.start], start[entry.end]
        if depth is None or lo == hi:
            continue  # covers no reachable ZBC instruction
        handler = Handler(lo, hi, start[entry.target], depth, entry.lasti)
        prev = out[-1] if out else None
        if (prev is not None and prev.end == lo and (prev.target, prev.depth, prev.lasti)
                == (handler.target, handler.depth, handler.lasti)):
            prev.end = hi  # CPython splits ranges around removed instructions; join them again
        else:
            out.append(handler)
    return out
