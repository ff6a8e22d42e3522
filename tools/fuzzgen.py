"""Random Python functions for differential fuzzing, as a hypothesis strategy over source text.

`programs()` draws a `Program`: the source of one function `def f(a, b):` plus its arguments. The
function mixes ints, floats, strings, lists, dicts and tuples; uses comparisons, `and`/`or`/`not`,
nested `if`/`while`/`for` with `break` and `continue`, `try`/`except`/`else`/`finally`, `raise`,
calls to builtins (`len`, `abs`, `min`, `max`, `str`, `int`, `float`, `round`, `sorted`, `print`),
methods of `str`, `list` and `dict`, subscripts and slices, local reassignment and augmented
assignment, nested generators (`yield`, `yield from`, generator expressions, a return value) driven
by `list`/`sum`/`next`/`send`, and ends by returning its locals, so their final values are compared
too.

The generator is loosely typed on purpose: each local has an intended kind (`i0` an int, `s0` a
string, ...), and expressions mostly respect it, but now and then an operand of the wrong kind or an
index or key that does not exist slips in, so the programs raise TypeError, ZeroDivisionError,
IndexError, KeyError, ValueError, UnboundLocalError... at different places, inside and outside
handlers.

Every program terminates and stays small: loops nest at most two deep and each runs at most six
times (a `while` loop carries its own counter; a `for` loop runs over a bounded `range` or a short
slice); inside loops, values that could grow by repeated doubling (ints, strings, lists) are cut
back on each assignment. Hypothesis shrinks a failing program towards fewer, simpler statements
(the first alternative of every choice is the simplest).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs
from hypothesis import strategies as st

T = TypeVar("T")

#: The locals every program starts with, and their initial values; the name's letter is its kind.
LOCALS: dict[str, str] = {
    "i0": "0", "i1": "7", "i2": "-3",
    "f0": "0.5", "f1": "-2.25",
    "s0": "'ab'", "s1": "'Hello world'",
    "l0": "[1, 2, 3]",
    "d0": "{'a': 1, 'b': 2}",
    "t0": "(1, 'x', 2.5)",
}
KIND_OF = {"i": "int", "f": "float", "s": "str", "l": "list", "d": "dict", "t": "tuple"}
KINDS = ("int", "float", "str", "list", "dict", "tuple", "bool")
MAX_LOOP = 6
EXCEPTIONS = ("ZeroDivisionError", "IndexError", "KeyError", "TypeError", "ValueError", "Exception",
              "OverflowError", "ArithmeticError", "LookupError", "UnboundLocalError")


@attrs.frozen
class Program:
    """A generated function: its source text (defining `f`) and the arguments to call it with."""

    source: str
    args: tuple[Any, ...]

    def compile(self) -> Callable[..., Any]:
        """Compile the source with CPython into a fresh namespace and return `f`."""
        namespace: dict[str, Any] = {"__name__": "fuzzprog"}
        with warnings.catch_warnings():
            # `1[0]` draws a SyntaxWarning; raising TypeError at run time is what is being tested.
            warnings.simplefilter("ignore", SyntaxWarning)
            code = compile(self.source, "<fuzz>", "exec")
        exec(code, namespace)
        fn: Callable[..., Any] = namespace["f"]
        return fn

    def reproducer(self) -> str:
        """Source that reproduces the run: the function and the call."""
        call = ", ".join(repr(a) for a in self.args)
        return f"{self.source}\nf({call})\n"


def _parenthesized(text: str) -> str:
    """`text` in parentheses, unless one pair of parentheses already encloses all of it."""
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                if i == len(text) - 1:
                    return text
                break
    return f"({text})"


@st.composite
def _span(draw: Callable[[st.SearchStrategy[Any]], Any], gen: _Gen, make: Callable[..., T], *args: Any) -> T:
    """Run `make(*args)` as one hypothesis draw, so the shrinker sees its choices as a unit to delete."""
    outer = gen.draw
    gen.draw = draw  # the generator's draws now nest inside this span
    try:
        return make(*args)
    finally:
        gen.draw = outer


class _Gen:
    """One program being drawn; every decision is a hypothesis draw so failures shrink."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], max_statements: int) -> None:
        self.draw = draw
        self.budget = max_statements  # statements left to generate in the whole program
        self.loop_depth = 0
        self.in_handler = False
        self.counter = 0  # numbering for loop counters and loop variables
        self.loop_vars: list[str] = []  # loop variables that may have been bound by now
        self.handled = False  # whether an `except ... as e` clause has been generated

    # -- choices --------------------------------------------------------------------------------

    def pick(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def num(self, lo: int, hi: int) -> int:
        value: int = self.draw(st.integers(lo, hi))
        return value

    def chance(self, percent: int) -> bool:
        """True with roughly `percent`% probability; shrinks to False."""
        return self.num(0, 99) >= 100 - percent

    # -- expressions ----------------------------------------------------------------------------

    def var(self, kind: str) -> str:
        names = [n for n in LOCALS if KIND_OF[n[0]] == kind]
        return self.pick(names)

    def expr(self, kind: str, depth: int = 0) -> str:
        """An expression meant to produce `kind` (it may raise, or now and then produce another kind)."""
        if depth < 3 and self.chance(4):
            kind = self.pick([k for k in KINDS if k != kind])  # a deliberate kind mix-up
        if depth >= 3 or not self.chance(60 - 15 * depth):
            return self.leaf(kind)
        # Compound expressions are parenthesized, so they can stand anywhere an operand can.
        return _parenthesized(self.draw(_span(self, getattr(self, f"expr_{kind}"), depth + 1)))

    def operand(self, kind: str, depth: int) -> str:
        """An expression to put before `.method`, `[index]` or `[a:b]`: parenthesized unless a name."""
        text = self.expr(kind, depth)
        return text if text.isidentifier() else _parenthesized(text)

    def leaf(self, kind: str) -> str:
        if kind == "bool":
            return self.pick(["True", "False", "(a > 0)", "(not s0)", "(i1 == 7)"])
        if self.loop_vars and self.chance(8):
            return self.pick(self.loop_vars)  # possibly unbound: the loop may not have run
        if self.handled and self.chance(4):
            return "e"  # bound inside a handler, unbound (deleted) after it
        if self.chance(50):
            return self.literal(kind)
        if kind == "int" and self.chance(25):
            return "a"
        if kind == "str" and self.chance(25):
            return "b"
        return self.var(kind)

    def literal(self, kind: str) -> str:
        if kind == "int":
            return str(self.pick([0, 1, 2, 3, -1, 5, 10, -7, 255, 2**31, -(2**40)]))
        if kind == "float":
            return self.pick(["0.0", "1.5", "-0.0", "0.1", "-3.75", "1e300", "2.5e-8", "float('nan')",
                              "float('inf')"])
        if kind == "str":
            return self.pick(["''", "'a'", "'xyz'", "'A b C'", "'  pad '", "'42'", "'-7'", "'1.5'",
                              "'\\n'"])
        if kind == "list":
            return self.pick(["[]", "[0]", "[1, 2, 3]", "['a', 'b']", "[1.5, -2, 'c']", "[[1], [2, 3]]"])
        if kind == "dict":
            return self.pick(["{}", "{'a': 1}", "{1: 'x', 2: 'y'}", "{'k': [1, 2], 'z': 0.5}"])
        if kind == "tuple":
            return self.pick(["()", "(1,)", "(1, 2)", "('a', 3, 4.0)"])
        return self.pick(["True", "False"])

    def expr_int(self, d: int) -> str:
        form = self.num(0, 16)
        e = self.expr
        if form == 0:
            op = self.pick(["+", "-", "*", "//", "%", "&", "|", "^"])
            return f"({e('int', d)} {op} {e('int', d)})"
        if form == 1:
            return f"({e('int', d)} ** {self.num(0, 3)})"
        if form == 2:
            return f"({e('int', d)} {self.pick(['<<', '>>'])} {self.num(0, 5)})"
        if form == 3:
            return f"{self.pick(['-', '~', '+'])}{e('int', d)}"
        if form == 4:
            return f"len({e(self.pick(['str', 'list', 'dict', 'tuple']), d)})"
        if form == 5:
            return f"abs({e('int', d)})"
        if form == 6:
            return f"{self.pick(['min', 'max'])}({e('int', d)}, {e('int', d)})"
        if form == 7:
            return f"int({e(self.pick(['float', 'str', 'bool']), d)})"
        if form == 8:
            return f"{self.operand('list', d)}[{e('int', d)}]"
        if form == 9:
            return f"{self.operand('dict', d)}[{self.pick(['a', 'b', 'k', '1', 2])!r}]"
        if form == 10:
            return f"{self.operand('str', d)}.{self.pick(['find', 'count'])}({e('str', d)})"
        if form == 11:
            return f"({e('int', d)} if {e('bool', d)} else {e('int', d)})"
        if form == 12:
            return f"round({e('float', d)})"
        if form == 13:
            return f"{self.operand('dict', d)}.get({self.pick(['a', 'z', 1])!r}, {e('int', d)})"
        if form == 14:
            return f"sum({e('list', d)})"
        if form == 15:
            # Divisors that are zero for some inputs or states: i0 starts at 0, a may be 0 or 1.
            divisor = self.pick(["i0", "a", "(a - 1)", "len(b)", "0"])
            return f"({e('int', d)} {self.pick(['//', '%'])} {divisor})"
        return f"({e('bool', d)} + {e('int', d)})"

    def expr_float(self, d: int) -> str:
        form = self.num(0, 7)
        e = self.expr
        if form == 0:
            op = self.pick(["+", "-", "*", "/", "//", "%"])
            return f"({e('float', d)} {op} {e(self.pick(['float', 'int']), d)})"
        if form == 1:
            return f"({e('int', d)} / {e('int', d)})"
        if form == 2:
            return f"float({e(self.pick(['int', 'str']), d)})"
        if form == 3:
            return f"abs({e('float', d)})"
        if form == 4:
            return f"round({e('float', d)}, {self.num(0, 3)})"
        if form == 5:
            return f"{self.pick(['min', 'max'])}({e('float', d)}, {e('int', d)})"
        if form == 6:
            return f"({e('float', d)} ** {self.pick(['2', '0.5', '-1', '3'])})"
        return f"-{e('float', d)}"

    def expr_str(self, d: int) -> str:
        form = self.num(0, 10)
        e = self.expr
        if form == 0:
            return f"({e('str', d)} + {e('str', d)})"
        if form == 1:
            return f"str({e(self.pick(KINDS), d)})"
        if form == 2:
            return f"({e('str', d)} * ({e('int', d)} % 3))"
        if form == 3:
            return f"{self.operand('str', d)}[{e('int', d)}]"
        if form == 4:
            lo, hi = self.pick(["", "1", "-2", "a"]), self.pick(["", "3", "-1", "i1"])
            return f"{self.operand('str', d)}[{lo}:{hi}]"
        if form == 5:
            method = self.pick(["upper()", "lower()", "strip()", "title()", "replace('a', 'b')",
                                "split()", "zfill(4)"])
            text = f"{self.operand('str', d)}.{method}"
            return f"'/'.join({text})" if method == "split()" else text
        if form == 6:
            return f"'-'.join({e('list', d)})"
        if form == 7:
            # Leaves only (no double quotes, no backslashes: 3.11 f-string fields allow neither).
            text = self.leaf("str")
            text = "s0" if "\\" in text else text
            return f'f"<{{{self.leaf("int")}}}:{{{text}!r}}>"'
        if form == 8:
            return f"({e('str', d)} if {e('bool', d)} else {e('str', d)})"
        if form == 9:
            return f"repr({e(self.pick(KINDS), d)})"
        return f"{self.operand('dict', d)}.get({self.pick(['a', 'q'])!r}, 'none')"

    def expr_list(self, d: int) -> str:
        form = self.num(0, 6)
        e = self.expr
        if form == 0:
            return f"[{e('int', d)}, {e(self.pick(KINDS), d)}]"
        if form == 1:
            return f"({e('list', d)} + {e('list', d)})"
        if form == 2:
            return f"sorted({e('list', d)})"
        if form == 3:
            return f"list({e(self.pick(['str', 'tuple', 'dict']), d)})"
        if form == 4:
            return f"{self.operand('list', d)}[{self.pick(['1:', ':2', '::-1', '-2:'])}]"
        if form == 5:
            return f"[{e('int', d)}] * ({e('int', d)} % 3)"
        return f"list({self.operand('dict', d)}.{self.pick(['keys', 'values', 'items'])}())"

    def expr_dict(self, d: int) -> str:
        form = self.num(0, 2)
        e = self.expr
        if form == 0:
            return f"{{{self.pick(['a', 'b', 'k'])!r}: {e(self.pick(KINDS), d)}}}"
        if form == 1:
            return f"dict({e('dict', d)})"
        return f"{{{e('str', d)}: {e('int', d)}, 'b': {e('float', d)}}}"

    def expr_tuple(self, d: int) -> str:
        form = self.num(0, 2)
        e = self.expr
        if form == 0:
            return f"({e(self.pick(KINDS), d)}, {e('int', d)})"
        if form == 1:
            return f"tuple({e('list', d)})"
        return f"({e('tuple', d)} + {e('tuple', d)})"

    def expr_bool(self, d: int) -> str:
        form = self.num(0, 6)
        e = self.expr
        if form == 0:
            kind = self.pick(["int", "float", "str", "int"])
            op = self.pick(["<", "<=", "==", "!=", ">", ">="])
            return f"{e(kind, d)} {op} {e(kind, d)}"
        if form == 1:
            return f"({e('bool', d)} {self.pick(['and', 'or'])} {e('bool', d)})"
        if form == 2:
            return f"not {e(self.pick(KINDS), d)}"
        if form == 3:
            return f"{e(self.pick(['int', 'str']), d)} {self.pick(['in', 'not in'])} {e('list', d)}"
        if form == 4:
            return f"{e('str', d)} in {e('str', d)}"
        if form == 5:
            return f"{e('int', d)} < {e('int', d)} <= {e('int', d)}"
        return f"{e(self.pick(KINDS), d)} {self.pick(['is', 'is not'])} {self.pick(['None', 'l0', 'True'])}"

    # -- statements -----------------------------------------------------------------------------

    def block(self, indent: int, max_len: int = 4) -> list[str]:
        """Between one and `max_len` statements (fewer when the program's budget runs out).

        Each statement after the first is preceded by a "one more?" draw, as hypothesis' own lists
        do, so the shrinker can delete any statement by deleting its span of draws.
        """
        lines: list[str] = []
        for count in range(max_len):
            more = self.draw(_span(self, self.next_statement, indent, count == 0))
            if more is None:
                break
            lines.extend(more)
        return lines

    def next_statement(self, indent: int, first: bool) -> list[str] | None:
        """The next statement of a block, or None to end it (the decision is part of the same span)."""
        if not first and (self.budget <= 0 or not self.chance(75)):
            return None
        self.budget -= 1
        return self.statement(indent)

    def statement(self, indent: int) -> list[str]:
        pad = "    " * indent
        kinds = ["assign", "assign", "aug", "print", "if", "call", "store"]
        if self.loop_depth < 2:
            kinds += ["for", "while"]
        if self.loop_depth > 0:
            kinds += ["break", "continue"]
        kinds += ["try", "raise", "return", "unpack", "generator"]
        if self.loop_vars:
            kinds.append("delete")
        if self.in_handler:
            kinds.append("reraise")
        kind = self.pick(kinds)
        return getattr(self, f"stmt_{kind}")(pad, indent)

    def target(self) -> str:
        return self.pick(list(LOCALS))

    def clamp(self, name: str, value: str) -> str:
        """Inside a loop, keep ints, strings and lists from growing without bound."""
        if self.loop_depth == 0:
            return value
        kind = KIND_OF[name[0]]
        if kind == "int":
            return f"({value}) % 10007"
        if kind in ("str", "list"):
            return f"({value})[:12]"
        return value

    def stmt_assign(self, pad: str, indent: int) -> list[str]:
        name = self.target()
        return [f"{pad}{name} = {self.clamp(name, self.expr(KIND_OF[name[0]]))}"]

    def stmt_aug(self, pad: str, indent: int) -> list[str]:
        name = self.target()
        kind = KIND_OF[name[0]]
        if kind in ("int", "float"):
            ops = ["+=", "-="] if self.loop_depth else ["+=", "-=", "*=", "//=", "%=", "/="]
            if kind == "int":
                ops += ["&=", "|=", "^="]
            return [f"{pad}{name} {self.pick(ops)} {self.expr(self.pick(['int', 'float']))}"]
        if kind in ("str", "list", "tuple") and self.loop_depth:
            return [f"{pad}{name} += {self.literal(kind)}"]  # literal: no doubling in loops
        if kind == "dict":
            return [f"{pad}{name} |= {self.expr('dict')}"]
        return [f"{pad}{name} += {self.expr(kind)}"]

    def stmt_print(self, pad: str, indent: int) -> list[str]:
        args = ", ".join(self.expr(self.pick(KINDS)) for _ in range(self.num(1, 3)))
        if self.chance(20):
            args += f", sep={self.pick(['-', ''])!r}"
        return [f"{pad}print({args})"]

    def stmt_if(self, pad: str, indent: int) -> list[str]:
        lines = [f"{pad}if {self.expr('bool')}:", *self.block(indent + 1)]
        if self.chance(30):
            lines += [f"{pad}elif {self.expr('bool')}:", *self.block(indent + 1)]
        if self.chance(50):
            lines += [f"{pad}else:", *self.block(indent + 1)]
        return lines

    def stmt_call(self, pad: str, indent: int) -> list[str]:
        form = self.num(0, 4)
        if form == 0:
            return [f"{pad}l0.append({self.expr(self.pick(KINDS))})"]
        if form == 1:
            return [f"{pad}{self.pick(['i0', 'i1', 's0', 't0'])} = l0.pop()"]
        if form == 2:
            return [f"{pad}d0[{self.pick(['a', 'b', 'c'])!r}] = {self.expr(self.pick(KINDS))}"]
        if form == 3:
            return [f"{pad}l0.{self.pick(['reverse()', 'sort()', 'clear()', 'insert(0, i1)'])}"]
        return [f"{pad}del d0[{self.pick(['a', 'b', 'zz'])!r}]"]

    def stmt_store(self, pad: str, indent: int) -> list[str]:
        return [f"{pad}l0[{self.expr('int')}] = {self.expr(self.pick(KINDS))}"]

    def loop_var(self) -> str:
        self.counter += 1
        return f"x{self.counter}"

    def loop_body(self, indent: int) -> list[str]:
        self.loop_depth += 1
        try:
            return self.block(indent, 3)
        finally:
            self.loop_depth -= 1

    def stmt_for(self, pad: str, indent: int) -> list[str]:
        var = self.loop_var()
        source = self.pick([
            f"range({self.num(0, MAX_LOOP)})",
            f"range(a % {MAX_LOOP + 1})",
            f"range({self.num(-2, 2)}, {self.num(0, MAX_LOOP)})",
            f"{self.pick(['l0', 's0', 's1', 't0', 'b'])}[:{MAX_LOOP}]",
            f"list(d0)[:{MAX_LOOP}]",
        ])
        body = self.loop_body(indent + 1)
        self.loop_vars.append(var)
        lines = [f"{pad}for {var} in {source}:", *body]
        if self.chance(20):
            lines += [f"{pad}else:", *self.block(indent + 1, 2)]
        return lines

    def stmt_while(self, pad: str, indent: int) -> list[str]:
        self.counter += 1
        k = f"k{self.counter}"
        cond = self.expr("bool") if self.chance(60) else "True"
        # The counter goes up first thing in the body, so `continue` cannot skip it.
        body = self.loop_body(indent + 1)
        lines = [f"{pad}{k} = 0", f"{pad}while {k} < {self.num(0, MAX_LOOP)} and {cond}:",
                 f"{pad}    {k} += 1", *body]
        if self.chance(15):
            lines += [f"{pad}else:", *self.block(indent + 1, 2)]
        return lines

    def stmt_generator(self, pad: str, indent: int) -> list[str]:
        """A nested generator (its expressions read the locals as free variables), then one use."""
        self.counter += 1
        g = f"g{self.counter}"
        source = self.pick(["range(2)", "(j * 2 for j in range(k))", "[]", f"{self.pick(['s0', 'l0'])}[:3]"])
        lines = [f"{pad}def {g}(k):",
                 f"{pad}    for j in range(k % {MAX_LOOP + 1}):",
                 f"{pad}        sent = yield {self.expr('int')}",
                 f"{pad}        if sent is not None:",
                 f"{pad}            yield sent",
                 f"{pad}    yield from {source}",
                 f"{pad}    return {self.expr(self.pick(KINDS))}"]
        n = self.pick(["0", "2", "a", f"{self.num(1, 3)}"])
        use = self.num(0, 3)
        if use == 0:
            return lines + [f"{pad}l0 = list({g}({n}))[:12]"]
        if use == 1:
            return lines + [f"{pad}i0 = sum({g}({n})) % 10007"]
        if use == 2:
            return lines + [f"{pad}t0 = tuple(v for v in {g}({n}) if v)"]
        return lines + [f"{pad}it{self.counter} = {g}({n})",
                        f"{pad}i1 = next(it{self.counter}, -1)",
                        f"{pad}s0 = str(it{self.counter}.send({self.expr('int')}))"]

    def stmt_break(self, pad: str, indent: int) -> list[str]:
        return [f"{pad}if {self.expr('bool')}:", f"{pad}    break"]

    def stmt_continue(self, pad: str, indent: int) -> list[str]:
        return [f"{pad}if {self.expr('bool')}:", f"{pad}    continue"]

    def stmt_raise(self, pad: str, indent: int) -> list[str]:
        exc = self.pick(["ValueError", "KeyError", "TypeError", "IndexError", "ZeroDivisionError"])
        return [f"{pad}if {self.expr('bool')}:", f"{pad}    raise {exc}({self.expr('str')})"]

    def stmt_reraise(self, pad: str, indent: int) -> list[str]:
        return [f"{pad}if {self.expr('bool')}:", f"{pad}    raise"]

    def stmt_unpack(self, pad: str, indent: int) -> list[str]:
        # Too many or too few values raise ValueError, a non-iterable TypeError.
        targets = self.pick(["i0, s0", "s1, i1, f0", "i2, *l0", "f1, (i0, i1)"])
        value = self.expr(self.pick(["tuple", "list", "str", "dict", "int"]))
        return [f"{pad}{targets} = {value}"]

    def stmt_delete(self, pad: str, indent: int) -> list[str]:
        return [f"{pad}del {self.pick(self.loop_vars)}"]  # UnboundLocalError if the loop never ran

    def stmt_return(self, pad: str, indent: int) -> list[str]:
        return [f"{pad}if {self.expr('bool')}:", f"{pad}    return {self.expr(self.pick(KINDS))}"]

    def stmt_try(self, pad: str, indent: int) -> list[str]:
        lines = [f"{pad}try:", *self.block(indent + 1)]
        outer_handler = self.in_handler
        for _ in range(self.num(0, 2)):
            exc = self.pick(EXCEPTIONS)
            if self.chance(30):
                exc = f"({exc}, {self.pick(EXCEPTIONS)})"
            lines.append(f"{pad}except {exc} as e:")
            self.handled = True
            lines.append(f"{pad}    print('caught', type(e).__name__, e)")
            self.in_handler = True
            if self.chance(60):
                lines += self.block(indent + 1, 2)
            self.in_handler = outer_handler
        has_except = any(line.startswith(f"{pad}except") for line in lines)
        if has_except and self.chance(25):
            lines += [f"{pad}else:", *self.block(indent + 1, 2)]
        if not has_except or self.chance(25):
            lines += [f"{pad}finally:", f"{pad}    print('finally', i1)", *self.block(indent + 1, 2)]
        return lines

    def program(self) -> Program:
        lines = ["def f(a, b):"]
        lines += [f"    {name} = {value}" for name, value in LOCALS.items()]
        lines += self.block(1, 8)
        lines.append(f"    return ({', '.join(LOCALS)})")
        a = self.pick([0, 1, 3, -2, 10, 7])
        b = self.pick(["", "q", "xyz", "12"])
        return Program("\n".join(lines) + "\n", (a, b))


@st.composite
def programs(draw: Callable[[st.SearchStrategy[Any]], Any], max_statements: int = 12) -> Program:
    """A strategy for `Program`s of at most about `max_statements` statements."""
    return _Gen(draw, max_statements).program()


__all__ = ["Program", "programs"]
