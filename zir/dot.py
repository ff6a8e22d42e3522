"""DOT export of a function's CFG, dominator tree and interference graph (`graphviz` objects).

    zir.dot.cfg(f, profile={"loop": 1000, ...})   # graphviz.Digraph; heat map when profiled
    zir.dot.dominator_tree(f)                     # graphviz.Digraph, edges idom -> block
    zir.dot.interference(f, coloring={var: reg})  # graphviz.Graph; affinities dotted
    zir.dot.render(graph, "out/cfg.svg")          # needs the Graphviz `dot` program

The `.source` of every graph is byte-for-byte stable from run to run and process to process: node
ids are positions (`b0`, `v3`), not names; everything is emitted in layout or first-appearance
order; nothing depends on hashing. Block bodies are the IR text form (`zir.format`), one line per
phi or instruction, left-aligned in a monospace font.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import graphviz

from zir.analysis.cfg import cfg as build_cfg
from zir.analysis.dominance import Dominators
from zir.analysis.interference import interference_graph
from zir.errors import ZirError
from zir.files import write_file
from zir.ir import Function, Var
from zir.printer import format_block, format_name

#: Edge attributes per CFG edge kind.
EDGE_STYLES: dict[str, dict[str, str]] = {
    "true": {"color": "#1b9e4b"},
    "false": {"color": "#d73027"},
    "jump": {},
    "exception": {"style": "dashed", "color": "#7f7f7f"},
}
#: Fill colours for registers (assigned to the distinct registers in sorted order, cycling).
PALETTE: tuple[str, ...] = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5",
    "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
)
_MONO = "Courier"
_HEAT_LOW = (0xFF, 0xF5, 0xEB)  # ColorBrewer "Oranges", lightest
_HEAT_HIGH = (0xD9, 0x48, 0x01)  # ... and darkest


def _dot_lines(lines: list[str]) -> str:
    """A left-aligned DOT label: backslashes made literal, each line ended by `\\l`."""
    return graphviz.nohtml("".join(line.replace("\\", "\\\\") + "\\l" for line in lines))


def _dot_text(*lines: str) -> str:
    """A centred DOT label: backslashes made literal, lines joined by `\\n`."""
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def heat_color(count: int, maximum: int) -> str:
    """The heat-map fill for a block executed `count` times when the hottest ran `maximum` times
    (log scale, so loops and straight-line code are both told apart)."""
    t = math.log1p(max(count, 0)) / math.log1p(maximum) if maximum > 0 else 0.0
    rgb = (round(lo + (hi - lo) * t) for lo, hi in zip(_HEAT_LOW, _HEAT_HIGH, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def cfg(f: Function, profile: Mapping[str, int] | None = None) -> graphviz.Digraph:
    """The CFG of `f` as a `graphviz.Digraph`: one box per block holding its text form; true edges
    green, false edges red, jumps plain, exception edges dashed. Unreachable blocks are grey.

    `profile` maps block labels to execution counts (missing blocks count 0): blocks are then filled
    on a heat-map scale and their header shows the count.
    """
    g = build_cfg(f)
    reach = Dominators(g)
    ids = {b.label: f"b{n}" for n, b in enumerate(f.blocks)}
    dot = graphviz.Digraph(name="cfg", comment=f"CFG of {format_name('@', f.name)}")
    dot.attr(label=_dot_text(f"CFG of {format_name('@', f.name)}"), labelloc="t", fontname=_MONO)
    dot.attr("node", shape="box", fontname=_MONO, fontsize="10")
    dot.attr("edge", fontname=_MONO)
    hottest = max(profile.values(), default=0) if profile is not None else 0
    for b in f.blocks:
        lines = format_block(b).split("\n")
        attrs: dict[str, str] = {}
        if profile is not None:
            count = profile.get(b.label, 0)
            lines[0] += f"  ; count {count}"
            fill = heat_color(count, hottest)
            attrs.update(style="filled", fillcolor=fill)
            if hottest and math.log1p(count) / math.log1p(hottest) > 0.6:
                attrs["fontcolor"] = "white"
        if not reach.is_reachable(b.label):
            attrs.update(color="#a0a0a0", fontcolor="#a0a0a0")
        if b.label == g.graph["entry"]:
            attrs["penwidth"] = "2"
        dot.node(ids[b.label], _dot_lines(lines), **attrs)
    for src, dst, kind in g.edges(data="kind"):
        dot.edge(ids[src], ids[dst], **EDGE_STYLES[kind])
    return dot


def dominator_tree(f: Function) -> graphviz.Digraph:
    """The dominator tree of `f` as a `graphviz.Digraph` (edges idom -> block; reachable blocks)."""
    doms = Dominators(build_cfg(f))
    ids = {b.label: f"b{n}" for n, b in enumerate(f.blocks)}
    dot = graphviz.Digraph(name="domtree", comment=f"dominator tree of {format_name('@', f.name)}")
    dot.attr(label=_dot_text(f"dominator tree of {format_name('@', f.name)}"), labelloc="t",
             fontname=_MONO)
    dot.attr("node", shape="box", fontname=_MONO, fontsize="10")
    for label in doms.idom:
        dot.node(ids[label], _dot_text(format_name("^", label)))
    for label, parent in doms.idom.items():
        if parent is not None:
            dot.edge(ids[parent], ids[label])
    return dot


def _register_key(reg: Any) -> tuple[int, int, str]:
    """Sort registers numbers first (numerically), then anything else by its text."""
    if isinstance(reg, int) and not isinstance(reg, bool):
        return (0, reg, "")
    return (1, 0, str(reg))


def interference(f: Function, coloring: Mapping[Var | str, Any] | None = None) -> graphviz.Graph:
    """The interference graph of `f` as a `graphviz.Graph`: solid edges interfere, dotted edges
    are affinities (move-related pairs). With `coloring` (Var or Var name -> register, as register
    allocation assigns) nodes are filled by register and labelled with it; Vars without a register
    (spilled) are drawn dashed.
    """
    ig = interference_graph(f)
    aff = ig.graph["affinities"]
    order = {v: n for n, v in enumerate(ig.nodes)}
    dot = graphviz.Graph(name="interference", comment=f"interference graph of {format_name('@', f.name)}")
    dot.attr(label=_dot_text(f"interference graph of {format_name('@', f.name)}"), labelloc="t",
             fontname=_MONO)
    dot.attr("node", shape="ellipse", fontname=_MONO, fontsize="10")
    fills: dict[Any, str] = {}
    if coloring is not None:
        regs = sorted({_register_key(r): r for r in coloring.values()}.items())
        fills = {r: PALETTE[n % len(PALETTE)] for n, (_, r) in enumerate(regs)}
    for v, n in order.items():
        lines = [format_name("%", v.name)]
        attrs = {"tooltip": _dot_text(f"{lines[0]} spill cost {ig.nodes[v]['spill_cost']}")}
        if coloring is not None:
            reg = coloring.get(v, coloring.get(v.name))
            if reg is None:
                attrs["style"] = "dashed"
                lines.append("spilled")
            else:
                attrs.update(style="filled", fillcolor=fills[reg])
                lines.append(str(reg))
        dot.node(f"v{n}", _dot_text(*lines), **attrs)
    for a, b in sorted((tuple(sorted((order[u], order[v]))) for u, v in ig.edges)):
        dot.edge(f"v{a}", f"v{b}")
    for a, b in sorted((tuple(sorted((order[u], order[v]))) for u, v in aff.edges)):
        dot.edge(f"v{a}", f"v{b}", style="dotted", color="#555555")
    return dot


def _no_dot(path: Path) -> ZirError:
    return ZirError(f"cannot render {path}: the Graphviz `dot` program is not installed; install it "
                    f"with `apt-get install graphviz` (or `make graphviz`), or write the DOT source "
                    f"with a .dot path")


def render(graph: graphviz.Graph | graphviz.Digraph, path: str | os.PathLike[str],
           format: str | None = None) -> Path:
    """Write `graph` to `path` and return it. The format is `format`, else the path's suffix
    (`.svg`, `.png`, `.pdf`, ...); `.dot` and `.gv` write the DOT source and need no program.

    Other formats need Graphviz's `dot`; without it this raises `zir.ZirError` naming
    `apt-get install graphviz`. A regular file is written whole or not at all; a device or FIFO
    (`/dev/null`) is written into (`zir.files.write_file`).
    """
    out = Path(path)
    fmt = (format or out.suffix.lstrip(".") or "svg").lower()
    if fmt in ("dot", "gv"):
        data = graph.source.encode()
    else:
        if shutil.which("dot") is None:
            raise _no_dot(out)
        try:
            data = graph.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise _no_dot(out) from None
        except graphviz.CalledProcessError as e:
            err = e.stderr.decode(errors="replace").strip() if isinstance(e.stderr, bytes) else e.stderr
            raise ZirError(f"cannot render {out}: dot failed: {err}") from None
        except ValueError as e:  # unknown format
            raise ZirError(f"cannot render {out}: {e}") from None
    write_file(out, data)
    return out
