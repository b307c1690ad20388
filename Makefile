# sumame — make emulate | make test | make bench
# Each target bootstraps its own virtual environment (.venv) on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
BOARD  ?= emulated-lv
STAMP  := $(VENV)/.sumame-installed
# pytest workers: one per core (the machine has 2); override with JOBS=1
JOBS   ?= auto

.PHONY: emulate test proof bench fuzz mutate simulate flash clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

emulate: $(STAMP)
	$(BIN)/sumame emulate --board $(BOARD) $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -m "not long" $(ARGS)

# long proofs (marker "long"): every flash op of a week, 10^4 multi-cut sequences, ...
proof: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -m long $(ARGS)

# every parser under atheris for 10^6 inputs each (FUZZ_RUNS=..., ARGS="--only echonet")
FUZZ_RUNS ?= 1000000
fuzz: $(STAMP)
	$(BIN)/sumame fuzz --runs $(FUZZ_RUNS) $(ARGS)

# cosmic-ray over the safety-critical modules (ARGS="--max-mutants 20" for a sample)
mutate: $(STAMP)
	$(BIN)/sumame mutate $(ARGS)

bench: $(STAMP)
	$(BIN)/sumame bench $(ARGS)

simulate: $(STAMP)
	$(BIN)/sumame simulate --board $(BOARD) --days 1 $(ARGS)

flash: $(STAMP)
	$(BIN)/sumame flash --board $(BOARD) $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
