# Baton's task runner. `make demo` runs the whole system with a sample funnel; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PROJECTS := schemas kit services/scoring services/handoff services/sla-monitor
PROJECT_FILES := pyproject.toml $(addsuffix /pyproject.toml,$(PROJECTS))

.PHONY: demo test test-fast lint format schemas bench clean
OPENAPI := handoff:baton_handoff:HandoffSettings scoring:baton_scoring:ScoringSettings sla-monitor:baton_sla_monitor:SlaMonitorSettings

$(VENV)/.runtime: $(PROJECT_FILES)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=25.1"
	$(PIP) install --quiet $(addprefix -e ,$(PROJECTS))
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) install --quiet --group dev
	touch $@

demo: $(VENV)/.runtime  ## run broker + SQLite + the three services, replay the sample funnel, keep the API up
	$(PY) deploy/run_embedded.py $(ARGS)

# Most of the suite waits on brokers, databases and service processes rather than the CPU, so two
# workers (pytest-xdist) halve its time. Each worker starts its own embedded broker; an external
# broker (KAFKA_BOOTSTRAP_SERVERS) is shared and the end-to-end tests need it empty, so then one.
TEST_WORKERS ?= $(if $(KAFKA_BOOTSTRAP_SERVERS),0,2)

test: $(VENV)/.dev  ## the whole suite: unit, integration (SQLite and PostgreSQL), end-to-end
	$(PY) -m pytest -n $(TEST_WORKERS) $(ARGS)

test-fast: $(VENV)/.dev  ## unit tests only
	$(PY) -m pytest tests/unit $(ARGS)

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: $(VENV)/.dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

schemas: $(VENV)/.runtime  ## regenerate schemas/json (event and definitions schemas) and schemas/openapi
	$(PY) -m baton_contracts.export
	@for spec in $(OPENAPI); do \
	  IFS=: read name pkg cls <<< "$$spec"; \
	  $(PY) -m baton_kit.openapi $$pkg.app:create_app $$pkg.settings:$$cls schemas/openapi/$$name.json; \
	done

bench: $(VENV)/.dev  ## benchmarks; figures are ratios against baselines measured in the same run
	$(PY) bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
