"""Frame pools: per-program free lists of finished register-VM frames.

What a register-VM call allocates is its frame: a Python generator (the register file lives in its
locals) and a small `RFrame` record. With pools on, a program's generated code is a loop that takes
the arguments of its next activation by `send` (`vm.codegen.emit`), so a frame whose activation
returned goes back to its program's `FramePool` and the next call of that program reuses it: no
generator, frame record or register file is made, and the return needs no StopIteration. A frame
an exception left is finished and is not pooled.

Not pooled, on purpose: argument tuples (CPython recycles small tuples on its own free lists) and
ints or strings (CPython caches small ints and interns identifier strings); docs/performance.md has
the measurements.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vm.register_vm import RegProgram
    from vm.trampoline import RFrame

__all__ = ["DEFAULT_CAP", "FramePool", "pool_stats"]

#: Most idle frames a program keeps (deep recursion makes many; beyond this they are closed).
DEFAULT_CAP = 64


class FramePool:
    """The free list of one program. `uses`: activations of the program's frames (a pooled frame
    counts its own, vm.codegen.emit); `misses`: frames made because the list was empty, so
    `uses - misses` activations reused a frame; `peak`: the most frames of the program that
    existed at once (in use or idle: deep recursion makes many); `dropped`:
    frames let go because the list was full. A call site takes a frame by popping `free` itself
    (vm.codegen.instrs) and a frame whose activation returned appends itself (emit); `take` and
    `give` are the same for the trampoline's own calls."""

    __slots__ = ("prog", "free", "cap", "uses", "misses", "peak", "dropped")

    def __init__(self, prog: RegProgram, cap: int = DEFAULT_CAP) -> None:
        self.prog = prog
        self.free: list[RFrame] = []
        self.cap = cap
        self.uses = 0
        self.misses = 0
        self.peak = 0
        self.dropped = 0

    def take(self) -> RFrame:
        """A started frame waiting for its arguments: a pooled one, else a new one."""
        if self.prog.leaf:  # no generated activation to count itself
            self.uses += 1
        free = self.free
        if free:
            return free.pop()
        self.misses += 1
        return self.make()

    def make(self) -> RFrame:
        RFrame = _rframe_type()
        if self.misses - self.dropped > self.peak:
            self.peak = self.misses - self.dropped
        frame = RFrame()
        frame.prog = self.prog
        frame.ret = None
        frame.args, frame.func = (), None
        if self.prog.leaf:  # called directly: the record is all there is to keep
            frame.gen = frame.send = None
            return frame
        gen = self.prog.genfn(frame)
        next(gen)  # run to `_A = yield`: the frame now waits for its first arguments
        frame.gen = gen
        frame.send = gen.send
        return frame

    def give(self, frame: RFrame) -> None:
        """Return a frame whose activation finished (a leaf's record: generated frames return
        themselves)."""
        frame.args, frame.func = (), None  # an idle frame keeps nothing of its last call alive
        free = self.free
        n = len(free)
        if n < self.cap:
            free.append(frame)
        else:
            self.dropped += 1
            if frame.gen is not None:
                frame.gen.close()

    def stats(self) -> dict[str, Any]:
        hits = max(self.uses - self.misses, 0)
        return {"hits": hits, "misses": self.misses, "reuse_rate": hits / self.uses if self.uses else 0.0,
                "peak": self.peak, "idle": len(self.free), "dropped": self.dropped}


_RFrame: Any = None


def _rframe_type() -> type[RFrame]:
    """`vm.trampoline.RFrame`, imported on first use (vm.register_vm imports this module); kept here
    because an import statement in `make` costs about a microsecond per new frame."""
    global _RFrame
    if _RFrame is None:
        from vm.trampoline import RFrame

        _RFrame = RFrame
    return _RFrame


def pool_stats(pools: Iterable[FramePool]) -> dict[str, Any]:
    """Totals over `pools` plus one entry per program (by qualified name, sorted)."""
    per: dict[str, dict[str, Any]] = {}
    hits = misses = dropped = peak = idle = 0
    for p in pools:
        s = p.stats()
        per[p.prog.name] = s
        hits += s["hits"]
        misses += s["misses"]
        dropped += s["dropped"]
        peak = max(peak, s["peak"])
        idle += s["idle"]
    total = hits + misses
    return {"hits": hits, "misses": misses, "reuse_rate": hits / total if total else 0.0, "peak": peak,
            "idle": idle, "dropped": dropped, "per_code": dict(sorted(per.items()))}
