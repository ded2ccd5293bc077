"""Progress for long work: a line on stderr when it is a terminal, nothing when piped or in CI."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._start = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\033[K[{time.monotonic() - self._start:5.1f}s] {message}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
