"""ZBC, zir's stack bytecode: the `Code` object, its `.zasm` text form, JSON form, verifier and a
builder for language front ends (docs/bytecode.md)."""

from __future__ import annotations

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
from zir.bytecode.verify import StackInfo, stack_depths, verify

__all__ = [
    "COROUTINE", "GENERATOR", "HOST", "NESTED", "VARARGS", "VARKEYWORDS", "Code", "Handler", "StackInfo",
    "ZInstr", "literal_key", "stack_depths", "verify",
]
