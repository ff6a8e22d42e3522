"""tools/bench.py in its quick mode: it runs, prints its tables and writes JSON with stable keys.
(No timing is asserted: the speed figures live in docs/performance.md, from a full run.)"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools import bench  # noqa: E402

KERNEL_KEYS = {"size", "repeat", "times_s", "register_O2_vs_stack_O0", "register_O2_vs_cpython",
               "levels_vs_O0", "instructions", "pools", "profile_overhead"}
SUMMARY_KEYS = {"register_O2_vs_stack_O0_geomean", "register_O2_vs_cpython_numeric_max",
                "register_O2_vs_cpython_geomean", "instruction_reduction_geomean", "levels_vs_O0_geomean",
                "pools_speedup", "profile_overhead_geomean", "value_caches"}


def test_quick_run_writes_stable_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "nqueens", "richards", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for heading in ("speed (time ratios; medians)", "executed instructions", "frame pools",
                    "profiler overhead", "summary:", "SPAWN/AWAIT: spawn+await", "fan-out:"):
        assert heading in text
    data = json.loads(out.read_text())
    assert set(data) == {"command", "python", "machine", "quick", "repeat", "clock", "kernels", "summary",
                         "spawn"}
    assert data["clock"] == "cpu"
    assert set(data["spawn"]) == {"spawn_await", "fan_out"}
    assert set(data["spawn"]["fan_out"]) == {"awaits", "spawns", "eager", "suspending"}
    assert data["spawn"]["fan_out"]["spawns"] == data["spawn"]["fan_out"]["awaits"] == 50
    assert data["quick"] is True and data["repeat"] == 1 and list(data["kernels"]) == ["nqueens", "richards"]
    for k in data["kernels"].values():
        assert set(k) == KERNEL_KEYS
        assert set(k["times_s"]) == set(bench.CONFIGS) | set(bench.STACK_PROFILE_CONFIGS)
        assert set(k["instructions"]) == {"stack_O0", "register_O2", "reduction"}
        assert 0 < k["instructions"]["register_O2"] < k["instructions"]["stack_O0"]
        assert set(k["pools"]) == {"speedup", "on", "off", "stats", "frames_made"}
        assert set(k["profile_overhead"]) == {"register", "stack"}
        assert set(k["levels_vs_O0"]) == {"stack", "register"}
    assert set(data["summary"]) == SUMMARY_KEYS


def test_unknown_kernel_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--quick", "no-such-kernel"])


def test_geomean() -> None:
    assert bench.geomean([2.0, 8.0]) == pytest.approx(4.0)
    assert bench.geomean([]) == 1.0
