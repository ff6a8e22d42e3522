"""CPython 3.11 semantics that every VM mode shares: the parts of `Python/ceval.c` that are more than
one host call (unpacking, `**` merging, `with`, `except` matching, `raise`, imports, chaining).

Each helper follows the C code it names, message for message. A rule throughout: an exception the
program will see is never raised inside a Python `except` clause here, because Python would then
chain the *host's* exception as its `__context__`; CPython chains the exception the *program* is
handling, which the interpreter sets itself (`set_context`).
"""

from __future__ import annotations

import builtins as _builtins
import sys
from collections.abc import Iterator
from typing import Any

__all__ = [
    "MISSING", "args_for_call", "before_with", "call_while_handling", "check_except_type", "dict_merge",
    "dict_update", "exc_matches", "function_str", "has_tp_iter", "import_from", "import_name", "is_sequence",
    "kwargs_for_call", "list_extend", "lookup_special", "prepare_raise", "set_context", "unpack_ex",
    "unpack_sequence", "with_exit",
]


class _Missing:
    """A marker for 'no value' distinct from every program value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# -- type slots, as far as Python can see them ---------------------------------------------------

def _type_defines(tp: type, name: str) -> bool:
    return any(name in vars(k) for k in tp.__mro__)


def has_tp_iter(obj: Any) -> bool:
    """Does `type(obj)` fill CPython's tp_iter slot (defines `__iter__`, even as None)?"""
    return _type_defines(type(obj), "__iter__")


def is_sequence(obj: Any) -> bool:
    """CPython's PySequence_Check: not a dict, and the type has `__getitem__`."""
    return not isinstance(obj, dict) and _type_defines(type(obj), "__getitem__")


def lookup_special(obj: Any, name: str) -> Any:
    """CPython's `_PyObject_LookupSpecial`: `name` looked up on the type (not the instance) and
    bound through its descriptor `__get__`; MISSING when the type has no such attribute."""
    tp = type(obj)
    for klass in tp.__mro__:
        d = vars(klass)
        if name in d:
            attr = d[name]
            get = getattr(type(attr), "__get__", None)
            return attr if get is None else get(attr, obj, tp)
    return MISSING


def function_str(func: Any) -> str:
    """CPython's `_PyObject_FunctionStr`: `module.qualname()`, `qualname()` for builtins, else str()."""
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(qualname, str):
        return str(func)
    module = getattr(func, "__module__", None)
    if module is not None and module != "builtins":
        return f"{module}.{qualname}()"
    return f"{qualname}()"


# -- exceptions --------------------------------------------------------------------------------------

def set_context(value: BaseException, handled: BaseException) -> None:
    """Implicit chaining as CPython's `_PyErr_SetObject` does it when `value` is raised while
    `handled` is being handled: cut `value` out of `handled`'s context chain (Floyd's cycle check
    stops on a pre-existing cycle), then make `handled` the context of `value`."""
    if value is handled:
        return
    o = handled
    slow = o
    toggle = False
    while True:
        ctx = o.__context__
        if ctx is None:
            break
        if ctx is value:
            o.__context__ = None
            break
        o = ctx
        if o is slow:
            break
        if toggle:
            slow = slow.__context__  # type: ignore[assignment]
        toggle = not toggle
    value.__context__ = handled


def _is_exc_class(x: Any) -> bool:
    return isinstance(x, type) and issubclass(x, BaseException)


def prepare_raise(exc: Any, cause: Any = MISSING) -> BaseException:
    """CPython's `do_raise` for `raise exc [from cause]`: the exception instance to raise (a class
    is instantiated; `__cause__` set). Raises TypeError for what cannot be raised."""
    if _is_exc_class(exc):
        value = exc()
        if not isinstance(value, BaseException):
            raise TypeError(f"calling {exc!r} should have returned an instance of BaseException, "
                            f"not {type(value)!r}")
    elif isinstance(exc, BaseException):
        value = exc
    else:
        raise TypeError("exceptions must derive from BaseException")
    if cause is not MISSING:
        if _is_exc_class(cause):
            fixed = cause()
        elif isinstance(cause, BaseException) or cause is None:
            fixed = cause
        else:
            raise TypeError("exception causes must derive from BaseException")
        value.__cause__ = fixed
    return value


_CANNOT_CATCH = "catching classes that do not inherit from BaseException is not allowed"


def check_except_type(right: Any) -> None:
    """CPython's `check_except_type_valid` (CHECK_EXC_MATCH's TypeError)."""
    if isinstance(right, tuple):
        if not all(_is_exc_class(x) for x in right):
            raise TypeError(_CANNOT_CATCH)
    elif not _is_exc_class(right):
        raise TypeError(_CANNOT_CATCH)


def exc_matches(exc: BaseException, right: Any) -> bool:
    """CPython's `PyErr_GivenExceptionMatches` for an instance: subclassing by the MRO (no
    `__subclasscheck__`), tuples searched recursively."""
    mro = type(exc).__mro__
    work = [right]
    while work:
        r = work.pop()
        if isinstance(r, tuple):
            work.extend(reversed(r))
        elif _is_exc_class(r):
            if r in mro:
                return True
        elif r is type(exc):
            return True
    return False


def call_while_handling(handled: BaseException, f: Any, args: Any, kwargs: dict[str, Any] | None) -> Any:
    """Call host code `f` from VM code that is handling `handled`, so that the host sees what
    CPython code would: `sys.exc_info()`, `traceback.format_exc()` and `logging.exception()`
    report `handled`, and an exception `f` raises chains to it natively.

    The host's handled exception can only be set by being inside an `except` clause, so this
    raises `handled` and calls `f` in the clause, then undoes what the `raise` did to it (its
    traceback and context)."""
    traceback, context = handled.__traceback__, handled.__context__
    try:
        raise handled
    except BaseException:
        handled.__traceback__ = traceback
        handled.__context__ = context
        return f(*args, **kwargs) if kwargs else f(*args)


# -- with ----------------------------------------------------------------------------------------------

def before_with(mgr: Any) -> tuple[Any, Any]:
    """BEFORE_WITH's lookups: (bound `__exit__`, bound `__enter__`), with 3.11's TypeErrors."""
    enter = lookup_special(mgr, "__enter__")
    if enter is MISSING:
        raise TypeError(f"'{type(mgr).__name__}' object does not support the context manager protocol")
    exit_ = lookup_special(mgr, "__exit__")
    if exit_ is MISSING:
        raise TypeError(f"'{type(mgr).__name__}' object does not support the context manager protocol "
                        "(missed __exit__ method)")
    return exit_, enter


def with_exit(exit_: Any, exc: BaseException) -> Any:
    """WITH_EXCEPT_START's call: `exit(type(exc), exc, exc.__traceback__)`."""
    return exit_(type(exc), exc, exc.__traceback__)


# -- unpacking ----------------------------------------------------------------------------------------

def _iterate(v: Any) -> Iterator[Any]:
    """`iter(v)`, with UNPACK's "cannot unpack non-iterable X object" when v is not iterable."""
    try:
        return iter(v)
    except TypeError:
        if has_tp_iter(v) or is_sequence(v):
            raise
    raise TypeError(f"cannot unpack non-iterable {type(v).__name__} object")


def unpack_sequence(v: Any, count: int) -> list[Any] | tuple[Any, ...]:
    """UNPACK_SEQUENCE (`unpack_iterable` with no star): the items, last first (stack order)."""
    if (type(v) is tuple or type(v) is list) and len(v) == count:
        return v[::-1]
    it = _iterate(v)
    items = []
    for i in range(count):
        w = next(it, MISSING)
        if w is MISSING:
            raise ValueError(f"not enough values to unpack (expected {count}, got {i})")
        items.append(w)
    if next(it, MISSING) is not MISSING:
        raise ValueError(f"too many values to unpack (expected {count})")
    items.reverse()
    return items


def unpack_ex(v: Any, arg: int) -> list[Any]:
    """UNPACK_EX (`unpack_iterable` with a star): `arg & 0xFF` items before the starred list,
    `arg >> 8` after; returned last first (stack order)."""
    before, after = arg & 0xFF, arg >> 8
    it = _iterate(v)
    items: list[Any] = []
    for i in range(before):
        w = next(it, MISSING)
        if w is MISSING:
            raise ValueError(f"not enough values to unpack (expected at least {before + after}, got {i})")
        items.append(w)
    rest = list(it)
    if len(rest) < after:
        raise ValueError(f"not enough values to unpack (expected at least {before + after}, "
                         f"got {before + len(rest)})")
    if after:
        items.append(rest[:len(rest) - after])
        items.extend(rest[len(rest) - after:])
    else:
        items.append(rest)
    items.reverse()
    return items


# -- building calls and displays -------------------------------------------------------------------

def list_extend(lst: list[Any], iterable: Any) -> None:
    """LIST_EXTEND, with "Value after * must be an iterable" for a non-iterable."""
    try:
        lst.extend(iterable)
        return
    except TypeError:
        if has_tp_iter(iterable) or is_sequence(iterable):
            raise
    raise TypeError(f"Value after * must be an iterable, not {type(iterable).__name__}")


def _merge(target: dict[Any, Any], other: Any, override: int) -> None:
    """CPython's `dict_merge(a, b, override)`: override 1 replaces, 2 raises KeyError(key) on a
    duplicate. A real dict (with dict's own iteration) is read directly; anything else through
    `keys()` and `[]` (AttributeError when it has no `keys`)."""
    if isinstance(other, dict) and type(other).__iter__ is dict.__iter__:
        pairs = list(dict.items(other))
        for key, value in pairs:
            if override == 2 and key in target:
                raise KeyError(key)
            target[key] = value
        return
    for key in list(other.keys()):
        if override == 2 and key in target:
            raise KeyError(key)
        target[key] = other[key]


def dict_update(target: dict[Any, Any], other: Any) -> None:
    """DICT_UPDATE (`{**m}`), with "'X' object is not a mapping"."""
    try:
        _merge(target, other, 1)
        return
    except AttributeError:
        pass
    raise TypeError(f"'{type(other).__name__}' object is not a mapping")


def _kwargs_error(func: Any, other: Any, error: BaseException) -> BaseException:
    """CPython's `format_kwargs_error`: the TypeError replacing a failed `**` merge, or the
    original error when it is not one of the two it rewrites."""
    if isinstance(error, AttributeError):
        return TypeError(f"{function_str(func)} argument after ** must be a mapping, "
                         f"not {type(other).__name__}")
    if isinstance(error, KeyError) and len(error.args) == 1:
        return TypeError(f"{function_str(func)} got multiple values for keyword argument "
                         f"'{error.args[0]}'")
    return error


def dict_merge(func: Any, target: dict[Any, Any], other: Any) -> None:
    """DICT_MERGE (`f(**m)`): merge, a duplicate keyword or a non-mapping is a TypeError naming
    the callable `func`."""
    try:
        _merge(target, other, 2)
        return
    except (AttributeError, KeyError) as e:
        err = _kwargs_error(func, other, e)
        if err is e:
            raise
    raise err


def kwargs_for_call(func: Any, kwargs: Any) -> dict[str, Any]:
    """CALL_EX's keyword mapping as an exact dict (a copy merged as DICT_MERGE would)."""
    d: dict[Any, Any] = {}
    dict_merge(func, d, kwargs)
    return d


def args_for_call(func: Any, args: Any) -> tuple[Any, ...]:
    """CALL_EX's positional arguments as a tuple (`check_args_iterable`'s TypeError first)."""
    if not has_tp_iter(args) and not is_sequence(args):
        raise TypeError(f"{function_str(func)} argument after * must be an iterable, "
                        f"not {type(args).__name__}")
    return tuple(args)


# -- imports --------------------------------------------------------------------------------------------

def import_name(name: str, fromlist: Any, level: Any, globals: dict[str, Any],
                builtins: dict[str, Any]) -> Any:
    """IMPORT_NAME: the frame's `__import__(name, globals, None, fromlist, level)`."""
    import_func = builtins.get("__import__", MISSING)
    if import_func is MISSING:
        raise ImportError("__import__ not found")
    return import_func(name, globals, None, fromlist, level)


def import_from(module: Any, name: str) -> Any:
    """IMPORT_FROM (CPython's `import_from`): the attribute, else the submodule from sys.modules
    (circular relative imports), else ImportError worded as CPython's."""
    value = getattr(module, name, MISSING)
    if value is not MISSING:
        return value
    pkgname = getattr(module, "__name__", MISSING)
    if isinstance(pkgname, str):
        value = sys.modules.get(f"{pkgname}.{name}", MISSING)
        if value is not MISSING:
            return value
    else:
        pkgname = None
    shown = pkgname if pkgname is not None else "<unknown module name>"
    pkgpath = getattr(module, "__file__", None)
    if not isinstance(pkgpath, str):
        raise ImportError(f"cannot import name {name!r} from {shown!r} (unknown location)",
                          name=pkgname)
    spec = getattr(module, "__spec__", None)
    if getattr(spec, "_initializing", False):
        msg = (f"cannot import name {name!r} from partially initialized module {shown!r} "
               f"(most likely due to a circular import) ({pkgpath})")
    else:
        msg = f"cannot import name {name!r} from {shown!r} ({pkgpath})"
    raise ImportError(msg, name=pkgname, path=pkgpath)


#: The `builtins` module's namespace: the builtins of code run without a function's globals.
BUILTINS: dict[str, Any] = _builtins.__dict__
