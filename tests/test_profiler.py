"""The instruction profiler in both modes: exact counts (also when exceptions leave blocks midway),
the derivation of uncounted blocks, timing percentiles, branches, memory operations, hot loops, and
the text, JSON and HTML reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest

import vm
import vm.codegen.emit as emit
from vm.codegen.counters import EXIT, VIRTUAL, count_everything
from vm.profiler import percentiles
from vm.register_vm import RegProgram
from zir.errors import VMError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import test_constructs  # noqa: E402
from test_register_vm import irreducible  # noqa: E402

from tools.kernels import KERNELS  # noqa: E402


def loop(n: int) -> int:
    total = 0
    for i in range(n):
        if i % 2:
            total += i
    return total


def fails_midway(items: list[Any]) -> int:
    total = 0
    for x in items:
        try:
            total += 10 // x  # raises for 0: the rest of this block does not run
            total += 1
        except ZeroDivisionError:
            total -= 1
    return total


def sites(machine: vm.VM, name: str) -> list[dict[str, Any]]:
    data = json.loads(machine.profile_report("json"))
    (fn,) = [f for f in data["functions"] if f["name"] == name]
    return fn["sites"]


def count_of(sites: list[dict[str, Any]], op: str) -> list[int]:
    return [s["count"] for s in sites if s["op"] == op]


@pytest.mark.parametrize("level", ["basic", "detailed", "full"])
def test_register_counts_are_exact(level: str) -> None:
    machine = vm.VM(opt_level=2, profile=level)
    assert machine.run(loop, 10) == 25
    s = sites(machine, "loop")
    assert count_of(s, "iter_next") == [11]  # ten items, then exhausted
    assert count_of(s, "cbr_more") == [11]
    assert count_of(s, "mod") == [10]
    assert count_of(s, "iadd") == [5]
    assert count_of(s, "ret") == [1]


@pytest.mark.parametrize("level", ["basic", "full"])
def test_exceptions_leaving_a_block_midway_are_exact(level: str) -> None:
    machine = vm.VM(opt_level=2, profile=level)
    assert machine.run(fails_midway, [1, 0, 2, 0, 5]) == fails_midway([1, 0, 2, 0, 5])
    s = sites(machine, "fails_midway")
    assert count_of(s, "floordiv") == [5]
    assert sorted(count_of(s, "iadd")) == [3, 3]  # `+= 10 // x` and `+= 1`: not after the two raises
    assert count_of(s, "isub") == [2]


def test_stack_counts_match_the_stack_vms_own_count() -> None:
    machine = vm.VM(mode="stack", profile="basic")
    machine.run(fails_midway, [1, 0, 2])
    data = json.loads(machine.profile_report("json"))
    assert data["total_instructions"] == machine.stats()["instructions"] > 0
    assert data["functions"][0]["unit"] == "instruction"


def all_sites(machine: vm.VM) -> dict[str, list[int]]:
    data = json.loads(machine.profile_report("json"))
    return {f["name"]: [s["count"] for s in f["sites"]] for f in data["functions"]}


def _run_quietly(machine: vm.VM, fn: Any, args: Any, kwargs: Any) -> None:
    import contextlib
    import copy
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            machine.run(fn, *copy.deepcopy(args), **copy.deepcopy(kwargs))
        except Exception:  # noqa: BLE001,S110 -- the program's own exceptions are part of what is counted
            pass


@pytest.mark.parametrize("level", ["basic", "full"])
def test_derived_block_counts_equal_counting_every_block(level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most blocks have no counter (vm.codegen.counters); the counts derived for them must equal
    what a counter in every block says, over the construct suite (exceptions included)."""
    cases = test_constructs.CASES
    derived = vm.VM(opt_level=2, profile=level)
    for fn, sets, _ in cases:
        for argset in sets:
            _run_quietly(derived, fn, argset.args, argset.kwargs)
    monkeypatch.setattr(emit, "plan_counters", count_everything)
    reference = vm.VM(opt_level=2, profile=level)
    for fn, sets, _ in cases:
        for argset in sets:
            _run_quietly(reference, fn, argset.args, argset.kwargs)
    assert all_sites(derived) == all_sites(reference)
    if level == "full":
        got = json.loads(derived.profile_report("json"))
        want = json.loads(reference.profile_report("json"))
        branches = {f["name"]: f["branches"] for f in got["functions"]}
        assert branches == {f["name"]: f["branches"] for f in want["functions"]}


def test_uninstrumented_code_has_no_counters() -> None:
    plain = vm.VM(opt_level=2)
    program = plain.compile(loop).program
    assert isinstance(program, RegProgram)
    assert "_P[" not in program.generated.source and "_T[" not in program.generated.source
    counted = vm.VM(opt_level=2, profile="basic").compile(loop).program
    assert isinstance(counted, RegProgram) and "_P[" in counted.generated.source


def test_detailed_timing_percentiles() -> None:
    assert percentiles([5, 1, 3, 2, 4]) == {"samples": 5, "total": 15, "min": 1, "max": 5, "mean": 3.0,
                                            "p50": 3, "p95": 5, "p99": 5}
    assert percentiles([])["samples"] == 0
    for mode in ("register", "stack"):
        machine = vm.VM(mode=mode, profile="detailed")
        machine.run(loop, 50)
        data = json.loads(machine.profile_report("json"))
        timed = [b["time_ns"] for f in data["functions"] for b in f["blocks"] if b["time_ns"]["samples"]]
        assert timed and all(t["min"] <= t["p50"] <= t["p95"] <= t["p99"] <= t["max"] for t in timed)


@pytest.mark.parametrize("mode", ["register", "stack"])
def test_full_profile_branches_memory_and_hot_loops(mode: str) -> None:
    def work(n: int) -> int:
        box = {"v": 0}
        for i in range(n):
            if i % 3 == 0:
                box["v"] += i
        return box["v"]

    machine = vm.VM(mode=mode, opt_level=2 if mode == "register" else 0, profile="full")
    assert machine.run(work, 3000) == work(3000)
    data = json.loads(machine.profile_report("json"))
    (fn,) = data["functions"]
    splits = sorted((b["taken"], b["not_taken"]) for b in fn["branches"])
    assert any(sorted(pair) == [1000, 2000] for pair in splits)  # i % 3 == 0 one time in three
    assert data["memory"]["totals"]["subscript load"] >= 1001
    assert data["memory"]["totals"]["subscript store"] >= 1000
    (hot,) = data["hot_loops"]
    assert hot["function"].endswith("work") and hot["back_edges"] >= 2999
    quiet = vm.VM(mode=mode, profile="full")
    quiet.run(work, 10)
    assert json.loads(quiet.profile_report("json"))["hot_loops"] == []  # below the 1000 threshold


@pytest.mark.parametrize("mode", ["register", "stack"])
def test_reports(mode: str) -> None:
    machine = vm.VM(mode=mode, profile="full")
    machine.run(KERNELS["nqueens"].run, 5)
    text = machine.profile_report("text")
    for heading in ("functions", "opcodes", "hottest instructions", "time per", "memory operations",
                    "branches", "hot loops"):
        assert heading in text
    data = json.loads(machine.profile_report("json"))
    assert {"mode", "level", "total_instructions", "opcodes", "functions", "memory", "hot_loops",
            "hot_loop_threshold"} <= set(data)
    assert {"name", "file", "line", "unit", "instructions", "opcodes", "blocks", "sites", "branches",
            "loops"} <= set(data["functions"][0])
    page = machine.profile_report("html")
    assert page.startswith("<!DOCTYPE html>") and "<script>" in page and "sortable" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert "place" in page
    with pytest.raises(VMError, match="unknown profile report format"):
        machine.profile_report("pdf")


def test_profile_none_has_no_report_and_heat_map_colours_blocks() -> None:
    with pytest.raises(VMError, match="does not profile"):
        vm.VM().profile_report()
    for mode in ("register", "stack"):
        machine = vm.VM(mode=mode, profile="basic")
        machine.run(loop, 20)
        dot = machine.profile_cfg(loop).source
        assert "fillcolor" in dot


def test_kernels_profile_identically_across_pools() -> None:
    """Pooled frames and fresh frames count the same instructions."""
    totals = []
    for pools in (True, False):
        machine = vm.VM(opt_level=2, profile="basic", pools=pools)
        machine.run(KERNELS["richards"].run, 50)
        totals.append(json.loads(machine.profile_report("json"))["total_instructions"])
    assert totals[0] == totals[1] > 0


@pytest.mark.parametrize("name", ["nqueens", "richards"])
def test_profile_none_generates_the_code_of_no_profiler(name: str) -> None:
    """NONE is indistinguishable from no profiler: the very same generated source, with no counter,
    clock or exit hook in it; each profiled level adds its own."""
    run = KERNELS[name].run
    sources: dict[str, str] = {}
    for level in ("absent", "none", "basic", "detailed"):
        machine = vm.VM(opt_level=2) if level == "absent" else vm.VM(opt_level=2, profile=level)
        machine.run(run, KERNELS[name].SIZES["test"])
        programs = machine._runtime.backend.programs  # type: ignore[attr-defined]
        sources[level] = "\n".join(sorted(p.generated.source for p in programs))
    assert sources["none"] == sources["absent"]
    for probe in ("_P[", "_T[", "_ns(", "_EXIT"):
        assert probe not in sources["none"]
    assert "_P[" in sources["basic"] and "_ns(" not in sources["basic"]
    assert "_ns(" in sources["detailed"]


# -- derived counts against an independently counted run ----------------------------------------------
# The programs below cover what flow conservation must get right: nested loops, break/continue,
# while-else, early returns, exceptions leaving loops (caught outside, or leaving the function),
# generators left suspended, thrown into, closed, collected and exhausted (one suspending in its entry
# block, one with a `finally`), and coroutines suspended by the event loop.


def nested_break_continue(n: int) -> int:
    total = 0
    for i in range(n):
        j = 0
        while j < i:
            if (i + j) % 3 == 0:
                j += 2
                continue
            if j > 5:
                break
            total += j
            j += 1
        else:
            total -= 1
    return total


def early_return(xs: list[int]) -> int:
    for x in xs:
        if x < 0:
            return x
        if x == 0:
            break
    else:
        return 100
    return 0


def escapes_loop(xs: list[int]) -> int:
    total = 0
    for x in xs:
        total += 10 // x  # no handler: a zero leaves the function from inside the loop
    return total


def caught_outside_loops(xs: list[int]) -> int:
    total = 0
    try:
        for x in xs:
            for y in xs:
                total += x // y
    except ZeroDivisionError:
        total = -total
    finally:
        total += 1
    return total


def numbers(n: int) -> Any:
    for i in range(n):
        if i % 2:
            yield i
        else:
            try:
                yield -i
            except ValueError:
                yield 0
    return n


def suspends_first() -> Any:
    yield 1
    yield 2


def drive_generators(n: int) -> list[Any]:
    out: list[Any] = []
    left = numbers(n)
    out.append(next(left))
    out.append(next(left))  # left suspended, never resumed
    thrown = numbers(n)
    next(thrown)
    out.append(thrown.throw(ValueError))
    closed = numbers(n)
    next(closed)
    closed.close()
    out.extend(numbers(n))
    first = suspends_first()
    out.append(next(first))  # suspended in its entry block
    out.extend(suspends_first())
    return out


CLEANUPS: list[int] = []


def with_finally(n: int) -> Any:
    try:
        for i in range(n):
            yield i * 2
    finally:
        CLEANUPS.append(n)  # closing, collecting or throwing into the generator runs this


def close_collect_throw(n: int) -> int:
    closed = with_finally(n)
    next(closed)
    closed.close()
    collected = with_finally(n)
    next(collected)
    del collected  # the last reference: collected (and closed) here
    thrown = with_finally(n)
    next(thrown)
    try:
        thrown.throw(KeyError("thrown in"))
    except KeyError:
        pass
    return sum(with_finally(n))


def failing_items(n: int) -> Any:
    for i in range(n):
        if i == 2:
            raise ValueError("no third item")
        yield i


def iterate_failing(n: int) -> int:
    total = 0
    for x in failing_items(n):  # the loop header's `next()` raises: it leaves the function
        total += x
    return total


def iterate_failing_caught(n: int) -> int:
    total = 0
    try:
        for x in failing_items(n):  # a header with a handler: no Python `for`
            total += x
    except ValueError:
        total = -total - 1
    return total


async def ticker(n: int) -> int:
    import asyncio

    total = 0
    for i in range(n):
        await asyncio.sleep(0)
        total += i
    return total


async def gather_tickers(n: int) -> int:
    import asyncio

    results = await asyncio.gather(ticker(n), ticker(n + 2))
    return sum(results)


DERIVATION_RUNS: list[tuple[Any, tuple[Any, ...]]] = [
    (nested_break_continue, (9,)), (nested_break_continue, (0,)),
    (early_return, ([3, 2, -1, 4],)), (early_return, ([3, 0, 1],)), (early_return, ([1, 2],)),
    (escapes_loop, ([1, 2, 5],)), (escapes_loop, ([1, 0, 2],)),
    (caught_outside_loops, ([1, 2, 3],)), (caught_outside_loops, ([2, 1, 0, 4],)),
    (drive_generators, (5,)), (gather_tickers, (3,)),
    (iterate_failing, (5,)), (iterate_failing, (2,)), (iterate_failing_caught, (5,)),
    (close_collect_throw, (3,)),
]


def fewest_counters(plan: Any) -> int:
    """|E| - |V| + C: the edges off a spanning forest of the graph of normal edges, the virtual
    edge and the abandon edges (exceptional edges are known without counters, so handlers may sit
    in components of their own)."""
    g = nx.MultiGraph()
    g.add_nodes_from([*plan.reachable, EXIT])
    g.add_nodes_from(("out", k) for k in plan.sampled)  # a sampled block: its count is known

    def out(k: int) -> Any:
        return ("out", k) if k in plan.sampled else k

    g.add_edges_from((out(s), t) for s, t in plan.edges)
    g.add_edge(EXIT, 0)
    g.add_edges_from((out(y), EXIT) for y in plan.abandon)
    return g.number_of_edges() - g.number_of_nodes() + nx.number_connected_components(g)


def profiled_programs(machine: vm.VM) -> dict[str, Any]:
    programs = machine._runtime.backend.programs  # type: ignore[attr-defined]
    return {p.name: p.profile for p in programs}


def run_all(level: str, runs: list[tuple[Any, tuple[Any, ...]]]) -> vm.VM:
    machine = vm.VM(opt_level=2, profile=level)
    for fn, args in runs:
        _run_quietly(machine, fn, args, {})
    return machine


@pytest.mark.parametrize("level", ["basic", "detailed"])
def test_every_block_and_edge_count_equals_a_fully_counted_run(level: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks and edges derived from the spanning-tree counters equal a run that counts every
    block at its start and every edge (`count_everything`), on loops, nested loops, break/continue,
    early returns, exceptions leaving loops, generators and coroutines."""
    derived = profiled_programs(run_all(level, DERIVATION_RUNS))
    monkeypatch.setattr(emit, "plan_counters", count_everything)
    reference = profiled_programs(run_all(level, DERIVATION_RUNS))
    assert set(derived) == set(reference) and len(derived) >= 8
    for name in sorted(derived):
        got, want = derived[name], reference[name]
        assert got.block_counts_derived() == want.block_counts_derived(), name
        assert got.edge_counts() == want.edge_counts(), name
        assert got.plan.nslots == fewest_counters(got.plan), name
        assert got.plan.nslots <= want.plan.nslots, name
    assert sum(derived["numbers"].block_counts_derived()) > 0
    assert sum(derived["suspends_first"].block_counts_derived()) > 0


@pytest.mark.parametrize(("name", "level"), [
    ("nqueens", "basic"), ("fannkuch", "basic"), ("richards", "basic"), ("tokenizer", "basic"),
    ("fannkuch", "detailed"), ("tokenizer", "detailed")])
def test_kernels_derive_every_block_count(name: str, level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = KERNELS[name]
    runs = [(kernel.run, (kernel.SIZES["test"],))]
    derived = profiled_programs(run_all(level, runs))
    monkeypatch.setattr(emit, "plan_counters", count_everything)
    reference = profiled_programs(run_all(level, runs))
    for fn in sorted(reference):
        assert derived[fn].block_counts_derived() == reference[fn].block_counts_derived(), fn
        assert derived[fn].edge_counts() == reference[fn].edge_counts(), fn


def run_plan(rc: Any, plan_counters: Any, structured: bool, calls: list[tuple[Any, ...]],
             level: str = "basic") -> Any:
    """Generate `rc` (a leaf without handlers) at profile `level` with counters placed by
    `plan_counters`, run it on each argument tuple, and return its plan's derived (block counts,
    edge counts)."""
    import time
    from array import array

    from zir.ir import UNBOUND

    old = emit.plan_counters
    emit.plan_counters = plan_counters
    try:
        gen = emit.generate(rc, emit.Variant(profile=level), structured=structured)
    finally:
        emit.plan_counters = old
    assert gen.leaf and gen.plan is not None
    counters = [0] * gen.plan.nslots
    times = [array("q") for _ in rc.blocks]
    ns: dict[str, Any] = {"_U": UNBOUND, "_P": counters, "_T": [*(a.append for a in times), [].append],
                          "_ns": time.perf_counter_ns, **gen.values}
    exec(compile(gen.source, "<hand>", "exec"), ns)
    for args in calls:
        ns[gen.name](None, *args)
    return gen.plan.solve(counters, {}, [len(a) for a in times])


@pytest.mark.parametrize("level", ["basic", "detailed"])
@pytest.mark.parametrize("structured", [True, False])
def test_irreducible_flow_derives_every_count(structured: bool, level: str) -> None:
    from vm.codegen.counters import plan_counters

    calls = [(True, 0), (False, 0), (True, 7), (False, -20), (True, -30)]
    got = run_plan(irreducible(), plan_counters, structured, calls, level)
    want = run_plan(irreducible(), count_everything, structured, calls, level)
    assert got == want
    blocks, edges = got
    assert blocks[0] == blocks[3] == 5 and blocks[1] > 5 and blocks[2] > 5
    assert edges[(1, 2)] + edges[(2, 1)] > 0  # the cycle ran


def random_walk(seed: int, nodes: int) -> Any:
    """A random CFG: node i is block 2i (`r0 -= 1`; leave through the exit block when r0 reaches
    0, else go on) and block 2i+1 (a pseudo-random step of r1 picks one of two random nodes, so
    the graph has cycles of every shape, irreducible ones included)."""
    import random

    from zir.regcode import Imm, RBlock, Reg, RegCode, RInstr

    rnd = random.Random(seed)
    exit_ = 2 * nodes
    blocks = []
    for i in range(nodes):
        blocks.append(RBlock(f"a{i}", [RInstr("sub", Reg(0), (Reg(0), Imm(1))),
                                       RInstr("cbr_gt", None, (Reg(0), Imm(0)), targets=(2 * i + 1, exit_))]))
        x, y = rnd.randrange(nodes), rnd.randrange(nodes)
        blocks.append(RBlock(f"b{i}", [RInstr("mul", Reg(1), (Reg(1), Imm(5))),
                                       RInstr("add", Reg(1), (Reg(1), Imm(1))),
                                       RInstr("mod", Reg(1), (Reg(1), Imm(7))),
                                       RInstr("cbr_lt", None, (Reg(1), Imm(3)), targets=(2 * x, 2 * y))]))
    blocks.append(RBlock("exit", [RInstr("ret", None, (Reg(1),))]))
    return RegCode("walk", params=[0, 1], nregs=2, param_names=["steps", "state"], blocks=blocks)


@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_derive_every_count(seed: int) -> None:
    from vm.codegen.counters import plan_counters

    rc = random_walk(seed, 3 + seed)
    calls = [(steps, state) for steps in (1, 5, 40) for state in (0, 3)]
    for level in ("basic", "detailed"):
        for structured in (True, False):
            got = run_plan(rc, plan_counters, structured, calls, level)
            assert got == run_plan(rc, count_everything, structured, calls, level), (level, structured)
            assert got[0][2 * (3 + seed)] == len(calls)  # the exit block ran once per call


def test_loop_entries_exits_and_function_entry_have_no_counter() -> None:
    """Of the edges every activation of `loop` runs once (the function's entry, the loop's entry
    and exit, the return), one carries a counter: the others follow by conservation. Ten iterations
    and one call fire the counters eleven times (the old block counters fired eighteen)."""
    machine = vm.VM(opt_level=2, profile="basic")
    machine.run(loop, 10)
    (prog,) = machine._runtime.backend.programs  # type: ignore[attr-defined]
    plan = prog.profile.plan
    lay = prog.generated.layout
    (header,) = [h for h in lay.regions if h >= 0]
    region = lay.regions[header]
    entering = {(s, t) for s, t in plan.edges if t == header and s not in region.subtree}
    leaving = {(s, t) for s, t in plan.edges if s in region.subtree and t not in region.subtree}
    returning = {(s, t) for s, t in plan.edges if t == EXIT}
    once = entering | leaving | returning | {VIRTUAL}
    assert len(once) == 4 and len(set(plan.edge_slots) & once) == 1
    assert plan.nslots == fewest_counters(plan) == 3
    assert sum(prog.profile.counts) == 11
    assert prog.profile.block_counts_derived()[header] == 11
