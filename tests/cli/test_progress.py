"""The status line: one line cut to the terminal's width, an elapsed time that moves, erased before anything else
prints, and nothing at all when stderr is no terminal or with -q."""

from __future__ import annotations

import io
import time
import unicodedata

import pytest

from onnxgru import cli, progress
from onnxgru.errors import UserError
from onnxgru.progress import CLEAR, Progress, fit

WIDTH = 40


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def columns(text: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def drawn(written: str) -> list[str]:
    """The lines drawn: what follows each ``\\r`` + erase-to-end-of-line."""
    assert written.startswith(CLEAR)
    return written.split(CLEAR)[1:]


STAGES = [
    "loading /home/someone/a/long/folder/of/models/blog_naive_port.pt",
    "running export(zero-weights/torch:blog_zero_naive_port.pt) in openvino-f32 (3 of 5)",
    "loading 模型/循环神经网络/门控循环单元.onnx",  # wide characters: two columns each
    "loading a\nname with\ta newline and a tab.onnx",  # a file name can hold control characters
    "short",
]


def test_every_line_fits_the_width_and_never_wraps() -> None:
    out = FakeTTY()
    line = Progress(stream=out, width=WIDTH, tick=0)
    for stage in STAGES:
        line(stage)
    line.done()
    lines = drawn(out.getvalue())
    assert lines[-1] == ""  # done() erased the line
    for text in lines[:-1]:
        assert columns(text) <= WIDTH - 1 and "\n" not in text and "\r" not in text and "\t" not in text, text
        assert text.startswith("[") and "s] " in text
    # a long line loses its middle: the start of the verb and the runtime stay
    assert lines[1].startswith("[ 0.0s] run") and lines[1].endswith(" in openvino-f32 (3 of 5)")
    assert lines[4].endswith("] short")


def test_fit() -> None:
    assert fit("abc", 3) == "abc"
    assert fit("abcdefghij", 7) == "ab…ghij" and fit("abcdefghij", 7, "...") == "a...hij"
    assert columns(fit("門控循環單元門控循環單元", 9)) <= 9
    assert fit("a\x1b[31mb", 20) == "a?[31mb"
    assert fit("abcdef", 0) == ""


@pytest.mark.slow
def test_the_elapsed_time_ticks_and_stops_with_done() -> None:
    out = FakeTTY()
    line = Progress(stream=out, width=WIDTH, tick=0.05)
    line("running tf:tagger.keras natively")
    time.sleep(0.5)
    line.done()
    lines = drawn(out.getvalue())
    assert len(lines) >= 4 and lines[-1] == ""  # redrawn while the stage lasted, erased at the end
    times = [float(text[1:text.index("s]")]) for text in lines[:-1]]
    assert times == sorted(times) and times[-1] >= 0.3
    after = out.getvalue()
    time.sleep(0.2)
    line("a stage after done")
    line.clear()
    assert out.getvalue() == after  # nothing after done()


@pytest.mark.parametrize("how", ["not a terminal", "quiet"])
def test_nothing_when_not_a_terminal_or_quiet(how: str) -> None:
    out = io.StringIO() if how == "not a terminal" else FakeTTY()
    line = Progress(stream=out, width=WIDTH, tick=0.01) if how == "not a terminal" else Progress(
        enabled=False, stream=out, width=WIDTH, tick=0.01)
    line("loading a.onnx")
    time.sleep(0.05)
    line.done()
    assert out.getvalue() == ""


def test_clear_erases_the_line_until_the_next_stage() -> None:
    out = FakeTTY()
    line = Progress(stream=out, width=WIDTH, tick=0.02)
    line("loading a.onnx")
    line.clear()
    erased = out.getvalue()
    assert erased.endswith(CLEAR)
    time.sleep(0.1)
    assert out.getvalue() == erased  # the ticker leaves an erased line alone
    line("running a.onnx in tract (1 of 1)")
    line.done()
    assert drawn(out.getvalue())[-2].endswith("a.onnx in tract (1 of 1)")


def test_close_line_erases_the_line_on_screen() -> None:
    out = FakeTTY()
    line = Progress(stream=out, width=WIDTH, tick=0)
    line("loading a.onnx")
    progress.close_line()
    assert out.getvalue().endswith(CLEAR)
    line("later")
    assert out.getvalue().endswith(CLEAR)


def _dispatch_then(monkeypatch, error: BaseException):
    def dispatch(args, settings, options, target, outputs, line):
        line("running export(blog/tf:blog_gru_cell.pb) in onnxruntime, openvino, openvino-f32, tract, reference")
        raise error

    monkeypatch.setattr(cli, "_dispatch", dispatch)


@pytest.mark.parametrize("error, code, said", [
    (UserError("the model is broken."), 2, "onnxgru: error: the model is broken.\n"),
    (KeyboardInterrupt(), 130, "onnxgru: interrupted; nothing was written.\n"),
])
def test_the_line_is_erased_before_an_error_or_an_interruption(monkeypatch, error, code, said) -> None:
    err = FakeTTY()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setenv("COLUMNS", "80")
    _dispatch_then(monkeypatch, error)
    monkeypatch.setattr(cli, "check_sources", lambda sources: None)
    assert cli.main(["check", "--onnx", "model.onnx"]) == code
    lines = drawn(err.getvalue())
    assert lines[-1] == said  # on a line of its own, after the status line was erased
    assert all(columns(text) <= 79 for text in lines[:-1])


def test_no_line_with_quiet(monkeypatch) -> None:
    err = FakeTTY()
    monkeypatch.setattr("sys.stderr", err)
    _dispatch_then(monkeypatch, KeyboardInterrupt())
    monkeypatch.setattr(cli, "check_sources", lambda sources: None)
    assert cli.main(["check", "--onnx", "model.onnx", "-q"]) == 130
    assert err.getvalue() == "onnxgru: interrupted; nothing was written.\n"
