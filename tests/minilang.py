"""minilang: a tiny language compiled to ZBC with zir's CodeBuilder (docs/language-frontend.md).

    fn gcd(a, b)          # one function per source; `#` starts a comment
      while b != 0        # while / if / else blocks close with `end`
        t = a % b
        a = b
        b = t
      end
      return a            # also: NAME = expr, print expr, if expr ... else ... end
    end

Expressions: integers, names, parentheses, unary `-`, `* / %`, `+ -`, comparisons
`< <= > >= == !=` (lowest). `/` divides integers (Python's `//`).
"""

import re

from zir.bytecode import Code, CodeBuilder
from zir.errors import ParseError

TOKEN = re.compile(r"\s*(?:(\d+)|(\w+)|(<=|>=|==|!=|[-+*/%<>()=,]))")
#: Binary operators by precedence level, lowest first, with the ZBC instruction of each.
LEVELS = [{"<": "LT", "<=": "LE", ">": "GT", ">=": "GE", "==": "EQ", "!=": "NE"},
          {"+": "ADD", "-": "SUB"}, {"*": "MUL", "/": "FLOORDIV", "%": "MOD"}]


class Compiler:
    """A one-pass compiler: a recursive-descent parser that emits ZBC as it parses."""

    def __init__(self, source: str, filename: str = "<minilang>") -> None:
        self.filename = filename
        self.lines = [(n, text.split("#")[0].strip()) for n, text in enumerate(source.splitlines(), 1)]
        self.lines = [(n, text) for n, text in self.lines if text]
        self.pos = 0

    def error(self, message: str, line: int) -> ParseError:
        return ParseError(message, self.filename, line, 1)

    def function(self) -> Code:
        """`fn NAME(PARAMS)`, a body, `end`: one function, as a verified Code."""
        line, text = self.lines[0] if self.lines else (1, "")
        m = re.fullmatch(r"fn\s+(\w+)\s*\(([\w\s,]*)\)", text)
        if m is None:
            raise self.error("expected `fn NAME(PARAMS)`", line)
        params = [p.strip() for p in m[2].split(",") if p.strip()]
        self.cb = CodeBuilder(m[1], params=params, filename=self.filename, firstlineno=line)
        self.pos = 1
        if self.block() != "end" or self.pos != len(self.lines):
            raise self.error("expected `end` to close the function, then nothing", self.lines[-1][0])
        self.cb.emit("LOAD_CONST", None)  # falling off the end returns None, as in Python
        self.cb.emit("RETURN_VALUE")
        return self.cb.finish()

    def block(self) -> str:
        """Statements up to `end` or `else`, which it consumes and returns."""
        while self.pos < len(self.lines):
            line, text = self.lines[self.pos]
            self.pos += 1
            if text in ("end", "else"):
                return text
            self.cb.line(line)
            self.statement(line, text)
        raise self.error("missing `end`", self.lines[-1][0])

    def statement(self, line: int, text: str) -> None:
        word, _, rest = text.partition(" ")
        cb = self.cb
        if word in ("while", "if"):
            top, other, done = cb.label(), cb.label(), cb.label()
            cb.place(top)
            self.expression(rest, line)
            cb.emit("POP_JUMP_IF_FALSE", other)
            closer = self.block()
            cb.emit("JUMP", top if word == "while" else done)
            cb.place(other)
            if closer == "else":
                if word == "while" or self.block() != "end":
                    raise self.error("`else` belongs to an `if` and ends with `end`", line)
            cb.place(done)
        elif word == "return":
            self.expression(rest, line)
            cb.emit("RETURN_VALUE")
        elif word == "print":
            cb.emit("LOAD_GLOBAL", "print")
            self.expression(rest, line)
            cb.emit("CALL", 1)
            cb.emit("POP_TOP")
        elif (m := re.fullmatch(r"(\w+)\s*=(?!=)(.*)", text)) is not None:
            self.expression(m[2], line)
            cb.emit("STORE_FAST", m[1])
        else:
            raise self.error(f"cannot read statement {text!r}", line)

    def expression(self, text: str, line: int) -> None:
        """Emit code that leaves the value of `text` on the stack."""
        self.tokens = [next(t for t in m.groups() if t) for m in TOKEN.finditer(text)]
        if "".join(self.tokens) != "".join(text.split()):
            raise self.error(f"cannot read expression {text.strip()!r}", line)
        self.k, self.at = 0, line
        self.binary(0)
        if self.k != len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.k]!r} in {text.strip()!r}", line)

    def binary(self, level: int) -> None:
        if level == len(LEVELS):
            return self.unary()
        self.binary(level + 1)
        while self.k < len(self.tokens) and self.tokens[self.k] in LEVELS[level]:
            op = LEVELS[level][self.tokens[self.k]]
            self.k += 1
            self.binary(level + 1)
            self.cb.emit(op)

    def unary(self) -> None:
        tok = self.tokens[self.k] if self.k < len(self.tokens) else "end of line"
        self.k += 1
        if tok == "-":
            self.unary()
            self.cb.emit("NEG")
        elif tok == "(":
            self.binary(0)
            if self.k >= len(self.tokens) or self.tokens[self.k] != ")":
                raise self.error("missing `)`", self.at)
            self.k += 1
        elif tok.isdigit():
            self.cb.emit("LOAD_CONST", int(tok))
        elif tok.isidentifier():
            self.cb.emit("LOAD_FAST", tok)
        else:
            raise self.error(f"expected a value, found {tok!r}", self.at)


def compile_function(source: str, filename: str = "<minilang>") -> Code:
    """Compile one minilang function to ZBC (raises zir.ParseError naming file:line)."""
    return Compiler(source, filename).function()
