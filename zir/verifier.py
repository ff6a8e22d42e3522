"""The IR verifier (`zir.verify`): structural rules for every function, SSA rules for SSA ones.

Every rule reads the opcode table (`zir.ops.IR_OPS`), so a new row is verified without touching
this module. A violation raises `zir.VerifyError` naming the function, the block, the instruction
(in the text form) and what was expected; the first violation in layout order is reported.

Checked for every function:

* parameters are distinct and the signature fits them; there is at least one block; labels are
  distinct;
* every block is non-empty and ends in exactly one terminator (none earlier); branch targets and
  handlers exist; operand counts, results, attributes (present, typed) and target counts match
  the table (a variadic row's count must be one its ZBC form can pop: implied by the count, or
  given by its attribute, within the row's `zmin`..`zmax`); `const` has a literal operand;
  operands are Vars or Consts; cell operations name a declared cell;
* the entry block has no predecessors (normal or exception);
* phis list exactly the block's predecessors (normal and exception); a block with no predecessor
  has no phis;
* exception handling: a block's handler is not also one of its normal successors; a handler block
  starts (after its phis) with `catch`; `catch` appears nowhere else.

Checked when the function claims SSA form (`f.ssa`), for blocks reachable from the entry:

* every Var is defined once (parameters, phis and instructions all count);
* no use of a Var that is never defined (in every block, reachable or not);
* a block with a handler has at most one may-raise instruction, its *raise point* (terminators
  included), in every block;
* every use is dominated by its definition: an instruction operand by an earlier definition in its
  block or one in a dominating block; a phi operand at the end of its predecessor, or, for an
  exception edge, before the predecessor's raise point (the IR convention that the value must be
  available where control leaves the block by raising).

Dominance here is that of the CFG with every block B that has a handler and a raise point cut in
two at it: B's exception edge leaves from the first half, its normal edges from the second. So a
value defined at or after B's raise point (the result of the raising instruction itself included)
is not available in B's handler, nor in anything the handler reaches before control passes B's
raise point again, even when B dominates them in the CFG. The exception edge of a block with a
handler but no raise point is never taken: it is left out (the phi operand for it is not read,
as liveness also has it, so any defined value is accepted there).

Cost: linear in the size of the function plus one dominator computation (Cooper, Harvey & Kennedy)
over that graph (at most twice the blocks); dominance queries are O(1) interval tests on the
dominator tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from zir.analysis.dominance import Dominators
from zir.analysis.flow import FlowGraph
from zir.analysis.op_effects import MAY_RAISE
from zir.errors import VerifyError
from zir.ir import Block, Const, Function, Instr, Module, Phi, Var
from zir.ops import IR_OPS, VARIADIC, OpDef, ZArg, suggest
from zir.printer import format_instr, format_name, format_phi

#: Python types of the attribute values the table's rows use, by attribute name.
_ATTR_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "count": int, "index": int, "flags": int, "before": int, "after": int,
}
#: Rows whose `name` attribute is a cell or free variable of the function.
_CELL_OPS = frozenset(name for name, op in IR_OPS.items() if op.zarg is ZArg.CELL)


def verify(obj: Function | Module) -> None:
    """Check `obj` (a function, or every function of a module); raise `zir.VerifyError` on the
    first violation. See the module docstring for the rules."""
    if isinstance(obj, Module):
        for name, f in obj.functions.items():
            if name != f.name:
                raise VerifyError(f"module: function {format_name('@', f.name)} is filed under the name "
                                  f"{format_name('@', name)}")
            _Checker(f).run()
    else:
        _Checker(obj).run()


def _l(label: str) -> str:
    return format_name("^", label)


def _text(fmt: Callable[[Any], str], item: Instr | Phi) -> str:
    """The text form of `item`, or its repr-ish fields when it is too broken to print."""
    try:
        return fmt(item)
    except Exception:  # a malformed operand the printer cannot handle; still name the place
        dest = getattr(item, "dest", None)
        return f"{dest!r} = {getattr(item, 'op', 'phi')} {getattr(item, 'args', '')!r}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Checker:
    """One verification run over one function."""

    def __init__(self, f: Function) -> None:
        self.f = f
        self.where = f"function {format_name('@', f.name)}"

    # reporting ------------------------------------------------------------------------------------
    def fail(self, msg: str, block: Block | None = None, item: Instr | Phi | None = None) -> NoReturn:
        place = self.where
        if block is not None:
            place += f", block {format_name('^', block.label)}"
        if isinstance(item, Instr):
            place += f", instruction `{_text(format_instr, item)}`"
        elif isinstance(item, Phi):
            place += f", phi `{_text(format_phi, item)}`"
        raise VerifyError(f"{place}: {msg}")

    # driver ---------------------------------------------------------------------------------------
    def run(self) -> None:
        f = self.f
        self.check_params()
        if not f.blocks:
            self.fail("has no blocks (expected at least an entry block)")
        self.blocks: dict[str, Block] = {}
        for b in f.blocks:
            if b.label in self.blocks:
                self.fail("label defined twice", b)
            self.blocks[b.label] = b
        self.handlers = {b.handler for b in f.blocks if b.handler is not None}
        self.cells = set(f.cellvars) | set(f.freevars)
        for b in f.blocks:
            if b.handler is not None:
                if b.handler not in self.blocks:
                    self.fail(f"handler {_l(b.handler)} does not exist", b)
                if b.handler == f.blocks[0].label:
                    self.fail("the entry block cannot be an exception handler", b)
        for b in f.blocks:
            self.check_block(b)
        self.preds: dict[str, dict[str, None]] = {b.label: {} for b in f.blocks}
        for b in f.blocks:
            for t in b.successors():
                self.preds[t][b.label] = None
            if b.handler is not None:
                self.preds[b.handler][b.label] = None
        entry = f.blocks[0]
        if self.preds[entry.label]:
            first = next(iter(self.preds[entry.label]))
            self.fail(f"the entry block has a predecessor {_l(first)} (expected none: nothing may branch "
                      f"or raise to the entry)", entry)
        for b in f.blocks:
            self.check_phis(b)
        if f.ssa:
            self.check_ssa()

    # structure ------------------------------------------------------------------------------------
    def check_params(self) -> None:
        seen: set[Var] = set()
        for p in self.f.params:
            if not isinstance(p, Var):
                self.fail(f"parameter {p!r} is not a Var")
            if p in seen:
                self.fail(f"parameter {format_name('%', p.name)} listed twice (expected distinct parameters)")
            seen.add(p)
        sig = self.f.signature
        special = sig.kwonly + int(sig.varargs) + int(sig.varkw)
        if sig.posonly < 0 or sig.kwonly < 0 or sig.posonly + special > len(self.f.params):
            self.fail(f"signature {sig!r} needs more than the {_plural(len(self.f.params), 'parameter')}")

    def check_block(self, b: Block) -> None:
        if not b.instrs:
            self.fail("block is empty (expected instructions ending in a terminator)", b)
        last = len(b.instrs) - 1
        for n, i in enumerate(b.instrs):
            self.check_instr(b, i)
            if i.opdef.terminator and n != last:
                self.fail("terminator before the end of the block (expected it last)", b, i)
            if n == last and not i.opdef.terminator:
                self.fail("block does not end in a terminator", b, i)
            if i.op == "catch" and (n != 0 or b.label not in self.handlers):
                self.fail("`catch` must be the first instruction of a handler block", b, i)
        if b.label in self.handlers and b.instrs[0].op != "catch":
            self.fail("a handler block must start with `catch` (after its phis)", b, b.instrs[0])
        term = b.instrs[last]
        if b.handler is not None and b.handler in term.targets:
            self.fail(f"handler {_l(b.handler)} is also a normal successor (expected a separate block)",
                      b, term)

    def check_instr(self, b: Block, i: Instr) -> None:
        od = IR_OPS.get(i.op)
        if od is None:
            self.fail(f"unknown operation '{i.op}'{suggest(i.op)}", b, i)
        if od.defines and not isinstance(i.dest, Var):
            self.fail(f"'{i.op}' defines a value but has no result Var", b, i)
        if not od.defines and i.dest is not None:
            self.fail(f"'{i.op}' defines no value but has a result", b, i)
        if od.arity != VARIADIC and len(i.args) != od.arity:
            self.fail(f"'{i.op}' takes {_plural(od.arity, 'operand')}, got {len(i.args)}", b, i)
        for a in i.args:
            if not isinstance(a, (Var, Const)):
                self.fail(f"operand {a!r} is not a Var or Const", b, i)
        if len(i.targets) != od.targets:
            self.fail(f"'{i.op}' takes {_plural(od.targets, 'target')}, got {len(i.targets)}", b, i)
        for t in i.targets:
            if t not in self.blocks:
                self.fail(f"branch to unknown block {_l(t)}", b, i)
        self.check_attrs(b, i, od.attrs)
        if od.arity == VARIADIC and od.zbc is not None:
            self.check_variadic(b, i, od)
        if i.op == "const" and not isinstance(i.args[0], Const):
            self.fail("`const` takes a literal operand, not a Var", b, i)
        if i.op in _CELL_OPS and i.attrs["name"] not in self.cells:
            self.fail(f"'{i.attrs['name']}' is not a cell or free variable of the function "
                      f"(cells: {sorted(self.cells)})", b, i)

    def check_variadic(self, b: Block, i: Instr, od: OpDef) -> None:
        """A variadic row's operand count must be what its ZBC form pops for a valid argument:
        the argument is implied by the count (`ZArg.COUNT`) or is the row's attribute (`ZArg.IMM`)."""
        n = len(i.args)
        if od.zarg is ZArg.COUNT:
            top = n if od.zmax is None else min(od.zmax, n)
            if not any(od.pops(arg) == n for arg in range(od.zmin, top + 1)):
                valid = "" if od.zmax is None else f" (from {od.pops(od.zmin)} to {od.pops(od.zmax)})"
                self.fail(f"'{i.op}' cannot take {_plural(n, 'operand')}{valid}", b, i)
        elif od.zarg is ZArg.IMM and len(od.attrs) == 1:
            arg = i.attrs[od.attrs[0]]
            if arg < od.zmin or (od.zmax is not None and arg > od.zmax):
                self.fail(f"attribute {od.attrs[0]}={arg} of '{i.op}' is out of range "
                          f"{od.zmin}..{od.zmax}", b, i)
            if od.pops(arg) != n:
                self.fail(f"'{i.op}' with {od.attrs[0]}={arg} takes {_plural(od.pops(arg), 'operand')}, "
                          f"got {n}", b, i)

    def check_attrs(self, b: Block, i: Instr, expected: tuple[str, ...]) -> None:
        for k in expected:
            if k not in i.attrs:
                self.fail(f"'{i.op}' needs attribute {k!r}", b, i)
            want = _ATTR_TYPES.get(k)
            v: Any = i.attrs[k]
            if want is not None and (not isinstance(v, want) or isinstance(v, bool)):
                self.fail(f"attribute {k!r} of '{i.op}' should be {getattr(want, '__name__', want)}, "
                          f"got {v!r}", b, i)
        for k in i.attrs:
            if k not in expected:
                allowed = ", ".join(expected) if expected else "none"
                self.fail(f"'{i.op}' has no attribute {k!r} (allowed: {allowed})", b, i)

    def check_phis(self, b: Block) -> None:
        preds = self.preds[b.label]
        for p in b.phis:
            if not isinstance(p.dest, Var):
                self.fail("phi result is not a Var", b, p)
            for v in p.incoming.values():
                if not isinstance(v, (Var, Const)):
                    self.fail(f"phi operand {v!r} is not a Var or Const", b, p)
            if not preds:
                self.fail("phi in a block without predecessors", b, p)
            missing = [lbl for lbl in preds if lbl not in p.incoming]
            extra = [lbl for lbl in p.incoming if lbl not in preds]
            if missing or extra:
                want = ", ".join(format_name("^", lbl) for lbl in preds)
                bits = []
                if missing:
                    bits.append("missing " + ", ".join(format_name("^", lbl) for lbl in missing))
                if extra:
                    bits.append("not a predecessor: " + ", ".join(format_name("^", lbl) for lbl in extra))
                self.fail(f"phi must list exactly the predecessors [{want}] ({'; '.join(bits)})", b, p)

    # SSA ------------------------------------------------------------------------------------------
    def check_ssa(self) -> None:
        f = self.f
        # Var -> (block label, position): -2 parameter, -1 phi, n >= 0 instruction index
        defs: dict[Var, tuple[str, int]] = {}
        entry = f.blocks[0]

        def define(v: Var, label: str, pos: int, b: Block, item: Instr | Phi | None) -> None:
            prev = defs.get(v)
            if prev is not None:
                where = "as a parameter" if prev[1] == -2 else f"in {_l(prev[0])}"
                self.fail(f"{format_name('%', v.name)} defined twice (first {where}); SSA form "
                          f"allows one definition", b, item)
            defs[v] = (label, pos)

        for p in f.params:
            define(p, entry.label, -2, entry, None)
        for b in f.blocks:
            for ph in b.phis:
                define(ph.dest, b.label, -1, b, ph)
            for n, i in enumerate(b.instrs):
                if i.dest is not None:
                    define(i.dest, b.label, n, b, i)

        self.raise_at = self.check_raise_points()
        doms = Dominators(_split_flow(f, self.raise_at))
        node = self.node
        for b in f.blocks:
            reachable = doms.is_reachable(b.label)
            for n, i in enumerate(b.instrs):
                for v in i.uses():
                    d = defs.get(v)
                    if d is None:
                        self.fail(f"use of {format_name('%', v.name)}, which is never defined", b, i)
                    if not reachable:
                        continue
                    if d[0] == b.label:
                        if d[1] >= n:
                            self.fail(f"use of {format_name('%', v.name)} before its definition in the "
                                      f"same block", b, i)
                    # an operand is read before its instruction raises: the use is at n - 1
                    elif not doms.dominates(node(*d), node(b.label, n - 1)):
                        self.fail(f"use of {format_name('%', v.name)} is not dominated by its definition "
                                  f"in {_l(d[0])}{self.after_raise(d)}", b, i)
            for ph in b.phis:
                for pred, val in ph.incoming.items():
                    if isinstance(val, Var):
                        self.check_phi_use(b, ph, pred, val, defs.get(val), doms)

    def check_raise_points(self) -> dict[str, int]:
        """Every block with a handler has at most one may-raise instruction; returns label -> the
        index of that raise point, for the blocks with a handler that have one."""
        raise_at: dict[str, int] = {}
        may_raise = MAY_RAISE
        for b in self.f.blocks:
            if b.handler is None:
                continue
            points = [n for n, i in enumerate(b.instrs) if may_raise[i.op]]
            if len(points) > 1:
                self.fail(f"a block with a handler has more than one may-raise instruction (first "
                          f"`{format_instr(b.instrs[points[0]])}`); SSA form allows one per block "
                          f"(split the block before this one)", b, b.instrs[points[1]])
            if points:
                raise_at[b.label] = points[0]
        return raise_at

    def node(self, label: str, pos: int) -> Any:
        """Where in the split CFG (`_split_flow`) position `pos` of block `label` lies: its second
        half when the block has a raise point at or before `pos`."""
        at = self.raise_at.get(label)
        return (label, "post") if at is not None and pos >= at else label

    def after_raise(self, d: tuple[str, int]) -> str:
        """A hint for a dominance failure of a value defined at or after its block's raise point."""
        b = self.blocks[d[0]]
        if b.handler is None or self.node(*d) == d[0]:
            return ""
        return (f" (it is defined at or after {_l(d[0])}'s raise point, so it is not available along the "
                f"exception edge to {_l(b.handler)})")

    def check_phi_use(self, b: Block, ph: Phi, pred: str, v: Var, d: tuple[str, int] | None,
                      doms: Dominators) -> None:
        if d is None:
            self.fail(f"use of {format_name('%', v.name)}, which is never defined", b, ph)
        if not doms.is_reachable(pred):
            return
        pb = self.blocks[pred]
        exceptional = pb.handler == b.label
        if exceptional and pred not in self.raise_at:
            return  # nothing in pred may raise: the edge is never taken, its value never read
        if d[0] == pred:
            if exceptional:
                first = next((n for n, i in enumerate(pb.instrs) if i.opdef.may_raise), len(pb.instrs))
                if d[1] >= first:
                    self.fail(f"the value for exception edge {_l(pred)} -> {_l(b.label)}, "
                              f"{format_name('%', v.name)}, is defined at or after {_l(pred)}'s first "
                              f"may-raise instruction `{format_instr(pb.instrs[first])}` (it must be "
                              f"available at every raise point)", b, ph)
            return
        # a normal edge leaves from the end of pred, an exception edge from its raise point
        at = self.node(pred, -1 if exceptional else len(pb.instrs))
        if not doms.dominates(self.node(*d), at):
            where = "at the raise point" if exceptional else "at the end"
            self.fail(f"the value for {_l(pred)}, {format_name('%', v.name)}, is not dominated by its "
                      f"definition in {_l(d[0])}{self.after_raise(d)} (expected it available {where} "
                      f"of {_l(pred)})", b, ph)


def _split_flow(f: Function, raise_at: dict[str, int]) -> FlowGraph:
    """The CFG of `f` as control can really flow: each block in `raise_at` is cut in two at its
    raise point (node `label`, up to and including the raise point, keeps the incoming edges and
    the exception edge; node `(label, "post")` follows it and has the normal edges), and the
    exception edge of a block with a handler but no raise point, which is never taken, is left
    out."""
    flow = FlowGraph.of(f)
    labels: list[Any] = []
    succ: dict[Any, dict[Any, str]] = {}
    pred: dict[Any, dict[Any, str]] = {}
    for label in flow.labels:
        labels.append(label)
        succ[label] = {}
        pred[label] = {}
        if label in raise_at:
            post = (label, "post")
            labels.append(post)
            succ[post] = {}
            pred[post] = {label: "jump"}
            succ[label][post] = "jump"
    for label in flow.labels:
        src: Any = (label, "post") if label in raise_at else label
        for t, kind in flow.succ[label].items():
            if kind == "exception" and label not in raise_at:
                continue  # nothing in the block may raise: control never takes this edge
            u = label if kind == "exception" else src
            succ[u][t] = kind
            pred[t][u] = kind
    return FlowGraph(f.name, flow.entry, labels, succ, pred)
