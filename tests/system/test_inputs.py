"""Bad input never costs more than a clear line: templates that can never render are load
errors, a step failing before it sends does not spin a core, a saved value cannot inject
headers, and a peer on the master's port cannot make it allocate wildly or flood its log.

The peer is spoken to in ZeroMQ's own protocol (ZMTP 3.0, NULL security) over a plain socket,
and its messages are protobuf bytes written by hand: no library beyond Python's is needed.
"""
import http.server
import json
import os
import re
import socket
import struct
import threading
import time

import pytest

from conftest import MASTER, free_port, row, run_master, wait_for, write

# ---- item 10: templates that can never render are load errors ---------------------------

CONSTANTS = [
    # (expression as written in the file, the message, column of the failing expression)
    ("'{{ random_int(5, 1) }}'", "random_int(a, b) needs a <= b, got 5 and 1", 32),
    ("'{{ random_string(-1) }}'",
     "random_string() length must be a whole number from 0 to 1048576, got -1", 32),
    ("'{{ random_float(1, 2, 99) }}'",
     "random_float() digits must be a whole number from 0 to 15, got 99", 32),
    ("'{{ 1/0 }}'", "division by zero", 32),
    ("'{{ \"a\" * 2 }}'", "'a' is not a number", 32),
    ("\"{{ foo\"", "unclosed '{{': no matching '}}'", 29),
]


@pytest.mark.parametrize("expr,message,column", CONSTANTS, ids=[c[0] for c in CONSTANTS])
def test_constant_template_errors_at_load(tmp_path, http_server, expr, message, column):
    path = write(tmp_path, "t.yaml", """\
host: %s
users:
  - name: U
    tasks:
      - steps:
          - get: /x
            headers: {X-A: %s}
""" % (http_server.url, expr))
    r = run_master(["-f", path, "--headless", "-u", "1", "-r", "1", "-t", "3s"], timeout=30)
    assert r.returncode == 2, r.stderr + r.stdout
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines == ["herd-master: %s:7:%d: %s" % (path, column, message)], r.stderr
    assert r.stdout == ""                 # no table: nothing ran
    assert http_server.count == 0


# ---- item 10: failing before sending keeps the CPU low ----------------------------------

def _children(pid):
    """Direct children of pid (Linux: /proc/<pid>/task/<tid>/children)."""
    kids = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return kids


def _cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_failing_before_sending_keeps_cpu_low(tmp_path, http_server, procs):
    """Every task fails on its first step, before sending anything (a variable its second
    step would save): the users count their failures but wait between tasks, so the worker
    stays near idle instead of spinning a core at a million failures a second."""
    path = write(tmp_path, "t.yaml", """\
host: %s
users:
  - name: U
    tasks:
      - steps:
          - get: "/use/{{ tok }}"
            name: /use
          - get: /token
            save: {tok: id}
""" % http_server.url)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    m = procs.start([MASTER, "-f", path, "--headless", "-u", "4", "-r", "4", "-t", "6s",
                     "--worker-threads", "1", "--only-summary"],
                    stdout=open(out, "w"), stderr=open(err, "w"))
    workers = []
    assert wait_for(lambda: workers.extend(_children(m.pid)) or workers, timeout=10)
    worker = workers[0]
    assert wait_for(lambda: "All users spawned" in err.read_text(), timeout=10), err.read_text()
    time.sleep(0.5)
    t0, c0 = time.monotonic(), _cpu_seconds(worker)
    time.sleep(3)
    t1, c1 = time.monotonic(), _cpu_seconds(worker)
    assert m.wait(timeout=30) == 1
    cpu_share = (c1 - c0) / (t1 - t0)
    print("worker CPU while its users fail: %.3f s over %.1f s (%.1f %% of a core)"
          % (c1 - c0, t1 - t0, 100 * cpu_share))
    assert cpu_share < 0.10, "the worker spun: %.0f %% of a core" % (100 * cpu_share)
    stdout = out.read_text()
    reqs, fails = row(stdout, "GET", "/use")
    assert reqs > 0 and fails == reqs, stdout       # the failures are counted...
    assert re.search(r"^%d\s+GET /use: variable 'tok' has not been saved yet\s*$" % fails,
                     stdout, re.M), stdout
    assert http_server.count == 0                   # ...and nothing was sent


# ---- item 11: a saved value cannot inject headers ---------------------------------------

class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """/token answers a JSON token whose value carries CR LF and a header of its own; every
    request's path and header names are recorded."""

    protocol_version = "HTTP/1.1"
    TOKEN = "abc\r\nX-Injected: yes"

    def log_message(self, *args):
        pass

    def do_GET(self):
        with self.server.lock:
            self.server.seen.append((self.path, [k.lower() for k in self.headers.keys()]))
        body = json.dumps({"token": self.TOKEN}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def recording_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    srv.daemon_threads = True
    srv.lock = threading.Lock()
    srv.seen = []
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("transport", ["native", "curl"])
def test_saved_value_with_crlf_is_not_sent(tmp_path, recording_server, transport):
    url = "http://127.0.0.1:%d" % recording_server.server_address[1]
    path = write(tmp_path, "t.yaml", """\
host: %s
users:
  - name: U
    wait: {constant: 0.2}
    sequential: true
    tasks:
      - steps:
          - get: /token
            save: {tok: token}
          - get: /use
            headers: {X-Token: "{{ tok }}"}
      - steps:
          - get: /token
            save: {tok: token}
          - get: "/item/{{ tok }}"
            name: /item
""" % url)
    env = dict(os.environ)
    if transport == "curl":
        env["HERD_TRANSPORT"] = "curl"
    else:
        env.pop("HERD_TRANSPORT", None)
    r = run_master(["-f", path, "--headless", "-u", "1", "-r", "1", "-t", "2s",
                    "--stop-timeout", "5s", "--only-summary"], env=env, timeout=60)
    assert r.returncode == 1, r.stderr + r.stdout
    use, item = row(r.stdout, "GET", "/use"), row(r.stdout, "GET", "/item")
    assert use[0] > 0 and use[1] == use[0], r.stdout
    assert item[0] > 0 and item[1] == item[0], r.stdout
    assert re.search(r"^%d\s+GET /use: header 'X-Token' contains a line break \(CR or LF\) "
                     r"after its templates were rendered: not sent\s*$" % use[1], r.stdout,
                     re.M), r.stdout
    assert re.search(r"^%d\s+GET /item: URL contains a line break \(CR or LF\) after its "
                     r"templates were rendered: not sent\s*$" % item[1], r.stdout, re.M), r.stdout
    with recording_server.lock:
        seen = list(recording_server.seen)
    paths = [p for p, _ in seen]
    assert paths and all(p == "/token" for p in paths), paths   # nothing else arrived
    assert not any("x-injected" in names for _, names in seen)
    assert len(paths) == row(r.stdout, "GET", "/token")[0]


# ---- item 13: a peer on the master's port --------------------------------------------

class ZmtpPeer:
    """A ZeroMQ DEALER spoken by hand: ZMTP 3.0 greeting, NULL security, READY with a routing
    id of our choosing, then single-frame messages."""

    def __init__(self, port, identity):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"NULL".ljust(20, b"\x00")
        self.s.sendall(greeting + b"\x00" + b"\x00" * 31)
        self._recv_exactly(64)                            # the master's greeting
        props = self._prop(b"Socket-Type", b"DEALER") + self._prop(b"Identity", identity)
        self._send_frame(b"\x05READY" + props, command=True)
        flags = self._recv_exactly(1)[0]                  # the master's READY
        size = self._recv_exactly(8 if flags & 0x02 else 1)
        self._recv_exactly(int.from_bytes(size, "big"))

    @staticmethod
    def _prop(name, value):
        return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value

    def _recv_exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.s.recv(n - len(data))
            assert chunk, "the master closed the connection"
            data += chunk
        return data

    def _send_frame(self, body, command=False):
        flags = 0x04 if command else 0x00
        if len(body) > 255:
            head = bytes([flags | 0x02]) + struct.pack(">Q", len(body))
        else:
            head = bytes([flags, len(body)])
        self.s.sendall(head + body)

    def send(self, body):
        self._send_frame(body)

    def close(self):
        self.s.close()


def _varint(v):
    out = b""
    while True:
        out += bytes([(v & 0x7f) | (0x80 if v >= 0x80 else 0)])
        if v < 0x80:
            return out
        v >>= 7


def _waiting_master(procs, tmp_path, http_server, wait="20s"):
    """A master waiting for one external worker that never comes; its stderr goes to a file."""
    path = write(tmp_path, "t.yaml", "host: %s\nusers:\n  - name: U\n    tasks:\n"
                 "      - steps:\n          - get: /\n" % http_server.url)
    port = free_port()
    err = tmp_path / "master.err"
    m = procs.start([MASTER, "-f", path, "--headless", "-u", "1", "-t", "5s",
                     "--expect-workers", "1", "--expect-workers-max-wait", wait,
                     "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
                    stdout=open(tmp_path / "master.out", "w"), stderr=open(err, "w"))
    assert wait_for(lambda: "Waiting for 1 worker" in err.read_text(), timeout=10), err.read_text()
    return m, port, err


def _peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1))


def test_forged_report_of_empty_entries_is_refused_cheaply(tmp_path, http_server, procs):
    """2 MB of empty report entries (two bytes each) decoded to 170 MB with protobuf-c's
    default allocator; the master now stops the decode at its budget."""
    m, port, err = _waiting_master(procs, tmp_path, http_server)
    before = _peak_rss_kib(m.pid)
    report = b"\x22\x00" * 1000000
    envelope = b"\x08\x01" + b"\x82\x01" + _varint(len(report)) + report
    peer = ZmtpPeer(port, b"forger")
    peer.send(envelope)
    logged = wait_for(lambda: "bad message from forger" in err.read_text(), timeout=10)
    time.sleep(0.3)
    after = _peak_rss_kib(m.pid)
    peer.close()
    grew = (after - before) / 1024
    print("master peak RSS: %d KiB before, %d KiB after a %d-byte forged report (+%.1f MiB)"
          % (before, after, len(envelope), grew))
    assert grew < 40, "the master's peak RSS grew by %.0f MiB" % grew
    assert logged, err.read_text()
    assert re.search(r"bad message from forger dropped: message of 2000007 bytes would take "
                     r"more than 23 MiB to decode", err.read_text()), err.read_text()
    assert m.poll() is None           # still waiting for its worker, unharmed


def test_garbage_flood_is_logged_once_per_interval(tmp_path, http_server, procs):
    """3 000 undecodable messages from one peer give one line when the first arrives and one
    with the count when the interval (or the run) ends, with the peer's id escaped."""
    m, port, err = _waiting_master(procs, tmp_path, http_server, wait="4s")
    ident = b"\x01ev\\il\xff\n"
    peer = ZmtpPeer(port, ident)
    for _ in range(3000):
        peer.send(b"\xff\xff\xff\xff")
    other = ZmtpPeer(port, b"other-peer")
    other.send(b"\xff")
    assert m.wait(timeout=30) == 1    # no worker came
    peer.close()
    other.close()
    raw = err.read_bytes()
    assert b"\x01" not in raw and b"\xff" not in raw     # nothing raw reaches the log
    text = raw.decode()
    shown = r"\x01ev\x5cil\xff\x0a"
    mine = [l for l in text.splitlines() if shown in l]
    assert len(mine) == 2, text
    assert "bad message from %s dropped: undecodable message (4 bytes)" % shown in mine[0]
    assert re.search(r"2999 more bad messages from %s dropped in the last \d+ s \(the last: "
                     r"undecodable message \(4 bytes\)\)" % re.escape(shown), mine[1]), mine[1]
    others = [l for l in text.splitlines() if "other-peer" in l]
    assert len(others) == 1, text
