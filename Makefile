# The two commands of README.md. Both create (or reuse) .venv and install the project into it.
VENV    ?= .venv
PYTHON  ?= python3
PROFILE ?= full
BIN     := $(VENV)/bin

.PHONY: run test clean-smoke

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

## make run [PROFILE=full|small|smoke] [ONLY="03 04"]: execute the notebook series
run: $(BIN)/.installed
	$(BIN)/fmnist run --profile $(PROFILE) $(if $(ONLY),--only $(ONLY))

## make test: unit tests, notebook checks, and nbval over every notebook in the smoke profile
test: $(BIN)/.installed
	FMNIST_PROFILE=smoke $(BIN)/python -m pytest

## make clean-smoke: remove everything a smoke run writes (none of it is committed)
clean-smoke:
	rm -rf figures/smoke models/smoke results/smoke.json results/.smoke.json.lock logs/smoke runs/smoke cache/smoke
