# Two commands do all the set-up on a fresh machine: `make book` (main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= smoke
STAMP  := $(VENV)/.installed

.PHONY: book run test lab install clean

book: $(STAMP)
	$(BIN)/xrfnb run --profile $(PROFILE)
	$(BIN)/xrfnb book

run: $(STAMP)
	$(BIN)/xrfnb run --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest -ra

lab: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[lab]"
	$(BIN)/jupyter lab notebooks/

install: $(STAMP)

# (Re)install when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

clean:
	rm -rf _build runs book/executed book/figures book/results book/execution_record.md
