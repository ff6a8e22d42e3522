"""The core of differential testing: run a function in CPython and in a zir VM, record what each
observably did (an `Outcome`) and describe the differences.

What an `Outcome` holds, and so what is compared:

* the return value: its type and a *normalized repr* (`normalize`), which is `==` made exact and
  structural: floats compare by `repr` (so nan equals nan and -0.0 differs from 0.0), containers
  element by element with their types, sets in sorted order, plain objects by class and `__dict__`,
  and memory addresses are scrubbed from any other repr;
* the exception raised, if any: exact type (module + qualified name), `str(exc)`, and the chain of
  `__cause__` / `__context__` exceptions (type and message);
* everything written to `sys.stdout` (captured with `contextlib.redirect_stdout`), with memory
  addresses (`at 0x7f...`) scrubbed;
* the arguments after the call, normalized, so that mutating an argument is observed too.

Each run gets its own copy of the arguments: wrap an argument in `fresh(factory)` to have it built by
calling `factory()` before every run; any other argument is deep-copied per run (arguments that cannot
be deep-copied are shared).

Users: `zir run --check` (one VM configuration against CPython) and `tools/difftest.py` (the whole
matrix of VM modes and levels, for the test suites and a shell).
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import inspect
import io
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

__all__ = ["ExcInfo", "Fresh", "Outcome", "describe", "fresh", "materialize", "normalize", "run_cpython",
           "run_machine", "run_vm"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_DEPTH = 60


# --------------------------------------------------------------------------------------------------
# Normalized values


def normalize(value: Any) -> str:
    """Return a canonical text form of `value` in which equal-behaving values are equal strings.

    Floats use `repr` (nan == nan, -0.0 != 0.0); lists, tuples and dicts keep their order; sets are
    sorted; subclasses of builtin containers and plain objects are prefixed with their class; memory
    addresses (`at 0x7f...`) are removed. Cycles print as `<cycle>`.
    """
    return _norm(value, set(), 0)


def _value_type(value: Any) -> str:
    """The type name of a result: a VM function, generator or coroutine counts as CPython's."""
    host = getattr(value, "host_type_name", None)
    return host if isinstance(host, str) and not isinstance(value, type) else _type_name(type(value))


def _type_name(tp: type) -> str:
    module = tp.__module__
    return tp.__qualname__ if module == "builtins" else f"{module}.{tp.__qualname__}"


def _norm(value: Any, active: set[int], depth: int) -> str:
    tp = type(value)
    if tp is int and value.bit_length() > 12000:
        return hex(value)  # repr() refuses ints over 4300 digits (sys.set_int_max_str_digits)
    if value is None or tp in (bool, int, float, complex, str, bytes, range, slice) or value is ...:
        return repr(value)
    if depth > _MAX_DEPTH:
        return "<too deep>"
    if id(value) in active:
        return "<cycle>"
    active.add(id(value))
    try:
        return _norm_compound(value, tp, active, depth + 1)
    finally:
        active.discard(id(value))


def _norm_compound(value: Any, tp: type, active: set[int], depth: int) -> str:
    def each(items: Iterable[Any]) -> list[str]:
        return [_norm(item, active, depth) for item in items]

    prefix = "" if tp in (list, tuple, dict, set, frozenset) else _type_name(tp)
    if isinstance(value, BaseException):
        return f"{_type_name(tp)}({', '.join(each(value.args))})"
    if isinstance(value, list):
        return f"{prefix}[{', '.join(each(value))}]"
    if isinstance(value, tuple):
        inner = each(value)
        return f"{prefix}({inner[0]},)" if len(inner) == 1 else f"{prefix}({', '.join(inner)})"
    if isinstance(value, dict):
        pairs = [f"{_norm(k, active, depth)}: {_norm(v, active, depth)}" for k, v in value.items()]
        return f"{prefix}{{{', '.join(pairs)}}}"
    if isinstance(value, set | frozenset):
        # Set iteration order depends on insertion history; only membership is semantic.
        kind = prefix or tp.__name__
        return f"{kind}({{{', '.join(sorted(each(value)))}}})"
    for scalar in (int, float, complex, str, bytes):  # subclasses of the scalars (bool is exact)
        if isinstance(value, scalar):
            return f"{prefix}({scalar.__repr__(value)})"
    if tp.__repr__ is object.__repr__ and not isinstance(value, type):
        fields = _object_fields(value)
        if fields is not None:
            body = ", ".join(f"{k}={_norm(v, active, depth)}" for k, v in fields)
            return f"{_type_name(tp)}{{{body}}}"
    try:
        text = repr(value)
    except Exception as e:  # a user __repr__ that raises: what it raises is the observable part
        return f"<{_type_name(tp)} whose repr raises {_type_name(type(e))}: {e}>"
    return _ADDRESS.sub(" at 0x?", text)


def _object_fields(value: Any) -> list[tuple[str, Any]] | None:
    """The instance attributes of a plain object (`__dict__`, then `__slots__`), or None if it has none."""
    fields: list[tuple[str, Any]] = []
    d = getattr(value, "__dict__", None)
    if isinstance(d, dict):
        fields.extend((str(k), v) for k, v in d.items())
    for klass in type(value).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and hasattr(value, name):
                fields.append((name, getattr(value, name)))
    if not fields and not isinstance(d, dict):
        return None
    return fields


# --------------------------------------------------------------------------------------------------
# Outcomes


@attrs.frozen
class ExcInfo:
    """An exception as the harness compares it: exact type name and `str(exc)`."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@attrs.frozen
class Outcome:
    """What one run of a function did. Equality compares exactly the observable behaviour."""

    value: str | None  #: normalized repr of the return value, None when the call raised
    value_type: str | None  #: type of the return value, None when the call raised
    exc: ExcInfo | None  #: the exception that escaped, None when the call returned
    chain: tuple[ExcInfo, ...]  #: its __cause__ (or else __context__) chain, outermost first
    stdout: str  #: everything printed to sys.stdout
    args_after: str  #: normalized (args, kwargs) after the call
    # Kept for diagnosis only, never compared:
    raw: Any = attrs.field(default=None, eq=False, repr=False)
    tb: str = attrs.field(default="", eq=False, repr=False)

    @property
    def exc_type(self) -> str | None:
        """Exception type name, or None when the call returned."""
        return None if self.exc is None else self.exc.type

    @property
    def exc_message(self) -> str | None:
        """`str()` of the exception, or None when the call returned."""
        return None if self.exc is None else self.exc.message

    def summary(self) -> str:
        """One line: `-> value (type)` or `raised Type: message`."""
        if self.exc is not None:
            return f"raised {self.exc}"
        return f"-> {self.value} ({self.value_type})"


def _exc_info(exc: BaseException) -> ExcInfo:
    return ExcInfo(_type_name(type(exc)), str(exc))


def _exc_chain(exc: BaseException) -> tuple[ExcInfo, ...]:
    chain: list[ExcInfo] = []
    seen = {id(exc)}
    link = exc.__cause__ if exc.__cause__ is not None else exc.__context__
    while link is not None and id(link) not in seen and len(chain) < 20:
        seen.add(id(link))
        chain.append(_exc_info(link))
        link = link.__cause__ if link.__cause__ is not None else link.__context__
    return tuple(chain)


# --------------------------------------------------------------------------------------------------
# Fresh arguments


@attrs.frozen
class Fresh:
    """An argument built anew for every run by calling `factory()` (for arguments the callee mutates)."""

    factory: Callable[[], Any]


def fresh(factory: Callable[[], Any]) -> Fresh:
    """Mark an argument to be rebuilt by `factory()` before each run."""
    return Fresh(factory)


def materialize(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Return the arguments for one run: `Fresh` ones built, the rest deep-copied when possible.

    `args` and `kwargs` are copied together, so aliasing between arguments is preserved.
    """
    a = tuple(x.factory() if isinstance(x, Fresh) else x for x in args)
    k = {n: (x.factory() if isinstance(x, Fresh) else x) for n, x in kwargs.items()}
    try:
        return copy.deepcopy((a, k))
    except Exception:  # an argument that cannot be copied (a lock, a module, ...) is shared
        return a, k


# --------------------------------------------------------------------------------------------------
# Running


def _observe(call: Callable[[], Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Outcome:
    buf = io.StringIO()
    value: Any = None
    error: BaseException | None = None
    with contextlib.redirect_stdout(buf):
        try:
            value = call()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: a function may call sys.exit()
            error = exc
    args_after = normalize((args, kwargs))
    # a printed object's address differs from run to run, in CPython alone too
    out = _ADDRESS.sub(" at 0x?", buf.getvalue())
    if error is not None:
        tb = "".join(traceback.format_exception(error))
        return Outcome(None, None, _exc_info(error), _exc_chain(error), out, args_after,
                       raw=error, tb=tb)
    return Outcome(normalize(value), _value_type(value), None, (), out, args_after, raw=value)


def run_cpython(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Outcome:
    """Call `fn(*args, **kwargs)` in CPython and record its `Outcome`. A coroutine function runs
    to completion as `asyncio.run(fn(*args, **kwargs))`, which is what `VM.run` does with one."""
    a, k = materialize(args, kwargs)
    if inspect.iscoroutinefunction(fn):
        import asyncio

        return _observe(lambda: asyncio.run(fn(*a, **k)), a, k)
    return _observe(lambda: fn(*a, **k), a, k)


def run_vm(fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
           **vm_options: Any) -> Outcome:
    """Run `fn(*args, **kwargs)` on `vm.VM(**vm_options)` (default: stack mode, O0) and record its `Outcome`.

    Errors constructing the VM propagate (they are harness errors, not outcomes); anything raised by
    the run itself, including zir's own VM errors, is the outcome.
    """
    import vm  # imported here: the harness must load even while the VM does not

    options = {"mode": "stack", "opt_level": 0, **vm_options}
    return run_machine(vm.VM(**options), fn, args, kwargs)


def run_machine(machine: Any, fn: Any, args: Sequence[Any] = (),
                kwargs: Mapping[str, Any] | None = None) -> Outcome:
    """Run `fn(*args, **kwargs)` on an existing `vm.VM` (whose profile the caller may want
    afterwards) and record its `Outcome`. `fn` is anything `machine.run` accepts."""
    a, k = materialize(args, kwargs or {})
    return _observe(lambda: machine.run(fn, *a, **k), a, k)


def _text_diff(label: str, expected: str, actual: str) -> str:
    lines = difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                 "cpython", "vm", n=2)
    body = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return f"  {label} differs:\n" + "".join(f"    {line}\n" for line in body.splitlines())


def describe(expected: Outcome, actual: Outcome) -> list[str]:
    """Human-readable differences between the CPython outcome and the VM outcome (empty when equal)."""
    out: list[str] = []
    if (expected.exc is None) != (actual.exc is None):
        out.append(f"  CPython {expected.summary()}\n  VM      {actual.summary()}")
    elif expected.exc is not None and actual.exc is not None:
        if expected.exc.type != actual.exc.type:
            out.append(f"  exception type: CPython {expected.exc.type}, VM {actual.exc.type}")
        if expected.exc.message != actual.exc.message:
            out.append(f"  exception message: CPython {expected.exc.message!r}\n"
                       f"                     VM      {actual.exc.message!r}")
        if expected.chain != actual.chain:
            out.append(f"  exception chain (__cause__/__context__): CPython "
                       f"{[str(e) for e in expected.chain]}, VM {[str(e) for e in actual.chain]}")
    else:
        if expected.value_type != actual.value_type:
            out.append(f"  return type: CPython {expected.value_type}, VM {actual.value_type}")
        if expected.value != actual.value:
            e, a = expected.value or "", actual.value or ""
            if len(e) + len(a) < 150:
                out.append(f"  return value: CPython {e}\n                VM      {a}")
            else:
                out.append(_text_diff("return value", e.replace(", ", ",\n"), a.replace(", ", ",\n")))
    if expected.stdout != actual.stdout:
        out.append(_text_diff("stdout", expected.stdout, actual.stdout))
    if expected.args_after != actual.args_after:
        out.append(f"  arguments after the call: CPython {expected.args_after}\n"
                   f"                            VM      {actual.args_after}")
    if out and actual.exc is not None and actual.tb and actual.exc != expected.exc:
        tail = actual.tb.rstrip().splitlines()[-12:]
        out.append("  VM traceback (last lines):\n" + "\n".join(f"    {line}" for line in tail))
    return out
