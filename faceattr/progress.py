"""A progress line for long loops (predict and evaluate over folders, and any other loop that counts items).

Quiet for short runs; on a terminal one line redrawn in place, elsewhere (a log file, CI, `2> log`) a full
line at most every `every_s` seconds, so logs stay small however many items there are.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def _duration(seconds: float) -> str:
    """3:07 or 1:02:03: short enough for a progress line."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts items done and reports the count (of `total`, when known), the rate and the time left.

    Nothing is printed until `quiet_s` seconds have passed, so a run that ends sooner prints nothing at
    all. Use as a context manager, or call `close()`, which ends the line (with the final count) only
    if something was printed. `clock` (seconds, monotonic) is injectable for tests; `tty` overrides
    `stream.isatty()`.
    """

    def __init__(
        self,
        total: int | None,
        what: str,
        stream: TextIO | None = None,
        every_s: float = 10.0,
        unit: str = "images",
        quiet_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
        redraw_s: float = 0.5,
    ) -> None:
        self.total = total if total is None or total >= 0 else None
        self.what, self.unit = what, unit
        self.stream = stream if stream is not None else sys.stderr  # looked up now: tests swap sys.stderr
        if tty is None:
            try:
                tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):  # no isatty, or a closed stream
                tty = False
        self.tty = tty
        self.every_s = redraw_s if tty else every_s
        self.quiet_s, self.clock = quiet_s, clock
        self.done = 0
        self.start = clock()
        self.last_shown: float | None = None  # when a line was last printed; None: never
        self.closed = False

    def line(self, now: float) -> str:
        """The progress line at time `now`, e.g. `predict: 1200/5000 images (24%), 85.3 images/s, 0:44 left`."""
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        count = (
            f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%)"
            if self.total
            else f"{self.done} {self.unit}"
        )
        text = f"{self.what}: {count}, {rate:.1f} {self.unit}/s"
        if self.closed:
            text += f", {_duration(elapsed)} in all"
        elif self.total and rate > 0 and self.done < self.total:
            text += f", {_duration((self.total - self.done) / rate)} left"
        return text

    def update(self, n: int = 1) -> None:
        """Count `n` more items done; print a line if it is time to."""
        self.done += n
        now = self.clock()
        if now - self.start < self.quiet_s:
            return
        if self.last_shown is not None and now - self.last_shown < self.every_s:
            return
        if self.last_shown is None and not self.tty and now - self.start < self.every_s:
            return  # a log gets its first line after every_s: a run of 5 s adds nothing to it
        self._show(now)

    def _show(self, now: float) -> None:
        text = self.line(now)
        if self.tty:
            self.stream.write(f"\r{text}\x1b[K")  # \x1b[K clears what a longer earlier line left
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.last_shown = now

    def close(self) -> None:
        """End the report: the final count on the same line (terminal) or a last line (log), if any was shown."""
        if self.closed:
            return
        self.closed = True
        if self.last_shown is None:
            return
        self._show(self.clock())
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
