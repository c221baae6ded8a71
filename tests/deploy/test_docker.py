"""deploy/Dockerfile and deploy/docker-compose.yml, for real: the image built by
`make test-deploy` (mk/test-deploy.sh), a compose cluster of the master, three workers and the
sample services over a CurveZMQ channel, a headless run through it checked against the
services' own count while two workers the master does not know try to join, and a worker
killed mid-run.

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
        self.extra = []   # containers the test started beside compose's, removed by down()

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
        # the test's own containers first: compose cannot remove a network still in use
        for name in self.extra:
            self.docker("rm", "-f", "-v", name, check=False)
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False)

    @property
    def network(self):
        return f"{self.project}_default"

    @property
    def keys_volume(self):
        """The named volume of the keys, as Docker names it (compose prefixes the project)."""
        return f"{self.project}_herd-keys"

    def run_extra(self, name, *args):
        """docker run -d a container of the test's own (removed by down()); its name."""
        name = f"{self.project}_{name}"
        self.extra.append(name)
        self.docker("run", "-d", "--name", name, *args)
        return name

    def in_keys(self, *cmd, volume=None):
        """A command's output in the image with the keys mounted read-only."""
        r = self.docker("run", "--rm", "--network", "none", "-v",
                        f"{volume or self.keys_volume}:/keys:ro", IMAGE, *cmd)
        return r.stdout

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


def public_key(cert_text):
    """The public-key of a key file's text (the ZeroMQ certificate --gen-keys writes)."""
    m = re.search(r'public-key\s*=\s*"(.{40})"', cert_text)
    assert m, cert_text
    return m.group(1)


RUN = dict(HERD_AUTOSTART="true", HERD_AUTOQUIT=1, HERD_ONLY_SUMMARY="true",
           HERD_EXPECT_WORKERS=WORKERS, HERD_USERS=30, HERD_SPAWN_RATE=30)


def own_keys(root):
    """The README's own keys for HERD_KEYS: made with the built programs, owned by uid 10001."""
    bin_dir = os.environ.get("HERD_BIN") or os.path.join(ROOT, "bin")
    if not os.access(os.path.join(bin_dir, "herd-master"), os.X_OK):
        return None
    keys = os.path.join(root, "my-keys")
    os.makedirs(keys)   # --gen-keys makes its directory, not the parents
    for program, sub in (("herd-master", "master"), ("herd-worker", "worker")):
        subprocess.run([os.path.join(bin_dir, program), "--gen-keys", os.path.join(keys, sub)],
                       check=True, capture_output=True, timeout=30)
    os.makedirs(os.path.join(keys, "authorized"))
    with open(os.path.join(keys, "worker", "worker.pub")) as f, \
            open(os.path.join(keys, "authorized", "worker.pub"), "w") as g:
        g.write(f.read())
    subprocess.run(["chown", "-R", "10001:10001", keys], check=True, timeout=30)
    return keys


def test_compose_commands_pass_check(cluster, tmp_path):
    """The keys service makes the keys (secret files 0600, the herd user's) and keeps them
    when started again; then every herd command of the compose file, with the environment and
    the volumes compose gives it, passes --check in the image, with no network, and says its
    channel is CurveZMQ with the keys made: the default settings, the test's, and your own
    keys bind-mounted (HERD_KEYS)."""
    mine = own_keys(str(tmp_path))
    variants = [{}, dict(RUN, HERD_RUN_TIME="10s", HERD_STOP_TIMEOUT="10s")]
    if mine:
        variants.append(dict(HERD_KEYS=mine))
    for settings in variants:
        c = cluster("check", **settings)
        c.compose("up", "-d", "keys")
        c.wait_health("keys")
        volume = settings.get("HERD_KEYS", c.keys_volume)

        def keys():
            """(modes of the secret files, [master.pub, worker.pub, authorized/worker.pub])"""
            out = c.in_keys("sh", "-c", "stat -c '%n %a %U' /keys/master/master.key "
                            "/keys/worker/worker.key && cat /keys/master/master.pub "
                            "/keys/worker/worker.pub /keys/authorized/worker.pub",
                            volume=volume)
            return out.splitlines()[:2], re.findall(r'public-key\s*=\s*"(.{40})"', out)
        modes, pubs = keys()
        assert modes == ["/keys/master/master.key 600 herd",
                         "/keys/worker/worker.key 600 herd"], modes
        assert len(pubs) == 3 and pubs[1] == pubs[2], pubs
        master_pub, worker_pub = pubs[0], pubs[1]
        if mine:
            with open(os.path.join(mine, "master", "master.pub")) as f:
                assert (master_pub == public_key(f.read())) == ("HERD_KEYS" in settings)
        if not settings:
            # started again: the same keys
            c.compose("up", "-d", "--force-recreate", "keys")
            c.wait_health("keys")
            assert keys() == (modes, pubs)

        conf = yaml.safe_load(c.compose("config").stdout)
        named = set(conf.get("volumes") or {})
        checked = set()
        for name, svc in conf["services"].items():
            cmd = svc["command"]
            cmd = cmd if isinstance(cmd, list) else cmd.split()
            if cmd[0] == "herd-sample-services":
                continue  # it has no --check: the runs below see it healthy
            if name == "keys":
                continue  # run above
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
                source, rest = v.split(":", 1)
                if source in named:
                    source = f"{c.project}_{source}"
                args += ["-v", f"{source}:{rest}"]
            r = subprocess.run(args + [svc["image"]] + cmd + ["--check"], capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, f"{name}: {cmd} --check: exit {r.returncode}\n" \
                                      f"{r.stdout}\n{r.stderr}"
            out = r.stdout + r.stderr
            if cmd[0] == "herd-master":
                assert "nothing was started" in out, out
                assert "/scenarios/gaming.yaml" in out, out
                assert f"Workers' channel: CurveZMQ, master key {master_pub}, 1 authorized " \
                       f"worker key in /keys/authorized\n" in out, out
            else:
                assert "tcp://master:5557" in out, out
                assert f"Channel: CurveZMQ, this worker's key {worker_pub}, the master's " \
                       f"{master_pub}\n" in out, out
            assert "chmod" not in out and "not secured" not in out, out
            checked.add(cmd[0])
        assert checked == {"herd-master", "herd-worker"}


def test_compose_run_counts_what_the_services_served(cluster):
    """up --scale worker=3, a 15 s run started at once (HERD_AUTOSTART): the page and /health
    answer on the published port while it runs, the services' health check passes, and the
    summary counts exactly what the services answered (but the setup steps' requests).
    The channel is CurveZMQ: two herd-workers on the project's network that the master does
    not know, one without keys and one with a key pair of its own, are refused (the master
    logs it, the workers say their handshake failed), and never registered, sent the
    scenario or given users."""
    c = cluster("run", HERD_RUN_TIME="15s", HERD_STOP_TIMEOUT="10s", **RUN)
    # the master first, waiting for its workers: the strangers knock before the test starts,
    # one after the other, each until it has been told why it is refused
    c.up(workers=0)
    (master,) = c.ids("master")
    worker = ["herd-worker", "--master-host", "master", "--master-port", "5557",
              "--master-timeout", "5m"]

    def knock(name, told, master_says, *args):
        """A stranger, until it is told `told` and the master's log says `master_says`."""
        cid = c.run_extra(name, "--network", c.network, *args)
        deadline = time.time() + 120
        while time.time() < deadline and not (told in c.logs(cid) and
                                              master_says in c.logs(master)):
            time.sleep(0.5)
        assert told in c.logs(cid), c.logs(cid)
        assert master_says in c.logs(master), c.logs(master)
        print(name, c.docker("inspect", "-f",
                             "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                             cid).stdout.strip())
        return cid
    # The master logs the first refusal from an address at once, the others in a count a
    # minute later (or when it exits); its reason is libzmq's event, which may be the
    # general "its handshake failed" when the connection ends first: the reasons are not
    # asserted on the master's side. Every reason a worker without keys is told ends with
    # this advice.
    keyless = knock("keyless", "give this worker --curve-key and --curve-master",
                    "Refused a worker connection from ", IMAGE, *worker)
    c.docker("rm", "-f", keyless)
    knock("stranger", "Secure handshake with the master failed", "Waiting for",
          "-v", f"{c.keys_volume}:/keys:ro", IMAGE, "sh", "-ec",
          "herd-worker --gen-keys /tmp/k >/dev/null && exec " + " ".join(worker) +
          " --curve-key /tmp/k/worker.key --curve-master /keys/master/master.pub")
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
    print("master", c.docker("inspect", "-f",
                             "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                             master).stdout.strip())
    log = c.wait_master(timeout=90)
    assert len(re.findall(r"Worker \w+ .* connected; \d+ worker\(s\) connected", log)) == WORKERS
    assert "missing" not in log
    assert "listening on every interface" in log
    assert "Workers' channel secured with CurveZMQ: master key " in log, log
    assert "1 authorized worker key in /keys/authorized" in log, log
    assert "open beyond this host without --curve-key" not in log and "chmod" not in log, log
    print("\n".join(l for l in log.splitlines() if "refused" in l.lower()))
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
