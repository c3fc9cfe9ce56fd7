# ansible-test sanity and the collection build/install check.
# ansible-test needs the collection under ansible_collections/<ns>/<name>: a copy of the files git
# knows (tracked and untracked-not-ignored) is made for each run, outside this git checkout
# (inside it, ansible-test would list files through the outer repository and find none).
SANITY_DIR := $(or $(TMPDIR),/tmp)/llmfleet-sanity/ansible_collections/llmfleet/serving
ANSIBLE_TEST_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py

$(ANSIBLE_TEST_PIP): extensions/sanity/get_pip_standin.py
	mkdir -p $(dir $@)
	cp $< $@

.PHONY: sanity-tree
sanity-tree:
	rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do \
	  [ -e "$$f" ] && { mkdir -p "$(SANITY_DIR)/$$(dirname "$$f")"; cp -P "$$f" "$(SANITY_DIR)/$$f"; } || true; done

sanity: venv $(ANSIBLE_TEST_PIP) sanity-tree ## ansible-test sanity (all tests, Python 3.11)
	cd $(SANITY_DIR) && ansible-test sanity --venv --python 3.11 --color no

BUILD_DIR := $(ROOT)/.build/galaxy
build-check: venv ## build the collection tarball, install it, and render every module's docs from the install
	rm -rf $(BUILD_DIR) && mkdir -p $(BUILD_DIR)/collections
	ansible-galaxy collection build --force --output-path $(BUILD_DIR) .
	@# Only the collection: no tool caches, virtual environments or local results in the tarball.
	@if tar tzf $(BUILD_DIR)/llmfleet-serving-*.tar.gz | grep -E '^(\.ansible|\.venv|\.collections|\.build|\.whl|playbooks/benchmark-results)/'; then \
	  echo "build-check: the tarball holds the paths above; add them to build_ignore in galaxy.yml"; exit 1; fi
	@# Nor the rehearsal and development tooling (galaxy.yml says why); but the execution environment's
	@# definition and the requirement files ansible-builder reads from an installed collection.
	@if tar tzf $(BUILD_DIR)/llmfleet-serving-*.tar.gz | grep -E '^(extensions|benchmarks|tests|mk|inventories/local)/'; then \
	  echo "build-check: the tarball holds the rehearsal/development paths above (build_ignore in galaxy.yml)"; exit 1; fi
	@listing="$$(tar tzf $(BUILD_DIR)/llmfleet-serving-*.tar.gz)"; \
	for f in meta/execution-environment.yml meta/requirements.txt meta/bindep.txt requirements.txt bindep.txt; do \
	  grep -qx "$$f" <<< "$$listing" || { echo "build-check: the tarball lacks $$f (ansible-builder reads it)"; exit 1; }; done
	ansible-galaxy collection install --force -p $(BUILD_DIR)/collections $(BUILD_DIR)/llmfleet-serving-*.tar.gz
	for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  ANSIBLE_COLLECTIONS_PATH=$(BUILD_DIR)/collections ansible-doc -t module llmfleet.serving.$$m > /dev/null \
	    || { echo "ansible-doc failed for llmfleet.serving.$$m"; exit 1; }; \
	  echo "ansible-doc llmfleet.serving.$$m: ok"; done

lint: venv link ## ruff (Python lint + format check, pyproject.toml) and ansible-lint, production profile
	ruff check .
	ruff format --check .
	ansible-lint --profile production
