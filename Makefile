# `make demo`: set everything up (when .venv is missing) and run the main job on the built-in default.
# `make test`: same setup, then the whole test suite (slow tests included), on every core (pytest-xdist; the
#              options are pytest's addopts in pyproject.toml).
# `make lint`: ruff, and lint-imports (the layer contracts in pyproject.toml).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
EXTRAS := tf,yolo,text,litert,sweep,track,dev

.PHONY: demo test setup lint clean-cache ray

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
	$(VENV)/bin/lint-imports

clean-cache:
	rm -rf $${CONVGRAPH_CACHE:-$$HOME/.cache/convgraph}

# Ray pins cloudpickle 2.2.1; joblib 1.6 (the joblib launcher) needs >= 3. So Ray gets its own environment,
# layered over .venv by a .pth file: its own packages first, everything else from .venv, nothing installed twice.
ray: $(STAMP)
	test -x .venv-ray/bin/python || python3 -m venv .venv-ray
	.venv-ray/bin/python -m pip install --quiet --upgrade pip
	echo "$(CURDIR)/$(VENV)/lib/python3.11/site-packages" > .venv-ray/lib/python3.11/site-packages/zz_main_venv.pth
	.venv-ray/bin/python -m pip install "hydra-ray-launcher==1.2.2" "ray==2.60.0" "hydra-core==1.3.8"
