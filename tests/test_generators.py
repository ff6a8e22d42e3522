"""Generators in the VM (issue 7): differential tests against CPython in every VM configuration.

Each program below is a plain function that makes and drives generators (VM code driving VM
generators), or hands them to host consumers (`list`, `sum`, `zip`, `sorted`, `itertools`), and
returns what it saw; `compare` runs it on CPython and on the whole VM matrix (stack and register
modes, O0/O1/O2) and checks the result, the exception (type, message, chain), stdout, and the order
of side effects recorded in a shared list. Direct tests cover what only the VM objects show:
the host's view of a VM generator, re-entrancy, and refusal of async generators.
"""

from __future__ import annotations

import gc
import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

import vm
import zir
from vm.generators import VMGenerator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from tools import difftest  # noqa: E402

# `ignores_exit` leaves generators that ignore GeneratorExit; when they are collected (in whichever
# test runs the collector next) CPython and the VM both report it as unraisable, as they should.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

# -- programs ------------------------------------------------------------------------------------------


def countdown(n: int) -> Any:
    while n > 0:
        yield n
        n -= 1


def basic_yield(n: int) -> list[Any]:
    return list(countdown(n))


def echo(log: list[Any]) -> Any:
    received = yield "ready"
    while received is not None:
        log.append(("got", received))
        received = yield received * 2
    return "finished"


def send_protocol(values: list[int]) -> list[Any]:
    log: list[Any] = []
    g = echo(log)
    log.append(next(g))
    for v in values:
        log.append(g.send(v))
    try:
        g.send(None)
    except StopIteration as stop:
        log.append(("return", stop.value))
    return log


def inner(log: list[Any], n: int) -> Any:
    for i in range(n):
        got = yield i
        log.append(("inner got", got))
    return n * 10


def outer(log: list[Any], n: int) -> Any:
    r = yield from inner(log, n)
    log.append(("inner returned", r))
    r2 = yield from [100, 200]
    log.append(("list returned", r2))
    return r + 1


def delegation(n: int) -> list[Any]:
    log: list[Any] = []
    g = outer(log, n)
    log.append(next(g))
    while True:
        try:
            log.append(g.send(len(log)))
        except StopIteration as stop:
            log.append(("done", stop.value))
            return log


def guarded(log: list[Any]) -> Any:
    try:
        yield 1
        yield 2
    except KeyError as e:
        log.append(("caught", str(e)))
        yield "recovered"
    finally:
        log.append("finally")


def throw_and_close() -> list[Any]:
    log: list[Any] = []
    g = guarded(log)
    log.append(next(g))
    log.append(g.throw(KeyError("k")))
    g.close()
    log.append("closed")
    h = guarded(log)
    log.append(next(h))
    h.close()  # GeneratorExit at the first yield: the finally block runs
    try:
        h.throw(ValueError("after close"))
    except ValueError as e:
        log.append(("after close", str(e)))
    return log


def throw_uncaught() -> Any:
    g = countdown(3)
    next(g)
    return g.throw(TypeError("boom"))


def throw_into_delegate() -> list[Any]:
    log: list[Any] = []

    def sub() -> Any:
        try:
            yield "a"
        except ValueError:
            log.append("sub caught")
            return "sub result"

    def top() -> Any:
        r = yield from sub()
        log.append(("top got", r))
        yield "b"

    g = top()
    log.append(next(g))
    log.append(g.throw(ValueError))
    return log


def ignores_exit() -> Any:
    def stubborn() -> Any:
        while True:
            try:
                yield 1
            except GeneratorExit:
                pass

    g = stubborn()
    next(g)
    g.close()


def stop_iteration_inside() -> Any:
    def bad() -> Any:
        yield 1
        raise StopIteration("inside")

    return list(bad())


def just_started_send() -> Any:
    return countdown(3).send(5)


def throw_unstarted() -> list[Any]:
    log: list[Any] = []
    g = guarded(log)
    try:
        g.throw(KeyError("early"))
    except KeyError as e:
        log.append(("raised", str(e)))
    log.append(list(g))
    return log


def host_consumers(n: int) -> list[Any]:
    squares = (i * i for i in range(n) if i % 2 == 0)
    return [sum(x for x in range(n)), sorted(countdown(n)), list(zip(countdown(n), "abcdef", strict=False)),
            list(squares), list(itertools.islice(itertools.count(), 3)),
            dict((k, v) for k, v in zip("xyz", countdown(3), strict=True)), max(countdown(n), default=None),
            any(x > 2 for x in countdown(n)), list(enumerate(countdown(2)))]


def interleaving(shared: list[Any]) -> list[Any]:
    def producer(tag: str, n: int) -> Any:
        for i in range(n):
            shared.append((tag, "before", i))
            yield i
            shared.append((tag, "after", i))

    a, b = producer("a", 3), producer("b", 2)
    for x, y in zip(a, b, strict=False):
        shared.append(("pair", x, y))
    shared.append(list(a))
    return shared


def tree_walk(depth: int) -> list[int]:
    def build(d: int, start: int) -> Any:
        if d == 0:
            return start
        return (build(d - 1, start), build(d - 1, start + 2 ** (d - 1)))

    def walk(node: Any) -> Any:
        if isinstance(node, tuple):
            for child in node:
                yield from walk(child)
        else:
            yield node

    return list(walk(build(depth, 0)))


def closures_and_cells(n: int) -> list[Any]:
    def make(step: int) -> Any:
        total = 0

        def gen() -> Any:
            nonlocal total
            for _ in range(n):
                total += step
                yield total

        return gen, lambda: total

    gen, peek = make(3)
    out = [list(gen()), peek()]
    g = gen()
    out.append(next(g))
    out.append(peek())
    return out


def yield_in_with_and_handlers(fail: bool) -> list[Any]:
    log: list[Any] = []

    class Resource:
        def __enter__(self) -> Resource:
            log.append("enter")
            return self

        def __exit__(self, *exc: Any) -> bool:
            log.append(("exit", exc[0].__name__ if exc[0] else None))
            return False

    def gen() -> Any:
        with Resource():
            yield "in with"
            if fail:
                raise ValueError("failed inside")
            yield "still in"
        yield "after"

    try:
        for item in gen():
            log.append(item)
    except ValueError as e:
        log.append(("error", str(e)))
    return log


def exc_info_is_the_generators_own() -> list[Any]:
    log: list[Any] = []

    def gen() -> Any:
        try:
            raise KeyError("in gen")
        except KeyError:
            yield repr(sys.exc_info()[1])
            log.append(("resumed, handling", repr(sys.exc_info()[1])))
        yield repr(sys.exc_info()[1])

    g = gen()
    log.append(next(g))
    log.append(("caller sees", repr(sys.exc_info()[1])))
    try:
        raise IndexError("caller")
    except IndexError:
        log.append(next(g))
    log.append(next(g, "end"))
    return log


def reentrant() -> Any:
    holder: list[Any] = []

    def gen() -> Any:
        yield next(holder[0])

    g = gen()
    holder.append(g)
    return next(g)


def generator_methods() -> list[Any]:
    class Bag:
        def __init__(self, items: list[int]) -> None:
            self.items = items

        def __iter__(self) -> Any:
            for item in self.items:
                yield item * 10

        def evens(self) -> Any:
            return (x for x in self if x % 20 == 0)

    bag = Bag([1, 2, 3, 4])
    return [list(bag), list(bag.evens()), [x for x in bag if x > 15]]


def loops_with_break_continue(n: int) -> list[int]:
    def gen() -> Any:
        i = 0
        while True:
            i += 1
            if i % 3 == 0:
                continue
            if i > n:
                break
            yield i
        yield -1

    return list(gen())


def gen_return_value_in_expression() -> list[Any]:
    def g() -> Any:
        yield 1
        return [1, 2]

    def h() -> Any:
        x = (yield from g()) + [3]
        yield x

    return list(h())


def next_with_default_and_exhausted() -> list[Any]:
    g = countdown(1)
    return [next(g), next(g, "empty"), next(g, "still empty"), list(g)]


def finally_yields_and_returns(stop_early: bool) -> list[Any]:
    log: list[Any] = []

    def gen() -> Any:
        try:
            yield 1
            yield 2
        finally:
            log.append("cleanup")
            yield "from finally"
        return "unreachable when closed"

    g = gen()
    log.append(next(g))
    if stop_early:
        try:
            g.close()  # the finally block yields: RuntimeError
        except RuntimeError as e:
            log.append(("close", str(e)))
    else:
        log.extend(g)
    log.append(next(g, "exhausted"))
    return log


def raised_then_reused() -> list[Any]:
    def gen() -> Any:
        yield 1
        raise ValueError("inside")

    g = gen()
    out: list[Any] = [next(g)]
    try:
        next(g)
    except ValueError as e:
        out.append(str(e))
    out.append(next(g, "closed"))
    out.append(list(g))
    return out


def generators_as_arguments(n: int) -> Any:
    def squares(k: int) -> Any:
        return (i * i for i in range(k))

    def pairs() -> Any:
        yield from zip(squares(n), map(str, squares(n)), strict=True)

    return dict(pairs()), list(map(lambda x: x + 1, squares(n))), "".join(str(x) for x in squares(3))


# -- a VM `for` over a VM generator, and `send`/`next` resuming its frame directly -------------------


def steered_during_iteration() -> list[Any]:
    """The loop body sends into, throws into and closes the generator its `for` is iterating."""
    log: list[Any] = []

    def gen() -> Any:
        i = 0
        while True:
            try:
                got = yield i
            except KeyError as e:
                log.append(("caught", repr(e)))
                got = "thrown"
            log.append(("got", got))
            i += 1

    g = gen()
    for x in g:
        log.append(("item", x, g.gi_running))
        if x == 1:
            log.append(("send", g.send("hello")))
        elif x == 3:
            log.append(("throw", g.throw(KeyError("k"))))
        elif x == 5:
            g.close()
    log.append(("after", next(g, "closed"), g.gi_running))
    return log


def raising_inside_for(where: int) -> list[Any]:
    """A generator raising while a `for` (in a handler or not) takes its items; PEP 479."""
    log: list[Any] = []

    def gen() -> Any:
        yield 1
        if where == 0:
            raise ValueError("plain")
        if where == 1:
            raise StopIteration("leaks")  # PEP 479: RuntimeError in the consumer
        try:
            raise KeyError("inner")
        except KeyError:
            yield 2  # suspended while handling KeyError
            raise TypeError("while handling")  # noqa: B904 -- its context, the KeyError, is compared
        yield 3

    try:
        for x in gen():
            log.append(x)
    except Exception as e:  # noqa: BLE001 -- what the consumer sees is compared
        log.append((type(e).__name__, str(e), repr(e.__context__), repr(e.__cause__)))
    try:
        raise OSError("outer")
    except OSError:
        try:
            for x in gen():
                log.append(("handling", x, repr(sys.exc_info()[1])))
        except Exception as e:  # noqa: BLE001
            log.append((type(e).__name__, repr(e.__context__)))
    return log


def reentered_from_its_for() -> list[Any]:
    """The generator's body iterates or resumes the generator its consumer's `for` is running."""
    log: list[Any] = []
    holder: list[Any] = []

    def gen() -> Any:
        yield 1
        try:
            for y in holder[0]:
                log.append(("inner item", y))
        except ValueError as e:
            log.append(("inner", str(e)))
        try:
            holder[0].send(None)
        except ValueError as e:
            log.append(("send", str(e)))
        yield 2

    g = gen()
    holder.append(g)
    for x in g:
        log.append(("item", x))
    return log


def calls_between_yields(n: int) -> list[Any]:
    """Generators that call VM functions, host functions and other generators between yields,
    return values through `yield from`, and are resumed by `for`, `next`, `send` and host code."""
    def square(x: int) -> int:
        return x * x

    def sub(k: int) -> Any:
        total = 0
        for i in range(k):
            total += yield square(i)
        return total

    def gen(k: int) -> Any:
        for i in range(k):
            yield max(i, square(i) - 3)
            r = yield from sub(i)
            yield ("sub returned", r)
            yield sorted([i, -i], key=lambda v: square(v) - v)
        return "done"

    out: list[Any] = [list(gen(n)), sum(1 for _ in gen(n))]
    g = gen(n)
    out.append(next(g))
    out.extend(g.send(i) for i in range(3))
    out.append([x for x in g])
    out.append(list(zip(gen(n), range(5), gen(2), strict=False)))
    return out


def break_then_resume(n: int) -> list[Any]:
    """`break` out of a `for` over a generator; go on with `next`, another `for`, a nested `for`
    over the same generator, then a generator expression over it."""
    g = countdown(n)
    out: list[Any] = []
    for x in g:
        out.append(x)
        if x == n - 1:
            break
    out.append(next(g))
    for x in g:
        for y in g:
            out.append(("inner", x, y))
            if y % 2:
                break
    h = countdown(n)
    out.append(list(x * 2 for x in h))
    out.append(h.gi_running)
    return out


def recursive_generators(depth: int) -> list[Any]:
    """Recursion through `for` and through `yield from`, the depth checked by the VM."""
    def walk(d: int) -> Any:
        yield d
        if d:
            for x in walk(d - 1):  # noqa: UP028 -- recursion through `for`, as well as `yield from`
                yield x
            yield from walk(d - 1)

    return [sum(walk(depth)), len(list(walk(depth))), next(walk(depth))]


def generator_in_exception_handler() -> list[Any]:
    """A generator resumed while its consumer handles an exception, raising and catching its own."""
    log: list[Any] = []

    def gen() -> Any:
        yield repr(sys.exc_info()[1])
        try:
            raise LookupError("own")
        except LookupError as e:
            yield repr(e.__context__)
        yield repr(sys.exc_info()[1])

    g = gen()
    log.append(next(g))
    try:
        raise ZeroDivisionError("consumer")
    except ZeroDivisionError:
        log.extend(g)
        try:
            for x in gen():
                log.append(x)
                raise IndexError("in the loop")
        except IndexError as e:
            log.append(repr(e.__context__))
    return log


def delegation_chains(n: int) -> list[Any]:
    """Three-level `yield from` chains (resumed past the frames in between): return values up the
    chain, exceptions raised and caught at each level, VM calls in the innermost, each level's
    view of the others, and the chain driven by `for`, `next`, `send`, `throw`, `close` and host
    code."""
    log: list[Any] = []
    gens: dict[str, Any] = {}

    def double(x: int) -> int:
        return 2 * x

    def leaf(k: int) -> Any:
        total = 0
        for i in range(k):
            got = yield double(i)
            if got is not None:
                total += got
            if i == 1:
                log.append(("running", gens["top"].gi_running, gens["mid"].gi_running))
        return ("leaf", k, total)

    def failing(k: int) -> Any:
        yield k
        if k == 1:
            raise KeyError("leaf failed")
        if k == 2:
            raise StopIteration("leaks")  # PEP 479: RuntimeError in `mid`
        yield from leaf(k)

    def mid(k: int) -> Any:
        r = yield from leaf(k)
        log.append(("mid got", r))
        for j in range(3):
            try:
                r2 = yield from failing(j)
                log.append(("failing returned", r2))
            except (KeyError, RuntimeError) as e:
                log.append(("mid caught", type(e).__name__, str(e), repr(e.__cause__)))
        return "mid done"

    def top(k: int) -> Any:
        m = mid(k)
        gens["mid"] = m
        r = yield from m
        log.append(("top got", r))
        yield "last"
        return "top done"

    def fresh(k: int) -> Any:
        gens["top"] = top(k)
        return gens["top"]

    out = []
    for x in fresh(n):
        out.append(x)
    log.append(out)
    t = fresh(n)
    log.append([next(t), t.send(5), t.send(7), next(t)])
    log.append(list(t))
    t = fresh(n)
    next(t)
    next(t)
    try:
        t.throw(ValueError("into the chain"))
    except ValueError as e:
        log.append(("throw came back", str(e)))
    t = fresh(n)
    next(t)
    t.close()
    log.append(("closed", next(t, "nothing")))
    log.append(sum(x for x in fresh(n) if isinstance(x, int)))
    return log


def delegate_steered_from_outside() -> list[Any]:
    """The generator a chain delegates to is advanced, closed or thrown into directly, between
    resumptions of the chain's outer end; and the innermost re-enters the outer end."""
    log: list[Any] = []
    holder: list[Any] = []

    def inner() -> Any:
        for i in range(6):
            if i == 4:
                try:
                    next(holder[0])
                except ValueError as e:
                    log.append(("re-entered", str(e)))
            got = yield i
            log.append(("inner got", got))
        return "inner returned"

    def middle(it: Any) -> Any:
        r = yield from it
        log.append(("middle got", r))
        return r

    def outer(it: Any) -> Any:
        r = yield from middle(it)
        yield ("outer got", r)

    it = inner()
    o = outer(it)
    holder.append(o)
    log.append(next(o))
    log.append(next(o))
    log.append(("direct", next(it)))
    log.append(o.send("to the chain"))
    log.append(("direct send", it.send("direct")))
    log.append(list(o))
    it2 = inner()
    o2 = outer(it2)
    log.append(next(o2))
    it2.close()
    log.append(list(o2))
    return log


def chain_in_handlers() -> list[Any]:
    """Chains whose frames suspend while handling exceptions (each frame's exception state kept,
    the chain resumed through the frames that need it)."""
    log: list[Any] = []

    def inner() -> Any:
        try:
            raise OSError("inner's")
        except OSError:
            yield repr(sys.exc_info()[1])
        yield repr(sys.exc_info()[1])

    def middle() -> Any:
        try:
            raise LookupError("middle's")
        except LookupError:
            yield from inner()
            yield repr(sys.exc_info()[1])
        yield from inner()

    for x in middle():
        log.append(x)
    try:
        raise ArithmeticError("consumer's")
    except ArithmeticError:
        log.extend(middle())
    return log


def coroutine_chains() -> list[Any]:
    """`await` chains of VM coroutines driven by asyncio, the innermost suspending on a future (an
    item that is not None, so the chain is resumed at its innermost frame)."""
    import asyncio

    log: list[Any] = []

    async def leaf(i: int) -> int:
        await asyncio.sleep(0.0005)
        if i == 2:
            raise KeyError("leaf")
        return i * 10

    async def mid(i: int) -> int:
        try:
            return await leaf(i) + 1
        except KeyError as e:
            log.append(("mid caught", str(e), repr(sys.exc_info()[1])))
            return -1

    async def top() -> list[int]:
        return [await mid(i) for i in range(4)]

    log.append(asyncio.run(top()))
    return log


PROGRAMS: list[tuple[Any, tuple[Any, ...]]] = [
    (basic_yield, (4,)), (basic_yield, (0,)), (send_protocol, ([1, 2, 3],)), (delegation, (3,)),
    (throw_and_close, ()), (throw_uncaught, ()), (throw_into_delegate, ()), (ignores_exit, ()),
    (stop_iteration_inside, ()), (just_started_send, ()), (throw_unstarted, ()), (host_consumers, (6,)),
    (interleaving, ([],)), (tree_walk, (4,)), (closures_and_cells, (3,)),
    (yield_in_with_and_handlers, (False,)), (yield_in_with_and_handlers, (True,)),
    (exc_info_is_the_generators_own, ()), (reentrant, ()), (generator_methods, ()),
    (loops_with_break_continue, (10,)), (gen_return_value_in_expression, ()),
    (next_with_default_and_exhausted, ()), (finally_yields_and_returns, (False,)),
    (finally_yields_and_returns, (True,)), (raised_then_reused, ()), (generators_as_arguments, (4,)),
    (steered_during_iteration, ()), (raising_inside_for, (0,)), (raising_inside_for, (1,)),
    (raising_inside_for, (2,)), (reentered_from_its_for, ()), (calls_between_yields, (4,)),
    (break_then_resume, (7,)), (recursive_generators, (6,)), (generator_in_exception_handler, ()),
    (delegation_chains, (3,)), (delegate_steered_from_outside, ()), (chain_in_handlers, ()),
    (coroutine_chains, ()),
]


@pytest.mark.parametrize(("fn", "args"), PROGRAMS,
                         ids=[f"{fn.__name__}-{i}" for i, (fn, _) in enumerate(PROGRAMS)])
def test_generators_match_cpython(fn: Any, args: tuple[Any, ...]) -> None:
    difftest.compare(fn, *args)


# -- what only the VM objects show -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_a_vm_generator_is_a_host_iterator(mode: str) -> None:
    import collections.abc

    machine = vm.VM(mode=mode)
    g = machine.run(countdown, 3)
    assert type(g) is VMGenerator and isinstance(g, collections.abc.Generator)
    assert iter(g) is g and g.gi_running is False and g.gi_code is countdown.__code__
    assert next(g) == 3 and list(g) == [2, 1]
    with pytest.raises(StopIteration):
        next(g)
    assert machine.run(countdown, 4).__qualname__ == "countdown"


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_abandoned_generator_runs_its_finally(mode: str) -> None:
    import gc

    log: list[Any] = []
    g = vm.VM(mode=mode).run(guarded, log)
    assert next(g) == 1
    del g
    gc.collect()
    assert log == ["finally"]


def test_suspended_frames_keep_no_host_stack() -> None:
    # a thousand live suspended generators: each is a VM frame object, not a Python stack
    machine = vm.VM(mode="stack")
    gens = [machine.run(countdown, 5) for _ in range(1000)]
    assert [next(g) for g in gens] == [5] * 1000
    assert sum(sum(g) for g in gens) == 1000 * (4 + 3 + 2 + 1)


def test_async_generators_are_refused_by_name() -> None:
    async def agen() -> Any:
        yield 1

    with pytest.raises(zir.FrontendError, match="async generators are not supported"):
        vm.VM(mode="stack").run(agen)


@pytest.mark.parametrize(("fn", "op"), [(outer, "yield_from"), (echo, "yield")])
def test_generator_ir_has_yield_and_flag(fn: Any, op: str) -> None:
    f = zir.lift(zir.frontend.from_python(fn))
    text = zir.format(f)
    assert "flags(generator)" in text and f" = {op} %" in text
    assert zir.parse(text).functions[f.name] == f


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_profiler_counts_suspends(mode: str) -> None:
    import json

    machine = vm.VM(mode=mode, profile="basic")
    assert machine.run(basic_yield, 3) == [3, 2, 1]
    data = json.loads(machine.profile_report("json"))
    assert data["suspends"] == {"total": 3, "functions": {"countdown": 3}}
    assert "suspensions of generator and coroutine frames: 3" in machine.profile_report("text")


@pytest.mark.parametrize("mode", ["stack", "register"])
@pytest.mark.parametrize("how", ["for", "yield from", "next"])
def test_recursive_generators_stop_at_the_depth_limit(mode: str, how: str) -> None:
    # every generator frame that runs counts for the depth, however it is resumed
    def walk_for(d: int) -> Any:
        yield d
        if d:
            for x in walk_for(d - 1):  # noqa: UP028 -- recursion through `for`
                yield x

    def walk_from(d: int) -> Any:
        yield d
        if d:
            yield from walk_from(d - 1)

    def walk_next(d: int) -> Any:
        yield d
        if d:
            g = walk_next(d - 1)
            while True:
                try:
                    yield next(g)
                except StopIteration:
                    return

    walk = {"for": walk_for, "yield from": walk_from, "next": walk_next}[how]

    def total(d: int) -> int:
        return sum(list(walk(d)))

    machine = vm.VM(mode=mode, max_depth=60)
    assert machine.run(total, 40) == sum(range(41))
    with pytest.raises(vm.VMLimitError, match="depth"):
        machine.run(total, 80)
    assert machine.stats()["peak_depth"] <= 60


def test_the_for_loop_leaves_the_generator_as_the_program_sees_it() -> None:
    # `for` in register code iterates a VM generator through `items`: iter(g) is still g, and
    # the generator's own state is what the loop's body and the host see
    def body() -> list[Any]:
        g = countdown(3)
        seen = [iter(g) is g]
        for x in g:
            seen.append((x, g.gi_running))
        seen.append(g.gi_running)
        return seen

    machine = vm.VM(opt_level=2)
    assert machine.run(body) == [True, (3, False), (2, False), (1, False), False]
    g = machine.run(countdown, 2)
    assert list(g) == [2, 1] and next(g, "end") == "end"


@pytest.mark.parametrize("mode", ["stack", "register"])
def test_a_collected_generator_leaves_the_interrupted_runs_marks(mode: str) -> None:
    # the collector may finalize a suspended generator in the middle of another run (between a
    # suspension and its resumer's check of `yielded`, or while an exception propagates)
    log: list[Any] = []

    def counting() -> Any:
        try:
            yield 1
            yield 2
        finally:
            log.append("closed")

    machine = vm.VM(mode=mode)
    g = machine.run(counting)
    assert next(g) == 1
    rt = machine._runtime
    marker = KeyError("in flight")
    rt.yielded = True
    if mode == "register":
        rt.raised, rt.raised_ctx = marker, None
    del g
    gc.collect()
    assert log == ["closed"] and rt.yielded is True
    if mode == "register":
        assert rt.raised is marker
