"""The CPython 3.11 front end, structurally: the exact ZBC of small functions, the normalizations
(calls and NULL slots, keyword names, jumps, operator tables, cells, EXTENDED_ARG), the exception
table mapping and its depths, line numbers, nested code objects and the refusals."""

from __future__ import annotations

import dis
import opcode
import types
from typing import Any

import pytest

import zir
import zir.bytecode
from zir.bytecode import HOST, NESTED, VARARGS, VARKEYWORDS, Code, Handler
from zir.frontend import from_python, versions
from zir.frontend.decode import decode
from zir.frontend.exctable import exception_entries, raw_entries
from zir.ops import OPS, ZBC_OPS

FILE = __file__


def ops_of(code: Code) -> list[tuple[str, int | None]]:
    return [(zi.op, zi.arg) for zi in code.instrs]


def const_of(code: Code, arg: int | None) -> Any:
    assert arg is not None
    return code.consts[arg]


# ==================================================================================================
# Exact ZBC of small functions


def f_add(a, b):
    return a + b


def test_simple_arithmetic() -> None:
    code = from_python(f_add)
    assert ops_of(code) == [("LOAD_FAST", 0), ("LOAD_FAST", 1), ("ADD", None), ("RETURN_VALUE", None)]
    assert code.varnames == ["a", "b"] and code.argcount == 2
    assert code.name == "f_add" and code.qualname == "f_add"
    assert code.filename == FILE and code.pycode is f_add.__code__
    zir.bytecode.verify(code)


def f_global_call(x):
    return len(x)


def test_global_call_drops_null_and_precall() -> None:
    code = from_python(f_global_call)
    assert ops_of(code) == [("LOAD_GLOBAL", 0), ("LOAD_FAST", 0), ("CALL", 1), ("RETURN_VALUE", None)]
    assert code.names == ["len"]


def f_method_call(o):
    return o.get(1, 2)


def test_method_call_becomes_load_attr_and_plain_call() -> None:
    code = from_python(f_method_call)
    assert ops_of(code) == [("LOAD_FAST", 0), ("LOAD_ATTR", 0), ("LOAD_CONST", 1), ("LOAD_CONST", 2),
                            ("CALL", 2), ("RETURN_VALUE", None)]
    assert code.names[0] == "get"


def f_keywords(f, o):
    f(1, x=2)
    return o.m(3, y=4, z=5)


def test_keyword_call_pushes_names_tuple() -> None:
    code = from_python(f_keywords)
    got = ops_of(code)
    kw = [i for i, (op, _) in enumerate(got) if op == "CALL_KW"]
    assert [got[i][1] for i in kw] == [2, 3]
    assert [const_of(code, got[i - 1][1]) for i in kw] == [("x",), ("y", "z")]
    assert "CALL" not in [op for op, _ in got]


def f_star_call(f, a, k):
    f(*a)
    return f(*a, **k)


def test_call_ex_gets_none_when_no_kwargs() -> None:
    code = from_python(f_star_call)
    got = ops_of(code)
    first = got.index(("CALL_EX", None))
    assert got[first - 1][0] == "LOAD_CONST" and const_of(code, got[first - 1][1]) is None
    second = got.index(("CALL_EX", None), first + 1)
    assert got[second - 1] == ("DICT_MERGE", 1)


def f_with(m):
    with m as x:
        return x


def test_with_exit_call_counts_the_exit_as_callable() -> None:
    code = from_python(f_with)
    got = ops_of(code)
    # 3.11's `CALL 2` on [exit, None, None, None] calls exit(None, None, None).
    i = got.index(("CALL", 3))
    assert [op for op, _ in got[i - 3:i]] == ["LOAD_CONST"] * 3
    assert all(const_of(code, a) is None for _, a in got[i - 3:i])
    assert ("BEFORE_WITH", None) in got and ("WITH_EXCEPT_START", None) in got


def f_comprehension(xs):
    return [x for x in xs]


def test_comprehension_is_called_with_its_iterator() -> None:
    code = from_python(f_comprehension)
    got = ops_of(code)
    assert [op for op, _ in got] == ["LOAD_CONST", "MAKE_FUNCTION", "LOAD_FAST", "GET_ITER", "CALL",
                                     "RETURN_VALUE"]
    assert got[4] == ("CALL", 1)
    inner = const_of(code, got[0][1])
    assert isinstance(inner, Code) and inner.name == "<listcomp>" and NESTED in inner.flags
    assert inner.varnames == [".0", "x"] and inner.argcount == 1
    ops = [op for op, _ in ops_of(inner)]
    assert ops == ["BUILD_LIST", "LOAD_FAST", "FOR_ITER", "STORE_FAST", "LOAD_FAST", "LIST_APPEND",
                   "JUMP", "RETURN_VALUE"]
    assert ops_of(inner)[2] == ("FOR_ITER", 7)  # absolute: the RETURN_VALUE
    assert ops_of(inner)[5] == ("LIST_APPEND", 2)
    assert ops_of(inner)[6] == ("JUMP", 2)  # back to FOR_ITER


# Defined from source text: pytest rewrites `assert` statements in test modules.
_ns: dict[str, Any] = {}
exec(compile("def f_assert(x):\n    assert x, 'message'\n    return x\n", FILE, "exec"), _ns)
f_assert = _ns["f_assert"]


def test_assert_with_message_calls_the_error_class() -> None:
    got = ops_of(from_python(f_assert))
    i = got.index(("LOAD_ASSERTION_ERROR", None))
    assert got[i + 1][0] == "LOAD_CONST" and got[i + 2] == ("CALL", 1) and got[i + 3] == ("RAISE_VARARGS", 1)
    assert got[1][0] == "POP_JUMP_IF_TRUE" and got[1][1] == i + 4


def f_operators(a, b):
    return (a - b, a // b, a ** b, a @ b, a < b, a >= b, a is b, a is not b, a in b, a not in b,
            -a, ~a, not a)


def test_operator_tables() -> None:
    ops = [op for op, _ in ops_of(from_python(f_operators))]
    assert [op for op in ops if op not in ("LOAD_FAST", "BUILD_TUPLE", "RETURN_VALUE")] == [
        "SUB", "FLOORDIV", "POW", "MATMUL", "LT", "GE", "IS", "IS_NOT", "IN", "NOT_IN", "NEG", "INVERT",
        "NOT"]


def f_augmented(a, b):
    a += b
    a //= b
    a **= b
    a ^= b
    return a


def test_inplace_operators() -> None:
    ops = [op for op, _ in ops_of(from_python(f_augmented))]
    assert [op for op in ops if op.startswith("I")] == ["IADD", "IFLOORDIV", "IPOW", "IXOR"]


def test_binary_op_table_matches_cpython() -> None:
    nb_ops = getattr(opcode, "_nb_ops", None) or dis._nb_ops  # type: ignore[attr-defined]
    assert len(versions.BINARY_OP_OPS) == len(nb_ops)
    for name, (_, symbol) in zip(versions.BINARY_OP_OPS, nb_ops, strict=True):
        assert OPS[name].symbol == symbol, name
    assert [OPS[n].symbol for n in versions.COMPARE_OP_OPS] == list(dis.cmp_op)
    assert [OPS[n].symbol for n in versions.IS_OP_OPS] == ["is", "is not"]
    assert [OPS[n].symbol for n in versions.CONTAINS_OP_OPS] == ["in", "not in"]


def f_loop(n):
    t = 0
    while n > 0:
        n -= 1
        if n == 3:
            continue
        t += n
    return t


def test_jumps_are_absolute_indices() -> None:
    got = ops_of(from_python(f_loop))
    jumps = [(i, op, arg) for i, (op, arg) in enumerate(got) if op.startswith(("POP_JUMP", "JUMP"))]
    # forward exit to `return t`, forward skip of `continue`, backward continue to the loop test,
    # backward loop edge to the body (3.11 duplicates the test at the bottom of the loop)
    assert jumps == [(5, "POP_JUMP_IF_FALSE", 23), (13, "POP_JUMP_IF_FALSE", 15), (14, "JUMP", 2),
                     (22, "POP_JUMP_IF_TRUE", 6)]
    assert got[23] == ("LOAD_FAST", 1) and got[2] == ("LOAD_FAST", 0) and got[6] == ("LOAD_FAST", 0)


# ==================================================================================================
# Opcode classification


def test_every_311_opcode_is_classified_once() -> None:
    sets = [versions.PASSTHROUGH, set(versions.RENAMED), set(versions.DEPTH_ARG), versions.DROPPED,
            versions.SPECIAL, set(versions.REFUSED)]
    for name in opcode.opmap:
        homes = [i for i, s in enumerate(sets) if name in s]
        assert len(homes) == 1, (name, homes)


def test_translations_name_real_zbc_opcodes() -> None:
    for name in versions.PASSTHROUGH | set(versions.DEPTH_ARG):
        assert name in ZBC_OPS, name
    for ir_name in [*versions.RENAMED.values(), *versions.BINARY_OP_OPS, *versions.COMPARE_OP_OPS,
                    *versions.IS_OP_OPS, *versions.CONTAINS_OP_OPS]:
        assert OPS[ir_name].zbc is not None, ir_name


# ==================================================================================================
# Cells


def f_cells(x, y):
    def inner():
        return x + z

    z = y
    return inner


def test_parameter_cell_is_copied_at_entry() -> None:
    code = from_python(f_cells)
    assert code.cellvars == ["x", "z"] and code.freevars == []
    got = ops_of(code)
    assert got[:2] == [("LOAD_FAST", 0), ("STORE_DEREF", 0)]
    assert ("STORE_DEREF", 1) in got  # z = y
    assert [a for op, a in got if op == "LOAD_CLOSURE"] == [0, 1]
    inner = next(c for c in code.consts if isinstance(c, Code))
    assert inner.freevars == ["x", "z"] and ops_of(inner)[:2] == [("LOAD_DEREF", 0), ("LOAD_DEREF", 1)]


def f_nonlocal():
    n = 0

    def bump():
        nonlocal n
        n += 1

    bump()
    return n


def test_nonlocal_uses_free_variable_index() -> None:
    code = from_python(f_nonlocal)
    assert ops_of(code)[0] != ("LOAD_FAST", 0)  # n is no parameter: its cell starts empty
    bump = next(c for c in code.consts if isinstance(c, Code))
    assert bump.cellvars == [] and bump.freevars == ["n"]
    assert ("STORE_DEREF", 0) in ops_of(bump)


# ==================================================================================================
# The exception table


def f_try(xs):
    for x in xs:
        try:
            print(x)
        except ValueError:
            continue
    return 1


def test_exception_table_maps_to_zbc_indices() -> None:
    code = from_python(f_try)
    zir.bytecode.verify(code)
    first = code.handlers[0]
    # The try body runs with the for iterator on the stack: depth 1; the handler starts with
    # PUSH_EXC_INFO and the protected range holds the print call.
    assert first.depth == 1 and not first.lasti
    assert code.instrs[first.target].op == "PUSH_EXC_INFO"
    assert [zi.op for zi in code.instrs[first.start:first.end]] == [
        "LOAD_GLOBAL", "LOAD_FAST", "CALL", "POP_TOP"]
    cleanup = [h for h in code.handlers if h.lasti]
    assert cleanup and all(code.instrs[h.target].op == "COPY" for h in cleanup)
    for h in code.handlers:
        assert 0 <= h.start < h.end <= len(code.instrs) and 0 <= h.target < len(code.instrs)


def test_raw_exception_table_matches_dis() -> None:
    for fn in (f_try, f_with, f_cells):
        got = raw_entries(fn.__code__.co_exceptiontable)
        want = [(e.start, e.end, e.target, e.depth, e.lasti)
                for e in dis._parse_exception_table(fn.__code__)]  # type: ignore[attr-defined]
        assert got == want
    entries = exception_entries(f_with.__code__, decode(f_with.__code__))
    assert entries and all(e.start < e.end for e in entries)


def _assemble(ops: list[tuple[str, int]]) -> bytes:
    """3.11 bytes for (opname, arg) pairs, with zeroed inline CACHE entries."""
    out = bytearray()
    for name, arg in ops:
        op = opcode.opmap[name]
        out += bytes([op, arg])
        out += bytes(2 * opcode._inline_cache_entries[op])  # type: ignore[attr-defined]
    return bytes(out)


def _line_table(code: bytes, line_delta: int = 0) -> bytes:
    """A 3.11 location table giving every instruction the first line (entries of <= 8 code units,
    kind 13 "line only"); CPython reads it when it builds a traceback."""
    units = len(code) // 2
    out = bytearray()
    while units:
        n = min(8, units)
        units -= n
        out += bytes([0x80 | (13 << 3) | (n - 1), line_delta])
    return bytes(out)


def _synth_template(x):
    return x


def _synthetic_handler_above_null() -> types.FunctionType:
    """`try: return x(x + 1)` / `except: return x()`, where the handler is entered with
    [NULL, x, exc]: CPython's depth 2 counts the NULL slot, ZBC's depth is 1."""
    code = _assemble([
        ("RESUME", 0),           # 0
        ("PUSH_NULL", 0),        # 2
        ("LOAD_FAST", 0),        # 4
        ("LOAD_FAST", 0),        # 6   covered, depth 2 keeps [NULL, x]
        ("LOAD_CONST", 1),       # 8   covered
        ("BINARY_OP", 0),        # 10  covered: x + 1 (+1 cache)
        ("PRECALL", 1),          # 14  (+1 cache)
        ("CALL", 1),             # 18  (+4 caches)
        ("RETURN_VALUE", 0),     # 28
        ("POP_TOP", 0),          # 30  handler: drop the exception
        ("PRECALL", 0),          # 32
        ("CALL", 0),             # 36  x()
        ("RETURN_VALUE", 0),     # 46
    ])
    table = bytes([0x80 | 3, 4, 15, 2 << 1])  # start 6, 4 code units, target 30, depth 2, no lasti
    pycode = _synth_template.__code__.replace(co_code=code, co_consts=(None, 1), co_exceptiontable=table,
                                              co_stacksize=5, co_linetable=_line_table(code))
    return types.FunctionType(pycode, globals(), "synthetic")


def test_handler_depth_excludes_null_slots() -> None:
    fn = _synthetic_handler_above_null()
    assert fn(lambda *a: ("called", a)) == ("called", ())  # CPython runs the handler path
    assert fn(lambda *a: ("called", a)) == ("called", ())
    code = from_python(fn)
    assert ops_of(code) == [("LOAD_FAST", 0), ("LOAD_FAST", 0), ("LOAD_CONST", 1), ("ADD", None),
                            ("CALL", 1), ("RETURN_VALUE", None), ("POP_TOP", None), ("CALL", 0),
                            ("RETURN_VALUE", None)]
    assert code.handlers == [Handler(1, 4, 6, 1, False)]
    zir.bytecode.verify(code)


def test_handler_above_null_runs_in_the_vm() -> None:
    vm = pytest.importorskip("vm")
    fn = _synthetic_handler_above_null()
    assert vm.VM(mode="stack").run(fn, lambda *a: ("called", a)) == ("called", ())
    with pytest.raises(TypeError, match="'int' object is not callable"):
        vm.VM(mode="stack").run(fn, 5)


def _synthetic(ops: list[tuple[str, int]], consts: tuple[Any, ...] = (None,)) -> types.FunctionType:
    code = _assemble(ops)
    pycode = _synth_template.__code__.replace(co_code=code, co_consts=consts, co_exceptiontable=b"",
                                              co_stacksize=4, co_linetable=_line_table(code))
    return types.FunctionType(pycode, globals(), "synthetic")


def test_inconsistent_stack_shapes_are_refused() -> None:
    fn = _synthetic([("RESUME", 0), ("LOAD_FAST", 0), ("POP_JUMP_FORWARD_IF_TRUE", 1), ("PUSH_NULL", 0),
                     ("LOAD_CONST", 0), ("RETURN_VALUE", 0)])
    with pytest.raises(zir.FrontendError, match=r"cannot translate: paths reach this instruction with "
                                                r"stack shapes \[.*\] and \[.*\] \[LOAD_CONST\]"):
        from_python(fn)


def test_stack_underflow_and_null_misuse_are_refused() -> None:
    with pytest.raises(zir.FrontendError, match="cannot translate: stack underflow"):
        from_python(_synthetic([("RESUME", 0), ("POP_TOP", 0), ("LOAD_CONST", 0), ("RETURN_VALUE", 0)]))
    with pytest.raises(zir.FrontendError, match="would consume a NULL stack slot"):
        from_python(_synthetic([("RESUME", 0), ("PUSH_NULL", 0), ("RETURN_VALUE", 0)]))
    with pytest.raises(zir.FrontendError, match="undecodable bytecode"):
        from_python(_synthetic([("RESUME", 0), ("LOAD_FAST", 3), ("RETURN_VALUE", 0)]))


def test_memoized_stack_counts_still_see_null_slots() -> None:
    # RETURN_VALUE's counts are checked once per (opcode, argument) and memoized; the NULL slot and
    # the underflow are still found wherever that opcode meets them, with the same messages.
    ok = from_python(_synthetic([("RESUME", 0), ("LOAD_CONST", 0), ("RETURN_VALUE", 0)]))
    assert ops_of(ok) == [("LOAD_CONST", 0), ("RETURN_VALUE", None)]
    with pytest.raises(zir.FrontendError, match=r"cannot translate: RETURN_VALUE would consume a NULL "
                                                r"stack slot \[RETURN_VALUE\]"):
        from_python(_synthetic([("RESUME", 0), ("PUSH_NULL", 0), ("RETURN_VALUE", 0)]))
    with pytest.raises(zir.FrontendError, match=r"stack underflow \(RETURN_VALUE needs 1 items, has 0\)"):
        from_python(_synthetic([("RESUME", 0), ("RETURN_VALUE", 0)]))


# ==================================================================================================
# EXTENDED_ARG, line numbers


def _make_big() -> types.FunctionType:
    lines = ["def big(n):", "    t = 0", "    for i in range(n):"]
    lines += [f"        t += i * {k} - {k}" for k in range(120)]
    lines += [f"    v{k} = n + {k}" for k in range(300)]
    lines += ["    return t + v0 + v299"]
    ns: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<big>", "exec"), ns)
    return ns["big"]


def test_extended_arg_is_folded() -> None:
    big = _make_big()
    assert any(ins.opname == "EXTENDED_ARG" for ins in dis.get_instructions(big))
    code = from_python(big)
    zir.bytecode.verify(code)
    assert ("STORE_FAST", 301) in ops_of(code)  # v299 (after n, t, i)
    for_iter = next(i for i, zi in enumerate(code.instrs) if zi.op == "FOR_ITER")
    back = [zi for zi in code.instrs if zi.op == "JUMP"]
    assert back and back[-1].arg == for_iter
    exit_ = code.instrs[code.instrs[for_iter].arg or 0]
    assert exit_.op == "LOAD_FAST" or exit_.op == "LOAD_CONST"
    assert big(3) == 3 * 120 * 0 + sum(i * k - k for i in range(3) for k in range(120)) + 3 + 302


def f_lines(a):
    b = a + 1
    c = b * 2
    return c


def test_line_numbers_per_instruction() -> None:
    code = from_python(f_lines)
    first = f_lines.__code__.co_firstlineno
    assert [zi.line for zi in code.instrs] == [first + 1] * 4 + [first + 2] * 4 + [first + 3] * 2
    assert code.firstlineno == first
    assert code.line_of(len(code.instrs) - 1) == first + 3


# ==================================================================================================
# Entry points, nested code, host code


class Holder:
    def method(self, v):
        return v + 1

    @staticmethod
    def static(v):
        return v

    @classmethod
    def klass(cls, v):
        return v


def test_accepts_methods_and_code_objects() -> None:
    h = Holder()
    assert from_python(h.method) == from_python(Holder.method) == from_python(Holder.method.__code__)
    assert from_python(Holder.__dict__["static"]).name == "static"
    assert from_python(Holder.klass).name == "klass"
    assert from_python(lambda *a, **k: a).flags >= {VARARGS, VARKEYWORDS}


def f_class_inside(v):
    class Inner:
        value = v

        def get(self):
            return self.value

    return Inner().get()


def test_class_body_becomes_host_code() -> None:
    code = from_python(f_class_inside)
    body = next(c for c in code.consts if isinstance(c, Code))
    assert HOST in body.flags and body.instrs == [] and body.pycode.co_name == "Inner"
    assert ("LOAD_BUILD_CLASS", None) in ops_of(code)
    zir.bytecode.verify(code)


def f_nested_generator(xs):
    def gen():
        yield from xs

    return sum(x for x in xs), list(gen())


def test_nested_generators_are_translated() -> None:
    code = from_python(f_nested_generator)
    nested = [c for c in code.consts if isinstance(c, Code)]
    assert sorted(c.name for c in nested) == ["<genexpr>", "gen"]
    assert all(HOST not in c.flags and "generator" in c.flags and c.pycode is not None for c in nested)


# ==================================================================================================
# Refusals


async def agen():
    yield 1


def matcher(v):
    match v:
        case [a, b]:
            return a + b
    return None


def star_except(v):
    try:
        v()
    except* ValueError:
        print("caught")


def _line(fn: Any, delta: int) -> int:
    return int(fn.__code__.co_firstlineno) + delta


@pytest.mark.parametrize(("fn", "delta", "text"), [
    (agen, 1, "function 'agen': async generators are not supported [YIELD_VALUE]"),
    (matcher, 2, "function 'matcher': 'match' statements are not supported [MATCH_SEQUENCE]"),
    (star_except, 3, "function 'star_except': 'except*' (exception groups) is not supported"),
])
def test_refusals_name_construct_function_file_and_line(fn: Any, delta: int, text: str) -> None:
    with pytest.raises(zir.FrontendError) as info:
        from_python(fn)
    assert str(info.value).startswith(f"{FILE}:{_line(fn, delta)}: {text}")


def test_translates_generator_expression_code() -> None:
    genexpr = next(c for c in f_nested_generator.__code__.co_consts
                   if isinstance(c, types.CodeType) and c.co_name == "<genexpr>")
    code = from_python(genexpr)
    assert "generator" in code.flags
    assert "YIELD_VALUE" in [op for op, _ in ops_of(code)]


def test_refuses_builtins_and_non_functions() -> None:
    with pytest.raises(zir.FrontendError, match="built-in"):
        from_python(len)
    with pytest.raises(zir.FrontendError, match="built-in"):
        from_python([].append)
    with pytest.raises(zir.FrontendError, match="not a Python function"):
        from_python(5)
    with pytest.raises(zir.FrontendError, match="not a Python function"):
        from_python(Holder)


def test_refuses_module_and_class_bodies() -> None:
    module = compile("x = 1\n", "mod.py", "exec")
    with pytest.raises(zir.FrontendError, match=r"^mod.py:1: function '<module>': class and module bodies"):
        from_python(module)
    body = next(c for c in f_class_inside.__code__.co_consts if isinstance(c, types.CodeType))
    with pytest.raises(zir.FrontendError, match="class and module bodies"):
        from_python(body)


def test_refusal_is_a_zir_error() -> None:
    assert issubclass(zir.FrontendError, zir.ZirError)


def f_class_cell_in_method():
    class A:
        def m(self):
            class X:
                __class__  # type: ignore[name-defined]  # noqa: B018

            return X

    return A


def test_host_class_body_with_class_cell_and_free_variable() -> None:
    # X's body has `__class__` both as its own cell and as a free variable of m.
    code = from_python(f_class_cell_in_method().m)
    body = next(c for c in code.consts if isinstance(c, Code))
    assert HOST in body.flags and body.freevars == ["__class__"] and body.cellvars == []
    zir.bytecode.verify(code)


# ==================================================================================================
# Real code: every function body of some standard-library modules translates and verifies, or is
# refused with a construct message (never an internal "cannot translate").


def _all_codes(co: types.CodeType) -> list[types.CodeType]:
    out, work = [], [co]
    while work:
        c = work.pop()
        out.append(c)
        work.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return out


@pytest.mark.parametrize("module", ["argparse", "dataclasses", "json.decoder", "textwrap", "inspect",
                                    "email._header_value_parser", "fractions", "difflib"])
def test_stdlib_module_functions(module: str) -> None:
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as f:
        top = compile(f.read(), spec.origin, "exec")
    translated = 0
    for co in _all_codes(top):
        if not co.co_flags & versions.CO_OPTIMIZED:
            continue
        try:
            code = from_python(co)
        except zir.FrontendError as e:
            assert "cannot translate" not in str(e) and "paths reach" not in str(e), str(e)
            assert "not supported" in str(e), str(e)
            continue
        zir.bytecode.verify(code)
        translated += 1
    assert translated > 5


# ==================================================================================================
# docs/bytecode.md, section "The CPython front end": its examples are what the front end does.


def _doc_section() -> str:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "bytecode.md").read_text(encoding="utf-8")
    start = doc.index("## The CPython front end")
    end = doc.find("\n## ", start + 1)
    return doc[start:] if end < 0 else doc[start:end]


def test_doc_section_examples() -> None:
    import doctest
    import re

    section = _doc_section()
    unfenced = re.sub(r"^```.*$", "", section, flags=re.MULTILINE)  # a fence ends an example's output
    test = doctest.DocTestParser().get_doctest(unfenced, {}, "bytecode.md", "bytecode.md", 0)
    assert test.examples
    result = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE).run(test)
    assert result.failed == 0
    source = re.search(r"```python\n(def total.*?)```", section, re.DOTALL)
    listing = re.search(r"```text\n(\.code total.*?)```", section, re.DOTALL)
    assert source and listing
    ns: dict[str, Any] = {}
    exec(compile(source.group(1), "demo.py", "exec"), ns)
    assert zir.bytecode.disassemble(from_python(ns["total"])) == listing.group(1)


# ==================================================================================================
# The decoder reads co_code itself: it must give what dis.get_instructions gives, field for field.


@pytest.mark.parametrize("module", ["argparse", "inspect", "email._header_value_parser", "asyncio.tasks",
                                    "_pydecimal", "typing"])
def test_decode_matches_dis(module: str) -> None:
    import importlib.util

    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as f:
        top = compile(f.read(), spec.origin, "exec")
    checked = 0
    for co in _all_codes(top):
        ref = list(dis.get_instructions(co))
        got = decode(co)
        assert len(got) == len(ref), co.co_qualname
        index_of = {ins.offset: i for i, ins in enumerate(ref)}
        for k, (mine, theirs) in enumerate(zip(got, ref, strict=True)):
            want = (k, theirs.offset, theirs.opname, theirs.opcode, theirs.arg, theirs.positions.lineno,
                    index_of[theirs.argval] if theirs.opcode in dis.hasjrel else None)
            have = (mine.index, mine.offset, mine.opname, mine.opcode, mine.arg, mine.line, mine.target)
            assert have == want, (co.co_qualname, k)
            assert mine.argval is theirs.argval or mine.argval == theirs.argval, (co.co_qualname, k)
            checked += 1
    assert checked > 1000


def test_decode_extended_arg_and_backward_jumps() -> None:
    # A long body makes backward jumps and jump arguments above 255 (EXTENDED_ARG prefixes).
    body = "\n".join(f"        x{i} = x{i - 1} + {i}" if i else "        x0 = n" for i in range(300))
    src = f"def f(n):\n    while n:\n{body}\n        n -= 1\n    return n\n"
    ns: dict[str, Any] = {}
    exec(compile(src, "<long>", "exec"), ns)
    got = decode(ns["f"].__code__)
    assert any(ins.opname == "EXTENDED_ARG" for ins in got)
    ref = list(dis.get_instructions(ns["f"]))
    assert [(i.opname, i.arg, i.argval) for i in got] == [(r.opname, r.arg, r.argval) for r in ref]
    back = [ins for ins in got if "BACKWARD" in ins.opname]
    assert back and all(ins.target is not None and ins.target < ins.index for ins in back)
