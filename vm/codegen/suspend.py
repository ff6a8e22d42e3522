"""Python source for the register-code rows that suspend a frame or start a task.

A register-VM frame is a Python generator that yields call requests `(callee, args, kwargs)` to the
trampoline (`vm.register_vm.execute`). Suspending the VM frame is one more request, whose callee is
the `vm.generators.SUSPEND` marker: the trampoline hands the value to whoever resumed the frame (a
VM generator's `send`, vm/generators.py), and the next `send`/`throw` into the frame resumes right
after the `yield`, so a thrown exception is caught by the block's handler like any other.

    yield:      r0 = yield (SUSPEND, r1, None)
    yield_from: r0 = yield from delegate(r1, r2)      # Python's yield from passes throw/close on
    await:      r0 = r1._zir_take() if r1 is a finished task, else `delegate`'s loop inline over
                get_awaitable(r1), each item suspending as `yield` does
    spawn:      r0 = start_frame(_rt, <r1's frame, bound>) if r1 is the site's function, else
                r0 = spawn(_rt, r1, (r2, r3), <site cache>)

Importing this module registers these forms with `vm.codegen.instrs` (the register VM imports it).
"""

from __future__ import annotations

from vm.codegen.instrs import InstrWriter, Lines, _by_name
from vm.generators import SENDS, SUSPEND, SUSPEND_NONE, await_step, delegate
from vm.tasks import Task, spawn, start_frame
from zir.ops import get_awaitable
from zir.regcode import RInstr

__all__ = ["SUSPEND"]


@_by_name("yield")
def _yield(w: InstrWriter, i: RInstr) -> Lines:
    w.yields = True
    return [(0, f"{w.op(i.dest)} = yield ({w.const(SUSPEND)}, {w.op(i.args[0])}, None)")]


@_by_name("yield_from")
def _yield_from(w: InstrWriter, i: RInstr) -> Lines:
    w.yields = True
    it, value = (w.op(a) for a in i.args)
    return [(0, f"{w.op(i.dest)} = yield from {w.const(delegate)}({it}, {value})")]


@_by_name("await")
def _await(w: InstrWriter, i: RInstr) -> Lines:
    # the fast path (a finished VM task) inline; else the awaitable's iterator driven right here,
    # each item yielded to the trampoline as a suspension (a bare `yield` with one shared
    # request), what is sent back sent on into the iterator, what is thrown in thrown on into it
    # (`await_step`): `delegate`'s loop without a generator of its own
    w.yields = True
    w.temps.update(("_it", "_av", "_ax", "_ay"))
    t, dest = w.op(i.args[0]), w.op(i.dest)
    sends = w.const(SENDS)
    return [(0, f"if type({t}) is {w.const(Task)} and {t}._state:"),
            (1, f"{dest} = {t}._zir_take()"),
            (0, "else:"),
            (1, f"_it = {w.const(get_awaitable)}({t})"),
            (1, "_av = _ax = None"),
            (1, "while True:"),
            (2, "try:"),
            (3, f"if _ax is None and (_av is not None or type(_it) in {sends}):"),
            (4, "_ay = _it.send(_av)"),
            (3, "else:"),
            (4, f"_ay = {w.const(await_step)}(_it, _av, _ax)"),
            (2, "except StopIteration as _ae:"),
            (3, f"{dest} = _ae.value"),
            (3, "break"),
            (2, "try:"),
            (3, f"_av = yield {w.const(SUSPEND_NONE)} if _ay is None else ({w.const(SUSPEND)}, _ay, None)"),
            (3, "_ax = None"),
            (2, "except BaseException as _ae:"),
            (3, "_av, _ax = None, _ae")]


@_by_name("spawn")
def _spawn(w: InstrWriter, i: RInstr) -> Lines:
    # the VM coroutine function this site started last is started here: its frame from its pool
    # (or its maker), bound, straight to `start_frame`; anything else through `spawn`, which
    # learns a function the site can start (vm/tasks.py)
    f = w.op(i.args[0])
    args = [w.op(a) for a in i.args[1:]]
    tup = f"({', '.join(args)}{',' if len(args) == 1 else ''})"
    dest, rt, start = w.op(i.dest), w.use("_rt"), w.const(start_frame)
    site = w.spawn_site()
    w.temps.add("_fr")
    if w.pooled:  # (a leaf program's free list here is always empty: its pool's `take` counts uses)
        make = [(1, f"_fr = {site}[1].pop() if {site}[1] else {site}[2]()"),
                (1, f"_fr.func = {f}"), (1, f"_fr.args = {tup}")]
    else:
        make = [(1, f"_fr = {site}[2]({f}, {tup})")]
    return [(0, f"if {f} is {site}[0]:"), *make,
            (1, f"{rt}.frames += 1"), (1, f"{dest} = {start}({rt}, _fr)"),
            (0, "else:"), (1, f"{dest} = {w.const(spawn)}({rt}, {f}, {tup}, {site})")]
