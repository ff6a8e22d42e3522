"""The register VM's frames and the trampoline that runs them (vm/register_vm.py compiles the
programs and keeps the runtime).

A frame (`RFrame`) is a generated generator plus a small record. A call of VM code does not recurse
on the host: the caller's generated code yields `(callee, args, kwargs)`, or its callee's frame
bound, to the trampoline (`execute`), which keeps the explicit stack of suspended frames, runs the
callee and sends its result back into the caller (an exception is thrown into it, so the caller's
handler catches it where the call is). `max_depth` bounds the stack; a `VMFault` closes every
suspended frame (`_abandon`) and leaves to the host.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import FunctionType, MethodType
from typing import TYPE_CHECKING, Any

from vm.binding import bind
from vm.codegen import RETURN
from vm.runtime import VMFault, VMFunction
from vm.suspension import SUSPEND
from zir.ir import UNBOUND

if TYPE_CHECKING:
    from vm.register_vm import RegisterRuntime, RegProgram

__all__ = ["RFrame", "execute", "unconverted"]


class RFrame:
    """One activation record of the register VM (see the module docstring)."""

    __slots__ = ("prog", "gen", "send", "func", "args", "ret")

    prog: RegProgram
    gen: Any
    send: Any
    func: Any
    args: Sequence[Any]
    ret: Any

    # -- what the shared runtime services read (make_function, the frame-reading builtins) --------

    @property
    def globals(self) -> dict[str, Any]:
        g: dict[str, Any] = self.func.__globals__
        return g

    @property
    def builtins(self) -> dict[str, Any]:
        b: dict[str, Any] = self.func.__builtins__
        return b

    @property
    def cells(self) -> list[Any]:
        """The cell objects (cellvars, then freevars) of the running activation."""
        n = len(self.prog.code.cellvars) + len(self.prog.code.freevars)
        frame = self.gen.gi_frame
        local = frame.f_locals if frame is not None else {}
        return [local.get(f"c{k}") for k in range(n)]

    @property
    def fast(self) -> list[Any]:
        """The parameters as passed, then UNBOUND: registers hold no Python names, so this is what
        `super()` can read for its first argument."""
        return [*self.args, *(UNBOUND,) * (len(self.prog.code.varnames) - len(self.args))]

    def where(self) -> str:
        """`file:line (function name)` of the instruction this frame is executing."""
        prog = self.prog
        frame = self.gen.gi_frame if self.gen is not None else None
        line = prog.source_line(frame.f_lineno) if frame is not None else None
        if line is None:
            line = prog.code.firstlineno
        return f"{prog.code.filename}:{line} (function {prog.name})"

    def __repr__(self) -> str:
        return f"<register vm frame {self.prog.name}>"


def unconverted(e: RuntimeError) -> BaseException:
    """The StopIteration a frame raised, when Python turned it into "generator raised
    StopIteration" as it left the frame's generated generator (PEP 479 applies to the generated
    code, not to the program); made at the frame boundary, that RuntimeError has a one-entry
    traceback. Any other RuntimeError is itself."""
    cause = e.__cause__
    if isinstance(cause, StopIteration) and e.args == ("generator raised StopIteration",):
        return cause
    return e




def _replaying(req: Any, send: Any) -> Any:
    """`send` for a frame whose next request `req` was already made: the first call answers with
    `req`, later ones are `send` (the trampoline replaces it at its first switch of frames)."""
    pending = [req]

    def replay(value: Any) -> Any:
        return pending.pop() if pending else send(value)
    return replay


def _abandon(frames: Sequence[RFrame], fault: BaseException) -> None:
    """Close suspended frames after a fault: the fault is thrown into each (generated code lets it
    through), so no handler of the program runs and no frame returns to a pool."""
    for frame in reversed(frames):
        gen = frame.gen
        if gen is None or gen.gi_frame is None:
            continue
        try:
            gen.throw(fault)
        except BaseException:  # noqa: BLE001,S110 -- the fault comes back out; nothing else can
            pass


def execute(rt: RegisterRuntime, entry: RFrame, host_exc: BaseException | None) -> Any:
    """Run `entry` and every VM frame it calls; return its value or raise its exception (the
    `Execute` of `vm.runtime`). `host_exc` is what the host was handling when it entered."""
    stacks = rt.stacks
    base = rt.below + len(stacks[-1]) + 1 if stacks else 0
    if base >= rt.max_depth:
        raise rt.depth_error(entry, entry.prog.name)
    frames: list[RFrame] = []
    push, pop = frames.append, frames.pop
    stacks.append(frames)
    below, rt.below = rt.below, base
    saved_host, rt.host_exc = rt.host_exc, host_exc
    limit = rt.max_depth - base - 1
    pooled = rt.pools
    programs = rt.programs
    profiled = rt.profiler is not None
    _RETURN, _RFrame = RETURN, RFrame
    _FunctionType, _MethodType, _VMFunction = FunctionType, MethodType, VMFunction
    frame = entry
    send = frame.send
    value: Any = entry.args if pooled else None
    exc: BaseException | None = None
    escaped: BaseException | None = None
    if rt.resuming is not None:  # a suspended generator or coroutine frame goes on
        value, exc = rt.resuming
        rt.resuming = None
        if rt.made is not None:  # it already made this request (`RegisterRuntime.resume`)
            send = _replaying(rt.made, send)
            rt.made = None
    peak = 0
    calls = 0  # frames made here (rt.frames counts them, added at the end)
    try:
        if frame.prog.leaf:
            try:
                return frame.prog.genfn(frame, *frame.args)
            except BaseException as e:
                if profiled and not isinstance(e, VMFault):
                    rt.profiler.left(frame.prog, e)
                raise
            finally:
                if pooled:
                    frame.prog.pool.give(frame)  # type: ignore[union-attr]
        while True:
            try:
                if exc is None:
                    req = send(value)
                else:
                    thrown, exc = exc, None
                    req = frame.gen.throw(thrown)
            except StopIteration as stop:
                value = stop.value
                if not frames:
                    return value
                frame = pop()
                send = frame.send
                continue
            except BaseException as e:
                if isinstance(e, VMFault):
                    raise
                out = rt.leaving(e)  # (marked; PEP 479's RuntimeError undone)
                if out is not e:
                    escaped = e = out
                if profiled:
                    rt.profiler.left(frame.prog, e)
                if not frames:
                    if e is escaped:
                        break  # raised below, outside this handler, so Python chains nothing to it
                    raise
                frame = pop()
                send = frame.send
                exc = e
                continue
            if req is _RETURN:  # a pooled frame returned (and went back to its pool itself)
                value = frame.ret
                frame.ret = None
                if not frames:
                    return value
                frame = pop()
                send = frame.send
                continue
            if type(req) is _RFrame:  # a call its site resolved: the callee's frame, bound
                n = len(frames)
                if n >= limit:
                    raise rt.depth_error(frame, req.prog.name)
                if n >= peak:
                    peak = n + 1
                calls += 1
                push(frame)
                frame = req
                send = req.send
                value = req.args if pooled else None
                continue
            # a call of something that may be VM code: (callee, args, kwargs)
            f, args, kw = req
            tf = type(f)
            if tf is _MethodType:
                func = f.__func__
                tfunc = type(func)
                if tfunc is _FunctionType or tfunc is _VMFunction:
                    args = (f.__self__, *args)
                    f, tf = func, tfunc
            prog: Any = None
            if tf is _FunctionType:
                code = f.__code__
                known = programs.get(id(code))
                prog = known[1] if known is not None and known[0] is code else rt._compile_callee(f)
            elif tf is _VMFunction:
                prog = rt.program_of(f)
            if prog is None:
                if f is SUSPEND:  # the frame suspends: it is the entry of this run (vm/generators.py)
                    if frames:
                        raise VMFault(f"{frame.where()}: a frame that is not the run's entry suspended")
                    rt.yielded = True
                    return args
                try:
                    value = rt.host_call(f, args, kw)
                except BaseException as e:  # noqa: BLE001 -- the caller's exception, thrown into it
                    if isinstance(e, VMFault):
                        raise
                    rt.propagating(e)
                    exc = e
                continue
            if kw is not None or not prog.simple or len(args) != prog.argcount:
                defaults = f.__defaults__
                short = prog.argcount - len(args)
                if kw is None and prog.simple and defaults is not None and 0 < short <= len(defaults):
                    # fewer positional arguments than parameters, defaults for the rest: as bind does
                    args = (*args, *defaults[len(defaults) - short:])
                else:
                    try:
                        args = bind(prog.spec, f.__qualname__, args, kw, defaults, f.__kwdefaults__)
                    except BaseException as e:  # noqa: BLE001 -- CPython's TypeError, raised at the call
                        rt.propagating(e)
                        exc = e
                        continue
            n = len(frames)
            if n >= limit:
                raise rt.depth_error(frame, prog.name)
            if n >= peak:
                peak = n + 1
            callee = rt.activation(prog, f, args)
            if prog.suspends is not None:  # a generator or coroutine: make its object, run nothing
                value = prog.suspends(rt, callee)
                continue
            if prog.leaf:
                try:
                    value = prog.genfn(callee, *args)
                except BaseException as e:  # noqa: BLE001 -- the caller's exception, thrown into it
                    if isinstance(e, VMFault):
                        raise
                    rt.propagating(e)
                    if profiled:
                        rt.profiler.left(prog, e)
                    exc = e
                if pooled:
                    prog.pool.give(callee)
                continue
            push(frame)
            frame = callee
            send = callee.send
            value = args if pooled else None
        raise escaped
    except VMFault as fault:
        _abandon([*frames, frame], fault)
        raise
    finally:
        rt.frames += calls
        stacks.pop()
        rt.below = below
        rt.host_exc = saved_host
        rt.raised = rt.raised_ctx = None
        depth = base + peak + 1
        if depth > rt.peak_depth:
            rt.peak_depth = depth
