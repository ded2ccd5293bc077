"""A bounded, seeded fuzz of the ONNX reader: mutated model bytes are read, inspected and compared, and every
outcome is a report (exit 0/1) or one sentence (exit 2) — never an internal error or a traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onnxgru.cli import main

from ..conftest import random_layer

RUNS = 400  # a fixed number, not a deadline: every machine runs the same cases (about 1 s here)


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    how = rng.integers(4)
    if how == 0:  # flip bytes
        for i in rng.integers(0, len(buf), size=int(rng.integers(1, 8))):
            buf[i] = int(rng.integers(256))
    elif how == 1:  # truncate
        buf = buf[: int(rng.integers(1, len(buf)))]
    elif how == 2:  # delete a slice
        i = int(rng.integers(len(buf)))
        del buf[i : i + int(rng.integers(1, 64))]
    else:  # duplicate a slice
        i = int(rng.integers(len(buf)))
        buf[i:i] = buf[i : i + int(rng.integers(1, 64))]
    return bytes(buf)


@pytest.mark.slow
def test_mutated_onnx_models_never_crash(stack_file, tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(20261127)
    layers = [random_layer(rng, 5, 4, "bidirectional", 1, name="l0"), random_layer(rng, 8, 3, "forward", 0, name="l1")]
    good = Path(stack_file(layers, "good.onnx")).read_bytes()
    target = tmp_path / "fuzz.onnx"
    codes: dict[int, int] = {}
    for i in range(RUNS):
        target.write_bytes(_mutate(good, rng))
        args = ["inspect", str(target)] if i % 2 else ["compare", str(target), str(target), "--steps", "3"]
        code = main(args)
        err = capsys.readouterr().err
        assert code in (0, 1, 2), f"run {i}: exit {code}: {err}"
        assert "Traceback" not in err
        if code == 2:
            assert len(err.strip().splitlines()) == 1, err
        codes[code] = codes.get(code, 0) + 1
    assert codes.get(2, 0) > 0, "some mutations must be refused as user errors"
