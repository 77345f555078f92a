# compat_init developer entry points.  Everything installs into ./.venv
# (Python 3.11 from pyenv when present), so a fresh machine needs only make.
PYENV_ROOT := $(shell pyenv root 2>/dev/null)
PYTHON ?= $(if $(wildcard $(PYENV_ROOT)/versions/3.11.7/bin/python),$(PYENV_ROOT)/versions/3.11.7/bin/python,python3)
VENV := .venv
BIN := $(VENV)/bin
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test matrix docs docs-serve bench clean

$(BIN)/.installed: setup.cfg setup.py pyproject.toml noxfile.py Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "tensorflow-cpu==2.21.0" nox -e ".[test]"
	# KerasHub for the model-zoo tests, as noxfile.py's leg 3 installs it (without tensorflow-text)
	$(BIN)/python -m pip install -q absl-py regex rich kagglehub "kagglesdk==0.1.28" sentencepiece tokenizers
	$(BIN)/python -m pip install -q --no-deps "keras-hub==0.32.0" "gpt-2-simple==0.8.1"
	# Keras 3's other backends, as noxfile.py's leg 3 installs them
	$(BIN)/python -m pip install -q "jax==0.10.2" "torch==2.13.0"
	touch $@

## demo: the main job: the parity report (v1 Session vs v2 eager) with a picture
demo: $(BIN)/.installed
	$(BIN)/compat-init parity --plot parity.png
	@echo "The histograms are in $(CURDIR)/parity.png"

## test: the whole suite on leg 3 (TF 2.21 + Keras 3)
test: $(BIN)/.installed
	$(BIN)/python -m pytest

## matrix: all five legs (TF 1.15, 2.15, 2.21, 2.21 + tf_keras, 2.21 with Keras 3 on JAX on Python 3.13), docs, lint and package, through nox
matrix: $(BIN)/.installed
	$(BIN)/nox

## docs: the documentation site (mkdocs build --strict, through nox); prints where it is
docs: $(BIN)/.installed
	$(BIN)/nox -s docs
	@echo "The documentation site is in $(CURDIR)/site/index.html"

## docs-serve: the documentation site, served at http://127.0.0.1:8000 while you edit
docs-serve: $(BIN)/.installed
	$(BIN)/nox -s docs -- serve

## bench: the benchmarks of README.md, on leg 3
bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_parity.py
	$(BIN)/python benchmarks/bench_partitions.py
	$(BIN)/python benchmarks/bench_migrate.py

clean:
	rm -rf $(VENV) .nox reports build site *.egg-info
