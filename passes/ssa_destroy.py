"""Out of SSA: replace phis by copies, correctly.

The method is Briggs, Cooper, Harvey & Simpson, "Practical Improvements to the Construction and
Destruction of Static Single Assignment Form" (SP&E 1998) for normal edges, with the parallel-copy
sequentialization of Boissinot, Darte, Rastello, Dupont de Dinechin & Guillon, "Revisiting
Out-of-SSA Translation for Correctness, Code Quality, and Efficiency" (CGO 2009), and Sreedhar et
al.'s Method I ("Translating Out of Static Single Assignment Form", SAS 1999) for exception edges:

* **Normal edges.** The phis of block S become one *parallel* copy `(d1, d2, ...) := (v1, v2, ...)`
  on each edge P -> S. It goes at the end of P when P ends in a plain `br` (P's only successor is
  S, so no other path sees the copies: this is what avoids the *lost-copy* problem); otherwise the
  edge is split by a new block that holds the copies (the critical edge case). The parallel copy
  is sequentialized so that no copy overwrites a value a later copy still reads; a cycle
  (`a, b := b, a`, the *swap* problem) is broken with one fresh temporary.
* **Exception edges** cannot be split: control leaves P from the middle of the block. The phis of
  a handler H therefore go through fresh temporaries, one per phi: every predecessor P writes
  `t_i := v_i` just before its first may-raise instruction (the IR convention guarantees `v_i` is
  available there and is the value at every raise point of P), normal predecessors do it on the
  edge as above, and H starts (after `catch`) with `d_i := t_i`. The temporaries are written
  nowhere else, so a store into them cannot clobber a live value, and a path that does not raise
  leaves the phi results untouched.

Before any copy is placed, *phi webs are coalesced* (Briggs et al. 1998, section 4; Sreedhar et
al.'s phi congruence classes): a phi's result and each of its operands are given one name when no
member of the one group interferes with a member of the other (`zir.analysis.interference_graph`:
liveness with exception edges, Chaitin's def-point rule). A group shares one variable safely
because none of its members is ever live while another is written; the copies between them vanish,
and a loop counter keeps one name instead of three. Parameters keep their names (a group holding
one is named after it). `coalesce=false` turns this off.

Sets `f.ssa = False`.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.edit import NameSupply, all_names, fresh_name, raise_point, replace_uses
from passes.registry import PassResult, register
from zir.analysis.interference import interference_among
from zir.ir import Block, Const, Function, Instr, Value, Var
from zir.printer import format_name

Copy = tuple[Var, Value]


def sequentialize(copies: list[Copy], fresh: Callable[[], Var]) -> list[Copy]:
    """Order a parallel copy (all reads before all writes) as sequential copies, after Boissinot et
    al. 2009, algorithm 1. Destinations must be distinct.

    `loc[v]` is where the value `v` had before the parallel copy lives now. A destination is
    *ready* once nobody still needs its old value: at the start when no copy reads it, later when
    its value has been copied somewhere else (`loc` moved). When no destination is ready, the
    remaining copies form cycles: one destination's value is saved in a fresh temporary, which
    frees it. Constants read no register, so their copies go last.
    """
    pending: dict[str, Var] = {}
    dest_of: dict[str, Var] = {}
    consts: list[Copy] = []
    for d, s in copies:
        if isinstance(s, Const):
            consts.append((d, s))
        elif d != s:
            pending[d.name] = s
            dest_of[d.name] = d
    loc: dict[str, Var] = {s.name: s for s in pending.values()}
    read = {s.name for s in pending.values()}
    ready = [name for name in pending if name not in read]
    queued = set(ready)
    out: list[Copy] = []
    while pending:
        while ready:
            name = ready.pop(0)
            src = pending.pop(name)
            out.append((dest_of[name], loc[src.name]))
            # the old value of src is now also in this destination, which nothing overwrites again
            loc[src.name] = dest_of[name]
            if src.name in pending and src.name not in queued:
                queued.add(src.name)
                ready.append(src.name)
        if pending:
            name = next(iter(pending))
            t = fresh()
            out.append((t, dest_of[name]))
            loc[name] = t
            queued.add(name)
            ready.append(name)
    return out + consts


def _instrs(copies: list[Copy]) -> list[Instr]:
    return [Instr("const", d, [s]) if isinstance(s, Const) else Instr("copy", d, [s]) for d, s in copies]


def coalesce_phi_webs(f: Function, am: AnalysisManager) -> int:
    """Give non-interfering phi results and operands one name (see the module docstring); returns
    how many operands joined their phi's group.

    Interference is asked only about phi results and operands (`interference_among`, the subgraph
    of `zir.analysis.interference_graph` those Vars induce): groups are made of them alone.
    """
    candidates: set[str] = set()
    for b in f.blocks:
        for p in b.phis:
            candidates.add(p.dest.name)
            for v in p.incoming.values():
                if isinstance(v, Var):
                    candidates.add(v.name)
    if not candidates:
        return 0
    adj = interference_among(f, am.liveness(f), candidates)
    parent: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    neighbours: dict[str, set[str]] = {}

    def find(v: str) -> str:
        if v not in parent:
            parent[v], members[v] = v, [v]
            neighbours[v] = set(adj[v])
            return v
        root = v
        while parent[root] != root:
            root = parent[root]
        while parent[v] != root:
            parent[v], v = root, parent[v]
        return root

    joined = 0
    for b in f.blocks:
        for p in b.phis:
            for v in p.incoming.values():
                if not isinstance(v, Var):
                    continue
                a, c = find(p.dest.name), find(v.name)
                if a == c:
                    continue
                na = neighbours[a]
                if any(m in na for m in members[c]):
                    continue
                if len(members[a]) < len(members[c]):
                    a, c = c, a
                parent[c] = a
                members[a] += members.pop(c)
                neighbours[a] |= neighbours.pop(c)
                joined += 1
    params = {p.name: p for p in f.params}
    rename: dict[str, Var] = {}
    for group in members.values():
        if len(group) < 2:
            continue
        named = [m for m in group if m in params]
        rep = named[0] if named else min(group)
        rep_var = params.get(rep) or Var(rep)
        rename.update((m, rep_var) for m in group if m != rep)
    if rename:
        replace_uses(f, rename)
        for b in f.blocks:
            for p in b.phis:
                p.dest = rename.get(p.dest.name, p.dest)
            for i in b.instrs:
                if i.dest is not None:
                    i.dest = rename.get(i.dest.name, i.dest)
    return joined


class _Destroyer:
    def __init__(self, f: Function, am: AnalysisManager) -> None:
        self.f = f
        self.flow = am.flow(f)
        self.names = NameSupply(all_names(f))
        self.blocks = f.block_map()
        self.labels = set(self.blocks)
        # split blocks go right after their predecessor in the layout (placed at the end of run)
        self.after: dict[str, list[Block]] = {}
        self.stats = {"phis removed": 0, "phi operands coalesced": 0, "copies inserted": 0,
                      "critical edges split": 0, "cycle temporaries": 0, "handler temporaries": 0}

    def fresh(self) -> Var:
        self.stats["cycle temporaries"] += 1
        return self.names.var()

    def edge_block(self, pred: Block, succ: Block) -> Block:
        """Where copies for the normal edge pred -> succ go: pred itself when it only jumps to succ,
        else a new block splitting the edge."""
        t = pred.terminator
        assert t is not None
        if t.op == "br":
            return pred
        label = fresh_name(self.labels, f"{pred.label}.{succ.label}")
        mid = Block(label, [], [Instr("br", None, [], {}, [succ.label])])
        self.labels.add(label)
        self.blocks[label] = mid
        self.after.setdefault(pred.label, []).append(mid)
        t.targets = [label if x == succ.label else x for x in t.targets]
        for p in succ.phis:
            p.incoming = {(label if k == pred.label else k): v for k, v in p.incoming.items()}
        self.stats["critical edges split"] += 1
        return mid

    def append(self, block: Block, copies: list[Copy]) -> None:
        """Put sequential copies at the end of `block`, before its terminator."""
        block.instrs[-1:-1] = _instrs(copies)
        self.stats["copies inserted"] += len(copies)

    def normal_block(self, s: Block) -> None:
        """Phis of a block with only normal predecessors: a parallel copy per incoming edge (none,
        and no split, on an edge where coalescing made every copy a self-copy)."""
        for pred_label in list(s.phis[0].incoming):
            if all(p.incoming[pred_label] == p.dest for p in s.phis):
                continue
            pred = self.blocks[pred_label]
            where = self.edge_block(pred, s)
            copies = [(p.dest, p.incoming[where.label]) for p in s.phis]
            self.append(where, sequentialize(copies, self.fresh))

    def handler_block(self, s: Block) -> None:
        """Phis of a block some predecessor reaches by an exception edge: through temporaries
        (a phi whose operands were all coalesced with its result needs none)."""
        s.phis = [p for p in s.phis if any(v != p.dest for v in p.incoming.values())]
        if not s.phis:
            return
        temps = [self.names.var() for _ in s.phis]
        self.stats["handler temporaries"] += len(temps)
        for pred_label in list(s.phis[0].incoming):
            pred = self.blocks[pred_label]
            if self.flow.succ[pred_label][s.label] == "exception":
                at = raise_point(pred)
                if at is None:
                    continue  # nothing in pred raises: the edge is never taken
                copies = [(t, p.incoming[pred_label]) for t, p in zip(temps, s.phis, strict=True)]
                pred.instrs[at:at] = _instrs(copies)
                self.stats["copies inserted"] += len(copies)
            else:
                where = self.edge_block(pred, s)
                copies = [(t, p.incoming[where.label]) for t, p in zip(temps, s.phis, strict=True)]
                self.append(where, copies)
        top = 1 if s.instrs and s.instrs[0].op == "catch" else 0
        s.instrs[top:top] = _instrs([(p.dest, t) for p, t in zip(s.phis, temps, strict=True)])
        self.stats["copies inserted"] += len(temps)

    def run(self) -> None:
        for s in list(self.f.blocks):
            if not s.phis:
                continue
            self.stats["phis removed"] += len(s.phis)
            if "exception" in self.flow.pred[s.label].values():
                self.handler_block(s)
            else:
                self.normal_block(s)
            s.phis = []
        if self.after:
            layout = []
            for b in self.f.blocks:
                layout.append(b)
                layout.extend(self.after.get(b.label, ()))
            self.f.blocks = layout


@register("ssa-destroy")
@attrs.frozen
class SSADestruction:
    """Leave SSA form: coalesce phi webs, then phis become sequentialized copies (critical edges
    split; temporaries for exception edges)."""

    coalesce: bool = True  #: give non-interfering phi results and operands one name first

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        if not f.ssa:
            return PassResult.unchanged()
        if not am.allow(f"leave SSA form of {format_name('@', f.name)}"):
            return PassResult.unchanged()
        joined = coalesce_phi_webs(f, am) if self.coalesce else 0
        d = _Destroyer(f, am)
        d.stats["phi operands coalesced"] = joined
        d.run()
        f.ssa = False
        split = d.stats["critical edges split"] > 0
        return PassResult(True, PreservedAnalyses.none() if split else PreservedAnalyses.cfg(), d.stats)
