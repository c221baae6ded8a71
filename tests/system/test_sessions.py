"""Sessions as a game backend sees them: a login that sets a session cookie (kept per user,
with RFC 6265's expiry and path rules), gzip-compressed JSON answers (saved from, then sent
back), basic auth, and HTTP/2 through nginx; over both transports (native and
HERD_TRANSPORT=curl). Every figure is checked against what the server itself saw."""
import base64
import gzip
import json
import os
import shutil
import socket
import threading
import uuid
import zlib

import http.server
import pytest

from conftest import QuietHandler, free_port, run_master, wait_for, write

TRANSPORTS = ["native", "curl"]


def env_for(transport):
    env = dict(os.environ)
    env.pop("HERD_TRANSPORT", None)
    if transport == "curl":
        env["HERD_TRANSPORT"] = "curl"   # the master's local worker inherits it
    return env


def json_rows(path):
    """{(method, name): entry} of a --json file."""
    with open(path) as f:
        doc = json.load(f)
    return {(e["method"], e["name"]): e for e in doc["stats"]}


class GameHandler(QuietHandler):
    """A small game backend. Every request is logged (path, Cookie, Accept-Encoding,
    Authorization) after it is answered.

    /login            sets session=<new token> (Path=/); /me answers 200 with a live token, else 401
    /short/login      sets short=<token>; Max-Age=1; /short/check answers 200 with it, 401 without
    /app/login        sets app=<token>; Path=/app; /app/data and /other report whether it came
    /gz/token         a gzip JSON {"token": ...}; /gz/use?token=T answers 200 for a token issued
    /df/token         the same, deflate-encoded (zlib-wrapped)
    /badgz            claims gzip, sends garbage; /br answers in brotli, which herd does not ask for
    /auth             200 when Authorization is Basic of the user:password the test set, else 401
    """

    def cookies(self):
        out = {}
        for part in (self.headers.get("Cookie") or "").split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                out[k] = v
        return out

    def answer(self, status, body=b'{"ok": true}', headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        srv = self.server
        path, _, query = self.path.partition("?")
        jar = self.cookies()
        status = 200
        if path in ("/login", "/short/login", "/app/login"):
            token = uuid.uuid4().hex
            with srv.lock:
                srv.tokens.add(token)
            attrs = {"/login": ("session", "Path=/"), "/short/login": ("short", "Max-Age=1; Path=/"),
                     "/app/login": ("app", "Path=/app")}[path]
            self.answer(200, headers=[("Set-Cookie", "%s=%s; %s" % (attrs[0], token, attrs[1]))])
        elif path == "/me":
            status = 200 if jar.get("session") in srv.tokens else 401
            self.answer(status)
        elif path == "/short/check":
            status = 200 if jar.get("short") in srv.tokens else 401
            self.answer(status)
        elif path in ("/gz/token", "/df/token"):
            token = uuid.uuid4().hex
            with srv.lock:
                srv.tokens.add(token)
            raw = json.dumps({"player": {"token": token}, "pad": "x" * 200}).encode()
            if path == "/gz/token":
                body, enc = gzip.compress(raw), "gzip"
            else:
                body, enc = zlib.compress(raw), "deflate"
            self.answer(200, body, headers=[("Content-Encoding", enc)])
            with srv.lock:
                srv.body_bytes.append(len(body))
        elif path == "/gz/use":
            token = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("token")
            status = 200 if token in srv.tokens else 400
            self.answer(status)
        elif path == "/badgz":
            self.answer(200, b"\x1f\x8b not really gzip", headers=[("Content-Encoding", "gzip")])
        elif path == "/br":
            self.answer(200, b"\x0b\x02\x80ok\x03", headers=[("Content-Encoding", "br")])
        elif path == "/auth":
            want = "Basic " + base64.b64encode(srv.credentials.encode()).decode()
            status = 200 if self.headers.get("Authorization") == want else 401
            self.answer(status)
        else:
            self.answer(200)
        with srv.lock:
            srv.log.append({"path": path, "status": status, "cookies": jar,
                            "accept_encoding": self.headers.get("Accept-Encoding"),
                            "authorization": self.headers.get("Authorization")})

    do_GET = do_POST = _handle


class GameServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass

    def __init__(self):
        super().__init__(("127.0.0.1", 0), GameHandler)
        self.lock = threading.Lock()
        self.tokens = set()
        self.log = []
        self.body_bytes = []   # sizes of the compressed bodies sent, as sent
        self.credentials = "alice:s3cret:with:colons"

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def seen(self, path, **match):
        """Requests to path whose logged fields equal match's values."""
        with self.lock:
            return [e for e in self.log if e["path"] == path and
                    all(e[k] == v for k, v in match.items())]


@pytest.fixture
def game():
    srv = GameServer()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def run(tmp_path, scenario, host, transport, users=2, seconds=2):
    out = str(tmp_path / "run.json")
    r = run_master(["-f", write(tmp_path, "s.yaml", scenario), "-H", host, "--headless",
                    "-u", str(users), "-r", "10", "-t", "%ds" % seconds, "--stop-timeout", "10s",
                    "--only-summary", "--json", out], env=env_for(transport), timeout=90)
    assert os.path.exists(out), r.stdout + r.stderr
    return r, json_rows(out)


LOGIN = """\
users:
  - name: Player
    {cookies}
    sequential: true
    tasks:
      - steps:
          - post: /login
          - get: /me
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_login_cookie_logs_players_in(tmp_path, game, transport):
    r, rows = run(tmp_path, LOGIN.format(cookies=""), game.url, transport)
    me = rows[("GET", "/me")]
    assert r.returncode == 0, r.stdout + r.stderr
    assert me["num_requests"] > 10 and me["num_failures"] == 0
    # every /me the server answered carried a session it had issued
    assert len(game.seen("/me", status=200)) == me["num_requests"]
    assert game.seen("/me", status=401) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cookies_false_logs_nobody_in(tmp_path, game, transport):
    r, rows = run(tmp_path, LOGIN.format(cookies="cookies: false"), game.url, transport)
    me = rows[("GET", "/me")]
    assert r.returncode == 1
    assert me["num_requests"] > 10 and me["num_failures"] == me["num_requests"]
    assert len(game.seen("/me", status=401)) == me["num_requests"]
    assert all(e["cookies"] == {} for e in game.log)


MIXED = """\
users:
  - name: Player
    sequential: true
    tasks:
      - steps:
          - post: /x/../login         # libcurl carries it (the native client declines '..')
          - get: /me                  # the native client: the cookie libcurl received
      - steps:
          - post: /login              # the native client
          - get: /x/../me             # libcurl: the cookie the native client received
            name: me via curl
"""


def test_one_jar_whichever_transport_carries_a_request(tmp_path, game):
    r, rows = run(tmp_path, MIXED, game.url, "native")
    assert r.returncode == 0, r.stdout + r.stderr
    me, me_curl = rows[("GET", "/me")], rows[("GET", "me via curl")]
    assert me["num_requests"] > 5 and me_curl["num_requests"] > 5
    assert me["num_failures"] == me_curl["num_failures"] == 0
    assert len(game.seen("/me", status=200)) == me["num_requests"] + me_curl["num_requests"]


EXPIRY = """\
users:
  - name: Player
    sequential: true
    tasks:
      - steps:
          - post: /short/login
          - get: /short/check
            name: fresh
          - sleep: 1.5
          - get: /short/check
            name: expired
            expect: {status: 401}
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_max_age_expires_a_cookie(tmp_path, game, transport):
    r, rows = run(tmp_path, EXPIRY, game.url, transport, users=1, seconds=3)
    fresh, expired = rows[("GET", "fresh")], rows[("GET", "expired")]
    assert r.returncode == 0, r.stdout + r.stderr
    assert fresh["num_requests"] >= 1 and expired["num_requests"] >= 1
    assert fresh["num_failures"] == expired["num_failures"] == 0
    checks = game.seen("/short/check")
    assert len(checks) == fresh["num_requests"] + expired["num_requests"]
    # the server saw the cookie on every fresh check and on no check after the sleep
    assert [("short" in e["cookies"]) for e in checks] == \
        [True, False] * (len(checks) // 2) + [True] * (len(checks) % 2)


PATHS = """\
users:
  - name: Player
    sequential: true
    tasks:
      - steps:
          - post: /app/login
          - get: /app/data
          - get: /other
          - get: /application
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_cookie_path_limits_where_it_goes(tmp_path, game, transport):
    r, rows = run(tmp_path, PATHS, game.url, transport, users=1)
    assert r.returncode == 0, r.stdout + r.stderr
    data, other = rows[("GET", "/app/data")], rows[("GET", "/other")]
    assert data["num_requests"] >= 1
    assert len([e for e in game.seen("/app/data") if "app" in e["cookies"]]) == data["num_requests"]
    assert other["num_requests"] >= 1
    assert [e for e in game.seen("/other") if e["cookies"]] == []
    assert [e for e in game.seen("/application") if e["cookies"]] == []   # not a sub-path


GZIP = """\
users:
  - name: Player
    sequential: true
    {compress}
    tasks:
      - steps:
          - get: /{kind}/token
            save: {{token: player.token}}
            expect: {{contains: '"pad"'}}
          - get: /gz/use
            query: {{token: "{{{{ token }}}}"}}
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("kind", ["gz", "df"])
def test_compressed_json_is_saved_and_used(tmp_path, game, transport, kind):
    r, rows = run(tmp_path, GZIP.format(compress="", kind=kind), game.url, transport)
    assert r.returncode == 0, r.stdout + r.stderr
    tok, use = rows[("GET", "/%s/token" % kind)], rows[("GET", "/gz/use")]
    assert tok["num_failures"] == use["num_failures"] == 0
    assert use["num_requests"] > 10
    assert len(game.seen("/gz/use", status=200)) == use["num_requests"]
    # every request asked for compression, as Locust's HttpUser does
    assert {e["accept_encoding"] for e in game.log} == {"gzip, deflate"}
    # the size column is the body as received: the compressed bytes the server sent (the
    # JSON itself has 250+)
    sent = game.body_bytes
    assert len(sent) == tok["num_requests"]
    assert abs(tok["avg_content_length"] - sum(sent) / len(sent)) <= 1, (tok, sent[:5])
    assert max(sent) < 150


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_compress_false_sends_no_accept_encoding(tmp_path, game, transport):
    scenario = LOGIN.format(cookies="compress: false")
    r, rows = run(tmp_path, scenario, game.url, transport, seconds=1)
    assert r.returncode == 0, r.stdout + r.stderr
    assert game.log and {e["accept_encoding"] for e in game.log} == {None}


BADGZ = """\
users:
  - name: Player
    tasks:
      - steps:
          - get: /badgz
            expect: {contains: ok}
      - steps:
          - get: /badgz
            name: unread
      - steps:
          - get: /br
            expect: {contains: ok}
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_body_that_does_not_decode_fails_only_where_read(tmp_path, game, transport):
    r, rows = run(tmp_path, BADGZ, game.url, transport, users=1, seconds=1)
    read, unread = rows[("GET", "/badgz")], rows[("GET", "unread")]
    assert read["num_requests"] >= 1 and read["num_failures"] == read["num_requests"]
    assert unread["num_requests"] >= 1
    assert unread["num_failures"] == 0
    assert "Response body could not be decoded (gzip)" in r.stdout
    br = rows[("GET", "/br")]
    assert br["num_requests"] >= 1 and br["num_failures"] == br["num_requests"]
    assert "Content-Encoding 'br', which herd cannot decode" in r.stdout


AUTH = """\
vars: {who: alice}
defaults:
  auth: {basic: ["{{ who }}", "s3cret:with:colons"]}
users:
  - name: Player
    tasks:
      - steps:
          - get: /auth
          - get: /auth
            name: wrong
            auth: {basic: [bob, nope]}
            expect: {status: 401}
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_basic_auth_reaches_the_server(tmp_path, game, transport):
    r, rows = run(tmp_path, AUTH, game.url, transport, users=1, seconds=1)
    assert r.returncode == 0, r.stdout + r.stderr
    ok = rows[("GET", "/auth")]
    assert ok["num_requests"] >= 1 and ok["num_failures"] == 0
    assert len(game.seen("/auth", status=200)) == ok["num_requests"]
    bob = "Basic " + base64.b64encode(b"bob:nope").decode()
    assert len(game.seen("/auth", authorization=bob)) == rows[("GET", "wrong")]["num_requests"]


def test_bad_session_keys_are_reported_with_position(tmp_path):
    cases = [
        ("users:\n  - name: P\n    cookies: maybe\n    tasks: [{steps: [{get: /}]}]\n",
         "s.yaml:3:14: 'cookies' must be true or false"),
        ("defaults:\n  auth: {basic: [a]}\nusers:\n  - name: P\n    tasks: [{steps: [{get: /}]}]\n",
         "s.yaml:2:17: 'auth' must be {basic: [user, password]}"),
        ("users:\n  - name: P\n    tasks: [{steps: [{get: /, auth: {bearer: x}}]}]\n",
         "unknown key 'bearer' in auth"),
    ]
    for text, message in cases:
        r = run_master(["-f", write(tmp_path, "s.yaml", text), "-H", "http://127.0.0.1:1",
                        "--headless", "-u", "1", "-t", "1s"])
        assert r.returncode == 2, r.stdout + r.stderr
        assert message in r.stderr, r.stderr


# ---- HTTP/2 through nginx ------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
daemon off;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log combined;
    client_body_temp_path {d};
    proxy_temp_path {d};
    fastcgi_temp_path {d};
    uwsgi_temp_path {d};
    scgi_temp_path {d};
    server {{
        listen 127.0.0.1:{port} http2;
        location / {{ return 200 '{{"ok": true}}'; }}
    }}
}}
"""


@pytest.fixture
def nginx_h2(tmp_path, procs):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.skip("nginx is not installed (make test installs nginx-light)")
    d = tmp_path / "nginx"
    d.mkdir()
    port = free_port()
    conf = d / "nginx.conf"
    conf.write_text(NGINX_CONF.format(d=d, port=port))
    procs.start([nginx, "-c", str(conf), "-p", str(d)])

    def up():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False
    assert wait_for(up), (d / "error.log").read_text()
    return "http://127.0.0.1:%d" % port, d / "access.log"


H2 = """\
defaults:
  http2: true
users:
  - name: Player
    tasks:
      - steps:
          - get: /h2
            expect: {contains: ok}
"""


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_http2_through_nginx(tmp_path, nginx_h2, transport):
    url, log = nginx_h2
    r, rows = run(tmp_path, H2, url, transport, users=2, seconds=2)
    assert r.returncode == 0, r.stdout + r.stderr
    h2 = rows[("GET", "/h2")]
    assert h2["num_requests"] > 10 and h2["num_failures"] == 0
    assert wait_for(lambda: len(log.read_text().splitlines()) >= h2["num_requests"])
    lines = log.read_text().splitlines()
    assert len(lines) == h2["num_requests"]
    assert all('"GET /h2 HTTP/2.0"' in l for l in lines), lines[:3]
