"""Abstract interpretation of the ZBC operand stack: ZBC blocks become IR blocks.

The interpreter walks the reachable blocks with a worklist (no recursion); each ZBC instruction is
lifted by its rule: the generic rule of the opcode table (the popped items, bottom to top, are the
operands, the pushed item the result, the argument the row's attribute) or a rule by name for the
rows the generic rule cannot express. The abstract stack and its invariants are `zir.lifting.emitter`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zir.bytecode.code import VARARGS, VARKEYWORDS, Code, Handler, ZInstr
from zir.errors import VerifyError
from zir.ir import Block, Const, Function, Instr, Signature, Value, Var
from zir.lifting.emitter import LASTI, NONE, UNDEF, Emitter, block_label, pad_label
from zir.lifting.flow import ZBlock, ZFlow, stores_maybe_unbound
from zir.ops import ZBC_OPS, OpDef, ZArg

__all__ = ["LASTI", "Lifter", "lift_code", "liftable"]


#: ZBC mnemonic -> method of `Lifter`, for the rows the generic rule does not cover.
_BY_NAME: dict[str, str] = {
    "LOAD_CONST": "_load_const", "LOAD_FAST": "_load_fast", "LOAD_FAST_UNCHECKED": "_load_fast_unchecked",
    "LOAD_UNBOUND": "_load_unbound", "STORE_FAST": "_store_fast", "DELETE_FAST": "_delete_fast",
    "NOP": "_nop", "POP_TOP": "_pop_top", "COPY": "_copy", "SWAP": "_swap",
    "LIST_APPEND": "_container_op", "SET_ADD": "_container_op", "MAP_ADD": "_container_op",
    "LIST_EXTEND": "_container_op", "SET_UPDATE": "_container_op", "DICT_UPDATE": "_container_op",
    "DICT_MERGE": "_container_op",
    "UNPACK_SEQUENCE": "_unpack_sequence", "UNPACK_EX": "_unpack_ex", "UNPACK_STAR": "_unpack_star",
    "IMPORT_FROM": "_import_from", "FOR_ITER": "_for_iter", "FOR_ITER_BACK": "_for_iter",
    "PUSH_EXC_INFO": "_push_exc_info",
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


class Lifter(Emitter):
    """Lifts one code object; `run()` returns the Function."""

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
        # Locals read where they may hold nothing start out UNBOUND; parameters start with the
        # arguments (a path that deletes one stores UNBOUND itself).
        inits = [Instr("const", self.locals[k], [UNDEF], {}, [], code.firstlineno)
                 for k in sorted(self.needs_init) if k >= code.nparams]
        if self.flow.entry_has_preds:
            jump = Instr("br", None, [], {}, [block_label(0)], code.firstlineno)
            entry = Block("entry", instrs=[*inits, jump])
            layout.insert(0, entry)
        else:
            layout[0].instrs[:0] = inits
        sig = Signature(posonly=code.posonlyargcount, kwonly=code.kwonlyargcount,
                        varargs=VARARGS in code.flags, varkw=VARKEYWORDS in code.flags)
        flags = set(code.flags) - {VARARGS, VARKEYWORDS}
        return Function(code.name, params=self.locals[:code.nparams], blocks=layout, signature=sig,
                        cellvars=list(code.cellvars), freevars=list(code.freevars), flags=flags,
                        ssa=False, code=code)

    # one block ------------------------------------------------------------------------------------
    def _lift_block(self, zb: ZBlock) -> None:
        depth = self.depth[zb.start]
        self._slot(depth + 2)
        h = zb.handler
        self.block = Block(block_label(zb.start), handler=None)
        self.out[zb.start] = [self.block]
        self.start = zb.start
        self.out_instrs = self.block.instrs
        self.nsplit = 0
        self.da = zb.da_in
        self.line = self.lines[zb.start]
        self.raised = False
        self.pending = False
        self.end = zb.end
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
            return block_label(h.target)
        label = pad_label(h)
        pads = self.pads.setdefault(h.target, {})
        if label not in pads:
            p = h.depth + int(h.lasti)
            line = self.lines[h.target]
            instrs = [Instr("catch", self._slot(p), [], {}, [], line)]
            if h.lasti:
                instrs.append(Instr("const", self.slots[h.depth], [LASTI], {}, [], line))
            instrs.append(Instr("br", None, [], {}, [block_label(h.target)], line))
            pads[label] = Block(label, instrs=instrs)
        return label

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
            self._push_result(row.name, args, attrs, direct=True)
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
        self.stack.append(UNDEF)

    def _store_fast(self, ins: ZInstr, row: OpDef) -> None:
        k: int = ins.arg  # type: ignore[assignment]
        value = self.stack.pop()
        self._assign_local(k, value)
        if value is UNDEF:
            bound = False
        elif isinstance(value, Var) and value in self.local_index:
            bound = bool(self.da >> self.local_index[value] & 1)
        else:
            prev = self.instrs[self.i - 1].op if self.i > self.start else ""
            bound = not stores_maybe_unbound(prev, ins.op)
        if bound:
            self.da |= 1 << k
        else:
            self.da &= ~(1 << k)

    def _delete_fast(self, ins: ZInstr, row: OpDef) -> None:
        k: int = ins.arg  # type: ignore[assignment]
        bit = 1 << k
        if not self.da & bit:
            self._emit("check_bound", None, [self.locals[k]], {"name": self.code.varnames[k]})
            self.needs_init.add(k)
        self._assign_local(k, UNDEF)
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
        """`%$k = op seq` (a tuple of n items), then the items, first on top. Items that the next
        instructions store (STORE_FAST, first item first) go straight into their locals."""
        k = len(self.stack)
        self._slot(k + n)
        t = self.slots[k]
        self._emit(op, t, [seq], attrs)
        items: list[Value] = list(self.slots[k:k + n])
        direct = True
        # Positions above k first: %$k holds the tuple until the last one.
        for index in range(n):
            pos = k + n - 1 - index
            store = self.i + 1 + index
            direct = direct and store < self.end and self.instrs[store].op == "STORE_FAST"
            if direct:
                local: int = self.instrs[store].arg  # type: ignore[assignment]
                var = self.locals[local]
                stack = self.stack
                for j in range(len(stack)):
                    if stack[j] is var:  # the local's old value, still wanted on the stack
                        self._materialize(j)
                self._emit("tuple_item", var, [t], {"index": index})
                self.da |= 1 << local
                items[pos - k] = var
            else:
                self._emit("tuple_item", self.slots[pos], [t], {"index": index})
        self.stack.extend(items)

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
        self._push_result("import_from", [self.stack[-1]], {"name": self.names[ins.arg]},  # type: ignore[index]
                          direct=True)

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
        return block_label(self.i + 1)

    def _for_iter(self, ins: ZInstr, row: OpDef) -> None:
        # FOR_ITER goes on with the item and jumps when exhausted; FOR_ITER_BACK the other way.
        if not self.stack:
            raise IndexError
        self._materialize_all()
        k = len(self.stack)
        v = self._push_result("iter_next", [self.stack[-1]], {})
        self.stack.pop()
        target: int = ins.arg  # type: ignore[assignment]
        more, done = (target, self.i + 1) if ins.op == "FOR_ITER_BACK" else (self.i + 1, target)
        self._reach(more, k + 1, self.i)
        self._reach(done, k - 1, self.i)
        self._terminate("cbr_more", [v], [block_label(more), block_label(done)])

    def _jump(self, ins: ZInstr, row: OpDef) -> None:
        self._end_jump(ins.arg)  # type: ignore[arg-type]

    def _branch(self, op: str, cond: Value, if_true: int, if_false: int) -> None:
        """End the block with `op cond` after making the stack canonical."""
        depth = len(self.stack)
        self._reach(if_true, depth, self.i)
        self._reach(if_false, depth, self.i)
        self._terminate(op, [cond], [block_label(if_true), block_label(if_false)])

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
        is_none = self._push_result("is", [v, NONE], {})
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
            targets = [block_label(t), self._next_label()]
        else:
            targets = [self._next_label(), block_label(t)]
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
        # The exception is on top; what else RERAISE pops (and reads below) is the table's say.
        n = row.pops(ins.arg or 0)
        stack = self.stack
        if n > len(stack):
            raise IndexError
        exc = stack[-1]
        del stack[len(stack) - n:]
        self._terminate("reraise", [exc], [])


#: ZBC mnemonic -> the (unbound) method that lifts it; plain functions, so a Lifter holds no
#: reference cycle through bound methods.
_METHODS: dict[str, Callable[[Lifter, ZInstr, OpDef], None]] = {
    mnemonic: getattr(Lifter, _BY_NAME[mnemonic]) if mnemonic in _BY_NAME
    else Lifter._generic if row.generic and row.ir else Lifter._unsupported
    for mnemonic, row in ZBC_OPS.items()
}


def lift_code(code: Code) -> Function:
    """Lift one ZBC code object (see `zir.lift`)."""
    return Lifter(code, ZFlow.build(code)).run()
