"""The one opcode table.

Every operation zir knows is declared here once, as an `OpDef` record. The IR printer and parser,
the verifier, constant folding, lifting, stackify, the ZBC assembler and verifier, the VMs and the
docs all read this table; nothing else lists opcodes by hand.

A row describes an operation in up to two forms:

* its **IR form** (`ir=True`): mnemonic `name`, `arity` value operands (`VARIADIC` when the count
  varies), whether it `defines` a result, its `attrs` (named immediates such as ``{name="len"}``)
  and, for terminators, how many block `targets` it names;
* its **ZBC form** (`zbc` is the stack-bytecode mnemonic, or None when the operation has no
  stack form): the kind of its integer argument (`zarg`) and its stack effect (`pops`, `pushes`,
  `branch_pushes` for the path that jumps).

For an operation with both forms (`generic=True`, the default) the two are related mechanically:
the popped stack items, bottom to top, are the IR operands in order; the pushed item (at most one)
is the IR result; the ZBC argument is the IR attribute named in `attrs` (a name, a cell name or an
immediate), or for `zarg="count"` it is implied by the operand count. Lifting and stackify apply
that rule to every generic row; a row with `generic=False` has a stack shape the rule cannot
express and is handled by name.
"""

from __future__ import annotations

import enum
import operator
import types
from collections.abc import Callable
from typing import Any

import attrs

VARIADIC = -1


class Effect(enum.Flag):
    """What executing an operation may do besides computing its result."""

    PURE = 0
    READ = enum.auto()  #: reads memory (globals, attributes, containers, frame state)
    WRITE = enum.auto()  #: writes memory
    RAISE = enum.auto()  #: may raise an exception
    CONTROL = enum.auto()  #: transfers control (terminators)
    CALLS = enum.auto()  #: may run arbitrary user code (dunder methods, calls)


PURE = Effect.PURE
R, W, X, C, U = Effect.READ, Effect.WRITE, Effect.RAISE, Effect.CONTROL, Effect.CALLS
#: The effect of an operation that dispatches to a dunder method of an unknown type.
DUNDER = X | U


class ZArg(enum.Enum):
    """How a ZBC instruction's integer argument is read."""

    NONE = "none"  #: no argument
    CONST = "const"  #: index into `Code.consts`
    NAME = "name"  #: index into `Code.names`
    LOCAL = "local"  #: index into `Code.varnames`
    CELL = "cell"  #: index into `Code.cellvars + Code.freevars`
    JUMP = "jump"  #: absolute instruction index
    COUNT = "count"  #: number of items (arguments, elements)
    IMM = "imm"  #: an immediate small integer (flags, a stack depth)


def _fixed(n: int) -> Callable[[int], int]:
    return lambda arg: n


def _plus(n: int) -> Callable[[int], int]:
    return lambda arg: arg + n


@attrs.frozen
class OpDef:
    """One operation: its IR form, its ZBC form and its semantics."""

    name: str
    arity: int
    defines: bool
    effects: Effect = PURE
    impl: Callable[..., Any] | None = None
    commutative: bool = False
    terminator: bool = False
    targets: int = 0
    attrs: tuple[str, ...] = ()
    ir: bool = True
    zbc: str | None = None
    zarg: ZArg = ZArg.NONE
    pops: Callable[[int], int] = _fixed(0)
    pushes: Callable[[int], int] = _fixed(0)
    branch_pushes: Callable[[int], int] | None = None
    #: Valid ZBC arguments are `zmin <= arg <= zmax` (for IMM/COUNT; None: no upper bound).
    zmin: int = 0
    zmax: int | None = None
    #: How many stack items the ZBC form needs to exist (it may read below what it pops, e.g.
    #: LIST_APPEND reaching its list); None means `pops(arg)`. The ZBC verifier checks it.
    reach: Callable[[int], int] | None = None
    generic: bool = True
    #: The operation can suspend its frame (generators, coroutines): only code flagged "generator"
    #: or "coroutine" may hold it.
    suspends: bool = False
    symbol: str | None = None  #: Python operator spelling, for docs and messages
    doc: str = ""

    @property
    def pure(self) -> bool:
        """True when the operation has no effect at all (safe to delete when unused)."""
        return self.effects == PURE

    @property
    def may_raise(self) -> bool:
        return bool(self.effects & (X | U))

    @property
    def reads(self) -> bool:
        return bool(self.effects & (R | U))

    @property
    def writes(self) -> bool:
        return bool(self.effects & (W | U))


# --------------------------------------------------------------------------------------------------
# Small callables the table points at (named, so docs and profiles show a name, not <lambda>).


def contains(a: Any, b: Any) -> bool:
    """`a in b` (CONTAINS_OP 0)."""
    return a in b


def not_contains(a: Any, b: Any) -> bool:
    """`a not in b` (CONTAINS_OP 1)."""
    return a not in b


def build_tuple(*items: Any) -> tuple[Any, ...]:
    return items


def build_list(*items: Any) -> list[Any]:
    return list(items)


def build_set(*items: Any) -> set[Any]:
    return set(items)


def build_map(*kv: Any) -> dict[Any, Any]:
    it = iter(kv)
    return {k: v for k, v in zip(it, it, strict=True)}


def build_const_key_map(*args: Any) -> dict[Any, Any]:
    *values, keys = args
    return dict(zip(keys, values, strict=True))


def build_string(*parts: str) -> str:
    return "".join(parts)


_CONVERSIONS: dict[int, Callable[[Any], str] | None] = {0: None, 1: str, 2: repr, 3: ascii}


def format_value(flags: int, value: Any, spec: str = "") -> str:
    """FORMAT_VALUE: an f-string field; `flags & 3` is the conversion, `flags & 4` says a spec follows."""
    conv = _CONVERSIONS[flags & 3]
    if conv is not None:
        value = conv(value)
    if not spec and type(value) is str:
        return value
    return format(value, spec)


def store_subscr(value: Any, container: Any, key: Any) -> None:
    container[key] = value


def store_attr(value: Any, owner: Any, name: str) -> None:
    setattr(owner, name, value)


def list_to_tuple(lst: list[Any]) -> tuple[Any, ...]:
    return tuple(lst)


# Generators and coroutines (CPython 3.11 `Python/ceval.c`, `Objects/genobject.c`). A VM generator or
# coroutine object (vm/generators.py) marks its class with `_zir_suspendable`: it is awaited as itself,
# as CPython awaits a native coroutine, and `yield from` drives it through `send`.


def _is_native_coroutine(obj: Any) -> bool:
    """A coroutine CPython's GET_AWAITABLE takes as its own iterator (a native or VM coroutine, or a
    generator made a coroutine by `types.coroutine`)."""
    t = type(obj)
    if t is types.CoroutineType:
        return True
    if t is types.GeneratorType:
        return bool(obj.gi_code.co_flags & 0x100)  # CO_ITERABLE_COROUTINE
    return getattr(t, "_zir_coroutine", False) is True


def get_awaitable(obj: Any, flags: int = 0) -> Any:
    """GET_AWAITABLE: the iterator `await obj` drives (`_PyCoro_GetAwaitableIter`); `flags` 1/2 say
    the object came from `__aenter__`/`__aexit__`, for the error message."""
    if type(obj) is types.CoroutineType or _is_native_coroutine(obj):  # (the commonest, without a call)
        return obj
    method = getattr(type(obj), "__await__", None)
    if method is None:
        if flags == 1:
            raise TypeError("'async with' received an object from __aenter__ that does not implement "
                            f"__await__: {type(obj).__name__}")
        if flags == 2:
            raise TypeError("'async with' received an object from __aexit__ that does not implement "
                            f"__await__: {type(obj).__name__}")
        raise TypeError(f"object {type(obj).__name__} can't be used in 'await' expression")
    it = method(obj)
    if _is_native_coroutine(it):
        raise TypeError("__await__() returned a coroutine")
    if not hasattr(type(it), "__next__"):
        raise TypeError(f"__await__() returned non-iterator of type '{type(it).__name__}'")
    return it


def get_yield_from_iter(obj: Any) -> Any:
    """GET_YIELD_FROM_ITER in a (non-coroutine) generator: a generator as itself, a coroutine is
    refused, anything else `iter(obj)`."""
    t = type(obj)
    if t is types.CoroutineType or getattr(t, "_zir_coroutine", False):
        raise TypeError("cannot 'yield from' a coroutine object in a non-coroutine generator")
    if t is types.GeneratorType or getattr(t, "_zir_suspendable", False):
        return obj
    return iter(obj)


def get_aiter(obj: Any) -> Any:
    """GET_AITER: `type(obj).__aiter__(obj)`, which must have `__anext__`."""
    method = getattr(type(obj), "__aiter__", None)
    if method is None:
        raise TypeError(f"'async for' requires an object with __aiter__ method, got {type(obj).__name__}")
    it = method(obj)
    if getattr(type(it), "__anext__", None) is None:
        raise TypeError("'async for' received an object from __aiter__ that does not implement "
                        f"__anext__: {type(it).__name__}")
    return it


def get_anext(aiter: Any) -> Any:
    """GET_ANEXT: the awaitable of `aiter.__anext__()`."""
    method = getattr(type(aiter), "__anext__", None)
    if method is None:
        raise TypeError(f"'async for' requires an iterator with __anext__ method, got {type(aiter).__name__}")
    awaitable = method(aiter)
    try:
        return get_awaitable(awaitable)
    except TypeError:
        raise TypeError("'async for' received an invalid object from __anext__: "
                        f"{type(awaitable).__name__}") from None


def end_async_for(aiter: Any, exc: BaseException) -> None:
    """END_ASYNC_FOR: the loop ends on StopAsyncIteration; any other exception goes on."""
    if not isinstance(exc, StopAsyncIteration):
        raise exc


def aexit_of(mgr: Any) -> Any:
    """The bound `__aexit__` of an async context manager (first half of BEFORE_ASYNC_WITH, which
    looks `__aenter__` up first and names whichever is missing)."""
    t = type(mgr)
    if getattr(t, "__aenter__", None) is None:
        raise TypeError(f"'{t.__name__}' object does not support the asynchronous context manager protocol")
    exit_ = getattr(t, "__aexit__", None)
    if exit_ is None:
        raise TypeError(f"'{t.__name__}' object does not support the asynchronous context manager protocol "
                        "(missed __aexit__ method)")
    return exit_.__get__(mgr, t)


def aenter(mgr: Any) -> Any:
    """`mgr.__aenter__()`, looked up on the type (second half of BEFORE_ASYNC_WITH)."""
    t = type(mgr)
    return t.__aenter__.__get__(mgr, t)()


# --------------------------------------------------------------------------------------------------
# The table.

_ROWS: list[OpDef] = []


def _row(name: str, arity: int, defines: bool, **kw: Any) -> None:
    _ROWS.append(OpDef(name, arity, defines, **kw))


def _binary(name: str, fn: Callable[[Any, Any], Any], symbol: str, commutative: bool = False) -> None:
    _row(name, 2, True, effects=DUNDER, impl=fn, commutative=commutative, zbc=name.upper(),
         pops=_fixed(2), pushes=_fixed(1), symbol=symbol, doc=f"`a {symbol} b`")


# Binary operators (BINARY_OP's argument table, one row each).
# Commutativity is claimed only where Python guarantees it for every type that defines the operator
# symmetrically; for user classes even `+` need not commute, so no arithmetic row claims it.
for _n, _f, _s in [
    ("add", operator.add, "+"), ("sub", operator.sub, "-"), ("mul", operator.mul, "*"),
    ("truediv", operator.truediv, "/"), ("floordiv", operator.floordiv, "//"),
    ("mod", operator.mod, "%"), ("pow", operator.pow, "**"), ("lshift", operator.lshift, "<<"),
    ("rshift", operator.rshift, ">>"), ("and", operator.and_, "&"), ("or", operator.or_, "|"),
    ("xor", operator.xor, "^"), ("matmul", operator.matmul, "@"),
    ("iadd", operator.iadd, "+="), ("isub", operator.isub, "-="), ("imul", operator.imul, "*="),
    ("itruediv", operator.itruediv, "/="), ("ifloordiv", operator.ifloordiv, "//="),
    ("imod", operator.imod, "%="), ("ipow", operator.ipow, "**="), ("ilshift", operator.ilshift, "<<="),
    ("irshift", operator.irshift, ">>="), ("iand", operator.iand, "&="), ("ior", operator.ior, "|="),
    ("ixor", operator.ixor, "^="), ("imatmul", operator.imatmul, "@="),
]:
    _binary(_n, _f, _s)

# Comparisons (COMPARE_OP, IS_OP, CONTAINS_OP).
for _n, _f, _s in [
    ("lt", operator.lt, "<"), ("le", operator.le, "<="), ("eq", operator.eq, "=="),
    ("ne", operator.ne, "!="), ("gt", operator.gt, ">"), ("ge", operator.ge, ">="),
    ("in", contains, "in"), ("not_in", not_contains, "not in"),
]:
    _binary(_n, _f, _s)
_row("is", 2, True, impl=operator.is_, commutative=True, zbc="IS", pops=_fixed(2), pushes=_fixed(1),
     symbol="is", doc="`a is b` (identity; pure)")
_row("is_not", 2, True, impl=operator.is_not, commutative=True, zbc="IS_NOT", pops=_fixed(2),
     pushes=_fixed(1), symbol="is not", doc="`a is not b` (identity; pure)")

# Unary operators and the truth test.
_UNARY: list[tuple[str, Callable[[Any], Any], str]] = [
    ("neg", operator.neg, "-"), ("pos", operator.pos, "+"), ("invert", operator.invert, "~"),
    ("not", operator.not_, "not"), ("truth", bool, "bool")]
for _n, _u, _s in _UNARY:
    _row(_n, 1, True, effects=DUNDER, impl=_u, zbc=_n.upper(), pops=_fixed(1), pushes=_fixed(1),
         symbol=_s, doc=f"`{_s} a`" if _n != "truth" else "`bool(a)`, the truth test")

# Values and copies.
_row("const", 1, True, ir=True, zbc="LOAD_CONST", zarg=ZArg.CONST, pushes=_fixed(1), generic=False,
     doc="a literal; in ZBC, push `consts[arg]`; in IR, `%x = const 5` (operand must be a literal)")
_row("copy", 1, True, doc="`%x = copy %y`: a move between virtual registers")
_row("check_bound", 1, False, effects=X, attrs=("name",), zbc="CHECK_BOUND", zarg=ZArg.NAME, pops=_fixed(1),
     doc="raise UnboundLocalError naming local `name` if the operand is UNBOUND (the local holds no "
         "value); in ZBC the operand comes from LOAD_FAST_UNCHECKED")

# Stack-only data movement (ZBC).
_row("load_fast", 0, False, ir=False, zbc="LOAD_FAST", zarg=ZArg.LOCAL, effects=X, pushes=_fixed(1),
     generic=False, doc="push local `varnames[arg]`; UnboundLocalError when it holds no value "
                        "(never assigned, deleted, or UNBOUND stored into it)")
_row("load_fast_unchecked", 0, False, ir=False, zbc="LOAD_FAST_UNCHECKED", zarg=ZArg.LOCAL,
     pushes=_fixed(1), generic=False,
     doc="push local `varnames[arg]`, or zir.UNBOUND when it holds no value (never raises); stackify "
         "uses it to move maybe-unbound values (`copy`) and to feed CHECK_BOUND")
_row("load_unbound", 0, False, ir=False, zbc="LOAD_UNBOUND", pushes=_fixed(1), generic=False,
     doc="push zir.UNBOUND, the value of a local holding nothing (`%x = const undef` in stackified code)")
_row("store_fast", 0, False, ir=False, zbc="STORE_FAST", zarg=ZArg.LOCAL, pops=_fixed(1), generic=False,
     doc="pop into local `varnames[arg]`; storing zir.UNBOUND (from LOAD_UNBOUND or "
         "LOAD_FAST_UNCHECKED) leaves the local holding no value")
_row("delete_fast", 0, False, ir=False, zbc="DELETE_FAST", zarg=ZArg.LOCAL, effects=X, generic=False,
     doc="unbind local `varnames[arg]` (UnboundLocalError when unbound)")
_row("nop", 0, False, ir=False, zbc="NOP", doc="do nothing")
_row("pop_top", 0, False, ir=False, zbc="POP_TOP", pops=_fixed(1), generic=False, doc="drop the top item")
_row("copy_n", 0, False, ir=False, zbc="COPY", zarg=ZArg.IMM, pops=lambda a: a, pushes=lambda a: a + 1,
     zmin=1, generic=False, doc="push a copy of the item `arg` deep (1 = top)")
_row("swap", 0, False, ir=False, zbc="SWAP", zarg=ZArg.IMM, pops=lambda a: a, pushes=lambda a: a,
     zmin=2, generic=False, doc="swap the top item with the one `arg` deep")

# Globals, attributes, subscripts, cells.
_row("load_global", 0, True, effects=R | X, attrs=("name",), zbc="LOAD_GLOBAL", zarg=ZArg.NAME,
     pushes=_fixed(1), doc="a global, else a builtin; NameError when neither")
_row("store_global", 1, False, effects=W, attrs=("name",), zbc="STORE_GLOBAL", zarg=ZArg.NAME,
     pops=_fixed(1), doc="assign a global")
_row("delete_global", 0, False, effects=W | X, attrs=("name",), zbc="DELETE_GLOBAL", zarg=ZArg.NAME,
     doc="delete a global; NameError when missing")
_row("load_attr", 1, True, effects=DUNDER | R, impl=getattr, attrs=("name",), zbc="LOAD_ATTR",
     zarg=ZArg.NAME, pops=_fixed(1), pushes=_fixed(1), doc="`obj.name`")
_row("store_attr", 2, False, effects=DUNDER | W, impl=store_attr, attrs=("name",), zbc="STORE_ATTR",
     zarg=ZArg.NAME, pops=_fixed(2), doc="`owner.name = value`; operands (value, owner)")
_row("delete_attr", 1, False, effects=DUNDER | W, impl=delattr, attrs=("name",), zbc="DELETE_ATTR",
     zarg=ZArg.NAME, pops=_fixed(1), doc="`del obj.name`")
_row("getitem", 2, True, effects=DUNDER | R, impl=operator.getitem, zbc="BINARY_SUBSCR", pops=_fixed(2),
     pushes=_fixed(1), doc="`container[key]`")
_row("setitem", 3, False, effects=DUNDER | W, impl=store_subscr, zbc="STORE_SUBSCR", pops=_fixed(3),
     doc="`container[key] = value`; operands (value, container, key)")
_row("delitem", 2, False, effects=DUNDER | W, impl=operator.delitem, zbc="DELETE_SUBSCR", pops=_fixed(2),
     doc="`del container[key]`")
_row("load_deref", 0, True, effects=R | X, attrs=("name",), zbc="LOAD_DEREF", zarg=ZArg.CELL,
     pushes=_fixed(1), doc="the contents of a cell or free variable")
_row("store_deref", 1, False, effects=W, attrs=("name",), zbc="STORE_DEREF", zarg=ZArg.CELL,
     pops=_fixed(1), doc="store into a cell")
_row("delete_deref", 0, False, effects=W | X, attrs=("name",), zbc="DELETE_DEREF", zarg=ZArg.CELL,
     doc="empty a cell")
_row("load_closure", 0, True, effects=R, attrs=("name",), zbc="LOAD_CLOSURE", zarg=ZArg.CELL,
     pushes=_fixed(1), doc="the cell object itself (to build a closure)")

# Building containers and strings.
_row("build_tuple", VARIADIC, True, impl=build_tuple, zbc="BUILD_TUPLE", zarg=ZArg.COUNT,
     pops=lambda a: a, pushes=_fixed(1), doc="a tuple of the operands")
_row("build_list", VARIADIC, True, impl=build_list, zbc="BUILD_LIST", zarg=ZArg.COUNT,
     pops=lambda a: a, pushes=_fixed(1), doc="a new list of the operands")
_row("build_set", VARIADIC, True, effects=DUNDER, impl=build_set, zbc="BUILD_SET", zarg=ZArg.COUNT,
     pops=lambda a: a, pushes=_fixed(1), doc="a new set (hashing may raise)")
_row("build_map", VARIADIC, True, effects=DUNDER, impl=build_map, zbc="BUILD_MAP", zarg=ZArg.COUNT,
     pops=lambda a: 2 * a, pushes=_fixed(1), doc="a new dict from key, value operand pairs")
_row("build_const_key_map", VARIADIC, True, effects=DUNDER, impl=build_const_key_map,
     zbc="BUILD_CONST_KEY_MAP", zarg=ZArg.COUNT, pops=_plus(1), pushes=_fixed(1),
     doc="a new dict from values and a final tuple of keys")
_row("build_slice", VARIADIC, True, impl=slice, zbc="BUILD_SLICE", zarg=ZArg.COUNT, pops=lambda a: a,
     pushes=_fixed(1), zmin=2, zmax=3, doc="`slice(start, stop[, step])`")
_row("build_string", VARIADIC, True, impl=build_string, zbc="BUILD_STRING", zarg=ZArg.COUNT,
     pops=lambda a: a, pushes=_fixed(1), doc="concatenate f-string pieces")
_row("format_value", VARIADIC, True, effects=DUNDER, impl=format_value, attrs=("flags",),
     zbc="FORMAT_VALUE", zarg=ZArg.IMM, pops=lambda a: 2 if a & 4 else 1, pushes=_fixed(1), zmax=7,
     doc="format an f-string field (`flags & 3` conversion, `flags & 4` spec operand)")
_row("list_to_tuple", 1, True, impl=list_to_tuple, zbc="LIST_TO_TUPLE", pops=_fixed(1), pushes=_fixed(1),
     doc="`tuple(list)`")
# In ZBC these reach a container `arg` items deep; in IR the container is the first operand.
for _n, _k, _d in [("list_append", 1, "`list.append(v)`"), ("set_add", 1, "`set.add(v)`"),
                   ("map_add", 2, "`d[k] = v`"), ("list_extend", 1, "`list.extend(it)`"),
                   ("set_update", 1, "`set.update(it)`"), ("dict_update", 1, "`dict.update(m)`"),
                   ("dict_merge", 1, "merge `**m` into call keywords (TypeError on duplicates); IR "
                                     "operands (dict, m, callable): the callable names the function "
                                     "in the TypeError")]:
    # DICT_MERGE also names the callable (2 below the dict) in its duplicate-keyword TypeError; the
    # IR form carries it as a third operand (ZBC reads it from the stack, it does not pop it).
    _row(_n, _k + 1 + (_n == "dict_merge"), False, effects=DUNDER | W, zbc=_n.upper(), zarg=ZArg.IMM,
         pops=_fixed(_k), zmin=1, reach=_plus(_k + (2 if _n == "dict_merge" else 0)), generic=False, doc=_d)

# Unpacking. ZBC pushes the items; IR makes a checked tuple and reads it with `tuple_item`.
_row("unpack_sequence", 0, False, ir=False, effects=DUNDER, zbc="UNPACK_SEQUENCE", zarg=ZArg.COUNT,
     pops=_fixed(1), pushes=lambda a: a, generic=False,
     doc="push the `arg` items of a sequence, first on top")
_row("unpack_ex", 0, False, ir=False, effects=DUNDER, zbc="UNPACK_EX", zarg=ZArg.IMM, pops=_fixed(1),
     pushes=lambda a: (a & 0xFF) + (a >> 8) + 1, generic=False,
     doc="starred unpacking: `arg & 0xFF` before the star, `arg >> 8` after")
_row("unpack", 1, True, effects=DUNDER, attrs=("count",), zbc="UNPACK", zarg=ZArg.IMM, pops=_fixed(1),
     pushes=_fixed(1), doc="a tuple of exactly `count` items from an iterable (ValueError otherwise, "
                           "with UNPACK_SEQUENCE's messages)")
# ZBC UNPACK_STAR packs both attributes into its argument as UNPACK_EX does: before | after << 8.
_row("unpack_star", 1, True, effects=DUNDER, attrs=("before", "after"), zbc="UNPACK_STAR", zarg=ZArg.IMM,
     pops=_fixed(1), pushes=_fixed(1), zmax=0xFFFF, generic=False,
     doc="a tuple `(*before, [rest...], *after)` for starred unpacking (UNPACK_EX's checks and "
         "messages); ZBC argument `before | after << 8`")
_row("tuple_item", 1, True, impl=operator.getitem, attrs=("index",), zbc="TUPLE_ITEM", zarg=ZArg.IMM,
     pops=_fixed(1), pushes=_fixed(1), doc="item `index` of a tuple made by `unpack`/`unpack_star` (pure)")

# Calls and functions.
_row("call", VARIADIC, True, effects=DUNDER | R | W, zbc="CALL", zarg=ZArg.COUNT, pops=_plus(1),
     pushes=_fixed(1), doc="`f(*operands[1:])`")
_row("call_kw", VARIADIC, True, effects=DUNDER | R | W, zbc="CALL_KW", zarg=ZArg.COUNT, pops=_plus(2),
     pushes=_fixed(1), doc="`f(a..., k=v...)`: last operand is the tuple of keyword names")
_row("call_ex", 3, True, effects=DUNDER | R | W, zbc="CALL_EX", pops=_fixed(3), pushes=_fixed(1),
     doc="`f(*args, **kwargs)`; kwargs may be None")
_row("make_function", VARIADIC, True, attrs=("flags",), zbc="MAKE_FUNCTION", zarg=ZArg.IMM,
     pops=lambda a: 1 + bin(a & 0xF).count("1"), pushes=_fixed(1), zmax=0xF,
     doc="a function from [defaults][, kwdefaults][, annotations][, closure], code (CPython's flags)")
_row("load_build_class", 0, True, effects=R, zbc="LOAD_BUILD_CLASS", pushes=_fixed(1),
     doc="`builtins.__build_class__`")
_row("load_assertion_error", 0, True, zbc="LOAD_ASSERTION_ERROR", pushes=_fixed(1),
     doc="the `AssertionError` class (not a global lookup)")
_row("import_name", 2, True, effects=DUNDER | R | W, attrs=("name",), zbc="IMPORT_NAME", zarg=ZArg.NAME,
     pops=_fixed(2), pushes=_fixed(1), doc="`__import__(name, fromlist, level)`; operands (level, fromlist)")
_row("import_from", 1, True, effects=DUNDER | R, attrs=("name",), zbc="IMPORT_FROM", zarg=ZArg.NAME,
     pops=_fixed(1), pushes=_fixed(2), generic=False, doc="`from module import name` (keeps the module)")

# Iteration.
_row("get_iter", 1, True, effects=DUNDER, impl=iter, zbc="GET_ITER", pops=_fixed(1), pushes=_fixed(1),
     doc="`iter(x)`")
_row("for_iter", 0, False, ir=False, effects=DUNDER | C, zbc="FOR_ITER", zarg=ZArg.JUMP, pops=_fixed(1),
     pushes=_fixed(2), branch_pushes=_fixed(0), generic=False,
     doc="push the iterator's next item, or pop the iterator and jump when it is exhausted")
_row("for_iter_back", 0, False, ir=False, effects=DUNDER | C, zbc="FOR_ITER_BACK", zarg=ZArg.JUMP,
     pops=_fixed(1), pushes=_fixed(0), branch_pushes=_fixed(2), generic=False,
     doc="FOR_ITER with the branch inverted, for a loop's back edge: push the iterator's next item "
         "and jump (to the loop body), or pop the iterator and fall through when it is exhausted")
_row("iter_next", 1, True, effects=DUNDER, zbc="ITER_NEXT", pops=_fixed(1), pushes=_fixed(1),
     doc="the iterator's next item, or the EXHAUSTED marker (StopIteration is absorbed); ZBC "
         "ITER_NEXT pops the iterator")

# Exceptions.
_row("catch", 0, True, effects=R,
     doc="the exception being handled, at the start of a handler block")
_row("push_exc_info", 1, True, effects=R | W, zbc="PUSH_EXC_INFO", pops=_fixed(1), pushes=_fixed(2),
     generic=False, doc="make the operand the current handled exception; result: the previous one")
_row("pop_except", 1, False, effects=W, zbc="POP_EXCEPT", pops=_fixed(1),
     doc="restore the previously handled exception (the operand)")
_row("exc_match", 2, True, effects=X, zbc="CHECK_EXC_MATCH", pops=_fixed(2), pushes=_fixed(2), generic=False,
     doc="does the exception match the class/tuple (TypeError for a bad class); ZBC keeps the exception")
_row("before_with", 1, True, effects=DUNDER | R | W, zbc="BEFORE_WITH", pops=_fixed(1), pushes=_fixed(2),
     generic=False, doc="enter a context manager; IR result: tuple (bound __exit__, __enter__() result)")
_row("with_exit", 2, True, effects=DUNDER | R | W, zbc="WITH_EXCEPT_START", pops=_fixed(4), pushes=_fixed(5),
     generic=False, doc="call `__exit__(type(e), e, tb)` for an exception leaving a `with` block")

# Generators, coroutines, tasks. A suspending row's ZBC instruction, when resumed, runs again at the
# same index: the VM pushes the resumption (sent value or thrown exception) and the instruction
# consumes it (vm/generators.py). Generator-ness is the function's flag, not an instruction.
_SUSPENDS = DUNDER | R | W
_row("yield", 1, True, effects=_SUSPENDS, suspends=True, zbc="YIELD_VALUE", pops=_fixed(1), pushes=_fixed(1),
     doc="suspend the generator, yielding the operand; the result is the value sent in (a thrown "
         "exception raises here)")
_row("yield_from", 2, True, effects=_SUSPENDS, suspends=True, zbc="YIELD_FROM", pops=_fixed(2),
     pushes=_fixed(1),
     doc="`yield from` / `await`: drive the iterator (operands: iterator, first value to send), "
         "suspending for each item it yields; the result is its return value (3.11's SEND loop)")
_row("get_yield_from_iter", 1, True, effects=DUNDER, impl=get_yield_from_iter, zbc="GET_YIELD_FROM_ITER",
     pops=_fixed(1), pushes=_fixed(1), doc="the iterator `yield from x` drives")
_row("get_awaitable", 1, True, effects=DUNDER, impl=get_awaitable, attrs=("flags",), zbc="GET_AWAITABLE",
     zarg=ZArg.IMM, pops=_fixed(1), pushes=_fixed(1), zmax=2,
     doc="the iterator `await x` drives (`flags` 1/2: from `__aenter__`/`__aexit__`, for messages)")
_row("get_aiter", 1, True, effects=DUNDER, impl=get_aiter, zbc="GET_AITER", pops=_fixed(1),
     pushes=_fixed(1), doc="`type(x).__aiter__(x)` for `async for`")
_row("get_anext", 1, True, effects=DUNDER, impl=get_anext, zbc="GET_ANEXT", pops=_fixed(1),
     pushes=_fixed(1), doc="the awaitable of `aiter.__anext__()` (ZBC pops the iterator: the front end "
                           "copies it first)")
_row("end_async_for", 2, False, effects=X, impl=end_async_for, zbc="END_ASYNC_FOR", pops=_fixed(2),
     doc="end of `async for`: operands (async iterator, exception); re-raise unless StopAsyncIteration")
_row("aexit_of", 1, True, effects=DUNDER | R, impl=aexit_of, zbc="AEXIT_OF", pops=_fixed(1),
     pushes=_fixed(1), doc="the bound `__aexit__` of an async context manager (BEFORE_ASYNC_WITH's checks)")
_row("aenter", 1, True, effects=DUNDER | R | W, impl=aenter, zbc="AENTER", pops=_fixed(1), pushes=_fixed(1),
     doc="`mgr.__aenter__()` (an awaitable)")
_row("spawn", VARIADIC, True, effects=DUNDER | R | W, zbc="SPAWN", zarg=ZArg.COUNT, pops=_plus(1),
     pushes=_fixed(1), doc="start `f(*operands[1:])` (a coroutine) as a VM task and give its future; the "
                           "task runs at once until it first suspends")
_row("await", 1, True, effects=_SUSPENDS, suspends=True, zbc="AWAIT", pops=_fixed(1), pushes=_fixed(1),
     doc="the result of a future from `spawn` (or any awaitable): no suspension when it is already "
         "resolved, else suspend until it is")

# Terminators.
_row("br", 0, False, effects=C, terminator=True, targets=1, zbc="JUMP", zarg=ZArg.JUMP, generic=False,
     doc="jump")
_row("cbr", 1, False, effects=C | DUNDER, terminator=True, targets=2,
     doc="branch on the operand's truth: first target when true, second when false")
_row("cbr_more", 1, False, effects=C, terminator=True, targets=2,
     doc="first target when the operand (from iter_next) is an item, second when EXHAUSTED")
_row("pop_jump_if_exhausted", 0, False, ir=False, effects=C, zbc="POP_JUMP_IF_EXHAUSTED", zarg=ZArg.JUMP,
     pops=_fixed(1), branch_pushes=_fixed(0), generic=False,
     doc="pop the top item (from ITER_NEXT) and jump when it is the EXHAUSTED marker (`cbr_more`)")
_row("ret", 1, False, effects=C, terminator=True, zbc="RETURN_VALUE", pops=_fixed(1), generic=False,
     doc="return the operand")
_row("raise", VARIADIC, False, effects=C | X, terminator=True, zbc="RAISE_VARARGS", zarg=ZArg.COUNT,
     pops=lambda a: a, zmax=2, generic=False,
     doc="`raise` (re-raise the handled exception), `raise e` or `raise e from cause`")
# RERAISE pops only the exception (3.11's stack effect is -1 for every oparg); with oparg != 0 it
# also reads the lasti item below it, which an enclosing handler's depth may still count.
_row("reraise", 1, False, effects=C | X, terminator=True, zbc="RERAISE", zarg=ZArg.IMM,
     pops=_fixed(1), reach=_plus(1), generic=False,
     doc="re-raise an exception object unchanged (end of a handler that did not match)")
for _n, _z, _keep in [("pop_jump_if_false", "POP_JUMP_IF_FALSE", 0),
                      ("pop_jump_if_true", "POP_JUMP_IF_TRUE", 0),
                      ("pop_jump_if_none", "POP_JUMP_IF_NONE", 0),
                      ("pop_jump_if_not_none", "POP_JUMP_IF_NOT_NONE", 0),
                      ("jump_if_false_or_pop", "JUMP_IF_FALSE_OR_POP", 1),
                      ("jump_if_true_or_pop", "JUMP_IF_TRUE_OR_POP", 1)]:
    _row(_n, 0, False, ir=False, effects=C | DUNDER, zbc=_z, zarg=ZArg.JUMP, pops=_fixed(1),
         branch_pushes=_fixed(_keep), generic=False,
         doc=("pop the top item and jump when it tests as named" if not _keep else
              "jump keeping the top item when it tests as named, else pop it"))

# Register code (`zir.regcode`). `spill`/`reload` are IR rows because register-allocated IR holds
# them (`spill %r1 {slot=0}`, `%r1 = reload {slot=0}`); lowering turns the `slot` attribute into a
# `Slot` operand. The fused compare-and-branch rows exist only in register code (ir=False): lowering
# makes them, and IR keeps the plain compare + `cbr` that stackify and the peephole know.
_row("spill", 1, False, effects=W, attrs=("slot",),
     doc="store the operand in frame slot `slot` (register code: `s<slot> = spill r`)")
_row("reload", 0, True, effects=R, attrs=("slot",),
     doc="the value last stored in frame slot `slot` (register code: `r = reload s<slot>`)")


def _branch_on(cmp: Callable[[Any, Any], Any], name: str, symbol: str) -> Callable[[Any, Any], bool]:
    def branch(a: Any, b: Any) -> bool:
        return True if cmp(a, b) else False  # the truth test `cbr` makes of the compare's result

    branch.__name__ = branch.__qualname__ = f"branch_{name}"
    branch.__doc__ = f"The truth of `a {symbol} b`, as `cbr` on the result of `{name}` tests it."
    return branch


_COMPARES = ("lt", "le", "eq", "ne", "gt", "ge", "is", "is_not", "in", "not_in")
for _cmp in [r for r in _ROWS if r.name in _COMPARES]:
    assert _cmp.impl is not None and _cmp.symbol is not None
    _row(f"cbr_{_cmp.name}", 2, False, ir=False, effects=C | _cmp.effects,
         impl=_branch_on(_cmp.impl, _cmp.name, _cmp.symbol), terminator=True, targets=2, symbol=_cmp.symbol,
         doc=f"register code: branch to the first target when `a {_cmp.symbol} b` is true, else the "
             f"second (`{_cmp.name}` fused with `cbr`)")

#: Every operation by IR-side name.
OPS: dict[str, OpDef] = {}
#: Operations by ZBC mnemonic.
ZBC_OPS: dict[str, OpDef] = {}
for _op in _ROWS:
    if _op.name in OPS:
        raise AssertionError(f"opcode {_op.name!r} declared twice")
    OPS[_op.name] = _op
    if _op.zbc is not None:
        if _op.zbc in ZBC_OPS:
            raise AssertionError(f"ZBC opcode {_op.zbc!r} declared twice")
        ZBC_OPS[_op.zbc] = _op

#: Operations that have an IR form.
IR_OPS: dict[str, OpDef] = {name: op for name, op in OPS.items() if op.ir}


class Exhausted:
    """The marker `iter_next` returns when the iterator is exhausted (a singleton)."""

    _instance: Exhausted | None = None

    def __new__(cls) -> Exhausted:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EXHAUSTED"

    def __reduce__(self) -> str:
        return "EXHAUSTED"


EXHAUSTED = Exhausted()


def lookup(name: str) -> OpDef:
    """The IR operation called `name`; KeyError when there is none."""
    return OPS[name]


def suggest(name: str, choices: list[str] | None = None) -> str:
    """A ' (did you mean X?)' hint for a misspelt opcode, or ''."""
    import difflib

    pool = choices if choices is not None else list(IR_OPS)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""
