"""The JSON form of ZBC: exact round trip, strict reading of truncated or tampered input."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_zasm import zbc_codes

from zir import VerifyError, ZirError
from zir.bytecode import (
    HOST,
    Code,
    FormatError,
    Handler,
    ZInstr,
    assemble,
    from_dict,
    from_json,
    to_dict,
    to_json,
)


def simple() -> Code:
    return assemble("""\
.code f
.params a, b=(1, -0.0), *, c=nan
.cellvars a
try:
    LOAD_FAST a
    STORE_DEREF a
    LOAD_DEREF a
    LOAD_CONST 2
    ADD
    RETURN_VALUE
catch:
    POP_TOP
    LOAD_CONST None
    RETURN_VALUE
.handler try catch -> catch depth 0
""", "simple.zasm")


@given(zbc_codes(host=False))
def test_roundtrip_generated_codes(code: Code) -> None:
    text = to_json(code)
    back = from_json(text)
    assert back == code
    assert to_json(back) == text  # deterministic, frozensets included
    assert from_dict(json.loads(to_json(code, indent=2))) == code


def test_document_shape() -> None:
    d = to_dict(simple())
    assert (d["format"], d["version"]) == ("zbc", 1)
    code = d["code"]
    assert code["instrs"][0] == ["LOAD_FAST", 0, 5]
    assert code["handlers"] == [[0, 6, 6, 0, False]]
    assert code["defaults"] == [{"type": "tuple", "value": [{"type": "int", "value": "1"},
                                                            {"type": "float", "value": "-0.0"}]}]
    assert code["kwdefaults"] == {"c": {"type": "float", "value": "nan"}}


@pytest.mark.parametrize("value", [
    0, -1, 2**100, -(2**9000), 0.0, -0.0, math.inf, -math.inf, math.nan, 1e-310, complex(-0.0, math.nan),
    "", "\ud800\n\"", b"\x00\xff", True, False, None, Ellipsis, (), (1, (2.5, "x")),
    frozenset(), frozenset({1, "a", (2, b"z")}), slice(None, 1, (2,)),
])
def test_constants_exact(value: Any) -> None:
    c = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[value])
    back = from_json(to_json(c))
    assert back == c
    assert type(back.consts[0]) is type(value)


def test_nested_code() -> None:
    inner = Code("g", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[1],
                 flags=frozenset({"nested"}))
    c = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[inner])
    back = from_json(to_json(c))
    assert back == c and back.consts[0].stacksize == 1


def test_host_code_cannot_be_serialized() -> None:
    host = Code("C", flags=frozenset({HOST}))
    with pytest.raises(FormatError, match="'host' flag"):
        to_json(host)
    c = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[host])
    with pytest.raises(FormatError, match=r"code.consts\[0\]: code object 'C' has the 'host' flag"):
        to_json(c)


def test_unserializable_constant() -> None:
    c = Code("f", [ZInstr("LOAD_CONST", 0), ZInstr("RETURN_VALUE")], consts=[[1]])
    with pytest.raises(FormatError, match=r"code.consts\[0\]: a list constant has no serialized form"):
        to_json(c)


# -------------------------------------------------------------------------------------------------
# Reading bad input: one test per kind of damage, each naming what is wrong.


def tampered(change: Any) -> dict[str, Any]:
    d = to_dict(simple())
    change(d)
    return d


def bad(d: Any, pattern: str, error: type[Exception] = FormatError) -> None:
    with pytest.raises(error, match=pattern):
        from_dict(d)
    with pytest.raises(error, match=pattern):
        from_json(json.dumps(d))


def test_truncated() -> None:
    text = to_json(simple())
    with pytest.raises(FormatError, match=r"not valid JSON \(truncated\?\)"):
        from_json(text[:-1])
    for cut in range(0, len(text), 7):  # every prefix is rejected cleanly
        with pytest.raises(ZirError):
            from_json(text[:cut])


def test_not_utf8() -> None:
    with pytest.raises(FormatError, match="not valid JSON"):
        from_json(b"\xff\xfe{")


def test_wrong_format_and_version() -> None:
    bad(tampered(lambda d: d.update(format="pyc")), "format: expected 'zbc'")
    bad(tampered(lambda d: d.update(version=2)), "version: this zir reads version 1, got 2")
    bad(tampered(lambda d: d.update(version=True)), "version: this zir reads version 1, got True")
    bad([1, 2], "the document: expected a JSON object, got an array")


def test_missing_and_unknown_keys() -> None:
    bad(tampered(lambda d: d["code"].pop("names")), "code: missing key names")
    bad(tampered(lambda d: d["code"].update(extra=1)), "code: unknown key extra")
    bad(tampered(lambda d: d["code"]["consts"][0].update(junk=1)), r"code.consts\[0\]: unknown key junk")


def test_wrong_types() -> None:
    bad(tampered(lambda d: d["code"].update(argcount="1")),
        "code.argcount: expected an integer, got a string")
    bad(tampered(lambda d: d["code"].update(argcount=True)),
        "code.argcount: expected an integer, got a boolean")
    bad(tampered(lambda d: d["code"].update(varnames=["a", 3])), r"code.varnames\[1\]: expected a string")
    bad(tampered(lambda d: d["code"]["instrs"].__setitem__(0, ["LOAD_FAST", "0", 1])),
        r"code.instrs\[0\]\[1\]: expected an integer or null, got a string")
    bad(tampered(lambda d: d["code"]["instrs"].__setitem__(0, ["LOAD_FAST", 0])),
        r"code.instrs\[0\]: expected \[op, arg, line\]")
    bad(tampered(lambda d: d["code"]["handlers"].__setitem__(0, [0, 6, 6, 0, 0])),
        r"code.handlers\[0\]\[4\]: expected a boolean, got an integer")
    bad(tampered(lambda d: d["code"].update(flags=["fast"])),
        r"code.flags\[0\]: unknown or repeated flag 'fast'")
    bad(tampered(lambda d: d["code"].update(flags=["host"])), "'host' code objects have no serialized form")


@pytest.mark.parametrize("const,pattern", [
    ({"type": "int", "value": 5}, r"\.value: expected a string, got an integer"),
    ({"type": "int", "value": "05"}, "expected an integer as a decimal .* or 0x-hex string"),
    ({"type": "int", "value": "1" * 5000}, "expected an integer as a decimal"),
    ({"type": "float", "value": "1.5x"}, "expected a float as Python writes it"),
    ({"type": "float", "value": 1.5}, "expected a float as Python writes it"),
    ({"type": "complex", "value": ["1.0"]}, r"expected \[real, imag\]"),
    ({"type": "bytes", "value": "abc"}, "expected lowercase hex digit pairs"),
    ({"type": "bool", "value": 1}, "expected a boolean"),
    ({"type": "slice", "value": []}, "a slice has 3 items"),
    ({"type": "frozenset", "value": [{"type": "slice", "value": [{"type": "none"}] * 3}]}, "unhashable"),
    ({"type": "tuple", "value": [{"type": "code", "value": {}}]}, "a code object may only be a top-level"),
    ({"type": "set", "value": []}, r"\.type: unknown constant type 'set'"),
    ({"value": 1}, r"expected a constant \{\"type\""),
    ({"type": "none", "value": None}, "unknown key value"),
    ({"type": "str"}, "missing key value"),
])
def test_bad_constants(const: dict[str, Any], pattern: str) -> None:
    bad(tampered(lambda d: d["code"]["consts"].__setitem__(0, const)), r"code.consts\[0\]" + ".*" + pattern)


def test_duplicate_keys_and_nan_literals() -> None:
    text = to_json(simple())
    with pytest.raises(FormatError, match="duplicate key 'name'"):
        from_json(text.replace('"name":"f"', '"name":"f","name":"g"', 1))
    with pytest.raises(FormatError, match="JSON constant NaN is not allowed"):
        from_json(text.replace('"firstlineno":1', '"firstlineno":NaN', 1))


def test_deeply_nested_input() -> None:
    with pytest.raises(FormatError):
        from_json("[" * 100_000 + "]" * 100_000)
    const: dict[str, Any] = {"type": "none"}
    for _ in range(5000):
        const = {"type": "tuple", "value": [const]}
    with pytest.raises(FormatError, match="nested too deeply"):
        from_dict(tampered(lambda d: d["code"]["consts"].__setitem__(0, const)))


def test_verifier_runs_after_reading() -> None:
    bad(tampered(lambda d: d["code"]["instrs"].__setitem__(0, ["LOAD_FAST", 9, 5])),
        r"simple.zasm:5 \(function f, offset 0\): LOAD_FAST 9: index out of range", VerifyError)
    bad(tampered(lambda d: d["code"]["instrs"].__setitem__(0, ["LOAD_FASTER", 0, 5])),
        r"unknown opcode 'LOAD_FASTER' \(did you mean LOAD_FAST\?\)", VerifyError)
    bad(tampered(lambda d: d["code"]["handlers"].__setitem__(0, [0, 6, 6, 3, False])),
        "keeps 3 stack items", VerifyError)


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=3),
                     lambda ch: st.lists(ch, max_size=3)
                     | st.dictionaries(st.text(max_size=3), ch, max_size=3),
                     max_leaves=5)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


@settings(max_examples=300)
@given(st.data())
def test_random_tampering_never_escapes_as_a_bare_exception(data: st.DataObject) -> None:
    d = to_dict(simple())
    paths = [p for p in _paths(d) if p]
    path = data.draw(st.sampled_from(paths))
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(_JSON)
    try:
        code = from_dict(copy.deepcopy(d))
    except ZirError:
        return
    # Whatever was accepted is verified code that serializes back to what was read.
    assert to_dict(code) == d


# -------------------------------------------------------------------------------------------------
# Real code from the CPython front end.


def test_front_end_code_roundtrips() -> None:
    import test_constructs

    from zir.frontend import from_python

    count = 0
    for fn, _args, _xfail in test_constructs.CASES:
        try:
            code = from_python(fn)
        except ZirError:
            continue
        if any(isinstance(k, Code) and HOST in k.flags for k in code.consts):
            continue
        assert from_json(to_json(code)) == code, fn.__name__
        count += 1
    assert count >= 50


def test_handler_survives() -> None:
    c = simple()
    assert from_json(to_json(c)).handlers == [Handler(0, 6, 6, 0, False)]
