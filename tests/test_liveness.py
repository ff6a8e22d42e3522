"""zir.analysis.liveness: checked against a brute-force, path-based definition on random small
functions (non-SSA, with phis and exception edges), and exact results on hand-written ones."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st
from ir_programs import SUM_SQUARES
from test_analysis import cfg_specs

import zir
from zir import Block, Const, Function, Instr, Phi, Value, Var
from zir.analysis import cfg, liveness

VARS = ("x", "y", "z", "p", "q")
DESTS = ("x", "y", "z", "p")


@st.composite
def random_functions(draw: st.DrawFn, copies: bool = True, entry_preds: bool = True,
                     max_blocks: int = 6) -> Function:
    """A small random function over a few locals: any CFG (with handlers), random pure, writing and
    may-raise instructions, `catch` first in handlers, random phis listing every predecessor. The
    function is non-SSA (locals are assigned many times)."""
    adj, handlers = draw(cfg_specs(max_blocks, entry_preds=entry_preds))
    var = st.sampled_from(VARS).map(Var)
    dest = st.sampled_from(DESTS).map(Var)
    value: st.SearchStrategy[Value] = st.one_of(var, var, st.integers(0, 3).map(Const))
    kinds = ["add", "is", "const", "store_global", "load_global"] + (["copy"] if copies else [])
    blocks = []
    handler_targets = set(handlers.values())
    for label, succs in adj.items():
        instrs: list[Instr] = []
        if label in handler_targets:
            instrs.append(Instr("catch", draw(dest)))
        for _ in range(draw(st.integers(0, 4))):
            kind = draw(st.sampled_from(kinds))
            if kind in ("add", "is"):
                instrs.append(Instr(kind, draw(dest), [draw(value), draw(value)]))
            elif kind == "copy":
                instrs.append(Instr("copy", draw(dest), [draw(var)]))
            elif kind == "const":
                instrs.append(Instr("const", draw(dest), [Const(draw(st.integers(0, 3)))]))
            elif kind == "store_global":
                instrs.append(Instr("store_global", None, [draw(value)], {"name": "g"}))
            else:
                instrs.append(Instr("load_global", draw(dest), [], {"name": "g"}))
        if not succs:
            instrs.append(Instr("ret", None, [draw(value)]))
        elif len(succs) == 1:
            instrs.append(Instr("br", None, [], {}, list(succs)))
        else:
            op = draw(st.sampled_from(["cbr", "cbr_more"]))  # cbr may raise, cbr_more may not
            instrs.append(Instr(op, None, [draw(value)], {}, list(succs)))
        blocks.append(Block(label, [], instrs, handlers.get(label)))
    f = Function("rand", [Var("p"), Var("q")], blocks)
    g = cfg(f)
    for b in f.blocks:
        preds = list(g.pred[b.label])
        if preds:
            for d in draw(st.lists(st.sampled_from(DESTS), max_size=2, unique=True)):
                b.phis.append(Phi(Var(d), {p: draw(value) for p in preds}))
    return f


# --------------------------------------------------------------------------------------------------
# The brute-force reference: program points, transitions that read then write, and reachability.

State = tuple[str, ...]
Transition = tuple[State, frozenset[Var], frozenset[Var], State]  # (from, uses, defs, to)


def transitions(f: Function) -> list[Transition]:
    """Every step control can take, as reads-then-writes between program points: ("top", B) after
    B's phis, ("at", B, i) before instruction i, ("out", B) after the terminator, and one edge
    point per CFG edge where the phis of the target read their operands and write their results.
    A may-raise instruction in a block with a handler can also go (after reading its operands, and
    writing nothing) to the exception edge."""
    blocks = f.block_map()
    steps: list[Transition] = []
    none: frozenset[Var] = frozenset()

    def edge(src: str, dst: str, kind: str) -> None:
        phis = blocks[dst].phis
        uses = frozenset(v for p in phis for v in [p.incoming[src]] if isinstance(v, Var))
        defs = frozenset(p.dest for p in phis)
        steps.append(((kind, src, dst), uses, defs, ("top", dst)))

    for b in f.blocks:
        n = len(b.instrs)
        steps.append((("top", b.label), none, none, ("at", b.label, "0")))
        for i, ins in enumerate(b.instrs):
            here: State = ("at", b.label, str(i))
            nxt: State = ("at", b.label, str(i + 1)) if i + 1 < n else ("out", b.label)
            uses = frozenset(ins.uses())
            defs = frozenset([ins.dest]) if ins.dest is not None else none
            steps.append((here, uses, defs, nxt))
            if b.handler is not None and ins.opdef.may_raise:
                steps.append((here, uses, none, ("xedge", b.label, b.handler)))
        for s in dict.fromkeys(b.successors()):
            steps.append((("out", b.label), none, none, ("edge", b.label, s)))
            edge(b.label, s, "edge")
        if b.handler is not None:
            edge(b.label, b.handler, "xedge")
    return steps


def ref_live(f: Function) -> dict[State, set[Var]]:
    """v is live at a point when a path from it reaches a read of v with no write of v before.
    For each v: the points with a step reading v, then backwards along steps not writing v."""
    steps = transitions(f)
    into: dict[State, list[Transition]] = {}
    states: set[State] = set()
    for t in steps:
        into.setdefault(t[3], []).append(t)
        states.add(t[0])
        states.add(t[3])
    live: dict[State, set[Var]] = {s: set() for s in states}
    all_vars = {v for t in steps for v in t[1] | t[2]} | set(f.params)
    for v in all_vars:
        work = deque(t[0] for t in steps if v in t[1])
        marked = set(work)
        while work:
            s = work.popleft()
            for src, _, defs, _ in into.get(s, []):
                if v not in defs and src not in marked:
                    marked.add(src)
                    work.append(src)
        for s in marked:
            live[s].add(v)
    return live


def check_against_reference(f: Function) -> None:
    ref = ref_live(f)
    live = liveness(f)
    for b in f.blocks:
        phi_defs = {p.dest for p in b.phis}
        assert live.live_in[b.label] == ref[("top", b.label)] - phi_defs, b.label
        assert live.live_at_top(b.label) == ref[("top", b.label)], b.label
        assert live.live_out[b.label] == ref[("out", b.label)], b.label
        n = len(b.instrs)
        for i in range(n):
            assert live.live_before(b.label, i) == ref[("at", b.label, str(i))], (b.label, i)
            after = ref[("at", b.label, str(i + 1))] if i + 1 < n else ref[("out", b.label)]
            assert live.live_after(b.label, i) == after, (b.label, i)
        for v in live.vars:
            assert live.is_live_out(v, b.label) == (v in live.live_out[b.label])


@given(random_functions())
def test_liveness_matches_path_definition(f: Function) -> None:
    check_against_reference(f)


@given(random_functions(entry_preds=False, copies=False, max_blocks=4))
def test_liveness_matches_on_small_valid_shapes(f: Function) -> None:
    check_against_reference(f)


# --------------------------------------------------------------------------------------------------
# Hand-written functions


def parse1(text: str) -> Function:
    (f,) = zir.parse(text).functions.values()
    return f


def names(vs: frozenset[Var]) -> set[str]:
    return {v.name for v in vs}


def test_non_ssa_loop() -> None:
    f = parse1(SUM_SQUARES)
    live = liveness(f)
    assert names(live.live_in["entry"]) == {"n"}
    assert names(live.live_in["loop"]) == {"i", "n", "s"}
    assert names(live.live_out["loop"]) == {"i", "n", "s"}
    assert names(live.live_in["exit"]) == {"s"} and names(live.live_out["exit"]) == set()
    assert names(live.live_after("body", 0)) == {"i", "n", "s", "t"}
    assert names(live.live_after("body", 1)) == {"i", "n", "s"}
    assert names(live.live_before("loop", 1)) == {"c", "i", "n", "s"}


def test_phi_operands_are_live_out_of_the_predecessor_only() -> None:
    f = parse1("""
func @sel(%a, %b, %c) ssa {
^entry:
  cbr %c, ^left, ^right
^left:
  br ^join
^right:
  br ^join
^join:
  %m = phi [^left: %a], [^right: %b]
  ret %m
}
""")
    live = liveness(f)
    assert names(live.live_out["left"]) == {"a"}
    assert names(live.live_out["right"]) == {"b"}
    assert names(live.live_in["join"]) == set()
    assert names(live.live_at_top("join")) == {"m"}
    assert names(live.live_in["entry"]) == {"a", "b", "c"}


def test_exception_edges_are_per_instruction() -> None:
    f = parse1("""
func @t(%f, %x) {
^entry:
  br ^try
^try: except ^h
  %y = copy %x
  %r = call %f
  %x = add %r, 1
  %k = const 3
  br ^done
^h:
  %e = catch
  ret %x
^done:
  ret %x
}
""")
    live = liveness(f)
    assert names(live.live_in["h"]) == {"x"}
    assert names(live.exception_live("try")) == {"x"}
    # before the first may-raise instruction the handler's needs are live...
    assert names(live.live_before("try", 1)) == {"f", "x"}
    # ...and before `add`, which may raise into ^h that reads the *old* %x
    assert names(live.live_before("try", 2)) == {"r", "x"}
    # after the last may-raise instruction the handler no longer matters
    assert names(live.live_after("try", 2)) == {"x"}
    assert names(live.live_out["try"]) == {"x"}


def test_handler_block_without_raising_instructions_keeps_nothing_alive() -> None:
    f = parse1("""
func @t(%x, %w) {
^entry:
  br ^quiet
^quiet: except ^h
  %y = copy %x
  br ^done
^h:
  %e = catch
  ret %w
^done:
  ret %y
}
""")
    live = liveness(f)
    assert names(live.live_in["quiet"]) == {"x"}
    assert names(live.exception_live("quiet")) == set()


def test_exception_phi_operand_live_at_raise_points() -> None:
    f = parse1("""
func @t(%f) ssa {
^entry:
  %x.0 = const 0
  br ^try
^try: except ^h
  %x.1 = const 1
  %r = call %f, %x.1
  br ^done
^h:
  %x.2 = phi [^try: %x.1]
  %e = catch
  ret %x.2
^done:
  ret %r
}
""")
    live = liveness(f)
    assert names(live.exception_live("try")) == {"x.1"}
    assert names(live.live_before("try", 1)) == {"f", "x.1"}
    assert names(live.live_out["try"]) == {"r"}
    assert names(live.live_in["h"]) == set()


def test_unreachable_block_is_analysed() -> None:
    f = parse1("""
func @u(%a) {
^entry:
  ret %a
^dead:
  %b = add %a, 1
  br ^dead
}
""")
    live = liveness(f)
    assert names(live.live_in["dead"]) == {"a"}
    assert names(live.live_out["dead"]) == {"a"}
