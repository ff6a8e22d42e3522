"""Argument binding: call arguments to a frame's parameter slots, exactly as CPython 3.11 does.

This is CPython 3.11's `initialize_locals` (Python/ceval.c) and its helpers `too_many_positional`,
`missing_arguments`, `format_missing` and `positional_only_passed_as_keyword`, transcribed: the same
order of checks and the same TypeError messages, so a program that calls a VM function with the
wrong arguments sees exactly what CPython would show.

The order matters and is CPython's: positional arguments are copied first, the surplus goes to
`*args` (when there is one); then keyword arguments are placed one by one (unexpected name,
positional-only name and duplicate checks happen here, in keyword order); only then is a surplus of
positional arguments reported; then missing positional arguments are filled from the defaults or
reported; then missing keyword-only arguments from the kw-defaults or reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from zir.bytecode.code import VARARGS, VARKEYWORDS, Code
from zir.ir import UNBOUND

__all__ = ["ParamSpec", "bind"]


@attrs.frozen(slots=True, eq=False)
class ParamSpec:
    """The parameter layout of a code object, precomputed once per code object.

    `names` are the parameter names in slot order (positional, keyword-only, then `*args` and
    `**kwargs` when present); `nlocals` is the size of the frame's local array (parameters first).
    `simple` is true when a call with exactly `argcount` positional arguments and no keywords
    binds by copying (no keyword-only parameters, no `*args`, no `**kwargs`). `keyword_slots`
    maps each parameter a keyword may name (not positional-only ones) to its slot.
    """

    argcount: int
    posonlyargcount: int
    kwonlyargcount: int
    varargs: bool
    varkw: bool
    names: tuple[str, ...]
    nlocals: int
    simple: bool
    keyword_slots: dict[str, int]

    @classmethod
    def from_code(cls, code: Code) -> ParamSpec:
        """The layout of a ZBC `Code`."""
        varargs = VARARGS in code.flags
        varkw = VARKEYWORDS in code.flags
        nparams = code.argcount + code.kwonlyargcount + varargs + varkw
        total = code.argcount + code.kwonlyargcount
        return cls(
            argcount=code.argcount, posonlyargcount=code.posonlyargcount,
            kwonlyargcount=code.kwonlyargcount, varargs=varargs, varkw=varkw,
            names=tuple(code.varnames[:nparams]), nlocals=len(code.varnames),
            simple=not (varargs or varkw or code.kwonlyargcount),
            keyword_slots={code.varnames[i]: i for i in range(code.posonlyargcount, total)},
        )


def bind(spec: ParamSpec, qualname: str, args: Sequence[Any], kwargs: Mapping[Any, Any] | None,
         defaults: tuple[Any, ...] | None, kwdefaults: Mapping[str, Any] | None) -> list[Any]:
    """The frame's local array for a call `f(*args, **kwargs)`: parameters bound, every other
    local `UNBOUND`. Raises CPython 3.11's TypeError (naming `qualname`) when the call does not fit.

    `kwargs` keys must be strings ("keywords must be strings" otherwise, as CPython's
    `_PyStack_UnpackDict` says before any binding); `kwargs` itself is never modified.
    """
    argcount = len(args)
    co_argcount = spec.argcount
    if spec.simple and not kwargs and argcount == co_argcount:
        fast = list(args)
        fast.extend([UNBOUND] * (spec.nlocals - argcount))
        return fast
    if kwargs:
        for key in kwargs:
            if not isinstance(key, str):
                raise TypeError("keywords must be strings")
    fast = [UNBOUND] * spec.nlocals
    total = co_argcount + spec.kwonlyargcount
    kwdict: dict[str, Any] | None = None
    if spec.varkw:
        kwdict = {}
        fast[total + spec.varargs] = kwdict
    n = min(argcount, co_argcount)
    fast[:n] = args[:n]
    if spec.varargs:
        fast[total] = tuple(args[n:])
    if kwargs:
        # Keyword-addressable parameters (not positional-only): name -> slot.
        slots = spec.keyword_slots
        for key, value in kwargs.items():
            j = slots.get(key, -1)
            if j < 0:
                if kwdict is None:
                    if spec.posonlyargcount:
                        _check_posonly_as_keyword(spec, qualname, kwargs)
                    raise TypeError(f"{qualname}() got an unexpected keyword argument '{key}'")
                kwdict[key] = value
                continue
            if fast[j] is not UNBOUND:
                raise TypeError(f"{qualname}() got multiple values for argument '{key}'")
            fast[j] = value
    if argcount > co_argcount and not spec.varargs:
        raise TypeError(_too_many_positional(spec, qualname, argcount, defaults, fast))
    if argcount < co_argcount:
        defs = defaults or ()
        defcount = len(defs)
        m = co_argcount - defcount
        if any(fast[i] is UNBOUND for i in range(argcount, m)):
            raise TypeError(_missing(spec, qualname, fast, 0, m, "positional"))
        for i in range(max(n - m, 0), defcount):
            if m + i >= 0 and fast[m + i] is UNBOUND:
                fast[m + i] = defs[i]
    if spec.kwonlyargcount:
        missing = False
        for i in range(co_argcount, total):
            if fast[i] is not UNBOUND:
                continue
            if kwdefaults is not None:
                name = spec.names[i]
                if name in kwdefaults:
                    fast[i] = kwdefaults[name]
                    continue
            missing = True
        if missing:
            raise TypeError(_missing(spec, qualname, fast, co_argcount, total, "keyword-only"))
    return fast


def _check_posonly_as_keyword(spec: ParamSpec, qualname: str, kwargs: Mapping[str, Any]) -> None:
    """CPython's `positional_only_passed_as_keyword`: every positional-only name given as a keyword
    (in parameter order, once per matching keyword)."""
    hits = [name for name in spec.names[:spec.posonlyargcount] for key in kwargs if key == name]
    if hits:
        raise TypeError(f"{qualname}() got some positional-only arguments passed as keyword "
                        f"arguments: '{', '.join(hits)}'")


def _too_many_positional(spec: ParamSpec, qualname: str, given: int, defaults: tuple[Any, ...] | None,
                         fast: list[Any]) -> str:
    """CPython's `too_many_positional` message."""
    co_argcount = spec.argcount
    kwonly_given = sum(1 for i in range(co_argcount, co_argcount + spec.kwonlyargcount)
                       if fast[i] is not UNBOUND)
    defcount = len(defaults) if defaults else 0
    if defcount:
        plural = True
        sig = f"from {co_argcount - defcount} to {co_argcount}"
    else:
        plural = co_argcount != 1
        sig = str(co_argcount)
    if kwonly_given:
        kwonly_sig = (f" positional argument{'s' if given != 1 else ''} (and {kwonly_given} "
                      f"keyword-only argument{'s' if kwonly_given != 1 else ''})")
    else:
        kwonly_sig = ""
    verb = "was" if given == 1 and not kwonly_given else "were"
    return (f"{qualname}() takes {sig} positional argument{'s' if plural else ''} but "
            f"{given}{kwonly_sig} {verb} given")


def _missing(spec: ParamSpec, qualname: str, fast: list[Any], start: int, end: int, kind: str) -> str:
    """CPython's `missing_arguments` + `format_missing` message for the unbound slots in
    `[start, end)`."""
    names = [repr(spec.names[i]) for i in range(start, end) if fast[i] is UNBOUND]
    if len(names) == 1:
        listed = names[0]
    elif len(names) == 2:
        listed = f"{names[0]} and {names[1]}"
    else:
        listed = ", ".join(names[:-2]) + f", {names[-2]}, and {names[-1]}"
    return (f"{qualname}() missing {len(names)} required {kind} argument"
            f"{'' if len(names) == 1 else 's'}: {listed}")
