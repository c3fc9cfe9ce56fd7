# make demo: the main job on the built-in testbed (see extensions/demo/demo.sh).
.PHONY: demo demo-down
demo: host-packages venv link ## bring up the testbed fleet and run playbooks/site.yml against it
	bash extensions/demo/demo.sh

demo-down: ## remove the demo's test hosts (every llmfleet-demo-* container)
	docker ps -a --filter name=^llmfleet-demo- --format '{{.Names}}' | xargs -r bash extensions/testbed/destroy-host.sh

.PHONY: test-molecule-serve
test-molecule-serve: venv link testbed-images ## molecule: the serve role on the testbed (idempotence, secrets, faults, removal)
	molecule test -s serve

INTEGRATION_TARGETS += test-molecule-serve

.PHONY: test-molecule-quadlet
test-molecule-quadlet: venv link testbed-images ## molecule: the serve role with serve_runtime podman (quadlet) on a podman test host
	molecule test -s quadlet

INTEGRATION_TARGETS += test-molecule-quadlet
