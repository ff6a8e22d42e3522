"""The state of lifting one code object and the primitives that emit IR from it.

Each block is entered with its stack in the positional Vars `%$0 .. %$k-1`. Inside a block the
abstract stack holds Values lazily: LOAD_CONST pushes a `Const`, LOAD_FAST pushes the local's
`Var`, an instruction that pushes a result assigns it to the Var of the stack position it lands in
(`%$k = add ...`).

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
from typing import Any

from zir.bytecode.code import Code, Handler
from zir.errors import VerifyError
from zir.ir import UNBOUND, Block, Const, Instr, Value, Var
from zir.lifting.flow import ZFlow
from zir.ops import IR_OPS

#: Names of lifted stack slots; a ZBC local spelled like one (only non-Python front ends and
#: stackify make such names) is renamed when lifted.
_SLOT_NAME = re.compile(r"^\$[0-9]")
#: The lasti item of a handler entry, as lifted (see the module docstring).
LASTI = Const(-1)
NONE = Const(None)
#: The value of a local holding nothing.
UNDEF = Const(UNBOUND)
_MAY_RAISE = {name: op.may_raise for name, op in IR_OPS.items()}


#: The positional Vars `%$0`, `%$1`, ... shared by all lifts (grown on demand), and how many a
#: Lifter starts with.
_INITIAL_SLOTS = 32
_SLOTS: list[Var] = [Var(f"${k}") for k in range(_INITIAL_SLOTS)]
_SLOT_INDEX: dict[Var, int] = {v: k for k, v in enumerate(_SLOTS)}


def _shared_slot(k: int) -> Var:
    while k >= len(_SLOTS):
        _SLOTS.append(Var(f"${len(_SLOTS)}"))
    return _SLOTS[k]


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


def block_label(start: int) -> str:
    """The label of the IR block lifted from the ZBC block at offset `start`."""
    return f"bb{start}"


def pad_label(h: Handler) -> str:
    """The label of the landing pad of handler entry `h` (when its target is also entered otherwise)."""
    return f"bb{h.target}.h{h.depth}{'l' if h.lasti else ''}"


def _lines(code: Code) -> list[int | None]:
    """The source line of every instruction (the nearest earlier line when it has none)."""
    out: list[int | None] = []
    cur: int | None = code.firstlineno
    for ins in code.instrs:
        if ins.line is not None:
            cur = ins.line
        out.append(cur)
    return out


class Emitter:
    """Per-function tables, the abstract stack of the block being lifted, and the primitives
    that emit IR while keeping the invariants above; `zir.lifting.interp.Lifter` drives it."""

    def __init__(self, code: Code, flow: ZFlow) -> None:
        self.code = code
        self.flow = flow
        self.instrs = code.instrs
        self.rows = flow.rows
        self.consts = code.consts
        self.names = code.names
        self.cells = code.cell_names
        self.locals = [Var(n) for n in local_var_names(code.varnames)]
        self.local_index = {v: k for k, v in enumerate(self.locals)}
        # Vars are frozen and compare by name, so every Lifter starts from copies of one shared
        # table of slot Vars instead of making 32 Vars per code object.
        self.slots = _SLOTS[:_INITIAL_SLOTS]
        self.slot_index = dict(_SLOT_INDEX)
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
            # The entry is reached normally too, even when no jump targets it.
            if not b.exc_preds or b.npreds != 0 or b.start == 0:
                continue
            keys = {(self.flow.blocks[s].handler.depth, self.flow.blocks[s].handler.lasti)  # type: ignore[union-attr]
                    for s in b.exc_preds}
            if len(keys) == 1:
                self.direct.add(b.start)
        # Per-block state (set by _lift_block).
        self.stack: list[Value] = []
        self.block: Block = Block("")
        self.out_instrs: list[Instr] = []
        self.hdepth = -1
        self.raised = False
        self.pending = False
        self.end = 0
        self.da = 0
        self.line: int | None = None
        self.i = 0
        self.nsplit = 0
        self.ended = False
        self.start = 0


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
        slots = self.slots
        while k >= len(slots):
            v = _shared_slot(len(slots))
            self.slot_index[v] = len(slots)
            slots.append(v)
        return slots[k]


    # emitting -------------------------------------------------------------------------------------
    def _emit(self, op: str, dest: Var | None, args: list[Value], attrs: dict[str, Any]) -> None:
        if self.hdepth >= 0:
            may_raise = _MAY_RAISE[op]
            live = dest is not None and self._live_in_handler(dest)
            # A value the handler may read must be the same at every raise point of the block.
            if (live and self.raised) or (may_raise and self.pending):
                self._split()
            if may_raise:
                self._canonical_below_handler()
                self.raised = True
                # Its own raise point sees the old value; a later one would see the new.
                self.pending = live
        self.out_instrs.append(Instr(op, dest, args, attrs, [], self.line))

    def _live_in_handler(self, v: Var) -> bool:
        """May `v` be read by the handler? (Conservatively: every local, and the stack below the
        handler's depth.)"""
        if v in self.local_index:
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
        self.pending = False

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

    def _push_result(self, op: str, args: list[Value], attrs: dict[str, Any], direct: bool = False) -> Var:
        """Emit `op` and push its result: into the Var of the stack position it lands in, or, when
        `direct` and the next instruction of the block stores it (STORE_FAST x), into `%x` itself
        (`%x = add %x, 1` rather than `%$1 = add %x, 1; %x = copy %$1`)."""
        nxt = self.i + 1
        if direct and nxt < self.end and self.instrs[nxt].op == "STORE_FAST":
            local: int = self.instrs[nxt].arg  # type: ignore[assignment]
            var = self.locals[local]
            stack = self.stack
            for j in range(len(stack)):
                if stack[j] is var:  # the local's old value, still wanted on the stack
                    self._materialize(j)
            self._emit(op, var, args, attrs)
            self.da |= 1 << local
            stack.append(var)
            return var
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
            if self.pending:
                self._split()
            self._canonical_below_handler()
        self.out_instrs.append(Instr(op, None, args, {}, targets, self.line))
        self.ended = True

    def _end_jump(self, target: int) -> None:
        self._materialize_all()
        self._reach(target, len(self.stack), self.i)
        self._terminate("br", [], [block_label(target)])

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
