"""zir.verify: well-formed functions pass; each malformed form is refused with a message naming the
function, the block and (where there is one) the instruction."""

from __future__ import annotations

import pytest
from ir_programs import SUM_SQUARES

import zir
from zir import Block, Const, Function, Instr, Module, Phi, Var, VerifyError


def parse1(text: str) -> Function:
    (f,) = zir.parse(text).functions.values()
    return f


def refused(f: Function | Module, *fragments: str) -> str:
    """Verify `f`, expect a VerifyError, and check the message holds every fragment."""
    with pytest.raises(VerifyError) as info:
        zir.verify(f)
    msg = str(info.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


SUM = SUM_SQUARES

SUM_SSA = """
func @sum_squares(%n) ssa {
^entry:
  %s.0 = const 0
  %i.0 = const 0
  br ^loop
^loop:
  %s.1 = phi [^entry: %s.0], [^body: %s.2]
  %i.1 = phi [^entry: %i.0], [^body: %i.2]
  %c = lt %i.1, %n
  cbr %c, ^body, ^exit
^body:
  %t = mul %i.1, %i.1
  %s.2 = add %s.1, %t
  %i.2 = add %i.1, 1
  br ^loop
^exit:
  ret %s.1
}
"""

TRY_SSA = """
func @t(%a) ssa {
^entry:
  %x.0 = const 0
  br ^try
^try: except ^h
  %x.1 = const 1
  %r = call %a, %x.1
  %x.2 = copy %r  ; (one may-raise instruction: SSA form allows one per block in a try)
  br ^done
^h:
  %x.3 = phi [^try: %x.1]
  %e = catch
  ret %x.3
^done:
  ret %x.2
}
"""


# --------------------------------------------------------------------------------------------------
# Accepted forms


def test_accepts_non_ssa_loop() -> None:
    zir.verify(parse1(SUM))


def test_accepts_ssa_loop_and_module() -> None:
    zir.verify(parse1(SUM_SSA))
    zir.verify(zir.parse(SUM + SUM_SSA.replace("@sum_squares", "@other")))


def test_accepts_exception_edge_phi_defined_before_first_raise() -> None:
    zir.verify(parse1(TRY_SSA))


def test_accepts_handler_block_without_raising_instructions() -> None:
    # ^quiet has a handler but nothing that may raise: its exception edge still exists (so the phi
    # lists it), and any value dominating its end is acceptable.
    zir.verify(parse1("""
func @t(%a) ssa {
^entry:
  %x = const 0
  cbr %a, ^quiet, ^loud
^quiet: except ^h
  %y = copy %x
  br ^done
^loud: except ^h
  %z = call %a
  br ^done
^h:
  %p = phi [^quiet: %y], [^loud: %x]
  %e = catch
  ret %p
^done:
  ret %x
}
"""))


def test_accepts_unreachable_blocks_without_dominance() -> None:
    # ^dead uses %t defined only in ^other, which does not dominate it; both are unreachable.
    zir.verify(parse1("""
func @u(%a) ssa {
^entry:
  ret %a
^other:
  %t = add %a, 1
  br ^dead
^dead:
  %u = add %t, 1
  br ^dead
}
"""))


def test_non_ssa_allows_many_definitions() -> None:
    f = parse1(SUM)
    assert not f.ssa
    zir.verify(f)


# --------------------------------------------------------------------------------------------------
# Structure


def test_function_without_blocks() -> None:
    refused(Function("f"), "function @f", "no blocks")


def test_duplicate_parameters() -> None:
    f = parse1(SUM)
    f.params.append(Var("n"))
    refused(f, "function @sum_squares", "parameter %n listed twice")


def test_signature_larger_than_parameters() -> None:
    f = parse1(SUM)
    f.signature = zir.Signature(kwonly=2)
    refused(f, "function @sum_squares", "signature")


def test_duplicate_block_label() -> None:
    f = parse1(SUM)
    f.blocks.append(Block("loop", [], [Instr("ret", None, [Const(None)])]))
    refused(f, "block ^loop", "label defined twice")


def test_empty_block() -> None:
    f = parse1(SUM)
    f.block("exit").instrs.clear()
    refused(f, "function @sum_squares", "block ^exit", "empty")


def test_block_without_terminator() -> None:
    f = parse1(SUM)
    f.block("body").instrs.pop()
    refused(f, "block ^body", "instruction `%i = add %i, 1`", "does not end in a terminator")


def test_terminator_in_the_middle() -> None:
    f = parse1(SUM)
    f.block("body").instrs.insert(1, Instr("br", None, [], {}, ["loop"]))
    refused(f, "block ^body", "instruction `br ^loop`", "terminator before the end")


def test_unknown_branch_target() -> None:
    f = parse1(SUM)
    f.block("loop").instrs[-1].targets[1] = "nowhere"
    refused(f, "block ^loop", "instruction `cbr %c, ^body, ^nowhere`", "unknown block ^nowhere")


def test_unknown_handler() -> None:
    f = parse1(SUM)
    f.block("body").handler = "nowhere"
    refused(f, "block ^body", "handler ^nowhere does not exist")


def test_entry_with_a_predecessor() -> None:
    f = parse1(SUM)
    f.block("body").instrs[-1].targets[0] = "entry"
    refused(f, "block ^entry", "predecessor ^body")


def test_entry_as_handler() -> None:
    f = parse1(SUM)
    f.block("body").handler = "entry"
    refused(f, "block ^body", "entry block cannot be an exception handler")


def test_unknown_operation_with_suggestion() -> None:
    f = parse1(SUM)
    f.block("body").instrs[0].op = "mull"
    refused(f, "block ^body", "unknown operation 'mull'", "did you mean mul?")


def test_wrong_operand_count() -> None:
    f = parse1(SUM)
    f.block("body").instrs[0].args.pop()
    refused(f, "block ^body", "instruction `%t = mul %i`", "'mul' takes 2 operands, got 1")


def test_operand_not_a_value() -> None:
    f = parse1(SUM)
    f.block("body").instrs[0].args[0] = "i"  # type: ignore[call-overload]
    refused(f, "block ^body", "is not a Var or Const")


def test_variadic_count_the_zbc_form_cannot_pop() -> None:
    f = parse1("""
func @m(%a) {
^entry:
  %d = build_map %a, 1, 2
  %s = build_slice %a
  ret %d
}
""")
    refused(f, "block ^entry", "instruction `%d = build_map %a, 1, 2`", "cannot take 3 operands")
    f.block("entry").instrs.pop(0)
    refused(f, "instruction `%s = build_slice %a`", "from 2 to 3")


def test_variadic_count_disagreeing_with_its_attribute() -> None:
    f = parse1("""
func @m(%a) {
^entry:
  %s = format_value %a {flags=4}
  ret %s
}
""")
    refused(f, "block ^entry", "'format_value' with flags=4 takes 2 operands, got 1")


def test_missing_result() -> None:
    f = parse1(SUM)
    f.block("body").instrs[0].dest = None
    refused(f, "block ^body", "instruction `mul %i, %i`", "defines a value but has no result")


def test_result_on_an_operation_without_one() -> None:
    f = parse1(SUM)
    f.block("exit").instrs[0].dest = Var("r")
    refused(f, "block ^exit", "instruction `%r = ret %s`", "defines no value")


def test_wrong_target_count() -> None:
    f = parse1(SUM)
    f.block("body").instrs[-1].targets.append("exit")
    refused(f, "block ^body", "instruction `br ^loop, ^exit`", "'br' takes 1 target, got 2")
    f = parse1(SUM)
    f.block("body").instrs[0].targets.append("exit")
    refused(f, "block ^body", "'mul' takes 0 targets, got 1")


def test_missing_extra_and_mistyped_attributes() -> None:
    f = parse1('func @g() {\n^entry:\n  %f = load_global {name="len"}\n  ret %f\n}\n')
    zir.verify(f)
    i = f.entry.instrs[0]
    i.attrs.clear()
    refused(f, "block ^entry", "instruction `%f = load_global`", "needs attribute 'name'")
    i.attrs.update(name="len", color="red")
    refused(f, "block ^entry", "has no attribute 'color' (allowed: name)")
    i.attrs.clear()
    i.attrs["name"] = 3
    refused(f, "attribute 'name' of 'load_global' should be str, got 3")


def test_const_needs_a_literal() -> None:
    f = parse1(SUM)
    f.entry.instrs[0].args[0] = Var("n")
    refused(f, "block ^entry", "instruction `%s = const %n`", "literal operand")


def test_cell_operation_naming_no_cell() -> None:
    text = 'func @c() cells(x) {\n^entry:\n  %v = load_deref {name="x"}\n  ret %v\n}\n'
    zir.verify(parse1(text))
    refused(parse1(text.replace(" cells(x)", "")), "block ^entry", "'x' is not a cell or free variable")


def test_phi_missing_a_predecessor() -> None:
    f = parse1(SUM_SSA)
    del f.block("loop").phis[0].incoming["body"]
    refused(f, "block ^loop", "phi `%s.1 = phi [^entry: %s.0]`", "missing ^body")


def test_phi_naming_a_non_predecessor() -> None:
    f = parse1(SUM_SSA)
    f.block("loop").phis[1].incoming["exit"] = Const(0)
    refused(f, "block ^loop", "phi `%i.1 = phi", "not a predecessor: ^exit")


def test_phi_in_block_without_predecessors() -> None:
    f = parse1(SUM_SSA)
    f.entry.phis.append(Phi(Var("z"), {}))
    refused(f, "block ^entry", "phi `%z = phi`", "without predecessors")


def test_phi_must_list_exception_predecessors() -> None:
    f = parse1(TRY_SSA)
    f.block("h").phis[0].incoming.clear()
    f.block("h").phis[0].incoming["entry"] = Const(0)
    refused(f, "block ^h", "missing ^try", "not a predecessor: ^entry")


def test_catch_not_first_in_handler() -> None:
    f = parse1(TRY_SSA)
    h = f.block("h")
    h.instrs.insert(0, Instr("copy", Var("w"), [Var("a")]))
    refused(f, "block ^h", "instruction `%e = catch`", "first instruction of a handler block")


def test_catch_outside_a_handler() -> None:
    f = parse1(SUM)
    f.block("exit").instrs.insert(0, Instr("catch", Var("e")))
    refused(f, "block ^exit", "instruction `%e = catch`", "first instruction of a handler block")


def test_handler_not_starting_with_catch() -> None:
    f = parse1(TRY_SSA)
    f.block("h").instrs.pop(0)
    refused(f, "block ^h", "instruction `ret %x.3`", "must start with `catch`")


def test_handler_also_a_normal_successor() -> None:
    f = parse1(TRY_SSA)
    f.block("try").instrs[-1].targets[0] = "h"
    refused(f, "block ^try", "instruction `br ^h`", "also a normal successor")


def test_module_name_mismatch() -> None:
    m = zir.parse(SUM)
    m.functions["renamed"] = m.functions.pop("sum_squares")
    refused(m, "@sum_squares", "@renamed")


# --------------------------------------------------------------------------------------------------
# SSA rules


def test_ssa_double_definition() -> None:
    f = parse1(SUM_SSA)
    f.block("body").instrs[2].dest = Var("t")
    refused(f, "block ^body", "instruction `%t = add %i.1, 1`", "%t defined twice (first in ^body)")


def test_ssa_parameter_redefined() -> None:
    f = parse1(SUM_SSA)
    f.block("body").instrs[0].dest = Var("n")
    refused(f, "block ^body", "%n defined twice (first as a parameter)")


def test_ssa_use_of_undefined_var() -> None:
    f = parse1(SUM_SSA)
    f.block("exit").instrs[0].args[0] = Var("nothing")
    refused(f, "block ^exit", "instruction `ret %nothing`", "never defined")


def test_ssa_undefined_var_even_in_unreachable_block() -> None:
    f = parse1(SUM_SSA)
    f.blocks.append(Block("dead", [], [Instr("ret", None, [Var("ghost")])]))
    refused(f, "block ^dead", "%ghost, which is never defined")


def test_ssa_use_before_definition_in_block() -> None:
    f = parse1(SUM_SSA)
    body = f.block("body")
    body.instrs[0], body.instrs[1] = body.instrs[1], body.instrs[0]
    refused(f, "block ^body", "instruction `%s.2 = add %s.1, %t`", "before its definition")


def test_ssa_use_not_dominated() -> None:
    f = parse1(SUM_SSA)
    f.block("exit").instrs[0].args[0] = Var("t")
    refused(f, "block ^exit", "instruction `ret %t`", "not dominated by its definition in ^body")


def test_ssa_phi_operand_not_dominated() -> None:
    f = parse1(SUM_SSA)
    f.block("loop").phis[0].incoming["entry"] = Var("t")
    refused(f, "block ^loop", "phi `%s.1 = phi [^entry: %t]", "value for ^entry, %t",
            "definition in ^body")


def test_ssa_exception_phi_value_defined_after_first_raise() -> None:
    f = parse1(TRY_SSA)
    f.block("h").phis[0].incoming["try"] = Var("x.2")
    refused(f, "block ^h", "exception edge ^try -> ^h", "%x.2", "`%r = call %a, %x.1`")


def test_ssa_phi_self_reference_in_loop_is_fine() -> None:
    f = parse1(SUM_SSA)
    f.block("loop").phis[0].incoming["body"] = Var("s.1")
    zir.verify(f)


# --------------------------------------------------------------------------------------------------
# Size: the verifier runs after every pass; it must cope with big functions (no recursion limits).


def _diamonds(n: int) -> str:
    """A chain of `n` diamonds joined by phis (SSA), about 4 instructions per diamond."""
    lines = ["func @big(%a) ssa {", "^entry:", "  %v0 = add %a, 1", "  br ^d0"]
    for d in range(n):
        nxt = f"^d{d + 1}" if d + 1 < n else "^end"
        lines += [f"^d{d}:", f"  %c{d} = lt %v{d}, %a", f"  cbr %c{d}, ^l{d}, ^r{d}",
                  f"^l{d}:", f"  %x{d} = add %v{d}, 1", f"  br ^j{d}",
                  f"^r{d}:", f"  %y{d} = add %v{d}, 2", f"  br ^j{d}",
                  f"^j{d}:", f"  %v{d + 1} = phi [^l{d}: %x{d}], [^r{d}: %y{d}]", f"  br {nxt}"]
    lines += ["^end:", f"  ret %v{n}", "}"]
    return "\n".join(lines) + "\n"


def test_big_function_verifies_and_errors_deep_inside_are_found() -> None:
    text = _diamonds(2500)
    f = parse1(text)
    assert f.num_instrs() > 10_000
    zir.verify(f)
    # a use in ^j2000 of a value from the sibling arm ^l2000, which does not dominate it
    broken = parse1(text.replace("  br ^d2001\n", "  %bad = add %x2000, 1\n  br ^d2001\n"))
    refused(broken, "block ^j2000", "instruction `%bad = add %x2000, 1`", "not dominated")
