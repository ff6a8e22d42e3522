"""ZBC, zir's stack bytecode: the `Code` object, its `.zasm` text form, JSON form and verifier."""

from __future__ import annotations

from zir.bytecode.code import COROUTINE, GENERATOR, HOST, NESTED, VARARGS, VARKEYWORDS, Code, Handler, ZInstr

__all__ = ["COROUTINE", "GENERATOR", "HOST", "NESTED", "VARARGS", "VARKEYWORDS", "Code", "Handler", "ZInstr"]
