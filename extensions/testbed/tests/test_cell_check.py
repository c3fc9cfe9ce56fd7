"""cell-check.sh and host-address.sh failure paths, with a fake docker on PATH (no Docker engine is touched).
The cell check itself runs against real test hosts: flock /tmp/molecule.lock bash extensions/testbed/cell-check.sh"""

from test_testbed_scripts import fake_path, run


def test_cell_check_refuses_an_unknown_mode(tmp_path):
    result = run("cell-check.sh", "bridge", path=fake_path(tmp_path, {"docker": "exit 0"}), tmp_path=tmp_path)
    assert result.returncode == 2
    assert "mode must be host or publish, got 'bridge'" in result.stderr


def test_host_address_prints_the_address_on_the_network(tmp_path):
    docker = 'case "$*" in *llmfleet-fleet*) echo 172.30.0.5 ;; *) exit 1 ;; esac'
    result = run(
        "host-address.sh", "h100-a", "llmfleet-fleet", path=fake_path(tmp_path, {"docker": docker}), tmp_path=tmp_path
    )
    assert (result.returncode, result.stdout.strip()) == (0, "172.30.0.5")


def test_host_address_on_another_network_names_the_networks_the_host_is_on(tmp_path):
    docker = 'case "$*" in *range*) echo "llmfleet-serve " ;; *) echo "" ;; esac'
    result = run(
        "host-address.sh", "h100-a", "llmfleet-fleet", path=fake_path(tmp_path, {"docker": docker}), tmp_path=tmp_path
    )
    assert result.returncode == 1
    assert "h100-a has no address on network llmfleet-fleet (attached to: llmfleet-serve )" in result.stderr
