"""Lowering one CPython 3.11 instruction to ZBC, given the shape of the stack in front of it.

The stack shape is a tuple of booleans, bottom first: True marks a NULL slot (3.11 pushes NULLs
for PUSH_NULL, LOAD_GLOBAL with its low bit set, and LOAD_METHOD's "no self" case), False a value.
ZBC has no NULLs, so whatever depends on stack positions -- which CALL has a self slot, the reach
of COPY/SWAP/LIST_APPEND/..., handler depths -- is recomputed from the shape.

LOAD_METHOD becomes LOAD_ATTR, which pushes the bound method; the shape records a NULL under it, so
the CALL that consumes it calls the bound method with the plain arguments, as 3.11's CALL does when
the slot under the callable is NULL. When that slot holds a value (3.11's `[method, self, args]`
and, e.g., the `with` exit call `CALL 2` on `[exit, None, None, None]`), ZBC calls it with one more
argument.

Every lowering is checked against `dis.stack_effect`, so a mistake here is a `FrontendError`, not
a wrongly translated program.
"""

from __future__ import annotations

import dis
import types
from typing import Any

from zir.errors import FrontendError
from zir.frontend import versions as v
from zir.frontend.decode import PyInstr, frontend_error
from zir.ops import OPS, ZBC_OPS, ZArg

State = tuple[bool, ...]
NULL, VAL = True, False
#: A ZBC instruction before layout: (mnemonic, argument); a jump's argument is a CPython
#: instruction index until `zir.frontend.translate` lays the code out.
ZOp = tuple[str, int | None]


class Lowered:
    """The ZBC for one CPython instruction and the stack shapes after it (a slotted plain class:
    one is made per reachable instruction)."""

    __slots__ = ("zops", "fall", "branch")

    def __init__(self, zops: tuple[ZOp, ...], fall: State | None, branch: State | None = None) -> None:
        self.zops = zops
        self.fall = fall  #: shape on the fall-through path, None when control never falls through
        self.branch = branch  #: shape on the jump path, for jumps

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Lowered)
                and (self.zops, self.fall, self.branch) == (other.zops, other.fall, other.branch))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Lowered(zops={self.zops!r}, fall={self.fall!r}, branch={self.branch!r})"


#: Opcodes `Lowerer._check` may skip (all or some of the time): PRECALL, RETURN_GENERATOR and the
#: POP_TOP after it, SEND and the rest of its loop.
_UNCHECKED = frozenset({"PRECALL", "RETURN_GENERATOR", "POP_TOP", "SEND", "YIELD_VALUE",
                        "JUMP_BACKWARD_NO_INTERRUPT"})

#: What may come before a generator's RETURN_GENERATOR (cells are made before the generator is).
_PROLOGUE = frozenset({"COPY_FREE_VARS", "MAKE_CELL", "NOP", "EXTENDED_ARG", "CACHE"})


def _zbc(ir_name: str) -> str:
    mnemonic = OPS[ir_name].zbc
    if mnemonic is None:
        raise AssertionError(f"zir operation {ir_name!r} has no ZBC form")
    return mnemonic


#: The stack effect of a ZBC instruction, by (mnemonic, argument), from the opcode table:
#: (items popped, pushed on fall-through, pushed on the jump path or None, terminator).
#: Memoized because the table's rows compute counts with small functions and the same pairs
#: recur. A jump's argument is a place, not a count, so jumps have one entry per mnemonic (checked
#: below).
_Step = tuple[int, int, "int | None", bool]
_STEPS: dict[ZOp, _Step] = {}


def _step(zop: ZOp) -> _Step:
    step = _STEPS.get(zop)
    if step is None:
        op, arg = zop
        row = ZBC_OPS[op]
        if row.zarg is ZArg.JUMP and arg is not None:
            return _step((op, None))
        a = arg or 0
        branch = None
        if row.zarg is ZArg.JUMP:
            branch = (row.branch_pushes if row.branch_pushes is not None else row.pushes)(a)
        step = _STEPS[zop] = (row.pops(a), row.pushes(a), branch, row.terminator)
    return step


def _jump_counts_fixed() -> bool:
    """Do the counts of every jump row ignore the argument (the target)? `_step` relies on it."""
    for row in ZBC_OPS.values():
        if row.zarg is ZArg.JUMP:
            fns = [f for f in (row.pops, row.pushes, row.branch_pushes) if f is not None]
            if any(len({f(a) for a in (0, 1, 2, 255, 1 << 20)}) != 1 for f in fns):
                return False
    return True


assert _jump_counts_fixed(), "a ZBC jump row's stack counts depend on its target"

#: One-to-one lowerings whose stack counts were checked against CPython's: (opcode, CPython
#: argument, ZBC argument or None for a jump) -> step. The check depends on nothing else.
_CHECKED: dict[tuple[int, int | None, int | None], _Step] = {}

#: CPython's stack effect of an instruction, by (opcode, argument): (fall-through, jump).
_CPY_EFFECTS: dict[tuple[int, int | None], tuple[int, int]] = {}
_PRECALL = dis.opmap["PRECALL"]
_CALL = dis.opmap["CALL"]


def _cpython_effect(opcode: int, arg: int | None) -> tuple[int, int]:
    key = (opcode, arg)
    effect = _CPY_EFFECTS.get(key)
    if effect is None:
        fall = dis.stack_effect(opcode, arg, jump=False)
        if opcode == _CALL:  # PRECALL's 3.11 effect (-n) is accounted to the CALL that follows
            fall += dis.stack_effect(_PRECALL, arg, jump=False)
        effect = _CPY_EFFECTS[key] = (fall, dis.stack_effect(opcode, arg, jump=True))
    return effect


#: CPython opcodes lowered to one ZBC instruction of the same argument meaning (PASSTHROUGH and
#: RENAMED), by name -> (ZBC mnemonic, argument kind). The three that can also be part of a
#: generator's prologue or a SEND loop take the general path.
_ONE_TO_ONE: dict[str, tuple[str, ZArg]] = {
    **{name: (name, ZBC_OPS[name].zarg) for name in v.PASSTHROUGH},
    **{name: (_zbc(ir), ZBC_OPS[_zbc(ir)].zarg) for name, ir in v.RENAMED.items()
       if OPS[ir].zbc is not None},
}
#: The same for generator and coroutine bodies, where POP_TOP after RETURN_GENERATOR and the
#: YIELD_VALUE and JUMP_BACKWARD_NO_INTERRUPT of a SEND loop vanish: those take the general path.
_ONE_TO_ONE_SUSPENDING = {name: one for name, one in _ONE_TO_ONE.items()
                          if name not in ("POP_TOP", "YIELD_VALUE", "JUMP_BACKWARD_NO_INTERRUPT")}
#: Code kinds that can hold RETURN_GENERATOR or SEND.
_SUSPENDING = v.CO_GENERATOR | v.CO_COROUTINE | v.CO_ASYNC_GENERATOR | v.CO_ITERABLE_COROUTINE


def _reach(state: State, n: int) -> int:
    """How many values (not NULLs) lie in the top `n` slots."""
    return n - sum(state[len(state) - n:])


class Lowerer:
    """Lowers the instructions of one code object; holds the tables they index."""

    def __init__(self, pycode: types.CodeType, instrs: list[PyInstr], consts: list[Any]) -> None:
        self.pycode = pycode
        self.instrs = instrs
        self.consts = consts  # the Code's constants; lowering may append to it (None for CALL_EX)
        self.names = {name: i for i, name in reversed(list(enumerate(pycode.co_names)))}
        cell_names = pycode.co_cellvars + pycode.co_freevars
        if len(set(cell_names)) != len(cell_names):
            raise frontend_error(pycode, pycode.co_firstlineno, "a name is both a cell and a free variable")
        self.cells = {name: i for i, name in enumerate(cell_names)}
        flags = pycode.co_flags
        self.one_to_one = _ONE_TO_ONE_SUSPENDING if flags & _SUSPENDING else _ONE_TO_ONE
        self.nparams = (pycode.co_argcount + pycode.co_kwonlyargcount + bool(flags & v.CO_VARARGS)
                        + bool(flags & v.CO_VARKEYWORDS))

    # -- errors ------------------------------------------------------------------------------------

    def error(self, ins: PyInstr, what: str) -> FrontendError:
        """A refusal at `ins` for something the front end does not understand (never guessed at)."""
        return frontend_error(self.pycode, ins.line, f"cannot translate: {what}", ins.opname)

    # -- the shape of ZBC instructions, from the opcode table -------------------------------------

    def _effect(self, ins: PyInstr, state: State, zop: ZOp) -> tuple[State | None, State | None]:
        n, pushes, branch_pushes, terminator = _step(zop)
        size = len(state)
        if n:
            if size < n:
                raise self.error(ins, f"stack underflow ({zop[0]} needs {n} items, has {size})")
            if NULL in state[size - n:]:
                raise self.error(ins, f"{zop[0]} would consume a NULL stack slot")
            base = state[:size - n]
        else:
            base = state
        fall = None if terminator else base + (VAL,) * pushes
        branch = None if branch_pushes is None else base + (VAL,) * branch_pushes
        return fall, branch

    def _emit(self, ins: PyInstr, state: State, *zops: ZOp) -> Lowered:
        """Lower to `zops`, whose stack shapes come from the opcode table (only the last may jump)."""
        fall: State | None = state
        branch: State | None = None
        for zop in zops:
            if fall is None:
                raise self.error(ins, "instruction after a terminator")
            fall, branch = self._effect(ins, fall, zop)
        return Lowered(tuple(zops), fall, branch)

    def _arg(self, ins: PyInstr, zarg: ZArg) -> int | None:
        """The ZBC argument for a CPython argument of the same meaning."""
        if zarg is ZArg.NONE:
            return None
        if zarg is ZArg.JUMP:
            return ins.target
        if zarg is ZArg.NAME:
            if ins.argval not in self.names:
                raise self.error(ins, f"name {ins.argval!r} is not in co_names")
            return self.names[ins.argval]
        if zarg is ZArg.CELL:
            if ins.argval not in self.cells:
                raise self.error(ins, f"{ins.argval!r} is neither a cell nor a free variable")
            return self.cells[ins.argval]
        if zarg is ZArg.LOCAL:
            varnames = self.pycode.co_varnames
            if ins.arg is None or ins.arg >= len(varnames) or varnames[ins.arg] != ins.argval:
                raise self.error(ins, f"local {ins.argval!r} is not co_varnames[{ins.arg}]")
            return ins.arg
        if zarg is ZArg.CONST:
            if ins.arg is None or not 0 <= ins.arg < len(self.pycode.co_consts):
                raise self.error(ins, "constant index out of range")
            return ins.arg
        return ins.arg  # COUNT and IMM: the same number in both

    # -- the dispatcher ----------------------------------------------------------------------------

    def lower(self, ins: PyInstr, state: State) -> Lowered:
        """The ZBC for `ins` entered with stack shape `state`, checked against `dis.stack_effect`."""
        name = ins.opname
        if name in v.DROPPED and name != "PRECALL":
            low = Lowered((), state)  # nothing to lower; only CPython's effect (0) is checked
            fall_effect, jump_effect = _cpython_effect(ins.opcode, ins.arg)
            if fall_effect == 0:
                return low
            self._check(ins, state, low)  # raises the mismatch
        one = self.one_to_one.get(name)
        if one is not None:  # the common case: one ZBC instruction, argument re-indexed
            op, zarg = one
            arg = self._arg(ins, zarg)
            # The stack counts of a one-to-one lowering, once checked against CPython's effect for
            # this (opcode, argument), hold wherever it occurs: only the NULL slots need a look.
            step = _CHECKED.get((ins.opcode, ins.arg, None if zarg is ZArg.JUMP else arg))
            if step is None:
                step = self._checked_step(ins, (op, arg), zarg)
            if step is not None:
                n, pushes, branch_pushes, terminator = step
                size = len(state)
                if size >= n and NULL not in state[size - n:]:
                    base = state[:size - n] if n else state
                    return Lowered(((op, arg),), None if terminator else base + (VAL,) * pushes,
                                   None if branch_pushes is None else base + (VAL,) * branch_pushes)
            low = self._emit(ins, state, (op, arg))  # raises the underflow or NULL error
        else:
            low = self._lower(ins, state)
        self._check(ins, state, low)
        return low

    def _checked_step(self, ins: PyInstr, zop: ZOp, zarg: ZArg) -> _Step | None:
        """The step of one-to-one `zop` when its counts match CPython's effect (then memoized), else
        None (the general path then reports the mismatch where it is met)."""
        step = _step(zop)
        n, pushes, branch_pushes, terminator = step
        fall_effect, jump_effect = _cpython_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT
                                                   else None)
        if (not terminator and pushes - n != fall_effect) or (branch_pushes is not None
                                                              and branch_pushes - n != jump_effect):
            return None
        _CHECKED[(ins.opcode, ins.arg, None if zarg is ZArg.JUMP else zop[1])] = step
        return step

    def _lower(self, ins: PyInstr, state: State) -> Lowered:
        name = ins.opname
        if name in v.DROPPED or self._after_return_generator(ins) or self._in_send_loop(ins):
            return Lowered((), state)
        if name in v.PASSTHROUGH:
            return self._emit(ins, state, (name, self._arg(ins, ZBC_OPS[name].zarg)))
        if name in v.RENAMED:
            op = _zbc(v.RENAMED[name])
            return self._emit(ins, state, (op, self._arg(ins, ZBC_OPS[op].zarg)))
        if name in v.DEPTH_ARG:
            return self._lower_reach(ins, state, v.DEPTH_ARG[name])
        handler = getattr(self, "_lower_" + name.lower(), None)
        if name in v.SPECIAL and handler is not None:
            result: Lowered = handler(ins, state)
            return result
        raise self.error(ins, "unknown opcode")

    def _check(self, ins: PyInstr, state: State, low: Lowered) -> None:
        name = ins.opname
        if name in _UNCHECKED:
            if name == "PRECALL":
                return  # its 3.11 effect (-n) is accounted to the CALL that follows
            if name == "RETURN_GENERATOR" or self._after_return_generator(ins):
                return  # both vanish: the Code's flag makes the generator (see _lower_return_generator)
            if name == "SEND" or self._in_send_loop(ins):
                return  # the loop is one YIELD_FROM: checked against SEND's exit path in _lower_send
        fall_effect, jump_effect = _cpython_effect(ins.opcode, ins.arg if ins.opcode >= dis.HAVE_ARGUMENT
                                                   else None)
        if low.fall is not None and len(low.fall) - len(state) != fall_effect:
            raise self.error(ins, f"stack effect {len(low.fall) - len(state)}, CPython says {fall_effect}")
        if low.branch is not None:
            expected = jump_effect
            if len(low.branch) - len(state) != expected:
                raise self.error(ins, f"jump stack effect {len(low.branch) - len(state)}, CPython says "
                                 f"{expected}")

    # -- reaches down the stack --------------------------------------------------------------------

    def _lower_reach(self, ins: PyInstr, state: State, popped: int) -> Lowered:
        n = ins.arg or 0
        if ins.opname in ("COPY", "SWAP"):
            if n < 1 or n > len(state) or state[-n] or state[-1]:
                raise self.error(ins, f"{ins.opname} {n} reaches a NULL slot or past the stack")
            zarg = _reach(state, n)
            after = state + (VAL,) if ins.opname == "COPY" else state
            return Lowered(((ins.opname, zarg),), after)
        below = state[:len(state) - popped]
        if n < 1 or n > len(below) or below[-n]:
            raise self.error(ins, f"{ins.opname} {n} reaches a NULL slot or past the stack")
        return self._emit(ins, state, (ins.opname, _reach(below, n)))

    # -- NULL slots and calls ----------------------------------------------------------------------

    def _lower_push_null(self, ins: PyInstr, state: State) -> Lowered:
        return Lowered((), state + (NULL,))

    def _lower_load_global(self, ins: PyInstr, state: State) -> Lowered:
        low = self._emit(ins, state, ("LOAD_GLOBAL", self._arg(ins, ZArg.NAME)))
        if (ins.arg or 0) & 1:  # 3.11: the low bit asks for a NULL under the global
            return Lowered(low.zops, state + (NULL, VAL))
        return low

    def _lower_load_method(self, ins: PyInstr, state: State) -> Lowered:
        low = self._emit(ins, state, ("LOAD_ATTR", self._arg(ins, ZArg.NAME)))
        assert low.fall is not None
        return Lowered(low.zops, low.fall[:-1] + (NULL, VAL))

    def _prev(self, index: int) -> PyInstr | None:
        """The instruction before `index`, skipping EXTENDED_ARG prefixes."""
        i = index - 1
        while i >= 0 and self.instrs[i].opname == "EXTENDED_ARG":
            i -= 1
        return self.instrs[i] if i >= 0 else None

    def _next(self, index: int) -> PyInstr | None:
        """The instruction after `index`, skipping EXTENDED_ARG prefixes."""
        i = index + 1
        while i < len(self.instrs) and self.instrs[i].opname == "EXTENDED_ARG":
            i += 1
        return self.instrs[i] if i < len(self.instrs) else None

    # -- generators and coroutines ----------------------------------------------------------------

    def _after_return_generator(self, ins: PyInstr) -> bool:
        if ins.opname != "POP_TOP":
            return False
        prev = self._prev(ins.index)
        return prev is not None and prev.opname == "RETURN_GENERATOR"

    def _lower_return_generator(self, ins: PyInstr, state: State) -> Lowered:
        # 3.11 opens a generator or coroutine body with RETURN_GENERATOR; POP_TOP (dropping the
        # first value sent in). In ZBC the Code's "generator"/"coroutine" flag says that calling it
        # makes the suspended frame, so both go; the POP_TOP is recognised in `lower`.
        nxt = self._next(ins.index)
        before = {i.opname for i in self.instrs[:ins.index]}
        if not before <= _PROLOGUE or nxt is None or nxt.opname != "POP_TOP":
            raise self.error(ins, "RETURN_GENERATOR that does not open the body with POP_TOP")
        return Lowered((), state)

    def _in_send_loop(self, ins: PyInstr) -> bool:
        """Is `ins` the YIELD_VALUE or the JUMP_BACKWARD_NO_INTERRUPT of a SEND loop?"""
        if ins.opname == "YIELD_VALUE":
            prev = self._prev(ins.index)
            return prev is not None and prev.opname == "SEND"
        if ins.opname == "JUMP_BACKWARD_NO_INTERRUPT":
            return ins.target is not None and self.instrs[ins.target].opname == "SEND"
        return False

    def _lower_send(self, ins: PyInstr, state: State) -> Lowered:
        # 3.11's delegation loop `SEND end; YIELD_VALUE; RESUME; JUMP_BACKWARD_NO_INTERRUPT` (and
        # `end` right after it) is one YIELD_FROM, which suspends as often as the iterator yields;
        # the loop's other instructions vanish (`_in_send_loop`) and control falls through to `end`.
        loop: list[PyInstr | None] = [self._next(ins.index)]
        for _ in range(2):
            last = loop[-1]
            loop.append(self._next(last.index) if last is not None else None)
        names = [i.opname if i is not None else None for i in loop]
        jump = loop[2]
        # `end` may carry an EXTENDED_ARG prefix, which is then where SEND jumps
        if (names != ["YIELD_VALUE", "RESUME", "JUMP_BACKWARD_NO_INTERRUPT"] or jump is None
                or jump.target != ins.index or jump.index + 1 != ins.target):
            raise self.error(ins, "SEND outside 3.11's loop SEND/YIELD_VALUE/RESUME/"
                                  "JUMP_BACKWARD_NO_INTERRUPT")
        low = self._emit(ins, state, ("YIELD_FROM", None))
        expected = dis.stack_effect(ins.opcode, ins.arg, jump=True)
        if low.fall is None or len(low.fall) - len(state) != expected:
            raise self.error(ins, "YIELD_FROM does not match SEND's exit stack effect")
        return low

    def _lower_get_anext(self, ins: PyInstr, state: State) -> Lowered:
        # [aiter] -> [aiter, awaitable]: ZBC's GET_ANEXT pops the iterator, so copy it first
        return self._emit(ins, state, ("COPY", 1), ("GET_ANEXT", None))

    def _lower_before_async_with(self, ins: PyInstr, state: State) -> Lowered:
        # [mgr] -> [bound __aexit__, mgr.__aenter__()], with BEFORE_ASYNC_WITH's checks in AEXIT_OF
        return self._emit(ins, state, ("COPY", 1), ("AEXIT_OF", None), ("SWAP", 2), ("AENTER", None))

    def _lower_kw_names(self, ins: PyInstr, state: State) -> Lowered:
        precall = self._next(ins.index)
        call = self._next(precall.index) if precall is not None else None
        if precall is None or precall.opname != "PRECALL" or call is None or call.opname != "CALL":
            raise self.error(ins, "KW_NAMES not followed by PRECALL, CALL")
        return Lowered((), state)  # the CALL pushes the names

    def _lower_call(self, ins: PyInstr, state: State) -> Lowered:
        n = ins.arg or 0
        precall = self._prev(ins.index)
        if precall is None or precall.opname != "PRECALL" or precall.arg != ins.arg:
            raise self.error(ins, "CALL without its PRECALL")
        kw = self._prev(precall.index)
        kwnames = kw.arg if kw is not None and kw.opname == "KW_NAMES" else None
        if len(state) < n + 2 or any(state[len(state) - n - 1:]):
            raise self.error(ins, f"CALL {n} on a stack without a callable and {n} arguments")
        # 3.11: [NULL, callable, args] calls callable(args); [method, self, args] calls method(self, args)
        zn = n if state[-n - 2] else n + 1
        after = state[:len(state) - n - 2] + (VAL,)
        if kwnames is None:
            return Lowered((("CALL", zn),), after)
        names = self.pycode.co_consts[kwnames]
        if not isinstance(names, tuple) or len(names) > zn or not all(isinstance(k, str) for k in names):
            raise self.error(ins, f"KW_NAMES constant {names!r} does not fit CALL {n}")
        return Lowered((("LOAD_CONST", kwnames), ("CALL_KW", zn)), after)

    def _lower_call_function_ex(self, ins: PyInstr, state: State) -> Lowered:
        has_kwargs = bool((ins.arg or 0) & 1)
        taken = 3 + has_kwargs  # NULL, callable, args tuple[, kwargs dict]
        if len(state) < taken or any(state[len(state) - taken + 1:]) or not state[-taken]:
            raise self.error(ins, "CALL_FUNCTION_EX without [NULL, callable, args] on the stack")
        after = state[:len(state) - taken] + (VAL,)
        if has_kwargs:
            return Lowered((("CALL_EX", None),), after)
        return Lowered((("LOAD_CONST", self.const_index_none()), ("CALL_EX", None)), after)

    def const_index_none(self) -> int:
        """The index of the constant None, appended to the constants when missing."""
        for i, c in enumerate(self.consts):
            if c is None:
                return i
        self.consts.append(None)
        return len(self.consts) - 1

    # -- cells -------------------------------------------------------------------------------------

    def _lower_make_cell(self, ins: PyInstr, state: State) -> Lowered:
        # The VM makes empty cells for every cellvar at frame start; a parameter that is a cell gets
        # its argument copied in here, as 3.11's MAKE_CELL does with the local's initial value.
        cell = self._arg(ins, ZArg.CELL)
        varnames = self.pycode.co_varnames
        if ins.argval not in varnames:
            return Lowered((), state)
        local = varnames.index(ins.argval)
        if local >= self.nparams:
            raise self.error(ins, f"MAKE_CELL of local {ins.argval!r}, which is not a parameter")
        return self._emit(ins, state, ("LOAD_FAST", local), ("STORE_DEREF", cell))

    # -- operator tables ---------------------------------------------------------------------------

    def _table(self, ins: PyInstr, state: State, table: tuple[str, ...]) -> Lowered:
        arg = ins.arg or 0
        if not 0 <= arg < len(table):
            raise self.error(ins, f"argument {arg} is outside the operator table")
        return self._emit(ins, state, (_zbc(table[arg]), None))

    def _lower_binary_op(self, ins: PyInstr, state: State) -> Lowered:
        return self._table(ins, state, v.BINARY_OP_OPS)

    def _lower_compare_op(self, ins: PyInstr, state: State) -> Lowered:
        return self._table(ins, state, v.COMPARE_OP_OPS)

    def _lower_is_op(self, ins: PyInstr, state: State) -> Lowered:
        return self._table(ins, state, v.IS_OP_OPS)

    def _lower_contains_op(self, ins: PyInstr, state: State) -> Lowered:
        return self._table(ins, state, v.CONTAINS_OP_OPS)
