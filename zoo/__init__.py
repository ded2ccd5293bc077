"""A zoo of GRU models rebuilt from public repositories at their owners' sizes, with seeded random weights, saved
the way their owners save them and checked the way their owners would check them (``make zoo``; ``ZOO.md``).

Each builder lives in ``zoo/models/<name>.py``: its docstring names the repository and path whose architecture it
rebuilds (layers, sizes, save format; our own code, nobody's copied in), and it defines

    LEGACY_KERAS: bool            # TF1 rnn_cell code needs tf-keras (TF_USE_LEGACY_KERAS=1 before TensorFlow loads)
    def build(out: Path) -> list[Run]

``build`` writes the model files into ``out`` and returns the onnxgru commands an owner would run on them, each with
the exit code the truth calls for (0: the port is right; 1: onnxgru must find what is wrong).
"""
