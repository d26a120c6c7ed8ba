# swift-threads: two commands on a fresh machine.
#   make run   set up, build and start a node (threadsd) on the embedded default store
#   make test  set up, build and run every test
#
# Set-up installs the Debian packages the C targets link against (and g++, whose libstdc++ headers
# the one C++ target needs), only when missing.

SWIFT        ?= swift
CONFIG       ?= debug
APT_PACKAGES := libsodium-dev libleveldb-dev libsnappy-dev pkg-config iproute2 g++
SUDO         := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
BIN           = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)
REPO         ?= $(CURDIR)/data/repo
ARGS         ?=
TEST_LIMIT   ?= 1500
VENV         := $(CURDIR)/.venv
# Independent implementations the interop tests compare against (PyPI): plyvel bundles its own
# LevelDB; noiseprotocol is a Noise Protocol Framework implementation.
PY_PACKAGES  := plyvel==1.5.1 noiseprotocol==0.3.1

.PHONY: all setup setup-python build build-tests run test lint format bench clean

all: build

setup:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
	  echo "setup: system packages present ($(APT_PACKAGES))"; \
	fi

# A virtual environment with the Python packages the interop tests drive.
setup-python:
	@if ! $(VENV)/bin/python -c 'import plyvel, noise' >/dev/null 2>&1; then \
	  echo "setup: creating $(VENV) with $(PY_PACKAGES)"; \
	  python3 -m venv $(VENV) && $(VENV)/bin/pip install -q --disable-pip-version-check $(PY_PACKAGES); \
	fi

build: setup
	$(SWIFT) build -c $(CONFIG)

build-tests: setup setup-python
	$(SWIFT) build --build-tests

# Starts the node daemon. REPO picks the repo directory (default ./data/repo); ARGS passes flags.
run: build
	@mkdir -p $(dir $(REPO))
	$(BIN)/threadsd --repo "$(REPO)" $(ARGS)

# The watchdog stops a run that hangs (it takes minutes, not half an hour) and names the tests
# still running, with their threads' stacks.
test: lint build-tests
	THREADS_INTEROP_PYTHON=$(VENV)/bin/python .ci/watch-tests --limit $(TEST_LIMIT) -- $(SWIFT) test --skip-build
	THREADS_BIN=$$($(SWIFT) build --show-bin-path) testnet/report


# Style check with the toolchain's swift-format (config: .swift-format); `make format` fixes.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

format:
	$(SWIFT) format -i -r Sources Tests Package.swift

bench: setup
	$(SWIFT) build -c release
	$$($(SWIFT) build -c release --show-bin-path)/threads bench encoding
	$$($(SWIFT) build -c release --show-bin-path)/threads bench store
	$$($(SWIFT) build -c release --show-bin-path)/threads bench transport
	$$($(SWIFT) build -c release --show-bin-path)/threads bench dht
	$$($(SWIFT) build -c release --show-bin-path)/threads bench exchange
	$$($(SWIFT) build -c release --show-bin-path)/threads bench threads
	$$($(SWIFT) build -c release --show-bin-path)/threads bench db
	@if [ "$$(id -u)" = "0" ]; then $$($(SWIFT) build -c release --show-bin-path)/threads bench exchange --netns; \
	 else echo "bench: skipping the network-namespace run of bench exchange (needs root)"; fi

clean:
	$(SWIFT) package clean
