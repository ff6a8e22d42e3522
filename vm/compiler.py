"""The one place that turns a target into runnable code.

    Python function ──front end──> ZBC Code ──verify──> [O1/O2: lift ─> passes ─> stackify ─> verify]
                                                          ──decode──> Program (what a VM mode runs)

Everything is cached per code object: a CPython code object's translation, and the `Program` made
from it (or the decision that it runs on the host), so a function called a million times is
translated, verified and decoded once. The cache is per `Compiler`, and a `Compiler` belongs to one
`vm.VM`, so one optimization level.

Targets and callees differ only in how a front-end refusal (`zir.FrontendError`) is treated: for the
target of `VM.run` it propagates; for a function that VM code merely calls (a generator function,
say, until issue 7) the call falls back to calling it on the host, which is semantically exact, and
that decision is cached.
"""

from __future__ import annotations

import asyncio
import os
import types
from collections.abc import Callable
from typing import Any

import attrs

from vm.binding import ParamSpec
from zir.bytecode.code import HOST, Code
from zir.errors import FrontendError, VMError

__all__ = ["Compiler", "Program"]

#: Callees whose source is under these folders always run on the host: the VM itself (a VM
#: generator's `send`, a task's `result`), and asyncio, the event loop's own machinery (`sleep`,
#: `gather`, `Queue.get`): VM code awaits those as host awaitables, natively fast.
_HOST_DIRS = (os.path.dirname(os.path.abspath(__file__)) + os.sep,
              os.path.dirname(os.path.abspath(asyncio.__file__)) + os.sep)


@attrs.define(slots=True, eq=False)
class Program:
    """A verified code object decoded for a VM mode.

    `code` is the ZBC that runs (after optimization at O1/O2), `spec` its parameter layout,
    `ncellvars` how many fresh cells a frame makes, `padding` the UNBOUND values that follow the
    positional parameters in a fresh local array. `instrs` and `handler_at` are the mode's decoded
    form: for the stack mode, `(kind, arg)` pairs and, per instruction, the innermost exception
    handler `(target, depth, lasti)` or None.
    """

    code: Code
    spec: ParamSpec
    ncellvars: int
    instrs: list[tuple[int, Any]]
    handler_at: list[tuple[int, int, bool] | None]
    padding: tuple[Any, ...] = ()
    #: For a generator or coroutine, the class whose object a call makes instead of running the
    #: frame (`vm.generators.kind_of`); None for plain functions.
    suspends: Any = None


#: What a VM mode supplies: verified ZBC in, its decoded `Program` out.
Decoder = Callable[[Code], Program]


class Compiler:
    """Front end, verifier, optimizer and a mode's decoder, with per-code-object caches."""

    def __init__(self, opt_level: int, decode: Decoder, *, lowers: bool = False) -> None:
        self.opt_level = opt_level
        self._decode = decode
        #: The decoder optimizes itself (register mode lifts, optimizes and lowers): it gets the
        #: verified ZBC as it is.
        self._lowers = lowers
        # id(key object) -> (key object, value): holding the key keeps its id from being reused.
        self._translations: dict[int, tuple[types.CodeType, Code]] = {}
        #: id(code object) -> (code object, its Program or None for "runs on the host"), for CPython
        #: code objects and ZBC Codes alike. Interpreters read it directly on their call path.
        self.programs: dict[int, tuple[Any, Program | None]] = {}
        self.compiled = 0  #: code objects compiled to a Program
        self.host_fallbacks = 0  #: callees the front end refused, run on the host instead

    # -- targets and callees ---------------------------------------------------------------------

    def for_function(self, fn: types.FunctionType) -> Program:
        """The program of a Python function that is a *target*: front-end errors propagate."""
        pycode = fn.__code__
        entry = self.programs.get(id(pycode))
        if entry is not None and entry[0] is pycode and entry[1] is not None:
            return entry[1]
        prog = self.for_code(self.translate(pycode))
        self.programs[id(pycode)] = (pycode, prog)
        return prog

    def for_callee(self, pycode: types.CodeType) -> Program | None:
        """The program of a function that VM code calls, or None when it must run on the host
        (the front end refused it; the decision is cached)."""
        entry = self.programs.get(id(pycode))
        if entry is not None and entry[0] is pycode:
            return entry[1]
        if pycode.co_filename.startswith(_HOST_DIRS):
            self.programs[id(pycode)] = (pycode, None)
            return None
        try:
            code = self.translate(pycode)
        except FrontendError:
            self.host_fallbacks += 1
            self.programs[id(pycode)] = (pycode, None)
            return None
        prog = self.for_code(code)
        self.programs[id(pycode)] = (pycode, prog)
        return prog

    def for_code(self, code: Code) -> Program:
        """The program of a ZBC `Code`: verified, optimized at O1/O2, decoded; cached."""
        entry = self.programs.get(id(code))
        if entry is not None and entry[0] is code and entry[1] is not None:
            return entry[1]
        if HOST in code.flags:
            raise VMError(f"{code.where(0)}: code object '{code.name}' is a host-only code object "
                          "(it has no ZBC instructions; only its CPython code can run)")
        from zir.bytecode.verify import verify

        verify(code)
        runnable = self._optimize(code) if self.opt_level and not self._lowers else code
        prog = self._decode(runnable)
        self.compiled += 1
        self.programs[id(code)] = (code, prog)
        return prog

    # -- translations ----------------------------------------------------------------------------

    def translate(self, pycode: types.CodeType) -> Code:
        """The front end's ZBC for a CPython code object (cached; FrontendError when refused)."""
        entry = self._translations.get(id(pycode))
        if entry is not None and entry[0] is pycode:
            return entry[1]
        from zir.frontend import from_python

        code = from_python(pycode)
        self._translations[id(pycode)] = (pycode, code)
        return code

    def remember(self, pycode: types.CodeType, code: Code) -> None:
        """Record a translation the front end already made (a nested code constant), so calling
        the function MAKE_FUNCTION built from it does not translate it again."""
        if HOST not in code.flags and id(pycode) not in self._translations:
            self._translations[id(pycode)] = (pycode, code)

    # -- optimization ----------------------------------------------------------------------------

    def _optimize(self, code: Code) -> Code:
        """O1/O2: lift to IR, run the level's pipeline, stackify back to ZBC, verify the result."""
        import passes
        import zir
        from zir.bytecode.verify import verify

        f = zir.lift(code)
        passes.PassManager.parse(f"O{self.opt_level}").run(f)
        out: Code = zir.stackify(f)
        verify(out)
        return out
