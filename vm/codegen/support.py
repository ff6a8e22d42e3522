"""What generated register-VM code calls: constants and small helpers, bound to one runtime.

The generated function receives every name below as a default argument, so each is a fast local in
its body. `namespace(rt)` builds the values for a runtime `rt` (a `vm.register_vm.RegisterRuntime`):
most are the shared CPython semantics of `vm.semantics` and the stack interpreter's error builders
(`vm.stack_ops`), a few are closures over `rt` for the state CPython keeps per thread (the exception
being handled, `rt.handled`) and for the bookkeeping that keeps `__context__` exactly CPython's:

* an exception the program raises itself (`raise`, a re-raise) is *marked* (`rt.raised`) with the
  context CPython gives it, because Python's own `raise` statement in the generated code would chain
  the host's exception instead; wherever it is caught the mark restores that context;
* any other exception (from an operation, a host call, argument binding) gets the context CPython's
  `_PyErr_SetObject` would give it from the handled exception, where it is first caught.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vm.runtime import FRAME_BUILTINS, VMFault, VMFunction
from vm.semantics import (
    MISSING,
    args_for_call,
    before_with,
    call_while_handling,
    check_except_type,
    dict_merge,
    dict_update,
    exc_matches,
    import_from,
    import_name,
    kwargs_for_call,
    list_extend,
    prepare_raise,
    set_context,
    unpack_ex,
    unpack_sequence,
    with_exit,
)
from vm.stack_ops import delete_deref, name_error, unbound_deref, unbound_local
from zir.ir import UNBOUND
from zir.ops import EXHAUSTED

if TYPE_CHECKING:
    from vm.register_vm import RegisterRuntime
    from vm.trampoline import RFrame

__all__ = ["HELPERS", "RETURN", "namespace"]

#: A call-site memo's entry for a function that runs on the host (see `_resolve`).
_HOST: Any = ("host",)


class _Return:
    """What a pooled frame yields to the trampoline when its activation returns (the value is in
    the frame record's `ret`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "RETURN"


RETURN: Any = _Return()

#: Builtins that read their caller's frame (called with the register frame instead).
_FRAME_READERS = frozenset(f for f in FRAME_BUILTINS if type(f) is types.BuiltinFunctionType)


def _builtin(builtins: dict[str, Any], name: str) -> Any:
    """LOAD_GLOBAL's second half: the builtin `name`, else NameError."""
    v = builtins.get(name, MISSING)
    if v is MISSING:
        raise name_error(name)
    return v


def _delete_global(globals: dict[str, Any], name: str) -> None:
    if name not in globals:
        raise name_error(name)
    del globals[name]


def _unbound_deref(frame: RFrame, index: int) -> BaseException:
    return unbound_deref(frame.prog.code, index)


def _delete_deref(frame: RFrame, cell: Any, index: int) -> None:
    delete_deref(cell, frame.prog.code, index)


def _unpack(v: Any, count: int) -> tuple[Any, ...]:
    return tuple(unpack_sequence(v, count)[::-1])


def _unpack_star(v: Any, arg: int) -> tuple[Any, ...]:
    return tuple(unpack_ex(v, arg)[::-1])


def _split_kw(values: Sequence[Any], names: tuple[str, ...]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """CALL_KW's arguments: positional ones, then a dict of the last len(names)."""
    npos = len(values) - len(names)
    return tuple(values[:npos]), dict(zip(names, values[npos:], strict=True))


def _build_class(builtins: dict[str, Any]) -> Any:
    bc = builtins.get("__build_class__", MISSING)
    if bc is MISSING:
        raise NameError("__build_class__ not found")
    return bc


def _exc_match(exc: BaseException, right: Any) -> bool:
    check_except_type(right)
    return exc_matches(exc, right)


def _before_with(mgr: Any) -> tuple[Any, Any]:
    exit_, enter = before_with(mgr)
    return exit_, enter()


class _Once:
    """Hands an iterator to a `for` statement: `iter()` of it is the iterator itself, with no call
    of the iterator's own `__iter__` (which `get_iter` already made)."""

    __slots__ = ("it",)

    def __init__(self, it: Any) -> None:
        self.it = it

    def __iter__(self) -> Any:
        return self.it


def _generator() -> Iterator[int]:
    yield 0


def _self_iterators() -> frozenset[int]:
    """ids of builtin iterator types whose `iter()` is the iterator itself, without side effects."""
    import itertools

    samples: list[Any] = [
        iter([]), iter(()), iter(range(0)), iter(range(2**70, 2**70 + 1)), iter(""), iter(b""),
        iter(bytearray()), iter({}), iter({}.values()), iter({}.items()), iter(set()), reversed([]),
        reversed(range(0)), enumerate(()), zip(), map(len, ()), filter(None, ()), _generator(),
        itertools.count(), itertools.repeat(0), itertools.chain(), itertools.islice((), 0),
        iter(frozenset()), iter(memoryview(b"")), iter(lambda: 0, 0),
    ]
    return frozenset(id(type(s)) for s in samples)


#: The types themselves are kept alive by the interpreter, so their ids stay theirs.
_SELF_ITERATORS = _self_iterators()


def _constants() -> dict[str, Any]:
    return {
        "_U": UNBOUND, "_M": MISSING, "_EXH": EXHAUSTED, "_RET": RETURN,
        "_FT": types.FunctionType, "_MT": types.MethodType, "_VF": VMFunction,
        "_BFT": types.BuiltinFunctionType, "_FB": _FRAME_READERS, "_super": super,
        "_FAULT": VMFault, "_Cell": types.CellType,
        "_builtin": _builtin, "_delete_global": _delete_global, "_unbound_local": unbound_local,
        "_unbound_deref": _unbound_deref, "_delete_deref": _delete_deref,
        "_list_extend": list_extend, "_set_update": set.update, "_dict_update": dict_update,
        "_dict_merge": dict_merge, "_unpack": _unpack, "_unpack_star": _unpack_star, "_split_kw": _split_kw,
        "_kwargs_for_call": kwargs_for_call, "_args_for_call": args_for_call, "_build_class": _build_class,
        "_import_name": import_name, "_import_from": import_from, "_exc_match": _exc_match,
        "_before_with": _before_with, "_with_exit": with_exit, "_Once": _Once, "_SELFITER": _SELF_ITERATORS,
    }


def _bound(rt: RegisterRuntime) -> dict[str, Callable[..., Any]]:
    """The helpers that read or write the runtime's exception state."""

    def hcall(frame: RFrame, f: Any, args: Sequence[Any], kw: dict[str, Any] | None) -> Any:
        """A host call that is not the plain fast path: a builtin that reads its caller's frame, or
        any call made while VM code handles an exception (the host must see it)."""
        if type(f) is types.BuiltinFunctionType or f is super:
            special = rt.frame_builtins.get(id(f))
            if special is not None and special[0] is f:
                return special[1](frame, args, kw)
        h = rt.handled
        if h is not None and h is not rt.host_exc:
            return call_while_handling(h, f, args, kw)
        return f(*args, **kw) if kw else f(*args)

    def caught(e: BaseException) -> BaseException:
        """A VM handler catches `e`: give it CPython's context (see the module docstring)."""
        if e is rt.raised:
            ctx = rt.raised_ctx
            if e.__context__ is not ctx:
                e.__context__ = ctx
        else:
            h = rt.handled
            if h is not None and e is not h:
                ctx = e.__context__
                if ctx is None or ctx is rt.host_exc:
                    set_context(e, h)
        rt.raised = rt.raised_ctx = None
        return e

    def raise_(exc: Any, cause: Any = MISSING) -> BaseException:
        """`raise exc [from cause]` (CPython's do_raise), chained to the handled exception."""
        e = prepare_raise(exc, cause)
        if rt.handled is not None:
            set_context(e, rt.handled)
        rt.raised = e
        rt.raised_ctx = e.__context__
        return e

    def reraise_handled() -> BaseException:
        """A bare `raise`: the handled exception, unchanged."""
        e = rt.handled
        if e is None:
            raise RuntimeError("No active exception to reraise")
        rt.raised = e
        rt.raised_ctx = e.__context__
        return e

    def reraise(e: BaseException) -> BaseException:
        """RERAISE: the exception object unchanged."""
        rt.raised = e
        rt.raised_ctx = e.__context__
        return e

    programs = rt.programs

    def resolve(f: types.FunctionType, nargs: int, cache: list[Any]) -> None:
        """Resolve function `f` at a call site passing `nargs` positional arguments (once per
        function: the site's memo, `cache[3]`, remembers it). A leaf taking exactly those
        arguments goes to the site's leaf slots (it is then called in place), any other VM
        function taking exactly those to its frame slots (the site takes its frame from the
        program's pool and yields it, bound), a function that runs on the host to the host slot
        (the site calls it in place); the rest (a generator or coroutine, other arguments) to
        none: the call yields to the trampoline, which binds as CPython does. Compiling `f` may
        fail: a VMFault, as for any call."""
        if type(f) is not types.FunctionType:  # a method of a VM function or of a builtin
            return
        memo = cache[3]
        entry = memo.get(f, MISSING)
        if entry is MISSING:
            code = f.__code__
            known = programs.get(id(code))
            prog: Any = known[1] if known is not None and known[0] is code else rt._compile_callee(f)
            entry = None
            if prog is None:
                entry = _HOST
            elif prog.suspends is None and prog.simple and prog.argcount == nargs:
                if prog.leaf:
                    from vm.trampoline import RFrame

                    rec = RFrame()
                    rec.prog, rec.func, rec.args, rec.gen, rec.send, rec.ret = prog, f, (), None, None, None
                    entry = (True, prog.genfn, rec)
                elif prog.pool is not None:
                    entry = (False, prog.pool.free, prog.pool.take)
                else:
                    entry = (False, None, rt.plain_frames(prog))
            memo[f] = entry
        if entry is None:
            return
        if entry is _HOST:
            cache[7] = f
        elif entry[0]:
            cache[0], cache[1], cache[2] = f, entry[1], entry[2]
        else:
            cache[4], cache[5], cache[6] = f, entry[1], entry[2]

    def leaf_exit(e: BaseException, cache: list[Any]) -> None:
        """An exception left a leaf called in place: its profile locates it."""
        profile = cache[2].prog.profile
        if profile is not None:
            profile.exit(e)

    return {"_hcall": hcall, "_caught": caught, "_raise": raise_, "_reraise_handled": reraise_handled,
            "_reraise": reraise, "_resolve": resolve, "_leaf_exit": leaf_exit}


def namespace(rt: RegisterRuntime) -> dict[str, Any]:
    """Every helper name with its value for runtime `rt` (plus `_rt` itself)."""
    ns = _constants()
    ns.update(_bound(rt))
    ns["_rt"] = rt
    return ns


#: The names `namespace` provides (generated code may use only these, `_k<N>` constants and the
#: profile and step-limit names of `vm.codegen.emit`).
HELPERS: frozenset[str] = frozenset(
    [*_constants(), "_hcall", "_caught", "_raise", "_reraise_handled", "_reraise", "_resolve", "_leaf_exit",
     "_rt"])
