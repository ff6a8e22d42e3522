"""The CPython 3.11 front end: `from_python(fn) -> zir.bytecode.Code`.

It reads a Python function's code object and writes ZBC, normalizing 3.11's quirks: CACHE entries,
EXTENDED_ARG, RESUME/NOP, PRECALL/CALL/KW_NAMES (to CALL / CALL_KW with the keyword names pushed as a
constant), PUSH_NULL and LOAD_GLOBAL's low bit (ZBC has no NULLs), LOAD_METHOD (to LOAD_ATTR),
relative jumps in code units (to absolute instruction indices), BINARY_OP's and COMPARE_OP's
argument tables (one op per operator), the exception table (decoded, depths recomputed without
NULLs, offsets mapped to instruction indices), MAKE_CELL/COPY_FREE_VARS (cells get their own index
space; a parameter that is a cell is copied in at entry) and line numbers per instruction.

What it cannot translate -- generators, coroutines, `match`, `except*`, an unknown opcode -- is
refused with `zir.FrontendError` naming the construct, function, file and line; it never guesses.

Modules: `versions` (every CPython-version fact), `decode` (instructions), `exctable` (the exception
table), `lowering` (one instruction to ZBC), `stacksim` (stack shapes), `translate` (the driver).
"""

from __future__ import annotations

import types
from typing import Any

from zir.bytecode.code import Code
from zir.errors import FrontendError
from zir.frontend.translate import translate


def from_python(fn: Any) -> Code:
    """Translate a Python function (or bound method, static/class method object, or code object)
    to ZBC. Raises `zir.FrontendError` for a callable without Python code or a body the front end
    does not translate. Nested code objects (lambdas, comprehensions, inner functions) become
    translated `Code` constants that keep their `pycode`; the result keeps `pycode` too.

    Default values are not part of the result: a Code from the front end takes its defaults from
    the function object it runs as (MAKE_FUNCTION, or the function passed to the VM).
    """
    return translate(_code_of(fn))


def _code_of(fn: Any) -> types.CodeType:
    """The code object behind `fn`, unwrapping bound methods and static/class method objects."""
    seen = 0
    while isinstance(fn, (types.MethodType, staticmethod, classmethod)) and seen < 8:
        fn = fn.__func__
        seen += 1
    if isinstance(fn, types.CodeType):
        return fn
    if isinstance(fn, types.FunctionType):
        return fn.__code__
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType, types.MethodWrapperType,
                       types.WrapperDescriptorType, types.MethodDescriptorType,
                       types.ClassMethodDescriptorType)):
        raise FrontendError(f"{_describe(fn)} is a built-in (C) function and has no Python bytecode "
                            "to translate")
    raise FrontendError(f"{_describe(fn)} is not a Python function, method or code object; the front "
                        "end translates only those")


def _describe(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    kind = type(fn).__name__
    return f"{kind} {name!r}" if name else f"a {kind} object"


__all__ = ["from_python"]
