"""The cost of a run that changes nothing: wall time and controller CPU per host of a no-change
playbooks/rollout.yml and playbooks/deploy.yml on 1, 2 and 4 test hosts (issue 12).

    .venv/bin/python benchmarks/noop_cost.py [--hosts 1,2,4] [--checkout DIR ...] [--profile] [--keep]

It starts a router test host and max(--hosts) GPU test hosts (extensions/testbed: systemd, dockerd, the engine
stand-in) named llmfleet-noop-router and llmfleet-noop-1..N on the docker network llmfleet-noop, each an
8 x H100 node that runs one SGLang TP 8 replica (as h100-node in inventories/local), deploys them once
(deploy.yml + router.yml), then for each N runs the no-change rollout.yml and deploy.yml against the first N
hosts and prints, per run: wall s, controller CPU s (user+sys of the ansible-playbook process tree: the
RUSAGE_CHILDREN delta around it, so its forks and their `docker exec` children count), CPU per host, the tasks
run per host (PLAY RECAP ok, serving hosts only), changed tasks (must be 0) and CPU per host / the goal
(1.5 s). --checkout DIR measures the playbooks of another checkout too (e.g. a worktree of main, for a
before/after table in one session); the hosts are deployed once, by the first checkout. The test hosts are
removed at the end, on an error and on Ctrl-C (--keep leaves them). /tmp/molecule.lock is held while the
hosts are made and measured (the molecule scenarios use the same docker; and it keeps their load out of the
figures).
"""

import argparse
import fcntl
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTBED = os.path.join(REPO, "extensions", "testbed")
PREFIX = "llmfleet-noop"
NETWORK = "llmfleet-noop"
ROUTER = PREFIX + "-router"
GOAL_CPU_PER_HOST = 1.5
LOCK = "/tmp/molecule.lock"

INVENTORY = """\
all:
  vars:
    ansible_connection: community.docker.docker
    ansible_python_interpreter: /usr/bin/python3
    # N = 1 has a single endpoint: the rollout's check (a play on localhost) wants one to be drainable.
    rollout_min_healthy: 0
  children:
    llmfleet_router:
      hosts:
        {router}: {{}}
    llmfleet_serving:
      hosts:
{hosts}
      vars:
        # One SGLang TP 8 replica per 8 x H100 host: one instance, one endpoint per host.
        serve_engine: sglang
        serve_allow_unauthenticated: true
        serve_ready_poll_interval: 1
"""

# deploy.yml then router.yml in one run: the router's endpoints come from the fleet plan of that run.
SETUP_PLAYBOOK = """\
- name: Deploy the fleet
  ansible.builtin.import_playbook: {repo}/playbooks/deploy.yml
- name: Put the router in front
  ansible.builtin.import_playbook: {repo}/playbooks/router.yml
"""


def host_names(count):
    return ["%s-%d" % (PREFIX, i) for i in range(1, count + 1)]


def write_inventory(directory, hosts):
    path = os.path.join(directory, "hosts-%d.yml" % len(hosts))
    with open(path, "w") as handle:
        handle.write(INVENTORY.format(router=ROUTER, hosts="".join("        %s: {}\n" % h for h in hosts)))
    return path


def ansible_env(checkout, profile):
    env = dict(os.environ)
    env["PATH"] = os.path.join(REPO, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(checkout, ".collections")
    env["ANSIBLE_CONFIG"] = os.path.join(checkout, "ansible.cfg")
    env["ANSIBLE_PIPELINING"] = "true"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if profile:
        env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.profile_tasks"
        env["PROFILE_TASKS_TASK_OUTPUT_LIMIT"] = "12"
    return env


def run_playbook(checkout, inventory, playbook, profile=False, log=None):
    """Run ansible-playbook; return (wall s, CPU s of its process tree, output)."""
    command = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-i", inventory, playbook]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(
        command,
        cwd=checkout,
        env=ansible_env(checkout, profile),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if log:
        with open(log, "a") as handle:
            handle.write("### %s %s (%s)\n%s\n" % (playbook, inventory, checkout, proc.stdout))
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:])
        raise SystemExit(
            "noop_cost: %s failed (rc %d) from %s; the output's tail is above"
            % (os.path.basename(playbook), proc.returncode, checkout)
        )
    return wall, cpu, proc.stdout


def recap(output, hosts):
    """{host: {ok, changed, ...}} from the PLAY RECAP of the output, serving hosts only."""
    counts = {}
    for line in output.splitlines():
        match = re.match(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", line.strip())
        if match and match.group(1) in hosts:
            counts[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    missing = [h for h in hosts if h not in counts]
    if missing:
        raise SystemExit("noop_cost: no PLAY RECAP line for %s in the output" % ", ".join(missing))
    return counts


def sh(*argv, **kwargs):
    subprocess.run(list(argv), check=True, **kwargs)


def create_hosts(count):
    env = dict(os.environ, LLMFLEET_TESTBED_NETWORK=NETWORK)
    sh(
        "bash",
        os.path.join(TESTBED, "start-host.sh"),
        ROUTER,
        env=dict(env, LLMFLEET_TESTBED_HOST_IMAGE="llmfleet-testbed/router-host:latest"),
    )
    for host in host_names(count):
        sh("bash", os.path.join(TESTBED, "create-host.sh"), host, "h100x8", env=env, stdout=subprocess.DEVNULL)
    # The router host runs nothing of its own until router.yml: wait for its systemd.
    for _attempt in range(120):
        state = subprocess.run(
            ["docker", "exec", ROUTER, "systemctl", "is-system-running"], stdout=subprocess.PIPE, text=True, check=False
        ).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(0.5)


def destroy_hosts(count):
    subprocess.run(["bash", os.path.join(TESTBED, "destroy-host.sh"), ROUTER] + host_names(count), check=False)
    subprocess.run(
        ["docker", "network", "rm", NETWORK], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )


def profile_lines(output, limit=12):
    """The profile_tasks summary (the slowest tasks) at the end of the output."""
    lines = [line for line in output.splitlines() if re.search(r" -+ \d+\.\d+s$", line)]
    return lines[-limit:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", default="1,2,4", help="host counts to measure (default 1,2,4)")
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        help="a checkout whose playbooks to measure (repeatable; default this one). The first one deploys the hosts.",
    )
    parser.add_argument("--playbooks", default="rollout,deploy", help="which no-change runs (default rollout,deploy)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the table shows the lowest CPU")
    parser.add_argument("--profile", action="store_true", help="print profile_tasks' slowest tasks per run")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the test hosts (remove: extensions/testbed/destroy-host.sh %s %s-1 ...)" % (ROUTER, PREFIX),
    )
    parser.add_argument("--no-lock", action="store_true", help="do not take %s" % LOCK)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    try:
        counts = sorted({int(x) for x in args.hosts.split(",") if x.strip()})
    except ValueError:
        parser.error("--hosts: a comma-separated list of host counts such as 1,2,4, got %r" % args.hosts)
    if not counts or counts[0] < 1 or counts[-1] > 6:
        parser.error(
            "--hosts: counts between 1 and 6 (each test host runs an engine emulator; 2 cores, 24 GiB), "
            "got %r" % args.hosts
        )
    checkouts = [os.path.abspath(c) for c in args.checkout] or [REPO]
    for checkout in checkouts:
        if not os.path.isfile(os.path.join(checkout, "playbooks", "rollout.yml")) or not os.path.isdir(
            os.path.join(checkout, ".collections", "ansible_collections", "llmfleet")
        ):
            parser.error(
                "--checkout %s: not a checkout with playbooks/rollout.yml and the collection link "
                ".collections/ansible_collections/llmfleet/serving (make link there)" % checkout
            )
    playbooks = [p.strip() for p in args.playbooks.split(",") if p.strip()]
    for name in playbooks:
        if name not in ("rollout", "deploy"):
            parser.error("--playbooks: rollout and/or deploy, got %r" % name)
    biggest = counts[-1]

    # Ctrl-C and SIGTERM unwind through the finally below (the hosts are removed).
    signal.signal(signal.SIGTERM, lambda *_args: (_x for _x in ()).throw(KeyboardInterrupt()))
    lock = open(LOCK, "a")
    rows = []
    workdir = tempfile.mkdtemp(prefix="noop-cost-")
    log = os.path.join(workdir, "ansible.log")
    try:
        if not args.no_lock:
            print("noop_cost: waiting for %s ..." % LOCK, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        print("noop_cost: creating %s and %d GPU test host(s) on %s" % (ROUTER, biggest, NETWORK), flush=True)
        create_hosts(biggest)
        setup = os.path.join(workdir, "setup.yml")
        with open(setup, "w") as handle:
            handle.write(SETUP_PLAYBOOK.format(repo=checkouts[0]))
        inventories = {n: write_inventory(workdir, host_names(n)) for n in counts}
        print("noop_cost: first deploy (deploy.yml + router.yml) on %d host(s)" % biggest, flush=True)
        wall, cpu, _output = run_playbook(checkouts[0], inventories[biggest], setup, log=log)
        print("noop_cost: first deploy took %.1f s wall, %.1f s controller CPU" % (wall, cpu), flush=True)
        for n in counts:
            hosts = host_names(n)
            for checkout in checkouts:
                for name in playbooks:
                    playbook = os.path.join(checkout, "playbooks", name + ".yml")
                    best = None
                    for _repeat in range(max(1, args.repeat)):
                        wall, cpu, output = run_playbook(checkout, inventories[n], playbook, args.profile, log)
                        if best is None or cpu < best[1]:
                            best = (wall, cpu, output)
                    wall, cpu, output = best
                    per_host = recap(output, hosts)
                    row = {
                        "checkout": checkout,
                        "hosts": n,
                        "playbook": name + ".yml",
                        "wall_s": round(wall, 2),
                        "cpu_s": round(cpu, 2),
                        "cpu_per_host_s": round(cpu / n, 2),
                        "tasks_per_host": round(sum(c.get("ok", 0) for c in per_host.values()) / n, 1),
                        "changed": sum(c.get("changed", 0) for c in per_host.values()),
                        "goal_ratio": round(cpu / n / GOAL_CPU_PER_HOST, 2),
                    }
                    rows.append(row)
                    print(
                        "noop_cost: N=%d %-11s %6.1f s wall %6.1f s CPU  (%s)"
                        % (n, row["playbook"], wall, cpu, checkout),
                        flush=True,
                    )
                    if args.profile:
                        print("\n".join("    " + line for line in profile_lines(output)), flush=True)
    except KeyboardInterrupt:
        print("\nnoop_cost: interrupted; removing the test hosts", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if not args.keep:
            destroy_hosts(biggest)
        lock.close()
        print("noop_cost: ansible output in %s" % log, file=sys.stderr)

    labels = {c: ("this" if c == REPO else os.path.basename(c)) for c in checkouts}
    print()
    print(
        "| checkout | N | playbook | wall s | controller CPU s | CPU/host s | tasks/host | changed | CPU/host / %.1f s goal |"
        % GOAL_CPU_PER_HOST
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            "| %s | %d | %s | %.1f | %.1f | %.2f | %.1f | %d | %.2f |"
            % (
                labels[row["checkout"]],
                row["hosts"],
                row["playbook"],
                row["wall_s"],
                row["cpu_s"],
                row["cpu_per_host_s"],
                row["tasks_per_host"],
                row["changed"],
                row["goal_ratio"],
            )
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)
    if any(row["changed"] for row in rows):
        raise SystemExit(
            "noop_cost: a no-change run changed something (column changed): the figures are not those of a no-op"
        )


if __name__ == "__main__":
    main()
