"""Shared fixtures for herd's system tests: free ports, a counting HTTP server on loopback,
and process helpers that always clean up.

Every process a test starts is registered with `procs` and killed at teardown, so a failing
test never leaves a server or worker behind.
"""
import http.server
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# HERD_BIN points the tests at another build (make BINDIR=... SANITIZE=... test sets it).
BIN = os.environ.get("HERD_BIN") or os.path.join(ROOT, "bin")
MASTER = os.path.join(BIN, "herd-master")
WORKER = os.path.join(BIN, "herd-worker")
SERVICES = os.path.join(BIN, "herd-sample-services")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """The tests' servers' base: HTTP/1.1 keep-alive, no log lines, and TCP_NODELAY (headers
    and body go out as two writes: without it, Nagle and delayed ACKs add 40 ms to every
    keep-alive response)."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass


class CountingHandler(QuietHandler):
    """Answers every request; counts it, with the time, after the response is written (as a
    real server's access log would). Paths: /status/NNN answers NNN, /json answers a JSON object,
    everything else 200 with a small JSON body."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        path = self.path.split("?")[0]
        if path == "/__count":
            body = str(self.server.count).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if path.startswith("/gated"):
            self.server.gate.wait(30)   # the test closes the gate to make the server stall
        status = 200
        if path.startswith("/status/"):
            status = int(path.split("/")[2])
        body = b'{"ok": true, "id": "abc-123", "n": 42}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        with self.server.lock:
            self.server.count += 1
            self.server.paths[path] = self.server.paths.get(path, 0) + 1
            self.server.times.append(time.time())

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer


class CountingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # clients aborted by a stop close their connections mid-answer: expected

    def __init__(self):
        super().__init__(("127.0.0.1", 0), CountingHandler)
        self.count = 0
        self.paths = {}
        self.times = []   # when each counted request was answered (time.time())
        self.lock = threading.Lock()
        self.gate = threading.Event()   # /gated requests wait while it is clear
        self.gate.set()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


@pytest.fixture
def http_server():
    srv = CountingServer()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


class Procs:
    def __init__(self):
        self.items = []
        self.dir = None   # for the processes' output files, removed at cleanup

    def output_dir(self):
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="herd-test-")
        return self.dir

    def start(self, args, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        kw.setdefault("text", True)
        p = subprocess.Popen(args, start_new_session=True, **kw)
        self.items.append(p)
        return p

    def cleanup(self):
        for p in self.items:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                p.communicate(timeout=5)
            except Exception:
                pass
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def procs():
    ps = Procs()
    try:
        yield ps
    finally:
        ps.cleanup()


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def run_master(args, timeout=60, **kw):
    """Run herd-master to completion; returns CompletedProcess with text stdout/stderr."""
    return subprocess.run([MASTER] + args, capture_output=True, text=True, timeout=timeout, **kw)


def aggregated(stdout):
    """(requests, failures) from the last `Aggregated` row of the summary, as scripts that
    read Locust's output do."""
    rows = [l for l in stdout.splitlines() if l.strip().startswith("Aggregated") and "|" in l]
    assert rows, "no Aggregated row in:\n" + stdout
    fields = rows[-1].split()
    reqs = int(fields[1])
    fails = int(fields[2].split("(")[0])
    return reqs, fails


def row(stdout, method, name):
    """(requests, failures) of a named row of the final stats table."""
    found = None
    for l in stdout.splitlines():
        parts = l.split()
        if len(parts) > 3 and parts[0] == method and parts[1] == name and "|" in l:
            found = (int(parts[2]), int(parts[3].split("(")[0]))
    return found


def wait_for(pred, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False
