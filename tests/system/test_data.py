"""System tests for `data:` sets (CSV and JSON rows per user) and `multipart:` bodies.

What the server receives is the truth: a recording server on loopback keeps every request's
path, headers and body, and the tests count rows and bytes against it."""
import collections
import http.server
import json
import re
import threading
import urllib.parse

import pytest

from conftest import MASTER, QuietHandler, WORKER, aggregated, free_port, run_master, wait_for, write


class RecordingHandler(QuietHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.wfile.flush()
        with self.server.lock:
            self.server.requests.append((self.command, self.path, list(self.headers.items()),
                                         body))

    do_GET = do_POST = do_PUT = _answer


class RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # users stopped at the end close their connections mid-answer: expected

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RecordingHandler)
        self.requests = []
        self.lock = threading.Lock()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


@pytest.fixture
def server():
    srv = RecordingServer()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def rows_by_user(srv):
    """{row id: set of users} from requests /u/<row>?who=<worker>-<user>."""
    rows = collections.defaultdict(set)
    for method, path, _, _ in srv.requests:
        u = urllib.parse.urlsplit(path)
        m = re.fullmatch(r"/u/([^/]+)", u.path)
        if m:
            who = urllib.parse.parse_qs(u.query)["who"][0]
            rows[urllib.parse.unquote(m.group(1))].add(who)
    return rows


def players_csv(tmp_path, n):
    lines = ["id,email,name"] + ["%d,p%d@example.com,\"Player, %d\"" % (i, i, i) for i in range(n)]
    write(tmp_path, "players.csv", "\r\n".join(lines) + "\r\n")


def scenario(mode, extra=""):
    return """\
data:
  players: {csv: players.csv, mode: %s}
users:
  - name: P
    wait: {constant: 0.05}
    tasks:
      - steps:
          - get: /u/{{ players.id }}?who={{ worker_id }}-{{ user_id }}&email={{ players.email }}
            name: /u
%s""" % (mode, extra)


def run(tmp_path, srv, users, workers, mode, run_time="3s"):
    f = write(tmp_path, "s.yaml", scenario(mode))
    return run_master(["-f", f, "-H", srv.url, "--headless", "-u", str(users), "-r", "100",
                       "-t", run_time, "--local-workers", str(workers), "--only-summary"],
                      timeout=90)


def test_unique_over_two_workers(tmp_path, server):
    players_csv(tmp_path, 20)
    r = run(tmp_path, server, 20, 2, "unique")
    assert r.returncode == 0, r.stderr
    rows = rows_by_user(server)
    users = collections.Counter(u for who in rows.values() for u in who)
    # every row used, each by exactly one user, and each user used one row
    assert sorted(rows, key=int) == [str(i) for i in range(20)]
    assert all(len(who) == 1 for who in rows.values()), rows
    assert len(users) == 20 and max(users.values()) == 1
    # both workers ran users
    assert len({u.rsplit("-", 1)[0] for u in users}) == 2
    # the row's other columns came with it
    for method, path, _, _ in server.requests:
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        row = path.split("/u/")[1].split("?")[0]
        assert q["email"] == ["p%s@example.com" % row]
    reqs, fails = aggregated(r.stdout)
    assert fails == 0


def test_unique_rows_run_out(tmp_path, server):
    players_csv(tmp_path, 5)
    r = run(tmp_path, server, 8, 2, "unique")
    rows = rows_by_user(server)
    users = {u for who in rows.values() for u in who}
    # the five rows were used by five users, once each; three users never started
    assert sorted(rows, key=int) == [str(i) for i in range(5)]
    assert all(len(who) == 1 for who in rows.values())
    assert len(users) == 5
    assert "has run out of rows" in r.stderr
    # each user without a row says so (3; more only if users moved between workers)
    assert r.stderr.count("does not start: data set 'players'") >= 3, r.stderr
    assert re.search(r"did not start: no unique data row", r.stderr)
    assert r.returncode == 0, r.stderr


def test_unique_with_a_worker_joining_late(tmp_path, server, procs):
    """The late worker's users get rows no one had: the first worker keeps its rows when its
    share shrinks, so 10 users then 5 + 5 need 15 rows, and no row is ever used by two users."""
    players_csv(tmp_path, 15)
    f = write(tmp_path, "s.yaml", scenario("unique"))
    port = free_port()
    master = procs.start([MASTER, "-f", f, "-H", server.url, "--headless", "-u", "10", "-r",
                          "100", "-t", "6s", "--expect-workers", "1", "--master-bind-host",
                          "127.0.0.1", "--master-bind-port", str(port), "--only-summary"])
    procs.start([WORKER, "--master-port", str(port), "--threads", "1"])
    assert wait_for(lambda: len({u for who in rows_by_user(server).values() for u in who}) == 10,
                    timeout=30)
    procs.start([WORKER, "--master-port", str(port), "--threads", "1"])
    out, err = master.communicate(timeout=60)
    assert master.returncode == 0, err
    rows = rows_by_user(server)
    users = collections.Counter(u for who in rows.values() for u in who)
    assert all(len(who) == 1 for who in rows.values()), rows
    assert max(users.values()) == 1
    workers = collections.Counter(u.rsplit("-", 1)[0] for u in users)
    assert sorted(workers.values()) == [5, 10], workers   # the late one ran 5 users
    assert sorted(rows, key=int) == [str(i) for i in range(15)]
    assert "run out of rows" not in err


def test_unique_grows_with_stages(tmp_path, server):
    """4 users, then 10: each worker is given more rows as its share grows; 10 rows suffice."""
    players_csv(tmp_path, 10)
    f = write(tmp_path, "s.yaml", scenario("unique", """\
stages:
  - {duration: 2s, users: 4, spawn_rate: 100}
  - {duration: 2s, users: 10, spawn_rate: 100}
"""))
    r = run_master(["-f", f, "-H", server.url, "--headless", "--local-workers", "2",
                    "--only-summary"], timeout=90)
    assert r.returncode == 0, r.stderr
    rows = rows_by_user(server)
    users = collections.Counter(u for who in rows.values() for u in who)
    assert sorted(rows, key=int) == [str(i) for i in range(10)]
    assert all(len(who) == 1 for who in rows.values()), rows
    assert len(users) == 10
    assert "run out of rows" not in r.stderr


def test_check_tells_rows_are_short(tmp_path):
    players_csv(tmp_path, 5)
    f = write(tmp_path, "s.yaml", scenario("unique"))
    r = run_master(["-f", f, "-H", "http://127.0.0.1:1", "-u", "8", "--check"])
    assert r.returncode == 0, r.stderr
    assert ("players: unique, 5 rows (players.csv): 3 of the 8 users that take one will find "
            "none and not start") in r.stdout


def test_sequential_one_worker(tmp_path, server):
    players_csv(tmp_path, 4)
    r = run(tmp_path, server, 6, 1, "sequential")
    assert r.returncode == 0, r.stderr
    rows = rows_by_user(server)
    users = collections.Counter(u for who in rows.values() for u in who)
    # six users took rows 1, 2, 3, 4, 1, 2 in the order they started: in order, wrapping
    assert len(users) == 6 and max(users.values()) == 1
    assert {row: len(who) for row, who in rows.items()} == {"0": 2, "1": 2, "2": 1, "3": 1}


def test_random_rows(tmp_path, server):
    players_csv(tmp_path, 3)
    r = run(tmp_path, server, 30, 1, "random")
    assert r.returncode == 0, r.stderr
    rows = rows_by_user(server)
    users = collections.Counter(u for who in rows.values() for u in who)
    # one row per user (bound when it starts), rows shared between users
    assert len(users) == 30 and max(users.values()) == 1
    assert set(rows) <= {"0", "1", "2"} and len(rows) >= 2


def test_json_rows_keep_types(tmp_path, server):
    write(tmp_path, "items.json", json.dumps(
        [{"sku": "a-%d" % i, "price": i * 1.5, "tags": ["x", i]} for i in range(3)]))
    f = write(tmp_path, "s.yaml", """\
data:
  items: {json: items.json, mode: sequential}
users:
  - name: P
    wait: {constant: 0.05}
    tasks:
      - steps:
          - post: /buy/{{ items.sku }}
            name: /buy
            json: {price: "{{ items.price }}", tags: "{{ items.tags }}"}
""")
    r = run_master(["-f", f, "-H", server.url, "--headless", "-u", "3", "-r", "100", "-t", "2s",
                    "--only-summary"], timeout=60)
    assert r.returncode == 0, r.stderr
    bodies = {p: json.loads(b) for m, p, h, b in server.requests if p.startswith("/buy/")}
    assert bodies["/buy/a-2"] == {"price": 3.0, "tags": ["x", 2]}
    assert bodies["/buy/a-0"] == {"price": 0, "tags": ["x", 0]} or \
        bodies["/buy/a-0"] == {"price": 0.0, "tags": ["x", 0]}


@pytest.mark.parametrize("text, csv, where, message", [
    (scenario("unique").replace("players.email", "players.emial"), None, "s.yaml:8:81:",
     "data set 'players' has no column 'emial' (players.csv has: id, email, name)"),
    (scenario("unique"), 'id,email,name\n1,"a@x,Ann\n', "players.csv:2:3:",
     "unterminated quoted field"),
    (scenario("unique"), 'id,email,name\n1,a"b@x,Ann\n', "players.csv:2:4:",
     "a quote inside an unquoted field"),
    (scenario("unique"), 'id,email,name\n1,a@x\n', "players.csv:2:6:",
     "this record has 2 fields, the header has 3"),
    (scenario("each"), None, "s.yaml:2:",
     "'mode' must be unique, sequential or random, got 'each'"),
    (scenario("unique").replace("players.csv", "nope.csv"), None, "s.yaml:2:",
     "nope.csv"),
])
def test_load_errors(tmp_path, text, csv, where, message):
    players_csv(tmp_path, 3)
    if csv is not None:
        write(tmp_path, "players.csv", csv)
    f = write(tmp_path, "s.yaml", text)
    r = run_master(["-f", f, "-H", "http://127.0.0.1:1", "--headless", "-u", "1", "-t", "1s"])
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip().splitlines()[-1]
    assert where in line and message in line, line


def parse_multipart(headers, body):
    """[(name, filename, content type, bytes)] of a multipart/form-data body, read with the
    standard library's MIME parser."""
    import email.parser
    import email.policy
    ctype = {k.lower(): v for k, v in headers}["content-type"]
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    assert msg.is_multipart()
    parts = []
    for p in msg.iter_parts():
        parts.append((p.get_param("name", header="content-disposition"), p.get_filename(),
                      p.get_content_type() if p.get("content-type") else None,
                      p.get_payload(decode=True)))
    return parts


MULTIPART = """\
defaults:
  headers: {Content-Type: application/json}
data:
  players: {csv: players.csv, mode: sequential}
users:
  - name: P
    wait: {constant: 0.1}
    tasks:
      - steps:
          - post: /upload
            multipart:
              title: "hello {{ players.name }}"
              avatar: {file: avatar.bin, content_type: image/png}
              notes: {file: notes.txt, filename: "my \\"notes\\".txt", content_type: text/plain}
"""


@pytest.mark.parametrize("transport", ["native", "curl"])
def test_multipart_both_transports(tmp_path, server, transport, monkeypatch):
    players_csv(tmp_path, 2)
    avatar = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n\x00end"
    (tmp_path / "avatar.bin").write_bytes(avatar)
    write(tmp_path, "notes.txt", "line 1\nline 2\n")
    f = write(tmp_path, "s.yaml", MULTIPART)
    env = dict(__import__("os").environ)
    if transport == "curl":
        env["HERD_TRANSPORT"] = "curl"
    else:
        env.pop("HERD_TRANSPORT", None)
    # run from elsewhere: the master reads the files beside the scenario and ships them
    r = run_master(["-f", f, "-H", server.url, "--headless", "-u", "2", "-r", "100", "-t", "2s",
                    "--only-summary"], timeout=60, env=env, cwd="/")
    assert r.returncode == 0, r.stderr
    uploads = [(h, b) for m, p, h, b in server.requests if p == "/upload"]
    reqs, fails = aggregated(r.stdout)
    assert fails == 0 and len(uploads) >= 2
    boundaries = set()
    for h, b in uploads:
        parts = parse_multipart(h, b)
        assert [p[0] for p in parts] == ["title", "avatar", "notes"]
        assert parts[0][3] in (b"hello Player, 0", b"hello Player, 1")
        assert parts[1][1:] == ("avatar.bin", "image/png", avatar)
        assert parts[2][1:] == ('my %22notes%22.txt', "text/plain", b"line 1\nline 2\n")
        assert int({k.lower(): v for k, v in h}["content-length"]) == len(b)
        ctype = [v for k, v in h if k.lower() == "content-type"]
        assert len(ctype) == 1 and ctype[0].startswith("multipart/form-data; boundary=herd-")
        boundaries.add(ctype[0])
    assert len(boundaries) == len(uploads)   # a new boundary every request


def test_multipart_errors(tmp_path):
    f = write(tmp_path, "s.yaml", MULTIPART)
    write(tmp_path, "notes.txt", "x")
    players_csv(tmp_path, 1)
    r = run_master(["-f", f, "-H", "http://127.0.0.1:1", "--headless", "-u", "1", "-t", "1s"])
    assert r.returncode == 2
    assert re.search(r"s\.yaml:13:\d+: .*avatar\.bin", r.stderr), r.stderr
    (tmp_path / "avatar.bin").write_bytes(b"x")
    f = write(tmp_path, "s.yaml", MULTIPART.replace("content_type: image/png",
                                                    "content_typ: image/png"))
    r = run_master(["-f", f, "-H", "http://127.0.0.1:1", "--headless", "-u", "1", "-t", "1s"])
    assert r.returncode == 2
    assert re.search(r"s\.yaml:13:\d+: unknown key 'content_typ'", r.stderr), r.stderr
