"""The stack-mode VM on hand-built ZBC: every opcode, exception tables, frames, limits, and calls that
cross the host/VM boundary in both directions with exceptions.

Each `@case` builds programs (with tests/zbc_asm.py) and says what running them must give; one
parametrized test at the end runs them all, and `test_every_opcode_is_exercised` checks that
together they use every ZBC opcode in the table.
"""

from __future__ import annotations

import operator
import os.path
import sys
from collections.abc import Callable
from typing import Any

import pytest
from zbc_asm import asm

import vm
from zir.bytecode.code import HOST, Code
from zir.errors import VMError
from zir.ops import ZBC_OPS


class Raises:
    """Expected outcome: an exception of exactly this type with exactly this message."""

    def __init__(self, etype: type[BaseException], message: str) -> None:
        self.etype, self.message = etype, message


Case = tuple[Code, tuple[Any, ...], Any]
CASES: dict[str, Callable[[], list[Case]]] = {}


def case(fn: Callable[[], list[Case]]) -> Callable[[], list[Case]]:
    CASES[fn.__name__] = fn
    return fn


def run(code: Code, *args: Any, machine: vm.VM | None = None, **kwargs: Any) -> Any:
    return (machine or vm.VM(mode="stack")).run(code, *args, **kwargs)


def check(code: Code, args: tuple[Any, ...], expected: Any) -> None:
    if isinstance(expected, Raises):
        with pytest.raises(expected.etype) as info:
            run(code, *args)
        assert type(info.value) is expected.etype
        assert str(info.value) == expected.message
    elif callable(expected) and not isinstance(expected, type):
        # A checker: it asserts, or returns whether the result is right.
        assert expected(run(code, *args)) in (None, True)
    else:
        result = run(code, *args)
        assert type(result) is type(expected) and result == expected


# -- objects the programs use --------------------------------------------------------------------------------

class Mat:
    """Supports `@` and `@=` (no builtin type does)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __matmul__(self, other: Mat) -> int:
        return self.v * other.v * 10

    def __imatmul__(self, other: Mat) -> int:
        return self.v * other.v * 100


class Obj:
    pass


class Manager:
    """A context manager that records its calls and suppresses exceptions when asked."""

    def __init__(self, suppress: bool) -> None:
        self.suppress = suppress
        self.log: list[Any] = []

    def __enter__(self) -> str:
        self.log.append("enter")
        return "entered"

    def __exit__(self, t: Any, v: Any, tb: Any) -> bool:
        self.log.append(("exit", t, type(v) if v is not None else None))
        return self.suppress


class EnterOnly:
    def __enter__(self) -> None:
        return None


# -- operators (from the table) ------------------------------------------------------------------------------

_SAMPLES: dict[str, tuple[Any, Any]] = {"MATMUL": (Mat(2), Mat(3)), "IMATMUL": (Mat(2), Mat(3)),
                                        "IN": (2, [1, 2]), "NOT_IN": (2, [1, 2]), "IS": (None, None),
                                        "IS_NOT": (None, 1)}


@case
def binary_operators() -> list[Case]:
    out = []
    for z, row in ZBC_OPS.items():
        if row.impl is None or row.symbol is None or row.pops(0) != 2:
            continue
        a, b = _SAMPLES.get(z, (7, 3))
        env = {"a": a, "b": b}
        if z.startswith("I") and z not in ("IN", "IS", "IS_NOT"):
            exec(f"a {row.symbol} b", env)  # an augmented assignment
            expected = env["a"]
        else:
            expected = eval(f"a {row.symbol} b", env)
        out.append((asm(f"LOAD_FAST a; LOAD_FAST b; {z}; RETURN_VALUE", params=("a", "b")), (a, b), expected))
    add = asm("LOAD_FAST a; LOAD_FAST b; ADD; RETURN_VALUE", params=("a", "b"))
    out.append((add, (1, "x"), Raises(TypeError, "unsupported operand type(s) for +: 'int' and 'str'")))
    return out


@case
def unary_operators() -> list[Case]:
    expected = {"NEG": -5, "POS": 5, "INVERT": ~5, "NOT": False, "TRUTH": True}
    return [(asm(f"LOAD_FAST a; {z}; RETURN_VALUE", params=("a",)), (5,), v) for z, v in expected.items()]


# -- locals, stack, globals, attributes, subscripts ----------------------------------------------------------

_UNBOUND_X = "cannot access local variable 'x' where it is not associated with a value"


@case
def locals_and_stack_shuffles() -> list[Case]:
    code = asm("LOAD_FAST a; LOAD_FAST b; SWAP 2; SUB; COPY 1; POP_TOP; NOP; STORE_FAST t; LOAD_FAST t; "
               "RETURN_VALUE", params=("a", "b"))
    return [(code, (10, 3), -7)]


@case
def delete_fast() -> list[Case]:
    after_delete = asm("LOAD_CONST 1; STORE_FAST x; DELETE_FAST x; LOAD_FAST x; RETURN_VALUE")
    twice = asm("LOAD_CONST 1; STORE_FAST x; DELETE_FAST x; DELETE_FAST x; LOAD_CONST None; RETURN_VALUE")
    param = asm("DELETE_FAST x; LOAD_FAST x; RETURN_VALUE", params=("x",))
    error = Raises(UnboundLocalError, _UNBOUND_X)
    return [(after_delete, (), error), (twice, (), error), (param, (1,), error)]


@case
def unbound_marker_ops() -> list[Case]:
    unchecked = asm("LOAD_UNBOUND; STORE_FAST x; LOAD_FAST_UNCHECKED x; CHECK_BOUND x; LOAD_CONST None; "
                    "RETURN_VALUE")
    bound = asm("LOAD_FAST_UNCHECKED p; COPY 1; CHECK_BOUND p; RETURN_VALUE", params=("p",))
    # Storing the marker into a parameter unbinds it, so its LOAD_FAST must check.
    param = asm("LOAD_UNBOUND; STORE_FAST x; LOAD_FAST x; RETURN_VALUE", params=("x",))
    error = Raises(UnboundLocalError, _UNBOUND_X)
    return [(unchecked, (), error), (bound, (7,), 7), (param, (1,), error)]


@case
def globals_and_builtins() -> list[Case]:
    code = asm("LOAD_FAST v; STORE_GLOBAL g; LOAD_GLOBAL len; LOAD_GLOBAL g; CALL 1; DELETE_GLOBAL g; "
               "RETURN_VALUE", params=("v",))
    missing = asm("LOAD_GLOBAL nowhere; RETURN_VALUE")
    delete_missing = asm("DELETE_GLOBAL nowhere; LOAD_CONST None; RETURN_VALUE")
    error = Raises(NameError, "name 'nowhere' is not defined")
    return [(code, ("abc",), 3), (missing, (), error), (delete_missing, (), error)]


def test_globals_option_and_fresh_globals() -> None:
    machine = vm.VM(mode="stack")
    store = asm("LOAD_FAST v; STORE_GLOBAL g; LOAD_CONST None; RETURN_VALUE", params=("v",))
    env: dict[str, Any] = {}
    machine.run(store, 5, globals=env)
    assert env["g"] == 5
    load = asm("LOAD_GLOBAL g; RETURN_VALUE")
    assert machine.run(load, globals=env) == 5
    # Without globals=, each run of a Code gets a fresh dict: the store above is not visible.
    machine.run(store, 6)
    with pytest.raises(NameError, match="^name 'g' is not defined$"):
        machine.run(load)


@case
def attributes() -> list[Case]:
    code = asm("LOAD_CONST 5; LOAD_FAST o; STORE_ATTR x; LOAD_FAST o; LOAD_ATTR x; "
               "LOAD_FAST o; DELETE_ATTR x; LOAD_FAST o; LOAD_ATTR __dict__; BUILD_TUPLE 2; RETURN_VALUE",
               params=("o",))
    missing = asm("LOAD_FAST o; LOAD_ATTR zz; RETURN_VALUE", params=("o",))
    return [(code, (Obj(),), (5, {})),
            (missing, (Obj(),), Raises(AttributeError, "'Obj' object has no attribute 'zz'"))]


@case
def subscripts() -> list[Case]:
    code = asm("LOAD_CONST 1; LOAD_FAST d; LOAD_CONST 'k'; STORE_SUBSCR; "
               "LOAD_FAST d; LOAD_CONST 'k'; BINARY_SUBSCR; "
               "LOAD_FAST d; LOAD_CONST 'k'; DELETE_SUBSCR; "
               "LOAD_FAST d; BUILD_TUPLE 2; RETURN_VALUE", params=("d",))
    missing = asm("LOAD_FAST d; LOAD_CONST 'k'; BINARY_SUBSCR; RETURN_VALUE", params=("d",))
    return [(code, ({},), (1, {})), (missing, ({},), Raises(KeyError, "'k'"))]


# -- building ------------------------------------------------------------------------------------------------

@case
def builders() -> list[Case]:
    code = asm([
        "LOAD_CONST 1; LOAD_CONST 2; BUILD_TUPLE 2",
        "LOAD_CONST 1; LOAD_CONST 2; BUILD_LIST 2",
        "LOAD_CONST 1; LOAD_CONST 1; BUILD_SET 2",
        "LOAD_CONST 'k'; LOAD_CONST 'v'; BUILD_MAP 1",
        "LOAD_CONST 1; LOAD_CONST 2; LOAD_CONST ('a', 'b'); BUILD_CONST_KEY_MAP 2",
        "LOAD_CONST 1; LOAD_CONST 9; LOAD_CONST 2; BUILD_SLICE 3",
        "LOAD_CONST 'x='; LOAD_FAST v; FORMAT_VALUE 2; BUILD_STRING 2",   # f"x={v!r}"
        "LOAD_FAST v; LOAD_CONST '>6'; FORMAT_VALUE 5",                   # f"{v!s:>6}"
        "LOAD_CONST 'plain'; FORMAT_VALUE 0",
        "LOAD_CONST 3; BUILD_LIST 1; LIST_TO_TUPLE",
        "BUILD_TUPLE 10; RETURN_VALUE"], params=("v",))
    expected = ((1, 2), [1, 2], {1}, {"k": "v"}, {"a": 1, "b": 2}, slice(1, 9, 2), "x='s'", "     s",
                "plain", (3,))
    return [(code, ("s",), expected)]


@case
def container_updates() -> list[Case]:
    code = asm(["BUILD_LIST 0; LOAD_CONST 1; LIST_APPEND 1; LOAD_FAST it; LIST_EXTEND 1",
                "BUILD_SET 0; LOAD_CONST 0; SET_ADD 1; LOAD_FAST it; SET_UPDATE 1",
                "BUILD_MAP 0; LOAD_CONST 'k'; LOAD_CONST 'v'; MAP_ADD 1; LOAD_FAST m; DICT_UPDATE 1",
                "BUILD_TUPLE 3; RETURN_VALUE"], params=("it", "m"))
    extend_error = asm("BUILD_LIST 0; LOAD_FAST it; LIST_EXTEND 1; RETURN_VALUE", params=("it",))
    update_error = asm("BUILD_MAP 0; LOAD_FAST m; DICT_UPDATE 1; RETURN_VALUE", params=("m",))
    return [(code, ((2, 3), {"a": 1}), ([1, 2, 3], {0, 2, 3}, {"k": "v", "a": 1})),
            (extend_error, (5,), Raises(TypeError, "Value after * must be an iterable, not int")),
            (update_error, (5,), Raises(TypeError, "'int' object is not a mapping"))]


@case
def dict_merge() -> list[Case]:
    # dict(**m1, **m2)
    code = asm("LOAD_GLOBAL dict; LOAD_CONST (); BUILD_MAP 0; LOAD_FAST m1; DICT_MERGE 1; LOAD_FAST m2; "
               "DICT_MERGE 1; CALL_EX; RETURN_VALUE", params=("m1", "m2"))
    return [(code, ({"a": 1}, {"b": 2}), {"a": 1, "b": 2}),
            (code, ({"x": 1}, {"x": 2}),
             Raises(TypeError, "dict() got multiple values for keyword argument 'x'")),
            (code, ({}, 5), Raises(TypeError, "dict() argument after ** must be a mapping, not int"))]


@case
def unpacking() -> list[Case]:
    seq = asm("LOAD_FAST s; UNPACK_SEQUENCE 2; STORE_FAST a; STORE_FAST b; LOAD_FAST a; LOAD_FAST b; "
              "BUILD_TUPLE 2; RETURN_VALUE", params=("s",))
    # a, *b, c = s
    star = asm("LOAD_FAST s; UNPACK_EX 0x101; STORE_FAST a; STORE_FAST b; STORE_FAST c; "
               "LOAD_FAST a; LOAD_FAST b; LOAD_FAST c; BUILD_TUPLE 3; RETURN_VALUE", params=("s",))
    return [(seq, ((1, 2),), (1, 2)), (seq, (iter("xy"),), ("x", "y")),
            (seq, ([1, 2, 3],), Raises(ValueError, "too many values to unpack (expected 2)")),
            (seq, ([1],), Raises(ValueError, "not enough values to unpack (expected 2, got 1)")),
            (seq, (5,), Raises(TypeError, "cannot unpack non-iterable int object")),
            (star, ([1, 2, 3, 4],), (1, [2, 3], 4)), (star, ("ab",), ("a", [], "b")),
            (star, ([1],), Raises(ValueError, "not enough values to unpack (expected at least 2, got 1)"))]


@case
def unpacking_ir_forms() -> list[Case]:
    code = asm("LOAD_FAST s; UNPACK 2; COPY 1; TUPLE_ITEM 1; SWAP 2; TUPLE_ITEM 0; "
               "LOAD_FAST s; UNPACK_STAR 1; BUILD_TUPLE 3; RETURN_VALUE", params=("s",))
    return [(code, ((1, 2),), (2, 1, (1, [2]))),
            (code, ((1, 2, 3),), Raises(ValueError, "too many values to unpack (expected 2)"))]


# -- control flow --------------------------------------------------------------------------------------------

@case
def for_loop_and_jumps() -> list[Case]:
    # s = 0; for v in xs: if v % 2: continue; s += v
    code = asm("LOAD_CONST 0; STORE_FAST s; LOAD_FAST xs; GET_ITER; "
               "loop:; FOR_ITER done; STORE_FAST v; LOAD_FAST v; LOAD_CONST 2; MOD; POP_JUMP_IF_TRUE loop; "
               "LOAD_FAST s; LOAD_FAST v; ADD; STORE_FAST s; JUMP loop; "
               "done:; LOAD_FAST s; RETURN_VALUE", params=("xs",))
    return [(code, (range(10),), 20), (code, (5,), Raises(TypeError, "'int' object is not iterable"))]


class _Failing:
    """An iterator that gives 1, 2, then raises ValueError."""

    def __init__(self) -> None:
        self.n = 0

    def __iter__(self) -> _Failing:
        return self

    def __next__(self) -> int:
        self.n += 1
        if self.n > 2:
            raise ValueError("no more")
        return self.n


@case
def for_iter_back_loop() -> list[Case]:
    # s = 0; for v in xs: s += v, with the loop inverted: FOR_ITER once, then FOR_ITER_BACK at the
    # bottom jumps back to the body with the next item, or pops the iterator and falls through.
    code = asm("LOAD_CONST 0; STORE_FAST s; LOAD_FAST xs; GET_ITER; FOR_ITER done; "
               "body:; STORE_FAST v; LOAD_FAST s; LOAD_FAST v; ADD; STORE_FAST s; FOR_ITER_BACK body; "
               "done:; LOAD_FAST s; RETURN_VALUE", params=("xs",))
    # The same in a try: an exception from the iterator's __next__ at FOR_ITER_BACK is caught
    # with the handler's depth (the iterator is dropped).
    guarded = asm("LOAD_CONST 0; STORE_FAST s; LOAD_FAST xs; GET_ITER; start:; FOR_ITER done; "
                  "body:; STORE_FAST v; LOAD_FAST s; LOAD_FAST v; ADD; STORE_FAST s; FOR_ITER_BACK body; "
                  "end:; done:; LOAD_FAST s; RETURN_VALUE; "
                  "h:; POP_TOP; LOAD_FAST s; LOAD_CONST 100; ADD; RETURN_VALUE",
                  params=("xs",), handlers=(("start", "end", "h", 0, False),))
    return [(code, ([1, 2, 3],), 6), (code, ([],), 0),
            (code, ("ab",), Raises(TypeError, "unsupported operand type(s) for +: 'int' and 'str'")),
            (guarded, (_Failing(),), 103), (guarded, ([5],), 5)]


@case
def iter_next_loop() -> list[Case]:
    code = asm("LOAD_CONST 0; STORE_FAST s; LOAD_FAST xs; GET_ITER; STORE_FAST it; "
               "loop:; LOAD_FAST it; ITER_NEXT; STORE_FAST v; LOAD_FAST v; POP_JUMP_IF_EXHAUSTED done; "
               "LOAD_FAST s; LOAD_FAST v; ADD; STORE_FAST s; JUMP loop; "
               "done:; LOAD_FAST s; RETURN_VALUE", params=("xs",))
    return [(code, ([1, 2, 3],), 6)]


@case
def conditional_jumps() -> list[Case]:
    code = asm("LOAD_FAST a; POP_JUMP_IF_NONE isnone; "
               "LOAD_FAST a; JUMP_IF_TRUE_OR_POP out; LOAD_FAST b; "
               "out:; RETURN_VALUE; "
               "isnone:; LOAD_FAST b; POP_JUMP_IF_NOT_NONE bnn; LOAD_CONST 'both none'; RETURN_VALUE; "
               "bnn:; LOAD_FAST b; JUMP_IF_FALSE_OR_POP out2; LOAD_CONST 'b truthy'; "
               "out2:; RETURN_VALUE", params=("a", "b"))
    falsy = asm("LOAD_FAST a; POP_JUMP_IF_FALSE no; LOAD_CONST 'yes'; RETURN_VALUE; "
                "no:; LOAD_CONST 'no'; RETURN_VALUE", params=("a",))
    return [(code, (1, 2), 1), (code, (0, 2), 2), (code, (None, None), "both none"), (code, (None, 0), 0),
            (code, (None, 5), "b truthy"), (falsy, ([],), "no"), (falsy, ([0],), "yes")]


# -- calls and functions -------------------------------------------------------------------------------------

@case
def host_calls() -> list[Case]:
    code = asm("LOAD_GLOBAL sorted; LOAD_FAST xs; LOAD_CONST True; LOAD_CONST ('reverse',); CALL_KW 2; "
               "RETURN_VALUE", params=("xs",))
    star = asm("LOAD_GLOBAL max; LOAD_FAST xs; LOAD_CONST None; CALL_EX; RETURN_VALUE", params=("xs",))
    return [(code, ([2, 3, 1],), [3, 2, 1]), (star, ([4, 9, 2],), 9),
            (star, (7,), Raises(TypeError, "max() argument after * must be an iterable, not int"))]


def _g_code() -> Code:
    """`def g(x, y=10, *, z=20): return x + y + z` as ZBC without a CPython code object."""
    return asm("LOAD_FAST x; LOAD_FAST y; ADD; LOAD_FAST z; ADD; RETURN_VALUE", name="g",
               params=("x", "y", "z"), argcount=2, kwonlyargcount=1, qualname="outer.<locals>.g")


@case
def make_function_and_vm_calls() -> list[Case]:
    code = asm(["LOAD_CONST (10,); LOAD_CONST 'z'; LOAD_CONST 20; BUILD_MAP 1; LOAD_CONST ('x', 'int')",
                ("LOAD_CONST", _g_code()), "MAKE_FUNCTION 7; STORE_FAST g",
                "LOAD_FAST g; LOAD_CONST 1; CALL 1",                                          # g(1)
                "LOAD_FAST g; LOAD_CONST 1; LOAD_CONST 2; LOAD_CONST 3; LOAD_CONST ('z',); CALL_KW 3",
                "LOAD_FAST g; LOAD_CONST (1, 2); LOAD_CONST 'z'; LOAD_CONST 0; BUILD_MAP 1; CALL_EX",
                "LOAD_FAST g; BUILD_TUPLE 4; RETURN_VALUE"], name="outer")

    def expect(result: Any) -> None:
        a, b, c, g = result
        assert (a, b, c) == (31, 6, 3)
        assert isinstance(g, vm.VMFunction)
        assert g.__qualname__ == "outer.<locals>.g" and g.__defaults__ == (10,)
        assert g.__kwdefaults__ == {"z": 20} and g.__annotations__ == {"x": "int"}
        # Host code can call it (a nested VM run), and gets CPython's binding errors.
        assert g(1, 1, z=1) == 3
        with pytest.raises(TypeError, match=r"^outer\.<locals>\.g\(\) missing 1 required positional "
                                            r"argument: 'x'$"):
            g()

    bad_call = asm([("LOAD_CONST", _g_code()), "MAKE_FUNCTION 0; LOAD_CONST 1; LOAD_CONST 2; LOAD_CONST 3; "
                                               "CALL 3; RETURN_VALUE"])
    message = "outer.<locals>.g() takes 2 positional arguments but 3 were given"
    return [(code, (), expect), (bad_call, (), Raises(TypeError, message))]


def _inner_code() -> Code:
    return asm("LOAD_DEREF c; RETURN_VALUE", name="inner", freevars=("c",))


@case
def closures_and_cells() -> list[Case]:
    sees_update = asm(["LOAD_FAST p; STORE_DEREF c; LOAD_CLOSURE c; BUILD_TUPLE 1",
                       ("LOAD_CONST", _inner_code()),
                       "MAKE_FUNCTION 8; STORE_FAST g; LOAD_CONST 5; STORE_DEREF c; LOAD_FAST g; CALL 0; "
                       "RETURN_VALUE"], params=("p",), cellvars=("c",))
    empty_free = asm(["LOAD_CLOSURE c; BUILD_TUPLE 1", ("LOAD_CONST", _inner_code()),
                      "MAKE_FUNCTION 8; CALL 0; RETURN_VALUE"], cellvars=("c",))
    empty_cell = asm("LOAD_DEREF c; RETURN_VALUE", cellvars=("c",))
    deleted = asm("LOAD_CONST 1; STORE_DEREF c; DELETE_DEREF c; DELETE_DEREF c; LOAD_CONST None; "
                  "RETURN_VALUE", cellvars=("c",))
    unbound_c = Raises(UnboundLocalError,
                       "cannot access local variable 'c' where it is not associated with a value")
    free_c = Raises(NameError, "cannot access free variable 'c' where it is not associated with a value in "
                               "enclosing scope")
    return [(sees_update, (1,), 5), (empty_free, (), free_c), (empty_cell, (), unbound_c),
            (deleted, (), unbound_c)]


def _class_body() -> Code:
    """A class body as the front end keeps it: a host-only Code holding CPython's code object."""
    module = compile("class C:\n    x = 1\n    def m(self):\n        return self.x + 1\n", "<test>", "exec")
    body = next(k for k in module.co_consts if hasattr(k, "co_code"))
    return Code("C", flags=frozenset({HOST}), pycode=body, qualname="C")


@case
def build_class() -> list[Case]:
    # class C: ...; return C().m()
    code = asm(["LOAD_BUILD_CLASS", ("LOAD_CONST", _class_body()), "MAKE_FUNCTION 0; LOAD_CONST 'C'; CALL 2",
                "CALL 0; LOAD_ATTR m; CALL 0; RETURN_VALUE"])
    return [(code, (), 2)]


@case
def imports() -> list[Case]:
    sqrt = asm("LOAD_CONST 0; LOAD_CONST None; IMPORT_NAME math; LOAD_ATTR sqrt; LOAD_CONST 16; CALL 1; "
               "RETURN_VALUE")
    from_os = asm("LOAD_CONST 0; LOAD_CONST ('path',); IMPORT_NAME os; IMPORT_FROM path; STORE_FAST p; "
                  "POP_TOP; LOAD_FAST p; RETURN_VALUE")
    missing = asm("LOAD_CONST 0; LOAD_CONST ('nope',); IMPORT_NAME json; IMPORT_FROM nope; RETURN_VALUE")
    try:
        exec("from json import nope", {})
    except ImportError as e:
        message = str(e)
    return [(sqrt, (), 4.0), (from_os, (), lambda p: p is os.path),
            (missing, (), Raises(ImportError, message))]


# -- exceptions ----------------------------------------------------------------------------------------------

def _except(body: str, exc_global: str, handled: str, after: str, **kw: Any) -> Code:
    """`try: <body> except <exc_global> as e: <handled> <after>` in CPython 3.11's shape: the
    handler stores the exception in `e`, runs `handled` with it handled, restores the previously
    handled exception (POP_EXCEPT), runs `after`; no match re-raises; a cleanup entry restores the
    previously handled exception when `handled` raises."""
    return asm([
        "try:", body, "try_end:",
        "handler:", f"PUSH_EXC_INFO; LOAD_GLOBAL {exc_global}; CHECK_EXC_MATCH; POP_JUMP_IF_FALSE nomatch",
        "STORE_FAST e", handled, "POP_EXCEPT", "handler_end:", after,
        "nomatch:", "RERAISE 0",
        "cleanup:", "COPY 3; POP_EXCEPT; RERAISE 1"],
        handlers=(("try", "try_end", "handler", 0, False), ("handler", "handler_end", "cleanup", 1, True),
                  ("nomatch", "cleanup", "cleanup", 1, True)), **kw)


_DIVIDE = "LOAD_CONST 1; LOAD_FAST a; TRUEDIV; RETURN_VALUE"


@case
def try_except() -> list[Case]:
    code = _except(_DIVIDE, "ZeroDivisionError", "", "LOAD_CONST 'zde'; RETURN_VALUE", params=("a",))
    bad_class = _except(_DIVIDE, "len", "", "LOAD_CONST '?'; RETURN_VALUE", params=("a",))
    return [(code, (2,), 0.5), (code, (0,), "zde"),
            (code, ("s",), Raises(TypeError, "unsupported operand type(s) for /: 'int' and 'str'")),
            (bad_class, (0,), Raises(TypeError, "catching classes that do not inherit from BaseException is "
                                                "not allowed"))]


def _raise_in_handler(handled: str) -> Code:
    return _except(_DIVIDE, "ZeroDivisionError", handled, "", params=("a",))


def test_raise_while_handling_chains_context() -> None:
    with pytest.raises(KeyError) as info:
        run(_raise_in_handler("LOAD_GLOBAL KeyError; LOAD_CONST 'k'; CALL 1; RAISE_VARARGS 1"), 0)
    assert type(info.value.__context__) is ZeroDivisionError and not info.value.__suppress_context__
    # `raise ... from None` keeps the context but suppresses it, as CPython does.
    with pytest.raises(KeyError) as info:
        run(_raise_in_handler("LOAD_GLOBAL KeyError; LOAD_CONST None; RAISE_VARARGS 2"), 0)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert type(info.value.__context__) is ZeroDivisionError
    # A class given as the cause is instantiated.
    with pytest.raises(KeyError) as info:
        run(_raise_in_handler("LOAD_GLOBAL KeyError; LOAD_GLOBAL OSError; RAISE_VARARGS 2"), 0)
    assert type(info.value.__cause__) is OSError
    # A bare `raise` re-raises the handled exception object itself, its context untouched.
    with pytest.raises(ZeroDivisionError) as info:
        run(_raise_in_handler("RAISE_VARARGS 0"), 0)
    assert info.value.__context__ is None
    # An error raised by the host (a failing int()) while handling chains too.
    with pytest.raises(ValueError) as info:
        run(_raise_in_handler("LOAD_GLOBAL int; LOAD_CONST 'x'; CALL 1; RETURN_VALUE"), 0)
    assert type(info.value.__context__) is ZeroDivisionError


def test_context_when_the_host_is_handling_an_exception() -> None:
    plain = asm("LOAD_GLOBAL ValueError; RAISE_VARARGS 1")
    in_handler = _raise_in_handler("LOAD_GLOBAL ValueError; RAISE_VARARGS 1")
    for code, args, expected_context in [(plain, (), KeyError), (in_handler, (0,), ZeroDivisionError)]:
        try:
            raise KeyError("host")
        except KeyError:
            with pytest.raises(ValueError) as info:
                run(code, *args)
        assert type(info.value.__context__) is expected_context


@case
def raise_forms() -> list[Case]:
    return [
        (asm("LOAD_GLOBAL KeyError; RAISE_VARARGS 1"), (), Raises(KeyError, "")),
        (asm("LOAD_CONST 5; RAISE_VARARGS 1"), (),
         Raises(TypeError, "exceptions must derive from BaseException")),
        (asm("LOAD_GLOBAL KeyError; LOAD_CONST 5; RAISE_VARARGS 2"), (),
         Raises(TypeError, "exception causes must derive from BaseException")),
        (asm("RAISE_VARARGS 0"), (), Raises(RuntimeError, "No active exception to reraise")),
        (asm("LOAD_ASSERTION_ERROR; LOAD_CONST 'boom'; CALL 1; RAISE_VARARGS 1"), (),
         Raises(AssertionError, "boom")),
    ]


@case
def handler_depth_and_lasti() -> list[Case]:
    # lasti: the handler receives the index of the raising instruction (TRUEDIV at 2).
    lasti = asm("start:; LOAD_CONST 1; LOAD_CONST 0; TRUEDIV; RETURN_VALUE; end:; "
                "h:; POP_TOP; RETURN_VALUE", handlers=(("start", "end", "h", 0, True),))
    # depth: the handler's stack keeps only the first `depth` items.
    keep = asm("LOAD_CONST 'keep'; LOAD_CONST 'drop'; start:; LOAD_CONST 1; LOAD_CONST 0; TRUEDIV; "
               "RETURN_VALUE; end:; h:; POP_TOP; POP_TOP; RETURN_VALUE",
               handlers=(("start", "end", "h", 1, True),))
    return [(lasti, (), 2), (keep, (), "keep")]


def _key_code() -> Code:
    """`def key(x): if x == 3: raise ValueError("three"); return -x`."""
    return asm("LOAD_FAST x; LOAD_CONST 3; EQ; POP_JUMP_IF_FALSE ok; "
               "LOAD_GLOBAL ValueError; LOAD_CONST 'three'; CALL 1; RAISE_VARARGS 1; "
               "ok:; LOAD_FAST x; NEG; RETURN_VALUE", name="key", params=("x",))


def _sort_with_key() -> Code:
    """`try: return sorted(xs, key=key) except ValueError as e: return f"caught {e}"`: VM -> host
    (sorted) -> VM (key), with the key's exception crossing both boundaries back."""
    return asm([
        "try:", "LOAD_GLOBAL sorted; LOAD_FAST xs", ("LOAD_CONST", _key_code()),
        "MAKE_FUNCTION 0; LOAD_CONST ('key',); CALL_KW 2; RETURN_VALUE", "try_end:",
        "handler:", "PUSH_EXC_INFO; LOAD_GLOBAL ValueError; CHECK_EXC_MATCH; POP_JUMP_IF_FALSE nomatch",
        "STORE_FAST e; POP_EXCEPT", "handler_end:",
        "LOAD_CONST 'caught '; LOAD_FAST e; FORMAT_VALUE 0; BUILD_STRING 2; RETURN_VALUE",
        "nomatch:", "RERAISE 0", "cleanup:", "COPY 3; POP_EXCEPT; RERAISE 1"],
        name="sort_with_key", params=("xs",),
        handlers=(("try", "try_end", "handler", 0, False), ("handler", "handler_end", "cleanup", 1, True),
                  ("nomatch", "cleanup", "cleanup", 1, True)))


@case
def exceptions_across_the_host_boundary() -> list[Case]:
    code = _sort_with_key()
    return [(code, ([1, 2],), [2, 1]), (code, ([1, 3],), "caught three")]


def test_host_vm_host_vm_chain() -> None:
    # The VM returns a VM function; the host maps it (host -> VM); it sorts with a VM key
    # (VM -> host -> VM); a key error crosses every boundary back to the host.
    machine = vm.VM(mode="stack")
    sort_with_key = machine.run(asm([("LOAD_CONST", _sort_with_key()), "MAKE_FUNCTION 0; RETURN_VALUE"]))
    assert list(map(sort_with_key, [[1, 2], [3, 1]])) == [[2, 1], "caught three"]
    key = machine.run(asm([("LOAD_CONST", _key_code()), "MAKE_FUNCTION 0; RETURN_VALUE"]))
    with pytest.raises(ValueError, match="^three$"):
        sorted([1, 3], key=key)
    raw = asm("LOAD_GLOBAL sorted; LOAD_FAST xs; LOAD_FAST k; LOAD_CONST ('key',); CALL_KW 2; RETURN_VALUE",
              params=("xs", "k"))
    with pytest.raises(ValueError, match="^three$"):
        machine.run(raw, [3], key)
    assert machine.stats()["peak_depth"] >= 2


def _with_code() -> Code:
    """`with m as v: if fail: raise KeyError; return v` in CPython 3.11's shape."""
    return asm([
        "LOAD_FAST m; BEFORE_WITH; STORE_FAST v",
        "body:", "LOAD_FAST fail; POP_JUMP_IF_FALSE ok; LOAD_GLOBAL KeyError; RAISE_VARARGS 1",
        "ok:", "body_end:", "LOAD_CONST None; LOAD_CONST None; LOAD_CONST None; CALL 3; POP_TOP",
        "LOAD_FAST v; RETURN_VALUE",
        "exc:", "PUSH_EXC_INFO; WITH_EXCEPT_START; POP_JUMP_IF_TRUE suppress; RERAISE 2",
        "cleanup:", "COPY 3; POP_EXCEPT; RERAISE 1",
        "suppress:", "POP_TOP; POP_EXCEPT", "suppress_end:", "POP_TOP; POP_TOP; LOAD_CONST 'suppressed'; "
                                                             "RETURN_VALUE"],
        params=("m", "fail"),
        handlers=(("body", "body_end", "exc", 1, True), ("exc", "cleanup", "cleanup", 3, True),
                  ("suppress", "suppress_end", "cleanup", 3, True)))


@case
def with_statement() -> list[Case]:
    code = _with_code()
    quiet, loud, suppressing = Manager(False), Manager(False), Manager(True)

    def clean_exit(result: Any) -> None:
        assert result == "entered" and quiet.log == ["enter", ("exit", None, None)]

    def suppressed(result: Any) -> None:
        assert result == "suppressed" and suppressing.log == ["enter", ("exit", KeyError, KeyError)]

    protocol = "object does not support the context manager protocol"
    return [(code, (quiet, False), clean_exit), (code, (suppressing, True), suppressed),
            (code, (loud, True), Raises(KeyError, "")),
            (code, (5, False), Raises(TypeError, f"'int' {protocol}")),
            (code, (EnterOnly(), False),
             Raises(TypeError, f"'EnterOnly' {protocol} (missed __exit__ method)"))]


# -- generators, coroutines, tasks (issue 7; tests/test_generators.py and friends go further) -------------

class Countdown:
    """An async iterator over n-1 .. 0."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __aiter__(self) -> Countdown:
        return self

    async def __anext__(self) -> int:
        if self.n == 0:
            raise StopAsyncIteration
        self.n -= 1
        return self.n


class AsyncManager:
    def __init__(self) -> None:
        self.log: list[Any] = []

    async def __aenter__(self) -> str:
        self.log.append("aenter")
        return "in"

    async def __aexit__(self, *exc: Any) -> None:
        self.log.append(("aexit", exc))


async def doubled(xs: list[int]) -> list[int]:
    return [x * 2 for x in xs]


@case
def generators_and_coroutines() -> list[Case]:
    gen = asm("LOAD_CONST 'first'; YIELD_VALUE; POP_TOP; LOAD_FAST xs; GET_YIELD_FROM_ITER; LOAD_CONST None; "
              "YIELD_FROM; RETURN_VALUE", name="gen", params=("xs",), flags=frozenset({"generator"}))
    main = asm([("LOAD_CONST", gen), "MAKE_FUNCTION 0; STORE_FAST g; LOAD_GLOBAL list; LOAD_FAST g; "
                "LOAD_FAST xs; CALL 1; CALL 1; RETURN_VALUE"], name="main", params=("xs",))
    co = asm(["BUILD_LIST 0; STORE_FAST acc; LOAD_FAST it; GET_AITER",
              "loop:", "COPY 1; GET_ANEXT; LOAD_CONST None; YIELD_FROM; STORE_FAST x",
              "LOAD_FAST acc; LOAD_FAST x; LIST_APPEND 1; POP_TOP; JUMP loop",
              "loop_end:", "END_ASYNC_FOR",
              "LOAD_FAST cm; COPY 1; AEXIT_OF; SWAP 2; AENTER; GET_AWAITABLE 1; LOAD_CONST None; YIELD_FROM",
              "POP_TOP; LOAD_CONST None; COPY 1; COPY 1; CALL 3",
              "GET_AWAITABLE 2; LOAD_CONST None; YIELD_FROM",
              "POP_TOP; LOAD_FAST f; LOAD_FAST acc; SPAWN 1; AWAIT; RETURN_VALUE"],
             name="co", params=("it", "cm", "f"), flags=frozenset({"coroutine"}),
             handlers=(("loop", "loop_end", "loop_end", 1, False),))
    manager = AsyncManager()

    def ran(result: Any) -> None:
        assert result == [4, 2, 0] and manager.log == ["aenter", ("aexit", (None, None, None))]

    return [(main, ([1, 2],), ["first", 1, 2]), (co, (Countdown(3), manager, doubled), ran),
            (main, (5,), Raises(TypeError, "'int' object is not iterable"))]


# -- frames and limits ---------------------------------------------------------------------------------------

def _recursion() -> Code:
    """`def rec(n): return rec(n - 1) + 1 if n else 0`, made global and called by `main(n)`."""
    rec = asm("LOAD_FAST n; POP_JUMP_IF_FALSE base; LOAD_GLOBAL rec; LOAD_FAST n; LOAD_CONST 1; SUB; CALL 1; "
              "LOAD_CONST 1; ADD; RETURN_VALUE; base:; LOAD_CONST 0; RETURN_VALUE", name="rec", params=("n",))
    return asm([("LOAD_CONST", rec), "MAKE_FUNCTION 0; STORE_GLOBAL rec",
                "LOAD_GLOBAL rec; LOAD_FAST n; CALL 1; RETURN_VALUE"], name="main", params=("n",))


def test_deep_recursion_is_bounded_by_max_depth_not_python() -> None:
    machine = vm.VM(mode="stack", max_depth=100_005)
    assert machine.run(_recursion(), 100_000) == 100_000
    assert machine.stats()["peak_depth"] == 100_002
    assert sys.getrecursionlimit() < 100_000


def test_max_depth_ends_runaway_recursion() -> None:
    with pytest.raises(VMError, match=r"^<zbc>:1 \(function rec, offset 6\): VM call depth limit exceeded "
                                      r"\(max_depth=2000\) calling rec$"):
        run(_recursion(), 5000)
    assert vm.VM(mode="stack", max_depth=50).run(_recursion(), 48) == 48


def _spin(catch_all: bool) -> Code:
    return asm("start:; NOP; loop:; JUMP loop; end:; h:; POP_TOP; LOAD_CONST 'caught'; RETURN_VALUE",
               name="spin", filename="spin.zasm", lines={"start": 3, "loop": 4},
               handlers=(("start", "end", "h", 0, False),) if catch_all else ())


def test_max_steps_ends_runaway_loop_and_cannot_be_caught() -> None:
    for catch_all in (False, True):
        machine = vm.VM(mode="stack", max_steps=1000)
        with pytest.raises(VMError, match=r"^spin\.zasm:4 \(function spin, offset 1\): step limit exceeded "
                                          r"\(max_steps=1000\)$"):
            machine.run(_spin(catch_all))
        assert 1000 < machine.stats()["instructions"] <= 1002


def test_max_steps_ends_a_loop_of_for_iter_back() -> None:
    import itertools

    code = asm("LOAD_FAST xs; GET_ITER; FOR_ITER done; body:; POP_TOP; FOR_ITER_BACK body; "
               "done:; LOAD_CONST None; RETURN_VALUE", params=("xs",))
    machine = vm.VM(mode="stack", max_steps=1000)
    with pytest.raises(VMError, match=r"step limit exceeded \(max_steps=1000\)$"):
        machine.run(code, itertools.count())
    assert 1000 < machine.stats()["instructions"] <= 1002


def test_steps_are_counted_across_runs() -> None:
    machine = vm.VM(mode="stack")
    code = asm("LOAD_FAST a; LOAD_FAST b; ADD; RETURN_VALUE", params=("a", "b"))
    machine.run(code, 1, 2)
    machine.run(code, 1, 2)
    assert machine.stats()["instructions"] == 8
    limited = vm.VM(mode="stack", max_steps=50)
    with pytest.raises(VMError, match="step limit"):
        for _ in range(50):
            limited.run(_recursion(), 3)


# -- decoding ------------------------------------------------------------------------------------------------

def test_every_opcode_decodes() -> None:
    from vm.stack_interp import decode

    simple = [z for z in sorted(ZBC_OPS) if ZBC_OPS[z].zarg.value in ("none", "count", "imm")]
    code = asm([z if ZBC_OPS[z].zarg.value == "none" else f"{z} 1" for z in simple])
    assert len(decode(code).instrs) == len(code.instrs)


def test_operator_kinds_call_the_tables_callables() -> None:
    from vm.stack_interp import K_BINARY, decode

    code = asm("LOAD_FAST a; LOAD_FAST b; ADD; RETURN_VALUE", params=("a", "b"))
    assert decode(code).instrs[2] == (K_BINARY, operator.add)


# -- the table of cases --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_case(name: str) -> None:
    for code, args, expected in CASES[name]():
        check(code, args, expected)


def _ops_of(code: Code) -> set[str]:
    ops = set()
    work = [code]
    while work:
        c = work.pop()
        ops.update(i.op for i in c.instrs)
        work.extend(k for k in c.consts if isinstance(k, Code))
    return ops


def test_every_opcode_is_exercised() -> None:
    used: set[str] = set()
    for build in CASES.values():
        for code, _, _ in build():
            used |= _ops_of(code)
    assert set(ZBC_OPS) - used == set()


def test_a_short_stack_at_a_handler_is_a_vm_fault() -> None:
    """Code whose handler keeps more items than are left when TRUEDIV raises (it has popped its
    divisor), decoded and run behind the verifier's back: the VM refuses to run the handler
    instead of running it on the wrong items."""
    import builtins

    from vm.stack_interp import decode

    code = asm("start:; LOAD_CONST 1; LOAD_CONST 0; TRUEDIV; RETURN_VALUE; end:; h:; RETURN_VALUE",
               handlers=(("start", "end", "h", 2, False),))
    rt = vm.VM(mode="stack")._runtime
    frame = rt.new_frame(decode(code), "f", (), None, (), {}, None, {}, builtins.__dict__, None)
    with pytest.raises(vm.VMFault, match="holds 1 items, fewer than the handler's depth 2$"):
        rt.run(frame)
