"""`python tools/bench_generators.py`: VM generators against CPython, per pattern.

Each pattern is a Python function that makes and drives generators `n` items long; it runs on the
host (CPython itself) and in the VM, register mode and stack mode, both O2 with pools on. The times
are medians over `--repeat` runs with the configurations interleaved (one run of each per round),
and the table gives each VM time as a ratio to the host's (2.0 = twice CPython's time):

* **for loop**: `for x in gen(n): t += x` in VM code, the generator a plain `for ... yield`;
* **yield from**: the same loop over a generator that is `yield from` of two inner ones (one level
  of delegation per item);
* **yield from x3**: three levels of `yield from` per item;
* **host sum**: `sum(gen(n))`: the host's `sum` drives the VM generator (`__next__` from C);
* **send**: a running-total generator driven by `g.send(i)` from VM code;
* **genexpr**: `sum(x * x for x in range(n))` (a VM generator expression, driven by `sum`).

`--quick` makes everything small (checks the tool); `--json PATH` also writes the figures. Nothing
here asserts a speed: docs/performance.md records what it printed, with the command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/bench_generators.py`: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vm  # noqa: E402
from tools.bench_async import median_times  # noqa: E402

CONFIGS = (("register", "register O2"), ("stack", "stack O2"))


def inner(n: int) -> Iterator[int]:
    for i in range(n):  # noqa: UP028 -- the pattern measured: one `yield` per item
        yield i


def delegate(n: int) -> Iterator[int]:
    yield from inner(n // 2)
    yield from inner(n - n // 2)


def delegate2(n: int) -> Iterator[int]:
    yield from delegate(n)


def delegate3(n: int) -> Iterator[int]:
    yield from delegate2(n)


def for_loop(n: int) -> int:
    t = 0
    for x in inner(n):
        t += x
    return t


def yield_from(n: int) -> int:
    t = 0
    for x in delegate(n):
        t += x
    return t


def yield_from3(n: int) -> int:
    t = 0
    for x in delegate3(n):
        t += x
    return t


def host_sum(n: int) -> int:
    return sum(inner(n))


def running_total() -> Iterator[int]:
    total = 0
    while True:
        total += yield total


def send(n: int) -> int:
    g = running_total()
    next(g)
    t = 0
    for i in range(n):
        t = g.send(i)
    return t


def genexpr(n: int) -> int:
    return sum(x * x for x in range(n))


PATTERNS: dict[str, Callable[[int], int]] = {
    "for loop": for_loop, "yield from": yield_from, "yield from x3": yield_from3,
    "host sum": host_sum, "send": send, "genexpr": genexpr,
}


def bench(n: int, repeat: int) -> dict[str, dict[str, float]]:
    """Per pattern: the host's median time per item (us) and each VM configuration's ratio to it."""
    machines = {label: vm.VM(mode=mode, opt_level=2) for mode, label in CONFIGS}
    out: dict[str, dict[str, float]] = {}
    for name, fn in PATTERNS.items():
        expected = fn(n)
        runners: dict[str, Callable[[], Any]] = {"host": lambda fn=fn: fn(n)}
        for label, m in machines.items():
            if m.run(fn, n) != expected:
                raise AssertionError(f"{name} on {label} computed a different result")
            runners[label] = (lambda m=m, fn=fn: m.run(fn, n))
        med = median_times(runners, repeat)
        row = {"host_us_per_item": med["host"] / n * 1e6}
        for label in machines:
            row[f"{label} x host"] = med[label] / med["host"]
        out[name] = row
    return out


def print_report(n: int, repeat: int, rows: dict[str, dict[str, float]]) -> None:
    labels = [label for _, label in CONFIGS]
    print(f"generators: {n} items per run, median of {repeat}; VM time as a multiple of CPython's")
    print(f"  {'pattern':14} {'host us/item':>12}  " + "  ".join(f"{label:>12}" for label in labels))
    for name, row in rows.items():
        print(f"  {name:14} {row['host_us_per_item']:12.3f}  " +
              "  ".join(f"{row[f'{label} x host']:11.2f}x" for label in labels))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_generators", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (checks the tool)")
    parser.add_argument("--n", type=int, default=100_000, help="items per run")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    n = 200 if args.quick else args.n
    rows = bench(n, repeat)
    print_report(n, repeat, rows)
    if args.json:
        Path(args.json).write_text(json.dumps({"n": n, "repeat": repeat, "patterns": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
