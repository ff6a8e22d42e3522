"""`CodeBuilder`: emission by meaning, labels, lines, handler regions, nested code, early errors;
built code runs on the stack VM."""

from __future__ import annotations

import pytest

import vm
from zir import VerifyError
from zir.bytecode import CodeBuilder, Handler, Label, ZInstr, assemble, disassemble, from_json, to_json


def run(code: object, *args: object) -> object:
    return vm.VM(mode="stack").run(code, *args)


def count_to(n_name: str = "n") -> CodeBuilder:
    cb = CodeBuilder("count", params=[n_name], filename="lang.src")
    loop, done = cb.label("loop"), cb.label("done")
    cb.line(1)
    cb.emit("LOAD_CONST", 0)
    cb.emit("STORE_FAST", "i")
    cb.place(loop)
    cb.line(2)
    cb.emit("LOAD_FAST", "i")
    cb.emit("LOAD_FAST", n_name)
    cb.emit("LT")
    cb.emit("POP_JUMP_IF_FALSE", done)
    cb.line(3)
    cb.emit("LOAD_FAST", "i")
    cb.emit("LOAD_CONST", 1)
    cb.emit("IADD")
    cb.emit("STORE_FAST", "i")
    cb.emit("JUMP", loop)
    cb.place(done)
    cb.line(4)
    cb.emit("LOAD_FAST", "i")
    cb.emit("RETURN_VALUE")
    return cb


def test_loop_tables_and_labels() -> None:
    code = count_to().finish()
    assert code.varnames == ["n", "i"] and code.argcount == 1
    assert code.consts == [0, 1]
    assert code.instrs[5] == ZInstr("POP_JUMP_IF_FALSE", 11, 2)
    assert code.instrs[10] == ZInstr("JUMP", 2, 3)
    assert code.stacksize == 2
    assert run(code, 5) == 5
    assert assemble(disassemble(code)) == code and from_json(to_json(code)) == code


def test_names_and_call() -> None:
    cb = CodeBuilder("f", params=["xs"])
    cb.emit("LOAD_GLOBAL", "len")
    cb.emit("LOAD_FAST", "xs")
    cb.emit("CALL", 1)
    cb.emit("LOAD_GLOBAL", "len")  # interned once
    cb.emit("POP_TOP")
    cb.emit("RETURN_VALUE")
    code = cb.finish()
    assert code.names == ["len"]
    assert run(code, [1, 2, 3]) == 3


def test_signature() -> None:
    cb = CodeBuilder("g", params=["a", "b"], posonly=1, kwonly=["c"], varargs="args", varkw="kw",
                     defaults=(2,), kwdefaults={"c": 3})
    for name in ("a", "b", "c", "args", "kw"):
        cb.emit("LOAD_FAST", name)
    cb.emit("BUILD_TUPLE", 5)
    cb.emit("RETURN_VALUE")
    code = cb.finish()
    assert code.varnames == ["a", "b", "c", "args", "kw"]
    assert code.flags == frozenset({"varargs", "varkeywords"})
    assert run(code, 1) == (1, 2, 3, (), {})
    assert run(code, 1, 5, 6) == (1, 5, 3, (6,), {})


def test_handler_region() -> None:
    # try: return 1 // d  except: return -1  (bare except, for brevity)
    cb = CodeBuilder("safe_div", params=["d"])
    handler = cb.label("handler")
    with cb.protect(handler):
        cb.emit("LOAD_CONST", 1)
        cb.emit("LOAD_FAST", "d")
        cb.emit("FLOORDIV")
        cb.emit("RETURN_VALUE")
    cb.place(handler)
    assert cb.depth == 1  # [exc]
    cb.emit("POP_TOP")
    cb.emit("LOAD_CONST", -1)
    cb.emit("RETURN_VALUE")
    code = cb.finish()
    assert code.handlers == [Handler(0, 4, 4, 0, False)]
    assert run(code, 1) == 1 and run(code, 0) == -1


def test_nested_regions_innermost_first() -> None:
    cb = CodeBuilder("f")
    outer, inner = cb.label("outer"), cb.label("inner")
    with cb.protect(outer):
        cb.emit("NOP")
        with cb.protect(inner, lasti=True):
            cb.emit("LOAD_CONST", None)
            cb.emit("RETURN_VALUE")
    cb.place(inner)
    assert cb.depth == 2
    cb.emit("POP_TOP")
    cb.emit("POP_TOP")
    cb.emit("LOAD_CONST", None)
    cb.emit("RETURN_VALUE")
    cb.place(outer)
    cb.emit("RETURN_VALUE")
    code = cb.finish()
    assert code.handlers == [Handler(1, 3, 3, 0, True), Handler(0, 3, 7, 0, False)]


def test_explicit_handler_entry() -> None:
    cb = CodeBuilder("f")
    start, end, target = cb.label(), cb.label(), cb.label()
    cb.place(start)
    cb.emit("LOAD_CONST", 1)
    cb.emit("RETURN_VALUE")
    cb.place(end)
    cb.handler(start, end, target, depth=0)
    cb.place(target)
    cb.emit("RETURN_VALUE")  # returns the exception object
    code = cb.finish()
    assert code.handlers == [Handler(0, 2, 2, 0, False)]


def test_nested_code_and_closure() -> None:
    cb = CodeBuilder("make_adder", params=["k"], cellvars=["k"], filename="lang.src")
    cb.line(1)
    cb.emit("LOAD_FAST", "k")
    cb.emit("STORE_DEREF", "k")
    inner = cb.nested("add", params=["x"], freevars=["k"])
    inner.emit("LOAD_FAST", "x")
    inner.emit("LOAD_DEREF", "k")
    inner.emit("ADD")
    inner.emit("RETURN_VALUE")
    cb.emit("LOAD_CLOSURE", "k")
    cb.emit("BUILD_TUPLE", 1)
    cb.emit("LOAD_CONST", inner)
    cb.emit("MAKE_FUNCTION", 8)
    cb.emit("RETURN_VALUE")
    code = cb.finish()
    add_code = code.consts[0]
    assert add_code.qualname == "make_adder.<locals>.add" and "nested" in add_code.flags
    assert add_code.filename == "lang.src" and add_code.stacksize == 2
    assert run(code, 10)(5) == 15
    assert assemble(disassemble(code)) == code


def test_error_unknown_opcode() -> None:
    with pytest.raises(VerifyError, match=r"unknown opcode 'LOAD_FASTT' \(did you mean LOAD_FAST\?\)"):
        CodeBuilder("f").emit("LOAD_FASTT", "x")


def test_error_wrong_operand() -> None:
    cb = CodeBuilder("f", filename="lang.src")
    with pytest.raises(VerifyError, match="JUMP needs a Label"):
        cb.emit("JUMP", 3)
    with pytest.raises(VerifyError, match="CALL needs an int"):
        cb.emit("CALL", "2")
    with pytest.raises(VerifyError, match="LOAD_FAST needs a name"):
        cb.emit("LOAD_FAST", 0)
    with pytest.raises(VerifyError, match="RETURN_VALUE takes no operand"):
        cb.emit("RETURN_VALUE", 1)
    with pytest.raises(VerifyError, match="'c' is not a cell or free variable"):
        cb.emit("LOAD_DEREF", "c")


def test_error_underflow_names_offset_and_line() -> None:
    cb = CodeBuilder("f", filename="lang.src")
    cb.line(7)
    cb.emit("LOAD_CONST", 1)
    with pytest.raises(VerifyError, match=r"^lang.src:7 \(function f, offset 1\): stack underflow: ADD"):
        cb.emit("ADD")


def test_error_depth_mismatch_at_label() -> None:
    cb = CodeBuilder("f")
    join = cb.label("join")
    cb.emit("LOAD_CONST", 1)
    cb.emit("POP_JUMP_IF_TRUE", join)  # reaches join with depth 0
    cb.emit("LOAD_CONST", 1)
    with pytest.raises(VerifyError, match="depth 1 reaching label 'join', which is reached elsewhere with "):
        cb.emit("JUMP", join)
    with pytest.raises(VerifyError, match="depth 1 falling into label 'join'"):
        cb.place(join)


def test_error_label_never_placed_or_twice() -> None:
    cb = CodeBuilder("f")
    lost = cb.label("lost")
    cb.emit("JUMP", lost)
    with pytest.raises(VerifyError, match="label 'lost' is used but never placed"):
        cb.finish()
    cb.place(lost)
    with pytest.raises(VerifyError, match="label 'lost' is placed twice"):
        cb.place(lost)


def test_finish_verifies() -> None:
    cb = CodeBuilder("f")
    cb.emit("LOAD_CONST", None)
    cb.emit("POP_TOP")
    with pytest.raises(VerifyError, match="fall off the end"):
        cb.finish()
    assert cb.finish(check=False).instrs[-1] == ZInstr("POP_TOP")


def test_label_type() -> None:
    lab = CodeBuilder("f").label()
    assert isinstance(lab, Label) and lab.index is None
