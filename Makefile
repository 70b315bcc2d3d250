# The two commands of the README:  make demo  and  make test  (then  make portal  to browse the
# demo ledger in the web portal).
# Each creates .venv and installs the project with its dev extra on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo portal test lint bench clean

$(STAMP): pyproject.toml setup.py ledger/index/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/assetledger demo

# The web portal on the demo ledger, with demo accounts whose passwords it prints.
portal: $(STAMP)
	@test -f demo-work/ledger.db || { echo "no demo ledger: run make demo first" >&2; exit 2; }
	$(BIN)/assetledger serve --ledger demo-work/ledger.db --demo-accounts

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# the emitting SDK and all it imports must stay valid on Python 3.10 (Nuke 15)
	$(BIN)/mypy --python-version 3.10 -p producers

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) demo-work .pytest_cache .mypy_cache .ruff_cache
