"""Whether onnxgru's screens stand: the checks that read a user's file before a framework loads it (TensorFlow's op
allowlist, the TorchScript, pickle and ExportedProgram screens, the Keras layer allowlist and safe mode, ONNX external
data kept inside the model's folder). On for every user: no option, argument or environment variable reaches this
switch. The tests turn it off (``off``) in a process of their own, then run the command line confined, to prove that
the confined loader alone contains what a screen would have refused."""

from __future__ import annotations

_ON = [True]


def on() -> bool:
    """True unless a test switched the screens off."""
    return _ON[0]


def off() -> None:
    """Switch every screen off for the rest of this process (tests only: a launcher calls it before ``cli.main``)."""
    _ON[0] = False
