"""The register-mode VM: register code compiled to Python generators, run by a trampoline.

    ZBC ──lift──> IR ──O<n> pipeline, regalloc──> allocated IR ──lower──> RegCode
        ──vm.codegen──> one Python generator function per code object (RegProgram)

Each function's register code becomes the source of one generator function whose registers and
spill slots are Python locals (`vm.codegen`). A call of VM code does not recurse on the host:
the generated code yields `(callee, args, kwargs)` to the trampoline (`vm.trampoline.execute`),
which binds the arguments, takes a frame for the callee and runs it; the result is sent back into the
caller's generator, an exception is thrown into it (`gen.throw`), so a handler in the caller catches
it where the call is. The trampoline keeps the explicit stack of suspended frames; `max_depth` bounds it.

A frame (`RFrame`) is the generator plus a small record: the program, the function object being run
(its globals, builtins and closure), the arguments as passed. With `pools=True` a frame is not thrown
away when its activation returns: the generated code of a *pooled* program is a loop that receives
the arguments of its next activation by `send`, so a per-program free list (`vm.pools.FramePool`)
hands out finished frames again, generator, register file and record included; a return is then
`yield RETURN` with the value in the record. Without pools every call makes a generator that returns
through StopIteration.

Exceptions keep CPython's `__context__` exactly (see `vm.codegen.support`). A `VMFault` (a limit, a
callee that cannot be compiled) is not catchable by VM code: every suspended frame is closed and the
fault leaves to the host.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, cast

import attrs

from vm.binding import ParamSpec, bind
from vm.codegen import RETURN, Generated, Variant, build, generate_checked, namespace
from vm.codegen.suspend import SUSPEND  # also registers the suspending rows' source forms
from vm.compiler import Compiler, Program
from vm.generators import kind_of
from vm.pools import FramePool
from vm.runtime import FRAME_BUILTINS, Runtime, VMFault, VMFunction, VMLimitError
from vm.semantics import call_while_handling, set_context
from vm.suspension import NO_FRAMES
from vm.trampoline import RFrame, execute, unconverted
from zir.bytecode.code import Code
from zir.errors import VMError, ZirError
from zir.ir import Function
from zir.regcode import RegCode

__all__ = ["CodeEnv", "RegProgram", "RegisterBackend", "RegisterRuntime"]

FunctionType = types.FunctionType
MethodType = types.MethodType


@attrs.define(slots=True, eq=False)
class RegProgram(Program):
    """A code object compiled for the register VM. Besides the `Program` fields (`instrs` and
    `handler_at` are empty: the generated function replaces them) it holds the register code `rc`,
    the allocated IR `ir` it was lowered from, the generated source `generated` and the generator
    function `genfn`, the frame pool, and the profile counters the generated code updates."""

    rc: RegCode = attrs.field(kw_only=True)
    ir: Function = attrs.field(kw_only=True)
    generated: Generated = attrs.field(kw_only=True)
    filename: str = attrs.field(kw_only=True)
    genfn: Any = attrs.field(kw_only=True, default=None)
    simple: bool = attrs.field(kw_only=True, default=False)
    argcount: int = attrs.field(kw_only=True, default=0)
    pool: FramePool | None = attrs.field(kw_only=True, default=None)
    #: The generated function calls nothing: it is called directly, not run as a generator.
    leaf: bool = attrs.field(kw_only=True, default=False)
    profile: Any = attrs.field(kw_only=True, default=None)

    @property
    def name(self) -> str:
        return self.code.qualname or self.code.name

    def line_at(self, genline: int) -> tuple[int, int] | None:
        """The (block, instruction) of generated source line `genline`, or None."""
        where = self.generated.where
        return where[genline - 1] if 0 < genline <= len(where) else None

    def source_line(self, genline: int) -> int | None:
        """The program's source line for generated line `genline` (its block's first known line)."""
        at = self.line_at(genline)
        if at is None:
            return None
        block = self.rc.blocks[at[0]]
        for i in [block.instrs[at[1]], *block.instrs]:
            if i.line is not None:
                return i.line
        return None

    def block_line(self, k: int) -> int | None:
        """The first known source line of block `k`."""
        for i in self.rc.blocks[k].instrs:
            if i.line is not None:
                return i.line
        return self.code.firstlineno


class CodeEnv:
    """The function-object view of a ZBC `Code` run directly (no function object): its globals,
    builtins and (empty) closure, under the names a function has."""

    __slots__ = ("__globals__", "__builtins__", "__closure__", "__qualname__")

    def __init__(self, globals: dict[str, Any], builtins: dict[str, Any], qualname: str) -> None:
        self.__globals__ = globals
        self.__builtins__ = builtins
        self.__closure__: tuple[Any, ...] | None = None
        self.__qualname__ = qualname


def _no_locals(name: str) -> Any:
    def refuse(frame: RFrame, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Any:
        real = FRAME_BUILTINS_BY_NAME[name]
        shown: Any = frame  # the shared builtins only read what both frame kinds have
        if name in ("eval", "exec"):
            if args and len(args) >= 2 and args[1] is not None:
                return real(shown, args, kwargs)
        elif args or kwargs:
            return real(shown, args, kwargs)
        raise VMError(f"{frame.where()}: {name}() without arguments reads the calling frame's local "
                      "variables, which the register VM keeps in registers without their Python "
                      "names; run this function with mode='stack'")
    return refuse


FRAME_BUILTINS_BY_NAME = {getattr(k, "__name__", ""): v for k, v in FRAME_BUILTINS.items()}
#: Frame-reading builtins in register mode: super() and globals() exactly; locals(), vars(), dir()
#: and eval/exec without an explicit namespace are refused (they need local variable names).
REG_FRAME_BUILTINS: dict[int, tuple[Any, Any]] = {
    id(k): (k, v if getattr(k, "__name__", "") in ("super", "globals") else _no_locals(k.__name__))
    for k, v in FRAME_BUILTINS.items()
}


class RegisterBackend:
    """Compiles verified ZBC for the register VM at one optimization level and variant (a
    `vm.compiler.Decoder`; the compiler caches its results per code object)."""

    def __init__(self, opt_level: int, variant: Variant, k: int = 16, temps: int = 8) -> None:
        self.opt_level = opt_level
        self.variant = variant
        self.k = k
        self.temps = temps
        self.runtime: RegisterRuntime | None = None
        self.programs: list[RegProgram] = []

    def lower(self, code: Code) -> tuple[Function, RegCode]:
        """ZBC -> allocated IR -> register code.

        The register budget is `k` general registers plus `temps` for spill code, raised for a
        function that needs more registers at once than that (an instruction with more operands,
        e.g. a call with 30 arguments, or more parameters): registers are Python locals in the
        generated code, so the VM gives such a function the general registers it needs instead
        of refusing it (`passes.regalloc.registers_needed`)."""
        import passes
        import zir
        from passes.regalloc import registers_needed

        f = zir.lift(code)
        passes.PassManager.parse(f"O{self.opt_level}").run(f)
        k = max(self.k, registers_needed(f) - self.temps)
        passes.PassManager.parse(f"regalloc{{k={k},temps={self.temps}}}").run(f)
        return f, zir.lower(f)

    def decode(self, code: Code) -> RegProgram:
        """The `RegProgram` of verified ZBC `code` (the Compiler's decoder for register mode)."""
        rt = self.runtime
        assert rt is not None, "RegisterBackend.runtime is set by RegisterRuntime"
        f, rc = self.lower(code)
        qualname = code.qualname or code.name
        filename = f"<zir-register {qualname} O{self.opt_level} {code.filename}:{code.firstlineno}>"
        name = "_zir_" + _ident(code.name)
        # A function that calls nothing is a plain Python function (a leaf): no generator, no frame
        # to keep between calls. Only the others need the pooled form.
        gen, pycode = generate_checked(rc, attrs.evolve(self.variant, pooled=False), name, filename)
        if not gen.leaf and self.variant.pooled:
            gen, pycode = generate_checked(rc, self.variant, name, filename)
        spec = ParamSpec.from_code(code)
        spec = attrs.evolve(spec, nlocals=code.nparams)
        suspends = kind_of(code)
        # A generator or coroutine is never `simple`: no call site may run its body in place as a
        # leaf (calling it makes its object), and the trampoline binds its arguments.
        prog = RegProgram(code=code, spec=spec, ncellvars=len(code.cellvars), instrs=[], handler_at=[],
                          rc=rc, ir=f, generated=gen, filename=filename,
                          simple=spec.simple and suspends is None, argcount=spec.argcount, leaf=gen.leaf,
                          suspends=suspends)
        prog.profile = rt.profiler.program(prog) if rt.profiler is not None else None
        if self.variant.pooled:
            prog.pool = FramePool(prog, rt.pool_cap)
        instruments = rt.instruments(prog)
        prog.genfn = build(gen, pycode, filename, rt.names, instruments)
        self.programs.append(prog)
        return prog


def _ident(name: str) -> str:
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out.isidentifier() else "_" + out


class RegisterRuntime(Runtime):
    """The shared runtime services (`vm.runtime.Runtime`) with register-VM frames, pools and the
    exception bookkeeping the generated code needs (`handled`, plus `raised`/`raised_ctx`/`host_exc`,
    see `vm.codegen.support`)."""

    def __init__(self, compiler: Compiler, backend: RegisterBackend, max_steps: int | None, max_depth: int,
                 pools: bool, profiler: Any = None, pool_cap: int = 64) -> None:
        run: Any = execute  # the register loop takes register frames
        super().__init__(compiler, run, max_steps, max_depth)
        self.backend = backend
        backend.runtime = self
        self.pools = pools
        self.pool_cap = pool_cap
        self.profiler = profiler
        #: VM generators resume their frames directly (vm/generators.py) when nothing is profiled.
        self.direct = profiler is None
        self.raised: BaseException | None = None
        self.raised_ctx: BaseException | None = None
        #: (value sent in, exception thrown in) for the next run of a suspended frame (`resume`).
        self.resuming: tuple[Any, BaseException | None] | None = None
        #: The request a resumed frame made before the trampoline took over (`resume`), or None.
        self.made: Any = None
        self.host_exc: BaseException | None = None
        #: The frame stacks of the trampolines running now (nested runs included), for the depth.
        self.stacks: list[list[RFrame]] = []
        #: The frames of the levels below the innermost one (its depth before its entry), so that a
        #: level's depth is `below + len(stacks[-1]) + 2` without a sum over the levels.
        self.below = 0
        self.frame_builtins = REG_FRAME_BUILTINS
        self.names = namespace(self)

    # -- what the generated code needs per program ------------------------------------------------

    def instruments(self, prog: RegProgram) -> dict[str, Any]:
        """The per-program objects its code uses: its frame pool (a pooled frame returns itself
        there), the profile counters, the step limit."""
        out: dict[str, Any] = {}
        if prog.pool is not None:
            out["_POOL"] = prog.pool
            out["_FREE"] = prog.pool.free
        if self.profiler is not None and prog.profile is not None:
            out.update(prog.profile.instruments())
        if self.max_steps is not None:
            out["_LIMIT"] = self.max_steps

            def steps_exceeded(frame: RFrame, block: int) -> VMLimitError:
                line = frame.prog.block_line(block)
                return VMLimitError(f"{frame.prog.code.filename}:{line} (function {frame.prog.name}): "
                                    f"step limit exceeded (max_steps={self.max_steps})")
            out["_STEPS"] = steps_exceeded
        return out

    # -- frames ------------------------------------------------------------------------------------

    def activation(self, prog: RegProgram, func: Any, args: Sequence[Any]) -> RFrame:
        """A frame running `prog` for function object `func` with bound `args`, not started (a
        leaf program's frame is only the record: it is called, not resumed)."""
        if self.pools:
            pool = prog.pool
            assert pool is not None
            frame = pool.take()
        else:
            frame = RFrame()
            frame.prog = prog
            frame.ret = None
            if prog.leaf:
                frame.gen = frame.send = None
            else:
                frame.gen = prog.genfn(frame, *args)
                frame.send = frame.gen.send
        frame.func = func
        frame.args = args
        self.frames += 1
        return frame

    def plain_frames(self, prog: RegProgram) -> Any:
        """Without pools: a maker of `prog`'s frames for a call site (function object, bound
        arguments) -> a new frame whose generator holds the arguments."""
        def make(func: Any, args: Sequence[Any]) -> RFrame:
            frame = RFrame()
            frame.prog, frame.func, frame.args, frame.ret = prog, func, args, None
            frame.gen = gen = prog.genfn(frame, *args)
            frame.send = gen.send
            return frame
        return make

    def new_frame(self, prog: Program, qualname: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
                  defaults: tuple[Any, ...] | None, kwdefaults: dict[str, Any] | None,
                  closure: tuple[Any, ...] | None, globals: dict[str, Any], builtins: dict[str, Any],
                  func: Any) -> Any:
        """The entry frame of a run (the facade's `VM.run`): arguments bound as CPython binds them."""
        assert isinstance(prog, RegProgram)
        bound = bind(prog.spec, qualname, args, kwargs, defaults, kwdefaults)
        env = func if func is not None else CodeEnv(globals, builtins, qualname)
        return self.activation(prog, env, bound)

    def frame_for_call(self, f: Any, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Any:
        """The frame for calling `f(*args, **kwargs)` in the VM (arguments bound, not started), or
        None when `f` runs on the host: what the trampoline does for a call, for SPAWN."""
        if type(f) is MethodType and type(f.__func__) in (FunctionType, VMFunction):
            args = (f.__self__, *args)
            f = f.__func__
        prog: Any
        if type(f) is FunctionType:
            code = f.__code__
            known = self.programs.get(id(code))
            prog = known[1] if known is not None and known[0] is code else self._compile_callee(f)
        elif type(f) is VMFunction:
            prog = self.program_of(f)
        else:
            return None
        if prog is None:
            return None
        if kwargs is not None or not prog.spec.simple or len(args) != prog.argcount:
            args = bind(prog.spec, f.__qualname__, args, kwargs, f.__defaults__, f.__kwdefaults__)
        return self.activation(prog, f, args)

    def first_step(self, frame: Any) -> Any:
        """Run a new coroutine frame until it suspends or returns (SPAWN's first step): a frame
        that calls nothing and never suspends (a leaf) is just called, without a trampoline, and
        any other is sent into as `send_in` does."""
        prog = frame.prog
        if self.profiler is not None:
            return execute(self, frame, None)
        if not prog.leaf:
            return self.send_in(frame, frame.args if self.pools else None, None, None)
        try:
            return prog.genfn(frame, *frame.args)
        finally:
            if self.pools:
                prog.pool.give(frame)

    def resume(self, frame: RFrame, value: Any, exc: BaseException | None, started: bool,
               host_exc: BaseException | None) -> Any:
        """Run a generator's or coroutine's frame on (vm/generators.py): from its start, or, when
        `started`, with `value` sent into (or `exc` thrown into) the `yield` it stopped at."""
        if not started or self.profiler is not None:
            if started:
                self.resuming = (value, exc)
            return execute(self, frame, host_exc)
        return self.send_in(frame, value, exc, host_exc)

    def send_in(self, frame: RFrame, value: Any, exc: BaseException | None,
                host_exc: BaseException | None, made: Any = None) -> Any:
        """Run the entry frame of a run on with `value` sent in (`exc` thrown in), as `execute`
        would, but without a trampoline while the frame only calls host functions, suspends or
        returns (a generator's next item, a VM task's step: `await asyncio.sleep(0)`). The first
        request for a VM frame hands over to the trampoline (`made`). The bookkeeping is
        `execute`'s for an entry frame and its host calls: its depth counts for runs nested in it,
        an exception is marked (`propagating`) and thrown into the frame, PEP 479's RuntimeError is
        undone. Not for a profiled run. `made` is the request the frame already made (a VM
        generator's direct resumption, vm/generators.py, went as far as that): it is handled first,
        as if the frame had just made it."""
        stacks = self.stacks
        # the levels below, each its frames plus its entry
        depth = self.below + len(stacks[-1]) + 2 if stacks else 1
        if depth > self.max_depth:
            raise self.depth_error(frame, frame.prog.name)
        if depth > self.peak_depth:
            self.peak_depth = depth
        stacks.append(NO_FRAMES)  # this frame's level, for runs nested in it
        below, self.below = self.below, depth - 1
        saved_host, self.host_exc = self.host_exc, host_exc
        programs = self.programs
        escaped: BaseException | None = None
        try:
            while True:
                if made is not None:
                    req, made = made, None
                else:
                    try:
                        req = frame.send(value) if exc is None else frame.gen.throw(exc)
                    except StopIteration as stop:
                        return stop.value
                    except BaseException as e:
                        if isinstance(e, VMFault):
                            raise
                        out = self.leaving(e)
                        if out is e:
                            raise
                        escaped = out
                        break
                if req is RETURN:  # a pooled frame returned
                    value = frame.ret
                    frame.ret = None
                    return value
                if type(req) is not tuple:  # a bound VM frame to call
                    break
                f = req[0]
                if f is SUSPEND:
                    self.yielded = True
                    return req[1]
                # a call the trampoline would make on the host: a known host function, or
                # anything that is not a function, a method or a VM function
                tf = type(f)
                if tf is FunctionType:
                    code = f.__code__
                    known = programs.get(id(code))
                    if known is None or known[0] is not code or known[1] is not None:
                        break
                elif tf is MethodType or tf is VMFunction:
                    break
                exc = None
                try:
                    h = self.handled
                    if h is None or h is self.host_exc:  # `host_call` without its call
                        kw = req[2]
                        value = f(*req[1], **kw) if kw else f(*req[1])
                    else:
                        value = call_while_handling(h, f, req[1], req[2])
                except BaseException as e:  # noqa: BLE001 -- the frame's exception, thrown into it
                    if isinstance(e, VMFault):
                        raise
                    self.propagating(e)
                    exc = e
        finally:
            stacks.pop()
            self.below = below
            self.host_exc = saved_host
            self.raised = self.raised_ctx = None
        if escaped is not None:
            raise escaped  # outside the handler, so Python chains nothing to it (as `execute`)
        self.resuming = (None, None)
        self.made = req
        return execute(self, frame, host_exc)

    def frame_for_vmfunction(self, f: VMFunction, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Any:
        prog = self.program_of(f)
        builtins: dict[str, Any] = cast(Any, f).__builtins__
        return self.new_frame(prog, f.__qualname__, args, kwargs, f.__defaults__, f.__kwdefaults__,
                              f.__closure__, f.__globals__, builtins, f)

    def program_of(self, f: VMFunction) -> RegProgram:
        """The program of a VM function object (a VMFault when it cannot be compiled)."""
        try:
            prog = self.compiler.for_code(f.__code__)
        except ZirError as e:
            raise VMFault(f"cannot compile {f.__qualname__} for the VM: {e}") from e
        assert isinstance(prog, RegProgram)
        return prog

    def depth_error(self, caller: RFrame, callee: str) -> VMLimitError:
        return VMLimitError(f"{caller.where()}: VM call depth limit exceeded (max_depth={self.max_depth}) "
                            f"calling {callee}")

    # -- exceptions --------------------------------------------------------------------------------

    def leaving(self, e: BaseException) -> BaseException:
        """An exception `e` (not a VMFault) leaves an entry frame sent into: what its resumer is to
        raise, marked (`propagating`). That is `e`, unless it is the RuntimeError Python made of a
        StopIteration the frame raised (`unconverted`): the resumer raises that StopIteration,
        outside its own handler, so Python chains nothing to it."""
        if type(e) is RuntimeError and e.__traceback__.tb_next is None:  # type: ignore[union-attr]
            e = unconverted(e)
        self.propagating(e)
        return e

    def propagating(self, e: BaseException) -> None:
        """`e` leaves a frame without being caught there: give it CPython's context now (it was just
        raised, unless marked) and mark it, so the caller's handler keeps that context."""
        if e is self.raised:
            if e.__context__ is not self.raised_ctx:
                e.__context__ = self.raised_ctx
            return
        h = self.handled
        if h is not None and e is not h:
            ctx = e.__context__
            if ctx is None or ctx is self.host_exc:
                set_context(e, h)
        self.raised = e
        self.raised_ctx = e.__context__

    def host_call(self, f: Any, args: Sequence[Any], kw: dict[str, Any] | None) -> Any:
        """Call `f` on the host from the trampoline (a callee that does not run in the VM)."""
        h = self.handled
        if h is not None and h is not self.host_exc:
            return call_while_handling(h, f, args, kw)
        return f(*args, **kw) if kw else f(*args)
