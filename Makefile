# AffiliateHub: `make run` starts everything, `make test` runs the suite. Nothing else needed
# but Python 3.11+, make and git: PostgreSQL and the broker are embedded unless configured.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install lock run test lint bench clean

# Installs exactly what requirements.lock pins, each file checked against its hash; then the
# project itself, editable, with no dependency resolution and the locked setuptools.
$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# After editing pyproject.toml's dependencies: re-resolve and pin them with their hashes (commit
# both files). LOCK_ARGS="--upgrade" moves every pin to its newest allowed release,
# LOCK_ARGS="--upgrade-package django" only that one.
lock:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/pip-compile || $(PY) -m pip install --quiet pip-tools
	$(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --extra dev \
		--build-deps-for editable --no-emit-find-links --no-emit-index-url --no-emit-trusted-host \
		$(LOCK_ARGS) -o requirements.lock pyproject.toml

run: $(STAMP)
	$(PY) -m affiliatehub.runner

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data
