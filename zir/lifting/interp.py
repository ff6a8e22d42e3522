"""Abstract interpretation of the ZBC operand stack: ZBC blocks become IR blocks.

The interpreter walks the reachable blocks with a worklist (no recursion). Each block is entered
with its stack in the positional Vars `%$0 .. %$k-1`. Inside a block the abstract stack holds
Values lazily: LOAD_CONST pushes a `Const`, LOAD_FAST pushes the local's `Var`, an instruction
that pushes a result assigns it to the Var of the stack position it lands in (`%$k = add ...`).

One invariant keeps the bookkeeping free of parallel-copy problems: a positional Var `%$j` only
ever sits at stack position j. COPY and SWAP, which would move one elsewhere, copy it into the Var
of its new position instead. So materializing position j (`%$j = copy v`) never clobbers a value
still on the stack, and the copies at a block's end can be emitted in any order. A local's Var may
sit anywhere; before the local is assigned, the positions holding it are materialized.

Exceptions follow the IR conventions (docs/ir.md): a block covered by a handler names its landing
block, which starts with `%$p = catch`; the stack there is `%$0 .. %$d-1`, the lasti item (a
`Const(-1)`: which instruction raised is not known statically, and nothing but RERAISE reads it),
then the exception. Before every may-raise instruction the positions below the handler's depth hold
their own Vars, and once a may-raise instruction has been emitted, an assignment to a local or to a
position below the handler's depth starts a new block (same handler), so that every value live into
the handler is the same at every raise point of a block (the rule the verifier checks in SSA form).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from zir.bytecode.code import VARARGS, VARKEYWORDS, Code, Handler, ZInstr
from zir.errors import VerifyError
from zir.ir import UNBOUND, Block, Const, Function, Instr, Signature, Value, Var
from zir.lifting.flow import ZBlock, ZFlow
from zir.ops import IR_OPS, ZBC_OPS, OpDef, ZArg

#: Names of lifted stack slots; a ZBC local spelled like one (only non-Python front ends and
#: stackify make such names) is renamed when lifted.
_SLOT_NAME = re.compile(r"^\$[0-9]")
#: The lasti item of a handler entry, as lifted (see the module docstring).
LASTI = Const(-1)
_NONE = Const(None)
_UNDEF = Const(UNBOUND)
_MAY_RAISE = {name: op.may_raise for name, op in IR_OPS.items()}

#: ZBC mnemonic -> method of `Lifter`, for the rows the generic rule does not cover.
_BY_NAME: dict[str, str] = {
    "LOAD_CONST": "_load_const", "LOAD_FAST": "_load_fast", "LOAD_FAST_UNCHECKED": "_load_fast_unchecked",
    "LOAD_UNBOUND": "_load_unbound", "STORE_FAST": "_store_fast", "DELETE_FAST": "_delete_fast",
    "NOP": "_nop", "POP_TOP": "_pop_top", "COPY": "_copy", "SWAP": "_swap",
    "LIST_APPEND": "_container_op", "SET_ADD": "_container_op", "MAP_ADD": "_container_op",
    "LIST_EXTEND": "_container_op", "SET_UPDATE": "_container_op", "DICT_UPDATE": "_container_op",
    "DICT_MERGE": "_container_op",
    "UNPACK_SEQUENCE": "_unpack_sequence", "UNPACK_EX": "_unpack_ex", "UNPACK_STAR": "_unpack_star",
    "IMPORT_FROM": "_import_from", "FOR_ITER": "_for_iter", "PUSH_EXC_INFO": "_push_exc_info",
    "CHECK_EXC_MATCH": "_check_exc_match", "BEFORE_WITH": "_before_with",
    "WITH_EXCEPT_START": "_with_except_start", "JUMP": "_jump", "RETURN_VALUE": "_return",
    "RAISE_VARARGS": "_raise", "RERAISE": "_reraise",
    "POP_JUMP_IF_FALSE": "_pop_jump_if", "POP_JUMP_IF_TRUE": "_pop_jump_if",
    "POP_JUMP_IF_NONE": "_pop_jump_if_none", "POP_JUMP_IF_NOT_NONE": "_pop_jump_if_none",
    "JUMP_IF_FALSE_OR_POP": "_jump_if_or_pop", "JUMP_IF_TRUE_OR_POP": "_jump_if_or_pop",
    "POP_JUMP_IF_EXHAUSTED": "_pop_jump_if_exhausted",
}


def liftable(row: OpDef) -> bool:
    """True when lifting knows how to lift the ZBC form of `row` (by name or by the generic rule)."""
    return row.zbc in _BY_NAME or (row.generic and row.ir)


def local_var_names(varnames: list[str]) -> list[str]:
    """The IR Var name of each ZBC local: its own name, unless it is spelled like a lifted stack
    slot (`$0`, `$3.1`), which gets `$l` prefixes until it is unique."""
    taken = set(varnames)
    out = []
    for name in varnames:
        new = name
        while _SLOT_NAME.match(new) or (new != name and new in taken):
            new = "$l" + new[1:]
        taken.add(new)
        out.append(new)
    return out


def _label(start: int) -> str:
    return f"bb{start}"


def _pad_label(h: Handler) -> str:
    return f"bb{h.target}.h{h.depth}{'l' if h.lasti else ''}"


class Lifter:
    """Lifts one code object; `run()` returns the Function."""

    def __init__(self, code: Code, flow: ZFlow) -> None:
        self.code = code
        self.flow = flow
        self.instrs = code.instrs
        self.rows = flow.rows
        self.consts = code.consts
        self.names = code.names
        self.cells = code.cell_names
        self.locals = [Var(n) for n in local_var_names(code.varnames)]
        self.local_set = frozenset(self.locals)
        self.slots = [Var(f"${k}") for k in range(32)]
        self.slot_index = {v: k for k, v in enumerate(self.slots)}
        self.lines = _lines(code)
        self.needs_init: set[int] = set()
        # Per reachable ZBC block: its entry depth and the offset that first reached it.
        self.depth: dict[int, int] = {}
        self.depth_from: dict[int, int] = {}
        self.work: list[int] = []
        self.out: dict[int, list[Block]] = {}
        self.pads: dict[int, dict[str, Block]] = {}
        self.direct: set[int] = set()
        for b in flow.blocks.values():
            keys = {(self.flow.blocks[s].handler.depth, self.flow.blocks[s].handler.lasti)  # type: ignore[union-attr]
                    for s in b.exc_preds}
            # The entry is reached normally too, even when no jump targets it.
            if b.exc_preds and b.npreds == 0 and len(keys) == 1 and b.start != 0:
                self.direct.add(b.start)
        # Per-block state (set by _lift_block).
        self.stack: list[Value] = []
        self.block: Block = Block("")
        self.out_instrs: list[Instr] = []
        self.hdepth = -1
        self.raised = False
        self.da = 0
        self.line: int | None = None
        self.i = 0
        self.nsplit = 0
        self.ended = False
        self.start = 0

    # driver ---------------------------------------------------------------------------------------
    def run(self) -> Function:
        code = self.code
        self._reach(0, 0, -1)
        blocks = self.flow.blocks
        while self.work:
            start = self.work.pop()
            self._lift_block(blocks[start])
        layout: list[Block] = []
        for start in sorted(self.out):
            pads = self.pads.get(start, {})
            layout.extend(pads[k] for k in sorted(pads))
            layout.extend(self.out[start])
        inits = [Instr("const", self.locals[k], [_UNDEF], {}, [], code.firstlineno)
                 for k in sorted(self.needs_init)]
        if self.flow.entry_has_preds:
            entry = Block("entry", instrs=[*inits, Instr("br", None, [], {}, [_label(0)], code.firstlineno)])
            layout.insert(0, entry)
        else:
            layout[0].instrs[:0] = inits
        sig = Signature(posonly=code.posonlyargcount, kwonly=code.kwonlyargcount,
                        varargs=VARARGS in code.flags, varkw=VARKEYWORDS in code.flags)
        flags = set(code.flags) - {VARARGS, VARKEYWORDS}
        return Function(code.name, params=self.locals[:code.nparams], blocks=layout, signature=sig,
                        cellvars=list(code.cellvars), freevars=list(code.freevars), flags=flags,
                        ssa=False, code=code)

    def _reach(self, target: int, depth: int, source: int) -> None:
        """Control reaches block `target` from offset `source` with `depth` stack items."""
        old = self.depth.get(target)
        if old is None:
            self.depth[target] = depth
            self.depth_from[target] = source
            self.work.append(target)
        elif old != depth:
            prev = self.depth_from[target]
            other = f"offset {prev}" if prev >= 0 else "the entry"
            raise VerifyError(f"{self.code.where(target)}: stack depth mismatch at a join: {depth} "
                              f"from offset {source}, but {old} from {other}")

    def _slot(self, k: int) -> Var:
        while k >= len(self.slots):
            v = Var(f"${len(self.slots)}")
            self.slot_index[v] = len(self.slots)
            self.slots.append(v)
        return self.slots[k]

    # one block ------------------------------------------------------------------------------------
    def _lift_block(self, zb: ZBlock) -> None:
        depth = self.depth[zb.start]
        self._slot(depth + 2)
        h = zb.handler
        self.block = Block(_label(zb.start), handler=None)
        self.out[zb.start] = [self.block]
        self.start = zb.start
        self.out_instrs = self.block.instrs
        self.nsplit = 0
        self.da = zb.da_in
        self.line = self.lines[zb.start]
        self.raised = False
        self.ended = False
        self.hdepth = -1
        if zb.start in self.direct:
            # The landing block of its handler entry: catch first, the stack as the entry says.
            entry = self.flow.blocks[zb.exc_preds[0]].handler
            assert entry is not None
            p = entry.depth + int(entry.lasti)
            self.stack = list[Value](self.slots[:entry.depth])
            if entry.lasti:
                self.stack.append(LASTI)
            self._emit("catch", self.slots[p], [], {})
            self.stack.append(self.slots[p])
        else:
            self.stack = list[Value](self.slots[:depth])
        if h is not None:
            self.block.handler = self._landing(h, zb.start)
            self.hdepth = h.depth
        methods = _METHODS
        rows = self.rows
        instrs = self.instrs
        lines = self.lines
        i = zb.start
        try:
            for i in range(zb.start, zb.end):
                self.i = i
                self.line = lines[i]
                ins = instrs[i]
                methods[ins.op](self, ins, rows[i])
        except IndexError:
            raise VerifyError(f"{self.code.where(i)}: stack underflow at {instrs[i].op}") from None
        if not self.ended:
            self._end_jump(zb.end)

    def _landing(self, h: Handler, source: int) -> str:
        """The label of the landing block of handler entry `h`, reached from block `source`."""
        at = h.depth + int(h.lasti) + 1
        self._reach(h.target, at, source)
        if h.target in self.direct:
            return _label(h.target)
        label = _pad_label(h)
        pads = self.pads.setdefault(h.target, {})
        if label not in pads:
            p = h.depth + int(h.lasti)
            line = self.lines[h.target]
            instrs = [Instr("catch", self._slot(p), [], {}, [], line)]
            if h.lasti:
                instrs.append(Instr("const", self.slots[h.depth], [LASTI], {}, [], line))
            instrs.append(Instr("br", None, [], {}, [_label(h.target)], line))
            pads[label] = Block(label, instrs=instrs)
        return label

    # emitting -------------------------------------------------------------------------------------
    def _emit(self, op: str, dest: Var | None, args: list[Value], attrs: dict[str, Any]) -> None:
        if self.hdepth >= 0:
            if dest is not None and self.raised and self._live_in_handler(dest):
                self._split()
            if _MAY_RAISE[op]:
                self._canonical_below_handler()
                self.raised = True
        self.out_instrs.append(Instr(op, dest, args, attrs, [], self.line))

    def _live_in_handler(self, v: Var) -> bool:
        """May `v` be read by the handler? (Conservatively: every local, and the stack below the
        handler's depth.)"""
        if v in self.local_set:
            return True
        k = self.slot_index.get(v)
        return k is not None and k < self.hdepth

    def _canonical_below_handler(self) -> None:
        stack = self.stack
        slots = self.slots
        for j in range(min(self.hdepth, len(stack))):
            if stack[j] is not slots[j]:
                self._materialize(j)

    def _split(self) -> None:
        self.nsplit += 1
        label = f"{self.block.label}.{self.nsplit}"
        self.out_instrs.append(Instr("br", None, [], {}, [label], self.line))
        new = Block(label, handler=self.block.handler)
        self.out[self.start].append(new)
        self.block = new
        self.out_instrs = new.instrs
        self.raised = False

    def _materialize(self, j: int) -> None:
        """Make stack position j hold its own Var."""
        v = self.stack[j]
        dest = self.slots[j]
        if v is dest:
            return
        if isinstance(v, Const):
            self._emit("const", dest, [v], {})
        else:
            self._emit("copy", dest, [v], {})
        self.stack[j] = dest

    def _materialize_all(self) -> None:
        stack = self.stack
        slots = self.slots
        for j in range(len(stack)):
            if stack[j] is not slots[j]:
                self._materialize(j)

    def _push_result(self, op: str, args: list[Value], attrs: dict[str, Any]) -> Var:
        k = len(self.stack)
        dest = self.slots[k] if k < len(self.slots) else self._slot(k)
        self._emit(op, dest, args, attrs)
        self.stack.append(dest)
        return dest

    def _push_value(self, v: Value) -> None:
        """Push a value that may be a positional Var from elsewhere (COPY): keep the invariant."""
        k = len(self.stack)
        if isinstance(v, Var) and v in self.slot_index:
            dest = self._slot(k)
            self._emit("copy", dest, [v], {})
            v = dest
        self.stack.append(v)

    def _terminate(self, op: str, args: list[Value], targets: list[str]) -> None:
        if self.hdepth >= 0 and _MAY_RAISE[op]:
            self._canonical_below_handler()
        self.out_instrs.append(Instr(op, None, args, {}, targets, self.line))
        self.ended = True

    def _end_jump(self, target: int) -> None:
        self._materialize_all()
        self._reach(target, len(self.stack), self.i)
        self._terminate("br", [], [_label(target)])

    def _assign_local(self, k: int, value: Value) -> None:
        var = self.locals[k]
        if value is var:
            return
        stack = self.stack
        for j in range(len(stack)):
            if stack[j] is var:
                self._materialize(j)
        if isinstance(value, Const):
            self._emit("const", var, [value], {})
        else:
            self._emit("copy", var, [value], {})

    # the generic rule -----------------------------------------------------------------------------
    def _generic(self, ins: ZInstr, row: OpDef) -> None:
        arg = ins.arg if ins.arg is not None else 0
        n = row.pops(arg)
        stack = self.stack
        if n:
            args = stack[-n:]
            if len(args) != n:
                raise IndexError
            del stack[-n:]
        else:
            args = []
        attrs: dict[str, Any] = {}
        if row.attrs:
            attrs[row.attrs[0]] = self._decode(row.zarg, arg)
        if row.pushes(arg):
            self._push_result(row.name, args, attrs)
        else:
            self._emit(row.name, None, args, attrs)

    def _decode(self, kind: ZArg, arg: int) -> Any:
        if kind is ZArg.NAME:
            return self.names[arg]
        if kind is ZArg.CELL:
            return self.cells[arg]
        if kind is ZArg.CONST:
            return self.consts[arg]
        return arg

    def _unsupported(self, ins: ZInstr, row: OpDef) -> None:
        raise VerifyError(f"{self.code.where(self.i)}: lifting has no rule for ZBC opcode {ins.op}")

    # data movement --------------------------------------------------------------------------------
    def _load_const(self, ins: ZInstr, row: OpDef) -> None:
        self.stack.append(Const(self.consts[ins.arg]))  # type: ignore[index]

    def _load_fast(self, ins: ZInstr, row: OpDef) -> None:
        k: int = ins.arg  # type: ignore[assignment]
        var = self.locals[k]
        bit = 1 << k
        if not self.da & bit:
            self._emit("check_bound", None, [var], {"name": self.code.varnames[k]})
            self.needs_init.add(k)
            self.da |= bit
        self.stack.append(var)

    def _load_fast_unchecked(self, ins: ZInstr, row: OpDef) -> None:
        k: int = ins.arg  # type: ignore[assignment]
        if not self.da & (1 << k):
            self.needs_init.add(k)
        self.stack.append(self.locals[k])

    def _load_unbound(self, ins: ZInstr, row: OpDef) -> None:
        self.stack.append(_UNDEF)

    def _store_fast(self, ins: ZInstr, row: OpDef) -> None:
        k: int = ins.arg  # type: ignore[assignment]
        self._assign_local(k, self.stack.pop())
        self.da |= 1 << k

    def _delete_fast(self, ins: ZInstr, row: OpDef) -> None:
        k: int = ins.arg  # type: ignore[assignment]
        bit = 1 << k
        if not self.da & bit:
            self._emit("check_bound", None, [self.locals[k]], {"name": self.code.varnames[k]})
            self.needs_init.add(k)
        self._assign_local(k, _UNDEF)
        self.da &= ~bit

    def _nop(self, ins: ZInstr, row: OpDef) -> None:
        pass

    def _pop_top(self, ins: ZInstr, row: OpDef) -> None:
        self.stack.pop()

    def _copy(self, ins: ZInstr, row: OpDef) -> None:
        n: int = ins.arg  # type: ignore[assignment]
        if not 0 < n <= len(self.stack):
            raise IndexError
        self._push_value(self.stack[-n])

    def _swap(self, ins: ZInstr, row: OpDef) -> None:
        n: int = ins.arg  # type: ignore[assignment]
        stack = self.stack
        a = len(stack) - 1
        b = len(stack) - n
        if not 0 <= b < a:
            if b == a:
                return
            raise IndexError
        va, vb = stack[a], stack[b]
        own_a = va is self.slots[a]
        own_b = vb is self.slots[b]
        if own_a and own_b:
            tmp = self._slot(a + 1)
            self._emit("copy", tmp, [self.slots[a]], {})
            self._emit("copy", self.slots[a], [self.slots[b]], {})
            self._emit("copy", self.slots[b], [tmp], {})
        elif own_a:
            self._emit("copy", self.slots[b], [va], {})
            stack[a], stack[b] = vb, self.slots[b]
        elif own_b:
            self._emit("copy", self.slots[a], [vb], {})
            stack[a], stack[b] = self.slots[a], va
        else:
            stack[a], stack[b] = vb, va

    def _container_op(self, ins: ZInstr, row: OpDef) -> None:
        arg: int = ins.arg  # type: ignore[assignment]
        n = row.pops(arg)
        stack = self.stack
        items = stack[-n:]
        del stack[-n:]
        if not 0 < arg <= len(stack) or len(items) != n:
            raise IndexError
        args = [stack[-arg], *items]
        if row.arity > n + 1:
            # dict_merge: the callable two items below the dict names the function in errors.
            args.append(stack[-arg - 2])
        self._emit(row.name, None, args, {})

    # unpacking ------------------------------------------------------------------------------------
    def _unpack_into(self, op: str, seq: Value, attrs: dict[str, Any], n: int) -> None:
        """`%$k = op seq` (a tuple of n items), then the items, first on top."""
        k = len(self.stack)
        self._slot(k + n)
        t = self.slots[k]
        self._emit(op, t, [seq], attrs)
        # Positions above k first: %$k holds the tuple until the last one.
        for pos in range(k + n - 1, k - 1, -1):
            self._emit("tuple_item", self.slots[pos], [t], {"index": k + n - 1 - pos})
        self.stack.extend(self.slots[k:k + n])

    def _unpack_sequence(self, ins: ZInstr, row: OpDef) -> None:
        n: int = ins.arg  # type: ignore[assignment]
        self._unpack_into("unpack", self.stack.pop(), {"count": n}, n)

    def _unpack_ex(self, ins: ZInstr, row: OpDef) -> None:
        arg: int = ins.arg  # type: ignore[assignment]
        before, after = arg & 0xFF, arg >> 8
        self._unpack_into("unpack_star", self.stack.pop(), {"before": before, "after": after},
                          before + after + 1)

    def _unpack_star(self, ins: ZInstr, row: OpDef) -> None:
        arg: int = ins.arg  # type: ignore[assignment]
        self._push_result("unpack_star", [self.stack.pop()], {"before": arg & 0xFF, "after": arg >> 8})

    # operations that keep operands on the stack ----------------------------------------------------
    def _import_from(self, ins: ZInstr, row: OpDef) -> None:
        self._push_result("import_from", [self.stack[-1]], {"name": self.names[ins.arg]})  # type: ignore[index]

    def _push_exc_info(self, ins: ZInstr, row: OpDef) -> None:
        # [exc] -> [previous handled exception, exc]: exc moves up one position.
        exc = self.stack.pop()
        k = len(self.stack)
        if exc is self.slots[k]:
            up = self._slot(k + 1)
            self._emit("copy", up, [exc], {})
            exc = up
        self._push_result("push_exc_info", [exc], {})
        self.stack.append(exc)

    def _check_exc_match(self, ins: ZInstr, row: OpDef) -> None:
        typ = self.stack.pop()
        self._push_result("exc_match", [self.stack[-1], typ], {})

    def _before_with(self, ins: ZInstr, row: OpDef) -> None:
        # [mgr] -> [bound __exit__, __enter__()]; IR: one tuple, then its two items.
        mgr = self.stack.pop()
        k = len(self.stack)
        self._slot(k + 1)
        t = self.slots[k]
        self._emit("before_with", t, [mgr], {})
        self._emit("tuple_item", self.slots[k + 1], [t], {"index": 1})
        self._emit("tuple_item", t, [t], {"index": 0})
        self.stack.extend((t, self.slots[k + 1]))

    def _with_except_start(self, ins: ZInstr, row: OpDef) -> None:
        # [exit, lasti, prev_exc, exc] -> same + [exit(type(exc), exc, tb)]
        stack = self.stack
        if len(stack) < 4:
            raise IndexError
        self._push_result("with_exit", [stack[-4], stack[-1]], {})

    # control flow ---------------------------------------------------------------------------------
    def _next_label(self) -> str:
        return _label(self.i + 1)

    def _for_iter(self, ins: ZInstr, row: OpDef) -> None:
        if not self.stack:
            raise IndexError
        self._materialize_all()
        k = len(self.stack)
        v = self._push_result("iter_next", [self.stack[-1]], {})
        self.stack.pop()
        self._reach(self.i + 1, k + 1, self.i)
        self._reach(ins.arg, k - 1, self.i)  # type: ignore[arg-type]
        self._terminate("cbr_more", [v], [self._next_label(), _label(ins.arg)])  # type: ignore[arg-type]

    def _jump(self, ins: ZInstr, row: OpDef) -> None:
        self._end_jump(ins.arg)  # type: ignore[arg-type]

    def _branch(self, op: str, cond: Value, if_true: int, if_false: int) -> None:
        """End the block with `op cond` after making the stack canonical."""
        depth = len(self.stack)
        self._reach(if_true, depth, self.i)
        self._reach(if_false, depth, self.i)
        self._terminate(op, [cond], [_label(if_true), _label(if_false)])

    def _pop_jump_if(self, ins: ZInstr, row: OpDef) -> None:
        cond = self.stack.pop()
        self._materialize_all()
        t: int = ins.arg  # type: ignore[assignment]
        if ins.op == "POP_JUMP_IF_TRUE":
            self._branch("cbr", cond, t, self.i + 1)
        else:
            self._branch("cbr", cond, self.i + 1, t)

    def _pop_jump_if_none(self, ins: ZInstr, row: OpDef) -> None:
        v = self.stack.pop()
        self._materialize_all()
        is_none = self._push_result("is", [v, _NONE], {})
        self.stack.pop()
        t: int = ins.arg  # type: ignore[assignment]
        if ins.op == "POP_JUMP_IF_NONE":
            self._branch("cbr", is_none, t, self.i + 1)
        else:
            self._branch("cbr", is_none, self.i + 1, t)

    def _pop_jump_if_exhausted(self, ins: ZInstr, row: OpDef) -> None:
        v = self.stack.pop()
        self._materialize_all()
        self._branch("cbr_more", v, self.i + 1, ins.arg)  # type: ignore[arg-type]

    def _jump_if_or_pop(self, ins: ZInstr, row: OpDef) -> None:
        # The value stays on the stack on the jump path and is popped on the other.
        v = self.stack[-1]
        self._materialize_all()
        depth = len(self.stack)
        t: int = ins.arg  # type: ignore[assignment]
        self._reach(t, depth, self.i)
        self._reach(self.i + 1, depth - 1, self.i)
        if ins.op == "JUMP_IF_TRUE_OR_POP":
            targets = [_label(t), self._next_label()]
        else:
            targets = [self._next_label(), _label(t)]
        self._terminate("cbr", [v], targets)

    def _return(self, ins: ZInstr, row: OpDef) -> None:
        self._terminate("ret", [self.stack.pop()], [])

    def _raise(self, ins: ZInstr, row: OpDef) -> None:
        n: int = ins.arg  # type: ignore[assignment]
        stack = self.stack
        if n > len(stack):
            raise IndexError
        args = stack[len(stack) - n:]
        del stack[len(stack) - n:]
        self._terminate("raise", args, [])

    def _reraise(self, ins: ZInstr, row: OpDef) -> None:
        exc = self.stack.pop()
        if ins.arg:
            self.stack.pop()
        self._terminate("reraise", [exc], [])


#: ZBC mnemonic -> the (unbound) method that lifts it; plain functions, so a Lifter holds no
#: reference cycle through bound methods.
_METHODS: dict[str, Callable[[Lifter, ZInstr, OpDef], None]] = {
    mnemonic: getattr(Lifter, _BY_NAME[mnemonic]) if mnemonic in _BY_NAME
    else Lifter._generic if row.generic and row.ir else Lifter._unsupported
    for mnemonic, row in ZBC_OPS.items()
}


def _lines(code: Code) -> list[int | None]:
    """The source line of every instruction (the nearest earlier line when it has none)."""
    out: list[int | None] = []
    cur: int | None = code.firstlineno
    for ins in code.instrs:
        if ins.line is not None:
            cur = ins.line
        out.append(cur)
    return out


def lift_code(code: Code) -> Function:
    """Lift one ZBC code object (see `zir.lift`)."""
    return Lifter(code, ZFlow.build(code)).run()
