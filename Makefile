# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest workers (pytest-xdist, one test file each at a time): one per core, at most 4; `make test TEST_WORKERS=0`
# runs the suite in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: install demo lint test test-fast clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: install
	$(BIN)/affectlab analyze

lint: install
	# ruff (pinned in the test extra; rules in pyproject.toml): style, imports, likely bugs
	$(BIN)/ruff check src tests benchmarks

test: install lint
	# Chromium for the browser test (apt-get as root when missing); never fails, the test skips instead.
	-sh scripts/install-browser.sh
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: install lint
	# the suite without the tests marked slow (real-data training and long runs)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
