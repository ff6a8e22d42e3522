"""Measures of the optimization passes, printed as Markdown for docs/performance.md ("Passes").

    python tools/passstats.py            # everything (about a minute)
    python tools/passstats.py --quick    # smaller throughput sizes, for a smoke run

1. Static instruction counts (instructions + phis) before and after each pass of the O2 pipeline,
   summed over the functions of the benchmark kernels (tools/kernels: every function and method
   the front end accepts) and over the functions of the differential construct suite
   (tests/test_constructs.py), lifted with `zir.lift`.
2. Phis placed by pruned SSA (`ssa`, the O2 default) against minimal SSA (`ssa{pruned=false}`,
   Cytron et al. without liveness), on the same functions after the first peephole.
3. Compile throughput of the O2 pipeline (IR instructions per second of process CPU time, best of
   five) on generated Python functions lifted to about 1k, 3k and 10k instructions, to show how it
   scales.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import random
import sys
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/passstats.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import passes  # noqa: E402
import zir  # noqa: E402
from zir.frontend import from_python  # noqa: E402


def functions_of(module: types.ModuleType) -> Iterator[Callable[..., Any]]:
    """The functions and methods a module defines, in source order."""
    seen: set[int] = set()
    for _, obj in sorted(vars(module).items()):
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            candidates = [v for v in vars(obj).values() if inspect.isfunction(v)]
        elif inspect.isfunction(obj) and obj.__module__ == module.__name__:
            candidates = [obj]
        else:
            continue
        for fn in candidates:
            if id(fn.__code__) not in seen:
                seen.add(id(fn.__code__))
                yield fn


def lift_all(fns: list[Callable[..., Any]]) -> tuple[list[zir.Function], int]:
    """Lift every function the front end accepts; also return how many it refused."""
    out, refused = [], 0
    for fn in fns:
        try:
            out.append(zir.lift(from_python(fn)))
        except zir.ZirError:
            refused += 1
    return out, refused


def kernel_functions() -> list[Callable[..., Any]]:
    from tools.kernels import KERNELS

    return [fn for module in KERNELS.values() for fn in functions_of(module)]


def suite_functions() -> list[Callable[..., Any]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import test_constructs

    fns = [fn for fn, _, _ in test_constructs.CASES]
    return list({id(fn.__code__): fn for fn in fns}.values())


def per_pass_counts(fs: list[zir.Function], pipeline: str) -> list[tuple[str, int, int]]:
    """(pass, instructions before, after) for each step of `pipeline`, summed over `fs`."""
    steps: list[tuple[str, int, int]] = []
    for f in fs:
        g = copy.deepcopy(f)
        report = passes.PassManager.parse(pipeline).run(g)
        for n, rec in enumerate(report):
            if n == len(steps):
                steps.append((rec.pass_name, 0, 0))
            name, before, after = steps[n]
            steps[n] = (name, before + rec.instrs_before, after + rec.instrs_after)
    return steps


def counts_table(title: str, fs: list[zir.Function], refused: int) -> str:
    pipeline = passes.level_pipeline(2)
    steps = per_pass_counts(fs, pipeline)
    lines = [f"**{title}** ({len(fs)} functions lifted, {refused} refused by the front end); "
             f"pipeline `{pipeline}`:", "",
             "| # | pass | instructions before | after | change |", "| --- | --- | ---: | ---: | ---: |"]
    for n, (name, before, after) in enumerate(steps, 1):
        pct = 100.0 * (after - before) / before if before else 0.0
        lines.append(f"| {n} | `{name}` | {before} | {after} | {after - before:+d} ({pct:+.1f}%) |")
    if steps:
        first, last = steps[0][1], steps[-1][2]
        pct = 100.0 * (last - first) / first if first else 0.0
        lines.append(f"| | **O2 overall** | {first} | {last} | {last - first:+d} ({pct:+.1f}%) |")
    return "\n".join(lines)


def phi_table(groups: list[tuple[str, list[zir.Function]]]) -> str:
    lines = ["| functions | blocks | pruned SSA phis (`ssa`) | minimal SSA phis (`ssa{pruned=false}`) "
             "| pruned/minimal |", "| --- | ---: | ---: | ---: | ---: |"]
    for title, fs in groups:
        pruned = minimal = blocks = 0
        for f in fs:
            g = copy.deepcopy(f)
            passes.PassManager.parse("peephole").run(g)
            blocks += len(g.blocks)
            a, b = copy.deepcopy(g), copy.deepcopy(g)
            pruned += passes.PassManager.parse("ssa").run(a).stat("ssa", "phis placed")
            report = passes.PassManager.parse("ssa{pruned=false}").run(b)
            minimal += report.stat("ssa{pruned=false}", "phis placed")
        ratio = f"{pruned / minimal:.2f}" if minimal else "-"
        lines.append(f"| {title} | {blocks} | {pruned} | {minimal} | {ratio} |")
    return "\n".join(lines)


def generated_source(blocks: int, seed: int = 1) -> str:
    """A Python function of `blocks` random pieces (loops, branches, try/except, arithmetic)."""
    rnd = random.Random(seed)
    lines = ["def gen(n, m):", "    a = 0", "    b = 1", "    c = n", "    s = 0"]
    for k in range(blocks):
        kind = rnd.randrange(4)
        if kind == 0:
            lines += [f"    for i{k} in range({rnd.randrange(1, 4)}):",
                      f"        a = a + i{k} * {rnd.randrange(1, 9)}",
                      f"        if a > {rnd.randrange(50)}:",
                      "            b = b - 1"]
        elif kind == 1:
            lines += [f"    if c < {rnd.randrange(10)}:", f"        s = s + a * {k}", "    else:",
                      f"        s = s - b + {k}"]
        elif kind == 2:
            lines += ["    try:", f"        a = a // (b - {rnd.randrange(3)})",
                      "    except ZeroDivisionError:", f"        a = {k}"]
        else:
            lines += [f"    x{k} = a + b * c - {k}", f"    c = (x{k} % 7) + 1", "    while c > 3:",
                      "        c = c - 2"]
    lines.append("    return a + b + c + s")
    return "\n".join(lines)


def generated_function(target: int) -> zir.Function:
    """A lifted generated function of about `target` IR instructions."""
    blocks = max(1, target // 15)
    for _ in range(8):
        ns: dict[str, Any] = {}
        exec(compile(generated_source(blocks), "<passstats>", "exec"), ns)
        f = zir.lift(from_python(ns["gen"]))
        if abs(f.num_instrs() - target) <= target // 20:
            return f
        blocks = max(1, round(blocks * target / f.num_instrs()))
    return f


def throughput_table(sizes: list[int], repeats: int) -> str:
    lines = [f"| IR instructions | O2 CPU time (best of {repeats}) | instructions / second "
             "| time per instruction vs smallest |", "| ---: | ---: | ---: | ---: |"]
    base = None
    pipeline = passes.level_pipeline(2)
    # warm up imports and caches, so the first size is not charged for them
    passes.PassManager.parse(pipeline).run(generated_function(200))
    for size in sizes:
        f = generated_function(size)
        n = f.num_instrs()
        best = float("inf")
        for _ in range(repeats):
            g = copy.deepcopy(f)
            # CPU time of this process: steadier than wall time on a shared machine
            start = time.process_time()
            passes.PassManager.parse(pipeline).run(g)
            best = min(best, time.process_time() - start)
        per = best / n
        base = per if base is None else base
        lines.append(f"| {n} | {best:.3f} s | {n / best:,.0f} | {per / base:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small throughput sizes, one repeat")
    args = ap.parse_args(argv)
    kernels, k_refused = lift_all(kernel_functions())
    suite, s_refused = lift_all(suite_functions())
    out = ["### Static instruction counts per pass", "",
           counts_table("Benchmark kernels", kernels, k_refused), "",
           counts_table("Construct suite (tests/test_constructs.py)", suite, s_refused), "",
           "### Phis: pruned vs minimal SSA", "",
           phi_table([("kernels", kernels), ("construct suite", suite)]), "",
           "### Compile throughput of O2", "",
           throughput_table([300, 1000] if args.quick else [1000, 3000, 10000], 1 if args.quick else 5), ""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
