"""The stack interpreter's rare operations, one small handler each, and the errors the loop raises.

A handler is `handler(runtime, frame, stack, arg)`: it works on the frame's operand stack (the same
list the loop holds) with the argument `decode` resolved (a name string for NAME arguments, the
integer otherwise). `SLOW_HANDLERS` maps ZBC mnemonics to them; `vm.stack_interp.decode` turns each
such instruction into a `(K_SLOW, (handler, arg))` pair. The hot operations are inline in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vm.frame import Frame
from vm.runtime import Runtime
from vm.semantics import (
    MISSING,
    before_with,
    check_except_type,
    dict_merge,
    dict_update,
    exc_matches,
    import_from,
    import_name,
    list_extend,
    unpack_ex,
    unpack_sequence,
    with_exit,
)
from zir.bytecode.code import Code
from zir.ir import UNBOUND
from zir.ops import ZBC_OPS

__all__ = ["SLOW_HANDLERS", "SlowHandler", "name_error", "unbound_deref", "unbound_local"]

_UNBOUND_LOCAL = "cannot access local variable '{}' where it is not associated with a value"
_UNBOUND_FREE = "cannot access free variable '{}' where it is not associated with a value in enclosing scope"


def unbound_local(name: str) -> UnboundLocalError:
    """LOAD_FAST/DELETE_FAST/CHECK_BOUND of a local that holds no value (3.11's wording)."""
    return UnboundLocalError(_UNBOUND_LOCAL.format(name))


def name_error(name: str) -> NameError:
    """A global that is neither in globals nor in builtins (`.name` set, as CPython does)."""
    return NameError(f"name '{name}' is not defined", name=name)


def unbound_deref(code: Code, index: int) -> NameError:
    """CPython's `format_exc_unbound`: UnboundLocalError for a cellvar, NameError for a free var."""
    if index < len(code.cellvars):
        return unbound_local(code.cellvars[index])
    name = code.freevars[index - len(code.cellvars)]
    return NameError(_UNBOUND_FREE.format(name), name=name)


def delete_deref(cell: Any, code: Code, index: int) -> None:
    """`del` of a cell or free variable (both VM modes): empties `cell`, or raises as CPython does
    when it is already empty."""
    try:
        cell.cell_contents  # noqa: B018 -- only asking whether the cell is empty
    except ValueError:
        empty = True
    else:
        empty = False
    if empty:
        raise unbound_deref(code, index)
    del cell.cell_contents


# -- the handlers ------------------------------------------------------------------------------------------

SlowHandler = Callable[[Runtime, Frame, list[Any], Any], None]
SLOW_HANDLERS: dict[str, SlowHandler] = {}


def _slow(zbc: str) -> Callable[[SlowHandler], SlowHandler]:
    def register(fn: SlowHandler) -> SlowHandler:
        SLOW_HANDLERS[zbc] = fn
        return fn
    return register


@_slow("NOP")
def _nop(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    return None


@_slow("DELETE_FAST")
def _delete_fast(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    if frame.fast[arg] is UNBOUND:
        raise unbound_local(frame.prog.code.varnames[arg])
    frame.fast[arg] = UNBOUND


@_slow("CHECK_BOUND")
def _check_bound(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    if stack.pop() is UNBOUND:
        raise unbound_local(arg)


@_slow("STORE_GLOBAL")
def _store_global(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    frame.globals[arg] = stack.pop()


@_slow("DELETE_GLOBAL")
def _delete_global(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    if arg not in frame.globals:
        raise name_error(arg)
    del frame.globals[arg]


@_slow("DELETE_DEREF")
def _delete_deref(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    delete_deref(frame.cells[arg], frame.prog.code, arg)


@_slow("LOAD_CLOSURE")
def _load_closure(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    stack.append(frame.cells[arg])


_format_value = ZBC_OPS["FORMAT_VALUE"].impl
_build_class = "__build_class__"


@_slow("FORMAT_VALUE")
def _format(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    spec = stack.pop() if arg & 4 else ""
    value = stack.pop()
    stack.append(_format_value(arg, value, spec))  # type: ignore[misc]


@_slow("LIST_APPEND")
def _list_append(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    v = stack.pop()
    list.append(stack[-arg], v)


@_slow("SET_ADD")
def _set_add(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    v = stack.pop()
    set.add(stack[-arg], v)


@_slow("MAP_ADD")
def _map_add(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    value = stack.pop()
    key = stack.pop()
    dict.__setitem__(stack[-arg], key, value)


@_slow("LIST_EXTEND")
def _list_extend(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    it = stack.pop()
    list_extend(stack[-arg], it)


@_slow("SET_UPDATE")
def _set_update(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    it = stack.pop()
    set.update(stack[-arg], it)


@_slow("DICT_UPDATE")
def _dict_update(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    m = stack.pop()
    dict_update(stack[-arg], m)


@_slow("DICT_MERGE")
def _dict_merge(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    m = stack.pop()
    dict_merge(stack[-arg - 2], stack[-arg], m)


@_slow("UNPACK_SEQUENCE")
def _unpack_sequence(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    stack.extend(unpack_sequence(stack.pop(), arg))


@_slow("UNPACK_EX")
def _unpack_ex(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    stack.extend(unpack_ex(stack.pop(), arg))


@_slow("UNPACK")
def _unpack(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    items = unpack_sequence(stack.pop(), arg)
    stack.append(tuple(items[::-1]))


@_slow("UNPACK_STAR")
def _unpack_star(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    items = unpack_ex(stack.pop(), arg)
    stack.append(tuple(items[::-1]))


@_slow("MAKE_FUNCTION")
def _make_function(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    code = stack.pop()
    closure = stack.pop() if arg & 8 else None
    annotations = stack.pop() if arg & 4 else None
    kwdefaults = stack.pop() if arg & 2 else None
    defaults = stack.pop() if arg & 1 else None
    stack.append(rt.make_function(frame, code, defaults, kwdefaults, annotations, closure))


@_slow("LOAD_BUILD_CLASS")
def _load_build_class(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    bc = frame.builtins.get(_build_class, MISSING)
    if bc is MISSING:
        raise NameError("__build_class__ not found")
    stack.append(bc)


@_slow("IMPORT_NAME")
def _import_name(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    fromlist = stack.pop()
    level = stack.pop()
    stack.append(import_name(arg, fromlist, level, frame.globals, frame.builtins))


@_slow("IMPORT_FROM")
def _import_from(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    stack.append(import_from(stack[-1], arg))


@_slow("PUSH_EXC_INFO")
def _push_exc_info(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    exc = stack[-1]
    stack[-1] = rt.handled
    stack.append(exc)
    rt.handled = exc


@_slow("POP_EXCEPT")
def _pop_except(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    rt.handled = stack.pop()


@_slow("CHECK_EXC_MATCH")
def _check_exc_match(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    right = stack.pop()
    check_except_type(right)
    stack.append(exc_matches(stack[-1], right))


@_slow("BEFORE_WITH")
def _before_with(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    exit_, enter = before_with(stack[-1])
    stack[-1] = exit_
    stack.append(enter())


@_slow("WITH_EXCEPT_START")
def _with_except_start(rt: Runtime, frame: Frame, stack: list[Any], arg: Any) -> None:
    stack.append(with_exit(stack[-4], stack[-1]))
