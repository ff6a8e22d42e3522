"""SSA construction: exact phis and names on hand-written functions, exception edges, undef, minimal
vs pruned placement, and a differential property test on random programs."""

from __future__ import annotations

import copy

from hypothesis import given
from ir_interp import outcome
from ir_programs import ARGS, SUM_SQUARES, programs

import passes
import zir
from zir.ir import UNBOUND, Const

SUM = SUM_SQUARES


def ssa(text: str, pipeline: str = "ssa") -> tuple[zir.Function, passes.RunReport]:
    (f,) = zir.parse(text).functions.values()
    report = passes.PassManager.parse(pipeline, verify_each=True).run(f)
    return f, report


def test_sum_squares_exact() -> None:
    f, report = ssa(SUM)
    expected = """
func @sum_squares(%n) ssa {
^entry:
  %s.0 = const 0
  %i.0 = const 0
  br ^loop
^loop:
  %i.1 = phi [^entry: %i.0], [^body: %i.2]
  %s.1 = phi [^entry: %s.0], [^body: %s.2]
  %c.0 = lt %i.1, %n
  cbr %c.0, ^body, ^exit
^body:
  %t.0 = mul %i.1, %i.1
  %s.2 = add %s.1, %t.0
  %i.2 = add %i.1, 1
  br ^loop
^exit:
  ret %s.1
}"""
    assert zir.format(f) == zir.format(zir.parse(expected))
    assert f.ssa
    assert report.stat("ssa", "phis placed") == 2
    for n in (0, 1, 5):
        assert outcome(f, n) == ("ok", sum(i * i for i in range(n)))


def test_minimal_ssa_places_more_phis_than_pruned() -> None:
    text = SUM.replace("^exit:\n  ret %s", "^exit:\n  %c = const 0\n  ret %s")
    _, pruned = ssa(text)
    g, minimal = ssa(text, "ssa{pruned=false}")
    # %t and %c are assigned in the loop but dead at its header: only minimal SSA merges them
    assert pruned.stat("ssa", "phis placed") == 2
    assert minimal.stat("ssa{pruned=false}", "phis placed") == 4
    assert outcome(g, 4) == ("ok", 14)


def test_reassigned_parameter_and_undef() -> None:
    f, report = ssa("""
func @f(%p, %q) {
^entry:
  cbr %q, ^set, ^join
^set:
  %p = add %p, 1
  %x = const 5
  br ^join
^join:
  %r = build_tuple %p, %x
  ret %r
}""")
    text = zir.format(f)
    assert "%p.1 = add %p, 1" in text
    assert "phi [^entry: %p], [^set: %p.1]" in text
    assert "phi [^entry: undef], [^set: %x.0]" in text
    assert [p.name for p in f.params] == ["p", "q"]
    assert report.stat("ssa", "reads with no assignment (undef)") == 1
    assert outcome(f, 1, True) == ("ok", (2, 5))
    assert outcome(f, 1, False) == ("ok", (1, UNBOUND))


def test_read_with_no_assignment_anywhere_is_undef() -> None:
    f, _ = ssa("func @f() {\n^entry:\n  check_bound %x {name=\"x\"}\n  ret %x\n}")
    assert f.blocks[0].instrs[0].args == [Const(UNBOUND)]
    assert outcome(f) == ("raise", "UnboundLocalError",
                          "cannot access local variable 'x' where it is not associated with a value")


TRY = """
func @f(%a) {
^entry:
  %x = const 1
  br ^try
^try: except ^h
  %x = const 2
  %y = truediv 10, %a
  %x = const 3
  %z = truediv 10, %a
  br ^done
^h:
  %e = catch
  %r = build_tuple %x, "caught"
  ret %r
^done:
  %r = build_tuple %x, %y
  ret %r
}"""


def test_exception_edges_see_the_value_at_the_raise_point() -> None:
    f, report = ssa(TRY)
    # %x is reassigned after the first may-raise instruction and the handler reads it: split there
    assert report.stat("ssa", "blocks split at handlers") == 1
    assert [b.label for b in f.blocks] == ["entry", "try", "try.s", "h", "done"]
    h = f.block("h")
    assert zir.format(h.phis[0]) == "%x.3 = phi [^try: %x.1], [^try.s: %x.2]"
    assert outcome(f, 0) == ("ok", (2, "caught"))
    assert outcome(f, 5) == ("ok", (3, 2.0))


def test_handler_phi_in_a_loop() -> None:
    text = """
func @f(%n) {
^entry:
  %acc = const 0
  %i = const 0
  br ^head
^head:
  %c = lt %i, %n
  cbr %c, ^try, ^exit
^try: except ^h
  %q = floordiv 12, %i
  %acc = add %acc, %q
  br ^latch
^h:
  %e = catch
  %acc = add %acc, 100
  br ^latch
^latch:
  %i = add %i, 1
  br ^head
^exit:
  ret %acc
}"""
    (orig,) = zir.parse(text).functions.values()
    f, _ = ssa(text)
    for n in (0, 1, 4):
        assert outcome(f, n) == outcome(orig, n)
    assert outcome(f, 4) == ("ok", 100 + 12 + 6 + 4)


def test_unreachable_blocks_are_removed_first() -> None:
    f, report = ssa("""
func @f(%a) {
^entry:
  %x = const 1
  br ^join
^dead:
  %x = const 2
  br ^join
^join:
  ret %x
}""")
    assert [b.label for b in f.blocks] == ["entry", "join"]
    assert report.stat("ssa", "unreachable blocks removed") == 1
    assert not f.block("join").phis


def test_ssa_twice_is_a_no_op() -> None:
    f, _ = ssa(SUM)
    before = zir.format(f)
    result = passes.pass_class("ssa")().run(f, passes.AnalysisManager())
    assert not result.changed and zir.format(f) == before


def test_deep_dominator_tree_needs_no_recursion() -> None:
    n = 3000
    lines = ["func @chain(%a) {", "^entry:", "  %x = const 0", "  br ^b0"]
    for k in range(n):
        lines += [f"^b{k}:", "  %x = add %x, 1", f"  br ^b{k + 1}"]
    lines += [f"^b{n}:", "  ret %x", "}"]
    f, _ = ssa("\n".join(lines))
    assert outcome(f, 0, max_steps=10 * n) == ("ok", n)


@given(programs())
def test_ssa_preserves_semantics_and_verifies(f: zir.Function) -> None:
    before = [outcome(f, *a) for a in ARGS]
    pruned, minimal = copy.deepcopy(f), copy.deepcopy(f)
    r1 = passes.PassManager.parse("ssa", verify_each=True).run(pruned)
    r2 = passes.PassManager.parse("ssa{pruned=false}", verify_each=True).run(minimal)
    assert pruned.ssa and minimal.ssa
    assert [outcome(pruned, *a) for a in ARGS] == before
    assert [outcome(minimal, *a) for a in ARGS] == before
    assert r1.stat("ssa", "phis placed") <= r2.stat("ssa{pruned=false}", "phis placed")
