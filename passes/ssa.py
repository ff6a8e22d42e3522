"""SSA construction: Cytron, Ferrante, Rosen, Wegman & Zadeck, "Efficiently Computing Static Single
Assignment Form and the Control Dependence Graph" (TOPLAS 1991), with pruned phis.

1. Blocks unreachable from the entry are deleted (renaming walks the dominator tree, which does not
   reach them).
2. Blocks inside a `try` are split so that each holds at most one may-raise instruction, its
   *raise point* (terminators included: a may-raise `cbr` gets a block of its own when the block
   already has one). This is the invariant of SSA form across exception edges (docs/ir.md): the
   value a handler receives from a block is the one current just before its raise point, which
   is then the value wherever control leaves the block by raising.
3. Phis: for each Var, the iterated dominance frontier of its assignments (frontiers from
   `networkx.dominance_frontiers` via `zir.analysis`), keeping only blocks where the Var is live
   on entry (pruned SSA, Choi, Cytron & Ferrante 1991; `pruned=false` gives Cytron's minimal SSA).
   A Var assigned at or after a block's raise point also gets a phi in that block's handler,
   where the frontiers may not put one (the block may dominate its handler): along the exception
   edge that assignment has not happened.
4. Renaming: a preorder walk of the dominator tree with an explicit stack (no recursion), a stack
   of current names per Var. A phi operand for a normal edge is the name current at the end of the
   predecessor; for an exception edge, the name current just before the predecessor's raise point
   (so an instruction that raises does not leak its own result into the handler), or at its top
   when nothing in it may raise (the edge is never taken). A read with no reaching assignment
   becomes `undef`.

Names: parameters keep their names (renamed only at reassignment: `%x.1`); every other assignment
of `%x` becomes `%x.0`, `%x.1`, ...; stack slots likewise (`%$0.2`). Sets `f.ssa = True`.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import attrs

from passes.analyses import AnalysisManager, PreservedAnalyses
from passes.edit import NameSupply, fresh_name, raise_point
from passes.registry import PassResult, register
from zir.analysis.op_effects import MAY_RAISE
from zir.ir import UNBOUND, Block, Const, Function, Instr, Phi, Value, Var
from zir.printer import format_name


def remove_unreachable_blocks(f: Function, am: AnalysisManager) -> int:
    """Delete the blocks the entry does not reach (and the phi entries they fed); returns how many."""
    live = am.flow(f).reachable()
    dead = {b.label for b in f.blocks if b.label not in live}
    if not dead:
        return 0
    f.blocks = [b for b in f.blocks if b.label not in dead]
    for b in f.blocks:
        for p in b.phis:
            for label in dead & set(p.incoming):
                del p.incoming[label]
    am.clear(f)
    return len(dead)


def split_at_raise_points(f: Function) -> int:
    """Split every block that has a handler so that it holds at most one may-raise instruction
    (terminators included): a new block, with the same handler, starts at each may-raise
    instruction that follows another one. Returns how many blocks were added.

    This is the invariant SSA form keeps across exception edges: the handler's phi operand for an
    exception predecessor is the value current just before that block's single raise point, which
    is then the value at *every* place control can leave the block by raising. (With two raise
    points an assignment between them would make the handler see a stale value at the second.)
    The pieces of a block go right after it in the layout.
    """
    blocks = f.block_map()
    labels = set(blocks)
    may_raise = MAY_RAISE
    layout: list[Block] = []
    added = 0
    for b in f.blocks:
        layout.append(b)
        if b.handler is None:
            continue
        cuts = [k for k, i in enumerate(b.instrs) if may_raise[i.op]][1:]
        if not cuts:
            continue
        pieces: list[Block] = []
        prev = b.label
        for lo, hi in zip(cuts, [*cuts[1:], len(b.instrs)], strict=True):
            # each piece is named after the one before it: ^b, ^b.s, ^b.s.s, ...
            label = prev = fresh_name(labels, f"{prev}.s")
            labels.add(label)
            pieces.append(Block(label, [], b.instrs[lo:hi], b.handler))
        head = b.instrs[:cuts[0]]
        chain = [b, *pieces]
        b.instrs = head
        for before, nxt in zip(chain, pieces, strict=False):
            before.instrs.append(Instr("br", None, [], {}, [nxt.label]))
        last = pieces[-1]
        # the original terminator (with its targets) now ends the last piece
        for s in dict.fromkeys(last.successors()):
            for p in blocks[s].phis:
                p.incoming = {(last.label if k == b.label else k): v for k, v in p.incoming.items()}
        for p in blocks[b.handler].phis:
            for piece in pieces:
                p.incoming[piece.label] = p.incoming[b.label]
        for piece in pieces:
            blocks[piece.label] = piece
        layout.extend(pieces)
        added += len(pieces)
    if added:
        f.blocks = layout
    return added


def place_phis(f: Function, am: AnalysisManager, pruned: bool) -> dict[int, str]:
    """Insert empty phis (Cytron's iterated dominance frontier); returns id(phi) -> the Var it merges.

    One addition for exception edges: a Var assigned in a block B at or after B's raise point
    gets a phi in B's handler H (and so in H's iterated frontier), even where the frontiers would
    not put one (when B dominates H). The handler must not see that assignment: control leaves B
    before it, so H merges the value current *before* the raise point, which the renaming gives
    the phi. Without the phi, H and what it dominates would read B's last assignment.
    """
    frontiers = am.frontiers(f)
    live = am.liveness(f) if pruned else None
    defsites: dict[str, set[str]] = {}
    entry = f.blocks[0].label
    for param in f.params:
        defsites.setdefault(param.name, set()).add(entry)
    for b in f.blocks:
        label = b.label
        for p in b.phis:
            defsites.setdefault(p.dest.name, set()).add(label)
        for i in b.instrs:
            if i.dest is not None:
                defsites.setdefault(i.dest.name, set()).add(label)
    blocks = f.block_map()
    order = {b.label: n for n, b in enumerate(f.blocks)}
    # Var -> the handlers whose exception predecessors assign it at or after their raise point
    forced: dict[str, dict[str, None]] = {}
    for b in f.blocks:
        if b.handler is None:
            continue
        at = raise_point(b)
        if at is None:
            continue  # nothing here raises: the exception edge is never taken
        for i in b.instrs[at:]:
            if i.dest is not None:
                forced.setdefault(i.dest.name, {})[b.handler] = None
    placed: dict[int, str] = {}
    names = sorted(defsites)
    live_in: dict[str, frozenset[str]] = {}
    if live is not None:
        # pruned: a Var live into no block gets no phi anywhere, so its frontiers need no walk
        live_in = {label: live.in_names(label) for label in blocks}
        live_somewhere: set[str] = set()
        for names_in in live_in.values():
            live_somewhere |= names_in
        names = [n for n in names if n in live_somewhere]
    for name in names:
        var = Var(name)
        has_phi: set[str] = set()
        work = deque(sorted(defsites[name], key=order.__getitem__))
        queued = set(work)
        # the forced handler phis come first, then the frontiers of every block that has a phi
        first = list(forced.get(name, ()))
        while work or first:
            if first:
                targets = first
                first = []
            else:
                x = work.popleft()
                targets = sorted(frontiers.get(x, ()), key=order.__getitem__)
            for y in targets:
                if y in has_phi:
                    continue
                has_phi.add(y)
                if live is not None and name not in live_in[y]:
                    continue
                phi = Phi(var, {})
                blocks[y].phis.append(phi)
                placed[id(phi)] = name
                if y not in queued:
                    queued.add(y)
                    work.append(y)
    return placed


class _Renamer:
    """The renaming walk (Cytron et al. 1991, figure 12), iterative."""

    def __init__(self, f: Function, am: AnalysisManager, placed: dict[int, str]) -> None:
        self.f = f
        self.placed = placed
        self.blocks = f.block_map()
        self.doms = am.dominators(f)
        self.stacks: dict[str, list[Value]] = {p.name: [p] for p in f.params}
        self.names = NameSupply(p.name for p in f.params)
        self.param_names = {p.name for p in f.params}
        # Phis that were there before (a non-SSA function may have some): their original operands.
        self.original: dict[int, dict[str, Value]] = {
            id(p): dict(p.incoming) for b in f.blocks for p in b.phis if id(p) not in placed}
        self.undef_uses = 0
        self.renamed = 0

    def current(self, name: str) -> Value:
        stack = self.stacks.get(name)
        if stack:
            return stack[-1]
        self.undef_uses += 1
        return Const(UNBOUND)

    def define(self, var: Var, pushed: list[str]) -> Var:
        start = 1 if var.name in self.param_names else 0
        new = self.names.var(var.name, ".", start)
        self.stacks.setdefault(var.name, []).append(new)
        pushed.append(var.name)
        self.renamed += 1
        return new

    def phi_operand(self, phi: Phi, pred: str) -> Value:
        """What `phi` receives from `pred`, in the names current now."""
        name = self.placed.get(id(phi))
        if name is not None:
            return self.current(name)
        v = self.original[id(phi)].get(pred, Const(UNBOUND))
        return self.current(v.name) if isinstance(v, Var) else v

    def fill(self, b: Block, succ: str) -> None:
        for phi in self.blocks[succ].phis:
            phi.incoming[b.label] = self.phi_operand(phi, b.label)

    def visit(self, b: Block) -> list[str]:
        """Rename block `b`; returns the Vars whose stacks it pushed (to pop on the way back up)."""
        pushed: list[str] = []
        for phi in b.phis:
            orig = self.placed.get(id(phi), phi.dest.name)
            phi.dest = self.define(Var(orig), pushed)
        handler = self.blocks[b.handler] if b.handler is not None else None
        snap_at = -1
        if handler is not None:
            # the handler's operands: the names current just before the (single) raise point
            at = raise_point(b)
            snap_at = 0 if at is None else at
        snapshot: dict[int, Value] = {}
        stacks = self.stacks
        for k, i in enumerate(b.instrs):
            if k == snap_at:
                assert handler is not None
                snapshot = {id(p): self.phi_operand(p, b.label) for p in handler.phis}
            # a new list: an operand list may be shared with another instruction
            args = list(i.args)
            for n, a in enumerate(args):
                if isinstance(a, Var):
                    stack = stacks.get(a.name)
                    if stack:
                        args[n] = stack[-1]
                    else:
                        self.undef_uses += 1
                        args[n] = Const(UNBOUND)
            i.args = args
            if i.dest is not None:
                i.dest = self.define(i.dest, pushed)
        successors = b.successors()
        for s in dict.fromkeys(successors):
            self.fill(b, s)
        if handler is not None and handler.label not in successors:
            for p in handler.phis:
                p.incoming[b.label] = snapshot.get(id(p), Const(UNBOUND))
        return pushed

    def run(self) -> None:
        entry = self.f.blocks[0].label
        stack: list[tuple[str, list[str] | None]] = [(entry, None)]
        while stack:
            label, pushed = stack.pop()
            if pushed is not None:
                for name in pushed:
                    self.stacks[name].pop()
                continue
            done = self.visit(self.blocks[label])
            stack.append((label, done))
            stack.extend((c, None) for c in reversed(self.doms.children(label)))


def _sort_phi_incoming(f: Function) -> None:
    """Phi operands in predecessor layout order, so the printed form is stable."""
    order = {b.label: n for n, b in enumerate(f.blocks)}
    for b in f.blocks:
        for p in b.phis:
            p.incoming = dict(sorted(p.incoming.items(), key=lambda kv: order[kv[0]]))


@register("ssa")
@attrs.frozen
class SSAConstruction:
    """Build pruned SSA form (Cytron et al. 1991), correct across exception edges."""

    pruned: bool = True  #: place a phi only where its Var is live (false: minimal SSA)

    def run(self, f: Function, am: AnalysisManager) -> PassResult:
        if f.ssa:
            return PassResult.unchanged()
        if not am.allow(f"construct SSA form of {format_name('@', f.name)}"):
            return PassResult.unchanged()
        removed = remove_unreachable_blocks(f, am)
        splits = split_at_raise_points(f)
        if splits:
            am.clear(f)
        placed = place_phis(f, am, self.pruned)
        renamer = _Renamer(f, am, placed)
        renamer.run()
        _sort_phi_incoming(f)
        f.ssa = True
        stats: dict[str, Any] = {
            "phis placed": len(placed), "definitions renamed": renamer.renamed,
            "reads with no assignment (undef)": renamer.undef_uses,
            "unreachable blocks removed": removed, "blocks split at handlers": splits,
        }
        preserved = PreservedAnalyses.none() if removed or splits else PreservedAnalyses.cfg()
        return PassResult(True, preserved, stats)
