"""Runs the lit/FileCheck suite in tests/lit (`lit -v tests/lit`) and fails with lit's output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

LIT_DIR = Path(__file__).parent / "lit"


def _lit_tests() -> list[Path]:
    """The .zir files lit should discover: those with a RUN line (outside Inputs/ folders)."""
    return sorted(p for p in LIT_DIR.rglob("*.zir")
                  if "Inputs" not in p.parts and "RUN:" in p.read_text(encoding="utf-8"))


def test_lit_suite(tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    lit = bindir / "lit"
    if not lit.exists():
        pytest.fail(f"lit is not installed next to {sys.executable} (pip install -e '.[dev]')")
    env = dict(os.environ, PATH=os.pathsep.join([str(bindir), os.environ.get("PATH", "")]),
               ZIR_LIT_EXEC_ROOT=str(tmp_path))
    proc = subprocess.run([str(lit), "-v", str(LIT_DIR)], env=env, capture_output=True, text=True,
                          timeout=600)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"lit failed (exit {proc.returncode}):\n{output}", pytrace=False)
    # Guard against a vacuous pass (a broken config that discovers nothing).
    found = re.search(r"Total Discovered Tests: (\d+)", output)
    assert found is not None, output
    assert int(found.group(1)) == len(_lit_tests()) > 0, output


# --------------------------------------------------------------------------------------------------
# The `zir` command the lit tests drive: exit codes and error reporting that `not` cannot tell apart.

_GOOD = "func @f(%a) {\n^entry:\n  ret %a\n}\n"
_BAD = "func @f(%a) {\n^entry:\n  %x = add %a, 1\n}\n"  # no terminator


def test_opt_prints_the_module(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zir.cli import main

    src = tmp_path / "good.zir"
    src.write_text("; comment\n" + _GOOD, encoding="utf-8")
    assert main(["opt", str(src)]) == 0
    assert capsys.readouterr().out == _GOOD


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from zir.cli import main

    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err
    assert main(["opt"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["opt", "x.zir", "--bogus"]) == 2
    assert main(["--help"]) == 0


def test_errors_are_one_line_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zir.cli import main

    src = tmp_path / "bad.zir"
    src.write_text(_BAD, encoding="utf-8")
    assert main(["opt", str(src)]) == 1
    err = capsys.readouterr().err
    assert err == (f"zir: error: {src}: function @f, block ^entry, instruction `%x = add %a, 1`: "
                   "block does not end in a terminator\n")
    assert main(["opt", str(tmp_path / "missing.zir")]) == 1
    assert capsys.readouterr().err.startswith(f"zir: error: cannot read {tmp_path / 'missing.zir'}: ")
    assert main(["opt", str(src), "--traceback"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith("block does not end in a terminator\n")


def test_output_file_is_not_touched_on_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from zir.cli import main

    good, bad, out = tmp_path / "good.zir", tmp_path / "bad.zir", tmp_path / "out.zir"
    good.write_text(_GOOD, encoding="utf-8")
    bad.write_text(_BAD, encoding="utf-8")
    assert main(["opt", str(good), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == _GOOD
    assert main(["opt", str(bad), "-o", str(out)]) == 1
    assert out.read_text(encoding="utf-8") == _GOOD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zir", "good.zir", "out.zir"]
    assert main(["opt", str(good), "-o", str(tmp_path / "no" / "such" / "dir.zir")]) == 1
    assert "zir: error: cannot write" in capsys.readouterr().err
