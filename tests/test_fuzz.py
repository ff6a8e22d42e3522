"""Differential fuzzing: generated programs behave on the VM exactly as in CPython; the driver works."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from tools import difftest, fuzz  # noqa: E402
from tools.fuzzgen import LOCALS, Program, programs  # noqa: E402


def cpython_only(fn: Any, args: Any = (), kwargs: Any = None, **options: Any) -> difftest.Outcome:
    """A stand-in VM that is CPython itself."""
    return difftest.run_cpython(fn, *args, **(kwargs or {}))


def zero_division_becomes_value_error(fn: Any, args: Any = (), kwargs: Any = None,
                                      **options: Any) -> difftest.Outcome:
    """A stand-in VM with a planted bug: it raises ValueError where CPython raises ZeroDivisionError."""
    outcome = cpython_only(fn, args, kwargs)
    if outcome.exc is not None and outcome.exc.type == "ZeroDivisionError":
        return attrs.evolve(outcome, exc=difftest.ExcInfo("ValueError", outcome.exc.message))
    return outcome


def test_generated_programs_are_varied_and_terminate() -> None:
    outcomes: Counter[str] = Counter()
    constructs: Counter[str] = Counter()

    @seed(20240601)
    @settings(max_examples=250, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(program: Program) -> None:
        fn = program.compile()
        # generated programs terminate: a generous limit turns a runaway loop into a failure
        with fuzz.time_limit(10.0):
            outcome = difftest.run_cpython(fn, *program.args)
        outcomes[outcome.exc.type if outcome.exc else "ok"] += 1
        for word in ("while", "for", "try:", "except", "finally:", "break", "continue", "print(",
                     "raise", "+=", "len(", "abs(", "min(", "max(", "str(", "int(", "yield"):
            constructs[word] += word in program.source

    run()
    for kind in ("ok", "TypeError", "IndexError", "KeyError", "ZeroDivisionError", "ValueError"):
        assert outcomes[kind] >= 2, outcomes
    assert outcomes["ok"] >= 60, outcomes  # most programs get somewhere before raising
    assert all(count >= 5 for count in constructs.values()), constructs


def test_program_source_and_reproducer() -> None:
    program = Program("def f(a, b):\n    return a * 2, b\n", (3, "x"))
    assert program.compile()(1, 2) == (2, 2)
    assert program.reproducer().endswith("f(3, 'x')\n")
    assert set(LOCALS) >= {"i0", "f0", "s0", "l0", "d0", "t0"}


def test_time_limit_cannot_be_caught_by_the_program() -> None:
    program = Program("def f(a, b):\n    while True:\n        try:\n            a += 1\n"
                      "        except Exception:\n            pass\n", (0, ""))
    fn = program.compile()
    with pytest.raises(fuzz.Timeout), fuzz.time_limit(0.2):
        fn(*program.args)


def test_driver_finds_and_shrinks_a_planted_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(difftest, "run_vm", zero_division_becomes_value_error)
    report = fuzz.fuzz(60, seed=4, matrix=[("stack", 0)], max_bugs=3)
    assert len(report.mismatches) == 1  # one bug, however many programs show it
    found = report.mismatches[0]
    assert found.signature == "stack O0: exc: CPython raises ZeroDivisionError, VM raises ValueError"
    body = found.program.source.splitlines()[1 + len(LOCALS):-1]
    assert 1 <= len(body) <= 2, found.program.source  # shrunk to the statement that divides
    with pytest.raises(fuzz.Mismatch):
        fuzz.check_program(found.program, [("stack", 0)])
    monkeypatch.setattr(difftest, "run_vm", cpython_only)
    fuzz.check_program(found.program, [("stack", 0)])


def test_no_configuration_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    program = Program("def f(a, b):\n    return a\n", (1, ""))
    with pytest.raises(AssertionError, match="no configuration"):
        fuzz.check_program(program, [])
    monkeypatch.setattr(difftest, "matrix", lambda: [])
    assert fuzz.main(["5"]) == 2


def test_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(difftest, "run_vm", cpython_only)
    assert fuzz.main(["25", "--seed", "7", "--matrix", "stack:0"]) == 0
    out = capsys.readouterr().out
    assert "fuzz: seed 7; 25 programs run on [stack O0]" in out and "no mismatches" in out
    # The report of a mismatch (the search itself is tested above, with the same planted bug).
    program = Program("def f(a, b):\n    return a // 0\n", (1, ""))
    monkeypatch.setattr(difftest, "run_vm", zero_division_becomes_value_error)
    with pytest.raises(fuzz.Mismatch) as info:
        fuzz.check_program(program, [("stack", 0)])
    canned = fuzz.FuzzReport(programs=1, mismatches=[info.value], matrix=[("stack", 0)])
    monkeypatch.setattr(fuzz, "fuzz", lambda *args, **kwargs: canned)
    assert fuzz.main(["1", "--matrix", "stack:0"]) == 1
    out = capsys.readouterr().out
    assert "=== mismatch 1: stack O0: exc: CPython raises ZeroDivisionError, VM raises ValueError" in out
    assert "--- shrunk reproducer ---\ndef f(a, b):\n    return a // 0\n\nf(1, '')" in out


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_generated_programs_run_on_the_vm_as_in_cpython(program: Program) -> None:
    fuzz.check_program(program)
