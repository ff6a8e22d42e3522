"""Differential testing: run a function in CPython and in the zir VM, compare what each observably did.

What is compared (an `Outcome`: return value and its type, exception with its chain, stdout, the
arguments after the call) and how values are normalized is `vm.difftest`'s, described there; this
module adds the matrix of VM configurations and the command line.

The VM matrix (`matrix()`, also available as the lazily computed module attribute `MATRIX`) is found
by trying: every candidate (mode, opt_level) is constructed and asked to run a small probe function;
pairs the VM refuses are left out, so tests written against `MATRIX` grow as the VM grows.

Use from pytest: `compare(fn, 1, 2)` raises `AssertionError` with a readable diff.
From a shell: `python tools/difftest.py FILE.py:FUNC ARGS...` (see `main`). The core (`Outcome`,
`normalize`, `run_cpython`, `run_vm`, `describe`) lives in `vm.difftest`, which `zir run --check` uses too.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import functools
import importlib.util
import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The core (outcomes, normalization, running, describing differences) is library code, shared with
# `zir run --check`; this module adds the VM matrix, `compare` and a command line.
from vm.difftest import (  # noqa: F401  (re-exported for the test suites)
    ExcInfo,
    Fresh,
    Outcome,
    describe,
    fresh,
    materialize,
    normalize,
    run_cpython,
    run_vm,
)
from zir.errors import ZirError

#: Every (mode, opt_level) pair the harness knows how to ask the VM for, in report order.
CANDIDATES: tuple[tuple[str, int], ...] = (
    ("stack", 0), ("stack", 1), ("stack", 2), ("register", 0), ("register", 1), ("register", 2),
)

#: Environment variable that narrows the matrix, e.g. `ZIR_DIFFTEST_MATRIX="stack:0,register:2"`.
MATRIX_ENV = "ZIR_DIFFTEST_MATRIX"

# --------------------------------------------------------------------------------------------------
# The matrix


def _probe(n: int, items: list[int]) -> tuple[int, str]:
    """A small function every supported configuration must run: a loop, a call, a handler, a print."""
    total = 0
    for i in range(n):
        try:
            total += items[i] // (i - 1)
        except ZeroDivisionError:
            total -= 1
    print("probe", total)
    return total, str(len(items))


@functools.cache
def _discover() -> tuple[tuple[tuple[str, int], ...], tuple[tuple[tuple[str, int], str], ...]]:
    try:
        import vm

        vm_cls = vm.VM
    except (ImportError, AttributeError) as exc:
        return (), tuple((pair, f"vm.VM unavailable: {exc}") for pair in CANDIDATES)
    supported: list[tuple[str, int]] = []
    refused: list[tuple[tuple[str, int], str]] = []
    for mode, level in CANDIDATES:
        # Refusing a configuration (a zir error when built or when first run) is how the VM says it
        # does not exist yet. A configuration that runs but computes the wrong answer, or fails with
        # a Python error, stays in: the differential tests report it.
        try:
            machine = vm_cls(mode=mode, opt_level=level)
        except (ZirError, NotImplementedError, TypeError, ValueError) as exc:
            refused.append(((mode, level), f"{type(exc).__name__}: {exc}"))
            continue
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                machine.run(_probe, 4, [3, 5, 7, 9])
        except (ZirError, NotImplementedError) as exc:
            refused.append(((mode, level), f"{type(exc).__name__}: {exc}"))
            continue
        except Exception:
            pass
        supported.append((mode, level))
    return tuple(supported), tuple(refused)


def _from_env(text: str) -> list[tuple[str, int]]:
    pairs = []
    for part in text.split(","):
        mode, _, level = part.strip().partition(":")
        pairs.append((mode, int(level or 0)))
    return pairs


def matrix() -> list[tuple[str, int]]:
    """The (mode, opt_level) pairs the VM currently runs, discovered by trying each candidate once.

    `ZIR_DIFFTEST_MATRIX="stack:0,register:2"` narrows it to the listed pairs (those still have to be
    supported).
    """
    supported = list(_discover()[0])
    wanted = os.environ.get(MATRIX_ENV)
    if wanted:
        return [pair for pair in _from_env(wanted) if pair in supported]
    return supported


def refused() -> dict[tuple[str, int], str]:
    """The candidate pairs the VM refused, with the error it gave (for reports and skip reasons)."""
    return dict(_discover()[1])


def __getattr__(name: str) -> Any:
    if name == "MATRIX":
        return matrix()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------------------------------
# Comparing


def _call_text(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    def show(x: Any) -> str:
        text = "fresh(...)" if isinstance(x, Fresh) else normalize(x)
        return text if len(text) <= 60 else text[:57] + "..."

    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    name = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{getattr(fn, '__module__', '?')}.{name}({', '.join(parts)})"


def compare(fn: Callable[..., Any], *args: Any, matrix: Iterable[tuple[str, int]] | None = None,
            vm_options: Mapping[str, Any] | None = None, **kwargs: Any) -> Outcome:
    """Run `fn(*args, **kwargs)` in CPython and on the VM for each (mode, opt_level) of `matrix`.

    `matrix` defaults to `matrix()` (everything the VM supports); `vm_options` are extra `vm.VM`
    options (`max_steps`, ...). Raises `AssertionError` listing every configuration that behaved
    differently from CPython; returns the CPython outcome when all agree.
    """
    pairs = list(_module_matrix() if matrix is None else matrix)
    if not pairs:
        raise AssertionError(f"difftest: the VM supports no configuration to compare against: {refused()}")
    expected = run_cpython(fn, *args, **kwargs)
    failures: list[str] = []
    for mode, level in pairs:
        actual = run_vm(fn, args, kwargs, **{**(vm_options or {}), "mode": mode, "opt_level": level})
        if actual != expected:
            failures.append(f"[{mode} O{level}]\n" + "\n".join(describe(expected, actual)))
    if failures:
        header = f"VM differs from CPython for {_call_text(fn, args, kwargs)}"
        raise AssertionError(header + "\n" + "\n".join(failures))
    return expected


_module_matrix = matrix  # `compare`'s parameter shadows the function name


# --------------------------------------------------------------------------------------------------
# Command line


def load_function(spec: str) -> Callable[..., Any]:
    """Load `FILE.py:FUNC` (FUNC may be dotted, e.g. `Class.method`) by importing FILE as a module."""
    path_text, sep, qualname = spec.rpartition(":")
    if not sep or not path_text or not qualname:
        raise SystemExit(f"difftest: expected FILE.py:FUNC, got {spec!r}")
    path = Path(path_text)
    if not path.is_file():
        raise SystemExit(f"difftest: {path}: no such file")
    name = "_difftest_" + re.sub(r"\W", "_", path.stem)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise SystemExit(f"difftest: {path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # classes defined in the file can find their module
    module_spec.loader.exec_module(module)
    obj: Any = module
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SystemExit(f"difftest: {path}: no attribute {qualname!r}") from None
    if not callable(obj):
        raise SystemExit(f"difftest: {path}:{qualname} is not callable")
    return obj


def parse_argument(text: str) -> Any:
    """A command-line argument: a Python literal (`3`, `2.5`, `'x'`, `[1, 2]`), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: Sequence[str] | None = None) -> int:
    """`python tools/difftest.py FILE.py:FUNC ARGS...`: compare one call; exit status 1 on a mismatch.

    ARGS are Python literals (anything else is passed as a string); `name=literal` is a keyword
    argument. By default every configuration in the matrix is compared.
    """
    parser = argparse.ArgumentParser(prog="difftest", description=main.__doc__)
    parser.add_argument("target", help="FILE.py:FUNC")
    parser.add_argument("args", nargs="*", help="arguments (Python literals; name=value for keywords)")
    parser.add_argument("--mode", choices=["stack", "register"], help="only this VM mode")
    parser.add_argument("-O", "--opt-level", type=int, choices=[0, 1, 2], help="only this opt level")
    parser.add_argument("--max-steps", type=int, default=None, help="VM step limit")
    ns = parser.parse_args(argv)
    fn = load_function(ns.target)
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in ns.args:
        key, eq, rest = text.partition("=")
        if eq and key.isidentifier():
            kwargs[key] = parse_argument(rest)
        else:
            args.append(parse_argument(text))
    if ns.mode is not None or ns.opt_level is not None:
        pairs = [(ns.mode or "stack", ns.opt_level or 0)]
    else:
        pairs = matrix()
        for (mode, level), why in refused().items():
            print(f"[{mode} O{level}] not available: {why}")
    expected = run_cpython(fn, *args, **kwargs)
    print(f"CPython      {expected.summary()}")
    status = 0
    for mode, level in pairs:
        options = {"mode": mode, "opt_level": level, "max_steps": ns.max_steps}
        actual = run_vm(fn, args, kwargs, **options)
        if actual == expected:
            print(f"[{mode} O{level}]  same")
        else:
            status = 1
            print(f"[{mode} O{level}]  DIFFERS {actual.summary()}")
            print("\n".join(describe(expected, actual)))
    if expected.stdout:
        print("--- CPython stdout ---")
        print(expected.stdout, end="" if expected.stdout.endswith("\n") else "\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
