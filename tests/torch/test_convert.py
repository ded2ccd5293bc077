"""``onnxgru convert``: every TensorFlow GRU family becomes a PyTorch module equal to TensorFlow, loadable without
onnxgru; ``--target nn.GRU`` writes the nearest nn.GRU and says how far off it is."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from onnxgru.core.inputs import Inputs
from onnxgru.sources.load import LoadOptions, load
from onnxgru.verify.inputs import make_inputs
from onnxgru.verify.settings import Settings

from ..builders import WITHOUT_ONNXGRU
from .conftest import RUN, H, I, one_error_line

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.torch, pytest.mark.tf]

# family: (module inside the file, time-major, state rows)
FAMILIES = {
    "tf1_dynamic": ("GRUStack", False, 1),
    "tf1_time_major": ("GRUStack", True, 1),
    "tf1_initial_state": ("GRUStack", False, 1),
    "tf1_float64": ("GRUStack", False, 1),
    "tf1_bidirectional": ("GRUStack", False, 2),
    "tf1_stacked": ("GRUStack", False, 2),
    "keras_reset_after": ("nn.GRU", False, 1),
    "keras_reset_before": ("GRUStack", False, 1),
    "keras_bidirectional": ("GRUStack", False, 2),
    "keras_stacked": ("GRUStack", False, 2),
}


@pytest.fixture(scope="module")
def converted(tf_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, dict]]:
    """Every family converted once through the command line: (exit code, JSON report), files next to the reports."""
    from onnxgru.cli import main

    folder = tmp_path_factory.mktemp("converted")
    out = {}
    for name, source in tf_models.items():
        report = folder / f"{name}.json"
        code = main(["convert", str(source), "-o", str(folder / f"{name}.pt"), "--json", str(report), *RUN])
        out[name] = (code, json.loads(report.read_text()) if report.exists() else {})
    return out


def _feeds(model, seed: int) -> Inputs:
    """Other inputs than the converter checked with: another batch, more steps."""
    return make_inputs([model], Settings(seed=seed, batch=2, steps=11))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_conversion_equals_tensorflow(tf_models: dict[str, Path], converted, family: str, tmp_path: Path) -> None:
    code, report = converted[family]
    assert code == 0, report.get("findings")
    module_kind, time_major, rows = FAMILIES[family]
    assert report["convert"]["module"] == module_kind and report["convert"]["max_abs"] <= 1e-5
    path = Path(report["models"][1]["path"])
    source = load(tf_models[family], "tf", LoadOptions())
    feeds = _feeds(source, 3)
    want = list(source.run(feeds).outputs.values())  # the sequence, and the final state where the source gives it
    # The file as a user loads it: plain torch.jit.load, forward(x, h0=None) in the source's layout.
    module = torch.jit.load(str(path))
    x = torch.from_numpy(feeds.x)
    h0 = None if feeds.h0 is None else torch.from_numpy(feeds.h0[0] if rows == 1 else feeds.h0)
    with torch.no_grad():
        out, state = module(x.transpose(0, 1) if time_major else x, h0)
    out = out.transpose(0, 1) if time_major else out
    assert out.dtype == (torch.float64 if family == "tf1_float64" else torch.float32)
    assert state.shape == ((2, H) if rows == 1 else (rows, 2, H))
    np.testing.assert_allclose(out.numpy(), want[0], atol=1e-5, rtol=1e-5)
    if len(want) > 1:
        np.testing.assert_allclose(state.numpy().reshape(want[1].shape), want[1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("family", ["tf1_bidirectional", "keras_stacked", "keras_reset_after"])
def test_the_file_loads_where_onnxgru_cannot_be_imported(converted, family: str, tmp_path: Path) -> None:
    path = Path(converted[family][1]["models"][1]["path"])
    x = np.random.default_rng(0).uniform(-1, 1, (2, 6, I)).astype(np.float32)
    with torch.no_grad():
        want = torch.jit.load(str(path))(torch.from_numpy(x))[0].numpy()
    np.savez(tmp_path / "io.npz", x=x, want=want)
    script = WITHOUT_ONNXGRU + textwrap.dedent(f"""
        try:
            import onnxgru
        except ImportError:
            pass
        else:
            raise SystemExit("onnxgru could be imported")
        import numpy as np, torch
        data = np.load({str(tmp_path / "io.npz")!r})
        module = torch.jit.load({str(path)!r})
        out, state = module(torch.from_numpy(data["x"]))
        print("MAXERR", float(np.abs(out.detach().numpy() - data["want"]).max()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MAXERR 0.0" in done.stdout


def test_target_nn_gru_writes_the_nearest_and_reports_gru001(tf_models: dict[str, Path], cli, tmp_path: Path) -> None:
    out = tmp_path / "nearest.pt"
    report = tmp_path / "nearest.json"
    code, text, _ = cli("convert", tf_models["keras_reset_before"], "-o", out, "--target", "nn.GRU", "--json", report,
                        *RUN)
    assert code == 1 and out.exists()
    messages = [f["message"] for f in json.loads(report.read_text())["findings"] if f["code"] == "GRU001"]
    assert "GRU001" in text and any("differs from the source by up to" in m for m in messages)
    module = torch.jit.load(str(out))
    assert any(m.original_name == "GRU" for m in module.modules())
    # Where nn.GRU is exact (Keras reset_after=True) the forced target is no error.
    code, text, _ = cli(
        "convert", tf_models["keras_reset_after"], "-o", tmp_path / "exact.pt", "--target", "nn.GRU", *RUN
    )
    assert code == 0 and "GRU001" not in text


def test_the_converted_exact_module_exports_to_one_reset_before_gru_node(converted, cli, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    path = Path(converted["tf1_dynamic"][1]["models"][1]["path"])
    out = tmp_path / "tf1.onnx"
    code, text, err = cli("export", "torch", path, "-o", out, *RUN)
    assert code == 0, text + err
    nodes = [n for n in onnx.load(str(out)).graph.node if n.op_type == "GRU"]
    assert len(nodes) == 1
    assert onnx.helper.get_attribute_value(next(a for a in nodes[0].attribute if a.name == "linear_before_reset")) == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["{torch}", "-o", "{out}.pt"], "TensorFlow and Keras sources"),
        (["{tf}", "-o", "{out}.pt2"], "TorchScript"),
        (["{tf}", "-o", "{out}.pt", "--target", "cudnn"], "invalid choice"),
    ],
)
def test_convert_user_errors_write_nothing(
    tf_models: dict[str, Path], torch_models, cli, tmp_path: Path, args: list[str], words: str
) -> None:
    filled = [
        a.format(torch=torch_models["plain"], tf=tf_models["tf1_dynamic"], out=tmp_path / "converted") for a in args
    ]
    code, _, err = cli("convert", *filled)
    assert code == 2 and words in one_error_line(err)
    assert list(tmp_path.iterdir()) == []
