"""`.zasm`: the assembler, the disassembler, their exact round trip, and every syntax error.

`zbc_codes()` generates random *valid* ZBC code objects (every opcode of the table, nested code,
handlers, signatures, cells, flags, every constant type); tests/test_zbc_json.py reuses it.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zir import ParseError, VerifyError
from zir.bytecode import (
    GENERATOR,
    HOST,
    NESTED,
    Code,
    Handler,
    ZInstr,
    assemble,
    disassemble,
    stack_depths,
    verify,
)
from zir.ops import ZBC_OPS, OpDef, ZArg

# -------------------------------------------------------------------------------------------------
# Strategies.

_WEIRD = ["", " ", "a;b", "'\"", "\n", "\u2028", "\ud800", "é", "#1", "@x", "x:", ".0", "<lambda>", "None",
          "->", "depth", "1.5"]
names = st.one_of(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), st.sampled_from(_WEIRD),
                  st.text(max_size=4))
_ints = st.one_of(st.integers(), st.integers(min_value=2**8190, max_value=2**8300).map(lambda v: -v),
                  st.sampled_from([0, -1, 2**63, -2**63]))
_floats = st.one_of(st.floats(), st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 1e16, 5e-324]))
_hashable_scalars = st.one_of(_ints, _floats, st.complex_numbers(), st.text(max_size=5),
                              st.sampled_from(_WEIRD), st.binary(max_size=5), st.booleans(), st.none(),
                              st.just(Ellipsis))
_hashables = st.recursive(_hashable_scalars, lambda ch: st.lists(ch, max_size=3).map(tuple), max_leaves=6)
literals = st.recursive(
    _hashables,
    lambda ch: st.one_of(st.lists(ch, max_size=3).map(tuple), st.frozensets(_hashables, max_size=3),
                         st.builds(slice, ch, ch, ch)),
    max_leaves=8)

_STRAIGHT = [r for r in ZBC_OPS.values() if not r.terminator and r.zarg is not ZArg.JUMP]
_CONDITIONAL = [r for r in ZBC_OPS.values() if not r.terminator and r.zarg is ZArg.JUMP]
_EXITS = [r for r in ZBC_OPS.values() if r.terminator and r.zarg is not ZArg.JUMP]
_JUMP = next(r for r in ZBC_OPS.values() if r.terminator and r.zarg is ZArg.JUMP)


def _need(row: OpDef, arg: int) -> int:
    return row.reach(arg) if row.reach is not None else row.pops(arg)


def _args(row: OpDef, depth: int, sizes: dict[ZArg, int]) -> list[int | None]:
    """The arguments `row` may take at stack depth `depth` in a valid code object."""
    if row.zarg is ZArg.NONE:
        return [None] if _need(row, 0) <= depth else []
    if row.zarg in (ZArg.CONST, ZArg.NAME, ZArg.LOCAL, ZArg.CELL):
        return list(range(sizes.get(row.zarg, 0))) if _need(row, 0) <= depth else []
    candidates = list(range(row.zmin, row.zmin + 9))
    if row.zmax is not None:
        candidates = [a for a in candidates if a <= row.zmax] + [row.zmax] * (row.zmax > row.zmin + 8)
    return [a for a in candidates if _need(row, a) <= depth]


@st.composite
def zbc_codes(draw: st.DrawFn, depth: int = 0, host: bool = True) -> Code:
    """A random Code that passes the ZBC verifier: random blocks of straight-line code (every
    non-jump opcode of the table), each ending in a jump, a conditional jump or an exit chosen so
    the stack depths agree at every join; handlers whose depths fit; nested code constants."""
    params = draw(st.lists(names, unique=True, max_size=6))
    flags = set(draw(st.sets(st.sampled_from([NESTED, GENERATOR, "coroutine"]))))
    rest = list(params)
    argcount = draw(st.integers(0, len(rest)))
    posonly = draw(st.integers(0, argcount))
    kwonly = draw(st.integers(0, len(rest) - argcount))
    extra = rest[argcount + kwonly:]
    if draw(st.booleans()) and extra:
        flags.add("varargs")
        extra = extra[1:]
    if draw(st.booleans()) and extra:
        flags.add("varkeywords")
    nparams = argcount + kwonly + ("varargs" in flags) + ("varkeywords" in flags)
    varnames = params[:nparams] + draw(st.lists(names, max_size=3).map(
        lambda ls: [n for n in dict.fromkeys(ls) if n not in params]))
    kw_names = params[argcount:argcount + kwonly]
    defaults = tuple(draw(st.lists(literals, max_size=argcount)))
    kwdefaults = {n: draw(literals) for n in kw_names if draw(st.booleans())}
    cells = draw(st.lists(names, unique=True, max_size=4))
    ncell = draw(st.integers(0, len(cells)))
    consts: list[Any] = draw(st.lists(literals, min_size=1, max_size=5))
    if depth < 2:
        for _ in range(draw(st.integers(0, 2))):
            consts.insert(draw(st.integers(0, len(consts))), draw(zbc_codes(depth + 1, host)))
        if host and draw(st.booleans()):
            consts.append(Code(draw(names), flags=frozenset({HOST}), firstlineno=draw(st.integers(0, 99))))
        if draw(st.booleans()) and consts:
            consts.append(consts[0])  # a repeated constant: only `#N` reaches the second one
    code_names = draw(st.lists(names, max_size=4))
    sizes = {ZArg.CONST: len(consts), ZArg.NAME: len(code_names), ZArg.LOCAL: len(varnames),
             ZArg.CELL: len(cells)}
    sizes = {k: v for k, v in sizes.items() if v}
    instrs, depths = _body(draw, sizes)
    if any(ZBC_OPS[ins.op].suspends for ins in instrs) and not flags & {GENERATOR, "coroutine"}:
        flags.add(GENERATOR)  # only generators and coroutines may suspend
    handlers = _handlers(draw, depths, instrs)
    line_mode = draw(st.sampled_from(["none", "same", "random"]))
    for ins in instrs:
        ins.line = None if line_mode == "none" else 5 if line_mode == "same" else draw(
            st.none() | st.integers(0, 10**6))
    return Code(
        name=draw(names), instrs=instrs, consts=consts, names=code_names, varnames=varnames,
        cellvars=cells[:ncell], freevars=cells[ncell:], argcount=argcount, posonlyargcount=posonly,
        kwonlyargcount=kwonly, flags=frozenset(flags), defaults=defaults, kwdefaults=kwdefaults,
        handlers=handlers, filename=draw(names), firstlineno=draw(st.integers(0, 10**6)),
        qualname=draw(st.just("") | names))


class _Block:
    """One generated block: instructions with symbolic targets, and the depth before each."""

    def __init__(self, draw: st.DrawFn, depth: int, nconsts: int) -> None:
        self.draw, self.d, self.nconsts = draw, depth, nconsts
        self.out: list[tuple[OpDef, int | None, int | None]] = []  # (row, arg, target block)
        self.depths: list[int] = []

    def emit(self, row: OpDef, arg: int | None, target: int | None = None) -> None:
        self.depths.append(self.d)
        self.out.append((row, arg, target))
        self.d = self.d - row.pops(arg or 0) + row.pushes(arg or 0)

    def adjust(self, to: int) -> None:
        while self.d < to:
            self.emit(ZBC_OPS["LOAD_CONST"], self.draw(st.integers(0, self.nconsts - 1)))
        while self.d > to:
            self.emit(ZBC_OPS["POP_TOP"], None)


def _body(draw: st.DrawFn, sizes: dict[ZArg, int]) -> tuple[list[ZInstr], list[int]]:
    nblocks = draw(st.integers(1, 5))
    entry = [0] + [draw(st.integers(0, 2)) for _ in range(nblocks - 1)]
    blocks: list[_Block] = []
    for b in range(nblocks):
        blk = _Block(draw, entry[b], sizes[ZArg.CONST])
        for _ in range(draw(st.integers(0, 6))):
            rows = [r for r in _STRAIGHT if _args(r, blk.d, sizes)]
            row = rows[draw(st.integers(0, len(rows) - 1))]  # by index: hashing OpDefs is slow
            args = [a for a in _args(row, blk.d, sizes)
                    if blk.d - row.pops(a or 0) + row.pushes(a or 0) <= 12]  # keep stacks small
            if args:
                blk.emit(row, args[draw(st.integers(0, len(args) - 1))])
        ends = ["jump", "exit"] + (["cond"] if b + 1 < nblocks else [])
        end = draw(st.sampled_from(ends))
        if end == "cond":
            options = []
            for row in _CONDITIONAL:
                at = entry[b + 1] + row.pops(0) - row.pushes(0)
                assert row.branch_pushes is not None
                branch = at - row.pops(0) + row.branch_pushes(0)
                options += [(row, at, t) for t in range(nblocks)
                            if entry[t] == branch and at >= _need(row, 0)]
            if options:
                row, at, t = options[draw(st.integers(0, len(options) - 1))]
                blk.adjust(at)
                blk.emit(row, None, t)
            else:
                end = "jump"
        if end == "jump":
            t = draw(st.integers(0, nblocks - 1))
            blk.adjust(entry[t])
            blk.emit(_JUMP, None, t)
        elif end == "exit":
            row = _EXITS[draw(st.integers(0, len(_EXITS) - 1))]
            exit_args = _args(row, 3, sizes)
            arg = exit_args[draw(st.integers(0, len(exit_args) - 1))]
            blk.adjust(_need(row, arg or 0))
            blk.emit(row, arg)
        blocks.append(blk)
    starts = [0]
    for blk in blocks:
        starts.append(starts[-1] + len(blk.out))
    instrs = [ZInstr(row.zbc or "", starts[t] if t is not None else arg)
              for blk in blocks for row, arg, t in blk.out]
    return instrs, [d for blk in blocks for d in blk.depths]


def _handlers(draw: st.DrawFn, depths: list[int], instrs: list[ZInstr]) -> list[Handler]:
    n = len(instrs)
    starts = [0] + [i + 1 for i, ins in enumerate(instrs[:-1]) if ZBC_OPS[ins.op].terminator
                    or ZBC_OPS[ins.op].zarg is ZArg.JUMP]
    entries = {s: depths[s] for s in starts}
    out: list[Handler] = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, n - 1))
        end = draw(st.integers(start + 1, n))
        low = min(depths[start:end])
        lasti = draw(st.booleans())
        targets = [s for s, e in entries.items() if 0 <= e - 1 - lasti <= low]
        if targets:
            t = draw(st.sampled_from(targets))
            out.append(Handler(start, end, t, entries[t] - 1 - lasti, lasti))
    return out


# -------------------------------------------------------------------------------------------------
# The round trip.


@given(zbc_codes())
def test_roundtrip_generated_codes(code: Code) -> None:
    verify(code)  # the generator makes valid code only, so the verifier must agree
    text = disassemble(code)
    back = assemble(text, "rt.zasm")
    assert back == code, text
    assert disassemble(back) == text


@given(zbc_codes())
def test_disassemble_with_offsets_roundtrips(code: Code) -> None:
    assert assemble(disassemble(code, offsets=True)) == code


def test_generator_covers_every_opcode() -> None:
    # Every ZBC opcode can be generated: straight-line ones, conditional jumps, JUMP and exits.
    assert {r.zbc for r in _STRAIGHT + _CONDITIONAL + _EXITS + [_JUMP]} == set(ZBC_OPS)


def test_exactness_of_constants() -> None:
    c = Code("f", [ZInstr("LOAD_CONST", i) for i in range(7)] + [ZInstr("RETURN_VALUE")],
             consts=[0.0, -0.0, math.nan, 1, True, 1.0, complex(-0.0, -0.0)])
    back = assemble(disassemble(c))
    assert back == c
    assert math.copysign(1, back.consts[1]) == -1 and type(back.consts[4]) is bool
    assert back != Code("f", c.instrs, consts=[0.0, 0.0, math.nan, 1, 1, 1.0, complex(-0.0, -0.0)])


# -------------------------------------------------------------------------------------------------
# The syntax, by example.

DEMO = """\
; a demo function
.code total
.params xs, start=0, *, scale=1.5
.locals acc
    LOAD_FAST start
    STORE_FAST acc
    LOAD_FAST xs
    GET_ITER
loop:
    FOR_ITER done
    LOAD_FAST acc          ; acc += x * scale
    SWAP 2
    LOAD_FAST scale
    MUL
    ADD
    STORE_FAST acc
    JUMP loop
done:
    LOAD_GLOBAL round
    LOAD_FAST acc
    CALL 1
    RETURN_VALUE
"""


def test_demo_assembles() -> None:
    c = assemble(DEMO, "demo.zasm")
    assert c.name == "total" and c.filename == "demo.zasm" and c.firstlineno == 2
    assert c.varnames == ["xs", "start", "scale", "acc"]
    assert (c.argcount, c.kwonlyargcount, c.defaults, c.kwdefaults) == (2, 1, (0,), {"scale": 1.5})
    assert c.names == ["round"] and c.consts == []
    assert c.instrs[4] == ZInstr("FOR_ITER", 12, 10)  # label resolved; line = .zasm line
    assert c.instrs[11] == ZInstr("JUMP", 4, 17)
    assert c.stacksize == 4
    assert stack_depths(c).depths[12] == 0


def test_line_directive_and_none() -> None:
    c = assemble(".code f\n.line 40\nLOAD_CONST 1\n.line none\nRETURN_VALUE\n")
    assert [i.line for i in c.instrs] == [40, None]


def test_signature_forms() -> None:
    c = assemble(".code f\n.params a, /, b=2, *args, c, d=4, **kw\nLOAD_CONST None\nRETURN_VALUE\n")
    assert c.varnames == ["a", "b", "c", "d", "args", "kw"]
    assert (c.argcount, c.posonlyargcount, c.kwonlyargcount) == (2, 1, 2)
    assert c.flags == frozenset({"varargs", "varkeywords"})
    assert c.defaults == (2,) and c.kwdefaults == {"d": 4}


def test_nested_sections_and_refs() -> None:
    text = """\
.code outer
.cellvars x
    LOAD_CLOSURE x
    BUILD_TUPLE 1
    LOAD_CONST @"<lambda>"
    MAKE_FUNCTION 8
    RETURN_VALUE
.code "<lambda>"
.flags nested
.freevars x
    LOAD_DEREF x
    RETURN_VALUE
"""
    c = assemble(text)
    inner = c.consts[0]
    assert isinstance(inner, Code) and inner.name == "<lambda>" and inner.freevars == ["x"]
    assert inner.flags == frozenset({NESTED})
    assert disassemble(c).count(".code") == 2


def test_same_name_sections_get_distinct_refs() -> None:
    inner1 = Code("g", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[1])
    inner2 = Code("g", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[2])
    c = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("LOAD_CONST", 1), ZInstr("BUILD_TUPLE", 2),
                   ZInstr("RETURN_VALUE")], consts=[inner1, inner2])
    text = disassemble(c)
    assert ".code g @g.2" in text and "LOAD_CONST @g.2" in text
    assert assemble(text) == c


def test_explicit_tables_keep_order() -> None:
    c = Code("f", [ZInstr("LOAD_CONST", 1), ZInstr("LOAD_GLOBAL", 1), ZInstr("POP_TOP"),
                   ZInstr("RETURN_VALUE")], consts=["doc", 7], names=["unused", "len"])
    text = disassemble(c)
    assert ".consts 'doc'" in text and ".names unused, len" in text
    assert assemble(text) == c
    # When the implicit order is the same, no table is written.
    c2 = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[7])
    assert ".consts" not in disassemble(c2)


def test_raw_index_for_repeated_constant() -> None:
    c = Code("f", [ZInstr("LOAD_CONST", 1), ZInstr("RETURN_VALUE")], consts=[5, 5])
    text = disassemble(c)
    assert "LOAD_CONST #1" in text
    assert assemble(text) == c


def test_disassemble_host_code() -> None:
    host = Code("C", flags=frozenset({HOST}), firstlineno=3)
    c = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[host])
    text = disassemble(c)
    assert ".flags host" in text
    assert assemble(text) == c


def test_assemble_without_verify() -> None:
    c = assemble(".code f\nPOP_TOP\n", verify=False)
    assert c.instrs == [ZInstr("POP_TOP", None, 2)]
    with pytest.raises(VerifyError, match=r"^<string>:2 \(function f, offset 0\): stack underflow"):
        assemble(".code f\nPOP_TOP\n")


# -------------------------------------------------------------------------------------------------
# Errors: each names file:line:col.


def error(text: str, pattern: str, line: int, col: int) -> None:
    with pytest.raises(ParseError) as info:
        assemble(text, "bad.zasm", verify=False)
    e = info.value
    assert re.search(pattern, str(e)), str(e)
    assert (e.filename, e.line, e.col) == ("bad.zasm", line, col), str(e)
    assert str(e).startswith(f"bad.zasm:{line}:{col}: ")


def test_error_unknown_opcode_did_you_mean() -> None:
    error(".code f\n    LOAD_FAS x\n", r"unknown opcode 'LOAD_FAS' \(did you mean LOAD_FAST\?\)", 2, 5)
    error(".code f\n  load_const 1\n", r"did you mean LOAD_CONST\?", 2, 3)


def test_error_missing_operand() -> None:
    error(".code f\nLOAD_CONST\n", "LOAD_CONST needs a constant", 2, 11)
    error(".code f\nJUMP   ; where?\n", "JUMP needs a label", 2, 16)


def test_error_bad_operand() -> None:
    error(".code f\nCALL x\n", r"expected a count \(an integer\), found 'x'", 2, 6)
    error(".code f\nLOAD_FAST 3\n", "expected a local variable name, found '3'", 2, 11)
    error(".code f\nRETURN_VALUE 1\n", "unexpected '1' after the operand of RETURN_VALUE", 2, 14)
    error(".code f\nLOAD_CONST 1 2\n", "unexpected '2'", 2, 14)


def test_error_const_not_a_literal() -> None:
    error(".code f\nLOAD_CONST foo\n", "expected a literal constant, found 'foo'", 2, 12)
    error(".code f\nLOAD_CONST [1]\n", "unexpected character '\\['", 2, 12)
    error(".code f\nLOAD_CONST (1, 2\n", r"expected ',' or '\)', found end of line", 2, 17)
    error(".code f\nLOAD_CONST frozenset({(1, slice(1, 2, 3))})\n", "unhashable", 2, 12)


def test_error_undefined_label() -> None:
    error(".code f\nLOAD_CONST 1\nPOP_JUMP_IF_TRUE nowhere\n", "undefined label 'nowhere'", 3, 18)
    error(".code f\n.handler a b -> c depth 0\nx:\n", "undefined label 'a'", 2, 10)


def test_error_duplicate_label() -> None:
    error(".code f\nhere:\nNOP\n  here:\nRETURN_VALUE\n", "duplicate label 'here'", 4, 3)


def test_error_unterminated_string() -> None:
    error(".code f\nLOAD_CONST 'abc\n", "unterminated string", 2, 12)
    error(".code f\nLOAD_CONST '\\N{nope}'\n", "bad string literal", 2, 12)


def test_error_directives() -> None:
    error(".code f\n.parms a\n", r"unknown directive '.parms' \(did you mean .params\?\)", 2, 1)
    error(".code f\n.params a\n.params b\n", "duplicate .params directive", 3, 1)
    error(".code f\n.params a=1, b\n", "'b' without a default follows", 2, 14)
    error(".code f\n.params a, a\n", "duplicate parameter 'a'", 2, 13)
    error(".code f\n.params *\n", "bare '\\*' must be followed", 2, 10)
    error(".code f\n.params **kw, a\n", r"no parameter may follow \*\*name", 2, 15)
    error(".code f\n.flags varargs\n", r"comes from \*name in .params", 2, 8)
    error(".code f\n.flags speedy\n", "unknown flag 'speedy'", 2, 8)
    error(".code f\n.firstlineno x\n", "expected a line number", 2, 14)
    error(".code f\n.handler a b c\n", "expected '->'", 2, 14)
    error("NOP\n", "expected '.code NAME' before 'NOP'", 1, 1)
    error("; nothing\n", "expected a '.code NAME' section", 1, 1)


def test_error_cells() -> None:
    error(".code f\nLOAD_DEREF x\n", "undeclared cell variable 'x'", 2, 12)


def test_error_code_sections() -> None:
    error(".code f\nLOAD_CONST @g\nRETURN_VALUE\n", "no code section named 'g'", 2, 13)
    error(".code f\nNOP\n.code f\n", "duplicate code section 'f'", 3, 8)
    error(".code f\nLOAD_CONST None\nRETURN_VALUE\n.code g\nNOP\n", "code section 'g' is never used", 4, 1)
    error(".code f\nLOAD_CONST @g\nRETURN_VALUE\n.code g\nLOAD_CONST @f\nRETURN_VALUE\n",
          "code section 'f' contains itself", 5, 13)
    error(".code f\n.params a=@f\n", "expected a literal constant, found '@'", 2, 11)


def test_front_end_code_roundtrips() -> None:
    """Every function of the construct suite that the front end translates: verified, and its
    disassembly assembles back to an equal Code (host code constants included)."""
    import test_constructs

    from zir import ZirError
    from zir.frontend import from_python

    count = 0
    for fn, _args, _xfail in test_constructs.CASES:
        try:
            code = from_python(fn)
        except ZirError:
            continue
        verify(code)
        text = disassemble(code)
        assert assemble(text, code.filename) == code, fn.__name__
        count += 1
    assert count >= 50


def test_doc_examples_assemble_and_run() -> None:
    """The ```zasm blocks of docs/bytecode.md assemble, verify, round-trip and do what they say."""
    from pathlib import Path

    import vm

    doc = (Path(__file__).resolve().parent.parent / "docs" / "bytecode.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```zasm\n(.*?)```", doc, re.DOTALL)
    codes = {c.name: c for c in (assemble(b, "bytecode.md") for b in blocks)}
    assert set(codes) == {"total", "make_counter", "safe_div"}
    for c in codes.values():
        assert assemble(disassemble(c)) == c
    machine = vm.VM(mode="stack")
    assert machine.run(codes["total"], [1, 2, 3], scale=2) == 12
    bump = machine.run(codes["make_counter"], 10)
    assert (bump(), bump()) == (11, 12)
    assert machine.run(codes["safe_div"], 0) == 0 and machine.run(codes["safe_div"], 1) == 1
    with pytest.raises(TypeError):
        machine.run(codes["safe_div"], "x")


def test_crlf_tabs_and_bom() -> None:
    c = assemble("\ufeff.code f\r\n\tLOAD_CONST 'a;b'\t; comment\r\n\tRETURN_VALUE\r\n")
    assert c.consts == ["a;b"] and [i.line for i in c.instrs] == [2, 3]
