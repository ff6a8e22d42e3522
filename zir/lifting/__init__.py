"""Lifting ZBC to IR (`zir.lift`): the control flow of a code object (`flow`) and the abstract
interpretation of its operand stack (`interp`)."""

from __future__ import annotations

from zir.lifting.emitter import LASTI, local_var_names
from zir.lifting.interp import lift_code, liftable

__all__ = ["LASTI", "lift_code", "liftable", "local_var_names"]
