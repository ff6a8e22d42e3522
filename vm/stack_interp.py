"""The stack-mode interpreter: runs ZBC.

`decode(code)` turns a verified `Code` into a `Program` once: each instruction becomes a `(kind,
arg)` pair with a small-int kind and its argument resolved (the constant itself, the name string,
the implementing callable from the opcode table), and every instruction index gets its innermost
exception handler. `execute(runtime, frame, host_exc)` is the dispatch loop.

One Python call of `execute` runs a whole tree of VM calls: a call to VM code makes a `Frame`, links
it to the caller and switches to it; RETURN_VALUE switches back. Deep VM recursion therefore costs
heap, not Python stack, and is bounded by `max_depth`.

The operations with an `impl` in the opcode table are decoded by the table's generic rule into a
few kinds (unary, binary, attribute, n-ary) whose argument *is* the table's callable; no operator is
re-listed here. The rest are special: the hot ones are inline in the loop, the rare ones are small
handler functions (`SLOW_HANDLERS`).

Exceptions: the loop catches whatever an instruction raises, sets `__context__` the way CPython's
`_PyErr_SetObject` would from the exception the *program* is handling, then looks for a handler in
the current frame's table, unwinding VM frames until one has a handler or the entry frame is left
(then the exception propagates to the host caller). A `VMFault` (a step or depth limit, code that
cannot be compiled) is not catchable by VM code.
"""

from __future__ import annotations

import types
from typing import Any

from vm.binding import ParamSpec
from vm.compiler import Program
from vm.frame import Frame
from vm.generators import kind_of
from vm.runtime import FRAME_BUILTINS, Runtime, VMFault, VMFunction
from vm.semantics import (
    MISSING,
    args_for_call,
    call_while_handling,
    kwargs_for_call,
    prepare_raise,
    set_context,
)
from vm.spawn import spawn_handler
from vm.stack_ops import SLOW_HANDLERS, name_error, unbound_deref, unbound_local
from vm.suspension import CONTINUE, step_await, step_yield, step_yield_from
from zir.bytecode.code import Code
from zir.errors import VMError
from zir.ir import UNBOUND
from zir.ops import EXHAUSTED, ZBC_OPS, OpDef, ZArg

__all__ = ["KIND_NAMES", "decode", "execute"]

# Decoded instruction kinds. The loop tests them in order of measured dynamic frequency over the
# benchmark kernels (tools/kernels) at O0 and O2 alike, not in this order; CALL, CALL_KW and
# CALL_EX are one kind (the argument tells them apart) so that a call is tested for once.
KIND_NAMES = (
    "LOAD_FAST", "LOAD_PARAM", "LOAD_CONST", "STORE_FAST", "BINARY", "LOAD_GLOBAL", "ATTR",
    "POP_JUMP_IF_FALSE", "POP_TOP", "CALL", "RETURN", "POP_JUMP_IF_TRUE", "FOR_ITER", "JUMP",
    "NARY", "UNARY", "LOAD_DEREF", "STORE_DEREF", "COPY", "SWAP",
    "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP", "POP_JUMP_IF_IS", "POP_JUMP_IF_IS_NOT",
    "RAISE", "RERAISE", "SLOW", "YIELD", "FOR_ITER_BACK",
)
(K_LOAD_FAST, K_LOAD_PARAM, K_LOAD_CONST, K_STORE_FAST, K_BINARY, K_LOAD_GLOBAL, K_ATTR,
 K_POP_JUMP_IF_FALSE, K_POP_TOP, K_CALL, K_RETURN, K_POP_JUMP_IF_TRUE, K_FOR_ITER, K_JUMP,
 K_NARY, K_UNARY, K_LOAD_DEREF, K_STORE_DEREF, K_COPY, K_SWAP,
 K_JUMP_IF_FALSE_OR_POP, K_JUMP_IF_TRUE_OR_POP, K_POP_JUMP_IF_IS, K_POP_JUMP_IF_IS_NOT,
 K_RAISE, K_RERAISE, K_SLOW, K_YIELD, K_FOR_ITER_BACK) = range(len(KIND_NAMES))

FunctionType = types.FunctionType
MethodType = types.MethodType
BuiltinFunctionType = types.BuiltinFunctionType

#: Frame-reading builtins by id, with the object (ids are only trusted when the object matches).
_FRAME_BUILTINS_BY_ID = {id(k): (k, v) for k, v in FRAME_BUILTINS.items()}

# -- decoding --------------------------------------------------------------------------------------------

Decoded = tuple[int, Any]


def _decode_special(op: str, arg: Any, code: Code, params: frozenset[int]) -> Decoded | None:
    """The decoded form of an operation the loop handles by name, or None for the table's rule."""
    if op == "LOAD_FAST":
        return (K_LOAD_PARAM if arg in params else K_LOAD_FAST, arg)
    if op == "LOAD_FAST_UNCHECKED":
        return (K_LOAD_PARAM, arg)
    if op == "LOAD_CONST":
        return (K_LOAD_CONST, code.consts[arg])
    if op == "LOAD_UNBOUND":
        return (K_LOAD_CONST, UNBOUND)
    if op == "LOAD_ASSERTION_ERROR":
        return (K_LOAD_CONST, AssertionError)
    if op == "LOAD_GLOBAL":
        return (K_LOAD_GLOBAL, code.names[arg])
    if op == "CALL_KW":
        return (K_CALL, (arg,))
    if op == "CALL_EX":
        return (K_CALL, None)
    if op == "ITER_NEXT":
        return (K_UNARY, _iter_next)
    if op in _SUSPENDING:
        return (K_YIELD, _SUSPENDING[op])
    if op == "SPAWN":
        return (K_SLOW, (spawn_handler, arg))
    if op in _IS_JUMPS:
        kind, marker = _IS_JUMPS[op]
        return (kind, (arg, marker))
    simple = _SIMPLE_KINDS.get(op)
    if simple is not None:
        return (simple, arg)
    handler = SLOW_HANDLERS.get(op)
    if handler is not None:
        zarg = ZBC_OPS[op].zarg
        value = code.names[arg] if zarg is ZArg.NAME else arg
        return (K_SLOW, (handler, value))
    return None


#: Operations whose decoded argument is the ZBC argument itself.
_SIMPLE_KINDS = {
    "STORE_FAST": K_STORE_FAST, "POP_TOP": K_POP_TOP, "CALL": K_CALL,
    "RETURN_VALUE": K_RETURN, "JUMP": K_JUMP, "FOR_ITER": K_FOR_ITER,
    "FOR_ITER_BACK": K_FOR_ITER_BACK,
    "POP_JUMP_IF_FALSE": K_POP_JUMP_IF_FALSE, "POP_JUMP_IF_TRUE": K_POP_JUMP_IF_TRUE,
    "JUMP_IF_FALSE_OR_POP": K_JUMP_IF_FALSE_OR_POP, "JUMP_IF_TRUE_OR_POP": K_JUMP_IF_TRUE_OR_POP,
    "COPY": K_COPY, "SWAP": K_SWAP, "LOAD_DEREF": K_LOAD_DEREF, "STORE_DEREF": K_STORE_DEREF,
    "RAISE_VARARGS": K_RAISE, "RERAISE": K_RERAISE,
}


#: The suspending operations (vm/suspension.py): their step functions.
_SUSPENDING = {"YIELD_VALUE": step_yield, "YIELD_FROM": step_yield_from, "AWAIT": step_await}

#: Jumps on identity with a marker: kind and marker.
_IS_JUMPS = {
    "POP_JUMP_IF_NONE": (K_POP_JUMP_IF_IS, None), "POP_JUMP_IF_NOT_NONE": (K_POP_JUMP_IF_IS_NOT, None),
    "POP_JUMP_IF_EXHAUSTED": (K_POP_JUMP_IF_IS, EXHAUSTED),
}


def _iter_next(it: Any) -> Any:
    """ITER_NEXT: the next item, or EXHAUSTED (StopIteration absorbed)."""
    return next(it, EXHAUSTED)


def _decode_generic(row: OpDef, arg: Any, code: Code) -> Decoded | None:
    """The table's rule for a row with an `impl`: pop `pops(arg)` operands (bottom to top), call
    `impl(*operands, *attribute)` where the attribute is what the argument selects (a name for a
    NAME argument, the immediate for an IMM argument that is an IR attribute), push the result
    when the row pushes one."""
    if row.impl is None or not row.generic:
        return None
    if row.zarg is ZArg.NAME:
        extra: tuple[Any, ...] = (code.names[arg],)
    elif row.zarg is ZArg.IMM and row.attrs:
        extra = (arg,)
    elif row.zarg in (ZArg.NONE, ZArg.COUNT):
        extra = ()
    else:
        return None
    n = row.pops(arg or 0)
    m = row.pushes(arg or 0)
    if m > 1:
        return None
    if extra:
        if n == 1 and m == 1:
            return (K_ATTR, (row.impl, extra[0]))
        return (K_NARY, (row.impl, n, m == 1, extra))
    if n == 1 and m == 1:
        return (K_UNARY, row.impl)
    if n == 2 and m == 1:
        return (K_BINARY, row.impl)
    return (K_NARY, (row.impl, n, m == 1, ()))


def decode(code: Code) -> Program:
    """Decode a verified `Code` for the stack loop (see the module docstring)."""
    nparams = code.nparams
    # A parameter is always bound unless the code can unbind it (DELETE_FAST, or storing the
    # UNBOUND marker that stackified IR uses for `del`): its loads need no check.
    deleted = {ins.arg for ins in code.instrs if ins.op == "DELETE_FAST"}
    if any(ins.op in ("LOAD_UNBOUND", "LOAD_FAST_UNCHECKED") for ins in code.instrs):
        deleted.update(ins.arg for ins in code.instrs if ins.op == "STORE_FAST")
    params = frozenset(i for i in range(nparams) if i not in deleted)
    instrs: list[Decoded] = []
    suspends = kind_of(code)
    for index, ins in enumerate(code.instrs):
        row = ZBC_OPS.get(ins.op)
        decoded = None
        if row is not None:
            decoded = _decode_special(ins.op, ins.arg, code, params)
            if decoded is None:
                decoded = _decode_generic(row, ins.arg, code)
        if decoded is None:
            raise VMError(f"{code.where(index)}: the stack VM cannot run {ins.op}")
        instrs.append(decoded)
    handler_at: list[tuple[int, int, bool] | None] = [None] * len(instrs)
    # Handlers are listed innermost first: fill outermost first so inner entries overwrite.
    for h in reversed(code.handlers):
        for i in range(h.start, min(h.end, len(instrs))):
            handler_at[i] = (h.target, h.depth, h.lasti)
    spec = ParamSpec.from_code(code)
    return Program(code=code, spec=spec, ncellvars=len(code.cellvars), instrs=instrs, handler_at=handler_at,
                   padding=(UNBOUND,) * (spec.nlocals - spec.argcount), suspends=suspends)


# -- the loop ------------------------------------------------------------------------------------------------

def execute(rt: Runtime, entry: Frame, host_exc: BaseException | None) -> Any:
    """Run `entry` and every VM frame it calls; return `entry`'s value or raise its exception.

    `host_exc` is the exception the host was handling when it entered (for implicit chaining)."""
    LOAD_FAST, LOAD_PARAM, LOAD_CONST, STORE_FAST = K_LOAD_FAST, K_LOAD_PARAM, K_LOAD_CONST, K_STORE_FAST
    BINARY, LOAD_GLOBAL, ATTR, POP_JUMP_IF_FALSE = K_BINARY, K_LOAD_GLOBAL, K_ATTR, K_POP_JUMP_IF_FALSE
    POP_TOP, CALL, RETURN, POP_JUMP_IF_TRUE = K_POP_TOP, K_CALL, K_RETURN, K_POP_JUMP_IF_TRUE
    FOR_ITER, FOR_ITER_BACK, JUMP, NARY, UNARY = K_FOR_ITER, K_FOR_ITER_BACK, K_JUMP, K_NARY, K_UNARY
    LOAD_DEREF, STORE_DEREF = K_LOAD_DEREF, K_STORE_DEREF
    COPY, SWAP, SLOW = K_COPY, K_SWAP, K_SLOW
    JUMP_IF_FALSE_OR_POP, JUMP_IF_TRUE_OR_POP = K_JUMP_IF_FALSE_OR_POP, K_JUMP_IF_TRUE_OR_POP
    POP_JUMP_IF_IS, POP_JUMP_IF_IS_NOT = K_POP_JUMP_IF_IS, K_POP_JUMP_IF_IS_NOT
    RAISE, YIELD = K_RAISE, K_YIELD
    _UNBOUND, _MISSING, _CONTINUE = UNBOUND, MISSING, CONTINUE
    _FunctionType, _MethodType = FunctionType, MethodType
    _VMFunction, _Builtin = VMFunction, BuiltinFunctionType
    frame_for_call = rt.frame_for_call
    frame_builtins = _FRAME_BUILTINS_BY_ID
    max_depth = rt.max_depth

    limit = rt.step_budget()
    steps = 0
    base_depth = rt.depth
    if base_depth >= max_depth:
        raise rt.depth_limit_error(entry, entry)
    rt.depth = base_depth + 1
    if rt.depth > rt.peak_depth:
        rt.peak_depth = rt.depth
    # The exception the VM itself raised last, and the __context__ it must keep (Python's own
    # `raise` statement would chain the host's exception instead).
    raised: Any = None
    raised_ctx: Any = None
    frame: Any = entry
    try:
        while True:  # (re)load the current frame: after a call, a return or a caught exception
            prog = frame.prog
            instrs = prog.instrs
            stack = frame.stack
            fast = frame.fast
            cells = frame.cells
            gget = frame.globals.get
            bget = frame.builtins.get
            push = stack.append
            pop = stack.pop
            pc = frame.pc
            try:
                while True:
                    op, arg = instrs[pc]
                    pc += 1
                    steps += 1
                    if op == BINARY:
                        v = pop()
                        stack[-1] = arg(stack[-1], v)
                    elif op == LOAD_FAST:
                        v = fast[arg]
                        if v is _UNBOUND:
                            raise unbound_local(prog.code.varnames[arg])
                        push(v)
                    elif op == LOAD_PARAM:
                        push(fast[arg])
                    elif op == LOAD_CONST:
                        push(arg)
                    elif op == STORE_FAST:
                        fast[arg] = pop()
                    elif op == ATTR:
                        stack[-1] = arg[0](stack[-1], arg[1])
                    elif op == CALL:
                        # arg: n for CALL n, (n,) for CALL_KW n, None for CALL_EX (one kind, so
                        # that the loop tests for a call once)
                        kw: Any = None
                        if arg.__class__ is int:
                            if arg:
                                args: Any = stack[-arg:]
                                del stack[-arg:]
                            else:
                                args = ()
                            f = pop()
                        elif arg is not None:
                            n = arg[0]
                            names = pop()
                            args = stack[-n:]
                            del stack[-n:]
                            f = pop()
                            npos = n - len(names)
                            kw = dict(zip(names, args[npos:], strict=True))
                            del args[npos:]
                        else:
                            kw = pop()
                            args = pop()
                            f = pop()
                            if kw is not None and type(kw) is not dict:
                                kw = kwargs_for_call(f, kw)
                            if type(args) is not tuple:
                                args = args_for_call(f, args)
                        tf = type(f)
                        if tf is _FunctionType or tf is _MethodType or tf is _VMFunction:
                            callee = frame_for_call(f, args, kw)
                            if callee is not None:
                                if callee.prog.suspends is not None:  # a generator or coroutine
                                    push(callee.prog.suspends(rt, callee))
                                    continue
                                frame.pc = pc
                                if rt.depth >= max_depth:
                                    raise rt.depth_limit_error(frame, callee)
                                if steps > limit:
                                    raise rt.step_limit_error(frame)
                                rt.depth += 1
                                if rt.depth > rt.peak_depth:
                                    rt.peak_depth = rt.depth
                                callee.back = frame
                                frame = callee
                                break
                        elif tf is _Builtin or f is super:
                            special = frame_builtins.get(id(f))
                            if special is not None and special[0] is f:
                                push(special[1](frame, args, kw))
                                continue
                        if rt.handled is not None and rt.handled is not host_exc:
                            # Inside an except block: the host must see the handled exception.
                            push(call_while_handling(rt.handled, f, args, kw))
                            continue
                        push(f(*args, **kw) if kw else f(*args))
                    elif op == NARY:
                        impl, n, pushes, extra = arg
                        if n:
                            operands = stack[-n:]
                            del stack[-n:]
                            v = impl(*operands, *extra)
                        else:
                            v = impl(*extra)
                        if pushes:
                            push(v)
                    elif op == LOAD_GLOBAL:
                        v = gget(arg, _MISSING)
                        if v is _MISSING:
                            v = bget(arg, _MISSING)
                            if v is _MISSING:
                                raise name_error(arg)
                        push(v)
                    elif op == POP_JUMP_IF_TRUE:
                        if pop():
                            if steps > limit:
                                frame.pc = pc
                                raise rt.step_limit_error(frame)
                            pc = arg
                    elif op == POP_JUMP_IF_FALSE:
                        if not pop():
                            if steps > limit:
                                frame.pc = pc
                                raise rt.step_limit_error(frame)
                            pc = arg
                    elif op == RETURN:
                        v = pop()
                        if frame is entry:
                            return v
                        rt.depth -= 1
                        frame = frame.back
                        frame.stack.append(v)
                        break
                    elif op == FOR_ITER:
                        try:
                            push(next(stack[-1]))
                        except StopIteration:
                            pop()
                            pc = arg
                    elif op == JUMP:
                        if steps > limit:
                            frame.pc = pc
                            raise rt.step_limit_error(frame)
                        pc = arg
                    elif op == FOR_ITER_BACK:
                        try:
                            push(next(stack[-1]))
                        except StopIteration:
                            pop()
                        else:
                            if steps > limit:
                                frame.pc = pc
                                raise rt.step_limit_error(frame)
                            pc = arg
                    elif op == POP_TOP:
                        pop()
                    elif op == SWAP:
                        stack[-1], stack[-arg] = stack[-arg], stack[-1]
                    elif op == COPY:
                        push(stack[-arg])
                    elif op == POP_JUMP_IF_IS or op == POP_JUMP_IF_IS_NOT:
                        # arg: (target, marker), the marker None or EXHAUSTED
                        if (pop() is arg[1]) == (op == POP_JUMP_IF_IS):
                            if steps > limit:
                                frame.pc = pc
                                raise rt.step_limit_error(frame)
                            pc = arg[0]
                    elif op == UNARY:
                        stack[-1] = arg(stack[-1])
                    elif op == JUMP_IF_FALSE_OR_POP or op == JUMP_IF_TRUE_OR_POP:
                        if (not stack[-1]) == (op == JUMP_IF_FALSE_OR_POP):
                            if steps > limit:
                                frame.pc = pc
                                raise rt.step_limit_error(frame)
                            pc = arg
                        else:
                            pop()
                    elif op == LOAD_DEREF:
                        try:
                            v = cells[arg].cell_contents
                        except ValueError:
                            v = _MISSING
                        if v is _MISSING:
                            raise unbound_deref(prog.code, arg)
                        push(v)
                    elif op == STORE_DEREF:
                        cells[arg].cell_contents = pop()
                    elif op == SLOW:
                        arg[0](rt, frame, stack, arg[1])
                    elif op == RAISE:
                        if arg == 0:
                            # Bare `raise`: the handled exception, unchanged (CPython's do_raise).
                            exc = rt.handled
                            if exc is None:
                                raise RuntimeError("No active exception to reraise")
                        else:
                            cause = pop() if arg == 2 else _MISSING
                            exc = prepare_raise(pop(), cause)
                            if rt.handled is not None:
                                set_context(exc, rt.handled)
                        raised = exc
                        raised_ctx = exc.__context__
                        raise exc
                    elif op == YIELD:
                        v = arg(stack)
                        if v is not _CONTINUE:
                            # Suspend: only a generator's own frame yields, and it is always the
                            # entry of the run that resumed it (vm/generators.py).
                            frame.pc = pc - 1
                            rt.yielded = True
                            return v
                    else:  # RERAISE: the exception on the stack, unchanged
                        # Only the exception is popped, as in 3.11: an enclosing handler keeps
                        # `depth` items, which include the lasti item below it (`with` cleanup).
                        exc = pop()
                        raised = exc
                        raised_ctx = exc.__context__
                        raise exc
            except BaseException as caught:
                frame.pc = pc
                if isinstance(caught, VMFault):
                    raise
                if caught is raised:
                    if caught.__context__ is not raised_ctx:
                        caught.__context__ = raised_ctx
                else:
                    handled = rt.handled
                    if handled is not None and caught is not handled:
                        ctx = caught.__context__
                        if ctx is None or ctx is host_exc:
                            set_context(caught, handled)
                raised = raised_ctx = None
                while True:
                    where = frame.prog.handler_at[frame.pc - 1]
                    if where is not None:
                        break
                    if frame is entry:
                        raise
                    rt.depth -= 1
                    frame = frame.back
                target, depth, lasti = where
                if len(frame.stack) < depth:
                    # The handler would keep items the raising instruction already consumed
                    # (code no compiler emits): fail loudly rather than run it on a short stack.
                    raise VMFault(f"{frame.where()}: the stack holds {len(frame.stack)} items, fewer "
                                  f"than the handler's depth {depth}") from caught
                del frame.stack[depth:]
                if lasti:
                    frame.stack.append(frame.pc - 1)
                frame.stack.append(caught)
                frame.pc = target
    finally:
        rt.depth = base_depth
        rt.steps += steps
