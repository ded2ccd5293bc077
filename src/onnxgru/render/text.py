"""The terminal summary: a table per section, then findings with their fix."""

from __future__ import annotations

from onnxgru.report import Report


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def _layer_summary(layer: dict) -> str:
    acts = "" if layer["activations"][:2] == ["Sigmoid", "Tanh"] else f" {'/'.join(layer['activations'][:2])}"
    clip = "" if layer["clip"] is None else f" clip={layer['clip']:g}"
    form = "" if layer["fused"] else " (not fused)"
    return f"{layer['semantics']} {layer['direction']} {layer['input_size']}->{layer['hidden_size']}{acts}{clip}{form}"


def _models_table(models: list[dict]) -> list[str]:
    rows = [
        [m["role"], m["kind"], m.get("dtype", "?"), "; ".join(_layer_summary(g) for g in m["gru_layers"]) or "-"]
        for m in models
    ]
    return [*_table(["model", "kind", "dtype", "GRU layers"], rows), ""]


def _model_block(m: dict) -> list[str]:
    out = [f"{m['role']}: {m['path']} ({m['kind']}, {m.get('dtype', '?')})"]
    rows = [
        [
            str(i),
            layer["name"][:40],
            layer["semantics"],
            str(layer["linear_before_reset"]),
            layer["direction"],
            str(layer["input_size"]),
            str(layer["hidden_size"]),
            str(layer["layout"]),
            ",".join(layer["activations"]),
            _fmt(layer["clip"]),
            "yes" if layer["fused"] else "no",
            f"{layer['weights']['R']['std']:.3g}",
        ]
        for i, layer in enumerate(m["gru_layers"])
    ]
    headers = [
        "#",
        "name",
        "semantics",
        "lbr",
        "direction",
        "in",
        "hidden",
        "layout",
        "activations",
        "clip",
        "fused",
        "std(R)",
    ]
    out += ["  " + r for r in _table(headers, rows)] if rows else ["  no GRU layer could be read"]
    return [*out, ""]


def render(report: Report) -> str:
    d = report.to_dict()
    out: list[str] = []
    if report.command == "check":
        out += _models_table(d["models"])
    else:
        for m in d["models"]:
            out += _model_block(m)
    if d["pairs"]:
        out.append(f"inputs: {d['inputs']['how']}")
        rows = [
            [
                p["a"],
                p["b"],
                p["output"],
                _fmt(p["max_abs"]),
                _fmt(p["max_rel"]),
                _fmt(p["required_atol"]),
                "ok" if p["passed"] else "FAIL",
            ]
            for p in d["pairs"]
        ]
        out += _table(["a", "b", "output", "max abs", "max rel", "needs atol", "result"], rows)
        out.append("")
    if d["runtimes"]:
        rows = [
            [
                r["runtime"],
                (r["version"] or "-").split("-")[0],
                r["model"],
                r["status"],
                _fmt(r["max_abs"]),
                r["detail"][:70],
            ]
            for r in d["runtimes"]
        ]
        out += _table(["runtime", "version", "model", "status", "max abs", "detail"], rows)
        out.append("")
    for f in d["findings"]:
        out.append(f"{f['code']} {f['severity']}" + (f" [{f['where']}]" if f["where"] else "") + f": {f['message']}")
    if d["findings"]:
        out.append("")
    if report.command != "inspect" or d["findings"]:
        out.append(f"verdict: {d['verdict'].upper()}")
    return "\n".join(out).rstrip() + "\n"
