# The two commands a newcomer needs:  `make up`  and  `make test`.
# Both go through `make setup`, which is idempotent: it (re)builds .venv only
# when a pyproject or requirements file changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= .kubelite
NODES ?= 2
PACKAGES := core cli services/apiserver services/scheduler services/controller-manager services/nodeagent services/proxy
STAMP := $(VENV)/.setup-stamp
PYPROJECTS := $(foreach p,$(PACKAGES),$(p)/pyproject.toml)

.PHONY: setup up down status test lint bench clean lab lab-status lab-down chaos

setup: $(STAMP)

$(STAMP): $(PYPROJECTS) requirements-dev.txt Makefile
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kubelite needs Python 3.11+")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt $(foreach p,$(PACKAGES),-e ./$(p))
	@touch $(STAMP)

up: setup
	$(BIN)/kubelite up --data-dir $(DATA_DIR) --nodes $(NODES) -f examples/hello-app.yaml
	@echo
	@echo "cluster is up; try:  export KUBECONFIG=$$PWD/$(DATA_DIR)/kubeconfig PATH=$$PWD/$(BIN):\$$PATH; kubelite get all -A"

down: setup
	$(BIN)/kubelite down --data-dir $(DATA_DIR)

status: setup
	$(BIN)/kubelite status --data-dir $(DATA_DIR)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/apiserver_bench.py $(BENCH_ARGS)

clean: down
	rm -rf $(DATA_DIR)

# A lab of hosts on this machine (network namespaces, root): docs/lab.md
LAB_DIR ?= .kubelite-lab
CONTROL_PLANES ?= 3
WORKERS ?= 3

lab: setup
	$(BIN)/kubelite lab up --data-dir $(LAB_DIR) --control-planes $(CONTROL_PLANES) --nodes $(WORKERS)

lab-status: setup
	$(BIN)/kubelite lab status --data-dir $(LAB_DIR)

lab-down: setup
	$(BIN)/kubelite lab down --data-dir $(LAB_DIR)

chaos: setup
	$(BIN)/kubelite chaos run --all --data-dir $(LAB_DIR)
