"""`zir.lift`: ZBC -> IR. Hand-built code objects lifted to exact IR text (FileCheck style: the
whole function is compared), every generic opcode-table row lifted by the table's rule, handler
regions and their invariants, definite assignment, the depth-mismatch error, and the CPython front
end's output for a wide set of functions (lift -> zir.verify -> print -> parse -> equal)."""

from __future__ import annotations

import textwrap
import types
from typing import Any

import pytest

import zir
from zir.bytecode.code import Code, Handler, ZInstr
from zir.lifting import LASTI, liftable, local_var_names
from zir.ops import IR_OPS, ZBC_OPS, ZArg


def code(body: list[Any], *, params: tuple[str, ...] = (), locals: tuple[str, ...] = (),
         handlers: tuple[tuple[str, str, str, int, bool], ...] = (), name: str = "f",
         **fields: Any) -> Code:
    """A Code from `"label:"` strings and `(OP, operand, line)` tuples whose operands are written by
    meaning (a constant, a name, a local, a label); `handlers` are `(start, end, target, depth, lasti)`
    with labels."""
    labels: dict[str, int] = {}
    n = 0
    for item in body:
        if isinstance(item, str):
            labels[item.rstrip(":")] = n
        else:
            n += 1
    consts: list[Any] = []
    names: list[str] = []
    varnames = [*params, *(v for v in locals if v not in params)]
    cells = [*fields.get("cellvars", []), *fields.get("freevars", [])]
    instrs = []
    for item in body:
        if isinstance(item, str):
            continue
        op, *rest = item
        operand: Any = rest[0] if rest else None
        line = rest[1] if len(rest) > 1 else None
        arg: int | None
        kind = ZBC_OPS[op].zarg
        if kind is ZArg.CONST:
            if not any(type(c) is type(operand) and c == operand for c in consts):
                consts.append(operand)
            arg = next(k for k, c in enumerate(consts) if type(c) is type(operand) and c == operand)
        elif kind is ZArg.NAME:
            if operand not in names:
                names.append(operand)
            arg = names.index(operand)
        elif kind is ZArg.LOCAL:
            if operand not in varnames:
                varnames.append(operand)
            arg = varnames.index(operand)
        elif kind is ZArg.CELL:
            arg = cells.index(operand)
        elif kind is ZArg.JUMP:
            arg = labels[operand]
        else:
            arg = operand
        instrs.append(ZInstr(op, arg, line))
    table = [Handler(labels[s], labels[e], labels[t], d, lasti) for s, e, t, d, lasti in handlers]
    fields.setdefault("argcount", len(params))
    return Code(name, instrs=instrs, consts=consts, names=names, varnames=varnames, handlers=table,
                **fields)


def check(c: Code, expected: str) -> zir.Function:
    """Lift `c`, verify the result, and compare its text with `expected` (whole function)."""
    f = zir.lift(c)
    zir.verify(f)
    assert zir.format(f) == textwrap.dedent(expected).lstrip("\n")
    assert zir.parse(zir.format(f)).functions[f.name] == f
    return f


# --------------------------------------------------------------------------------------------------
# Straight-line code and loops


def test_sum_squares_loop() -> None:
    c = code([
        ("LOAD_CONST", 0, 2), ("STORE_FAST", "s", 2),
        ("LOAD_GLOBAL", "range", 3), ("LOAD_FAST", "n", 3), ("CALL", 1, 3), ("GET_ITER", None, 3),
        "loop:", ("FOR_ITER", "done", 3), ("STORE_FAST", "i", 3),
        ("LOAD_FAST", "s", 4), ("LOAD_FAST", "i", 4), ("LOAD_FAST", "i", 4), ("MUL", None, 4),
        ("IADD", None, 4), ("STORE_FAST", "s", 4), ("JUMP", "loop", 4),
        "done:", ("LOAD_FAST", "s", 5), ("RETURN_VALUE", None, 5),
    ], params=("n",), name="sum_squares")
    f = check(c, """
        func @sum_squares(%n) {
        ^bb0:
          %s = const 0 loc(2)
          %$0 = load_global {name="range"} loc(3)
          %$0 = call %$0, %n loc(3)
          %$0 = get_iter %$0 loc(3)
          br ^bb6 loc(3)
        ^bb6:
          %$1 = iter_next %$0 loc(3)
          cbr_more %$1, ^bb7, ^bb15 loc(3)
        ^bb7:
          %i = copy %$1 loc(3)
          %$2 = mul %i, %i loc(4)
          %s = iadd %s, %$2 loc(4)
          br ^bb6 loc(4)
        ^bb15:
          ret %s loc(5)
        }
        """)
    assert f.code is c and not f.ssa and f.params == [zir.Var("n")]


def test_lazy_stack_and_store_materializes_old_value() -> None:
    # x, y = y, x: the loads stay lazy until the first store would clobber one; SWAP of two lazy
    # values only swaps them on the abstract stack.
    c = code([
        ("LOAD_FAST", "x", 1), ("LOAD_FAST", "y", 1), ("SWAP", 2, 1), ("SWAP", 2, 1),
        ("STORE_FAST", "x", 1), ("STORE_FAST", "y", 1),
        ("LOAD_FAST", "x", 2), ("LOAD_FAST", "y", 2), ("BUILD_TUPLE", 2, 2), ("RETURN_VALUE", None, 2),
    ], params=("x", "y"))
    check(c, """
        func @f(%x, %y) {
        ^bb0:
          %$0 = copy %x loc(1)
          %x = copy %y loc(1)
          %y = copy %$0 loc(1)
          %$0 = build_tuple %x, %y loc(2)
          ret %$0 loc(2)
        }
        """)


def test_copy_and_swap_of_positional_vars_keep_them_in_place() -> None:
    # Entered with two stack items: COPY and SWAP move %$0/%$1 only through copies (a swap of two
    # positional Vars goes through a third).
    c = code([
        ("LOAD_FAST", "a", 1), ("LOAD_FAST", "b", 1), ("JUMP", "next", 1),
        "next:", ("SWAP", 2, 2), ("COPY", 2, 2), ("BUILD_TUPLE", 3, 2), ("RETURN_VALUE", None, 2),
    ], params=("a", "b"))
    check(c, """
        func @f(%a, %b) {
        ^bb0:
          %$0 = copy %a loc(1)
          %$1 = copy %b loc(1)
          br ^bb3 loc(1)
        ^bb3:
          %$2 = copy %$1 loc(2)
          %$1 = copy %$0 loc(2)
          %$0 = copy %$2 loc(2)
          %$2 = copy %$0 loc(2)
          %$0 = build_tuple %$0, %$1, %$2 loc(2)
          ret %$0 loc(2)
        }
        """)


def test_conditional_jumps_and_none_tests() -> None:
    c = code([
        ("LOAD_FAST", "a", 1), ("POP_JUMP_IF_NONE", "none", 1),
        ("LOAD_FAST", "a", 2), ("JUMP_IF_FALSE_OR_POP", "out", 2), ("LOAD_CONST", 7, 2),
        "out:", ("RETURN_VALUE", None, 3),
        "none:", ("LOAD_CONST", None, 4), ("RETURN_VALUE", None, 4),
    ], params=("a",))
    check(c, """
        func @f(%a) {
        ^bb0:
          %$0 = is %a, None loc(1)
          cbr %$0, ^bb6, ^bb2 loc(1)
        ^bb2:
          %$0 = copy %a loc(2)
          cbr %a, ^bb4, ^bb5 loc(2)
        ^bb4:
          %$0 = const 7 loc(2)
          br ^bb5 loc(2)
        ^bb5:
          ret %$0 loc(3)
        ^bb6:
          ret None loc(4)
        }
        """)


def test_entry_with_predecessors_gets_its_own_block() -> None:
    c = code([
        "top:", ("LOAD_FAST", "n", 1), ("POP_JUMP_IF_FALSE", "out", 1),
        ("LOAD_FAST", "n", 2), ("LOAD_CONST", 1, 2), ("SUB", None, 2), ("STORE_FAST", "n", 2),
        ("JUMP", "top", 2),
        "out:", ("LOAD_CONST", None, 3), ("RETURN_VALUE", None, 3),
    ], params=("n",))
    f = check(c, """
        func @f(%n) {
        ^entry:
          br ^bb0 loc(1)
        ^bb0:
          cbr %n, ^bb2, ^bb7 loc(1)
        ^bb2:
          %n = sub %n, 1 loc(2)
          br ^bb0 loc(2)
        ^bb7:
          ret None loc(3)
        }
        """)
    assert f.entry.label == "entry"


def test_unpacking() -> None:
    c = code([
        ("LOAD_FAST", "s", 1), ("UNPACK_SEQUENCE", 2, 1), ("STORE_FAST", "a", 1), ("STORE_FAST", "b", 1),
        ("LOAD_FAST", "s", 2), ("UNPACK_EX", 1 | 1 << 8, 2), ("BUILD_TUPLE", 3, 2), ("RETURN_VALUE", None, 2),
    ], params=("s",))
    check(c, """
        func @f(%s) {
        ^bb0:
          %$0 = unpack %s {count=2} loc(1)
          %a = tuple_item %$0 {index=0} loc(1)
          %b = tuple_item %$0 {index=1} loc(1)
          %$0 = unpack_star %s {before=1, after=1} loc(2)
          %$2 = tuple_item %$0 {index=0} loc(2)
          %$1 = tuple_item %$0 {index=1} loc(2)
          %$0 = tuple_item %$0 {index=2} loc(2)
          %$0 = build_tuple %$0, %$1, %$2 loc(2)
          ret %$0 loc(2)
        }
        """)


def test_container_ops_reach_below_and_dict_merge_names_the_callable() -> None:
    c = code([
        ("LOAD_GLOBAL", "g", 1), ("LOAD_CONST", (), 1), ("BUILD_MAP", 0, 1), ("LOAD_FAST", "m", 1),
        ("DICT_MERGE", 1, 1), ("CALL_EX", None, 1), ("POP_TOP", None, 1),
        ("BUILD_LIST", 0, 2), ("LOAD_FAST", "m", 2), ("LIST_APPEND", 1, 2),
        ("BUILD_MAP", 0, 3), ("LOAD_FAST", "m", 3), ("LOAD_CONST", 1, 3), ("MAP_ADD", 2, 3),
        ("BUILD_TUPLE", 2, 3), ("RETURN_VALUE", None, 3),
    ], params=("m",))
    check(c, """
        func @f(%m) {
        ^bb0:
          %$0 = load_global {name="g"} loc(1)
          %$2 = build_map loc(1)
          dict_merge %$2, %m, %$0 loc(1)
          %$0 = call_ex %$0, (), %$2 loc(1)
          %$0 = build_list loc(2)
          list_append %$0, %m loc(2)
          %$1 = build_map loc(3)
          map_add %$0, %m, 1 loc(3)
          %$0 = build_tuple %$0, %$1 loc(3)
          ret %$0 loc(3)
        }
        """)


def test_imports_keep_the_module() -> None:
    c = code([
        ("LOAD_CONST", 0, 1), ("LOAD_CONST", ("path",), 1), ("IMPORT_NAME", "os", 1),
        ("IMPORT_FROM", "path", 1), ("STORE_FAST", "p", 1), ("POP_TOP", None, 1),
        ("LOAD_FAST", "p", 2), ("RETURN_VALUE", None, 2),
    ])
    check(c, """
        func @f() {
        ^bb0:
          %$0 = import_name 0, ("path",) {name="os"} loc(1)
          %p = import_from %$0 {name="path"} loc(1)
          ret %p loc(2)
        }
        """)


# --------------------------------------------------------------------------------------------------
# Definite assignment


def test_check_bound_only_where_a_local_may_be_unbound() -> None:
    c = code([
        ("LOAD_FAST", "c", 1), ("POP_JUMP_IF_FALSE", "skip", 1),
        ("LOAD_CONST", 1, 2), ("STORE_FAST", "x", 2),
        "skip:", ("LOAD_FAST", "x", 3), ("LOAD_FAST", "x", 3), ("ADD", None, 3),
        ("DELETE_FAST", "x", 4), ("RETURN_VALUE", None, 5),
    ], params=("c",))
    check(c, """
        func @f(%c) {
        ^bb0:
          %x = const undef loc(1)
          cbr %c, ^bb2, ^bb4 loc(1)
        ^bb2:
          %x = const 1 loc(2)
          br ^bb4 loc(2)
        ^bb4:
          check_bound %x {name="x"} loc(3)
          %$0 = add %x, %x loc(3)
          %x = const undef loc(4)
          ret %$0 loc(5)
        }
        """)


def test_delete_of_a_maybe_unbound_local_checks_it() -> None:
    c = code([("DELETE_FAST", "x", 1), ("LOAD_CONST", None, 1), ("RETURN_VALUE", None, 1)])
    check(c, """
        func @f() {
        ^bb0:
          %x = const undef loc(1)
          check_bound %x {name="x"} loc(1)
          %x = const undef loc(1)
          ret None loc(1)
        }
        """)


def test_parameters_are_assigned_and_a_load_proves_a_local_bound() -> None:
    c = code([
        ("LOAD_FAST", "p", 1), ("LOAD_FAST", "q", 1), ("LOAD_FAST", "q", 1), ("BUILD_TUPLE", 3, 1),
        ("RETURN_VALUE", None, 1),
    ], params=("p",), locals=("q",))
    f = zir.lift(c)
    checks = [i for _, i in f.instructions() if i.op == "check_bound"]
    assert [i.args for i in checks] == [[zir.Var("q")]]


def test_unchecked_loads_and_unbound_constants_lift() -> None:
    # The forms stackify emits: LOAD_FAST_UNCHECKED feeding CHECK_BOUND, LOAD_UNBOUND.
    c = code([
        ("LOAD_FAST_UNCHECKED", "x", 1), ("CHECK_BOUND", "x", 1), ("LOAD_UNBOUND", None, 2),
        ("STORE_FAST", "x", 2), ("LOAD_CONST", None, 2), ("RETURN_VALUE", None, 2),
    ])
    check(c, """
        func @f() {
        ^bb0:
          %x = const undef loc(1)
          check_bound %x {name="x"} loc(1)
          %x = const undef loc(2)
          ret None loc(2)
        }
        """)


# --------------------------------------------------------------------------------------------------
# Exception handlers


def _try_except() -> Code:
    # try: x = f()  except: x = 0  ;  return x   (as the front end spells it)
    return code([
        "t0:", ("LOAD_GLOBAL", "f", 3), ("CALL", 0, 3), ("STORE_FAST", "x", 3),
        "t1:", ("JUMP", "ret", 3),
        "h:", ("PUSH_EXC_INFO", None, 4), ("POP_TOP", None, 4), ("LOAD_CONST", 0, 5),
        ("STORE_FAST", "x", 5),
        "h1:", ("POP_EXCEPT", None, 5),
        "ret:", ("LOAD_FAST", "x", 6), ("RETURN_VALUE", None, 6),
        "cleanup:", ("COPY", 3, 4), ("POP_EXCEPT", None, 4), ("RERAISE", 1, 4),
    ], handlers=(("t0", "t1", "h", 0, False), ("h", "h1", "cleanup", 1, True)), name="g")


def test_try_except_handler_blocks() -> None:
    f = check(_try_except(), """
        func @g() {
        ^bb0: except ^bb4
          %$0 = load_global {name="f"} loc(3)
          br ^bb0.1 loc(3)
        ^bb0.1: except ^bb4
          %x = call %$0 loc(3)
          br ^bb3 loc(3)
        ^bb3:
          br ^bb9 loc(3)
        ^bb4: except ^bb11
          %$0 = catch loc(4)
          %$1 = copy %$0 loc(4)
          %$0 = push_exc_info %$1 loc(4)
          %x = const 0 loc(5)
          br ^bb8 loc(5)
        ^bb8:
          pop_except %$0 loc(5)
          br ^bb9 loc(5)
        ^bb9:
          ret %x loc(6)
        ^bb11:
          %$2 = catch loc(4)
          %$3 = copy %$0 loc(4)
          pop_except %$3 loc(4)
          reraise %$2 loc(4)
        }
        """)
    # The cleanup handler was entered with [%$0, lasti, exc]: lasti is the constant LASTI.
    assert LASTI == zir.Const(-1)
    edges = zir.analysis.cfg(f).edges(data="kind")
    assert ("bb0", "bb4", "exception") in edges and ("bb4", "bb11", "exception") in edges


def assert_handler_values_stable(f: zir.Function) -> None:
    """In a block with a handler, every raise point sees the same locals: none is assigned after
    the first may-raise instruction, and one assigned by it ends the block's may-raise ones."""
    for b in f.blocks:
        if b.handler is None:
            continue
        raising = [k for k, i in enumerate(b.instrs) if i.opdef.may_raise]
        if not raising:
            continue
        first = raising[0]
        for k, i in enumerate(b.instrs):
            if i.dest is None or i.dest.name.startswith("$"):
                continue
            where = f"^{b.label}: {zir.format(i)}"
            assert k <= first, f"{where} assigns a local after a may-raise instruction"
            assert k < first or raising == [first], f"{where} assigns a local a later raise would see"


def test_split_after_may_raise_keeps_handler_values_stable() -> None:
    assert_handler_values_stable(zir.lift(_try_except()))


def test_handler_that_is_also_a_jump_target_gets_a_landing_pad() -> None:
    c = code([
        "t0:", ("LOAD_FAST", "a", 1), ("LOAD_CONST", 1, 1), ("TRUEDIV", None, 1), ("POP_TOP", None, 1),
        ("LOAD_CONST", 0, 1),
        "t1:", ("JUMP", "h", 2),
        "h:", ("POP_TOP", None, 3), ("LOAD_CONST", None, 3), ("RETURN_VALUE", None, 3),
    ], params=("a",), handlers=(("t0", "t1", "h", 0, False),))
    f = check(c, """
        func @f(%a) {
        ^bb0: except ^bb6.h0
          %$0 = truediv %a, 1 loc(1)
          %$0 = const 0 loc(1)
          br ^bb5 loc(1)
        ^bb5:
          br ^bb6 loc(2)
        ^bb6.h0:
          %$0 = catch loc(3)
          br ^bb6 loc(3)
        ^bb6:
          ret None loc(3)
        }
        """)
    assert "bb6.h0" not in f.block("bb0").successors()


def test_stack_below_the_handler_depth_is_canonical_at_raise_points() -> None:
    # A handler of depth 1 covers code that replaced stack item 0 with a constant before raising.
    c = code([
        ("LOAD_FAST", "a", 1), ("JUMP", "t0", 1),
        "t0:", ("POP_TOP", None, 2), ("LOAD_CONST", 5, 2), ("LOAD_FAST", "a", 2), ("NEG", None, 2),
        ("POP_TOP", None, 2), ("RETURN_VALUE", None, 2),
        "t1:",
        "h:", ("POP_TOP", None, 3), ("RETURN_VALUE", None, 3),
    ], params=("a",), handlers=(("t0", "t1", "h", 1, False),))
    check(c, """
        func @f(%a) {
        ^bb0:
          %$0 = copy %a loc(1)
          br ^bb2 loc(1)
        ^bb2: except ^bb8
          %$0 = const 5 loc(2)
          %$1 = neg %a loc(2)
          ret %$0 loc(2)
        ^bb8:
          %$1 = catch loc(3)
          ret %$0 loc(3)
        }
        """)


def test_with_statement_rows() -> None:
    c = code([
        ("LOAD_FAST", "m", 1), ("BEFORE_WITH", None, 1), ("POP_TOP", None, 1),
        "t0:", ("LOAD_CONST", None, 2), ("RETURN_VALUE", None, 2),
        "h:", ("PUSH_EXC_INFO", None, 1), ("WITH_EXCEPT_START", None, 1), ("POP_JUMP_IF_TRUE", "ok", 1),
        ("RERAISE", 2, 1),
        "ok:", ("POP_TOP", None, 1), ("POP_EXCEPT", None, 1), ("POP_TOP", None, 1), ("POP_TOP", None, 1),
        ("LOAD_CONST", None, 1), ("RETURN_VALUE", None, 1),
    ], params=("m",), handlers=(("t0", "h", "h", 1, True),))
    f = zir.lift(c)
    zir.verify(f)
    ops = [i.op for _, i in f.instructions()]
    assert ops[:4] == ["before_with", "tuple_item", "tuple_item", "br"]
    h = f.block("bb5")
    # The lasti item stays a lazy constant until the branch materializes the stack.
    assert [i.op for i in h.instrs] == ["catch", "copy", "push_exc_info", "with_exit", "const", "cbr"]
    assert h.instrs[4].dest == zir.Var("$1") and h.instrs[4].args == [LASTI]
    with_exit = h.instrs[3]
    assert with_exit.args == [zir.Var("$0"), zir.Var("$3")]


# --------------------------------------------------------------------------------------------------
# Errors


def test_depth_mismatch_at_a_join_names_offset_and_line() -> None:
    c = code([
        ("LOAD_FAST", "a", 7), ("POP_JUMP_IF_FALSE", "join", 7), ("LOAD_CONST", 1, 8),
        "join:", ("LOAD_CONST", None, 9), ("RETURN_VALUE", None, 9),
    ], params=("a",), filename="demo.py")
    with pytest.raises(zir.VerifyError, match=r"demo\.py:9 \(function f, offset 3\): stack depth mismatch"):
        zir.lift(c)


def test_stack_underflow_and_unknown_opcode() -> None:
    with pytest.raises(zir.VerifyError, match="offset 0.*underflow"):
        zir.lift(code([("ADD", None, 1), ("RETURN_VALUE", None, 1)]))
    bad = Code("f", instrs=[ZInstr("LOAD_FAS", 0, 1)], varnames=["x"])
    with pytest.raises(zir.VerifyError, match="did you mean LOAD_FAST"):
        zir.lift(bad)
    later = Code("f", instrs=[ZInstr("LOAD_FAST", 0, 1), ZInstr("RETRN_VALUE", None, 2)], varnames=["x"])
    with pytest.raises(zir.VerifyError, match=r":2 \(function f, offset 1\): unknown ZBC opcode 'RETRN"):
        zir.lift(later)


def test_falling_off_the_end_is_an_error() -> None:
    with pytest.raises(zir.VerifyError, match="fall off"):
        zir.lift(code([("LOAD_CONST", 1, 1), ("POP_TOP", None, 1)]))


# --------------------------------------------------------------------------------------------------
# The table


def test_every_zbc_row_is_liftable() -> None:
    assert [r.zbc for r in ZBC_OPS.values() if not liftable(r)] == []


def _arg_for(row: Any) -> int | None:
    if row.zarg is ZArg.NONE:
        return None
    if row.zarg in (ZArg.NAME, ZArg.CELL, ZArg.CONST):
        return 0
    lo = row.zmin
    return max(lo, min(2, row.zmax if row.zmax is not None else 2))


GENERIC = sorted(r.name for r in IR_OPS.values() if r.generic and r.zbc is not None)


@pytest.mark.parametrize("name", GENERIC)
def test_generic_row_lifts_by_the_rule(name: str) -> None:
    """Popped items (bottom to top) become the operands, the pushed item the result, the argument
    the row's attribute."""
    row = IR_OPS[name]
    arg = _arg_for(row)
    a = arg if arg is not None else 0
    n = row.pops(a)
    params = tuple(f"p{k}" for k in range(n))
    body: list[Any] = [("LOAD_FAST", p, 1) for p in params]
    zinstr = ZInstr(row.zbc, arg, 1)  # type: ignore[arg-type]
    tail: list[Any] = [("RETURN_VALUE", None, 1)]
    if not row.pushes(a):
        tail.insert(0, ("LOAD_CONST", None, 1))
    c = code([*body, *tail], params=params, cellvars=["cell"])
    c.instrs.insert(n, zinstr)
    c.names.append("nm")
    if row.zarg is ZArg.CONST:
        c.consts.insert(0, "k")
        for ins in c.instrs:
            if ins.op == "LOAD_CONST":
                ins.arg = 1
    f = zir.lift(c)
    zir.verify(f)
    first = f.entry.instrs[0]
    assert first.op == name
    assert first.args == [zir.Var(p) for p in params]
    assert first.dest == (zir.Var("$0") if row.pushes(a) else None)
    expected = {}
    if row.attrs:
        expected[row.attrs[0]] = {ZArg.NAME: "nm", ZArg.CELL: "cell", ZArg.CONST: "k"}.get(row.zarg, arg)
    assert first.attrs == expected


def test_locals_spelled_like_stack_slots_are_renamed() -> None:
    assert local_var_names(["x", "$0", "$l0", "$1.2"]) == ["x", "$ll0", "$l0", "$l1.2"]
    c = code([("LOAD_FAST", "$0", 1), ("LOAD_CONST", 1, 1), ("ADD", None, 1), ("RETURN_VALUE", None, 1)],
             params=("$0",))
    f = check(c, """
        func @f(%$l0) {
        ^bb0:
          %$0 = add %$l0, 1 loc(1)
          ret %$0 loc(1)
        }
        """)
    assert f.params == [zir.Var("$l0")]


# --------------------------------------------------------------------------------------------------
# The CPython front end's output

from zir.frontend import from_python  # noqa: E402


def _nested_codes(c: Code) -> list[Code]:
    out, work = [], [c]
    while work:
        k = work.pop()
        if "host" in k.flags:
            continue
        out.append(k)
        work.extend(x for x in k.consts if isinstance(x, Code))
    return out


def _corpus() -> list[Any]:
    import test_constructs  # the frontend engineer's construct suite: one function per construct

    fns = [fn for fn, _, _ in test_constructs.CASES]
    fns += [v for v in vars(test_constructs).values()
            if isinstance(v, types.FunctionType) and v.__module__ == test_constructs.__name__
            and v not in fns and not v.__name__.startswith("test_")]
    return fns


@pytest.mark.parametrize("fn", _corpus(), ids=lambda fn: fn.__name__)
def test_front_end_output_lifts_and_verifies(fn: types.FunctionType) -> None:
    try:
        top = from_python(fn)
    except zir.FrontendError:
        pytest.skip("the front end refuses this function")
    for c in _nested_codes(top):
        f = zir.lift(c)
        zir.verify(f)
        if not any(isinstance(k, Code) for k in c.consts):  # nested code has no text form
            assert zir.parse(zir.format(f)).functions[f.name] == f
        lines = {i.line for _, i in f.instructions()}
        assert None not in lines
        assert_handler_values_stable(f)


@pytest.mark.parametrize("fn", _corpus(), ids=lambda fn: fn.__name__)
def test_lifted_handlers_meet_the_ssa_rules(fn: types.FunctionType) -> None:
    """SSA construction of lifted code verifies: every value an exception edge carries into a
    handler is available at each raise point of its block (the split rule at work)."""
    import passes

    try:
        top = from_python(fn)
    except zir.FrontendError:
        pytest.skip("the front end refuses this function")
    for c in _nested_codes(top):
        f = zir.lift(c)
        passes.PassManager.parse("ssa", verify_each=True).run(f)
        assert f.ssa
        zir.verify(f)


def test_every_stdlib_function_in_a_module_lifts() -> None:
    """A broad sample of real code: every function of a few stdlib modules the front end takes."""
    import argparse
    import difflib
    import json.decoder
    import textwrap as tw

    count = 0
    for mod in (argparse, difflib, json.decoder, tw):
        for fn in _functions_of(mod):
            try:
                top = from_python(fn)
            except zir.FrontendError:
                continue
            for c in _nested_codes(top):
                zir.verify(zir.lift(c))
                count += 1
    assert count > 200


def _functions_of(mod: types.ModuleType) -> list[types.FunctionType]:
    out: list[types.FunctionType] = []
    todo: list[Any] = [mod]
    seen: set[int] = set()
    while todo:
        o = todo.pop()
        for v in vars(o).values():
            if isinstance(v, types.FunctionType) and v.__module__ == mod.__name__ and id(v) not in seen:
                seen.add(id(v))
                out.append(v)
            elif isinstance(v, type) and v.__module__ == mod.__name__ and id(v) not in seen:
                seen.add(id(v))
                todo.append(v)
    return out


def test_a_handler_at_offset_zero_is_reached_through_a_pad() -> None:
    # Offset 0 is both the entry (depth 0) and a handler target (depth 1): a depth mismatch.
    c = code([
        "top:", ("NOP", None, 1),
        "t0:", ("LOAD_FAST", "a", 1), ("RETURN_VALUE", None, 1),
        "t1:",
    ], params=("a",), handlers=(("t0", "t1", "top", 0, False),))
    with pytest.raises(zir.VerifyError, match="offset 0.*depth mismatch"):
        zir.lift(c)


def test_storing_a_maybe_unbound_value_leaves_the_local_maybe_unbound() -> None:
    # Stackify's moves: LOAD_UNBOUND / LOAD_FAST_UNCHECKED straight into STORE_FAST.
    c = code([
        ("LOAD_CONST", 1, 1), ("STORE_FAST", "x", 1), ("LOAD_UNBOUND", None, 1), ("STORE_FAST", "x", 1),
        ("LOAD_FAST_UNCHECKED", "p", 2), ("STORE_FAST", "y", 2),
        ("LOAD_FAST", "x", 3), ("LOAD_FAST", "y", 3), ("BUILD_TUPLE", 2, 3), ("POP_TOP", None, 3),
        ("JUMP", "next", 3),
        "next:", ("LOAD_FAST", "y", 4), ("RETURN_VALUE", None, 4),
    ], params=("p",))
    f = zir.lift(c)
    zir.verify(f)
    checks = [(b.label, i.attrs["name"]) for b, i in f.instructions() if i.op == "check_bound"]
    # In its block, y copies a bound parameter, and the load then proves it for the next block.
    assert checks == [("bb0", "x")]
    # Without that load, the block-level analysis only sees an unchecked store: conservative.
    del c.instrs[6:10]
    for ins in c.instrs:
        if ins.op == "JUMP":
            ins.arg = 7
    f = zir.lift(c)
    zir.verify(f)
    checks = [(b.label, i.attrs["name"]) for b, i in f.instructions() if i.op == "check_bound"]
    assert checks == [("bb7", "y")]


def test_unpacked_items_stored_right_away_go_into_their_locals() -> None:
    # a, (b, c) = s: the first item is stored at once, the second is unpacked again first.
    c = code([
        ("LOAD_FAST", "s", 1), ("UNPACK_SEQUENCE", 2, 1), ("STORE_FAST", "a", 1),
        ("UNPACK_SEQUENCE", 2, 1), ("STORE_FAST", "b", 1), ("STORE_FAST", "c", 1),
        ("LOAD_FAST", "s", 2), ("UNPACK_SEQUENCE", 2, 2), ("LOAD_CONST", 0, 2), ("STORE_FAST", "d", 2),
        ("BUILD_TUPLE", 2, 2), ("RETURN_VALUE", None, 2),
    ], params=("s",))
    check(c, """
        func @f(%s) {
        ^bb0:
          %$0 = unpack %s {count=2} loc(1)
          %a = tuple_item %$0 {index=0} loc(1)
          %$0 = tuple_item %$0 {index=1} loc(1)
          %$0 = unpack %$0 {count=2} loc(1)
          %b = tuple_item %$0 {index=0} loc(1)
          %c = tuple_item %$0 {index=1} loc(1)
          %$0 = unpack %s {count=2} loc(2)
          %$1 = tuple_item %$0 {index=0} loc(2)
          %$0 = tuple_item %$0 {index=1} loc(2)
          %d = const 0 loc(2)
          %$0 = build_tuple %$0, %$1 loc(2)
          ret %$0 loc(2)
        }
        """)
