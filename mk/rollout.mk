# The rolling redeploy (playbooks/rollout.yml) under load, behind the router (molecule scenario rollout).
.PHONY: testbed-registry-image test-molecule-rollout
# The image registry test host (docker-registry from bookworm, plain HTTP :5000; extensions/testbed/registry-host/):
# the scenario's new engine images are pushed there and the rollout pre-pulls them from it.
testbed-registry-image: ## build the registry test host image (docker-registry from bookworm; cached by recipe)
	bash extensions/testbed/build-host-image.sh registry-host

test-molecule-rollout: venv link testbed-images testbed-router-image testbed-registry-image ## molecule: rollout under load through HAProxy (0 failed requests), no-change rollout, crash-at-start stop, images pre-pulled from a registry
	molecule test -s rollout

# The cost of a run that changes nothing (issue 12): wall time and controller CPU per host of a no-change rollout.yml
# and deploy.yml on 1, 2 and 4 test hosts. BENCH_NOOP_ARGS e.g. "--checkout ../main-worktree --profile".
.PHONY: bench-noop
bench-noop: venv link testbed-images testbed-router-image ## benchmark: controller CPU and wall time per host of a no-change rollout/deploy on 1, 2, 4 test hosts
	python3 benchmarks/noop_cost.py $(BENCH_NOOP_ARGS)
