"""The PassManager: runs a pipeline of passes over functions, with analyses cached between passes and
the instrumentation LLVM's `opt` users expect.

    pm = passes.PassManager.parse("peephole,ssa,dce,copyprop,ssa-destroy", verify_each=True)
    report = pm.run(module_or_function)
    print(report.stats_table())

Functions are processed one at a time, each through the whole pipeline (LLVM's function pass
manager order). After every pass the manager drops the cached analyses the pass did not preserve
(`passes.analyses`), verifies the function when `verify_each` is on, prints it when asked, and
records time and statistics (`passes.instrument`).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO

import attrs

from passes.analyses import AnalysisManager
from passes.instrument import Bisector, PassRecord, RunReport, dump_header, unified_diff
from passes.pipeline import format_pass, format_pipeline, parse_pipeline
from passes.registry import Pass, PassResult
from zir.errors import PassError, VerifyError, ZirError
from zir.ir import Function, Module
from zir.printer import format_function


def _names(spec: bool | str | Iterable[str] | None) -> bool | frozenset[str]:
    """`print_after` as True (all passes) or a set of pass names."""
    if spec is None or spec is False:
        return frozenset()
    if spec is True or spec == "all":
        return True
    if isinstance(spec, str):
        return frozenset(n.strip() for n in spec.split(",") if n.strip())
    return frozenset(spec)


@contextlib.contextmanager
def _objects_before_frozen() -> Iterator[None]:
    """Keep the objects that exist now out of the cyclic garbage collector's full collections while
    the pipeline runs (`gc.freeze`, undone after; left alone when something else froze objects).

    Why: the passes make many short-lived containers (analysis results, rewritten instructions),
    and CPython runs a full collection whenever the survivors among them reach a quarter of the
    long-lived objects; each full collection walks every object of the process, the function's IR
    included, so on a large function the collector cost grows with its size times the number of
    rounds. Frozen, the IR and the rest of the process are not walked; only what the pipeline itself
    allocated is. Nothing changes for reference counting (the pipeline's garbage is freed as before);
    cycles among frozen objects wait until the pipeline returns.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _size(f: Function) -> int:
    """`f.num_instrs()`: instructions plus phis."""
    n = 0
    for b in f.blocks:
        n += len(b.instrs) + len(b.phis)
    return n


class PassManager:
    """A pipeline of pass objects plus instrumentation settings.

    Options (all off by default):

    * `verify_each`: `zir.verify` the input and the function after every pass; a failure is a
      `zir.VerifyError` naming the pass that broke it;
    * `print_after`: "all", a list (or comma-separated string) of pass names, or None: print the IR
      of the function after those passes to `stream`;
    * `print_changed`: print only after passes that changed the function (all passes if
      `print_after` is not given);
    * `print_diff`: print a unified diff against the IR before the pass instead of the whole IR
      (implies `print_changed`);
    * `time_passes`: print the timing table to `stream` at the end of `run`;
    * `stats`: print the statistics table to `stream` at the end of `run`;
    * `bisect_limit`: let only the first N transformations happen (counted across every pass and
      every `run` of this manager), logging each to `stream`;
    * `stream`: where all of that goes (default `sys.stderr`, like `opt`).
    """

    def __init__(self, passes: Sequence[Any] = (), *, verify_each: bool = False,
                 print_after: bool | str | Iterable[str] | None = None, print_changed: bool = False,
                 print_diff: bool = False, time_passes: bool = False, stats: bool = False,
                 bisect_limit: int | None = None, stream: TextIO | None = None) -> None:
        self.passes: list[Any] = []
        for p in passes:
            self.add(p)
        self.verify_each = verify_each
        self.print_diff = print_diff
        self.print_changed = print_changed or print_diff
        selected = _names(print_after)
        if not selected and self.print_changed:
            selected = True
        self.print_after: bool | frozenset[str] = selected
        self.time_passes = time_passes
        self.show_stats = stats
        if bisect_limit is not None and bisect_limit < 0:
            raise PassError(f"bisect limit must be >= 0, got {bisect_limit}")
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.bisector = Bisector(bisect_limit, self.stream)
        self._current = ""
        self.analyses = AnalysisManager(gate=self.allow, bisecting=lambda: self.bisector.limit is not None)

    @classmethod
    def parse(cls, pipeline: str, **options: Any) -> PassManager:
        """A manager for a pipeline string (see `passes.pipeline`); `options` as for the constructor."""
        return cls(parse_pipeline(pipeline), **options)

    def add(self, spec: str | Any) -> PassManager:
        """Append passes: a pipeline string (`"regalloc{k=8}"`) or a pass object. Returns self."""
        if isinstance(spec, str):
            self.passes.extend(parse_pipeline(spec))
        elif isinstance(spec, Pass) and attrs.has(type(spec)):
            self.passes.append(spec)
        else:
            raise PassError(f"{spec!r} is not a pass (an instance of a class made with @passes.register)")
        return self

    @property
    def pipeline(self) -> str:
        """The canonical pipeline string of this manager's passes."""
        return format_pipeline(self.passes)

    def __str__(self) -> str:
        return self.pipeline

    def __repr__(self) -> str:
        return f"<PassManager {self.pipeline!r}>"

    def allow(self, description: str | Callable[[], str]) -> bool:
        """The bisect gate: may the running pass make the transformation `description` (a text, or
        a function making it, called only when the text is logged)?"""
        return self.bisector.allow(self._current, description)

    def run(self, target: Function | Module) -> RunReport:
        """Run the pipeline over a function or every function of a module, in place.

        Returns the per-pass records; prints dumps, statistics and timings as configured.
        """
        report = RunReport()
        functions = list(target.functions.values()) if isinstance(target, Module) else [target]
        with _objects_before_frozen():
            for f in functions:
                if self.verify_each:
                    self._verify(f, None)
                size = _size(f)
                for p in self.passes:
                    record = self._run_one(p, f, size)
                    size = record.instrs_after
                    report.records.append(record)
                # The function is done; its analyses would only pin memory.
                self.analyses.clear(f)
        if self.time_passes:
            self.stream.write(report.timing_table())
        if self.show_stats:
            self.stream.write(report.stats_table())
        return report

    def _run_one(self, p: Any, f: Function, before: int) -> PassRecord:
        """Run pass `p` on `f`, which holds `before` instructions and phis now."""
        label = format_pass(p)
        wanted = self.print_after
        selected = wanted is True or (isinstance(wanted, frozenset) and (p.name in wanted or label in wanted))
        before_text = format_function(f) if selected and self.print_changed else ""
        self._current = p.name
        start = time.perf_counter()
        try:
            result = p.run(f, self.analyses)
        except ZirError:
            raise
        except Exception as e:
            raise PassError(f"pass '{label}' failed on function @{f.name}: {type(e).__name__}: {e}") from e
        finally:
            self._current = ""
        seconds = time.perf_counter() - start
        if not isinstance(result, PassResult):
            raise PassError(f"pass '{label}' returned {type(result).__name__}, not a passes.PassResult")
        self.analyses.invalidate(f, result.effective_preserved)
        if self.verify_each:
            self._verify(f, label)
        if selected and (result.changed or not self.print_changed):
            after_text = format_function(f)
            if self.print_diff:
                self.stream.write(dump_header("Diff", label, f.name))
                self.stream.write(unified_diff(before_text, after_text, label))
            else:
                self.stream.write(dump_header("Dump", label, f.name))
                self.stream.write(after_text)
        after = _size(f)
        return PassRecord(label, f.name, result.changed, seconds, before, after, dict(result.stats))

    def _verify(self, f: Function, pass_label: str | None) -> None:
        from zir.verifier import verify

        try:
            verify(f)
        except VerifyError as e:
            where = "the input to the pipeline" if pass_label is None else f"after pass '{pass_label}'"
            raise VerifyError(f"{where}: {e}") from e
