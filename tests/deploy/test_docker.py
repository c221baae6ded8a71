"""deploy/Dockerfile and deploy/docker-compose.yml, for real: the image built by
`make test-deploy` (mk/test-deploy.sh), a compose cluster of the master, three workers and the
sample services, a headless run through it checked against the services' own count, and a
worker killed mid-run.

Needs a running Docker daemon, docker-compose and the image (HERD_IMAGE, default herd:latest);
without them the module is skipped, unless HERD_DEPLOY_REQUIRED=1 (make test-deploy) makes
that a failure. Each cluster has a compose project of its own and host ports picked free, and
is taken down (containers, network, volumes) whatever the test's outcome.
"""
import json
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE_FILE = os.path.join(ROOT, "deploy", "docker-compose.yml")
DOCKER = os.environ.get("HERD_DOCKER", "/usr/bin/docker")
COMPOSE = os.environ.get("HERD_COMPOSE", "docker-compose")
IMAGE = os.environ.get("HERD_IMAGE", "herd:latest")
WORKERS = 3


def _docker_ready():
    try:
        r = subprocess.run([DOCKER, "image", "inspect", IMAGE], capture_output=True, timeout=30)
        c = subprocess.run([COMPOSE, "version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if r.returncode != 0:
        return f"no image {IMAGE} (or no Docker daemon): {r.stderr.decode().strip()}"
    if c.returncode != 0:
        return f"{COMPOSE} does not run"
    return None


_why = _docker_ready()
if _why:
    if os.environ.get("HERD_DEPLOY_REQUIRED") == "1":
        raise RuntimeError(f"make test-deploy: cannot run the Docker tests: {_why}")
    pytest.skip(f"Docker tests skipped: {_why}", allow_module_level=True)


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class Cluster:
    """One compose project from deploy/docker-compose.yml, with its own name and host ports."""

    def __init__(self, name, **settings):
        self.project = f"herddeploy{os.getpid()}{name}"
        ports = free_ports(6)
        self.web_port, self.master_port, self.profile_port = ports[0], ports[1], ports[2]
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HERD_")}
        self.env.update({
            "HERD_IMAGE": IMAGE,
            "HERD_PUBLISH_WEB": str(ports[0]), "HERD_PUBLISH_MASTER": str(ports[1]),
            "HERD_PUBLISH_PROFILE": str(ports[2]), "HERD_PUBLISH_MATCHMAKING": str(ports[3]),
            "HERD_PUBLISH_ITEM": str(ports[4]), "HERD_PUBLISH_TRADEPOST": str(ports[5]),
        })
        self.env.update({k: str(v) for k, v in settings.items()})

    def compose(self, *args, timeout=180, check=True):
        r = subprocess.run([COMPOSE, "-p", self.project, "-f", COMPOSE_FILE, *args],
                           env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)}: exit {r.returncode}\n"
                                 f"{r.stdout}\n{r.stderr}")
        return r

    def ids(self, service):
        """The service's containers, by compose's labels, through docker itself:
        `docker-compose ps` takes seconds while the load test has the CPUs."""
        r = self.docker("ps", "-aq", "--no-trunc",
                        "--filter", f"label=com.docker.compose.project={self.project}",
                        "--filter", f"label=com.docker.compose.service={service}")
        return r.stdout.split()

    def logs(self, cid):
        """A container's output, without compose's prefixes."""
        r = self.docker("logs", cid, check=False)
        return r.stdout + r.stderr

    def docker(self, *args, timeout=120, check=True):
        r = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
        return r

    def up(self, workers=WORKERS):
        self.compose("up", "-d", "--scale", f"worker={workers}")

    def down(self):
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False)

    def wait_master(self, timeout):
        (master,) = self.ids("master")
        self.docker("wait", master, timeout=timeout)
        return self.logs(master)

    def services_stats(self):
        return http_json(f"http://127.0.0.1:{self.profile_port}/__stats")

    def wait_health(self, service, timeout=40):
        (cid,) = self.ids(service)
        deadline = time.time() + timeout
        status = None
        while time.time() < deadline:
            status = self.docker("inspect", "-f", "{{.State.Health.Status}}", cid).stdout.strip()
            if status == "healthy":
                return
            time.sleep(1)
        raise AssertionError(f"{service}: health {status} after {timeout} s")


@pytest.fixture
def cluster():
    """cluster(name, **settings) -> a Cluster, taken down at the test's end."""
    made = []

    def make(name, **settings):
        c = Cluster(name, **settings)
        made.append(c)
        return c
    yield make
    for c in made:
        c.down()


def summary_count(log):
    """The summary's Aggregated # reqs (the first table of the final summary)."""
    m = re.findall(r"^\s+Aggregated\s+(\d+)\s", log, re.M)
    assert m, f"no summary in the master's log:\n{log}"
    return int(m[0])


def setups(stats):
    """How many times the scenario's setup: ran (one per worker and run): gaming.yaml's
    setup is the only GET /players of the profile service (GameLoad's goes to the item
    service); each setup makes two requests, which herd does not count."""
    return stats["services"]["profile"]["routes"].get("GET /players", {}).get("200", 0)


RUN = dict(HERD_AUTOSTART="true", HERD_AUTOQUIT=1, HERD_ONLY_SUMMARY="true",
           HERD_EXPECT_WORKERS=WORKERS, HERD_USERS=30, HERD_SPAWN_RATE=30)


def test_compose_commands_pass_check(cluster):
    """Every herd command of the compose file, with the environment compose gives it, passes
    --check in the image, with no network: the default settings and the test's."""
    for settings in ({}, dict(RUN, HERD_RUN_TIME="10s", HERD_STOP_TIMEOUT="10s")):
        c = cluster("check", **settings)
        conf = yaml.safe_load(c.compose("config").stdout)
        checked = set()
        for name, svc in conf["services"].items():
            cmd = svc["command"]
            cmd = cmd if isinstance(cmd, list) else cmd.split()
            if cmd[0] == "herd-sample-services":
                continue  # it has no --check: the runs below see it healthy
            args = [DOCKER, "run", "--rm", "--network", "none"]
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) for e in env if "=" in e)
            for k, v in env.items():
                if v is not None:
                    args += ["-e", f"{k}={v}"]
            for v in svc.get("volumes") or []:
                if isinstance(v, dict):
                    v = f"{v['source']}:{v['target']}" + (":ro" if v.get("read_only") else "")
                args += ["-v", v]
            r = subprocess.run(args + [svc["image"]] + cmd + ["--check"], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, f"{name}: {cmd} --check: exit {r.returncode}\n" \
                                      f"{r.stdout}\n{r.stderr}"
            out = r.stdout + r.stderr
            if cmd[0] == "herd-master":
                assert "nothing was started" in out, out
                assert "/scenarios/gaming.yaml" in out, out
            else:
                assert "tcp://master:5557" in out, out
            checked.add(cmd[0])
        assert checked == {"herd-master", "herd-worker"}


def test_compose_run_counts_what_the_services_served(cluster):
    """up --scale worker=3, a 15 s run started at once (HERD_AUTOSTART): the page and /health
    answer on the published port while it runs, the services' health check passes, and the
    summary counts exactly what the services answered (but the setup steps' requests)."""
    c = cluster("run", HERD_RUN_TIME="15s", HERD_STOP_TIMEOUT="10s", **RUN)
    c.up()
    assert len(c.ids("worker")) == WORKERS
    state, deadline = None, time.time() + 30
    while time.time() < deadline and state not in ("spawning", "running"):
        try:
            state = http_json(f"http://127.0.0.1:{c.web_port}/health")["state"]
        except OSError:
            pass
        time.sleep(0.5)
    assert state in ("spawning", "running")
    with urllib.request.urlopen(f"http://127.0.0.1:{c.web_port}/", timeout=5) as r:
        assert b"<html" in r.read().lower()
    c.wait_health("services")
    log = c.wait_master(timeout=90)
    assert len(re.findall(r"Worker \w+ .* connected; \d+ worker\(s\) connected", log)) == WORKERS
    assert "missing" not in log
    assert "listening on every interface" in log
    herd = summary_count(log)
    stats = c.services_stats()
    assert setups(stats) == WORKERS
    assert herd > 0
    assert herd == stats["total"] - 2 * setups(stats), log
    # the workers quit with the master
    for w in c.ids("worker"):
        assert c.docker("wait", w, timeout=30).stdout.strip() == "0"


def test_compose_worker_killed_midrun(cluster):
    """docker kill of one of three workers mid-run (a 30 s run): the master declares it missing, hands its
    users to the two others, and its summary is the services' count less at most what the
    dead worker had not reported yet (a report a second, and its requests in flight)."""
    c = cluster("kill", HERD_RUN_TIME="30s", HERD_STOP_TIMEOUT="10s", **RUN)
    c.up()
    t0 = time.time()
    workers = c.ids("worker")
    assert len(workers) == WORKERS
    (master,) = c.ids("master")
    deadline = t0 + 40
    while time.time() < deadline and "All users spawned" not in c.logs(master):
        time.sleep(0.2)
    time.sleep(3)
    r = c.docker("kill", workers[1], check=False)
    print(f"worker killed {time.time() - t0:.1f} s after up")
    assert r.returncode == 0, f"docker kill: {r.stderr}\n{c.logs(master)}"
    log = c.wait_master(timeout=120)
    m = re.search(r"Worker (\w+) missing: no heartbeat for \d+ s; its (\d+) users go to the "
                  r"remaining 2 worker\(s\)", log)
    assert m, log
    assert int(m.group(2)) == RUN["HERD_USERS"] // WORKERS
    after = log[m.end():]
    assert re.search(r"All users spawned: .*\(30 total users\)", after), log
    herd = summary_count(log)
    stats = c.services_stats()
    served = stats["total"] - 2 * setups(stats)
    rps = float(re.findall(r"^\s+Aggregated\s+\d+\s+\d+\(.*?\)\s+\|.*\|\s+([\d.]+)", log, re.M)[0])
    lost = served - herd
    # the dead worker's last second at most: a third of the cluster's rate, counted with a
    # margin of 3 (its share before the kill), plus one request in flight per user
    bound = rps + RUN["HERD_USERS"]
    print(f"killed worker: herd {herd}, services {served}, lost {lost} (bound {bound:.0f})")
    assert 0 <= lost <= bound, log
