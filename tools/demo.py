"""`make demo`: one real kernel walked through every stage of zir, plus the `.zir` text example.

Writes its files under out/demo/ and prints what each stage made. Run: `.venv/bin/python tools/demo.py`.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import passes  # noqa: E402
import vm  # noqa: E402
import zir  # noqa: E402
from tools.kernels import spectral_norm  # noqa: E402

OUT = ROOT / "out" / "demo"


def banner(title: str) -> None:
    print()
    print("=" * 78)
    print(f"== {title}")
    print("=" * 78)


def write_graph(graph: Any, stem: str) -> None:
    """Write `stem.dot`, and `stem.svg` when Graphviz's `dot` program is installed."""
    dot_path = OUT / f"{stem}.dot"
    dot_path.write_text(graph.source)
    line = f"wrote {dot_path.relative_to(ROOT)}"
    if shutil.which("dot"):
        zir.dot.render(graph, OUT / f"{stem}.svg")
        line += f" and {stem}.svg"
    else:
        line += " (install Graphviz with `make graphviz` to get SVG too)"
    print(line)


def median_time(fn: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def text_example() -> None:
    banner("1. The IR text form: docs/examples/sum_squares.zir")
    path = ROOT / "docs" / "examples" / "sum_squares.zir"
    module = zir.parse(path.read_text(), filename=str(path.relative_to(ROOT)))
    f = module.functions["sum_squares"]
    zir.verify(f)
    print(zir.format(f))
    print("verified. dominator tree (idom -> block):")
    for a, b in sorted(zir.analysis.dominator_tree(f).edges):
        print(f"  ^{a} -> ^{b}")
    for loop in zir.analysis.natural_loops(f):
        print(f"natural loop: header ^{loop.header}, body {sorted(loop.body)}, exits {sorted(loop.exits)}")
    write_graph(zir.dot.cfg(f), "sum_squares.cfg")


def kernel_stages() -> zir.Function:
    fn = spectral_norm.times
    banner(f"2. A real kernel: tools/kernels/spectral_norm.py, function {fn.__name__}()")
    code = zir.frontend.from_python(fn)
    print("-- ZBC from the CPython 3.11 front end --")
    print(zir.bytecode.disassemble(code))

    f = zir.lift(code)
    zir.verify(f)
    print("-- IR lifted from the ZBC --")
    print(zir.format(f))

    pm = passes.PassManager.parse("O2", verify_each=True)
    report = pm.run(f)
    print(f"-- IR after O2 ({pm.pipeline}) --")
    print(zir.format(f))
    print("-- pass statistics --")
    print(report.stats_table())

    write_graph(zir.dot.cfg(f), "times.cfg")
    write_graph(zir.dot.dominator_tree(f), "times.domtree")
    return f


def run_both_ways() -> None:
    banner("3. Running the whole kernel: CPython vs the stack VM")
    n = spectral_norm.SIZES["test"]
    expected = spectral_norm.run(n)
    cpython = median_time(lambda: spectral_norm.run(n))
    for level in (0, 2):
        machine = vm.VM(mode="stack", opt_level=level)
        result = machine.run(spectral_norm.run, n)  # compiles (and checks) once
        assert result == expected, (result, expected)
        t = median_time(lambda m=machine: m.run(spectral_norm.run, n))
        print(f"stack VM O{level}: spectral_norm.run({n}) = {result!r}  "
              f"{t * 1e3:8.2f} ms  ({t / cpython:6.1f}x CPython's {cpython * 1e3:.2f} ms)")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    text_example()
    kernel_stages()
    run_both_ways()
    print(f"\nfiles are in {OUT.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
