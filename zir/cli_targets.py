"""What the `zir` subcommands work on: loading a TARGET, and call arguments from the command line.

A TARGET names one function or a set of them, by the kind of file:

* ``FILE.py:FUNC``: the Python function FUNC (dotted for attributes, `Class.method`) of FILE.py,
  which is imported as a module by its path (its directory goes first on `sys.path`, so the
  modules next to it import); the front end translates it to ZBC;
* ``FILE.zasm``: ZBC assembly (`zir.bytecode.assemble`);
* ``FILE.json``: ZBC in its JSON form (`zir.bytecode.from_json`);
* ``FILE.zir`` or ``FILE.zir:FUNC``: an IR module (`zir.parse`), or one function of it;
  ``-`` reads IR text from stdin.

Every failure is a `zir.ZirError` naming the file (and line, for a Python file that does not
import); a TARGET that is none of the above is a `UsageError` (exit status 2).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import os
import sys
import traceback
import types
from collections.abc import Sequence
from typing import Any

import attrs

from zir.cli import CommandError, UsageError, read_input
from zir.ir import Function, Module

__all__ = ["Target", "import_error_place", "load_python", "load_target", "parse_call_args"]

#: The target kinds, by file suffix (FILE.py needs `:FUNC`).
KINDS = {".py": "python", ".zasm": "zasm", ".json": "json", ".zir": "zir"}
TARGET_HELP = "FILE.py:FUNC, FILE.zasm, FILE.json, FILE.zir or FILE.zir:FUNC"


@attrs.define(eq=False)
class Target:
    """A loaded TARGET: its ZBC and/or IR, and what the VM runs for it."""

    spec: str  #: as the user wrote it
    kind: str  #: "python", "zasm", "json" or "zir"
    function: Any = None  #: the Python function (kind "python")
    code: Any = None  #: its ZBC, a `zir.bytecode.Code` (every kind but "zir")
    module: Module | None = None  #: the IR module (kind "zir")
    select: str | None = None  #: the function of an IR module that `FILE.zir:FUNC` names

    @property
    def name(self) -> str:
        """The target's name for messages: `FILE.py:FUNC`, or the file."""
        return self.spec

    def zbc(self) -> Any:
        """The ZBC `Code` (for kind "zir" there is none: a `CommandError`)."""
        if self.code is None:
            raise CommandError(f"{self.spec}: IR text has no ZBC form; this needs a Python target "
                               "(FILE.py:FUNC) or ZBC (FILE.zasm, FILE.json)")
        return self.code

    def functions(self) -> list[Function]:
        """Fresh IR for the target (lifted from its ZBC, or copied from the module, so callers may
        transform it in place), in module order; only the selected one for `FILE.zir:FUNC`."""
        import zir

        if self.module is None:
            return [zir.lift(self.zbc())]
        if self.select is not None:
            return [copy.deepcopy(self.module.functions[self.select])]
        return [copy.deepcopy(f) for f in self.module.functions.values()]

    def one_function(self) -> Function:
        """The target's single function (`UsageError` when an IR module holds several and none
        was selected with `FILE.zir:FUNC`)."""
        found = self.functions()
        if len(found) != 1:
            names = ", ".join(f.name for f in found) or "none"
            raise UsageError(f"{self.spec}: holds {len(found)} functions ({names}); name one as "
                             f"{self.spec}:FUNC")
        return found[0]

    def fresh_function(self) -> Any:
        """For kind "python": the function again, from a second execution of its file, with
        globals of its own (`load_python(..., fresh=True)`); for other kinds, `runnable()`."""
        if self.kind != "python":
            return self.runnable()
        path, name, _ = _split(self.spec)
        assert name is not None
        return load_python(path, name, fresh=True)

    def runnable(self) -> Any:
        """What `vm.VM.run` runs: the Python function, or the ZBC `Code`."""
        if self.function is not None:
            return self.function
        if self.code is None:
            raise UsageError(f"{self.spec}: IR text cannot run in the VM (it has no ZBC); give "
                             "FILE.py:FUNC, FILE.zasm or FILE.json")
        return self.code


def _split(spec: str) -> tuple[str, str | None, str | None]:
    """(path, FUNC or None, kind or None) of a TARGET."""
    if spec == "-":
        return spec, None, "zir"
    path, sep, name = spec.rpartition(":")
    if sep and os.path.splitext(path)[1] in KINDS:
        return path, name, KINDS[os.path.splitext(path)[1]]
    return spec, None, KINDS.get(os.path.splitext(spec)[1])


def load_target(spec: str, kinds: Sequence[str] = ("python", "zasm", "json", "zir")) -> Target:
    """Load the TARGET `spec` (see the module docstring), one of `kinds`."""
    import zir

    path, name, kind = _split(spec)
    if kind is None or kind not in kinds:
        wanted = {"python": "FILE.py:FUNC", "zasm": "FILE.zasm", "json": "FILE.json",
                  "zir": "FILE.zir"}
        raise UsageError(f"{spec}: expected {', '.join(wanted[k] for k in kinds)}")
    if kind == "python":
        if not name:
            raise UsageError(f"{spec}: name the function: {path}:FUNC")
        fn = load_python(path, name)
        return Target(spec, kind, function=fn, code=zir.frontend.from_python(fn))
    if name is not None and kind != "zir":
        raise UsageError(f"{spec}: a {os.path.splitext(path)[1]} file is one code object; drop ':{name}'")
    text, filename = read_input(path)
    if kind == "zasm":
        return Target(spec, kind, code=zir.bytecode.assemble(text, filename))
    if kind == "json":
        try:
            code = zir.bytecode.from_json(text)
        except zir.bytecode.FormatError as e:
            raise zir.bytecode.FormatError(f"{filename}: {e}") from e
        return Target(spec, kind, code=code)
    module = zir.parse(text, filename)
    if name:
        if name not in module.functions:
            known = ", ".join(module.functions) or "none"
            raise CommandError(f"{filename}: no function @{name} (it has: {known})")
    return Target(spec, kind, module=module, select=name or None)


def _module_name(path: str) -> str:
    """The name a Python file is imported under: its stem when that is free, so other modules
    that import it by name get the same module; else a private name."""
    stem = os.path.splitext(os.path.basename(path))[0]
    loaded = sys.modules.get(stem)
    if stem.isidentifier() and (loaded is None or os.path.abspath(getattr(loaded, "__file__", None) or "")
                                == os.path.abspath(path)):
        return stem
    return "_zir_target_" + "".join(c if c.isalnum() else "_" for c in stem)


def import_error_place(path: str, e: BaseException) -> str:
    """`FILE:LINE` of the innermost traceback entry in `path` (or of a SyntaxError), else FILE."""
    if isinstance(e, SyntaxError) and e.lineno is not None:
        return f"{e.filename or path}:{e.lineno}"
    where = path
    for entry in traceback.extract_tb(e.__traceback__):
        if os.path.abspath(entry.filename) == os.path.abspath(path):
            where = f"{path}:{entry.lineno}"
    return where


def load_python(path: str, qualname: str, fresh: bool = False) -> Any:
    """The object `qualname` (dotted for attributes) of the Python file `path`, imported as a
    module by path with its directory first on `sys.path`.

    `fresh=True` executes the file again as a second, separate module (its top level's output
    discarded: it was shown the first time), so that a run of its function sees globals that no
    other run has changed (`zir run --check` runs the function twice)."""
    if not os.path.isfile(path):
        raise CommandError(f"cannot read {path}: No such file or directory")
    abspath = os.path.abspath(path)
    name = _module_name(path) if not fresh else "_zir_fresh_" + "".join(
        c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(path))[0])
    module = sys.modules.get(name)
    if fresh or module is None or os.path.abspath(getattr(module, "__file__", None) or "") != abspath:
        try:
            with open(path, "rb") as fh:
                source = fh.read()
        except OSError as e:
            raise CommandError(f"cannot read {path}: {e.strerror or e}") from e
        # A fresh copy is kept under a name of its own but calls itself by the file's module name,
        # so that its classes and exceptions print as the first copy's do.
        module = types.ModuleType(_module_name(path) if fresh else name)
        module.__file__ = abspath
        directory = os.path.dirname(abspath)
        if directory not in sys.path:
            sys.path.insert(0, directory)
        sys.modules[name] = module  # classes and pickles find their module by name
        try:
            # Compiled with the path as given (importlib would make it absolute), so the ZBC's
            # filename and every message name the file as the user did.
            with contextlib.redirect_stdout(io.StringIO()) if fresh else contextlib.nullcontext():
                exec(compile(source, path, "exec", dont_inherit=True), module.__dict__)
        except Exception as e:
            del sys.modules[name]
            raise CommandError(f"{import_error_place(path, e)}: importing {path} raised "
                               f"{type(e).__name__}: {e}") from e
    obj: Any = module
    for part in qualname.split("."):
        if not part.isidentifier() or not hasattr(obj, part):
            raise CommandError(f"{path}: has no function {qualname!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CommandError(f"{path}: {qualname!r} is a {type(obj).__name__}, not a function")
    return obj


def parse_call_args(texts: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments from the command line: each text is a Python literal
    (`ast.literal_eval`: `3`, `-2.5`, `'text'`, `[1, (2, 3)]`, `{'a': None}`), or `NAME=literal` for
    a keyword argument. Anything else is a `UsageError` (quote strings: `"'text'"`)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for text in texts:
        key, eq, rest = text.partition("=")
        keyword = bool(eq) and key.isidentifier()
        source = rest if keyword else text
        try:
            value = ast.literal_eval(source.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise UsageError(f"argument {text!r} is not a Python literal (a string needs quotes "
                             f"inside the shell's: \"'{source}'\")") from None
        if keyword:
            if key in kwargs:
                raise UsageError(f"keyword argument {key!r} given twice")
            kwargs[key] = value
        elif kwargs:
            raise UsageError(f"positional argument {text!r} follows a keyword argument")
        else:
            args.append(value)
    return args, kwargs
