"""Every CPython-version fact the front end relies on, in one place.

The front end reads CPython 3.11 bytecode. Everything that is true of 3.11 and may change in another
version lives here as data: which opcodes exist and how each one is treated, the argument tables of
BINARY_OP / COMPARE_OP / IS_OP / CONTAINS_OP, the code-object flag bits, the exception-table encoding
and the constructs behind the opcodes we refuse. The other modules of `zir.frontend` ask these
tables and never test `sys.version_info` themselves (the model is the `bytecode` library's
`utils.py` version flags and the capability sets computed once in its `instr.py`).

Targets on the zir side are IR operation names from the opcode table (`zir.ops.OPS`); their ZBC
mnemonics come from the table, so nothing here re-lists zir opcodes.

Sources: CPython 3.11 `Lib/opcode.py` (`_nb_ops`, `cmp_op`), `Include/cpython/code.h` (CO_* flags),
`Objects/exception_handling_notes.txt` (the exception-table format), `Python/ceval.c` (stack shapes).
"""

from __future__ import annotations

import sys

#: The CPython version whose bytecode the front end reads.
SUPPORTED_VERSION: tuple[int, int] = (3, 11)


def running_version_supported() -> bool:
    """True when the running interpreter's bytecode is the one described here."""
    return sys.version_info[:2] == SUPPORTED_VERSION


# --------------------------------------------------------------------------------------------------
# Code-object flags (Include/cpython/code.h).

CO_OPTIMIZED = 0x0001  #: a function body (fast locals); class and module bodies lack it
CO_NEWLOCALS = 0x0002
CO_VARARGS = 0x0004
CO_VARKEYWORDS = 0x0008
CO_NESTED = 0x0010
CO_GENERATOR = 0x0020
CO_COROUTINE = 0x0080
CO_ITERABLE_COROUTINE = 0x0100
CO_ASYNC_GENERATOR = 0x0200

#: Code kinds the front end refuses, by flag: (flag, construct, opcodes that show where it happens).
#: The first opcode found in the body gives the line of the error; RETURN_GENERATOR (at the `def`
#: line) is the fallback every such body has. Generators (CO_GENERATOR) and coroutines
#: (CO_COROUTINE) are translated; these are not.
REFUSED_CODE_KINDS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (CO_ASYNC_GENERATOR, "async generators are not supported",
     ("YIELD_VALUE", "ASYNC_GEN_WRAP", "RETURN_GENERATOR")),
    (CO_ITERABLE_COROUTINE, "generator-based coroutines (types.coroutine) are not supported",
     ("YIELD_VALUE", "RETURN_GENERATOR")),
)

#: The code-object flags the front end translates into `Code.flags` names (zir.bytecode.code).
SUSPENDING_CODE_KINDS: tuple[tuple[int, str], ...] = (
    (CO_GENERATOR, "generator"), (CO_COROUTINE, "coroutine"))

# --------------------------------------------------------------------------------------------------
# How each 3.11 opcode is treated.

#: Opcodes whose ZBC form has the same name and the same argument meaning (argument re-indexed by
#: the ZBC row's `zarg`: names by name, cells into `cellvars + freevars`, jumps to instruction
#: indices). Their stack shape in 3.11 has no NULL slot.
PASSTHROUGH: frozenset[str] = frozenset({
    "LOAD_CONST", "LOAD_FAST", "STORE_FAST", "DELETE_FAST", "POP_TOP",
    "BINARY_SUBSCR", "STORE_SUBSCR", "DELETE_SUBSCR",
    "LOAD_ATTR", "STORE_ATTR", "DELETE_ATTR", "STORE_GLOBAL", "DELETE_GLOBAL",
    "LOAD_DEREF", "STORE_DEREF", "DELETE_DEREF", "LOAD_CLOSURE",
    "BUILD_TUPLE", "BUILD_LIST", "BUILD_SET", "BUILD_MAP", "BUILD_CONST_KEY_MAP", "BUILD_SLICE",
    "BUILD_STRING", "FORMAT_VALUE", "LIST_TO_TUPLE", "UNPACK_SEQUENCE", "UNPACK_EX",
    "MAKE_FUNCTION", "LOAD_BUILD_CLASS", "LOAD_ASSERTION_ERROR", "IMPORT_NAME", "IMPORT_FROM",
    "GET_ITER", "FOR_ITER", "PUSH_EXC_INFO", "POP_EXCEPT", "CHECK_EXC_MATCH", "BEFORE_WITH",
    "WITH_EXCEPT_START", "RETURN_VALUE", "RAISE_VARARGS", "RERAISE",
    "JUMP_IF_FALSE_OR_POP", "JUMP_IF_TRUE_OR_POP",
    "YIELD_VALUE", "GET_YIELD_FROM_ITER", "GET_AWAITABLE", "GET_AITER", "END_ASYNC_FOR",
})

#: Opcodes that become a differently named zir operation with the same argument (jumps: forward
#: and backward variants are one op in ZBC; unary operators).
RENAMED: dict[str, str] = {
    "JUMP_FORWARD": "br",
    "JUMP_BACKWARD": "br",
    "JUMP_BACKWARD_NO_INTERRUPT": "br",
    "POP_JUMP_FORWARD_IF_FALSE": "pop_jump_if_false",
    "POP_JUMP_BACKWARD_IF_FALSE": "pop_jump_if_false",
    "POP_JUMP_FORWARD_IF_TRUE": "pop_jump_if_true",
    "POP_JUMP_BACKWARD_IF_TRUE": "pop_jump_if_true",
    "POP_JUMP_FORWARD_IF_NONE": "pop_jump_if_none",
    "POP_JUMP_BACKWARD_IF_NONE": "pop_jump_if_none",
    "POP_JUMP_FORWARD_IF_NOT_NONE": "pop_jump_if_not_none",
    "POP_JUMP_BACKWARD_IF_NOT_NONE": "pop_jump_if_not_none",
    "UNARY_POSITIVE": "pos",
    "UNARY_NEGATIVE": "neg",
    "UNARY_NOT": "not",
    "UNARY_INVERT": "invert",
}

#: BINARY_OP's argument (NB_ADD = 0 ... NB_INPLACE_XOR = 25, `opcode._nb_ops`) -> zir operation.
BINARY_OP_OPS: tuple[str, ...] = (
    "add", "and", "floordiv", "lshift", "matmul", "mul", "mod", "or", "pow", "rshift", "sub",
    "truediv", "xor",
    "iadd", "iand", "ifloordiv", "ilshift", "imatmul", "imul", "imod", "ior", "ipow", "irshift",
    "isub", "itruediv", "ixor",
)
#: COMPARE_OP's argument (an index into `dis.cmp_op`) -> zir operation.
COMPARE_OP_OPS: tuple[str, ...] = ("lt", "le", "eq", "ne", "gt", "ge")
#: IS_OP's argument (1 inverts) -> zir operation.
IS_OP_OPS: tuple[str, ...] = ("is", "is_not")
#: CONTAINS_OP's argument (1 inverts) -> zir operation.
CONTAINS_OP_OPS: tuple[str, ...] = ("in", "not_in")

#: Opcodes whose argument is a reach down the stack, recomputed without NULL slots; the value is
#: how many items the instruction pops before the reach is counted (3.11's `PEEK(oparg)` after
#: `POP()`s; COPY/SWAP count from the top item itself).
DEPTH_ARG: dict[str, int] = {
    "COPY": 0, "SWAP": 0,
    "LIST_APPEND": 1, "SET_ADD": 1, "LIST_EXTEND": 1, "SET_UPDATE": 1, "DICT_UPDATE": 1,
    "DICT_MERGE": 1, "MAP_ADD": 2,
}

#: Opcodes removed outright: they have no effect on what a ZBC machine computes (CACHE and
#: EXTENDED_ARG are decoding artefacts; RESUME/NOP do nothing; PRECALL only prepares the following
#: CALL; COPY_FREE_VARS is done by the VM at frame start).
DROPPED: frozenset[str] = frozenset({"CACHE", "EXTENDED_ARG", "RESUME", "NOP", "PRECALL", "COPY_FREE_VARS"})

#: Opcodes with a translation of their own (NULL slots, argument tables, call shapes, cells).
SPECIAL: frozenset[str] = frozenset({
    "PUSH_NULL", "LOAD_GLOBAL", "LOAD_METHOD", "CALL", "KW_NAMES", "CALL_FUNCTION_EX", "MAKE_CELL",
    "BINARY_OP", "COMPARE_OP", "IS_OP", "CONTAINS_OP",
    "RETURN_GENERATOR", "SEND", "GET_ANEXT", "BEFORE_ASYNC_WITH",
})

#: Opcodes the front end refuses, with the construct that produces them (for the error message).
REFUSED: dict[str, str] = {
    "ASYNC_GEN_WRAP": "async generators are not supported",
    "MATCH_CLASS": "'match' statements are not supported",
    "MATCH_KEYS": "'match' statements are not supported",
    "MATCH_MAPPING": "'match' statements are not supported",
    "MATCH_SEQUENCE": "'match' statements are not supported",
    "GET_LEN": "'match' statements are not supported",
    "CHECK_EG_MATCH": "'except*' (exception groups) is not supported",
    "PREP_RERAISE_STAR": "'except*' (exception groups) is not supported",
    "LOAD_NAME": "class and module bodies are not supported (only function bodies)",
    "STORE_NAME": "class and module bodies are not supported (only function bodies)",
    "DELETE_NAME": "class and module bodies are not supported (only function bodies)",
    "LOAD_CLASSDEREF": "class and module bodies are not supported (only function bodies)",
    "SETUP_ANNOTATIONS": "class and module bodies are not supported (only function bodies)",
    "IMPORT_STAR": "'from module import *' is not supported",
    "PRINT_EXPR": "interactive expression statements are not supported",
}

#: The message for an opcode that is in none of the sets above.
UNKNOWN_OPCODE = "this bytecode is not supported by the front end"

# --------------------------------------------------------------------------------------------------
# The exception table (co_exceptiontable, Objects/exception_handling_notes.txt).

#: Each entry is four varints: start, length and target in code units (2 bytes), then
#: `depth << 1 | lasti`. A varint is 6-bit chunks, most significant first, bit 6 = "more follows";
#: bit 7 marks the first byte of an entry.
EXC_VARINT_BITS = 6
EXC_VARINT_MORE = 0x40
EXC_ENTRY_START = 0x80
CODE_UNIT = 2  #: bytes per instruction word; offsets in the table and in jumps count these
