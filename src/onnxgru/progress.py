"""Progress for long work: one status line on stderr, ``[elapsed] stage``, rewritten in place while stderr is a
terminal; nothing when piped, in CI or with ``-q``.

The line is cut to the terminal's width less one column, so it never wraps and ``\\r`` always returns to its start:
clearing it (``\\r`` and erase to the end of the line) leaves nothing behind. A thread redraws it about twice a
second, so the elapsed time moves while one stage is long (a native run, a runtime on a big model). ``done()`` clears
it and stops it for good; whatever prints next (the report, an error, an interruption) starts on a clean line.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
import unicodedata
from typing import TextIO

TICK_S = 0.5
CLEAR = "\r\x1b[K"  # back to the start of the line, erase to its end

_active: Progress | None = None  # the line on screen, for ``close_line``


class Progress:
    """The status line. Called with a stage (``progress("loading a.pb")``) it shows ``[elapsed] stage``.

    ``stream``: stderr unless given; ``enabled``: whether the stream is a terminal unless given; ``width``: the
    terminal's columns, read at each draw unless given (tests)."""

    def __init__(self, enabled: bool | None = None, stream: TextIO | None = None, width: int | None = None,
                 tick: float = TICK_S) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.width = width
        self.tick = tick
        self._start = time.monotonic()
        self._stage = ""
        self._shown = False  # text on the line now
        self._closed = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        # While TensorFlow imports, file descriptor 2 points at /dev/null (_lazy): a copy made now still reaches the
        # terminal, so the elapsed time moves through the import too.
        self._fd = _copy_fd(self.stream) if self.enabled else None

    def __call__(self, stage: str) -> None:
        global _active
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            self._stage = stage
            self._draw()
            _active = self
        if self._ticker is None and self.tick > 0:
            self._ticker = threading.Thread(target=self._tick, name="onnxgru-progress", daemon=True)
            self._ticker.start()

    def clear(self) -> None:
        """Erase the line until the next stage (to print something in the middle of the work)."""
        with self._lock:
            self._erase()

    def done(self) -> None:
        """Erase the line and stop: nothing is written after this."""
        global _active
        with self._lock:
            if self._closed:
                return
            self._erase()
            self._closed = True
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if _active is self:
                _active = None
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=1.0)

    def line(self) -> str:
        """``[elapsed] stage`` as drawn: one line of at most the width less one column."""
        return fit(f"[{_elapsed(time.monotonic() - self._start)}] {self._stage}", self._columns() - 1,
                   _ellipsis(self.stream))

    # --- drawing (under the lock) ---------------------------------------------------------------------------------
    def _tick(self) -> None:
        while not self._stop.wait(self.tick):
            with self._lock:
                if self._closed:
                    return
                if self._shown:
                    self._draw()

    def _draw(self) -> None:
        self._write(CLEAR + self.line())
        self._shown = True

    def _erase(self) -> None:
        if self._shown and not self._closed:
            self._write(CLEAR)
            self._shown = False

    def _write(self, text: str) -> None:
        try:
            if self._fd is None:
                self.stream.write(text)
                self.stream.flush()
                return
            self.stream.flush()  # what was written before the line goes before it
            encoding = getattr(self.stream, "encoding", None) or "utf-8"
            os.write(self._fd, text.encode(encoding, "replace"))
        except (OSError, ValueError):  # a closed or vanished terminal: progress is not worth an error
            pass

    def _columns(self) -> int:
        if self.width:
            return self.width
        try:
            columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            columns = 0
        if columns <= 0 and self._fd is not None:
            try:
                columns = os.get_terminal_size(self._fd).columns
            except OSError:
                columns = 0
        return columns if columns > 0 else shutil.get_terminal_size().columns


def close_line() -> None:
    """Erase and stop the status line on screen, if any: before a message that ends the process."""
    line = _active
    if line is not None:
        line.done()


def fit(text: str, columns: int, ellipsis: str = "…") -> str:
    """``text`` as one line of at most ``columns`` terminal columns: control characters as ``?``, wide characters
    counted as two. A line too long loses its middle, a third of the room kept at the start (the elapsed time and
    the verb) and the rest at the end (the runtime, the file's name)."""
    chars = ["?" if unicodedata.category(c)[0] == "C" else c for c in text]
    widths = [_width(c) for c in chars]
    if sum(widths) <= columns:
        return "".join(chars)
    room = columns - len(ellipsis)
    if room <= 0:
        return ellipsis[:max(columns, 0)]
    head = used = 0
    while used + widths[head] <= room // 3:
        used += widths[head]
        head += 1
    tail = len(chars)
    while used + widths[tail - 1] <= room:
        tail -= 1
        used += widths[tail]
    return "".join(chars[:head]) + ellipsis + "".join(chars[tail:])


def _width(c: str) -> int:
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in "WF" else 1


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:4.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _ellipsis(stream: TextIO) -> str:
    try:
        "…".encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return "..."
    return "…"


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _copy_fd(stream: TextIO) -> int | None:
    """A copy of the stream's file descriptor, None for a stream without one (a test's)."""
    try:
        return os.dup(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None
