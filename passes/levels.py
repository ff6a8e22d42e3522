"""Optimization levels: named pipelines that `O0`, `O1` and `O2` in a pipeline string expand to.

* ``O0``: nothing; the code runs as lifted.
* ``O1``: a cheap cleanup on the lifted (non-SSA) form: peephole (constant folding, branch folding,
  jump threading, unreachable blocks, dead stores) and dead-code elimination.
* ``O2``: the full set: clean up, build pruned SSA, propagate copies, fold again with the SSA-wide
  constants, remove dead code and phis, leave SSA with sequentialized parallel copies, and clean up
  the copies and blocks that leaves behind.

Register allocation is not part of any level: the register VM appends ``regalloc{k=...}`` itself.
"""

from __future__ import annotations

#: Level name -> the pipeline it stands for.
LEVELS: dict[str, str] = {
    "O0": "",
    "O1": "peephole,dce",
    "O2": "peephole,ssa,copyprop,peephole,dce,ssa-destroy,peephole,dce",
}


def level_pipeline(level: int | str) -> str:
    """The pipeline string of optimization level `level` (0, 1, 2, or "O0".."O2")."""
    key = level if isinstance(level, str) else f"O{level}"
    try:
        return LEVELS[key]
    except KeyError:
        from zir.errors import PassError

        raise PassError(f"unknown optimization level {level!r}; known: {', '.join(LEVELS)}") from None
