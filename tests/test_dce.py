"""Dead code elimination: what goes, what must stay (effects, possible raises), dead phi cycles,
both IR forms, bisection, and random programs."""

from __future__ import annotations

import copy
import io

from hypothesis import given
from ir_interp import outcome
from ir_programs import ARGS, programs

import passes
import zir


def dce(text: str) -> tuple[zir.Function, passes.RunReport]:
    (f,) = zir.parse(text).functions.values()
    report = passes.PassManager.parse("dce", verify_each=True).run(f)
    return f, report


def ops(f: zir.Function) -> list[str]:
    return [zir.printer.format_instr(i) for _, i in f.instructions()]


def test_removes_unused_pure_and_provably_safe_instructions() -> None:
    f, report = dce("""
func @f(%a, %b) {
^entry:
  %t = build_tuple %a, %b
  %u = tuple_item %t {index=0}
  %s = add 1, 2
  %big = pow 2, 100000
  %q = truediv 1, 0
  %r = add %a, %b
  %k = load_global {name="len"}
  ret %a
}""")
    # add 1, 2 cannot raise; pow 2, 100000 would not raise either but is not evaluated (too big),
    # 1/0 raises, a + b may raise, a global may be missing: those stay
    assert ops(f) == ["%big = pow 2, 100000", "%q = truediv 1, 0", "%r = add %a, %b",
                      "%k = load_global {name=\"len\"}", "ret %a"]
    assert report.stat("dce", "instructions removed") == 3


def test_keeps_effects_and_what_they_read() -> None:
    f, _ = dce("""
func @f(%o) {
^entry:
  %v = add 40, 2
  %w = build_list %v
  store_attr %w, %o {name="x"}
  %unused = build_list 1
  ret None
}""")
    assert ops(f) == ["%v = add 40, 2", "%w = build_list %v", "store_attr %w, %o {name=\"x\"}", "ret None"]


def test_int_arithmetic_on_proven_ints_is_removable() -> None:
    f, _ = dce("""
func @f(%n) {
^entry:
  %i = const 3
  %j = mul %i, %i
  %k = add %j, %i
  %m = floordiv %k, %j
  %x = add %n, 1
  ret %n
}""")
    # floordiv may divide by zero; %n is unknown: both stay, with what they read
    assert ops(f) == ["%i = const 3", "%j = mul %i, %i", "%k = add %j, %i", "%m = floordiv %k, %j",
                      "%x = add %n, 1", "ret %n"]
    g, _ = dce("func @f() {\n^entry:\n  %i = const 3\n  %j = mul %i, %i\n  %k = add %j, %i\n  ret 0\n}")
    assert ops(g) == ["ret 0"]


def test_dead_phi_cycle_is_removed() -> None:
    f, report = dce("""
func @f(%n) ssa {
^entry:
  br ^loop
^loop:
  %i = phi [^entry: 0], [^loop: %i2]
  %d = phi [^entry: 0], [^loop: %d2]
  %e = phi [^entry: 1], [^loop: %e2]
  %d2 = add %d, 1
  %e2 = copy %e
  %i2 = add %i, 1
  %c = lt %i2, %n
  cbr %c, ^loop, ^exit
^exit:
  ret %i
}""")
    assert [zir.printer.format_phi(p) for p in f.block("loop").phis] == ["%i = phi [^entry: 0], [^loop: %i2]"]
    assert report.stat("dce", "phis removed") == 2
    # %d2 = add %d, 1 reads a phi of unknown type... but %d is 0, 1, 2...: a proven int, so it goes
    assert "%d2" not in zir.format(f) and "%e2" not in zir.format(f)
    assert outcome(f, 3) == ("ok", 2)


def test_check_bound_goes_only_when_surely_bound() -> None:
    f, _ = dce("""
func @f(%a) {
^entry:
  %x = const 1
  cbr %a, ^del, ^keep
^del:
  %x = const undef
  br ^keep
^keep:
  check_bound %a {name="a"}
  check_bound %x {name="x"}
  ret 0
}""")
    text = zir.format(f)
    assert "check_bound %a" not in text and "check_bound %x" in text
    assert outcome(f, True)[1] == "UnboundLocalError" and outcome(f, False) == ("ok", 0)


def test_check_bound_in_ssa_form() -> None:
    f, _ = dce("""
func @f(%a) ssa {
^entry:
  cbr %a, ^one, ^join
^one:
  br ^join
^join:
  %x = phi [^entry: undef], [^one: 5]
  %y = phi [^entry: 2], [^one: 5]
  check_bound %x {name="x"}
  check_bound %y {name="y"}
  ret 0
}""")
    assert ops(f) == ["cbr %a, ^one, ^join", "br ^join", "check_bound %x {name=\"x\"}", "ret 0"]


def test_non_ssa_keeps_every_assignment_of_a_used_local() -> None:
    f, _ = dce("""
func @f(%a) {
^entry:
  %x = const 1
  cbr %a, ^then, ^join
^then:
  %x = const 2
  br ^join
^join:
  %dead = const 3
  ret %x
}""")
    assert ops(f) == ["%x = const 1", "cbr %a, ^then, ^join", "%x = const 2", "br ^join", "ret %x"]


def test_catch_is_never_removed() -> None:
    f, _ = dce("""
func @f(%a) {
^entry:
  br ^t
^t: except ^h
  %q = truediv 1, %a
  ret %q
^h:
  %e = catch
  ret 0
}""")
    assert "%e = catch" in zir.format(f)


def test_bisect_never_leaves_a_use_without_its_definition() -> None:
    text = """
func @f(%n) ssa {
^entry:
  %a = add 1, 2
  %b = add %a, 3
  %c = add %b, %a
  br ^loop
^loop:
  %p = phi [^entry: 0], [^loop: %q]
  %i = phi [^entry: 0], [^loop: %j]
  %q = add %p, %c
  %j = add %i, 1
  %k = lt %j, %n
  cbr %k, ^loop, ^exit
^exit:
  ret %j
}"""
    full = io.StringIO()
    (f,) = zir.parse(text).functions.values()
    passes.PassManager.parse("dce", bisect_limit=100, stream=full).run(f)
    n = len(full.getvalue().splitlines())
    # one transformation removes the cycle %p/%q, then %c, %b, %a (users before definitions)
    assert n == 4 and "%p = phi" in full.getvalue().splitlines()[0]
    for limit in range(n + 1):
        (g,) = zir.parse(text).functions.values()
        passes.PassManager.parse("dce", verify_each=True, bisect_limit=limit, stream=io.StringIO()).run(g)
        assert outcome(g, 3) == ("ok", 3)


@given(programs())
def test_dce_preserves_semantics(f: zir.Function) -> None:
    before = [outcome(f, *a) for a in ARGS]
    g = copy.deepcopy(f)
    passes.PassManager.parse("dce", verify_each=True).run(g)
    assert [outcome(g, *a) for a in ARGS] == before
    h = copy.deepcopy(f)
    passes.PassManager.parse("ssa,dce", verify_each=True).run(h)
    assert [outcome(h, *a) for a in ARGS] == before
