"""Progress for long `zir` commands: one status line on stderr, only when stderr is a terminal.

    progress = Progress()                 # decides once: is stderr a terminal?
    with progress.step("running f"):      # after `delay` seconds: "zir: running f (1.5 s)", redrawn
        ...                               # in place; erased when the step ends

A step that ends before `delay` prints nothing, so quick commands stay quiet, and output that goes
to a file or a pipe never holds status lines. The line is redrawn by a daemon thread (the work
runs on the main thread and cannot be interrupted to report itself); it is written with a carriage
return and an erase-line escape, as `pip` and `cargo` do. While a step runs, `sys.stdout` is
wrapped so that whatever the work prints (a program run by `zir run`) first erases the status
line: the status always sits below the output, never inside it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["Progress"]

_ERASE = "\r\x1b[K"


class Progress:
    """Status lines for the steps of one command (see the module docstring)."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, delay: float = 0.5,
                 interval: float = 0.25) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty is not None and isatty())
        self.enabled = enabled
        self.delay = delay
        self.interval = interval
        self.shown = 0  #: how many status lines were drawn (for tests)
        self._lock = threading.Lock()
        self._visible = False

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Show `text` with the elapsed time while the block runs (when enabled)."""
        if not self.enabled:
            yield
            return
        done = threading.Event()
        start = time.perf_counter()

        def draw() -> None:
            if done.wait(self.delay):
                return
            while not done.is_set():
                with self._lock:
                    self._write(f"{_ERASE}zir: {text} ({time.perf_counter() - start:.1f} s)")
                    self._visible = True
                    self.shown += 1
                done.wait(self.interval)

        thread = threading.Thread(target=draw, name="zir-progress", daemon=True)
        saved = sys.stdout
        sys.stdout = _Guarded(saved, self)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            sys.stdout = saved
            self.clear()

    def clear(self) -> None:
        """Erase the status line if one is shown."""
        with self._lock:
            self._erase()

    def _erase(self) -> None:
        if self._visible:
            self._write(_ERASE)
            self._visible = False

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal is no reason to fail the command
            self.enabled = False


class _Guarded:
    """A text stream that erases the status line before each write to the stream it wraps."""

    def __init__(self, stream: TextIO, progress: Progress) -> None:
        self._stream = stream
        self._progress = progress

    def write(self, text: str) -> int:
        with self._progress._lock:
            self._progress._erase()
            n = self._stream.write(text)
            self._stream.flush()  # out before the status line is drawn again
            return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
