"""herd on a small network of its own: hosts in network namespaces this test session creates,
each running the real binaries.

    switch namespace: bridge br0 (and br1 for the delayed hosts)
      master   10.77.0.1     herd-master
      target   10.77.0.2     herd-sample-services --bind 10.77.0.2
      w1..w3   10.77.0.11-13 herd-worker --master-host 10.77.0.1
      many     10.77.0.20    up to 200 herd-worker processes

Every host has one veth link (eth0) to a port of the bridge. The bridge lives in a namespace of
its own, not in the root one: a root namespace where dockerd has run drops bridged frames (its
FORWARD policy is DROP and br_netfilter passes bridged frames through iptables); the switch
namespace has its own, empty, iptables. Nothing in the root namespace is touched, and nothing
outside these namespaces is reached. The ports are the namespaces' own, so fixed numbers do.

Names carry the prefix herdc<pid>- so parallel sessions do not collide; the namespaces (and so
their links, bridges, iptables rules), and every process started in them, go at the end of the
session, also when a test fails. Leftovers of a session that was killed (prefix herdc<pid>- with
no such process any more) are removed at the start.

Needs root and `ip` (iproute2), `iptables`, `curl`; without them every test is skipped, saying
why. The figures worth keeping (attach time of 200 workers, the time to notice a kill, Spawns
per reconnection, how delay and loss were made) are printed at the end of the session and
written to build/cluster-figures.txt. HERD_CLUSTER_KEEP=1 keeps the processes' logs (their
directory is printed).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("HERD_BIN") or os.path.join(ROOT, "bin")
MASTER = os.path.join(BIN, "herd-master")
WORKER = os.path.join(BIN, "herd-worker")
SERVICES = os.path.join(BIN, "herd-sample-services")
HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = os.path.join(ROOT, "build", "cluster-figures.txt")

NET = "10.77.0"
HOSTS = {"master": 1, "target": 2, "w1": 11, "w2": 12, "w3": 13, "many": 20}
MASTER_PORT = 5557
TARGET_PORT = 8080
_figures = []


def figure(line):
    """A measured figure: printed at the end of the session, kept in build/."""
    _figures.append(line)
    print("\n[cluster] " + line)


def pytest_terminal_summary(terminalreporter):
    if not _figures:
        return
    terminalreporter.section("cluster figures")
    for line in _figures:
        terminalreporter.write_line(line)
    try:
        os.makedirs(os.path.dirname(FIGURES), exist_ok=True)
        with open(FIGURES, "w") as f:
            f.write("\n".join(_figures) + "\n")
    except OSError:
        pass


def sh(*args, check=True, timeout=30):
    return subprocess.run(list(args), capture_output=True, text=True, check=check,
                          timeout=timeout)


def why_not():
    """Why these tests cannot run here; None when they can."""
    if os.geteuid() != 0:
        return "the cluster tests need root (network namespaces)"
    for tool in ("ip", "iptables", "curl"):
        if not shutil.which(tool):
            return "the cluster tests need %s (make test installs it)" % tool
    for prog in (MASTER, WORKER, SERVICES):
        if not os.access(prog, os.X_OK):
            return "%s is not built" % prog
    probe = "herdc%d-probe" % os.getpid()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "cannot create a network namespace: " + r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def remove_stale():
    """Namespaces of sessions that were killed: our prefix, their pid gone."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        m = re.match(r"(herdc(\d+)-\S+)", line)
        if m and not os.path.exists("/proc/%s" % m.group(2)):
            kill_namespace_pids(m.group(1))
            subprocess.run(["ip", "netns", "del", m.group(1)], capture_output=True)


def kill_namespace_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


class Lab:
    def __init__(self, workdir):
        self.prefix = "herdc%d-" % os.getpid()
        self.dir = workdir
        self.namespaces = []
        self.procs = []
        self.netem = None   # whether the kernel has netem (found out when first needed)

    def ns(self, host):
        return self.prefix + host

    def ip(self, host):
        return "%s.%d" % (NET, HOSTS[host])

    # ---- building and removing ---------------------------------------------------------

    def build(self):
        sw = self.ns("switch")
        self._add_ns("switch")
        sh("ip", "-n", sw, "link", "set", "lo", "up")
        # The switch's own netfilter: bridged frames are not filtered (whatever br_netfilter
        # does in this kernel), and its FORWARD accepts; both only in this namespace.
        subprocess.run(["ip", "netns", "exec", sw, "sysctl", "-qw",
                        "net.bridge.bridge-nf-call-iptables=0"], capture_output=True)
        subprocess.run(["ip", "netns", "exec", sw, "iptables", "-P", "FORWARD", "ACCEPT"],
                       capture_output=True)
        for br in ("br0", "br1"):
            sh("ip", "-n", sw, "link", "add", br, "type", "bridge")
            sh("ip", "-n", sw, "link", "set", br, "up")
        for host in HOSTS:
            self._add_ns(host)
            ns = self.ns(host)
            sh("ip", "link", "add", "name", "p-" + host, "netns", sw, "type", "veth", "peer",
               "name", "eth0", "netns", ns)
            sh("ip", "-n", sw, "link", "set", "p-" + host, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", self.ip(host) + "/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")

    def _add_ns(self, host):
        sh("ip", "netns", "add", self.ns(host))
        self.namespaces.append(self.ns(host))

    def kill_all(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []

    def destroy(self):
        self.kill_all()
        for ns in reversed(self.namespaces):
            kill_namespace_pids(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces = []

    # ---- processes ---------------------------------------------------------------------

    def start(self, host, args, name, stdout=None):
        """args run on host in a process group of their own; stderr (and stdout unless
        given) to files in the lab's directory. Returns the Popen, with .log and .out."""
        log = os.path.join(self.dir, name + ".log")
        out = os.path.join(self.dir, name + ".out")
        with open(log, "w") as e, open(out, "w") as o:
            p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + args,
                                 stdout=stdout or o, stderr=e, stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        p.log, p.out = log, out
        self.procs.append(p)
        return p

    def kill(self, p, sig=signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass

    def exec(self, host, args, check=True, timeout=30):
        return sh("ip", "netns", "exec", self.ns(host), *args, check=check, timeout=timeout)

    # ---- the target --------------------------------------------------------------------

    def start_target(self):
        p = self.start("target", [SERVICES, "--bind", self.ip("target"),
                                  "--profile-port", str(TARGET_PORT), "--matchmaking-port", "8081",
                                  "--item-port", "8082", "--tradepost-port", "8083",
                                  "--seed-players", "5", "--threads", "2"], "target")
        end = time.time() + 20
        while time.time() < end:
            if "ready" in read(p.out):
                return p
            assert p.poll() is None, read(p.log)
            time.sleep(0.05)
        raise AssertionError("herd-sample-services not ready: " + read(p.log))

    @property
    def target_url(self):
        return "http://%s:%d" % (self.ip("target"), TARGET_PORT)

    def served(self):
        """What the target answered so far: /__stats' total (asked on the target host)."""
        r = self.exec("target", ["curl", "-sS", "-m", "10", self.target_url + "/__stats"])
        return json.loads(r.stdout)["total"]

    def reset_target(self):
        self.exec("target", ["curl", "-sS", "-m", "10", "-X", "POST",
                             self.target_url + "/__reset"])
        assert self.served() == 0

    # ---- herd --------------------------------------------------------------------------

    def master(self, scenario, users, rate, run_time, workers, extra=(), name="master"):
        return self.start("master", [
            MASTER, "-f", scenario, "-H", self.target_url, "--headless", "-u", str(users),
            "-r", str(rate), "-t", run_time, "--expect-workers", str(workers),
            "--master-bind-host", self.ip("master"), "--master-bind-port", str(MASTER_PORT),
            "--only-summary", "--loglevel", "INFO"] + list(extra), name)

    def worker(self, host, name, extra=()):
        return self.start(host, [WORKER, "--master-host", self.ip("master"), "--master-port",
                                 str(MASTER_PORT), "--threads", "1", "--loglevel", "INFO"]
                          + list(extra), name)

    # ---- network trouble ---------------------------------------------------------------

    def cut(self, host):
        """The host hears nothing and says nothing: every packet on its link dropped."""
        for chain, way in (("INPUT", "-i"), ("OUTPUT", "-o")):
            self.exec(host, ["iptables", "-w", "-A", chain, way, "eth0", "-j", "DROP"])

    def heal(self, host):
        self.exec(host, ["iptables", "-w", "-F"])

    def has_netem(self):
        if self.netem is None:
            r = self.exec("many", ["tc", "qdisc", "add", "dev", "eth0", "root", "netem",
                                   "delay", "1ms"], check=False)
            self.netem = r.returncode == 0
            if self.netem:
                self.exec("many", ["tc", "qdisc", "del", "dev", "eth0", "root"], check=False)
        return self.netem


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def log_time(line):
    """The time (time.time()) of a herd log line `[YYYY-MM-DD HH:MM:SS,mmm] ...`."""
    m = re.match(r"\[([\d-]+ [\d:]+),(\d+)\]", line)
    assert m, line
    return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000


def aggregated(stdout):
    """(requests, failures) from the summary's last Aggregated row."""
    rows = [l for l in stdout.splitlines() if l.strip().startswith("Aggregated") and "|" in l]
    assert rows, "no Aggregated row in:\n" + stdout
    fields = rows[-1].split()
    return int(fields[1]), int(fields[2].split("(")[0])


def wait_for(pred, timeout, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


@pytest.fixture(scope="session")
def lab():
    reason = why_not()
    if reason:
        pytest.skip(reason)
    remove_stale()
    workdir = tempfile.mkdtemp(prefix="herd-cluster-")
    lb = Lab(workdir)
    try:
        lb.build()
        lb.start_target()
        yield lb
    finally:
        lb.destroy()
        if os.environ.get("HERD_CLUSTER_KEEP"):
            print("\n[cluster] logs kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def net(lab, request):
    """The lab for one test: the target's count zeroed; at the end, every herd process the
    test started killed, the links healed and every host back on br0."""
    lab.reset_target()
    target = lab.procs[:1]
    yield lab
    for p in lab.procs[1:]:
        if p.poll() is None:
            lab.kill(p)
    for p in lab.procs[1:]:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        for p in lab.procs[1:]:
            print("==== %s\n%s" % (p.log, read(p.log)[-4000:]))
    lab.procs = target
    for host in HOSTS:
        if host == "target":
            continue
        subprocess.run(["ip", "netns", "exec", lab.ns(host), "iptables", "-w", "-F"],
                       capture_output=True)
        subprocess.run(["ip", "netns", "exec", lab.ns(host), "tc", "qdisc", "del", "dev",
                        "eth0", "root"], capture_output=True)
        subprocess.run(["ip", "-n", lab.ns("switch"), "link", "set", "p-" + host, "master",
                        "br0"], capture_output=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def scenario(tmp_path):
    """One GET a user every WAIT seconds: slow enough that a worker's last second and its
    requests in flight are a handful, which the bounds below name."""
    def make(wait=0.25):
        p = tmp_path / "cluster.yaml"
        p.write_text("users:\n  - name: Getter\n    wait: {constant: %s}\n    tasks:\n"
                     "      - name: list\n        steps:\n          - get: /players\n" % wait)
        os.chmod(str(tmp_path), 0o755)
        return str(p)
    return make
