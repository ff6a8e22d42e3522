"""Control-flow facts about register code that the source generator needs.

`Layout.of(rc)` computes, for a `zir.regcode.RegCode`:

* the CFG as a `networkx.DiGraph` over block indices, built with the rules of `zir.analysis.cfg`
  (a block with a handler always has its exception edge), and the natural loops with their nesting
  from `zir.analysis.loop_info` (back edges t -> h where h dominates t; Aho, Sethi & Ullman's natural
  loop of a back edge);
* the *region* of every block: the innermost loop holding it, or the whole function (`TOP`);
* which blocks are *attached*, i.e. written out once at their only entry instead of being reached
  through the dispatch chain (see `vm.codegen.emit`): a block with exactly one incoming edge (no
  exception edge) from a block of its own region is inlined there; a loop entered by exactly one
  edge from its parent region is written as a `while True:` at that edge; the block every exit of
  such a loop goes to (and nothing else reaches) follows that `while` directly;
* register liveness (`live_in`, `live_after`): backward iterative dataflow over bit sets, with the
  IR's exception rule (before a may-raise instruction of a block with a handler, everything live
  into the handler is live).
"""

from __future__ import annotations

import attrs
import networkx as nx

from zir.analysis.loops import loop_info
from zir.regcode import REG_OPS, RBlock, Reg, RegCode, RInstr, Slot

__all__ = ["TOP", "Layout", "Region", "reg_uses", "reg_defs"]

#: The region id of code outside every loop.
TOP = -1


def reg_uses(i: RInstr) -> list[Reg | Slot]:
    """The registers and slots `i` reads."""
    return [a for a in i.args if isinstance(a, (Reg, Slot))]


def reg_defs(i: RInstr) -> list[Reg | Slot]:
    """The register or slot `i` writes (none or one)."""
    return [i.dest] if i.dest is not None else []


@attrs.frozen
class ForLoop:
    """A loop whose header is just `item = iter_next iterator; cbr_more item, body, exit`, written
    as Python's own `for item in iterator:` (see `Layout._for_loops` for when that is exact)."""

    item: Reg
    iterator: Reg
    body: int
    exit: int


@attrs.define(eq=False)
class Region:
    """A loop (`header` >= 0) or the whole function (`header == TOP`) as the generator sees it.

    `blocks` are the blocks whose innermost loop it is; `children` the regions of the loops directly
    inside; `arms` the blocks and child regions reached through this region's dispatch chain (the
    rest are attached); `entrances` the blocks of this region's subtree that control can enter
    from outside the subtree; `depth` is 0 for TOP."""

    header: int
    parent: Region | None
    depth: int
    blocks: list[int] = attrs.field(factory=list)
    children: list[Region] = attrs.field(factory=list)
    subtree: set[int] = attrs.field(factory=set)
    entrances: list[int] = attrs.field(factory=list)
    #: Dispatch arms: ("block", index) or ("loop", Region), hottest first.
    arms: list[tuple[str, object]] = attrs.field(factory=list)
    #: True when the loop is written as a `while True:` at its only entry edge.
    inline: bool = False
    #: The block that follows the loop's `while` directly (all exits go there), or None.
    follow: int | None = None
    #: Block indices outside the subtree that an edge leaves the subtree to.
    exit_targets: set[int] = attrs.field(factory=set)

    @property
    def chain(self) -> bool:
        """Does the region need an if-chain over `b` (more than one arm)?"""
        return len(self.arms) > 1


class Layout:
    """See the module docstring. Build with `Layout.of(rc, structured=True)`; `structured=False`
    gives the flat form (one region, straight-line superblocks only) used when Python's static
    nesting limits reject the structured source."""

    def __init__(self, rc: RegCode, structured: bool) -> None:
        self.rc = rc
        self.structured = structured
        n = len(rc.blocks)
        self.graph = self._cfg(rc)
        self.reachable = self._reachable()
        # incoming edges with multiplicity: normal edges (pred, ...) and exception predecessors
        self.normal_preds: list[list[int]] = [[] for _ in range(n)]
        self.exc_preds: list[list[int]] = [[] for _ in range(n)]
        for k in self.reachable:
            b = rc.blocks[k]
            for t in b.instrs[-1].targets:
                self.normal_preds[t].append(k)
            if b.handler is not None:
                self.exc_preds[b.handler].append(k)
        self.region_of: dict[int, Region] = {}
        self.top = Region(TOP, None, 0)
        self.regions: dict[int, Region] = {TOP: self.top}
        self._regions()
        self.attached: set[int] = set()
        self._attach()
        self._arms()
        self.live_in, self.live_after = self._liveness()
        #: Inline loops written as Python `for` statements, by header.
        self.for_loops: dict[int, ForLoop] = self._for_loops()

    @classmethod
    def of(cls, rc: RegCode, structured: bool = True) -> Layout:
        """The layout facts of `rc`."""
        return cls(rc, structured)

    # -- CFG, loops, regions ---------------------------------------------------------------------

    @staticmethod
    def _cfg(rc: RegCode) -> nx.DiGraph:
        g = nx.DiGraph(entry=0)
        g.add_nodes_from(range(len(rc.blocks)))
        for k, b in enumerate(rc.blocks):
            for t in b.instrs[-1].targets:
                g.add_edge(k, t)
            if b.handler is not None:
                g.add_edge(k, b.handler)
        return g

    def _reachable(self) -> list[int]:
        seen = {0}
        work = [0]
        while work:
            k = work.pop()
            for s in self.graph.succ[k]:
                if s not in seen:
                    seen.add(s)
                    work.append(s)
        return sorted(seen)

    def _regions(self) -> None:
        reach = set(self.reachable)
        if self.structured:
            # zir.analysis names blocks by label: block k is "k" there
            sub = nx.relabel_nodes(self.graph.subgraph(self.reachable), str)
            sub.graph["entry"] = "0"
            info = loop_info(sub)
            for lp in info.loops:  # outer before inner
                parent = self.regions[int(lp.parent)] if lp.parent is not None else self.top
                r = Region(int(lp.header), parent, parent.depth + 1)
                parent.children.append(r)
                self.regions[r.header] = r
                r.subtree = {int(x) for x in lp.body}
            for k in self.reachable:
                inner = info.innermost(str(k))
                r = self.regions[int(inner.header)] if inner is not None else self.top
                self.region_of[k] = r
                r.blocks.append(k)
        else:
            for k in self.reachable:
                self.region_of[k] = self.top
                self.top.blocks.append(k)
        self.top.subtree = reach
        for r in self.regions.values():
            if r is self.top:
                continue
            ent = {r.header}
            for k in r.subtree:
                for p in self.normal_preds[k] + self.exc_preds[k]:
                    if p not in r.subtree:
                        ent.add(k)
                for s in self.graph.succ[k]:
                    if s not in r.subtree:
                        r.exit_targets.add(s)
            r.entrances = sorted(ent)

    def in_subtree(self, k: int, r: Region) -> bool:
        """Is block `k` inside region `r` (or a loop within it)?"""
        return k in r.subtree

    # -- attachment --------------------------------------------------------------------------------

    def _attach(self) -> None:
        rc = self.rc
        for k in self.reachable:
            if k == 0 or self.exc_preds[k]:
                continue
            preds = self.normal_preds[k]
            r = self.region_of[k]
            if r.header == k:
                continue
            if len(preds) != 1 or self.region_of[preds[0]] is not r:
                continue
            if not self.structured and rc.blocks[preds[0]].instrs[-1].op != "br":
                continue  # flat form: straight-line superblocks only, so nesting stays constant
            self.attached.add(k)
        if not self.structured:
            return
        for r in self.regions.values():
            if r is self.top:
                continue
            h = r.header
            outside = [p for p in self.normal_preds[h] if p not in r.subtree]
            if (r.entrances == [h] and len(outside) == 1 and not self.exc_preds[h]
                    and self.region_of[outside[0]] is r.parent):
                r.inline = True
                self.attached.add(h)
        for r in self.regions.values():
            if not r.inline or len(r.exit_targets) != 1:
                continue
            x = next(iter(r.exit_targets))
            if x == 0 or x in self.attached or self.region_of.get(x) is not r.parent:
                continue
            if x in self.regions:  # a loop header is entered through its own rule
                continue
            preds = self.normal_preds[x] + self.exc_preds[x]
            if preds and all(p in r.subtree for p in preds):
                r.follow = x
                self.attached.add(x)

    def _arms(self) -> None:
        depth_of = {k: self.region_of[k].depth for k in self.reachable}
        for r in self.regions.values():
            loops = [c for c in r.children if not c.inline]
            loops.sort(key=lambda c: (-self._max_depth(c), c.header))
            blocks = [k for k in r.blocks if k not in self.attached or k == r.header]
            if r is self.top:
                # the entry runs once per call; joins and handlers after it run more often
                blocks.sort(key=lambda k: (k == 0, k))
            else:
                blocks.sort(key=lambda k: (k != r.header, -depth_of[k], k))
            arms: list[tuple[str, object]] = [("loop", c) for c in loops]
            arms += [("block", k) for k in blocks]
            if r is not self.top and blocks and blocks[0] == r.header:
                # the header first: back edges come to it on every iteration
                arms.remove(("block", r.header))
                arms.insert(0, ("block", r.header))
            r.arms = arms

    def _max_depth(self, r: Region) -> int:
        best = r.depth
        work = list(r.children)
        while work:
            c = work.pop()
            best = max(best, c.depth)
            work.extend(c.children)
        return best

    def _for_loops(self) -> dict[int, ForLoop]:
        """The inline loops that can be Python's `for`: the header has no handler (a `for` cannot
        route its `next()` exceptions to one), the loop has no dispatch chain (so `continue` always
        means the header), nothing in the loop writes the iterator register (`for` keeps its own
        reference), and the item register, EXHAUSTED on the exit path, is dead there."""
        out = {}
        for h, c in sorted(self.regions.items()):
            if h == TOP or not c.inline or c.chain:
                continue
            hb = self.rc.blocks[h]
            if hb.handler is not None or len(hb.instrs) != 2:
                continue
            nxt, br = hb.instrs
            if nxt.op != "iter_next" or br.op != "cbr_more" or nxt.dest is None or br.args != (nxt.dest,):
                continue
            it, item = nxt.args[0], nxt.dest
            body, exit_ = br.targets
            if not isinstance(it, Reg) or not isinstance(item, Reg):
                continue
            if body not in c.subtree or exit_ in c.subtree:
                continue
            if any(i.dest == it for k in c.subtree for i in self.rc.blocks[k].instrs):
                continue
            if self.live_in[exit_] & self.bit(item):
                continue
            out[h] = ForLoop(item, it, body, exit_)
        return out

    # -- liveness ----------------------------------------------------------------------------------

    def bit(self, x: Reg | Slot) -> int:
        """The liveness bit of a register or slot."""
        return 1 << (x.n if isinstance(x, Reg) else self.rc.nregs + x.n)

    def _liveness(self) -> tuple[list[int], list[list[int]]]:
        """live_in per block and, per block, the live set after each instruction (bit sets)."""
        rc = self.rc
        n = len(rc.blocks)
        live_in = [0] * n
        uses: list[list[int]] = []
        defs: list[list[int]] = []
        raises: list[list[bool]] = []
        for b in rc.blocks:
            uses.append([sum(self.bit(x) for x in set(reg_uses(i))) for i in b.instrs])
            defs.append([sum(self.bit(x) for x in reg_defs(i)) for i in b.instrs])
            raises.append([REG_OPS[i.op].may_raise for i in b.instrs])
        order = list(reversed(self.reachable))
        changed = True
        while changed:
            changed = False
            for k in order:
                new = self._block_in(rc.blocks[k], live_in, uses[k], defs[k], raises[k], None)
                if new != live_in[k]:
                    live_in[k] = new
                    changed = True
        after: list[list[int]] = []
        for k, b in enumerate(rc.blocks):
            rows: list[int] = [0] * len(b.instrs)
            self._block_in(b, live_in, uses[k], defs[k], raises[k], rows)
            after.append(rows)
        return live_in, after

    @staticmethod
    def _block_in(b: RBlock, live_in: list[int], uses: list[int], defs: list[int], raises: list[bool],
                  rows: list[int] | None) -> int:
        live = 0
        for t in b.instrs[-1].targets:
            live |= live_in[t]
        exc = live_in[b.handler] if b.handler is not None else 0
        for j in range(len(b.instrs) - 1, -1, -1):
            if rows is not None:
                rows[j] = live
            live = (live & ~defs[j]) | uses[j]
            if exc and raises[j]:
                live |= exc
        return live
