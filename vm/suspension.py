"""How VM frames suspend and are resumed: the markers, the stack-mode steps of the suspending rows,
and `advance`, which runs a generator's, coroutine's or task's frame on (the objects that own such
frames are vm/generators.py and vm/tasks.py).

How a frame suspends (the three suspending rows of the opcode table: `yield`, `yield_from`, `await`):

* stack mode: the instruction leaves the operand stack as it must be found on resumption, sets
  `frame.pc` back to itself and makes the loop return the yielded value with `runtime.yielded` set.
  Resuming pushes a `Resume` (the value sent in, or the exception thrown in) and runs the same
  instruction again, which consumes it (`step_yield`, `step_yield_from`, `step_await`).
* register mode: the generated generator function yields `(SUSPEND, value, None)` to the trampoline
  (a call request whose callee is the `SUSPEND` marker), which returns the value from the run with
  `runtime.yielded` set; resuming sends the value into the generated generator or throws the
  exception into it. `yield from` is its SEND loop written out in the generated code
  (vm.codegen.suspend), with `await_step` for what is thrown in.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from vm.tasks import Task
from zir.ops import get_awaitable

__all__ = ["CONTINUE", "NO_FRAMES", "SENDS", "SUSPEND", "SUSPEND_NONE", "Marker", "Resume", "advance",
           "await_step", "fault_type", "finalize", "resume_with", "step_await", "step_yield",
           "step_yield_from", "throw_value"]


class Marker:
    """A named sentinel."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: What a stack-mode step returns when the instruction finished without suspending.
CONTINUE: Any = Marker("CONTINUE")
#: The callee of the request a register-mode frame yields to the trampoline to suspend.
SUSPEND: Any = Marker("SUSPEND")


class Resume:
    """What a stack-mode frame finds on top of its operand stack when it is resumed: the value
    sent in, or the exception thrown in (`exc` not None)."""

    __slots__ = ("value", "exc")

    def __init__(self, value: Any, exc: BaseException | None) -> None:
        self.value = value
        self.exc = exc


#: The iterator types SEND always drives with `send` (3.11's fast path): native generators and
#: coroutines, and the VM's own (vm.generators adds them where it defines them).
SENDS: set[type] = {types.GeneratorType, types.CoroutineType}


def _send(it: Any, value: Any) -> Any:
    """One step of `yield from` (3.11's SEND): `send` for generators and coroutines (VM or native)
    and for any value but None, else `__next__`."""
    if value is None and type(it) not in SENDS:
        return type(it).__next__(it)
    return it.send(value)


def throw_value(it: Any, exc: BaseException) -> Any:
    """Throw `exc` into the iterator a `yield from` delegates to (`_gen_throw`): GeneratorExit
    closes it and goes on in the delegating frame; an iterator without `throw` lets the exception
    go on in the delegating frame; else the iterator's next item (StopIteration: it returned)."""
    if isinstance(exc, GeneratorExit):
        close = getattr(it, "close", None)
        if close is not None:
            close()
        raise exc
    throw = getattr(it, "throw", None)
    if throw is None:
        raise exc
    return throw(exc)


# -- stack mode ------------------------------------------------------------------------------------

def step_yield(stack: list[Any]) -> Any:
    """YIELD_VALUE: suspend with the top item; resumed, push the value sent in (or raise)."""
    top = stack.pop()
    if type(top) is not Resume:
        return top
    if top.exc is not None:
        raise top.exc
    stack.append(top.value)
    return CONTINUE


def step_yield_from(stack: list[Any]) -> Any:
    """YIELD_FROM [iterator, value]: send the value in; suspend with what it yields (leaving
    [iterator]), or replace both by its return value. Resumed: [iterator, Resume]."""
    top = stack.pop()
    it = stack[-1]
    try:
        if type(top) is Resume:
            exc = top.exc
            item = _send(it, top.value) if exc is None else throw_value(it, exc)
        else:
            item = _send(it, top)
    except StopIteration as stop:
        stack[-1] = stop.value
        return CONTINUE
    return item


def step_await(stack: list[Any]) -> Any:
    """AWAIT [awaitable]: a resolved VM task gives its result (or raises) without suspending;
    anything else is awaited as `await x` would (GET_AWAITABLE, then YIELD_FROM)."""
    top = stack[-1]
    if type(top) is Task and top._state:
        stack[-1] = top._zir_take()
        if _getrefcount(top) <= _AWAIT_REFS:
            top._sched.release(top)
        return CONTINUE
    if type(top) is Resume:
        return step_yield_from(stack)
    stack[-1] = get_awaitable(top)
    stack.append(None)
    return step_yield_from(stack)


#: References to a finished task that `step_await` itself holds when it checks whether anything
#: else does (its local and `sys.getrefcount`'s argument).
_AWAIT_REFS = 2
_getrefcount = sys.getrefcount


# -- register mode -----------------------------------------------------------------------------------

#: The request of a suspension that yields None.
SUSPEND_NONE = (SUSPEND, None, None)
#: The level a frame sent into without a trampoline takes in `RegisterRuntime.stacks` (its depth
#: counts for runs nested in it).
NO_FRAMES: list[Any] = []


def await_step(it: Any, value: Any, exc: BaseException | None) -> Any:
    """One step of register code's `yield from` loop (vm.codegen.suspend) that is not a plain
    `it.send(value)`: the exception thrown into the frame where it waits (`exc`) goes on into
    `it` (`_gen_throw`'s rules, `throw_value`; a VM fault goes through untouched), or `it` has no
    `send` worth calling (3.11's SEND calls `__next__` for None)."""
    if exc is not None:
        if _is_fault(exc):
            raise exc
        return throw_value(it, exc)
    return _send(it, value)


def _is_fault(exc: BaseException) -> bool:
    return isinstance(exc, fault_type())


def fault_type() -> type[BaseException]:
    """`vm.runtime.VMFault` (imported on first use: vm.runtime imports this module's users)."""
    from vm.runtime import VMFault

    return VMFault




def advance(rt: Any, frame: Any, started: bool, value: Any, exc: BaseException | None,
            own: BaseException | None, made: Any = None) -> tuple[Any, BaseException | None]:
    """Run a generator's or coroutine's frame on from where it stopped (from its start when not
    `started`), with `value` sent in or `exc` thrown in, to its next suspension (`rt.yielded` is
    then set: the caller clears it) or its end. `own` is the exception the frame was handling when
    it last suspended (CPython's gi_exc_state): it is what the frame sees as handled, else what
    its resumer handles. Returns what the frame yielded or returned, and its exception state for
    the next resumption. What VM generator objects and VM tasks (vm/tasks.py) step frames with.
    `made`: the request a suspended register frame already made when it was sent into directly
    (`_Suspendable.send`), to go on from."""
    saved = rt.handled
    host_exc = sys.exc_info()[1]
    if host_exc is None or host_exc is getattr(rt, "host_exc", None):
        # the host handles nothing, or what it handled when the running VM level began: what the
        # VM handles now is newer (a frame of that level resuming its delegate in a handler)
        outer = saved if saved is not None else host_exc
    else:
        outer = host_exc
    rt.handled = own if own is not None else outer
    rt.yielded = False
    try:
        if started and rt.profiler is None and not hasattr(frame, "stack"):
            # a suspended register frame: straight to `send_in` (what `resume_with` reaches)
            value = rt.send_in(frame, value, exc, host_exc, made)
        else:
            value = resume_with(rt, frame, value, exc, started, host_exc)
        now = rt.handled
    finally:
        rt.handled = saved
    return value, (now if now is not outer else None)


def finalize(rt: Any, close: Any) -> None:
    """Call `close()`, a finalizer's closing of a suspended frame. The collector runs finalizers
    at any point of a run, even between a frame's suspension and its resumer reading
    `rt.yielded`, or while an exception propagates (register mode's `raised` marks): those marks
    are the interrupted run's again afterwards."""
    yielded = rt.yielded
    raised = getattr(rt, "raised", None), getattr(rt, "raised_ctx", None)
    try:
        close()
    finally:
        rt.yielded = yielded
        if hasattr(rt, "raised"):
            rt.raised, rt.raised_ctx = raised


def resume_with(rt: Any, frame: Any, value: Any, exc: BaseException | None, started: bool,
                host_exc: BaseException | None) -> Any:
    """Run `frame` on from where it stopped (from its start when not `started`), with `value` sent
    in or `exc` thrown in; return what it yielded (`rt.yielded` set) or returned."""
    if hasattr(frame, "stack"):  # a stack-mode frame
        if started:
            frame.stack.append(Resume(value, exc))
        # the stack loop keeps its level's host exception to itself; `advance` reads it here (the
        # register runtime keeps it as `host_exc` for every level)
        try:
            outer_host = rt.host_exc
        except AttributeError:  # (the first time)
            rt.host_exc = outer_host = None
        if outer_host is host_exc:  # (None, mostly: nothing to set)
            return rt.execute(rt, frame, host_exc)
        rt.host_exc = host_exc
        try:
            return rt.execute(rt, frame, host_exc)
        finally:
            rt.host_exc = outer_host
    return rt.resume(frame, value, exc, started, host_exc)
