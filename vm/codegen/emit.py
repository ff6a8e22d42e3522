"""Register code -> the source of one Python generator function.

The shape of the generated code (`Layout` decides what goes where):

* every region (the function, each natural loop) is a `while True:` whose body is an if-chain over
  the block variable `_b` (its *arms*: blocks reached by a jump that is not their only entry, and
  loops entered that way), hottest first; a region with one arm has no chain;
* a block with one incoming edge from its own region is written at that edge (superblocks and
  if/else trees), a loop with one entry edge is written as `while True:` at that edge, and the block
  all of its exits go to follows the `while` directly, so simple loops read like Python loops;
* a jump to an arm sets `_b` and `continue`s the enclosing `while` when the target is inside that
  region, else `break`s outwards (a region that does not know `_b` breaks in turn);
* a block with a handler (and something that may raise) is a `try:` whose `except` records the
  exception in `_x` (`_caught` gives it CPython's `__context__`) and jumps to the handler; VM
  faults (`_FAULT`) pass through;
* a call of VM code is `r = yield (f, args, kwargs)`; `ret` is `return r`, or, in a pooled frame
  that lives on between calls, `_F.ret = r` and the end of the activation (`yield _RET`).

Variants (`Variant`): pooled or not, counting steps for `max_steps` or not, and the profile level.
The uninstrumented variant (`Variant()`) holds no counting code at all.
"""

from __future__ import annotations

from typing import Any

import attrs

from vm.codegen.counters import EXIT, VIRTUAL, CounterPlan, plan_counters
from vm.codegen.instrs import InstrWriter
from vm.codegen.layout import TOP, ForLoop, Layout, Region
from zir.regcode import REG_OPS, Imm, RegCode, RInstr

__all__ = ["Generated", "Variant", "generate"]

PROFILES = ("none", "basic", "detailed", "full")


@attrs.frozen
class Variant:
    """Which form of the code to generate: `pooled` frames live on between calls (fed arguments by
    `send`), `steps` counts executed instructions against `max_steps`, `profile` is the profiler
    level ("none", "basic": block counts, "detailed": + block timing, "full": + branch counts)."""

    pooled: bool = False
    steps: bool = False
    profile: str = "none"

    @property
    def counts(self) -> bool:
        return self.profile != "none"


@attrs.define(eq=False)
class Generated:
    """Generated source and what it needs: `values` binds the constant names (`_k<N>`), `helpers`
    the helper names it uses (values from `vm.codegen.support.namespace`), `instruments` the names
    of the counters it updates; `where[n]` is the `(block, instruction)` generated line `n + 1`
    belongs to (None for control lines)."""

    name: str
    source: str
    values: dict[str, Any]
    helpers: set[str]
    instruments: set[str]
    where: list[tuple[int, int] | None]
    structured: bool
    #: No `yield` at all (the code calls nothing that could be VM code): a plain function.
    leaf: bool = False
    #: Lines (1-based) of `for` statements (see `vm.profiler.RegisterProfile.exit`).
    precount: frozenset[int] = frozenset()
    #: The control-flow facts the code was generated from, and where it counts (profiled code).
    layout: Layout | None = None
    plan: CounterPlan | None = None


def generate(rc: RegCode, variant: Variant, name: str = "_zir_fn", structured: bool = True) -> Generated:
    """The generator-function source for `rc` in `variant` (see the module docstring)."""
    return _Emitter(rc, Layout.of(rc, structured), variant, name).run()


def _instr_raises(i: RInstr) -> bool:
    return REG_OPS[i.op].may_raise


class _Emitter:
    def __init__(self, rc: RegCode, layout: Layout, variant: Variant, name: str) -> None:
        self.rc = rc
        self.lay = layout
        self.v = variant
        self.name = name
        self.w = InstrWriter(list(rc.cellvars) + list(rc.freevars), len(rc.cellvars))
        self.w.profiled = variant.counts
        self.w.pooled = variant.pooled
        # where the profiled code counts (vm.codegen.counters): on the edges off a spanning tree
        self.plan: CounterPlan | None = plan_counters(
            layout, timed=variant.profile in ("detailed", "full")) if variant.counts else None
        self.lines: list[tuple[int, str, tuple[int, int] | None]] = []
        self.instruments: set[str] = set()
        self.uses_b = False
        self.follows = {r.follow for r in layout.regions.values() if r.follow is not None}
        #: Generated line numbers of `for` statements: an exception there was raised by the loop
        #: header's `iter_next`, which has not been counted yet.
        self.precount: set[int] = set()

    # -- output ------------------------------------------------------------------------------------

    def line(self, ind: int, text: str, where: tuple[int, int] | None = None) -> None:
        self.lines.append((ind, text, where))

    def instrument(self, name: str) -> str:
        self.instruments.add(name)
        return name

    # -- driver ------------------------------------------------------------------------------------

    def run(self) -> Generated:
        rc, lay, w = self.rc, self.lay, self.w
        if self.v.pooled:
            self.line(2, "_b = 0")
            self.uses_b = True
            self.line(2, "while True:")
            self.region(lay.top, 3)
        elif lay.top.chain:
            self.line(1, "_b = 0")
            self.uses_b = True
            self.line(1, "while True:")
            self.region(lay.top, 2)
        else:
            self.region(lay.top, 1)
        body = self.lines
        self.lines = []
        prologue = self.prologue(2 if self.v.pooled else 1)
        params = self.param_names()
        regs = self.all_registers()
        w.used.add("_U")
        if self.v.pooled:
            w.used.add("_RET")
            self.instruments.update(("_POOL", "_FREE"))
        names = sorted(w.used | set(w.values) | self.instruments)
        defaults = ", ".join(f"{n}={n}" for n in names)
        if self.v.pooled:
            self.line(0, f"def {self.name}(_F, {defaults}):")
            if regs:
                self.line(1, f"{' = '.join(regs)} = _U")
            self.line(1, "_A = yield")
            self.line(1, "while True:")
            if params:
                self.line(2, f"{', '.join(params)}{',' if len(params) == 1 else ''} = _A")
            self.line(2, "_POOL.uses += 1")
            self.lines.extend(prologue)
            offset = len(self.lines)
            self.lines.extend(body)
            clear = regs + [f"c{k}" for k in range(len(rc.cellvars) + len(rc.freevars))] + sorted(w.temps)
            clear.append("_A")  # the arguments: an idle frame keeps nothing alive
            if clear:
                self.line(2, f"{' = '.join(clear)} = _U")
            # the frame goes back to its program's pool itself (vm.pools.FramePool.give)
            self.line(2, "_F.func = None; _F.args = ()")
            self.line(2, "if len(_FREE) < _POOL.cap:")
            self.line(3, "_FREE.append(_F)")
            self.line(2, "else:")
            self.line(3, "_POOL.dropped += 1")
            self.line(2, "_A = yield _RET")
        else:
            self.line(0, f"def {self.name}({', '.join(['_F', *params, defaults])}):")
            self.lines.extend(prologue)
            init = [r for r in regs if r not in params and lay.live_in[0] & self.bit_of(r)]
            if init:
                self.line(1, f"{' = '.join(init)} = _U")
            offset = len(self.lines)
            self.lines.extend(body)
        text = "\n".join("    " * ind + t for ind, t, _ in self.lines) + "\n"
        where = [wh for _, _, wh in self.lines]
        leaf = not self.v.pooled and not w.yields
        # the body moved below the header and prologue: shift the `for` line numbers with it
        precount = frozenset(n + offset for n in self.precount)
        return Generated(self.name, text, dict(w.values), set(w.used), set(self.instruments), where,
                         lay.structured, leaf, precount, lay, self.plan)

    def bit_of(self, reg: str) -> int:
        n = int(reg[1:])
        return 1 << (n if reg[0] == "r" else self.rc.nregs + n)

    def param_names(self) -> list[str]:
        seen: set[int] = set()
        out = []
        for k, p in enumerate(self.rc.params):
            if p in seen:  # two dead parameters may share a register; only one can be read
                out.append(f"_p{k}")
            else:
                seen.add(p)
                out.append(f"r{p}")
        return out

    def all_registers(self) -> list[str]:
        return [f"r{n}" for n in range(self.rc.nregs)] + [f"s{n}" for n in range(self.rc.nslots)]

    def prologue(self, ind: int) -> list[tuple[int, str, tuple[int, int] | None]]:
        out: list[tuple[int, str, tuple[int, int] | None]] = []
        w, rc = self.w, self.rc
        if self.v.profile in ("detailed", "full") and not self.entry_starts_clock():
            # the first interval of an activation goes to a sink entry past the last block
            out.append((ind, f"_p = {len(rc.blocks)}; _t0 = 0", None))
        slot = self.edge_slot(*VIRTUAL)
        if slot is not None:  # activations, counted only where no spanning tree can derive them
            out.append((ind, f"{self.instrument('_P')}[{slot}] += 1", None))
        if w.needs_globals:
            out.append((ind, "_G = _F.func.__globals__", None))
        if w.needs_builtins:
            out.append((ind, "_B = _F.func.__builtins__", None))
        ncell = len(rc.cellvars)
        for k in range(ncell):
            w.used.add("_Cell")
            out.append((ind, f"c{k} = _Cell()", None))
        if rc.freevars:
            names = [f"c{ncell + k}" for k in range(len(rc.freevars))]
            target = f"{', '.join(names)}{',' if len(names) == 1 else ''}"
            out.append((ind, f"{target} = _F.func.__closure__", None))
        return out

    # -- regions -----------------------------------------------------------------------------------

    def region(self, r: Region, ind: int) -> None:
        """The body of region `r`'s `while True:` (or of the function when it has no chain)."""
        if not r.chain:
            kind, x = r.arms[0]
            assert kind == "block" and isinstance(x, int)
            self.block(x, r, ind)
            return
        self.uses_b = True
        for n, (kind, x) in enumerate(r.arms):
            kw = "if" if n == 0 else "elif"
            if kind == "block":
                assert isinstance(x, int)
                self.line(ind, f"{kw} _b == {x}:")
                self.block(x, r, ind + 1)
            else:
                assert isinstance(x, Region)
                ents = x.entrances
                test = f"_b == {ents[0]}" if len(ents) == 1 else f"_b in ({', '.join(map(str, ents))})"
                self.line(ind, f"{kw} {test}:")
                self.line(ind + 1, "while True:")
                self.region(x, ind + 2)
        if r is not self.lay.top or self.v.pooled:
            self.line(ind, "else:")
            self.line(ind + 1, "break")

    def for_loop(self, c: Region, ind: int, spec: ForLoop) -> None:
        """`for v in it:` for loop `c` (see `Layout.for_loops`). The iterator came from `get_iter`,
        so `for` must not call `iter()` on it with effect: a builtin iterator returns itself; any
        other is handed over through `_Once`, whose `__iter__` returns it unchanged."""
        item, it, body, exit_ = self.w.op(spec.item), self.w.op(spec.iterator), spec.body, spec.exit
        h = c.header
        parent = c.parent
        assert parent is not None
        once, selfiter = self.w.use("_Once"), self.w.use("_SELFITER")
        self.line(ind, f"for {item} in ({it} if id(type({it})) in {selfiter} else {once}({it})):", (h, 0))
        self.precount.add(len(self.lines))
        # the header's two edges: to the body (each item) and, in `else`, to the exit (exhausted)
        self.count_block(h, ind + 1, timed=False)
        self.count_edge(h, body, ind + 1)
        self.goto(body, c, ind + 1)
        if exit_ != c.follow or self.edge_slot(h, exit_) is not None or self.v.steps or (
                self.plan is not None and h in self.plan.block_slots):
            self.line(ind, "else:")
            before = len(self.lines)
            self.count_block(h, ind + 1, timed=False)
            self.count_edge(h, exit_, ind + 1)
            if exit_ != c.follow:
                self.goto(exit_, parent, ind + 1)
            elif len(self.lines) == before:
                self.line(ind + 1, "pass")

    def inline_loop(self, c: Region, ind: int) -> None:
        """Loop `c` written at its only entry edge, then what follows it."""
        spec = self.lay.for_loops.get(c.header)
        if spec is not None:
            self.for_loop(c, ind, spec)
        else:
            if c.chain:
                self.uses_b = True
                self.line(ind, f"_b = {c.header}")
            self.line(ind, "while True:")
            self.region(c, ind + 1)
        parent = c.parent
        assert parent is not None
        if c.follow is not None:
            if self.v.pooled and self.contains_ret(c):
                self.line(ind, "if _b == -1: break")
            self.block(c.follow, parent, ind)
            return
        exits = set(c.exit_targets)
        if self.v.pooled and self.contains_ret(c):
            exits.add(-1)
        if not exits:
            return  # the loop is left only by return or raise
        if parent.chain:
            self.line(ind, "continue")
            return
        kinds = set()
        for e in exits:
            if e == -1 or e not in parent.subtree:
                kinds.add("break")
            elif e == parent.header:
                kinds.add("continue")
            else:
                raise AssertionError(f"loop exit to block {e} needs a dispatch chain")
        if kinds == {"break", "continue"}:
            self.line(ind, f"if _b == {parent.header}: continue")
            self.line(ind, "break")
        else:
            self.line(ind, kinds.pop())

    def contains_ret(self, r: Region) -> bool:
        return any(self.rc.blocks[k].instrs[-1].op == "ret" for k in r.subtree)

    # -- jumps -------------------------------------------------------------------------------------

    def goto(self, t: int, ctx: Region, ind: int) -> None:
        """Continue at block `t` from code in region `ctx`."""
        lay = self.lay
        c = lay.regions.get(t)
        if c is not None and c is not ctx and c.inline and c.parent is ctx:
            self.inline_loop(c, ind)
            return
        if t in lay.attached and c is None and lay.region_of[t] is ctx and not self.is_follow(t):
            self.block(t, ctx, ind)
            return
        if ctx.header != TOP and t == ctx.header and not ctx.chain:
            self.line(ind, "continue")
            return
        self.dispatch(t, ctx, ind)

    def dispatch(self, t: int, ctx: Region, ind: int) -> None:
        """Jump through the dispatch chain to block `t`."""
        if t == ctx.follow:
            # written right after this loop's `while`: the `break` lands there
            self.line(ind, "break")
            return
        self.uses_b = True
        self.line(ind, f"_b = {t}")
        self.line(ind, "continue" if t in ctx.subtree else "break")

    def is_follow(self, t: int) -> bool:
        return t in self.follows

    def exit_activation(self, ctx: Region, ind: int) -> None:
        """Leave every loop to the end of a pooled frame's activation."""
        if ctx is self.lay.top:
            self.line(ind, "break")
        else:
            self.uses_b = True
            self.line(ind, "_b = -1")
            self.line(ind, "break")

    # -- blocks ------------------------------------------------------------------------------------

    def count_block(self, k: int, ind: int, timed: bool = True) -> None:
        v = self.v
        n = len(self.rc.blocks[k].instrs)
        if v.steps:
            rt = self.w.use("_rt")
            self.line(ind, f"{rt}.steps += {n}")
            self.line(ind, f"if {rt}.steps > {self.instrument('_LIMIT')}: "
                           f"raise {self.instrument('_STEPS')}(_F, {k})")
        if self.plan is not None and k in self.plan.block_slots:  # the reference plan only
            self.line(ind, f"{self.instrument('_P')}[{self.plan.block_slots[k]}] += 1")
        if v.profile in ("detailed", "full") and timed:
            if k == 0 and self.entry_starts_clock():
                # every activation starts here and nothing comes back: no interval ends here
                self.line(ind, f"_t0 = {self.instrument('_ns')}(); _p = 0")
                return
            # one clock read per block: the time since the previous block of this frame started
            # is that block's (its instructions, its calls, its branch)
            self.line(ind, f"_n = {self.instrument('_ns')}(); {self.instrument('_T')}[_p](_n - _t0); "
                           f"_t0 = _n; _p = {k}")

    def edge_slot(self, k: int, t: int) -> int | None:
        """The counter of edge `k -> t`, if the plan counts it."""
        return self.plan.edge_slots.get((k, t)) if self.plan is not None else None

    def count_edge(self, k: int, t: int, ind: int) -> None:
        """Count edge `k -> t` here, on its branch arm before the jump, if the plan counts it."""
        slot = self.edge_slot(k, t)
        if slot is not None:
            self.line(ind, f"{self.instrument('_P')}[{slot}] += 1")

    def entry_starts_clock(self) -> bool:
        """Is the entry block entered only when an activation starts (no edge goes back to it)?
        Then timing starts there, instead of closing an interval into the sink entry."""
        return not self.lay.normal_preds[0] and not self.lay.exc_preds[0]

    def time_block(self, k: int, ind: int) -> None:
        """Close the frame's last timing interval (at a return)."""
        if self.v.profile in ("detailed", "full"):
            self.line(ind, f"{self.instrument('_T')}[_p]({self.instrument('_ns')}() - _t0)")

    def block(self, k: int, ctx: Region, ind: int) -> None:
        b = self.rc.blocks[k]
        w = self.w
        self.count_block(k, ind)
        term = b.instrs[-1]
        body = b.instrs[:-1]
        handled = b.handler is not None and any(_instr_raises(i) for i in b.instrs)
        w.handled = handled
        inner = ind + 1 if handled else ind
        if handled:
            self.line(ind, "try:")
        start = len(self.lines)
        self.instrs(k, body, inner)
        cond: str | None = None
        nterm = len(b.instrs) - 1
        two_way = REG_OPS[term.op].targets == 2
        if handled and term.op in ("raise", "reraise"):
            for rel, text in w.instr(term):
                self.line(inner + rel, text, (k, nterm))
        elif handled and two_way and w.may_raise_condition(term):
            self.line(inner, f"_c = True if {w.condition(term)} else False", (k, nterm))
            cond = "_c"
        if handled:
            if len(self.lines) == start:
                self.line(inner, "pass")
            self.line(ind, f"except {w.use('_FAULT')}:")
            self.line(ind + 1, "raise")
            self.line(ind, "except BaseException as _e:")
            self.line(ind + 1, f"_x = {w.use('_caught')}(_e)")
            if self.v.counts:
                self.line(ind + 1, f"{self.instrument('_EXIT')}(_e)")
            assert b.handler is not None
            self.dispatch(b.handler, ctx, ind + 1)
            w.handled = False
        if handled and term.op in ("raise", "reraise"):
            return
        self.terminator(k, term, cond, ctx, ind)

    def instrs(self, k: int, body: list[RInstr], ind: int) -> None:
        w = self.w
        n = 0
        while n < len(body):
            i = body[n]
            fused = self.fused_unpack(k, body, n)
            if fused:
                dests = fused
                src = w.op(i.args[0])
                self.line(ind, f"{', '.join(dests)}{',' if len(dests) == 1 else ''} = {src}", (k, n))
                n += 1 + len(dests)
                continue
            sliced = self.fused_slice(k, body, n)
            if sliced is not None:
                self.line(ind, sliced, (k, n + 1))  # only the subscript can raise
                n += 2
                continue
            for rel, text in w.instr(i):
                self.line(ind + rel, text, (k, n))
            n += 1

    def fused_slice(self, k: int, body: list[RInstr], n: int) -> str | None:
        """`t = build_slice a, b[, c]` followed by a subscript with key `t` (`getitem`, `setitem`,
        `delitem`), `t` dead after: Python's slice syntax `x[a:b:c]`, which CPython 3.11 compiles to
        the same BUILD_SLICE + BINARY_SUBSCR / STORE_SUBSCR / DELETE_SUBSCR, without calling `slice`."""
        i = body[n]
        if i.op != "build_slice" or i.dest is None or n + 1 >= len(body) or len(i.args) not in (2, 3):
            return None
        t, nxt, w = i.dest, body[n + 1], self.w
        if nxt.op in ("getitem", "delitem"):
            container, key = nxt.args
            others = [container]
        elif nxt.op == "setitem":
            value, container, key = nxt.args
            others = [value, container]
        else:
            return None
        if key != t or t in others:
            return None
        if nxt.dest != t and self.lay.live_after[k][n + 1] & self.lay.bit(t):
            return None
        bounds = ":".join("" if isinstance(a, Imm) and a.value is None else w.op(a) for a in i.args)
        item = f"{w.atom(container)}[{bounds}]"
        if nxt.op == "getitem":
            assert nxt.dest is not None
            return f"{w.op(nxt.dest)} = {item}"
        if nxt.op == "setitem":
            return f"{item} = {w.op(value)}"
        return f"del {item}"

    def fused_unpack(self, k: int, body: list[RInstr], n: int) -> list[str] | None:
        """`t = unpack seq {count=N}` followed by the N `tuple_item t` reads, `t` dead after:
        Python's own unpacking assignment (CPython's UNPACK_SEQUENCE, same checks and messages)."""
        i = body[n]
        if i.op != "unpack" or i.dest is None:
            return None
        count = i.attrs["count"]
        items = body[n + 1:n + 1 + count]
        if count < 1 or len(items) != count:
            return None
        dests: dict[int, str] = {}
        for item in items:
            if item.op != "tuple_item" or item.args != (i.dest,) or item.dest is None:
                return None
            idx = item.attrs["index"]
            name = self.w.op(item.dest)
            if idx in dests or name in dests.values() or not 0 <= idx < count:
                return None
            dests[idx] = name
        last = n + count
        t_bit = self.lay.bit(i.dest)
        redefined = any(item.dest == i.dest for item in items)
        if not redefined and self.lay.live_after[k][last] & t_bit:
            return None
        return [dests[j] for j in range(count)]

    def terminator(self, k: int, term: RInstr, cond: str | None, ctx: Region, ind: int) -> None:
        w = self.w
        nterm = len(self.rc.blocks[k].instrs) - 1
        where = (k, nterm)
        op = term.op
        if op == "br":
            self.count_edge(k, term.targets[0], ind)
            self.goto(term.targets[0], ctx, ind)
            return
        if op == "ret":
            self.count_edge(k, EXIT, ind)
            self.time_block(k, ind)
            value = w.op(term.args[0])
            if self.v.pooled:
                self.line(ind, f"_F.ret = {value}", where)
                self.exit_activation(ctx, ind)
            else:
                self.line(ind, f"return {value}", where)
            return
        if op in ("raise", "reraise"):
            for rel, text in w.instr(term):
                self.line(ind + rel, text, where)
            return
        t, f = term.targets
        if cond is None:
            cond = w.condition(term)
        if t == f:
            if cond != "_c" and w.may_raise_condition(term):
                self.line(ind, f"if {cond}: pass", where)
            self.count_edge(k, t, ind)
            self.goto(t, ctx, ind)
            return
        # each arm counts its own edge, if the plan counts it, before its jump
        if self.cheap(f, ctx) or not self.cheap(t, ctx):
            self.line(ind, f"if {cond}:", where)
            self.count_edge(k, t, ind + 1)
            self.goto(t, ctx, ind + 1)
            self.count_edge(k, f, ind)
            self.goto(f, ctx, ind)
        else:
            self.line(ind, f"if not ({cond}):", where)
            self.count_edge(k, f, ind + 1)
            self.goto(f, ctx, ind + 1)
            self.count_edge(k, t, ind)
            self.goto(t, ctx, ind)

    def cheap(self, t: int, ctx: Region) -> bool:
        """Is a jump to `t` from `ctx` a short dispatch (not a block or loop written in place)?"""
        lay = self.lay
        c = lay.regions.get(t)
        if c is not None and c is not ctx and c.inline and c.parent is ctx:
            return False
        return not (t in lay.attached and c is None and lay.region_of[t] is ctx and not self.is_follow(t))
