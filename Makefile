# The two commands of the README. Both create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.omnifuse-installed
DEMO_OUT ?= demo_out
PYTEST_ARGS ?=

.PHONY: demo test setup clean

setup: $(STAMP)

$(STAMP): requirements.txt setup.py setup.cfg scripts/setup_env.sh
	bash scripts/setup_env.sh $(VENV)
	touch $(STAMP)

demo: setup
	$(PY) -m omnifuse demo --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(DEMO_OUT) build install log .pytest_cache
