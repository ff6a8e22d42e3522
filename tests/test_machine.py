"""vm.VM, the facade: configuration errors, targets, caching, host fallback, the globals option, and
real Python functions run through the front end (the behaviours that are the VM's own: frames,
exceptions across frames and the host boundary, frame-reading builtins, limits, stdout)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from zbc_asm import asm

import vm
from zir.bytecode.code import Code
from zir.errors import FrontendError, VMError, ZirError


def stack() -> vm.VM:
    return vm.VM(mode="stack")


def outcome(thunk: Any) -> tuple[str, Any]:
    try:
        return ("ok", thunk())
    except Exception as e:  # noqa: BLE001 -- comparing whatever CPython raises
        return (type(e).__name__, str(e))


def same_as_cpython(fn: Any, *args: Any, **kwargs: Any) -> None:
    assert outcome(lambda: stack().run(fn, *args, **kwargs)) == outcome(lambda: fn(*args, **kwargs))


# -- configuration -------------------------------------------------------------------------------------------

def test_register_mode_is_the_default() -> None:
    assert vm.VM().mode == "register" and vm.VM(mode="register").run(lambda a: a + 1, 1) == 2


@pytest.mark.parametrize("options, message", [
    ({"mode": "turbo"}, "unknown VM mode 'turbo'"),
    ({"opt_level": 3}, "opt_level must be 0, 1 or 2"),
    ({"opt_level": True}, "opt_level must be 0, 1 or 2"),
    ({"profile": "everything"}, "unknown profile level"),
    ({"max_steps": -1}, "max_steps must be None or a non-negative int"),
    ({"max_depth": 0}, "max_depth must be a positive int"),
])
def test_bad_configuration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(VMError, match=message):
        vm.VM(mode=options.pop("mode", "stack"), **options)


def test_optimization_levels_run_the_optimized_code() -> None:
    for level in (1, 2):
        machine = vm.VM(mode="stack", opt_level=level)
        assert machine.run(fib, 12) == fib(12)
        assert machine.compile(fib).code.pycode is fib.__code__


# -- targets -------------------------------------------------------------------------------------------------

def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


class Counter:
    def __init__(self, start: int) -> None:
        self.n = start

    def bump(self, by: int = 1) -> int:
        self.n += by
        return self.n


def test_targets() -> None:
    machine = stack()
    assert machine.run(fib, 10) == 55
    assert machine.run(lambda a, b=2: a * b, 21) == 42
    c = Counter(5)
    assert machine.run(c.bump, by=3) == 8 and c.n == 8
    code = asm("LOAD_FAST a; LOAD_FAST b; ADD; RETURN_VALUE", params=("a", "b"), defaults=(100,))
    assert machine.run(code, 1) == 101
    made = machine.run(asm([("LOAD_CONST", code), "MAKE_FUNCTION 0; RETURN_VALUE"]))
    assert isinstance(made, vm.VMFunction) and machine.run(made, 1, 2) == 3


@pytest.mark.parametrize("target", [len, Counter, functools.partial(fib, 3), 42, Counter(1).bump.__call__])
def test_targets_without_python_code_are_refused(target: Any) -> None:
    with pytest.raises(VMError, match="cannot run .* in the VM"):
        stack().run(target)


def test_globals_option_is_for_code_targets_only() -> None:
    with pytest.raises(VMError, match="globals= applies to ZBC Code targets"):
        stack().run(fib, 3, globals={})


def test_code_with_free_variables_cannot_run_directly() -> None:
    with pytest.raises(VMError, match="has free variables \\(c\\)"):
        stack().run(asm("LOAD_DEREF c; RETURN_VALUE", freevars=("c",)))


def test_unverifiable_code_does_not_run() -> None:
    bad = Code("bad", instrs=[], varnames=[])
    with pytest.raises(ZirError):
        stack().run(bad)


def test_compile_is_cached_per_code_object() -> None:
    machine = stack()
    compiled = machine.compile(fib)
    assert compiled(10) == 55
    assert machine.compile(fib).program is compiled.program
    assert isinstance(compiled.code, Code) and compiled.code.pycode is fib.__code__
    machine.run(fib, 8)
    assert machine.stats()["compiled"] == 1
    # Two functions sharing a code object (closures from one `def`) share the compiled program.
    adders = [make_adder(i) for i in range(3)]
    assert [machine.run(a, 10) for a in adders] == [10, 11, 12]
    assert machine.compile(adders[0]).program is machine.compile(adders[2]).program


def test_compiled_code_keeps_its_globals() -> None:
    machine = stack()
    counter = machine.compile(asm("LOAD_GLOBAL n; LOAD_CONST 1; ADD; COPY 1; STORE_GLOBAL n; RETURN_VALUE"),
                              globals={"n": 10})
    assert [counter(), counter()] == [11, 12] and counter.globals is not None and counter.globals["n"] == 12
    fresh = machine.compile(asm("LOAD_CONST 1; STORE_GLOBAL n; LOAD_GLOBAL n; RETURN_VALUE"))
    assert fresh() == 1 and fresh.globals is not None and fresh.globals["n"] == 1


def make_adder(k: int) -> Any:
    def add(x: int) -> int:
        return x + k
    return add


def refused(n: int) -> Any:
    match n:  # the front end refuses 'match' statements with sequence patterns
        case [_, _]:
            return []
    return list(range(n))


def uses_refused(n: int) -> list[int]:
    return [x * 2 for x in refused(n)]


def test_front_end_refusals() -> None:
    machine = stack()
    # The target itself: the front end's error propagates.
    with pytest.raises(FrontendError, match="match"):
        machine.run(refused, 3)
    # A callee: it runs on the host instead, decided once.
    assert machine.run(uses_refused, 3) == [0, 2, 4]
    assert machine.run(uses_refused, 2) == [0, 2]
    assert machine.stats()["host_fallbacks"] == 1
    with pytest.raises(FrontendError):
        machine.run(refused, 3)


def test_stats() -> None:
    machine = stack()
    machine.run(fib, 5)
    stats = machine.stats()
    assert stats["mode"] == "stack" and stats["opt_level"] == 0
    assert stats["calls"] == 15 and stats["peak_depth"] == 5 and stats["instructions"] > 15


# -- real functions: behaviours that belong to the VM --------------------------------------------------------

class Base:
    def greet(self, who: str) -> str:
        return f"base {who}"


class Child(Base):
    def greet(self, who: str) -> str:
        return "child+" + super().greet(who)


def uses_super(who: str) -> str:
    return Child().greet(who)


def frame_builtins(a: int) -> Any:
    b = a * 2

    def inner() -> int:
        return b

    names = dir()
    return (sorted(locals()), names, vars()["a"], eval("a + b"), "frame_builtins" in globals(), inner())


def exec_in_frame(a: int) -> Any:
    ns: dict[str, Any] = {}
    exec("r = a + 1", globals(), ns)
    return ns["r"], eval("a * 3")


def test_frame_reading_builtins_see_the_vm_frame() -> None:
    same_as_cpython(uses_super, "x")
    same_as_cpython(frame_builtins, 4)
    same_as_cpython(exec_in_frame, 4)


def bare_super() -> Any:
    return super()  # type: ignore[misc]


def test_super_errors_match() -> None:
    same_as_cpython(bare_super)


def catches_host_error(xs: list[Any]) -> Any:
    try:
        return sorted(xs)
    except TypeError as e:
        return f"caught: {e}"


def reraises_with_context(x: int) -> Any:
    try:
        return 1 // x
    except ZeroDivisionError:
        raise ValueError("no zero") from None


def nested_frames(depth: int) -> int:
    if depth == 0:
        raise KeyError("bottom")
    try:
        return nested_frames(depth - 1)
    finally:
        pass


def test_exceptions_across_frames_and_the_host() -> None:
    same_as_cpython(catches_host_error, [1, "a"])
    same_as_cpython(catches_host_error, [2, 1])
    same_as_cpython(reraises_with_context, 0)
    same_as_cpython(nested_frames, 30)
    with pytest.raises(ValueError) as info:
        stack().run(reraises_with_context, 0)
    assert info.value.__suppress_context__ and type(info.value.__context__) is ZeroDivisionError


def calls_back(xs: list[int]) -> list[int]:
    # VM -> host (sorted) -> native lambda; VM -> host (map) -> VM-made function object
    return list(map(make_adder(1), sorted(xs, key=lambda v: -v)))


def test_host_and_vm_calls_nest() -> None:
    same_as_cpython(calls_back, [1, 3, 2])


def printer(n: int) -> None:
    for i in range(n):
        print("line", i, sep="-")


def test_stdout_is_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    printer(3)
    expected = capsys.readouterr().out
    stack().run(printer, 3)
    assert capsys.readouterr().out == expected


def countdown(n: int) -> int:
    return 0 if n == 0 else countdown(n - 1) + 1


def test_deep_real_recursion() -> None:
    assert vm.VM(mode="stack", max_depth=30_000).run(countdown, 25_000) == 25_000
    with pytest.raises(VMError, match=r"test_machine\.py:\d+ \(function countdown, offset \d+\): "
                                      r"VM call depth limit exceeded \(max_depth=2000\) calling countdown"):
        stack().run(countdown, 5000)


def spin() -> None:
    while True:
        pass


def test_step_limit_names_function_and_line() -> None:
    line = spin.__code__.co_firstlineno + 1  # CPython puts the loop's back jump on the `while` line
    with pytest.raises(VMError, match=rf"^.*test_machine\.py:{line} \(function spin, offset \d+\): "
                                      r"step limit exceeded \(max_steps=5000\)$"):
        vm.VM(mode="stack", max_steps=5000).run(spin)


def helper() -> int:
    return 1


def swallows_everything() -> Any:
    try:
        return helper()
    except Exception as e:  # noqa: BLE001 -- the point: even this must not catch a VM fault
        return f"caught {type(e).__name__}"


def test_a_callee_that_cannot_be_compiled_is_a_vm_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    from zir.errors import VerifyError

    machine = stack()
    real = machine._compiler.translate

    def translate(pycode: Any) -> Code:
        if pycode is helper.__code__:
            raise VerifyError("helper: broken translation")
        return real(pycode)

    monkeypatch.setattr(machine._compiler, "translate", translate)
    with pytest.raises(vm.VMFault, match="cannot compile helper for the VM: helper: broken translation"):
        machine.run(swallows_everything)


def test_closure_length_mismatch_is_cpythons_value_error() -> None:
    inner = asm("LOAD_DEREF c; RETURN_VALUE", name="inner", freevars=("c",))
    code = asm(["BUILD_TUPLE 0", ("LOAD_CONST", inner), "MAKE_FUNCTION 8; RETURN_VALUE"])
    with pytest.raises(ValueError, match="^inner requires closure of length 1, not 0$"):
        stack().run(code)


def reports_handled_exception() -> Any:
    import sys
    import traceback

    try:
        1 // 0  # noqa: B018 -- the division is what raises
    except ZeroDivisionError as e:
        info = sys.exc_info()
        return (info[0].__name__ if info[0] else None, info[1] is e, traceback.format_exc().splitlines()[-1])


def host_error_while_handling() -> Any:
    try:
        {}["k"]
    except KeyError:
        try:
            int("x")
        except ValueError as e:
            return type(e.__context__).__name__


def test_host_code_sees_the_exception_vm_code_handles() -> None:
    same_as_cpython(reports_handled_exception)
    same_as_cpython(host_error_while_handling)
    assert stack().run(reports_handled_exception)[1] is True


def makes_functions(k: int) -> Any:
    def inner(a: int, b: str = "x", *, c: float = 1.0) -> bool:
        """Doc."""
        return a + k > 0

    return inner


def test_make_function_builds_real_functions() -> None:
    made, native = stack().run(makes_functions, 5), makes_functions(5)
    assert type(made) is type(native)
    for attr in ("__name__", "__qualname__", "__module__", "__doc__", "__defaults__", "__kwdefaults__",
                 "__annotations__"):
        assert getattr(made, attr) == getattr(native, attr), attr
    assert made.__code__ is native.__code__
    assert [type(c) for c in made.__closure__] == [type(c) for c in native.__closure__]
    assert made.__closure__[0].cell_contents == 5 and made(1) is True


class Quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> bool:
        return False


def with_cleanup_then_bare_raise() -> Any:
    try:
        with Quiet():
            raise ValueError(1)
    except ValueError:
        pass
    raise  # noqa: PLE0704 -- nothing is handled any more: CPython's RuntimeError


def test_with_cleanup_restores_the_handled_exception() -> None:
    # RERAISE 2 at the end of `with` cleanup pops only the exception; the outer handler keeps the
    # items below it, so POP_EXCEPT restores the right previous exception.
    same_as_cpython(with_cleanup_then_bare_raise)
