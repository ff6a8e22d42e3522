"""The benchmark kernels: small, clean versions of classic benchmark programs, run by tools/bench.py.

Each kernel is a module with `run(n)` (the whole benchmark for size n, returning a result that
depends on all the work done), `SIZES = {"test": ..., "bench": ...}` (the test size keeps the
differential test fast on the stack VM; the bench size takes roughly 0.05-0.3 s in CPython), and
`NUMERIC`, which says whether the kernel is numeric (loops over numbers and lists) or object- and
call-heavy (methods, attributes, strings, dicts). Everything in them is plain Python 3.11 that the
zir front end translates: no generators, no async, no `match`; classes live at module level.
"""

from __future__ import annotations

from types import ModuleType

from tools.kernels import fannkuch, nbody, nqueens, richards, spectral_norm, tokenizer

#: Every kernel by name, in a fixed order: the numeric kernels first, then the object/call-heavy ones.
KERNELS: dict[str, ModuleType] = {
    "nqueens": nqueens,
    "fannkuch": fannkuch,
    "nbody": nbody,
    "spectral_norm": spectral_norm,
    "richards": richards,
    "tokenizer": tokenizer,
}

#: Names of the numeric kernels (the ones issue 6's "vs CPython on the numeric kernels" target means).
NUMERIC_KERNELS: tuple[str, ...] = tuple(name for name, module in KERNELS.items() if module.NUMERIC)

#: Names of the object/call-heavy kernels.
OBJECT_KERNELS: tuple[str, ...] = tuple(name for name, module in KERNELS.items() if not module.NUMERIC)

__all__ = ["KERNELS", "NUMERIC_KERNELS", "OBJECT_KERNELS"]
