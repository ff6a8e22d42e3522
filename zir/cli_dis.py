"""`zir dis TARGET [--stage STAGE] [-O N | -p PIPELINE] [-k K --temps T] [-o OUT]`: show a function
at one stage of the pipeline.

TARGET is `FILE.py:FUNC` (a function of a Python file; `Class.method` reaches a method) or
`FILE.zir` (every function of an IR module). The stages, in pipeline order:

* ``zbc``: the ZBC the CPython front end makes (`zir.bytecode.disassemble`; Python targets only);
* ``ir``: the IR (lifted, or as parsed) after the level's pipeline (`-O`, default 0: unchanged) or
  the `-p` pipeline;
* ``ssa``: the IR in SSA form: the level's pipeline up to where it leaves SSA, then `ssa` if the
  level never builds it (with `-p`, that pipeline then `ssa`);
* ``regalloc``: the IR after the pipeline and `regalloc{k=K,temps=T}` (registers `%rN`);
* ``register``: the register code lowered from it (`zir.lower`, text form of `zir.regcode_text`).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Any

from zir.cli import CommandError, read_input, write_output
from zir.ir import Function

STAGES = ("zbc", "ir", "ssa", "regalloc", "register")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the `dis` subcommand to the `zir` parser."""
    p = sub.add_parser(
        "dis", parents=[common], help="show a function at one stage: zbc, ir, ssa, regalloc, register",
        description="Show FILE.py:FUNC or every function of FILE.zir at one stage of the pipeline.")
    p.add_argument("target", metavar="FILE.py:FUNC|FILE.zir", help="what to show")
    p.add_argument("--stage", choices=STAGES, default="ir", help="which form to show (default: ir)")
    p.add_argument("-O", dest="level", type=int, choices=(0, 1, 2), default=0,
                   help="optimization level whose pipeline runs after lifting (default 0)")
    p.add_argument("-p", "--passes", dest="pipeline", metavar="PIPELINE", default=None,
                   help="run this pipeline instead of the level's")
    p.add_argument("-k", dest="k", type=int, default=16, help="general registers for regalloc (16)")
    p.add_argument("--temps", dest="temps", type=int, default=8,
                   help="registers reserved for spill code (8)")
    p.add_argument("-o", dest="output", metavar="OUT", default="-", help="where to write ('-' is stdout)")
    p.set_defaults(func=run)


def load_python(spec: str) -> Any:
    """The function `FUNC` (dotted for attributes) of the Python file of `FILE.py:FUNC`."""
    path, _, qualname = spec.rpartition(":")
    if not path or not qualname:
        raise CommandError(f"{spec}: expected FILE.py:FUNC")
    if not os.path.exists(path):
        raise CommandError(f"cannot read {path}: No such file or directory")
    name = "_zir_dis_" + os.path.splitext(os.path.basename(path))[0]
    found = importlib.util.spec_from_file_location(name, os.path.abspath(path))
    if found is None or found.loader is None:
        raise CommandError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except Exception as e:
        raise CommandError(f"{path}: importing it raised {type(e).__name__}: {e}") from e
    obj: Any = module
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise CommandError(f"{path}: has no function {qualname!r}")
        obj = getattr(obj, part)
    return obj


def stage_pipeline(stage: str, level: int, pipeline: str | None) -> str:
    """The pipeline that brings lifted IR to `stage` (see the module docstring)."""
    from passes import level_pipeline

    items = [p for p in (pipeline if pipeline is not None else level_pipeline(level)).split(",") if p]
    if stage == "ssa":
        if pipeline is None and "ssa-destroy" in items:
            items = items[:items.index("ssa-destroy")]
        if "ssa" not in items or pipeline is not None:
            items.append("ssa")
    return ",".join(items)


def run(args: argparse.Namespace) -> int:
    """`zir dis`: load the target, bring it to the stage, print it."""
    import passes
    import zir

    functions: list[Function]
    if args.target.endswith(".zir") and ":" not in args.target:
        if args.stage == "zbc":
            raise CommandError(f"{args.target}: --stage zbc needs a Python target (FILE.py:FUNC)")
        text, name = read_input(args.target)
        module = zir.parse(text, name)
        zir.verify(module)
        functions = list(module.functions.values())
    else:
        code = zir.frontend.from_python(load_python(args.target))
        if args.stage == "zbc":
            write_output(zir.bytecode.disassemble(code), args.output)
            return 0
        functions = [zir.lift(code)]
    pipeline = stage_pipeline(args.stage, args.level, args.pipeline)
    if args.stage in ("regalloc", "register"):
        pipeline = ",".join(p for p in (pipeline, f"regalloc{{k={args.k},temps={args.temps}}}") if p)
    pm = passes.PassManager.parse(pipeline, verify_each=True)
    out = []
    for f in functions:
        names = [p.name for p in f.params]  # allocation renames parameters to registers
        pm.run(f)
        out.append(str(zir.lower(f, names if f.code is None else None)) if args.stage == "register"
                   else zir.format(f))
    write_output("\n".join(out), args.output)
    return 0
