"""SSA destruction: the lost-copy and swap problems executed, parallel-copy sequentialization,
exception edges, and random programs through SSA and back."""

from __future__ import annotations

import copy
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ir_interp import outcome
from ir_programs import ARGS, programs

import passes
import zir
from passes.ssa_destroy import sequentialize
from zir.ir import Const, Var


def destroy(text: str, pipeline: str = "ssa-destroy") -> tuple[zir.Function, zir.Function, passes.RunReport]:
    (orig,) = zir.parse(text).functions.values()
    f = copy.deepcopy(orig)
    report = passes.PassManager.parse(pipeline, verify_each=True).run(f)
    assert not f.ssa and all(not b.phis for b in f.blocks)
    return orig, f, report


# Briggs et al. 1998, figure 6: after copy propagation %x.2 is read after the loop, so the copy
# into it on the back edge must not run on the exit path.
LOST_COPY = """
func @lost_copy(%n) ssa {
^entry:
  br ^loop
^loop:
  %x.2 = phi [^entry: 1], [^loop: %x.3]
  %x.3 = add %x.2, 1
  %c = lt %x.3, %n
  cbr %c, ^loop, ^exit
^exit:
  ret %x.2
}"""


def test_lost_copy_problem() -> None:
    orig, f, report = destroy(LOST_COPY)
    assert report.stat("ssa-destroy", "critical edges split") == 1
    for n in (0, 1, 2, 5):
        assert outcome(f, n) == outcome(orig, n)
    assert outcome(f, 5) == ("ok", 4)


def test_lost_copy_would_happen_without_the_split() -> None:
    # the naive placement (copy at the end of ^loop, before its branch) returns the wrong value
    (naive,) = zir.parse(LOST_COPY.replace(" ssa {", " {")
                         .replace("  %x.2 = phi [^entry: 1], [^loop: %x.3]\n", "")
                         .replace("^entry:\n  br ^loop", "^entry:\n  %x.2 = const 1\n  br ^loop")
                         .replace("  cbr %c, ^loop, ^exit", "  %x.2 = copy %x.3\n  cbr %c, ^loop, ^exit")
                         ).functions.values()
    assert outcome(naive, 5) == ("ok", 5) != outcome(destroy(LOST_COPY)[1], 5)


# Briggs et al. 1998, figure 7: the two phis swap their values every iteration.
SWAP = """
func @swap(%a, %b, %n) ssa {
^entry:
  br ^loop
^loop:
  %x = phi [^entry: %a], [^loop: %y]
  %y = phi [^entry: %b], [^loop: %x]
  %i = phi [^entry: 0], [^loop: %j]
  %j = add %i, 1
  %c = lt %j, %n
  cbr %c, ^loop, ^exit
^exit:
  %r = build_tuple %x, %y
  ret %r
}"""


def test_swap_problem() -> None:
    orig, f, report = destroy(SWAP)
    assert report.stat("ssa-destroy", "cycle temporaries") == 1
    for n in range(5):
        assert outcome(f, "A", "B", n) == outcome(orig, "A", "B", n)
    assert outcome(f, "A", "B", 2) == ("ok", ("B", "A"))
    assert outcome(f, "A", "B", 3) == ("ok", ("A", "B"))


def test_swap_in_a_block_that_only_jumps_back() -> None:
    text = """
func @swap2(%a, %b, %n) ssa {
^entry:
  br ^head
^head:
  %x = phi [^entry: %a], [^body: %y]
  %y = phi [^entry: %b], [^body: %x]
  %i = phi [^entry: 0], [^body: %j]
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body:
  %j = add %i, 1
  br ^head
^exit:
  %r = build_tuple %x, %y, %i
  ret %r
}"""
    orig, f, report = destroy(text)
    assert report.stat("ssa-destroy", "critical edges split") == 0
    for n in range(4):
        assert outcome(f, 1, 2, n) == outcome(orig, 1, 2, n)


def _run_copies(seq: list[tuple[Var, object]], env: dict[str, object]) -> dict[str, object]:
    env = dict(env)
    for d, s in seq:
        env[d.name] = s.value if isinstance(s, Const) else env[s.name]  # type: ignore[union-attr]
    return env


@pytest.mark.parametrize("pairs, temps", [
    ([("a", "b"), ("b", "a")], 1),                                        # swap
    ([("a", "b"), ("b", "c"), ("c", "a")], 1),                            # 3-cycle
    ([("b", "a"), ("c", "a"), ("a", "c")], 0),                            # fan-out breaks the cycle
    ([("a", "b"), ("b", "c"), ("c", "d")], 0),                            # chain
    ([("a", "a"), ("b", 7), ("c", "b")], 0),                              # self copy, constant
    ([("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"), ("e", "a")], 1),    # two cycles, a reader
    ([("a", "b"), ("b", "a"), ("c", "d"), ("d", "c")], 2),                # two independent swaps
])
def test_sequentialize(pairs: list[tuple[str, object]], temps: int) -> None:
    copies = [(Var(d), Var(s) if isinstance(s, str) else Const(s)) for d, s in pairs]
    env = {n: f"v{n}" for n in "abcde"}
    expected = dict(env)
    for d, s in copies:
        expected[d.name] = s.value if isinstance(s, Const) else env[s.name]
    counter = itertools.count()
    seq = sequentialize(copies, lambda: Var(f"$t{next(counter)}"))
    got = _run_copies(seq, env)
    assert {k: got[k] for k in env} == expected
    assert sum(1 for d, _ in seq if d.name.startswith("$t")) == temps
    assert len(seq) == sum(1 for d, s in copies if d != s) + temps


@given(st.permutations("abcdef"), st.lists(st.sampled_from("abcdef"), min_size=6, max_size=6),
       st.integers(0, 6))
def test_sequentialize_random_parallel_copies(perm: list[str], srcs: list[str], n: int) -> None:
    dests = perm[:n]
    copies = [(Var(d), Var(s)) for d, s in zip(dests, srcs, strict=False)]
    env = {c: c.upper() for c in "abcdef"}
    expected = dict(env)
    for d, s in copies:
        expected[d.name] = env[s.name]
    counter = itertools.count()
    got = _run_copies(sequentialize(copies, lambda: Var(f"$t{next(counter)}")), env)
    assert {k: got[k] for k in env} == expected


HANDLER_LOOP = """
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
  %i = add %i, 1
  br ^head
^h:
  %e = catch
  %acc = add %acc, 100
  %i = add %i, 1
  br ^head
^exit:
  ret %acc
}"""


def test_exception_edges_go_through_temporaries() -> None:
    (orig,) = zir.parse(HANDLER_LOOP).functions.values()
    f = copy.deepcopy(orig)
    pm = passes.PassManager.parse("ssa,copyprop,dce,ssa-destroy{coalesce=false}", verify_each=True)
    report = pm.run(f)
    # one handler phi is left after copyprop (%acc: %i reaches ^h unchanged from every raise point)
    assert report.stat("ssa-destroy{coalesce=false}", "handler temporaries") == 1
    h = f.block("h")
    assert [zir.printer.format_instr(i) for i in h.instrs[:2]] == ["%e.0 = catch", "%acc.3 = copy %$t1"]
    # the temporary is written just before the first may-raise instruction of each block of the try
    for label, first in (("try", "floordiv"), ("try.s", "add"), ("try.s.s", "add")):
        instrs = f.block(label).instrs
        assert instrs[0].op == "copy" and instrs[0].dest == zir.Var("$t1") and instrs[1].op == first
    for n in range(5):
        assert outcome(f, n) == outcome(orig, n)


def test_coalescing_phi_webs() -> None:
    (orig,) = zir.parse(HANDLER_LOOP).functions.values()
    f = copy.deepcopy(orig)
    report = passes.PassManager.parse("ssa,copyprop,dce,ssa-destroy", verify_each=True).run(f)
    # %acc and %i each keep one name across the loop and the handler: no temporaries, no split
    assert report.stat("ssa-destroy", "phi operands coalesced") == 5
    assert report.stat("ssa-destroy", "handler temporaries") == 0
    assert report.stat("ssa-destroy", "critical edges split") == 0
    for n in range(5):
        assert outcome(f, n) == outcome(orig, n)
    # the swap's two phis interfere with each other: still a cycle, still one temporary
    _, g, swap = destroy(SWAP)
    assert swap.stat("ssa-destroy", "cycle temporaries") == 1
    assert outcome(g, "A", "B", 2) == ("ok", ("B", "A"))


def test_not_in_ssa_is_unchanged() -> None:
    (f,) = zir.parse("func @f() {\n^entry:\n  ret 1\n}").functions.values()
    assert not passes.pass_class("ssa-destroy")().run(f, passes.AnalysisManager()).changed


ROUND_TRIPS = ["ssa,ssa-destroy", "ssa,copyprop,ssa-destroy", "ssa,copyprop,dce,ssa-destroy",
               "ssa{pruned=false},copyprop,ssa-destroy", "ssa,copyprop,ssa-destroy{coalesce=false}",
               "ssa,ssa-destroy{coalesce=false}"]


@given(programs(), st.sampled_from(ROUND_TRIPS))
def test_round_trip_through_ssa_preserves_semantics(f: zir.Function, pipeline: str) -> None:
    before = [outcome(f, *a) for a in ARGS]
    g = copy.deepcopy(f)
    passes.PassManager.parse(pipeline, verify_each=True).run(g)
    assert not g.ssa
    assert [outcome(g, *a) for a in ARGS] == before
