"""tools/stackbench.py works: the table, the JSON figures, an older stackify swapped into a machine."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from tools import stackbench  # noqa: E402


def test_quick_run_prints_the_table_and_writes_json(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures.json"
    assert stackbench.main(["--quick", "nqueens", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("| kernel | O0 instructions | O1 instructions | O2 instructions |")
    assert text.splitlines()[2].startswith("| nqueens | 78,954 | ")
    data = json.loads(out.read_text(encoding="utf-8"))
    counts = data["kernels"]["nqueens"]["instructions"]
    assert counts["O0"] == 78954 and counts["O2"] < counts["O0"]
    assert set(data["kernels"]["nqueens"]["time_s"]) == {"O0", "O1", "O2"}


def test_an_older_stackify_runs_in_its_own_machine() -> None:
    from tools.kernels import nqueens

    old = stackbench.old_stackify("HEAD")
    machine = stackbench.make_machine(2, old)
    assert machine.run(nqueens.run, 6) == nqueens.run(6)
    assert machine.stats()["instructions"] > 0


def test_unknown_kernel_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        stackbench.main(["--quick", "nosuch"])
    assert info.value.code == 2
