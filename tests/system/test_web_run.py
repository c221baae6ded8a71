"""The master's life with the web UI: tests started, changed and stopped from the page's API
one after another with the workers kept between them, --autostart and --autoquit, Ctrl-C.
Counts are checked against what the counting server answered. Locust's endpoints, the page
and /metrics have tests of their own (test_web_api.py, test_web_ui.py)."""
import signal

from conftest import aggregated, wait_for, write
from webutil import start_web

ONE_GET = """
users:
  - name: Getter
    wait: {constant: 0.05}
    tasks:
      - name: get
        steps:
          - get: /
            name: root
"""


def wait_state(web, *states, timeout=30):
    seen = []

    def ok():
        seen.append(web.state()["state"])
        return seen[-1] in states
    assert wait_for(ok, timeout=timeout, step=0.1), "state stayed %s" % seen[-1:]


def total(doc):
    agg = doc["stats"][-1]
    assert agg["name"] == "Aggregated"
    return agg["num_requests"], agg["num_failures"]


def matches_server(doc, answered):
    """herd counted what the server answered: all of it, but for requests in flight at the
    stop, which the server may have answered while herd aborted them (counted as
    interrupted, not as requests)."""
    agg = doc["stats"][-1]
    return agg["num_requests"] <= answered <= agg["num_requests"] + agg["num_interrupted"]


def test_tests_one_after_another(procs, tmp_path, http_server):
    f = write(tmp_path, "one.yaml", ONE_GET)
    web = start_web(procs, ["-f", f, "-H", http_server.url, "--local-workers", "2"])
    doc = web.state()
    assert doc["state"] == "ready"
    assert doc["mode"] == "live"
    wait_for(lambda: web.state()["worker_count"] == 2, timeout=15)

    # First test: 4 users, changed to 6 while it runs, stopped from the page.
    assert web.json("/api/start", {"user_count": 4, "spawn_rate": 100})["success"]
    wait_state(web, "running")
    assert wait_for(lambda: web.state()["user_count"] == 4, timeout=10)
    assert web.json("/api/edit", {"user_count": 6, "spawn_rate": 100})["success"]
    assert wait_for(lambda: web.state()["user_count"] == 6, timeout=10)
    workers = web.state()["workers"]
    assert sorted(w["users"] for w in workers) == [3, 3], workers
    # each worker's resident memory, from its heartbeats: a worker holds megabytes
    assert all(w["memory_bytes"] and w["memory_bytes"] > 1 << 20 for w in workers), workers
    assert wait_for(lambda: total(web.state())[0] > 20, timeout=15)
    assert web.json("/api/stop", {})["success"]
    wait_state(web, "stopped")
    doc = web.state()
    first = total(doc)
    assert matches_server(doc, http_server.count) and first[1] == 0
    assert web.state()["worker_count"] == 2   # the workers stay for the next test

    # Second test: fresh counts, its own summary.
    before = http_server.count
    assert web.json("/api/start", {"user_count": 2, "spawn_rate": 100})["success"]
    wait_state(web, "running", "spawning")
    assert total(web.state())[0] < first[0]
    assert wait_for(lambda: total(web.state())[0] > 10, timeout=15)
    assert web.json("/api/stop", {})["success"]
    wait_state(web, "stopped")
    doc = web.state()
    second = total(doc)
    assert matches_server(doc, http_server.count - before)

    # Ctrl-C between tests: exits at once with the last test's exit code.
    web.proc.send_signal(signal.SIGINT)
    out, err = web.wait(timeout=20)
    assert web.proc.returncode == 0, err
    summaries = [l for l in out.splitlines() if l.strip().startswith("Aggregated") and "|" in l]
    assert len(summaries) == 2, out
    assert aggregated(out) == second


def test_refusals_leave_the_state_alone(procs, tmp_path, http_server):
    f = write(tmp_path, "one.yaml", ONE_GET)
    web = start_web(procs, ["-f", f, "-H", http_server.url])
    for path in ["/api/stop", "/api/edit"]:
        status, _, body = web.request(path, {"user_count": 3, "spawn_rate": 1})
        assert status == 409, (path, status, body)
        assert b"no test is running" in body
    status, _, body = web.request("/api/start", {"user_count": 1, "spawn_rate": 1,
                                                  "host": "ftp://example.com"})
    assert status == 400 and b"host" in body, body
    status, _, body = web.request("/api/start", {"user_count": 1, "spawn_rate": 1,
                                                  "stages": "10s"})
    assert status == 400 and b"stages" in body, body
    status, _, body = web.request("/api/start", {"user_count": 1, "spawn_rate": 1,
                                                  "tags": "nosuchtag"})
    assert status == 400 and b"tags" in body, body
    assert web.state()["state"] == "ready"
    assert http_server.count == 0


def test_a_start_before_the_workers_waits_for_them(procs, tmp_path, http_server):
    """A script may POST right after starting herd-master: the test waits for the local
    workers as a headless run does."""
    f = write(tmp_path, "one.yaml", ONE_GET)
    web = start_web(procs, ["-f", f, "-H", http_server.url, "--local-workers", "2"],
                    workers=False)
    assert web.json("/api/start", {"user_count": 2, "spawn_rate": 100})["success"]
    assert web.state()["state"] in ("waiting", "spawning", "running")
    wait_state(web, "running")
    assert web.state()["worker_count"] == 2
    assert web.json("/api/stop", {})["success"]
    wait_state(web, "stopped")
    assert matches_server(web.state(), http_server.count)


def test_autostart_autoquit(procs, tmp_path, http_server):
    f = write(tmp_path, "one.yaml", ONE_GET)
    web = start_web(procs, ["-f", f, "-H", http_server.url, "--autostart", "-u", "2",
                            "-r", "100", "-t", "3s", "--autoquit", "2"])
    assert web.state()["state"] in ("waiting", "spawning", "running")
    wait_state(web, "stopped")
    doc = web.state()                     # the page still serves during --autoquit
    out, err = web.wait(timeout=30)
    assert web.proc.returncode == 0, err
    assert "exiting in 2 s (--autoquit)" in err
    assert aggregated(out) == total(doc)
    assert matches_server(doc, http_server.count) and total(doc)[1] == 0


def test_interrupt_during_a_test_stops_it_and_exits(procs, tmp_path, http_server):
    f = write(tmp_path, "one.yaml", ONE_GET)
    web = start_web(procs, ["-f", f, "-H", http_server.url])
    assert web.json("/api/start", {"user_count": 3, "spawn_rate": 100})["success"]
    assert wait_for(lambda: total(web.state())[0] > 10, timeout=15)
    web.proc.send_signal(signal.SIGINT)
    out, err = web.wait(timeout=30)
    assert web.proc.returncode == 0, err
    reqs, fails = aggregated(out)
    assert fails == 0 and reqs <= http_server.count
