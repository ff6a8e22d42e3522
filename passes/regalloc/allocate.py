"""The allocator's driver: build, coalesce, simplify/select, spill, and repeat until colourable;
then rename every Var to its register.

This is the Chaitin-Briggs allocator (Chaitin 1982; Briggs, Cooper & Torczon, "Improvements to
Graph Coloring Register Allocation", TOPLAS 1994), round by round:

0. *renumber*: one Var per live range (web), see `passes.regalloc.webs`;
1. *build*: liveness and the interference graph of the current code (`zir.analysis`; exception
   edges included: a value the handler needs is live before every instruction that may raise);
2. *coalesce*: conservative (Briggs' and George's tests), see `passes.regalloc.coalesce`;
3. *simplify* and *select* with optimistic spilling, see `passes.regalloc.color`;
4. if some values got no register: *spill* them to frame slots (`passes.regalloc.spill`) and start
   again from 1 on the rewritten code.

Registers and temporaries. The allocator colours with `k` general registers `r0 .. r{k-1}` and
`temps` temporary registers `r{k} .. r{k+temps-1}`. Ordinary values (locals, stack slots,
parameters, pass temporaries) get general registers only. The temporaries are reserved for spill
code: the short-lived values that carry a spilled value from its slot to the instruction that reads
it, or from the instruction that defines it to its slot. Spill code therefore rarely competes with
the values it was meant to make room for, and with enough temporaries the second round colours at
once. With `temps=0` it is the textbook allocator, where spill code takes general registers too.
Spill temporaries are never spilled themselves, so every round spills at least one original value
and the loop ends; if an instruction needs more registers at once than there are (a call with five
spilled arguments and k + temps = 4), that is a `zir.PassError` naming the instruction.
`registers_needed(f)` says how many registers are enough for `f` (a VM can raise `k` to it).
"""

from __future__ import annotations

from collections import Counter

import attrs
import networkx as nx

from passes.edit import NameSupply, all_names
from passes.fold import propagatable
from passes.regalloc.coalesce import coalesce
from passes.regalloc.color import Colouring, colour_graph
from passes.regalloc.graph import WorkGraph
from passes.regalloc.spill import SpillSite, SpillState, insert_spill_code
from passes.regalloc.webs import split_webs
from zir.analysis.interference import interference_graph
from zir.analysis.liveness import Liveness, liveness
from zir.errors import PassError
from zir.ir import Const, Function, Instr, Value, Var
from zir.printer import format_instr, format_name


@attrs.define
class Allocation:
    """The outcome of `allocate`: a register for every Var of the (spill-rewritten) function.

    * `registers`: Var -> register number, for every Var the function mentions after spilling;
    * `slots`: spilled original Var -> frame slot; `rematerialized`: Var -> the literal that
      replaced it;
    * `origin`: spill temporary -> the Var whose value it carries;
    * `webs`: Var made for a live range of its own (`passes.regalloc.webs`) -> the Var it came from;
    * `k`, `temps`: the register budget; `params`: the register of each parameter, in order;
    * `stats`: rounds, moves coalesced, values spilled, registers used, ... (the pass reports them).
    """

    registers: dict[Var, int]
    slots: dict[Var, int]
    rematerialized: dict[Var, Const]
    origin: dict[Var, Var]
    webs: dict[Var, Var]
    k: int
    temps: int
    params: list[int]
    stats: dict[str, int]

    @property
    def nslots(self) -> int:
        return len(set(self.slots.values()))


def _where(f: Function) -> str:
    return f"function {format_name('@', f.name)}"


def _instr_text(i: Instr, state: SpillState) -> str:
    """`i` as the user wrote it: spill temporaries named by the Vars they carry."""
    def orig(v: Value) -> Value:
        return state.origin.get(v, v) if isinstance(v, Var) else v

    dest = orig(i.dest) if i.dest is not None else None
    assert dest is None or isinstance(dest, Var)
    return format_instr(Instr(i.op, dest, [orig(a) for a in i.args], i.attrs, i.targets, i.line))


def _rematerializable(f: Function, live: Liveness) -> dict[Var, Const]:
    """Vars defined once, by `const` of a literal, and never read before that definition."""
    defs: Counter[Var] = Counter(f.params)
    consts: dict[Var, Const] = {}
    for _, i in f.instructions():
        if i.dest is not None:
            defs[i.dest] += 1
            if i.op == "const" and isinstance(i.args[0], Const) and propagatable(i.args[0]):
                consts[i.dest] = i.args[0]
    at_entry = live.live_in[f.blocks[0].label]
    return {v: c for v, c in consts.items() if defs[v] == 1 and v not in at_entry}


def _pointless_spills(f: Function, live: Liveness) -> set[Var]:
    """Vars that spilling would not help (Chaitin 1982: "infinite spill cost"): defined once, read
    only later in the same block and nowhere else, with no other value dying in between. A reload
    would put the value back in a register where the original one was, at the same pressure."""
    defs: Counter[Var] = Counter(f.params)
    for _, i in f.instructions():
        if i.dest is not None:
            defs[i.dest] += 1
    out: set[Var] = set()
    index = live.index
    for b in f.blocks:
        exc = live.exception_bits(b.label)
        after = live.bits_after(b.label)
        last_use: dict[Var, int] = {}
        def_at: dict[Var, int] = {}
        for n, i in enumerate(b.instrs):
            for v in i.uses():
                last_use[v] = n
            if i.dest is not None and defs[i.dest] == 1:
                def_at[i.dest] = n
        for v, d in def_at.items():
            u = last_use.get(v)
            bit = 1 << index[v]
            if u is None or u <= d or live.out_bits(b.label) & bit or exc & bit:
                continue
            if all(not (live.bits_before(b.label, j) & ~after[j] & ~bit) for j in range(d + 1, u)):
                out.add(v)
    return out


def _too_small(f: Function, state: SpillState, live: Liveness, t: Var, k: int, temps: int) -> PassError:
    """The error for spill temporary `t` that cannot get a register: name its instruction."""
    site: SpillSite = state.temps[t]
    budget = f"only {k + temps} ({k} general + {temps} temporaries; regalloc{{k={k},temps={temps}}})"
    if site.instr is None:
        return PassError(f"regalloc: {_where(f)}: {len(f.params)} parameters arrive in registers at "
                         f"once, but there are {budget}")
    block = f.block(site.block)
    n = next(n for n, i in enumerate(block.instrs) if i is site.instr)
    at_once = [v for v in live.live_before(site.block, n) if v in state.temps]
    need = max(len(at_once), 1)
    loc = f" (line {site.instr.line})" if site.instr.line is not None else ""
    return PassError(f"regalloc: {_where(f)}, block {format_name('^', site.block)}, instruction "
                     f"`{_instr_text(site.instr, state)}`{loc}: needs {need} values in registers at once "
                     f"(its spilled operands and what is live across it), but there are {budget}")


def _choose_spills(f: Function, g: WorkGraph, result: Colouring, state: SpillState,
                   live: Liveness) -> list[int]:
    """The nodes to spill this round: the uncoloured spillable ones; when only spill temporaries
    failed, the cheapest spillable neighbour of each (to make room around it)."""
    chosen = [i for i in result.spilled if g.spillable[i]]
    if chosen:
        return chosen
    picks: set[int] = set()
    for i in result.spilled:
        around = [t for t in g.adj[i] if g.spillable[t]]
        if not around:
            v = g.vars[min(g.members[i])]
            raise _too_small(f, state, live, v, g.k, g.temps)
        picks.add(min(around, key=lambda t: (0.0 if g.remat[t] is not None else g.cost[t], t)))
    return sorted(picks)


def allocate(f: Function, k: int = 16, temps: int = 8, graph: nx.Graph | None = None,
             max_rounds: int | None = None) -> Allocation:
    """Allocate registers for `f` (out of SSA form), inserting spill code into `f` as needed.

    The Vars keep their names; `assign_registers(f, allocation)` renames them. `graph` may be the
    interference graph of `f` as it is now (from an analysis cache). Raises `zir.PassError` when
    `f` is in SSA form or has phis, when `k < 1` or `temps < 0`, and when some instruction needs
    more registers at once than `k + temps`.
    """
    where = _where(f)
    if k < 1 or temps < 0:
        raise PassError(f"regalloc: needs k >= 1 and temps >= 0, got k={k}, temps={temps}")
    if f.ssa or any(b.phis for b in f.blocks):
        raise PassError(f"regalloc: {where} is in SSA form (run 'ssa-destroy' before 'regalloc')")
    if len(f.params) > k + temps:
        raise PassError(f"regalloc: {where}: {len(f.params)} parameters arrive in registers at once, "
                        f"but there are only {k + temps} ({k} general + {temps} temporaries; "
                        f"regalloc{{k={k},temps={temps}}})")
    webs = split_webs(f)
    if webs:
        graph = None  # the caller's graph was of the Vars before renumbering
    state = SpillState(NameSupply(all_names(f)))
    stats: Counter[str] = Counter()
    limit = max_rounds if max_rounds is not None else len(all_names(f)) + 2
    rounds = 0
    while True:
        rounds += 1
        if rounds > limit:
            raise PassError(f"regalloc: {where}: no colouring after {limit} rounds")
        live = liveness(f)
        ig = graph if (graph is not None and rounds == 1) else interference_graph(f, live)
        remat = _rematerializable(f, live)
        g = WorkGraph(ig, k, temps, state.temps, remat, _pointless_spills(f, live))
        merged = coalesce(g)
        result = colour_graph(g)
        if not result.spilled:
            stats["moves coalesced"] += merged
            break
        nodes = _choose_spills(f, g, result, state, live)
        slots: dict[Var, int] = {}
        rem: dict[Var, Const] = {}
        for i in nodes:
            members = g.member_vars(i)
            c = g.remat[i]
            if c is not None:
                rem[members[0]] = c
                continue
            for v in members:
                slots[v] = state.nslots
            state.nslots += 1
            stats["values spilled"] += len(members)
        stats["values rematerialized"] += len(rem)
        state.slots.update(slots)
        state.remat.update(rem)
        insert_spill_code(f, slots, rem, state)

    registers: dict[Var, int] = {}
    for i in g.nodes():
        for v in g.member_vars(i):
            registers[v] = result.colour[i]
    stats["rounds"] = rounds
    stats["registers used"] = len(set(registers.values()))
    stats["frame slots"] = state.nslots
    stats.update(state.stats)
    stats["live ranges split"] = len(webs)
    return Allocation(registers, dict(state.slots), dict(state.remat), dict(state.origin), webs, k, temps,
                      [registers[p] for p in f.params], dict(stats))


def registers_needed(f: Function) -> int:
    """The fewest registers (`k + temps`) `allocate` can succeed with: every instruction's distinct
    Var operands must be in registers at once, and so must every parameter when the function is
    entered. Everything else can wait in a frame slot."""
    need = max(len(f.params), 1)
    for _, i in f.instructions():
        need = max(need, len(set(i.uses())))
    return need


def register_name(n: int) -> Var:
    """The Var that stands for register `n` in allocated IR: `%r<n>`."""
    return Var(f"r{n}")


def assign_registers(f: Function, allocation: Allocation) -> int:
    """Rename every Var of `f` to its register (`%r0`, ...) and drop the copies that became
    `%rN = copy %rN`; returns how many copies were dropped."""
    regs = {v: register_name(n) for v, n in allocation.registers.items()}
    f.params = [regs[p] for p in f.params]
    dropped = 0
    for b in f.blocks:
        out = []
        for i in b.instrs:
            i.args = [regs[a] if isinstance(a, Var) else a for a in i.args]
            if i.dest is not None:
                i.dest = regs[i.dest]
            if i.op == "copy" and i.args[0] == i.dest:
                dropped += 1
                continue
            out.append(i)
        b.instrs = out
    return dropped
