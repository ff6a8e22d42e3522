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
