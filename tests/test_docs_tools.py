"""The repository tools the docs tell a reader to run (`python tools/X.py ...` in a `sh`/`console`
block) run as shown, in their quick mode.

tests/test_docs.py runs every `zir` command of the docs but only checks that a `tools/` script
exists: the tools are benchmarks whose full runs take minutes. Every such tool has `--quick`
(small sizes, one repeat; it checks the tool, not the figures), so here each documented command
runs with `--quick` added, with the rest of its options exactly as the page gives them (an option
the tool no longer has, or a git revision it cannot find, fails). A tool a page names without a
`--quick` mode fails the test too: give it one.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_docs import PAGES, _strip_comment, blocks, commands  # noqa: E402


def tool_commands() -> list[tuple[str, list[str]]]:
    """(page:line, argv after the interpreter) of each documented `python tools/X.py` command."""
    found: list[tuple[str, list[str]]] = []
    for page in PAGES:
        for block in blocks(page):
            if block.lang not in ("sh", "console"):
                continue
            for command, _ in commands(block):
                words = _strip_comment(command)
                if len(words) >= 2 and Path(words[0]).name.startswith("python") and \
                        words[1].startswith("tools/") and words[1].endswith(".py"):
                    found.append((block.where, words[1:]))
    return found


COMMANDS = tool_commands()


def test_the_docs_name_tools() -> None:
    # docs/performance.md gives the command behind each of its figures.
    assert any(argv[0] == "tools/passstats.py" for _, argv in COMMANDS)


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[f"{w} {shlex.join(a)}" for w, a in COMMANDS])
def test_documented_tool_runs(where: str, argv: list[str], tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, *argv, "--quick"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"{where}: `python {shlex.join(argv)}` (with --quick) failed:\n" \
                                 f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert proc.stdout.strip(), f"{where}: `python {shlex.join(argv)}` printed nothing"
