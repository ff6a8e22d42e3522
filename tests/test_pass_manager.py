"""The PassManager: pipeline strings, registration, the analysis cache and the instrumentation."""

from __future__ import annotations

import gc
import io
from typing import Literal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ir_interp import outcome
from ir_programs import ARGS, programs

import passes
import zir
from passes.pipeline import convert_option, parse_items

SAMPLE = """
func @f(%a) {
^entry:
  %x = add 1, 2
  %y = mul %x, %a
  %dead = add 40, 2
  cbr True, ^yes, ^no
^yes:
  ret %y
^no:
  ret 0
}
func @g(%a) {
^entry:
  ret %a
}
"""


def sample() -> zir.Module:
    return zir.parse(SAMPLE)


# Test passes, registered once for the whole module under names no built-in uses.

@passes.register("test-options")
@attrs.frozen
class OptionsPass:
    """A pass with one option of every kind a pipeline string can spell."""

    k: int = 16
    ratio: float = 0.5
    verbose: bool = False
    mode: Literal["fast", "slow"] = "fast"
    tag: str = "t"
    limit: int | None = None

    def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
        return passes.PassResult.unchanged(stats={"functions seen": 1})


@passes.register("test-break-ir")
@attrs.frozen
class BreakIR:
    """Deletes the entry block's terminator (so verify_each must catch it)."""

    def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
        f.blocks[0].instrs.pop()
        return passes.PassResult(True)


@passes.register("test-crash")
@attrs.frozen
class Crash:
    """Raises an ordinary Python exception (a bug in a pass)."""

    def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
        raise ValueError("boom")


@passes.register("test-bad-result")
@attrs.frozen
class BadResult:
    """Returns something that is not a PassResult."""

    def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
        return True  # type: ignore[return-value]


@passes.register("test-query")
@attrs.frozen
class Query:
    """Asks for the CFG and liveness; claims to preserve what its option says."""

    preserve: Literal["all", "cfg", "none"] = "cfg"

    def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
        am.cfg(f)
        am.liveness(f)
        kept = {"all": passes.PreservedAnalyses.all(), "cfg": passes.PreservedAnalyses.cfg(),
                "none": passes.PreservedAnalyses.none()}[self.preserve]
        return passes.PassResult(True, kept)


@passes.register("test-function-pass")
def count_blocks(f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
    """A pass written as a plain function."""
    return passes.PassResult.unchanged(stats={"blocks": len(f.blocks)})


# Pipeline strings -------------------------------------------------------------------------------

def test_parse_the_design_pipeline() -> None:
    pm = passes.PassManager.parse("peephole,ssa,dce,copyprop,ssa-destroy")
    assert [p.name for p in pm.passes] == ["peephole", "ssa", "dce", "copyprop", "ssa-destroy"]
    assert pm.pipeline == "peephole,ssa,dce,copyprop,ssa-destroy"


def test_options_are_converted_to_field_types() -> None:
    pm = passes.PassManager.parse('test-options{k=8, ratio=2.5, verbose=true, mode=slow, tag="a,b", limit=3}')
    p = pm.passes[0]
    assert (p.k, p.ratio, p.verbose, p.mode, p.tag, p.limit) == (8, 2.5, True, "slow", "a,b", 3)
    assert isinstance(p.k, int) and isinstance(p.ratio, float)


def test_canonical_pipeline_round_trips() -> None:
    text = 'test-options{k=8,verbose=true,tag="x{y}"},peephole{dse=false},ssa'
    pm = passes.PassManager.parse(text)
    again = passes.PassManager.parse(pm.pipeline)
    assert again.passes == pm.passes
    assert passes.PassManager.parse("test-options{k=16}").pipeline == "test-options"


def test_option_none_for_optional_fields() -> None:
    assert passes.PassManager.parse("test-options{limit=none}").passes[0].limit is None


@pytest.mark.parametrize("text, message", [
    ("test-options{k=many}", "option 'k' of pass 'test-options' expects an integer, got 'many'"),
    ("test-options{verbose=perhaps}", "expects a boolean"),
    ("test-options{mode=medium}", "expects one of fast, slow"),
    ("test-options{ratio=x}", "expects a number"),
    ("test-options{nope=1}", "pass 'test-options' has no option 'nope' (its options: k, ratio, verbose"),
    ("dce{k=1}", "pass 'dce' has no option 'k' (its options: none)"),
    ("test-options{k=1,k=2}", "column 18: option 'k' given twice"),
    ("peephole,,dce", "column 10: expected a pass name, found ','"),
    ("peephole{dse=false", "expected ',' or '}' in the option list, found end of pipeline"),
    ("peephole dce", "column 10: expected ',' between passes"),
    ("test-options{k}", "expected '=' after option 'k'"),
    ("O2{x=1}", "level 'O2' takes no options"),
])
def test_pipeline_errors(text: str, message: str) -> None:
    with pytest.raises(zir.PassError) as info:
        passes.PassManager.parse(text)
    assert message in str(info.value)
    assert text in str(info.value)


def test_unknown_pass_lists_known_names_and_suggests() -> None:
    with pytest.raises(zir.PassError) as info:
        passes.PassManager.parse("peephole,ssa-destory")
    msg = str(info.value)
    assert "column 10" in msg and "unknown pass 'ssa-destory'" in msg
    assert "(did you mean 'ssa-destroy'?)" in msg
    for name in ("copyprop", "dce", "peephole", "ssa", "ssa-destroy"):
        assert name in msg.split("known passes:")[1]


def test_levels_expand() -> None:
    assert passes.PassManager.parse("O0").passes == []
    assert [p.name for p in passes.PassManager.parse("O1").passes] == ["peephole", "dce"]
    o2 = [p.name for p in passes.PassManager.parse("O2").passes]
    assert o2[:2] == ["peephole", "ssa"] and "ssa-destroy" in o2 and "regalloc" not in o2
    assert [p.name for p in passes.PassManager.parse("O1,ssa").passes] == ["peephole", "dce", "ssa"]
    assert passes.level_pipeline(2) == passes.LEVELS["O2"]
    with pytest.raises(zir.PassError):
        passes.level_pipeline(7)


def test_parse_items_keeps_columns() -> None:
    items = parse_items("  dce , ssa{pruned=false}")
    got = [(i.name, i.options, i.column) for i in items]
    assert got == [("dce", (), 3), ("ssa", (("pruned", "false"),), 9)]


def test_convert_option_union_and_literal() -> None:
    assert convert_option("0x10", int) == 16
    assert convert_option("none", int | None) is None
    assert convert_option("on", bool) is True
    with pytest.raises(ValueError):
        convert_option("2", Literal["a", "b"])


def test_add_appends_passes() -> None:
    pm = passes.PassManager.parse("O1").add("test-options{k=4}").add(passes.pass_class("dce")())
    assert pm.pipeline == "peephole,dce,test-options{k=4},dce"


def test_only_registered_passes_can_be_added() -> None:
    with pytest.raises(zir.PassError, match="is not a pass"):
        passes.PassManager([object()])
    with pytest.raises(zir.PassError, match="is not a pass"):
        passes.PassManager().add(OptionsPass)  # the class, not an instance


def test_function_pass_registration() -> None:
    report = passes.PassManager.parse("test-function-pass").run(sample().functions["f"])
    assert report.stat("test-function-pass", "blocks") == 3


# Registration -----------------------------------------------------------------------------------

def test_builtin_passes_are_registered() -> None:
    known = passes.known_passes()
    for name in ("peephole", "ssa", "dce", "copyprop", "ssa-destroy"):
        assert name in known
        assert passes.describe(name)


def test_registering_a_taken_name_fails() -> None:
    with pytest.raises(zir.PassError, match="registered twice"):
        @passes.register("dce")
        @attrs.frozen
        class Impostor:
            def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
                return passes.PassResult.unchanged()


def test_register_needs_attrs_and_run() -> None:
    with pytest.raises(zir.PassError, match="must be an attrs class"):
        passes.register("test-not-attrs")(type("NotAttrs", (), {"run": lambda self, f, am: None}))
    with pytest.raises(zir.PassError, match="has no run"):
        passes.register("test-no-run")(attrs.frozen(type("NoRun", (), {})))


def test_a_new_module_in_the_package_registers_itself(tmp_path: object) -> None:
    # what the register allocator will do: a module of `passes` with a @register is all it takes
    import importlib
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(passes.__path__)}
    assert {"peephole", "ssa", "dce", "copyprop", "ssa_destroy"} <= modules
    for name in ("ssa", "dce"):
        assert passes.pass_class(name).__module__ == importlib.import_module(f"passes.{name}").__name__


# Running ----------------------------------------------------------------------------------------

def test_run_module_returns_per_pass_records() -> None:
    m = sample()
    report = passes.PassManager.parse("peephole,dce").run(m)
    assert [(r.pass_name, r.function) for r in report] == [
        ("peephole", "f"), ("dce", "f"), ("peephole", "g"), ("dce", "g")]
    first = report.records[0]
    assert first.changed and first.instrs_before > first.instrs_after
    assert report.stat("peephole", "constants folded") >= 2
    assert report.changed
    assert zir.format(m.functions["g"]).count("\n") == 4


def test_verify_each_names_the_pass() -> None:
    with pytest.raises(zir.VerifyError) as info:
        passes.PassManager.parse("dce,test-break-ir", verify_each=True).run(sample().functions["f"])
    assert "after pass 'test-break-ir'" in str(info.value)
    assert "@f" in str(info.value)


def test_verify_each_checks_the_input_first() -> None:
    f = sample().functions["f"]
    f.blocks[1].instrs.pop()
    with pytest.raises(zir.VerifyError, match="the input to the pipeline"):
        passes.PassManager.parse("dce", verify_each=True).run(f)


def test_crashing_pass_is_a_pass_error_naming_pass_and_function() -> None:
    with pytest.raises(zir.PassError, match=r"pass 'test-crash' failed on function @f: ValueError: boom"):
        passes.PassManager.parse("test-crash").run(sample().functions["f"])
    with pytest.raises(zir.PassError, match="returned bool, not a passes.PassResult"):
        passes.PassManager.parse("test-bad-result").run(sample().functions["f"])


def test_analysis_cache_and_invalidation() -> None:
    f = sample().functions["f"]
    am = passes.AnalysisManager()
    g1 = am.cfg(f)
    assert am.cfg(f) is g1 and am.hits == 1 and am.misses == 1
    am.liveness(f)
    assert am.invalidate(f, passes.PreservedAnalyses.cfg()) == ["liveness"]
    assert am.cached("cfg", f) and not am.cached("liveness", f)
    am.get("dominators", f)
    # an analysis survives only with everything it is built from
    assert am.invalidate(f, passes.PreservedAnalyses.of("dominators")) == ["cfg", "dominators"]
    assert am.invalidate(f, passes.PreservedAnalyses.all()) == []
    with pytest.raises(zir.PassError, match="unknown analysis 'livenes' .*did you mean liveness"):
        am.get("livenes", f)


def test_manager_drops_what_a_pass_did_not_preserve() -> None:
    f = sample().functions["f"]
    pm = passes.PassManager.parse("test-query{preserve=cfg}")
    pm.passes[0].run(f, pm.analyses)
    pm.analyses.invalidate(f, passes.PreservedAnalyses.cfg())
    assert pm.analyses.cached("cfg", f) and not pm.analyses.cached("liveness", f)
    pm2 = passes.PassManager.parse("test-query{preserve=cfg},test-query{preserve=cfg}")
    pm2.run(f)
    # the second pass found the CFG cached, recomputed liveness
    assert pm2.analyses.hits == 1 and pm2.analyses.misses == 3


def test_user_analysis_registration() -> None:
    calls = []

    def count(f: zir.Function) -> int:
        calls.append(f.name)
        return len(f.blocks)

    passes.register_analysis("test-block-count", count, requires=("cfg",))
    f = sample().functions["g"]
    am = passes.AnalysisManager()
    assert am.get("test-block-count", f) == am.get("test-block-count", f) == 1
    assert calls == ["g"]
    am.invalidate(f, passes.PreservedAnalyses.of("test-block-count"))
    assert not am.cached("test-block-count", f)


# Instrumentation --------------------------------------------------------------------------------

def _run(pipeline: str, **options: object) -> str:
    out = io.StringIO()
    passes.PassManager.parse(pipeline, stream=out, **options).run(sample())  # type: ignore[arg-type]
    return out.getvalue()


def test_print_after_all_prints_every_pass_and_parses() -> None:
    text = _run("peephole,dce", print_after="all")
    assert text.count("; *** IR Dump After peephole on @f ***") == 1
    assert text.count("; *** IR Dump After dce on @") == 2
    assert zir.parse(text.split("; *** IR Dump After dce on @f ***\n")[1].split(";")[0])


def test_print_after_selected_names() -> None:
    text = _run("peephole,dce", print_after=["dce"])
    assert "After peephole" not in text and "After dce on @f" in text
    assert "After dce" in _run("peephole,dce", print_after="dce,ssa")


def test_print_changed_is_quiet_for_unchanged_passes() -> None:
    text = _run("peephole,dce,test-options", print_changed=True)
    assert "After peephole on @f" in text
    assert "After test-options" not in text and "After peephole on @g" not in text


def test_print_diff_shows_a_unified_diff() -> None:
    text = _run("peephole", print_diff=True)
    assert "; *** IR Diff After peephole on @f ***" in text
    assert "--- before peephole" in text and "+++ after peephole" in text
    assert "-  %x = add 1, 2" in text and "+  %y = mul 3, %a" in text and "-^no:" in text


def test_time_passes_table() -> None:
    text = _run("peephole,dce", time_passes=True)
    assert "Pass execution timing report" in text
    assert "Total Execution Time" in text
    for name in ("peephole", "dce", "Total"):
        assert any(line.rstrip().endswith(name) for line in text.splitlines())


def test_stats_table() -> None:
    text = _run("peephole,dce", stats=True)
    assert "Statistics Collected" in text
    assert any("peephole - constants folded" in line for line in text.splitlines())


def test_bisect_limit_runs_only_the_first_n_transformations() -> None:
    full = io.StringIO()
    m_full = sample()
    passes.PassManager.parse("peephole,dce", bisect_limit=10_000, stream=full).run(m_full)
    lines = full.getvalue().splitlines()
    total = len(lines)
    assert total >= 3 and all(line.startswith("BISECT: running transformation #") for line in lines)
    assert lines[0] == ("BISECT: running transformation #1 "
                        "(peephole: fold cbr True, ^yes, ^no to br ^yes in ^entry of @f)")
    assert lines[1] == ("BISECT: running transformation #2 (peephole: fold %x = add 1, 2 in ^entry of @f "
                        "to %x = const 3)")
    for limit in range(total + 1):
        out = io.StringIO()
        m = sample()
        pm = passes.PassManager.parse("peephole,dce", bisect_limit=limit, stream=out)
        pm.run(m)
        log = out.getvalue().splitlines()
        assert sum(1 for x in log if x.startswith("BISECT: running")) == limit
        assert all(x.startswith("BISECT: NOT running") for x in log[limit:])
        zir.verify(m)
        if limit == 0:
            assert m == sample()
    assert m == m_full


def test_bisect_numbers_continue_across_runs() -> None:
    out = io.StringIO()
    pm = passes.PassManager.parse("peephole", bisect_limit=1, stream=out)
    pm.run(sample().functions["f"])
    pm.run(sample().functions["f"])
    assert "NOT running transformation #" in out.getvalue().splitlines()[-1]
    assert pm.bisector.allowed == 1


def test_negative_bisect_limit_is_rejected() -> None:
    with pytest.raises(zir.PassError):
        passes.PassManager(bisect_limit=-1)


@settings(max_examples=60)
@given(programs(), st.integers(0, 60))
def test_every_bisect_prefix_of_o2_is_valid_and_correct(f: zir.Function, limit: int) -> None:
    before = [outcome(f, *a) for a in ARGS]
    pm = passes.PassManager.parse("O2", verify_each=True, bisect_limit=limit, stream=io.StringIO())
    pm.run(f)
    assert [outcome(f, *a) for a in ARGS] == before


LOOP = """
func @count(%n) {
^entry:
  %i = const 0
  br ^loop
^loop:
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body:
  %i = add %i, 1
  br ^loop
^exit:
  ret %i
}
"""


def test_stat_by_bare_name_sums_the_runs_with_options() -> None:
    report = passes.PassManager.parse("ssa{pruned=false},ssa-destroy,ssa").run(zir.parse(LOOP))
    minimal = report.stat("ssa{pruned=false}", "phis placed")
    pruned = report.stat("ssa", "phis placed") - minimal  # the bare name sums every spelling
    assert minimal >= 1 and pruned >= 1
    assert report.stat("ssa{pruned=true}", "phis placed") == 0  # never ran with that spelling


def test_run_freezes_the_objects_before_it_and_restores_the_collector() -> None:
    seen: list[int] = []

    @attrs.frozen
    class Probe:
        name = "probe"

        def run(self, f: zir.Function, am: passes.AnalysisManager) -> passes.PassResult:
            seen.append(gc.get_freeze_count())
            return passes.PassResult.unchanged()

    (f,) = zir.parse("func @f() {\n^entry:\n  ret 1\n}").functions.values()
    pm = passes.PassManager()
    pm.passes.append(Probe())
    assert gc.get_freeze_count() == 0
    pm.run(f)
    assert seen[-1] > 0 and gc.get_freeze_count() == 0 and gc.isenabled()
    # someone else's frozen objects are left as they are, and so is a disabled collector
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        pm.run(f)
        assert seen[-1] == frozen and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        pm.run(f)
        assert seen[-1] == 0 and not gc.isenabled()
    finally:
        gc.enable()
