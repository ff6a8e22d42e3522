"""`zir dis TARGET [--stage STAGE] [-O N | -p PIPELINE] [-k K --temps T] [-o OUT]`: show a function
at one stage of the pipeline, or at all of them.

TARGET is `FILE.py:FUNC` (a function of a Python file; `Class.method` reaches a method),
`FILE.zasm` / `FILE.json` (ZBC), or `FILE.zir` / `FILE.zir:FUNC` (every function of an IR module, or
one). The stages, in pipeline order:

* ``zbc``: the ZBC the CPython front end makes, or the assembled `.zasm` / read `.json`
  (`zir.bytecode.disassemble`; not for IR targets);
* ``ir``: the IR as lifted from the ZBC (`zir.lift`) or as parsed, before any pass;
* ``ssa``: the IR in SSA form: the pipeline up to where it leaves SSA, then `ssa` if it never
  builds it (with `-p`, that pipeline then `ssa`);
* ``opt``: the IR after the whole pipeline: the level's (`-O`, default 0: none) or `-p`'s;
* ``stackify``: the ZBC re-emitted from that IR (`zir.stackify`), which is what
  `vm.VM(mode="stack", opt_level=N)` runs at N = 1 or 2;
* ``regalloc``: the IR after the pipeline and `regalloc{k=K,temps=T}` (registers `%rN`);
* ``register``: the register code lowered from it (`zir.lower`, text form of `zir.regcode_text`),
  which is what `vm.VM(mode="register", opt_level=N)` runs with the default K and T;
* ``all``: each of these in turn, under a `; ---- STAGE ----` header.
"""

from __future__ import annotations

import argparse
from typing import Any

from zir.cli import at_least, write_output
from zir.cli_progress import Progress
from zir.cli_targets import TARGET_HELP, Target, load_target
from zir.ir import Function

__all__ = ["STAGES", "register", "run", "show_stage", "stage_pipeline"]

STAGES = ("zbc", "ir", "ssa", "opt", "stackify", "regalloc", "register")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the `dis` subcommand to the `zir` parser."""
    p = sub.add_parser(
        "dis", parents=[common], help="show a function at one stage: " + ", ".join(STAGES) + " or all",
        description="Show TARGET at one stage of the pipeline (or at all of them): its ZBC, its IR "
        "before and after the passes, in SSA form, register-allocated, and as register code.")
    p.add_argument("target", metavar="TARGET", help=TARGET_HELP)
    p.add_argument("--stage", choices=(*STAGES, "all"), default="ir", help="which form to show (default: ir)")
    p.add_argument("-O", dest="level", type=int, choices=(0, 1, 2), default=0,
                   help="optimization level whose pipeline runs after lifting (default 0: none)")
    p.add_argument("-p", "--passes", dest="pipeline", metavar="PIPELINE", default=None,
                   help="run this pipeline instead of the level's")
    p.add_argument("--load", action="append", default=[], metavar="MODULE|FILE.py",
                   help="import a module that registers passes, for -p (repeatable)")
    p.add_argument("-k", dest="k", type=at_least(1), default=16, help="general registers for regalloc (16)")
    p.add_argument("--temps", dest="temps", type=at_least(0), default=8,
                   help="registers reserved for spill code (8)")
    p.add_argument("-o", dest="output", metavar="OUT", default="-", help="where to write ('-' is stdout)")
    p.set_defaults(func=run)


def stage_pipeline(stage: str, level: int, pipeline: str | None) -> str:
    """The pipeline that brings lifted IR to `stage` (see the module docstring)."""
    from passes import level_pipeline

    items = [p for p in (pipeline if pipeline is not None else level_pipeline(level)).split(",") if p]
    if stage == "ir":
        return ""
    if stage == "ssa":
        if pipeline is None and "ssa-destroy" in items:
            items = items[:items.index("ssa-destroy")]
        if "ssa" not in items or pipeline is not None:
            items.append("ssa")
    return ",".join(items)


def show_stage(target: Target, stage: str, args: argparse.Namespace, progress: Progress) -> str:
    """The text of `target` at `stage` (one of `STAGES`)."""
    import passes
    import zir

    if stage == "zbc":
        return zir.bytecode.disassemble(target.zbc())
    pipeline = stage_pipeline(stage, args.level, args.pipeline)
    if stage in ("regalloc", "register"):
        pipeline = ",".join(p for p in (pipeline, f"regalloc{{k={args.k},temps={args.temps}}}") if p)
    pm = passes.PassManager.parse(pipeline, verify_each=True)
    out = []
    functions: list[Function] = target.functions()
    for f in functions:
        names = [p.name for p in f.params]  # allocation renames parameters to registers
        with progress.step(f"running {pipeline or 'no passes'} on @{f.name}"):
            pm.run(f)
        if stage == "register":
            out.append(str(zir.lower(f, names if f.code is None else None)))
        elif stage == "stackify":
            out.append(zir.bytecode.disassemble(zir.stackify(f)))
        else:
            out.append(zir.format(f))
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    """`zir dis`: load the target, bring it to the stage (or each stage), print it."""
    from zir.cli_opt import load_plugins

    load_plugins(args.load)
    if args.pipeline is not None:
        import passes

        passes.PassManager.parse(args.pipeline)  # a mistake in -p is an error whatever the stage
    target = load_target(args.target)
    progress = Progress()
    if args.stage != "all":
        write_output(_line_ended(show_stage(target, args.stage, args, progress)), args.output)
        return 0
    stages = [s for s in STAGES if s != "zbc" or target.code is not None]
    parts = [f"; ---- {stage} ----\n{_line_ended(show_stage(target, stage, args, progress))}"
             for stage in stages]
    write_output("\n".join(parts), args.output)
    return 0


def _line_ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
