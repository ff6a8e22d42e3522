"""`zir.stackify(f) -> Code`: IR (not in SSA form) back to ZBC, for the stack VM at O1/O2.

Every Var becomes a local of the new code object (parameters keep their slots, names and order).
A value used once, by a later instruction of the same block, and dead after that use, stays on the
operand stack instead of going through a STORE_FAST/LOAD_FAST pair, as LLVM's WebAssembly back end
does (`WebAssemblyRegStackify.cpp`: single-use definitions are folded into the expression tree of
their user). Concretely, for each instruction K the operands are matched right to left against
the instructions just before it: an operand defined by the instruction immediately before the
current tree, read once by K, dead after K (liveness from `zir.analysis`, exception edges
included), and neither read nor written in between, is left on the stack, and the walk continues
before that operand's own tree. Operands that are not stacked are locals or constants; their loads
are placed between the stacked trees in operand order. Moving a load of a local earlier or later
is safe because the instructions it moves across only make stacked values, never that local's.
Results nobody reads are popped; dead `const`/`copy` instructions are dropped.

Control flow: blocks are laid out in the function's order, `br` to the next block falls through,
`cbr` becomes POP_JUMP_IF_FALSE/TRUE (plus JUMP when neither target is next). Where ZBC has one
instruction for an IR pair, the pair is fused: `is %x, None` + `cbr` is POP_JUMP_IF_NONE/NOT_NONE,
`iter_next` + `cbr_more` is FOR_ITER, `unpack`/`unpack_star` + its `tuple_item`s is
UNPACK_SEQUENCE/UNPACK_EX. The stack is empty at every block boundary, so a handler block is
entered with just the exception on the stack (exception-table depth 0), which its `catch` stores.
"""

from __future__ import annotations

from typing import Any, NoReturn

from zir.analysis.liveness import liveness
from zir.bytecode.code import FLAG_NAMES, VARARGS, VARKEYWORDS, Code, Handler, ZInstr
from zir.errors import VerifyError
from zir.ir import UNBOUND, Block, Const, Function, Instr, Value, Var, const_key
from zir.ops import IR_OPS, OpDef, ZArg
from zir.printer import format_instr, format_name

__all__ = ["stackify"]

#: Operations whose Var operands may hold UNBOUND: they are loaded with LOAD_FAST_UNCHECKED.
_MAYBE_UNBOUND = frozenset({"copy", "check_bound"})
#: Result-defining operations that may be dropped entirely when the result is unused.
_DROPPABLE = frozenset({"const", "copy"})
#: Extra instructions after an operation's ZBC form that reduce what it leaves to its IR result.
_SWAP_POP = [("SWAP", 2), ("POP_TOP", None)]

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
        ranges: list[tuple[int, int, str]] = []
        for k, b in enumerate(blocks):
            start = len(self.out)
            self.label_at[b.label] = start
            nxt = blocks[k + 1].label if k + 1 < len(blocks) else None
            self._block(b, nxt, b.label in handlers)
            if b.handler is not None and len(self.out) > start:
                if ranges and ranges[-1][1] == start and ranges[-1][2] == b.handler:
                    ranges[-1] = (ranges[-1][0], len(self.out), b.handler)
                else:
                    ranges.append((start, len(self.out), b.handler))
        for at, label in self.fixups:
            self.out[at].arg = self.label_at[label]
        table = [Handler(s, e, self.label_at[h], 0, False) for s, e, h in ranges]
        return self._code(table)

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
            f.name, instrs=self.out, consts=self.consts, names=self.names, varnames=self.varnames,
            cellvars=list(f.cellvars), freevars=list(f.freevars), argcount=argcount,
            posonlyargcount=sig.posonly, kwonlyargcount=sig.kwonly, flags=frozenset(flags),
            defaults=src.defaults if src is not None else (),
            kwdefaults=dict(src.kwdefaults) if src is not None else {},
            handlers=table, filename=src.filename if src is not None else "<zir>",
            firstlineno=src.firstlineno if src is not None else _first_line(f),
            qualname=src.qualname if src is not None else f.name,
            pycode=src.pycode if src is not None else None)

    # one block ------------------------------------------------------------------------------------
    def _block(self, block: Block, nxt: str | None, is_handler: bool) -> None:
        instrs = block.instrs
        if is_handler and (not instrs or instrs[0].op != "catch"):
            raise VerifyError(f"{self.where}: handler block {format_name('^', block.label)} does not "
                              "start with catch")
        live = self.live
        index = live.index
        after = live.bits_after(block.label)
        dead = [ins.dest is not None and not after[k] >> index[ins.dest] & 1 for k, ins in enumerate(instrs)]
        templates: list[list[Value]] = []
        for k, ins in enumerate(instrs):
            if ins.op == "catch" and k != 0:
                self._fail(block, ins, "catch is not the first instruction of a handler block")
            if ins.op in _DROPPABLE and dead[k]:
                templates.append([])
            elif ins.op == "with_exit":
                # WITH_EXCEPT_START reads [exit, lasti, prev_exc, exc]; the middle two are unused.
                templates.append([ins.args[0], _NONE, _NONE, ins.args[1]])
            elif ins.op == "dict_merge":
                # DICT_MERGE 1 reads the callable two below the dict: [callable, args, dict, m].
                templates.append([ins.args[2], _NONE, ins.args[0], ins.args[1]])
            else:
                templates.append(ins.args)
        fused = self._fuse(block, templates, after)
        unpacks = self._fuse_unpacks(block, templates, after)
        # Results that never stay on the stack for a later user: the caught exception (it is on
        # the stack before any load could go below it) and unpacked items (pushed all at once).
        pinned = {0} if instrs and instrs[0].op == "catch" else set()
        for k, n in unpacks.items():
            pinned.update(range(k, k + n + 1))
        stacked, pre = self._plan(block, templates, dead, after, pinned)
        last = len(instrs) - 1
        for k, ins in enumerate(instrs):
            for user, group in reversed(pre[k]):
                for v in group:
                    self._load(v, instrs[user])
            if ins.op in _DROPPABLE and dead[k]:
                continue
            if k in unpacks:
                # UNPACK_SEQUENCE/UNPACK_EX push the items, first on top; the tuple_items that
                # follow only store them, in index order.
                if ins.op == "unpack":
                    self._put("UNPACK_SEQUENCE", unpacks[k], ins.line)
                else:
                    self._put("UNPACK_EX", ins.attrs["before"] | ins.attrs["after"] << 8, ins.line)
                continue
            if ins.op == "tuple_item" and k in pinned:
                pass
            elif fused is not None and k == last - 1:
                if fused == "iter":
                    self._jump("FOR_ITER", instrs[last].targets[1], ins.line)
            elif fused is not None and k == last:
                self._fused_branch(ins, fused, nxt)
            else:
                self._emit_body(block, ins, nxt)
            d = ins.dest
            if d is not None and not stacked[k]:
                if dead[k]:
                    self._put("POP_TOP", None, ins.line)
                else:
                    self._put("STORE_FAST", self.local_index[d], ins.line)
            if fused == "iter" and k == last - 1:
                self._put("POP_TOP", None, ins.line)  # the iterator FOR_ITER kept

    def _fuse_unpacks(self, block: Block, templates: list[list[Value]], after: list[int]) -> dict[int, int]:
        """`%t = unpack %s {count=n}` followed by `tuple_item %t` for indices 0..n-1, with the tuple
        dead afterwards, is UNPACK_SEQUENCE n (UNPACK_EX for `unpack_star`). Returns the
        positions of such `unpack`s with their item counts; the items' templates become empty."""
        out: dict[int, int] = {}
        instrs = block.instrs
        index = self.live.index
        for k, ins in enumerate(instrs):
            if ins.op == "unpack":
                n = ins.attrs["count"]
            elif ins.op == "unpack_star":
                n = ins.attrs["before"] + ins.attrs["after"] + 1
            else:
                continue
            t = ins.dest
            items = instrs[k + 1:k + 1 + n]
            if t is None or len(items) != n or not all(
                    q.op == "tuple_item" and q.args == [t] and q.attrs.get("index") == j
                    and (q.dest != t or j == n - 1) for j, q in enumerate(items)):
                continue
            if after[k + n] >> index[t] & 1 and (not items or items[-1].dest != t):
                continue
            out[k] = n
            for j in range(k + 1, k + 1 + n):
                templates[j] = []
        return out

    def _fuse(self, block: Block, templates: list[list[Value]], after: list[int]) -> str | None:
        """Fuse a block's final test with its branch where ZBC has one instruction for both:
        `%c = is %x, None; cbr %c` becomes POP_JUMP_IF_NONE (or NOT_NONE) on `%x`, and
        `%v = iter_next %it; cbr_more %v` becomes FOR_ITER (the iterator is loaded, FOR_ITER keeps
        it and pushes the item, which is stored, then the iterator is popped; when exhausted
        FOR_ITER pops it and jumps). Returns the kind of fusion ("is", "is_not", "iter") or None.
        `templates` is updated: the fused test no longer loads None / the branch reads nothing."""
        instrs = block.instrs
        if len(instrs) < 2:
            return None
        term, prod = instrs[-1], instrs[-2]
        if not term.args or prod.dest is None or term.args[0] != prod.dest:
            return None
        bit = 1 << self.live.index[prod.dest]
        if term.op == "cbr" and prod.op in ("is", "is_not"):
            if after[-1] & bit or self.live.exception_bits(block.label) & bit:
                return None
            a, b = prod.args
            x = a if b == _NONE else b if a == _NONE else None
            if x is None:
                return None
            templates[-2] = [x]
            return prod.op
        if term.op == "cbr_more" and prod.op == "iter_next":
            # FOR_ITER leaves nothing for the exhausted path: the item must be dead there.
            if self.live.in_bits(term.targets[1]) & bit:
                return None
            templates[-1] = []
            return "iter"
        return None

    def _fused_branch(self, ins: Instr, kind: str, nxt: str | None) -> None:
        if kind == "iter":
            if ins.targets[0] != nxt:
                self._jump("JUMP", ins.targets[0], ins.line)
        elif kind == "is":
            self._cond_jump("POP_JUMP_IF_NONE", "POP_JUMP_IF_NOT_NONE", ins, nxt)
        else:
            self._cond_jump("POP_JUMP_IF_NOT_NONE", "POP_JUMP_IF_NONE", ins, nxt)

    def _cond_jump(self, if_true: str, if_false: str, ins: Instr, nxt: str | None) -> None:
        """A two-way branch on the top of the stack: `if_true` jumps when the test holds."""
        t, e = ins.targets
        if e == nxt and t != nxt:
            self._jump(if_true, t, ins.line)
        else:
            self._jump(if_false, e, ins.line)
            if t != nxt:
                self._jump("JUMP", t, ins.line)

    def _plan(self, block: Block, templates: list[list[Value]], dead: list[bool], after: list[int],
              pinned: set[int]) -> tuple[list[bool], list[list[tuple[int, list[Value]]]]]:
        """Which results stay on the stack, and the loads to place before each instruction: groups
        `(user, values)` in the order they were planned (the last planned belongs to the outermost
        tree, so its loads go first).

        The result `v` of instruction p stays on the stack for its user K (p just before K's tree
        so far) when K reads `v` once, the value is dead after K (or K redefines `v`), nothing
        between p and K reads or writes `v`, and no instruction between them that may raise can
        carry `v` into the block's handler (the handler would read the local, never stored)."""
        instrs = block.instrs
        n = len(instrs)
        stacked = [False] * n
        tree_start = list(range(n))
        pre: list[list[tuple[int, list[Value]]]] = [[] for _ in range(n)]
        index = self.live.index
        exc = self.live.exception_bits(block.label)
        for k in range(n):
            tmpl = templates[k]
            p = k - 1
            starts: list[int | None] = [None] * len(tmpl)
            for j in range(len(tmpl) - 1, -1, -1):
                v = tmpl[j]
                if p < 0 or not isinstance(v, Var):
                    continue
                producer = instrs[p]
                if producer.dest != v or p in pinned or dead[p] or tmpl.count(v) != 1:
                    continue
                bit = 1 << index[v]
                if after[k] & bit and instrs[k].dest != v:
                    continue
                between = instrs[p + 1:k]
                if any(q.dest == v or v in q.args for q in between):
                    continue
                if exc & bit and any(q.opdef.may_raise for q in instrs[p + 1:k + 1]):
                    continue
                stacked[p] = True
                starts[j] = tree_start[p]
                p = tree_start[p] - 1
            group: list[Value] = []
            for j, v in enumerate(tmpl):
                s = starts[j]
                if s is not None:
                    if group:
                        pre[s].append((k, group))
                    group = []
                else:
                    group.append(v)
            if group:
                pre[k].append((k, group))
            tree_start[k] = p + 1
        return stacked, pre

    # emitting -------------------------------------------------------------------------------------
    def _put(self, op: str, arg: int | None, line: int | None) -> None:
        self.out.append(ZInstr(op, arg, line))

    def _jump(self, op: str, label: str, line: int | None) -> None:
        self.fixups.append((len(self.out), label))
        self.out.append(ZInstr(op, 0, line))

    def _load(self, v: Value, user: Instr) -> None:
        """Push operand `v` of `user`."""
        ins = user
        if isinstance(v, Var):
            op = "LOAD_FAST_UNCHECKED" if ins.op in _MAYBE_UNBOUND else "LOAD_FAST"
            self._put(op, self.local_index[v], ins.line)
        elif v.value is UNBOUND:
            self._put("LOAD_UNBOUND", None, ins.line)
        else:
            self._put("LOAD_CONST", self._const(v.value), ins.line)

    def _emit_body(self, block: Block, ins: Instr, nxt: str | None) -> None:
        """The ZBC form of `ins`, its operands already on the stack; leaves its result on top."""
        op = ins.op
        line = ins.line
        if op in ("const", "copy", "catch"):
            return
        if op == "br":
            if ins.targets[0] != nxt:
                self._jump("JUMP", ins.targets[0], line)
            return
        if op == "cbr":
            self._cond_jump("POP_JUMP_IF_TRUE", "POP_JUMP_IF_FALSE", ins, nxt)
            return
        if op == "cbr_more":
            t, e = ins.targets
            self._jump("POP_JUMP_IF_EXHAUSTED", e, line)
            if t != nxt:
                self._jump("JUMP", t, line)
            return
        for zop, arg in self._body(block, ins):
            self._put(zop, arg, line)

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


_NONE = Const(None)


def _first_line(f: Function) -> int:
    for _, ins in f.instructions():
        if ins.line is not None:
            return ins.line
    return 1

