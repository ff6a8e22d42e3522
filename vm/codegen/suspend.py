"""Python source for the register-code rows that suspend a frame or start a task.

A register-VM frame is a Python generator that yields call requests `(callee, args, kwargs)` to the
trampoline (`vm.trampoline.execute`). Suspending the VM frame is one more request, whose callee is
the `vm.suspension.SUSPEND` marker: the trampoline hands the value to whoever resumed the frame (a
VM generator's `send`, vm/generators.py), and the next `send`/`throw` into the frame resumes right
after the `yield`, so a thrown exception is caught by the block's handler like any other.

    yield:      r0 = yield (SUSPEND, r1, None)
    yield_from: r0 = yield from r1 (sending r2 first), the SEND loop written out: each item r1
                yields suspends the frame as `yield` does, what is thrown in goes on into r1
    await:      r0 = r1._zir_take() if r1 is a finished task, else yield_from get_awaitable(r1)
    spawn:      r0 = start_frame(_rt, <r1's frame, bound>) if r1 is the site's function, else
                r0 = spawn(_rt, r1, (r2, r3), <site cache>)

Importing this module registers these forms with `vm.codegen.instrs` (the register VM imports it).
"""

from __future__ import annotations

from vm.codegen.instrs import InstrWriter, Lines, _by_name
from vm.spawn import spawn, start_frame
from vm.suspension import SENDS, SUSPEND, SUSPEND_NONE, await_step
from vm.tasks import Task
from zir.ops import get_awaitable
from zir.regcode import RInstr

__all__ = ["SUSPEND"]


@_by_name("yield")
def _yield(w: InstrWriter, i: RInstr) -> Lines:
    w.yields = True
    return [(0, f"{w.op(i.dest)} = yield ({w.const(SUSPEND)}, {w.op(i.args[0])}, None)")]


@_by_name("yield_from")
def _yield_from(w: InstrWriter, i: RInstr) -> Lines:
    it, value = (w.op(a) for a in i.args)
    return _drive(w, w.op(i.dest), it, value)


@_by_name("await")
def _await(w: InstrWriter, i: RInstr) -> Lines:
    # the fast path (a finished VM task) inline; else `yield from` the awaitable's iterator
    t, dest = w.op(i.args[0]), w.op(i.dest)
    return [(0, f"if type({t}) is {w.const(Task)} and {t}._state:"),
            (1, f"{dest} = {t}._zir_take()"),
            (0, "else:"),
            *[(1 + d, line) for d, line in _drive(w, dest, f"{w.const(get_awaitable)}({t})", "None")]]


def _drive(w: InstrWriter, dest: str, it: str, value: str) -> Lines:
    """`dest = yield from it`, starting by sending `value`, written out (3.11's SEND loop; PEP
    380): each item `it` yields is a suspension of the frame (a request to the trampoline; a bare
    `yield` has one shared request), what is sent back goes on into `it`, what is thrown in is
    thrown on into it (`await_step`, `_gen_throw`'s rules), and its return value is the result.
    The request of a suspension names `it` (its third item): a VM generator's `send` may then
    send into `it` directly, past this frame (`vm.generators._Suspendable._delegated`)."""
    w.yields = True
    w.temps.update(("_it", "_av", "_ax", "_ay"))
    return [(0, f"_it = {it}"),
            (0, f"_av, _ax = {value}, None"),
            (0, "while True:"),
            (1, "try:"),
            (2, f"if _ax is None and (_av is not None or type(_it) in {w.const(SENDS)}):"),
            (3, "_ay = _it.send(_av)"),
            (2, "else:"),
            (3, f"_ay = {w.const(await_step)}(_it, _av, _ax)"),
            (1, "except StopIteration as _ae:"),
            (2, f"{dest} = _ae.value"),
            (2, "break"),
            (1, "try:"),
            (2, f"_av = yield {w.const(SUSPEND_NONE)} if _ay is None else ({w.const(SUSPEND)}, _ay, _it)"),
            (2, "_ax = None"),
            (1, "except BaseException as _ae:"),
            (2, "_av, _ax = None, _ae")]


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
