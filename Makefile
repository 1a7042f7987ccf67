# The two commands of README.md. Both create (or reuse) .venv and install the project into it
# (TensorFlow backend, Keras pinned by constraints.txt to Colab's version, the floor of pyproject.toml);
# `make test` also builds .venv-jax for its JAX leg (newest Keras) and .venv-colab for its Colab leg.
VENV    ?= .venv
PYTHON  ?= python3
PROFILE ?= full
BIN     := $(VENV)/bin
JAX_BIN   := .venv-jax/bin
TORCH_BIN := .venv-torch/bin
# The JAX leg's notebooks: the lighter check of issue 19 (04 and 05 cost most on JAX; TensorFlow runs all)
JAX_NOTEBOOKS ?= notebooks/01_baseline.ipynb notebooks/02_low_capacity_convnet.ipynb \
                 notebooks/03_overfit.ipynb notebooks/06_final_evaluation.ipynb

# The Colab leg's environment: Colab's Python and Colab's published package versions (.ci/colab/)
COLAB_VENV := .venv-colab
COLAB      := .ci/colab

.PHONY: run test test-tensorflow test-jax test-colab test-torch clean-smoke

# constraints.txt: the committed models are written by the lowest Keras the project admits
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test,tensorflow,jupyter]"
	touch $@

# One virtual environment per other backend, from the project's own extras, without TensorFlow.
.venv-%/bin/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip
	.venv-$*/bin/python -m pip install -q -e ".[test,$*]"
	touch $@

## make run [PROFILE=full|small|smoke] [ONLY="03 04"]: execute the notebook series; in full, then record
## what the committed models predict for the probe batch (tests/model_probes.py), which every leg of make test checks
run: $(BIN)/.installed
	$(BIN)/fmnist run --profile $(PROFILE) $(if $(ONLY),--only $(ONLY))
	$(if $(filter full,$(PROFILE)),$(BIN)/python tests/model_probes.py --write)

## make test: on TensorFlow, unit tests, notebook checks and nbval over every notebook in the smoke
## profile; then on JAX, the unit tests that touch Keras (cross-backend ones included) and nbval over $(JAX_NOTEBOOKS);
## then the Colab leg (test-colab)
test: test-tensorflow test-jax test-colab

test-tensorflow: $(BIN)/.installed
	FMNIST_PROFILE=smoke KERAS_BACKEND=tensorflow $(BIN)/python -m pytest --durations=20

# The JAX leg of `make test`. After test-tensorflow (make runs them in order; do not use -j):
# notebook 06 then evaluates the smoke models TensorFlow saved, so 04 and 05 need not run on JAX.
# Tests of files, text and records alone (no model, no Keras call) give the same answer on every backend:
# the TensorFlow leg runs them, and the JAX leg leaves them out to stay short.
BACKEND_FREE := architecture colab_snapshot environment no_outside_references notebook_outputs notebooks \
                profiles provenance readme registry reproduction tables workflow
test-jax: $(JAX_BIN)/.installed $(BIN)/.installed
	FMNIST_PROFILE=smoke KERAS_BACKEND=jax FMNIST_BACKEND_PYTHONS="tensorflow=$(BIN)/python" \
	  $(JAX_BIN)/python -m pytest --durations=20 tests $(JAX_NOTEBOOKS) $(foreach t,$(BACKEND_FREE),--ignore=tests/test_$(t).py)

# Built from .ci/colab/pip-freeze.txt (refresh it with .ci/colab/refresh.py); an explicit rule, so the
# .venv-% pattern above does not apply
$(COLAB_VENV)/bin/.installed: $(COLAB)/pip-freeze.txt $(COLAB)/packages.txt $(COLAB)/build.py $(COLAB)/refresh.py
	$(PYTHON) $(COLAB)/build.py $(COLAB_VENV)

## make test-colab: a simulated Colab runtime on Colab's package versions (tests/colab/, run by .venv's
## pytest): the setup cell from a bare clone, 00 and 02 in smoke, 06 in full on the committed models, fmnist predict
test-colab: $(COLAB_VENV)/bin/.installed $(BIN)/.installed
	FMNIST_COLAB_VENV=$(COLAB_VENV) $(BIN)/python -m pytest -m colab --durations=0 tests/colab

## make test-torch: opt-in, the JAX leg's checks on PyTorch (torch==2.13.0, a CPU build where pip finds one)
test-torch: $(TORCH_BIN)/.installed $(BIN)/.installed
	FMNIST_PROFILE=smoke KERAS_BACKEND=torch \
	  FMNIST_BACKEND_PYTHONS="tensorflow=$(BIN)/python $(wildcard $(JAX_BIN)/python)" \
	  $(TORCH_BIN)/python -m pytest tests $(JAX_NOTEBOOKS) $(foreach t,$(BACKEND_FREE),--ignore=tests/test_$(t).py)

## make clean-smoke: remove everything a smoke run writes (none of it is committed)
clean-smoke:
	rm -rf figures/smoke models/smoke results/smoke.json results/.smoke.json.lock logs/smoke runs/smoke cache/smoke
