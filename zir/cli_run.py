"""`zir run TARGET [ARGS...]` and `zir profile TARGET [ARGS...]`: run a function in the VM.

    zir run fib.py:fib 20                        # prints what fib prints, then repr(result)
    zir run fib.py:fib 20 --mode stack -O0       # the stack VM, unoptimized
    zir run fib.py:fib 20 --check                # also run it in CPython; any difference fails
    zir run fib.py:fib 20 --profile basic        # then the profile report
    zir profile fib.py:fib 20 --report html -o fib.html

TARGET is `FILE.py:FUNC`, `FILE.zasm` or `FILE.json` (`zir.cli_targets`); ARGS are Python literals,
or `NAME=literal` for keyword arguments. The run uses `vm.VM(mode, opt_level, profile, pools,
max_steps)`: register mode and -O2 unless told otherwise. What the program prints goes to stdout as
it runs; then its return value's `repr` (nothing for None), as the interactive interpreter shows
it. An exception that escapes the program is exit status 1 with one line, `zir: error: TARGET
raised TYPE: MESSAGE` (`--traceback` shows where).

`--check` runs the function in CPython too and compares, with `vm.difftest`, everything observable:
return value (type and exact value), exception (type, message, chain), stdout and the arguments
after the call. A difference is exit status 1 and a description of each one. The VM runs a
coroutine function to completion, so CPython's side is then `asyncio.run(FUNC(ARGS))`
(`vm.difftest.run_cpython`).

`zir profile` is `zir run --profile full`: the report (`--report text|json|html`, default text)
goes to stdout after the run, or to `-o OUT`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from zir.cli import ProgramError, UsageError, at_least, write_output
from zir.cli_progress import Progress
from zir.cli_targets import Target, load_target, parse_call_args
from zir.errors import ZirError

__all__ = ["register", "run", "profile"]

MODES = ("register", "stack")
LEVELS = ("none", "basic", "detailed", "full")
REPORTS = ("text", "json", "html")
RUNNABLE = ("python", "zasm", "json")


def _common_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="TARGET", help="FILE.py:FUNC, FILE.zasm or FILE.json")
    p.add_argument("args", nargs="*", metavar="ARG",
                   help="arguments: Python literals (3, 2.5, \"'text'\", \"[1, 2]\"), or NAME=literal")
    p.add_argument("--mode", choices=MODES, default="register", help="which VM (default: register)")
    p.add_argument("-O", dest="level", type=int, choices=(0, 1, 2), default=2,
                   help="optimization level: -O0, -O1 or -O2 (the default)")
    p.add_argument("--max-steps", type=at_least(0), default=None, metavar="N",
                   help="stop the program after N executed instructions (a zir.VMError)")
    p.add_argument("--no-pools", dest="pools", action="store_false",
                   help="do not reuse register-VM frames (pools are on by default)")
    p.add_argument("--stats", action="store_true",
                   help="print the machine's counters (vm.VM.stats()) as JSON on stderr")
    p.add_argument("-o", dest="output", metavar="OUT", default="-",
                   help="where the profile report goes ('-', the default, is stdout)")
    # ARGS after an option (`zir run f.py:f -O0 10`) come back from argparse as leftovers; main()
    # appends them here.
    p.set_defaults(extra_positionals="args")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the `run` and `profile` subcommands to the `zir` parser."""
    p = sub.add_parser(
        "run", parents=[common], help="run a function in the VM (optionally checked against CPython)",
        description="Run TARGET(ARGS...) in the zir VM: print what it prints, then repr(result).")
    _common_run_options(p)
    p.add_argument("--profile", choices=LEVELS, default=None, metavar="LEVEL",
                   help="profile the run: none, basic, detailed or full (default none; full with "
                   "--report)")
    p.add_argument("--report", choices=REPORTS, default=None,
                   help="the profile report's format (default text)")
    p.add_argument("--check", action="store_true",
                   help="also run it in CPython and fail on any difference (result, exception, stdout)")
    p.set_defaults(func=run)

    q = sub.add_parser(
        "profile", parents=[common], help="run a function with full profiling and print the report",
        description="Run TARGET(ARGS...) in the zir VM with the FULL profiler (counts, timing, "
        "branches, memory operations, hot loops) and print the report.")
    _common_run_options(q)
    q.add_argument("--report", choices=REPORTS, default="text", help="report format (default text)")
    q.set_defaults(func=profile)


def run(args: argparse.Namespace) -> int:
    """`zir run`."""
    level = args.profile
    if args.report is not None and level is None:
        level = "full"
    if level == "none" and args.report is not None:
        raise UsageError("--report needs a profile; drop --profile none")
    report = args.report if args.report is not None else ("text" if level not in (None, "none") else None)
    if report is None and args.output != "-":
        raise UsageError("-o OUT is where the profile report goes; add --profile LEVEL or --report FORMAT")
    return execute(args, level or "none", report, args.check)


def profile(args: argparse.Namespace) -> int:
    """`zir profile`: `zir run --profile full`."""
    return execute(args, "full", args.report, False)


def execute(args: argparse.Namespace, level: str, report: str | None, check: bool) -> int:
    """Load, compile, run (and check) the target; print its output, result and profile report."""
    import vm

    target = load_target(args.target, RUNNABLE)
    call_args, call_kwargs = parse_call_args(args.args)
    if check and target.function is None:
        raise UsageError(f"{target.name}: --check compares with CPython, so it needs FILE.py:FUNC")
    machine = vm.VM(mode=args.mode, opt_level=args.level, profile=level, pools=args.pools,
                    max_steps=args.max_steps)
    fn = target.runnable()
    progress = Progress()
    with progress.step(f"compiling {target.name} ({args.mode} mode, O{args.level})"):
        machine.compile(fn)
    error: BaseException | None = None
    value: Any = None
    if check:
        error, value = _checked(machine, target, call_args, call_kwargs, progress)
    else:
        with progress.step(f"running {target.name}"):
            try:
                value = machine.run(fn, *call_args, **call_kwargs)
            except ZirError:
                raise
            except Exception as e:
                error = e
    sys.stdout.flush()
    unshown: ProgramError | None = None
    if error is None and value is not None:
        try:
            print(repr(value), flush=True)
        except Exception as e:  # a user __repr__ that raises, an int too long to print
            unshown = ProgramError(f"{target.name} returned a value of type {type(value).__name__} "
                                   f"whose repr() raised {type(e).__name__}: {e}")
            unshown.__cause__ = e
    if args.stats:
        print(json.dumps(machine.stats(), indent=2, default=str), file=sys.stderr)
    if report is not None:
        with progress.step("making the profile report"):
            text = _ensure_newline(machine.profile_report(report))
        write_output(text, args.output)
    if error is not None:
        raise ProgramError(f"{target.name} raised {type(error).__name__}: {error}") from error
    if unshown is not None:
        raise unshown
    return 0


def _checked(machine: Any, target: Target, call_args: list[Any], call_kwargs: dict[str, Any],
             progress: Progress) -> tuple[BaseException | None, Any]:
    """Run in CPython and in the VM, compare (vm.difftest); replay the VM's stdout. Returns the
    VM's (exception, value); raises a `ProgramError` describing any difference."""
    from vm.difftest import describe, run_cpython, run_machine

    fn = target.runnable()
    try:
        # CPython runs a second copy of the module, so that what the run changes in its globals
        # (a counter, a cache) is not seen by the VM's run, nor the other way round.
        reference = target.fresh_function()
        with progress.step(f"running {target.name} in CPython"):
            expected = run_cpython(reference, *call_args, **call_kwargs)
        with progress.step(f"running {target.name} in the VM"):
            actual = run_machine(machine, fn, call_args, call_kwargs)
    except ZirError:
        raise
    except Exception as e:
        # The runs themselves catch what the program raises; this is the comparison failing on
        # what it got (a result whose repr() raises, say): a program problem, said in one line.
        raise ProgramError(f"{target.name}: --check cannot compare the results: "
                           f"{type(e).__name__}: {e}") from e
    if isinstance(actual.raw, ZirError) and expected.exc is None:
        raise actual.raw  # the VM refused or faulted: zir's own error, not a difference to list
    sys.stdout.write(actual.stdout)
    differences = describe(expected, actual)
    if differences:
        sys.stdout.flush()
        where = f"{machine.mode} mode, O{machine.opt_level}"
        print(f"zir: check: {target.name}: the VM ({where}) differs from CPython:", file=sys.stderr)
        print("\n".join(differences), file=sys.stderr)
        raise ProgramError(f"{target.name}: --check failed ({len(differences)} difference"
                           f"{'s' if len(differences) != 1 else ''})")
    print(f"zir: check: {target.name}: the VM ({machine.mode} mode, O{machine.opt_level}) and CPython "
          "agree (result, exception, stdout, arguments)", file=sys.stderr)
    if actual.exc is not None:
        raw = actual.raw
        return (raw if isinstance(raw, BaseException) else RuntimeError(str(actual.exc))), None
    return None, actual.raw


def _ensure_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"
