"""faceattr.progress: quiet for short runs, rate-limited lines in logs, one redrawn line on a terminal."""

from __future__ import annotations

import io

from faceattr.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(progress: Progress, clock: FakeClock, steps: int, seconds_each: float) -> None:
    for _ in range(steps):
        clock.now += seconds_each
        progress.update()


def test_a_short_run_prints_nothing():
    clock, out = FakeClock(), io.StringIO()
    with Progress(50, "predict", stream=out, clock=clock) as progress:
        run(progress, clock, 50, 0.03)  # 1.5 s in all
    assert out.getvalue() == ""


def test_a_log_gets_a_line_at_most_every_every_s_with_count_rate_and_time_left():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(1000, "predict", stream=out, clock=clock, every_s=10.0)
    assert not progress.tty  # a StringIO is not a terminal
    run(progress, clock, 1000, 0.125)  # 125 s at 8 images/s (0.125: exact in binary)
    progress.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 13  # one per 10 s, plus the closing line; not one per image
    assert lines[0] == "predict: 80/1000 images (8%), 8.0 images/s, 1:55 left"
    assert lines[-1] == "predict: 1000/1000 images (100%), 8.0 images/s, 2:05 in all"


def test_unknown_total_shows_the_count_and_rate_only():
    clock, out = FakeClock(), io.StringIO()
    with Progress(None, "evaluate", stream=out, clock=clock, unit="faces") as progress:
        run(progress, clock, 30, 1.0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "evaluate: 10 faces, 1.0 faces/s"
    assert "left" not in out.getvalue() and "%" not in out.getvalue()


def test_a_terminal_gets_one_line_redrawn_in_place():
    clock, out = FakeClock(), io.StringIO()
    with Progress(320, "predict", stream=out, clock=clock, tty=True) as progress:
        run(progress, clock, 320, 0.0625)  # 20 s
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("in all\x1b[K\n")  # one line, ended once
    assert text.count("\r") >= 30  # redrawn about twice a second after the first 2 s
    assert text.startswith("\rpredict: ") and "\x1b[K" in text


def test_close_is_idempotent_and_the_clock_is_only_read_not_slept_on():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(3, "x", stream=out, clock=clock)
    run(progress, clock, 3, 20.0)
    progress.close()
    progress.close()
    assert out.getvalue().count("in all") == 1
