"""The `zir` command: run, profile, opt, dis and dot on every kind of target, exit codes (0 ok,
1 program error, 2 usage error), one-line errors, --check against CPython, progress lines.

Everything runs in-process through `zir.cli.main` (fast); one test runs the installed `zir` script
and `python -m zir` to check the entry points exist.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import zir
from vm.difftest import Outcome
from zir.cli import main
from zir.cli_progress import Progress
from zir.cli_targets import parse_call_args

PROG = '''\
import helper


def total(xs, scale=1):
    acc = 0
    for x in xs:
        if x > 0:
            acc += x * scale
    return acc


def greet(name, *, punct="!"):
    print("hello,", name + punct)


def divide(a, b):
    return a // b


def spin(n):
    i = 0
    while i < n:
        i += 1
    return helper.double(i)


class Box:
    def get(self, k):
        return k + 1
'''

ZASM = """\
.code count
.params n
    LOAD_CONST 0
    STORE_FAST i
loop:
    LOAD_FAST i
    LOAD_FAST n
    LT
    POP_JUMP_IF_FALSE done
    LOAD_FAST i
    LOAD_CONST 1
    IADD
    STORE_FAST i
    JUMP loop
done:
    LOAD_FAST i
    RETURN_VALUE
"""

MODULE = """\
func @one(%a) {
^entry:
  %b = add %a, 1
  ret %b
}

func @two(%a, %b) {
^entry:
  %c = mul %a, %b
  ret %c
}
"""


@pytest.fixture
def prog(tmp_path: Path) -> Path:
    """prog.py (which imports helper.py from its own directory), count.zasm and m.zir."""
    (tmp_path / "helper.py").write_text("def double(x):\n    return 2 * x\n", encoding="utf-8")
    path = tmp_path / "prog.py"
    path.write_text(PROG, encoding="utf-8")
    (tmp_path / "count.zasm").write_text(ZASM, encoding="utf-8")
    (tmp_path / "m.zir").write_text(MODULE, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- zir run -----------------------------------------------------------------------------------------


def test_run_prints_output_then_result(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "run", f"{prog}:total", "[1, -2, 3]", "scale=10") == (0, "40\n", "")
    # output as it runs; a None result prints nothing (as the interactive interpreter)
    assert run(capsys, "run", f"{prog}:greet", "'zir'", "punct='?'") == (0, "hello, zir?\n", "")
    # a method reached through its class, and an import from the file's own directory
    assert run(capsys, "run", f"{prog}:Box.get", "None", "41")[:2] == (0, "42\n")
    assert run(capsys, "run", f"{prog}:spin", "5")[:2] == (0, "10\n")


@pytest.mark.parametrize("options", [["--mode", "stack", "-O0"], ["--mode", "stack", "-O2"],
                                     ["--mode", "register", "-O0"], ["-O1"], ["--no-pools"]])
def test_run_every_configuration(prog: Path, capsys: pytest.CaptureFixture[str], options: list[str]) -> None:
    assert run(capsys, "run", f"{prog}:total", "[4, 5]", "2", *options)[:2] == (0, "18\n")


def test_arguments_after_options_and_negative_numbers(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "run", f"{prog}:divide", "-O0", "-7", "2")[:2] == (0, "-4\n")
    assert run(capsys, "run", f"{prog}:divide", "7", "--mode", "stack", "-2")[:2] == (0, "-4\n")


def test_program_exception_is_one_line_exit_1(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", f"{prog}:divide", "1", "0")
    assert (code, out) == (1, "")
    assert err == f"zir: error: {prog}:divide raised ZeroDivisionError: integer division or modulo by zero\n"
    code, _, err = run(capsys, "run", f"{prog}:divide", "1", "0", "--traceback")
    assert code == 1 and "Traceback (most recent call last)" in err and "ZeroDivisionError" in err


def test_usage_errors_exit_2(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["run", f"{prog}:total", "abc"], "argument 'abc' is not a Python literal"),
        (["run", f"{prog}:greet", "name='a'", "'b'"], "positional argument \"'b'\" follows a keyword"),
        (["run", str(prog), "1"], "name the function"),
        (["run", f"{prog.parent / 'm.zir'}"], "expected FILE.py:FUNC, FILE.zasm, FILE.json"),
        (["run", f"{prog}:total", "[1]", "-o", "out.txt"], "-o OUT is where the profile report goes"),
        (["run", f"{prog}:total", "[1]", "--profile", "none", "--report", "json"],
         "--report needs a profile"),
        (["run", f"{prog.parent / 'count.zasm'}", "3", "--check"], "--check compares with CPython"),
        (["run", f"{prog}:total", "[1]", "--bogus"], "unrecognized arguments: --bogus"),
        (["dot", "domtree", f"{prog}:total", "--profile-args", "[1]"], "does not apply to domtree"),
        (["dot", "cfg", f"{prog.parent / 'm.zir'}"], "holds 2 functions (one, two)"),
        (["run", f"{prog}:spin", "3", "--max-steps", "-5"], "--max-steps: must be at least 0, got -5"),
        (["opt", f"{prog}:total", "--bisect-limit", "x"], "--bisect-limit: expected an integer, got 'x'"),
        (["dis", f"{prog}:total", "--stage", "regalloc", "-k", "0"], "-k: must be at least 1, got 0"),
        (["dot", "interference", f"{prog}:total", "--temps", "-1"], "--temps: must be at least 0, got -1"),
    ]
    for argv, message in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, (argv, err)
        assert message in err, (argv, err)
    assert run(capsys, "run")[0] == 2  # argparse: TARGET missing
    assert run(capsys, "dis", f"{prog}:total", "--stage", "nope")[0] == 2


def test_a_result_that_cannot_be_shown_is_one_line(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """repr() of the result raising (a user __repr__, an int past the str-conversion limit) is the
    program's problem: exit status 1 and one line, with or without --check; never a traceback."""
    path = tmp_path / "shown.py"
    path.write_text("class Bad:\n    def __repr__(self):\n        raise RuntimeError('no repr')\n\n\n"
                    "def bad():\n    return Bad()\n\n\ndef big():\n    return 10 ** 5000\n",
                    encoding="utf-8")
    code, out, err = run(capsys, "run", f"{path}:bad")
    assert (code, out) == (1, "") and err == (f"zir: error: {path}:bad returned a value of type Bad whose "
                                              "repr() raised RuntimeError: no repr\n")
    code, _, err = run(capsys, "run", f"{path}:big", "--profile", "basic")
    assert code == 1 and "whose repr() raised ValueError: Exceeds the limit" in err
    code, _, err = run(capsys, "run", f"{path}:bad", "--check")
    assert code == 1
    # the comparison itself copes (both sides' repr raises the same), then showing the value fails
    assert err.endswith(f"zir: error: {path}:bad returned a value of type Bad whose repr() raised "
                        "RuntimeError: no repr\n") and "agree" in err


def test_load_failures_are_one_line(prog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--load of a module that raises (anything) or does not exist: exit status 1, one line with
    the file and line, also when no pipeline is given; the half-run module is not kept."""
    broken = tmp_path / "broken_passes.py"
    broken.write_text("import os\n\nraise ValueError('not today')\n", encoding="utf-8")
    m = str(prog.parent / "m.zir")
    for argv in (["opt", m, "--load", str(broken)], ["opt", m, "-p", "dce", "--load", str(broken)],
                 ["dis", m, "--load", str(broken)], ["dot", "cfg", f"{m}:one", "--load", str(broken)]):
        code, out, err = run(capsys, *argv)
        assert (code, out) == (1, ""), argv
        assert err == f"zir: error: cannot load passes from {broken}:3: ValueError: not today\n", argv
        assert "broken_passes" not in sys.modules
    code, _, err = run(capsys, "opt", m, "--load", "no_such_module_here")
    assert code == 1 and err == ("zir: error: cannot load passes from no_such_module_here: "
                                 "ModuleNotFoundError: No module named 'no_such_module_here'\n")


def test_dis_reads_the_pipeline_at_every_stage(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for stage in ("zbc", "ir", "opt"):
        code, out, err = run(capsys, "dis", f"{prog}:total", "--stage", stage, "-p", "dce{")
        assert code == 1 and out == "" and "zir: error: pipeline 'dce{'" in err, stage


def test_load_errors_exit_1_and_name_the_place(tmp_path: Path, prog: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\n\ny = 1 / 0\n", encoding="utf-8")
    cases = [
        ([f"{tmp_path / 'missing.py'}:f"], "cannot read"),
        ([f"{prog}:nothing"], "has no function 'nothing'"),
        ([f"{bad}:x"], f"{bad}:3: importing {bad} raised ZeroDivisionError: division by zero"),
        ([f"{prog.parent / 'm.zir'}:three"], "no function @three (it has: one, two)"),
    ]
    for target, message in cases:
        code, _, err = run(capsys, "dis", *target)
        assert code == 1 and err.startswith("zir: error: ") and message in err, err
        assert err.count("\n") == 1


def test_vm_limit_is_a_zir_error(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", f"{prog}:spin", "100000", "--max-steps", "500")
    assert code == 1 and out == ""
    assert err.startswith("zir: error: ") and "max_steps=500" in err and err.count("\n") == 1


def test_run_zasm_target_and_stats(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", str(prog.parent / "count.zasm"), "7", "--stats", "--mode", "stack")
    assert (code, out) == (0, "7\n")
    assert json.loads(err)["mode"] == "stack"


# -- --check -----------------------------------------------------------------------------------------


def test_check_agrees(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "run", f"{prog}:greet", "'x'", "--check")
    assert (code, out) == (0, "hello, x!\n")  # the VM's output, replayed
    assert "and CPython agree" in err
    code, out, err = run(capsys, "run", f"{prog}:divide", "1", "0", "--check", "--mode", "stack")
    assert code == 1 and "agree" in err and "raised ZeroDivisionError" in err


def test_check_fails_loudly_on_a_real_difference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The host frame a VM function sees is not the CPython frame of the function: an observable
    # difference that --check must report.
    src = tmp_path / "frames.py"
    src.write_text("import sys\n\ndef who():\n    return sys._getframe().f_code.co_name\n", encoding="utf-8")
    code, _, err = run(capsys, "run", f"{src}:who", "--check")
    assert code == 1
    assert "differs from CPython" in err and "return value: CPython 'who'" in err
    assert err.rstrip().splitlines()[-1] == f"zir: error: {src}:who: --check failed (1 difference)"


def test_check_runs_cpython_on_globals_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check runs the function twice; a global the function changes must not make the second run
    differ. CPython's run gets a second copy of the module (its top level's output not repeated),
    whose classes still print as the module's."""
    source = ("print('loading')\nCALLS = []\n\n\nclass Ticket:\n    def __init__(self, n):\n"
              "        self.n = n\n\n\ndef take():\n    CALLS.append(1)\n    return Ticket(len(CALLS))\n")
    for mode in ("register", "stack"):
        path = tmp_path / f"counter_{mode}.py"  # one process per command in real use: a new module
        path.write_text(source, encoding="utf-8")
        code, out, err = run(capsys, "run", f"{path}:take", "--check", "--mode", mode)
        assert code == 0, err
        assert "and CPython agree" in err and out.count("loading") == 1
        assert f"<counter_{mode}.Ticket object" in out


def test_check_runs_a_coroutine_to_completion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "aio.py"
    src.write_text("import asyncio\n\nasync def nap(n):\n    await asyncio.sleep(0)\n    print('woke')\n"
                   "    return n * 2\n", encoding="utf-8")
    code, out, err = run(capsys, "run", f"{src}:nap", "21", "--check")
    assert (code, out) == (0, "woke\n42\n") and "agree" in err


@pytest.mark.parametrize("fake, expect", [
    (Outcome("41", "int", None, (), "hello, x!\n", "((), {})"), "return value: CPython"),
    (Outcome("None", "NoneType", None, (), "bye\n", "((), {})"), "stdout differs"),
])
def test_check_reports_each_kind_of_difference(prog: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, fake: Outcome,
                                               expect: str) -> None:
    import vm.difftest

    monkeypatch.setattr(vm.difftest, "run_machine", lambda *a, **k: fake)
    code, _, err = run(capsys, "run", f"{prog}:greet", "'x'", "--check")
    assert code == 1 and expect in err and "--check failed" in err


# -- profiles ----------------------------------------------------------------------------------------


def test_profile_prints_full_report_after_result(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "profile", f"{prog}:spin", "1200")
    assert code == 0
    result, report = out.split("\n", 1)
    assert result == "2400"
    assert report.startswith("zir profile (register mode, level full)")
    for section in ("opcodes:", "hottest instructions:", "memory operations:",
                    "branches (taken / not taken):", "hot loops (back edges >= 1000):"):
        assert section in report
    assert "spin:" in report.split("hot loops")[1]  # 1200 iterations: a hot loop


def test_run_profile_reports_to_files(prog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_html = tmp_path / "p.json", tmp_path / "p.html"
    code, out, _ = run(capsys, "run", f"{prog}:spin", "30", "--report", "json", "-o", str(out_json))
    assert (code, out) == (0, "60\n")
    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["level"] == "full" and data["total_instructions"] > 30
    code, out, _ = run(capsys, "profile", f"{prog}:spin", "30", "--mode", "stack", "--report", "html",
                       "-o", str(out_html))
    assert (code, out) == (0, "60\n")
    assert out_html.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    code, out, _ = run(capsys, "run", f"{prog}:spin", "3", "--profile", "basic")
    assert code == 0 and out.startswith("6\nzir profile (register mode, level basic)")


# -- opt, dis ----------------------------------------------------------------------------------------


def test_opt_takes_every_target_kind(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "opt", f"{prog}:total", "-p", "O2")
    assert code == 0 and out.startswith("func @total(%xs, %scale) {")
    assert zir.parse(out).functions["total"].name == "total"
    code, out, _ = run(capsys, "opt", str(prog.parent / "count.zasm"), "-p", "O2")
    assert code == 0 and out.startswith("func @count(%n) {")
    code, out, _ = run(capsys, "opt", f"{prog.parent / 'm.zir'}:two")
    assert code == 0 and out == MODULE.split("\n\n")[1]


def test_dis_stages(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{prog}:total"
    outs = {}
    for stage in ("zbc", "ir", "ssa", "opt", "stackify", "regalloc", "register"):
        code, outs[stage], _ = run(capsys, "dis", target, "--stage", stage, "-O2")
        assert code == 0, stage
    assert outs["zbc"].startswith(".code total\n") and f".filename '{prog}'\n" in outs["zbc"]
    assert zir.format(zir.lift(zir.bytecode.assemble(outs["zbc"]))) == outs["ir"]  # ir: no passes
    assert " ssa {" in outs["ssa"] and " ssa {" not in outs["opt"] and outs["opt"] != outs["ir"]
    assert outs["regalloc"].startswith("func @total(%r") and outs["register"].startswith("regcode @total(")
    # stackify: the ZBC the stack VM runs at O2, re-emitted from the optimized IR
    shown = zir.bytecode.assemble(outs["stackify"])
    again = zir.stackify(zir.parse(outs["opt"]).functions["total"])
    assert (shown.instrs, shown.varnames, shown.consts) == (again.instrs, again.varnames, again.consts)
    code, every, _ = run(capsys, "dis", target, "--stage", "all", "-O2")
    assert code == 0
    assert every == "\n".join(f"; ---- {s} ----\n{outs[s]}" for s in outs)
    # -O0 (the default): opt is the lifted IR; zasm targets have a zbc stage, IR modules do not
    assert run(capsys, "dis", target, "--stage", "opt")[1] == outs["ir"]
    assert run(capsys, "dis", str(prog.parent / "count.zasm"), "--stage", "zbc")[1].startswith(".code count")
    code, every, _ = run(capsys, "dis", str(prog.parent / "m.zir"), "--stage", "all")
    assert code == 0 and "; ---- zbc ----" not in every and every.startswith("; ---- ir ----\nfunc @one")


def test_opt_instrumentation_flags(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--print-after (named and all), --print-changed, --time-passes, --stats, --bisect-limit and
    --verify-each: reports on stderr, the IR alone on stdout."""
    target = f"{prog}:total"
    code, plain, _ = run(capsys, "opt", target, "-p", "O2")
    assert code == 0
    code, out, err = run(capsys, "opt", target, "-p", "O2", "--print-after=ssa,dce")
    assert code == 0 and out == plain
    headers = [line for line in err.splitlines() if line.startswith("; *** IR Dump After")]
    dce = "; *** IR Dump After dce on @total ***"
    assert headers == ["; *** IR Dump After ssa on @total ***", dce, dce]
    assert " ssa {" in err.split(headers[0])[1]
    code, _, err = run(capsys, "opt", target, "-p", "O2", "--print-after=all")
    assert err.count("; *** IR Dump After") == 8
    code, _, err = run(capsys, "opt", target, "-p", "O2", "--print-changed")
    changed = err.count("; *** IR Dump After")
    assert code == 0 and 0 < changed < 8 and "IR Dump After ssa on @total" in err
    code, _, err = run(capsys, "opt", target, "-p", "O2", "--time-passes", "--stats", "--verify-each")
    assert code == 0 and "Pass execution timing report" in err and "Statistics Collected" in err
    assert "ssa - phis placed" in " ".join(err.split())
    code, out, err = run(capsys, "opt", target, "-p", "O2", "--bisect-limit", "0")
    assert code == 0 and "BISECT: NOT running transformation #1 (" in err and "BISECT: running" not in err
    assert out == run(capsys, "opt", target)[1]  # nothing was allowed to change
    code, _, err = run(capsys, "opt", target, "-p", "O2", "--bisect-limit", "1")
    assert "BISECT: running transformation #1 (" in err and "NOT running transformation #2 (" in err


def test_output_files_get_ordinary_permissions(prog: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.zir"
    assert run(capsys, "opt", str(prog.parent / "m.zir"), "-o", str(out))[0] == 0
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not the 0600 of a temporary file
    out.chmod(0o640)
    assert run(capsys, "opt", str(prog.parent / "m.zir"), "-o", str(out))[0] == 0
    assert out.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode


# -- dot ---------------------------------------------------------------------------------------------


def test_dot_writes_the_three_graphs(prog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for graph, head in (("cfg", "digraph cfg {"), ("domtree", "digraph domtree {"),
                        ("interference", "graph interference {")):
        out = tmp_path / f"{graph}.dot"
        assert run(capsys, "dot", graph, f"{prog}:total", "-O2", "-o", str(out)) == (0, "", "")
        assert head in out.read_text(encoding="utf-8")
    code, out, _ = run(capsys, "dot", "cfg", f"{prog.parent / 'm.zir'}:one")
    assert code == 0 and 'label="CFG of @one"' in out


def test_dot_interference_colouring(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    coloured = run(capsys, "dot", "interference", f"{prog}:total", "-O2", "-k", "3", "--temps", "1")[1]
    assert "style=filled" in coloured and "\\nr0" in coloured
    plain = run(capsys, "dot", "interference", f"{prog}:total", "-O2", "--no-coloring")[1]
    assert "style=filled" not in plain
    ssa = run(capsys, "dot", "interference", f"{prog}:total", "-p", "ssa")[1]
    assert "style=filled" not in ssa and "%acc.0" in ssa  # SSA form: no allocation to show


def test_dot_profile_heat_map(prog: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "dot", "cfg", f"{prog}:total", "--profile-args", "[1, -1, 2]", "-O2")
    assert code == 0 and "; count 3" in out and "fillcolor=" in out
    code, out, err = run(capsys, "dot", "cfg", f"{prog}:divide", "--profile-args", "1", "0")
    assert code == 0 and "zir: warning:" in err and "; count 1" in out


def test_dot_svg(prog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cfg.svg"
    code, _, err = run(capsys, "dot", "cfg", f"{prog}:total", "-o", str(out))
    if shutil.which("dot") is None:
        assert code == 1 and "make graphviz" in err and not out.exists()
    else:
        assert code == 0 and "<svg" in out.read_text(encoding="utf-8")


def fake_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `dot` program first on PATH that answers `-Tsvg` with a tiny SVG naming its options."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "dot"
    script.write_text('#!/bin/sh\ncat >/dev/null\necho "<svg>$*</svg>"\n', encoding="utf-8")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")


def test_dot_svg_through_the_dot_program(prog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dot(tmp_path, monkeypatch)
    for graph in ("cfg", "domtree", "interference"):
        out = tmp_path / f"{graph}.svg"
        assert run(capsys, "dot", graph, f"{prog}:total", "-O2", "-o", str(out)) == (0, "", "")
        assert out.read_text(encoding="utf-8").startswith("<svg>") and "-Tsvg" in out.read_text()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_output_to_a_device_or_fifo_keeps_it(prog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """`-o /dev/null` or a FIFO is written into, never replaced (as root, replacing /dev/null
    would leave a regular file there); a FIFO stands in for the device here."""
    import stat
    import threading

    fake_dot(tmp_path, monkeypatch)
    os.mkfifo(tmp_path / "pipe")
    os.mkfifo(tmp_path / "pipe.dot")
    # The suffix picks the format, as for files: none (like /dev/null) renders SVG.
    for argv, name, head in ((["opt", str(prog.parent / "m.zir")], "pipe", "func @one(%a) {"),
                             (["dot", "cfg", f"{prog}:total"], "pipe.dot", "// CFG of @total"),
                             (["dot", "cfg", f"{prog}:total", "--profile-args", "[1]"], "pipe.dot",
                              "// CFG of @total"),
                             (["dot", "domtree", f"{prog}:total"], "pipe", "<svg>-Kdot -Tsvg")):
        fifo = tmp_path / name
        got: list[bytes] = []
        reader = threading.Thread(target=lambda got=got, fifo=fifo: got.append(fifo.read_bytes()))
        reader.start()
        try:
            code, _, err = run(capsys, *argv, "-o", str(fifo))
        finally:
            if reader.is_alive():  # the command failed before opening the FIFO: release the reader
                with open(fifo, "wb"):
                    pass
            reader.join(timeout=60)
        assert code == 0, err
        assert stat.S_ISFIFO(fifo.stat().st_mode), argv
        assert got and got[0].decode().startswith(head), (argv, got)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".zir-") or p.suffix == ".tmp"] == []


# -- helpers -----------------------------------------------------------------------------------------


def test_parse_call_args() -> None:
    assert parse_call_args(["1", "-2.5", "'s'", "[1, (2,)]", "{'a': None}", "k=True", "s='x=y'"]) == (
        [1, -2.5, "s", [1, (2,)], {"a": None}], {"k": True, "s": "x=y"})
    assert parse_call_args(["'a=b'"]) == (["a=b"], {})  # a string literal, not a keyword


def test_progress_only_on_terminals() -> None:
    stream = io.StringIO()
    shown = Progress(stream, enabled=True, delay=0.0, interval=0.01)
    with shown.step("running f"):
        time.sleep(0.1)
    text = stream.getvalue()
    assert shown.shown >= 1 and text.startswith("\r\x1b[Kzir: running f (") and text.endswith("\r\x1b[K")
    quiet = io.StringIO()
    with Progress(quiet, enabled=True, delay=5.0).step("quick"):
        pass  # ends before the delay: nothing drawn
    with Progress(quiet, enabled=False, delay=0.0).step("not a terminal"):
        time.sleep(0.05)
    assert quiet.getvalue() == ""
    assert Progress(io.StringIO()).enabled is False  # a StringIO is not a terminal


def test_progress_line_stays_below_program_output(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()  # stdout and stderr on one terminal
    monkeypatch.setattr(sys, "stdout", terminal)
    progress = Progress(terminal, enabled=True, delay=0.0, interval=0.01)
    with progress.step("running f"):
        while progress.shown < 1:
            time.sleep(0.005)
        print("output of the program")
        while progress.shown < 2:
            time.sleep(0.005)
    assert sys.stdout is terminal  # restored
    text = terminal.getvalue()
    assert ")\r\x1b[Koutput of the program\n\r\x1b[Kzir: running f (" in text
    assert text.endswith("\r\x1b[K")


def test_entry_points(tmp_path: Path) -> None:
    zir_script = Path(sys.executable).parent / "zir"
    for cmd in ([str(zir_script), "--help"], [sys.executable, "-m", "zir", "--help"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        for name in ("run", "profile", "opt", "dis", "dot"):
            assert f"    {name} " in proc.stdout


def test_make_demo_runs(tmp_path: Path) -> None:
    """tools/demo.py (`make demo`) walks its kernel through every stage and writes its files."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(root / "tools" / "demo.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    for heading in ("1. The IR text form", "2. A real kernel", "-- ZBC from the CPython 3.11 front end --",
                    "-- IR after O2", "-- pass statistics --", "-- register code",
                    "3. Running the whole kernel", "register VM at O2 vs stack VM at O0:", "4. The profiler",
                    "hot loops (back edges", "5. The same steps with the zir command"):
        assert heading in proc.stdout, heading
    written = {p.name for p in tmp_path.iterdir()}
    assert {"sum_squares.cfg.dot", "times.cfg.dot", "times.domtree.dot", "times.interference.dot",
            "times.heat.dot", "profile.html", "profile.json"} <= written
    assert ("times.cfg.svg" in written) == (shutil.which("dot") is not None)
