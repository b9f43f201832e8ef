# Two commands do all the set-up on a fresh machine: `make book` (main job) and `make test`.
# Installs follow the lock (requirements.lock, exact versions); `make test LOCK=` installs the latest
# versions instead (the weekly drift check), and `make lock` records a new lock after dependencies change.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= smoke
STAMP  := $(VENV)/.installed
LOCK   ?= requirements.lock
CONSTRAINTS := $(if $(LOCK),-c $(LOCK))

.PHONY: book run test lab install lock clean

book: $(STAMP)
	$(BIN)/xrfnb run --profile $(PROFILE)
	$(BIN)/xrfnb book

run: $(STAMP)
	$(BIN)/xrfnb run --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest -ra

lab: $(STAMP)
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e ".[lab]"
	$(BIN)/jupyter lab notebooks/

install: $(STAMP)

# (Re)install when the project's dependencies or the lock change.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(CONSTRAINTS) -e ".[test]"
	touch $(STAMP)

# Resolve the declared dependencies (the lab extra included) without the lock (new ones at their latest versions), then record
# every installed version in the lock (a CPU build's +cpu label dropped, so a GPU box takes the same
# release's CUDA build); commit the new requirements.lock.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,lab]"
	{ echo "# pip constraints: the exact versions \`make install\` installs (pip install -c requirements.lock)."; \
	  echo "# Written by \`make lock\` from pip freeze on Python $$($(BIN)/python -c 'import platform; print(platform.python_version())'), Linux x86_64; do not edit."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > requirements.lock.tmp
	mv requirements.lock.tmp requirements.lock
	touch $(STAMP)

clean:
	rm -rf _build runs book/executed book/figures book/results book/execution_record.md book/run_summary.md book/verdict.md book/findings.md
