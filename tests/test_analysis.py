"""zir.analysis: CFG, orders, dominators, dominance frontiers and natural loops, checked on
hand-written adjacency-dict CFGs (exact results) and, on hypothesis-generated CFGs, against
brute-force references taken from the definitions."""

from __future__ import annotations

import dataclasses
import itertools

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

import zir
from zir import Block, Const, Function, Instr, Var
from zir.analysis import (
    cfg,
    dominance_frontiers,
    dominator_tree,
    dominators,
    loop_info,
    natural_loops,
    postorder,
    reachable,
    reverse_postorder,
)

# --------------------------------------------------------------------------------------------------
# Functions from adjacency dicts


def function_from_adjacency(adj: dict[str, list[str]], handlers: dict[str, str] | None = None,
                            name: str = "f") -> Function:
    """A function with one block per key of `adj` (in order; the first is the entry). A block with
    no successor returns, one jumps, two branch on %p (first = true). `handlers` maps a block to its
    handler; such a block holds a may-raise call and every handler starts with `catch`."""
    handlers = handlers or {}
    p = Var("p")
    blocks = []
    handler_targets = set(handlers.values())
    for label, succs in adj.items():
        instrs: list[Instr] = []
        if label in handler_targets:
            instrs.append(Instr("catch", Var(f"e_{label}")))
        if label in handlers:
            instrs.append(Instr("call", Var(f"r_{label}"), [p]))
        if not succs:
            instrs.append(Instr("ret", None, [p]))
        elif len(succs) == 1:
            instrs.append(Instr("br", None, [], {}, list(succs)))
        else:
            instrs.append(Instr("cbr", None, [p], {}, list(succs)))
        blocks.append(Block(label, [], instrs, handlers.get(label)))
    return Function(name, [p], blocks)


# --------------------------------------------------------------------------------------------------
# Brute-force references, straight from the definitions


def ref_reachable(g: nx.DiGraph, entry: str, removed: str | None = None) -> set[str]:
    if entry == removed:
        return set()
    h = g.subgraph([n for n in g if n != removed])
    return {entry} | nx.descendants(h, entry)


def ref_dominators(g: nx.DiGraph, entry: str) -> dict[str, set[str]]:
    """dom(b) = blocks a such that removing a makes b unreachable (plus b itself)."""
    reach = ref_reachable(g, entry)
    doms: dict[str, set[str]] = {b: {b} for b in reach}
    for a in reach:
        without = ref_reachable(g, entry, removed=a)
        for b in reach:
            if b not in without:
                doms[b].add(a)
    return doms


def ref_idom(doms: dict[str, set[str]], entry: str) -> dict[str, str | None]:
    """The strict dominator of b that every other strict dominator of b dominates."""
    out: dict[str, str | None] = {}
    for b, ds in doms.items():
        strict = ds - {b}
        if b == entry:
            out[b] = None
            continue
        (closest,) = [d for d in strict if strict <= doms[d]]
        out[b] = closest
    return out


def ref_frontiers(g: nx.DiGraph, doms: dict[str, set[str]]) -> dict[str, set[str]]:
    """DF(a) = {b : a dominates a predecessor of b, and a does not strictly dominate b}."""
    df: dict[str, set[str]] = {a: set() for a in doms}
    for b in doms:
        for p in g.pred[b]:
            if p not in doms:
                continue
            for a in doms[p]:
                if not (a in doms[b] and a != b):
                    df[a].add(b)
    return df


@dataclasses.dataclass
class RefLoop:
    body: set[str]
    latches: set[str]
    entries: set[str] = dataclasses.field(default_factory=set)
    exits: set[str] = dataclasses.field(default_factory=set)
    depth: int = 0
    parent: str | None = None


def ref_loops(g: nx.DiGraph, entry: str) -> dict[str, RefLoop]:
    """Natural loops from back edges t -> h with h dominating t; body = h plus the reachable
    blocks that reach t without passing h; merged per header."""
    doms = ref_dominators(g, entry)
    reach = set(doms)
    loops: dict[str, RefLoop] = {}
    for t, h in g.edges:
        if t in reach and h in doms[t]:
            without_h = g.subgraph([n for n in g if n != h])
            body = {h} | ({t} | nx.ancestors(without_h, t) if t != h else set())
            lp = loops.setdefault(h, RefLoop(set(), set()))
            lp.body |= body & reach
            lp.latches.add(t)
    for h, lp in loops.items():
        lp.entries = {p for p in g.pred[h] if p not in lp.body and p in reach}
        lp.exits = {s for n in lp.body for s in g.succ[n] if s not in lp.body}
        lp.depth = sum(1 for other in loops.values() if h in other.body)
        containing = [o for o in loops if o != h and h in loops[o].body]
        lp.parent = min(containing, key=lambda o: len(loops[o].body), default=None)
    return loops


# --------------------------------------------------------------------------------------------------
# Generated CFGs


@st.composite
def cfg_specs(draw: st.DrawFn, max_blocks: int = 8,
              entry_preds: bool = True) -> tuple[dict[str, list[str]], dict[str, str]]:
    """A random adjacency dict (0-2 normal successors per block; targets include the entry when
    `entry_preds`) and a random handler assignment (never the entry; normal edges may coincide)."""
    n = draw(st.integers(1, max_blocks))
    labels = [f"b{k}" for k in range(n)]
    targets = labels if entry_preds else labels[1:]
    adj: dict[str, list[str]] = {}
    for label in labels:
        k = draw(st.integers(0, 2)) if targets else 0
        adj[label] = [draw(st.sampled_from(targets)) for _ in range(k)]
    handlers: dict[str, str] = {}
    if n > 1:
        for label in labels:
            if draw(st.integers(0, 4)) == 0:
                handlers[label] = draw(st.sampled_from(labels[1:]))
    return adj, handlers


def expected_edges(adj: dict[str, list[str]], handlers: dict[str, str]) -> dict[tuple[str, str], str]:
    edges: dict[tuple[str, str], str] = {}
    for label, succs in adj.items():
        if len(succs) == 2 and succs[0] != succs[1]:
            edges[(label, succs[0])] = "true"
            edges[(label, succs[1])] = "false"
        for s in succs:
            edges.setdefault((label, s), "jump")
        if label in handlers:
            edges.setdefault((label, handlers[label]), "exception")
    return edges


@given(cfg_specs())
def test_cfg_edges_and_orders(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    adj, handlers = spec
    f = function_from_adjacency(adj, handlers)
    g = cfg(f)
    assert list(g) == list(adj)
    assert {(u, v): k for u, v, k in g.edges(data="kind")} == expected_edges(adj, handlers)
    reach = ref_reachable(g, "b0")
    assert reachable(f) == reach
    rpo = reverse_postorder(f)
    assert rpo == list(reversed(postorder(g)))
    assert sorted(rpo) == sorted(reach) and rpo[0] == "b0"
    doms = ref_dominators(g, "b0")
    pos = {b: n for n, b in enumerate(rpo)}
    for b in rpo[1:]:
        assert any(pos[p] < pos[b] for p in g.pred[b] if p in pos)  # its DFS parent comes first
        assert all(pos[d] <= pos[b] for d in doms[b])  # dominators come first


@given(cfg_specs())
def test_dominators_match_brute_force(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    f = function_from_adjacency(*spec)
    g = cfg(f)
    doms = ref_dominators(g, "b0")
    d = dominators(f)
    assert d.idom == ref_idom(doms, "b0")
    tree = dominator_tree(f)
    assert set(tree.nodes) == set(doms)
    assert {(u, v) for u, v in tree.edges} == {(i, b) for b, i in ref_idom(doms, "b0").items() if i}
    for a, b in itertools.product(list(g), repeat=2):
        assert d.dominates(a, b) == (b in doms and a in doms[b])
        assert d.strictly_dominates(a, b) == (a != b and b in doms and a in doms[b])
    for b in doms:
        assert set(d.dominators_of(b)) == doms[b]
    assert sorted(d.preorder()) == sorted(doms)


@given(cfg_specs())
def test_frontiers_match_definition(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    f = function_from_adjacency(*spec)
    g = cfg(f)
    assert dominance_frontiers(f) == ref_frontiers(g, ref_dominators(g, "b0"))


@given(cfg_specs())
def test_loops_match_brute_force(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    f = function_from_adjacency(*spec)
    g = cfg(f)
    ref = ref_loops(g, "b0")
    info = loop_info(f)
    assert {lp.header for lp in info.loops} == set(ref)
    for lp in info.loops:
        r = ref[lp.header]
        assert set(lp.body) == r.body
        assert set(lp.latches) == r.latches
        assert all(h == lp.header for _, h in lp.back_edges)
        assert set(lp.entries) == r.entries
        assert set(lp.exits) == r.exits
        assert lp.depth == r.depth
        assert lp.parent == r.parent
    seen: list[str] = []
    for lp in info.loops:  # outer loops are listed before the loops they contain
        if lp.parent is not None:
            assert lp.parent in seen
        seen.append(lp.header)
    for b in g:
        assert info.loop_depth(b) == sum(1 for r in ref.values() if b in r.body)


# --------------------------------------------------------------------------------------------------
# Hand-written cases with exact answers


def loops_of(adj: dict[str, list[str]], handlers: dict[str, str] | None = None) -> list[zir.analysis.Loop]:
    return natural_loops(function_from_adjacency(adj, handlers))


def test_diamond() -> None:
    f = function_from_adjacency({"entry": ["a", "b"], "a": ["j"], "b": ["j"], "j": []})
    assert dominators(f).idom == {"entry": None, "a": "entry", "b": "entry", "j": "entry"}
    assert dominance_frontiers(f) == {"entry": set(), "a": {"j"}, "b": {"j"}, "j": set()}
    assert natural_loops(f) == []
    assert cfg(f).edges["entry", "a"]["kind"] == "true"
    assert cfg(f).edges["entry", "b"]["kind"] == "false"


def test_branch_with_equal_targets_is_one_jump_edge() -> None:
    f = function_from_adjacency({"entry": ["x", "x"], "x": []})
    g = cfg(f)
    assert list(g.edges(data="kind")) == [("entry", "x", "jump")]


def test_self_loop() -> None:
    (lp,) = loops_of({"entry": ["l"], "l": ["l", "x"], "x": []})
    assert lp == zir.analysis.Loop("l", ("l",), (("l", "l"),), ("entry",), ("x",), 1, None)
    assert lp.latches == ("l",)
    assert "l" in lp and "x" not in lp


def test_nested_loops() -> None:
    adj = {"entry": ["h1"], "h1": ["h2", "exit"], "h2": ["b", "l1"], "b": ["h2"], "l1": ["h1"],
           "exit": []}
    f = function_from_adjacency(adj)
    info = loop_info(f)
    outer, inner = info.loops
    assert outer.header == "h1" and outer.body == ("h1", "h2", "b", "l1") and outer.depth == 1
    assert outer.back_edges == (("l1", "h1"),) and outer.exits == ("exit",) and outer.parent is None
    assert inner.header == "h2" and inner.body == ("h2", "b") and inner.depth == 2
    assert inner.parent == "h1" and inner.entries == ("h1",) and inner.exits == ("l1",)
    assert [info.loop_depth(b) for b in adj] == [0, 1, 2, 2, 1, 0]
    assert info.innermost("b") == inner and info.innermost("exit") is None
    assert list(info.graph.edges) == [("h1", "h2")]
    assert info.is_header("h2") and not info.is_header("b")


def test_loops_sharing_a_header_merge() -> None:
    (lp,) = loops_of({"entry": ["h"], "h": ["a", "b"], "a": ["h", "x"], "b": ["h"], "x": []})
    assert lp.body == ("h", "a", "b") and lp.back_edges == (("a", "h"), ("b", "h"))
    assert lp.exits == ("x",)


def test_irreducible_graph_has_no_natural_loop() -> None:
    f = function_from_adjacency({"entry": ["a", "b"], "a": ["b", "x"], "b": ["a"], "x": []})
    assert natural_loops(f) == []
    assert dominators(f).idom == {"entry": None, "a": "entry", "b": "entry", "x": "a"}
    assert dominance_frontiers(f) == {"entry": set(), "a": {"b"}, "b": {"a"}, "x": set()}


def test_unreachable_blocks_are_left_out() -> None:
    f = function_from_adjacency({"entry": ["x"], "u": ["x", "u"], "x": []})
    d = dominators(f)
    assert d.idom == {"entry": None, "x": "entry"}
    assert "u" not in dominator_tree(f) and "u" not in dominance_frontiers(f)
    assert not d.is_reachable("u") and not d.dominates("u", "u") and not d.dominates("entry", "u")
    assert natural_loops(f) == []
    assert loop_info(f).loop_depth("u") == 0
    assert "u" in cfg(f) and reverse_postorder(f) == ["entry", "x"]


def test_exception_edges_shape_dominance_and_loops() -> None:
    adj = {"entry": ["loop"], "loop": ["body", "exit"], "body": ["loop"], "h": ["loop"], "exit": []}
    f = function_from_adjacency(adj, {"body": "h"})
    g = cfg(f)
    assert g.edges["body", "h"]["kind"] == "exception"
    assert zir.analysis.exception_predecessors(g, "h") == ["body"]
    assert dominators(f).idom["h"] == "body"
    assert dominance_frontiers(f)["h"] == {"loop"}
    (lp,) = natural_loops(f)
    assert lp.body == ("loop", "body", "h") and lp.back_edges == (("body", "loop"), ("h", "loop"))


def test_handler_that_is_also_a_normal_successor_keeps_the_normal_kind() -> None:
    f = function_from_adjacency({"entry": ["t"], "t": ["h"], "h": []}, {"t": "h"})
    assert list(cfg(f).edges(data="kind")) == [("entry", "t", "jump"), ("t", "h", "jump")]


def test_analyses_accept_a_cfg_graph() -> None:
    f = function_from_adjacency({"entry": ["a", "b"], "a": ["j"], "b": ["j"], "j": ["entry"]})
    g = cfg(f)
    assert dominators(g).idom == dominators(f).idom
    assert dominance_frontiers(g)["a"] == {"j"}
    assert dominance_frontiers(g)["j"] == {"entry"}
    assert [lp.header for lp in natural_loops(g)] == ["entry"]


def test_cfg_refuses_unknown_targets() -> None:
    f = Function("f", [], [Block("entry", [], [Instr("br", None, [], {}, ["nowhere"])])])
    try:
        cfg(f)
    except zir.VerifyError as e:
        assert "^entry" in str(e) and "^nowhere" in str(e)
    else:
        raise AssertionError("expected a VerifyError")


def test_function_from_adjacency_makes_valid_ir() -> None:
    f = function_from_adjacency({"entry": ["loop"], "loop": ["body", "exit"], "body": ["loop"],
                                 "h": ["loop"], "exit": []}, {"body": "h"})
    f.blocks[-1].instrs[-1].args[0] = Const(None)
    zir.verify(f)
