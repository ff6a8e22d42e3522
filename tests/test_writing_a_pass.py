"""The example pass of docs/writing-a-pass.md, and its tests.

The code between the `tutorial` markers is the code the tutorial shows; `test_tutorial_shows_this_code`
keeps the two identical. The FileCheck test of the tutorial is tests/lit/passes/expand-pow.zir, which
loads this file with `zir opt --load`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import attrs

import passes
import zir
from passes.edit import NameSupply, all_names
from passes.facts import Kinds
from zir.ir import Const, Instr, Value


# --- tutorial: begin ---
@passes.register("expand-pow")
@attrs.frozen
class ExpandPow:
    """Rewrite `x ** n` as n - 1 multiplications (n a small int literal, x a proven int)."""

    max_exponent: int = 4  #: the largest n to expand

    def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
        if not f.ssa:
            # Kinds are exact only in SSA form, where an unbound local is a visible `undef`.
            return passes.PassResult.unchanged()
        kinds = Kinds(f)
        names = NameSupply(all_names(f))
        expanded = 0
        for block in f.blocks:
            out: list[Instr] = []
            for instr in block.instrs:
                n = self.exponent(instr, kinds)
                if n is None or not am.allow(f"expand {zir.format(instr)} in ^{block.label}"):
                    out.append(instr)
                    continue
                x = instr.args[0]
                acc: Value = x
                for k in range(n - 1):
                    # the last multiplication defines the original result; the others are temporaries
                    dest = instr.dest if k == n - 2 else names.var()
                    out.append(Instr("mul", dest, [acc, x], line=instr.line))
                    acc = dest
                expanded += 1
            block.instrs = out
        if not expanded:
            return passes.PassResult.unchanged()
        # Only instructions changed: the CFG and everything computed from it are still valid.
        return passes.PassResult(True, passes.PreservedAnalyses.cfg(), {"powers expanded": expanded})

    def exponent(self, instr: Instr, kinds: Kinds) -> int | None:
        """n when `instr` is `%y = pow %x, n` that this pass may expand, else None."""
        if instr.op != "pow" or instr.dest is None:
            return None
        x, e = instr.args
        if not (isinstance(e, Const) and type(e.value) is int and 2 <= e.value <= self.max_exponent):
            return None
        # x ** 2 == x * x for ints, but not always for floats, and not at all for user classes
        return e.value if kinds.is_int(x) else None
# --- tutorial: end ---


SOURCE = """
func @cube(%n) {
^entry:
  %i = const 0
  %s = const 0
  br ^loop
^loop:
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body:
  %p = pow %i, 3
  %s = add %s, %p
  %i = add %i, 1
  br ^loop
^exit:
  %q = pow %n, 2
  %r = build_tuple %s, %q
  ret %r
}
"""


def cube() -> zir.Function:
    (f,) = zir.parse(SOURCE).functions.values()
    return f


def test_expands_powers_of_proven_ints_only() -> None:
    from ir_interp import outcome

    f = cube()
    report = passes.PassManager.parse("ssa,expand-pow", verify_each=True).run(f)
    assert report.stat("expand-pow", "powers expanded") == 1
    body = [zir.format(i) for i in f.block("body").instrs]
    assert body[:2] == ["%$t1 = mul %i.1, %i.1", "%p.0 = mul %$t1, %i.1"]
    # %n is a parameter: its type is unknown, so `pow %n, 2` stays
    assert "pow %n, 2" in zir.format(f)
    passes.PassManager.parse("ssa-destroy", verify_each=True).run(f)
    for n in (0, 1, 4):
        assert outcome(f, n) == outcome(cube(), n)
    assert outcome(f, 4) == ("ok", (36, 16))


def test_option_from_the_pipeline_string() -> None:
    f = cube()
    report = passes.PassManager.parse("ssa,expand-pow{max_exponent=2}").run(f)
    assert report.stat("expand-pow{max_exponent=2}", "powers expanded") == 0
    assert passes.PassManager.parse("expand-pow{max_exponent=8}").passes[0] == ExpandPow(8)


def test_needs_ssa_form() -> None:
    f = cube()
    assert not passes.PassManager.parse("expand-pow").run(f).changed


def test_bisect_can_stop_it() -> None:
    out = io.StringIO()
    f = cube()
    passes.PassManager.parse("ssa,expand-pow", bisect_limit=1, stream=out).run(f)
    assert out.getvalue().splitlines() == [
        "BISECT: running transformation #1 (ssa: construct SSA form of @cube)",
        "BISECT: NOT running transformation #2 (expand-pow: expand %p.0 = pow %i.1, 3 in ^body)",
    ]
    assert "pow %i.1, 3" in zir.format(f)


def test_listed_with_the_other_passes() -> None:
    assert "expand-pow" in passes.known_passes()
    assert passes.describe("expand-pow").startswith("Rewrite `x ** n`")


def test_tutorial_shows_this_code() -> None:
    here = Path(__file__).read_text()
    code = here.split("# --- tutorial: begin ---\n")[1].split("# --- tutorial: end ---")[0]
    doc = (Path(__file__).parents[1] / "docs" / "writing-a-pass.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert code in blocks, "docs/writing-a-pass.md must show the pass exactly as this file has it"
