"""The fast forms of the analyses and pass facts against straightforward references.

`zir.analysis` computes on the CFG in dict form (`FlowGraph`), with its own Cooper-Harvey-Kennedy
dominators, liveness over per-block sets of names, and interference restricted to some Vars;
`passes.facts` settles int/bool kinds in a forward sweep before iterating, and
`passes.kinds_on_demand` settles only the backward slice of each Var asked about. Each must give exactly
what the textbook formulation gives: networkx's graph, orders and dominance algorithms, the
interference graph's induced subgraph, and the plain worklist formulations of kinds, definite
assignment and maybe-undef written out below. The peephole's rewrite dispatch, its reuse of
kind facts between rounds and its dead store elimination in SSA form by counting reads instead of
solving liveness must not change what the pass does.
"""

from __future__ import annotations

import copy
import io
import random
from collections import deque
from typing import Any

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ir_programs import programs
from strategies import functions
from test_analysis import cfg_specs, function_from_adjacency
from test_liveness import random_functions

import passes
import passes.peephole as peephole
import passes.peephole.stores as stores
import zir
from passes.facts import (
    ALWAYS_BOOL,
    Bound,
    Kinds,
    exact_kind,
    may_be_unbound_ssa,
    member_of,
    removable,
    result_kind,
)
from passes.kinds_on_demand import KindsOnDemand
from zir import Const, Function, Instr, Value, Var
from zir.analysis import FlowGraph, Liveness, cfg, dominators, flow_graph, interference_graph
from zir.analysis.dominance import immediate_dominators
from zir.analysis.interference import interference_among
from zir.ir import UNBOUND

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------------------
# The CFG in dict form, orders and dominators


@FAST
@given(cfg_specs())
def test_flow_graph_is_the_networkx_cfg(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    f = function_from_adjacency(*spec)
    g = cfg(f)
    flow = flow_graph(f)
    assert flow.labels == list(g)
    assert [(u, v, k) for u in flow.labels for v, k in flow.succ[u].items()] == list(g.edges(data="kind"))
    for label in g:
        assert list(flow.pred[label].items()) == [(p, g.edges[p, label]["kind"]) for p in g.pred[label]]
    assert flow.postorder() == list(nx.dfs_postorder_nodes(g, "b0"))
    assert set(flow.reachable()) == {"b0"} | nx.descendants(g, "b0")
    back = FlowGraph.from_networkx(g)
    assert back.succ == flow.succ and back.pred == flow.pred and back.labels == flow.labels
    assert list(flow.to_networkx().edges(data="kind")) == list(g.edges(data="kind"))


@FAST
@given(cfg_specs())
def test_dominators_and_frontiers_match_networkx(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    f = function_from_adjacency(*spec)
    g = cfg(f)
    raw = nx.immediate_dominators(g, "b0")
    raw.pop("b0", None)
    assert immediate_dominators(flow_graph(f)) == raw
    ref = nx.dominance_frontiers(g, "b0")
    assert dominators(f).frontiers == {b: set(ref.get(b, ())) for b in dominators(f).idom}


@FAST
@given(cfg_specs())
def test_peephole_reachability_without_the_cfg(spec: tuple[dict[str, list[str]], dict[str, str]]) -> None:
    f = function_from_adjacency(*spec)
    rw = peephole.Rewriter(f, passes.AnalysisManager())
    assert rw.reachable() == flow_graph(f).reachable()  # by walking the blocks
    assert rw.flow.reachable() == rw.reachable()  # from the round's CFG


def test_frontier_of_an_entry_with_a_back_edge() -> None:
    f = function_from_adjacency({"b0": ["b1"], "b1": ["b0", "b2"], "b2": []})
    assert dominators(f).frontiers == {"b0": {"b0"}, "b1": {"b0"}, "b2": set()}


# --------------------------------------------------------------------------------------------------
# Liveness by name and interference restricted to some Vars


def check_liveness_by_name(f: Function) -> None:
    live = Liveness(f)
    names = {v.name for v in live.vars}
    for b in f.blocks:
        label = b.label
        assert {v.name for v in live.live_in[label]} == set(live.in_names(label))
        assert {v.name for v in live.live_out[label]} == set(live.out_names(label))
        assert {v.name for v in live.exception_live(label)} == set(live.exception_names(label))
        after = live.bits_after(label)
        dead = [k for k, i in enumerate(b.instrs)
                if i.dest is not None and not after[k] >> live.index[i.dest] & 1]
        assert live.dead_defs(label) == dead
        for k, bits in enumerate(after):
            assert {v.name for v in live.vars if bits >> live.index[v] & 1} == set(live.names_after(label)[k])
        assert set(live.top_names(label)) <= names


@FAST
@given(random_functions())
def test_liveness_by_name_agrees_with_the_var_and_bit_queries(f: Function) -> None:
    check_liveness_by_name(f)


@FAST
@given(random_functions(), st.data())
def test_interference_among_is_the_induced_subgraph(f: Function, data: st.DataObject) -> None:
    ig = interference_graph(f)
    all_names = sorted(v.name for v in ig)
    chosen = set(data.draw(st.lists(st.sampled_from(all_names), unique=True))) if all_names else set()
    adj = interference_among(f, Liveness(f), chosen)
    for n in chosen:
        assert adj[n] == {v.name for v in ig.adj[Var(n)] if v.name in chosen}, n


# --------------------------------------------------------------------------------------------------
# Pass facts against the straightforward worklists


def ref_kinds(f: Function) -> dict[str, str]:
    """Every Var at the top, then a worklist over every Var until nothing changes (Kildall)."""
    defs: dict[str, list[Any]] = {}
    for b in f.blocks:
        for p in b.phis:
            defs.setdefault(p.dest.name, []).append(("phi", list(p.incoming.values())))
        for i in b.instrs:
            if i.dest is not None:
                defs.setdefault(i.dest.name, []).append(i)
    params = {p.name for p in f.params}
    kind: dict[str, str | None] = {n: "?" for n in defs if n not in params}

    def value(v: Value) -> str | None:
        return exact_kind(v.value) if isinstance(v, Const) else kind.get(v.name)

    def meet(ds: list[Any]) -> str | None:
        out: str | None = "?"
        for d in ds:
            k: str | None
            if isinstance(d, tuple):
                k = "?"
                for x in map(value, d[1]):
                    if x == "?":
                        continue
                    k = x if k in ("?", x) else None
                    if k is None:
                        break
            else:
                ks = [value(a) for a in d.args]
                k = "?" if "?" in ks and d.op not in ALWAYS_BOOL and d.op != "const" else result_kind(d, ks)
            if k is None:
                return None
            if k != "?":
                if out not in ("?", k):
                    return None
                out = k
        return out

    changed = True
    while changed:
        changed = False
        for name in sorted(kind):
            new = meet(defs[name])
            if new != kind[name]:
                kind[name] = new
                changed = True
    return {n: k for n, k in kind.items() if k is not None and k != "?"}


def check_kinds(f: Function, order: random.Random | None = None) -> None:
    """`Kinds` and `KindsOnDemand` (asked in layout order, and in a random order when `order` is
    given) against the reference."""
    ref = ref_kinds(f)
    kinds = Kinds(f)
    names = {i.dest.name for _, i in f.instructions() if i.dest is not None}
    names |= {p.dest.name for b in f.blocks for p in b.phis} | {p.name for p in f.params}
    for n in names:
        assert kinds.kind(Var(n)) == ref.get(n), n
    in_layout = sorted(names)
    orders = [in_layout]
    if order is not None:
        orders.append(order.sample(in_layout, len(in_layout)))
    for asked in orders:
        on_demand = KindsOnDemand(f)
        for n in asked:
            assert on_demand.kind(Var(n)) == ref.get(n), n


def test_kinds_on_demand_are_those_at_construction() -> None:
    f = zir.parse("""
func @f(%p) ssa {
^entry:
  %x = const 1
  %y = add %x, %x
  %z = truth %p
  ret %y
}
""").functions["f"]
    on_demand = KindsOnDemand(f)
    f.blocks[0].instrs[1].args[0] = Var("p")  # an edit after construction (in place) is not seen
    assert on_demand.is_int(Var("y")) and on_demand.is_bool(Var("z")) and on_demand.kind(Var("p")) is None


@FAST
@given(random_functions(), st.randoms())
def test_kinds_on_random_functions(f: Function, order: random.Random) -> None:
    check_kinds(f, order)


@FAST
@given(programs(), st.randoms())
def test_kinds_on_random_programs_and_their_ssa_form(f: Function, order: random.Random) -> None:
    check_kinds(f, order)
    passes.PassManager.parse("ssa").run(f)
    check_kinds(f, order)


def test_kinds_of_a_loop_with_no_value_to_start_from_stay_unknown() -> None:
    # %x reads itself only: it never leaves the optimistic top, and neither does what reads it
    f = zir.parse("""
func @f(%p) {
^entry:
  %x = add %x, 1
  %y = call %p, %x
  %z = copy 3
  %z = copy %y
  %w = add %p, %x
  ret %z
}
""").functions["f"]
    check_kinds(f)
    assert Kinds(f).kind(Var("z")) == "int"  # the call's "?" is skipped in z's meet, as in the reference


def ref_maybe_unbound(f: Function) -> set[str]:
    defined = {p.name for p in f.params}
    flows: dict[str, list[Value]] = {}
    for b in f.blocks:
        for p in b.phis:
            defined.add(p.dest.name)
            flows[p.dest.name] = list(p.incoming.values())
        for i in b.instrs:
            if i.dest is not None:
                defined.add(i.dest.name)
                if i.op in ("const", "copy"):
                    flows[i.dest.name] = [i.args[0]]
    maybe = {v.name for _, i in f.instructions() for v in i.uses() if v.name not in defined}
    maybe |= {v.name for b in f.blocks for p in b.phis for v in p.incoming.values()
              if isinstance(v, Var) and v.name not in defined}
    changed = True
    while changed:
        changed = False
        for name, vs in sorted(flows.items()):
            if name not in maybe and any((isinstance(v, Const) and v.value is UNBOUND)
                                         or (isinstance(v, Var) and v.name in maybe) for v in vs):
                maybe.add(name)
                changed = True
    return maybe


@FAST
@given(functions(ssa=True))
def test_maybe_unbound_on_random_ssa_functions(f: Function) -> None:
    assert may_be_unbound_ssa(f) == ref_maybe_unbound(f)


@FAST
@given(programs())
def test_maybe_unbound_on_ssa_programs(f: Function) -> None:
    passes.PassManager.parse("ssa").run(f)
    assert may_be_unbound_ssa(f) == ref_maybe_unbound(f)


def ref_bound(f: Function) -> dict[str, list[set[str]]]:
    """Definite assignment by the textbook must-dataflow over the networkx CFG: block label -> the
    set of surely bound names before each instruction (unreachable blocks: nothing bound)."""
    g = cfg(f)
    blocks = f.block_map()

    def step(i: Instr, cur: set[str]) -> set[str]:
        if i.dest is None:
            return cur
        a = i.args[0] if i.op in ("const", "copy") else None
        unbinds = (isinstance(a, Const) and a.value is UNBOUND) or (isinstance(a, Var) and a.name not in cur)
        return (cur - {i.dest.name}) if unbinds else (cur | {i.dest.name})

    state: dict[str, set[str] | None] = {b.label: None for b in f.blocks}
    entry = f.blocks[0].label
    state[entry] = {p.name for p in f.params}
    work = deque([entry])
    while work:
        label = work.popleft()
        s = state[label]
        assert s is not None
        cur = s | {p.dest.name for p in blocks[label].phis}
        exc: set[str] | None = None
        for i in blocks[label].instrs:
            if i.opdef.may_raise:
                exc = set(cur) if exc is None else exc & cur
            cur = step(i, cur)
        for succ in g.successors(label):
            flow = exc if g.edges[label, succ]["kind"] == "exception" else cur
            if flow is None:
                continue
            old = state[succ]
            new = set(flow) if old is None else old & flow
            if new != old:
                state[succ] = new
                work.append(succ)
    out: dict[str, list[set[str]]] = {}
    for b in f.blocks:
        s0 = state[b.label]
        cur = (set() if s0 is None else s0) | {p.dest.name for p in b.phis}
        out[b.label] = []
        for i in b.instrs:
            out[b.label].append(cur)
            cur = step(i, cur)
    return out


def check_bound(f: Function) -> None:
    ref = ref_bound(f)
    names = {v.name for v in Liveness(f).vars}
    bound = Bound(f, flow_graph(f))
    for b in f.blocks:
        states = bound.before(b)
        assert len(states) == len(ref[b.label])
        for k, want in enumerate(ref[b.label]):
            assert {n for n in names if n in states[k]} == want & names, (b.label, k)


@FAST
@given(programs())
def test_bound_on_random_programs(f: Function) -> None:
    check_bound(f)


@FAST
@given(random_functions())
def test_bound_on_random_functions(f: Function) -> None:
    check_bound(f)


# --------------------------------------------------------------------------------------------------
# The peephole's shortcuts change nothing it does


def run_logged(f: Function, pipeline: str) -> tuple[str, str, list[tuple[str, bool, int, int, Any]]]:
    log = io.StringIO()
    report = passes.PassManager.parse(pipeline, bisect_limit=10**9, stream=log).run(f)
    return zir.format(f), log.getvalue(), [(r.pass_name, r.changed, r.instrs_before, r.instrs_after,
                                            sorted(r.stats.items())) for r in report]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_peephole_dispatch_and_kind_reuse_change_nothing(f: Function) -> None:
    pipeline = "peephole,ssa,copyprop,peephole,dce,ssa-destroy,peephole,dce"
    fast = run_logged(copy.deepcopy(f), pipeline)
    saved = (dict(peephole.APPLIES), dict(peephole.TERMINATOR_APPLIES), peephole.Rewriter.did)
    original_did = peephole.Rewriter.did

    def did_forgetting_kinds(self: Any, statistic: str, cfg: bool = False, kinds_kept: bool = False) -> bool:
        return original_did(self, statistic, cfg, False)

    try:
        peephole.APPLIES.clear()
        peephole.TERMINATOR_APPLIES.clear()
        peephole.Rewriter.did = did_forgetting_kinds  # type: ignore[method-assign]
        slow = run_logged(copy.deepcopy(f), pipeline)
    finally:
        peephole.APPLIES.update(saved[0])
        peephole.TERMINATOR_APPLIES.update(saved[1])
        peephole.Rewriter.did = saved[2]  # type: ignore[method-assign]
    assert fast == slow


@FAST
@given(programs(), st.sampled_from(["ssa", "ssa,copyprop", "ssa,copyprop,peephole{dse=false}"]))
def test_ssa_dead_stores_by_counting_reads_are_the_dead_defs_of_liveness(f: Function, pipeline: str) -> None:
    passes.PassManager.parse(pipeline, verify_each=True).run(f)
    reachable = flow_graph(f).reachable()
    reads = stores.ssa_reads(f, reachable)
    live = Liveness(f)
    for b in f.blocks:
        if b.label in reachable:
            unread = [k for k, i in enumerate(b.instrs) if i.dest is not None and not reads[i.dest.name]]
            assert unread == live.dead_defs(b.label), b.label


def test_a_phi_operand_from_an_unreachable_predecessor_still_counts_as_a_read() -> None:
    # liveness calls %x dead (only the dead edge reads it); the count keeps it, so the phi's
    # operand stays defined until ^dead is removed
    f = zir.parse("""
func @f(%p) ssa {
^entry:
  %x = add %p, 1
  br ^join
^dead:
  br ^join
^join:
  %y = phi [^entry: 1], [^dead: %x]
  ret %y
}
""").functions["f"]
    reachable = flow_graph(f).reachable()
    assert Liveness(f).dead_defs("entry") == [0] and stores.ssa_reads(f, reachable)["x"] == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_ssa_dead_stores_in_one_round_are_what_rounds_of_dead_defs_delete(f: Function) -> None:
    # the SSA dead store elimination follows read counts down chains of dead definitions in one
    # round; deleting liveness's dead defs one round at a time must end in the same function
    passes.PassManager.parse("ssa").run(f)
    fast = copy.deepcopy(f)
    passes.PassManager.parse("peephole", verify_each=True).run(fast)
    original = stores._eliminate_ssa

    def by_liveness(rw: Any) -> bool:
        live = Liveness(rw.f)
        reachable = rw.flow.reachable()
        changed = False
        for b in rw.f.blocks:
            dead = set(live.dead_defs(b.label)) if b.label in reachable else set()
            keep = [i for k, i in enumerate(b.instrs) if k not in dead or not removable(
                i, rw.kinds, member_of({v.name for v in i.uses() if v.name not in may_be_unbound_ssa(rw.f)}))]
            if len(keep) != len(b.instrs):
                b.instrs = keep
                changed = rw.did("dead stores removed")
        return changed

    try:
        stores._eliminate_ssa = by_liveness  # type: ignore[assignment]
        passes.PassManager.parse("peephole").run(f)
    finally:
        stores._eliminate_ssa = original  # type: ignore[assignment]
    # (the blocks may be shaped differently: a block emptied in an earlier round is threaded or
    # merged by different rewrites; the instructions and phis that remain must be the same)
    assert remains(fast) == remains(f)


def remains(f: Function) -> list[str]:
    """What is left in `f` but its branches, phi operands and block structure."""
    instrs = [zir.format(i) for b in f.blocks for i in b.instrs if not i.opdef.terminator or i.op == "ret"]
    return sorted(instrs + [p.dest.name for b in f.blocks for p in b.phis])


def test_analysis_manager_shares_one_cfg_and_one_dominator_tree() -> None:
    f = function_from_adjacency({"b0": ["b1", "b2"], "b1": ["b3"], "b2": ["b3"], "b3": []})
    am = passes.AnalysisManager()
    doms = am.get("dominators", f)
    assert am.get("frontiers", f) is doms.frontiers and am.get("domtree", f) is doms.graph
    assert am.get("cfg", f) is am.flow(f).to_networkx()
    assert am.hits == 0 and am.misses == 4  # the shared parts are not counted
    am.invalidate(f, passes.PreservedAnalyses.cfg())
    assert am.flow(f) is doms.flow  # kept with the CFG
    am.invalidate(f, passes.PreservedAnalyses.none())
    assert am.flow(f) is not doms.flow


def test_analyses_accept_every_form_of_the_cfg() -> None:
    f = function_from_adjacency({"b0": ["b1", "b2"], "b1": ["b3"], "b2": ["b3"], "b3": ["b1"]})
    rpo = list(reversed(list(nx.dfs_postorder_nodes(cfg(f), "b0"))))
    for form in (f, cfg(f), flow_graph(f)):
        assert dominators(form).idom == {"b0": None, "b1": "b0", "b2": "b0", "b3": "b0"}
        assert zir.analysis.natural_loops(form) == []  # b1 <-> b3 is entered at both: irreducible
        assert zir.analysis.reverse_postorder(form) == rpo


def ref_dce(f: Function) -> str:
    """`dce` as marking from every instruction not proven removable, all decided first."""
    items: list[Any] = []
    useful: list[bool] = []
    defs: dict[str, list[int]] = {}
    kinds = Kinds(f)
    unbound = may_be_unbound_ssa(f) if f.ssa else set()
    bound = None if f.ssa else Bound(f, flow_graph(f))
    for b in f.blocks:
        for p in b.phis:
            defs.setdefault(p.dest.name, []).append(len(items))
            items.append(p)
            useful.append(False)
        states = None if bound is None else bound.before(b)
        for k, i in enumerate(b.instrs):
            if i.dest is not None:
                defs.setdefault(i.dest.name, []).append(len(items))
            items.append(i)
            surely = {v.name for v in i.uses() if v.name not in unbound} if states is None else states[k]
            ok = member_of(surely)
            useful.append(not removable(i, kinds, ok))
    work = [n for n, u in enumerate(useful) if u]
    while work:
        x = items[work.pop()]
        for v in (x.incoming.values() if hasattr(x, "incoming") else x.args):
            for d in defs.get(v.name, []) if isinstance(v, Var) else []:
                if not useful[d]:
                    useful[d] = True
                    work.append(d)
    kept = {id(x) for x, u in zip(items, useful, strict=True) if u}
    g = copy.deepcopy(f)
    for b, c in zip(f.blocks, g.blocks, strict=True):
        c.phis = [q for p, q in zip(b.phis, c.phis, strict=True) if id(p) in kept]
        c.instrs = [j for i, j in zip(b.instrs, c.instrs, strict=True) if id(i) in kept]
    return zir.format(g)


@FAST
@given(programs(), st.sampled_from(["", "ssa", "ssa,copyprop", "ssa,copyprop,ssa-destroy"]))
def test_dce_asks_about_raising_only_where_marking_did_not_reach(f: Function, pipeline: str) -> None:
    if pipeline:
        passes.PassManager.parse(pipeline).run(f)
    expected = ref_dce(f)
    passes.PassManager.parse("dce", verify_each=True).run(f)
    assert zir.format(f) == expected
