"""Pass instrumentation: what LLVM's `opt` users expect, for zir pipelines.

* per-pass records (`PassRecord`) gathered into a `RunReport`, which `PassManager.run` returns and
  which prints a statistics table (`-stats`) and a timing table (`-time-passes`);
* IR dumps after passes, whole or as a unified diff (`-print-after`, `-print-changed`,
  `-print-diff`); every dump line that is not IR starts with ';', so a dump of whole functions is
  still valid `.zir` text;
* the bisect gate (`-opt-bisect-limit`): `Bisector.allow` numbers every transformation any pass
  asks to make, lets the first N through and logs each decision.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import TextIO

import attrs

_RULE = "===" + "-" * 73 + "==="


@attrs.frozen
class PassRecord:
    """One run of one pass on one function."""

    pass_name: str  #: the pass's pipeline text (name and non-default options)
    function: str
    changed: bool
    seconds: float
    instrs_before: int  #: instructions + phis before the pass
    instrs_after: int
    stats: dict[str, int] = attrs.field(factory=dict)


@attrs.define
class RunReport:
    """The per-pass statistics of one `PassManager.run`: records in execution order."""

    records: list[PassRecord] = attrs.field(factory=list)

    def __iter__(self) -> Iterator[PassRecord]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def changed(self) -> bool:
        """Whether any pass changed any function."""
        return any(r.changed for r in self.records)

    def totals(self) -> dict[str, dict[str, int]]:
        """Pass name -> statistic name -> sum over every run of that pass, in first-run order.

        Every pass also gets "instructions removed" / "instructions added" from the instruction
        counts around it, unless the pass counted those itself.
        """
        out: dict[str, dict[str, int]] = {}
        for r in self.records:
            acc = out.setdefault(r.pass_name, {})
            for k, v in r.stats.items():
                acc[k] = acc.get(k, 0) + v
        for name, acc in out.items():
            delta = [r.instrs_before - r.instrs_after for r in self.records if r.pass_name == name]
            acc.setdefault("net instructions removed", sum(delta))
        return out

    def stat(self, pass_name: str, statistic: str) -> int:
        """The total of one statistic of one pass (0 when never counted). `pass_name` is the pass as
        the pipeline wrote it (`"regalloc{k=2}"`), or its bare name (`"regalloc"`), which sums
        every run of that pass whatever its options."""
        totals = self.totals()
        if "{" in pass_name:
            return totals.get(pass_name, {}).get(statistic, 0)
        return sum(acc.get(statistic, 0) for p, acc in totals.items() if p.split("{", 1)[0] == pass_name)

    def stats_table(self) -> str:
        """The statistics as LLVM's `-stats` prints them: value, pass, description."""
        rows = [(v, p, k) for p, acc in self.totals().items() for k, v in acc.items() if v]
        width = max((len(str(v)) for v, _, _ in rows), default=1)
        pwidth = max((len(p) for _, p, _ in rows), default=1)
        lines = [_RULE, "                          ... Statistics Collected ...", _RULE, ""]
        lines += [f"{v:>{width}} {p:<{pwidth}} - {k}" for v, p, k in rows]
        return "\n".join(lines) + "\n"

    def timing_table(self) -> str:
        """Wall time per pass (summed over functions), largest first, as `-time-passes` prints it."""
        per: dict[str, float] = {}
        for r in self.records:
            per[r.pass_name] = per.get(r.pass_name, 0.0) + r.seconds
        total = sum(per.values())
        lines = [_RULE, "                      ... Pass execution timing report ...", _RULE,
                 f"  Total Execution Time: {total:.4f} seconds ({total:.4f} wall clock)", "",
                 "   ---Wall Time---  --Runs--  --- Name ---"]
        runs = {name: sum(1 for r in self.records if r.pass_name == name) for name in per}
        for name, secs in sorted(per.items(), key=lambda kv: (-kv[1], kv[0])):
            pct = 100.0 * secs / total if total else 0.0
            lines.append(f"   {secs:.4f} ({pct:5.1f}%)  {runs[name]:>8}  {name}")
        lines.append(f"   {total:.4f} (100.0%)  {len(self.records):>8}  Total")
        return "\n".join(lines) + "\n"


def dump_header(kind: str, pass_name: str, function: str) -> str:
    """`; *** IR Dump After dce on @f ***` (a comment line, so the dump stays parseable)."""
    return f"; *** IR {kind} After {pass_name} on @{function} ***\n"


def unified_diff(before: str, after: str, pass_name: str) -> str:
    """A unified diff of two IR texts, every line prefixed with nothing special."""
    lines = difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"before {pass_name}", tofile=f"after {pass_name}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class Bisector:
    """Counts transformations across all passes and lets only the first `limit` happen.

    `limit=None` allows everything silently. With a limit every request is numbered and logged to
    `stream` (LLVM's `-opt-bisect-limit` protocol), so a user bisects on N to find the one
    transformation that breaks a program:

        BISECT: running transformation #3 (dce: remove %t5 = add %a, 1 in ^bb2 of @f)
        BISECT: NOT running transformation #4 (copyprop: ...)
    """

    def __init__(self, limit: int | None, stream: TextIO) -> None:
        self.limit = limit
        self.stream = stream
        self.count = 0
        self.allowed = 0

    def allow(self, pass_name: str, description: str | Callable[[], str]) -> bool:
        """Number this transformation; True when it may run. `description` may be a function that
        makes the text: without a limit nothing is logged, so it is never called."""
        if self.limit is None:
            self.count += 1
            self.allowed += 1
            return True
        self.count += 1
        ok = self.count <= self.limit
        verb = "running" if ok else "NOT running"
        text = description if isinstance(description, str) else description()
        self.stream.write(f"BISECT: {verb} transformation #{self.count} ({pass_name}: {text})\n")
        if ok:
            self.allowed += 1
        return ok
