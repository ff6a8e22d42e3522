"""SPAWN and AWAIT (issue 7): VM tasks, their scheduler, futures and pool, in both VM modes.

The programs are written in zir's IR text (`spawn`/`await` have no Python syntax; the `await-batch`
pass makes them from Python, see tests/test_await_batch.py), stackified to ZBC, and run as Code
targets on every VM configuration, whose stack and register back ends both compile them.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import gc
import json
import re
import sys
from typing import Any

import pytest

import vm
import zir
from vm.tasks import Scheduler, Task

CONFIGS = [(mode, level) for mode in ("stack", "register") for level in (0, 1, 2)]

SOURCE = """
func @one(%f, %x) flags(coroutine) {
^entry:
  %t = spawn %f, %x
  %r = await %t
  ret %r
}

func @pair(%f, %g, %log) flags(coroutine) {
^entry:
  %t1 = spawn %f, %log, "a", 2
  %t2 = spawn %g, %log, "b", 1
  %m = load_attr %log {name="append"}
  %n = call %m, "both spawned"
  %r1 = await %t1
  %r2 = await %t2
  %r = build_tuple %r1, %r2
  ret %r
}

func @loop(%n, %f) flags(coroutine) {
^entry:
  %i = const 0
  %s = const 0
  br ^head
^head:
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body:
  %t = spawn %f, %i
  %r = await %t
  %s = add %s, %r
  %i = add %i, 1
  br ^head
^exit:
  ret %s
}

func @handed_out(%f, %x) flags(coroutine) {
^entry:
  %t = spawn %f, %x
  ret %t
}

func @guarded(%f, %x) flags(coroutine) {
^entry:
  %t = spawn %f, %x
  br ^try
^try: except ^handler
  %r = await %t
  br ^done
^done:
  ret %r
^handler:
  %e = catch
  %str = load_global {name="str"}
  %s = call %str, %e
  %out = build_tuple "caught", %s
  ret %out
}

func @interleave(%f, %later, %log) flags(coroutine) {
^entry:
  %t1 = spawn %f, %log, "a", 2
  %x1 = call %later, %log, "cb1"
  %t2 = spawn %f, %log, "b", 2
  %x2 = call %later, %log, "cb2"
  %t3 = spawn %f, %log, "c", 2
  %r1 = await %t1
  %r2 = await %t2
  %r3 = await %t3
  %r = build_tuple %r1, %r2, %r3
  ret %r
}

func @cancel_parked(%f, %cancel, %log) flags(coroutine) {
^entry:
  %t1 = spawn %f, %log, "a", 2
  %t2 = spawn %f, %log, "b", 2
  %x = call %cancel, %t1
  %m = load_attr %log {name="append"}
  %n = call %m, %x
  %r2 = await %t2
  %r1 = await %t1
  ret %r1
}

func @two(%n, %f, %g) flags(coroutine) {
^entry:
  %i = const 0
  %s = const 0
  br ^head
^head:
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body:
  %t1 = spawn %f, %i
  %t2 = spawn %g, %i, 10
  %r1 = await %t1
  %r2 = await %t2
  %s = add %s, %r1
  %s = add %s, %r2
  %i = add %i, 1
  br ^head
^exit:
  ret %s
}

func @fan3(%f, %log) flags(coroutine) {
^entry:
  %t1 = spawn %f, %log, "a"
  %t2 = spawn %f, %log, "b"
  %t3 = spawn %f, %log, "c"
  %r1 = await %t1
  %r2 = await %t2
  %r3 = await %t3
  %r = build_tuple %r1, %r2, %r3
  ret %r
}
"""

_MODULE = zir.parse(SOURCE)


def _code(name: str) -> Any:
    return zir.stackify(_MODULE.functions[name])


async def trivial(x: Any) -> Any:
    return x


async def ticking(log: list[Any], tag: str, ticks: int) -> str:
    for i in range(ticks):
        log.append((tag, i))
        await asyncio.sleep(0)
    log.append((tag, "done"))
    return tag.upper()


async def failing(x: Any) -> Any:
    await asyncio.sleep(0)
    raise KeyError(f"bad {x}")


async def fails_at_once(x: Any) -> Any:
    raise ValueError(f"at once {x}")


async def sleepy(x: Any) -> Any:
    await asyncio.sleep(10)
    return x


def later(log: list[Any], tag: str) -> None:
    """Schedule a host callback that logs `tag` (FIFO with the VM tasks' steps)."""
    asyncio.get_running_loop().call_soon(log.append, tag)


def not_later(log: list[Any], tag: str) -> None:
    """Schedule nothing."""


VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def own_context(log: list[Any], tag: str) -> str:
    await asyncio.sleep(0)
    VAR.set(tag)
    await asyncio.sleep(0)
    log.append((tag, VAR.get()))
    return tag


def one_callback_per_task(self: Scheduler, task: Task, loop: Any) -> None:
    """The scheduler without rounds: what `asyncio.Task.__step` does after a bare yield."""
    loop.call_soon(self.step, task, None, context=task._context)


def run(code: Any, mode: str, level: int, *args: Any, machine: vm.VM | None = None) -> Any:
    m = machine or vm.VM(mode=mode, opt_level=level)
    return m.run(code, *args, globals={})


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_trivial_task_takes_the_fast_path(mode: str, level: int) -> None:
    machine = vm.VM(mode=mode, opt_level=level)
    assert run(_code("one"), mode, level, trivial, 41, machine=machine) == 41
    assert run(_code("loop"), mode, level, 100, trivial, machine=machine) == sum(range(100))
    stats = machine.stats()["tasks"]
    assert stats["spawned"] == 101 and stats["finished_eagerly"] == 101 and stats["fast_path"] == 101
    assert stats["suspends"] == 0


def test_task_objects_are_pooled_when_nothing_else_holds_them() -> None:
    machine = vm.VM(mode="stack", opt_level=2)
    assert machine.run(_code("loop"), 200, trivial, globals={}) == sum(range(200))
    pool = machine.stats()["tasks"]["pool"]
    assert pool["made"] <= 2 and pool["reused"] >= 198 and pool["reuse_rate"] > 0.98


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_a_task_handed_out_is_never_reused(mode: str, level: int) -> None:
    machine = vm.VM(mode=mode, opt_level=level)
    kept = [machine.run(_code("handed_out"), trivial, i, globals={}) for i in range(5)]
    assert all(type(t) is Task for t in kept) and len({id(t) for t in kept}) == 5
    assert [t.result() for t in kept] == list(range(5))


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_spawned_tasks_run_concurrently_and_results_keep_their_order(mode: str, level: int) -> None:
    log: list[Any] = []
    machine = vm.VM(mode=mode, opt_level=level)
    assert run(_code("pair"), mode, level, ticking, ticking, log, machine=machine) == ("A", "B")
    # each task ran until it first suspended inside SPAWN, then they took turns on the event loop
    assert log == [("a", 0), ("b", 0), "both spawned", ("a", 1), ("b", "done"), ("a", "done")]
    stats = machine.stats()["tasks"]
    assert stats["spawned"] == 2 and stats["suspends"] >= 3 and stats["finished_eagerly"] == 0


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_exceptions_are_raised_by_await(mode: str, level: int) -> None:
    with pytest.raises(KeyError, match="bad 3"):
        run(_code("one"), mode, level, failing, 3)
    with pytest.raises(ValueError, match="at once 4"):
        run(_code("one"), mode, level, fails_at_once, 4)
    # a call that cannot even be made (wrong arguments) raises at the AWAIT, not the SPAWN
    with pytest.raises(TypeError, match=r"trivial\(\) takes 1 positional argument but 3 were given"):
        run(_code("pair"), mode, level, trivial, trivial, [])
    # and a handler around the AWAIT catches what the task raised
    assert run(_code("guarded"), mode, level, failing, 5) == ("caught", "'bad 5'")


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_cancellation_reaches_the_awaited_task(mode: str) -> None:
    machine = vm.VM(mode=mode)
    code = _code("handed_out")

    async def host() -> Any:
        task = await machine.run_async(code, sleepy, 1, globals={})
        assert type(task) is Task and not task.done()
        outer = asyncio.ensure_future(machine.run_async(_code("one"), lambda x: task, 0, globals={}))
        await asyncio.sleep(0)
        outer.cancel("stop")
        with pytest.raises(asyncio.CancelledError):
            await outer
        return task

    task = asyncio.run(host())
    assert task.cancelled()
    with pytest.raises(asyncio.CancelledError):
        task.result()
    assert machine.stats()["tasks"]["cancelled"] == 1


def test_task_is_a_future_for_the_host() -> None:
    machine = vm.VM(mode="stack")
    code = _code("handed_out")

    async def host() -> Any:
        # a partial is not VM code: SPAWN calls it on the host and drives the native coroutine
        t1 = await machine.run_async(code, functools.partial(ticking, [], "x"), 2, globals={})
        t2 = await machine.run_async(code, trivial, 7, globals={})
        assert asyncio.isfuture(t1) and not t1.done() and t2.done()
        with pytest.raises(asyncio.InvalidStateError):
            t1.result()
        seen: list[Any] = []
        t1.add_done_callback(lambda fut: seen.append(fut.result()))
        results = await asyncio.gather(t1, t2)
        await asyncio.sleep(0)
        return results, seen, t1.cancel(), t1.exception()

    assert asyncio.run(host()) == (["X", 7], ["X"], False, None)


def test_no_asyncio_task_per_spawn() -> None:
    machine = vm.VM(mode="register")
    counts: list[int] = []

    async def probe(x: Any) -> Any:
        counts.append(len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        return x

    assert machine.run(_code("loop"), 20, probe, globals={}) == sum(range(20))
    assert counts == [1] * 20  # only the task asyncio.run made for the program itself


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
@pytest.mark.parametrize("rounds", [True, False])
def test_rounds_keep_the_event_loops_fifo_order(mode: str, level: int, rounds: bool,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # A task that yields a bare None joins the current round only if nothing was scheduled on the
    # loop since that round was: host callbacks scheduled between two parks run between them, as
    # with one loop callback per task (rounds=False, the reference).
    if not rounds:
        monkeypatch.setattr(Scheduler, "_park", one_callback_per_task)
    log: list[Any] = []
    machine = vm.VM(mode=mode, opt_level=level)
    assert run(_code("interleave"), mode, level, ticking, later, log, machine=machine) == ("A", "B", "C")
    assert log == [("a", 0), ("b", 0), ("c", 0), ("a", 1), "cb1", ("b", 1), "cb2", ("c", 1),
                   ("a", "done"), ("b", "done"), ("c", "done")]
    stats = machine.stats()["tasks"]["rounds"]
    assert stats == ({"callbacks": 4, "steps": 6} if rounds else {"callbacks": 0, "steps": 0})
    # nothing scheduled in between: every round steps all three tasks
    log.clear()
    assert run(_code("interleave"), mode, level, ticking, not_later, log, machine=machine) == ("A", "B", "C")
    assert log == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1),
                   ("a", "done"), ("b", "done"), ("c", "done")]
    if rounds:
        assert machine.stats()["tasks"]["rounds"] == {"callbacks": 6, "steps": 12}


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_a_task_cancelled_while_parked_in_a_round(mode: str, level: int) -> None:
    log: list[Any] = []
    machine = vm.VM(mode=mode, opt_level=level)
    with pytest.raises(asyncio.CancelledError, match="^stop$"):
        run(_code("cancel_parked"), mode, level, ticking, lambda t: t.cancel("stop"), log, machine=machine)
    # the cancelled task's next step threw CancelledError into it; the other one went on
    assert log == [("a", 0), ("b", 0), True, ("b", 1), ("b", "done")]
    assert machine.stats()["tasks"]["cancelled"] == 1


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_each_task_steps_in_its_own_context(mode: str, level: int) -> None:
    async def host(log: list[Any]) -> Any:
        return tuple(await asyncio.gather(*(own_context(log, tag) for tag in "abc")))

    expected: list[Any] = []
    assert asyncio.run(host(expected)) == ("a", "b", "c")
    log: list[Any] = []
    assert run(_code("fan3"), mode, level, own_context, log) == ("a", "b", "c")
    assert log == expected == [("a", "a"), ("b", "b"), ("c", "c")]


async def exits(log: list[Any], tag: str) -> str:
    log.append((tag, 0))
    await asyncio.sleep(0)
    if tag == "b":
        raise SystemExit(tag)
    if tag == "a":
        later(log, "cb")
    log.append((tag, 1))
    return tag


@pytest.mark.parametrize("mode", ["stack", "register"])
@pytest.mark.parametrize("rounds", [True, False])
def test_system_exit_in_a_round_keeps_the_rest_first(mode: str, rounds: bool,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # SystemExit leaves the event loop from the middle of a round: the steps the round did not
    # run stay first on the loop's ready queue, as the callbacks the loop did not run yet do
    if not rounds:
        monkeypatch.setattr(Scheduler, "_park", one_callback_per_task)
    machine = vm.VM(mode=mode, opt_level=2)
    log: list[Any] = []
    loop = asyncio.new_event_loop()
    try:
        main = loop.create_task(machine.run_async(_code("fan3"), exits, log, globals={}))
        with pytest.raises(SystemExit, match="^b$"):
            loop.run_until_complete(main)
        # b's task is done with SystemExit (asyncio.Task's rule), so awaiting it raises it again
        with pytest.raises(SystemExit, match="^b$"):
            loop.run_until_complete(main)
    finally:
        loop.close()
    assert log == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("c", 1), "cb"]
    assert isinstance(main.exception(), SystemExit)


async def handling(log: list[Any], tag: str, ticks: int) -> str:
    try:
        raise KeyError(tag)
    except KeyError:
        for _ in range(ticks):
            await asyncio.sleep(0)
            log.append((tag, repr(sys.exc_info()[1])))
    log.append((tag, sys.exc_info()[1]))
    return tag.upper()


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_a_task_keeps_its_handled_exception_across_suspensions(mode: str, level: int) -> None:
    # a suspended task's frame keeps what it was handling (CPython's gi_exc_state), not its
    # resumer's, and sees nothing once its handler is done
    log: list[Any] = []
    assert run(_code("pair"), mode, level, handling, handling, log) == ("A", "B")
    assert sorted(map(str, log)) == sorted(map(str, [
        "both spawned", ("a", "KeyError('a')"), ("a", "KeyError('a')"), ("a", None),
        ("b", "KeyError('b')"), ("b", None)]))


async def stops(x: Any) -> Any:
    await asyncio.sleep(0)
    raise StopIteration(x)


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_stop_iteration_leaving_a_task_is_pep_479s_runtime_error(mode: str, level: int) -> None:
    assert run(_code("guarded"), mode, level, stops, 1) == ("caught", "coroutine raised StopIteration")


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_the_profiler_counts_a_tasks_suspensions(mode: str) -> None:
    machine = vm.VM(mode=mode, profile="basic")
    log: list[Any] = []
    assert machine.run(_code("pair"), ticking, ticking, log, globals={}) == ("A", "B")
    data = json.loads(machine.profile_report("json"))
    assert data["suspends"]["functions"] == {"ticking": 3, "pair": 1}  # pair waits for a


async def guarded_sleep(log: list[Any]) -> Any:
    try:
        await asyncio.sleep(10)
    finally:
        log.append("finally ran")


@pytest.mark.parametrize(("mode", "level"), CONFIGS)
def test_a_pending_task_nothing_steps_again_is_closed(mode: str, level: int) -> None:
    # the task is left pending when the run ends; once nothing refers to it, its frame is closed
    # as a pending coroutine is: GeneratorExit where it waits, so its `finally` runs
    log: list[Any] = []
    machine = vm.VM(mode=mode, opt_level=level)
    task = machine.run(_code("handed_out"), guarded_sleep, log, globals={})
    assert type(task) is Task and not task.done() and log == []
    del task
    gc.collect()
    assert log == ["finally ran"]


async def add_later(a: Any, b: Any) -> Any:
    await asyncio.sleep(0)
    return a + b


async def add_default(a: Any, b: Any, c: Any = 100) -> Any:
    return a + b + c


@pytest.mark.parametrize("pools", [True, False])
@pytest.mark.parametrize("level", [0, 2])
def test_spawn_sites_start_the_frames_of_functions_they_know(pools: bool, level: int) -> None:
    # a SPAWN site (and the scheduler, for the function spawned last) starts a known coroutine
    # function's frame itself; leaves, suspending ones, binding with defaults, a wrong argument
    # count and a changed callee all still go as a call would, and pools count every use
    machine = vm.VM(mode="register", opt_level=level, pools=pools)
    code = _code("two")
    want = {(trivial, add_later): 70, (trivial, add_default): 570}
    for f, g in [(trivial, add_later), (trivial, add_later), (trivial, add_default), (trivial, add_later)]:
        assert machine.run(code, 5, f, g, globals={}) == want[f, g]
    with pytest.raises(TypeError, match=r"add_later\(\) missing 1 required positional argument: 'b'"):
        machine.run(code, 3, add_later, add_later, globals={})
    stats = machine.stats()
    assert stats["calls"] == 4 * 11 + 2  # each run's frame and its spawns (the failing run: one binds)
    assert stats["tasks"]["spawned"] == 4 * 10 + 2
    if pools:
        uses = {name: p["hits"] + p["misses"] for name, p in stats["pools"]["per_code"].items()}
        assert uses == {"trivial": 20, "add_later": 16, "add_default": 5, "two": 5}


async def stubborn_sleep(log: list[Any]) -> Any:
    try:
        await asyncio.sleep(10)
    except GeneratorExit:
        log.append("exit caught")
        await asyncio.sleep(0)  # suspends again: the close fails, as a coroutine's does


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_a_pending_task_that_ignores_generator_exit_is_reported_unraisable(mode: str) -> None:
    log: list[Any] = []
    seen: list[Any] = []
    machine = vm.VM(mode=mode)
    task = machine.run(_code("handed_out"), stubborn_sleep, log, globals={})
    rt = machine._runtime
    rt.yielded = True  # as if the collector ran between a suspension and its resumer's check
    old, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        del task
        gc.collect()
    finally:
        sys.unraisablehook = old
    assert log == ["exit caught"] and rt.yielded is True
    # (in register mode the collector may finalize the frame's generated generator before the
    # task, in the same cycle: Python's own close then reports it as a generator)
    what = "coroutine" if mode == "stack" else "(coroutine|generator)"
    assert len(seen) == 1 and type(seen[0].exc_value) is RuntimeError
    assert re.fullmatch(f"{what} ignored GeneratorExit", str(seen[0].exc_value))
