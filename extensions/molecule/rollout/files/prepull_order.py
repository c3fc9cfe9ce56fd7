"""Did a rollout pull the new images on every host of the batch before the batch's drain and stop? (issue 12)

    prepull_order.py --playbook-json RUN.json --events HOST=EVENTS.txt [--events ...] --image HOST=IMAGE [--image ...]

RUN.json is the rollout's output with the ansible.posix.json callback (what the timer callback prints after the JSON
is ignored). EVENTS.txt is what the test host's dockerd reported during the run:
    docker events --since T0 --until T1 --format '{{.TimeNano}} {{.Type}} {{.Action}} {{.Actor.ID}}'
IMAGE is the image the new plan runs on HOST.

Prints one JSON object: per host the time its dockerd pulled IMAGE and the time it first stopped a container (kill,
die or stop), the start of the first "Drain the changed servers in the router(s)" task, the hosts the pre-pull task
changed, and "problems" (empty when the order is right). Exit 1 when there is a problem: a host that did not pull
its image (or pulled it twice), a pull after the first drain or after a container of the batch was stopped, or a
pre-pull task that did not run before the drain. All times are seconds since the epoch (the test hosts share this
machine's clock). Standard library only.
"""

import argparse
import datetime
import json
import sys

PULL_TASK = "Pull the new images on every host of the batch before its drain"
# The serve role's images.yml task inside it, which reports changed on the hosts that pulled (the callback prints it
# as "llmfleet.serving.serve : Pull the images the host lacks").
PULL_INNER = "Pull the images the host lacks"
DRAIN_TASK = "Drain the changed servers in the router(s)"
STOP_ACTIONS = ("kill", "die", "stop")


def playbook_json(text):
    """The ansible.posix.json document at the start of TEXT (other callbacks may print after it)."""
    start = text.index("{")
    return json.JSONDecoder().raw_decode(text[start:])[0]


def iso_seconds(stamp):
    """ansible.posix.json's task times ('2026-11-30T21:10:00.123456Z', UTC) as seconds since the epoch."""
    stamp = stamp.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in stamp else "%Y-%m-%dT%H:%M:%S"
    return datetime.datetime.strptime(stamp, fmt).replace(tzinfo=datetime.timezone.utc).timestamp()


def tasks_in_order(doc):
    """[(task name, start s, {host: result})] of every play, in the order they ran."""
    out = []
    for play in doc.get("plays", []):
        for task in play.get("tasks", []):
            start = task["task"].get("duration", {}).get("start")
            out.append((task["task"]["name"], iso_seconds(start) if start else None, task.get("hosts", {})))
    return out


def parse_events(text):
    """[(seconds, type, action, actor)] of `docker events --format '{{.TimeNano}} {{.Type}} {{.Action}} {{.Actor.ID}}'`."""
    out = []
    for line in text.splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4 and parts[0].isdigit():
            out.append((int(parts[0]) / 1e9, parts[1], parts[2], parts[3]))
    return out


def check(doc, events, images):
    """The summary and its problems; EVENTS {host: events text}, IMAGES {host: image}."""
    problems = []
    tasks = tasks_in_order(doc)
    # A role's task is named "ROLE : NAME" in the callback's output (the serve role's images.yml).
    names = [name.rsplit(" : ", 1)[-1] for name, _start, _hosts in tasks]
    drains = [i for i, name in enumerate(names) if name == DRAIN_TASK]
    pre = [i for i, name in enumerate(names) if name == PULL_INNER]
    first_drain = drains[0] if drains else None
    drain_start = tasks[first_drain][1] if first_drain is not None else None
    if first_drain is None:
        problems.append("no %r task ran: nothing was drained" % DRAIN_TASK)
    # The pre-pull's images.yml tasks that ran before the first drain, and the hosts they changed.
    before = [i for i in pre if first_drain is None or i < first_drain]
    changed = sorted({host for i in before for host, result in tasks[i][2].items() if result.get("changed")})
    if PULL_TASK not in names[: first_drain if first_drain is not None else len(names)]:
        problems.append("the task %r did not run before the first drain" % PULL_TASK)
    pulls, stops = {}, {}
    for host, image in sorted(images.items()):
        parsed = parse_events(events.get(host, ""))
        host_pulls = [t for t, kind, action, actor in parsed if kind == "image" and action == "pull" and actor == image]
        host_stops = [t for t, kind, action, _actor in parsed if kind == "container" and action in STOP_ACTIONS]
        pulls[host] = host_pulls
        stops[host] = min(host_stops) if host_stops else None
        if len(host_pulls) != 1:
            problems.append("%s pulled %s %d times during the rollout (expected once)" % (host, image, len(host_pulls)))
        if host not in changed:
            problems.append("%s: the pre-pull before the drain reported no pull (changed hosts: %s)" % (host, changed))
    last_pull = max((t for ts in pulls.values() for t in ts), default=None)
    first_stop = min((t for t in stops.values() if t is not None), default=None)
    if last_pull is not None and drain_start is not None and last_pull >= drain_start:
        problems.append("a pull ended %.3f s after the first drain started" % (last_pull - drain_start))
    if last_pull is not None and first_stop is not None and last_pull >= first_stop:
        problems.append("a pull ended %.3f s after the batch's first container was stopped" % (last_pull - first_stop))
    if first_stop is None:
        problems.append("no container was stopped: the rollout restarted nothing")
    # What a reader checks by eye: the tasks from the pre-pull to the first drain, with the hosts each changed.
    first_pull = names.index(PULL_TASK) if PULL_TASK in names else len(names)
    timeline = [
        "%.3f %s (changed: %s)"
        % (start or 0, name, ", ".join(sorted(h for h, r in hosts.items() if r.get("changed"))) or "none")
        for name, start, hosts in tasks[first_pull : (first_drain + 1) if first_drain is not None else len(tasks)]
    ]
    return {
        "timeline": timeline,
        "pulled_at": {h: ts[0] if len(ts) == 1 else ts for h, ts in pulls.items()},
        "first_drain_started_at": drain_start,
        "first_container_stopped_at": stops,
        "prepull_changed_hosts": changed,
        "last_pull_before_first_drain_s": None if last_pull is None or drain_start is None else drain_start - last_pull,
        "last_pull_before_first_stop_s": None if last_pull is None or first_stop is None else first_stop - last_pull,
        "problems": problems,
    }


def _pairs(values, what):
    out = {}
    for value in values:
        host, sep, rest = value.partition("=")
        if not sep or not host or not rest:
            raise SystemExit("prepull_order.py: --%s wants HOST=VALUE, got %r" % (what, value))
        out[host] = rest
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--playbook-json", required=True)
    parser.add_argument("--events", action="append", default=[], help="HOST=FILE of docker events")
    parser.add_argument("--image", action="append", default=[], help="HOST=IMAGE the new plan runs there")
    args = parser.parse_args(argv)
    with open(args.playbook_json, encoding="utf-8") as f:
        doc = playbook_json(f.read())
    events = {}
    for host, path in _pairs(args.events, "events").items():
        with open(path, encoding="utf-8") as f:
            events[host] = f.read()
    summary = check(doc, events, _pairs(args.image, "image"))
    print(json.dumps(summary, indent=1, sort_keys=True))
    return 1 if summary["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
