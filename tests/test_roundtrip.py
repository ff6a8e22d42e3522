"""The text form round-trips: `zir.parse(zir.format(m)) == m`, for generated and hand-built IR."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import cfgs, functions, literals, modules, names

import zir
from zir.ir import UNBOUND, const_key


@given(modules())
def test_module_roundtrip(m: zir.Module) -> None:
    text = zir.format(m)
    back = zir.parse(text)
    assert back == m
    assert zir.format(back) == text


@given(functions(ssa=True))
def test_ssa_function_roundtrip(f: zir.Function) -> None:
    back = zir.parse(zir.format(f)).functions[f.name]
    assert back == f
    assert back.ssa


@given(functions(ssa=False, phis=True))
def test_non_ssa_function_with_phis_roundtrip(f: zir.Function) -> None:
    assert zir.parse(zir.format(f)).functions[f.name] == f


@given(literals())
def test_literal_roundtrip_is_exact(value: object) -> None:
    f = zir.Function("f", blocks=[zir.Block("b", instrs=[zir.Instr("ret", None, [zir.Const(value)])])])
    back = zir.parse(zir.format(f)).functions["f"].blocks[0].instrs[0].args[0]
    assert isinstance(back, zir.Const)
    assert const_key(back.value) == const_key(value)  # 1 vs 1.0 vs True, -0.0, nan, nested kinds
    assert type(back.value) is type(value)


@given(names(), names(), names())
def test_odd_names_roundtrip(var: str, label: str, fname: str) -> None:
    f = zir.Function(fname, params=[zir.Var(var)], cellvars=[label], flags={var},
                     blocks=[zir.Block(label, instrs=[zir.Instr("ret", None, [zir.Var(var)])])])
    text = zir.format(f)
    assert text.count("\n") == 4  # names never break the line structure
    assert zir.parse(text).functions[fname] == f


@given(functions())
def test_generated_functions_verify(f: zir.Function) -> None:
    # The strategies promise verifier-valid IR; other suites rely on it.
    zir.verify(f)


@given(cfgs(entry_preds=False, max_blocks=10))
def test_cfgs_shape(graph: dict[str, list[str]]) -> None:
    labels = list(graph)
    assert labels[0] == "b0" and labels == [f"b{k}" for k in range(len(labels))]
    for succ in graph.values():
        assert len(succ) == len(set(succ)) <= 2
        assert "b0" not in succ and set(succ) <= set(labels)


def test_cfgs_reach_interesting_shapes() -> None:
    seen = {"loop": False, "unreachable": False, "self_loop": False}

    @given(cfgs(max_blocks=6))
    def probe(graph: dict[str, list[str]]) -> None:
        g = nx.DiGraph([(a, b) for a, succ in graph.items() for b in succ])
        g.add_nodes_from(graph)
        seen["loop"] |= not nx.is_directed_acyclic_graph(g)
        seen["unreachable"] |= len(nx.descendants(g, "b0")) + 1 < len(graph)
        seen["self_loop"] |= any(a in succ for a, succ in graph.items())

    probe()
    assert all(seen.values()), seen


def test_builder_function_roundtrip() -> None:
    b = zir.Builder("sum_squares", ["n"])
    s, i = b.const(0, "s"), b.const(0, "i")
    loop, body, done = b.block("loop"), b.block("body"), b.block("exit")
    b.br(loop)
    b.at(loop)
    c = b.op("lt", i, b.param("n"), dest="c")
    b.cbr(c, body, done)
    b.at(body)
    t = b.op("mul", i, i, dest="t", line=7)
    b.op("add", s, t, dest=s)
    b.op("add", i, 1, dest=i)
    b.br(loop)
    b.at(done)
    b.ret(s)
    f = b.finish()
    text = zir.format(f)
    assert "  %t = mul %i, %i loc(7)\n" in text
    assert zir.parse(text).functions["sum_squares"] == f


def test_signature_roundtrip_keeps_cpython_parameter_order() -> None:
    # co_varnames order: positional, keyword-only, *args, **kwargs; printed in Python's order.
    f = zir.Function("f", params=[zir.Var(n) for n in ["a", "b", "k", "args", "kw"]],
                     signature=zir.Signature(posonly=1, kwonly=1, varargs=True, varkw=True),
                     blocks=[zir.Block("e", instrs=[zir.Instr("ret", None, [zir.Const(None)])])])
    text = zir.format(f)
    assert text.startswith("func @f(%a, /, %b, *%args, %k, **%kw) {")
    assert zir.parse(text).functions["f"] == f


_SPELLINGS = [
    (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (-0.0, "-0.0"), (1e16, "1e+16"),
    (complex(-0.0, -math.inf), "(-0-infj)"), (-1j, "(-0-1j)"), (UNBOUND, "undef"), (Ellipsis, "..."),
    ((1,), "(1,)"), (frozenset(), "frozenset()"), (frozenset({2, 1}), "frozenset({1, 2})"),
    ("a\"b\\c\n\t\x00\u2028", '"a\\"b\\\\c\\n\\t\\x00\\u2028"'), (b"'\x00", "b\"'\\x00\""),
    (2**20000, hex(2**20000)),
]


@pytest.mark.parametrize("value, text", _SPELLINGS, ids=[t[:20] for _, t in _SPELLINGS])
def test_literal_spelling(value: object, text: str) -> None:
    assert zir.printer.format_literal(value) == text
    back = zir.parse(f"func @f() {{\n^b:\n  ret {text}\n}}\n").functions["f"].blocks[0].instrs[0].args[0]
    assert back == zir.Const(value)


def test_big_function_parses() -> None:
    """A 10k-instruction function parses completely (its speed is measured by tools, not asserted
    here: timed unit tests are flaky on a loaded machine)."""
    lines = ["func @big(%a, %b) {", "^entry:"]
    for k in range(10_000):
        if k % 100 == 99:
            lines += [f"  br ^b{k}", f"^b{k}:"]
        lines.append(f'  %t{k} = add %a, {k} loc({k})')
    lines += ["  ret %a", "}"]
    f = zir.parse("\n".join(lines) + "\n").functions["big"]
    assert f.num_instrs() == 10_000 + 100 + 1
    assert f.blocks[-1].instrs[-2].line == 9_999


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_int_literals_in_attrs_roundtrip(n: int) -> None:
    f = zir.Function("f", blocks=[zir.Block("b", instrs=[
        zir.Instr("unpack", zir.Var("t"), [zir.Var("s")], {"count": n}),
        zir.Instr("ret", None, [zir.Var("t")])])])
    assert zir.parse(zir.format(f)).functions["f"] == f
