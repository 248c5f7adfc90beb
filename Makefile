# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv if missing and installs the package with what it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test matrix bench install docs clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,plot,scale,onnx]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/metricaudio demo

test: $(STAMP)
	$(PY) -m pytest -q

# before a submission: the learning tests over seeds and ATen CPU capabilities (one thread),
# and the common checks per capability and thread count (see tests/cpu_matrix.py)
matrix: $(STAMP)
	$(PY) tests/cpu_matrix.py

DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[docs]"
	@touch $(DOCS_STAMP)

# the documentation site, warnings as errors; opens at docs/_build/html/index.html
docs: $(DOCS_STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(PY) benchmarks/bench_features.py

clean:
	rm -rf $(VENV) metricaudio_output docs/_build docs/auto_examples
