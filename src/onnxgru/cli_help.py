"""The command line's help texts: examples, the source kinds each command reads, the exit codes, and the names
people type for a choice. Kept apart from the parsing so each reads on its own."""

from __future__ import annotations

_KINDS = {
    "onnx": "  ONNX        .onnx (external data only inside the model's folder)",
    "tf": "  TensorFlow  frozen GraphDef .pb, TF1 checkpoint prefix (with its .meta), SavedModel folder\n"
    "  Keras       .keras, .h5",
    "torch": "  PyTorch     TorchScript .pt/.ts (torch.jit.save), ExportedProgram .pt2, state dict .pt of nn.GRU\n"
    "              parameters; a pickled whole module only with --trust-pickle",
}


def file_kinds(*kinds: str) -> str:
    """The source kinds a command reads, for its help."""
    return "sources (the kind is read from the path):\n" + "\n".join(_KINDS[k] for k in kinds or tuple(_KINDS))

EXIT_CODES = """\
exit codes:
  0  every comparison agrees (warnings allowed; --fail-on warning makes them fail)
  1  a finding of severity error (see `onnxgru explain CODE`)
  2  the request cannot be carried out (missing file, unsupported source, bad flag, framework not installed)
  3  an internal error (a bug: please report it)"""

EXAMPLES = {
    "onnxgru": """\
examples:
  onnxgru check                                   the bundled example: a TF1 GRUCell ported to nn.GRU
  onnxgru check --tf model.pb --torch port.pt     a TensorFlow model against its PyTorch port, in every runtime
  onnxgru inspect model.onnx                      every GRU in a file
  onnxgru compare keras.h5 port.pt                attributes, weights and outputs of two models
  onnxgru export tf model.pb -o model.onnx        one fused ONNX GRU node per layer, verified
  onnxgru convert model.pb -o port.pt             a TensorFlow GRU as an exact PyTorch module
  onnxgru fix port.pt --like keras.h5 -o new.pt   a port's GRU weights put in its source's gate order
  onnxgru explain GRU001                          what a finding means and how to fix it""",
    "inspect": """\
examples:
  onnxgru inspect model.onnx
  onnxgru inspect saved_model_dir/ --json report.json
  onnxgru inspect gru.pt --batch-first""",
    "compare": """\
examples:
  onnxgru compare model.onnx exported.onnx
  onnxgru compare keras.h5 port.pt --batch-first --plot error.png
  onnxgru compare a.onnx b.onnx --atol 1e-5 --atol state:1e-4 --json -""",
    "check": """\
examples:
  onnxgru check                                             the bundled example
  onnxgru check --tf model.pb --torch port.pt --onnx model.onnx
  onnxgru check --tf model.h5 --torch port.pt --runtimes onnxruntime,openvino-f32
  onnxgru check --tf model.pb --torch port.pt --junit junit.xml --markdown comment.md -q
  onnxgru check --tf model.pb --torch port.pt --ignore GRU009 --fail-on warning
  onnxgru check --tf model.pb --onnx model.onnx --save-outputs golden.npz   on the training machine
  onnxgru check --onnx model.onnx --against golden.npz                      on the deployment machine""",
    "export tf": """\
examples:
  onnxgru export tf model.pb -o model.onnx
  onnxgru export tf model.pb -o model.onnx --input keep_prob=1.0 --dtype float32
  onnxgru export tf saved_model_dir/ -o model.onnx --opset 17""",
    "export torch": """\
examples:
  onnxgru export torch model.pt -o model.onnx
  onnxgru export torch gru_state_dict.pt -o model.onnx --batch-first --exporter dynamo""",
    "convert": """\
examples:
  onnxgru convert model.pb -o port.pt                  exact module (reset-before GRUs included)
  onnxgru convert keras.h5 -o port.pt --target nn.GRU  plain nn.GRU, with how far it is off""",
    "fix": """\
examples:
  onnxgru fix port.pt --like model.keras -o fixed.pt    gate blocks copied in the wrong order, reordered
  onnxgru fix gru_state_dict.pt --like model.onnx -o fixed.pt --batch-first --runtimes onnxruntime""",
    "explain": """\
examples:
  onnxgru explain GRU001
  onnxgru explain            every code""",
}


# names people type for a choice that difflib cannot see as close
ALIASES = {"tensorflow": "tf", "keras": "tf", "tf2": "tf", "pytorch": "torch", "pt": "torch", "describe": "inspect",
            "diff": "compare", "verify": "check", "validate": "check", "port": "convert"}
