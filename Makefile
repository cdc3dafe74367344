# Newcomer commands (see README.md):
#   make full   set up, then run the whole pipeline on the embedded defaults (experiment full: real models)
#   make test   set up, then run the test suite
#   make demo   set up, then run the whole pipeline on the quick experiment (a first look in minutes)
#   make assets render the icon projects (close_icons, neg_icons, eval_designs) from pinned sources,
#               and eval_counts from the held-out fonts
#   make label-studio  the Label Studio server (own venv) and its SDK, for gaa_mlops.label --server and its tests
# All are idempotent: a second run skips the setup that is already done.

PY := .venv/bin/python
SETUP_FREE_GB := 8
STAMP := .venv/.gaa-setup-$(shell cat setup.cfg pyproject.toml | sha256sum | cut -c1-12)

# Projects rendered at setup from pinned sources (nothing rendered is committed): the Iconify sets in
# projects/_icon_sources (npm ci), the Debian icon / symbol fonts below, and for eval_counts the text
# fonts that no training project draws with (Roboto, Liberation, M+, VL Gothic).
ICONS := projects/_icon_sources
FONT_PACKAGES := fonts-font-awesome fonts-fork-awesome fonts-material-design-icons-iconfont fonts-noto-core \
	fonts-symbola fonts-dejavu-core fonts-noto-color-emoji fonts-elusive-icons fonts-glyphicons-halflings \
	libjs-bootstrap fonts-ipafont-gothic fonts-ipafont-mincho \
	fonts-roboto fonts-liberation2 fonts-mplus fonts-vlgothic
ASSET_INPUTS := $(ICONS)/package-lock.json $(ICONS)/sources.yaml projects/_icons.py $(wildcard projects/_drawing/*.py) \
	projects/eval_screens/generate.py projects/close_icons/generate.py projects/neg_icons/generate.py \
	projects/eval_designs/generate.py projects/eval_counts/generate.py
ASSET_OUTPUTS := projects/close_icons/images/manifest.json projects/neg_icons/images/manifest.json \
	projects/eval_designs/annotations.json projects/eval_counts/annotations.json
ASSETS_STAMP := $(ICONS)/.assets-$(shell cat $(ASSET_INPUTS) 2>/dev/null | sha256sum | cut -c1-12)

.PHONY: setup system-packages assets label-studio test test-all demo full bench lint clean-outputs

system-packages:
	@command -v /usr/sbin/sshd >/dev/null 2>&1 || { \
	  echo "installing openssh-server (the deploy tests start a real sshd)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (the tracking-server tests start a real PostgreSQL)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@missing=$$(for p in $(FONT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing" $$missing "(icon and symbol fonts that make assets renders)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi
	@command -v npm >/dev/null 2>&1 || { \
	  echo "installing npm (make assets installs the pinned icon sets with npm ci)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }

$(STAMP):
	@test -x $(PY) || python3 -m venv .venv
	@$(PY) -c "import torch, torchvision" 2>/dev/null || { \
	  free_gb=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); \
	  if [ "$$free_gb" -lt $(SETUP_FREE_GB) ]; then \
	    echo "setup needs about $(SETUP_FREE_GB) GB free on the disk of $(CURDIR) (torch's build alone is 5.5 GB," \
	         "the test suite needs about 1.5 GB more under /tmp); it has $$free_gb GB" >&2; exit 1; fi; \
	  $(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1; }
	$(PY) -m pip install -q -e ".[test,speed]"
	@rm -f .venv/.gaa-setup-* && touch $(STAMP)

# close_icons, neg_icons, eval_designs, eval_counts: npm ci of the pinned icon sets, then the four
# generators (about a minute); skipped while the stamp (lock file + table + generator sources) is
# current and the outputs exist.
$(ASSETS_STAMP): $(if $(filter-out $(wildcard $(ASSET_OUTPUTS)),$(ASSET_OUTPUTS)),FORCE) | system-packages $(STAMP)
	cd $(ICONS) && npm ci --no-audit --no-fund --loglevel=error
	$(PY) projects/close_icons/generate.py
	$(PY) projects/neg_icons/generate.py
	$(PY) projects/eval_designs/generate.py
	$(PY) projects/eval_counts/generate.py
	@rm -f $(ICONS)/.assets-* && touch $@

assets: $(ASSETS_STAMP)

# The Label Studio server in its own venv (.venv-label-studio: its Django stack stays out of the
# training venv), every package pinned and installed --no-deps so pip resolves nothing; and its SDK
# (the label-studio extra, for gaa_mlops.label --server) in .venv. About a minute the first time.
LS_VENV := .venv-label-studio
LS_STAMP := $(LS_VENV)/.gaa-$(shell cat constraints/label-studio-server.txt constraints/label-studio-sdk.txt | sha256sum | cut -c1-12)

$(LS_STAMP): | $(STAMP)
	@test -x $(LS_VENV)/bin/python || python3 -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q --no-deps -r constraints/label-studio-server.txt
	$(PY) -m pip install -q -e ".[test,speed,label-studio]" -c constraints/label-studio-sdk.txt
	@rm -f $(LS_VENV)/.gaa-* && touch $@

label-studio: $(LS_STAMP)

FORCE:

setup: system-packages $(STAMP) assets

# --dist loadgroup: tests marked xdist_group share a worker (one Label Studio server, not two)
test: setup label-studio
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not slow"

test-all: setup label-studio
	$(PY) -m pytest -q -n 2 --dist loadgroup

demo: setup
	$(PY) -m gaa_mlops.pipeline experiment=quick

full: setup
	$(PY) -m gaa_mlops.pipeline

bench: setup
	$(PY) benchmarks/game_eye_latency.py
	$(PY) benchmarks/bot_route.py
	$(PY) benchmarks/training_throughput.py
	$(PY) benchmarks/learning_speed.py
	$(PY) benchmarks/dataset_build.py

lint: setup
	$(PY) -m flake8 gaa_mlops game_eye tests benchmarks projects
	$(PY) -m isort --check-only gaa_mlops game_eye tests benchmarks projects
