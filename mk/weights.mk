# The weights role (llmfleet.serving.weights): a seeder and a peer, the hub double, hf in the engine stand-in.
.PHONY: testbed-hf-engine-image test-molecule-weights
testbed-hf-engine-image: venv ## build the engine stand-in with huggingface_hub (pinned; cached by recipe)
	LLMFLEET_PYTHON=$(VENV)/bin/python bash extensions/testbed/build-hf-engine-image.sh

test-molecule-weights: venv link testbed-images testbed-hf-engine-image ## molecule: weights once per fleet (hub double, seeder, peer copy, corruption, disk)
	molecule test -s weights

INTEGRATION_TARGETS += test-molecule-weights
