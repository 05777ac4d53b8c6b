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

.PHONY: setup up down status test lint bench clean

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
