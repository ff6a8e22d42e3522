"""VM tasks: SPAWN's futures, the scheduler that runs them, and their pool (SPAWN itself, which
starts them, is vm/spawn.py).

SPAWN `f(*args)` calls `f` (a VM coroutine function, usually) and starts the coroutine as a VM task
at once: the scheduler runs it until it first suspends, so a task that never suspends has finished
when SPAWN pushes its future, and AWAIT takes the value without suspending anything (the fast path).
A task that suspends waits for what it yielded, the way `asyncio.Task.__step` waits:

* a bare `yield` (what `asyncio.sleep(0)` does): step again on the next turn of the event loop;
* a future (an asyncio Future, or another VM task): step again when it is done, through its
  done-callbacks.

So no `asyncio.Task` is made per spawn: the scheduler's steps are plain callbacks on the running
event loop, which is needed only when a task actually suspends on something (`asyncio.sleep`, I/O, a
pending VM task).

Rounds: asyncio runs ready callbacks in FIFO order (`BaseEventLoop._ready`, a deque that
`call_soon` appends to and `_run_once` pops from), so tasks whose next steps were scheduled one right
after the other run one right after the other, with nothing in between. The scheduler uses that: a
task that yields a bare `None` joins the scheduler's current round when that round's callback is
still the last one on the loop's ready queue (nothing was scheduled since it was), and a round is
one loop callback that steps its tasks in the order they joined. That is the very order asyncio
would have run one callback per task in, so nothing observable changes, but a thousand tasks that
suspend together cost one callback instead of a thousand. A loop without that queue (not
`asyncio.BaseEventLoop`) gets one callback per task. Each task steps in a context of its own, as an
asyncio Task does: a copy of the context it first suspended in (its first step runs inside SPAWN,
in the spawner's context). A `Task` is a duck-typed asyncio future (`_asyncio_future_blocking`, `get_loop`,
`add_done_callback`, `result`, `exception`, `cancel`, `__await__`), so an asyncio Task awaiting one,
`asyncio.gather` and host code can use it like a Future. Cancellation follows asyncio: `cancel()`
cancels the future the task waits on, or throws `CancelledError` into it at its next step; awaiting
a cancelled task raises `CancelledError`, a failed one its exception.

Futures are pooled: when AWAIT has taken the value of a finished task and nothing else refers to the
task object (checked by its reference count, so a future the program kept is never reused), it goes
back to the scheduler's free list and the next SPAWN reuses it.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import sys
from collections.abc import Callable, Generator
from typing import Any

__all__ = ["CANCELLED", "DONE", "PENDING", "Scheduler", "Task", "is_fault", "release_if_unshared",
           "scheduler_of", "task_stats"]

#: A task's states (`Task._state`): AWAIT's fast path reads a state that is not PENDING.
PENDING, DONE, CANCELLED = range(3)
#: Idle task objects a scheduler keeps for reuse.
POOL_CAP = 256

_getrefcount = sys.getrefcount


class Task:
    """A VM task and the future of its result (see the module docstring)."""

    __slots__ = ("_sched", "_coro", "_frame", "_handled", "_state", "_result", "_exc", "_callbacks",
                 "_loop", "_fut_waiter", "_must_cancel", "_cancel_msg", "_context",
                 "_asyncio_future_blocking", "__weakref__")

    _sched: Scheduler
    _coro: Any

    def __init__(self) -> None:
        self._asyncio_future_blocking = False
        # `_reset`'s fields, set here without the call (a task object is made per suspending task)
        self._coro = None
        #: A VM coroutine's frame the task steps itself (no coroutine object), and the exception
        #: that frame was handling when it last suspended (see `vm.suspension.advance`).
        self._frame: Any = None
        self._handled: BaseException | None = None
        self._state = PENDING
        self._result: Any = None
        self._exc: BaseException | None = None
        self._callbacks: list[tuple[Callable[[Any], Any], Any]] | None = None
        self._loop: Any = None
        self._fut_waiter: Any = None
        self._must_cancel = False
        self._cancel_msg: Any = None
        #: The context the task's later steps run in (made when it first suspends).
        self._context: contextvars.Context | None = None

    def _reset(self) -> None:
        self._coro = None
        self._frame = None
        self._handled = None
        self._state = PENDING
        self._result = None
        self._exc = None
        self._callbacks = None
        self._loop = None
        self._fut_waiter = None
        self._must_cancel = False
        self._cancel_msg = None
        self._context = None

    # -- AWAIT's fast path -------------------------------------------------------------------------

    def _zir_take(self) -> Any:
        """The result for AWAIT (or raise the task's exception)."""
        self._sched.fast_path += 1
        if self._state == DONE and self._exc is None:  # `result()`'s common case, without the call
            return self._result
        return self.result()

    # -- the Future protocol -----------------------------------------------------------------------

    def done(self) -> bool:
        return self._state != PENDING

    def cancelled(self) -> bool:
        return self._state == CANCELLED

    def result(self) -> Any:
        """The coroutine's return value; its exception; CancelledError; InvalidStateError when
        not done."""
        state = self._state
        if state == DONE:
            exc = self._exc
            if exc is not None:
                raise exc
            return self._result
        if state == CANCELLED:
            raise self._cancelled_error()
        raise asyncio.InvalidStateError("Result is not ready.")

    def exception(self) -> BaseException | None:
        if self._state == CANCELLED:
            raise self._cancelled_error()
        if self._state == PENDING:
            raise asyncio.InvalidStateError("Exception is not set.")
        return self._exc

    def get_loop(self) -> Any:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def add_done_callback(self, fn: Callable[[Any], Any], *, context: Any = None) -> None:
        if self._state != PENDING:
            self.get_loop().call_soon(fn, self, context=context)
            return
        if self._callbacks is None:
            self._callbacks = []
        self._callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], Any]) -> int:
        cbs = self._callbacks or []
        keep = [(f, c) for f, c in cbs if f != fn]
        self._callbacks = keep
        return len(cbs) - len(keep)

    def cancel(self, msg: Any = None) -> bool:
        """Request cancellation (asyncio.Task.cancel): False when already done."""
        if self._state != PENDING:
            return False
        waiter = self._fut_waiter
        if waiter is not None and waiter.cancel(msg=msg):
            return True
        self._must_cancel = True
        self._cancel_msg = msg
        return True

    def __await__(self) -> Generator[Any, None, Any]:
        if self._state == PENDING:
            self._asyncio_future_blocking = True
            yield self
        if self._state == PENDING:
            raise RuntimeError("await wasn't used with future")
        return self.result()

    __iter__ = __await__

    def _cancelled_error(self) -> asyncio.CancelledError:
        msg = self._cancel_msg
        return asyncio.CancelledError() if msg is None else asyncio.CancelledError(msg)

    def __repr__(self) -> str:
        state = ("pending", "finished", "cancelled")[self._state]
        return f"<vm task {state} at {id(self):#x}>"

    # -- completion --------------------------------------------------------------------------------

    def _finish(self, state: int, result: Any, exc: BaseException | None) -> None:
        self._state = state
        self._result = result
        self._exc = exc
        self._coro = self._frame = self._handled = None
        self._fut_waiter = None
        cbs = self._callbacks
        if cbs:
            self._callbacks = None
            loop = self.get_loop()
            for fn, ctx in cbs:
                loop.call_soon(fn, self, context=ctx)

    def _wakeup(self, future: Any) -> None:
        """Done-callback of what the task waited on (run in the task's context): step it again."""
        self._sched.step(self, None)

    def __del__(self) -> None:
        # a pending task whose frame nothing will step again is closed as CPython finalizes a
        # suspended coroutine (`_PyGen_Finalize`): GeneratorExit where it stopped, so its
        # `finally` blocks run; an error there is reported as unraisable
        if self._frame is not None and self._state == PENDING:
            _finalize(self._sched.rt, self._close_frame)

    def _close_frame(self) -> None:
        """Throw GeneratorExit into the task's suspended frame (`coroutine.close`)."""
        frame, self._frame = self._frame, None
        rt = self._sched.rt
        try:
            _advance(rt, frame, True, None, GeneratorExit(), self._handled)
        except (GeneratorExit, StopIteration):
            return
        finally:
            self._handled = None
        if rt.yielded:
            raise RuntimeError("coroutine ignored GeneratorExit")


class Scheduler:
    """Runs the VM tasks of one VM (see the module docstring); keeps the counters `stats` reports."""

    def __init__(self, rt: Any) -> None:
        #: The VM runtime whose tasks these are.
        self.rt = rt
        self.free: list[Task] = []
        #: The coroutine function spawned last, when its frames need no binding: [function, its
        #: pool's free list (None without pools), its frame maker, positional arguments] (`spawn`).
        self.known: list[Any] = [None, None, None, -1]
        self.spawned = 0  #: tasks started by SPAWN
        self.fast_path = 0  #: AWAITs that found the task already done (no suspension)
        self.eager = 0  #: tasks that finished inside SPAWN, without ever suspending
        self.reused = 0  #: SPAWNs served by a pooled task object
        self.made = 0  #: task objects made because the pool was empty
        self.released = 0  #: task objects returned to the pool
        self.suspends = 0  #: times a task suspended on something not yet done
        self.cancelled = 0  #: tasks that ended cancelled
        self.rounds = 0  #: loop callbacks that stepped tasks after a bare `yield`
        self.round_steps = 0  #: task steps those rounds ran
        #: The round tasks join (see the module docstring): its tasks, its loop callback, its loop.
        self._round: list[Task] | None = None
        self._round_handle: Any = None
        self._round_loop: Any = None

    def new_task(self) -> Task:
        free = self.free
        if free:
            self.reused += 1
            return free.pop()
        self.made += 1
        task = Task()
        task._sched = self
        return task

    def release(self, task: Task) -> None:
        """Take back a finished task object nothing else refers to."""
        if len(self.free) < POOL_CAP:
            task._reset()
            self.free.append(task)
            self.released += 1

    def start(self, coro: Any) -> Task:
        """A new task running `coro` (anything with `send`/`throw`), stepped once now."""
        task = self.new_task()
        task._coro = coro
        task._loop = asyncio._get_running_loop()
        self.spawned += 1
        self.step(task, None)
        if task._state != PENDING:
            self.eager += 1
        return task

    def failed(self, exc: BaseException) -> Task:
        """A task that is already done with `exc` (a call SPAWN made raised it)."""
        task = self.new_task()
        task._loop = asyncio._get_running_loop()
        self.spawned += 1
        self.eager += 1
        task._finish(DONE, None, exc)
        return task

    def step(self, task: Task, exc: BaseException | None) -> None:
        """Run the task's coroutine to its next suspension or its end (asyncio.Task.__step)."""
        if task._state != PENDING:
            return
        task._fut_waiter = None
        if task._must_cancel:
            task._must_cancel = False
            exc = task._cancelled_error()
        frame = task._frame
        coro = task._coro
        try:
            if frame is not None:  # a VM coroutine's frame, stepped without a coroutine object
                rt = self.rt
                yielded, task._handled = _advance(rt, frame, True, None, exc, task._handled)
                if not rt.yielded:
                    task._finish(DONE, yielded, None)
                    return
                rt.yielded = False
                if rt.profiler is not None:
                    rt.profiler.suspended(frame.prog.code.qualname or frame.prog.code.name)
            else:
                yielded = coro.send(None) if exc is None else coro.throw(exc)
        except StopIteration as stop:
            if frame is not None:  # the frame raised it: PEP 479's RuntimeError, as a coroutine's
                err = RuntimeError("coroutine raised StopIteration")
                err.__cause__ = stop
                task._finish(DONE, None, err)
                return
            task._finish(DONE, stop.value, None)
            return
        except asyncio.CancelledError as e:
            self.cancelled += 1
            task._cancel_msg = e.args[0] if e.args else None
            task._finish(CANCELLED, None, None)
            return
        except (KeyboardInterrupt, SystemExit) as e:
            task._finish(DONE, None, e)  # done with it, and it leaves the loop (asyncio.Task)
            raise
        except BaseException as e:  # noqa: BLE001 -- the task's outcome, raised by AWAIT
            if is_fault(e):
                raise
            task._finish(DONE, None, e)
            return
        self.suspends += 1
        self._wait(task, yielded)

    def _wait(self, task: Task, yielded: Any) -> None:
        """Arrange the next step of a task that yielded `yielded` (asyncio.Task.__step's rules)."""
        loop = task._loop
        if loop is None:
            try:
                loop = task._loop = asyncio.get_running_loop()
            except RuntimeError as e:
                self.step(task, e)
                return
        ctx = task._context
        if ctx is None:
            ctx = task._context = contextvars.copy_context()
        if yielded is None:
            tasks = self._round
            # `_park`'s first case, without the call: join the current round (its loop is asyncio's)
            if tasks is not None and self._round_loop is loop:
                ready = loop._ready
                if ready and ready[-1] is self._round_handle:
                    tasks.append(task)
                    return
            self._park(task, loop)
            return
        blocking = getattr(yielded, "_asyncio_future_blocking", None)
        if blocking is not None and blocking:
            yielded._asyncio_future_blocking = False
            if yielded is task:
                err: BaseException = RuntimeError(f"Task cannot await on itself: {task!r}")
                loop.call_soon(self.step, task, err, context=ctx)
                return
            yielded.add_done_callback(task._wakeup, context=ctx)
            task._fut_waiter = yielded
            if task._must_cancel and yielded.cancel(msg=task._cancel_msg):
                task._must_cancel = False
            return
        err = RuntimeError(f"Task got bad yield: {yielded!r}")
        loop.call_soon(self.step, task, err, context=ctx)

    def _park(self, task: Task, loop: Any) -> None:
        """Step `task` again on the next turn of `loop` (it yielded a bare `None`): in the current
        round when that round's callback is still the last on the loop's ready queue, else in a
        new round (see the module docstring)."""
        ready = getattr(loop, "_ready", None)
        tasks = self._round
        if tasks is not None and self._round_loop is loop and ready and ready[-1] is self._round_handle:
            tasks.append(task)
            return
        tasks = [task]
        handle = loop.call_soon(self._run_round, tasks)
        if type(ready) is collections.deque and ready and ready[-1] is handle:
            self._round, self._round_handle, self._round_loop = tasks, handle, loop
        else:  # not asyncio's queue: no task can join this round
            self._round = self._round_handle = self._round_loop = None

    def _run_round(self, tasks: list[Task]) -> None:
        """A round's loop callback: step its tasks in order, each in its own context, as the loop
        would run one callback per task (an exception escaping a step is reported the way
        `asyncio.Handle._run` reports it, and the round goes on)."""
        if self._round is tasks:  # it runs: a task that suspends now starts the next round
            self._round = self._round_handle = self._round_loop = None
        self.rounds += 1
        self.round_steps += len(tasks)
        step = self.step
        for k, task in enumerate(tasks):
            try:
                task._context.run(step, task, None)  # type: ignore[union-attr]
            except (SystemExit, KeyboardInterrupt):
                self._requeue_front(task, tasks[k + 1:])
                raise
            except BaseException as exc:  # noqa: BLE001 -- reported like a failed loop callback
                task.get_loop().call_exception_handler({
                    "message": f"Exception in callback {self.step!r} of {task!r}", "exception": exc})

    def _requeue_front(self, task: Task, rest: list[Task]) -> None:
        """KeyboardInterrupt or SystemExit left a round's step: its remaining steps stay first on the
        loop's ready queue, as the loop keeps the callbacks it did not run yet."""
        if not rest:
            return
        loop = task.get_loop()
        handle = asyncio.Handle(self._run_round, (rest,), loop)
        loop._ready.appendleft(handle)


def _late_imports() -> None:
    """vm.suspension imports this module; its `advance` and `finalize` are bound here once both
    are loaded."""
    global _advance, _finalize
    from vm.suspension import advance, finalize

    _advance, _finalize = advance, finalize


_advance: Any = None
_finalize: Any = None


def is_fault(exc: BaseException) -> bool:
    """Is `exc` the VM's own failure (`vm.runtime.VMFault`), which no task keeps?"""
    from vm.runtime import VMFault

    return isinstance(exc, VMFault)


def scheduler_of(rt: Any) -> Scheduler:
    """The scheduler of a VM runtime (made on first use)."""
    sched: Scheduler | None = rt.scheduler
    if sched is None:
        if _advance is None:
            _late_imports()
        sched = rt.scheduler = Scheduler(rt)
    return sched


def release_if_unshared(task: Any, refs: int) -> None:
    """Give a finished task back to its pool when only the `refs` references its caller knows of
    remain (the caller's own, counted by `sys.getrefcount`)."""
    if type(task) is Task and task._state != PENDING and _getrefcount(task) <= refs:
        task._sched.release(task)


def task_stats(rt: Any) -> dict[str, Any]:
    """The counters `VM.stats()` reports under "tasks"."""
    sched: Scheduler | None = rt.scheduler
    if sched is None:
        sched = Scheduler(rt)
    taken = sched.reused + sched.made
    return {
        "spawned": sched.spawned,
        "fast_path": sched.fast_path,
        "finished_eagerly": sched.eager,
        "suspends": sched.suspends,
        "cancelled": sched.cancelled,
        "rounds": {"callbacks": sched.rounds, "steps": sched.round_steps},
        "pool": {"reused": sched.reused, "made": sched.made, "released": sched.released,
                 "reuse_rate": sched.reused / taken if taken else 0.0},
    }
