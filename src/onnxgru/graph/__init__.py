"""The ONNX graph floor: reading, measuring, describing, binding, rewriting and building ONNX graphs, with nothing
run. Below the runtimes and the loaders, above ``core`` (numpy only); no framework is imported here.

read (a file, bounded) -> sizes, constants (folding) -> loops (cells in Loop/Scan bodies) -> describe (GRU nodes,
what a file holds) -> bind (signature roles, taps as outputs) -> edit (the rewriting primitives) -> fuse, tidy (the
rewrites) -> build (fused GRU graphs).
"""
