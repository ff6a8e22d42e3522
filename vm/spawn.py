"""SPAWN: start `f(*args)` as a VM task and give its future (vm/tasks.py has the task objects and
the scheduler that steps them).

SPAWN calls `f` (a VM coroutine function, usually) and starts the coroutine as a task at once: its
first step runs here, so a task that never suspends has finished when SPAWN pushes its future and
AWAIT takes the value without suspending (the fast path). A task started from a VM coroutine
function holds the coroutine's frame and steps it itself: no coroutine object is made, since
nothing but the task could ever resume that frame. Register code's SPAWN sites, and the scheduler
for the function spawned last, remember a VM coroutine function whose frames need no binding and
take its frame from the program's pool themselves (`start_frame`).

SPAWN never raises on behalf of the call: an exception from calling `f`, or a result that cannot be
awaited, is kept in the task and raised by AWAIT, where the sequential program raised it.
"""

from __future__ import annotations

import asyncio
from types import FunctionType
from typing import Any

from vm.tasks import DONE, Scheduler, Task, is_fault, scheduler_of
from zir.ops import get_awaitable

__all__ = ["spawn", "spawn_handler", "start_frame"]


def spawn(rt: Any, f: Any, args: tuple[Any, ...] | list[Any], site: list[Any] | None = None) -> Any:
    """SPAWN: the future of `f(*args)` started as a VM task (see the module docstring). `site`, a
    register-code SPAWN's cache, learns a VM coroutine function it can start by itself: [the
    function, its pool's free list (None: take from the maker), its frame maker] (vm.codegen.suspend)."""
    sched = rt.scheduler
    if sched is None:
        sched = scheduler_of(rt)
    known = sched.known
    if f is known[0] and len(args) == known[3]:  # the function spawned last: start its frame here
        if site is not None:
            site[0], site[1], site[2] = f, known[1], known[2]
        free = known[1]
        if free is None:
            frame = known[2](f, args)
        else:
            frame = free.pop() if free else known[2]()
            frame.func, frame.args = f, args
        rt.frames += 1
        return start_frame(rt, frame)
    try:
        frame = rt.frame_for_call(f, args, None)
        if frame is not None:
            kind = frame.prog.suspends
            if kind is not None and kind._zir_coroutine:
                if type(f) is FunctionType and hasattr(rt, "plain_frames"):
                    _learn(rt, known, f, frame.prog, len(args))
                    if site is not None:
                        site[0], site[1], site[2] = known[0], known[1], known[2]
                return start_frame(rt, frame)
        if frame is not None and frame.prog.suspends is not None:
            coro: Any = frame.prog.suspends(rt, frame)
        elif frame is not None:
            coro = rt.run(frame)  # a plain VM function that returns an awaitable
        elif hasattr(rt, "host_call"):
            coro = rt.host_call(f, args, None)
        else:
            coro = f(*args)
        if not hasattr(type(coro), "send") or not hasattr(type(coro), "throw"):
            if getattr(coro, "_asyncio_future_blocking", None) is not None:
                return coro  # already a future: AWAIT waits for it
            coro = get_awaitable(coro)
    except BaseException as e:  # noqa: BLE001 -- kept for AWAIT, where the program raised it
        if is_fault(e) or isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return sched.failed(e)
    return sched.start(coro)


def _learn(rt: Any, known: list[Any], f: FunctionType, prog: Any, nargs: int) -> None:
    """Remember register-VM coroutine function `f` as the one spawned last (`Scheduler.known`),
    when its frames can be started without binding: `nargs` positional arguments, its parameters."""
    if not (prog.spec.simple and prog.argcount == nargs):
        known[0] = None
        return
    pool = prog.pool
    if pool is not None:  # a pooled frame is popped from `free`, or the pool's `take` makes one
        # (a leaf's frames come from `take` alone, which counts their uses: an empty list)
        known[:] = f, _ALWAYS_EMPTY if prog.leaf else pool.free, pool.take, nargs
    elif not prog.leaf:  # no pools: the program's maker makes the frame with its arguments
        known[:] = f, None, rt.plain_frames(prog), nargs
    else:  # (a leaf's record without pools is `activation`'s to make)
        known[0] = None


#: The free list `Scheduler.known` holds for a leaf program (never appended to).
_ALWAYS_EMPTY: list[Any] = []


def start_frame(rt: Any, frame: Any) -> Task:
    """Start a VM coroutine's frame as a task: its first step runs here (the common trivial task
    returns at once: no StopIteration), and a task that suspends keeps the frame and steps it
    itself, without a coroutine object (nothing but the task could ever resume it)."""
    sched = rt.scheduler
    saved = rt.handled
    rt.yielded = False
    sched.spawned += 1
    try:
        if rt.profiler is None and getattr(rt, "pools", False) and not frame.prog.leaf:
            value = rt.send_in(frame, frame.args, None, None)  # what first_step does for it
        else:
            value = rt.first_step(frame)
    except StopIteration as stop:
        err = RuntimeError("coroutine raised StopIteration")
        err.__cause__ = stop
        return _done(sched, None, err)
    except BaseException as e:  # noqa: BLE001 -- the task's outcome, raised by AWAIT
        if is_fault(e) or isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return _done(sched, None, e)
    finally:
        own = rt.handled
        rt.handled = saved
    if not rt.yielded:
        return _done(sched, value, None)
    rt.yielded = False
    if rt.profiler is not None:
        rt.profiler.suspended(frame.prog.code.qualname or frame.prog.code.name)
    task = sched.new_task()
    task._frame = frame  # stepped by the scheduler itself: no coroutine object (`Scheduler.step`)
    task._handled = own if own is not saved else None
    task._loop = asyncio._get_running_loop()
    sched.suspends += 1
    sched._wait(task, value)
    return task


def _done(sched: Scheduler, value: Any, exc: BaseException | None) -> Task:
    """A task object that finished inside SPAWN with `value` (or `exc`): `Scheduler.new_task`
    inlined, as this is every trivial task's way."""
    free = sched.free
    if free:
        sched.reused += 1
        task = free.pop()
    else:
        sched.made += 1
        task = Task()
        task._sched = sched
    sched.eager += 1
    task._state = DONE
    task._result = value
    task._exc = exc
    return task


def spawn_handler(rt: Any, frame: Any, stack: list[Any], n: int) -> None:
    """The stack VM's SPAWN n: [callable, a1..an] -> future."""
    if n:
        args = stack[-n:]
        del stack[-n:]
    else:
        args = []
    f = stack.pop()
    stack.append(spawn(rt, f, args))
