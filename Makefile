# memlab: `make demo` (the main job), `make test` (the whole suite) and `make lab` (JupyterLab on nbs/) each do all their set-up.
# GPU users pick another PyTorch build, e.g.:
#   make demo TORCH=torch==2.13.0 TORCH_INDEX=https://download.pytorch.org/whl/cu128
PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
TORCH       ?= torch==2.13.0
TORCH_INDEX ?=
SHARED_DATA := $(abspath ../shared/data)
# tests read the shared copy of the corpora when it exists (no network needed), else data/
TEST_DATA   ?= $(if $(wildcard $(SHARED_DATA)/wikitext-2),$(SHARED_DATA),$(CURDIR)/data)
WORKERS     ?= 2

.PHONY: demo test lab setup browser postgres data bench-lm bench-titans clean

demo: setup data
	$(BIN)/memlab demo

test: setup browser postgres
	MEMLAB_DATA_DIR=$(TEST_DATA) $(BIN)/python -m pytest -n $(WORKERS) --durations=10

# JupyterLab on the notebooks, at 127.0.0.1 (LAB_ARGS=--no-browser on a machine without a screen; --allow-root when run as root)
LAB_ARGS ?=
lab: setup data
	MEMLAB_DATA_DIR=$(CURDIR)/data $(BIN)/jupyter lab --notebook-dir nbs --ServerApp.ip=127.0.0.1 $(if $(SUDO),,--allow-root) $(LAB_ARGS)

setup: $(VENV)/.installed

# the browser test drives the system chromium (Debian package) through Playwright, which must never download a browser
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

# the sweep test starts a private PostgreSQL server (Debian package) for Optuna's RDB storage
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ($(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql)

# torch first, so that memlab's `torch>=2.4` is already satisfied and nothing large is downloaded
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# seed the corpus cache from ../shared/data when it exists; memlab downloads whatever is still missing
data:
	mkdir -p data
	@if [ -d $(SHARED_DATA) ]; then \
	  for d in wikitext-2 tinyshakespeare; do \
	    mkdir -p data/$$d; \
	    for f in $(SHARED_DATA)/$$d/*.txt; do [ -e data/$$d/$$(basename $$f) ] || cp $$f data/$$d/; done; \
	  done; echo "seeded data/ from $(SHARED_DATA)"; fi

bench-lm: setup data
	$(BIN)/memlab bench lm --minutes 10

# titans against the reference implementation: titans-pytorch lives only in this separate environment, torch pinned beside it
BENCH_VENV := .venv-bench
bench-titans: data
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BENCH_VENV)/bin/python -m pip install -q -e . titans-pytorch==0.5.5 $(TORCH)
	MEMLAB_DATA_DIR=$(CURDIR)/data $(BENCH_VENV)/bin/memlab bench titans

clean:
	rm -rf $(VENV) $(BENCH_VENV) build dist *.egg-info .pytest_cache
