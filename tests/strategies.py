"""Hypothesis strategies for zir IR: literals, names, CFG shapes, whole functions and modules.

Shared by every test suite that wants random IR (round trip, verifier, analyses, passes):

    from strategies import cfgs, functions, modules, literals   # pytest puts tests/ on sys.path

    @given(functions(ssa=True))
    def test_something(f: zir.Function) -> None: ...

`functions()` makes IR that `zir.verify` accepts: every block ends in the one terminator its
out-degree calls for, operand/attribute/target counts follow the opcode table (`zir.ops.IR_OPS`, never a
hand-written list), handler blocks start with `catch` and are never normal successors, every block with
a handler holds a may-raise instruction (so its exception edge exists whichever way a CFG builder reads
the convention) and, in SSA form, only one (its raise point), phis name exactly the predecessors
(normal and exception), and every use is dominated by its definition -- with uses along an
exception edge limited to values defined before the raising block starts. The operations are
random, so the functions are for structural tests, not for running.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import networkx as nx
from hypothesis import strategies as st

from zir.ir import UNBOUND, Block, Const, Function, Instr, Module, Phi, Signature, Value, Var
from zir.ops import IR_OPS, VARIADIC, OpDef, ZArg

# --------------------------------------------------------------------------------------------------
# Names

#: Names that print bare, in the styles the lead's conventions use (locals, stack slots, SSA versions,
#: pass temporaries) plus bare names that look like other tokens (numbers, keywords).
PLAIN_NAMES = ["x", "i", "acc", "n", "$0", "$1", "$t7", "x.1", "$0.2", "tmp_3", "0", "12", "1.5", "1e5",
               "nan", "inf", "None", "True", "undef", "phi", "func", "...", "b", "loc", "0x1f", "1j"]
#: Names that must be quoted: blanks, quotes, backslashes, control characters, non-ASCII, sigils.
ODD_NAMES = ["a b", 'q"uote', "back\\slash", "new\nline", "tab\t", "ü", "\u2028", "\x00", "%x", "^l",
             "@f", ";c", "x,y", "-1", "+", "{k}", "()", "'", "\ud800", "emoji\U0001f600"]


@functools.cache
def names() -> st.SearchStrategy[str]:
    """A name for a var, block, function, cell or flag: usually ordinary, often one needing quotes."""
    return st.one_of(
        st.sampled_from(PLAIN_NAMES),
        st.sampled_from(ODD_NAMES),
        st.text(st.characters(exclude_categories=()), min_size=1, max_size=5),
    )


# --------------------------------------------------------------------------------------------------
# Literals

_FLOATS = [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 1e16, 1.5, -2.5e-7, 1.7976931348623157e308]


@functools.cache
def floats() -> st.SearchStrategy[float]:
    """Any float, with the awkward ones (signed zeros, inf, nan, subnormals, 1e16) drawn often."""
    return st.one_of(st.sampled_from(_FLOATS), st.floats(allow_nan=True, allow_infinity=True))


@functools.cache
def scalars() -> st.SearchStrategy[Any]:
    """A non-container literal: int (small, huge, negative), float, complex, str, bytes, None, bools,
    Ellipsis."""
    return st.one_of(
        st.integers(-10, 10),
        st.integers(),
        # Huge ints by construction: hypothesis reprs sampled values, and decimal repr has a limit.
        st.sampled_from([(2, 64), (-2, 101), (2, 20000), (-3, 9001)]).map(lambda be: be[0] ** be[1]),
        floats(),
        st.builds(complex, floats(), floats()),
        st.text(st.characters(exclude_categories=()), max_size=8),
        st.sampled_from(["", '"', "\\", "\n\r\t", "\x00\x7f\x85", "\u2028\u2029", "a;b", "%x", "\ud800"]),
        st.binary(max_size=8),
        st.sampled_from([None, True, False, Ellipsis]),
    )


@functools.cache
def _hashables() -> st.SearchStrategy[Any]:
    return st.recursive(scalars(), lambda inner: st.lists(inner, max_size=3).map(tuple), max_leaves=4)


@functools.cache
def literals() -> st.SearchStrategy[Any]:
    """A literal as IR holds in a `Const`: scalars, nested tuples and frozensets of them."""
    return st.recursive(
        scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(tuple),
            st.frozensets(_hashables(), max_size=3),
        ),
        max_leaves=6,
    )


@functools.cache
def consts() -> st.SearchStrategy[Const]:
    """A `Const` operand: a literal, or `undef` (the value of an unbound local)."""
    return st.one_of(literals().map(Const), st.just(Const(UNBOUND)))


# --------------------------------------------------------------------------------------------------
# CFG shapes


@st.composite
def cfgs(draw: st.DrawFn, min_blocks: int = 1, max_blocks: int = 8, max_succ: int = 2,
         entry_preds: bool = True) -> dict[str, list[str]]:
    """A random control-flow graph as an adjacency dict `{label: [successor, ...]}`.

    Labels are "b0", "b1", ...; "b0" (the first key) is the entry. Each block has 0..max_succ
    distinct successors drawn from all blocks, so loops, self loops, irreducible regions and
    unreachable blocks all occur. With `entry_preds=False` nothing jumps back to the entry (as in
    functions the lifter makes).
    """
    n = draw(st.integers(min_blocks, max_blocks))
    labels = [f"b{k}" for k in range(n)]
    targets = labels if entry_preds else labels[1:]
    graph: dict[str, list[str]] = {}
    for label in labels:
        k = draw(st.integers(0, min(max_succ, len(targets))))
        graph[label] = draw(st.lists(st.sampled_from(targets), min_size=k, max_size=k, unique=True)) \
            if targets else []
    return graph


# --------------------------------------------------------------------------------------------------
# Functions

#: Operations a block body may hold (not terminators; `catch` only opens a handler block).
BODY_OPS: list[OpDef] = [op for op in IR_OPS.values() if not op.terminator and op.name != "catch"]
#: Terminators by how many targets they name (0: ret/raise..., 1: br, 2: cbr...).
TERMINATORS: dict[int, list[OpDef]] = {}
for _op in IR_OPS.values():
    if _op.terminator:
        TERMINATORS.setdefault(_op.targets, []).append(_op)


@st.composite
def signatures(draw: st.DrawFn, max_params: int = 5) -> tuple[list[str], Signature]:
    """Distinct parameter names in co_varnames order (positional, keyword-only, *args, **kwargs) and
    the `Signature` that describes them."""
    npos = draw(st.integers(0, 3))
    kwonly = draw(st.integers(0, 2))
    varargs, varkw = draw(st.booleans()), draw(st.booleans())
    total = min(max_params, npos + kwonly + varargs + varkw)
    params = draw(st.lists(names(), min_size=total, max_size=total, unique=True))
    # Shrink the categories to fit max_params, keeping the order of the categories.
    npos = min(npos, total)
    kwonly = min(kwonly, total - npos)
    varargs = varargs and npos + kwonly < total
    varkw = total - npos - kwonly - int(varargs) == 1
    posonly = draw(st.integers(0, npos))
    return params, Signature(posonly=posonly, kwonly=kwonly, varargs=varargs, varkw=varkw)


class _Namer:
    """Fresh, distinct var names for SSA form (a drawn base name, suffixed to make it unique)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}.{k}"
        self.taken.add(name)
        return name


def _operand_plan(draw: st.DrawFn, op: OpDef, cells: list[str]) -> tuple[int, dict[str, Any]]:
    """How many operands `op` gets and its attributes, derived from its table row: fixed arity, or
    the ZBC stack effect of a count/immediate drawn within the row's zmin..zmax for variadic rows.
    A cell operation names one of `cells`."""
    attrs: dict[str, Any] = {}
    zmax = op.zmax if op.zmax is not None else op.zmin + 15
    for key in op.attrs:
        if key == "name" and op.zarg is ZArg.CELL:
            attrs[key] = draw(st.sampled_from(cells))
        elif key == "name":
            attrs[key] = draw(st.one_of(st.sampled_from(["len", "x", "append", "os.path"]), names()))
        elif op.arity == VARIADIC and op.zarg is ZArg.IMM:  # the ZBC immediate: within zmin..zmax
            attrs[key] = draw(st.integers(op.zmin, zmax))
        else:
            attrs[key] = draw(st.integers(0, 15))
    if op.arity != VARIADIC:
        return op.arity, attrs
    if op.zarg is ZArg.IMM and op.attrs:
        return op.pops(attrs[op.attrs[0]]), attrs
    if op.zarg is ZArg.COUNT:
        return op.pops(draw(st.integers(op.zmin, min(zmax, op.zmin + 2)))), attrs
    return draw(st.integers(0, 3)), attrs


def _value(draw: st.DrawFn, avail: list[str]) -> Value:
    use_var = draw(st.integers(0, 3)) > 0  # mostly vars, sometimes a literal
    if avail and use_var:
        return Var(draw(st.sampled_from(avail)))
    return draw(consts())


def _make_instr(draw: st.DrawFn, op: OpDef, avail: list[str], dest: str | None,
                cells: list[str]) -> Instr:
    count, attrs = _operand_plan(draw, op, cells)
    if op.name == "const":
        args: list[Value] = [Const(draw(literals()))]
    else:
        args = [_value(draw, avail) for _ in range(count)]
    if op.name == "call_kw" and args:  # the last operand is the tuple of keyword names
        k = draw(st.integers(0, count - 1))
        args[-1] = Const(tuple(draw(st.lists(st.sampled_from(["k", "key", "x"]), min_size=k, max_size=k))))
    line = draw(st.one_of(st.none(), st.integers(0, 100_000)))
    return Instr(op.name, Var(dest) if dest is not None else None, args, attrs, [], line)


@st.composite
def functions(draw: st.DrawFn, ssa: bool | None = None, phis: bool | None = None, handlers: bool = True,
              max_blocks: int = 6, max_instrs: int = 5, name: str | None = None) -> Function:
    """A random function that `zir.verify` accepts (see the module docstring for what holds).

    `ssa`: the form to claim (drawn when None): SSA functions define each var once and respect
    dominance; non-SSA ones reassign names freely. `phis` (default: same as `ssa`) places phis at the
    top of blocks with predecessors. `handlers` adds handler blocks (`%e = catch` first) that some
    blocks name with `except`. Labels, var and function names are often ones that need quoting.
    """
    if ssa is None:
        ssa = draw(st.booleans())
    if phis is None:
        phis = ssa
    fname = name if name is not None else draw(names())
    params, sig = draw(signatures())
    cell_names = draw(st.lists(names(), max_size=4, unique=True))
    split_at = draw(st.integers(0, len(cell_names)))
    cellvars, freevars = cell_names[:split_at], cell_names[split_at:]
    cells = cell_names
    body_ops = BODY_OPS if cells else [op for op in BODY_OPS if op.zarg is not ZArg.CELL]
    body_op_index = st.integers(0, len(body_ops) - 1)
    raising_ops = [op for op in body_ops if op.may_raise]
    raising_op_index = st.integers(0, len(raising_ops) - 1)
    safe_ops = [op for op in body_ops if not op.may_raise]
    safe_op_index = st.integers(0, len(safe_ops) - 1)
    cfg = draw(cfgs(max_blocks=max_blocks, entry_preds=False))
    blocks = list(cfg)

    # Handler blocks: extra blocks entered only along exception edges.
    succ: dict[str, list[str]] = dict(cfg)
    handler_of: dict[str, str | None] = {}
    hnames = [f"h{k}" for k in range(draw(st.integers(0, 2)) if handlers else 0)]
    for h in hnames:
        succ[h] = draw(st.lists(st.sampled_from(blocks[1:]), max_size=2, unique=True)) if blocks[1:] else []
    for b in blocks + hnames:
        choices = [h for h in hnames if h != b]
        handler_of[b] = draw(st.one_of(st.none(), st.sampled_from(choices))) if choices else None
    while True:  # drop handlers that no remaining block names (a catch block must be a handler)
        used = {h for h in handler_of.values() if h is not None}
        unused = [h for h in hnames if h not in used]
        if not unused:
            break
        for h in unused:
            hnames.remove(h)
            del handler_of[h], succ[h]
    all_blocks = blocks + hnames

    # Real labels (distinct, often odd), layout order: entry first, the rest shuffled.
    labels = dict(zip(all_blocks, draw(st.lists(names(), min_size=len(all_blocks),
                                                max_size=len(all_blocks), unique=True)), strict=True))
    layout = [blocks[0]] + draw(st.permutations(all_blocks[1:]))

    preds: dict[str, list[str]] = {b: [] for b in all_blocks}
    for b in all_blocks:
        for s in succ[b]:
            preds[s].append(b)
    for b in all_blocks:
        hb = handler_of[b]
        if hb is not None:
            preds[hb].append(b)

    # Availability along dominance in a split graph: ("top", b) holds b's phis and is where an
    # exception leaves b (so handlers see nothing b defines); ("body", b) holds b's instructions.
    split = nx.DiGraph()
    for b in all_blocks:
        split.add_edge(("top", b), ("body", b))
        for s in succ[b]:
            split.add_edge(("body", b), ("top", s))
        if handler_of[b] is not None:
            split.add_edge(("top", b), ("top", handler_of[b]))
    root = ("top", blocks[0])
    idom = nx.immediate_dominators(split, root)
    # Breadth-first order visits every dominator before what it dominates (it lies on every path).
    reached = [n[1] for n in nx.bfs_tree(split, root) if n[0] == "top"]
    order_blocks = reached + [b for b in all_blocks if b not in set(reached)]

    namer = _Namer(set(params))
    pool = list(params)  # non-SSA: names to reassign
    avail_end: dict[tuple[str, str], list[str]] = {}
    phi_dests: dict[str, list[str]] = {}
    body: dict[str, list[Instr]] = {}

    def new_dest(base: str) -> str:
        if not ssa and pool and draw(st.booleans()):
            return draw(st.sampled_from(pool))
        d = namer.fresh(base)
        pool.append(d)
        return d

    for b in order_blocks:
        top = ("top", b)
        if top != root and top in idom:
            start = list(avail_end[idom[top]])
        else:
            start = list(params)
        phi_dests[b] = [new_dest(draw(names())) for _ in range(draw(st.integers(0, 2)))] \
            if phis and preds[b] else []
        avail = start + [d for d in phi_dests[b] if d not in start]
        avail_end[top] = list(avail)
        instrs: list[Instr] = []
        if b in hnames:
            catch = new_dest("e")
            instrs.append(Instr("catch", Var(catch)))
            avail.append(catch)
        terms = TERMINATORS[len(succ[b])]
        # SSA form: a block with a handler holds at most one may-raise instruction (its raise point)
        one_raise = ssa and handler_of[b] is not None
        term = terms[draw(st.integers(0, len(terms) - 1))] if one_raise else None
        raised = term is not None and term.may_raise
        for _ in range(draw(st.integers(0, max_instrs))):
            op = body_ops[draw(body_op_index)]  # by index: hypothesis would hash OpDefs
            if one_raise and op.may_raise:
                if raised:
                    op = safe_ops[draw(safe_op_index)]
                raised = True
            dest = new_dest(draw(names())) if op.defines else None
            instrs.append(_make_instr(draw, op, avail, dest, cells))
            if dest is not None and dest not in avail:
                avail.append(dest)
        if term is None:
            term = terms[draw(st.integers(0, len(terms) - 1))]
        if handler_of[b] is not None and not term.may_raise and not any(IR_OPS[i.op].may_raise
                                                                           for i in instrs):
            op = raising_ops[draw(raising_op_index)]
            dest = new_dest(draw(names())) if op.defines else None
            instrs.append(_make_instr(draw, op, avail, dest, cells))
            if dest is not None and dest not in avail:
                avail.append(dest)
        t = _make_instr(draw, term, avail, None, cells)
        t.targets = [labels[s] for s in succ[b]]
        instrs.append(t)
        body[b] = instrs
        avail_end[("body", b)] = avail

    f = Function(fname, params=[Var(p) for p in params], signature=sig, ssa=ssa)
    f.cellvars, f.freevars = cellvars, freevars
    f.flags = draw(st.sets(st.one_of(st.sampled_from(["async", "generator", "coroutine"]), names()),
                           max_size=2))
    for b in layout:
        phi_list = []
        for d in phi_dests[b]:
            incoming: dict[str, Value] = {}
            for p in preds[b]:
                # A normal edge leaves p at its end; an exception edge leaves it at its top.
                node = ("top", p) if handler_of[p] == b and b not in succ[p] else ("body", p)
                incoming[labels[p]] = _value(draw, avail_end[node])
            phi_list.append(Phi(Var(d), incoming))
        hb = handler_of[b]
        f.blocks.append(Block(labels[b], phi_list, body[b], labels[hb] if hb is not None else None))
    return f


@st.composite
def modules(draw: st.DrawFn, ssa: bool | None = None, max_functions: int = 3) -> Module:
    """A module of 1..max_functions random functions (see `functions`) with distinct names."""
    fnames = draw(st.lists(names(), min_size=1, max_size=max_functions, unique=True))
    m = Module()
    for n in fnames:
        m.add(draw(functions(ssa=ssa, name=n)))
    return m
