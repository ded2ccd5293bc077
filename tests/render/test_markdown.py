"""The Markdown report (pull-request comments) and the notebook rendering lead with the verdict and the causes."""

from __future__ import annotations

from onnxgru.render import markdown

from .reports import example_like, warnings_only


def test_markdown_leads_with_the_verdict_and_folds_the_tables() -> None:
    md = markdown.render(example_like())
    first = md.splitlines()[0]
    assert first.startswith("### ❌ onnxgru check: FAIL")
    assert md.index("GRU001") < md.index("GRU010 ×4") < md.index("<details>")
    assert "consequence" in md and "**GRU008 ×5**" in md
    assert "| checked | against | output |" in md
    assert markdown.render(warnings_only()).startswith("### ✅ onnxgru check: PASS")


def test_markdown_escapes_pipes_in_cells() -> None:
    assert "\\|" in markdown._cell("a|b")


def test_notebooks_get_html() -> None:
    html = example_like()._repr_html_()
    assert html.startswith("<div>") and "FAIL" in html and "GRU001" in html and "<table>" in html
    assert "<script" not in html
