"""`zir.stackify`: IR -> ZBC. Exact instruction sequences for small IR functions (which values stay
on the operand stack, where loads go, branch layout, the fused forms, handlers), the errors, and
the round trip CPython function -> front end -> lift -> verify -> stackify -> ZBC verify -> stack
VM, compared with CPython on the differential construct suite and the benchmark kernels."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import zir
from zir.bytecode.code import Code
from zir.bytecode.verify import verify as verify_code
from zir.ops import ZBC_OPS, ZArg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))


def show(c: Code) -> list[str]:
    """The instructions of `c`, one string each, operands by meaning (jumps as indices)."""
    out = []
    for ins in c.instrs:
        kind = ZBC_OPS[ins.op].zarg
        arg: Any = ins.arg
        if kind is ZArg.CONST:
            arg = repr(c.consts[ins.arg])  # type: ignore[index]
        elif kind is ZArg.NAME:
            arg = c.names[ins.arg]  # type: ignore[index]
        elif kind is ZArg.LOCAL:
            arg = c.varnames[ins.arg]  # type: ignore[index]
        elif kind is ZArg.CELL:
            arg = c.cell_names[ins.arg]  # type: ignore[index]
        out.append(ins.op if arg is None else f"{ins.op} {arg}")
    return out


def stackify_text(text: str) -> Code:
    """Parse one IR function, verify it, stackify it and verify the ZBC."""
    m = zir.parse(textwrap.dedent(text))
    (f,) = m.functions.values()
    zir.verify(f)
    c = zir.stackify(f)
    verify_code(c)
    return c


# --------------------------------------------------------------------------------------------------
# Which values stay on the stack


def test_single_use_chain_stays_on_the_stack() -> None:
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %t = add %a, 1
          %u = mul %t, 2
          ret %u
        }
        """)
    assert show(c) == ["LOAD_FAST a", "LOAD_CONST 1", "ADD", "LOAD_CONST 2", "MUL", "RETURN_VALUE"]
    assert c.varnames == ["a", "t", "u"] and c.argcount == 1


def test_loads_of_earlier_operands_go_below_a_stacked_tree() -> None:
    c = stackify_text("""
        func @f(%a, %b) {
        ^entry:
          %t = add %a, 1
          %u = sub %b, %t
          ret %u
        }
        """)
    assert show(c) == ["LOAD_FAST b", "LOAD_FAST a", "LOAD_CONST 1", "ADD", "SUB", "RETURN_VALUE"]


def test_loads_between_stacked_trees() -> None:
    c = stackify_text("""
        func @f(%a, %b, %x) {
        ^entry:
          %s = neg %a
          %t = neg %b
          %u = build_tuple %s, %x, %t
          ret %u
        }
        """)
    assert show(c) == ["LOAD_FAST a", "NEG", "LOAD_FAST x", "LOAD_FAST b", "NEG", "BUILD_TUPLE 3",
                       "RETURN_VALUE"]


def test_out_of_order_operand_goes_through_a_local() -> None:
    c = stackify_text("""
        func @f(%a, %b) {
        ^entry:
          %t = neg %a
          %u = neg %b
          %v = sub %u, %t
          ret %v
        }
        """)
    assert show(c) == ["LOAD_FAST a", "NEG", "STORE_FAST t", "LOAD_FAST b", "NEG", "LOAD_FAST t", "SUB",
                       "RETURN_VALUE"]


def test_value_used_twice_or_in_another_block_is_stored() -> None:
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %t = neg %a
          %u = add %t, %t
          cbr %u, ^yes, ^no
        ^yes:
          ret %t
        ^no:
          ret %u
        }
        """)
    assert show(c) == ["LOAD_FAST a", "NEG", "STORE_FAST t", "LOAD_FAST t", "LOAD_FAST t", "ADD",
                       "STORE_FAST u", "LOAD_FAST u", "POP_JUMP_IF_FALSE 11", "LOAD_FAST t", "RETURN_VALUE",
                       "LOAD_FAST u", "RETURN_VALUE"]


def test_redefined_local_is_stacked_when_dead_in_between() -> None:
    # Before SSA a Var is assigned many times; each value used once, right after, stays stacked.
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %x = add %a, 1
          %x = mul %x, 2
          %x = neg %x
          ret %x
        }
        """)
    assert show(c) == ["LOAD_FAST a", "LOAD_CONST 1", "ADD", "LOAD_CONST 2", "MUL", "NEG", "RETURN_VALUE"]


def test_value_read_after_its_user_is_stored() -> None:
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %x = neg %a
          %y = neg %x
          %z = add %y, %x
          ret %z
        }
        """)
    assert show(c)[:3] == ["LOAD_FAST a", "NEG", "STORE_FAST x"]


def test_dead_results_are_popped_and_dead_moves_dropped() -> None:
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %k = const 5
          %m = copy %a
          %r = call %a
          ret None
        }
        """)
    assert show(c) == ["LOAD_FAST a", "CALL 0", "POP_TOP", "LOAD_CONST None", "RETURN_VALUE"]


def test_handler_live_value_is_not_kept_on_the_stack_across_a_raise() -> None:
    # %x is read by the handler: its value must be in the local when the call raises.
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %x = const 1
          br ^body
        ^body: except ^h
          %x = neg %a
          %y = call %a
          %z = add %x, %y
          ret %z
        ^h:
          %e = catch
          ret %x
        }
        """)
    assert "STORE_FAST x" in show(c)[show(c).index("NEG"):]


# --------------------------------------------------------------------------------------------------
# Unbound locals, copies


def test_undef_copies_and_checks() -> None:
    c = stackify_text("""
        func @f(%c) {
        ^entry:
          %x = const undef
          cbr %c, ^set, ^use
        ^set:
          %x = const 1
          br ^use
        ^use:
          %y = copy %x
          check_bound %y {name="x"}
          ret %y
        }
        """)
    assert show(c) == ["LOAD_UNBOUND", "STORE_FAST x", "LOAD_FAST c", "POP_JUMP_IF_FALSE 6", "LOAD_CONST 1",
                       "STORE_FAST x", "LOAD_FAST_UNCHECKED x", "STORE_FAST y", "LOAD_FAST_UNCHECKED y",
                       "CHECK_BOUND x", "LOAD_FAST y", "RETURN_VALUE"]


# --------------------------------------------------------------------------------------------------
# Control flow


@pytest.mark.parametrize("order, expected", [
    ("yes no", ["LOAD_FAST c", "POP_JUMP_IF_FALSE 4", "LOAD_CONST 1", "RETURN_VALUE", "LOAD_CONST 2",
                "RETURN_VALUE"]),
    ("no yes", ["LOAD_FAST c", "POP_JUMP_IF_TRUE 4", "LOAD_CONST 2", "RETURN_VALUE", "LOAD_CONST 1",
                "RETURN_VALUE"]),
])
def test_cbr_falls_through_to_the_next_block(order: str, expected: list[str]) -> None:
    blocks = {"yes": "^yes:\n  ret 1", "no": "^no:\n  ret 2"}
    body = "\n".join(blocks[b] for b in order.split())
    c = stackify_text(f"func @f(%c) {{\n^entry:\n  cbr %c, ^yes, ^no\n{body}\n}}\n")
    assert show(c) == expected


def test_cbr_with_neither_target_next_and_br_to_next_elided() -> None:
    c = stackify_text("""
        func @f(%c) {
        ^entry:
          cbr %c, ^yes, ^no
        ^mid:
          ret 0
        ^no:
          br ^yes
        ^yes:
          ret 1
        }
        """)
    assert show(c) == ["LOAD_FAST c", "POP_JUMP_IF_FALSE 5", "JUMP 5", "LOAD_CONST 0", "RETURN_VALUE",
                       "LOAD_CONST 1", "RETURN_VALUE"]


def test_is_none_test_fuses_with_its_branch() -> None:
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          %t = is %a, None
          cbr %t, ^none, ^some
        ^some:
          ret 1
        ^none:
          ret 2
        }
        """)
    assert show(c) == ["LOAD_FAST a", "POP_JUMP_IF_NONE 4", "LOAD_CONST 1", "RETURN_VALUE", "LOAD_CONST 2",
                       "RETURN_VALUE"]


def test_iteration_uses_for_iter() -> None:
    c = stackify_text("""
        func @f(%xs) {
        ^entry:
          %s = const 0
          %it = get_iter %xs
          br ^head
        ^head:
          %v = iter_next %it
          cbr_more %v, ^body, ^done
        ^body:
          %s = add %s, %v
          br ^head
        ^done:
          ret %s
        }
        """)
    assert show(c) == ["LOAD_CONST 0", "STORE_FAST s", "LOAD_FAST xs", "GET_ITER", "STORE_FAST it",
                       "LOAD_FAST it", "FOR_ITER 14", "STORE_FAST v", "POP_TOP",
                       "LOAD_FAST s", "LOAD_FAST v", "ADD", "STORE_FAST s", "JUMP 5",
                       "LOAD_FAST s", "RETURN_VALUE"]


def test_iteration_item_read_after_the_loop_uses_iter_next() -> None:
    # The exhausted path reads the marker: FOR_ITER would leave nothing to read, so ITER_NEXT.
    c = stackify_text("""
        func @f(%it) {
        ^entry:
          %v = iter_next %it
          cbr_more %v, ^body, ^done
        ^body:
          ret %v
        ^done:
          ret %v
        }
        """)
    assert show(c)[:5] == ["LOAD_FAST it", "ITER_NEXT", "STORE_FAST v", "LOAD_FAST v",
                           "POP_JUMP_IF_EXHAUSTED 7"]


def test_unpack_and_its_items_become_unpack_sequence() -> None:
    c = stackify_text("""
        func @f(%s) {
        ^entry:
          %t = unpack %s {count=2}
          %a = tuple_item %t {index=0}
          %b = tuple_item %t {index=1}
          %r = sub %a, %b
          ret %r
        }
        """)
    assert show(c) == ["LOAD_FAST s", "UNPACK_SEQUENCE 2", "STORE_FAST a", "STORE_FAST b", "LOAD_FAST a",
                       "LOAD_FAST b", "SUB", "RETURN_VALUE"]


def test_unpack_whose_tuple_is_reused_keeps_tuple_items() -> None:
    c = stackify_text("""
        func @f(%s) {
        ^entry:
          %t = unpack_star %s {before=1, after=0}
          %a = tuple_item %t {index=0}
          %r = build_tuple %a, %t
          ret %r
        }
        """)
    assert show(c)[:5] == ["LOAD_FAST s", "UNPACK_STAR 1", "STORE_FAST t", "LOAD_FAST t", "TUPLE_ITEM 0"]


# --------------------------------------------------------------------------------------------------
# Exceptions


def test_handler_blocks_become_exception_table_entries() -> None:
    c = stackify_text("""
        func @f(%a) {
        ^entry:
          br ^try
        ^try: except ^h
          %x = truediv 1, %a
          br ^try2
        ^try2: except ^h
          %y = neg %x
          ret %y
        ^h:
          %e = catch
          %p = push_exc_info %e
          pop_except %p
          ret %e
        }
        """)
    assert show(c) == ["LOAD_CONST 1", "LOAD_FAST a", "TRUEDIV", "STORE_FAST x", "LOAD_FAST x", "NEG",
                       "RETURN_VALUE",
                       "STORE_FAST e", "LOAD_FAST e", "PUSH_EXC_INFO", "POP_TOP", "POP_EXCEPT",
                       "LOAD_FAST e", "RETURN_VALUE"]
    # The two handled blocks are adjacent: one entry; the handler is entered with just [exc].
    assert [(h.start, h.end, h.target, h.depth, h.lasti) for h in c.handlers] == [(0, 7, 7, 0, False)]


def test_exception_shapes_reduce_to_their_ir_result() -> None:
    c = stackify_text("""
        func @f(%m, %e, %t) {
        ^entry:
          %b = exc_match %e, %t
          %w = before_with %m
          %x = tuple_item %w {index=0}
          %r = with_exit %x, %e
          %o = build_tuple %b, %r
          ret %o
        }
        """)
    assert show(c) == ["LOAD_FAST e", "LOAD_FAST t", "CHECK_EXC_MATCH", "SWAP 2", "POP_TOP",
                       "LOAD_FAST m", "BEFORE_WITH", "BUILD_TUPLE 2", "TUPLE_ITEM 0",
                       "LOAD_CONST None", "LOAD_CONST None", "LOAD_FAST e", "WITH_EXCEPT_START",
                       "SWAP 2", "POP_TOP", "SWAP 2", "POP_TOP", "SWAP 2", "POP_TOP", "SWAP 2", "POP_TOP",
                       "BUILD_TUPLE 2", "RETURN_VALUE"]


# --------------------------------------------------------------------------------------------------
# Errors and the code object's header


def test_ssa_and_phis_and_normally_entered_handlers_are_refused() -> None:
    m = zir.parse("func @f(%a) ssa {\n^entry:\n  ret %a\n}\n")
    with pytest.raises(zir.VerifyError, match="ssa-destroy"):
        zir.stackify(m.functions["f"])
    m = zir.parse("func @f(%a) {\n^entry:\n  br ^b\n^b:\n  %x = phi [^entry: %a]\n  ret %x\n}\n")
    with pytest.raises(zir.VerifyError, match="without phis"):
        zir.stackify(m.functions["f"])
    m = zir.parse("func @f(%a) {\n^entry: except ^h\n  %x = neg %a\n  br ^h\n^h:\n  %e = catch\n"
                  "  ret %e\n}\n")
    with pytest.raises(zir.VerifyError, match="entered normally"):
        zir.stackify(m.functions["f"])


def test_header_comes_from_the_lifted_code() -> None:
    from zir.frontend import from_python

    def sample(a: Any, b: Any = 2, *rest: Any, k: Any = 3, **kw: Any) -> Any:
        return a + b + k + len(rest) + len(kw)

    src = from_python(sample)
    f = zir.lift(src)
    f.params[0] = zir.Var("a.renamed")  # a pass renamed it: the ZBC keeps the Python name
    for _, ins in f.instructions():
        ins.args = [zir.Var("a.renamed") if a == zir.Var("a") else a for a in ins.args]
    c = zir.stackify(f)
    verify_code(c)
    assert c.varnames[:5] == src.varnames[:5]
    assert (c.argcount, c.posonlyargcount, c.kwonlyargcount, c.flags) == (
        src.argcount, src.posonlyargcount, src.kwonlyargcount, src.flags)
    assert (c.qualname, c.filename, c.firstlineno, c.pycode) == (src.qualname, src.filename, src.firstlineno,
                                                                src.pycode)


def test_header_without_a_code_object() -> None:
    c = stackify_text("""
        func @g(%a, /, %b, *%r, %k, **%kw) {
        ^entry:
          ret %a
        }
        """)
    assert (c.name, c.argcount, c.posonlyargcount, c.kwonlyargcount) == ("g", 2, 1, 1)
    assert c.flags == frozenset({"varargs", "varkeywords"})
    assert c.varnames == ["a", "b", "k", "r", "kw"]  # CPython order: keyword-only before *args


# --------------------------------------------------------------------------------------------------
# Round trips through the stack VM


def _lift_stackify(self: Any, code: Code) -> Code:
    """What the VM's optimizer hook runs instead of a pipeline: lift, verify, stackify, verify."""
    f = zir.lift(code)
    zir.verify(f)
    out = zir.stackify(f)
    verify_code(out)
    return out


def run_roundtrip(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The outcome of `fn(*args, **kwargs)` on the stack VM with every code object (nested
    functions and callees too) lifted and stackified before it runs."""
    import vm
    from vm.compiler import Compiler
    from vm.difftest import run_machine

    with mock.patch.object(Compiler, "_optimize", _lift_stackify):
        return run_machine(vm.VM(mode="stack", opt_level=1), fn, args, kwargs)


def _construct_cases() -> list[Any]:
    import test_constructs

    # A case the suite marks as a VM bug fails here too, whatever lifting and stackify do.
    return [pytest.param(fn, argsets, id=fn.__name__,
                         marks=[pytest.mark.xfail(reason=xfail, strict=False)] if xfail else [])
            for fn, argsets, xfail in test_constructs.CASES]


@pytest.mark.parametrize("fn, argsets", _construct_cases())
def test_construct_suite_round_trip(fn: Any, argsets: list[Any]) -> None:
    from vm.difftest import describe, run_cpython

    for a in argsets:
        expected = run_cpython(fn, *a.args, **a.kwargs)
        got = run_roundtrip(fn, a.args, a.kwargs)
        diff = describe(expected, got)
        assert not diff, f"{fn.__name__}({a}):\n" + "\n".join(diff)


@pytest.mark.parametrize("name", ["nqueens", "fannkuch", "nbody", "spectral_norm", "richards", "tokenizer"])
def test_kernels_round_trip(name: str) -> None:
    from tools.kernels import KERNELS
    from vm.difftest import describe, run_cpython

    mod = KERNELS[name]
    n = mod.SIZES["test"]
    diff = describe(run_cpython(mod.run, n), run_roundtrip(mod.run, (n,), {}))
    assert not diff, "\n".join(diff)


# --------------------------------------------------------------------------------------------------
# The ZBC rows stackify added, run on the stack VM


def run_ir(text: str, *args: Any) -> Any:
    """Stackify one IR function and run the ZBC on the stack VM."""
    import vm

    return vm.VM(mode="stack").run(stackify_text(text), *args)


def test_vm_runs_iter_next_and_pop_jump_if_exhausted() -> None:
    text = """
        func @f(%xs) {
        ^entry:
          %s = const 0
          %it = get_iter %xs
          br ^head
        ^head:
          %v = iter_next %it
          cbr_more %v, ^body, ^done
        ^body:
          %s = add %s, %v
          br ^head
        ^done:
          %r = build_tuple %s, %v
          ret %r
        }
        """
    assert "ITER_NEXT" in show(stackify_text(text))
    assert run_ir(text, [1, 2, 3]) == (6, zir.EXHAUSTED)


def test_vm_runs_unpack_tuple_item_and_unpack_star() -> None:
    text = """
        func @f(%s, %r) {
        ^entry:
          %t = unpack %s {count=2}
          %a = tuple_item %t {index=1}
          %u = unpack_star %r {before=1, after=1}
          %o = build_tuple %a, %t, %u
          ret %o
        }
        """
    ops = show(stackify_text(text))
    assert {"UNPACK 2", "TUPLE_ITEM 1", "UNPACK_STAR 257"} <= set(ops)
    assert run_ir(text, "ab", [1, 2, 3, 4]) == ("b", ("a", "b"), (1, [2, 3], 4))
    with pytest.raises(ValueError, match=r"^not enough values to unpack \(expected 2, got 1\)$"):
        run_ir(text, [1], [1, 2])
    with pytest.raises(ValueError, match=r"^not enough values to unpack \(expected at least 2, got 1\)$"):
        run_ir(text, "ab", [1])


def test_vm_runs_unbound_moves_and_check_bound() -> None:
    text = """
        func @f(%c) {
        ^entry:
          %x = const undef
          cbr %c, ^set, ^use
        ^set:
          %x = const 1
          br ^use
        ^use:
          %y = copy %x
          check_bound %y {name="x"}
          ret %y
        }
        """
    assert {"LOAD_UNBOUND", "LOAD_FAST_UNCHECKED x", "CHECK_BOUND x"} <= set(show(stackify_text(text)))
    assert run_ir(text, True) == 1
    with pytest.raises(UnboundLocalError,
                       match=r"^cannot access local variable 'x' where it is not associated with a value$"):
        run_ir(text, False)


def test_assembled_loop_round_trips_to_the_same_instructions() -> None:
    """Lifting and stackifying simple stack code gives back the very same instructions."""
    src = zir.bytecode.assemble(textwrap.dedent("""
        .code f
        .params n
            LOAD_CONST 0
            STORE_FAST s
        loop:
            LOAD_FAST n
            POP_JUMP_IF_FALSE done
            LOAD_FAST s
            LOAD_FAST n
            ADD
            STORE_FAST s
            LOAD_FAST n
            LOAD_CONST 1
            SUB
            STORE_FAST n
            JUMP loop
        done:
            LOAD_FAST s
            RETURN_VALUE
        """))
    f = zir.lift(src)
    text = re.sub(r" loc\(\d+\)", "", zir.format(f))
    assert "^bb4:\n  %s = add %s, %n\n  %n = sub %n, 1\n  br ^bb2\n" in text
    out = zir.stackify(f)
    verify_code(out)
    assert show(out) == show(src)
    import vm

    assert vm.VM(mode="stack").run(out, 10) == 55
