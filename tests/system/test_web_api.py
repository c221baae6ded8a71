"""The web UI's HTTP API driven as scripts drive Locust's: plain HTTP against herd-master and
herd-sample-services on free loopback ports. Locust's endpoints (/swarm, /stats/requests,
/stop, the CSV files), /metrics read by Prometheus' own parser, --web-auth on every path but
/health (a probe's, answered as a kubelet asks it), bad input refused with the field named, Server-Sent Events, HTTPS, --headless, a busy port,
and the seed's command line."""
import csv
import http.client
import io
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.parse

import pytest

from conftest import MASTER, free_port, wait_for
from webutil import SCENARIOS, start_services, start_web

AUTH_FILE = os.path.join(SCENARIOS, "authentication_server.yaml")
SETUP_REQUESTS = 1   # authentication_server's setup (GET /players), once per worker per test

LOCUST_ROW_KEYS = {
    "method", "name", "safe_name", "num_requests", "num_failures", "avg_response_time",
    "min_response_time", "max_response_time", "current_rps", "current_fail_per_sec",
    "median_response_time", "ninetieth_response_time", "ninety_ninth_response_time",
    "avg_content_length", "response_time_percentile_0.95", "response_time_percentile_0.99",
}


def auth_master(procs, extra=(), auth=None):
    svc = start_services(procs)
    web = start_web(procs, ["-f", AUTH_FILE, "-H", svc.url("profile")] + list(extra), auth=auth)
    assert wait_for(lambda: web.state()["worker_count"] == 1, timeout=15)
    return svc, web


def state_of(web):
    return web.json("/stats/requests")["state"]


def wait_state(web, *states, timeout=30):
    seen = []

    def ok():
        seen.append(state_of(web))
        return seen[-1] in states
    assert wait_for(ok, timeout=timeout, step=0.1), "state stayed %s" % seen[-1:]


def test_locust_api_as_a_ci_script(procs):
    svc, web = auth_master(procs)
    assert state_of(web) == "ready"

    # POST /swarm with a form, as Locust's page and scripts do.
    status, _, body = web.request("/swarm", {"user_count": "4", "spawn_rate": "20",
                                             "host": svc.url("profile")})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["success"] is True and answer["host"] == svc.url("profile")

    # Poll /stats/requests until requests flow (current rates once a second is complete).
    def flowing():
        doc = web.json("/stats/requests")
        return doc["state"] == "running" and doc["total_rps"] > 0
    assert wait_for(flowing, timeout=30, step=0.2)
    doc = web.json("/stats/requests")
    assert doc["user_count"] == 4
    for row in doc["stats"]:
        assert LOCUST_ROW_KEYS <= set(row), LOCUST_ROW_KEYS - set(row)
    assert doc["stats"][-1]["name"] == "Aggregated"
    assert {"/players", "/players/[playerUUID]"} <= {r["name"] for r in doc["stats"]}
    assert doc["total_rps"] > 0
    assert set(doc["current_response_time_percentiles"]) == {
        "response_time_percentile_0.5", "response_time_percentile_0.95"}
    assert [w["user_count"] for w in doc["workers"]] == [4]
    assert {"id", "state", "user_count", "cpu_usage", "memory_usage"} <= set(doc["workers"][0])
    assert doc["workers"][0]["memory_usage"] > 1 << 20   # bytes, from the worker's heartbeats

    # GET /stop, then the counts are final and equal the services' own.
    status, _, body = web.request("/stop")
    assert status == 200 and json.loads(body)["success"] is True
    wait_state(web, "stopped")
    final = web.json("/stats/requests")
    agg = final["stats"][-1]
    assert agg["num_failures"] == 0
    interrupted = web.state()["stats"][-1]["num_interrupted"]
    answered = svc.total() - SETUP_REQUESTS
    # herd counts every answer it read; the server may also have answered requests herd
    # aborted at the stop (counted as interrupted).
    assert agg["num_requests"] <= answered <= agg["num_requests"] + interrupted, (
        agg["num_requests"], interrupted, answered)

    # The stats CSV holds the same rows and counts.
    status, headers, body = web.request("/stats/requests/csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["Content-Disposition"].startswith("attachment;filename=requests_")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [(r["Type"], r["Name"], int(r["Request Count"]), int(r["Failure Count"]))
            for r in rows] == [(s["method"] or "", s["name"], s["num_requests"],
                                s["num_failures"]) for s in final["stats"]]
    assert final["stats"][-1]["method"] is None   # Locust's Aggregated row

    # /metrics, read by Prometheus' parser: the same request count.
    from prometheus_client.parser import text_string_to_metric_families
    status, headers, body = web.request("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    requests = sum(s.value for s in families["herd_requests"].samples
                   if s.name == "herd_requests_total")
    assert requests == agg["num_requests"]
    hist = families["herd_response_time_seconds"]
    assert hist.type == "histogram"
    counts = {s.labels["name"]: s.value for s in hist.samples
              if s.name == "herd_response_time_seconds_count"}
    assert sum(counts.values()) == agg["num_requests"]
    inf = {s.labels["name"]: s.value for s in hist.samples
           if s.name == "herd_response_time_seconds_bucket" and s.labels["le"] == "+Inf"}
    assert inf == counts
    states = {s.labels["state"]: s.value for s in families["herd_state"].samples}
    assert states["stopped"] == 1 and sum(states.values()) == 1
    assert families["herd_workers"].samples[0].value == 1

    # The other downloads answer, with Locust's names.
    for path, start in [("/stats/failures/csv", "Method,Name,Error,Occurrences"),
                        ("/exceptions/csv", "Count,Message,Traceback,Nodes"),
                        ("/stats/history/csv", "Timestamp,User Count,Type,Name"),
                        ("/stats/requests_full_history/csv", "Timestamp,User Count")]:
        status, _, body = web.request(path)
        assert status == 200 and body.decode().startswith(start), (path, body[:100])
    status, headers, body = web.request("/stats/report?download=1")
    assert status == 200 and b"<html" in body.lower()
    assert headers["Content-Disposition"].startswith("attachment;filename=report_")
    report = web.json("/api/report.json")
    assert report["stats"][-1]["num_requests"] == agg["num_requests"]
    history = web.json("/api/history")
    assert history["total"] == len(history["history"]) > 0
    row = web.json("/api/history?" + urllib.parse.urlencode(
        {"method": "GET", "name": "/players/[playerUUID]", "from": "0"}))
    assert row["history"] and all("current_rps" in h for h in row["history"])
    assert "logs" in web.json("/api/logs?after=0")
    assert web.json("/health") == {"state": "stopped"}


def test_web_auth_guards_every_path(procs):
    svc, web = auth_master(procs, ["--web-auth", "admin:s3cr:et"], auth="admin:s3cr:et")
    paths = ["/", "/api/state", "/api/events", "/api/history", "/api/logs", "/api/report.json",
             "/stats/requests", "/stats/requests/csv", "/stats/failures/csv", "/exceptions/csv",
             "/stats/history/csv", "/stats/report", "/metrics", "/stop",
             "/stats/reset", "/no/such/path"]
    port = urllib.parse.urlparse(web.base).port

    def status(path, credentials):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {}
        if credentials:
            import base64
            headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        c.request("GET", path, headers=headers)
        r = c.getresponse()   # the status line only: /api/events streams
        result = (r.status, r.getheader("WWW-Authenticate"))
        c.close()
        return result

    for path in paths:
        assert status(path, None) == (401, 'Basic realm="herd"'), path
        assert status(path, "admin:wrong")[0] == 401, path
        assert status(path, "admin:s3cr:e")[0] == 401, path
        assert status(path, "admin:s3cr:et!")[0] == 401, path
        assert status(path, "admin:s3cr:et")[0] in (200, 404), path
    assert status("/no/such/path", "admin:s3cr:et")[0] == 404
    # /health is a probe's: it answers without credentials (or with wrong ones), the state only.
    for credentials in (None, "admin:wrong", "admin:s3cr:et"):
        assert status("/health", credentials) == (200, None), credentials
    assert web.json("/health") == {"state": "ready"}
    assert status("/health?x=1", None)[0] == 200
    # only GET (and HEAD): another method, or another path under it, still asks for them
    assert status("/health/", None)[0] == 401
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/health", body="")
    assert c.getresponse().status == 401
    c.close()
    # A command without credentials reaches nothing.
    code, _, _ = web.request("/swarm", {"user_count": "2", "spawn_rate": "2"}, auth=False)
    assert code == 401
    time.sleep(1)
    assert web.state()["state"] == "ready"


@pytest.mark.parametrize("form,message", [
    ({"user_count": "abc", "spawn_rate": "1"}, "user_count: 'abc' is not a whole number >= 1"),
    ({"user_count": "5", "spawn_rate": "-2"}, "spawn_rate: '-2' is not a number > 0"),
    ({"user_count": "5", "spawn_rate": "1", "run_time": "later"},
     "run_time: 'later' is not a duration"),
    ({"user_count": "5", "spawn_rate": "1", "host": "example.com"},
     "host: 'example.com' must start with http:// or https://"),
])
def test_bad_input_is_400_and_nothing_starts(procs, form, message):
    svc, web = auth_master(procs)
    for path in ("/swarm", "/api/start"):
        status, _, body = web.request(path, form)
        assert status == 400, body
        doc = json.loads(body)
        assert doc["success"] is False and doc["message"].startswith(message), doc
    time.sleep(1.5)
    doc = web.state()
    assert doc["state"] == "ready" and doc["user_count"] == 0
    assert doc["stats"][-1]["num_requests"] == 0
    assert svc.total() == 0


def test_odd_requests_get_4xx_and_the_server_stays_up(procs):
    svc, web = auth_master(procs)
    port = urllib.parse.urlparse(web.base).port
    # A 10 MB body: refused (the connection may be cut while the body is still sent).
    try:
        status, _, _ = web.request("/swarm", b"user_count=" + b"9" * (10 << 20),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 413
    except OSError:
        pass
    status, _, _ = web.request("/swarm", b"user_count=1", headers={"Content-Type": "text/xml"})
    assert status == 415
    status, _, body = web.request("/api/start", b"[1, 2",
                                  headers={"Content-Type": "application/json"})
    assert status == 400 and b"JSON" in body
    # A huge query string and a huge header line.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /api/state?" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        head = s.recv(100)
        assert head == b"" or head.split()[1].startswith(b"4"), head
    status, _, _ = web.request("/api/history?from=-1")
    assert status == 400
    status, _, _ = web.request("/metrics", {"a": "b"})
    assert status == 405
    assert web.state()["state"] == "ready"


def read_events(port, n, timeout=15):
    """The first n Server-Sent Events of /api/events: (name, parsed data) each."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", "/api/events")
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    events, name, data = [], None, None
    while len(events) < n:
        line = r.fp.readline().decode()
        assert line, "the stream ended"
        line = line.rstrip("\n")
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and name:
            events.append((name, json.loads(data)))
            name = data = None
    c.close()
    return events


def test_pages_say_what_they_may_load(procs):
    """The page may load only its own files; the report, inlined, nothing from anywhere;
    neither may be framed by another site."""
    svc, web = auth_master(procs)
    status, headers, _ = web.request("/")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY"
    status, headers, _ = web.request("/stats/report")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'") and "script-src 'unsafe-inline'" in csp


def test_events_stream_the_state(procs):
    svc, web = auth_master(procs)
    port = urllib.parse.urlparse(web.base).port
    t0 = time.time()
    events = read_events(port, 2)
    assert time.time() - t0 < 5   # the first at once, the next within the second
    for name, doc in events:
        assert name == "state"
        assert doc["mode"] == "live" and doc["state"] == "ready"
        assert {"stats", "history", "history_total", "workers", "defaults", "ratio",
                "logs", "current_rps", "fail_ratio", "user_count"} <= set(doc)
    assert events[0][1]["defaults"]["host"] == svc.url("profile")


def make_cert(tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_https_with_tls_cert_and_key(procs, tmp_path):
    cert, key = make_cert(tmp_path)
    svc = start_services(procs)
    port = free_port()
    p = procs.start([MASTER, "--web-port", str(port), "-f", AUTH_FILE, "-H", svc.url("profile"),
                     "--tls-cert", cert, "--tls-key", key])
    ctx = ssl.create_default_context(cafile=cert)

    def health():
        assert p.poll() is None, p.communicate()[1]
        try:
            c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
            c.request("GET", "/health")
            r = c.getresponse()
            return r.status == 200 and json.loads(r.read()) == {"state": "ready"}
        except OSError:
            return False
    assert wait_for(health, timeout=20)
    # Plain HTTP on the same port gets no page.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((OSError, http.client.HTTPException)):
        c.request("GET", "/health")
        r = c.getresponse()
        assert r.status != 200


def test_bad_certificate_is_one_line_and_exit_1(tmp_path):
    cert, key = make_cert(tmp_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for args, want in [(["--tls-cert", str(junk), "--tls-key", key], "--tls-cert"),
                       (["--tls-cert", cert, "--tls-key", str(tmp_path / "none.pem")],
                        "--tls-key")]:
        r = subprocess.run([MASTER, "--web-port", str(free_port()), "-f", AUTH_FILE] + args,
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1, r.stderr
        lines = [l for l in r.stderr.splitlines() if l.startswith("herd-master: ")]
        assert len(lines) == 1 and want in lines[0], r.stderr


def test_busy_port_is_named(procs):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run([MASTER, "--web-port", str(port), "-f", AUTH_FILE],
                           capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "herd-master: --web-port %d: address already in use" % port in r.stderr


@pytest.mark.parametrize("auth", [None, "ops:s3cret"])
def test_beyond_loopback_without_auth_warns(procs, auth):
    """Listening on every interface without --web-auth says what is at stake; with it, not."""
    svc = start_services(procs)
    port = free_port()
    args = [MASTER, "--web-port", str(port), "--web-host", "0.0.0.0", "-f", AUTH_FILE, "-H",
            svc.url("profile")] + (["--web-auth", auth] if auth else [])
    p = procs.start(args)

    def up():
        assert p.poll() is None, p.communicate()[1]
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return True
        except OSError:
            return False
    assert wait_for(up, timeout=20)
    p.terminate()
    _, err = p.communicate(timeout=30)
    warned = "reachable beyond this machine without --web-auth" in err
    assert warned == (auth is None), err


@pytest.mark.parametrize("auth", [None, "ops:s3cret"])
def test_health_answers_a_kubelet_probe(procs, auth):
    """A Kubernetes probe: GET /health on the pod's address, Host: <pod IP>:<port>, a
    User-Agent of kube-probe, no credentials. herd-master listening on every interface (as in
    deploy/k8s) answers it 200 with the state, with or without --web-auth."""
    svc = start_services(procs)
    port = free_port()
    args = ["--web-host", "0.0.0.0", "-f", AUTH_FILE, "-H", svc.url("profile")]
    web = start_web(procs, args + (["--web-auth", auth] if auth else []), auth=auth, port=port)
    for host in ("10.244.1.17:%d" % port, "[fd00::17]:%d" % port, "herd-master:%d" % port):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/health", headers={"Host": host, "User-Agent": "kube-probe/1.29",
                                             "Accept": "*/*", "Connection": "close"})
        r = c.getresponse()
        body = r.read()
        c.close()
        assert r.status == 200, (host, r.status, body)
        assert json.loads(body) == {"state": "ready"}, host
    if auth:
        assert web.request("/api/state", auth=False)[0] == 401


def test_headless_serves_nothing(procs, http_server, tmp_path):
    port = free_port()
    p = procs.start([MASTER, "--headless", "-f", AUTH_FILE, "-H", http_server.url, "-u", "1",
                     "-r", "1", "-t", "3s", "--web-port", str(port)])
    assert wait_for(lambda: http_server.count > 0, timeout=15)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    p.wait(timeout=30)


def test_seed_command_line_serves_the_page_at_localhost(procs):
    """The generators' README: `--web-port PORT -f authentication_server` and a browser at
    http://localhost:PORT (with -H at this test's services)."""
    svc = start_services(procs)
    port = free_port()
    p = procs.start([MASTER, "--web-port", str(port), "-f", AUTH_FILE, "-H",
                     svc.url("profile")])

    def page():
        assert p.poll() is None, p.communicate()[1]
        try:
            c = http.client.HTTPConnection("localhost", port, timeout=5)
            c.request("GET", "/")
            r = c.getresponse()
            return r.status == 200 and r.getheader("Content-Type").startswith("text/html") \
                and b"<html" in r.read().lower()
        except OSError:
            return False
    assert wait_for(page, timeout=20)
    p.terminate()
    _, err = p.communicate(timeout=30)
    assert "Web UI at http://127.0.0.1:%d" % port in err
