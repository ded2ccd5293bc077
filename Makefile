# make zoo: GRU models rebuilt from public repositories, checked as their owners would (the table in ZOO.md).
# make demo: create .venv, install onnxgru with every backend, run the bundled example.
# make test: the same environment (made if needed), then the whole test suite (what CI runs, with make lint: .ci/run).
# make readme: rewrite README.md's command outputs from their runs (tests/docs/test_readme.py holds them equal).
# make test-fast: the numpy/ONNX core only (no TensorFlow, PyTorch, OpenVINO or tract; under 20 s on 2 cores): the quick loop.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

FAST := not slow and not tf and not torch and not runtime

.PHONY: demo test test-fast lint bench zoo readme clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch 2.13.0's CPU build installs with plain pip; keep it first so nothing pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[all,dev]'
	touch $(STAMP)

# The example's verdict is FAIL on purpose (the naive port); the demo succeeds when the report was produced.
demo: $(STAMP)
	$(BIN)/onnxgru check --json demo-report.json --force; test $$? -le 1 && test -s demo-report.json

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "$(FAST)"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks models zoo tools
	$(BIN)/python -m mypy

# make bench: the ratio tables of BENCHMARKS.md (about 12 minutes on 2 cores, the zoo section half of it); BENCH_ARGS="--quick" for a smoke run,
# BENCH_ARGS="--sections check,exact" for some of it, BENCH_ARGS="--markdown" for the tables as BENCHMARKS.md shows them.
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

zoo: $(STAMP)
	$(BIN)/python -m zoo.run --markdown ZOO.md $(ZOO_ARGS)

readme: $(STAMP)
	$(BIN)/python tools/readme.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .zoo
