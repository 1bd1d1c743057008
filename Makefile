# isoperf — two commands: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (or set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml setup.py $(wildcard src/isoperf/solve/*.cpp src/isoperf/solve/*.h)
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/isoperf simulate examples/seed_ilp.toml --out demo_output --plot demo_output/seed_ilp.png

test: $(STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard benchmarks)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/population.py --quick

clean:
	rm -rf $(VENV) demo_output .pytest_cache
