"""`zir opt TARGET [-p PIPELINE] [-o OUT]`: parse a module (or lift a function), verify it, run a
pass pipeline over it, print it (LLVM's `opt`). TARGET is FILE.zir (`-` is stdin), FILE.zir:FUNC,
or a function to lift: FILE.py:FUNC, FILE.zasm, FILE.json (`zir.cli_targets`).

The steps are separate functions: `load`, `check`, `optimize` (the pipeline with the pass
instrumentation: `--verify-each`, `--print-after`, `--print-changed`, `--print-diff`,
`--time-passes`, `--stats`, `--bisect-limit`; its reports go to stderr, as `opt`'s do), `emit`.
"""

from __future__ import annotations

import argparse
from typing import Any

from zir.cli import at_least, write_output
from zir.errors import VerifyError
from zir.ir import Module


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the `opt` subcommand to the `zir` parser."""
    p = sub.add_parser(
        "opt", parents=[common], help="run a pass pipeline over IR and print it",
        description="Parse FILE.zir (or lift FILE.py:FUNC, FILE.zasm, FILE.json), verify every "
        "function, run the pipeline and print the module in the IR text form.")
    p.add_argument("input", metavar="TARGET", help="FILE.zir ('-' for stdin), FILE.zir:FUNC, "
                   "FILE.py:FUNC, FILE.zasm or FILE.json")
    p.add_argument("-o", dest="output", metavar="OUT", default="-", help="where to write ('-', the "
                   "default, is stdout); the file is written only when everything succeeded")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the verifier (to look at IR the verifier rejects)")
    g = p.add_argument_group("passes", "the pipeline and its instrumentation (reports go to stderr)")
    g.add_argument("-p", "--passes", dest="pipeline", metavar="PIPELINE", default="",
                   help='passes to run, e.g. "peephole,ssa,dce,copyprop,ssa-destroy" or O2 '
                   "(docs/passes.md)")
    g.add_argument("--load", action="append", default=[], metavar="MODULE|FILE.py",
                   help="import a Python module (dotted name, or a .py file whose directory goes on "
                   "sys.path) that registers passes, before the pipeline is read; repeatable")
    g.add_argument("--verify-each", action="store_true", help="verify the IR after every pass")
    g.add_argument("--print-after", metavar="NAMES|all", default=None,
                   help="print the IR after the named passes (comma-separated) or after all")
    g.add_argument("--print-changed", action="store_true",
                   help="print the IR after each pass that changed it")
    g.add_argument("--print-diff", action="store_true",
                   help="print a unified diff of the IR after each pass that changed it")
    g.add_argument("--time-passes", action="store_true", help="print the time each pass took")
    g.add_argument("--stats", action="store_true", help="print the statistics the passes counted")
    g.add_argument("--bisect-limit", type=at_least(0), metavar="N", default=None,
                   help="let only the first N transformations happen, logging each")
    p.set_defaults(func=run)


def load(path: str) -> tuple[Module, str]:
    """The module to optimize and the name messages use for it: FILE.zir parsed (`-` is stdin;
    raises zir.ParseError naming file:line:col), or a module of one function lifted from
    FILE.py:FUNC, FILE.zasm or FILE.json (`zir.cli_targets`)."""
    from zir.cli_targets import load_target

    target = load_target(path)
    if target.module is not None and target.select is None:
        return target.module, "<stdin>" if path == "-" else path
    return Module({f.name: f for f in target.functions()}), target.name


def check(module: Module, filename: str) -> None:
    """Verify every function (raises zir.VerifyError naming file, function, block, instruction)."""
    from zir.verifier import verify

    try:
        verify(module)
    except VerifyError as e:
        raise VerifyError(f"{filename}: {e}") from e


def load_plugins(specs: list[str]) -> None:
    """Import the modules `--load` names, so the passes they register can be used in `-p`."""
    import importlib
    import importlib.util
    import os
    import sys

    from zir.cli import CommandError

    for spec in specs:
        try:
            if spec.endswith(".py") or os.sep in spec:
                path = os.path.abspath(spec)
                sys.path.insert(0, os.path.dirname(path))
                name = os.path.splitext(os.path.basename(path))[0]
                found = importlib.util.spec_from_file_location(name, path)
                if found is None or found.loader is None:
                    raise ImportError(f"not a Python file: {spec}")
                mod = importlib.util.module_from_spec(found)
                sys.modules[name] = mod
                try:
                    found.loader.exec_module(mod)
                except BaseException:
                    del sys.modules[name]  # no half-run module left for a later import to find
                    raise
            else:
                importlib.import_module(spec)
        except Exception as e:  # the module's own code runs here: whatever it raises is reported
            from zir.cli_targets import import_error_place

            place = import_error_place(spec, e) if spec.endswith(".py") else spec
            raise CommandError(f"cannot load passes from {place}: {type(e).__name__}: {e}") from e


def optimize(module: Module, args: argparse.Namespace) -> None:
    """Run `args.pipeline` over the module with the requested instrumentation (to stderr)."""
    import sys

    from passes import PassManager
    from zir.cli_progress import Progress

    pm = PassManager.parse(
        args.pipeline, verify_each=args.verify_each, print_after=args.print_after,
        print_changed=args.print_changed, print_diff=args.print_diff, time_passes=args.time_passes,
        stats=args.stats, bisect_limit=args.bisect_limit, stream=sys.stderr)
    # The instrumentation writes to stderr as the passes run: no status line between its lines.
    noisy = args.print_after or args.print_changed or args.print_diff or args.bisect_limit is not None
    progress = Progress(enabled=False if noisy else None)
    with progress.step(f"running {pm.pipeline or 'no passes'} on {len(module.functions)} function(s)"):
        pm.run(module)


def emit(module: Module, output: str) -> None:
    from zir.printer import format

    write_output(format(module), output)


def run(args: argparse.Namespace) -> int:
    """`zir opt`: load, verify (unless --no-verify), run the pipeline, verify again, print."""
    load_plugins(args.load)  # first: a broken --load is an error even with nothing to run
    module, filename = load(args.input)
    if args.verify:
        check(module, filename)
    if args.pipeline or args.bisect_limit is not None:
        optimize(module, args)
        if args.verify:
            check(module, filename)
    emit(module, args.output)
    return 0
