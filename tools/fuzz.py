"""Differential fuzzing: random Python functions run in CPython and on every VM configuration.

`python tools/fuzz.py N [--seed S]` draws N programs from `tools.fuzzgen.programs()`, runs each in
CPython and on the VM matrix (`tools.difftest.matrix()`: every mode and opt level the VM supports
today), and reports each distinct mismatch with a reproducer that hypothesis has shrunk.

How several distinct mismatches are found: a round runs hypothesis until a program fails with a
mismatch *signature* (configuration, what differed, exception types, message with the numbers
blanked) not seen before; hypothesis then shrinks that program, failures with other signatures are
ignored while it does, and the shrunk program is reported. The next round treats every reported
signature as a pass and searches on, until a round ends without a new one or `--max-bugs` are found.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import signal
import sys
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
from hypothesis import seed as hypothesis_seed

if __package__ in (None, ""):  # run as `python tools/fuzz.py`: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools import difftest  # noqa: E402
from tools.fuzzgen import Program, programs  # noqa: E402

#: VM step limit per run: generated programs execute a few thousand instructions at most.
MAX_STEPS = 2_000_000
#: Wall-clock limit per run, in seconds (a backstop; only enforced on the main thread).
TIME_LIMIT = 10.0


class Timeout(BaseException):
    """A run exceeded `TIME_LIMIT`. A BaseException, so generated `except Exception` cannot catch it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise `Timeout` in the running code after `seconds` (a no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise Timeout(f"run took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Mismatch(AssertionError):
    """The VM behaved differently from CPython on a program; `signature` classifies the difference."""

    def __init__(self, program: Program, report: str, signature: str) -> None:
        super().__init__(f"{report}\n--- reproducer ---\n{program.reproducer()}")
        self.program = program
        self.report = report
        self.signature = signature


def signature(config: tuple[str, int], expected: difftest.Outcome, actual: difftest.Outcome) -> str:
    """A short class for a mismatch, so one bug found by many programs is reported once."""

    def shape(o: difftest.Outcome) -> str:
        return f"returns {o.value_type}" if o.exc is None else f"raises {o.exc.type}"

    what = [field for field in ("value", "value_type", "exc", "chain", "stdout", "args_after")
            if getattr(expected, field) != getattr(actual, field)]
    return f"{config[0]} O{config[1]}: {'/'.join(what)}: CPython {shape(expected)}, VM {shape(actual)}"


def check_program(program: Program, matrix: Iterable[tuple[str, int]] | None = None,
                  max_steps: int = MAX_STEPS) -> difftest.Outcome:
    """Run `program` in CPython and on each VM configuration; raise `Mismatch` on the first difference.

    A program CPython itself cannot finish within `TIME_LIMIT` is rejected (hypothesis `reject()`).
    Returns the CPython outcome.
    """
    pairs = list(difftest.matrix() if matrix is None else matrix)
    if not pairs:
        raise AssertionError(f"fuzz: the VM supports no configuration to run on: {difftest.refused()}")
    fn = program.compile()
    with time_limit(TIME_LIMIT):
        expected = difftest.run_cpython(fn, *program.args)
    if expected.exc is not None and expected.exc.type.endswith(".Timeout"):
        reject()
    for config in pairs:
        with time_limit(TIME_LIMIT):
            actual = difftest.run_vm(fn, program.args, {}, mode=config[0], opt_level=config[1],
                                     max_steps=max_steps)
        if actual != expected:
            lines = "\n".join(difftest.describe(expected, actual))
            text = f"[{config[0]} O{config[1]}]\n{lines}"
            raise Mismatch(program, text, signature(config, expected, actual))
    return expected


@attrs.define
class FuzzReport:
    """What a fuzzing session found."""

    programs: int = 0  #: programs run (over all rounds)
    outcomes: Counter[str] = attrs.field(factory=Counter)  #: CPython outcome kinds ("ok" or exception type)
    mismatches: list[Mismatch] = attrs.field(factory=list)  #: one shrunk reproducer per signature
    matrix: list[tuple[str, int]] = attrs.field(factory=list)


def _round(n: int, seed: int | None, report: FuzzReport, known: set[str],
           max_statements: int) -> Mismatch | None:
    """One search: the shrunk program of the first new mismatch signature, or None if none turned up."""
    target: list[str] = []  # the signature this round shrinks (set by its first new failure)
    latest: dict[str, Mismatch] = {}

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink], verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @given(programs(max_statements=max_statements))
    def one(program: Program) -> None:
        report.programs += 1
        try:
            outcome = check_program(program, report.matrix)
        except Mismatch as found:
            if found.signature in known or (target and found.signature != target[0]):
                return  # already reported, or not the bug this round is shrinking
            target[:1] = [found.signature]
            latest[found.signature] = found  # shrinking replays the smallest failure last
            raise
        report.outcomes[outcome.exc.type if outcome.exc else "ok"] += 1

    try:
        (one if seed is None else hypothesis_seed(seed)(one))()
    except Mismatch:
        if not target:
            raise
        return latest[target[0]]
    return None


def fuzz(n: int, seed: int | None = None, matrix: Sequence[tuple[str, int]] | None = None,
         max_bugs: int = 10, max_statements: int = 12) -> FuzzReport:
    """Run up to `n` programs per round (see the module docstring); return what was found."""
    report = FuzzReport(matrix=list(difftest.matrix() if matrix is None else matrix))
    known: set[str] = set()
    while len(report.mismatches) < max_bugs:
        found = _round(n, seed, report, known, max_statements)
        if found is None:
            break
        known.add(found.signature)
        report.mismatches.append(found)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """`python tools/fuzz.py N [--seed S]`: fuzz N programs per round; exit status 1 on a mismatch."""
    parser = argparse.ArgumentParser(prog="fuzz", description=main.__doc__)
    parser.add_argument("n", type=int, help="programs to generate per round")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random, printed)")
    parser.add_argument("--max-bugs", type=int, default=10, help="stop after this many distinct mismatches")
    parser.add_argument("--statements", type=int, default=12, help="statement budget per program")
    parser.add_argument("--matrix", default=None, help="configurations, e.g. 'stack:0,register:2'")
    ns = parser.parse_args(argv)
    seed = random.randrange(2**32) if ns.seed is None else ns.seed
    matrix = None
    if ns.matrix:
        parts = (part.strip().partition(":") for part in ns.matrix.split(","))
        matrix = [(mode, int(level or 0)) for mode, _, level in parts]
    if not (matrix or difftest.matrix()):
        for (mode, level), why in sorted(difftest.refused().items()):
            print(f"fuzz: {mode} O{level} not available: {why.splitlines()[0][:100]}", file=sys.stderr)
        print("fuzz: the VM supports no configuration; nothing to compare", file=sys.stderr)
        return 2
    report = fuzz(ns.n, seed=seed, matrix=matrix, max_bugs=ns.max_bugs, max_statements=ns.statements)
    configs = ", ".join(f"{m} O{level}" for m, level in report.matrix) or "none"
    print(f"fuzz: seed {seed}; {report.programs} programs run on [{configs}]")
    print("CPython outcomes: " + ", ".join(f"{k} {v}" for k, v in report.outcomes.most_common()))
    for (mode, level), why in sorted(difftest.refused().items()):
        print(f"  ({mode} O{level} not available: {why.splitlines()[0][:100]})")
    if not report.mismatches:
        print("no mismatches")
        return 0
    for i, found in enumerate(report.mismatches, 1):
        print(f"\n=== mismatch {i}: {found.signature}")
        print(found.report)
        print("--- shrunk reproducer ---")
        print(found.program.reproducer(), end="")
    return 1


if __name__ == "__main__":
    sys.exit(main())
