"""Progress for long `zir` commands: one status line on stderr, only when stderr is a terminal.

    progress = Progress()                 # decides once: is stderr a terminal?
    with progress.step("running f"):      # after `delay` seconds: "zir: running f (1.5 s)", redrawn
        ...                               # in place; erased when the step ends

A step that ends before `delay` prints nothing, so quick commands stay quiet, and output that goes
to a file or a pipe never holds status lines. The line is redrawn by a daemon thread (the work
runs on the main thread and cannot be interrupted to report itself); it is written with a carriage
return and an erase-line escape, as `pip` and `cargo` do.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

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

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Show `text` with the elapsed time while the block runs (when enabled)."""
        if not self.enabled:
            yield
            return
        done = threading.Event()
        drawn = threading.Event()
        start = time.perf_counter()

        def draw() -> None:
            if done.wait(self.delay):
                return
            while not done.is_set():
                self._write(f"{_ERASE}zir: {text} ({time.perf_counter() - start:.1f} s)")
                self.shown += 1
                drawn.set()
                done.wait(self.interval)

        thread = threading.Thread(target=draw, name="zir-progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            if drawn.is_set():
                self._write(_ERASE)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed terminal is no reason to fail the command
            self.enabled = False
