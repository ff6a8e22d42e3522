"""The stack VM's profiling loops, and what they count per program.

The stack interpreter's dispatch loop (`vm.stack_interp.execute`) is written once. A profiling
machine runs a copy of it made from its source by inserting statements at two places: where the loop
(re)loads a frame (`instrs = prog.instrs`: fetch that program's counters) and where it fetches an
instruction (`op, arg = instrs[pc]`: count it, per level). The plain loop (profile "none") is not
touched, so it carries no profiling code. If the loop's shape changes so that either place cannot
be found, making a profiling machine fails loudly (`zir.VMError`) instead of profiling nothing.

Per level: "basic" counts every executed ZBC instruction; "detailed" also times each instruction
from its fetch to the next fetch (the time of a CALL ends when the callee's first instruction is
fetched; the last instruction of a run has no sample); "full" also counts the jumps taken between
instructions of one frame (edges from -> to), from which branch taken/not-taken counts and backward
jumps (loops) follow.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import time
from array import array
from collections import Counter
from collections.abc import Callable
from typing import Any

from vm.profiler import percentiles
from zir.errors import VMError
from zir.ops import ZBC_OPS, ZArg

__all__ = ["StackProfile", "profiled_execute"]

#: Statements inserted after `instrs = prog.instrs` and after `op, arg = instrs[pc]`, per level.
_ON_FRAME = {
    "basic": "_pp = _profile_of(prog); _pc_counts = _pp.counts",
    "detailed": "_pp = _profile_of(prog); _pc_counts = _pp.counts; _pc_times = _pp.appenders",
    "full": "_pp = _profile_of(prog); _pc_counts = _pp.counts; _pc_times = _pp.appenders; "
            "_pc_edges = _pp.edges; _prev = -2",
}
_ON_FETCH = {
    "basic": "_pc_counts[pc] += 1",
    "detailed": "_pc_counts[pc] += 1\n_now = _ns()\n_tlast(_now - _t0)\n_t0 = _now\n_tlast = _pc_times[pc]",
    "full": "_pc_counts[pc] += 1\n_now = _ns()\n_tlast(_now - _t0)\n_t0 = _now\n_tlast = _pc_times[pc]\n"
            "if pc != _prev + 1 and _prev >= 0: _pc_edges[_prev, pc] += 1\n_prev = pc",
}
_START = "_tlast = _ignore\n_t0 = 0\n"


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


class _Insert(ast.NodeTransformer):
    def __init__(self, level: str) -> None:
        self.level = level
        self.found = {"frame": 0, "fetch": 0}

    def visit_Assign(self, node: ast.Assign) -> Any:
        if len(node.targets) != 1:
            return node
        target, value = node.targets[0], node.value
        if (_is_name(target, "instrs") and isinstance(value, ast.Attribute) and value.attr == "instrs"
                and _is_name(value.value, "prog")):
            self.found["frame"] += 1
            return [node, *ast.parse(_ON_FRAME[self.level]).body]
        if (isinstance(target, ast.Tuple) and [getattr(e, "id", None) for e in target.elts] == ["op", "arg"]
                and isinstance(value, ast.Subscript) and _is_name(value.value, "instrs")
                and _is_name(value.slice, "pc")):
            self.found["fetch"] += 1
            return [node, *ast.parse(_ON_FETCH[self.level]).body]
        return node


_SOURCES: dict[str, Any] = {}


def _profiled_code(level: str) -> Any:
    """The compiled module holding `execute` with the `level` statements inserted (cached)."""
    code = _SOURCES.get(level)
    if code is not None:
        return code
    from vm import stack_interp

    tree = ast.parse(textwrap.dedent(inspect.getsource(stack_interp.execute)))
    inserter = _Insert(level)
    tree = inserter.visit(tree)
    if inserter.found != {"frame": 1, "fetch": 1}:
        raise VMError("cannot make the stack VM's profiling loop: vm/stack_interp.execute no longer has "
                      "exactly one `instrs = prog.instrs` and one `op, arg = instrs[pc]` "
                      f"(found {inserter.found}); update vm/stack_profile.py")
    fn = tree.body[0]
    assert isinstance(fn, ast.FunctionDef)
    fn.name = "execute_profiled"
    fn.body[:0] = ast.parse(_START).body
    ast.fix_missing_locations(tree)
    code = compile(tree, f"<zir stack loop, profile {level}>", "exec")
    _SOURCES[level] = code
    return code


def profiled_execute(level: str, profile_of: Callable[[Any], StackProfile]) -> Callable[..., Any]:
    """The stack loop counting at `level`; `profile_of(prog)` gives a program's `StackProfile`."""
    from vm import stack_interp

    ns = dict(vars(stack_interp))
    ns.update({"_profile_of": profile_of, "_ns": time.perf_counter_ns, "_ignore": lambda _: None})
    exec(_profiled_code(level), ns)
    fn: Callable[..., Any] = ns["execute_profiled"]
    return fn


_BRANCHES = frozenset(name for name, row in ZBC_OPS.items() if row.zarg is ZArg.JUMP and name != "JUMP")


class StackProfile:
    """The counters of one stack-VM program: per instruction index `counts`, timing samples
    (`times`, appended through `appenders`), and jump `edges` (from, to)."""

    def __init__(self, prog: Any, level: str) -> None:
        self.prog = prog
        self.level = level
        n = len(prog.code.instrs)
        self.counts = [0] * n
        self.times = [array("q") for _ in range(n)] if level != "basic" else []
        self.appenders = [a.append for a in self.times]
        self.edges: Counter[tuple[int, int]] = Counter()

    @property
    def name(self) -> str:
        code = self.prog.code
        return str(code.qualname or code.name)

    def function(self) -> dict[str, Any]:
        """This program's part of the JSON report (sites are ZBC instructions)."""
        code = self.prog.code
        ops: Counter[str] = Counter()
        sites = []
        for pc, ins in enumerate(code.instrs):
            ops[ins.op] += self.counts[pc]
            sites.append({"block": pc, "label": f"@{pc}", "index": 0, "op": ins.op, "line": code.line_of(pc),
                          "count": self.counts[pc]})
        blocks = []
        for pc, ins in enumerate(code.instrs):
            entry: dict[str, Any] = {"index": pc, "label": f"@{pc} {ins.op}", "line": code.line_of(pc),
                                     "count": self.counts[pc], "instructions": 1}
            if self.level in ("detailed", "full"):
                entry["time_ns"] = percentiles(self.times[pc])
            blocks.append(entry)
        out: dict[str, Any] = {
            "name": self.name, "file": code.filename, "line": code.firstlineno, "unit": "instruction",
            "instructions": sum(self.counts), "opcodes": dict(sorted(ops.items())), "blocks": blocks,
            "sites": sites,
        }
        if self.level == "full":
            out["branches"] = self.branches()
            out["loops"] = self.loops()
        return out

    def branches(self) -> list[dict[str, Any]]:
        code = self.prog.code
        out = []
        for pc, ins in enumerate(code.instrs):
            if ins.op in _BRANCHES:
                taken = self.edges.get((pc, ins.arg), 0)
                out.append({"block": pc, "label": f"@{pc}", "line": code.line_of(pc), "op": ins.op,
                            "taken": taken, "not_taken": max(self.counts[pc] - taken, 0),
                            "targets": [ins.arg]})
        return out

    def loops(self) -> list[dict[str, Any]]:
        """Backward jumps, grouped by their target (the loop head)."""
        code = self.prog.code
        heads: Counter[int] = Counter()
        for (src, dst), n in self.edges.items():
            if dst <= src:
                heads[dst] += n
        return [{"header": h, "label": f"@{h}", "line": code.line_of(h), "depth": 0, "back_edges": n,
                 "entries": max(self.counts[h] - n, 0), "blocks": 0} for h, n in sorted(heads.items())]

    def heat(self) -> tuple[Any, dict[str, int]]:
        """The IR lifted from this program's ZBC, with each block's count (a block `bb<N>` starts at
        instruction N; blocks lifting split off or added are shown with their ZBC block's count)."""
        import zir

        f = zir.lift(self.prog.code)
        counts = {}
        for b in f.blocks:
            head = b.label[2:].split(".")[0] if b.label.startswith("bb") else ""
            counts[b.label] = self.counts[int(head)] if head.isdigit() and int(head) < len(self.counts) else 0
        return f, counts
