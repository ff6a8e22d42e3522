"""The instruction profiler: counts (BASIC), timing (DETAILED), branches, memory operations and hot
loops (FULL), for both VM modes; reports as text, JSON and HTML (`vm.report_html`).

What is measured, per level:

* **basic**: how many times each instruction ran. Register mode counts CFG edges in the generated
  code, only those off a maximum-weight spanning tree (`vm.codegen.counters`, Ball & Larus 1994),
  derives every edge's and block's count by flow conservation, and each instruction's count from
  its block's, exactly: an exception that leaves a block midway is located (its traceback line in
  the generated code maps to the instruction), which makes it a known edge of the flow, and the
  instructions after it are not counted. Stack mode counts every ZBC instruction in a profiling copy of the
  dispatch loop (`vm.stack_profile`).
* **detailed**: + timing (wall clock, `time.perf_counter_ns`). Register mode times each *block*:
  one clock read as each block starts, so a block's time runs from its start to the start of the
  next block of the same frame (its instructions, the calls it makes, its branch; the frame's last
  block until its return; a block an exception left, until its handler starts; a `for` header has
  no samples of its own). Stack mode times each *instruction* from its dispatch to the next
  dispatch (calls: until the callee's first instruction; so the time is the instruction's own).
  Reported per block / instruction: samples, total, min, max, mean, p50, p95, p99 (nanoseconds).
* **full**: + branches (how often each two-way branch went to its first, "taken", target and to the
  other: the derived counts of its two edges, no counter of their own), memory operations
  (executed attribute, subscript, global and cell loads and stores, per
  kind and per site, from the counts) and hot loops: back edges (jumps to a block that dominates
  the jumping one) taken at least `hot_loop_threshold` times (default 1000).

At profile "none" no counting code exists: the register VM generates code without it and the stack
VM runs its plain loop.
"""

from __future__ import annotations

import json
import time
from array import array
from collections import Counter
from typing import TYPE_CHECKING, Any

from zir.errors import VMError
from zir.ops import OPS, ZBC_OPS

if TYPE_CHECKING:
    from vm.register_vm import RegProgram

__all__ = ["LEVELS", "MEMORY_KINDS", "Profiler", "RegisterProfile", "percentiles"]

LEVELS = ("none", "basic", "detailed", "full")

#: Memory operations by kind: IR/register-code row names (ZBC mnemonics are their rows' `zbc`).
MEMORY_KINDS: dict[str, tuple[str, ...]] = {
    "attribute load": ("load_attr",), "attribute store": ("store_attr", "delete_attr"),
    "subscript load": ("getitem",), "subscript store": ("setitem", "delitem"),
    "global load": ("load_global",), "global store": ("store_global", "delete_global"),
    "cell load": ("load_deref",), "cell store": ("store_deref", "delete_deref"),
}
_KIND_OF: dict[str, str] = {}
for _kind, _rows in MEMORY_KINDS.items():
    for _r in _rows:
        _KIND_OF[_r] = _kind
        _z = OPS[_r].zbc
        if _z is not None:
            _KIND_OF[_z] = _kind


def _discard(sample: int) -> None:
    """Where a timing sample that belongs to no block goes."""


def percentiles(samples: array[int] | list[int]) -> dict[str, float]:
    """samples/total/min/max/mean/p50/p95/p99 of timing samples (nearest-rank percentiles)."""
    n = len(samples)
    if not n:
        return {"samples": 0, "total": 0, "min": 0, "max": 0, "mean": 0.0, "p50": 0, "p95": 0, "p99": 0}
    s = sorted(samples)

    def rank(p: float) -> int:
        return s[min(n - 1, max(0, int(p * n + 0.999999) - 1))]

    total = sum(s)
    return {"samples": n, "total": total, "min": s[0], "max": s[-1], "mean": total / n,
            "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99)}


class RegisterProfile:
    """The counters of one register-VM program (see the module docstring); the generated code
    updates `counts` (`_P`, one slot per counter of its `vm.codegen.counters.CounterPlan`) and
    `times` (`_T`, per block) and reports exceptions to `exit`."""

    def __init__(self, prog: RegProgram, level: str) -> None:
        self.prog = prog
        self.level = level
        n = len(prog.rc.blocks)
        plan = prog.generated.plan
        assert plan is not None, "profiled code is generated with a counter plan"
        self.plan = plan
        self.counts = [0] * plan.nslots
        self.exits: Counter[tuple[int, int]] = Counter()
        self.times = [array("q") for _ in range(n)]

    def instruments(self) -> dict[str, Any]:
        """The names the generated code uses, with their objects."""
        # `_T` has one more entry than there are blocks: where an activation's first interval goes
        return {"_P": self.counts, "_T": [*(a.append for a in self.times), _discard],
                "_ns": time.perf_counter_ns, "_EXIT": self.exit}

    def exit(self, e: BaseException) -> None:
        """An exception left a block of this program midway: find the instruction from the
        traceback line in the generated code (the first traceback entry of this program's code is
        the frame that raised or let the exception through)."""
        code = self.prog.genfn.__code__
        tb = e.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is code:
                line = tb.tb_lineno
                at = self.prog.line_at(line)
                if at is not None:
                    if line in self.prog.generated.precount:
                        self.header_raised(at[0], tb.tb_frame)
                    self.exits[at] += 1
                return
            tb = tb.tb_next

    def header_raised(self, h: int, frame: Any) -> None:
        """The `next()` of a loop written as Python's `for` (header `h`) raised; the exception leaves
        the function (a `for` header has no handler). `h` has no counter and no timing of its own:
        the reference plan counts `h` here (its counter would come after the `next()`), and the
        interval of the block before it (in `_p`), which only the next block's start would close,
        closes now, so that every timed block has one sample per execution
        (`vm.codegen.counters.plan_counters` derives counts from that)."""
        slot = self.plan.block_slots.get(h)
        if slot is not None:
            self.counts[slot] += 1
        if self.level in ("detailed", "full"):
            local = frame.f_locals  # the frame has finished: its locals are those it ended with
            p, t0 = local.get("_p"), local.get("_t0")
            if isinstance(p, int) and isinstance(t0, int) and 0 <= p < len(self.times):
                self.times[p].append(time.perf_counter_ns() - t0)

    # -- derived figures -------------------------------------------------------------------------

    def block_counts_derived(self) -> list[int]:
        """Every block's execution count (derived from the edge counters: `vm.codegen.counters`)."""
        return self.plan.solve(self.counts, self.exits, self.sample_counts())[0]

    def sample_counts(self) -> list[int]:
        """How many timing samples each block has (DETAILED, FULL: the counts of the sampled
        blocks, `vm.codegen.counters.plan_counters`)."""
        return [len(a) for a in self.times]

    def edge_counts(self) -> dict[tuple[int, int], int]:
        """Every normal CFG edge's count, `(source, target)` (target -1 for a `ret`)."""
        return self.plan.solve(self.counts, self.exits, self.sample_counts())[1]

    def instr_counts(self) -> list[list[int]]:
        """Per block, per instruction: how many times it ran."""
        out = []
        blocks = self.block_counts_derived()
        for k, b in enumerate(self.prog.rc.blocks):
            c = blocks[k]
            row = []
            for j in range(len(b.instrs)):
                row.append(c)
                c -= self.exits.get((k, j), 0)
            out.append(row)
        return out

    def function(self) -> dict[str, Any]:
        """This program's part of the JSON report."""
        prog = self.prog
        rc = prog.rc
        counts = self.instr_counts()
        block_counts = [row[0] if row else 0 for row in counts]
        instrs = []
        ops: Counter[str] = Counter()
        for k, b in enumerate(rc.blocks):
            for j, i in enumerate(b.instrs):
                ops[i.op] += counts[k][j]
                instrs.append({"block": k, "label": b.label, "index": j, "op": i.op, "line": i.line,
                               "count": counts[k][j]})
        blocks = []
        for k, b in enumerate(rc.blocks):
            entry: dict[str, Any] = {"index": k, "label": b.label, "line": prog.block_line(k),
                                     "count": block_counts[k], "instructions": len(b.instrs)}
            if self.level in ("detailed", "full"):
                entry["time_ns"] = percentiles(self.times[k])
            blocks.append(entry)
        out: dict[str, Any] = {
            "name": prog.name, "file": prog.code.filename, "line": prog.code.firstlineno,
            "unit": "block", "instructions": sum(map(sum, counts)), "opcodes": dict(sorted(ops.items())),
            "blocks": blocks, "sites": instrs,
        }
        if self.level == "full":
            out["branches"] = self.branches(counts)
            out["loops"] = self.loops(counts)
        return out

    def branch_split(self, k: int, edges: dict[tuple[int, int], int]) -> tuple[int, int]:
        """(to the first target, to the second) for the two-way branch ending block `k` (a branch
        whose two targets are one block counts as never taken)."""
        first, second = self.prog.rc.blocks[k].instrs[-1].targets
        if first == second:
            return 0, edges.get((k, first), 0)
        return edges.get((k, first), 0), edges.get((k, second), 0)

    def branches(self, counts: list[list[int]]) -> list[dict[str, Any]]:
        out = []
        edges = self.edge_counts()
        for k, b in enumerate(self.prog.rc.blocks):
            t = b.instrs[-1]
            if len(t.targets) == 2:
                taken, not_taken = self.branch_split(k, edges)
                out.append({"block": k, "label": b.label, "line": t.line, "op": t.op, "taken": taken,
                            "not_taken": not_taken, "targets": list(t.targets)})
        return out

    def loops(self, counts: list[list[int]]) -> list[dict[str, Any]]:
        from vm.codegen.layout import Layout

        lay = Layout.of(self.prog.rc)
        edges = self.edge_counts()
        out = []
        for h, region in sorted(lay.regions.items()):
            if h < 0:
                continue
            back = sum(edges.get((k, h), 0) for k in sorted(region.subtree))
            header = counts[h][0] if counts[h] else 0
            out.append({"header": h, "label": self.prog.rc.blocks[h].label, "line": self.prog.block_line(h),
                        "depth": region.depth, "back_edges": back, "entries": max(header - back, 0),
                        "blocks": len(region.subtree)})
        return out

    def block_counts(self) -> dict[str, int]:
        """Label -> executions, for `zir.dot.cfg(prog.ir, profile=...)`."""
        derived = self.block_counts_derived()
        return {b.label: derived[k] for k, b in enumerate(self.prog.rc.blocks)}

    def heat(self) -> tuple[Any, dict[str, int]]:
        """The IR whose CFG shows this program (the allocated IR: same blocks) and its counts."""
        return self.prog.ir, self.block_counts()


class Profiler:
    """The profile of one `vm.VM` (see the module docstring)."""

    def __init__(self, level: str, mode: str, hot_loop_threshold: int = 1000) -> None:
        if level not in LEVELS or level == "none":
            raise VMError(f"profiler level must be one of basic, detailed, full; not {level!r}")
        self.level = level
        self.mode = mode
        self.hot_loop_threshold = hot_loop_threshold
        self.register: list[RegisterProfile] = []
        self.stack: list[Any] = []
        self._stack_by_id: dict[int, Any] = {}
        #: Suspensions of VM generator and coroutine frames, by function (vm/generators.py).
        self.suspends: Counter[str] = Counter()

    # -- collection --------------------------------------------------------------------------------

    def program(self, prog: RegProgram) -> RegisterProfile:
        """The counters of a newly compiled register program."""
        p = RegisterProfile(prog, self.level)
        self.register.append(p)
        return p

    def left(self, prog: RegProgram, e: BaseException) -> None:
        """An exception left a frame of register program `prog` (seen by the trampoline)."""
        if prog.profile is not None:
            prog.profile.exit(e)

    def suspended(self, name: str) -> None:
        """A generator or coroutine frame of function `name` suspended (yield, await)."""
        self.suspends[name] += 1

    def stack_program(self, prog: Any) -> Any:
        """The counters of a stack-mode program (`vm.stack_profile.StackProfile`), made on first use."""
        entry = self._stack_by_id.get(id(prog))
        if entry is not None and entry.prog is prog:
            return entry
        from vm.stack_profile import StackProfile

        p = StackProfile(prog, self.level)
        self._stack_by_id[id(prog)] = p
        self.stack.append(p)
        return p

    def stack_execute(self) -> Any:
        """The stack VM's dispatch loop with this level's counting (`vm.stack_profile`)."""
        from vm.stack_profile import profiled_execute

        return profiled_execute(self.level, self.stack_program)

    # -- results -----------------------------------------------------------------------------------

    def functions(self) -> list[dict[str, Any]]:
        """Every profiled program's figures, hottest first."""
        out = [p.function() for p in [*self.register, *self.stack]]
        out.sort(key=lambda f: (-f["instructions"], f["name"]))
        return out

    def total_instructions(self) -> int:
        return sum(f["instructions"] for f in self.functions())

    def data(self) -> dict[str, Any]:
        """The whole profile as JSON-able data (stable keys)."""
        funcs = self.functions()
        ops: Counter[str] = Counter()
        for f in funcs:
            ops.update(f["opcodes"])
        out: dict[str, Any] = {
            "mode": self.mode, "level": self.level,
            "total_instructions": sum(f["instructions"] for f in funcs),
            "opcodes": dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
            "functions": funcs,
            "suspends": {"total": sum(self.suspends.values()),
                         "functions": dict(sorted(self.suspends.items(), key=lambda kv: (-kv[1], kv[0])))},
        }
        if self.level == "full":
            memory: Counter[str] = Counter()
            sites = []
            for f in funcs:
                for s in f["sites"]:
                    kind = _KIND_OF.get(s["op"])
                    if kind is not None and s["count"]:
                        memory[kind] += s["count"]
                        sites.append({"function": f["name"], "line": s["line"], "op": s["op"], "kind": kind,
                                      "count": s["count"]})
            sites.sort(key=lambda s: (-s["count"], s["function"], s["line"] or 0))
            out["memory"] = {"totals": {k: memory.get(k, 0) for k in MEMORY_KINDS}, "sites": sites}
            loops = [{"function": f["name"], **lp} for f in funcs for lp in f["loops"]]
            loops.sort(key=lambda lp: (-lp["back_edges"], lp["function"]))
            out["hot_loops"] = [lp for lp in loops if lp["back_edges"] >= self.hot_loop_threshold]
            out["hot_loop_threshold"] = self.hot_loop_threshold
        return out

    def report(self, format: str = "text") -> str:
        """The profile as "text", "json" or "html"."""
        if format == "json":
            return json.dumps(self.data(), indent=2, sort_keys=False)
        if format == "html":
            from vm.report_html import html_report

            return html_report(self.data())
        if format == "text":
            return text_report(self.data())
        raise VMError(f"unknown profile report format {format!r}; expected text, json or html")

    def cfg(self, prog: Any) -> Any:
        """The heat-map CFG of a compiled program (`zir.dot.cfg` with block counts)."""
        import zir.dot

        for p in [*self.register, *self.stack]:
            if p.prog is prog:
                f, counts = p.heat()
                return zir.dot.cfg(f, profile=counts)
        raise VMError(f"no profile for {getattr(prog, 'name', prog)!r} yet: run it on this machine first")


def text_report(data: dict[str, Any], top: int = 15) -> str:
    """A plain-text summary of `Profiler.data()`."""
    lines = [f"zir profile ({data['mode']} mode, level {data['level']}): "
             f"{data['total_instructions']:,} instructions executed"]
    lines.append("")
    lines.append("functions (instructions executed):")
    for f in data["functions"][:top]:
        lines.append(f"  {f['instructions']:>14,}  {f['name']}  ({f['file']}:{f['line']})")
    suspends = data.get("suspends", {})
    if suspends.get("total"):
        lines.append("")
        lines.append(f"suspensions of generator and coroutine frames: {suspends['total']:,}")
        for name, n in list(suspends["functions"].items())[:top]:
            lines.append(f"  {n:>14,}  {name}")
    lines.append("")
    lines.append("opcodes:")
    for op, n in list(data["opcodes"].items())[:top]:
        lines.append(f"  {n:>14,}  {op}")
    sites = sorted(((s["count"], f["name"], s) for f in data["functions"] for s in f["sites"]),
                   key=lambda t: (-t[0], t[1], t[2]["line"] or 0))
    lines.append("")
    lines.append("hottest instructions:")
    for n, name, s in sites[:top]:
        lines.append(f"  {n:>14,}  {name}:{s['line']}  {s['op']}")
    if data["level"] in ("detailed", "full"):
        lines.append("")
        unit = data["functions"][0]["unit"] if data["functions"] else "block"
        lines.append(f"time per {unit} (ns): total  samples  mean  p50  p95  p99  max")
        timed = sorted(((b["time_ns"]["total"], f["name"], b) for f in data["functions"] for b in f["blocks"]
                        if b.get("time_ns", {}).get("samples")), key=lambda t: (-t[0], t[1]))
        for total, name, b in timed[:top]:
            t = b["time_ns"]
            lines.append(f"  {total:>14,}  {t['samples']:>9,}  {t['mean']:>8.0f}  {t['p50']:>6}  "
                         f"{t['p95']:>6}  {t['p99']:>6}  {t['max']:>8}  {name}:{b['line']} "
                         f"{unit} {b['label']}")
    if data["level"] == "full":
        lines.append("")
        lines.append("memory operations:")
        for kind, n in data["memory"]["totals"].items():
            lines.append(f"  {n:>14,}  {kind}")
        lines.append("")
        lines.append("branches (taken / not taken):")
        br = sorted(((b["taken"] + b["not_taken"], f["name"], b) for f in data["functions"]
                     for b in f["branches"]), key=lambda t: (-t[0], t[1]))
        for _, name, b in br[:top]:
            lines.append(f"  {b['taken']:>12,} / {b['not_taken']:<12,}  {name}:{b['line']}  {b['op']}")
        lines.append("")
        lines.append(f"hot loops (back edges >= {data['hot_loop_threshold']}):")
        for lp in data["hot_loops"][:top]:
            lines.append(f"  {lp['back_edges']:>14,}  {lp['function']}:{lp['line']}  depth {lp['depth']}, "
                         f"entered {lp['entries']:,} times")
        if not data["hot_loops"]:
            lines.append("  (none)")
    return "\n".join(lines) + "\n"


def zbc_name(op: str) -> str:
    """The table row name of a ZBC mnemonic (for grouping memory operations)."""
    row = ZBC_OPS.get(op)
    return row.name if row is not None else op
