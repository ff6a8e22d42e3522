"""Live ranges ("webs"): split a Var assigned in several unrelated places into one Var per web.

Before SSA a Var may be assigned many times, and lifted code reuses its stack-slot Vars (`%$0`)
for every expression. Allocating such a Var as one node would make it interfere with nearly
everything. Chaitin's allocator therefore starts by *renumbering*: the definitions of a Var that
reach a common use belong to one live range (a web: the union of def-use chains that share a use),
and each web becomes its own value (Chaitin 1982; Briggs, Cooper & Torczon 1994, "renumber";
Muchnick, "Advanced Compiler Design and Implementation", section 16.3.3).

Definitions reaching each use come from the classic iterative reaching-definitions dataflow
(Kildall 1973) over the CFG, with bitsets as Python ints. Exception edges are per instruction, as
for liveness: what reaches a may-raise instruction of a block also reaches its handler (that
instruction's own definition does not, since an instruction that raises writes nothing).
Every Var has a pseudo-definition at the function entry: its parameter value, or for other Vars the
"nothing assigned yet" value a read before any assignment sees.

The first web of a Var keeps the Var's name (for a parameter, or a Var read before it is assigned,
the web of its entry value; parameters thus keep theirs); every other web gets a fresh name
`<name>.w<N>`.
"""

from __future__ import annotations

from collections import deque

from passes.edit import NameSupply, all_names
from zir.analysis.liveness import iter_bits
from zir.ir import Function, Var


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        p = self.parent
        while p[i] != i:
            p[i] = p[p[i]]
            i = p[i]
        return i

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def split_webs(f: Function) -> dict[Var, Var]:
    """Rename the webs of every Var of `f` (out of SSA form) in place; returns web Var -> the
    original Var, for the webs that got a new name."""
    names = sorted(all_names(f))
    # Definition sites: one entry pseudo-definition per Var, then every instruction result.
    site_var: list[str] = list(names)
    entry_def = {name: n for n, name in enumerate(names)}
    var_defs: dict[str, int] = {name: 1 << n for n, name in enumerate(names)}
    instr_def: dict[tuple[str, int], int] = {}
    for b in f.blocks:
        for k, i in enumerate(b.instrs):
            if i.dest is not None:
                n = len(site_var)
                site_var.append(i.dest.name)
                instr_def[(b.label, k)] = n
                var_defs[i.dest.name] |= 1 << n

    blocks = f.block_map()
    reach_in: dict[str, int] = {b.label: 0 for b in f.blocks}
    entry = f.blocks[0].label
    all_entry = sum(1 << n for n in entry_def.values())

    def walk(label: str, start: int, visit: bool) -> tuple[int, int]:
        """Reaching definitions through block `label`: (at its end, into its handler). With
        `visit`, also joins each use's reaching definitions into one web."""
        cur = start
        exc = 0
        b = blocks[label]
        for k, i in enumerate(b.instrs):
            if b.handler is not None and i.opdef.may_raise:
                exc |= cur
            if visit:
                for v in i.uses():
                    reaching = cur & var_defs[v.name]
                    # a use nothing reaches (unreachable code) reads the entry value
                    bits = list(iter_bits(reaching)) or [entry_def[v.name]]
                    if bits[0] == entry_def[v.name]:
                        entry_read.add(v.name)
                    for d in bits[1:]:
                        webs.union(bits[0], d)
            if i.dest is not None:
                cur = (cur & ~var_defs[i.dest.name]) | (1 << instr_def[(label, k)])
        return cur, exc

    reach_in[entry] = all_entry
    out: dict[str, int] = {}
    exc_out: dict[str, int] = {}
    work = deque(b.label for b in f.blocks)
    queued = set(work)
    webs = _UnionFind(len(site_var))
    entry_read: set[str] = set()
    while work:
        label = work.popleft()
        queued.discard(label)
        o, e = walk(label, reach_in[label], False)
        if out.get(label) == o and exc_out.get(label) == e:
            continue
        out[label], exc_out[label] = o, e
        b = blocks[label]
        targets = list(dict.fromkeys(b.successors()))
        for s in targets:
            new = reach_in[s] | o
            if new != reach_in[s]:
                reach_in[s] = new
                if s not in queued:
                    queued.add(s)
                    work.append(s)
        h = b.handler
        if h is not None and h in reach_in:
            new = reach_in[h] | e
            if new != reach_in[h]:
                reach_in[h] = new
                if h not in queued:
                    queued.add(h)
                    work.append(h)
    for b in f.blocks:
        walk(b.label, reach_in[b.label], True)

    # Name the webs: the first web of each Var (its entry value's, when that is a parameter or
    # is read somewhere; else that of its first definition) keeps the Var's name.
    supply = NameSupply(names)
    web_name: dict[int, str] = {}
    params = {p.name for p in f.params}
    first_sites = [entry_def[name] for name in names if name in params or name in entry_read]
    named: set[str] = set()
    for site in first_sites + sorted(instr_def.values()):
        root = webs.find(site)
        if root not in web_name and site_var[site] not in named:
            web_name[root] = site_var[site]
            named.add(site_var[site])
    renamed: dict[Var, Var] = {}

    def name_of(site: int) -> str:
        root = webs.find(site)
        got = web_name.get(root)
        if got is None:
            base = site_var[site]
            got = web_name[root] = supply.fresh(base + ".w", start=1)
            renamed[Var(got)] = Var(base)
        return got

    for b in f.blocks:
        cur = reach_in[b.label]
        for k, i in enumerate(b.instrs):
            new_args = []
            for a in i.args:
                if isinstance(a, Var):
                    reaching = list(iter_bits(cur & var_defs[a.name]))
                    site = reaching[0] if reaching else entry_def[a.name]
                    a = Var(name_of(site))
                new_args.append(a)
            i.args = new_args
            if i.dest is not None:
                site = instr_def[(b.label, k)]
                cur = (cur & ~var_defs[i.dest.name]) | (1 << site)
                i.dest = Var(name_of(site))
    return renamed
