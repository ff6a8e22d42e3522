"""`vm.VM`, the facade: configure a machine once, then `run` and `compile` targets on it.

    machine = vm.VM(mode="stack")
    machine.run(fn, 3, 4)                 # fn(3, 4) run in the VM; same value/exception/stdout as CPython
    machine.run(obj.method, 1)            # a bound method: its __func__ runs with self bound
    machine.run(code, 1, globals=env)     # a ZBC Code, with its own defaults, in a globals dict
    run = machine.compile(fn)             # compile ahead of time (cached per code object) ...
    run(3, 4)                             # ... and call the result to run it in this VM
    machine.stats()                       # counters

Modes: `mode="stack"` runs ZBC on the stack interpreter (vm/stack_interp.py); `mode="register"`, the
default, runs register code compiled to Python generators (vm/register_vm.py), with frame pools
(`pools=True`) and the instruction profiler (`profile=`, vm/profiler.py; `machine.profile_report()`).
Optimization levels 1 and 2 need issue 5's lifting, passes and stackify (vm/compiler.py wires them in).
"""

from __future__ import annotations

import builtins
import types
from typing import Any, cast

import attrs

from vm.compiler import Compiler, Program
from vm.frame import Frame
from vm.generators import VMCoroutine
from vm.profiler import Profiler
from vm.runtime import Runtime, VMFunction, builtins_of
from vm.stack_interp import decode, execute
from vm.tasks import task_stats
from zir.bytecode.code import Code
from zir.errors import VMError

__all__ = ["DEFAULT_MAX_DEPTH", "MODES", "PROFILES", "VM", "Compiled"]

MODES = ("register", "stack")
PROFILES = ("none", "basic", "detailed", "full")
#: VM frames allowed at once (nested runs included); deep enough for ordinary recursion, small
#: enough that a runaway recursion ends quickly. Raise it for deliberately deep programs.
DEFAULT_MAX_DEPTH = 2000


@attrs.define(eq=False)
class Compiled:
    """What `VM.compile` returns: a target compiled for one machine. Calling it runs the target in
    that machine (`machine.run(target, ...)`); `program` is the compiled form and `code` the ZBC
    that runs (after optimization at O1/O2). A ZBC `Code` target keeps the globals dict it was
    compiled with (a fresh one unless `globals=` was given), shared by every call."""

    machine: VM
    target: Any
    program: Program
    globals: dict[str, Any] | None = None

    @property
    def code(self) -> Any:
        """The ZBC `Code` the machine runs."""
        return self.program.code

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.machine.run(self.target, *args, globals=self.globals, **kwargs)


class VM:
    """A virtual machine: mode, optimization level and limits, with its compiled-code cache.

    `max_steps` (None: unlimited) ends a program with `zir.VMError` after that many executed
    instructions (ZBC instructions in stack mode, checked at every jump and call; register-code
    instructions in register mode, counted a whole block at a time as each block starts), counted
    over the machine's lifetime; a run nested inside a host call (host code calling a VM function)
    is held to the budget left when it starts. `max_depth` ends it when more VM frames than that
    are active at once (nested runs included). Both errors name the function and line, and VM code
    cannot catch them. `pools` reuses register-VM frames (vm/pools.py); the stack mode allocates
    plainly. `profile` selects the profiler level ("none", "basic", "detailed", "full").
    """

    def __init__(self, mode: str = "register", opt_level: int = 0, profile: str = "none", pools: bool = True,
                 max_steps: int | None = None, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        if mode not in MODES:
            raise VMError(f"unknown VM mode {mode!r}; expected one of: {', '.join(MODES)}")
        if isinstance(opt_level, bool) or opt_level not in (0, 1, 2):
            raise VMError(f"opt_level must be 0, 1 or 2, not {opt_level!r}")
        if profile not in PROFILES:
            raise VMError(f"unknown profile level {profile!r}; expected one of: {', '.join(PROFILES)}")
        if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int)
                                      or max_steps < 0):
            raise VMError(f"max_steps must be None or a non-negative int, not {max_steps!r}")
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 1:
            raise VMError(f"max_depth must be a positive int, not {max_depth!r}")
        self.mode = mode
        self.opt_level = opt_level
        self.profile = profile
        self.pools = bool(pools)
        self.max_steps = max_steps
        self.max_depth = max_depth
        self._profiler = Profiler(profile, mode) if profile != "none" else None
        self._runtime: Runtime
        if mode == "register":
            from vm.codegen import Variant
            from vm.register_vm import RegisterBackend, RegisterRuntime

            variant = Variant(pooled=self.pools, steps=max_steps is not None, profile=profile)
            backend = RegisterBackend(opt_level, variant)
            self._compiler = Compiler(opt_level, backend.decode, lowers=True)
            self._runtime = RegisterRuntime(self._compiler, backend, max_steps, max_depth, self.pools,
                                            self._profiler)
        else:
            self._compiler = Compiler(opt_level, decode)
            loop = self._profiler.stack_execute() if self._profiler is not None else execute
            self._runtime = Runtime(self._compiler, loop, max_steps, max_depth)
            self._runtime.profiler = self._profiler

    def run(self, target: Any, /, *args: Any, globals: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Run `target(*args, **kwargs)` in the VM and return its value (or raise its exception).

        `target` is a Python function or lambda, a bound method whose `__func__` is one, a ZBC
        `zir.bytecode.Code` (verified first; it runs with its own `defaults`/`kwdefaults`), or a VM
        function object. Anything else (a builtin, a class, a partial) is refused with
        `zir.VMError`. `globals` (keyword-only, so a target cannot receive a keyword argument of
        that name through `run`) is the globals dict for a `Code` target; by default each run of a
        Code gets a fresh dict holding only `__builtins__`. A Python function always runs in its
        own `__globals__`.

        A generator function's run returns its VM generator (vm/generators.py), as calling it
        would; an `async def` runs to completion on an event loop of its own (`asyncio.run`), so
        `run` gives its result. Inside a running event loop, use `await machine.run_async(...)`."""
        frame = self._entry_frame(target, args, kwargs, globals)
        value = self._runtime.run(frame)
        if frame.prog.suspends is VMCoroutine:
            import asyncio

            return asyncio.run(value)
        return value

    async def run_async(self, target: Any, /, *args: Any, globals: dict[str, Any] | None = None,
                        **kwargs: Any) -> Any:
        """`await target(*args, **kwargs)` run in the VM, inside the running event loop: the VM
        coroutine is awaited by the caller's task; host awaitables it awaits (asyncio.sleep,
        futures, I/O) suspend it there. A target that is not a coroutine function just runs."""
        frame = self._entry_frame(target, args, kwargs, globals)
        value = self._runtime.run(frame)
        if frame.prog.suspends is VMCoroutine:
            return await value
        return value

    def compile(self, target: Any, /, *, globals: dict[str, Any] | None = None) -> Compiled:
        """Compile `target` (as `run` accepts it) without running it; the work is cached per code
        object. Returns a `Compiled`: call it to run the target here. For a ZBC `Code`, `globals`
        is the dict its runs use (default: a fresh one, made now)."""
        fn, _ = self._unwrap(target)
        if isinstance(fn, types.FunctionType):
            self._refuse_globals(fn, globals)
            return Compiled(self, target, self._compiler.for_function(fn))
        if isinstance(fn, VMFunction):
            return Compiled(self, target, self._compiler.for_code(fn.__code__))
        if isinstance(fn, Code):
            env = globals if globals is not None else {"__builtins__": builtins}
            return Compiled(self, target, self._compiler.for_code(fn), env)
        raise self._refusal(target)

    def stats(self) -> dict[str, Any]:
        """Counters since the machine was made: executed instructions, VM calls (frames made),
        deepest VM call depth, code objects compiled, callees run on the host because the front
        end refused them; in register mode the frame pools (`pools`: hits, misses, reuse rate,
        peak free-list size, per code object); VM tasks (`tasks`: spawned, AWAIT fast-path hits,
        tasks finished inside SPAWN, suspensions, cancellations, task-object pool reuse). Register
        mode counts executed instructions only when something needs them (`max_steps` or a
        profile; else `instructions` is None)."""
        rt = self._runtime
        extra: dict[str, Any] = {}
        if self.mode == "register":
            from vm.pools import pool_stats
            from vm.register_vm import RegisterRuntime

            assert isinstance(rt, RegisterRuntime)
            progs = rt.backend.programs
            extra["pools"] = {"enabled": self.pools,
                              **pool_stats(p.pool for p in progs if p.pool is not None)}
            if self.max_steps is None:
                counted = self._profiler.total_instructions() if self._profiler is not None else None
                extra["instructions"] = counted
        return {
            "mode": self.mode,
            "opt_level": self.opt_level,
            "instructions": rt.steps,
            "calls": rt.frames,
            "peak_depth": rt.peak_depth,
            "compiled": self._compiler.compiled,
            "host_fallbacks": self._compiler.host_fallbacks,
            "tasks": task_stats(rt),
            **extra,
        }

    def profile_report(self, format: str = "text") -> str:
        """The profile gathered so far as "text", "json" or a self-contained "html" page
        (`zir.VMError` when the machine was made with `profile="none"`)."""
        if self._profiler is None:
            raise VMError("this machine does not profile (profile='none'); make it with "
                          "profile='basic', 'detailed' or 'full'")
        return self._profiler.report(format)

    def profile_cfg(self, target: Any) -> Any:
        """`zir.dot.cfg` of `target`'s code as this machine runs it, blocks coloured by how often
        they ran (a heat map; register mode: the allocated IR, stack mode: the IR lifted from the
        ZBC that ran)."""
        if self._profiler is None:
            raise VMError("this machine does not profile (profile='none')")
        prog = self.compile(target).program
        return self._profiler.cfg(prog)

    def __repr__(self) -> str:
        return f"VM(mode={self.mode!r}, opt_level={self.opt_level})"

    # -- targets -------------------------------------------------------------------------------------

    def _unwrap(self, target: Any) -> tuple[Any, tuple[Any, ...]]:
        """A bound method becomes its function plus `self` as the first argument."""
        if (isinstance(target, types.MethodType)
                and isinstance(target.__func__, (types.FunctionType, VMFunction))):
            return target.__func__, (target.__self__,)
        return target, ()

    def _entry_frame(self, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                     globals: dict[str, Any] | None) -> Frame:
        fn, bound = self._unwrap(target)
        if bound:
            args = bound + args
        rt = self._runtime
        if isinstance(fn, types.FunctionType):
            self._refuse_globals(fn, globals)
            prog = self._compiler.for_function(fn)
            return rt.new_frame(prog, fn.__qualname__, args, kwargs, fn.__defaults__, fn.__kwdefaults__,
                                fn.__closure__, fn.__globals__, cast(Any, fn).__builtins__, fn)
        if isinstance(fn, VMFunction):
            return rt.frame_for_vmfunction(fn, args, kwargs)
        if isinstance(fn, Code):
            prog = self._compiler.for_code(fn)
            if fn.freevars:
                raise VMError(f"{fn.where(0)}: code object '{fn.name}' has free variables "
                              f"({', '.join(fn.freevars)}); it can only run as a closure made by "
                              "MAKE_FUNCTION")
            env = globals if globals is not None else {"__builtins__": builtins}
            return rt.new_frame(prog, fn.qualname or fn.name, args, kwargs, fn.defaults, fn.kwdefaults,
                                None, env, builtins_of(env), None)
        raise self._refusal(target)

    @staticmethod
    def _refuse_globals(fn: types.FunctionType, globals: dict[str, Any] | None) -> None:
        if globals is not None:
            raise VMError(f"globals= applies to ZBC Code targets; {fn.__qualname__} runs in its own "
                          "__globals__")

    @staticmethod
    def _refusal(target: Any) -> VMError:
        kind = type(target).__name__
        if callable(target):
            return VMError(f"cannot run {target!r} in the VM: a {kind} has no Python code (builtins and "
                           "other callables run on the host; pass a Python function, a bound method of "
                           "one, a zir.bytecode.Code or a VM function)")
        return VMError(f"cannot run {target!r} in the VM: a {kind} is not callable code")
