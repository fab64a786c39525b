# Rabta: two commands on a fresh Debian 12 machine, as root, without Docker.
#   make demo   set everything up and run the main job on the embedded default
#   make test   set everything up, lint, and run every test tier: unit, protocol, integration
#               (real Asterisk) and browser (real headless Chromium; fails, never skips, without it)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# debootstrap builds the Asterisk rootfs; espeak-ng makes the prompts offline, sox checks audio;
# ffmpeg lets pydub read any audio format; python3-venv gives Debian's python a venv;
# chromium is the real browser the browser tests drive with Playwright (tests/browser);
# kannel and kannel-extras (bearerbox, smsbox, fakesmsc) carry the SMS tests;
# poppler-utils (pdftotext) reads the monthly PDF back in its test; fonts-noto-core is its font;
# systemd-analyze verifies deploy/systemd/, fail2ban-regex the jail, unshare (util-linux) keeps
# `rabta dialplan check`'s throw-away Asterisk off the network;
# postgresql-15: the store tests run on SQLite and on a throw-away PostgreSQL cluster too;
# podman and runc build asterisk-docker/'s images and run a survey through them (its settings:
# asterisk-docker/containers.conf, through CONTAINERS_CONF; nothing in /etc/containers);
# openssl makes the TLS trunk test's certificates.
SYSTEM_PACKAGES := debootstrap espeak-ng sox ffmpeg python3-venv sqlite3 chromium kannel kannel-extras \
                   poppler-utils fonts-noto-core systemd fail2ban util-linux \
                   postgresql-15 podman runc openssl

.PHONY: setup system venv demo test unit lint integration browser screenshots bench clean i18n font axe

setup: system venv

system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[prompts,test]'
	touch $@

demo: setup
	$(BIN)/rabta demo

# lint also collects each group of tiers the way `make test` runs them: a test that cannot be
# imported (a moved module, two test files with one name) fails here in seconds, not after setup.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	@$(BIN)/python -m pytest --collect-only -q tests/integration > .collect.log 2>&1 \
	  || { cat .collect.log; exit 1; }
	@RABTA_TEST_SLOT=1 $(BIN)/python -m pytest --collect-only -q tests/unit tests/protocol \
	  tests/browser > .collect.log 2>&1 || { cat .collect.log; exit 1; }
	@rm -f .collect.log

unit: venv
	$(BIN)/python -m pytest tests/unit tests/protocol

# Integration tests need root (chroot, mount) and build the Asterisk rootfs on first use.
integration: setup
	$(BIN)/python -m pytest tests/integration

# Headless Chromium (Debian's) against a real `rabta web`; fails, never skips, without it.
browser: setup axe
	$(BIN)/python -m pytest tests/browser

axe: tests/browser/axe/node_modules/axe-core/axe.min.js

tests/browser/axe/node_modules/axe-core/axe.min.js: tests/browser/axe/package-lock.json
	@command -v npm >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm; }
	npm ci --prefix tests/browser/axe --no-audit --no-fund
	touch $@

screenshots: setup
	$(BIN)/python tests/browser/screenshots.py

# The tiers run side by side on two cores. The integration tier (real Asterisk, Kannel,
# PostgreSQL, podman) is split into two shards (tests/integration/shards.py deals the files by
# their measured time): shard 1 (test slot 0) runs from the start beside unit + protocol +
# browser (slot 1); shard 2 (slot 2: other node names and ports) starts when those are done.
# Then the files that change what every node shares (the sounds directory) run alone. Each
# run's output is kept whole; the run fails if any does.
test: setup lint axe
	@rm -f .test-fast.log .test-fast.rc .test-shard2.log .test-shard2.rc; \
	( RABTA_TEST_SLOT=1 $(BIN)/python -m pytest tests/unit tests/protocol tests/browser \
	    > .test-fast.log 2>&1; echo $$? > .test-fast.rc; \
	  RABTA_TEST_SLOT=2 RABTA_TEST_SHARD=2/2 $(BIN)/python -m pytest tests/integration --durations=10 \
	    > .test-shard2.log 2>&1; echo $$? > .test-shard2.rc ) & side=$$!; \
	RABTA_TEST_SHARD=1/2 $(BIN)/python -m pytest tests/integration --durations=10; one=$$?; \
	wait $$side; \
	echo "===== unit, protocol and browser tiers ====="; cat .test-fast.log; \
	echo "===== integration tier, shard 2 ====="; cat .test-shard2.log; \
	echo "===== integration tier, last: what changes the shared sounds directory ====="; \
	RABTA_TEST_SHARD=last $(BIN)/python -m pytest tests/integration; last=$$?; \
	quick=$$(cat .test-fast.rc); two=$$(cat .test-shard2.rc); \
	echo "integration shard 1: exit $$one; shard 2: exit $$two; last: exit $$last;" \
	  "unit, protocol and browser tiers: exit $$quick"; \
	test $$one -eq 0 -a $$two -eq 0 -a $$last -eq 0 -a $$quick -eq 0

# The dashboard's languages: extract messages from ivr/web (Python and templates), merge them into
# each catalogue (translate the new ones in ivr/web/locale/ur/LC_MESSAGES/messages.po), compile
# the .mo files (committed; tests/unit/test_i18n.py checks they are current), subset the font.
i18n: venv
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --no-wrap \
	  -o ivr/web/locale/messages.pot .
	$(BIN)/pybabel update -i ivr/web/locale/messages.pot -d ivr/web/locale --no-wrap \
	  --ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile -d ivr/web/locale
	$(MAKE) font

font: venv system
	$(BIN)/python tools/build_font.py

bench: setup
	$(BIN)/python bench/cpu_per_call.py --calls 100

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis .test-fast.log .test-fast.rc .test-shard2.log .test-shard2.rc .collect.log
