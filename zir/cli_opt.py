"""`zir opt FILE.zir [-o OUT]`: parse a module, verify it, print it (LLVM's `opt`).

The steps are separate functions so pipeline options (`-p PIPELINE` and the pass instrumentation)
slot in between `load` and `emit` without touching the rest.
"""

from __future__ import annotations

import argparse
from typing import Any

from zir.cli import read_input, write_output
from zir.errors import VerifyError
from zir.ir import Module


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the `opt` subcommand to the `zir` parser."""
    p = sub.add_parser(
        "opt", parents=[common], help="parse, verify and print a .zir module",
        description="Parse FILE.zir, verify every function and print the module in the IR text form.")
    p.add_argument("input", metavar="FILE.zir", help="IR text to read ('-' for stdin)")
    p.add_argument("-o", dest="output", metavar="OUT", default="-", help="where to write ('-', the "
                   "default, is stdout); the file is written only when everything succeeded")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip the verifier (to look at IR the verifier rejects)")
    p.set_defaults(func=run)


def load(path: str) -> tuple[Module, str]:
    """Parse the module at `path` (raises zir.ParseError naming file:line:col); also return the
    name that messages use for the file."""
    from zir.parser import parse

    text, name = read_input(path)
    return parse(text, name), name


def check(module: Module, filename: str) -> None:
    """Verify every function (raises zir.VerifyError naming file, function, block, instruction)."""
    from zir.verifier import verify

    try:
        verify(module)
    except VerifyError as e:
        raise VerifyError(f"{filename}: {e}") from e


def emit(module: Module, output: str) -> None:
    from zir.printer import format

    write_output(format(module), output)


def run(args: argparse.Namespace) -> int:
    """`zir opt`: load, verify (unless --no-verify), print."""
    module, filename = load(args.input)
    if args.verify:
        check(module, filename)
    emit(module, args.output)
    return 0
