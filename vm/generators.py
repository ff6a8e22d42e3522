"""Suspendable VM frames: the generator and coroutine objects that own them.

Calling a function whose Code has the "generator" or "coroutine" flag does not run it: the VM makes
its frame, with the arguments bound, and wraps it in a `VMGenerator` or `VMCoroutine`. That object is
a real Python iterator / coroutine for host code (`for`, `list()`, `sum()`, `asyncio.run`, an
asyncio Task all drive it through `send`/`throw`/`close`), and VM code drives it the same way. Each
`send` resumes the frame where it stopped, in a nested run of the mode's interpreter loop with the
frame as its entry, until the frame suspends again or finishes; the frame is an object, so nothing of
the host's Python stack is copied or kept between resumptions.

How a frame suspends and is resumed, in each mode, is vm/suspension.py.

Register-mode resumption is direct when nothing is handled (docs/performance.md, "Generators"):
`send`/`__next__` send into the frame themselves, with only the bookkeeping that is not then a
no-op; VM code's `for` over a VM generator iterates `items(g)`, that loop as a native generator;
and a frame suspended in `yield from` of a VM generator or coroutine names it in its request, so
the next `send` goes to the innermost frame of such a chain (`_Suspendable._delegated`).

The semantics follow CPython 3.11's `Objects/genobject.c` (`gen_send_ex2`, `_gen_throw`,
`gen_close`; PEP 342 `send`/`throw`/`close`, PEP 380 `yield from`, PEP 479 StopIteration
conversion, PEP 492 coroutines), message for message where a program can see them.
"""

from __future__ import annotations

import collections.abc
import sys
import types
from typing import Any

from vm.suspension import NO_FRAMES, SENDS, SUSPEND, Marker, advance, fault_type, finalize
from zir.bytecode.code import COROUTINE, GENERATOR, Code

__all__ = ["VMCoroutine", "VMGenerator", "items", "kind_of"]


# -- the objects ------------------------------------------------------------------------------------

_CREATED, _SUSPENDED, _RUNNING, _CLOSED = range(4)
_exception = sys.exception
#: `_Suspendable._resume`'s default for `made`: a resumption that marks the frame running itself.
_FRESH: Any = Marker("FRESH")


class _Suspendable:
    """What generators and coroutines share: the frame, its state, and `send`/`throw`/`close`."""

    __slots__ = ("_rt", "_frame", "_state", "_exc", "_fast", "_sub", "__name__", "__qualname__",
                 "__weakref__")

    _zir_suspendable = True
    _zir_coroutine = False
    _what = "generator"

    def __init__(self, rt: Any, frame: Any) -> None:
        self._rt = rt
        self._frame = frame
        self._state = _CREATED
        #: The exception the frame was handling when it last suspended (CPython's gi_exc_state).
        self._exc: BaseException | None = None
        #: A register frame with nothing profiled: resumed by `send` itself when nothing is handled.
        self._fast = getattr(rt, "direct", False)
        #: What the frame's `yield from`/`await` delegated to when it last suspended through `send`
        #: (the third item of its SUSPEND request), else None: see `_delegated`.
        self._sub: Any = None
        code = frame.prog.code
        self.__name__ = code.name
        self.__qualname__ = code.qualname or code.name

    # -- the protocol --------------------------------------------------------------------------------

    def send(self, value: Any) -> Any:
        """Resume with `value` as the result of the `yield` the frame stopped at; return what it
        yields next, or raise StopIteration with its return value.

        A suspended register frame with nothing handled (neither by the host, `sys.exception()`,
        nor by the frame when it suspended; the resumer's `rt.handled` is then the frame's) is
        sent into right here: what `advance` and `RegisterRuntime.send_in` do, without what is
        then a no-op, while the frame suspends again (its level on the depth stacks, the host's
        exception: none, the marks cleared after). Whatever else the frame does first (a call, a
        return, an exception) goes on as `advance` would have it. (`VMGenerator.__next__` is
        this code with None for `value`; `items` is its loop for VM code's `for`.)"""
        rt = self._rt
        if self._state != _SUSPENDED or not self._fast or self._exc is not None or \
                rt.host_exc is not None or _exception() is not None:
            return self._send(value)
        if self._sub is not None:
            return self._delegated(value)
        stacks = rt.stacks
        below = rt.below
        depth = below + len(stacks[-1]) + 2 if stacks else 1
        if depth > rt.peak_depth:  # (the peak is never above the limit)
            if depth > rt.max_depth:
                return self._send(value)  # which raises the depth error
            rt.peak_depth = depth
        self._state = _RUNNING
        saved = rt.handled
        stacks.append(NO_FRAMES)
        rt.below = depth - 1
        try:
            req = self._frame.send(value)
        except BaseException as e:  # noqa: BLE001 -- raised below or re-raised here
            out = self._left(e, saved, below)
            if out is e:
                raise
        else:
            stacks.pop()
            rt.below = below
            if rt.raised is not None:
                rt.raised = rt.raised_ctx = None
            if type(req) is tuple and req[0] is SUSPEND:
                now = rt.handled
                if now is not saved:  # it suspended while handling an exception
                    self._exc = now
                    rt.handled = saved
                self._sub = req[2]
                self._state = _SUSPENDED
                return req[1]
            # a call or a return: `send_in` goes on from that request, as `advance` called it
            now = rt.handled
            rt.handled = saved
            return self._resume(None, None, req, now if now is not saved else None)
        raise out  # outside the handler, so Python chains nothing more to it

    def _send(self, value: Any) -> Any:
        """`send` for anything but a suspended register frame with nothing handled."""
        if self._state == _CREATED and value is not None:
            raise TypeError(f"can't send non-None value to a just-started {self._what}")
        return self._resume(value, None)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Raise an exception where the frame stopped (`generator.throw`'s 3.11 signatures)."""
        exc = _exception_of(typ, val, tb)
        if self._state == _CREATED:
            self._state = _CLOSED  # a frame that never ran finishes with the exception
            if isinstance(exc, StopIteration):
                raise self._stop_error(exc)
            raise exc
        return self._resume(None, exc)

    def close(self) -> None:
        """Raise GeneratorExit where the frame stopped; RuntimeError if it yields again."""
        state = self._state
        if state == _CREATED or state == _CLOSED:
            self._state = _CLOSED
            return None
        try:
            self._resume(None, GeneratorExit())
        except (GeneratorExit, StopIteration):
            return None
        raise RuntimeError(f"{self._what} ignored GeneratorExit")

    def __del__(self) -> None:
        # CPython finalizes a suspended generator by closing it (`_PyGen_Finalize`), so its
        # `finally` blocks run; an error there is reported as unraisable, as CPython reports it.
        if self._state == _SUSPENDED:
            finalize(self._rt, self.close)

    # -- running the frame -------------------------------------------------------------------------

    def _delegated(self, value: Any) -> Any:
        """`send(value)` (its direct case) into a frame whose `yield from`/`await` delegates to a VM
        generator or coroutine that could itself be sent into directly, and so on down the chain:
        the innermost is sent into at once, the frames in between (which would only pass the value
        down and the item up, CPython's SEND) are skipped, all of the chain running meanwhile
        (`gi_running`, "already executing") and counted for the depth. When the innermost does not
        suspend (it returns, raises, or calls VM code first), it goes on as the entry of a run at
        its own depth, and what it finishes with (StopIteration with its return value, or its
        exception) is thrown into the frame delegating to it, whose SEND loop meets it as the
        delegate's own `send` would have made it (`throw_value` of a finished delegate raises it
        again), and so on up the chain while frames finish."""
        rt = self._rt
        self._state = _RUNNING
        chain = [self]
        g = self._sub
        # (a generator of the same runtime can be sent into directly as `self` can; one marked
        # running is not taken again)
        while type(g) in _DIRECT and g._state == _SUSPENDED and g._exc is None and g._rt is rt:
            g._state = _RUNNING
            chain.append(g)
            g = g._sub
        stacks = rt.stacks
        below = rt.below
        base = below + len(stacks[-1]) + 1 if stacks else 0  # the depth below `self`
        depth = base + len(chain)  # the innermost's
        if len(chain) == 1 or depth > rt.peak_depth and depth > rt.max_depth:
            # not a frame to send into directly (or no longer), or too deep: the frames in turn,
            # as they would have been sent into (the peak is never above the limit)
            for g in chain:
                g._state = _SUSPENDED
            self._sub = None
            return self.send(value)
        if depth > rt.peak_depth:
            rt.peak_depth = depth
        inner = chain.pop()
        saved = rt.handled
        stacks.append(NO_FRAMES)
        rt.below = depth - 1
        try:
            req = inner._frame.send(value)
        except BaseException as e:  # noqa: BLE001 -- thrown into the frame delegating to it
            out = inner._left(e, saved, below)
        else:
            stacks.pop()
            rt.below = below
            if rt.raised is not None:
                rt.raised = rt.raised_ctx = None
            now = rt.handled
            if type(req) is tuple and req[0] is SUSPEND:
                if now is not saved:  # it suspended while handling an exception
                    inner._exc = now
                    rt.handled = saved
                inner._sub = req[2]
                inner._state = _SUSPENDED
                for g in chain:
                    g._state = _SUSPENDED
                return req[1]
            rt.handled = saved
            own = now if now is not saved else None
            inner._sub = None  # (its next suspension is not seen)
            done, out = _run_at(base, base + len(chain), inner, None, own, req)
            if not done:
                for g in chain:
                    g._state = _SUSPENDED
                return out
        while chain:
            g = chain.pop()
            g._sub = None
            done, out = _run_at(base, base + len(chain), g, out, None, None)
            if not done:
                for h in chain:
                    h._state = _SUSPENDED
                return out
        raise out  # `self` finished: as `send` raises it, outside any handler

    def _left(self, e: BaseException, saved: Any, below: int) -> BaseException:
        """The frame `send` sent into directly raised `e`: the frame is done; what its resumer
        raises (the bookkeeping of `send_in`, `advance` and `_resume` for it)."""
        rt = self._rt
        self._state = _CLOSED
        self._sub = None  # (what it delegated to lives no longer than it would in CPython)
        try:
            if isinstance(e, StopIteration):  # a frame without a pool returned
                self._frame = None
                value = e.value
                return StopIteration() if value is None else StopIteration(value)
            if isinstance(e, fault_type()):
                return e
            out = rt.leaving(e)
            if isinstance(out, StopIteration):  # PEP 479
                err = self._stop_error(out)
                err.__context__ = out
                return err
            return out
        finally:
            rt.stacks.pop()
            rt.below = below
            rt.raised = rt.raised_ctx = None
            rt.handled = saved

    def _resume(self, value: Any, exc: BaseException | None, made: Any = _FRESH,
                own: BaseException | None = None) -> Any:
        """Run the frame on from where it stopped (from its start when created) with `value` sent
        in or `exc` thrown in: return what it yields next, or raise StopIteration with what it
        returns (a StopIteration leaving the frame is PEP 479's RuntimeError). With `made` (the
        request the suspended frame already made, or None), the frame is already marked running
        by a direct resumption that goes on here with `own` as its handled exception (`advance`)."""
        if made is _FRESH:
            state = self._state
            if state == _RUNNING:
                raise ValueError(f"{self._what} already executing")
            if state == _CLOSED:
                return self._closed_resume(exc)
            self._state = _RUNNING
            self._sub = None  # (this way, the frame's next suspension is not seen)
            started = state == _SUSPENDED
            own = self._exc
            made = None
        else:
            started = True
        rt = self._rt
        try:
            value, self._exc = advance(rt, self._frame, started, value, exc, own, made)
        except StopIteration as e:
            self._state = _CLOSED
            raise self._stop_error(e)  # noqa: B904 -- the cause is set, as PEP 479's conversion does
        except BaseException:
            self._state = _CLOSED
            raise
        if rt.yielded:
            rt.yielded = False
            self._state = _SUSPENDED
            if rt.profiler is not None:
                self._on_suspend()
            return value
        self._state = _CLOSED
        self._frame = None
        if value is None:
            raise StopIteration
        raise StopIteration(value)

    def _stop_error(self, stop: StopIteration) -> RuntimeError:
        err = RuntimeError(f"{self._what} raised StopIteration")
        err.__cause__ = stop
        return err

    def _on_suspend(self) -> None:
        profiler = self._rt.profiler
        if profiler is not None:
            profiler.suspended(self.__qualname__)

    def _closed_resume(self, exc: BaseException | None) -> Any:
        if exc is not None:
            raise exc
        raise StopIteration

    # -- what introspection reads ------------------------------------------------------------------

    @property
    def _running(self) -> bool:
        return self._state == _RUNNING

    @property
    def _code(self) -> Any:
        """The CPython code object the frame runs (what `gi_code`/`cr_code` show asyncio and
        inspect); None for ZBC that did not come from CPython (asyncio's reprs expect a real code
        object or nothing)."""
        frame = self._frame
        return frame.prog.code.pycode if frame is not None else None

    @property
    def host_type_name(self) -> str:
        """The CPython type this stands for, by name (what `vm.difftest` compares a result's type as)."""
        return self._what

    def __repr__(self) -> str:  # as CPython prints a generator/coroutine object
        return f"<{self._what} object {self.__qualname__} at {id(self):#x}>"


class VMGenerator(_Suspendable):
    """A generator running in the VM: an iterator (`__next__` is `send(None)`) with `send`, `throw`
    and `close`, registered as a `collections.abc.Generator`."""

    __slots__ = ()

    def __iter__(self) -> VMGenerator:
        return self

    #: `send(None)`: the same code, with None as the default of `value` (one Python call from the
    #: `for` or the builtin driving it to the frame, instead of two).
    __next__ = types.FunctionType(_Suspendable.send.__code__, globals(), "__next__", (None,))
    __next__.__qualname__ = "VMGenerator.__next__"

    @property
    def gi_running(self) -> bool:
        return self._running

    @property
    def gi_code(self) -> Any:
        return self._code

    gi_frame = None
    gi_yieldfrom = None


class VMCoroutine(_Suspendable):
    """A coroutine running in the VM, registered as a `collections.abc.Coroutine`: `await` and
    asyncio (`asyncio.run`, Tasks, `gather`) drive it through `send`/`throw`. Awaiting one that has
    finished raises CPython's "cannot reuse already awaited coroutine"."""

    __slots__ = ()

    _zir_coroutine = True
    _what = "coroutine"

    def __await__(self) -> _AwaitIter:
        return _AwaitIter(self)

    def _closed_resume(self, exc: BaseException | None) -> Any:
        if exc is not None:
            raise exc
        raise RuntimeError("cannot reuse already awaited coroutine")

    @property
    def cr_running(self) -> bool:
        return self._running

    @property
    def cr_code(self) -> Any:
        return self._code

    cr_frame = None
    cr_await = None


class _AwaitIter:
    """What `VMCoroutine.__await__` returns (CPython's coroutine_wrapper): an iterator over it."""

    __slots__ = ("coro",)

    def __init__(self, coro: VMCoroutine) -> None:
        self.coro = coro

    def __iter__(self) -> _AwaitIter:
        return self

    def __next__(self) -> Any:
        return self.coro.send(None)

    def send(self, value: Any) -> Any:
        return self.coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        return self.coro.throw(typ, val, tb)

    def close(self) -> None:
        self.coro.close()


collections.abc.Generator.register(VMGenerator)
collections.abc.Coroutine.register(VMCoroutine)

#: Iterators that `yield from` always drives with `send` (3.11's SEND fast path).
SENDS.update((VMGenerator, VMCoroutine))  # SEND drives the VM's own with `send` too
#: What `_Suspendable._delegated` sends into past a delegating frame.
_DIRECT = frozenset({VMGenerator, VMCoroutine})


def _run_at(base: int, under: int, g: _Suspendable, exc: BaseException | None, own: BaseException | None,
            made: Any) -> tuple[bool, Any]:
    """`_Suspendable._delegated`: run `g` on (with `exc` thrown in, or from the request `made`) as
    the entry of a run with `under` frames below it (`base` are below the chain, whose levels the
    runtime's stacks then show; one more level stands for the chain's frames in between).
    (False, item) when it suspended again, (True, what it finished with: StopIteration with its
    return value, or its exception) else."""
    rt = g._rt
    stacks = rt.stacks
    pushed = under > base
    if pushed:
        below = rt.below
        stacks.append(NO_FRAMES)
        rt.below = under - 1  # (a run entered in this level is at `below + 0 + 2` = under + 1)
    try:
        return False, g._resume(None, exc, made, own)
    except BaseException as e:  # noqa: BLE001 -- the caller throws it on, or raises it
        return True, e
    finally:
        if pushed:
            stacks.pop()
            rt.below = below


def _exception_of(typ: Any, val: Any, tb: Any) -> BaseException:
    """The exception `throw(typ, val, tb)` raises (`_gen_throw`'s argument rules)."""
    if isinstance(typ, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        exc = typ
    elif isinstance(typ, type) and issubclass(typ, BaseException):
        if isinstance(val, typ):
            exc = val
        elif val is None:
            exc = typ()
        elif isinstance(val, tuple):
            exc = typ(*val)
        else:
            exc = typ(val)
    else:
        raise TypeError("exceptions must be classes or instances deriving from BaseException, not "
                        f"{type(typ).__name__}")
    if tb is not None:
        if not isinstance(tb, types.TracebackType):
            raise TypeError("throw() third argument must be a traceback object")
        exc = exc.with_traceback(tb)
    return exc


def kind_of(code: Code) -> type[_Suspendable] | None:
    """The object calling `code` makes instead of running it: VMGenerator, VMCoroutine or None."""
    if COROUTINE in code.flags:
        return VMCoroutine
    if GENERATOR in code.flags:
        return VMGenerator
    return None


def items(g: VMGenerator) -> Any:
    """The iterator VM code's `for` (register mode's `get_iter`) takes over a VM generator `g`:
    `VMGenerator.send`'s direct resumption written out as a loop (no Python call per item; what
    does not change between items taken once); what that does not cover goes through `g`'s own
    `_resume`. `g` is still what the program sees: its state, `gi_running`, its exceptions."""
    rt = g._rt
    stacks = rt.stacks
    frame = g._frame
    while True:
        if g._state == _SUSPENDED and g._fast and g._exc is None and rt.host_exc is None and \
                _exception() is None:
            if g._sub is not None:  # past the frames of a `yield from` chain
                try:
                    item = g._delegated(None)
                except StopIteration:
                    return
                yield item
                continue
            below = rt.below
            depth = below + len(stacks[-1]) + 2 if stacks else 1
            if depth <= rt.peak_depth or depth <= rt.max_depth:  # (the peak is never above the limit)
                if depth > rt.peak_depth:
                    rt.peak_depth = depth
                g._state = _RUNNING
                saved = rt.handled
                stacks.append(NO_FRAMES)
                rt.below = depth - 1
                try:
                    req = frame.send(None)
                except BaseException as e:  # noqa: BLE001 -- raised below or re-raised here
                    out = g._left(e, saved, below)
                    if out is e:
                        raise
                else:
                    stacks.pop()
                    rt.below = below
                    if rt.raised is not None:
                        rt.raised = rt.raised_ctx = None
                    if type(req) is tuple and req[0] is SUSPEND:
                        now = rt.handled
                        if now is not saved:  # it suspended while handling an exception
                            g._exc = now
                            rt.handled = saved
                        g._sub = req[2]
                        g._state = _SUSPENDED
                        yield req[1]
                        continue
                    now = rt.handled
                    rt.handled = saved
                    try:
                        item = g._resume(None, None, req, now if now is not saved else None)
                    except StopIteration:
                        return
                    yield item
                    continue
                if isinstance(out, StopIteration):  # it returned
                    return
                raise out  # outside the handler, as `send` raises it
        try:
            item = g._resume(None, None)
        except StopIteration:
            return
        yield item
