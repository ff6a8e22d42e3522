"""`make demo`: one real kernel walked through every stage of zir, plus the `.zir` text example.

1. the IR text form: a `.zir` file parsed, verified, its dominators, loops and CFG;
2. a real kernel (`tools/kernels/spectral_norm.py`, function `times`): its ZBC, the IR lifted from
   it, the IR after O2 with the pass statistics, the ZBC re-emitted from that for the stack VM, the
   CFG, dominator tree and interference graph as DOT (and SVG when Graphviz's `dot` is installed;
   `make graphviz`), the register code;
3. the whole kernel run by CPython, the stack VM and the register VM, with the speed ratios;
4. the profiler: a FULL profile's summary, an HTML report and a heat-map CFG;
5. the `zir` commands that repeat each step.

Writes its files under out/demo/ and prints what each stage made; takes a few seconds. Run:
`make demo`, or `.venv/bin/python tools/demo.py`.
"""

from __future__ import annotations

import copy
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
from passes.regalloc import allocate  # noqa: E402
from tools.kernels import spectral_norm  # noqa: E402

OUT = ROOT / "out" / "demo"
#: The size of the runs: big enough to time, small enough for the stack VM at O0 to take a moment.
RUN_SIZE = 30


def banner(title: str) -> None:
    print()
    print("=" * 78)
    print(f"== {title}")
    print("=" * 78)


def write_graph(graph: Any, stem: str) -> None:
    """Write `stem.dot`, and `stem.svg` when Graphviz's `dot` program is installed."""
    dot_path = OUT / f"{stem}.dot"
    dot_path.write_text(graph.source)
    line = f"wrote {shown(dot_path)}"
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

    print("-- ZBC re-emitted from the O2 IR (zir.stackify): what the stack VM runs at O2 --")
    print(zir.bytecode.disassemble(zir.stackify(f)))

    write_graph(zir.dot.cfg(f), "times.cfg")
    write_graph(zir.dot.dominator_tree(f), "times.domtree")
    # The interference graph of the optimized IR, nodes filled by the register a (trial)
    # allocation gives them; a small K makes the allocator work for it.
    trial = copy.deepcopy(f)
    allocation = allocate(trial, k=4, temps=2)
    write_graph(zir.dot.interference(trial, coloring={v: f"r{n}" for v, n in allocation.registers.items()}),
                "times.interference")
    print(f"trial allocation for the interference graph, regalloc{{k=4,temps=2}}: "
          f"{allocation.stats.get('registers used', 0)} registers used, "
          f"{allocation.stats.get('values spilled', 0)} values spilled to frame slots")

    allocated = copy.deepcopy(f)
    passes.PassManager.parse("regalloc{k=16,temps=8}", verify_each=True).run(allocated)
    print("-- register code (regalloc{k=16}, then zir.lower): what the register VM runs --")
    print(zir.lower(allocated))
    return f


def run_both_ways() -> tuple[int, float]:
    n = RUN_SIZE
    banner(f"3. Running the whole kernel, spectral_norm.run({n}): CPython, the stack VM, the register VM")
    expected = spectral_norm.run(n)
    cpython = median_time(lambda: spectral_norm.run(n))
    print(f"{'CPython':<18} {cpython * 1e3:9.2f} ms")
    times: dict[tuple[str, int], float] = {}
    for mode, level in (("stack", 0), ("stack", 2), ("register", 0), ("register", 2)):
        machine = vm.VM(mode=mode, opt_level=level)
        result = machine.run(spectral_norm.run, n)  # compiles (and checks) once
        assert result == expected, (mode, level, result, expected)
        t = median_time(lambda m=machine: m.run(spectral_norm.run, n))
        times[mode, level] = t
        print(f"{mode + ' VM O' + str(level):<18} {t * 1e3:9.2f} ms  {t / cpython:6.1f}x CPython's time")
    ratio = times["stack", 0] / times["register", 2]
    print(f"every configuration returned {expected!r}, as CPython did")
    print(f"register VM at O2 vs stack VM at O0: {ratio:.1f}x faster")
    return n, ratio


def profile_kernel(n: int) -> None:
    banner(f"4. The profiler: spectral_norm.run({n}) in the register VM at O2, profile='full'")
    machine = vm.VM(mode="register", opt_level=2, profile="full")
    machine.run(spectral_norm.run, n)
    text = machine.profile_report("text")
    lines = text.splitlines()
    # The summary: totals, functions and opcodes, then the branches and hot loops sections.
    head = lines[:lines.index("hottest instructions:")]
    tail = lines[next(k for k, line in enumerate(lines) if line.startswith("branches")):]
    print("\n".join(head[:20] + ["  ..."] + [""] + tail))
    print("(`entry` is called once per matrix element: the calls, not the arithmetic, dominate; the "
          "two hot loops are the inner loops of times and times_transposed)")
    html_path = OUT / "profile.html"
    html_path.write_text(machine.profile_report("html"), encoding="utf-8")
    (OUT / "profile.json").write_text(machine.profile_report("json"), encoding="utf-8")
    print(f"wrote {shown(html_path)} (open it in a browser: sortable tables) and profile.json")
    write_graph(machine.profile_cfg(spectral_norm.times), "times.heat")


def next_steps() -> None:
    banner("5. The same steps with the zir command (docs/cli.md)")
    k = "tools/kernels/spectral_norm.py"
    for line in (f"zir dis {k}:times --stage all -O2",
                 f"zir opt {k}:times -p O2 --stats",
                 f"zir dot interference {k}:times -O2 -k 4 -o times.ig.dot",
                 f"zir run {k}:run {RUN_SIZE} --mode register -O2 --check",
                 f"zir profile {k}:run {RUN_SIZE} --report html -o profile.html"):
        print(f"  {line}")


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; `--out DIR` writes the files there instead of out/demo/."""
    global OUT
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--out"] and len(args) == 2:
        OUT = Path(args[1]).resolve()
    elif args:
        print("usage: tools/demo.py [--out DIR]", file=sys.stderr)
        return 2
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    text_example()
    kernel_stages()
    n, _ = run_both_ways()
    profile_kernel(n)
    next_steps()
    print(f"\nfiles are in {shown(OUT)}/ ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
