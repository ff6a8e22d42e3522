"""The zir error hierarchy: every error a user can cause is a `ZirError` naming the place."""

from __future__ import annotations


class ZirError(Exception):
    """Base class of every error zir raises for bad input, bad IR or a VM fault."""


class ParseError(ZirError):
    """Malformed `.zir` or `.zasm` text; the message starts with `file:line:col`."""

    def __init__(self, message: str, filename: str = "<string>", line: int = 0, col: int = 0) -> None:
        self.filename = filename
        self.line = line
        self.col = col
        self.detail = message
        super().__init__(f"{filename}:{line}:{col}: {message}")


class VerifyError(ZirError):
    """IR or bytecode that breaks an invariant; the message names function, block and instruction."""


class FrontendError(ZirError):
    """A Python function the CPython front end cannot translate (names construct, function, file, line)."""


class VMError(ZirError):
    """A fault in the virtual machine itself: step or depth limit, bad target, corrupt code."""


class PassError(ZirError):
    """A pipeline string or pass option that does not make sense."""
