"""A tokenizer for a small expression language, run over generated source text.

The language has integers, floats with exponents, strings with backslash escapes, names and
keywords, one- and two-character operators, brackets, `#` comments and newlines. The source is
generated deterministically from a linear congruential generator and contains a few stray
characters and unterminated strings; the tokenizer raises `LexError` for each, and the driver counts
it and resumes after it.

Exercises: string indexing and slicing, `str` methods (`isdigit`, `isalpha`, `isalnum`, `isspace`,
`startswith`, `join`, `format`, `lower`), dict lookups with `get` and `in`, f-strings, a class with
methods and attribute state, a user-defined exception raised and caught across a method call,
`try`/`except`/`else`, `while` loops with `break`, sorting a list of tuples. Result: the token count
per kind (sorted) and a checksum over every token's kind and text.
"""

from __future__ import annotations

NUMERIC = False
SIZES = {"test": 30, "bench": 3000}

KEYWORDS = {"let": "LET", "if": "IF", "then": "THEN", "else": "ELSE", "end": "END", "while": "WHILE",
            "do": "DO", "fn": "FN", "return": "RETURN", "and": "AND", "or": "OR", "not": "NOT"}
TWO_CHAR_OPS = {":=", "==", "!=", "<=", ">=", "//", "**", "->"}
ONE_CHAR_OPS = {"+": "PLUS", "-": "MINUS", "*": "STAR", "/": "SLASH", "%": "PERCENT", "<": "LT", ">": "GT",
                "=": "EQ", "(": "LPAREN", ")": "RPAREN", "[": "LBRACK", "]": "RBRACK", ",": "COMMA",
                ";": "SEMI", ":": "COLON"}
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"'}
KIND_CODES = {"NUMBER": 1, "FLOAT": 2, "STRING": 3, "NAME": 4, "OP": 5, "NEWLINE": 6, "COMMENT": 7}


class LexError(Exception):
    """Text the language does not allow: `reason` says what, `pos` is its offset in the source."""

    def __init__(self, reason: str, pos: int) -> None:
        super().__init__(f"{reason} at offset {pos}")
        self.reason = reason
        self.pos = pos


class Token:
    """A token: its kind (e.g. NUMBER, LET, PLUS), its text and where it starts."""

    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos


class Lexer:
    """Scans `source` one token at a time with `next_token`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0

    def peek(self, offset: int = 0) -> str:
        """The character `offset` places ahead, or '' at the end."""
        i = self.pos + offset
        return self.source[i] if i < len(self.source) else ""

    def next_token(self) -> Token | None:
        """The next token (None at the end of the source); raises LexError on a stray character."""
        src = self.source
        while self.pos < len(src) and src[self.pos] in " \t\r":
            self.pos += 1
        if self.pos >= len(src):
            return None
        start = self.pos
        ch = src[start]
        if ch == "\n":
            self.pos += 1
            return Token("NEWLINE", ch, start)
        if ch == "#":
            end = src.find("\n", start)
            self.pos = len(src) if end < 0 else end
            return Token("COMMENT", src[start : self.pos], start)
        if ch.isdigit():
            return self.number(start)
        if ch.isalpha() or ch == "_":
            while self.peek().isalnum() or self.peek() == "_":
                self.pos += 1
            word = src[start : self.pos]
            return Token(KEYWORDS.get(word.lower(), "NAME"), word, start)
        if ch == '"':
            return self.string(start)
        pair = src[start : start + 2]
        if pair in TWO_CHAR_OPS:
            self.pos += 2
            return Token("OP", pair, start)
        if ch in ONE_CHAR_OPS:
            self.pos += 1
            return Token(ONE_CHAR_OPS[ch], ch, start)
        self.pos += 1
        raise LexError(f"unexpected character {ch!r}", start)

    def number(self, start: int) -> Token:
        """An integer, or a float with a fraction and/or an exponent."""
        kind = "NUMBER"
        while self.peek().isdigit():
            self.pos += 1
        if self.peek() == "." and self.peek(1).isdigit():
            kind = "FLOAT"
            self.pos += 1
            while self.peek().isdigit():
                self.pos += 1
        if self.peek() in ("e", "E") and (self.peek(1).isdigit() or self.peek(1) in "+-"):
            kind = "FLOAT"
            self.pos += 2
            while self.peek().isdigit():
                self.pos += 1
        return Token(kind, self.source[start : self.pos], start)

    def string(self, start: int) -> Token:
        """A double-quoted string; the token text is the decoded value."""
        self.pos += 1
        parts = []
        while True:
            ch = self.peek()
            if ch == "" or ch == "\n":
                raise LexError("unterminated string", start)
            self.pos += 1
            if ch == '"':
                break
            if ch == "\\":
                escaped = self.peek()
                self.pos += 1
                parts.append(ESCAPES.get(escaped, "\\" + escaped))
            else:
                parts.append(ch)
        return Token("STRING", "".join(parts), start)


def generate(lines: int, seed: int) -> str:
    """Deterministic pseudo-random source text of `lines` lines."""
    names = ["x", "total", "count_2", "Alpha", "_tmp", "value", "IF", "then_"]
    words = list(KEYWORDS)
    ops = sorted(TWO_CHAR_OPS) + list(ONE_CHAR_OPS)
    out = []
    state = seed
    for i in range(lines):
        parts = []
        for _ in range(6 + i % 5):
            # Two draws: one picks the kind of piece, the other the piece, so they are independent.
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            choice = (state >> 16) % 20
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            pick = state >> 16
            if choice < 3:
                parts.append(str(pick % 1000))
            elif choice < 5:
                parts.append("{}.{}e{}{}".format(pick % 97, pick % 13, "-" if pick & 1 else "+", pick % 7))
            elif choice < 7:
                parts.append('"s{}\\n\\"q\\{}"'.format(pick % 50, "t" if pick & 2 else "x"))
            elif choice < 11:
                parts.append(names[pick % len(names)])
            elif choice < 13:
                parts.append(words[pick % len(words)])
            elif choice < 14:
                parts.append(f"({names[pick % 3]}, {pick % 9})")
            elif choice == 14 and pick % 5 == 0:
                # Not in the language: a stray character, or a string left open to the line's end.
                parts.append(["@", "$", '"open'][pick % 3])
            else:
                parts.append(ops[pick % len(ops)])
        line = " ".join(parts)
        if i % 4 == 3:
            line += f"  # note {i}"
        out.append(line)
    return "\n".join(out) + "\n"


def tokenize(source: str) -> tuple[list[Token], dict[str, int]]:
    """All tokens of `source`, and how many times each kind of error was skipped."""
    lexer = Lexer(source)
    tokens = []
    errors: dict[str, int] = {}
    while True:
        try:
            token = lexer.next_token()
        except LexError as err:
            errors[err.reason] = errors.get(err.reason, 0) + 1
            continue
        else:
            if token is None:
                break
        tokens.append(token)
    return tokens, errors


def run(n: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """Tokenize n generated lines; return (sorted (kind, count) pairs, sorted error counts, checksum)."""
    tokens, errors = tokenize(generate(n, 2024))
    counts: dict[str, int] = {}
    checksum = 0
    for token in tokens:
        counts[token.kind] = counts.get(token.kind, 0) + 1
        code = KIND_CODES.get(token.kind, 8 + len(token.kind))
        for ch in token.text:
            checksum = (checksum * 31 + ord(ch) + code) % 1000000007
    return sorted(counts.items()), sorted(errors.items()), checksum
