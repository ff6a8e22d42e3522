"""The `await-batch` pass on real coroutines: what it batches, what it refuses, and that the batched
program computes what the sequential one does, in both VM modes at O0/O1/O2.

The FileCheck tests (tests/lit/passes/await-batch*.zir) show the rewrite on hand-written IR; here
Python functions go through the front end, `peephole,ssa,copyprop,await-batch,dce,ssa-destroy`,
stackify, and run on the VM against `asyncio.run` of the original on CPython.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import passes
import vm
import zir
from vm.difftest import normalize

PIPELINE = "peephole,ssa,copyprop,await-batch,dce,ssa-destroy,peephole,dce"
CONFIGS = [(mode, level) for mode in ("stack", "register") for level in (0, 1, 2)]


def batched(fn: Any) -> tuple[Any, dict[str, int]]:
    """`fn`'s ZBC after the pipeline with await-batch, and the pass's statistics."""
    f = zir.lift(zir.frontend.from_python(fn))
    report = passes.PassManager.parse(PIPELINE, verify_each=True).run(f)
    stats = {k: v for r in report.records if r.pass_name == "await-batch" for k, v in r.stats.items()}
    return zir.stackify(f), stats


def ops_of(code: Any) -> list[str]:
    return [i.op for i in code.instrs]


# -- programs ------------------------------------------------------------------------------------------

async def square(x: int) -> int:
    return x * x


async def slow_square(log: list[Any], x: int) -> int:
    log.append(("start", x))
    await asyncio.sleep(0)
    log.append(("end", x))
    return x * x


async def independent(f: Any, log: list[Any]) -> Any:
    a = await f(log, 1)
    b = await f(log, 2)
    c = await f(log, 3)
    return a + b + c, log


async def independent_eager(f: Any, x: int) -> Any:
    a = await f(x)
    b = await f(x + 1)  # `x + 1` may raise: it splits the batch
    c = await f(x)
    d = await f(x)
    return [a, b, c, d]


async def logged(f: Any, log: list[Any]) -> Any:
    a = await f(log, 1)
    log.append("between")
    b = await f(log, 2)
    return a, b, log


async def chained(f: Any, log: list[Any]) -> Any:
    a = await f(log, 1)
    b = await f(log, a)
    return a, b, log


async def raising(f: Any, g: Any) -> Any:
    a = await f(2)
    b = await g(3)
    return a, b


async def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


# -- what is batched ---------------------------------------------------------------------------------


def test_independent_awaits_become_spawns_then_awaits() -> None:
    code, stats = batched(independent)
    ops = [op for op in ops_of(code) if op in ("SPAWN", "AWAIT", "YIELD_FROM")]
    assert ops == ["SPAWN", "SPAWN", "SPAWN", "AWAIT", "AWAIT", "AWAIT"]
    assert stats == {"batches": 1, "awaits batched": 3, "awaits left in order": 0}


def test_a_may_raise_instruction_splits_the_batch() -> None:
    code, stats = batched(independent_eager)
    ops = [op for op in ops_of(code) if op in ("SPAWN", "AWAIT", "YIELD_FROM")]
    assert ops == ["YIELD_FROM", "SPAWN", "SPAWN", "SPAWN", "AWAIT", "AWAIT", "AWAIT"]
    assert stats["batches"] == 1 and stats["awaits left in order"] == 1


@pytest.mark.parametrize("fn", [logged, chained])
def test_observable_order_is_refused(fn: Any) -> None:
    code, stats = batched(fn)
    assert "SPAWN" not in ops_of(code) and ops_of(code).count("YIELD_FROM") == 2
    assert stats == {"batches": 0, "awaits batched": 0, "awaits left in order": 1}


def test_bisect_can_stop_it() -> None:
    f = zir.lift(zir.frontend.from_python(independent))
    passes.PassManager.parse("ssa,await-batch", bisect_limit=1).run(f)  # ssa's one transformation
    assert "spawn" not in zir.format(f)


# -- what the batched programs compute ------------------------------------------------------------------


def _vm_result(code: Any, fn: Any, mode: str, level: int, *args: Any) -> Any:
    return vm.VM(mode=mode, opt_level=level).run(code, *args, globals=fn.__globals__)


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_eager_tasks_keep_the_sequential_behaviour_exactly(mode: str, level: int) -> None:
    code, _ = batched(independent_eager)
    assert _vm_result(code, independent_eager, mode, level, square, 3) == asyncio.run(
        independent_eager(square, 3))
    refused, _ = batched(logged)

    async def plain(log: list[Any], x: int) -> int:
        log.append(x)
        return x

    expected = normalize(asyncio.run(logged(plain, [])))
    assert normalize(_vm_result(refused, logged, mode, level, plain, [])) == expected


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_suspending_tasks_overlap_and_results_keep_their_order(mode: str, level: int) -> None:
    code, _ = batched(independent)
    total, log = _vm_result(code, independent, mode, level, slow_square, [])
    seq_total, seq_log = asyncio.run(independent(slow_square, []))
    assert total == seq_total == 14
    assert seq_log == [("start", 1), ("end", 1), ("start", 2), ("end", 2), ("start", 3), ("end", 3)]
    # batched: all three started before any finished (asyncio.gather's order)
    assert log == [("start", 1), ("start", 2), ("start", 3), ("end", 1), ("end", 2), ("end", 3)]


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_exceptions_surface_at_the_await_in_order(mode: str, level: int) -> None:
    code, stats = batched(raising)
    assert stats["batches"] == 1
    with pytest.raises(ValueError, match="boom 2"):
        _vm_result(code, raising, mode, level, boom, boom)
    with pytest.raises(ValueError, match="boom 3"):
        _vm_result(code, raising, mode, level, square, boom)
    assert _vm_result(code, raising, mode, level, square, square) == (4, 9)
