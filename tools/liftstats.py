"""Throughput of the way in: CPython 3.11 code objects to ZBC (`zir.frontend.from_python`) and ZBC
to IR (`zir.lift`), printed as Markdown for docs/performance.md ("Front end and lifting").

    python tools/liftstats.py            # the functions of a few standard-library modules
    python tools/liftstats.py --quick    # fewer modules, one repeat (checks the tool)

The corpus is every function and method defined by the listed standard-library modules that the
front end accepts (nested code objects included, as the front end translates them too); refused
ones are counted and left out. Throughput is CPython instructions (`dis.get_instructions`, CACHE
entries not counted) per second of process CPU time, best of the repeats; the lift column counts
ZBC instructions. The anchor is the `bytecode` library (a dev dependency), whose
`Bytecode.from_code` lifts CPython code to its abstract instructions with labels: it is run over
the same code objects (nested ones included) in the same process, so the ratio is fair on a noisy
machine; without the library that row is left out with a note.
"""

from __future__ import annotations

import argparse
import dis
import importlib
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/liftstats.py`: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zir  # noqa: E402
from tools.passstats import functions_of  # noqa: E402
from zir.frontend import from_python  # noqa: E402

MODULES = ["textwrap", "difflib", "argparse", "json.decoder", "json.encoder", "csv", "shlex",
           "fractions", "statistics", "heapq", "bisect", "string", "ast", "tokenize", "pprint"]
QUICK_MODULES = ["textwrap", "heapq", "bisect"]


def corpus(modules: list[str]) -> tuple[list[Callable[..., Any]], int]:
    """The functions of `modules` the front end accepts, and how many it refused."""
    accepted, refused = [], 0
    for name in modules:
        for fn in functions_of(importlib.import_module(name)):
            try:
                from_python(fn)
            except zir.ZirError:
                refused += 1
            else:
                accepted.append(fn)
    return accepted, refused


def _cpython_instructions(code: types.CodeType) -> int:
    n = sum(1 for _ in dis.get_instructions(code))
    return n + sum(_cpython_instructions(c) for c in code.co_consts if isinstance(c, types.CodeType))


def _zbc_instructions(code: Any) -> int:
    from zir.bytecode import Code

    n = len(code.instrs)
    return n + sum(_zbc_instructions(c) for c in code.consts if isinstance(c, Code))


def _best(repeats: int, work: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def _code_objects(code: types.CodeType) -> list[types.CodeType]:
    out = [code]
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out.extend(_code_objects(c))
    return out


def measure(fns: list[Callable[..., Any]], repeats: int) -> dict[str, float]:
    """CPU seconds and instruction counts for translating and lifting every function of `fns`
    (and, when the `bytecode` library is installed, for its `Bytecode.from_code` on the same code)."""
    codes = [from_python(fn) for fn in fns]
    front = _best(repeats, lambda: [from_python(fn) for fn in fns])
    lift = _best(repeats, lambda: [zir.lift(c) for c in codes])
    m = {"functions": len(fns), "cpython_instrs": sum(_cpython_instructions(fn.__code__) for fn in fns),
         "zbc_instrs": sum(_zbc_instructions(c) for c in codes), "front_s": front, "lift_s": lift}
    try:
        import bytecode
    except ImportError:
        return m
    raw = [c for fn in fns for c in _code_objects(fn.__code__)]
    m["bytecode_s"] = _best(repeats, lambda: [bytecode.Bytecode.from_code(c) for c in raw])
    return m


def table(m: dict[str, float], refused: int) -> str:
    both = m["front_s"] + m["lift_s"]
    rows = [
        "| step | instructions | CPU time (best) | instructions / second |",
        "| --- | ---: | ---: | ---: |",
        f"| front end (CPython -> ZBC) | {m['cpython_instrs']:,.0f} CPython | {m['front_s']:.3f} s | "
        f"{m['cpython_instrs'] / m['front_s']:,.0f} |",
        f"| lift (ZBC -> IR) | {m['zbc_instrs']:,.0f} ZBC | {m['lift_s']:.3f} s | "
        f"{m['zbc_instrs'] / m['lift_s']:,.0f} |",
        f"| both (CPython -> IR) | {m['cpython_instrs']:,.0f} CPython | {both:.3f} s | "
        f"{m['cpython_instrs'] / both:,.0f} |",
    ]
    if "bytecode_s" in m:
        rate = m["cpython_instrs"] / m["bytecode_s"]
        rows.append(f"| `bytecode` library `Bytecode.from_code` (same code) | "
                    f"{m['cpython_instrs']:,.0f} CPython | {m['bytecode_s']:.3f} s | {rate:,.0f} |")
    else:
        rows.append("| `bytecode` library | (not installed: `pip install bytecode` to compare) | | |")
    head = f"{m['functions']:.0f} functions ({refused} refused by the front end and left out)\n\n"
    return head + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="liftstats", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three modules, one repeat")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (best is kept)")
    args = parser.parse_args(argv)
    fns, refused = corpus(QUICK_MODULES if args.quick else MODULES)
    print(table(measure(fns, 1 if args.quick else args.repeat), refused))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
