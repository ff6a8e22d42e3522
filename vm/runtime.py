"""Runtime services every VM mode shares.

The `Runtime` holds what one `vm.VM` keeps between instructions and across calls: the compiler and
its caches, the exception being handled (CPython's `exc_info`), the call depth and the step count
with their limits. It decides, for each call VM code makes, whether the callee runs in a new VM
frame (plain Python functions, methods of them, VM function objects) or on the host (everything
else); it makes functions, closures and cells for MAKE_FUNCTION; and it emulates the few builtins
that look at their caller's frame (`super()`, `locals()`, `globals()`, `vars()`, `dir()`, `eval`,
`exec`), which would otherwise see the interpreter's own Python frame.

A mode supplies its interpreter loop as `execute(runtime, frame, host_exc)`: run `frame` (and every
VM frame it calls) to completion and return its value. A host call into VM code (a VM function
object called by host code, or `VM.run`) enters through `Runtime.run`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from typing import Any

from vm.binding import bind
from vm.compiler import Compiler, Program
from vm.frame import Frame
from vm.semantics import BUILTINS, MISSING
from zir.bytecode.code import Code
from zir.errors import VMError, ZirError
from zir.ir import UNBOUND

__all__ = ["FRAME_BUILTINS", "Runtime", "VMFault", "VMFunction", "VMLimitError", "builtins_of",
           "frame_locals"]

FunctionType = types.FunctionType
MethodType = types.MethodType
CellType = types.CellType

#: What a mode's interpreter loop looks like (see the module docstring).
Execute = Callable[["Runtime", Frame, "BaseException | None"], Any]


#: The cells of a frame that has none (never mutated: cells are only indexed).
_NO_CELLS: list[Any] = []


class VMFault(VMError):
    """The VM cannot go on: a limit was reached, or code a call needs cannot be compiled. VM code
    cannot catch it (it is not the program's exception): it unwinds every frame to the host."""


class VMLimitError(VMFault):
    """A step or depth limit ended the program."""


class VMFunction:
    """A function whose code exists only as ZBC (from `.zasm`, JSON or a builder): MAKE_FUNCTION
    makes one from a `Code` without `pycode`. VM code calls it in a new frame; host code can call
    it too, which runs a nested VM execution. It binds as a method like a Python function."""

    def __init__(self, code: Code, globals: dict[str, Any], builtins: dict[str, Any],
                 defaults: tuple[Any, ...] | None, kwdefaults: dict[str, Any] | None,
                 annotations: dict[str, Any] | None, closure: tuple[Any, ...] | None,
                 runtime: Runtime) -> None:
        self.__code__ = code
        self.__globals__ = globals
        self.__builtins__ = builtins
        self.__defaults__ = defaults
        self.__kwdefaults__ = kwdefaults
        self.__annotations__ = annotations if annotations is not None else {}
        self.__closure__ = closure
        self.__name__ = code.name
        self.__qualname__ = code.qualname or code.name
        self.__module__: Any = globals.get("__name__")
        self.__doc__ = None
        self._runtime = runtime

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        rt = self._runtime
        return rt.run(rt.frame_for_vmfunction(self, args, kwargs))

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else MethodType(self, obj)

    #: The CPython type this stands for, by name (what `vm.difftest` compares a result's type as).
    host_type_name = "function"

    def __repr__(self) -> str:  # as CPython prints a function, so a program prints the same text
        return f"<function {self.__qualname__} at {id(self):#x}>"


def builtins_of(globals: dict[str, Any]) -> dict[str, Any]:
    """The builtins namespace of code run with `globals` (CPython's `_PyEval_BuiltinsFromGlobals`)."""
    b = globals.get("__builtins__", MISSING)
    if b is MISSING:
        return BUILTINS
    if isinstance(b, types.ModuleType):
        return b.__dict__
    return b


class Runtime:
    """Shared state and services of one VM (see the module docstring)."""

    def __init__(self, compiler: Compiler, execute: Execute, max_steps: int | None, max_depth: int) -> None:
        self.compiler = compiler
        self.programs = compiler.programs
        self.execute = execute
        self.max_steps = max_steps
        self.max_depth = max_depth
        #: The exception VM code is handling (PUSH_EXC_INFO/POP_EXCEPT), None when none.
        self.handled: BaseException | None = None
        self.depth = 0  #: VM frames currently active (nested runs included)
        self.peak_depth = 0
        self.steps = 0  #: instructions executed by finished (or switched-out) loop runs
        self.frames = 0  #: VM frames made
        #: Set by a suspending instruction as the loop returns what the frame yielded (read and
        #: cleared by the generator or coroutine that resumed it, vm/generators.py).
        self.yielded = False
        #: The VM task scheduler (vm/tasks.py), made when the first task is spawned.
        self.scheduler: Any = None
        #: The machine's profiler (vm/profiler.py), or None.
        self.profiler: Any = None

    # -- entering VM code ------------------------------------------------------------------------

    def run(self, frame: Frame) -> Any:
        """Run `frame` to completion from the host (VM.run, or host code calling a VM function).

        The exception being handled starts as the host's own (`sys.exc_info()`) when there is one,
        so an exception raised in VM code chains to it as it would in CPython. Calling a generator
        or coroutine makes its object (vm/generators.py) instead of running the frame."""
        if frame.prog.suspends is not None:
            return frame.prog.suspends(self, frame)
        saved = self.handled
        host_exc = sys.exc_info()[1]
        if host_exc is not None:
            self.handled = host_exc
        try:
            return self.execute(self, frame, host_exc)
        finally:
            self.handled = saved

    def first_step(self, frame: Frame) -> Any:
        """Run a new coroutine frame from its start until it suspends (`yielded` set) or returns
        (SPAWN's first step of a task, vm/tasks.py)."""
        return self.execute(self, frame, None)

    def step_budget(self) -> int:
        """How many more instructions may run before the step limit ends the program."""
        if self.max_steps is None:
            return sys.maxsize
        return self.max_steps - self.steps

    def step_limit_error(self, frame: Frame) -> VMLimitError:
        """The error that ends a program at `frame`'s current instruction for running too long."""
        return VMLimitError(f"{frame.where()}: step limit exceeded (max_steps={self.max_steps})")

    def depth_limit_error(self, frame: Frame, callee: Frame) -> VMLimitError:
        """The error that ends a program when `frame` calls `callee` one VM frame too deep."""
        return VMLimitError(f"{frame.where()}: VM call depth limit exceeded (max_depth={self.max_depth}) "
                            f"calling {callee.prog.code.qualname or callee.prog.code.name}")

    # -- making frames ---------------------------------------------------------------------------

    def new_frame(self, prog: Program, qualname: str, args: Sequence[Any], kwargs: dict[str, Any] | None,
                  defaults: tuple[Any, ...] | None, kwdefaults: dict[str, Any] | None,
                  closure: tuple[Any, ...] | None, globals: dict[str, Any], builtins: dict[str, Any],
                  func: Any) -> Frame:
        """A frame for `prog` with the arguments bound (CPython's TypeError when they do not fit)
        and fresh cells for its cellvars followed by the closure's cells."""
        fast = bind(prog.spec, qualname, args, kwargs, defaults, kwdefaults)
        n = prog.ncellvars
        cells: list[Any]
        if n or closure:
            cells = [CellType() for _ in range(n)]
            if closure:
                cells.extend(closure)
        else:
            cells = _NO_CELLS
        self.frames += 1
        return Frame(prog, fast, cells, globals, builtins, func)

    def frame_for_call(self, f: Any, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Frame | None:
        """The VM frame for calling `f(*args, **kwargs)` from VM code, or None when `f` runs on the
        host (not a Python function, a method of one, or a VM function; or refused by the front end).

        This is every VM-to-VM call, so the common case (a cached Python function called with
        exactly its positional parameters) is written out flat, without further calls."""
        tf = type(f)
        if tf is MethodType:
            func = f.__func__
            tf = type(func)
            if tf is not FunctionType and tf is not VMFunction:
                return None
            args = [f.__self__, *args]
            f = func
        if tf is FunctionType:
            code = f.__code__
            entry = self.programs.get(id(code))
            prog = entry[1] if entry is not None and entry[0] is code else self._compile_callee(f)
            if prog is None:
                return None
            spec = prog.spec
            if kwargs is None and spec.simple and len(args) == spec.argcount:
                fast = [*args, *prog.padding]
            else:
                fast = bind(spec, f.__qualname__, args, kwargs, f.__defaults__, f.__kwdefaults__)
            closure = f.__closure__
            cells: list[Any]
            if prog.ncellvars or closure:
                cells = [CellType() for _ in range(prog.ncellvars)]
                if closure:
                    cells.extend(closure)
            else:
                cells = _NO_CELLS
            self.frames += 1
            return Frame(prog, fast, cells, f.__globals__, f.__builtins__, f)
        if tf is VMFunction:
            return self.frame_for_vmfunction(f, args, kwargs)
        return None

    def _compile_callee(self, f: types.FunctionType) -> Program | None:
        """The program of a Python function VM code calls (None: it runs on the host). A failure
        other than the front end's refusal is the VM's, not the program's: a VMFault."""
        try:
            return self.compiler.for_callee(f.__code__)
        except ZirError as e:
            err = e
        raise VMFault(f"cannot compile {f.__qualname__} for the VM: {err}") from err

    def frame_for_vmfunction(self, f: VMFunction, args: Sequence[Any],
                             kwargs: dict[str, Any] | None) -> Frame:
        """The frame for calling a VM function object."""
        try:
            prog = self.compiler.for_code(f.__code__)
        except ZirError as e:
            err = e
        else:
            return self.new_frame(prog, f.__qualname__, args, kwargs, f.__defaults__, f.__kwdefaults__,
                                  f.__closure__, f.__globals__, f.__builtins__, f)
        raise VMFault(f"cannot compile {f.__qualname__} for the VM: {err}") from err

    def make_function(self, frame: Frame, code: Code, defaults: tuple[Any, ...] | None,
                      kwdefaults: dict[str, Any] | None, annotations: Any,
                      closure: tuple[Any, ...] | None) -> Any:
        """MAKE_FUNCTION: a real `types.FunctionType` when the Code came from CPython (so host code
        can call it natively), else a `VMFunction`. Globals are the making frame's."""
        if isinstance(annotations, tuple):
            # CPython 3.11 passes annotations as a flat (name, value, ...) tuple.
            annotations = dict(zip(annotations[::2], annotations[1::2], strict=True))
        if code.pycode is not None:
            fn = FunctionType(code.pycode, frame.globals, None, defaults, closure)
            fn.__qualname__ = code.pycode.co_qualname
            if kwdefaults is not None:
                fn.__kwdefaults__ = kwdefaults
            if annotations is not None:
                fn.__annotations__ = annotations
            self.compiler.remember(code.pycode, code)
            return fn
        if len(code.freevars) != (len(closure) if closure else 0):
            # What types.FunctionType says for the same mistake.
            raise ValueError(f"{code.name} requires closure of length {len(code.freevars)}, "
                             f"not {len(closure) if closure else 0}")
        return VMFunction(code, frame.globals, frame.builtins, defaults, kwdefaults, annotations,
                          closure, self)


# -- builtins that look at the calling frame ---------------------------------------------------------

def frame_locals(frame: Frame) -> dict[str, Any]:
    """What `locals()` returns in `frame`: bound locals, then cell and free variables with values,
    in CPython's localsplus order. Names that are not identifiers (pass temporaries) are left out."""
    code = frame.prog.code
    cellvars = code.cellvars
    cell_index = {name: i for i, name in enumerate(cellvars)}
    out: dict[str, Any] = {}
    for i, name in enumerate(code.varnames):
        if not name.isidentifier():
            continue
        if name in cell_index:
            value = _cell_value(frame.cells[cell_index[name]])
        else:
            value = frame.fast[i]
        if value is not UNBOUND and value is not MISSING:
            out[name] = value
    names = set(code.varnames)
    for i, name in enumerate(cellvars + code.freevars):
        if name in names or not name.isidentifier():
            continue
        value = _cell_value(frame.cells[i])
        if value is not MISSING:
            out[name] = value
    return out


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:
        return MISSING


def _super(frame: Frame, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any] | None) -> Any:
    """`super()` without arguments (CPython's `super_init_without_args`)."""
    if args or kwargs:
        return super(*args, **(kwargs or {}))
    code = frame.prog.code
    if code.argcount == 0:
        raise RuntimeError("super(): no arguments")
    first = code.varnames[0]
    if first in code.cellvars:
        firstarg = _cell_value(frame.cells[code.cellvars.index(first)])
    else:
        firstarg = frame.fast[0]
    if firstarg is UNBOUND or firstarg is MISSING:
        raise RuntimeError("super(): arg[0] deleted")
    if "__class__" not in code.freevars:
        raise RuntimeError("super(): __class__ cell not found")
    cls = _cell_value(frame.cells[len(code.cellvars) + code.freevars.index("__class__")])
    if cls is MISSING:
        raise RuntimeError("super(): empty __class__ cell")
    if not isinstance(cls, type):
        raise RuntimeError(f"super(): __class__ is not a type ({type(cls).__name__})")
    return super(cls, firstarg)


def _no_arg_builtin(real: Callable[..., Any], make: Callable[[Frame], Any]) -> Callable[..., Any]:
    def call(frame: Frame, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Any:
        if args or kwargs:
            return real(*args, **(kwargs or {}))
        return make(frame)

    call.__name__ = real.__name__
    return call


def _source_builtin(real: Callable[..., Any]) -> Callable[..., Any]:
    """eval/exec: missing or None globals/locals default to the calling frame's."""
    def call(frame: Frame, args: Sequence[Any], kwargs: dict[str, Any] | None) -> Any:
        if not args or len(args) > 3:
            return real(*args, **(kwargs or {}))
        g = args[1] if len(args) > 1 else None
        loc = args[2] if len(args) > 2 else None
        if g is None:
            g = frame.globals
            if loc is None:
                loc = frame_locals(frame)
        elif loc is None:
            loc = g
        return real(args[0], g, loc, **(kwargs or {}))

    call.__name__ = real.__name__
    return call


#: Builtins that read their caller's frame, called with (frame, args, kwargs) instead.
FRAME_BUILTINS: dict[Any, Callable[[Frame, Any, Any], Any]] = {
    super: _super,
    globals: _no_arg_builtin(globals, lambda frame: frame.globals),
    locals: _no_arg_builtin(locals, frame_locals),
    vars: _no_arg_builtin(vars, frame_locals),
    dir: _no_arg_builtin(dir, lambda frame: sorted(frame_locals(frame))),
    eval: _source_builtin(eval),
    exec: _source_builtin(exec),
}
