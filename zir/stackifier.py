"""`zir.stackify(f) -> Code`: IR (not in SSA form) back to ZBC, for the stack VM at O1/O2.

Every Var may become a local of the new code object (parameters keep their slots, names and
order); locals the emitted code never touches are left out, so frames stay small. Values stay on
the operand stack instead of going through a STORE_FAST/LOAD_FAST pair in three ways:

* inside a block, a value used once, right after it is made (`zir.stackify_trees`: expression
  trees, as LLVM's WebAssembly back end stackifies, `WebAssemblyRegStackify.cpp`);
* across a block boundary, an *entry value*: a value that every predecessor makes last (or loads)
  and that the first tree of the block consumes. A `br` leaves it on the stack; a `cbr` on it
  becomes JUMP_IF_TRUE_OR_POP / JUMP_IF_FALSE_OR_POP when only the target that jumps reads it (the
  front end's shape for `a or b`); a FOR_ITER leaves the item for the loop body. This is what the
  front end's code does for `x if c else y`, `a and b` and `for x in ...: total += x`;
* a `for` loop's iterator, for the whole loop (`zir.stackify_loops`), as CPython keeps it: FOR_ITER
  reads it in place, edges leaving the loop pop it, and exception-table depths keep it for
  handlers inside the loop.

A value may also wait on the stack under statements that leave the stack as they found it.
Results nobody reads are popped; dead `const`/`copy` instructions are dropped.

Control flow: blocks are laid out in the function's order, `br` to the next block falls through,
`cbr` becomes POP_JUMP_IF_FALSE/TRUE, and IR pairs with one ZBC form are fused
(`zir.stackify_blocks`). A jump to a small block (at most 4 instructions, same handler) is
replaced by a copy of it (tail duplication, as CPython's compiler copies small exit blocks), and
the back edge of a loop with a resident iterator is FOR_ITER_BACK (loop inversion: it fetches the
next item and jumps into the body). An edge that leaves a loop pops the loop's iterator: inline
when it falls through or jumps unconditionally, in a trampoline at the end of the code when a
conditional jump takes it; those POP_TOPs and jumps run with a shorter stack than a handler inside
the loop keeps, so no exception-table entry covers them. A handler block is entered with its
resident iterators and the exception on the stack (the exception-table depth counts the
iterators), and its `catch` stores the exception.
"""

from __future__ import annotations

from typing import Any, NoReturn

from zir.analysis.liveness import liveness
from zir.bytecode.code import FLAG_NAMES, VARARGS, VARKEYWORDS, Code, Handler, ZInstr
from zir.errors import VerifyError
from zir.ir import UNBOUND, Block, Function, Instr, Value, Var, const_key
from zir.ops import IR_OPS, ZBC_OPS, OpDef, ZArg
from zir.printer import format_instr, format_name
from zir.stackify_blocks import BlockInfo, analyse_block
from zir.stackify_loops import resident_iterators
from zir.stackify_trees import TreePlan, plan_trees

__all__ = ["stackify"]

#: Operations whose Var operands may hold UNBOUND: they are loaded with LOAD_FAST_UNCHECKED.
_MAYBE_UNBOUND = frozenset({"copy", "check_bound"})
#: Extra instructions after an operation's ZBC form that reduce what it leaves to its IR result.
_SWAP_POP = [("SWAP", 2), ("POP_TOP", None)]
#: Conditional jumps of a two-way branch: (jumps when the test holds, jumps when it does not).
_BRANCH_JUMPS = {None: ("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE"),
                 "is": ("POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE"),
                 "is_not": ("POP_JUMP_IF_NOT_NONE", "POP_JUMP_IF_NONE")}

#: Tail duplication: a block of at most this many (emitting) instructions may be copied in place
#: of a jump to it, at most this many copies deep.
_MAX_COPY_SIZE = 4
_MAX_COPY_DEPTH = 2

_Body = list[tuple[str, Any]]


def stackify(f: Function) -> Code:
    """ZBC for `f`, which must not be in SSA form (run `ssa-destroy` first). The result keeps the
    names, signature, cells, defaults and `pycode` of `f.code` when there is one, so the stack VM
    can run it in place of the code `f` was lifted from. Raises `zir.VerifyError` for IR that
    has no stack form (SSA, phis, a handler block also entered normally)."""
    return _Stackifier(f).run()


class _Stackifier:
    def __init__(self, f: Function) -> None:
        self.f = f
        where = f"function {format_name('@', f.name)}"
        if f.ssa:
            raise VerifyError(f"{where}: stackify needs IR out of SSA form (run ssa-destroy)")
        self.where = where
        self.consts: list[Any] = []
        self.const_index: dict[Any, int] = {}
        self.names: list[str] = []
        self.name_index: dict[str, int] = {}
        self.cell_index = {n: k for k, n in enumerate([*f.cellvars, *f.freevars])}
        self.live = liveness(f)
        self.out: list[ZInstr] = []
        self.fixups: list[tuple[int, str]] = []
        self.label_at: dict[str, int] = {}
        #: Edges taken by conditional jumps that must pop first: label -> (source, target, pops, line).
        self.trampolines: dict[str, tuple[Block, str, int, int | None]] = {}
        #: How many copied blocks deep the current emission is (`_goto`).
        self.copies = 0
        #: The handler of the code being emitted, and per emitted instruction the handler that
        #: covers it (None for the POP_TOPs and jumps of an edge, which run below the resident
        #: stack a handler may keep and cannot raise).
        self.handler: str | None = None
        self.cover: list[str | None] = []
        self.blocks = {b.label: b for b in f.blocks}
        self._locals(f)

    # tables ---------------------------------------------------------------------------------------
    def _locals(self, f: Function) -> None:
        code = f.code if isinstance(f.code, Code) else None
        names: list[str] = []
        index: dict[Var, int] = {}
        taken: set[str] = set()
        for k, p in enumerate(f.params):
            # Parameters keep their Python names (keyword arguments bind by them).
            name = code.varnames[k] if code is not None and k < code.nparams else p.name
            names.append(name)
            taken.add(name)
            index[p] = k
        for b in f.blocks:
            if b.phis:
                raise VerifyError(f"{self.where}, block {format_name('^', b.label)}: stackify needs "
                                  "IR without phis (run ssa-destroy)")
            for ins in b.instrs:
                for a in ins.args:
                    if isinstance(a, Var) and a not in index:
                        index[a] = self._new_local(a.name, names, taken)
                if ins.dest is not None and ins.dest not in index:
                    index[ins.dest] = self._new_local(ins.dest.name, names, taken)
        self.varnames = names
        self.local_index = index

    @staticmethod
    def _new_local(name: str, names: list[str], taken: set[str]) -> int:
        new = name
        n = 0
        while new in taken:
            n += 1
            new = f"{name}'{n}"
        taken.add(new)
        names.append(new)
        return len(names) - 1

    def _const(self, value: Any) -> int:
        key = ("code", id(value)) if isinstance(value, Code) else const_key(value)
        k = self.const_index.get(key)
        if k is None:
            k = self.const_index[key] = len(self.consts)
            self.consts.append(value)
        return k

    def _name(self, name: str) -> int:
        k = self.name_index.get(name)
        if k is None:
            k = self.name_index[name] = len(self.names)
            self.names.append(name)
        return k

    def _cell(self, ins: Instr, block: Block) -> int:
        name = ins.attrs.get("name")
        k = self.cell_index.get(name) if isinstance(name, str) else None
        if k is None:
            self._fail(block, ins, f"names no cell or free variable of the function ({name!r})")
        return k

    def _fail(self, block: Block, ins: Instr, what: str) -> NoReturn:
        raise VerifyError(f"{self.where}, block {format_name('^', block.label)}, instruction "
                          f"'{format_instr(ins)}': {what}")

    # driver ---------------------------------------------------------------------------------------
    def run(self) -> Code:
        f = self.f
        blocks = f.blocks
        handlers = {b.handler for b in blocks if b.handler is not None}
        for b in blocks:
            for t in b.successors():
                if t in handlers:
                    raise VerifyError(f"{self.where}: handler block {format_name('^', t)} is also "
                                      f"entered normally from {format_name('^', b.label)}; stackify "
                                      "needs handler blocks entered only by exceptions")
        for b in blocks:
            instrs = b.instrs
            if b.label in handlers and (not instrs or instrs[0].op != "catch"):
                raise VerifyError(f"{self.where}: handler block {format_name('^', b.label)} does not "
                                  "start with catch")
            for k, ins in enumerate(instrs):
                if ins.op == "catch" and k != 0:
                    self._fail(b, ins, "catch is not the first instruction of a handler block")
        self.info: dict[str, BlockInfo] = {b.label: analyse_block(b, self.live) for b in blocks}
        loops = [i.loop for i in self.info.values() if i.loop is not None]
        self.res = resident_iterators(f, self.live, loops)
        for header in self.res.loops:
            self.info[header].templates[-2] = []  # FOR_ITER finds the iterator on the stack
        self.entry_values = self._entry_values(handlers)
        for k, b in enumerate(blocks):
            self.label_at[b.label] = len(self.out)
            nxt = blocks[k + 1].label if k + 1 < len(blocks) else None
            self._block(b, nxt)
        for label, (source, target, pops, line) in self.trampolines.items():
            self.label_at[label] = len(self.out)
            self._goto(source, target, pops, None, line)
        for at, label in self.fixups:
            self.out[at].arg = self.label_at[label]
        return self._code(self._handler_table())

    def _handler_table(self) -> list[Handler]:
        """Exception-table entries: each run of instructions emitted under one handler (the
        handler keeps its block's resident iterators: that many items)."""
        table: list[Handler] = []
        start = 0
        for i in range(1, len(self.cover) + 1):
            h = self.cover[start]
            if i == len(self.cover) or self.cover[i] != h:
                if h is not None:
                    table.append(Handler(start, i, self.label_at[h], len(self.res.at(h)), False))
                start = i
        return table

    def _code(self, table: list[Handler]) -> Code:
        f = self.f
        src = f.code if isinstance(f.code, Code) else None
        sig = f.signature
        nparams = len(f.params)
        argcount = nparams - sig.kwonly - int(sig.varargs) - int(sig.varkw)
        flags = set(src.flags if src is not None else f.flags & FLAG_NAMES) - {VARARGS, VARKEYWORDS}
        if sig.varargs:
            flags.add(VARARGS)
        if sig.varkw:
            flags.add(VARKEYWORDS)
        return Code(
            f.name, instrs=self.out, consts=self.consts, names=self.names,
            varnames=self._used_locals(nparams), cellvars=list(f.cellvars), freevars=list(f.freevars),
            argcount=argcount, posonlyargcount=sig.posonly, kwonlyargcount=sig.kwonly,
            flags=frozenset(flags), defaults=src.defaults if src is not None else (),
            kwdefaults=dict(src.kwdefaults) if src is not None else {},
            handlers=table, filename=src.filename if src is not None else "<zir>",
            firstlineno=src.firstlineno if src is not None else _first_line(f),
            qualname=src.qualname if src is not None else f.name,
            pycode=src.pycode if src is not None else None)

    def _used_locals(self, nparams: int) -> list[str]:
        """Renumber the emitted local operands so that locals no instruction names (values that
        always stayed on the stack) take no frame slot; parameters keep theirs. Returns varnames."""
        local_ops = {name for name, row in ZBC_OPS.items() if row.zarg is ZArg.LOCAL}
        used = sorted({ins.arg for ins in self.out if ins.op in local_ops and ins.arg is not None}
                      | set(range(nparams)))
        renumber = {old: new for new, old in enumerate(used)}
        for ins in self.out:
            if ins.op in local_ops and ins.arg is not None:
                ins.arg = renumber[ins.arg]
        return [self.varnames[k] for k in used]

    # values that cross block boundaries on the stack -------------------------------------------------
    def _entry_values(self, handlers: set[str]) -> dict[str, Var]:
        """Block label -> the value its predecessors leave on the stack for it (see the module
        docstring). Chosen only when every predecessor can deliver it and a trial plan of the
        block consumes it from the stack."""
        preds: dict[str, list[str]] = {}
        for b in self.f.blocks:
            for t in b.successors():
                preds.setdefault(t, []).append(b.label)
        out: dict[str, Var] = {}
        for k, b in enumerate(self.f.blocks):
            edges = preds.get(b.label)
            if k == 0 or b.label in handlers or not edges or len(set(edges)) != len(edges):
                continue
            value: Var | None = None
            for q in edges:
                d = self._deliverable(q, b.label)
                if d is None or (isinstance(d, Var) and value is not None and d != value):
                    value = None
                    break
                if isinstance(d, Var):
                    value = d
            if value is None:
                continue
            plan = self._plan(b, [value], final=False)
            used = plan.consumers[0]
            if not plan.entry_ok or used is None:
                continue
            # A value read by copy/check_bound (it may be UNBOUND) is kept on the stack only when
            # every edge makes a bound one: a maybe-unbound value is always stored right after it
            # is loaded (the rule lifting's definite assignment relies on, zir.lifting.flow).
            if b.instrs[used].op in _MAYBE_UNBOUND and not all(self._made_bound(q, value) for q in edges):
                continue
            out[b.label] = value
        return out

    def _made_bound(self, q: str, v: Var) -> bool:
        """Whether the edge from q leaves `v` as a value that cannot be UNBOUND: a FOR_ITER item,
        a tested value, or the result of an operation (not a copy or `undef`) that q makes last."""
        instrs = self.blocks[q].instrs
        if instrs[-1].op != "br":
            return True
        unbound = self.info[q].unbound
        for k in range(len(instrs) - 2, -1, -1):
            if instrs[k].dest == v:
                return k not in unbound
        return False

    def _deliverable(self, q: str, s: str) -> Var | bool | None:
        """What the edge q -> s can leave on the stack: a Var that q makes last (or, for a `cbr`,
        tests), True when q can load whatever s wants, None when it cannot leave anything."""
        res = self.res
        if res.at(q) != res.at(s):
            return None
        block = self.blocks[q]
        info = self.info[q]
        if not block.instrs:
            return None
        term = block.instrs[-1]
        live_in = self.live.in_bits(s)
        index = self.live.index
        if term.op == "br":
            # The last value made here that s reads: the tree planner can often keep it on the
            # stack (under the statements after it) for the edge.
            for k in range(len(block.instrs) - 2, -1, -1):
                d = block.instrs[k].dest
                if d is not None and live_in >> index[d] & 1 and not info.dead[k]:
                    return d if k not in info.pinned else True
            return True
        if info.fused == "iter":
            loop = res.loops.get(q)
            if loop is not None and s == loop.body and live_in >> index[loop.item] & 1:
                return loop.item
            return None
        if term.op == "cbr" and info.fused is None:
            c = term.args[0]
            other = term.targets[1] if s == term.targets[0] else term.targets[0]
            if (isinstance(c, Var) and live_in >> index[c] & 1
                    and not self.live.in_bits(other) >> index[c] & 1 and res.at(other) == res.at(q)):
                return c
        return None

    def _plan(self, block: Block, entry: list[Var], *, final: bool = True) -> TreePlan:
        """Plan `block`'s trees with `entry` on the stack; with `final`, the terminator also
        pushes what its edges leave on the stack."""
        info = self.info[block.label]
        templates = info.templates
        after = info.after
        if final:
            pushed = self._edge_values(block)
            if pushed is not None:
                values, handed = pushed
                templates = [*templates[:-1], values]
                after = [*after[:-1], after[-1] & ~handed]
        return plan_trees(block.instrs, templates, silent=info.silent, dead=info.dead, after=after,
                          pinned=info.pinned, entry=entry, handler_live=info.handler_live,
                          index=self.live.index, unbound=info.unbound)

    def _edge_values(self, block: Block) -> tuple[list[Value], int] | None:
        """For a block whose terminator leaves values on the stack for a successor: the
        terminator's template and the Vars it hands over (a bitset: no longer live after it)."""
        if not block.instrs:
            return None
        term = block.instrs[-1]
        if term.op == "br":
            values: list[Value] = []
            it = self.res.enters.get(block.label)
            if it is not None:
                values.append(it)
            v = self.entry_values.get(term.targets[0])
            if v is not None:
                values.append(v)
            index = self.live.index
            return (values, sum(1 << index[x] for x in set(values) if isinstance(x, Var))) if values else None
        if term.op == "cbr" and self.info[block.label].fused is None and isinstance(term.args[0], Var):
            c = term.args[0]
            if c in (self.entry_values.get(term.targets[0]), self.entry_values.get(term.targets[1])):
                return [c], 1 << self.live.index[c]
        return None

    # one block ------------------------------------------------------------------------------------
    def _block(self, block: Block, nxt: str | None, copies: int = 0) -> None:
        """Emit `block`; `nxt` is the block laid out next (None: nothing falls through), `copies`
        how many duplicated blocks deep this emission is (see `_goto`)."""
        outer = self.copies, self.handler
        self.copies, self.handler = copies, block.handler
        try:
            self._emit_block(block, nxt)
        finally:
            self.copies, self.handler = outer

    def _emit_block(self, block: Block, nxt: str | None) -> None:
        instrs = block.instrs
        info = self.info[block.label]
        v = self.entry_values.get(block.label)
        entry = [v] if v is not None else []
        plan = self._plan(block, entry)
        if entry and not plan.entry_ok:
            # The final plan did not consume the entry value after all: keep it in its local.
            line = instrs[0].line if instrs else None
            for e in reversed(entry):
                self._put("STORE_FAST", self.local_index[e], line)
            plan = self._plan(block, [])
        stacked, pre = plan.stacked, plan.pre
        unpacks = info.unpacks
        fused = info.fused
        last = len(instrs) - 1
        for k, ins in enumerate(instrs):
            for user, group in reversed(pre[k]):
                for val in group:
                    self._load(val, instrs[user])
            if info.silent[k]:
                continue
            if k in unpacks:
                # UNPACK_SEQUENCE/UNPACK_EX push the items, first on top; the tuple_items that
                # follow only store them, in index order.
                if ins.op == "unpack":
                    self._put("UNPACK_SEQUENCE", unpacks[k], ins.line)
                else:
                    self._put("UNPACK_EX", ins.attrs["before"] | ins.attrs["after"] << 8, ins.line)
                continue
            if ins.op == "tuple_item" and k in info.pinned:
                pass
            elif fused == "iter" and k == last - 1:
                self._for_iter(block, ins)
                continue
            elif k == last and ins.op in ("br", "cbr", "cbr_more"):
                self._branch(block, ins, nxt)
                continue
            elif fused is not None and k == last - 1:
                pass  # the identity test is the branch's
            else:
                self._emit_body(block, ins)
            d = ins.dest
            if d is not None and not stacked[k]:
                self._put("POP_TOP" if info.dead[k] else "STORE_FAST", None if info.dead[k] else
                          self.local_index[d], ins.line)

    def _for_iter(self, block: Block, ins: Instr) -> None:
        """FOR_ITER for a fused `iter_next`: jump to the exit when exhausted (FOR_ITER pops the
        iterator), else keep, store or pop the item and drop a loaded (not resident) iterator."""
        term = block.instrs[-1]
        body, exit_ = term.targets
        depth = len(self.res.at(block.label))
        resident = block.label in self.res.loops
        left = depth - 1 if resident else depth
        self._jump_to(block, "FOR_ITER", exit_, left - len(self.res.at(exit_)), ins.line)
        self.label_at[_item_label(block.label)] = len(self.out)  # where FOR_ITER_BACK lands
        item = ins.dest
        assert item is not None
        if not (resident and self.entry_values.get(body) == item):
            if self.live.in_bits(body) >> self.live.index[item] & 1:
                self._put("STORE_FAST", self.local_index[item], ins.line)
            else:
                self._put("POP_TOP", None, ins.line)
        if not resident:
            self._put("POP_TOP", None, ins.line)  # the iterator FOR_ITER kept

    def _branch(self, block: Block, ins: Instr, nxt: str | None) -> None:
        """A `br`, `cbr` or `cbr_more` whose operand (if any) is on the stack: jumps, with the
        POP_TOPs of edges that leave resident loops."""
        line = ins.line
        info = self.info[block.label]
        depth = len(self.res.at(block.label))
        res = self.res
        if ins.op == "br":
            s = ins.targets[0]
            pops = 0 if block.label in res.enters else depth - len(res.at(s))
            self._goto(block, s, pops, nxt, line)
            return
        t, e = ins.targets
        pt, pe = depth - len(res.at(t)), depth - len(res.at(e))
        if info.fused == "iter":
            self._goto(block, t, pt, nxt, line)
            return
        if ins.op == "cbr_more":
            self._jump_to(block, "POP_JUMP_IF_EXHAUSTED", e, pe, line)
            self._goto(block, t, pt, nxt, line)
            return
        c = ins.args[0]
        if info.fused is None and isinstance(c, Var):
            if self.entry_values.get(t) == c:
                self._jump("JUMP_IF_TRUE_OR_POP", t, line)
                self._goto(block, e, pe, nxt, line)
                return
            if self.entry_values.get(e) == c:
                self._jump("JUMP_IF_FALSE_OR_POP", e, line)
                self._goto(block, t, pt, nxt, line)
                return
        if_true, if_false = _BRANCH_JUMPS[info.fused]
        if pt == 0 and pe == 0:
            # Fall through where possible; when neither target is next, the conditional jump
            # takes a backward target (a loop's next iteration: likely) and the other is reached
            # by `_goto`, which may copy it.
            backward = t in self.label_at and e not in self.label_at
            if (e == nxt or backward) and t != nxt:
                self._jump(if_true, t, line)
                self._goto(block, e, 0, nxt, line)
            else:
                self._jump(if_false, e, line)
                self._goto(block, t, 0, nxt, line)
        elif pe == 0:
            self._jump(if_false, e, line)
            self._goto(block, t, pt, nxt, line)
        else:
            self._jump_to(block, if_true, t, pt, line)
            self._goto(block, e, pe, nxt, line)

    def _goto(self, source: Block, target: str, pops: int, nxt: str | None, line: int | None) -> None:
        """Pop `pops` resident iterators and continue at `target`: fall through when it is next,
        emit a copy of it when it is a small block (tail duplication, as CPython's compiler copies
        small exit blocks), else JUMP."""
        if target != nxt and self.copies < _MAX_COPY_DEPTH and self._copyable(source, target):
            # A copy of a block that returns or raises needs no pops: the frame's stack goes.
            if not self.blocks[target].successors() and target not in self.entry_values:
                pops = 0
            self._pops(pops, line)
            self._block(self.blocks[target], None, self.copies + 1)
            return
        self._pops(pops, line)
        if target == nxt:
            return
        loop = self.res.loops.get(target)
        if loop is not None and self._rotatable(source, target):
            # Loop inversion: the back edge tests for the next item itself and jumps into the
            # body; when the iterator is exhausted (and popped) it goes on to the loop's exit.
            self._jump("FOR_ITER_BACK", _item_label(target), line)
            left = len(self.res.at(target)) - 1
            outer, self.handler = self.handler, None  # below the resident stack now
            try:
                self._goto(source, loop.exit, left - len(self.res.at(loop.exit)), nxt, line)
            finally:
                self.handler = outer
            return
        outer, self.handler = self.handler, None
        self._jump("JUMP", target, line)
        self.handler = outer

    def _pops(self, n: int, line: int | None) -> None:
        """POP_TOP `n` resident iterators (no handler covers them: the stack is getting shorter
        than the one the block's handler keeps)."""
        outer, self.handler = self.handler, None
        for _ in range(n):
            self._put("POP_TOP", None, line)
        self.handler = outer

    def _rotatable(self, source: Block, header: str) -> bool:
        """Whether a jump from `source` to the resident `for` loop `header` may be FOR_ITER_BACK:
        the header does nothing but FOR_ITER, under the same exception handler."""
        info = self.info[header]
        return (self.blocks[header].handler == source.handler and header not in self.entry_values
                and sum(not s for s in info.silent) == 2)

    def _copyable(self, source: Block, target: str) -> bool:
        """Whether `target` may be emitted again in place of a jump to it from `source`: a few
        instructions under the same exception handler, not a `for` header, not entering a loop."""
        b = self.blocks[target]
        info = self.info[target]
        size = sum(not s for s in info.silent)
        return (0 < size <= _MAX_COPY_SIZE and b.handler == source.handler and info.fused != "iter"
                and target not in self.res.enters)

    def _jump_to(self, source: Block, op: str, target: str, pops: int, line: int | None) -> None:
        """Jump instruction `op` from `source` to `target`, through a trampoline at the end of the
        code that pops `pops` items first (or copies a small `target`, see `_goto`)."""
        if pops:
            label = f"\0{source.label}\0{target}\0{pops}"
            self.trampolines.setdefault(label, (source, target, pops, line))
            target = label
        self._jump(op, target, line)

    # emitting -------------------------------------------------------------------------------------
    def _put(self, op: str, arg: int | None, line: int | None) -> None:
        self.out.append(ZInstr(op, arg, line))
        self.cover.append(self.handler)

    def _jump(self, op: str, label: str, line: int | None) -> None:
        self.fixups.append((len(self.out), label))
        self.out.append(ZInstr(op, 0, line))
        self.cover.append(self.handler)

    def _load(self, v: Value, user: Instr) -> None:
        """Push operand `v` of `user`."""
        if isinstance(v, Var):
            op = "LOAD_FAST_UNCHECKED" if user.op in _MAYBE_UNBOUND else "LOAD_FAST"
            self._put(op, self.local_index[v], user.line)
        elif v.value is UNBOUND:
            self._put("LOAD_UNBOUND", None, user.line)
        else:
            self._put("LOAD_CONST", self._const(v.value), user.line)

    def _emit_body(self, block: Block, ins: Instr) -> None:
        """The ZBC form of `ins`, its operands already on the stack; leaves its result on top."""
        if ins.op in ("const", "copy", "catch"):
            return
        for zop, arg in self._body(block, ins):
            self._put(zop, arg, ins.line)

    def _body(self, block: Block, ins: Instr) -> _Body:
        op = ins.op
        row = IR_OPS.get(op)
        if row is None:
            self._fail(block, ins, f"unknown operation {op!r}")
        assert row is not None
        if op == "unpack_star":
            return [("UNPACK_STAR", ins.attrs["before"] | ins.attrs["after"] << 8)]
        if op == "push_exc_info":
            return [("PUSH_EXC_INFO", None), ("POP_TOP", None)]
        if op == "exc_match":
            return [("CHECK_EXC_MATCH", None), *_SWAP_POP]
        if op == "before_with":
            return [("BEFORE_WITH", None), ("BUILD_TUPLE", 2)]
        if op == "with_exit":
            return [("WITH_EXCEPT_START", None), *(_SWAP_POP * 4)]
        if op == "import_from":
            return [("IMPORT_FROM", self._name(ins.attrs["name"])), *_SWAP_POP]
        if op == "dict_merge":
            return [("DICT_MERGE", 1), ("POP_TOP", None), ("POP_TOP", None), ("POP_TOP", None)]
        if op in ("list_append", "set_add", "map_add", "list_extend", "set_update", "dict_update"):
            assert row.zbc is not None
            return [(row.zbc, 1), ("POP_TOP", None)]
        if op == "ret":
            return [("RETURN_VALUE", None)]
        if op == "raise":
            return [("RAISE_VARARGS", len(ins.args))]
        if op == "reraise":
            return [("RERAISE", 0)]
        if row.generic and row.zbc is not None:
            return [(row.zbc, self._generic_arg(block, ins, row))]
        return self._fail(block, ins, f"operation {op!r} has no ZBC form")

    def _generic_arg(self, block: Block, ins: Instr, row: OpDef) -> int | None:
        kind = row.zarg
        if kind is ZArg.NONE:
            return None
        if kind is ZArg.COUNT:
            base = row.pops(0)
            step = row.pops(1) - base
            n = (len(ins.args) - base) // step if step else 0
            if n < 0 or row.pops(n) != len(ins.args):
                self._fail(block, ins, f"{len(ins.args)} operands do not fit {row.zbc}")
            return n
        value = ins.attrs.get(row.attrs[0]) if row.attrs else None
        if kind is ZArg.NAME:
            if not isinstance(value, str):
                self._fail(block, ins, f"attribute {row.attrs[0] if row.attrs else 'name'} must be a string")
            return self._name(value)
        if kind is ZArg.CELL:
            return self._cell(ins, block)
        if kind is ZArg.CONST:
            return self._const(value)
        if not isinstance(value, int):
            self._fail(block, ins, f"attribute {row.attrs[0] if row.attrs else '?'} must be an int")
        return value




def _item_label(header: str) -> str:
    """The label of the code right after a `for` header's FOR_ITER (the item is on the stack)."""
    return f"\0{header}\0item"


def _first_line(f: Function) -> int:
    for _, ins in f.instructions():
        if ins.line is not None:
            return ins.line
    return 1
