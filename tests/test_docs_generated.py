"""The generated parts of the docs (opcode tables from zir/ops.py) are up to date, and the
generator behaves: fills marked sections, leaves unmarked docs alone, refuses bad markers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import gen_docs  # noqa: E402

from zir.ops import IR_OPS, ZBC_OPS  # noqa: E402


def test_docs_are_current() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_docs.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (
        f"generated docs are stale (run `python tools/gen_docs.py`):\n{proc.stdout}{proc.stderr}")


def test_ir_doc_has_the_table() -> None:
    text = (ROOT / "docs" / "ir.md").read_text(encoding="utf-8")
    assert "<!-- BEGIN GENERATED: ir-opcodes -->" in text
    for name in IR_OPS:
        assert f"\n| `{name}` |" in text, name


def test_tables_have_one_row_per_operation() -> None:
    ir_rows = gen_docs.ir_opcode_table().splitlines()[2:]
    assert [r.split(" | ")[0] for r in ir_rows] == [f"| `{n}`" for n in IR_OPS]
    zbc_rows = gen_docs.zbc_opcode_table().splitlines()[2:]
    assert [r.split(" | ")[0] for r in zbc_rows] == [f"| `{m}`" for m in ZBC_OPS]
    assert all(r.count(" | ") == 7 for r in ir_rows)  # pipes in descriptions are escaped
    assert all(r.count(" | ") == 4 for r in zbc_rows)


def test_stack_effect_spelling() -> None:
    rows = {r.split(" | ")[0]: r for r in gen_docs.zbc_opcode_table().splitlines()[2:]}
    assert "| 2 → 1 |" in rows["| `ADD`"]
    assert "| arg + 1 → 1 |" in rows["| `CALL`"]
    assert "| 2·arg → 1 |" in rows["| `BUILD_MAP`"]
    assert "| 1 or 2 → 1 |" in rows["| `FORMAT_VALUE`"]
    assert "(jump: 1 → 0)" in rows["| `FOR_ITER`"]


def _docs(tmp_path: Path, **files: str) -> Path:
    (tmp_path / "docs").mkdir()
    for name, text in files.items():
        (tmp_path / "docs" / f"{name}.md").write_text(text, encoding="utf-8")
    return tmp_path


def test_fill_check_and_skip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = ("# B\n\n<!-- BEGIN GENERATED: zbc-opcodes -->\nSTALE-TEXT\n"
             "<!-- END GENERATED: zbc-opcodes -->\ntail\n")
    plain = "# no markers here\n"
    root = _docs(tmp_path, bytecode=stale, other=plain)
    assert gen_docs.main(["--check", "--root", str(root)]) == 1
    assert "docs/bytecode.md: generated sections are stale" in capsys.readouterr().err
    assert (root / "docs" / "bytecode.md").read_text(encoding="utf-8") == stale
    assert gen_docs.main(["--root", str(root)]) == 0
    new = (root / "docs" / "bytecode.md").read_text(encoding="utf-8")
    assert new.startswith("# B\n\n<!-- BEGIN GENERATED: zbc-opcodes -->\n") and new.endswith(
        "<!-- END GENERATED: zbc-opcodes -->\ntail\n")
    assert "| `LOAD_CONST` |" in new and "STALE-TEXT" not in new
    assert (root / "docs" / "other.md").read_text(encoding="utf-8") == plain
    assert gen_docs.main(["--check", "--root", str(root)]) == 0


@pytest.mark.parametrize("text, message", [
    ("<!-- BEGIN GENERATED: nope -->\n<!-- END GENERATED: nope -->\n", "no generator called 'nope'"),
    ("<!-- BEGIN GENERATED: ir-opcodes -->\nno end\n", "unbalanced GENERATED markers"),
    ("<!-- BEGIN GENERATED: ir-opcodes -->\n<!-- END GENERATED: zbc-opcodes -->\n",
     "section 'ir-opcodes' ends with marker 'zbc-opcodes'"),
])
def test_bad_markers(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    root = _docs(tmp_path, bad=text)
    assert gen_docs.main(["--check", "--root", str(root)]) == 2
    assert message in capsys.readouterr().err
