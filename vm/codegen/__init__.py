"""Register code to Python: the register VM's code generator.

    gen = generate(rc, Variant(pooled=True))     # vm.codegen.emit: the source of one generator function
    fn = build(gen, namespace(rt), instruments)   # compile it (cached by source) and bind its names

`vm.codegen.layout` finds regions, loops and the blocks written in place; `vm.codegen.instrs` writes
each instruction; `vm.codegen.emit` puts it together; `vm.codegen.support` holds what the code calls.
"""

from __future__ import annotations

import builtins
import linecache
import types
import warnings
from collections import OrderedDict
from typing import Any

from vm.codegen.emit import Generated, Variant, generate
from vm.codegen.layout import Layout
from vm.codegen.support import HELPERS, RETURN, namespace
from zir.errors import VMError
from zir.regcode import RegCode

__all__ = ["HELPERS", "RETURN", "Generated", "Layout", "Variant", "build", "generate", "generate_checked",
           "namespace"]

#: Compiled generated sources, by source text (a function compiled for several machines, or again
#: after its machine was dropped, is compiled once). Bounded: the oldest entries go first.
_COMPILED: OrderedDict[tuple[str, str], types.CodeType] = OrderedDict()
_COMPILED_MAX = 2048


def _compile(gen: Generated, filename: str) -> types.CodeType:
    key = (gen.source, filename)
    code = _COMPILED.get(key)
    if code is not None:
        _COMPILED.move_to_end(key)
        return code
    with warnings.catch_warnings():
        # `x is 1000`-style comparisons of constants are the program's own; CPython warned already
        warnings.simplefilter("ignore", SyntaxWarning)
        code = compile(gen.source, filename, "exec")
    _COMPILED[key] = code
    if len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return code


def generate_checked(rc: RegCode, variant: Variant, name: str,
                     filename: str) -> tuple[Generated, types.CodeType]:
    """Generate and compile `rc`; when Python's static limits reject the structured source (too
    many nested loops or indentation levels), fall back to the flat form, whose nesting is constant."""
    try:
        gen = generate(rc, variant, name)
    except VMError as e:
        raise VMError(f"{filename}: function {rc.name}: {e}") from None
    try:
        return gen, _compile(gen, filename)
    except (SyntaxError, RecursionError, MemoryError):
        pass
    gen = generate(rc, variant, name, structured=False)
    try:
        return gen, _compile(gen, filename)
    except (SyntaxError, RecursionError, MemoryError) as e:
        raise VMError(f"{filename}: the register VM cannot compile function {rc.name}: {e}") from e


def build(gen: Generated, code: types.CodeType, filename: str, names: dict[str, Any],
          instruments: dict[str, Any]) -> types.FunctionType:
    """The generator function of compiled source `code`, with its default names bound: helpers from
    `names` (a `namespace`), constants from `gen.values`, counters from `instruments`."""
    # the code's own globals: only the builtins it names itself (type, dict, tuple, exceptions)
    ns: dict[str, Any] = {"__builtins__": builtins}
    for n in gen.helpers:
        ns[n] = names[n]
    ns.update(gen.values)
    for n in gen.instruments:
        ns[n] = instruments[n]
    exec(code, ns)
    fn: types.FunctionType = ns[gen.name]
    # tracebacks and debuggers show the generated source
    lines = gen.source.splitlines(keepends=True)
    linecache.cache[filename] = (len(gen.source), None, lines, filename)
    return fn
