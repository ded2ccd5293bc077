"""A bounded, seeded fuzz of the TensorFlow and Keras readers: mutated frozen GraphDefs, .keras zips and .h5 files
are inspected and compared, and every outcome is a report (exit 0/1) or one sentence (exit 2), never an internal
error (exit 3) or a traceback.

Raw byte mutations alone mostly stop at the protobuf/zip/HDF5 parser, so most cases mutate the structure instead:
a constant's bytes or shape, a node's dtype, op or inputs, a placeholder's shape; a value in the Keras config; a
weight array's shape or type. Each loop runs a fixed number of cases (about 10 s each on a busy 2-core machine),
not until a deadline: every machine runs the same cases, so a failure seen on one is seen on all.
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main

from .test_fuzz_onnx import _mutate

pytestmark = [pytest.mark.tf, pytest.mark.slow]


def fuzz(make: Callable[[int], Path], capsys, runs: int) -> dict[int, int]:
    """Run ``inspect`` / ``compare`` on ``make(i)`` for ``i < runs``; returns how often each exit code came."""
    codes: dict[int, int] = {}
    for i in range(runs):
        target = str(make(i))
        args = ["inspect", target] if i % 2 else ["compare", target, target, "--steps", "3"]
        code = main(args)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), f"run {i} ({' '.join(args)}): exit {code}: {err}"
        assert "Traceback" not in err, err
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err
        codes[code] = codes.get(code, 0) + 1
    return codes


# --- frozen GraphDef -------------------------------------------------------------------------------------------
def _mutate_graph(graph_def, rng: np.random.Generator):
    from tensorflow.core.framework import graph_pb2, types_pb2

    g = graph_pb2.GraphDef.FromString(graph_def.SerializeToString())
    nodes = g.node
    node = nodes[int(rng.integers(len(nodes)))]
    consts = [n for n in nodes if n.op == "Const"]
    how = int(rng.integers(7))
    if how == 0:  # the bytes of a constant: flipped or cut short
        t = consts[int(rng.integers(len(consts)))].attr["value"].tensor
        data = bytearray(t.tensor_content)
        if data and rng.integers(2):
            for i in rng.integers(0, len(data), size=4):
                data[i] = int(rng.integers(256))
        else:
            data = data[: int(rng.integers(len(data) + 1))]
        t.tensor_content = bytes(data)
    elif how == 1:  # the declared shape of a constant
        t = consts[int(rng.integers(len(consts)))].attr["value"].tensor
        if t.tensor_shape.dim:
            dim = t.tensor_shape.dim[int(rng.integers(len(t.tensor_shape.dim)))]
            dim.size = int(rng.choice([-1, 0, 1, 7, 2**31, 10**12]))
    elif how == 2:  # a dtype attribute
        types = [types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_INT32, types_pb2.DT_HALF, types_pb2.DT_STRING,
                 types_pb2.DT_BOOL, 0]
        for key in list(node.attr):
            if node.attr[key].HasField("type"):
                node.attr[key].type = int(rng.choice(types))
    elif how == 3:  # a node removed
        del nodes[int(rng.integers(len(nodes)))]
    elif how == 4:  # an input rewired
        if node.input:
            node.input[int(rng.integers(len(node.input)))] = nodes[int(rng.integers(len(nodes)))].name
    elif how == 5:  # another op
        node.op = str(rng.choice(["Identity", "MatMul", "Sigmoid", "Tanh", "NoSuchOp", "Add", "Const"]))
    else:  # the sequence placeholder's shape
        for n in nodes:
            if n.op == "Placeholder":
                for d in n.attr["shape"].shape.dim:
                    d.size = int(rng.choice([-1, 0, 3, 5, 9]))
    return g


def test_mutated_frozen_graphs(tf_files, tmp_path: Path, capsys) -> None:
    from tensorflow.core.framework import graph_pb2

    rng = np.random.default_rng(20261128)
    good = tf_files["dynamic"].read_bytes()
    graph_def = graph_pb2.GraphDef.FromString(good)
    target = tmp_path / "fuzz.pb"

    def make(i: int) -> Path:
        data = _mutate(good, rng) if i % 4 == 3 else _mutate_graph(graph_def, rng).SerializeToString()
        target.write_bytes(data)
        return target

    codes = fuzz(make, capsys, runs=300)
    assert codes.get(2, 0) > 0, codes


# --- Keras ------------------------------------------------------------------------------------------------------------
_VALUES = [None, -1, 0, 3, 10**9, "tanh", "relu", "GRU", "LSTM", "Lambda", [], {}, True, 1.5, "xxxxx", [None, None, 5]]


def _mutate_json(obj: object, rng: np.random.Generator) -> object:
    """One value somewhere in a JSON document replaced by an odd one, or a key removed."""
    paths: list[list] = []

    def walk(o: object, path: list) -> None:
        paths.append(path)
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, v in items:
            walk(v, path + [k])

    walk(obj, [])
    if len(paths) < 2:
        return obj
    path = paths[int(rng.integers(1, len(paths)))]
    parent = obj
    for k in path[:-1]:
        parent = parent[k]
    if isinstance(parent, dict) and rng.integers(4) == 0:
        del parent[path[-1]]
    else:
        parent[path[-1]] = _VALUES[int(rng.integers(len(_VALUES)))]
    return obj


def test_mutated_keras_zips(tf_files, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(20261129)
    good = tf_files["keras"].read_bytes()
    target = tmp_path / "fuzz.keras"

    def make(i: int) -> Path:
        if i % 4 == 3:
            target.write_bytes(_mutate(good, rng))
            return target
        which = rng.choice(["config.json", "model.weights.h5", "metadata.json"], p=[0.7, 0.2, 0.1])
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as zin, zipfile.ZipFile(out, "w") as zout:
            for name in zin.namelist():
                data = zin.read(name)
                if name == which:
                    data = (json.dumps(_mutate_json(json.loads(data), rng)).encode() if name.endswith(".json")
                            else _mutate(data, rng))
                zout.writestr(name, data)
        target.write_bytes(out.getvalue())
        return target

    codes = fuzz(make, capsys, runs=60)
    assert codes.get(2, 0) > 0, codes


def test_mutated_h5_files(tf_files, tmp_path: Path, capsys) -> None:
    import h5py

    rng = np.random.default_rng(20261130)
    good = tf_files["h5"]
    target = tmp_path / "fuzz.h5"

    def make(i: int) -> Path:
        if i % 4 == 3:
            target.write_bytes(_mutate(good.read_bytes(), rng))
            return target
        shutil.copy(good, target)
        with h5py.File(target, "r+") as f:
            if rng.integers(3):
                f.attrs["model_config"] = json.dumps(_mutate_json(json.loads(f.attrs["model_config"]), rng))
            else:  # one weight array cut short, retyped, transposed or filled with NaN
                names: list[str] = []
                f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                name = names[int(rng.integers(len(names)))]
                a = f[name][()]
                del f[name]
                options = [a.reshape(-1)[:-1], a.astype(np.float16), np.full_like(a, np.nan),
                           a.T.copy() if a.ndim == 2 else a[..., None]]
                f[name] = options[int(rng.integers(len(options)))]
        return target

    codes = fuzz(make, capsys, runs=90)
    assert codes.get(2, 0) > 0, codes
