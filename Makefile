# `make demo`: set everything up (when .venv is missing) and run the main job on the built-in default.
# `make test`: same setup, then the test suite.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS := tf,yolo,sweep,dev

.PHONY: demo test setup lint clean-cache

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) convert.py +graph=all

test: $(STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean-cache:
	rm -rf $${CONVGRAPH_CACHE:-$$HOME/.cache/convgraph}
