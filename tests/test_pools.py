"""Frame pools of the register VM: reuse, statistics, caps, frames after exceptions, and that an
idle pooled frame keeps nothing alive."""

from __future__ import annotations

import gc
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

import vm
from vm.pools import DEFAULT_CAP

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import difftest  # noqa: E402
from tools.kernels import KERNELS  # noqa: E402


def fib(n: int) -> int:
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def depth(n: int) -> int:
    return 0 if n == 0 else depth(n - 1) + 1


def keep(x: Any) -> Any:
    y = [x]
    return len(y)


def calls_keep(x: Any) -> Any:
    return keep(x) + keep(x)


def boom(n: int) -> int:
    if n == 0:
        raise ValueError("boom")
    return boom(n - 1)


def pool_of(machine: vm.VM, name: str) -> dict[str, Any]:
    per: dict[str, Any] = machine.stats()["pools"]["per_code"]
    return per[name]


@pytest.mark.parametrize("name", list(KERNELS))
def test_pools_on_and_off_compute_the_same(name: str) -> None:
    kernel = KERNELS[name]
    for pools in (True, False):
        difftest.compare(kernel.run, kernel.SIZES["test"], matrix=[("register", 2)],
                         vm_options={"pools": pools})


def test_recursion_reuses_frames() -> None:
    machine = vm.VM()
    assert machine.run(fib, 16) == 987
    p = pool_of(machine, "fib")
    calls = machine.stats()["calls"]
    assert p["misses"] == 16  # one frame per level of the deepest recursion, made once
    assert p["hits"] + p["misses"] == calls == 3193
    assert p["reuse_rate"] > 0.99 and p["peak"] == 16 and p["idle"] == 16
    machine.run(fib, 10)
    assert pool_of(machine, "fib")["misses"] == 16  # everything comes from the pool now


def test_pool_totals_and_switch() -> None:
    on = vm.VM()
    on.run(calls_keep, 1)
    stats = on.stats()["pools"]
    assert stats["enabled"]
    assert set(stats) >= {"hits", "misses", "reuse_rate", "peak", "idle", "dropped", "per_code"}
    assert sorted(stats["per_code"]) == ["calls_keep", "keep"]
    off = vm.VM(pools=False)
    assert off.run(calls_keep, 1) == 2
    assert off.stats()["pools"] == {"enabled": False, "hits": 0, "misses": 0, "reuse_rate": 0.0, "peak": 0,
                                    "idle": 0, "dropped": 0, "per_code": {}}


def test_the_free_list_is_capped() -> None:
    machine = vm.VM(max_depth=10_000)
    n = DEFAULT_CAP + 40
    assert machine.run(depth, n) == n
    p = pool_of(machine, "depth")
    assert p["misses"] == p["peak"] == n + 1  # all of them existed at once, at the deepest point
    assert p["idle"] == DEFAULT_CAP and p["dropped"] == n + 1 - DEFAULT_CAP


def test_a_frame_an_exception_left_is_not_reused() -> None:
    machine = vm.VM()
    for _ in range(2):
        with pytest.raises(ValueError, match="boom"):
            machine.run(boom, 3)
    p = pool_of(machine, "boom")
    assert p["hits"] == 0 and p["misses"] == 8 and p["idle"] == 0


class Tracked:
    """An object whose lifetime the test watches."""


def test_idle_frames_keep_nothing_alive() -> None:
    machine = vm.VM()
    obj = Tracked()
    ref = weakref.ref(obj)
    assert machine.run(calls_keep, obj) == 2
    del obj
    gc.collect()
    assert ref() is None  # no register of an idle pooled frame still holds it
    assert pool_of(machine, "keep")["idle"] == 1
