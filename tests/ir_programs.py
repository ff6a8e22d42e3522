"""Random *executable* IR programs, shaped like what lifting Python produces, for semantic tests of
passes: run a program with `tests/ir_interp.py` before and after a pipeline and compare.

A program has two parameters and a few locals assigned many times (non-SSA form), stack-slot
temporaries `%$0`, `%$1` reused by every expression, `check_bound` before every read (so `del`
and never-assigned locals raise UnboundLocalError), structured control flow (if/else, bounded
loops with break/continue, try/except with nested handlers, early returns that leave unreachable
blocks behind), and operations that may raise (division by zero, `str + int`). Literals include
bools, floats (-0.0, nan-free) and strings, so type-unsound rewrites change results.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from zir.builder import Builder
from zir.ir import UNBOUND, Block, Const, Function, Instr, Value, Var

#: DESIGN.md's example (docs/examples/sum_squares.zir): a loop summing i*i for i < n, before SSA;
#: the small hand-written function several suites start from.
SUM_SQUARES = (Path(__file__).resolve().parents[1] / "docs" / "examples" / "sum_squares.zir").read_text()

LOCALS = ["a", "b", "c"]
PARAMS = ["p", "q"]
BINOPS = ["add", "sub", "mul", "floordiv", "mod", "truediv", "and", "or", "xor", "lt", "eq", "ne",
          "add", "sub"]
LITERALS: list[Any] = [0, 1, 2, 3, -1, 7, 0, 1, True, False, -0.0, 1.5, "s", 10]

# The AST: ("assign", name, expr) | ("del", name) | ("if", cond, then, else) | ("loop", n, body)
# | ("break",) | ("continue",) | ("try", body, handler) | ("return", expr)
# expr: ("var", name) | ("lit", value) | ("bin", op, e1, e2) | ("not", e) | ("neg", e)


@functools.cache
def exprs(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.one_of(st.tuples(st.just("var"), st.sampled_from(LOCALS + PARAMS)),
                     st.tuples(st.just("lit"), st.sampled_from(LITERALS)))
    if depth == 0:
        return leaf
    sub = exprs(depth - 1)
    return st.one_of(
        leaf, leaf,
        st.tuples(st.just("bin"), st.sampled_from(BINOPS), sub, sub),
        st.tuples(st.just("not"), sub),
        st.tuples(st.just("neg"), sub),
    )


@functools.cache
def stmts(depth: int, in_loop: bool) -> st.SearchStrategy[list[Any]]:
    simple = [
        st.tuples(st.just("assign"), st.sampled_from(LOCALS), exprs()),
        st.tuples(st.just("assign"), st.sampled_from(LOCALS), exprs()),
        st.tuples(st.just("del"), st.sampled_from(LOCALS)),
    ]
    if in_loop:
        simple += [st.just(("break",)), st.just(("continue",))]
    options = list(simple)
    if depth > 0:
        inner = stmts(depth - 1, in_loop)
        options += [
            st.tuples(st.just("if"), exprs(1), inner, inner),
            st.tuples(st.just("loop"), st.integers(0, 3), stmts(depth - 1, True)),
            st.tuples(st.just("try"), inner, inner),
        ]
    options.append(st.tuples(st.just("return"), exprs(1)))
    return st.lists(st.one_of(*options), max_size=4)


@st.composite
def programs(draw: st.DrawFn, depth: int = 2) -> Function:
    """A random function `@prog(%p, %q)` in non-SSA form (see the module docstring)."""
    init = draw(st.lists(st.tuples(st.sampled_from(LOCALS), st.sampled_from(LITERALS)), max_size=3))
    body = draw(stmts(depth, False))
    result = draw(exprs(1))
    return compile_program(init, body, result)


class _Emitter:
    def __init__(self) -> None:
        self.b = Builder("prog", PARAMS)
        self.handler: str | None = None
        self.loops: list[tuple[str, str]] = []  # (continue target, break target)
        self.counter = 0

    def label(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}{self.counter}"

    def new_block(self, hint: str) -> Block:
        blk = self.b.block(self.label(hint))
        blk.handler = self.handler
        return blk

    def emit(self, op: str, dest: Var | None, args: list[Value], **attrs: Any) -> None:
        self.b.emit(Instr(op, dest, args, dict(attrs)))

    def expr(self, e: Any, depth: int = 0) -> Value:
        kind = e[0]
        if kind == "lit":
            return Const(e[1])
        if kind == "var":
            self.emit("check_bound", None, [Var(e[1])], name=e[1])
            return Var(e[1])
        slot = Var(f"${depth}")
        if kind == "bin":
            lhs = self.expr(e[2], depth)
            rhs = self.expr(e[3], depth + 1)
            self.emit(e[1], slot, [lhs, rhs])
            return slot
        operand = self.expr(e[1], depth)
        self.emit(kind, slot, [operand])
        return slot

    def terminate(self, instr: Instr) -> None:
        self.b.emit(instr)
        # what follows a jump is dead code, as in lifted bytecode
        self.b.at(self.new_block("dead"))

    def stmt(self, s: Any) -> None:
        kind = s[0]
        if kind == "assign":
            v = self.expr(s[2])
            self.emit("copy", Var(s[1]), [v])
        elif kind == "del":
            self.emit("check_bound", None, [Var(s[1])], name=s[1])
            self.emit("const", Var(s[1]), [Const(UNBOUND)])
        elif kind == "return":
            self.terminate(Instr("ret", None, [self.expr(s[1])]))
        elif kind == "break":
            self.terminate(Instr("br", None, [], {}, [self.loops[-1][1]]))
        elif kind == "continue":
            self.terminate(Instr("br", None, [], {}, [self.loops[-1][0]]))
        elif kind == "if":
            cond = self.expr(s[1])
            then, other, join = self.new_block("then"), self.new_block("else"), self.new_block("join")
            self.b.emit(Instr("cbr", None, [cond], {}, [then.label, other.label]))
            for blk, body in ((then, s[2]), (other, s[3])):
                self.b.at(blk)
                self.block(body)
                self.b.emit(Instr("br", None, [], {}, [join.label]))
            self.b.at(join)
        elif kind == "loop":
            k = Var(self.label("k"))
            self.emit("const", k, [Const(0)])
            head, body, latch, done = (self.new_block(h) for h in ("head", "body", "latch", "done"))
            self.b.emit(Instr("br", None, [], {}, [head.label]))
            self.b.at(head)
            c = Var("$c")
            self.emit("lt", c, [k, Const(s[1])])
            self.b.emit(Instr("cbr", None, [c], {}, [body.label, done.label]))
            self.b.at(body)
            self.loops.append((latch.label, done.label))
            self.block(s[2])
            self.loops.pop()
            self.b.emit(Instr("br", None, [], {}, [latch.label]))
            self.b.at(latch)
            self.emit("add", k, [k, Const(1)])
            self.b.emit(Instr("br", None, [], {}, [head.label]))
            self.b.at(done)
        elif kind == "try":
            outer = self.handler
            handler = self.new_block("except")
            join = self.new_block("endtry")
            self.handler = handler.label
            body = self.new_block("try")
            self.b.emit(Instr("br", None, [], {}, [body.label]))
            self.b.at(body)
            self.block(s[1])
            self.b.emit(Instr("br", None, [], {}, [join.label]))
            self.handler = outer
            self.b.at(handler)
            self.emit("catch", Var("$e"), [])
            self.block(s[2])
            self.b.emit(Instr("br", None, [], {}, [join.label]))
            self.b.at(join)
        else:
            raise AssertionError(s)

    def block(self, body: list[Any]) -> None:
        for s in body:
            self.stmt(s)


def compile_program(init: list[tuple[str, Any]], body: list[Any], result: Any) -> Function:
    """Compile the AST pieces `programs` draws into a non-SSA IR function."""
    em = _Emitter()
    for name, value in init:
        em.emit("const", Var(name), [Const(value)])
    em.block(body)
    em.b.emit(Instr("ret", None, [em.expr(result)]))
    return em.b.finish()


#: Argument pairs every program is run on.
ARGS: list[tuple[Any, Any]] = [(0, 0), (3, 1), (-2, 5), (True, "x"), (1.5, 0)]
