"""`zir dot cfg|domtree|interference TARGET [-O N | -p PIPELINE] [--profile-args ARGS...] -o OUT`:
draw one function's control-flow graph, dominator tree or interference graph (`zir.dot`).

    zir dot cfg prog.py:f -O2 -o f.cfg.dot         # the CFG after O2, as DOT source
    zir dot domtree prog.zir:f -o f.dom.svg         # rendered (needs Graphviz's `dot`)
    zir dot interference prog.py:f -O2 -o f.ig.dot  # nodes filled by their register
    zir dot cfg prog.py:f --profile-args 100 -o heat.dot   # blocks coloured by execution count

The function is the target's IR (lifted from ZBC, or parsed) after the pipeline (`-O`, default 0:
none; or `-p`). The interference graph of a function out of SSA form is coloured by a trial
register allocation (`passes.regalloc.allocate` with `-k`/`--temps`, on a copy: spill code shows as
its temporaries); `--no-coloring` leaves it plain. `--profile-args` runs the function in the VM
(`--mode`, `-O`) with those arguments and draws the CFG of the code that ran, each block filled by
how often it ran (`vm.VM.profile_cfg`).

The output's suffix picks the format: `.dot` or `.gv` (or `-`, stdout) is DOT source; `.svg`,
`.png`, `.pdf` ... are rendered by Graphviz's `dot` program (`make graphviz` installs it).
"""

from __future__ import annotations

import argparse
import copy
import sys
from typing import Any

from zir.cli import CommandError, UsageError, at_least, write_output
from zir.cli_progress import Progress
from zir.cli_targets import TARGET_HELP, load_target, parse_call_args
from zir.errors import ZirError
from zir.ir import Function

__all__ = ["GRAPHS", "register", "run"]

GRAPHS = ("cfg", "domtree", "interference")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the `dot` subcommand to the `zir` parser."""
    p = sub.add_parser(
        "dot", parents=[common], help="draw a CFG, dominator tree or interference graph as DOT/SVG",
        description="Write the CFG, dominator tree or interference graph of one function as DOT "
        "source (-o X.dot, or stdout) or rendered by Graphviz (-o X.svg, .png, .pdf).")
    p.add_argument("graph", choices=GRAPHS, help="which graph")
    p.add_argument("target", metavar="TARGET", help=TARGET_HELP + " (one function)")
    p.add_argument("-O", dest="level", type=int, choices=(0, 1, 2), default=0,
                   help="run this level's pipeline first (default 0: the IR as lifted or parsed)")
    p.add_argument("-p", "--passes", dest="pipeline", metavar="PIPELINE", default=None,
                   help="run this pipeline first instead of the level's")
    p.add_argument("--load", action="append", default=[], metavar="MODULE|FILE.py",
                   help="import a module that registers passes (repeatable)")
    p.add_argument("-k", dest="k", type=at_least(1), default=16,
                   help="general registers for the interference graph's colouring (16)")
    p.add_argument("--temps", dest="temps", type=at_least(0), default=8,
                   help="registers reserved for spill code in that colouring (8)")
    p.add_argument("--no-coloring", dest="coloring", action="store_false",
                   help="draw the interference graph without a register allocation")
    p.add_argument("--profile-args", dest="profile_args", nargs="*", default=None, metavar="ARG",
                   help="cfg only: run the function with these arguments (Python literals) and colour "
                   "blocks by how often they ran")
    p.add_argument("--mode", choices=("register", "stack"), default="register",
                   help="the VM that --profile-args runs (default register)")
    p.add_argument("-o", dest="output", metavar="OUT", default="-",
                   help="OUT.dot/.gv (or '-', stdout): DOT source; OUT.svg/.png/.pdf: rendered")
    p.set_defaults(func=run)


def _optimized(f: Function, args: argparse.Namespace, progress: Progress) -> None:
    import passes
    from zir.cli_opt import load_plugins

    load_plugins(args.load)
    pipeline = args.pipeline if args.pipeline is not None else passes.level_pipeline(args.level)
    if pipeline:
        with progress.step(f"running {pipeline} on @{f.name}"):
            passes.PassManager.parse(pipeline, verify_each=True).run(f)


def _interference(f: Function, args: argparse.Namespace) -> Any:
    import zir.dot

    if not args.coloring or f.ssa or any(b.phis for b in f.blocks):
        return zir.dot.interference(f)
    from passes.regalloc import allocate

    trial = copy.deepcopy(f)
    allocation = allocate(trial, args.k, args.temps)
    return zir.dot.interference(trial, coloring={v: f"r{n}" for v, n in allocation.registers.items()})


def _profiled_cfg(args: argparse.Namespace, progress: Progress) -> Any:
    import vm

    if args.graph != "cfg":
        raise UsageError(f"--profile-args colours a CFG; it does not apply to {args.graph}")
    if args.pipeline is not None or args.load:
        raise UsageError("--profile-args draws the code the VM ran at -O N; -p and --load do not apply")
    target = load_target(args.target, ("python", "zasm", "json"))
    call_args, call_kwargs = parse_call_args(args.profile_args)
    machine = vm.VM(mode=args.mode, opt_level=args.level, profile="basic")
    fn = target.runnable()
    with progress.step(f"profiling {target.name}"):
        try:
            machine.run(fn, *call_args, **call_kwargs)
        except ZirError:
            raise
        except Exception as e:  # the blocks it ran until then are the profile; say so, draw them
            print(f"zir: warning: {target.name} raised {type(e).__name__}: {e} (the profile covers "
                  "what ran before)", file=sys.stderr)
    return machine.profile_cfg(fn)


def run(args: argparse.Namespace) -> int:
    """`zir dot`: load the function, run the pipeline, draw the graph, write it."""
    import zir.dot

    progress = Progress()
    if args.profile_args is not None:
        graph = _profiled_cfg(args, progress)
    else:
        f = load_target(args.target).one_function()
        _optimized(f, args, progress)
        if args.graph == "cfg":
            graph = zir.dot.cfg(f)
        elif args.graph == "domtree":
            graph = zir.dot.dominator_tree(f)
        else:
            graph = _interference(f, args)
    if args.output == "-":
        write_output(graph.source, "-")
    else:
        with progress.step(f"writing {args.output}"):
            try:
                zir.dot.render(graph, args.output)
            except OSError as e:
                raise CommandError(f"cannot write {args.output}: {e.strerror or e}") from e
    return 0
