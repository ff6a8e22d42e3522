"""docs/language-frontend.md: minilang (tests/minilang.py) compiles through zir.bytecode.CodeBuilder
and its programs mean in every VM mode and level what their Python transliterations mean."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import passes
import vm
import zir

sys.path.insert(0, str(Path(__file__).parent))

import minilang  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = [(m, o) for m in ("stack", "register") for o in (0, 1, 2)]


def test_the_page_shows_this_compiler() -> None:
    page = (ROOT / "docs" / "language-frontend.md").read_text(encoding="utf-8")
    shown = re.search(r"```python file=minilang\.py\n(.*?)```", page, re.S)
    assert shown is not None, "docs/language-frontend.md must show minilang.py in a `python file=` block"
    assert shown[1] == (ROOT / "tests" / "minilang.py").read_text(encoding="utf-8")


# Each program with the Python function it transliterates.

GCD = """
fn gcd(a, b)
  while b != 0
    t = a % b
    a = b
    b = t
  end
  return a
end
"""


def gcd(a: int, b: int) -> int:
    while b != 0:
        t = a % b
        a = b
        b = t
    return a


CLASSIFY = """
fn classify(n)        # every construct: if/else nesting, while, print, unary minus, precedence
  if n < 0
    return -1
  else
    if n == 0
      print 0
    end
  end
  s = 0
  i = 1
  while i <= n
    if i % 3 == 0
      s = s + i * (2 - -1)
    else
      s = s - 1
    end
    i = i + 1
  end
  print s
  return s / 2 + (n >= 7) * 100
end
"""


def classify(n: int) -> int:
    if n < 0:
        return -1
    elif n == 0:
        print(0)
    s = 0
    i = 1
    while i <= n:
        if i % 3 == 0:
            s = s + i * (2 - -1)
        else:
            s = s - 1
        i = i + 1
    print(s)
    return s // 2 + (n >= 7) * 100


FAILS = """
fn fails(n, d)
  if n > 5
    y = n
  end
  return y / d
end
"""


def fails(n: int, d: int) -> int:
    if n > 5:
        y = n
    return y // d  # noqa: F821 - UnboundLocalError when n <= 5, as in minilang


NOTHING = """
fn nothing(x)
  x = x * 2
end
"""


def nothing(x: int) -> None:
    x = x * 2


def observe(fn: Callable[..., Any], *args: Any) -> tuple[Any, str]:
    """(result or (exception type, message), stdout) of `fn(*args)`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            result: Any = fn(*args)
        except Exception as e:
            result = (type(e).__name__, str(e))
    return result, out.getvalue()


@pytest.mark.parametrize("source, python, calls", [
    (GCD, gcd, [(1071, 462), (0, 5), (17, 0), (2**80, 6**30)]),
    (CLASSIFY, classify, [(-4,), (0,), (1,), (10,), (1000,)]),
    (FAILS, fails, [(9, 2), (9, 0), (3, 1)]),
    (NOTHING, nothing, [(4,)]),
])
def test_programs_mean_what_python_means(source: str, python: Callable[..., Any],
                                         calls: list[tuple[int, ...]]) -> None:
    code = minilang.compile_function(source, f"{python.__name__}.ml")
    for mode, level in CONFIGS:
        machine = vm.VM(mode=mode, opt_level=level)
        for args in calls:
            assert observe(machine.run, code, *args) == observe(python, *args), (mode, level, args)


def test_code_is_verified_and_optimizes() -> None:
    code = minilang.compile_function(CLASSIFY, "classify.ml")
    zir.bytecode.verify(code)
    assert code.filename == "classify.ml" and code.firstlineno == 2
    assert {i.line for i in code.instrs} >= {3, 4, 13, 20}  # source lines follow the statements
    f = zir.lift(code)
    before = sum(len(b.instrs) for b in f.blocks)
    passes.PassManager.parse("O2,regalloc{k=4,temps=2}", verify_each=True).run(f)
    assert sum(len(b.instrs) for b in f.blocks) < before
    assert "regcode @classify(n=r" in str(zir.lower(f))


def test_fewer_instructions_in_the_register_vm() -> None:
    code = minilang.compile_function(GCD, "gcd.ml")
    counts = {}
    for mode, level in (("stack", 0), ("register", 2)):
        machine = vm.VM(mode=mode, opt_level=level, profile="basic")
        assert machine.run(code, 832040, 514229) == 1  # Fibonacci neighbours: the longest runs
        counts[mode] = machine.stats()["instructions"]
    assert counts["register"] < counts["stack"] / 2


@pytest.mark.parametrize("source, message", [
    ("", "bad.ml:1:1: expected `fn NAME(PARAMS)`"),
    ("fn f(\n", "bad.ml:1:1: expected `fn NAME(PARAMS)`"),
    ("fn f()\n x = (1 + \nend", "bad.ml:2:1: expected a value, found 'end of line'"),
    ("fn f()\n x = (1\nend", "bad.ml:2:1: missing `)`"),
    ("fn f()\n x = 1 $ 2\nend", "bad.ml:2:1: cannot read expression '1 $ 2'"),
    ("fn f()\n x = 1 2\nend", "bad.ml:2:1: unexpected '2' in '1 2'"),
    ("fn f()\n while 1\n else\n end\nend", "bad.ml:2:1: `else` belongs to an `if`"),
    ("fn f()\n x = 1", "bad.ml:2:1: missing `end`"),
    ("fn f()\n x == 1\nend", "bad.ml:2:1: cannot read statement 'x == 1'"),
    ("fn f()\nend\nx = 1", "bad.ml:3:1: expected `end` to close the function, then nothing"),
])
def test_syntax_errors_name_the_line(source: str, message: str) -> None:
    with pytest.raises(zir.ParseError) as info:
        minilang.compile_function(source, "bad.ml")
    assert str(info.value).startswith(message)
