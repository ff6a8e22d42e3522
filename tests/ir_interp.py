"""A tiny reference interpreter for zir IR, for tests of passes (not the VM).

It runs a `zir.Function` in either form: phis are evaluated in parallel on entry to a block from
its predecessor (along an exception edge: when an instruction of the predecessor raises); every
operation with an `impl` in the opcode table runs that callable (IR attributes appended as
arguments, as for `load_attr`/`tuple_item`); the few operations without one are spelled out here.
A fused compare-and-branch row `cbr_<cmp>` (if the table has one) branches on `<cmp>`'s impl.

    result = run(f, 3, 4, globals={"print": print})     # returns the value or raises
    outcome(f, 3, 4)                                     # ("ok", value) or ("raise", type, message)
"""

from __future__ import annotations

import builtins
from typing import Any

from zir.ir import UNBOUND, Const, Function, Value
from zir.ops import EXHAUSTED, IR_OPS


class StepLimit(Exception):
    """The interpreted function ran longer than `max_steps` instructions."""


def _unpack(seq: Any, count: int) -> tuple[Any, ...]:
    items = tuple(seq)
    if len(items) != count:
        if len(items) < count:
            raise ValueError(f"not enough values to unpack (expected {count}, got {len(items)})")
        raise ValueError(f"too many values to unpack (expected {count})")
    return items


def run(f: Function, *args: Any, globals: dict[str, Any] | None = None, max_steps: int = 100_000) -> Any:
    """Execute `f` on positional `args`; return its value or raise what it raises."""
    env: dict[str, Any] = {}
    if len(args) != len(f.params):
        raise TypeError(f"@{f.name} takes {len(f.params)} arguments, got {len(args)}")
    for p, a in zip(f.params, args, strict=True):
        env[p.name] = a
    g = dict(globals or {})
    blocks = f.block_map()
    block = f.blocks[0]
    pred: str | None = None
    exc: BaseException | None = None
    steps = 0

    def val(v: Value) -> Any:
        if isinstance(v, Const):
            return v.value
        return env.get(v.name, UNBOUND)

    while True:
        if block.phis:
            assert pred is not None, f"phis in ^{block.label} entered without a predecessor"
            new = [val(p.incoming[pred]) for p in block.phis]
            for p, v in zip(block.phis, new, strict=True):
                env[p.dest.name] = v
        nxt: str | None = None
        for i in block.instrs:
            steps += 1
            if steps > max_steps:
                raise StepLimit(f"@{f.name} ran more than {max_steps} steps")
            op = IR_OPS[i.op]
            a = [val(x) for x in i.args]
            try:
                if i.op == "br":
                    nxt = i.targets[0]
                    break
                if i.op == "cbr":
                    nxt = i.targets[0] if a[0] else i.targets[1]
                    break
                if i.op == "cbr_more":
                    nxt = i.targets[1] if a[0] is EXHAUSTED else i.targets[0]
                    break
                if i.op == "ret":
                    return a[0]
                if i.op == "raise":
                    if not a:
                        assert exc is not None
                        raise exc
                    e = a[0]() if isinstance(a[0], type) else a[0]
                    if len(a) > 1:
                        raise e from a[1]
                    raise e
                if i.op == "reraise":
                    raise a[0]
                if op.terminator and op.targets == 2 and i.op.startswith("cbr_"):
                    cmp = IR_OPS[i.op[4:]].impl
                    assert cmp is not None
                    nxt = i.targets[0] if cmp(*a) else i.targets[1]
                    break
                result = _execute(i.op, a, i.attrs, g, exc)
            except BaseException as e:  # noqa: BLE001 -- the interpreted program's exception
                if isinstance(e, StepLimit) or block.handler is None or not op.may_raise:
                    raise
                exc = e
                pred, block = block.label, blocks[block.handler]
                break
            if i.dest is not None:
                env[i.dest.name] = result
        else:
            raise AssertionError(f"block ^{block.label} fell off its end")
        if nxt is not None:
            pred, block = block.label, blocks[nxt]


def _execute(name: str, a: list[Any], attrs: dict[str, Any], g: dict[str, Any],
             exc: BaseException | None) -> Any:
    if name in ("const", "copy"):
        return a[0]
    if name == "check_bound":
        if a[0] is UNBOUND:
            raise UnboundLocalError(f"cannot access local variable '{attrs['name']}' where it is not "
                                    "associated with a value")
        return None
    if name == "load_global":
        key = attrs["name"]
        if key in g:
            return g[key]
        if hasattr(builtins, key):
            return getattr(builtins, key)
        raise NameError(f"name '{key}' is not defined")
    if name == "store_global":
        g[attrs["name"]] = a[0]
        return None
    if name == "call":
        return a[0](*a[1:])
    if name == "call_kw":
        names = a[-1]
        pos = a[1:len(a) - 1 - len(names)]
        kw = dict(zip(names, a[len(a) - 1 - len(names):-1], strict=True))
        return a[0](*pos, **kw)
    if name == "call_ex":
        return a[0](*a[1], **(a[2] or {}))
    if name == "iter_next":
        return next(a[0], EXHAUSTED)
    if name == "unpack":
        return _unpack(a[0], attrs["count"])
    if name == "catch":
        return exc
    if name == "format_value":
        return IR_OPS[name].impl(attrs["flags"], *a)  # type: ignore[misc]
    if name in ("list_append", "set_add"):
        getattr(a[0], "append" if name == "list_append" else "add")(a[1])
        return None
    if name == "map_add":
        a[0][a[1]] = a[2]
        return None
    impl = IR_OPS[name].impl
    if impl is None:
        raise NotImplementedError(f"ir_interp: no semantics for '{name}'")
    return impl(*a, *attrs.values())


def outcome(f: Function, *args: Any, **kw: Any) -> tuple[Any, ...]:
    """("ok", value) or ("raise", exception type name, message): comparable across transformations."""
    try:
        return ("ok", run(f, *args, **kw))
    except StepLimit:
        raise
    except Exception as e:  # noqa: BLE001
        return ("raise", type(e).__name__, str(e))
