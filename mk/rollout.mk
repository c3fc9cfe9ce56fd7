# The rolling redeploy (playbooks/rollout.yml) under load, behind the router (molecule scenario rollout).
.PHONY: test-molecule-rollout
test-molecule-rollout: venv link testbed-images testbed-router-image ## molecule: rollout under load through HAProxy (0 failed requests), no-change rollout, crash-at-start stop
	molecule test -s rollout
