"""The ZBC verifier: one test per error class, plus depths and max stack on good code."""

from __future__ import annotations

import re

import pytest

from zir import VerifyError
from zir.bytecode import HOST, Code, Handler, ZInstr, stack_depths, verify


def I(op: str, arg: int | None = None, line: int | None = None) -> ZInstr:  # noqa: E743
    return ZInstr(op, arg, line)


def code(*instrs: ZInstr, **kw: object) -> Code:
    kw.setdefault("consts", [None, 1, 2])
    kw.setdefault("filename", "demo.zasm")
    return Code("f", list(instrs), **kw)  # type: ignore[arg-type]


RET_NONE = (I("LOAD_CONST", 0), I("RETURN_VALUE"))


def fails(c: Code, pattern: str) -> str:
    with pytest.raises(VerifyError) as info:
        verify(c)
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    return msg


def test_good_code_records_stacksize_and_depths() -> None:
    c = code(I("LOAD_CONST", 1, 3), I("LOAD_CONST", 2), I("ADD"), I("RETURN_VALUE"))
    verify(c)
    assert c.stacksize == 2
    assert stack_depths(c).depths == (0, 1, 2, 1)


def test_message_names_file_line_function_offset() -> None:
    c = code(I("LOAD_CONST", 0, 12), I("POP_TOP"), I("POP_TOP", line=13))
    msg = fails(c, "stack underflow")
    assert msg.startswith("demo.zasm:13 (function f, offset 2): ")


def test_unknown_opcode_with_suggestion() -> None:
    fails(code(I("LOAD_CONS", 0), I("RETURN_VALUE")),
          r"unknown opcode 'LOAD_CONS' \(did you mean LOAD_CONST\?\)")


def test_missing_argument() -> None:
    fails(code(I("LOAD_CONST"), I("RETURN_VALUE")), r"offset 0\): LOAD_CONST needs a const argument")


def test_unexpected_argument() -> None:
    fails(code(I("LOAD_CONST", 0), I("RETURN_VALUE", 1)), "RETURN_VALUE takes no argument")


def test_argument_not_an_int() -> None:
    fails(code(I("LOAD_CONST", True), I("RETURN_VALUE")), "argument must be an int >= 0")
    fails(code(I("LOAD_CONST", -1), I("RETURN_VALUE")), "argument must be an int >= 0")


@pytest.mark.parametrize("op,table", [("LOAD_CONST", "consts"), ("LOAD_GLOBAL", "names"),
                                      ("LOAD_FAST", "varnames"), ("LOAD_DEREF", "cellvars")])
def test_index_out_of_range(op: str, table: str) -> None:
    fails(code(I(op, 7), I("RETURN_VALUE")), f"{op} 7: index out of range for {table}")


def test_jump_target_out_of_range() -> None:
    fails(code(I("JUMP", 9)), r"JUMP 9: index out of range for the instructions \(1 entry\)")


@pytest.mark.parametrize("op,arg,bound", [("COPY", 0, ">= 1"), ("SWAP", 1, ">= 2"),
                                          ("BUILD_SLICE", 4, "<= 3"), ("RAISE_VARARGS", 3, "<= 2"),
                                          ("MAKE_FUNCTION", 16, "<= 15"), ("LIST_APPEND", 0, ">= 1")])
def test_immediate_out_of_range(op: str, arg: int, bound: str) -> None:
    fails(code(I(op, arg), *RET_NONE), f"{op} argument {arg} must be .*{bound}")


def test_stack_underflow() -> None:
    fails(code(I("LOAD_CONST", 0), I("ADD"), I("RETURN_VALUE")), "ADD needs 2 items, the stack has 1")


def test_reach_below_pops() -> None:
    # LIST_APPEND 2 pops one item, then appends to the list 2 deep: it needs 3 items.
    c = code(I("BUILD_LIST", 0), I("LOAD_CONST", 1), I("LIST_APPEND", 2), *RET_NONE)
    fails(c, "LIST_APPEND 2 needs 3 items, the stack has 2")


def test_join_mismatch() -> None:
    c = code(I("LOAD_CONST", 1), I("POP_JUMP_IF_TRUE", 4), I("LOAD_CONST", 0), I("JUMP", 4),
             I("RETURN_VALUE"))
    msg = fails(c, "stack depth mismatch at a join")
    assert "offset 4" in msg


def test_falls_off_end() -> None:
    fails(code(I("LOAD_CONST", 0), I("POP_TOP")), "fall off the end of the code after POP_TOP")
    fails(code(I("LOAD_CONST", 0), I("POP_JUMP_IF_TRUE", 0)), "fall off the end")


def test_empty_code() -> None:
    fails(code(), "no instructions")


def test_unreachable_code_is_not_depth_checked() -> None:
    c = code(*RET_NONE, I("POP_TOP"), I("POP_TOP"))
    verify(c)
    assert stack_depths(c).depths == (0, 1, None, None)


def test_handler_entry_depth() -> None:
    # try: [0, 2) -> 3 with depth 0: the handler starts with [exc].
    c = code(I("LOAD_CONST", 1), I("RETURN_VALUE"), I("NOP"), I("POP_TOP"), *RET_NONE,
             handlers=[Handler(0, 2, 3, 0)])
    verify(c)
    assert stack_depths(c).depths[3] == 1
    # With lasti the handler starts with [lasti, exc].
    c2 = code(I("LOAD_CONST", 1), I("RETURN_VALUE"), I("NOP"), I("POP_TOP"), *RET_NONE,
              handlers=[Handler(0, 2, 3, 0, lasti=True)])
    verify(c2)
    assert stack_depths(c2).depths[3] == 2 and c2.stacksize == 2


def test_handler_depth_exceeds_stack() -> None:
    c = code(I("LOAD_CONST", 1), I("RETURN_VALUE"), I("POP_TOP"), *RET_NONE,
             handlers=[Handler(0, 2, 2, 1)])
    fails(c, r"offset 0\): handler -> 2 keeps 1 stack item, but the stack here has 0")


def test_handler_join_mismatch() -> None:
    # The handler target is also reached by a normal jump with another depth.
    c = code(I("JUMP", 2), I("NOP"), *RET_NONE, handlers=[Handler(0, 1, 2, 0)])
    fails(c, "stack depth mismatch at a join")


@pytest.mark.parametrize("h,pattern", [
    (Handler(1, 1, 0, 0), r"covers \[1, 1\), which is empty"),
    (Handler(0, 5, 0, 0), r"covers \[0, 5\), which is empty or outside"),
    (Handler(0, 1, 2, 0), "target 2 is outside the code"),
    (Handler(0, 1, 0, -1), "negative depth"),
])
def test_bad_handler_table(h: Handler, pattern: str) -> None:
    fails(code(*RET_NONE, handlers=[h]), pattern)


def test_innermost_handler_wins() -> None:
    # Inner [1, 2) -> 4 at depth 1 is checked at offset 1 only; the outer entry applies elsewhere.
    c = code(I("LOAD_CONST", 1), I("LOAD_CONST", 1), I("RETURN_VALUE"), I("NOP"),
             I("POP_TOP"), I("POP_TOP"), *RET_NONE,
             handlers=[Handler(1, 2, 4, 1), Handler(0, 3, 5, 0)])
    verify(c)
    depths = stack_depths(c).depths
    assert depths[4] == 2 and depths[5] == 1


def test_signature_checks() -> None:
    fails(code(*RET_NONE, argcount=2, varnames=["a"]), "names 2 parameters but varnames has 1")
    fails(code(*RET_NONE, argcount=1, posonlyargcount=2, varnames=["a"]), "posonlyargcount 2 exceeds")
    fails(code(*RET_NONE, varnames=["a", "a"]), "'a' appears twice in varnames")
    fails(code(*RET_NONE, cellvars=["a"], freevars=["a"]), "'a' appears twice in cell_names")
    fails(code(*RET_NONE, argcount=1, varnames=["a"], defaults=(1, 2)), "defaults must be a tuple of at most")
    fails(code(*RET_NONE, argcount=1, varnames=["a"], kwdefaults={"a": 1}),
          "'a', which is not a keyword-only")
    fails(code(*RET_NONE, flags=frozenset({"fast"})), r"unknown flags \['fast'\]")


def test_constants_must_be_literals() -> None:
    fails(code(*RET_NONE, consts=[None, [1]]), "constant #1 is not a literal: list")
    fails(code(*RET_NONE, consts=[None, (1, Code("g"))]), "code object inside a container")
    fails(code(*RET_NONE, argcount=1, varnames=["a"], defaults=(object(),)),
          "a default value is not a literal")


def test_nested_code_verified_with_its_own_name() -> None:
    inner = Code("inner", [I("POP_TOP", line=7)], filename="demo.zasm")
    c = code(*RET_NONE, consts=[None, inner])
    fails(c, r"^demo.zasm:7 \(function inner, offset 0\): stack underflow")


def test_nested_code_cycle_terminates() -> None:
    c = code(*RET_NONE)
    c.consts.append(c)
    verify(c)


def test_host_code() -> None:
    verify(code(*RET_NONE, consts=[None, Code("C", flags=frozenset({HOST}))]))
    fails(Code("C", [I("NOP")], flags=frozenset({HOST})), "'host' flag has no instructions")


def test_line_must_be_int() -> None:
    fails(code(I("LOAD_CONST", 0, line="3"), I("RETURN_VALUE")), "line must be None or an int")  # type: ignore[arg-type]


def test_for_iter_branch_depth() -> None:
    # [it] FOR_ITER -> [it, x] falling through, [] at the exit.
    c = code(I("BUILD_LIST", 0), I("GET_ITER"), I("FOR_ITER", 5), I("POP_TOP"), I("JUMP", 2),
             *RET_NONE)
    verify(c)
    assert stack_depths(c).depths == (0, 1, 1, 2, 1, 0, 1)
    assert c.stacksize == 2
