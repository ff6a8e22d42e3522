"""`python tools/bench.py`: the benchmark kernels on every VM configuration, as ratios.

Runs each kernel of `tools/kernels` (`KERNELS`, at `SIZES["bench"]`) in this one process on CPython
and on `vm.VM` configurations, and prints:

* register O2 vs stack O0 (speed-up), register O2 vs CPython (slowdown), each level vs O0 in both
  modes, with geometric means;
* executed instructions, register O2 vs stack O0 (register code from a BASIC profile, ZBC from the
  stack VM's own count);
* frame pools on vs off (register O2): time, gen0 garbage collections, allocation peak;
* the profiler's overhead per level vs profile "none" (register O2; stack O0 with --stack-profile);
* with `--spawn`, the SPAWN/AWAIT section of `tools/bench_async.py` (VM tasks vs asyncio).

Timings are medians over `--repeat` runs, interleaved (one run of every configuration per round) so
that drift in machine load affects them alike. They are the process's CPU time by default
(`--clock cpu`, `time.process_time`): on a shared machine, wall time (`--clock wall`,
`time.perf_counter`) also counts the time other processes take the CPU away, which is noise here
(every run is single-threaded and does no I/O). Each machine is warmed up (its code compiled) before
timing. `--json PATH` writes the same figures with stable keys; `--quick` uses the kernels' test
sizes and one repeat (to check that the tool works; the numbers mean little).
Nothing here asserts a speed: docs/performance.md records what it printed, with the command.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/bench.py`: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vm  # noqa: E402
from tools.kernels import KERNELS, NUMERIC_KERNELS  # noqa: E402

#: Configurations: name -> vm.VM options (None: CPython itself).
CONFIGS: dict[str, dict[str, Any] | None] = {
    "cpython": None,
    "stack_O0": {"mode": "stack", "opt_level": 0},
    "stack_O1": {"mode": "stack", "opt_level": 1},
    "stack_O2": {"mode": "stack", "opt_level": 2},
    "register_O0": {"mode": "register", "opt_level": 0},
    "register_O1": {"mode": "register", "opt_level": 1},
    "register_O2": {"mode": "register", "opt_level": 2},
    "register_O2_nopools": {"mode": "register", "opt_level": 2, "pools": False},
    "register_O2_basic": {"mode": "register", "opt_level": 2, "profile": "basic"},
    "register_O2_detailed": {"mode": "register", "opt_level": 2, "profile": "detailed"},
    "register_O2_full": {"mode": "register", "opt_level": 2, "profile": "full"},
}
STACK_PROFILE_CONFIGS: dict[str, dict[str, Any] | None] = {
    "stack_O0_basic": {"mode": "stack", "opt_level": 0, "profile": "basic"},
    "stack_O0_detailed": {"mode": "stack", "opt_level": 0, "profile": "detailed"},
    "stack_O0_full": {"mode": "stack", "opt_level": 0, "profile": "full"},
}


def geomean(values: Sequence[float]) -> float:
    """The geometric mean (1.0 for no values)."""
    vals = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else 1.0


class Runner:
    """One configuration's callable for one kernel: `call()` runs the kernel at the bench size."""

    def __init__(self, options: dict[str, Any] | None, kernel: Any, size: int, warm: int) -> None:
        self.options = options
        self.machine = vm.VM(**options) if options is not None else None
        self.kernel = kernel
        self.size = size
        if self.machine is not None:
            self.machine.run(kernel.run, warm)  # compile everything the kernel calls

    def call(self) -> Any:
        if self.machine is None:
            return self.kernel.run(self.size)
        return self.machine.run(self.kernel.run, self.size)


#: The clocks `--clock` chooses from.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def timed(fn: Callable[[], Any], clock: Callable[[], float] = time.process_time) -> float:
    """How long `fn()` takes on `clock` (seconds)."""
    t0 = clock()
    fn()
    return clock() - t0


class GenZero:
    """Counts generation-0 collections while active (gc.callbacks)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and info.get("generation") == 0:
            self.count += 1

    def __enter__(self) -> GenZero:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        gc.callbacks.remove(self)


def measure_memory(runner: Runner) -> dict[str, Any]:
    """gen0 collections, and (tracemalloc) the allocation peak and blocks left, for one run."""
    gc.collect()
    blocks = sys.getallocatedblocks()
    with GenZero() as g0:
        runner.call()
    gen0 = g0.count
    retained = sys.getallocatedblocks() - blocks
    tracemalloc.start()
    try:
        runner.call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"gen0_collections": gen0, "peak_kib": round(peak / 1024, 1), "blocks_retained": retained}


def bench_kernel(name: str, configs: dict[str, dict[str, Any] | None], repeat: int, quick: bool,
                 log: Callable[[str], None],
                 clock: Callable[[], float] = time.process_time) -> dict[str, Any]:
    """One kernel on every configuration: the medians, ratios, instruction counts, pool and
    profiler figures of the module docstring (`log` gets its one-line summary)."""
    kernel = KERNELS[name]
    size = kernel.SIZES["test" if quick else "bench"]
    runners = {c: Runner(opts, kernel, size, kernel.SIZES["test"]) for c, opts in configs.items()}
    expected = runners["cpython"].call()
    samples: dict[str, list[float]] = {c: [] for c in configs}
    for _ in range(repeat):
        for c, r in runners.items():
            samples[c].append(timed(r.call, clock))
    times = {c: statistics.median(s) for c, s in samples.items()}
    for c, r in runners.items():
        got = r.call()
        if got != expected:
            raise SystemExit(f"bench: {name} on {c} returned {got!r}, CPython {expected!r}")
    out: dict[str, Any] = {"size": size, "repeat": repeat, "times_s": times}
    t = times
    out["register_O2_vs_stack_O0"] = t["stack_O0"] / t["register_O2"]
    out["register_O2_vs_cpython"] = t["register_O2"] / t["cpython"]
    out["levels_vs_O0"] = {mode: {f"O{k}": t[f"{mode}_O0"] / t[f"{mode}_O{k}"] for k in (1, 2)}
                           for mode in ("stack", "register")}
    # executed instructions: ZBC (the stack VM counts them itself) vs register code (BASIC profile)
    stack = vm.VM(mode="stack", opt_level=0)
    stack.run(kernel.run, size)
    basic = runners["register_O2_basic"].machine
    assert basic is not None
    before = basic.stats()["instructions"]
    basic.run(kernel.run, size)
    reg = basic.stats()["instructions"] - before
    zbc = stack.stats()["instructions"]
    out["instructions"] = {"stack_O0": zbc, "register_O2": reg, "reduction": 1 - reg / zbc}
    out["pools"] = {
        "speedup": t["register_O2_nopools"] / t["register_O2"],
        "on": measure_memory(runners["register_O2"]), "off": measure_memory(runners["register_O2_nopools"]),
        "stats": _pool_summary(runners["register_O2"]),
        "frames_made": {"on": _frames_made(runners["register_O2"], "misses"),
                        "off": _frames_made(runners["register_O2_nopools"], "calls")},
    }
    levels = ("basic", "detailed", "full")
    out["profile_overhead"] = {"register": {lvl: t[f"register_O2_{lvl}"] / t["register_O2"] - 1
                                            for lvl in levels}}
    if "stack_O0_basic" in t:
        out["profile_overhead"]["stack"] = {
            lvl: t[f"stack_O0_{lvl}"] / t["stack_O0"] - 1 for lvl in ("basic", "detailed", "full")}
    log(_kernel_line(name, out))
    return out


def _frames_made(runner: Runner, counter: str) -> int:
    """Frames one run allocates: pool misses with pools on, every VM call with pools off."""
    machine = runner.machine
    assert machine is not None

    def read() -> int:
        stats = machine.stats()
        return int(stats["pools"]["misses"] if counter == "misses" else stats["calls"])

    before = read()
    runner.call()
    return read() - before


def _pool_summary(runner: Runner) -> dict[str, Any]:
    assert runner.machine is not None
    p = runner.machine.stats()["pools"]
    return {k: p[k] for k in ("hits", "misses", "reuse_rate", "peak")}


def _kernel_line(name: str, k: dict[str, Any]) -> str:
    t = k["times_s"]
    return (f"{name:14s} cpython {t['cpython'] * 1000:8.1f} ms | reg O2 vs stack O0 "
            f"{k['register_O2_vs_stack_O0']:6.2f}x faster | reg O2 vs CPython "
            f"{k['register_O2_vs_cpython']:5.2f}x slower | instrs "
            f"-{k['instructions']['reduction'] * 100:4.1f}% | pools {k['pools']['speedup']:4.2f}x")


def value_caches(n: int = 200_000) -> dict[str, Any]:
    """Why the VM has no int or string pool: CPython already hands out one object per small int
    (-5..256) and per interned string, so a pool in front of them only adds a lookup. Measured:
    ns per operation for small-int additions and identifier-string concatenations, plainly and
    through a dict pool (what an int/string pool would do), and the blocks the plain loop leaves
    allocated (0: nothing to reuse)."""
    import timeit

    pool: dict[Any, Any] = {}
    env = {"pool": pool, "a": 100, "b": 27, "s": "na", "t": "me"}
    loops = max(n // 10, 1)
    out: dict[str, Any] = {}
    for label, plain, pooled in [
        ("small_int_add", "r = a + b", "r = a + b; r = pool.setdefault(r, r)"),
        ("str_concat", "r = s + t", "r = s + t; r = pool.setdefault(r, r)"),
    ]:
        t_plain = min(timeit.repeat(plain, globals=env, number=loops, repeat=5)) / loops * 1e9
        t_pool = min(timeit.repeat(pooled, globals=env, number=loops, repeat=5)) / loops * 1e9
        out[label] = {"plain_ns": round(t_plain, 1), "pooled_ns": round(t_pool, 1)}
    loop = compile("for i in range(n):\n    r = (i & 127) + 100\ndel i, r", "<ints>", "exec")
    scope = {"n": n}
    gc.collect()
    before = sys.getallocatedblocks()
    exec(loop, scope)
    out["small_int_blocks_left"] = sys.getallocatedblocks() - before
    out["small_int_is_cached"] = env["a"] + env["b"] is int("127")
    return out


def summarize(kernels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cross-kernel figures the targets in docs/performance.md are stated in."""
    names = list(kernels)
    numeric = [n for n in names if n in NUMERIC_KERNELS]
    out: dict[str, Any] = {
        "register_O2_vs_stack_O0_geomean": geomean([kernels[n]["register_O2_vs_stack_O0"] for n in names]),
        "register_O2_vs_cpython_numeric_max": max((kernels[n]["register_O2_vs_cpython"] for n in numeric),
                                                  default=0.0),
        "register_O2_vs_cpython_geomean": geomean([kernels[n]["register_O2_vs_cpython"] for n in names]),
        "instruction_reduction_geomean":
            1 - geomean([1 - kernels[n]["instructions"]["reduction"] for n in names]),
        "levels_vs_O0_geomean": {
            mode: {lvl: geomean([kernels[n]["levels_vs_O0"][mode][lvl] for n in names])
                   for lvl in ("O1", "O2")}
            for mode in ("stack", "register")},
        "pools_speedup": {n: kernels[n]["pools"]["speedup"] for n in names},
        "profile_overhead_geomean": {
            mode: {lvl: geomean([1 + kernels[n]["profile_overhead"][mode][lvl] for n in names]) - 1
                   for lvl in ("basic", "detailed", "full")}
            for mode in kernels[names[0]]["profile_overhead"]} if names else {},
    }
    return out


def print_tables(kernels: dict[str, dict[str, Any]], summary: dict[str, Any]) -> None:
    names = list(kernels)
    print()
    print("speed (time ratios; medians):")
    print(f"  {'kernel':14s} {'regO2/CPy':>9s} {'stackO0/regO2':>13s} {'stk O1':>7s} {'stk O2':>7s} "
          f"{'reg O1':>7s} {'reg O2':>7s}   (levels: O0 time / level time)")
    for n in names:
        k = kernels[n]
        lv = k["levels_vs_O0"]
        print(f"  {n:14s} {k['register_O2_vs_cpython']:9.2f} {k['register_O2_vs_stack_O0']:13.2f} "
              f"{lv['stack']['O1']:7.2f} {lv['stack']['O2']:7.2f} {lv['register']['O1']:7.2f} "
              f"{lv['register']['O2']:7.2f}")
    print()
    print("executed instructions (stack O0 ZBC vs register O2 register code):")
    for n in names:
        ins = kernels[n]["instructions"]
        print(f"  {n:14s} {ins['stack_O0']:>13,} {ins['register_O2']:>13,}  -{ins['reduction'] * 100:.1f}%")
    print()
    print("frame pools (register O2), on / off: speed-up, frames made per run, gen0 collections, "
          "allocation peak KiB:")
    for n in names:
        p = kernels[n]["pools"]
        made = p["frames_made"]
        on, off = p["on"], p["off"]
        print(f"  {n:14s} {p['speedup']:5.2f}x  frames {made['on']:>8,} / {made['off']:<9,} gen0 "
              f"{on['gen0_collections']:>5} / {off['gen0_collections']:<5} peak {on['peak_kib']:>8} / "
              f"{off['peak_kib']:<8} reuse {p['stats']['reuse_rate'] * 100:5.1f}%")
    print()
    print("profiler overhead vs profile='none' (time / time - 1):")
    for n in names:
        for mode, levels in kernels[n]["profile_overhead"].items():
            print(f"  {n:14s} {mode:8s} " + "  ".join(f"{lvl} {v * 100:+7.1f}%" for lvl, v in levels.items()))
    print()
    s = summary
    print("summary:")
    rows = [("register O2 vs stack O0, geomean speed-up", f"{s['register_O2_vs_stack_O0_geomean']:.2f}x"),
            ("register O2 vs CPython, worst numeric kernel",
             f"{s['register_O2_vs_cpython_numeric_max']:.2f}x slower"),
            ("register O2 vs CPython, geomean", f"{s['register_O2_vs_cpython_geomean']:.2f}x slower"),
            ("executed instructions, geomean reduction", f"{s['instruction_reduction_geomean'] * 100:.1f}%")]
    for label, value in rows:
        print(f"  {label + ':':48s} {value}")
    for mode, levels in s["profile_overhead_geomean"].items():
        print(f"  profiler overhead ({mode}), geomean:  " +
              "  ".join(f"{lvl} {v * 100:+.1f}%" for lvl, v in levels.items()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (see the module docstring); exit status 0."""
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("kernels", nargs="*", help=f"kernels to run (default: all of {', '.join(KERNELS)})")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (median)")
    parser.add_argument("--quick", action="store_true", help="test sizes, one repeat (checks the tool)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--stack-profile", action="store_true",
                        help="also measure the stack VM's profiler overhead (slow at bench sizes)")
    parser.add_argument("--spawn", action="store_true",
                        help="also run the SPAWN/AWAIT section (tools/bench_async.py: VM tasks vs asyncio)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="what the timings measure: the process's CPU time (default) or wall time")
    ns = parser.parse_args(argv)
    names = ns.kernels or list(KERNELS)
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        parser.error(f"unknown kernel(s): {', '.join(unknown)}")
    repeat = 1 if ns.quick else max(1, ns.repeat)
    configs = dict(CONFIGS)
    if ns.stack_profile or ns.quick:
        configs.update(STACK_PROFILE_CONFIGS)
    command = "python tools/bench.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"zir bench: {command.strip()}")
    print(f"Python {platform.python_version()} on {platform.machine()} ({platform.system()}), "
          f"repeat {repeat}, {ns.clock} time{', quick' if ns.quick else ''}")
    kernels = {n: bench_kernel(n, configs, repeat, ns.quick, print, CLOCKS[ns.clock]) for n in names}
    summary = summarize(kernels)
    summary["value_caches"] = value_caches(20_000 if ns.quick else 200_000)
    print_tables(kernels, summary)
    vc = summary["value_caches"]
    add, cat = vc["small_int_add"], vc["str_concat"]
    print(f"  no int/string pools: small-int add {add['plain_ns']} ns plain vs {add['pooled_ns']} ns "
          f"through a pool; string concat {cat['plain_ns']} vs {cat['pooled_ns']} ns; "
          f"{vc['small_int_blocks_left']} blocks left by the small-int loop")
    spawn: dict[str, Any] | None = None
    if ns.spawn or ns.quick:
        from tools import bench_async

        print()
        spawn = {"spawn_await": bench_async.bench_spawn_await(200 if ns.quick else 20_000, repeat),
                 "fan_out": bench_async.bench_fan_out(50 if ns.quick else 1000, repeat)}
        bench_async.print_report(spawn["spawn_await"], spawn["fan_out"])
    if ns.json:
        data = {"command": command.strip(), "python": platform.python_version(),
                "machine": platform.machine(), "quick": ns.quick, "repeat": repeat, "clock": ns.clock,
                "kernels": kernels,
                "summary": summary, **({"spawn": spawn} if spawn is not None else {})}
        Path(ns.json).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        print(f"\nwrote {ns.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
