"""`python tools/stackbench.py`: the stack VM at O0, O1 and O2 on the benchmark kernels.

For each kernel of `tools/kernels` (at `SIZES["bench"]`; `--quick`: the test sizes, one repeat), in
this one process: the ZBC instructions each optimization level executes (the stack VM's own count,
`machine.stats()["instructions"]`) and the median CPU time (`time.process_time`, which the other
programs on a shared machine disturb less than wall time) of `--repeat` runs. Runs are interleaved
(one run of every configuration per round) so that drift affects all alike; every machine is warmed
up (its code compiled) before timing.

`--before REV` adds the O1 and O2 configurations with `zir/stackifier.py` as it was at git revision
REV (the rest of the tree as it is now), so a change to stackify is measured before/after in one
process. Prints a markdown table; `--json PATH` writes the figures. Nothing here asserts a speed:
docs/performance.md records what it printed, with the command.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/stackbench.py`: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vm  # noqa: E402
from tools.kernels import KERNELS  # noqa: E402
from zir.bytecode.code import Code  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (0, 1, 2)


def old_stackify(rev: str) -> Callable[..., Code]:
    """`stackify` from `zir/stackifier.py` at git revision `rev`, loaded as a separate module."""
    source = subprocess.run(["git", "show", f"{rev}:zir/stackifier.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as tmp:
        tmp.write(source)
    spec = importlib.util.spec_from_file_location("stackifier_before", tmp.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    Path(tmp.name).unlink()
    fn: Callable[..., Code] = module.stackify
    return fn


def make_machine(level: int, stackify: Callable[..., Code] | None) -> vm.VM:
    """A stack-mode machine at `level`; with `stackify`, its optimizer uses that one instead."""
    machine = vm.VM(mode="stack", opt_level=level)
    if stackify is not None:
        import passes
        import zir
        from zir.bytecode.verify import verify

        def optimize(self: Any, code: Code) -> Code:
            f = zir.lift(code)
            passes.PassManager.parse(f"O{self.opt_level}").run(f)
            out = stackify(f)
            verify(out)
            return out

        compiler = machine._compiler  # noqa: SLF001 -- a measuring tool swaps one stage
        compiler._optimize = types.MethodType(optimize, compiler)  # type: ignore[method-assign]
    return machine


def measure(name: str, configs: dict[str, vm.VM], size: int, warm: int, repeat: int) -> dict[str, Any]:
    """Instruction counts (one run) and median CPU times (interleaved runs) of one kernel."""
    kernel = KERNELS[name]
    counts: dict[str, int] = {}
    results = set()
    for label, machine in configs.items():
        machine.run(kernel.run, warm)
        before = machine.stats()["instructions"]
        results.add(repr(machine.run(kernel.run, size)))
        counts[label] = machine.stats()["instructions"] - before
    if len(results) != 1:
        raise SystemExit(f"{name}: the configurations disagree: {sorted(results)}")
    times: dict[str, list[float]] = {label: [] for label in configs}
    for _ in range(repeat):
        for label, machine in configs.items():
            t0 = time.process_time()
            machine.run(kernel.run, size)
            times[label].append(time.process_time() - t0)
    return {"size": size, "instructions": counts,
            "time_s": {label: statistics.median(ts) for label, ts in times.items()}}


def table(data: dict[str, Any], labels: list[str]) -> str:
    """The figures as markdown: counts and times, each with its ratio to O0."""
    head = ["kernel", *[f"{lb} instructions" for lb in labels], *[f"{lb} time" for lb in labels]]
    rows = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for name, k in data["kernels"].items():
        c0, t0 = k["instructions"]["O0"], k["time_s"]["O0"]
        cells = [name]
        for lb in labels:
            c = k["instructions"][lb]
            cells.append(f"{c:,}" if lb == "O0" else f"{c:,} ({c / c0:.3f})")
        for lb in labels:
            t = k["time_s"][lb]
            cells.append(f"{t:.2f} s" if lb == "O0" else f"{t:.2f} s ({t / t0:.3f})")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="stackbench", description=__doc__.split("\n\n")[0])
    ap.add_argument("kernels", nargs="*", help=f"kernels to run (default: all of {', '.join(KERNELS)})")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (median)")
    ap.add_argument("--quick", action="store_true", help="test sizes, one repeat (checks the tool)")
    ap.add_argument("--before", metavar="REV", help="also O1/O2 with zir/stackifier.py from git revision REV")
    ap.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = ap.parse_args(argv)
    names = args.kernels or list(KERNELS)
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        ap.error(f"unknown kernel(s) {', '.join(unknown)}; known: {', '.join(KERNELS)}")
    before = old_stackify(args.before) if args.before else None
    labels = ["O0", "O1", "O2"] + (["O1 before", "O2 before"] if before else [])
    data: dict[str, Any] = {"python": sys.version.split()[0], "before": args.before, "kernels": {}}
    for name in names:
        kernel = KERNELS[name]
        configs = {f"O{level}": make_machine(level, None) for level in LEVELS}
        if before is not None:
            configs.update({f"O{level} before": make_machine(level, before) for level in (1, 2)})
        size = kernel.SIZES["test" if args.quick else "bench"]
        repeat = 1 if args.quick else args.repeat
        data["kernels"][name] = measure(name, configs, size, kernel.SIZES["test"], repeat)
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(data, labels))
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
