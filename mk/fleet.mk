# The whole deploy (playbooks/deploy.yml) on a four-host testbed fleet: packed replicas, a two-host cell.
.PHONY: test-molecule-fleet
test-molecule-fleet: venv link testbed-images ## molecule: deploy.yml on 4 test hosts (packed replicas, an SGLang cell, idempotence, shrink, absent)
	molecule test -s fleet

INTEGRATION_TARGETS += test-molecule-fleet
