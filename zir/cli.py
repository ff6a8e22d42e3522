"""The `zir` command: argparse front door, shared I/O helpers and error reporting.

Each subcommand lives in its own small module (`zir.cli_opt`, ...) that exposes
`register(subparsers, common)`: it adds its parser (with `common` as a parent, for the shared
options) and sets `func`, a `run(args) -> int`. Adding a subcommand is a new module and one entry
in `SUBCOMMANDS`.

Conventions follow LLVM's tools: input `-` is stdin, `-o -` (the default) is stdout, output files
are written only once everything succeeded. Exit codes: 0 success, 1 a program or IR error (any
`zir.ZirError`, a file that cannot be read or written, or a program run by `zir run` that raised),
2 a usage error (argparse's, or a `UsageError` found later, such as an argument that is not a
Python literal). An error prints one line, `zir: error: <message>`, on stderr; `--traceback` adds
the Python traceback. Long steps show what they are doing on stderr when it is a terminal
(`zir.cli_progress`).

The subcommands: `run` and `profile` (`zir.cli_run`), `opt` (`zir.cli_opt`), `dis`
(`zir.cli_dis`), `dot` (`zir.cli_dot`); TARGET loading is `zir.cli_targets`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence

from zir.errors import ZirError
from zir.files import write_file

#: A negative number, which argparse leaves to positionals (`zir run f.py:f -- -3` is not needed).
_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")

#: Modules that provide subcommands, in the order `zir --help` lists them.
SUBCOMMANDS: tuple[str, ...] = ("zir.cli_run", "zir.cli_opt", "zir.cli_dis", "zir.cli_dot")


class CommandError(ZirError):
    """A command-level failure that is the user's to fix (a file that cannot be read or written)."""


class UsageError(CommandError):
    """A command line that argparse accepted but that makes no sense (exit status 2)."""


class ProgramError(CommandError):
    """The program a command ran raised an exception (exit status 1); the message says which."""


def read_input(path: str) -> tuple[str, str]:
    """The text of `path` (UTF-8; `-` is stdin) and the name to use for it in messages."""
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8", errors="surrogateescape"), "<stdin>"
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read(), path
    except OSError as e:
        raise CommandError(f"cannot read {path}: {e.strerror or e}") from e


def write_output(text: str, path: str) -> None:
    """Write `text` (UTF-8) to `path` (`-` is stdout) with `zir.files.write_file`: a regular file is
    replaced only when the whole text is written; a device or FIFO is written into."""
    data = text.encode("utf-8", errors="surrogateescape")
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        write_file(path, data)
    except ZirError as e:
        raise CommandError(str(e)) from e.__cause__


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse `type`: an int no smaller than `minimum` (anything else is a usage error)."""

    def convert(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    convert.__name__ = f"integer >= {minimum}"
    return convert


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a subcommand's default from overwriting `zir --traceback opt ...`.
    common.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                        help="show the Python traceback of an error")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every subcommand of `SUBCOMMANDS` registered."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="zir", parents=[common],
        description="zir: a compiler-pass framework and virtual machine for Python 3.11 bytecode.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub, common)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("zir")
    except PackageNotFoundError:
        return "(not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `zir` command with `argv` (default: `sys.argv[1:]`) and return its exit code."""
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
    except SystemExit as e:  # argparse: 0 after --help/--version, 2 for a usage error
        return e.code if isinstance(e.code, int) else 2
    if extras:
        # argparse gives back the positionals that follow an option (`zir run f.py:f -O0 10`);
        # a subcommand that takes any number of them says where they go.
        dest = getattr(args, "extra_positionals", None)
        unknown = [x for x in extras if x.startswith("-") and not _NUMBER.match(x)]
        if dest is None or unknown:
            parser.print_usage(sys.stderr)
            print(f"zir: error: unrecognized arguments: {' '.join(unknown or extras)}", file=sys.stderr)
            return 2
        getattr(args, dest).extend(extras)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_usage(sys.stderr)
        print("zir: error: a command is required (see zir --help)", file=sys.stderr)
        return 2
    try:
        return int(func(args))
    except ZirError as e:
        if getattr(args, "traceback", False):
            traceback.print_exc()
        # One line: a message holding a newline (it should not) still stays one line.
        print(f"zir: error: {e}".replace("\n", "\\n"), file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1
    except BrokenPipeError:  # `zir opt f.zir | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
