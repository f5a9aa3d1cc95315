"""Waits until every service of the compose project in the current folder is running and healthy.

Usage: python3 stack_wait.py TIMEOUT_SECONDS UP_LOG

Exits 0 when all are healthy. Otherwise, after TIMEOUT_SECONDS or as soon as `docker compose up`
has stopped (its log UP_LOG ends) or a container has exited, prints what names the cause: the
service, its state, its last health check output and the end of its log, or the end of UP_LOG.
"""

import json
import subprocess
import sys
import time

timeout, up_log = float(sys.argv[1]), sys.argv[2]


def run(*args):
    return subprocess.run(args, capture_output=True, text=True, check=False)


def services():
    """The project's services from its compose file, and their containers' states."""
    names = run("docker", "compose", "config", "--services").stdout.split()
    listed = run("docker", "compose", "ps", "--all", "--format", "json").stdout
    containers = {}
    for line in listed.splitlines():
        line = line.strip()
        if not line:
            continue
        for c in json.loads(line) if line.startswith("[") else [json.loads(line)]:
            containers[c["Service"]] = c
    return names, containers


def tail(path, lines=15):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def explain(names, containers):
    for name in names:
        c = containers.get(name)
        if c is None:
            print(f"{name}: no container (the image may still be building, or `up` stopped)")
            continue
        health = c.get("Health") or "no healthcheck"
        print(f"{name}: {c.get('State')} ({health}) {c.get('Status', '')}")
        if c.get("State") != "running" or health not in ("healthy", "no healthcheck"):
            inspect = run("docker", "inspect", "--format", "{{json .State.Health}}", c["Name"]).stdout.strip()
            if inspect and inspect != "null":
                log = (json.loads(inspect).get("Log") or [{}])[-1]
                print(f"  last health check: exit {log.get('ExitCode')}: {log.get('Output', '').strip()[:400]}")
            print("  log:")
            for line in run("docker", "logs", "--tail", "15", c["Name"]).stdout.splitlines() + \
                    run("docker", "logs", "--tail", "15", c["Name"]).stderr.splitlines():
                print("   ", line[:300])
    print("end of `docker compose up`:")
    print(tail(up_log))


deadline = time.monotonic() + timeout
while True:
    names, containers = services()
    states = [containers.get(n) for n in names]
    if names and all(c and c.get("State") == "running" and c.get("Health") in ("healthy", "") for c in states):
        print("healthy:", ", ".join(names))
        sys.exit(0)
    exited = [c for c in states if c and c.get("State") in ("exited", "dead")]
    stopped = "Aborting on container exit" in tail(up_log, 50) or tail(up_log, 5).strip().startswith("Error")
    failed_up = any(w in tail(up_log, 20) for w in ("Error response from daemon", "failed to solve", "returned a non-zero code"))
    if exited or stopped or failed_up or time.monotonic() > deadline:
        why = "a container exited" if exited else "`docker compose up` failed" if (stopped or failed_up) \
            else f"not healthy within {timeout:.0f} s"
        print(f"the stack did not become healthy: {why}")
        explain(names, containers)
        sys.exit(1)
    time.sleep(2)
