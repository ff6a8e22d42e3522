"""Lowering (`zir.lower`, module `zir.lowering`) to register code, its text form (`disassemble`) and verifier
(`verify_regcode`): exact output for small functions, each fusion and when it must not happen, the
errors, and random programs run by a small register-code interpreter against the IR interpreter.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ir_interp import StepLimit, _execute, outcome
from ir_programs import ARGS, programs

import passes
import zir
from zir.ir import UNBOUND, Function
from zir.ops import EXHAUSTED, OPS
from zir.regcode import REG_OPS, Imm, RBlock, Reg, RegCode, RInstr, Slot
from zir.regcode_text import disassemble
from zir.regcode_verify import verify_regcode

# --------------------------------------------------------------------------------------------------
# A reference interpreter for register code (the register VM's semantics, spelled out slowly)


def run_regcode(rc: RegCode, *args: Any, max_steps: int = 100_000) -> Any:
    """Execute `rc` on positional `args`: registers and slots start UNBOUND, parameters arrive in
    `rc.params`; an instruction that raises writes nothing and goes to its block's handler."""
    regs: list[Any] = [UNBOUND] * rc.nregs
    slots: list[Any] = [UNBOUND] * rc.nslots
    for r, a in zip(rc.params, args, strict=True):
        regs[r] = a

    def val(o: Any) -> Any:
        if isinstance(o, Reg):
            return regs[o.n]
        if isinstance(o, Slot):
            return slots[o.n]
        return o.value

    n, exc, steps = 0, None, 0
    while True:
        block = rc.blocks[n]
        for i in block.instrs:
            steps += 1
            if steps > max_steps:
                raise StepLimit(f"{rc.name} ran more than {max_steps} steps")
            row = REG_OPS[i.op]
            a = [val(x) for x in i.args]
            try:
                if i.op == "br":
                    n = i.targets[0]
                    break
                if i.op == "cbr":
                    n = i.targets[0] if a[0] else i.targets[1]
                    break
                if i.op == "cbr_more":
                    n = i.targets[1] if a[0] is EXHAUSTED else i.targets[0]
                    break
                if row.terminator and row.targets == 2:  # a fused compare-and-branch row
                    assert row.impl is not None
                    n = i.targets[0] if row.impl(*a) else i.targets[1]
                    break
                if i.op == "ret":
                    return a[0]
                if i.op in ("raise", "reraise"):
                    if not a:
                        assert exc is not None
                        raise exc
                    raise a[0]
                if i.op == "spill":
                    assert isinstance(i.dest, Slot)
                    slots[i.dest.n] = a[0]
                    continue
                result = a[0] if i.op == "reload" else _execute(i.op, a, i.attrs, {}, exc)
            except BaseException as e:  # noqa: BLE001 -- the interpreted program's exception
                if isinstance(e, StepLimit) or block.handler is None or not row.may_raise:
                    raise
                exc, n = e, block.handler
                break
            if i.dest is not None:
                assert isinstance(i.dest, Reg)
                regs[i.dest.n] = result
        else:
            raise AssertionError(f"block b{n} fell off its end")


def regcode_outcome(rc: RegCode, *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", run_regcode(rc, *args))
    except StepLimit:
        raise
    except Exception as e:  # noqa: BLE001
        return ("raise", type(e).__name__, str(e))


def parse1(text: str) -> Function:
    (f,) = zir.parse(text).functions.values()
    return f


def lowered(text: str) -> RegCode:
    rc = zir.lower(parse1(text))
    verify_regcode(rc)
    return rc


# --------------------------------------------------------------------------------------------------
# Exact output


def test_lowering_of_an_allocated_loop() -> None:
    f = parse1("""
func @sum(%n) {
^entry:
  %s = const 0 loc(2)
  %i = const 0 loc(3)
  br ^loop
^loop:
  %c = lt %i, %n loc(4)
  cbr %c, ^body, ^exit loc(4)
^body:
  %t = mul %i, %i loc(5)
  %s = add %s, %t loc(5)
  %i = add %i, 1 loc(6)
  br ^loop loc(6)
^exit:
  ret %s loc(7)
}""")
    passes.PassManager.parse("regalloc{k=3,temps=0}", verify_each=True).run(f)
    assert all(v.name.startswith("r") for _, i in f.instructions() for v in i.uses())
    rc = zir.lower(f)
    verify_regcode(rc)
    assert disassemble(rc) == str(rc)
    # three registers for %n, %s, %i and the loop's temporaries: %n (read once per iteration)
    # is spilled; the compare fuses with its branch; the literal folds into the add
    assert disassemble(rc) == """regcode @sum(r0=r0) nregs=3 nslots=1
b0 ^entry:
  s0 = spill r0
  r2 = const 0 loc(2)
  r1 = const 0 loc(3)
  br b1
b1 ^loop:
  r0 = reload s0 loc(4)
  cbr_lt r1, r0, b2, b3 loc(4)
b2 ^body:
  r0 = mul r1, r1 loc(5)
  r2 = add r2, r0 loc(5)
  r1 = add r1, 1 loc(6)
  br b1 loc(6)
b3 ^exit:
  ret r2 loc(7)
"""
    assert [run_regcode(rc, n) for n in (0, 1, 4)] == [0, 0, 14]


def test_exact_text_form() -> None:
    rc = lowered("""
func @f(%r1, %r0) {
^entry:
  %r2 = const 10 loc(1)
  %r2 = add %r1, %r2 loc(2)
  spill %r2 {slot=0}
  %r0 = copy %r0
  %r1 = lt %r0, %r2 loc(3)
  cbr %r1, ^yes, ^no loc(3)
^yes:
  %r0 = reload {slot=0} loc(4)
  %r0 = load_attr %r0 {name="real"} loc(4)
  br ^no
^no: except ^h
  %r1 = call %r0, "x", None loc(5)
  ret %r1 loc(5)
^h:
  %r2 = catch
  reraise %r2
}""")
    assert disassemble(rc) == """regcode @f(r1=r1, r0=r0) nregs=3 nslots=1
b0 ^entry:
  r2 = add r1, 10 loc(2)
  s0 = spill r2
  cbr_lt r0, r2, b1, b2 loc(3)
b1 ^yes:
  r0 = reload s0 loc(4)
  r0 = load_attr r0 {name="real"} loc(4)
  br b2
b2 ^no: except b3
  r1 = call r0, "x", None loc(5)
  ret r1 loc(5)
b3 ^h:
  r2 = catch
  reraise r2
"""
    assert rc.blocks[2].handler == 3 and rc.params == [1, 0] and rc.param_names == ["r1", "r0"]
    assert rc.blocks[0].instrs[0] == RInstr("add", Reg(2), (Reg(1), Imm(10)), {}, (), 2)
    assert rc.blocks[0].instrs[1] == RInstr("spill", Slot(0), (Reg(2),), {}, (), None)
    assert rc.blocks[1].instrs[0] == RInstr("reload", Reg(0), (Slot(0),), {}, (), 4)


def test_python_function_keeps_names_file_and_lines() -> None:
    def clip(x, lo=0):  # noqa: ANN001, ANN202
        if x < lo:
            return lo
        return x

    f = zir.lift(zir.frontend.from_python(clip))
    passes.PassManager.parse("O2,regalloc").run(f)
    rc = zir.lower(f)
    verify_regcode(rc)
    assert rc.param_names == ["x", "lo"] and rc.filename == __file__ and rc.code is f.code
    first = clip.__code__.co_firstlineno
    lines = {i.line for b in rc.blocks for i in b.instrs} - {None}
    assert lines and lines <= set(range(first, first + 4))
    assert [run_regcode(rc, x, 0) for x in (-3, 5)] == [0, 5]
    assert any(i.op == "cbr_lt" for b in rc.blocks for i in b.instrs)


# --------------------------------------------------------------------------------------------------
# Fusions and when they must not happen


def test_constant_is_folded_into_each_reader_in_its_block() -> None:
    rc = lowered("""
func @f(%r0) {
^entry:
  %r1 = const 3
  %r2 = mul %r0, %r1
  %r2 = add %r2, %r1
  ret %r2
}""")
    assert disassemble(rc).splitlines()[1:] == ["b0 ^entry:", "  r2 = mul r0, 3", "  r2 = add r2, 3",
                                                "  ret r2"]


def test_constant_read_in_another_block_stays() -> None:
    rc = lowered("""
func @f(%r0) {
^entry:
  %r1 = const 3
  %r2 = mul %r0, %r1
  br ^next
^next:
  %r2 = add %r2, %r1
  ret %r2
}""")
    ops = [(i.op, i.args) for i in rc.blocks[0].instrs]
    assert ops[0] == ("const", (Imm(3),)) and ops[1] == ("mul", (Reg(0), Imm(3)))
    assert run_regcode(rc, 2) == 9


def test_constant_register_redefined_is_not_propagated_past_it() -> None:
    rc = lowered("""
func @f(%r0) {
^entry:
  %r1 = const 3
  %r1 = add %r0, %r1
  %r2 = mul %r1, %r1
  ret %r2
}""")
    assert disassemble(rc).splitlines()[2:4] == ["  r1 = add r0, 3", "  r2 = mul r1, r1"]
    assert run_regcode(rc, 1) == 16


TEXT_HANDLER = """
func @f(%r0) {
^entry:
  br ^try
^try: except ^h
  %r1 = const 5
  %r2 = truediv %r0, %r1
  %r1 = const 6
  %r2 = truediv %r2, %r0
  ret %r2
^h:
  %r0 = catch
  ret %r1
}"""


def test_constant_needed_by_the_handler_stays() -> None:
    rc = lowered(TEXT_HANDLER)
    try_ops = [str(i.args) for i in rc.blocks[1].instrs]
    assert rc.blocks[1].instrs[0].op == "const" and rc.blocks[1].instrs[2].op == "const"
    assert len(try_ops) == 5
    f = parse1(TEXT_HANDLER)
    assert regcode_outcome(rc, 0) == outcome(f, 0) == ("ok", 6)  # the second division raised
    assert regcode_outcome(rc, 10) == outcome(f, 10) == ("ok", 0.2)


def test_copy_to_the_same_register_is_dropped_and_copy_of_constant_is_const() -> None:
    rc = lowered("""
func @f(%r0) {
^entry:
  %r0 = copy %r0
  %r1 = const "k"
  %r2 = copy %r1
  br ^next
^next:
  %r2 = add %r2, %r0
  ret %r2
}""")
    assert [i.op for i in rc.blocks[0].instrs] == ["const", "br"]
    assert rc.blocks[0].instrs[0] == RInstr("const", Reg(2), (Imm("k"),))
    assert run_regcode(rc, "!") == "k!"


@pytest.mark.parametrize("cmp", ["lt", "le", "eq", "ne", "gt", "ge", "is", "is_not", "in", "not_in"])
def test_every_compare_fuses_with_its_branch(cmp: str) -> None:
    text = f"""
func @f(%r0, %r1) {{
^entry:
  %r2 = {cmp} %r0, %r1
  cbr %r2, ^yes, ^no
^yes:
  ret 1
^no:
  ret 0
}}"""
    rc = lowered(text)
    assert rc.blocks[0].instrs == [RInstr(f"cbr_{cmp}", None, (Reg(0), Reg(1)), {}, (1, 2))]
    f = parse1(text)
    for a, b in [(1, 2), (2, 2), (3, 2), (1, (1, 2)), (None, None)]:
        if cmp in ("in", "not_in") and not isinstance(b, tuple):
            b = (b,)
        assert regcode_outcome(rc, a, b) == outcome(f, a, b)


@pytest.mark.parametrize(("why", "text"), [
    ("condition read later", """
func @f(%r0, %r1) {
^entry:
  %r2 = lt %r0, %r1
  cbr %r2, ^yes, ^no
^yes:
  ret %r2
^no:
  ret 0
}"""),
    ("not adjacent", """
func @f(%r0, %r1) {
^entry:
  %r2 = lt %r0, %r1
  %r0 = add %r0, 1
  cbr %r2, ^yes, ^no
^yes:
  ret %r0
^no:
  ret 0
}"""),
    ("handler reads the condition", """
func @f(%r0, %r1) {
^entry:
  br ^b
^b: except ^h
  %r2 = lt %r0, %r1
  cbr %r2, ^yes, ^no
^yes:
  ret 1
^no:
  ret 0
^h:
  %r0 = catch
  ret %r2
}"""),
    ("not a compare", """
func @f(%r0, %r1) {
^entry:
  %r2 = add %r0, %r1
  cbr %r2, ^yes, ^no
^yes:
  ret 1
^no:
  ret 0
}"""),
])
def test_compare_and_branch_do_not_fuse(why: str, text: str) -> None:
    rc = lowered(text)
    ops = [i.op for b in rc.blocks for i in b.instrs]
    assert not any(op.startswith("cbr_") for op in ops), why
    assert "cbr" in ops
    f = parse1(text)
    for a in [(1, 2), (3, 2)]:
        assert regcode_outcome(rc, *a) == outcome(f, *a)


def test_lowering_does_not_change_its_input() -> None:
    text = """
func @f(%r0) {
^entry:
  %r1 = const 3
  %r0 = copy %r0
  %r2 = lt %r0, %r1
  cbr %r2, ^a, ^b
^a:
  ret %r1
^b:
  ret %r0
}"""
    f = parse1(text)
    g = copy.deepcopy(f)
    zir.lower(f)
    assert f == g


# --------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(("text", "message"), [
    ("func @f(%a) {\n^entry:\n  ret %a\n}", "function @f: parameter %a is not a register"),
    ("func @f(%r0) {\n^entry:\n  %x = add %r0, 1\n  ret %x\n}",
     "function @f, block ^entry, instruction `%x = add %r0, 1`: %x is not a register"),
    ("func @f(%r0) ssa {\n^entry:\n  ret %r0\n}",
     "function @f: lowering needs register-allocated IR out of SSA"),
    ("func @f(%r0) {\n^entry:\n  br ^b\n^b:\n  %r1 = phi [^entry: %r0]\n  ret %r1\n}",
     "function @f, block ^b: has phis"),
    ("func @f(%r0) {\n^entry:\n  spill %r0 {slot=-1}\n  ret %r0\n}", "slot -1 is not a frame slot number"),
])
def test_lowering_errors_name_the_place(text: str, message: str) -> None:
    with pytest.raises(zir.VerifyError) as err:
        zir.lower(parse1(text))
    assert message in str(err.value)


def _code(*blocks: RBlock, params: list[int] | None = None) -> RegCode:
    params = [0] if params is None else params
    return RegCode("g", params, list(blocks), 2, 1, param_names=[f"p{n}" for n in range(len(params))])


def _one(*instrs: RInstr) -> RegCode:
    """One block `^e` holding `instrs` (then `ret r0` unless the last is a terminator)."""
    body = list(instrs)
    if not body or body[-1].op not in ("ret", "br"):
        body.append(RET0)
    return _code(RBlock("e", body))


RET0 = RInstr("ret", None, (Reg(0),))
R0, R1 = Reg(0), Reg(1)


@pytest.mark.parametrize(("rc", "message"), [
    (_one(RInstr("ret", None, (Reg(2),))), "instruction `ret r2`: register r2 out of range (nregs=2)"),
    (_one(RInstr("add", R1, (R0,))), "'add' takes 2 operand(s), got 1"),
    (_one(RInstr("br", None, (), {}, (5,))), "target 5 out of range"),
    (_code(RBlock("e", [RInstr("add", R1, (R0, Imm(1)))])), "block does not end in a terminator"),
    (_one(RET0, RET0), "terminator before the end of the block"),
    (_code(RBlock("e", [])), "block b0 ^e: block is empty"),
    (_one(RInstr("spill", R1, (R0,))), "stores into a frame slot"),
    (_one(RInstr("spill", Slot(3), (R0,))), "frame slot s3 out of range (nslots=1)"),
    (_one(RInstr("reload", R1, (R0,))), "takes a frame slot (s<N>) as its first"),
    (_one(RInstr("add", R1, (Slot(0), R0))), "is not a register or an immediate"),
    (_one(RInstr("load_attr", R1, (R0,))), "needs exactly the attributes ['name']"),
    (_one(RInstr("frob", None, ())), "unknown register-code operation 'frob'"),
    (_one(RInstr("load_fast", None, ())), "unknown register-code operation 'load_fast'"),
    (_code(RBlock("e", [RET0], handler=1), RBlock("h", [RET0])), "a handler block must start with `catch`"),
    (_one(RInstr("catch", R1)), "`catch` must be the first instruction of a handler"),
    (_one(RInstr("br", None, (), {}, (0,))), "branch to the entry block"),
    (_code(RBlock("e", [RET0]), params=[0, 0]), "parameters arrive in the same register twice"),
    (_one(RInstr("const", R1, (R0,))), "`const` takes an immediate operand"),
    (_code(RBlock("e", [RInstr("cbr_lt", None, (R0, Imm(1)), {}, (1,))]), RBlock("x", [RET0])),
     "'cbr_lt' takes 2 target(s), got 1"),
])
def test_verifier_rejects(rc: RegCode, message: str) -> None:
    with pytest.raises(zir.VerifyError) as err:
        verify_regcode(rc)
    assert message in str(err.value) and str(err.value).startswith("regcode @g")


def test_register_code_ops_come_from_the_table() -> None:
    assert {"spill", "reload", "cbr_lt", "cbr_not_in"} <= set(REG_OPS)
    assert not (set(REG_OPS) & {"load_fast", "pop_jump_if_false", "for_iter"})  # ZBC-only rows
    assert set(zir.IR_OPS) <= set(REG_OPS)
    assert OPS["cbr_lt"].impl is not None and OPS["cbr_lt"].impl(1, 2) is True
    assert OPS["cbr_in"].impl(3, [1, 2]) is False and not OPS["cbr_is"].may_raise


# --------------------------------------------------------------------------------------------------
# Random programs: lowered register code computes what the original IR computes


@given(programs(), st.sampled_from(["", "O1", "O2"]), st.sampled_from([(2, 1), (3, 0), (16, 8)]))
def test_random_programs_lower_correctly(f: Function, pipeline: str, budget: tuple[int, int]) -> None:
    before = [outcome(f, *a) for a in ARGS]
    g = copy.deepcopy(f)
    passes.PassManager.parse(f"{pipeline},regalloc{{k={budget[0]},temps={budget[1]}}}".lstrip(","),
                             verify_each=True).run(g)
    rc = zir.lower(g)
    verify_regcode(rc)
    assert rc.nregs <= sum(budget)
    assert [regcode_outcome(rc, *a) for a in ARGS] == before


# --------------------------------------------------------------------------------------------------
# `zir dis --stage ...`

_DEMO = """
def total(xs, scale):
    acc = 0
    for x in xs:
        if x > 0:
            acc += x * scale
    return acc
"""


def test_dis_shows_every_stage(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from zir.cli import main

    src = tmp_path / "demo.py"
    src.write_text(_DEMO, encoding="utf-8")
    target = f"{src}:total"
    outs = {}
    for stage in ("zbc", "ir", "ssa", "regalloc", "register"):
        assert main(["dis", target, "--stage", stage, "-O", "2", "-k", "3", "--temps", "1"]) == 0, stage
        outs[stage] = capsys.readouterr().out
    assert ".code total" in outs["zbc"] and "FOR_ITER" in outs["zbc"]
    assert outs["ir"].startswith("func @total(%xs, %scale) {") and " ssa {" not in outs["ir"]
    assert outs["ssa"].startswith("func @total(%xs, %scale) ssa {") and " = phi " in outs["ssa"]
    regs = {v.name for _, i in zir.parse(outs["regalloc"]).functions["total"].instructions()
            for v in i.uses()}
    assert regs and regs <= {"r0", "r1", "r2", "r3"}
    assert outs["register"].startswith("regcode @total(xs=r") and "cbr_gt" in outs["register"]


def test_dis_of_an_ir_module_keeps_parameter_names(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from zir.cli import main

    src = tmp_path / "m.zir"
    src.write_text("func @f(%a, %b) {\n^entry:\n  %c = add %a, %b\n  ret %c\n}\n", encoding="utf-8")
    assert main(["dis", str(src), "--stage", "register"]) == 0
    assert capsys.readouterr().out.startswith("regcode @f(a=r")
    assert main(["dis", str(src), "--stage", "zbc"]) == 1
    assert "needs a Python target" in capsys.readouterr().err
    assert main(["dis", f"{tmp_path}/missing.py:f"]) == 1
    assert "cannot read" in capsys.readouterr().err
