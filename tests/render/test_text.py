"""The terminal report: verdict first, root causes with their consequences nested, repeats collapsed, wrapped to the
width; -q the verdict line only, -v every table and every section (unknown ones plainly)."""

from __future__ import annotations

import pytest

from onnxgru.entries import Example, ExportAttempt, ExportDetails
from onnxgru.meaning import base_model, organise
from onnxgru.render import text

from .reports import NAIVE, TF, example_like, warnings_only


@pytest.mark.parametrize("make", [example_like, warnings_only])
def test_the_first_line_holds_the_verdict(make) -> None:
    report = make()
    first = text.render(report, width=100).splitlines()[0]
    assert first.startswith(f"onnxgru check: {report.verdict.upper()} - ")
    assert report.verdict == ("fail" if make is example_like else "pass")


def test_counts_and_root_causes_in_the_headline() -> None:
    first = text.render(example_like(), width=200).splitlines()[0]
    assert "5 errors (1 root cause)" in first and "7 warnings" in first and "3 of 7 comparisons agree" in first


@pytest.mark.parametrize("explicit", [False, True])
def test_consequences_nest_under_their_cause(explicit: bool) -> None:
    """By the finding's ``cause`` when a command sets it, and by rule (a GRU010 between two models a GRU001 says
    differ) when it does not."""
    groups = organise(example_like(explicit_cause=explicit).active_findings)
    errors = [g for g in groups if g.severity == "error"]
    assert [g.code for g in errors] == ["GRU001"]
    assert [(c.code, c.count) for c in errors[0].consequences] == [("GRU010", 4)]
    out = text.render(example_like(explicit_cause=explicit), width=100)
    assert out.index("GRU001") < out.index("4 consequences") < out.index("GRU010 ×4")


def test_a_disagreement_between_unrelated_models_stays_a_root() -> None:
    report = example_like()
    other = report.findings + (report.findings[1].__class__("GRU010", "error", "x", "A vs B: output"),)
    groups = organise(other)
    assert [g.code for g in groups if g.severity == "error"] == ["GRU001", "GRU010"]


def test_execution_labels_lead_to_their_model() -> None:
    assert base_model(f"onnxruntime(export({NAIVE}))") == NAIVE
    assert base_model(f"openvino: export({TF})") == TF
    assert base_model("A (/tmp/a.onnx)") == "A"


def test_repeats_are_collapsed() -> None:
    out = text.render(example_like(), width=100)
    assert "GRU008 ×5" in out and "GRU009 ×2" in out
    assert out.count("INFERENCE_PRECISION_HINT") == 1  # one example message, not five


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("verbosity", [0, 1])
def test_wrapped_to_the_width(width: int, verbosity: int) -> None:
    report = example_like(export=ExportDetails("f", attempts=(ExportAttempt("x" * 150, False, {}, "y " * 90),)))
    lines = text.render(report, verbosity, width).splitlines()
    assert max(len(line) for line in lines) <= width, max(lines, key=len)


def test_quiet_is_the_verdict_line_only() -> None:
    out = text.render(example_like(), verbosity=-1, width=300)
    assert out.count("\n") == 1 and out.startswith("onnxgru check: FAIL")


def test_verbose_shows_every_table_and_the_nested_sections() -> None:
    tried = ExportDetails("float32", attempts=(ExportAttempt("tf2onnx from the frozen graph", True, {"GRU": 1},
                                                             "agrees with TensorFlow"),), chosen="tf2onnx")
    default = text.render(example_like(export=tried), 0, 120)
    verbose = text.render(example_like(export=tried), 1, 120)
    assert "attempts" not in default and "tf2onnx from the frozen graph" not in default  # nested: waits for -v
    assert "attempts:" in verbose and "how: tf2onnx from the frozen graph" in verbose and "GRU: 1" in verbose
    flat = text.render(example_like(export=ExportDetails("float32", exporter="torchscript", opset=17)), 0, 120)
    assert "export: exporter=torchscript, opset=17, dtype=float32, gru_nodes=0" in flat  # flat: shown by default
    assert "onnxruntime" in verbose and "1.32.0" in verbose  # the runtime table
    assert verbose.count("agrees with the reference GRU") == 5 and "agrees with the reference GRU" not in default
    assert "semantics" in verbose  # the model tables


def test_default_lists_what_is_not_ok_compactly() -> None:
    out = text.render(example_like(), 0, 100)
    assert "openvino mismatch on 5 models" in out and "GRU008 above" in out
    assert "Comparisons: 3 of 7 agree" in out


def test_the_bundled_example_says_so() -> None:
    story = "A TF1 dynamic_rnn GRUCell ported to torch.nn.GRU."
    out = text.render(example_like(example=Example("/x/models", story)), 0, 100)
    lines = out.splitlines()
    assert lines[0].startswith("onnxgru check: FAIL")
    assert "bundled example" in lines[1] or "bundled example" in lines[2]
    assert "dynamic_rnn" in out


def test_str_of_a_report_is_the_text_report() -> None:
    report = example_like()
    assert str(report).splitlines()[0].startswith("onnxgru check: FAIL")
    assert "GRU001" in str(report) and "Report(" not in str(report)


def test_where_a_disagreement_starts_is_said_by_default() -> None:
    """A GRU010 that follows from a GRU001 is nested under it; its localisation (which layer the two models part at)
    is the line a user needs, so it shows without -v, once, however many outputs disagree."""
    from dataclasses import replace as changed

    base = example_like(explicit_cause=True)
    where = "everything before GRU layer 0 (gru.l0) agrees (its input exactly); layer 0 differs by 0.035"
    findings = tuple(changed(f, located=where) if f.code == "GRU010" else f for f in base.findings)
    out = text.render(changed(base, findings=findings), 0, 100)
    assert out.count("everything before GRU layer 0") == 1
    assert "everything before GRU layer 0" not in text.render(base, 0, 100)  # nothing located: nothing said
    other = tuple(changed(f, located=f"{where} ({i})") if f.code == "GRU010" else f
                  for i, f in enumerate(base.findings))
    assert "more: -v)" in text.render(changed(base, findings=other), 0, 100)


@pytest.mark.parametrize("width", [80, 100])
def test_comparisons_keep_every_name_whole_and_say_which_is_the_reference(width: int) -> None:
    report = example_like()
    out = text.render(report, 1, width)
    lines = out.splitlines()
    for p in report.pairs:  # each file's name on one line, never cut in the middle
        for label in (p.a, p.b):
            assert any(label.rsplit(":", 1)[-1].rstrip(")") in line for line in lines), label
    heading = next(line for line in lines if "naive.pt against" in line and line.strip().startswith("✗"))
    assert "blog/torch:naive.pt against blog/tf:gru.pb" in heading  # the checked model first, its reference second
    assert "a  " not in out.split("Comparisons", 1)[1].splitlines()[1]  # no bare a/b column headers
