"""zir: a compiler-pass framework for Python 3.11 bytecode, with a virtual machine underneath.

The public API (see docs/index.md):

    m = zir.parse(text); zir.format(m); zir.verify(f)
    zir.analysis.cfg(f), zir.analysis.dominator_tree(f), ...; zir.dot.cfg(f)
    code = zir.frontend.from_python(fn); zir.bytecode.assemble(text); zir.bytecode.disassemble(code)
    f = zir.lift(code); code = zir.stackify(f); rc = zir.lower(f)

Submodules load on first use, so `import zir` stays cheap and never pulls in `passes` or `vm`.
"""

from __future__ import annotations

import importlib
from typing import Any

from zir.builder import Builder
from zir.errors import FrontendError, ParseError, PassError, VerifyError, VMError, ZirError
from zir.ir import UNBOUND, Block, Const, Function, Instr, Module, Phi, Signature, Value, Var
from zir.ops import EXHAUSTED, IR_OPS, OPS, ZBC_OPS, Effect, OpDef
from zir.printer import format

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "parse": ("zir.parser", "parse"),
    "verify": ("zir.verifier", "verify"),
    "analysis": ("zir.analysis", None),
    "dot": ("zir.dot", None),
    "bytecode": ("zir.bytecode", None),
    "frontend": ("zir.frontend", None),
    "lift": ("zir.lifting", "lift"),
    "stackify": ("zir.stackifier", "stackify"),
    "lower": ("zir.lowering", "lower"),
}


def __getattr__(name: str) -> Any:
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'zir' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


__all__ = [
    "Block", "Builder", "Const", "EXHAUSTED", "Effect", "FrontendError", "Function", "IR_OPS", "Instr",
    "Module", "OPS", "OpDef", "ParseError", "PassError", "Phi", "Signature", "UNBOUND", "VMError",
    "Value", "Var", "VerifyError", "ZBC_OPS", "ZirError", "format", *_LAZY,
]
