"""The instruction profiler in both modes: exact counts (also when exceptions leave blocks midway),
the derivation of uncounted blocks, timing percentiles, branches, memory operations, hot loops, and
the text, JSON and HTML reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import vm
import vm.codegen.emit as emit
from vm.codegen.counters import CounterPlan
from vm.profiler import percentiles
from vm.register_vm import RegProgram
from zir.errors import VMError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import test_constructs  # noqa: E402

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


def count_everything(layout: Any, full: bool) -> CounterPlan:
    return CounterPlan(frozenset(layout.reachable), {}, {}, {}, {})


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
    cases = test_constructs.CASES[::3]
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
    for probe in ("_P[", "_T[", "_ns(", "_EXIT", "_BT["):
        assert probe not in sources["none"]
    assert "_P[" in sources["basic"] and "_ns(" not in sources["basic"]
    assert "_ns(" in sources["detailed"]
