# BuilderAI core. `make run` and `make test` do all set-up on a fresh Debian/Ubuntu machine that has
# the Swift toolchain; see README.md.

SWIFT ?= swift
PYTHON ?= python3
VENV := .venv
APT_PACKAGES := libcurl4-openssl-dev libsqlite3-dev libssl-dev zlib1g-dev curl python3 python3-venv
BENCH_APT_PACKAGES := wrk util-linux
# The web client's browser tests: a real headless Chromium driven by Selenium (only `make test` needs them).
TEST_APT_PACKAGES := chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TEST_FLAGS ?=

.PHONY: run build release test test-tsan test-release bench deps bench-deps test-deps venv clean

# Installs only what is missing; apt-get update runs once, and only when something is.
deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

bench-deps: deps
	@missing=""; for p in $(BENCH_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

test-deps: deps
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

$(VENV)/.installed: Tests/Peers/requirements.txt
	@[ -x $(VENV)/bin/python ] || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r Tests/Peers/requirements.txt
	@touch $@

venv: deps $(VENV)/.installed

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: release
	.build/release/builderai serve

test: deps test-deps venv
	$(SWIFT) build --build-tests
	BUILDERAI_TEST_PYTHON=$(abspath $(VENV)/bin/python) $(SWIFT) test --skip-build $(TEST_FLAGS)

# ThreadSanitizer over the network tests; its own build folder, since it rebuilds everything.
test-tsan: deps venv
	BUILDERAI_TEST_PYTHON=$(abspath $(VENV)/bin/python) \
	  $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter NetTests

# The whole suite against an optimized build (what `make run` runs), in `.build-release-tests`:
# the optimizer can break what a debug build does right (docs/performance.md, issue 4 round 5).
test-release: deps test-deps venv
	$(SWIFT) build -c release -Xswiftc -enable-testing --build-tests --scratch-path .build-release-tests
	BUILDERAI_TEST_PYTHON=$(abspath $(VENV)/bin/python) \
	  $(SWIFT) test -c release --skip-build --scratch-path .build-release-tests $(TEST_FLAGS)

bench: bench-deps venv release
	bash Tests/Bench/run.sh

clean:
	rm -rf .build .build-tsan .build-release-tests $(VENV)
