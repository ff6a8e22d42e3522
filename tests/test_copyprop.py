"""Copy propagation: copies, constants, chains, trivial phis, exception edges, SSA only."""

from __future__ import annotations

import copy

from hypothesis import given
from ir_interp import outcome
from ir_programs import ARGS, programs

import passes
import zir


def copyprop(text: str) -> tuple[zir.Function, passes.RunReport]:
    (f,) = zir.parse(text).functions.values()
    report = passes.PassManager.parse("copyprop", verify_each=True).run(f)
    return f, report


def test_copies_and_constants_chain() -> None:
    f, report = copyprop("""
func @f(%a) ssa {
^entry:
  %b = copy %a
  %c = copy %b
  %k = const 7
  %l = copy %k
  %r = add %c, %l
  ret %r
}""")
    assert zir.format(f) == zir.format(zir.parse("func @f(%a) ssa {\n^entry:\n  %r = add %a, 7\n  ret %r\n}"))
    assert report.stat("copyprop", "copies propagated") == 3
    assert report.stat("copyprop", "constants propagated") == 1


def test_trivial_phis_collapse_including_self_references() -> None:
    f, report = copyprop("""
func @f(%a, %n) ssa {
^entry:
  br ^loop
^loop:
  %x = phi [^entry: %a], [^loop: %x]
  %y = phi [^entry: %a], [^loop: %z]
  %i = phi [^entry: 0], [^loop: %j]
  %z = copy %y
  %j = add %i, 1
  %c = lt %j, %n
  cbr %c, ^loop, ^exit
^exit:
  %r = build_tuple %x, %y, %z
  ret %r
}""")
    text = zir.format(f)
    assert "%r = build_tuple %a, %a, %a" in text
    assert [zir.printer.format_phi(p) for p in f.block("loop").phis] == ["%i = phi [^entry: 0], [^loop: %j]"]
    assert report.stat("copyprop", "phis removed") == 2
    assert outcome(f, "A", 3) == ("ok", ("A", "A", "A"))


def test_phi_with_different_values_stays() -> None:
    f, report = copyprop("""
func @f(%a, %b) ssa {
^entry:
  cbr %a, ^x, ^y
^x:
  br ^j
^y:
  br ^j
^j:
  %p = phi [^x: %a], [^y: %b]
  %q = phi [^x: 1], [^y: True]
  %r = build_tuple %p, %q
  ret %r
}""")
    # 1 and True are different constants (const_key), so %q is not trivial
    assert len(f.block("j").phis) == 2 and not report.changed


def test_undef_and_opaque_constants() -> None:
    f, _ = copyprop("""
func @f() ssa {
^entry:
  %u = const undef
  check_bound %u {name="u"}
  ret None
}""")
    assert zir.format(f).splitlines()[2] == "  check_bound undef {name=\"u\"}"


def test_exception_edge_values_stay_available() -> None:
    text = """
func @f(%a) ssa {
^entry:
  %x = const 1
  br ^t
^t: except ^h
  %y = copy %x
  %q = truediv 10, %a
  ret %q
^h:
  %v = phi [^t: %y]
  %e = catch
  ret %v
}"""
    f, _ = copyprop(text)
    assert outcome(f, 0) == ("ok", 1) and outcome(f, 2) == ("ok", 5.0)
    assert "phi" not in zir.format(f) and "ret 1" in zir.format(f)


def test_does_nothing_before_ssa_and_says_so() -> None:
    (f,) = zir.parse("func @f(%a) {\n^entry:\n  %b = copy %a\n  ret %b\n}").functions.values()
    report = passes.PassManager.parse("copyprop").run(f)
    assert not report.changed
    assert report.stat("copyprop", "functions skipped (not in SSA form; run 'ssa' first)") == 1


@given(programs())
def test_copyprop_preserves_semantics(f: zir.Function) -> None:
    before = [outcome(f, *a) for a in ARGS]
    g = copy.deepcopy(f)
    report = passes.PassManager.parse("ssa,copyprop", verify_each=True).run(g)
    assert [outcome(g, *a) for a in ARGS] == before
    assert report.records[1].instrs_after <= report.records[1].instrs_before
