# The router (llmfleet.serving.router) on its own test host image (extensions/testbed/router-host/).
.PHONY: testbed-router-image test-molecule-router
testbed-router-image: ## build the router test host image (HAProxy from bookworm; cached by recipe)
	bash extensions/testbed/build-host-image.sh router-host

test-molecule-router: venv link testbed-router-image ## molecule: HAProxy router role (health checks, drain, API key pass-through, reload under a stream)
	molecule test -s router

INTEGRATION_TARGETS += test-molecule-router
