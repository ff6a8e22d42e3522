"""Every code block of README.md and docs/*.md runs, so the docs cannot drift from the code.

A fenced block's info string says what it is:

* ``python``: executed. The python blocks of one page run in order in one namespace (blocks of
  `>>>` lines run as doctests in it), in a fresh directory that holds the page's files (below) and
  links to the repository's `docs/`, `tests/` and `tools/`.
* ``python file=NAME``, ``zir file=NAME``, ``zasm file=NAME``...: the block is the content of file
  NAME in that directory (written before anything runs), and is checked as its kind below.
* ``sh`` / ``console``: commands. In a block with lines starting `$ `, those are the commands and
  the lines after each, up to the next command, are its expected output (stdout and stderr as a
  terminal shows them; `...` matches anything, as doctest's ELLIPSIS); a command shown with
  output containing `zir: error:` may fail, any other must succeed. Without `$ ` every line is a
  command (a `#` comment may follow). `zir ...` commands run: through `zir.cli.main` in the page's
  process (what the `zir` script calls; test_cli checks the script itself), or in bash with the
  installed `zir` first on PATH when they use shell syntax (pipes, redirections, ...) or `--load`.
  `make TARGET` must name a Makefile target and `python tools/X.py` an existing tool (which
  tests/test_docs_tools.py then runs, in its quick mode; `make demo` is test_cli's
  test_make_demo_runs); other commands are not run.
* ``zir``: parses and verifies (`zir.parse`, `zir.verify`); ``zasm``: assembles and verifies;
  ``json``: is JSON.
* ``text``, ``ebnf``, ``diff``: illustrative, not run. A block without an info string fails the
  test: say what it is.

Run one page by hand: `python tests/test_docs.py docs/cli.md` (prints each block as it runs it).
"""

from __future__ import annotations

import doctest
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path
from typing import Any

import attrs
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
#: Info strings of blocks that are illustration only.
ILLUSTRATIVE = {"text", "ebnf", "diff"}
CHECKED = {"python", "sh", "console", "zir", "zasm", "json"}
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<info>.*)$")
_CHECKER = doctest.OutputChecker()


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  #: 1-based line of the opening fence
    lang: str
    attrs: dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order (fences may be indented, in lists)."""
    out: list[Block] = []
    lines = page.read_text(encoding="utf-8").split("\n")
    k = 0
    while k < len(lines):
        m = _FENCE.match(lines[k])
        if m is None:
            k += 1
            continue
        start, indent, fence = k, m["indent"], m["fence"]
        words = m["info"].split()
        body: list[str] = []
        k += 1
        while k < len(lines) and lines[k].strip() != fence:
            body.append(lines[k][len(indent):] if lines[k].startswith(indent) else lines[k].lstrip())
            k += 1
        if k == len(lines):
            raise AssertionError(f"{page.relative_to(ROOT)}:{start + 1}: code block never closed")
        k += 1
        options = dict(w.partition("=")[::2] for w in words[1:])
        out.append(Block(page, start + 1, words[0] if words else "", options, "\n".join(body) + "\n"))
    return out


# --------------------------------------------------------------------------------------------------
# Commands


def commands(block: Block) -> list[tuple[str, str | None]]:
    """(command, expected output or None when the block shows none) for each command of a block."""
    lines = block.text.rstrip("\n").split("\n")
    if not any(line.startswith("$ ") for line in lines):
        return [(line, None) for line in lines if line.strip() and not line.lstrip().startswith("#")]
    out: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"{block.where}: output before the first `$ ` command")
    return [(cmd, "\n".join(want).rstrip("\n") + "\n" if any(w.strip() for w in want) else None)
            for cmd, want in out]


def _strip_comment(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return list(lexer)


#: Shell syntax (pipes, redirections, variables, globs, lists): such a command runs in bash.
_SHELL = re.compile(r"[|<>;&$`*?]|\\(?!\n)")


def _run_in_process(argv: list[str], workdir: Path) -> tuple[int, str]:
    """Run `zir ARGV` through `zir.cli.main` in this process (what the `zir` script does, without
    starting Python again), with stdout and stderr captured together, in order."""
    from zir.cli import main

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    saved, cwd = (sys.stdout, sys.stderr), os.getcwd()
    sys.stdout = sys.stderr = stream
    os.chdir(workdir)
    try:
        status = main(argv)
    except SystemExit as e:  # a program that calls sys.exit
        status = e.code if isinstance(e.code, int) else 1
    finally:
        stream.flush()
        sys.stdout, sys.stderr = saved
        os.chdir(cwd)
    return status, raw.getvalue().decode("utf-8")


def check_command(block: Block, command: str, want: str | None, workdir: Path, env: dict[str, str]) -> None:
    """Run (or, for non-zir commands, sanity-check) one command of a page."""
    words = _strip_comment(command)
    if not words:
        return
    if words[0] == "make":
        targets = re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
        for target in words[1:]:
            assert target in targets, f"{block.where}: `{command}`: no Makefile target {target!r}"
        return
    tools = [w for w in words if w.startswith("tools/") and w.endswith(".py")]
    if words[0] != "zir":
        for tool in tools:
            assert (ROOT / tool).is_file(), f"{block.where}: `{command}`: {tool} does not exist"
        return
    # --load imports a module that registers passes, maybe again in this process: a fresh one.
    if _SHELL.search(command) is None and "--load" not in words:
        status, output = _run_in_process(words[1:], workdir)
    else:
        proc = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=300)
        status, output = proc.returncode, proc.stdout
    got = "\n".join(line.rstrip() for line in output.split("\n")).rstrip("\n") + "\n"
    may_fail = want is not None and "zir: error:" in want
    assert status == 0 or may_fail, f"{block.where}: `{command}` exited with status {status}:\n{output}"
    if want is not None:
        expected = "\n".join(line.rstrip() for line in want.split("\n"))
        assert _CHECKER.check_output(expected, got, doctest.ELLIPSIS), (
            f"{block.where}: `{command}` printed\n{got}\nbut the page shows\n{expected}")


# --------------------------------------------------------------------------------------------------
# Running one page (in its own process: pages register passes and import their own modules)


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    # Output in the order a terminal shows it, at a fixed width, in UTF-8.
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", COLUMNS="100")
    env.pop("PYTHONPATH", None)
    return env


def _check_data(block: Block) -> None:
    import zir

    if block.lang == "zir":
        zir.verify(zir.parse(block.text, block.where))
    elif block.lang == "zasm":
        zir.bytecode.assemble(block.text, block.where)
    elif block.lang == "json":
        json.loads(block.text)


def _run_python(block: Block, namespace: dict[str, Any]) -> None:
    if ">>>" in block.text:
        test = doctest.DocTestParser().get_doctest(block.text, namespace, block.where, str(block.page),
                                                   block.line)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        runner.run(test, clear_globs=False)
        namespace.update(test.globs)  # DocTest ran in a copy; later blocks see what it defined
        assert not runner.failures, f"{block.where}: doctest failed (see above)"
        return
    exec(compile(block.text, block.where, "exec"), namespace)


def run_page(page: Path, workdir: Path, verbose: bool = False) -> None:
    """Run every block of `page` in `workdir` (see the module docstring)."""
    found = blocks(page)
    for b in found:
        assert b.lang, (f"{b.where}: a code block without an info string; say what it is "
                        f"({', '.join(sorted(CHECKED | ILLUSTRATIVE))})")
        assert b.lang in CHECKED | ILLUSTRATIVE, f"{b.where}: unknown info string {b.lang!r}"
    for name in ("docs", "tests", "tools"):
        (workdir / name).symlink_to(ROOT / name)
    for b in found:
        if "file" in b.attrs:
            (workdir / b.attrs["file"]).write_text(b.text, encoding="utf-8")
    os.chdir(workdir)
    sys.path.insert(0, str(workdir))
    env = _environment()
    namespace: dict[str, Any] = {"__name__": "__doc_page__"}
    for b in found:
        if b.lang in ILLUSTRATIVE:
            continue
        if verbose:
            print(f"--- {b.where} ({b.lang}{' ' + b.attrs['file'] if 'file' in b.attrs else ''})", flush=True)
        if "file" in b.attrs:
            if b.lang == "python":
                compile(b.text, b.where, "exec")
            else:
                _check_data(b)
        elif b.lang == "python":
            _run_python(b, namespace)
        elif b.lang in ("sh", "console"):
            for command, want in commands(b):
                check_command(b, command, want, workdir, env)
        else:
            _check_data(b)


# --------------------------------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_page_runs(page: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, __file__, str(page), str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env=_environment())
    assert proc.returncode == 0, f"{page.relative_to(ROOT)}:\n{proc.stdout}\n{proc.stderr}"


def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes for a page's headings: lower case, punctuation dropped, blanks
    to hyphens (the heading "`zir dot`: the three graphs" is `#zir-dot-the-three-graphs`)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    heads = re.findall(r"^#+ (.*)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_every_page_is_linked_and_links_resolve() -> None:
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        assert page.name == "index.md" or f"]({page.name})" in index, f"docs/index.md misses {page.name}"
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", text):
            if "://" in target:
                continue
            path = page.parent / target if target else page
            assert path.exists(), f"{page.relative_to(ROOT)}: broken link {target}"
            if anchor and path.suffix == ".md":
                assert anchor in anchors(path), f"{page.relative_to(ROOT)}: no heading for {target}#{anchor}"


def test_readme_quick_start_is_two_commands() -> None:
    readme = blocks(ROOT / "README.md")
    quick = [b for b in readme if b.lang == "sh"]
    assert [_strip_comment(c) for c, _ in commands(quick[0])] == [["make", "demo"], ["make", "test"]]


def _sections(text: str) -> dict[str, str]:
    """The sections of a page headed by a code name (### `name`): name -> text up to the next
    heading."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    out: dict[str, str] = {}
    for head, body in zip(found[1::2], found[2::2], strict=True):
        m = re.fullmatch(r"### `([\w-]+)`", head.strip())
        if m:
            out[m[1]] = body
    return out


def test_passes_md_documents_every_pass_option_and_instrument() -> None:
    """docs/passes.md has a section for every pass of the `passes` package naming each of its
    options, and documents every instrumentation option of PassManager and flag of `zir opt`."""
    import inspect

    import passes
    from passes.registry import known_passes, pass_class, pass_options
    from zir.cli import build_parser

    text = (ROOT / "docs" / "passes.md").read_text(encoding="utf-8")
    sections = _sections(text)
    builtin = [n for n in known_passes() if pass_class(n).__module__.startswith("passes.")]
    assert {"peephole", "ssa", "dce", "copyprop", "ssa-destroy", "regalloc", "await-batch"} <= set(builtin)
    for name in builtin:
        assert name in sections, f"docs/passes.md has no section ### `{name}`"
        assert len(sections[name].split()) > 80, f"docs/passes.md: the section on {name} is a stub"
        for option in pass_options(pass_class(name)):
            shown = (f"`{option.name}", f"{{{option.name}=", f",{option.name}=")
            assert any(s in sections[name] for s in shown), f"docs/passes.md: {name}'s option {option.name}"
    keywords = [k for k in inspect.signature(passes.PassManager.__init__).parameters
                if k not in ("self", "passes")]
    for keyword in keywords:
        assert f"`{keyword}=" in text, f"docs/passes.md: PassManager option {keyword}"
    opt = build_parser()._subparsers._group_actions[0].choices["opt"]  # type: ignore[union-attr]
    flags = [s for a in opt._actions for s in a.option_strings if s.startswith("--")
             and a.container.title == "passes"]
    assert "--bisect-limit" in flags and "--print-after" in flags
    for flag in flags:
        if flag not in ("--passes", "--load"):
            assert f"`{flag}" in text, f"docs/passes.md: zir opt {flag}"


def test_block_parsing(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(textwrap.dedent("""\
        text
        ```python file=a.py
        x = 1
        ```
        * a list item

          ```console
          $ zir run a.py:f 1
          2
          $ zir run a.py:f
          ```
        """), encoding="utf-8")
    b1, b2 = blocks(page)
    assert (b1.lang, b1.attrs, b1.text, b1.line) == ("python", {"file": "a.py"}, "x = 1\n", 2)
    assert commands(b2) == [("zir run a.py:f 1", "2\n"), ("zir run a.py:f", None)]


def test_output_check_catches_drift(tmp_path: Path) -> None:
    block = Block(ROOT / "README.md", 1, "console", {}, "")
    env = _environment()
    check_command(block, "zir --version", "zir ...\n", tmp_path, env)
    with pytest.raises(AssertionError, match="printed"):
        check_command(block, "zir --version", "zir 9.9\n", tmp_path, env)
    with pytest.raises(AssertionError, match="exited with status 2"):
        check_command(block, "zir frobnicate", None, tmp_path, env)
    with pytest.raises(AssertionError, match="no Makefile target"):
        check_command(block, "make nothing-here", None, tmp_path, env)


if __name__ == "__main__":
    # python tests/test_docs.py PAGE [WORKDIR]: run one page's blocks (what test_page_runs does).
    page_arg = Path(sys.argv[1]).resolve()
    work = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(tempfile.mkdtemp(prefix="zir-docs-"))
    try:
        run_page(page_arg, work, verbose=True)
    except Exception:
        traceback.print_exc()
        sys.exit(1)
