# Two commands on a fresh machine: `make demo` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup demo test fuzz lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml sandbox/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# The product, then the sandbox beside it (its own distribution, needing the product), both editable;
	@# the `sandbox` extra names roachcert-sandbox for installs from an index, where it is published.
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[engine,sql,dev]'
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ./sandbox
	@bash scripts/ensure-postgres.sh
	@bash scripts/ensure-provider.sh
	@bash scripts/ensure-tofu.sh
	@touch $(STAMP)

demo: setup
	@bash scripts/demo.sh

test: setup lint
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The outside-input harness with many more random examples than `make test` runs (profile in
# tests/reliability/conftest.py).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q tests/reliability/test_outside_fuzz.py

lint: setup
	$(BIN)/ruff check cli sandbox tests bench
	$(BIN)/ruff format --check cli sandbox tests bench
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .roachcert
