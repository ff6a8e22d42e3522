"""The differential harness itself: it must notice every observable difference and accept sameness.

Most tests replace the VM side with CPython running a deliberately different function, so they
exercise the harness without depending on the VM; the last ones run the real stack VM.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from tools import difftest  # noqa: E402
from tools.difftest import Outcome, compare, fresh, normalize, run_cpython  # noqa: E402


def fake_vm(replacement: Any) -> Any:
    """A stand-in for `difftest.run_vm` that runs `replacement` in CPython instead of the VM."""

    def run_vm(fn: Any, args: Any = (), kwargs: Any = None, **options: Any) -> Outcome:
        return run_cpython(replacement, *args, **(kwargs or {}))

    return run_vm


def check_detects(monkeypatch: pytest.MonkeyPatch, good: Any, bad: Any, *args: Any,
                  expect: str) -> str:
    monkeypatch.setattr(difftest, "run_vm", fake_vm(bad))
    with pytest.raises(AssertionError) as info:
        compare(good, *args, matrix=[("stack", 0)])
    text = str(info.value)
    assert "[stack O0]" in text
    assert expect in text, text
    return text


# -- normalize --------------------------------------------------------------------------------------


def test_normalize_floats_are_exact() -> None:
    nan = float("nan")
    assert normalize(nan) == normalize(float("nan"))
    assert normalize([nan, 1.5]) == normalize([nan, 1.5])
    assert normalize(-0.0) != normalize(0.0)
    assert normalize((0.0, -0.0)) != normalize((0.0, 0.0))
    assert normalize(1) != normalize(1.0) != normalize(True)
    assert normalize(0.1 + 0.2) != normalize(0.3)
    assert normalize(7**20000) != normalize(7**20000 + 1)  # too long for repr(); still compared


def test_normalize_containers() -> None:
    assert normalize([1, 2]) != normalize((1, 2))
    assert normalize((1,)) == "(1,)"
    assert normalize({"a": 1, "b": 2}) != normalize({"b": 2, "a": 1})  # dict order is observable
    assert normalize({3, 1, 2}) == normalize({1, 2, 3})  # set order is not
    assert normalize({1, 2}) != normalize(frozenset({1, 2}))
    assert normalize({1: [1.0]}) != normalize({1: [1]})
    loop: list[Any] = [1]
    loop.append(loop)
    assert normalize(loop) == "[1, <cycle>]"


class Point:
    def __init__(self, x: Any, y: Any) -> None:
        self.x = x
        self.y = y


class Slotted:
    __slots__ = ("a",)

    def __init__(self, a: Any) -> None:
        self.a = a


class Meters(float):
    pass


def test_normalize_objects() -> None:
    # Two distinct objects with the same state normalize equally (their default reprs differ by address).
    assert normalize(Point(1, 2)) == normalize(Point(1, 2))
    assert normalize(Point(1, 2)) != normalize(Point(1, 3))
    assert normalize(Slotted([1])) == normalize(Slotted([1]))
    assert normalize(Slotted(1)) != normalize(Slotted(2))
    assert normalize(Meters(2.0)) != normalize(2.0)
    assert normalize(ValueError("x", 1)) == normalize(ValueError("x", 1))
    assert normalize(ValueError("x")) != normalize(TypeError("x"))
    assert " at 0x?" in normalize(object())
    assert normalize(object()) == normalize(object())


# -- outcomes -------------------------------------------------------------------------------------------


def raises_value() -> None:
    raise ValueError("bad value")


def test_outcome_fields() -> None:
    ok = run_cpython(lambda a, b: a + b, 2, 3)
    assert (ok.value, ok.value_type, ok.exc_type, ok.exc_message, ok.stdout) == ("5", "int", None, None, "")
    err = run_cpython(raises_value)
    assert (err.value, err.exc_type, err.exc_message) == (None, "ValueError", "bad value")
    assert err.summary() == "raised ValueError: bad value"
    printed = run_cpython(lambda: print("hi", 1))
    assert printed.stdout == "hi 1\n" and printed.value == "None"


def test_equal_outcomes_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    def same(n: int) -> list[float]:
        print("n =", n)
        return [float("nan"), -0.0, n / 3]

    monkeypatch.setattr(difftest, "run_vm", fake_vm(same))
    expected = compare(same, 7, matrix=[("stack", 0), ("stack", 1)])
    assert expected.stdout == "n = 7\n"
    monkeypatch.setattr(difftest, "run_vm", fake_vm(raises_value))
    assert compare(raises_value, matrix=[("stack", 0)]).exc_type == "ValueError"


def test_detects_different_value(monkeypatch: pytest.MonkeyPatch) -> None:
    text = check_detects(monkeypatch, lambda n: n * 2, lambda n: n * 2 + 1, 20, expect="return value")
    assert "40" in text and "41" in text


def test_detects_different_type(monkeypatch: pytest.MonkeyPatch) -> None:
    check_detects(monkeypatch, lambda: 1, lambda: 1.0, expect="return type: CPython int, VM float")
    check_detects(monkeypatch, lambda: 1, lambda: True, expect="return type: CPython int, VM bool")
    check_detects(monkeypatch, lambda: [1], lambda: (1,), expect="return type")


def test_detects_float_subtleties(monkeypatch: pytest.MonkeyPatch) -> None:
    check_detects(monkeypatch, lambda: 0.0, lambda: -0.0, expect="return value")
    check_detects(monkeypatch, lambda: float("nan"), lambda: float("inf"), expect="return value")


def test_detects_exception_instead_of_value(monkeypatch: pytest.MonkeyPatch) -> None:
    text = check_detects(monkeypatch, lambda: 1, raises_value, expect="raised ValueError: bad value")
    assert "VM traceback" in text


def test_detects_exception_type(monkeypatch: pytest.MonkeyPatch) -> None:
    def raises_type() -> None:
        raise TypeError("bad value")

    def raises_subclass() -> None:
        raise UnicodeError("bad value")  # a ValueError subclass is still a different type

    check_detects(monkeypatch, raises_value, raises_type,
                  expect="exception type: CPython ValueError, VM TypeError")
    check_detects(monkeypatch, raises_value, raises_subclass, expect="VM UnicodeError")


def test_detects_exception_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def other_message() -> None:
        raise ValueError("bad  value")

    check_detects(monkeypatch, raises_value, other_message, expect="exception message")


def test_detects_exception_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    def with_context() -> None:
        try:
            {}["k"]
        except KeyError:
            raise ValueError("bad value")  # noqa: B904 - the implicit __context__ is the point

    def without_context() -> None:
        try:
            {}["k"]
        except KeyError:
            pass
        raise ValueError("bad value")

    check_detects(monkeypatch, with_context, without_context, expect="exception chain")


def test_detects_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    def talk(n: int) -> int:
        for i in range(n):
            print("line", i)
        return n

    def talk_differently(n: int) -> int:
        for i in range(n):
            print("line", i if i != 2 else "two")
        return n

    text = check_detects(monkeypatch, talk, talk_differently, 4, expect="stdout differs")
    assert "-line 2" in text and "+line two" in text


def test_detects_argument_mutation(monkeypatch: pytest.MonkeyPatch) -> None:
    def appends(xs: list[int]) -> None:
        xs.append(1)

    def leaves(xs: list[int]) -> None:
        return None

    check_detects(monkeypatch, appends, leaves, [0], expect="arguments after the call")


def test_arguments_are_fresh_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def make() -> list[int]:
        calls.append(1)
        return [3, 1, 2]

    def sort_and_count(xs: list[int]) -> int:
        xs.sort()
        xs.append(len(xs))
        return len(xs)

    monkeypatch.setattr(difftest, "run_vm", fake_vm(sort_and_count))
    shared = [3, 1, 2]
    # Without copies the second run would see the first run's mutation and return 5.
    assert compare(sort_and_count, shared, matrix=[("stack", 0), ("stack", 1)]).value == "4"
    assert shared == [3, 1, 2]
    assert compare(sort_and_count, fresh(make), matrix=[("stack", 0), ("stack", 1)]).value == "4"
    assert len(calls) == 3


def test_every_configuration_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def by_level(fn: Any, args: Any = (), kwargs: Any = None, **options: Any) -> Outcome:
        return run_cpython(lambda: options["opt_level"])

    monkeypatch.setattr(difftest, "run_vm", by_level)
    with pytest.raises(AssertionError) as info:
        compare(lambda: 1, matrix=[("stack", 0), ("stack", 1), ("stack", 2)])
    text = str(info.value)
    assert "[stack O1]" not in text and "[stack O0]" in text and "[stack O2]" in text


def test_empty_matrix_is_an_error() -> None:
    with pytest.raises(AssertionError, match="no configuration"):
        compare(lambda: 1, matrix=[])


def test_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "prog.py"
    src.write_text("def f(a, b=1):\n    print('sum', a + b)\n    return [a, b]\n")

    def same_vm(fn: Any, args: Any = (), kwargs: Any = None, **options: Any) -> Outcome:
        return run_cpython(fn, *args, **(kwargs or {}))

    monkeypatch.setattr(difftest, "run_vm", same_vm)
    assert difftest.main([f"{src}:f", "2", "b=2.5", "--mode", "stack", "-O", "0"]) == 0
    out = capsys.readouterr().out
    assert "CPython      -> [2, 2.5] (list)" in out and "[stack O0]  same" in out and "sum 4.5" in out
    monkeypatch.setattr(difftest, "run_vm", fake_vm(lambda a, b=1: [a, b, 0]))
    assert difftest.main([f"{src}:f", "'x'", "b='y'", "--mode", "stack"]) == 1
    assert "DIFFERS" in capsys.readouterr().out
    assert difftest.parse_argument("[1, 'a']") == [1, "a"] and difftest.parse_argument("word") == "word"


# -- the real VM ----------------------------------------------------------------------------------------


def test_matrix_has_the_stack_vm() -> None:
    pairs = difftest.matrix()
    assert ("stack", 0) in pairs, difftest.refused()
    assert pairs == difftest.MATRIX
    assert set(pairs).isdisjoint(difftest.refused())


def classify(xs: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for x in xs:
        key = "even" if x % 2 == 0 else "odd"
        counts[key] = counts.get(key, 0) + 1
    print("classified", len(xs))
    return counts


def test_real_vm_agrees_on_simple_functions() -> None:
    compare(classify, [1, 2, 3, 4, 6])
    compare(lambda a, b: a / b, 1, 0)
    compare(lambda a, b: a / b, 1.0, -3)


class _NoRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _returns_generator(n: int) -> Any:
    def gen() -> Any:
        yield n
    return gen()


def _prints_and_returns_closure() -> Any:
    def inner() -> int:
        return 1
    print(inner, [inner])
    return inner


def test_vm_functions_generators_and_addresses_compare_as_in_cpython() -> None:
    """A VM generator or function is CPython's type to the harness and prints as CPython's does;
    printed addresses are scrubbed from stdout (they differ between two CPython runs too)."""
    compare(_returns_generator, 3)
    compare(_prints_and_returns_closure)
    assert run_cpython(_prints_and_returns_closure).stdout.count(" at 0x?") == 2


def test_a_repr_that_raises_is_observed_not_a_crash() -> None:
    text = normalize([_NoRepr()])
    assert text.startswith("[<") and text.endswith("_NoRepr whose repr raises RuntimeError: no repr>]")
    compare(lambda: [_NoRepr()])
