# Newcomer commands (see README.md):
#   make demo   set up, then run the whole pipeline on the quick experiment with the embedded defaults
#   make test   set up, then run the test suite
# Both are idempotent: a second run skips the setup that is already done.

PY := .venv/bin/python
STAMP := .venv/.gaa-setup-$(shell cat setup.cfg pyproject.toml | sha256sum | cut -c1-12)

.PHONY: setup system-packages test test-all demo bench lint clean-outputs

system-packages:
	@command -v /usr/sbin/sshd >/dev/null 2>&1 || { \
	  echo "installing openssh-server (the deploy tests start a real sshd)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (the tracking-server tests start a real PostgreSQL)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

$(STAMP):
	@test -x $(PY) || python3 -m venv .venv
	@$(PY) -c "import torch, torchvision" 2>/dev/null || \
	  $(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e ".[test,speed]"
	@rm -f .venv/.gaa-setup-* && touch $(STAMP)

setup: system-packages $(STAMP)

test: setup
	$(PY) -m pytest -q -n 2 -m "not slow"

test-all: setup
	$(PY) -m pytest -q -n 2

demo: setup
	$(PY) -m gaa_mlops.pipeline experiment=quick

bench: setup
	$(PY) benchmarks/game_eye_latency.py
	$(PY) benchmarks/training_throughput.py
	$(PY) benchmarks/dataset_build.py

lint: setup
	$(PY) -m flake8 gaa_mlops game_eye tests benchmarks
	$(PY) -m isort --check-only gaa_mlops game_eye tests benchmarks
