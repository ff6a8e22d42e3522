"""ZBC, zir's stack bytecode: the `Code` object, its `.zasm` text form, JSON form, verifier and a
builder for language front ends (docs/bytecode.md)."""

from __future__ import annotations

from zir.bytecode.asm import assemble, disassemble
from zir.bytecode.builder import CodeBuilder, Label
from zir.bytecode.code import (
    COROUTINE,
    GENERATOR,
    HOST,
    NESTED,
    VARARGS,
    VARKEYWORDS,
    Code,
    Handler,
    ZInstr,
    literal_key,
)
from zir.bytecode.serialize import FormatError, from_dict, from_json, to_dict, to_json
from zir.bytecode.verify import StackInfo, stack_depths, verify

__all__ = [
    "COROUTINE", "GENERATOR", "HOST", "NESTED", "VARARGS", "VARKEYWORDS", "Code", "CodeBuilder",
    "FormatError", "Handler", "Label", "StackInfo", "ZInstr", "assemble", "disassemble", "from_dict",
    "from_json", "literal_key", "stack_depths", "to_dict", "to_json", "verify",
]
