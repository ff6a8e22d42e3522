"""Python source for one register-code instruction.

`InstrWriter.instr(i)` returns the statements that do what instruction `i` means (see
`zir.regcode`), as `(relative indent, text)` pairs. Registers are Python locals `r<N>`, frame slots
`s<N>`, cells `c<N>` (cellvars then freevars); every other name the code uses starts with `_` and is
bound by the generated function's defaults (see `vm.codegen.support`).

The operators come from the opcode table: a row with a Python `symbol` is written as that operator
(`r0 = r1 + r2`, `r0 = r1 < r2`, `if r1 < r2:`), which is exactly what the row's `impl` computes; an
in-place row (`iadd`, symbol `+=`) is written as an augmented assignment when it can be
(`r1 += r2`), else through the row's callable. Rows with an `impl` and no symbol are called
through it (the table's generic rule: `impl(*operands, *attribute values)`), except a few written
as Python syntax because that is faster and means the same (`o.name`, `c[k]`, displays). Rows
without an `impl` are the ones spelt out here by name; nothing else lists opcodes.

An instruction that raises writes nothing: every form evaluates completely before it assigns its
destination (an augmented assignment `r1 = r2; r1 += r3` is only used where the destination is dead
if the instruction raises, i.e. in blocks without a handler).
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any

from vm.codegen.support import HELPERS
from vm.generators import VMGenerator, items
from zir.errors import VMError
from zir.ir import UNBOUND
from zir.ops import EXHAUSTED, OPS, OpDef
from zir.regcode import REG_OPS, Imm, Reg, RInstr, Slot

__all__ = ["InstrWriter", "Lines", "inplace_base"]

#: Statements with their indent relative to the instruction's own indent.
Lines = list[tuple[int, str]]

_COMPARE_SYMBOLS = frozenset({"<", "<=", "==", "!=", ">", ">=", "in", "not in", "is", "is not"})


def _at(i: RInstr) -> str:
    return f" (line {i.line})" if i.line is not None else ""


def inplace_base(row: OpDef) -> OpDef | None:
    """The binary row an in-place row updates with (`iadd` -> `add`), or None."""
    base = OPS.get(row.name[1:]) if row.name.startswith("i") else None
    if base is not None and base.symbol is not None and row.symbol == base.symbol + "=":
        return base
    return None


def _identifier(name: Any) -> bool:
    return isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)


class InstrWriter:
    """Writes instructions of one register-code function; collects the names the code needs.

    `consts` maps a constant's identity to its name `_k<N>`; `values` holds every name's value
    (constants here, helpers added by `vm.codegen.support`); `needs` records which frame state the
    prologue must load (globals `_G`, builtins `_B`)."""

    def __init__(self, cell_names: list[str], cellvars: int) -> None:
        self.cell_index = {name: k for k, name in enumerate(cell_names)}
        self.ncellvars = cellvars
        self.values: dict[str, Any] = {}
        self.used: set[str] = set()
        self._const_names: dict[int, str] = {}
        self.needs_globals = False
        self.needs_builtins = False
        #: Set by the emitter for the block being written: does it have a handler?
        self.handled = False
        #: Temporaries holding call arguments (a pooled frame clears them between calls).
        self.temps: set[str] = set()
        #: Has a call (a `yield` to the trampoline) been written?
        self.yields = False
        #: Is the code profiled (a leaf called in place reports its exceptions to its profile)?
        self.profiled = False
        #: Are frames pooled (a call site takes its callee's frame from the pool)?
        self.pooled = False

    def site_cache(self) -> str:
        """A new call-site cache, a list bound to a fresh `_c<N>` name: [leaf function, its
        generated function, its frame record, {function: resolution} memo, VM function, its pool's
        free list (None without pools), its frame maker, host function] (see
        `vm.codegen.support`'s `_resolve`)."""
        name = f"_c{sum(1 for n in self.values if n.startswith('_c'))}"
        self.values[name] = [None, None, None, {}, None, None, None, None]
        return name

    def spawn_site(self) -> str:
        """A new SPAWN site cache, a list bound to a fresh `_sp<N>` name: [VM coroutine function, its
        pool's free list, its frame maker] (see `vm.spawn.spawn`)."""
        name = f"_sp{sum(1 for n in self.values if n.startswith('_sp'))}"
        self.values[name] = [None, None, None]
        return name

    # -- operands ----------------------------------------------------------------------------------

    def use(self, name: str) -> str:
        """Mark helper `name` as used by the code and return it."""
        if name not in HELPERS:
            raise KeyError(name)
        self.used.add(name)
        return name

    def const(self, value: Any) -> str:
        """A name bound to exactly this object (identity kept, as the stack VM keeps it)."""
        name = self._const_names.get(id(value))
        if name is None:
            name = f"_k{len(self._const_names)}"
            self._const_names[id(value)] = name
            self.values[name] = value
        return name

    def literal(self, value: Any) -> str:
        """Source text for constant `value`: an inline literal when its identity cannot matter."""
        if value is None or value is True or value is False:
            return repr(value)
        if value is UNBOUND:
            return self.use("_U")
        if value is EXHAUSTED:
            return self.use("_EXH")
        if type(value) is int and -5 <= value <= 256:  # CPython's cached small ints
            return f"({value})" if value < 0 else repr(value)
        if type(value) is str and value.isidentifier() and len(value) <= 64:
            return repr(value)  # interned by CPython's compiler, as in the original code object
        return self.const(value)

    def op(self, x: Any) -> str:
        """An operand's source text."""
        if isinstance(x, Reg):
            return f"r{x.n}"
        if isinstance(x, Slot):
            return f"s{x.n}"
        if isinstance(x, Imm):
            return self.literal(x.value)
        raise TypeError(f"not a register-code operand: {x!r}")

    def atom(self, x: Any) -> str:
        """An operand usable before `.name` or `[...]`."""
        text = self.op(x)
        return text if isinstance(x, (Reg, Slot)) or text.startswith("_") else f"({text})"

    def cell(self, name: str) -> str:
        return f"c{self.cell_index[name]}"

    # -- instructions ------------------------------------------------------------------------------

    def instr(self, i: RInstr) -> Lines:
        """Statements for a non-terminator instruction."""
        row = REG_OPS[i.op]
        special = _SPECIAL.get(i.op)
        if special is not None:
            return special(self, i)
        if row.symbol is not None and row.arity == 2 and row.defines:
            return self._binary(i, row)
        if row.symbol is not None and row.arity == 1 and row.defines:
            return self._unary(i, row)
        if row.impl is not None:
            # the table's generic rule: impl(*operands, *attribute values)
            fn = self.const(row.impl)
            args = [self.op(a) for a in i.args] + [self.literal(i.attrs[k]) for k in row.attrs]
            call = f"{fn}({', '.join(args)})"
            return [(0, f"{self.op(i.dest)} = {call}" if i.dest is not None else call)]
        raise VMError(f"the register VM cannot run '{i.op}' yet{_at(i)}")

    def condition(self, i: RInstr) -> str:
        """The Python condition of a two-way branch (true: first target)."""
        row = REG_OPS[i.op]
        if i.op == "cbr":
            return self.op(i.args[0])
        if i.op == "cbr_more":
            return f"{self.op(i.args[0])} is not {self.use('_EXH')}"
        if row.symbol is not None and row.arity == 2:
            return f"{self.op(i.args[0])} {row.symbol} {self.op(i.args[1])}"
        raise VMError(f"the register VM cannot branch with '{i.op}'{_at(i)}")

    def may_raise_condition(self, i: RInstr) -> bool:
        """Can evaluating the branch condition raise (it calls `__bool__` or a comparison)?"""
        return REG_OPS[i.op].may_raise

    def _binary(self, i: RInstr, row: OpDef) -> Lines:
        d = self.op(i.dest)
        a, b = self.op(i.args[0]), self.op(i.args[1])
        base = inplace_base(row)
        if base is None:
            return [(0, f"{d} = {a} {row.symbol} {b}")]
        if a == d:
            return [(0, f"{d} {row.symbol} {b}")]
        if not self.handled and b != d:
            # the destination is dead when this raises: nothing but a handler could read it
            return [(0, f"{d} = {a}; {d} {row.symbol} {b}")]
        return [(0, f"{d} = {self.const(row.impl)}({a}, {b})")]

    def _unary(self, i: RInstr, row: OpDef) -> Lines:
        d, a = self.op(i.dest), self.op(i.args[0])
        if i.op == "truth":
            return [(0, f"{d} = True if {a} else False")]
        sep = " " if row.symbol and row.symbol[-1].isalpha() else ""
        return [(0, f"{d} = {row.symbol}{sep}{a}")]

    # -- calls -------------------------------------------------------------------------------------

    def call_lines(self, dest: str, fn: str, args: str, kw: str, native: str,
                   direct: list[str] | None = None) -> Lines:
        """A call. Builtins (the commonest callees) are tested first and called here, unless they
        read the caller's frame or VM code is handling an exception (the host must see it): then
        through `_hcall`. Python functions, methods and VM functions go to the trampoline: with
        `direct` (the positional argument texts), the call site resolves them itself, once per
        function (`_resolve`, vm.codegen.support): a leaf is called right here, any other VM
        function gets its frame here (from its program's pool) and yields it, bound, a function
        that runs on the host is called right here as a builtin is; the rest yield `(callee,
        args, kwargs)`. Anything else (a class, a callable object) is called here."""
        ft, mt, vf, bft, fb, sup = (self.use(n) for n in ("_FT", "_MT", "_VF", "_BFT", "_FB", "_super"))
        self.temps.update(t for t in ("_a", "_k") if t in (args, kw))
        self.yields = True
        rt, hcall = self.use("_rt"), self.use("_hcall")
        vm_call = f"{dest} = yield ({fn}, {args}, {kw})"
        host = f"{dest} = {hcall}(_F, {fn}, {args}, {kw})"
        builtin: Lines = [(0, f"if _t is {bft}:"),
                          (1, f"if {fn} in {fb} or {rt}.handled is not None:"), (2, host),
                          (1, "else:"), (2, f"{dest} = {native}")]
        tail: Lines = [(0, f"elif {fn} is {sup} or {rt}.handled is not None:"), (1, host),
                       (0, "else:"), (1, f"{dest} = {native}")]
        if direct is None:
            return [(0, f"_t = type({fn})"), *builtin,
                    (0, f"elif _t is {ft} or _t is {mt} or _t is {vf}:"), (1, vm_call), *tail]
        n = len(direct)
        # methods have a cache of their own: a function called plainly at one time and as a
        # bound method at another takes different arguments
        cache, mcache = self.site_cache(), self.site_cache()
        resolve = self.use("_resolve")
        self.temps.update(("_m", "_fr"))
        tup = f"({', '.join(direct)}{',' if len(direct) == 1 else ''})"
        # the function this site called last comes first: no type dispatch at all
        out: Lines = [(0, f"if {fn} is {cache}[4]:"), *self._frame(dest, fn, cache, tup, 1),
                      (0, f"elif {fn} is {cache}[0]:"), *self._direct(dest, cache, direct, 1),
                      (0, "else:"), (1, f"_t = type({fn})")]
        out += [(1 + d, t) for d, t in builtin]
        # a host function (the site's memo knows it) is called here, as a builtin is: the
        # trampoline would only make the same call (`RegisterRuntime.host_call`)
        in_place: Lines = [(0, f"if {rt}.handled is not None:"), (1, host),
                           (0, "else:"), (1, f"{dest} = {native}")]
        inner: Lines = [
            (0, f"elif _t is {ft}:"),
            (1, f"if {fn} is not {cache}[7]: {resolve}({fn}, {n}, {cache})"),
            *self._resolved(dest, fn, cache, direct, args, vm_call, in_place, 1),
            (0, f"elif _t is {mt}:"),
            (1, f"_m = {fn}.__func__"),
            (1, f"if _m is not {mcache}[0] and _m is not {mcache}[4] and _m is not {mcache}[7]: "
                f"{resolve}(_m, {n + 1}, {mcache})"),
            *self._resolved(dest, "_m", mcache, [f"{fn}.__self__", *direct], None, vm_call, in_place, 1),
            (0, f"elif _t is {vf}:"), (1, vm_call), *tail]
        out += [(1 + d, t) for d, t in inner]
        return out

    def _frame(self, dest: str, fn: str, cache: str, tup: str, ind: int) -> Lines:
        """Take the resolved callee's frame (from its pool, or made with the arguments) and
        yield it to the trampoline, bound."""
        if self.pooled:
            return [(ind, f"_fr = {cache}[5].pop() if {cache}[5] else {cache}[6]()"),
                    (ind, f"_fr.func = {fn}"), (ind, f"_fr.args = {tup}"), (ind, f"{dest} = yield _fr")]
        return [(ind, f"{dest} = yield {cache}[6]({fn}, {tup})")]

    def _resolved(self, dest: str, fn: str, cache: str, direct: list[str], args: str | None, vm_call: str,
                  in_place: Lines, ind: int) -> Lines:
        """The four ways a resolved callee `fn` goes (see `call_lines`)."""
        tup = args if args is not None else f"({', '.join(direct)}{',' if len(direct) == 1 else ''})"
        return [(ind, f"if {fn} is {cache}[4]:"), *self._frame(dest, fn, cache, tup, ind + 1),
                (ind, f"elif {fn} is {cache}[0]:"), *self._direct(dest, cache, direct, ind + 1),
                (ind, f"elif {fn} is {cache}[7]:"), *[(ind + 1 + d, t) for d, t in in_place],
                (ind, "else:"), (ind + 1, vm_call)]

    def _direct(self, dest: str, cache: str, args: list[str], ind: int) -> Lines:
        """Call the leaf a site cache holds, here; in profiled code an exception leaving it is
        reported to the leaf's profile first."""
        call = f"{dest} = {cache}[1]({cache}[2]{''.join(', ' + a for a in args)})"
        if not self.profiled:
            return [(ind, call)]
        return [(ind, "try:"), (ind + 1, call), (ind, "except BaseException as _e:"),
                (ind + 1, f"{self.use('_leaf_exit')}(_e, {cache})"), (ind + 1, "raise")]


# -- the rows spelt out by name ----------------------------------------------------------------------

_Special = Callable[[InstrWriter, RInstr], Lines]
_SPECIAL: dict[str, _Special] = {}


def _by_name(*names: str) -> Callable[[_Special], _Special]:
    def register(fn: _Special) -> _Special:
        for n in names:
            if n not in REG_OPS:
                raise AssertionError(f"unknown register-code operation {n!r}")
            _SPECIAL[n] = fn
        return fn
    return register


@_by_name("const", "copy", "spill", "reload")
def _move(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.op(i.args[0])}")]


@_by_name("check_bound")
def _check_bound(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"if {w.op(i.args[0])} is {w.use('_U')}: raise {w.use('_unbound_local')}"
                f"({w.literal(i.attrs['name'])})")]


@_by_name("load_global")
def _load_global(w: InstrWriter, i: RInstr) -> Lines:
    w.needs_globals = w.needs_builtins = True
    name = w.literal(i.attrs["name"])
    d = w.op(i.dest)
    # globals first, then builtins, as LOAD_GLOBAL looks (both dict lookups inline)
    return [(0, f"{d} = _G[{name}] if {name} in _G else _B[{name}] if {name} in _B else "
                f"{w.use('_builtin')}(_B, {name})")]


@_by_name("store_global")
def _store_global(w: InstrWriter, i: RInstr) -> Lines:
    w.needs_globals = True
    return [(0, f"_G[{w.literal(i.attrs['name'])}] = {w.op(i.args[0])}")]


@_by_name("delete_global")
def _delete_global(w: InstrWriter, i: RInstr) -> Lines:
    w.needs_globals = True
    return [(0, f"{w.use('_delete_global')}(_G, {w.literal(i.attrs['name'])})")]


@_by_name("load_attr")
def _load_attr(w: InstrWriter, i: RInstr) -> Lines:
    name = i.attrs["name"]
    if _identifier(name):
        return [(0, f"{w.op(i.dest)} = {w.atom(i.args[0])}.{name}")]
    return [(0, f"{w.op(i.dest)} = {w.const(getattr)}({w.op(i.args[0])}, {w.literal(name)})")]


@_by_name("store_attr")
def _store_attr(w: InstrWriter, i: RInstr) -> Lines:
    name = i.attrs["name"]
    value, owner = i.args
    if _identifier(name):
        return [(0, f"{w.atom(owner)}.{name} = {w.op(value)}")]
    return [(0, f"{w.const(setattr)}({w.op(owner)}, {w.literal(name)}, {w.op(value)})")]


@_by_name("getitem")
def _getitem(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.atom(i.args[0])}[{w.op(i.args[1])}]")]


@_by_name("setitem")
def _setitem(w: InstrWriter, i: RInstr) -> Lines:
    value, container, key = i.args
    return [(0, f"{w.atom(container)}[{w.op(key)}] = {w.op(value)}")]


@_by_name("tuple_item")
def _tuple_item(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.atom(i.args[0])}[{w.literal(i.attrs['index'])}]")]


@_by_name("build_tuple")
def _build_tuple(w: InstrWriter, i: RInstr) -> Lines:
    items = [w.op(a) for a in i.args]
    return [(0, f"{w.op(i.dest)} = ({', '.join(items)}{',' if len(items) == 1 else ''})")]


@_by_name("build_list")
def _build_list(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = [{', '.join(w.op(a) for a in i.args)}]")]


@_by_name("build_set")
def _build_set(w: InstrWriter, i: RInstr) -> Lines:
    if not i.args:
        return [(0, f"{w.op(i.dest)} = {w.const(set)}()")]
    return [(0, f"{w.op(i.dest)} = {{{', '.join(w.op(a) for a in i.args)}}}")]


@_by_name("build_map")
def _build_map(w: InstrWriter, i: RInstr) -> Lines:
    pairs = [f"{w.op(k)}: {w.op(v)}" for k, v in zip(i.args[::2], i.args[1::2], strict=True)]
    return [(0, f"{w.op(i.dest)} = {{{', '.join(pairs)}}}")]


@_by_name("format_value")
def _format_value(w: InstrWriter, i: RInstr) -> Lines:
    fn = w.const(REG_OPS["format_value"].impl)
    args = ", ".join([w.literal(i.attrs["flags"])] + [w.op(a) for a in i.args])
    return [(0, f"{w.op(i.dest)} = {fn}({args})")]


@_by_name("list_append")
def _list_append(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.const(list.append)}({w.op(i.args[0])}, {w.op(i.args[1])})")]


@_by_name("set_add")
def _set_add(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.const(set.add)}({w.op(i.args[0])}, {w.op(i.args[1])})")]


@_by_name("map_add")
def _map_add(w: InstrWriter, i: RInstr) -> Lines:
    d, k, v = (w.op(a) for a in i.args)
    return [(0, f"{w.const(dict.__setitem__)}({d}, {k}, {v})")]


@_by_name("list_extend", "set_update", "dict_update")
def _container_update(w: InstrWriter, i: RInstr) -> Lines:
    fn = w.use({"list_extend": "_list_extend", "set_update": "_set_update",
                "dict_update": "_dict_update"}[i.op])
    return [(0, f"{fn}({w.op(i.args[0])}, {w.op(i.args[1])})")]


@_by_name("dict_merge")
def _dict_merge(w: InstrWriter, i: RInstr) -> Lines:
    d, m, f = (w.op(a) for a in i.args)
    return [(0, f"{w.use('_dict_merge')}({f}, {d}, {m})")]


@_by_name("unpack")
def _unpack(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.use('_unpack')}({w.op(i.args[0])}, {w.literal(i.attrs['count'])})")]


@_by_name("unpack_star")
def _unpack_star(w: InstrWriter, i: RInstr) -> Lines:
    arg = i.attrs["before"] | i.attrs["after"] << 8
    return [(0, f"{w.op(i.dest)} = {w.use('_unpack_star')}({w.op(i.args[0])}, {w.literal(arg)})")]


@_by_name("load_deref")
def _load_deref(w: InstrWriter, i: RInstr) -> Lines:
    c = w.cell(i.attrs["name"])
    d = w.op(i.dest)
    index = w.cell_index[i.attrs["name"]]
    return [(0, "try:"), (1, f"{d} = {c}.cell_contents"),
            (0, "except ValueError:"), (1, f"{d} = {w.use('_M')}"),
            (0, f"if {d} is _M: raise {w.use('_unbound_deref')}(_F, {index})")]


@_by_name("store_deref")
def _store_deref(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.cell(i.attrs['name'])}.cell_contents = {w.op(i.args[0])}")]


@_by_name("delete_deref")
def _delete_deref(w: InstrWriter, i: RInstr) -> Lines:
    index = w.cell_index[i.attrs["name"]]
    return [(0, f"{w.use('_delete_deref')}(_F, {w.cell(i.attrs['name'])}, {index})")]


@_by_name("load_closure")
def _load_closure(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.cell(i.attrs['name'])}")]


@_by_name("call")
def _call(w: InstrWriter, i: RInstr) -> Lines:
    """A positional call: its site resolves VM functions itself (see `InstrWriter.call_lines`)."""
    f = w.op(i.args[0])
    args = [w.op(a) for a in i.args[1:]]
    tup = f"({', '.join(args)}{',' if len(args) == 1 else ''})"
    direct = args if isinstance(i.args[0], Reg) else None
    return w.call_lines(w.op(i.dest), f, tup, "None", f"{f}({', '.join(args)})", direct)


@_by_name("call_kw")
def _call_kw(w: InstrWriter, i: RInstr) -> Lines:
    f = w.op(i.args[0])
    names_op = i.args[-1]
    values = [w.op(a) for a in i.args[1:-1]]
    names = names_op.value if isinstance(names_op, Imm) else None
    plain = isinstance(names, tuple) and all(_identifier(n) for n in names) and len(set(names)) == len(names)
    if not plain or not isinstance(names, tuple):
        # keyword names known only at run time (or not identifiers): build the dict there
        return [(0, f"_a, _k = {w.use('_split_kw')}(({', '.join(values)}{',' if len(values) == 1 else ''}), "
                    f"{w.op(names_op)})"),
                *w.call_lines(w.op(i.dest), f, "_a", "_k", f"{f}(*_a, **_k)")]
    npos = len(values) - len(names)
    pos, kws = values[:npos], values[npos:]
    tup = f"({', '.join(pos)}{',' if len(pos) == 1 else ''})"
    kwdict = "{" + ", ".join(f"{n!r}: {v}" for n, v in zip(names, kws, strict=True)) + "}"
    native = f"{f}({', '.join(pos + [f'{n}={v}' for n, v in zip(names, kws, strict=True)])})"
    return w.call_lines(w.op(i.dest), f, tup, kwdict, native)


@_by_name("call_ex")
def _call_ex(w: InstrWriter, i: RInstr) -> Lines:
    f, a, k = (w.op(x) for x in i.args)
    # CALL_EX's order: the keyword mapping is checked before the positional iterable
    return [(0, f"_k = {k}"),
            (0, f"if _k is not None and type(_k) is not dict: _k = {w.use('_kwargs_for_call')}({f}, _k)"),
            (0, f"_a = {a} if type({a}) is tuple else {w.use('_args_for_call')}({f}, {a})"),
            *w.call_lines(w.op(i.dest), f, "_a", "_k", f"{f}(*_a, **_k) if _k else {f}(*_a)")]


@_by_name("make_function")
def _make_function(w: InstrWriter, i: RInstr) -> Lines:
    flags = i.attrs["flags"]
    ops = [w.op(a) for a in i.args]
    code = ops.pop()
    parts = []
    for bit in (1, 2, 4, 8):
        parts.append(ops.pop(0) if flags & bit else "None")
    defaults, kwdefaults, annotations, closure = parts
    return [(0, f"{w.op(i.dest)} = {w.use('_rt')}.make_function(_F, {code}, {defaults}, {kwdefaults}, "
                f"{annotations}, {closure})")]


@_by_name("load_build_class")
def _load_build_class(w: InstrWriter, i: RInstr) -> Lines:
    w.needs_builtins = True
    return [(0, f"{w.op(i.dest)} = {w.use('_build_class')}(_B)")]


@_by_name("load_assertion_error")
def _load_assertion_error(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.const(AssertionError)}")]


@_by_name("import_name")
def _import_name(w: InstrWriter, i: RInstr) -> Lines:
    w.needs_globals = w.needs_builtins = True
    level, fromlist = (w.op(a) for a in i.args)
    name = w.literal(i.attrs["name"])
    return [(0, f"{w.op(i.dest)} = {w.use('_import_name')}({name}, {fromlist}, {level}, _G, _B)")]


@_by_name("import_from")
def _import_from(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.use('_import_from')}({w.op(i.args[0])}, {w.literal(i.attrs['name'])})")]


@_by_name("get_iter")
def _get_iter(w: InstrWriter, i: RInstr) -> Lines:
    # a VM generator is iterated by `vm.generators.items`, its frame resumed without a call per item
    x = w.op(i.args[0])
    gen = f"{w.const(items)}({x}) if type({x}) is {w.const(VMGenerator)}"
    return [(0, f"{w.op(i.dest)} = {gen} else {w.const(iter)}({x})")]


@_by_name("iter_next")
def _iter_next(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.const(next)}({w.op(i.args[0])}, {w.use('_EXH')})")]


@_by_name("catch")
def _catch(w: InstrWriter, i: RInstr) -> Lines:
    # _x is the exception the handler was entered with; drop the extra reference at once
    return [(0, f"{w.op(i.dest)} = _x; _x = None")]


@_by_name("push_exc_info")
def _push_exc_info(w: InstrWriter, i: RInstr) -> Lines:
    rt = w.use("_rt")
    return [(0, f"{rt}.handled, {w.op(i.dest)} = {w.op(i.args[0])}, {rt}.handled")]


@_by_name("pop_except")
def _pop_except(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.use('_rt')}.handled = {w.op(i.args[0])}")]


@_by_name("exc_match")
def _exc_match(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.use('_exc_match')}({w.op(i.args[0])}, {w.op(i.args[1])})")]


@_by_name("before_with")
def _before_with(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.use('_before_with')}({w.op(i.args[0])})")]


@_by_name("with_exit")
def _with_exit(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"{w.op(i.dest)} = {w.use('_with_exit')}({w.op(i.args[0])}, {w.op(i.args[1])})")]


@_by_name("raise")
def _raise(w: InstrWriter, i: RInstr) -> Lines:
    if not i.args:
        return [(0, f"raise {w.use('_reraise_handled')}()")]
    return [(0, f"raise {w.use('_raise')}({', '.join(w.op(a) for a in i.args)})")]


@_by_name("reraise")
def _reraise(w: InstrWriter, i: RInstr) -> Lines:
    return [(0, f"raise {w.use('_reraise')}({w.op(i.args[0])})")]
