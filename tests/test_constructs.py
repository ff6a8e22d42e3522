"""The differential construct suite: small hand-written functions, one construct each, run in CPython
and in the stack VM (`tools/difftest.py`), compared on return value, exception type and message,
and stdout. Every function also goes through `zir.frontend.from_python` and `zir.bytecode.verify`.

Each function is registered with `@case(...)` and several argument sets, including ones that raise.
A case the VM gets wrong is marked `xfail(strict=True, reason="VM: ...")` via `case(..., xfail=...)`.

PYTEST_DONT_REWRITE: the `assert` cases must keep CPython's own assert bytecode.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import zir
import zir.bytecode
from zir.frontend import from_python

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tools` is a directory of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from tools.difftest import compare, fresh  # noqa: E402

#: The configuration this suite checks: the stack VM at O0 runs exactly what the front end made.
STACK = [("stack", 0)]


class Args:
    """One argument set: positional and keyword arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs
        self.xfail_reason: str | None = None

    def xfail(self, reason: str) -> Args:
        """Mark this argument set as a known VM bug (strict xfail)."""
        self.xfail_reason = reason
        return self

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return ", ".join(parts)


CASES: list[tuple[Callable[..., Any], list[Args], str | None]] = []


def case(*argsets: Any, xfail: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function with argument sets (a tuple of positional args, or an `Args`)."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        sets = [a if isinstance(a, Args) else Args(*a) for a in argsets] or [Args()]
        CASES.append((fn, sets, xfail))
        return fn

    return register


# ==================================================================================================
# Module-level helpers the cases use (globals, classes, functions to call)

G_SCALE = 10
G_NAMES = ["ann", "bob"]
G_RESULT: Any = None


class Point:
    """A plain class with methods, properties and operators."""

    def __init__(self, x: Any, y: Any = 0) -> None:
        self.x = x
        self.y = y

    def norm1(self) -> Any:
        return abs(self.x) + abs(self.y)

    def moved(self, dx: Any = 0, *, dy: Any = 0) -> Point:
        return Point(self.x + dx, self.y + dy)

    def __matmul__(self, other: Point) -> Any:
        return self.x * other.x + self.y * other.y

    def __repr__(self) -> str:
        return f"Point({self.x}, {self.y})"

    @property
    def swapped(self) -> Point:
        return Point(self.y, self.x)


class Manager:
    """A context manager that logs and optionally swallows exceptions."""

    def __init__(self, name: str, swallow: bool = False) -> None:
        self.name = name
        self.swallow = swallow

    def __enter__(self) -> str:
        print("enter", self.name)
        return self.name.upper()

    def __exit__(self, tp: Any, value: Any, tb: Any) -> bool:
        print("exit", self.name, tp.__name__ if tp else None, value)
        return self.swallow


class Failing(Exception):
    """A user exception class with an extra attribute."""

    def __init__(self, code: int) -> None:
        super().__init__(f"failing {code}")
        self.code = code


def helper_kw(a: Any, b: Any = 2, *rest: Any, c: Any = 3, **kw: Any) -> Any:
    return (a, b, rest, c, sorted(kw.items()))


def helper_posonly(a: Any, b: Any, /, c: Any, *, d: Any) -> Any:
    return a + b + c + d


def helper_raise(kind: str) -> Any:
    if kind == "value":
        raise ValueError("bad value")
    if kind == "key":
        return {}["missing"]
    if kind == "fail":
        raise Failing(7)
    return kind


# ==================================================================================================
# Arithmetic


@case((7, 2), (-7, 2), (7.5, -2), (2, 0), ("a", 1), (10**20, 3))
def arith_binary(a, b):
    return a + b, a - b, a * b, a / b, a // b, a % b, a ** 2


@case((5, 3), (-5, 2), (5, -1), (1.5, 2))
def arith_bits(a, b):
    return a & b, a | b, a ^ b, a << b, a >> b


@case((5,), (-3,), (0,), ("s",), (2.5,))
def arith_unary(a):
    return -a, +a, ~a


@case((3, 4), (10, 3), (0, 0), ([1], 2))
def arith_augmented(a, b):
    x = a
    x += b
    x -= 1
    x *= 3
    x //= 2
    x %= 1000
    x **= 2
    x <<= 2
    x >>= 1
    x &= 0xFFFF
    x |= 1
    x ^= 6
    return x


@case((7.0, 2.0), (1.0, 0.0), (-0.0, 1.0), (1e308, 10.0))
def arith_float(a, b):
    x = a
    x /= b
    return x, a * b, a - b, math.floor(a / 3), divmod(a, b)


@case((Point(1, 2), Point(3, 4)), (Point(1, 2), 3))
def arith_matmul(p, q):
    r = p @ q
    return r


@case(("ab", 3), ([1, 2], 2), ("x", "y"))
def arith_sequences(s, n):
    return s * n, s + s, n * s


# ==================================================================================================
# Comparisons, identity, membership, boolean operators


@case((1, 2), (2, 2), ("b", "a"), (1, "a"), (1.0, 1), ([1, 2], [1, 3]))
def compare_all(a, b):
    return a < b, a <= b, a == b, a != b, a > b, a >= b


@case((1, 2, 3), (3, 2, 1), (1, 1, 2), (1, "x", 2))
def compare_chained(a, b, c):
    r1 = a < b < c
    r2 = a == b != c
    r3 = a <= b >= c
    if a < b <= c:
        return ("ordered", r1, r2, r3)
    return ("not", r1, r2, r3)


@case((None, None), (1, None), (G_NAMES, G_NAMES), ([], []))
def compare_identity(a, b):
    out = [a is b, a is not b, a is None, b is not None]
    if a is None:
        out.append("a-none")
    if b is not None:
        out.append("b-set")
    return out


@case((2, [1, 2, 3]), ("x", "xyz"), (5, {5: 1}), (1, 7), ("k", {"k"}))
def compare_membership(x, c):
    r = [x in c, x not in c]
    if x in c:
        r.append("in")
    if x not in c:
        r.append("out")
    return r


@case((0, 5), (3, 0), (3, 5), ("", None), ([], [1]))
def bool_shortcircuit(a, b):
    r1 = a and b
    r2 = a or b
    r3 = not a
    r4 = (a and b) or (not a and "fallback")
    r5 = a if b else "else"
    return r1, r2, r3, r4, r5


def _noisy(tag, value):
    print("eval", tag)
    return value


@case((True, False), (False, True), (1, 1), (0, 0))
def bool_side_effects(a, b):
    if _noisy("a", a) and _noisy("b", b):
        print("both")
    if _noisy("a", a) or _noisy("b", b):
        print("either")
    x = _noisy("x", a) or _noisy("y", b) or _noisy("z", "last")
    return x


@case((1, 2), (0, 0), (None, 1))
def bool_not_in_conditions(a, b):
    count = 0
    if not a:
        count += 1
    if not (a and b):
        count += 10
    if not a or not b:
        count += 100
    while not count:
        count = -1
    return count


# ==================================================================================================
# Locals, globals, builtins, del


@case((3,), (-2,), ("x",))
def names_globals_builtins(n):
    return G_SCALE * n, len(G_NAMES), abs(n), max(G_NAMES), isinstance(n, int)


@case((1,))
def names_undefined_global(n):
    return n + undefined_global_name  # noqa: F821


@case((True,), (False,))
def names_unbound_local(flag):
    if flag:
        x = 1
    return x  # noqa: F821


@case((5,), ("v",))
def names_global_statement(v):
    global G_RESULT
    G_RESULT = v
    G_RESULT = G_RESULT * 2
    return G_RESULT


@case((1,))
def names_del_global(v):
    global G_TEMPORARY
    G_TEMPORARY = v
    del G_TEMPORARY
    return G_TEMPORARY  # noqa: F821


@case((1,), (0,))
def names_del_local(flag):
    x = 10
    y = x
    del x
    if flag:
        return y
    return x  # noqa: F821


@case((0,), (2,))
def names_del_twice(n):
    x = 1
    del x
    if n:
        x = n
    del x
    return "deleted"


# ==================================================================================================
# Attributes


@case((1, 2), (-3, 4), ("a", "b"))
def attr_get_set_del(x, y):
    p = Point(x, y)
    p.x = p.y
    p.z = "extra"
    r = (p.x, p.y, p.z, p.norm1() if not isinstance(x, str) else None)
    del p.z
    return r, hasattr(p, "z"), p.swapped.x


@case((1,))
def attr_missing(x):
    p = Point(x)
    return p.missing


@case((1,))
def attr_del_missing(x):
    p = Point(x)
    del p.nothing


@case((2, 3), (0, 0), ("a", "b"))
def attr_augmented_and_methods(a, b):
    p = Point(a, b)
    p.x += p.y
    p.y *= 2
    q = p.moved(1 if isinstance(a, int) else "1", dy=b)
    return p.x, p.y, q, "-".join(["a", "b"]).upper().split("-")


# ==================================================================================================
# Subscripts and slices


@case(([1, 2, 3, 4, 5], 1), ([1, 2], 5), ((1, 2, 3), -1), ("hello", 2), ({1: "a"}, 1), ({}, "k"))
def subscr_get(seq, i):
    return seq[i]


@case(([1, 2, 3], 0, 9), ([1], 3, 0), ({}, "k", 1), ((1, 2), 0, 5))
def subscr_set_del(seq, i, v):
    seq[i] = v
    before = list(seq) if isinstance(seq, list) else dict(seq)
    del seq[i]
    return before, seq


@case(([0, 1, 2, 3, 4, 5, 6],), ("abcdefg",), ((1, 2, 3),))
def subscr_slices(s):
    n = 2
    return s[1:3], s[:n], s[n:], s[::2], s[::-1], s[-3:-1], s[1:n + 3:2], s[:]


@case((fresh(lambda: [0, 1, 2, 3, 4, 5]),))
def subscr_slice_assign(lst):
    lst[1:3] = ["a", "b", "c"]
    del lst[::2]
    lst[:0] = [9]
    return lst


@case(({"a": 1}, "a"), ({"a": 1}, "b"), ([5, 6], 1))
def subscr_augmented(d, k):
    d[k] += 10
    d[k] *= 2
    return d[k]


# ==================================================================================================
# Calls


@case((1,), ("x",))
def call_keywords(a):
    r1 = helper_kw(a)
    r2 = helper_kw(a, 5, 6, 7, c=8, extra=9)
    r3 = helper_kw(b=1, a=a, zz=2)
    return r1, r2, r3


@case(((1, 2), {"c": 3}), ([1], {"b": 2, "k": 4}), ((), {}), ((1,), {"a": 1}))
def call_star_args(args, kwargs):
    return helper_kw(*args, **kwargs)


@case(((1, 2), (3,), {"x": 1}, {"y": 2}), ((), (1,), {"c": 1}, {"c": 2}))
def call_mixed_star(a, b, k1, k2):
    return helper_kw(0, *a, 9, *b, c=5, **k1, **k2) if "c" not in k1 else helper_kw(*a, *b, **k1, **k2)


@case((5,), ("notiterable",), (None,))
def call_star_not_iterable(x):
    return helper_kw(*x)


@case(([1],), ({"a": 1},))
def call_kwargs_not_mapping(x):
    return helper_kw(1, **x)


@case((1, 2, 3, 4),)
def call_posonly(a, b, c, d):
    r = helper_posonly(a, b, c, d=d)
    r2 = helper_posonly(a, b, c=c, d=d)
    return r, r2


@case(("missing",), ("too-many",), ("dup",), ("ok",))
def call_binding_errors(kind):
    if kind == "missing":
        return helper_posonly(1, 2, d=4)
    if kind == "too-many":
        return helper_posonly(1, 2, 3, 4, d=5)
    if kind == "dup":
        return helper_kw(1, a=2)
    return helper_posonly(1, 2, 3, d=4)


@case((1,))
def call_binding_posonly_as_keyword(b):
    return helper_posonly(1, b=b, c=3, d=4)


@case((5,))
def call_binding_unexpected_keyword(e):
    return helper_posonly(1, 2, 3, d=4, e=e)


@case((Point(1, 2),), (Point("a", "b"),))
def call_methods(p):
    m = p.moved
    r = [m(1), p.moved(dy=3), p.moved(*(1,), **{"dy": 1}), Point.norm1(p) if isinstance(p.x, int) else 0]
    return r


@case((3,), (0,))
def call_builtins_print(n):
    print("n is", n, sep="=", end="!\n")
    print(*range(n))
    print()
    return sorted([3, 1, 2], reverse=bool(n)), list(map(str, range(n))), min(n, 1, key=abs)


def _fact(n):
    return 1 if n <= 1 else n * _fact(n - 1)


def _is_even(n):
    return True if n == 0 else _is_odd(n - 1)


def _is_odd(n):
    return False if n == 0 else _is_even(n - 1)


@case((5,), (20,), (0,))
def call_recursion(n):
    return _fact(n), _is_even(n), _is_odd(n)


# ==================================================================================================
# Building containers


@case((1, 2), ("a", "b"))
def build_displays(a, b):
    t = (a, b)
    lst = [a, b, a]
    d = {"one": a, "two": b}
    d2 = {a: b, b: a}
    s = {a, b}
    consts = [1, 2, 3, 4, 5, 6]
    cset = {1, 2, 3, 4}
    empty = ([], {}, (), set())
    return t, lst, d, d2, sorted(s, key=str), consts, cset, empty


@case(([1, 2], (3,)), ("ab", "cd"), ([], ()))
def build_starred_displays(a, b):
    return [*a, 0, *b], (*a, *b), {*a, *b}, [*a], (*b, "end")


@case(({"a": 1}, {"b": 2}), ({"a": 1}, {"a": 3}), ({}, {}))
def build_dict_unpacking(d1, d2):
    return {**d1, **d2}, {"x": 0, **d1, "y": 1}, {**d2, "a": "last"}


@case(([1, 2],), ({"k": "v"},))
def build_dict_unpacking_bad(x):
    return {**x}


@case(([1, 2],), ([[1], 2],))
def build_set_unhashable(x):
    return {x[0], 99}


@case((1, 2))
def build_const_key_map_and_slice(a, b):
    d = {"a": a, "b": b, "c": a + b}
    sl = slice(a, b)
    return d, [0, 1, 2, 3][sl], list(d)


# ==================================================================================================
# Unpacking


@case(((1, 2),), ([3, 4],), ("ab",), ((1, 2, 3),), ((1,),), (5,))
def unpack_pair(seq):
    a, b = seq
    return b, a


@case(([1, 2, 3, 4],), ((1, 2),), ("abc",), ((1,),), ([],))
def unpack_starred(seq):
    first, *middle, last = seq
    return first, middle, last


@case(([1, 2, 3],), ((1,),), ((),))
def unpack_star_first(seq):
    *init, tail = seq
    return init, tail


@case(((1, (2, 3)),), ((1, (2,)),), ((1, 2),))
def unpack_nested(t):
    a, (b, c) = t
    x = y = a
    return a, b, c, x, y


@case(([(1, "a"), (2, "b")],), ([(1, 2, 3)],))
def unpack_in_for(pairs):
    out = []
    for i, (n, s) in enumerate(pairs):
        out.append((i, n, s))
    return out


@case((1, 2), ("x", "y"))
def unpack_swap(a, b):
    a, b = b, a
    a, b, c = b, a, a
    return a, b, c


# ==================================================================================================
# Loops


@case((5,), (0,), (12,))
def loop_for_break_continue_else(n):
    total = 0
    for i in range(n):
        if i % 2:
            continue
        if i > 8:
            break
        total += i
    else:
        total = -total
    return total


@case((10,), (0,), (-1,))
def loop_while(n):
    i = 0
    acc = []
    while i < n:
        i += 1
        if i == 3:
            continue
        if i == 7:
            break
        acc.append(i)
    else:
        acc.append("done")
    return acc


@case((3, 4), (0, 2))
def loop_nested(n, m):
    out = []
    for i in range(n):
        for j in range(m):
            if j == i:
                break
            out.append((i, j))
        else:
            out.append(("full", i))
    return out


@case(({"a": 1, "b": 2},), ({},))
def loop_dict_items(d):
    keys = []
    values = 0
    for k, v in d.items():
        keys.append(k)
        values += v
    for k in d:
        keys.append(k * 2)
    return keys, values


@case((5,), (1,))
def loop_while_true(n):
    count = 0
    while True:
        count += 1
        if count >= n:
            return count


@case(([1, 2, 0, 4],), ([],), ([1, "x"],))
def loop_with_try_continue(items):
    out = []
    for x in items:
        try:
            out.append(10 // x)
        except ZeroDivisionError:
            out.append("zero")
            continue
        finally:
            out.append("f")
        out.append("after")
    return out


@case((5,), (3,))
def loop_break_in_finally_loop(n):
    log = []
    for i in range(n):
        try:
            if i == 2:
                break
            log.append(i)
        finally:
            log.append(f"fin{i}")
    return log


# ==================================================================================================
# Comprehensions, lambdas, generator expressions


@case(([1, 2, 3, 4],), ([],), ([1, "a"],))
def comp_list_set_dict(xs):
    sq = [x * x for x in xs]
    ev = [x for x in xs if x % 2 == 0]
    st = {x % 3 for x in xs}
    dc = {x: x * 2 for x in xs if x}
    return sq, ev, sorted(st), dc


@case((3, 10), (0, 1))
def comp_nested_and_closure(n, scale):
    grid = [[i * scale + j for j in range(n)] for i in range(n)]
    pairs = [(i, j) for i in range(n) for j in range(i)]
    return grid, pairs


@case(([3, 1, 2],), ([],), ([1, "a"],))
def comp_lambda(xs):
    key = lambda x: -x  # noqa: E731
    adder = lambda a, b=10, *, c=100: a + b + c  # noqa: E731
    return sorted(xs, key=key), adder(1), adder(1, 2, c=3), list(map(lambda v: v + 1, xs))


@case(([1, 2, 3],), ([],))
def comp_genexpr_host(xs):
    return sum(x * x for x in xs), list(x for x in xs if x > 1)


# ==================================================================================================
# Closures and nonlocal


@case((3,), (0,))
def closure_counter(n):
    count = 0

    def bump(by=1):
        nonlocal count
        count += by
        return count

    for _ in range(n):
        bump()
    bump(10)
    return count


@case((2,), ("p",))
def closure_param_cell(x):
    def get():
        return x

    r1 = get()
    x = x * 2
    return r1, get()


@case((3,))
def closure_three_levels(a):
    def outer(b):
        def inner(c):
            return a + b + c

        return inner

    return outer(10)(100)


@case((4,))
def closure_late_binding(n):
    fs = [lambda: i for i in range(n)]  # noqa: B023
    gs = [lambda i=i: i for i in range(n)]
    return [f() for f in fs], [g() for g in gs]


@case((1,))
def closure_deleted_free(v):
    x = v

    def g():
        return x  # noqa: F821

    del x
    return g()


@case((1,))
def closure_unbound_cell(v):
    def g():
        return x

    r = x  # noqa: F821
    x = v
    return r, g()


# ==================================================================================================
# Defaults


@case((1,), (1, 2), Args(1, c=5), Args(1, 2, c=5, d=6), Args())
def defaults_in_signature(a, b=[0], *, c=3, d=None):  # noqa: B006
    return a, b, c, d


@case((5,), ("s",))
def defaults_nested_def(v):
    def inner(x, y=v, *args, z=v * 2, **kw):
        return x, y, args, z, kw

    return inner(1), inner(1, 2, 3, z=0, q=1)


# ==================================================================================================
# f-strings


@case((3.14159, "abc", 7), (1, "", -2))
def fstrings(x, s, w):
    return (f"{x}", f"{s!r}", f"{x:.2f}", f"{s:>{w}}|", f"{x!s:^10}", f"[{s!a}]", f"{w:+d}{s}{x}",
            f"{w:#x}", f"{'nested'}")


@case((Point(1, 2),), (None,))
def fstrings_objects(p):
    return f"<{p}> <{p!r}>"


@case((1,))
def fstrings_bad_spec(x):
    return f"{x:q}"


# ==================================================================================================
# try / except / else / finally, raise


@case(("none",), ("value",), ("key",), ("fail",))
def try_except_else_finally(kind):
    log = []
    try:
        log.append(helper_raise(kind))
    except ValueError as e:
        log.append(("value", str(e)))
    except (KeyError, IndexError) as e:
        log.append(("lookup", repr(e)))
    else:
        log.append("else")
    finally:
        log.append("finally")
    return log


@case(("fail",), ("value",))
def try_user_exception(kind):
    try:
        helper_raise(kind)
    except Failing as e:
        return e.code, e.args
    except Exception as e:
        return type(e).__name__
    return None


@case((True,), (False,))
def try_return_in_finally(flag):
    try:
        if flag:
            raise ValueError("swallowed")
        return "try"
    finally:
        return "finally"  # noqa: B012


@case((0,), (1,), (2,))
def try_nested(n):
    try:
        try:
            if n == 0:
                raise KeyError("inner")
            if n == 1:
                raise TypeError("passes")
        except KeyError:
            print("caught inner")
            raise ValueError("from handler")  # noqa: B904
    except ValueError as e:
        return "outer", str(e), type(e.__context__).__name__
    except TypeError as e:
        return "type", str(e)
    return "none"


@case((True,), (False,))
def try_bare_reraise(flag):
    try:
        if flag:
            raise IndexError("again")
    except IndexError:
        print("re-raising")
        raise
    return "clean"


@case((1,))
def raise_no_active(x):
    raise


@case((0,), (1,), (2,))
def raise_from(n):
    try:
        {}["k"]
    except KeyError as e:
        if n == 0:
            raise ValueError("with cause") from e
        if n == 1:
            raise ValueError("no cause") from None
        raise RuntimeError("context only")  # noqa: B904


@case(("class",), ("instance",), ("other",))
def raise_forms(kind):
    if kind == "class":
        raise KeyError
    if kind == "instance":
        raise KeyError("k")
    raise 42  # noqa: B016


@case((1,))
def raise_bad_except_class(x):
    try:
        raise ValueError(x)
    except 5:  # noqa: B030
        return "never"


@case((0,), (1,))
def try_exception_in_finally(n):
    try:
        if n:
            raise ValueError("first")
    finally:
        print("in finally")
        raise KeyError("second")


@case((0,), (1,))
def try_except_star_like_cleanup(n):
    e = "before"
    try:
        if n:
            raise ValueError("x")
    except ValueError as e:  # noqa: F841
        pass
    try:
        return e
    except NameError as err:
        return "unbound", str(err)


@case((3,), (0,))
def try_in_loop_with_else(n):
    results = []
    for i in range(n):
        try:
            v = 10 // (i - 1)
        except ZeroDivisionError:
            results.append("div")
        else:
            results.append(v)
    return results


# ==================================================================================================
# with


@case((False, False), (True, False), (True, True))
def with_basic(do_raise, swallow):
    with Manager("m", swallow) as name:
        print("body", name)
        if do_raise:
            raise ValueError("in body")
    return "after"


@case((1,), (0,))
def with_nested_and_return(n):
    with Manager("outer") as a, Manager("inner") as b:
        if n:
            return a + b
    return "fallthrough"


@case((3,))
def with_in_loop_break(n):
    for i in range(n):
        with Manager(f"m{i}"):
            if i == 1:
                break
            continue
    return "done"


@case((5,), (None,))
def with_not_a_manager(x):
    with x:
        return "never"


@case((True,), (False,))
def with_exit_raises(flag):
    class Bad:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            raise RuntimeError("exit failed")

    with Bad():
        if flag:
            raise ValueError("body")
    return "unreachable"


# ==================================================================================================
# assert


@case((1,), (0,), ("",))
def assert_plain(x):
    assert x
    return "ok"


@case((1,), (0,))
def assert_message(x):
    assert x, f"x was {x!r}"
    return "ok"


# ==================================================================================================
# imports inside functions


@case((16,), (2.25,))
def import_forms(x):
    import math as m
    import os.path
    from collections import OrderedDict as OD
    from os import sep

    return m.sqrt(x), os.path.join("a", "b"), sep, OD(a=1), m.__name__


@case((1,))
def import_missing_module(x):
    import zir_no_such_module  # noqa: F401

    return x


@case((1,))
def import_missing_name(x):
    from math import no_such_name  # noqa: F401

    return x


# ==================================================================================================
# classes defined inside functions


@case((3,), ("s",))
def class_in_function(v):
    class Box:
        kind = "box"

        def __init__(self, value):
            self.value = value

        def doubled(self):
            return self.value * 2

    b = Box(v)
    return b.doubled(), Box.kind, type(b).__name__


@case((2,))
def class_closure_over_local(v):
    factor = v * 10

    class Scaled:
        base = factor

        def scale(self, x):
            return x * factor

    return Scaled.base, Scaled().scale(3)


@case((1,))
def class_with_super(v):
    class Base:
        def __init__(self, x):
            self.x = x

        def describe(self):
            return f"base {self.x}"

    class Child(Base):
        def __init__(self, x):
            super().__init__(x + 1)

        def describe(self):
            return "child/" + super().describe()

    return Child(v).describe()


@case((1,), (2,))
def class_methods_and_exceptions(n):
    class Err(Exception):
        pass

    def thrower(k):
        if k > 1:
            raise Err(f"k={k}")
        return k

    try:
        return thrower(n)
    except Err as e:
        return "caught", str(e)


# ==================================================================================================
# Control flow inside expressions (branches with NULL slots and call frames on the stack)


@case(([1, 2, 3], True), ("ab", False), (None, True))
def expr_branches_in_call_args(xs, flag):
    a = len(xs if flag else [0])
    b = max(1 if flag else 2, len(xs) if xs else -1)
    c = "-".join([str(x) for x in xs] if flag and xs else ["none"])
    d = G_NAMES.index("bob" if flag or not xs else "ann")
    return a, b, c, d


@case((Point(1, 2), 0), (Point(3, 4), 5))
def expr_branches_in_method_args(p, k):
    m = p.moved(k or 10, dy=(k and -k) or 7)
    return m, p.moved(*([k] if k else []), **({"dy": k} if k > 1 else {}))


@case((3,), (0,), (-2,))
def expr_walrus_and_conditional(n):
    out = []
    while (n := n - 1) > 0:
        out.append(n if n % 2 else -n)
    if (m := len(out)) > 1:
        return out, m
    return [y for x in range(3) if (y := x * n) != 0], m


@case(([1, 2, 3, 4],), ([],))
def expr_chained_assignment_targets(xs):
    p = Point(0)
    d = {}
    p.x = d["k"] = xs[:1] or None
    first, *p.y = xs or [None]
    d["a"], d["b"] = len(xs), sum(xs)
    return p.x, p.y, d, first


@case((4, "x"), (1, "y"))
def expr_const_containers(n, s):
    return n in (1, 2, 3), s in {"x", "z"}, n not in [4, 5], s in "xyz", {1, 2} | {n}


@case(("%s-%d", ("a", 3)), ("%x", 255), ("%d", "no"))
def expr_percent_format(fmt, args):
    return fmt % args


# ==================================================================================================
# Host <-> VM crossings


@case(([3, 1, 2],), ([3, "a"],))
def cross_host_calls_vm_lambda(xs):
    return sorted(xs, key=lambda v: -v), list(map(lambda v: v * 2, xs))


@case((0,), (2,))
def cross_exception_through_host(n):
    def check(v):
        if v == n:
            raise Failing(v)
        return v

    try:
        return list(map(check, range(3)))
    except Failing as e:
        return "caught", e.code


@case(([1, 2, 3],), ([],))
def cross_nested_generator_function(xs):
    def evens():
        for x in xs:
            if x % 2 == 0:
                yield x
        yield "end"

    return list(evens()), next(iter(evens())), any(x > 1 for x in xs)


# ==================================================================================================
# More handler shapes

class _ExitFalse:
    def __enter__(self):
        return 1

    def __exit__(self, *a):
        return False


@case(())
def handler_reraise_from_with_cleanup():
    try:
        with _ExitFalse():
            raise ValueError(1)
    except ValueError:
        pass
    try:
        raise KeyError(2)
    except KeyError as e:
        return e.__context__



@case((3,), (1,))
def handler_with_inside_try_in_loop(n):
    log = []
    for i in range(n):
        try:
            with Manager(f"w{i}", swallow=i == 0):
                if i < 2:
                    raise ValueError(i)
                log.append("body")
        except ValueError as e:
            log.append(("caught", e.args))
            continue
        finally:
            log.append("fin")
        if i == 2:
            break
    return log


@case((0,), (1,), (2,))
def handler_return_through_finally_and_with(n):
    try:
        with Manager("r"):
            try:
                if n == 0:
                    return "inner"
                if n == 1:
                    raise KeyError(n)
            finally:
                print("inner finally")
    except KeyError:
        return "key"
    finally:
        print("outer finally")
    return "end"


@case((1,), (0,))
def handler_continue_in_finally(n):
    out = []
    for i in range(3):
        try:
            if i == n:
                raise ValueError(i)
            out.append(i)
        finally:
            out.append("f")
            continue  # noqa: B012
    return out


@case(("a",), ("b",))
def handler_exception_context_chain(kind):
    try:
        try:
            raise KeyError(kind)
        finally:
            if kind == "a":
                raise ValueError("in finally")
    except Exception as e:
        ctx = e.__context__
        return type(e).__name__, str(e), type(ctx).__name__ if ctx else None


@case((5,), (0,))
def handler_nested_functions_raise(n):
    def level2(k):
        return 10 // k

    def level1(k):
        try:
            return level2(k)
        except ZeroDivisionError:
            raise ArithmeticError("wrapped") from None

    return level1(n)


# ==================================================================================================
# Assorted corners


class Grid:
    """Subscripted with tuples of slices."""

    def __getitem__(self, key):
        return key


@case((1, 2), (0, -1))
def corner_tuple_subscripts(a, b):
    g = Grid()
    return g[a:b, ::2], g[a, b], g[..., a], g[a:b:None, :]


@case((3, 4.5), ("s", None))
def corner_fstring_debug_and_nested_spec(x, y):
    width, prec = 12, 3
    return f"{x=}", f"{y!r:>{width}}", f"{y!s:<{width}.{prec}}|", "implicit " "concat " f"{x}"


@case((2,), (0,))
def corner_class_keywords_and_decorators(n):
    log = []

    class Meta(type):
        def __new__(mcls, name, bases, ns, **kw):
            log.append((name, sorted(kw)))
            return super().__new__(mcls, name, bases, ns)

    def deco(cls):
        cls.tag = "decorated"
        return cls

    class Base:
        def __init_subclass__(cls, **kw):
            log.append(("subclass", cls.__name__))

    @deco
    class C(Base, metaclass=Meta, flavor=n):
        size = n

    return C.size, C.tag, log


@case((1,), (5,))
def corner_decorated_inner_function(n):
    def twice(f):
        def wrapper(*args, **kwargs):
            return f(*args, **kwargs) * 2

        return wrapper

    @twice
    def add(a, b=n):
        return a + b

    return add(1), add(1, b=2)


@case((1,), ("e",))
def corner_raise_bad_cause(v):
    raise ValueError(v) from v


@case((fresh(lambda: {"a": 1, "b": 2}),))
def corner_dict_mutated_while_iterating(d):
    for k in d:
        d[k + k] = 1
    return d


@case(("a,b,,c",), ("",))
def corner_builtin_method_keywords(text):
    parts = text.split(sep=",")
    parts.sort(key=len, reverse=True)
    return parts, dict(zip(parts, range(3), strict=False), extra=1), int("7", base=8)


@case((1, 2), (3, 3))
def corner_del_several_and_chains(a, b):
    x = y = z = [a]
    x.append(b)
    del x, y
    try:
        return x  # noqa: F821
    except UnboundLocalError:
        return z


@case((3,), (-1,))
def corner_global_augmented(v):
    global G_RESULT
    G_RESULT = 10
    G_RESULT += v
    G_RESULT //= 2
    return G_RESULT


@case((1,))
def corner_keyword_only_positional(v):
    def f(a, *, b):
        return a + b

    return f(v, v)


@case(([1, 2, 0],), ([3],))
def corner_exception_in_comprehension(xs):
    try:
        return [10 // x for x in xs]
    except ZeroDivisionError as e:
        return "caught", str(e)


@case(((1, 2),), ((1, 2, 3),))
def corner_with_unpacking_target(pair):
    class M:
        def __enter__(self):
            return pair

        def __exit__(self, *a):
            return False

    with M() as (a, b):
        return a, b


@case((5,), (2,))
def corner_return_from_loop_in_with(n):
    with Manager("loop"):
        for i in range(10):
            if i == n:
                return i
    return None


@case((10**30, 3), (2 + 3j, 1j))
def corner_big_and_complex_numbers(a, b):
    return a * b, a - b, a ** 2, a == b, hash(a) == hash(a)


@case(("12",), ("x",), ("3.5",))
def corner_host_builtin_raises(text):
    try:
        return int(text)
    except ValueError as e:
        return e.args


@case((4,), (0,))
def corner_class_body_sees_function_cells(n):
    items = list(range(n))

    class K:
        count = len(items)
        doubled = [i * 2 for i in range(n)]

        def total(self):
            return sum(items)

    return K.count, K.doubled, K().total()


@case((3,), (0,))
def corner_deep_nesting(n):
    total = 0
    for i in range(n):
        try:
            try:
                try:
                    if i == 1:
                        raise KeyError(i)
                    total += 1
                finally:
                    total += 10
            except KeyError:
                total += 100
                try:
                    raise ValueError(i)
                except ValueError:
                    total += 1000
        finally:
            total += 10000
    return total


# ==================================================================================================
# Bigger mixes (many constructs interacting)


@case((8,), (1,))
def mix_sieve(n):
    flags = [True] * (n + 1)
    flags[0:2] = [False, False]
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            for j in range(i * i, n + 1, i):
                flags[j] = False
    return [i for i, f in enumerate(flags) if f]


@case(("a=1;b=2;c",), ("",), ("x=1;x=2",))
def mix_parse_pairs(text):
    out = {}
    errors = []
    for part in text.split(";"):
        if not part:
            continue
        try:
            key, value = part.split("=")
        except ValueError as e:
            errors.append(str(e))
            continue
        if key in out:
            out[key] = out[key] + "," + value
        else:
            out[key] = value
    return out, errors


@case((5,))
def mix_fib_memo(n):
    memo = {}

    def fib(k):
        if k in memo:
            return memo[k]
        r = k if k < 2 else fib(k - 1) + fib(k - 2)
        memo[k] = r
        return r

    return [fib(i) for i in range(n * 4)]


# ==================================================================================================
# Generated functions: big enough for EXTENDED_ARG (locals, globals, jump distances)


def _generated(name: str, lines: list[str]) -> Callable[..., Any]:
    """Compile `lines` (a def) into this module's namespace, so its globals are ours."""
    exec(compile("\n".join(lines), __file__ + f":<{name}>", "exec"), globals())
    fn: Callable[..., Any] = globals()[name]
    return fn


for _k in range(200):
    globals()[f"G_GEN_{_k}"] = _k

gen_big_locals_and_jumps = _generated("gen_big_locals_and_jumps", [
    "def gen_big_locals_and_jumps(n):",
    "    t = 0",
    "    for i in range(n):",
    *[f"        t += i * {k} - {k}" for k in range(120)],
    *[f"    v{k} = t + {k}" for k in range(300)],
    "    return v0 + v299",
])
CASES.append((gen_big_locals_and_jumps, [Args(3), Args(0), Args("x")], None))

gen_many_globals = _generated("gen_many_globals", [
    "def gen_many_globals(n):",
    "    return n + " + " + ".join(f"G_GEN_{k}" for k in range(200)),
])
CASES.append((gen_many_globals, [Args(1), Args("s")], None))


# ==================================================================================================
# The tests


def _params() -> list[Any]:
    params = []
    for fn, sets, xfail in CASES:
        for i, argset in enumerate(sets):
            reason = xfail or argset.xfail_reason
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            params.append(pytest.param(fn, argset, id=f"{fn.__name__}-{i}", marks=marks))
    return params


@pytest.mark.parametrize("fn", [pytest.param(fn, id=fn.__name__) for fn, _, _ in CASES])
def test_translates_and_verifies(fn: Callable[..., Any]) -> None:
    code = from_python(fn)
    zir.bytecode.verify(code)
    assert code.pycode is fn.__code__


@pytest.mark.parametrize(("fn", "argset"), _params())
def test_same_as_cpython(fn: Callable[..., Any], argset: Args) -> None:
    compare(fn, *argset.args, matrix=STACK, **argset.kwargs)
