# Two entry points for a fresh machine: `make run` (the service on embedded defaults)
# and `make test` (the whole suite). Both create .venv when missing and are idempotent.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-data services chromium lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/stagewise serve

services:
	bash scripts/services.sh

# The dashboard's browser tests drive Debian's Chromium (Playwright never downloads one).
chromium:
	test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(VENV)/bin/ruff check app worker tests bench
	$(VENV)/bin/lint-imports

# The real test images: found in $$STAGEWISE_TEST_DATA, ../shared/datasets or
# ~/.cache/stagewise-test-data, else downloaded there from the public originals (checked);
# offline it stops at once naming what to put where. The tests themselves never download.
test-data: $(STAMP)
	$(PY) scripts/test_data.py

test: $(STAMP) services chromium test-data
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/train_cpu.py

clean:
	rm -rf $(VENV) .pytest_cache
