"""The verification pipeline, below the commands: settings, inputs, executions with GRU taps, pairs, findings.

``compare``, ``check``, ``export`` and ``convert`` all verify through ``pipeline.verify`` and only render what it
returns (as Polygraphy's comparator serves its tools). Numpy and onnx only at import time; frameworks and runtimes
come in through the models and the probe pool.
"""
