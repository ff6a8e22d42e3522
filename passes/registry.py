"""Pass registration: the `Pass` protocol, `PassResult`, the `register` decorator and name lookup.

A pass is a frozen attrs class whose fields are its options (set from a pipeline string such as
``regalloc{k=16}``) and whose one method `run(f, am)` transforms a function and returns a
`PassResult`. Model: xDSL's `ModulePass` and `xdsl/transforms/canonicalize.py`.

    @passes.register("count-adds")
    @attrs.frozen
    class CountAdds:
        '''Count additions (changes nothing).'''
        verbose: bool = False

        def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
            n = sum(1 for _, i in f.instructions() if i.op == "add")
            return passes.PassResult.unchanged(stats={"additions seen": n})

Built-in passes live in modules of this package; every public module of `passes` is imported the
first time a name is looked up, so a new pass (register allocation, say) needs nothing but its own
module with a `@register` in it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from zir.errors import PassError
from zir.ir import Function


@attrs.frozen
class PassResult:
    """What one run of a pass on one function did.

    `changed` says whether the IR changed (print-changed stays quiet when it did not); `preserved`
    what cached analyses are still valid (ignored when nothing changed: then all are); `stats` named
    counters, LLVM `STATISTIC`-style ("instructions removed": 3).
    """

    changed: bool
    preserved: PreservedAnalyses = attrs.field(factory=PreservedAnalyses.none)
    stats: Mapping[str, int] = attrs.field(factory=dict)

    @classmethod
    def unchanged(cls, stats: Mapping[str, int] | None = None) -> PassResult:
        """Nothing changed; every analysis stays valid."""
        return cls(False, PreservedAnalyses.all(), dict(stats or {}))

    @property
    def effective_preserved(self) -> PreservedAnalyses:
        """What the manager keeps: everything when nothing changed, else `preserved`."""
        return PreservedAnalyses.all() if not self.changed else self.preserved


@runtime_checkable
class Pass(Protocol):
    """What the manager needs of a pass: a registered `name` and `run`."""

    name: ClassVar[str]

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        """Transform `f` in place; say what changed, what survived, and count what was done."""
        ...


P = TypeVar("P")

_REGISTRY: dict[str, type[Any]] = {}
_LOADED = False
# Modules of this package that hold machinery rather than passes.
_INFRASTRUCTURE = {"analyses", "instrument", "levels", "manager", "pipeline", "registry"}


def register(name: str) -> Callable[[P], P]:
    """Class decorator: make the pass class available as `name` in pipeline strings.

    The class must be an attrs class (its fields are the options) with a `run(f, am)` method. A
    plain function `run(f, am) -> PassResult` is accepted too and becomes an option-less pass.
    Registering a second, different pass under a taken name is a `zir.PassError`.
    """

    def decorate(obj: P) -> P:
        cls: type[Any]
        if isinstance(obj, type):
            cls = obj
        elif callable(obj):
            cls = _wrap_function(name, obj)
        else:
            raise PassError(f"@register('{name}') needs a class or a function, not {obj!r}")
        if not attrs.has(cls):
            raise PassError(f"pass '{name}': {cls.__qualname__} must be an attrs class "
                            "(its fields are the pass options)")
        if not callable(getattr(cls, "run", None)):
            raise PassError(f"pass '{name}': {cls.__qualname__} has no run(f, am) method")
        old = _REGISTRY.get(name)
        if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
            raise PassError(f"pass '{name}' registered twice: by {old.__module__}.{old.__qualname__} "
                            f"and by {cls.__module__}.{cls.__qualname__}")
        setattr(cls, "name", name)  # noqa: B010 -- a class attribute the Protocol declares
        _REGISTRY[name] = cls
        return obj if isinstance(obj, type) else cls  # type: ignore[return-value]

    return decorate


def _wrap_function(name: str, fn: Callable[..., Any]) -> type[Any]:
    def run(self: Any, f: Function, am: AnalysisManager) -> PassResult:
        result: PassResult = fn(f, am)
        return result

    body = {"run": run, "__doc__": fn.__doc__, "__module__": fn.__module__,
            "__qualname__": fn.__qualname__}
    return attrs.frozen(type(fn.__name__, (), body))


def _load_builtin_passes() -> None:
    """Import every pass module of this package once (each registers its passes)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import passes

    for info in sorted(pkgutil.iter_modules(passes.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _INFRASTRUCTURE:
            continue
        importlib.import_module(f"passes.{info.name}")


def known_passes() -> list[str]:
    """Every registered pass name, sorted."""
    _load_builtin_passes()
    return sorted(_REGISTRY)


def pass_class(name: str) -> type[Any]:
    """The class registered as `name`; `zir.PassError` listing the known names when there is none.

    A name not registered yet is looked for first in the module of this package named after it
    (`ssa-destroy` in `passes.ssa_destroy`), then in every module of the package.
    """
    cls = _REGISTRY.get(name)
    if cls is None and name.replace("-", "_").isidentifier():
        module = f"passes.{name.replace('-', '_')}"
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
            cls = _REGISTRY.get(name)
    if cls is None:
        _load_builtin_passes()
        cls = _REGISTRY.get(name)
    if cls is None:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise PassError(f"unknown pass '{name}'{hint}; known passes: {', '.join(sorted(_REGISTRY))}")
    return cls


@attrs.frozen
class OptionInfo:
    """One option of a pass: its name, Python type and default."""

    name: str
    type: Any
    default: Any
    has_default: bool


def pass_options(cls: type[Any]) -> list[OptionInfo]:
    """The options of a pass class (its attrs fields), with resolved types, in declaration order."""
    cached = _OPTIONS.get(cls)
    if cached is None:
        # resolving annotations is slow, and every pipeline parse and pass record asks
        hints = typing.get_type_hints(cls)
        infos = []
        for a in attrs.fields(cls):
            has_default = a.default is not attrs.NOTHING
            default = a.default
            factory = None
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                factory = default.factory
            infos.append((a.name, hints.get(a.name, a.type), default, has_default, factory))
        cached = _OPTIONS[cls] = infos
    # a factory default is made afresh for each caller, as before
    return [OptionInfo(name, typ, factory() if factory is not None else default, has_default)
            for name, typ, default, has_default, factory in cached]


_OPTIONS: dict[type[Any], list[tuple[str, Any, Any, bool, Callable[[], Any] | None]]] = {}


def describe(name: str) -> str:
    """The first line of a registered pass's docstring."""
    doc = (pass_class(name).__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""
