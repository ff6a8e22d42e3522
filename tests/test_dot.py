"""zir.dot: CFG (with heat map), dominator tree and interference graph as graphviz objects; stable
source across runs and processes; `render` with and without the Graphviz `dot` program."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import graphviz
import pytest

import zir
from zir import Function, Var
from zir.dot import EDGE_STYLES, heat_color, render

SOURCE = r"""
func @sum_squares(%n) {
^entry:
  %s = const 0
  %i = const "a\\b\"c"
  br ^loop
^loop:
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body: except ^h
  %t = mul %i, %i
  %s = add %s, %t
  %i = add %i, 1
  br ^loop
^h:
  %e = catch
  ret %e
^exit:
  ret %s
^dead:
  ret 0
}
"""


def function() -> Function:
    (f,) = zir.parse(SOURCE).functions.values()
    return f


def node_line(source: str, node: str) -> str:
    (line,) = [ln for ln in source.splitlines() if ln.strip().startswith(f"{node} [")]
    return line


def edge_line(source: str, edge: str) -> str:
    (line,) = [ln for ln in source.splitlines() if ln.strip().startswith(edge)]
    return line


def test_cfg_blocks_and_edge_styles() -> None:
    dot = zir.dot.cfg(function())
    assert isinstance(dot, graphviz.Digraph)
    src = dot.source
    # block bodies are the text form, left-aligned lines, in a monospace font
    assert r'b0 [label="^entry:\l  %s = const 0\l' in src
    assert r"%i = const \"a\\\\b\\\"c\"\l" in src  # the literal survives DOT escaping
    assert r"^body: except ^h\l" in src
    assert "fontname=Courier" in src
    assert "penwidth=2" in node_line(src, "b0")  # the entry stands out
    assert "#a0a0a0" in node_line(src, "b5")  # ^dead is unreachable: grey
    assert edge_line(src, "b1 -> b2") == f'\tb1 -> b2 [color="{EDGE_STYLES["true"]["color"]}"]'
    assert edge_line(src, "b1 -> b4") == f'\tb1 -> b4 [color="{EDGE_STYLES["false"]["color"]}"]'
    assert edge_line(src, "b0 -> b1") == "\tb0 -> b1"
    assert "style=dashed" in edge_line(src, "b2 -> b3")  # exception edge


def test_cfg_heat_map() -> None:
    profile = {"entry": 1, "loop": 1001, "body": 1000, "exit": 1}
    src = zir.dot.cfg(function(), profile=profile).source
    assert heat_color(1001, 1001) == "#d94801" and heat_color(0, 1001) == "#fff5eb"
    assert 'fillcolor="#d94801"' in node_line(src, "b1") and "; count 1001" in node_line(src, "b1")
    assert "fontcolor=white" in node_line(src, "b1")
    assert 'fillcolor="#fff5eb"' in node_line(src, "b3")  # ^h never ran: count 0
    assert "; count 0" in node_line(src, "b3")
    shades = [int(heat_color(c, 1001)[3:5], 16) for c in (0, 1, 10, 100, 1001)]
    assert shades == sorted(shades, reverse=True) and len(set(shades)) == 5
    assert "style=filled" not in zir.dot.cfg(function()).source


def test_dominator_tree() -> None:
    src = zir.dot.dominator_tree(function()).source
    assert src.splitlines()[0] == "// dominator tree of @sum_squares"
    edges = [ln.strip() for ln in src.splitlines() if "->" in ln]
    assert edges == ["b0 -> b1", "b1 -> b2", "b2 -> b3", "b1 -> b4"]  # in the child's layout order
    assert "b5" not in src  # unreachable blocks have no dominator


def test_interference_colouring_and_affinities() -> None:
    (f,) = zir.parse("""
func @c(%a, %b) {
^entry:
  %x = copy %a
  %y = add %x, %b
  ret %y
}
""").functions.values()
    plain = zir.dot.interference(f)
    assert isinstance(plain, graphviz.Graph)
    src = plain.source
    assert 'v0 [label="%a" tooltip="%a spill cost 2"]' in src
    assert "v0 -- v1\n" in src  # params interfere
    assert "v0 -- v2 [color=\"#555555\" style=dotted]" in src  # the copy is an affinity
    coloured = zir.dot.interference(f, coloring={Var("a"): 0, "b": 1, Var("x"): 0}).source
    assert 'fillcolor="#8dd3c7"' in node_line(coloured, "v0") and r'label="%a\n0"' in coloured
    assert 'fillcolor="#8dd3c7"' in node_line(coloured, "v2")  # same register, same colour
    assert 'fillcolor="#ffffb3"' in node_line(coloured, "v1")
    assert "style=dashed" in node_line(coloured, "v3") and r"%y\nspilled" in coloured


def test_source_is_stable_across_runs_and_processes() -> None:
    first = [zir.dot.cfg(function(), profile={"loop": 3}).source, zir.dot.dominator_tree(function()).source,
             zir.dot.interference(function(), coloring={"n": 1, "s": 2}).source]
    again = [zir.dot.cfg(function(), profile={"loop": 3}).source, zir.dot.dominator_tree(function()).source,
             zir.dot.interference(function(), coloring={"n": 1, "s": 2}).source]
    assert first == again
    script = textwrap.dedent(f"""
        import sys, zir
        (f,) = zir.parse({SOURCE!r}).functions.values()
        for s in [zir.dot.cfg(f, profile={{"loop": 3}}).source, zir.dot.dominator_tree(f).source,
                  zir.dot.interference(f, coloring={{"n": 1, "s": 2}}).source]:
            sys.stdout.write(s + "\\x00")
    """)
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert out.split("\x00")[:-1] == first


# --------------------------------------------------------------------------------------------------
# render


def fake_dot(tmp_path: Path, body: str) -> str:
    """A PATH whose first directory holds a stand-in `dot` program."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    prog = bindir / "dot"
    prog.write_text("#!/bin/sh\n" + body)
    prog.chmod(prog.stat().st_mode | stat.S_IEXEC)
    return str(bindir) + os.pathsep + os.environ.get("PATH", "")


def test_render_dot_source_needs_no_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    dot = zir.dot.cfg(function())
    out = render(dot, tmp_path / "cfg.dot")
    assert out.read_text() == dot.source


def test_render_without_dot_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(zir.ZirError) as info:
        render(zir.dot.cfg(function()), tmp_path / "cfg.svg")
    assert "apt-get install graphviz" in str(info.value) and "make graphviz" in str(info.value)
    assert not (tmp_path / "cfg.svg").exists()


def test_render_maps_executable_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zir.dot.shutil, "which", lambda name: "/usr/bin/dot")

    def missing(*args: object, **kwargs: object) -> bytes:
        raise graphviz.ExecutableNotFound(("dot",))

    dot = zir.dot.cfg(function())
    monkeypatch.setattr(dot, "pipe", missing)
    with pytest.raises(zir.ZirError, match="apt-get install graphviz"):
        render(dot, tmp_path / "cfg.svg")


def test_render_with_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", fake_dot(tmp_path, 'cat > "$0.in"\necho "<svg>$*</svg>"\n'))
    out = render(zir.dot.cfg(function()), tmp_path / "cfg.svg")
    assert out.read_text().startswith("<svg>") and "-Tsvg" in out.read_text()
    assert (tmp_path / "bin" / "dot.in").read_text() == zir.dot.cfg(function()).source
    assert not list(tmp_path.glob("*.tmp"))


def test_render_reports_dot_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", fake_dot(tmp_path, 'echo "syntax error in line 3" >&2\nexit 1\n'))
    with pytest.raises(zir.ZirError, match="syntax error in line 3"):
        render(zir.dot.cfg(function()), tmp_path / "cfg.png")
    assert not (tmp_path / "cfg.png").exists()


def test_render_into_a_fifo_keeps_it_and_an_unwritable_path_is_a_zir_error(tmp_path: Path) -> None:
    import threading

    g = zir.dot.cfg(function())
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    render(g, fifo)
    reader.join(timeout=60)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and got == [g.source.encode()]
    with pytest.raises(zir.ZirError, match=r"cannot write .*missing.*out\.dot"):
        render(g, tmp_path / "missing" / "out.dot")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.dot"]  # no scratch file left
