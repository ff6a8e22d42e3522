"""zir.analysis.interference_graph: soundness (values live at the same point interfere) and the
exact def-point rule against brute-force liveness on random functions; copies, phis, params,
spill costs and affinities on hand-written functions."""

from __future__ import annotations

import itertools

import networkx as nx
from hypothesis import given
from ir_programs import SUM_SQUARES
from test_liveness import random_functions, ref_live, transitions

import zir
from zir import Function, Var
from zir.analysis import interference_graph, reachable


def parse1(text: str) -> Function:
    (f,) = zir.parse(text).functions.values()
    return f


def edge_set(g: nx.Graph) -> set[frozenset[str]]:
    return {frozenset((u.name, v.name)) for u, v in g.edges}


def pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


def ref_def_point_edges(f: Function) -> set[frozenset[Var]]:
    """The def-point rule evaluated on the brute-force liveness: each step that writes `d`
    interferes `d` with what is live after the step (minus a copy's source); the entry defines the
    params and whatever is live into it, all at once."""
    live = ref_live(f)
    edges: set[frozenset[Var]] = set()
    copy_src: dict[tuple[str, int], Var] = {}
    for b in f.blocks:
        for n, i in enumerate(b.instrs):
            if i.op == "copy" and isinstance(i.args[0], Var):
                copy_src[(b.label, n)] = i.args[0]
    for src, _, defs, dst in transitions(f):
        if not defs:
            continue
        after = set(live[dst])
        if src[0] == "at":
            exempt = copy_src.get((src[1], int(src[2])))
            if exempt is not None:
                after.discard(exempt)
        for d in defs:
            for v in after | defs:
                if v != d:
                    edges.add(frozenset((d, v)))
    entry = f.blocks[0]
    at_entry = (live[("top", entry.label)] - {p.dest for p in entry.phis}) | set(f.params)
    for a, b in itertools.combinations(at_entry, 2):
        edges.add(frozenset((a, b)))
    return edges


@given(random_functions())
def test_edges_follow_the_def_point_rule(f: Function) -> None:
    g = interference_graph(f)
    assert {frozenset(e) for e in g.edges} == ref_def_point_edges(f)
    assert set(g.nodes) == set(g.graph["affinities"].nodes)


@given(random_functions(copies=False, entry_preds=False))
def test_values_live_at_the_same_point_interfere(f: Function) -> None:
    # Without copies nothing is known to hold equal values, so every pair live together at a
    # reachable point must be an edge (what makes a colouring of this graph a correct allocation).
    g = interference_graph(f)
    live = ref_live(f)
    reach = reachable(f)
    for state, vs in live.items():
        if state[1] not in reach:
            continue
        for a, b in itertools.combinations(sorted(vs, key=lambda v: v.name), 2):
            assert g.has_edge(a, b), (state, a, b)


def test_copy_source_and_result_share_unless_one_is_redefined() -> None:
    f = parse1("""
func @c(%a) {
^entry:
  %b = copy %a
  %s = add %a, %b
  ret %s
}
""")
    g = interference_graph(f)
    assert not g.has_edge(Var("a"), Var("b"))
    aff = g.graph["affinities"]
    assert aff.has_edge(Var("a"), Var("b")) and aff.edges[Var("a"), Var("b")]["weight"] == 1
    f = parse1("""
func @c(%a) {
^entry:
  %b = copy %a
  %a = add %a, 1
  %s = add %a, %b
  ret %s
}
""")
    g = interference_graph(f)
    assert g.has_edge(Var("a"), Var("b"))  # the redefinition of %a sees %b live
    assert g.graph["affinities"].has_edge(Var("a"), Var("b"))


def test_params_interfere_even_when_dead() -> None:
    f = parse1("func @p(%a, %b, %c) {\n^entry:\n  ret 0\n}\n")
    assert edge_set(interference_graph(f)) == {pair("a", "b"), pair("a", "c"), pair("b", "c")}


def test_dead_definition_still_interferes_with_live_values() -> None:
    f = parse1("""
func @d(%a) {
^entry:
  %dead = add %a, 1
  ret %a
}
""")
    assert edge_set(interference_graph(f)) == {pair("dead", "a")}


def test_phis_interfere_together_and_are_affine_to_operands() -> None:
    f = parse1("""
func @swap(%a, %b, %n) ssa {
^entry:
  br ^loop
^loop:
  %x = phi [^entry: %a], [^loop: %y]
  %y = phi [^entry: %b], [^loop: %x]
  %c = lt %x, %n
  cbr %c, ^loop, ^exit
^exit:
  ret %y
}
""")
    g = interference_graph(f)
    assert g.has_edge(Var("x"), Var("y"))
    assert not g.has_edge(Var("x"), Var("a"))  # %a is dead once the phis run
    aff = g.graph["affinities"]
    assert {frozenset((u.name, v.name)) for u, v in aff.edges} == {
        pair("x", "a"), pair("x", "y"), pair("y", "b")}
    # the loop edge's operands weigh 10 (loop depth 1), the entry edge's 1; x<->y twice
    assert aff.edges[Var("x"), Var("y")]["weight"] == 20
    assert aff.edges[Var("x"), Var("a")]["weight"] == 1


def test_spill_cost_weights_by_loop_depth() -> None:
    f = parse1(SUM_SQUARES)
    g = interference_graph(f)
    cost = {v.name: c for v, c in g.nodes(data="spill_cost")}
    # %n: param def (1) + one use in the loop (10); %i: def (1) + loop uses 1+2+1 and a def (10 each)
    assert cost == {"n": 11, "s": 1 + 10 + 10 + 1, "i": 1 + 50, "c": 20, "t": 20}


def test_exception_needs_keep_values_apart() -> None:
    # %x must survive until the last may-raise instruction (the handler reads it), so %r, defined
    # by the first call, interferes with it; %k, defined after the last raise point, does not.
    f = parse1("""
func @t(%f, %x) {
^entry:
  br ^try
^try: except ^h
  %r = call %f
  %q = call %r
  %k = const 1
  br ^done
^h:
  %e = catch
  ret %x
^done:
  ret %k
}
""")
    g = interference_graph(f)
    assert g.has_edge(Var("r"), Var("x"))
    assert not g.has_edge(Var("k"), Var("x"))
    assert not g.has_edge(Var("q"), Var("x"))
