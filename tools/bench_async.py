"""`python tools/bench_async.py`: the SPAWN/AWAIT benchmarks, VM tasks vs asyncio on the host.

Two measurements, each in both VM modes (O2, pools on), timed as medians over `--repeat` runs with
the configurations interleaved (one run of each per round):

* **spawn+await**: a loop that spawns a trivial VM coroutine (`async def trivial(i): return i`) and
  awaits its future, N times (zir IR: `%t = spawn %f, %i; %r = await %t`), against the host doing
  `await asyncio.ensure_future(trivial(i))` N times under `asyncio.run`. Reported per iteration, with
  the VM's loop overhead alone (the same loop calling a plain function) for reference.
* **fan-out**: a coroutine with 1,000 independent `r_k = await work(k)` statements, compiled with
  the `await-batch` pass (1,000 SPAWNs, then 1,000 AWAITs), against the host's
  `await asyncio.gather(*[work(k) for k in range(1000)])`; once with `work` returning at once and
  once with `work` suspending for one turn of the event loop (`await asyncio.sleep(0)`).

`--phases` prints instead where a register run of the suspending fan-out spends its time (until the
scheduler's first round, in the rounds, after them, in the garbage collector). `--json PATH` writes
the figures; `--quick` makes everything small (checks the tool). Nothing here asserts a speed:
docs/performance.md records what it printed, with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python tools/bench_async.py`: make `tools` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import passes  # noqa: E402
import vm  # noqa: E402
import vm.tasks  # noqa: E402
import zir  # noqa: E402

MODES = ("register", "stack")
LOOP = """
func @loop(%n, %f) {KIND}{{
^entry:
  %i = const 0
  %s = const 0
  br ^head
^head:
  %c = lt %i, %n
  cbr %c, ^body, ^exit
^body:
{BODY}
  %s = add %s, %r
  %i = add %i, 1
  br ^head
^exit:
  ret %s
}}
"""
SPAWN_BODY = "  %t = spawn %f, %i\n  %r = await %t"
CALL_BODY = "  %r = call %f, %i"
PIPELINE = "peephole,ssa,copyprop,await-batch,dce,ssa-destroy,peephole,dce"


async def trivial(i: int) -> int:
    return i


def plain(i: int) -> int:
    return i


async def suspending(i: int) -> int:
    await asyncio.sleep(0)
    return i


def _loop_code(body: str, coroutine: bool) -> Any:
    text = LOOP.format(KIND="flags(coroutine) " if coroutine else "", BODY=body)
    return zir.stackify(zir.parse(text).functions["loop"])


def fan_out_function(n: int) -> Any:
    """`async def fan(work)` with `n` independent `r_k = await work(k)` statements."""
    lines = ["async def fan(work):"]
    lines += [f"    r{k} = await work({k})" for k in range(n)]
    lines.append("    return " + " + ".join(f"r{k}" for k in range(n)))
    env: dict[str, Any] = {}
    exec("\n".join(lines), env)  # noqa: S102 -- the benchmark's own generated source
    return env["fan"]


def batched_code(fn: Any) -> Any:
    """`fn`'s ZBC after the await-batch pipeline."""
    f = zir.lift(zir.frontend.from_python(fn))
    passes.PassManager.parse(PIPELINE).run(f)
    return zir.stackify(f)


def median_times(runners: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Median wall time of each runner, interleaved over `repeat` rounds."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_spawn_await(n: int, repeat: int) -> dict[str, Any]:
    spawn_code, call_code = _loop_code(SPAWN_BODY, True), _loop_code(CALL_BODY, False)

    async def host(count: int) -> int:
        s = 0
        for i in range(count):
            s += await asyncio.ensure_future(trivial(i))
        return s

    runners: dict[str, Callable[[], Any]] = {"host": lambda: asyncio.run(host(n))}
    machines: dict[str, vm.VM] = {}
    for mode in MODES:
        m = machines[mode] = vm.VM(mode=mode, opt_level=2)
        m.run(spawn_code, 10, trivial, globals={})
        m.run(call_code, 10, plain, globals={})
        runners[f"{mode} spawn+await"] = (lambda m=m: m.run(spawn_code, n, trivial, globals={}))
        runners[f"{mode} loop only"] = (lambda m=m: m.run(call_code, n, plain, globals={}))
    t = median_times(runners, repeat)
    out: dict[str, Any] = {"iterations": n, "host_us": t["host"] / n * 1e6}
    for mode in MODES:
        vm_us = t[f"{mode} spawn+await"] / n * 1e6
        out[mode] = {"us": vm_us, "loop_only_us": t[f"{mode} loop only"] / n * 1e6,
                     "speedup_vs_host": out["host_us"] / vm_us,
                     "tasks": machines[mode].stats()["tasks"]}
    return out


def bench_fan_out(n: int, repeat: int) -> dict[str, Any]:
    fan = fan_out_function(n)
    code = batched_code(fan)
    out: dict[str, Any] = {"awaits": n, "spawns": sum(i.op == "SPAWN" for i in code.instrs)}
    for label, work in (("eager", trivial), ("suspending", suspending)):
        async def host(w: Any = work) -> int:
            return sum(await asyncio.gather(*[w(k) for k in range(n)]))

        runners: dict[str, Callable[[], Any]] = {"host gather": lambda host=host: asyncio.run(host())}
        expected = asyncio.run(host())
        for mode in MODES:
            m = vm.VM(mode=mode, opt_level=2)
            if m.run(code, work, globals=fan.__globals__) != expected:
                raise AssertionError(f"fan-out on {mode} computed a different result")
            runners[mode] = (lambda m=m, w=work: m.run(code, w, globals=fan.__globals__))
        t = median_times(runners, repeat)
        out[label] = {"host_gather_ms": t["host gather"] * 1e3,
                      **{f"{mode}_ms": t[mode] * 1e3 for mode in MODES},
                      **{f"{mode}_vs_gather": t["host gather"] / t[mode] for mode in MODES}}
    return out


def fan_out_phases(n: int, repeat: int) -> dict[str, float]:
    """Where a register-mode run of the suspending fan-out spends its time (medians, ms): until
    the scheduler's first round (the SPAWNs, each a first step up to the `asyncio.sleep(0)`), in
    the rounds (the second steps), after them (the AWAITs, the end of the run), and in the garbage
    collector (`gc.callbacks`), against the host's whole gather run and its collections."""
    fan = fan_out_function(n)
    code = batched_code(fan)
    m = vm.VM(mode="register", opt_level=2)
    sched = vm.tasks.scheduler_of(m._runtime)
    marks: dict[str, float] = {}
    run_round = sched._run_round

    def timed_round(tasks: list[Any]) -> None:  # the instance's own attribute: what `_park` schedules
        marks.setdefault("first", time.perf_counter())
        run_round(tasks)
        marks["last"] = time.perf_counter()

    sched._run_round = timed_round  # type: ignore[method-assign]
    gc_time = [0.0, 0.0]

    def collecting(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    async def host() -> int:
        return sum(await asyncio.gather(*[suspending(k) for k in range(n)]))

    m.run(code, suspending, globals=fan.__globals__)
    asyncio.run(host())
    out: dict[str, list[float]] = {k: [] for k in ("total", "spawns", "rounds", "after", "gc",
                                                    "host_total", "host_gc")}
    gc.callbacks.append(collecting)
    try:
        for _ in range(repeat):
            marks.clear()
            gc_time[0] = 0.0
            t0 = time.perf_counter()
            m.run(code, suspending, globals=fan.__globals__)
            t1 = time.perf_counter()
            out["total"].append(t1 - t0)
            out["spawns"].append(marks["first"] - t0)
            out["rounds"].append(marks["last"] - marks["first"])
            out["after"].append(t1 - marks["last"])
            out["gc"].append(gc_time[0])
            gc_time[0] = 0.0
            t0 = time.perf_counter()
            asyncio.run(host())
            out["host_total"].append(time.perf_counter() - t0)
            out["host_gc"].append(gc_time[0])
    finally:
        gc.callbacks.remove(collecting)
    return {k: statistics.median(v) * 1e3 for k, v in out.items()}


def print_report(spawn: dict[str, Any], fan: dict[str, Any]) -> None:
    print(f"SPAWN/AWAIT: spawn+await of a trivial task, {spawn['iterations']} times (median per iteration)")
    print(f"  host asyncio.ensure_future + await     {spawn['host_us']:8.2f} us")
    for mode in MODES:
        r = spawn[mode]
        tasks = r["tasks"]
        print(f"  {mode:8} O2 SPAWN + AWAIT             {r['us']:8.2f} us   "
              f"{r['speedup_vs_host']:5.2f}x faster than the host   "
              f"(loop alone {r['loop_only_us']:.2f} us; fast path {tasks['fast_path']}, "
              f"pool reuse {tasks['pool']['reuse_rate']:.0%})")
    print(f"fan-out: {fan['awaits']} independent awaits, batched into {fan['spawns']} SPAWNs "
          "(median per run)")
    for label in ("eager", "suspending"):
        r = fan[label]
        print(f"  {label:10} host asyncio.gather {r['host_gather_ms']:8.2f} ms   " + "   ".join(
            f"{mode} {r[f'{mode}_ms']:8.2f} ms ({r[f'{mode}_vs_gather']:.2f}x gather)" for mode in MODES))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_async", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per configuration (median)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat (checks the tool)")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--phases", action="store_true",
                        help="only where a register run of the suspending fan-out spends its time")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    if args.phases:
        p = fan_out_phases(50 if args.quick else 1000, max(repeat, 3 if args.quick else 15))
        print(f"suspending fan-out, register O2 (ms, medians): run {p['total']:.2f} = SPAWNs up to the "
              f"first round {p['spawns']:.2f} + rounds {p['rounds']:.2f} + AWAITs and the rest "
              f"{p['after']:.2f}; in the garbage collector {p['gc']:.2f}")
        print(f"host asyncio.gather run {p['host_total']:.2f}; in the garbage collector {p['host_gc']:.2f}")
        return 0
    spawn = bench_spawn_await(200 if args.quick else 20_000, repeat)
    fan = bench_fan_out(50 if args.quick else 1000, repeat)
    print_report(spawn, fan)
    if args.json:
        Path(args.json).write_text(json.dumps({"spawn_await": spawn, "fan_out": fan}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
