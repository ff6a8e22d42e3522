"""vm.binding against CPython: every signature shape and call shape binds to the same values, or fails
with the same TypeError message, as a real function of that signature called the same way."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vm.binding import ParamSpec, bind
from zir.bytecode.code import VARARGS, VARKEYWORDS, Code

_SENTINEL_BASE = 100


def _make_function(posonly: int, regular: int, ndefaults: int, kwonly: list[bool], varargs: bool,
                   varkw: bool, qualname: str) -> Any:
    """A real function with the described signature that returns its parameters in slot order."""
    params: list[str] = []
    names: list[str] = []
    positional = [f"p{i}" for i in range(posonly)] + [f"a{i}" for i in range(regular)]
    first_default = len(positional) - ndefaults
    for i, name in enumerate(positional):
        params.append(f"{name}={_SENTINEL_BASE + i}" if i >= first_default else name)
        names.append(name)
        if i == posonly - 1:
            params.append("/")
    if varargs:
        params.append("*args")
    elif kwonly:
        params.append("*")
    for i, has_default in enumerate(kwonly):
        name = f"k{i}"
        params.append(f"{name}={_SENTINEL_BASE + 50 + i}" if has_default else name)
        names.append(name)
    if varargs:
        names.append("args")
    if varkw:
        params.append("**kw")
        names.append("kw")
    src = f"def f({', '.join(params)}):\n    return ({', '.join(names)}{',' if names else ''})\n"
    ns: dict[str, Any] = {}
    exec(src, ns)
    fn = ns["f"]
    fn.__qualname__ = qualname
    return fn


def _spec_of(fn: Any) -> ParamSpec:
    co = fn.__code__
    flags = set()
    if co.co_flags & 0x04:
        flags.add(VARARGS)
    if co.co_flags & 0x08:
        flags.add(VARKEYWORDS)
    code = Code(co.co_name, varnames=list(co.co_varnames), argcount=co.co_argcount,
                posonlyargcount=co.co_posonlyargcount, kwonlyargcount=co.co_kwonlyargcount,
                flags=frozenset(flags))
    return ParamSpec.from_code(code)


def _cpython(fn: Any, args: tuple[Any, ...], kwargs: dict[Any, Any]) -> tuple[str, Any]:
    try:
        return ("ok", fn(*args, **kwargs))
    except TypeError as e:
        return ("TypeError", str(e))


def _ours(fn: Any, args: tuple[Any, ...], kwargs: dict[Any, Any]) -> tuple[str, Any]:
    spec = _spec_of(fn)
    try:
        fast = bind(spec, fn.__qualname__, args, kwargs, fn.__defaults__, fn.__kwdefaults__)
    except TypeError as e:
        return ("TypeError", str(e))
    return ("ok", tuple(fast[:len(spec.names)]))


@st.composite
def signatures_and_calls(draw: st.DrawFn) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    posonly = draw(st.integers(0, 3))
    regular = draw(st.integers(0, 3))
    ndefaults = draw(st.integers(0, posonly + regular))
    kwonly = draw(st.lists(st.booleans(), max_size=3))
    varargs = draw(st.booleans())
    varkw = draw(st.booleans())
    qualname = draw(st.sampled_from(["f", "Outer.method", "g.<locals>.h"]))
    fn = _make_function(posonly, regular, ndefaults, kwonly, varargs, varkw, qualname)
    nargs = draw(st.integers(0, posonly + regular + 3))
    args = tuple(range(nargs))
    pool = ([f"p{i}" for i in range(posonly)] + [f"a{i}" for i in range(regular)]
            + [f"k{i}" for i in range(len(kwonly))] + ["args", "kw", "zz", "p9"])
    keys = draw(st.lists(st.sampled_from(pool), unique=True, max_size=5))
    kwargs = {k: 1000 + i for i, k in enumerate(keys)}
    return fn, args, kwargs


@settings(max_examples=500)
@given(signatures_and_calls())
def test_bind_matches_cpython(case: tuple[Any, tuple[Any, ...], dict[str, Any]]) -> None:
    fn, args, kwargs = case
    assert _ours(fn, args, kwargs) == _cpython(fn, args, kwargs)


def _fn(src: str) -> Any:
    ns: dict[str, Any] = {}
    exec(src, ns)
    return ns["f"]


@pytest.mark.parametrize("src, args, kwargs, message", [
    ("def f(x): pass", (), {}, "f() missing 1 required positional argument: 'x'"),
    ("def f(x, y, z): pass", (), {}, "f() missing 3 required positional arguments: 'x', 'y', and 'z'"),
    ("def f(x, y): pass", (1, 2, 3), {}, "f() takes 2 positional arguments but 3 were given"),
    ("def f(x, y=1): pass", (1, 2, 3), {}, "f() takes from 1 to 2 positional arguments but 3 were given"),
    ("def f(): pass", (1,), {}, "f() takes 0 positional arguments but 1 was given"),
    ("def f(x, *, k): pass", (1, 2), {"k": 3},
     "f() takes 1 positional argument but 2 positional arguments (and 1 keyword-only argument) were given"),
    ("def f(a): pass", (1,), {"a": 2}, "f() got multiple values for argument 'a'"),
    ("def f(a): pass", (1,), {"z": 2}, "f() got an unexpected keyword argument 'z'"),
    ("def f(a, b, /): pass", (), {"a": 1, "b": 2},
     "f() got some positional-only arguments passed as keyword arguments: 'a, b'"),
    ("def f(*, a, b): pass", (), {}, "f() missing 2 required keyword-only arguments: 'a' and 'b'"),
    ("def f(**k): pass", (), {1: 2}, "keywords must be strings"),
    # The keyword check comes before the positional count, as in CPython.
    ("def f(a): pass", (1, 2), {"z": 3}, "f() got an unexpected keyword argument 'z'"),
])
def test_bind_messages(src: str, args: tuple[Any, ...], kwargs: dict[Any, Any], message: str) -> None:
    fn = _fn(src)
    assert _cpython(fn, args, kwargs) == ("TypeError", message)
    assert _ours(fn, args, kwargs) == ("TypeError", message)


def test_bind_does_not_modify_kwargs_and_leaves_other_locals_unbound() -> None:
    from zir.ir import UNBOUND

    code = Code("f", varnames=["a", "kw", "tmp"], argcount=1, flags=frozenset({VARKEYWORDS}))
    kwargs = {"a": 1, "b": 2}
    fast = bind(ParamSpec.from_code(code), "f", (), kwargs, None, None)
    assert fast == [1, {"b": 2}, UNBOUND]
    assert kwargs == {"a": 1, "b": 2}
    assert fast[1] is not kwargs


def test_simple_spec_fast_path() -> None:
    from zir.ir import UNBOUND

    spec = ParamSpec.from_code(Code("f", varnames=["a", "b", "t"], argcount=2))
    assert spec.simple
    assert bind(spec, "f", [1, 2], None, None, None) == [1, 2, UNBOUND]
    assert not ParamSpec.from_code(Code("f", varnames=["a", "k"], argcount=1, kwonlyargcount=1)).simple


def test_binding_errors_have_no_context() -> None:
    """CPython raises these with nothing being handled, so nothing is chained."""
    spec = ParamSpec.from_code(Code("f", varnames=["a", "b"], argcount=2, posonlyargcount=1))
    for kwargs in ({"z": 1}, {"a": 1}, {"b": 1, "z": 2}):
        with pytest.raises(TypeError) as info:
            bind(spec, "f", (1, 2), kwargs, None, None)
        assert info.value.__context__ is None
