"""zir.parse: what it builds, and one test per class of syntax error (message, line AND column)."""

from __future__ import annotations

import pytest

import zir
from zir.ir import UNBOUND
from zir.parser import parse_function, tokenize


def _fn(body: str, head: str = "func @f(%a, %b) {") -> str:
    """A function text: `head`, then `body` lines (block labels included by the caller), then '}'."""
    return head + "\n" + body + "}\n"


# --------------------------------------------------------------------------------------------------
# What the parser builds


def test_parses_the_design_example() -> None:
    text = """
; the loop from DESIGN.md
func @sum_squares(%n) {
^entry:
  %s = const 0
  %i = const 0
  br ^loop
^loop:
  %c = lt %i, %n          ; compare
  cbr %c, ^body, ^exit
^body:
  %t = mul %i, %i
  %s = add %s, %t
  %i = add %i, 1
  br ^loop
^exit:
  ret %s
}
"""
    m = zir.parse(text)
    f = m.functions["sum_squares"]
    assert [b.label for b in f.blocks] == ["entry", "loop", "body", "exit"]
    assert f.params == [zir.Var("n")] and not f.ssa
    assert f.blocks[1].instrs[1] == zir.Instr("cbr", None, [zir.Var("c")], {}, ["body", "exit"])
    assert f.blocks[2].instrs[2] == zir.Instr("add", zir.Var("i"), [zir.Var("i"), zir.Const(1)])


def test_parses_header_phis_handlers_attrs_and_locations() -> None:
    text = _fn("""^entry: except ^h
  %g = load_global {name="len"} loc(12)
  %r = call %g, %a
  br ^join
^join:
  %x.1 = phi [^entry: %r], [^h: undef]
  ret %x.1
^h:
  %e = catch
  br ^join
""", head='func @"my f"(%a, /, %b, *%args, %k, **%kw) cells(c) free("d e") flags(generator) ssa {')
    f = zir.parse(text).functions["my f"]
    assert f.params == [zir.Var(n) for n in ["a", "b", "k", "args", "kw"]]
    assert f.signature == zir.Signature(posonly=1, kwonly=1, varargs=True, varkw=True)
    assert (f.cellvars, f.freevars, f.flags, f.ssa) == (["c"], ["d e"], {"generator"}, True)
    entry, join, h = f.blocks
    assert entry.handler == "h" and join.handler is None
    assert entry.instrs[0] == zir.Instr("load_global", zir.Var("g"), [], {"name": "len"}, [], 12)
    assert join.phis == [zir.Phi(zir.Var("x.1"), {"entry": zir.Var("r"), "h": zir.Const(UNBOUND)})]
    assert h.instrs[0] == zir.Instr("catch", zir.Var("e"))


def test_comments_blank_lines_and_crlf_are_ignored() -> None:
    text = "; top\r\n\r\nfunc @f() {  ; head\r\n\r\n^b:   ; label\r\n\r\n  ret \";not a comment\"\r\n}\r\n"
    f = parse_function(text)
    assert f.blocks[0].instrs[0].args == [zir.Const(";not a comment")]


def test_byte_order_mark_is_skipped() -> None:
    f = parse_function("\ufefffunc @f() {\n^b:\n  ret 1\n}\n")
    assert f.blocks[0].instrs[0].args == [zir.Const(1)]
    with pytest.raises(zir.ParseError, match=r"^<string>:1:1: expected 'func'"):
        zir.parse("\ufeffnope")


def test_call_result_may_be_dropped() -> None:
    f = parse_function(_fn("^b:\n  call %a, %b\n  ret None\n"))
    assert f.blocks[0].instrs[0] == zir.Instr("call", None, [zir.Var("a"), zir.Var("b")])


def test_bare_names_that_look_like_numbers_or_keywords() -> None:
    f = parse_function(_fn("^1.5:\n  %None = copy %0x1f\n  ret %...\n") .replace("(%a, %b)", "(%0x1f)")
                       .replace("{", "cells(12, nan, ...) {", 1))
    assert f.cellvars == ["12", "nan", "..."]
    assert f.blocks[0].label == "1.5"
    assert f.blocks[0].instrs[0] == zir.Instr("copy", zir.Var("None"), [zir.Var("0x1f")])


def test_tokenizer_columns() -> None:
    toks = tokenize('  %x = add %"a b", 1.5e+3\n^l:')
    assert [(k, t, line, col) for k, t, line, col in toks] == [
        ("var", "%x", 1, 3), ("=", "=", 1, 6), ("word", "add", 1, 8), ("var", '%"a b"', 1, 12),
        (",", ",", 1, 18), ("num", "1.5e+3", 1, 20), ("nl", "\n", 1, 26), ("label", "^l", 2, 1),
        (":", ":", 2, 3), ("eof", "", 2, 4)]


def test_parse_function_wants_exactly_one() -> None:
    with pytest.raises(zir.ParseError, match=r"^<string>:1:1: expected exactly one function, found 2"):
        parse_function(_fn("^b:\n  ret 1\n") + _fn("^b:\n  ret 1\n", head="func @g() {"))


def test_parse_error_is_a_zir_error_with_fields() -> None:
    with pytest.raises(zir.ZirError) as info:
        zir.parse("func @f() {\n^b:\n  ret %\n}\n", filename="x.zir")
    err = info.value
    assert isinstance(err, zir.ParseError)
    assert (err.filename, err.line, err.col) == ("x.zir", 3, 7)


# --------------------------------------------------------------------------------------------------
# Syntax errors: one case per class; each names file:line:col and what was expected.

_ERRORS: list[tuple[str, str, int, int, str]] = [
    # (id, text, line, col, message fragment)
    ("unexpected-character", _fn("^b:\n  ret #1\n"), 3, 7, "unexpected character '#'"),
    ("unterminated-string", _fn('^b:\n  ret "abc\n'), 3, 7, "unterminated string literal"),
    ("invalid-escape", _fn('^b:\n  ret "ab\\q"\n'), 3, 10, "invalid escape sequence '\\q'"),
    ("bytes-not-ascii", _fn("^b:\n  ret b'\u00e9'\n"), 3, 7, "bytes literal may hold only ASCII"),
    ("expected-func", "\n  fn @f() {\n}\n", 2, 3, "expected 'func', found 'fn'"),
    ("expected-function-name", "func f() {\n}\n", 1, 6, "expected a function name '@name' after 'func'"),
    ("duplicate-function", _fn("^b:\n  ret 1\n") + _fn("^b:\n  ret 1\n"), 5, 6,
     "function @f defined twice (first at line 1)"),
    ("bad-parameter", "func @f(%a, 3) {\n}\n", 1, 13, "expected a parameter"),
    ("slash-misplaced", "func @f(/, %a) {\n}\n", 1, 9, "'/' must follow the positional parameters"),
    ("star-twice", "func @f(*%a, *, %k) {\n}\n", 1, 14, "'*' may appear only once"),
    ("after-double-star", "func @f(**%kw, %a) {\n}\n", 1, 16, "no parameter may follow '**' parameter"),
    ("bare-star-alone", "func @f(%a, *) {\n}\n", 1, 13, "a bare '*' must be followed by keyword-only"),
    ("params-unclosed", "func @f(%a %b) {\n}\n", 1, 12, "expected ',' or ')' after parameter"),
    ("bad-header", "func @f() ssa cells(x) nonsense {\n}\n", 1, 24,
     "expected 'cells(', 'free(', 'flags(', 'ssa' or '{'"),
    ("header-twice", "func @f() ssa ssa {\n}\n", 1, 15, "'ssa' given twice in the function header"),
    ("bad-cell-name", "func @f() cells(x, -1) {\n}\n", 1, 20, "expected a name, found '-1'"),
    ("junk-after-brace", "func @f() { ret\n}\n", 1, 13, "expected end of line after '{', found 'ret'"),
    ("instruction-outside-block", _fn("  ret 1\n"), 2, 3, "expected a block label '^name:' or '}'"),
    ("missing-colon", _fn("^b\n  ret 1\n"), 2, 3, "expected ':' after the block label"),
    ("bad-except", _fn("^b: except h\n  ret 1\n"), 2, 12, "expected a handler label '^name' after 'except'"),
    ("junk-after-label", _fn("^b: ret 1\n"), 2, 5, "expected end of line after the block header"),
    ("duplicate-block", _fn("^b:\n  br ^b\n^b:\n  ret 1\n"), 4, 1,
     "block ^b defined twice in function @f (first at line 2)"),
    ("missing-close-brace", "func @f() {\n^b:\n  ret 1\n", 4, 1, "expected '}' at the end of the function"),
    ("missing-equals", _fn("^b:\n  %x add %a, %b\n"), 3, 6, "expected '=' after the result name"),
    ("missing-op", _fn("^b:\n  %x = 5\n"), 3, 8, "expected an operation name, found '5'"),
    ("unknown-op", _fn("^b:\n  %x = ad %a, %b\n"), 3, 8, "unknown operation 'ad' (did you mean"),
    ("result-on-non-defining-op", _fn("^b:\n  %x = br ^b\n"), 3, 3, "'br' defines no value"),
    ("too-few-operands", _fn("^b:\n  %x = add %a\n"), 3, 8, "'add' takes 2 operands, found 1"),
    ("too-many-operands", _fn("^b:\n  %x = add %a, %b, 3\n"), 3, 20, "'add' takes 2 operands, found 3"),
    ("missing-comma", _fn("^b:\n  %x = add %a %b\n"), 3, 15, "expected ',' between operands, found '%b'"),
    ("bad-operand", _fn("^b:\n  %x = add %a, ^\n"), 3, 16, "unexpected character '^'"),
    ("trailing-comma", _fn("^b:\n  %x = add %a,\n"), 3, 15,
     "expected a literal as operand, found end of line"),
    ("targets-on-non-terminator", _fn("^b:\n  %x = add %a, %b, ^b\n"), 3, 20, "'add' takes no block targets"),
    ("too-many-targets", _fn("^b:\n  br ^b, ^b\n"), 3, 10, "'br' takes 1 block target, found more"),
    ("too-few-targets", _fn("^b:\n  cbr %a, ^b\n"), 3, 3, "'cbr' takes 2 block targets, found 1"),
    ("value-after-target", _fn("^b:\n  cbr ^b, %a, ^b\n"), 3, 11,
     "expected a block label '^name' after a block target"),
    ("unknown-attribute", _fn('^b:\n  %x = load_global {nme="a"}\n'), 3, 21,
     "'load_global' has no attribute 'nme' (its attributes: name)"),
    ("attribute-on-op-without-attrs", _fn("^b:\n  %x = add %a, %b {k=1}\n"), 3, 20,
     "'add' has no attribute 'k' (its attributes: none)"),
    ("duplicate-attribute", _fn('^b:\n  %x = load_global {name="a", name="b"}\n'), 3, 31,
     "attribute 'name' given twice"),
    ("attribute-missing-equals", _fn('^b:\n  %x = load_global {name "a"}\n'), 3, 26,
     "expected '=' after attribute name 'name'"),
    ("attribute-unclosed", _fn('^b:\n  %x = load_global {name="a"\n'), 3, 29,
     "expected ',' or '}' after attribute"),
    ("attribute-bad-value", _fn("^b:\n  %x = load_global {name=%a}\n"), 3, 26,
     "expected a literal as the value of attribute 'name', found '%a'"),
    ("bad-loc", _fn("^b:\n  ret 1 loc(1.5)\n"), 3, 13, "expected an integer line number"),
    ("junk-after-instruction", _fn("^b:\n  ret 1 ]\n"), 3, 9,
     "expected ',', '{', 'loc(' or end of line after the instruction"),
    ("phi-without-result", _fn("^b:\n  phi [^b: 1]\n"), 3, 3, "a phi needs a result"),
    ("phi-after-instruction", _fn("^b:\n  %y = copy 1\n  %x = phi [^b: 1]\n  ret %x\n"), 4, 8,
     "phi after the first instruction of block ^b"),
    ("phi-operand-unclosed", _fn("^b:\n  %x = phi [^b: 1 ^c\n"), 3, 19,
     "expected ']' after phi operand, found '^c'"),
    ("phi-missing-label", _fn("^b:\n  %x = phi [%a]\n"), 3, 13,
     "expected a predecessor label '^name' in phi operand"),
    ("phi-duplicate-pred", _fn("^b:\n  %x = phi [^b: 1], [^b: 2]\n"), 3, 22,
     "phi lists predecessor ^b twice"),
    ("one-element-tuple", _fn("^b:\n  ret (1)\n"), 3, 9,
     "expected ',' after the item of a one-element tuple"),
    ("tuple-unclosed", _fn("^b:\n  ret (1, 2\n"), 3, 12, "expected ',' or ')' after tuple item"),
    ("frozenset-syntax", _fn("^b:\n  ret frozenset([1])\n"), 3, 17, "expected '{' or ')' after 'frozenset('"),
    ("opaque-object", _fn("^b:\n  ret <code g>\n"), 3, 7, "the object <code g> has no text form"),
    ("integer-too-long", _fn("^b:\n  ret " + "9" * 5000 + "\n"), 3, 7, "integer literal too long"),
]


@pytest.mark.parametrize("text, line, col, message", [e[1:] for e in _ERRORS], ids=[e[0] for e in _ERRORS])
def test_syntax_error(text: str, line: int, col: int, message: str) -> None:
    with pytest.raises(zir.ParseError) as info:
        zir.parse(text, filename="t.zir")
    err = info.value
    assert str(err).startswith(f"t.zir:{line}:{col}: "), str(err)
    assert message in err.detail, str(err)
    assert (err.line, err.col) == (line, col)


def test_every_error_class_has_a_distinct_id() -> None:
    ids = [e[0] for e in _ERRORS]
    assert len(ids) == len(set(ids))
