"""Helpers for the web UI's tests: herd-sample-services and a herd-master serving its web UI,
both on free loopback ports and registered with `procs` (killed at teardown).

Only the standard library: the browser tests add selenium, the /metrics test
prometheus_client.
"""
import base64
import json
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request

from conftest import BIN, MASTER, ROOT, free_port, wait_for

SERVICES = os.path.join(BIN, "herd-sample-services")
SCENARIOS = os.path.join(ROOT, "scenarios")


class Services:
    """A running herd-sample-services; ports by service name, /__stats as the truth."""

    def __init__(self, proc, ports):
        self.proc = proc
        self.ports = ports

    def url(self, service):
        return "http://127.0.0.1:%d" % self.ports[service]

    def stats(self):
        with urllib.request.urlopen(self.url("profile") + "/__stats", timeout=10) as r:
            return json.load(r)

    def total(self):
        """Requests the four services answered, as they counted them."""
        return self.stats()["total"]


def start_services(procs):
    p = procs.start([SERVICES, "--profile-port", "0", "--matchmaking-port", "0",
                     "--item-port", "0", "--tradepost-port", "0"])
    line = p.stdout.readline()
    assert line.startswith("herd-sample-services ready "), (line, p.stderr.read())
    ports = dict(kv.split("=") for kv in line.split()[2:])
    return Services(p, {k: int(v) for k, v in ports.items()})


class Web:
    """A herd-master serving its web UI at base (http://127.0.0.1:PORT)."""

    def __init__(self, proc, base, auth=None, out=None, err=None):
        self.proc = proc
        self.base = base
        self.auth = auth
        self.out_path, self.err_path = out, err

    def wait(self, timeout=30):
        """Wait for herd-master to exit: (stdout, stderr) as text."""
        self.proc.wait(timeout=timeout)
        return self.output()

    def output(self):
        with open(self.out_path) as o, open(self.err_path) as e:
            return o.read(), e.read()

    def request(self, path, data=None, method=None, auth=True, headers=None):
        """(status, headers, body bytes); never raises on an HTTP status."""
        if isinstance(data, dict):
            data = urllib.parse.urlencode(data).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers=dict(headers or {}))
        if auth and self.auth:
            req.add_header("Authorization",
                           "Basic " + base64.b64encode(self.auth.encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, path, data=None, method=None):
        status, _, body = self.request(path, data, method)
        assert status == 200, (path, status, body[:500])
        return json.loads(body)

    def state(self):
        return self.json("/api/state")


def start_web(procs, args, auth=None, port=None, workers=True):
    """herd-master ARGS --web-port PORT (a free one); waits until /api/state answers and,
    with workers, until the workers a test needs are connected (a start before is refused
    with 409, as the page's button waits)."""
    port = port or free_port()
    # Files, not pipes: a master whose stdout nobody reads would block on its summary.
    logs = tempfile.mkdtemp(prefix="master-", dir=procs.output_dir())
    out, err = os.path.join(logs, "stdout"), os.path.join(logs, "stderr")
    with open(out, "w") as o, open(err, "w") as e:
        p = procs.start([MASTER, "--web-port", str(port)] + list(args), stdout=o, stderr=e)
    web = Web(p, "http://127.0.0.1:%d" % port, auth, out, err)

    def up():
        assert p.poll() is None, "herd-master exited: %s" % (web.output()[1],)
        try:
            return web.request("/api/state")[0] == 200
        except OSError:
            return False
    assert wait_for(up, timeout=20), "the web UI did not come up on port %d" % port

    def connected():
        doc = web.state()
        return doc["worker_count"] >= doc["expect_workers"]
    if workers:
        assert wait_for(connected, timeout=20), "workers did not connect: %s" % web.state()
    return web
