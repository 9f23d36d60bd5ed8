# microslip: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: venv install demo test lint typecheck bench train clean pi-check eval-real

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[litert,dev]'
	touch $@

venv install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/microslip demo

test: $(VENV)/.installed
	$(VENV)/bin/microslip models fetch
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check edge tests training benchmarks
	$(VENV)/bin/ruff format --check edge tests training benchmarks

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy edge

# Score the spotter on the annotated real clips and the time-compressed real smiles.
eval-real: $(VENV)/.installed
	$(VENV)/bin/microslip models fetch
	mkdir -p build && $(PY) tools/eval_real.py --json build/eval-real.json

# Install and run on emulated arm64 Debian Bookworm (a Pi's userland); needs root, see README.
pi-check: $(VENV)/.installed
	$(VENV)/bin/microslip models fetch
	scripts/arm64-check --host-python $(PY)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
