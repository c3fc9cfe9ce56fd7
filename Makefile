# llmfleet.serving: one entry point for set-up, demo and tests.
#   make demo   bring up the local testbed fleet and run playbooks/site.yml against it
#   make test   everything CI runs: unit tests, lint, sanity, build/install check, molecule scenarios
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ROOT := $(abspath .)
VENV ?= $(ROOT)/.venv
PYTHON ?= python3
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

COLLECTION_LINK := .collections/ansible_collections/llmfleet/serving

.PHONY: help host-packages venv link test test-unit lint sanity build-check demo clean
help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

host-packages: ## install the Debian packages the suite needs (docker.io, debootstrap, ...) when missing
	bash extensions/testbed/host-packages.sh

venv: $(VENV)/.installed ## create .venv with the pinned dependencies
PIP_NET_OPTS := --retries 10 --timeout 60
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	@# pip retries each failed request (--retries) and gives up on a stalled one (--timeout); the loop
	@# (extensions/testbed/lib/retry.sh) runs the install again when pip itself gives up.
	bash extensions/testbed/lib/retry.sh $(VENV)/bin/pip install -q $(PIP_NET_OPTS) --upgrade pip==25.3
	bash extensions/testbed/lib/retry.sh $(VENV)/bin/pip install -q $(PIP_NET_OPTS) -r requirements-dev.txt
	touch $@

link: $(COLLECTION_LINK) ## make the repository importable as llmfleet.serving
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

test-unit: venv link ## pytest: module_utils, modules, emulator
	$(VENV)/bin/pytest -q

-include mk/*.mk

test: host-packages test-unit lint sanity build-check $(INTEGRATION_TARGETS) ## the whole suite, as CI runs it
	@echo "make test: all suites passed"

clean:
	rm -rf .collections .build tests/output
