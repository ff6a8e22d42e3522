"""Coroutines in the VM (issue 7): differential tests against CPython in every VM configuration.

Each program is an `async def`; `difftest.compare` runs `asyncio.run(fn(...))` on CPython and
`machine.run(fn, ...)` (which runs the VM coroutine on an event loop of its own) on the whole VM
matrix, comparing results, exceptions (type, message, chain), stdout and the order of side effects
on a shared list. The programs await VM coroutines, asyncio's own (`sleep`, `gather`, `wait_for`,
tasks, queues, events), async iterators and context managers, and get cancelled. Direct tests
cover `run_async` inside a running loop and the host's view of a VM coroutine.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

import vm
import zir
from vm.generators import VMCoroutine

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from tools import difftest  # noqa: E402

# -- helpers the programs use ------------------------------------------------------------------------


async def work(log: list[Any], name: str, delays: int, result: Any) -> Any:
    log.append((name, "start"))
    for i in range(delays):
        await asyncio.sleep(0)
        log.append((name, "tick", i))
    log.append((name, "end"))
    return result


async def fail(log: list[Any], after: int) -> Any:
    for _ in range(after):
        await asyncio.sleep(0)
    log.append("failing")
    raise ValueError(f"failed after {after}")


class Ticker:
    """An async iterator (class-based) that sleeps between items."""

    def __init__(self, log: list[Any], n: int) -> None:
        self.log, self.n, self.i = log, n, 0

    def __aiter__(self) -> Ticker:
        return self

    async def __anext__(self) -> int:
        if self.i >= self.n:
            raise StopAsyncIteration
        await asyncio.sleep(0)
        self.i += 1
        self.log.append(("tick", self.i))
        return self.i


class Session:
    def __init__(self, log: list[Any], suppress: bool = False) -> None:
        self.log, self.suppress = log, suppress

    async def __aenter__(self) -> str:
        await asyncio.sleep(0)
        self.log.append("open")
        return "session"

    async def __aexit__(self, t: Any, v: Any, tb: Any) -> bool:
        await asyncio.sleep(0)
        self.log.append(("close", t.__name__ if t else None))
        return self.suppress


# -- programs ----------------------------------------------------------------------------------------


async def sequential(n: int) -> list[Any]:
    log: list[Any] = []
    total = 0
    for i in range(n):
        total += await work(log, f"w{i}", i, i * 10)
    log.append(total)
    return log


async def gathered(n: int) -> list[Any]:
    log: list[Any] = []
    results = await asyncio.gather(*[work(log, f"g{i}", n - i, i) for i in range(n)])
    log.append(results)
    return log


async def gather_with_failure() -> list[Any]:
    log: list[Any] = []
    try:
        await asyncio.gather(work(log, "ok", 3, 1), fail(log, 1))
    except ValueError as e:
        log.append(("caught", str(e)))
    out = await asyncio.gather(fail(log, 0), work(log, "x", 1, 2), return_exceptions=True)
    log.append([type(r).__name__ for r in out])
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return log


async def tasks_and_cancel() -> list[Any]:
    log: list[Any] = []
    t = asyncio.create_task(work(log, "long", 10, "never"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        log.append(("cancelled", t.cancelled()))
    t2 = asyncio.ensure_future(work(log, "short", 1, "value"))
    log.append(await t2)
    return log


async def wait_for_timeout() -> list[Any]:
    log: list[Any] = []

    async def slow() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            log.append("slow cancelled")
            raise
        return "slow"

    try:
        await asyncio.wait_for(slow(), timeout=0.001)
    except TimeoutError:
        log.append("timed out")
    return log


async def async_for_and_with(suppress: bool) -> list[Any]:
    log: list[Any] = []
    async for i in Ticker(log, 3):
        log.append(("body", i))
        if i == 2:
            continue
    async with Session(log, suppress) as s:
        log.append(("inside", s))
        async with Session(log) as inner:
            log.append(("inner", inner))
        raise KeyError("in with")
    log.append("after with")
    return log


async def async_comprehensions(n: int) -> list[Any]:
    log: list[Any] = []
    squares = [i * i async for i in Ticker(log, n)]
    doubled = [await work(log, "c", 0, x * 2) for x in squares]
    evens = {i async for i in Ticker(log, n) if i % 2 == 0}
    return [squares, doubled, sorted(evens), log]


async def exceptions_cross_awaits() -> list[Any]:
    log: list[Any] = []

    async def level(n: int) -> int:
        if n == 0:
            await asyncio.sleep(0)
            raise LookupError("bottom")
        try:
            return await level(n - 1)
        finally:
            log.append(("unwind", n))

    try:
        await level(3)
    except LookupError as e:
        log.append(("caught", str(e)))
    try:
        try:
            await fail(log, 1)
        except ValueError as e:
            raise RuntimeError("wrapped") from e
    except RuntimeError as e:
        log.append((str(e), type(e.__cause__).__name__))
    return log


async def bad_awaits(kind: int) -> Any:
    async def coro() -> int:
        return 1

    if kind == 0:
        await 5  # type: ignore[misc]
    if kind == 1:
        c = coro()
        await c
        await c
    if kind == 2:
        async def stops() -> None:
            raise StopIteration("inside")

        await stops()
    if kind == 3:
        async with 5:  # type: ignore[attr-defined]
            pass
    if kind == 4:
        async for _ in 5:  # type: ignore[attr-defined]
            pass
    return "unreached"


async def queues_and_events(n: int) -> list[Any]:
    log: list[Any] = []
    q: asyncio.Queue[int] = asyncio.Queue()
    done = asyncio.Event()

    async def producer() -> None:
        for i in range(n):
            await q.put(i)
            log.append(("put", i))
            await asyncio.sleep(0)
        done.set()

    async def consumer() -> int:
        total = 0
        while not (done.is_set() and q.empty()):
            try:
                item = await asyncio.wait_for(q.get(), timeout=1)
            except TimeoutError:
                break
            log.append(("got", item))
            total += item
            if done.is_set() and q.empty():
                break
        return total

    _, total = await asyncio.gather(producer(), consumer())
    log.append(total)
    return log


async def shared_order(shared: list[Any]) -> list[Any]:
    async def step(tag: str, n: int) -> str:
        for i in range(n):
            shared.append((tag, i))
            await asyncio.sleep(0)
        return tag

    first = await step("seq", 2)
    both = await asyncio.gather(step("a", 3), step("b", 2))
    shared.append((first, both))
    return shared


async def awaits_custom_awaitable() -> list[Any]:
    class Later:
        def __init__(self, value: Any) -> None:
            self.value = value

        def __await__(self) -> Any:
            yield None  # a bare yield: one turn of the event loop
            return self.value

    return [await Later(1), await Later("two")]


async def awaits_odd_iterators(shared: list[Any]) -> list[Any]:
    # awaitables whose iterators are not generators: no `send` (SEND calls `__next__`), a `throw`
    # that answers the exception thrown into the awaiting frame, a `close` that closing it reaches
    class Listed:
        def __await__(self) -> Any:
            return iter([None, None])

    class Answering:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def __await__(self) -> Any:
            return self

        def __iter__(self) -> Any:
            return self

        def __next__(self) -> Any:
            return None

        def send(self, value: Any) -> Any:
            shared.append((self.tag, "send", value))
            return None

        def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
            shared.append((self.tag, "throw", type(typ).__name__))
            raise StopIteration(f"{self.tag} answered")

        def close(self) -> None:
            shared.append((self.tag, "close"))

    async def waits(tag: str) -> Any:
        try:
            return await Answering(tag)
        finally:
            shared.append((tag, "finally"))

    shared.append(await Listed())
    t = asyncio.ensure_future(waits("cancelled"))
    await asyncio.sleep(0)
    t.cancel()
    await asyncio.sleep(0)
    shared.append((t.done(), t.cancelled(), t.result() if t.done() and not t.cancelled() else None))
    c = waits("closed")
    c.send(None)
    c.close()
    return shared


def doubled(x: int) -> int:
    return x * 2


async def resumed_steps(shared: list[Any]) -> list[Any]:
    # What a frame does after it was resumed: a register-mode frame is sent into without a
    # trampoline until it calls VM code (vm/register_vm.py `send_in`), so each kind of step follows
    # a suspension here: a host function that raises, a VM call, a `finally`, PEP 479.
    async def steps(tag: str) -> str:
        await asyncio.sleep(0)
        try:
            asyncio.ensure_future(tag)  # type: ignore[call-overload]  # a host function raising
        except TypeError as e:
            shared.append((tag, "caught", str(e)))
        await asyncio.sleep(0)
        shared.append((tag, doubled(len(tag))))
        shared.append((tag, len(shared)))
        await asyncio.sleep(0)
        try:
            await asyncio.sleep(0)
            raise KeyError(tag)
        finally:
            shared.append((tag, "finally"))

    def numbers(n: int) -> Any:
        for i in range(n):
            got = yield i
            shared.append(("sent", got, doubled(i)))
        raise StopIteration("inside")

    results = await asyncio.gather(steps("a"), steps("bb"), return_exceptions=True)
    shared.append([repr(r) for r in results])
    g = numbers(3)
    out: list[Any] = [next(g), g.send("s1"), g.send("s2")]
    try:
        g.send("s3")
    except RuntimeError as e:
        out.append((str(e), repr(e.__cause__)))
    shared.append(out)
    try:
        shared.append(list(numbers(2)))
    except RuntimeError as e:
        shared.append(("list", str(e)))
    return shared


PROGRAMS: list[tuple[Any, tuple[Any, ...]]] = [
    (sequential, (3,)), (gathered, (3,)), (gather_with_failure, ()), (tasks_and_cancel, ()),
    (wait_for_timeout, ()), (async_for_and_with, (False,)), (async_for_and_with, (True,)),
    (async_comprehensions, (4,)), (exceptions_cross_awaits, ()), (bad_awaits, (0,)), (bad_awaits, (1,)),
    (bad_awaits, (2,)), (bad_awaits, (3,)), (bad_awaits, (4,)), (queues_and_events, (3,)),
    (shared_order, ([],)), (awaits_custom_awaitable, ()), (resumed_steps, ([],)),
    (awaits_odd_iterators, ([],)),
]


@pytest.mark.parametrize(("fn", "args"), PROGRAMS,
                         ids=[f"{fn.__name__}-{i}" for i, (fn, _) in enumerate(PROGRAMS)])
def test_coroutines_match_cpython(fn: Any, args: tuple[Any, ...]) -> None:
    difftest.compare(fn, *args)


# -- the host's view ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_run_async_inside_a_running_loop(mode: str) -> None:
    machine = vm.VM(mode=mode)

    async def host_main() -> Any:
        log: list[Any] = []
        a, b = await asyncio.gather(machine.run_async(work, log, "vm", 2, "A"), work(log, "host", 2, "B"))
        return a, b, log

    a, b, log = asyncio.run(host_main())
    assert (a, b) == ("A", "B")
    # both ran concurrently on one loop: their ticks interleave
    assert log.index(("host", "tick", 0)) < log.index(("vm", "end"))


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_vm_coroutine_object_for_the_host(mode: str) -> None:
    import collections.abc

    machine = vm.VM(mode=mode)
    coro = machine.compile(work).program  # compiled once
    assert coro.suspends is VMCoroutine

    async def host() -> Any:
        c = machine._runtime.run(machine._entry_frame(work, ([], "x", 1, 7), {}, None))
        assert type(c) is VMCoroutine and isinstance(c, collections.abc.Coroutine)
        assert c.cr_running is False and c.cr_code is work.__code__
        return await c

    assert asyncio.run(host()) == 7


def test_run_inside_a_running_loop_says_to_use_run_async() -> None:
    machine = vm.VM(mode="stack")

    async def host() -> None:
        machine.run(work, [], "x", 0, 1)

    with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
        asyncio.run(host())


def test_coroutine_ir() -> None:
    f = zir.lift(zir.frontend.from_python(async_for_and_with))
    text = zir.format(f)
    for op in ("flags(coroutine)", "get_aiter", "get_anext", "end_async_for", "aexit_of", "aenter",
               "get_awaitable", "yield_from"):
        assert op in text
    assert zir.parse(text).functions[f.name] == f


def test_awaits_past_extended_arg() -> None:
    # 300 awaits: the later SEND loops end at an instruction with an EXTENDED_ARG prefix
    lines = ["async def many(work):"] + [f"    r{k} = await work({k})" for k in range(300)]
    lines.append("    return " + " + ".join(f"r{k}" for k in range(300)))
    env: dict[str, Any] = {}
    exec("\n".join(lines), env)

    async def work(k: int) -> int:
        return k

    assert vm.VM(mode="stack").run(env["many"], work) == sum(range(300))
