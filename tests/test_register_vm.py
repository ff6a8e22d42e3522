"""The register-mode VM: the differential construct suite at O0/O1/O2, the code generator on
hand-built register code, the trampoline (deep recursion, limits, exceptions across frames, host
crossings), leaf functions called in place, and the frame-reading builtins."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

import vm
from vm.codegen import Variant, generate
from vm.codegen.layout import Layout
from vm.register_vm import RegProgram
from zir.errors import VMError
from zir.ir import UNBOUND
from zir.regcode import Imm, RBlock, Reg, RegCode, RInstr

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import test_constructs  # noqa: E402

from tools import difftest  # noqa: E402

REGISTER = [("register", 0), ("register", 1), ("register", 2)]


def _case_params() -> list[Any]:
    return [pytest.param(fn, argset, id=f"{fn.__name__}-{i}")
            for fn, sets, _ in test_constructs.CASES for i, argset in enumerate(sets)]


@pytest.mark.parametrize(("fn", "argset"), _case_params())
def test_constructs_in_register_mode(fn: Any, argset: test_constructs.Args) -> None:
    difftest.compare(fn, *argset.args, matrix=REGISTER, **argset.kwargs)


@pytest.mark.parametrize("pools", [True, False])
def test_constructs_without_pools_and_profiled(pools: bool) -> None:
    """A sample of the suite with pools off and with the FULL profiler (different generated code)."""
    for fn, sets, _ in test_constructs.CASES[::7]:
        for argset in sets:
            difftest.compare(fn, *argset.args, matrix=[("register", 2)],
                             vm_options={"pools": pools, "profile": "none" if pools else "full"},
                             **argset.kwargs)


def test_matrix_has_register_mode() -> None:
    assert set(REGISTER) <= set(difftest.matrix())


# -- the code generator on hand-built register code ----------------------------------------------------


def regcode(blocks: list[RBlock], params: list[int], nregs: int) -> RegCode:
    return RegCode("hand", params=params, blocks=blocks, nregs=nregs,
                   param_names=[f"p{k}" for k in range(len(params))])


def run_regcode(rc: RegCode, *args: Any, pooled: bool = False) -> Any:
    """Run generated code directly: a leaf needs no trampoline."""
    gen = generate(rc, Variant(pooled=pooled))
    assert gen.leaf
    ns: dict[str, Any] = {"_U": UNBOUND, **gen.values}
    exec(compile(gen.source, "<hand>", "exec"), ns)
    return ns[gen.name](None, *args)


def counting_loop() -> RegCode:
    # r1 = 0; r2 = 0; while r2 < r0: r1 += r2; r2 += 1;  return r1
    return regcode([
        RBlock("entry", [RInstr("const", Reg(1), (Imm(0),)), RInstr("const", Reg(2), (Imm(0),)),
                         RInstr("br", targets=(1,))]),
        RBlock("head", [RInstr("cbr_lt", None, (Reg(2), Reg(0)), targets=(2, 3))]),
        RBlock("body", [RInstr("iadd", Reg(1), (Reg(1), Reg(2))), RInstr("add", Reg(2), (Reg(2), Imm(1))),
                        RInstr("br", targets=(1,))]),
        RBlock("exit", [RInstr("ret", None, (Reg(1),))]),
    ], [0], 3)


def test_generated_loop_is_a_python_loop() -> None:
    rc = counting_loop()
    lay = Layout.of(rc)
    assert set(lay.regions) == {-1, 1} and lay.regions[1].inline and lay.regions[1].follow == 3
    source = generate(rc, Variant()).source
    assert "while True:" in source and "_b" not in source  # no dispatch at all
    assert "if r2 < r0:" in source and "r1 += r2" in source
    assert run_regcode(rc, 10) == 45


def irreducible() -> RegCode:
    # entry branches into the middle of a two-block cycle from both sides: no natural loop
    return regcode([
        RBlock("entry", [RInstr("cbr", None, (Reg(0),), targets=(1, 2))]),
        RBlock("a", [RInstr("add", Reg(1), (Reg(1), Imm(1))), RInstr("cbr_lt", None, (Reg(1), Imm(5)),
                                                                           targets=(2, 3))]),
        RBlock("b", [RInstr("add", Reg(1), (Reg(1), Imm(10))), RInstr("cbr_lt", None, (Reg(1), Imm(50)),
                                                                            targets=(1, 3))]),
        RBlock("exit", [RInstr("ret", None, (Reg(1),))]),
    ], [0, 1], 2)


@pytest.mark.parametrize(("flag", "start", "expected"),
                         [(True, 0, 12), (False, 0, 11), (True, 7, 8), (False, -20, 13)])
def test_irreducible_flow_goes_through_the_dispatch_chain(flag: bool, start: int, expected: int) -> None:
    rc = irreducible()
    assert set(Layout.of(rc).regions) == {-1}
    source = generate(rc, Variant()).source
    assert "_b = 1" in source and "_b = 2" in source
    assert run_regcode(rc, flag, start) == expected


def nested_loops(depth: int) -> RegCode:
    """`depth` nested counting loops of 2 trips each around `r0 += 1`; returns 2**depth."""
    blocks = [RBlock("entry", [RInstr("const", Reg(0), (Imm(0),)), RInstr("const", Reg(1), (Imm(0),)),
                               RInstr("br", targets=(1,))])]
    # block 2k+1: head of loop k; block 2k+2: reset of loop k+1's counter (body start)
    for k in range(depth):
        head = 2 * k + 1
        inner_start = 2 * k + 2
        exit_to = 2 * depth + 1 if k == 0 else 2 * (k - 1) + 3
        test = RInstr("cbr_lt", None, (Reg(k + 1), Imm(2)), targets=(inner_start, exit_to))
        blocks.append(RBlock(f"h{k}", [test]))
        if k + 1 < depth:
            reset = RInstr("const", Reg(k + 2), (Imm(0),))
            blocks.append(RBlock(f"s{k}", [reset, RInstr("br", targets=(head + 2,))]))
        else:
            blocks.append(RBlock(f"s{k}", [RInstr("add", Reg(0), (Reg(0), Imm(1))),
                                           RInstr("br", targets=(2 * depth + 2,))]))
    blocks.append(RBlock("exit", [RInstr("ret", None, (Reg(0),))]))
    # latches: increment loop k's counter and go back to its head, innermost first
    latches = []
    for k in range(depth - 1, -1, -1):
        latches.append(RBlock(f"l{k}", [RInstr("add", Reg(k + 1), (Reg(k + 1), Imm(1))),
                                        RInstr("br", targets=(2 * k + 1,))]))
    blocks.extend(latches)
    # fix exits: loop k (k > 0) exits to loop k-1's latch
    n_fixed = 2 * depth + 2
    for k in range(1, depth):
        latch_index = n_fixed + (depth - 1 - (k - 1))
        blocks[2 * k + 1].instrs[0].targets = (2 * k + 2, latch_index)
    return regcode(blocks, [], depth + 1)


def test_deep_nesting_falls_back_to_the_flat_form() -> None:
    """Python allows 20 nested blocks; a 25-deep loop nest compiles in the flat form and runs."""
    import vm.codegen as codegen

    rc = nested_loops(25)
    gen, _ = codegen.generate_checked(rc, Variant(), "_deep", "<deep>")
    assert not gen.structured
    assert run_regcode(nested_loops(3)) == 8
    ns: dict[str, Any] = {"_U": UNBOUND, **gen.values}
    exec(compile(gen.source, "<deep>", "exec"), ns)
    assert ns["_deep"](None) == 2 ** 25


# -- through the VM ------------------------------------------------------------------------------------


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def down(n: int) -> int:
    if n == 0:
        return 0
    return down(n - 1) + 1


def spin() -> None:
    i = 0
    while True:
        i += 1


@pytest.mark.parametrize("pools", [True, False])
def test_deep_recursion_needs_no_host_recursion(pools: bool) -> None:
    machine = vm.VM(max_depth=20_000, pools=pools)
    assert machine.run(down, 12_000) == 12_000 > sys.getrecursionlimit()


def test_depth_limit_names_function_and_line_and_cannot_be_caught() -> None:
    def catches(n: int) -> str:
        try:
            return str(down(n))
        except Exception as e:  # noqa: BLE001 -- VM code must not see the fault
            return "caught " + type(e).__name__

    machine = vm.VM(max_depth=40)
    with pytest.raises(vm.VMLimitError, match=r"test_register_vm.py:\d+ \(function down\): VM call depth "
                                              r"limit exceeded \(max_depth=40\) calling down"):
        machine.run(catches, 100)
    assert machine.stats()["peak_depth"] == 40
    assert machine.run(catches, 10) == "10"  # the machine is still usable


def test_step_limit_names_function_and_line() -> None:
    machine = vm.VM(max_steps=500)
    with pytest.raises(vm.VMLimitError, match=r"test_register_vm.py:\d+ \(function spin\): step limit"):
        machine.run(spin)
    assert 500 < machine.stats()["instructions"] < 520


def test_exceptions_cross_frames_with_cpythons_context() -> None:
    def inner(x: Any) -> Any:
        return x + 1

    def outer(x: Any) -> Any:
        try:
            return inner(x)
        except TypeError:
            try:
                return inner(None)
            except TypeError as again:
                raise ValueError("wrapped") from again

    def chained(x: Any) -> Any:
        try:
            inner(x)
        except TypeError:
            return {}["missing"]

    for fn in (outer, chained):
        difftest.compare(fn, "s", matrix=REGISTER)
        difftest.compare(fn, 1, matrix=REGISTER)


def test_host_calls_see_the_handled_exception_and_nest() -> None:
    def handler(items: list[Any]) -> Any:
        try:
            items[5]
        except IndexError:
            return sys.exc_info()[0].__name__, sorted(items, key=lambda v: -v)

    difftest.compare(handler, [3, 1, 2], matrix=REGISTER)


def test_host_functions_are_called_in_place_as_the_trampoline_would() -> None:
    # `matches` runs on the host (the front end refuses `match`); its call sites call it in place
    # once their memo knows it: while handling, raising, as a bound method, and re-bound
    def matches(n: Any) -> Any:
        match n:
            case [_, *_]:
                return sys.exc_info()[0]
            case _:
                raise KeyError(n)

    class Host(list):  # a sequence: `matches(self)` returns
        method = matches

    def uses(n: int) -> Any:
        out = []
        for i in range(n):
            try:
                out.append(matches(i))
            except KeyError as e:
                out.append((repr(e), repr(e.__context__)))
                try:
                    [][i]
                except IndexError:
                    out.append(matches([i]))
                    out.append(Host([i]).method())
        return out

    def stops(n: int) -> Any:
        def g() -> Any:
            yield next(iter(()))
        try:
            return matches(n)
        except KeyError:
            return list(g())

    for args in ((3,), (0,)):
        difftest.compare(uses, *args, matrix=REGISTER)
    difftest.compare(stops, 1, matrix=REGISTER)
    machine = vm.VM(opt_level=2)
    machine.run(uses, 2)
    program = machine.compile(uses).program
    assert isinstance(program, RegProgram)
    assert any(c[7] is matches for c in program.genfn.__defaults__ if type(c) is list and len(c) == 8)


def test_callees_the_front_end_refuses_run_on_the_host() -> None:
    def matches(n: int) -> Any:
        match n:
            case [_, *_]:
                return "sequence"
            case _:
                return "other"

    def uses(n: int) -> Any:
        return matches(n), matches(0)

    machine = vm.VM()
    assert machine.run(uses, [5]) == ("sequence", "other")
    assert machine.stats()["host_fallbacks"] == 1


def test_calls_of_every_shape() -> None:
    def target(a: Any, b: Any = 2, *rest: Any, k: Any = 3, **kw: Any) -> Any:
        return a, b, rest, k, sorted(kw.items())

    class Box:
        def __init__(self, v: Any) -> None:
            self.v = v

        def get(self, extra: Any = 0) -> Any:
            return self.v + extra

    def calls() -> Any:
        box = Box(5)
        args = (1, 2, 3)
        kw = {"k": 9, "z": 1}
        return (target(1), target(1, 5, 6, 7, k=8), target(*args, **kw), box.get(), box.get(extra=2),
                Box.get(box), [target(i) for i in range(2)])

    def bad_calls(which: int) -> Any:
        if which == 0:
            return target()
        if which == 1:
            return target(1, k=2, k2=3, **{"k": 4})
        return target(1, **{1: 2})

    difftest.compare(calls, matrix=REGISTER)
    for which in range(3):
        difftest.compare(bad_calls, which, matrix=REGISTER)


def slicing(seq: Any, a: Any, b: Any, step: Any) -> Any:
    copy = seq[:]
    part = seq[a:b]
    stepped = seq[a:b:step]
    tail = seq[b:]
    copy[:a] = stepped
    del copy[b::2]
    key = slice(a, b)
    kept = seq[key]
    try:
        seq[a:b] = tail
    except TypeError as e:
        tail = str(e)
    return copy, part, stepped, tail, kept, key


@pytest.mark.parametrize("args", [([1, 2, 3, 4, 5, 6], 1, 4, 2), ([5, 4, 3, 2], -3, None, -1),
                                  ((1, 2, 3), 0, 2, 1), ("abcdef", 1, 5, 2), ([1, 2, 3], 0, 2, 0),
                                  (7, 0, 1, 1), ([1, 2], "x", 1, 1)])
def test_slices_are_written_as_python_slice_syntax(args: Any) -> None:
    """`build_slice` + subscript with the slice dead after is `x[a:b:c]` (no call of `slice`); a
    slice that lives on is still built, and errors (step 0, not subscriptable, bad bounds) match."""
    difftest.compare(slicing, *args, matrix=REGISTER)
    source = vm.VM(opt_level=2).compile(slicing).program.generated.source
    assert "[:]" in source and "::2]" in source and "del " in source


def _wide_functions() -> dict[str, Any]:
    """Functions needing more registers at once than the default 16 + 8: 30 parameters, a call
    with 30 arguments (some live after it), a 40-element tuple of variables, a 30-key dict."""
    names = [f"a{i}" for i in range(30)]
    src = (f"def wide({', '.join(names)}):\n"
           f"    return {' + '.join(f'{n} * {i}' for i, n in enumerate(names))}\n"
           "def calls_wide(x):\n"
           f"    {', '.join(names)} = {', '.join(f'x + {i}' for i in range(30))}\n"
           f"    r = wide({', '.join(names)})\n"
           f"    t = ({', '.join(f'x * {i}' for i in range(40))})\n"
           f"    d = {{{', '.join(f'{n!r}: {n}' for n in names)}}}\n"
           "    return r, a0 + a29, sum(t), sorted(d.items())[:3], wide(*range(30)), wide(*range(29))\n")
    namespace: dict[str, Any] = {}
    exec(compile(src, "<wide>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("pools", [True, False])
def test_functions_needing_more_registers_get_them(pools: bool) -> None:
    """A function needing more than k + temps registers at once is given more general registers
    (registers are Python locals), not refused; too few arguments still raise CPython's TypeError."""
    ns = _wide_functions()
    difftest.compare(ns["calls_wide"], 3, matrix=REGISTER, vm_options={"pools": pools})
    difftest.compare(ns["wide"], *range(30), matrix=REGISTER, vm_options={"pools": pools})
    program = vm.VM(opt_level=2).compile(ns["wide"]).program
    assert isinstance(program, RegProgram)
    assert program.rc.nregs >= 30 and len(set(program.rc.params)) == 30


def test_leaf_functions_are_called_in_place() -> None:
    def leaf(a: Any, b: Any) -> Any:
        return a / b

    def caller(n: int, skip: int) -> Any:
        total = 0.0
        for i in range(1, n):
            total += leaf(i, n - i - skip)
        return total

    machine = vm.VM(opt_level=2)
    program = machine.compile(caller).program
    assert isinstance(program, RegProgram) and not program.leaf
    assert machine.run(caller, 5, 0) == caller(5, 0)
    assert machine.compile(leaf).program.leaf
    assert machine.stats()["calls"] == 1  # the leaf made no frame
    difftest.compare(caller, 5, 1, matrix=REGISTER)  # 1/0 on the last step: raised in place


def test_redefined_leaf_function_is_not_cached_stale() -> None:
    namespace: dict[str, Any] = {}
    exec("def f(x):\n    return x + 1\ndef g(n):\n    return f(n)\n", namespace)
    machine = vm.VM()
    assert machine.run(namespace["g"], 1) == 2
    exec("def f(x):\n    return x * 10\n", namespace)
    assert machine.run(namespace["g"], 1) == 10


def test_super_and_globals_work_locals_is_refused() -> None:
    class Base:
        def who(self) -> str:
            return "base"

    class Child(Base):
        def who(self) -> str:
            return "child/" + super().who()

    def g() -> bool:
        return globals() is test_super_and_globals_work_locals_is_refused.__globals__

    def l() -> Any:  # noqa: E743
        x = 1
        return locals()

    machine = vm.VM()
    assert machine.run(Child().who) == "child/base"
    assert machine.run(g) is True
    with pytest.raises(VMError, match=r"locals\(\) without arguments .* mode='stack'"):
        machine.run(l)
    assert vm.VM(mode="stack").run(l) == {"x": 1}


def test_code_targets_and_vm_functions() -> None:
    from zir.bytecode.code import Code
    from zir.frontend import from_python

    def outer(k: int) -> Any:
        def inner(x: int) -> int:
            return x * k

        return inner

    code = from_python(outer)
    code.pycode = None  # as if it came from .zasm: no CPython code anywhere
    (inner,) = [c for c in code.consts if isinstance(c, Code)]
    inner.pycode = None
    machine = vm.VM()
    made = machine.run(code, 3)
    assert isinstance(made, vm.VMFunction)
    assert made(5) == 15  # host code calls it: a nested run of the register VM
    assert machine.compile(code)(4)(2) == 8
    assert sorted(map(made, [1, 2])) == [3, 6]


def test_generated_source_is_registered_for_tracebacks() -> None:
    import linecache

    machine = vm.VM()
    program = machine.compile(fib).program
    assert isinstance(program, RegProgram)
    assert linecache.getline(program.filename, 1).startswith("def _zir_fib(")


def test_compiled_generator_functions_are_real_generators_or_leaves() -> None:
    machine = vm.VM(pools=False)
    program = machine.compile(fib).program
    assert isinstance(program, RegProgram)
    assert isinstance(program.genfn, types.FunctionType)
    assert program.genfn.__code__.co_flags & 0x20  # CO_GENERATOR


# -- random control flow against a reference interpreter of register code ------------------------------


class _Limit(vm.VMFault):
    """The step budget of a random program ran out (a fault: generated handlers let it through)."""


def _reference(rc: RegCode, args: tuple[int, ...], limit: int) -> tuple[str, Any]:
    """Run `rc` (the small op set `_random_regcode` uses) block by block: the meaning of register
    code, with the step rule of the generated code (a block's length is charged as it starts)."""
    regs: list[Any] = [UNBOUND] * rc.nregs
    for p, a in zip(rc.params, args, strict=True):
        regs[p] = a
    k, steps, caught = 0, 0, None

    def val(x: Any) -> Any:
        return x.value if isinstance(x, Imm) else regs[x.n]

    while True:
        b = rc.blocks[k]
        steps += len(b.instrs)
        if steps > limit:
            return ("limit", k)
        nxt = None
        for i in b.instrs:
            try:
                if i.op == "ret":
                    return ("ok", val(i.args[0]))
                if i.op == "br":
                    nxt = i.targets[0]
                elif i.op == "cbr_lt":
                    nxt = i.targets[0] if val(i.args[0]) < val(i.args[1]) else i.targets[1]
                elif i.op == "cbr":
                    nxt = i.targets[0] if val(i.args[0]) else i.targets[1]
                elif i.op == "catch":
                    regs[i.dest.n] = caught  # type: ignore[union-attr]
                else:
                    fn = {"add": lambda a, c: a + c, "sub": lambda a, c: a - c, "xor": lambda a, c: a ^ c,
                          "floordiv": lambda a, c: a // c, "const": None}[i.op]
                    regs[i.dest.n] = val(i.args[0]) if fn is None else fn(val(i.args[0]), val(i.args[1]))  # type: ignore[union-attr]
            except ZeroDivisionError as e:
                if b.handler is None:
                    return ("raise", "ZeroDivisionError")
                caught, nxt = e, b.handler
                break
        assert nxt is not None
        k = nxt


def _random_regcode(seed: int) -> RegCode:
    import random

    rnd = random.Random(seed)
    n = rnd.randint(2, 9)
    nregs = 4
    handlers = set(rnd.sample(range(1, n), k=rnd.randint(0, min(2, n - 1))))
    blocks = []
    plain = [t for t in range(n) if t not in handlers]  # a handler is entered only by a raise

    def target() -> int:
        return rnd.choice(plain)

    for k in range(n):
        instrs: list[RInstr] = []
        if k in handlers:
            instrs.append(RInstr("catch", Reg(3)))
            instrs.append(RInstr("const", Reg(3), (Imm(rnd.randint(0, 5)),)))
        for _ in range(rnd.randint(0, 3)):
            op = rnd.choice(["add", "sub", "xor", "floordiv"])
            a = Reg(rnd.randrange(nregs))
            c: Any = Imm(rnd.randint(-3, 3)) if rnd.random() < 0.6 else Reg(rnd.randrange(nregs))
            instrs.append(RInstr(op, Reg(rnd.randrange(nregs)), (a, c)))
        kind = rnd.random()
        if kind < 0.15:
            instrs.append(RInstr("ret", None, (Reg(rnd.randrange(nregs)),)))
        elif kind < 0.45:
            instrs.append(RInstr("br", targets=(target(),)))
        elif kind < 0.6:
            instrs.append(RInstr("cbr", None, (Reg(rnd.randrange(nregs)),), targets=(target(), target())))
        else:
            instrs.append(RInstr("cbr_lt", None, (Reg(rnd.randrange(nregs)), Imm(rnd.randint(-4, 8))),
                                 targets=(target(), target())))
        handler = None
        if handlers and rnd.random() < 0.4:
            handler = rnd.choice(sorted(handlers))
            if handler in instrs[-1].targets:
                handler = None
        blocks.append(RBlock(f"b{k}", instrs, handler))
    # the entry has no predecessors (as lowering guarantees): jump from a fresh entry block
    entry = RBlock("entry", [RInstr("const", Reg(k), (Imm(k),)) for k in range(1, nregs)]
                   + [RInstr("br", targets=(1,))])
    for b in blocks:
        b.handler = None if b.handler is None else b.handler + 1
        b.instrs[-1].targets = tuple(t + 1 for t in b.instrs[-1].targets)
    return RegCode("rand", params=[0], blocks=[entry, *blocks], nregs=nregs, param_names=["a"])


def _run_generated(rc: RegCode, arg: int, limit: int, structured: bool, pooled: bool) -> tuple[str, Any]:
    import types as pytypes

    from vm.codegen import build, generate_checked, namespace
    from vm.codegen.emit import generate as gen_source

    rt = pytypes.SimpleNamespace(handled=None, host_exc=None, raised=None, raised_ctx=None, steps=0,
                                 programs={}, frame_builtins={})
    if structured:
        gen, code = generate_checked(rc, Variant(steps=True, pooled=pooled), "_rand", "<rand>")
    else:
        gen = gen_source(rc, Variant(steps=True, pooled=pooled), "_rand", structured=False)
        code = compile(gen.source, "<rand>", "exec")
    pool = pytypes.SimpleNamespace(free=[], cap=4, peak=0, dropped=0, uses=0)
    fn = build(gen, code, "<rand>", namespace(rt),  # type: ignore[arg-type]
               {"_LIMIT": limit, "_STEPS": lambda frame, k: _Limit(k), "_POOL": pool, "_FREE": pool.free})
    frame = pytypes.SimpleNamespace(ret=None)
    try:
        if gen.leaf:
            return ("ok", fn(frame, arg))
        g = fn(frame)
        next(g)
        assert g.send((arg,)) is RETURN_MARK
        return ("ok", frame.ret)
    except _Limit as e:
        return ("limit", e.args[0])
    except ZeroDivisionError:
        return ("raise", "ZeroDivisionError")


from vm.codegen import RETURN as RETURN_MARK  # noqa: E402


@pytest.mark.parametrize("seed", range(300))
def test_random_control_flow_matches_the_reference(seed: int) -> None:
    rc = _random_regcode(seed)
    for arg in (-2, 0, 3):
        want = _reference(rc, (arg,), 400)
        for structured in (True, False):
            assert _run_generated(rc, arg, 400, structured, pooled=False) == want, (seed, arg, structured)
        assert _run_generated(rc, arg, 400, True, pooled=True) == want, (seed, arg, "pooled")


def test_fuzzed_programs_run_as_in_cpython() -> None:
    """Random programs (tools/fuzzgen.py, with generators) through the register VM, unoptimized and at
    O1. (O2 shares the optimizer's known mismatches with the stack VM: tests/test_kernels.py lists
    them as expected failures of passes/.)"""
    from tools import fuzz

    report = fuzz.fuzz(80, seed=5, matrix=[("register", 0), ("register", 1)], max_bugs=1)
    assert not report.mismatches, report.mismatches[0].program.source
