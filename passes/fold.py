"""Constant evaluation for folding: run an operation's own `impl` (the callable the VM runs) on
literal operands, but only when that is safe.

Never folded: operations that write memory or take attributes (their `impl` signature varies),
operands that are not plain literals (`undef`, opaque objects such as code), results that are not
literals (a list is mutable: each execution must build a new one), results bigger than
`MAX_LEN` items or `MAX_BITS` bits, anything that raises (the instruction stays, so the program
still raises at run time), and identity tests on objects whose identity CPython does not fix. Sizes
are estimated *before* computing, so `2 ** 10**9` or `"x" * 10**9` cost nothing.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from zir.ir import UNBOUND, Const, Value
from zir.ops import OpDef, W

#: The largest str/bytes/tuple length a fold may produce.
MAX_LEN = 256
#: The largest int (in bits) a fold may produce.
MAX_BITS = 4096

_SCALARS = (int, float, complex, str, bytes, bool, type(None), type(Ellipsis))
_SINGLETONS = (type(None), bool, type(Ellipsis))


def is_literal(value: Any, depth: int = 0) -> bool:
    """Whether `value` is a literal the text form can spell (tuples/frozensets of literals too)."""
    if value is UNBOUND:
        return False
    if type(value) in _SCALARS:
        return True
    if type(value) in (tuple, frozenset) and depth < 8:
        return all(is_literal(v, depth + 1) for v in value)
    return False


def _size(value: Any) -> int:
    """Length of a sequence, bits of an int, 0 for other scalars (a rough measure of cost)."""
    if type(value) is int:
        return value.bit_length()
    if isinstance(value, (str, bytes, tuple, frozenset)):
        return len(value)
    return 0


def _too_big(value: Any) -> bool:
    if type(value) is int:
        return value.bit_length() > MAX_BITS
    if isinstance(value, (str, bytes)):
        return len(value) > MAX_LEN
    if isinstance(value, (tuple, frozenset)):
        return len(value) > MAX_LEN or any(_too_big(v) for v in value)
    return False


def _bits(x: Any) -> int:
    return abs(int(x)).bit_length() if isinstance(x, (int, bool)) else 0


def _estimate_too_big(impl: Any, args: list[Any]) -> bool:
    """Would applying `impl` to `args` build something over the caps? Checked before computing."""
    if any(_too_big(a) for a in args):
        return True
    if impl in (operator.pow, operator.ipow) and len(args) == 2:
        base, exp = args
        if isinstance(base, (int, bool)) and isinstance(exp, (int, bool)) and exp > 0 and abs(base) > 1:
            # the result has about exp * log2|base| bits (the exact check follows the computation)
            return int(exp) * math.log2(abs(base)) > MAX_BITS + 1
        if isinstance(exp, (int, bool)) and abs(int(exp)) > 10_000 and not isinstance(base, (int, bool)):
            # float/complex powers are bounded in size, but keep the work bounded as well
            return True
        return False
    if impl in (operator.lshift, operator.ilshift) and len(args) == 2:
        x, n = args
        if isinstance(x, (int, bool)) and isinstance(n, (int, bool)) and n > 0 and x != 0:
            return _bits(x) + int(n) > MAX_BITS
        return False
    if impl in (operator.mul, operator.imul) and len(args) == 2:
        a, b = args
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, bytes, tuple)) and isinstance(n, (int, bool)):
                return len(seq) * max(int(n), 0) > MAX_LEN
        if isinstance(a, (int, bool)) and isinstance(b, (int, bool)):
            return _bits(a) + _bits(b) > MAX_BITS
        return False
    if impl in (operator.mod, operator.imod) and len(args) == 2 and isinstance(args[0], (str, bytes)):
        # printf-style formatting: a width or precision (or '*') can ask for a huge result
        fmt = args[0]
        text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
        return any(c.isdigit() or c == "*" for c in text)
    if impl in (operator.add, operator.iadd) and len(args) == 2:
        return sum(_size(a) for a in args if isinstance(a, (str, bytes, tuple))) > MAX_LEN
    # a variadic builder of strings or tuples
    if all(isinstance(a, (str, bytes)) for a in args) and len(args) > 1:
        return sum(len(a) for a in args) > MAX_LEN
    return len(args) > MAX_LEN


def foldable(op: OpDef) -> bool:
    """Whether the table row is one constant folding may evaluate at all."""
    return (op.impl is not None and op.defines and not op.terminator and not op.attrs
            and not op.effects & W)


def evaluate(op: OpDef, args: list[Value]) -> tuple[bool, Any]:
    """`(True, result)` when `op` applied to the literal operands `args` may be folded to `result`,
    else `(False, None)` (not a foldable row, non-literal operand, would raise, too big)."""
    if not foldable(op):
        return False, None
    values = []
    for a in args:
        if not isinstance(a, Const) or not is_literal(a.value):
            return False, None
        values.append(a.value)
    impl = op.impl
    assert impl is not None
    if impl in (operator.is_, operator.is_not) and not all(type(v) in _SINGLETONS for v in values):
        # `1000 is 1000` depends on how constants are shared; only singletons have fixed identity
        return False, None
    if _estimate_too_big(impl, values):
        return False, None
    try:
        result = impl(*values)
    except Exception:
        return False, None
    if not is_literal(result) or _too_big(result):
        return False, None
    return True, result


def propagatable(c: Const) -> bool:
    """Whether a constant may be copied into operands (literals and undef; not opaque objects)."""
    return c.value is UNBOUND or is_literal(c.value)


def truth(value: Value) -> bool | None:
    """The truth of a literal operand, or None when it is not a literal (never calls user code)."""
    if isinstance(value, Const) and is_literal(value.value):
        return bool(value.value)
    return None
