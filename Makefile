# Two commands do all the set-up on a fresh machine:
#   make demo   -> virtual environment + install + CamVid link + bundled model on Seq05VD
#   make test   -> virtual environment + install + the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED_CAMVID ?= ../shared/data/CamVid

.PHONY: install demo test data clean

$(BIN)/segnet: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(BIN)/segnet

install: $(BIN)/segnet

# Point data/CamVid at the shared copy when there is one; otherwise `segnet data download`.
data:
	@if [ -e data/CamVid ]; then :; \
	elif [ -d "$(SHARED_CAMVID)" ]; then ln -s "$$(cd "$(SHARED_CAMVID)" && pwd)" data/CamVid && echo "linked data/CamVid -> $(SHARED_CAMVID)"; \
	else echo "CamVid not found: run '$(BIN)/segnet data download' or see data/README.md"; fi

demo: install data
	$(BIN)/segnet demo --out outputs/demo

# One pytest process per test file (tools/run_tests.py says why), then one closing total line.
test: install data
	$(BIN)/python tools/run_tests.py

clean:
	rm -rf $(VENV) outputs build *.egg-info
