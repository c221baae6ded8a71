"""Flow and richer saves, end to end: `repeat`, `for_each`, `when`, saves from a regex, a
response header and the status, and `expect.json` values. Each scenario runs its flow once per
user in `on_start` (one user), so what the server saw can be counted exactly; the task after it
only idles on /idle. Every figure is checked against the server's own count per path.
--stop-timeout is long so that a slow machine still finishes on_start: the user exits as soon
as it has (a stopping user finishes its sequence, then its on_stop)."""
import http.server
import json
import re
import threading

import pytest

from conftest import QuietHandler, row, run_master, write

LIST = {"items": [{"id": 1}, {"id": 2}, {"id": 5}], "level": 3, "name": "bob"}


class FlowHandler(QuietHandler):
    """GET /list: LIST as JSON; /html: a page with a link 'order?id=77'; /hdr: a header
    X-Token: tok-123; anything else: 200 with {}. Every request is counted by path after the
    answer is written."""

    def do_GET(self):
        path = self.path.split("?")[0]
        headers = {"Content-Type": "application/json"}
        if path == "/list":
            body = json.dumps(LIST).encode()
        elif path == "/html":
            headers["Content-Type"] = "text/html"
            body = b"<html><a href='/order?id=77'>order</a> <a href='/order?id=88'>x</a></html>"
        elif path == "/hdr":
            headers["X-Token"] = "tok-123"
            body = b"{}"
        else:
            body = b"{}"
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        with self.server.lock:
            self.server.paths[path] = self.server.paths.get(path, 0) + 1


class FlowServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FlowHandler)
        self.paths = {}
        self.lock = threading.Lock()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def seen(self, path):
        with self.lock:
            return self.paths.get(path, 0)


@pytest.fixture
def flow_server():
    srv = FlowServer()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def scenario(on_start):
    """One class whose on_start is the given steps (YAML, indented 6), then /idle tasks."""
    return ("users:\n  - name: U\n    wait: {constant: 0.2}\n    on_start:\n" + on_start +
            "    tasks:\n      - name: idle\n        steps:\n          - get: /idle\n")


def run_once(tmp_path, srv, on_start):
    f = write(tmp_path, "flow.yaml", scenario(on_start))
    r = run_master(["-f", f, "-H", srv.url, "--headless", "-u", "1", "-r", "1", "-t", "2s",
                    "--stop-timeout", "10s"])
    assert "Traceback" not in r.stderr
    return r


def test_repeat_runs_its_steps_n_times_nested(tmp_path, flow_server):
    r = run_once(tmp_path, flow_server, """\
      - repeat: 3
        steps:
          - get: /r
      - repeat: 2
        steps:
          - get: /outer
          - repeat: 4
            steps:
              - get: /inner
      - repeat: 0
        steps:
          - get: /never
""")
    assert r.returncode == 0, r.stdout + r.stderr
    assert flow_server.seen("/r") == 3
    assert flow_server.seen("/outer") == 2
    assert flow_server.seen("/inner") == 8
    assert flow_server.seen("/never") == 0
    # one stats row per (method, name), counting what the server saw
    assert row(r.stdout, "GET", "/r") == (3, 0)
    assert row(r.stdout, "GET", "/inner") == (8, 0)
    assert row(r.stdout, "GET", "/never") is None


def test_for_each_binds_each_element(tmp_path, flow_server):
    r = run_once(tmp_path, flow_server, """\
      - get: /list
        save: {items: items}
      - for_each: "{{ items }}"
        as: it
        steps:
          - get: /item/{{ it.id }}
            name: /item/[id]
      - for_each: "{{ items }}"
        steps:
          - get: /again/{{ item.id }}
""")
    assert r.returncode == 0, r.stdout + r.stderr
    for i in (1, 2, 5):
        assert flow_server.seen("/item/%d" % i) == 1
        assert flow_server.seen("/again/%d" % i) == 1
    assert row(r.stdout, "GET", "/item/[id]") == (3, 0)


def test_for_each_over_a_non_list_fails_the_step(tmp_path, flow_server):
    r = run_once(tmp_path, flow_server, """\
      - get: /list
        save: {who: name}
      - for_each: "{{ who }}"
        steps:
          - get: /never
            name: each
      - get: /after
""")
    assert r.returncode == 1, r.stdout + r.stderr
    assert flow_server.seen("/never") == 0
    assert flow_server.seen("/after") == 0      # the task stops there, as after a failure
    assert row(r.stdout, "GET", "each") == (1, 1)
    assert re.search(r"^1\s+GET each: for_each \{\{ who \}\} needs a list, got a string",
                     r.stdout, re.M), r.stdout


def test_when_on_steps_and_blocks(tmp_path, flow_server):
    r = run_once(tmp_path, flow_server, """\
      - get: /list
        save: {level: level, name: name}
      - get: /yes
        when: "{{ level > 2 and name == 'bob' }}"
      - get: /no
        when: "{{ level >= 5 or not (name != 'bob') and level < 0 }}"
      - when: "{{ level == 3 }}"
        steps:
          - get: /block
          - get: /block
      - when: "{{ name == 'alice' }}"
        steps:
          - get: /skipped
      - repeat: 5
        steps:
          - get: /odd
            when: "{{ iteration == 1 and level != 3 }}"
          - get: /each
      - repeat: 200000             # 400 000 steps that send nothing: the user yields, goes on
        steps:
          - get: /never
            when: "{{ false }}"
      - get: /after_loop
""")
    assert r.returncode == 0, r.stdout + r.stderr
    assert flow_server.seen("/yes") == 1
    assert flow_server.seen("/no") == 0
    assert flow_server.seen("/block") == 2
    assert flow_server.seen("/skipped") == 0
    assert flow_server.seen("/odd") == 0
    assert flow_server.seen("/each") == 5
    assert flow_server.seen("/never") == 0
    assert flow_server.seen("/after_loop") == 1
    assert row(r.stdout, "GET", "/no") is None or row(r.stdout, "GET", "/no") == (0, 0)


def test_regex_and_status_saves_and_json_values(tmp_path, flow_server):
    r = run_once(tmp_path, flow_server, """\
      - get: /html
        save:
          order: {regex: 'id=(\\d+)'}
          link: {regex: "order\\\\?id=\\\\d+"}
          code: {status: true}
      - get: /order/{{ order }}
      - get: /link/{{ link }}
      - get: /code/{{ code + 1 }}
      - get: /list
        name: save_who
        save: {who: name}
      - get: /list
        expect:
          json: {"$.level": 3, "items[2].id": 5, "name": "{{ who }}", "items[0]": {"id": 1}}
      - get: /list
        name: wrong_level
        expect:
          json: {level: "3"}
""")
    assert flow_server.seen("/order/77") == 1      # the first match's group
    assert flow_server.seen("/link/order") == 1   # the whole match, sent as a path + query
    assert flow_server.seen("/code/201") == 1
    assert row(r.stdout, "GET", "/list") == (1, 0)
    assert row(r.stdout, "GET", "wrong_level") == (1, 1)
    assert re.search(r"GET wrong_level: Response JSON 'level' was 3, expected \"3\"",
                     r.stdout), r.stdout
    assert r.returncode == 1


def test_header_save(tmp_path, flow_server):
    r = run_once(tmp_path, flow_server, """\
      - get: /hdr
        save: {token: {header: x-token}}
      - get: /tok/{{ token }}
      - get: /hdr
        name: missing_header
        save: {nope: {header: X-Nope}}
""")
    assert flow_server.seen("/tok/tok-123") == 1, r.stdout + r.stderr
    assert row(r.stdout, "GET", "missing_header") == (1, 1)
    assert re.search(r"GET missing_header: Response did not contain header 'X-Nope'",
                     r.stdout), r.stdout
