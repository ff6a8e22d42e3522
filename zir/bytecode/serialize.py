"""The JSON form of ZBC: a safe, versioned, self-describing serialization (never pickle).

    {"format": "zbc", "version": 1, "code": {
        "name": "f", "qualname": "f", "filename": "demo.py", "firstlineno": 1,
        "flags": ["nested"], "argcount": 1, "posonlyargcount": 0, "kwonlyargcount": 0,
        "varnames": ["n"], "cellvars": [], "freevars": [], "names": ["len"],
        "consts": [{"type": "none"}, {"type": "int", "value": "1"}],
        "defaults": [], "kwdefaults": {},
        "instrs": [["LOAD_FAST", 0, 2], ["RETURN_VALUE", null, 2]],
        "handlers": [[0, 4, 6, 0, false]]}}

Every constant carries an explicit type tag: `none`, `ellipsis`, `bool`, `int` (a decimal string,
or `0x...` hex for huge ints), `float` (Python's repr: `"nan"`, `"-inf"`, `"-0.0"`), `complex`
(`[re, im]` float strings), `str`, `bytes` (hex), `tuple`/`frozenset` (lists of constants), `slice`
(`[start, stop, step]`) and `code` (a nested code object). `from_json`/`from_dict` check the
structure and every type strictly (unknown or missing keys, wrong types, duplicate keys, NaN
literals) and raise `FormatError` naming the JSON path; then they run the ZBC verifier, so what
they return is verified code.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from zir.bytecode.asm_lexer import format_literal
from zir.bytecode.code import FLAG_NAMES, HOST, Code, Handler, ZInstr
from zir.bytecode.verify import verify
from zir.errors import ZirError

__all__ = ["FORMAT", "VERSION", "FormatError", "from_dict", "from_json", "to_dict", "to_json"]

FORMAT = "zbc"
VERSION = 1

_HEX_BITS = 8192  # CPython refuses to convert ints of more than 4300 digits to decimal
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_HEXINT = re.compile(r"-?0x[0-9a-f]+\Z")
_FLOAT = re.compile(r"-?(?:inf|\d+\.\d*(?:e[-+]\d+)?|\d+e[-+]\d+)\Z|nan\Z")
_HEXBYTES = re.compile(r"(?:[0-9a-f]{2})*\Z")


class FormatError(ZirError):
    """Serialized ZBC that is malformed, truncated, tampered with or of an unknown version; or a
    code object that has no serialized form. The message names the JSON path (`code.consts[2]`)."""


# -------------------------------------------------------------------------------------------------
# Writing.


def to_json(code: Code, *, indent: int | None = None) -> str:
    """The JSON text of `code` (and its nested code objects)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps(to_dict(code), indent=indent, separators=separators, ensure_ascii=True)


def to_dict(code: Code) -> dict[str, Any]:
    """`code` as plain JSON-ready data: `{"format": "zbc", "version": 1, "code": {...}}`."""
    try:
        return {"format": FORMAT, "version": VERSION, "code": _encode_code(code, "code", [])}
    except RecursionError:
        raise FormatError("code: constants nested too deeply to serialize") from None


def _encode_code(c: Code, path: str, active: list[int]) -> dict[str, Any]:
    if HOST in c.flags:
        raise FormatError(f"{path}: code object {c.name!r} has the 'host' flag: it only exists as "
                          "the CPython code object it wraps and has no serialized form")
    if id(c) in active:
        raise FormatError(f"{path}: code object {c.name!r} contains itself")
    active.append(id(c))
    out = {
        "name": c.name, "qualname": c.qualname, "filename": c.filename, "firstlineno": c.firstlineno,
        "flags": sorted(c.flags), "argcount": c.argcount, "posonlyargcount": c.posonlyargcount,
        "kwonlyargcount": c.kwonlyargcount, "varnames": list(c.varnames), "cellvars": list(c.cellvars),
        "freevars": list(c.freevars), "names": list(c.names),
        "consts": [_encode_const(v, f"{path}.consts[{i}]", active, True) for i, v in enumerate(c.consts)],
        "defaults": [_encode_const(v, f"{path}.defaults[{i}]", active) for i, v in enumerate(c.defaults)],
        "kwdefaults": {k: _encode_const(v, f"{path}.kwdefaults.{k}", active)
                       for k, v in c.kwdefaults.items()},
        "instrs": [[i.op, i.arg, i.line] for i in c.instrs],
        "handlers": [[h.start, h.end, h.target, h.depth, h.lasti] for h in c.handlers],
    }
    active.pop()
    return out


def _encode_const(v: Any, path: str, active: list[int], top: bool = False) -> dict[str, Any]:
    if isinstance(v, Code):
        if not top:
            raise FormatError(f"{path}: a code object may only be a top-level constant")
        return {"type": "code", "value": _encode_code(v, path, active)}
    if v is None:
        return {"type": "none"}
    if v is Ellipsis:
        return {"type": "ellipsis"}
    t = type(v)
    if t is bool:
        return {"type": "bool", "value": v}
    if t is int:
        return {"type": "int", "value": hex(v) if v.bit_length() > _HEX_BITS else str(v)}
    if t is float:
        return {"type": "float", "value": _float_text(v)}
    if t is complex:
        return {"type": "complex", "value": [_float_text(v.real), _float_text(v.imag)]}
    if t is str:
        return {"type": "str", "value": v}
    if t is bytes:
        return {"type": "bytes", "value": v.hex()}
    if t is tuple:
        return {"type": "tuple", "value": [_encode_const(x, f"{path}[{i}]", active) for i, x in enumerate(v)]}
    if t is frozenset:
        # Sorted by their .zasm text so the output does not depend on hash order.
        items = sorted(v, key=format_literal)
        return {"type": "frozenset", "value": [_encode_const(x, f"{path}[{i}]", active)
                                               for i, x in enumerate(items)]}
    if t is slice:
        parts = (("start", v.start), ("stop", v.stop), ("step", v.step))
        return {"type": "slice", "value": [_encode_const(x, f"{path}.{n}", active) for n, x in parts]}
    raise FormatError(f"{path}: a {t.__name__} constant has no serialized form (literals only)")


def _float_text(v: float) -> str:
    return "nan" if math.isnan(v) else repr(v)


# -------------------------------------------------------------------------------------------------
# Reading.


def from_json(text: str | bytes) -> Code:
    """Read JSON text written by `to_json`; strictly checked, then verified (`zir.VerifyError`).
    Anything malformed raises `FormatError`."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except FormatError:
        raise
    except json.JSONDecodeError as e:
        raise FormatError(f"not valid JSON (truncated?): {e.msg} at line {e.lineno} "
                          f"column {e.colno}") from None
    except (ValueError, TypeError) as e:
        raise FormatError(f"not valid JSON: {e}") from None
    except RecursionError:
        raise FormatError("JSON nested too deeply") from None
    return from_dict(data)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise FormatError(f"duplicate key {k!r} in a JSON object")
        out[k] = v
    return out


def _no_constant(name: str) -> Any:
    raise FormatError(f"JSON constant {name} is not allowed (floats are tagged strings)")


def from_dict(data: Any) -> Code:
    """Read the data `to_dict` makes; strictly checked, then verified."""
    _keys(data, "the document", {"format", "version", "code"})
    if data["format"] != FORMAT:
        raise FormatError(f"format: expected {FORMAT!r}, got {data['format']!r}")
    if type(data["version"]) is not int or data["version"] != VERSION:
        raise FormatError(f"version: this zir reads version {VERSION}, got {data['version']!r}")
    try:
        code = _decode_code(data["code"], "code")
    except RecursionError:
        raise FormatError("code: nested too deeply") from None
    verify(code)
    return code


_CODE_KEYS = {
    "name": str, "qualname": str, "filename": str, "firstlineno": int, "flags": list, "argcount": int,
    "posonlyargcount": int, "kwonlyargcount": int, "varnames": list, "cellvars": list, "freevars": list,
    "names": list, "consts": list, "defaults": list, "kwdefaults": dict, "instrs": list, "handlers": list,
}


def _keys(d: Any, path: str, keys: set[str]) -> None:
    if not isinstance(d, dict):
        raise FormatError(f"{path}: expected a JSON object, got {_kind(d)}")
    missing = sorted(keys - d.keys())
    if missing:
        raise FormatError(f"{path}: missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    extra = sorted(d.keys() - keys)
    if extra:
        raise FormatError(f"{path}: unknown key{'s' if len(extra) > 1 else ''} {', '.join(extra)}")


_TYPE_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
               float: "a number", type(None): "null"}


def _kind(v: Any) -> str:
    return _TYPE_NAMES.get(type(v), type(v).__name__)


def _typed(v: Any, t: type, path: str) -> Any:
    if type(v) is not t:
        raise FormatError(f"{path}: expected {_TYPE_NAMES[t]}, got {_kind(v)}")
    return v


def _int(v: Any, path: str) -> int:
    return int(_typed(v, int, path))


def _int_or_null(v: Any, path: str) -> int | None:
    if v is not None and type(v) is not int:
        raise FormatError(f"{path}: expected an integer or null, got {_kind(v)}")
    return v


def _strings(v: Any, path: str) -> list[str]:
    for i, s in enumerate(_typed(v, list, path)):
        _typed(s, str, f"{path}[{i}]")
    return list(v)


def _decode_code(d: Any, path: str) -> Code:
    _keys(d, path, set(_CODE_KEYS))
    for key, t in _CODE_KEYS.items():
        _typed(d[key], t, f"{path}.{key}")
    flags = _strings(d["flags"], f"{path}.flags")
    for i, f in enumerate(flags):
        if f not in FLAG_NAMES or f in flags[:i]:
            raise FormatError(f"{path}.flags[{i}]: unknown or repeated flag {f!r}")
        if f == HOST:
            raise FormatError(f"{path}.flags[{i}]: 'host' code objects have no serialized form")
    instrs = []
    for i, ins in enumerate(d["instrs"]):
        p = f"{path}.instrs[{i}]"
        if type(ins) is not list or len(ins) != 3:
            raise FormatError(f"{p}: expected [op, arg, line], got {_kind(ins)}")
        instrs.append(ZInstr(_typed(ins[0], str, f"{p}[0]"), _int_or_null(ins[1], f"{p}[1]"),
                             _int_or_null(ins[2], f"{p}[2]")))
    handlers = []
    for i, h in enumerate(d["handlers"]):
        p = f"{path}.handlers[{i}]"
        if type(h) is not list or len(h) != 5:
            raise FormatError(f"{p}: expected [start, end, target, depth, lasti], got {_kind(h)}")
        start, end, target, depth = (_int(h[k], f"{p}[{k}]") for k in range(4))
        handlers.append(Handler(start, end, target, depth, _typed(h[4], bool, f"{p}[4]")))
    return Code(
        name=d["name"], qualname=d["qualname"], filename=d["filename"], firstlineno=d["firstlineno"],
        flags=frozenset(flags), argcount=d["argcount"], posonlyargcount=d["posonlyargcount"],
        kwonlyargcount=d["kwonlyargcount"], varnames=_strings(d["varnames"], f"{path}.varnames"),
        cellvars=_strings(d["cellvars"], f"{path}.cellvars"),
        freevars=_strings(d["freevars"], f"{path}.freevars"),
        names=_strings(d["names"], f"{path}.names"),
        consts=[_decode_const(v, f"{path}.consts[{i}]", True) for i, v in enumerate(d["consts"])],
        defaults=tuple(_decode_const(v, f"{path}.defaults[{i}]") for i, v in enumerate(d["defaults"])),
        kwdefaults={k: _decode_const(v, f"{path}.kwdefaults.{k}") for k, v in d["kwdefaults"].items()},
        instrs=instrs, handlers=handlers,
    )


_VALUELESS = {"none": None, "ellipsis": Ellipsis}


def _decode_const(d: Any, path: str, top: bool = False) -> Any:
    if not isinstance(d, dict) or type(d.get("type")) is not str:
        raise FormatError(f"{path}: expected a constant {{\"type\": ..., \"value\": ...}}, got {_kind(d)}")
    t = d["type"]
    if t in _VALUELESS:
        _keys(d, path, {"type"})
        return _VALUELESS[t]
    _keys(d, path, {"type", "value"})
    v = d["value"]
    vp = f"{path}.value"
    if t == "bool":
        return _typed(v, bool, vp)
    if t == "int":
        _typed(v, str, vp)
        if _INT.match(v) and len(v) <= 4000:  # CPython's limit on decimal conversion is 4300 digits
            return int(v)
        if _HEXINT.match(v):
            return int(v, 16)
        raise FormatError(f"{vp}: expected an integer as a decimal (at most 4000 digits) or 0x-hex "
                          f"string, got {v!r:.40}")
    if t == "float":
        return _float(v, vp)
    if t == "complex":
        if type(v) is not list or len(v) != 2:
            raise FormatError(f"{vp}: expected [real, imag], got {_kind(v)}")
        return complex(_float(v[0], f"{vp}[0]"), _float(v[1], f"{vp}[1]"))
    if t == "str":
        return _typed(v, str, vp)
    if t == "bytes":
        if type(v) is not str or not _HEXBYTES.match(v):
            raise FormatError(f"{vp}: expected lowercase hex digit pairs, got {v!r:.40}")
        return bytes.fromhex(v)
    if t in ("tuple", "frozenset", "slice"):
        items = [_decode_const(x, f"{vp}[{i}]") for i, x in enumerate(_typed(v, list, vp))]
        if t == "tuple":
            return tuple(items)
        if t == "slice":
            if len(items) != 3:
                raise FormatError(f"{vp}: a slice has 3 items (start, stop, step), got {len(items)}")
            return slice(*items)
        try:
            return frozenset(items)
        except TypeError:
            raise FormatError(f"{vp}: a frozenset item is unhashable") from None
    if t == "code":
        if not top:
            raise FormatError(f"{path}: a code object may only be a top-level constant")
        return _decode_code(v, vp)
    raise FormatError(f"{path}.type: unknown constant type {t!r}")


def _float(v: Any, path: str) -> float:
    if type(v) is not str or not _FLOAT.match(v):
        raise FormatError(f"{path}: expected a float as Python writes it ('1.5', '-0.0', 'nan', "
                          f"'-inf'), got {v!r:.40}")
    return float(v)
