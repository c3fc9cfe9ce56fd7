# The local GPU-fleet testbed (extensions/testbed) and its molecule scenario (extensions/molecule/testbed).
.PHONY: testbed-images test-molecule-testbed
testbed-images: ## build the test host and engine stand-in images (cached by recipe)
	bash extensions/testbed/build-images.sh

test-molecule-testbed: venv link testbed-images ## molecule: gpu_facts + serving_plan + the plan's docker run on 2 test hosts
	cd $(ROOT) && time molecule test -s testbed

INTEGRATION_TARGETS += test-molecule-testbed
