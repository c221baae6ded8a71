"""CurveZMQ on the workers' channel: an authorized worker runs and counts exactly; a peer with
no key, an unknown key or another master's key never gets a byte of the scenario, is never
registered, and the run does not notice it; a packet capture of the channel shows the
scenario without keys and not with them; floods of garbage cost the master a few log lines
and bounded memory, not its count.

Intruders are ZeroMQ DEALERs from python3-zmq (the same libzmq as herd) that send a forged
Hello every 0.2 s and keep every byte they receive.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import zmq

from conftest import MASTER, WORKER, aggregated, free_port, wait_for, write
from test_inputs import ZmtpPeer, _peak_rss_kib

MARKER = "MARKER-7f3c9a-secret-token"

# A Hello as a herd-worker sends it: Envelope{version 1, hello{worker_id, hostname, threads 2}}.
def _hello(worker_id):
    wid = worker_id.encode()
    body = b"\x0a" + bytes([len(wid)]) + wid + b"\x12\x04evil" + b"\x18\x02"
    return b"\x08\x01" + b"\x52" + bytes([len(body)]) + body


class Intruder(threading.Thread):
    """A DEALER that keeps saying hello to the master and records what comes back."""

    def __init__(self, port, name, curve=None, source="127.0.0.1"):
        super().__init__(daemon=True)
        self.port, self.name, self.curve, self.source = port, name, curve, source
        self.received = b""
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self):
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        wid = "%s-0000-4000-8000-000000000000" % self.name
        s.setsockopt(zmq.ROUTING_ID, wid.encode())
        if self.curve:
            public, secret, server = self.curve
            s.curve_publickey, s.curve_secretkey, s.curve_serverkey = public, secret, server
        # ZeroMQ's "source;destination" form: the connection comes from `source`, a loopback
        # address of its own, so the master's log can be checked for the peer's address.
        s.connect("tcp://%s:0;127.0.0.1:%d" % (self.source, self.port))
        self.ready.set()
        while not self.stop.is_set():
            try:
                s.send(_hello(wid), zmq.NOBLOCK)
            except zmq.Again:
                pass
            if s.poll(200):
                self.received += s.recv()
        s.close()
        ctx.term()


def _cert_keys(path):
    """(public, secret) Z85 bytes of a certificate file written by --gen-keys."""
    text = open(path).read()
    public = re.search(r'public-key = "(.{40})"', text).group(1).encode()
    m = re.search(r'secret-key = "(.{40})"', text)
    return public, (m.group(1).encode() if m else None)


@pytest.fixture
def keys(tmp_path):
    """The master's key pair, an authorized worker's, and another master's and worker's."""
    k = {}
    for prog, d in ((MASTER, "m"), (MASTER, "other-m"), (WORKER, "w"), (WORKER, "other-w")):
        r = subprocess.run([prog, "--gen-keys", str(tmp_path / d)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        k[d] = tmp_path / d
    auth = tmp_path / "authorized"
    auth.mkdir()
    (auth / "w.pub").write_bytes((k["w"] / "worker.pub").read_bytes())
    k["authorized"] = auth
    return k


def _scenario(tmp_path, url):
    return write(tmp_path, "s.yaml",
                 "# %s\nhost: %s\nusers:\n  - name: U\n    tasks:\n      - steps:\n"
                 "          - get: /a\n            headers: {X-Token: %s}\n" % (MARKER, url, MARKER))


def _master(procs, tmp_path, scen, port, keys=None, extra=(), seconds="4s"):
    args = [MASTER, "-f", scen, "--headless", "-u", "4", "-r", "4", "-t", seconds, "-s", "5",
            "--expect-workers", "1", "--expect-workers-max-wait", "30s", "--only-summary",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)] + list(extra)
    if keys:
        args += ["--curve-key", str(keys["m"] / "master.key"),
                 "--curve-authorized", str(keys["authorized"])]
    err = tmp_path / "master.err"
    m = procs.start(args, stderr=open(err, "w"))
    assert wait_for(lambda: "Waiting for 1 worker" in err.read_text(), timeout=10), err.read_text()
    return m, err


def _worker(procs, tmp_path, port, name, key_dir=None, master_pub=None, extra=()):
    args = [WORKER, "--master-port", str(port), "--threads", "1"] + list(extra)
    if key_dir:
        args += ["--curve-key", str(key_dir / "worker.key"), "--curve-master", str(master_pub)]
    log = tmp_path / ("%s.log" % name)
    return procs.start(args, stdout=subprocess.DEVNULL, stderr=open(log, "w")), log


def test_gen_keys_writes_a_private_secret_and_never_overwrites(tmp_path):
    d = tmp_path / "keys" / "k"   # parents are made, as the README's keys/master
    r = subprocess.run([MASTER, "--gen-keys", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "master.key" in r.stdout and "--curve-master on every worker" in r.stdout
    assert os.stat(d / "master.key").st_mode & 0o777 == 0o600
    public, secret = _cert_keys(d / "master.key")
    assert secret and _cert_keys(d / "master.pub") == (public, None)
    again = subprocess.run([MASTER, "--gen-keys", str(d)], capture_output=True, text=True)
    assert again.returncode == 1
    assert "master.key already exists (never overwritten)" in again.stderr
    assert _cert_keys(d / "master.key")[1] == secret
    w = subprocess.run([WORKER, "--gen-keys", str(d)], capture_output=True, text=True)
    assert w.returncode == 0 and os.path.exists(d / "worker.pub"), w.stderr


@pytest.mark.parametrize("args, message", [
    (["--curve-key", "K"], "--curve-key needs --curve-authorized too"),
    (["--curve-authorized", "D"], "--curve-authorized needs --curve-key too"),
])
def test_master_key_options_come_in_pairs(tmp_path, args, message):
    scen = write(tmp_path, "s.yaml", "host: http://127.0.0.1:9\nusers:\n  - name: U\n"
                 "    tasks:\n      - steps:\n          - get: /\n")
    r = subprocess.run([MASTER, "-f", scen, "--headless", "--expect-workers", "1"] + args,
                       capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr, r.stderr


def test_check_reports_bad_keys_and_the_insecure_channel(tmp_path, keys):
    scen = write(tmp_path, "s.yaml", "host: http://127.0.0.1:9\nusers:\n  - name: U\n"
                 "    tasks:\n      - steps:\n          - get: /\n")
    base = [MASTER, "-f", scen, "--headless", "--expect-workers", "2", "--check"]
    ok = subprocess.run(base + ["--curve-key", str(keys["m"] / "master.key"),
                                "--curve-authorized", str(keys["authorized"])],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "Workers' channel: CurveZMQ" in ok.stdout and "1 authorized worker key" in ok.stdout
    pub = subprocess.run(base + ["--curve-key", str(keys["m"] / "master.pub"),
                                 "--curve-authorized", str(keys["authorized"])],
                         capture_output=True, text=True)
    assert pub.returncode == 2 and "holds a public key only" in pub.stderr, pub.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    none = subprocess.run(base + ["--curve-key", str(keys["m"] / "master.key"),
                                  "--curve-authorized", str(empty)], capture_output=True, text=True)
    assert none.returncode == 2 and "holds no public key" in none.stderr, none.stderr
    open_ = subprocess.run(base, capture_output=True, text=True)
    assert "Workers' channel: not secured" in open_.stdout, open_.stdout
    w = subprocess.run([WORKER, "--check", "--curve-key", str(keys["w"] / "worker.key")],
                       capture_output=True, text=True)
    assert w.returncode == 2 and "--curve-key needs --curve-master too" in w.stderr, w.stderr
    w = subprocess.run([WORKER, "--check", "--curve-key", str(keys["w"] / "worker.key"),
                        "--curve-master", str(keys["m"] / "master.pub")], capture_output=True,
                       text=True)
    assert w.returncode == 0 and "Channel: CurveZMQ" in w.stdout, w.stderr


def test_only_the_authorized_worker_joins_and_intruders_get_nothing(tmp_path, http_server, procs,
                                                                   keys):
    port = free_port()
    m, err = _master(procs, tmp_path, _scenario(tmp_path, http_server.url), port, keys)
    w_public, w_secret = _cert_keys(keys["w"] / "worker.key")
    m_public, _ = _cert_keys(keys["m"] / "master.pub")
    other_m_public, _ = _cert_keys(keys["other-m"] / "master.pub")
    stranger_public, stranger_secret = zmq.curve_keypair()
    intruders = [
        Intruder(port, "aaaaaaaa-0000", source="127.0.0.11"),                     # no key
        Intruder(port, "bbbbbbbb-0000", (stranger_public, stranger_secret, m_public),
                 source="127.0.0.12"),
        Intruder(port, "cccccccc-0000", (w_public, w_secret, other_m_public),     # wrong master
                 source="127.0.0.13"),
    ]
    for i in intruders:
        i.start()
    # Given a second, an intruder that got in would be the one worker the run waits for.
    time.sleep(1.5)
    worker, wlog = _worker(procs, tmp_path, port, "w", keys["w"], keys["m"] / "master.pub")
    out, _ = m.communicate(timeout=60)
    for i in intruders:
        i.stop.set()
        i.join(timeout=5)
    text = err.read_text()
    assert m.returncode == 0, text
    reqs, fails = aggregated(out)
    assert reqs > 0 and fails == 0
    assert reqs == http_server.count, (reqs, http_server.count)
    for i in intruders:
        assert MARKER.encode() not in i.received
        assert i.received == b"", (i.name, i.received[:200])
    assert len(re.findall(r"connected; \d+ worker\(s\) connected", text)) == 1, text
    # each refusal names the intruder's own address (libzmq's events name the master's)
    for source in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
        assert "Refused a worker connection from %s:" % source in text, text
    assert "evil" not in text


def test_workers_say_why_the_handshake_fails_and_exit(tmp_path, http_server, procs, keys):
    port = free_port()
    m, err = _master(procs, tmp_path, _scenario(tmp_path, http_server.url), port, keys)
    cases = {
        "unknown": (keys["other-w"], keys["m"] / "master.pub",
                    "the master refused this worker's key"),
        "wrong-master": (keys["w"], keys["other-m"] / "master.pub",
                         "is --curve-master this master's public key?"),
        "no-key": (None, None, "give this worker --curve-key and --curve-master"),
    }
    started = {}
    for name, (kdir, mpub, _) in cases.items():
        started[name] = _worker(procs, tmp_path, port, name, kdir, mpub,
                                extra=["--master-timeout", "2s"])
    for name, (p, log) in started.items():
        assert p.wait(timeout=20) == 1, log.read_text()
        text = log.read_text()
        assert cases[name][2] in text, (name, text)
        assert "(--master-timeout); exiting" in text
        assert "Spawning" not in text
    assert m.poll() is None   # still waiting for a worker it accepts
    m.send_signal(signal.SIGINT)
    m.wait(timeout=20)
    refused = [l for l in err.read_text().splitlines() if "Refused a worker connection" in l]
    assert len(refused) == 1, err.read_text()   # one address: one line, the rest counted


def _capture(procs, tmp_path, port):
    pcap = tmp_path / "c.pcap"
    log = tmp_path / "tcpdump.err"
    t = procs.start(["tcpdump", "-i", "lo", "-U", "-n", "-w", str(pcap), "tcp port %d" % port],
                    stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    assert wait_for(lambda: "listening on" in log.read_text(), timeout=10), log.read_text()
    return t, pcap


@pytest.mark.parametrize("secured", [False, True])
def test_capture_of_the_channel_shows_the_scenario_only_without_keys(tmp_path, http_server,
                                                                     procs, keys, secured):
    port = free_port()
    tcpdump, pcap = _capture(procs, tmp_path, port)
    m, err = _master(procs, tmp_path, _scenario(tmp_path, http_server.url), port,
                     keys if secured else None, seconds="2s")
    _worker(procs, tmp_path, port, "w", keys["w"] if secured else None, keys["m"] / "master.pub")
    out, _ = m.communicate(timeout=60)
    assert m.returncode == 0, err.read_text()
    assert aggregated(out)[0] == http_server.count
    time.sleep(0.5)
    tcpdump.send_signal(signal.SIGINT)
    tcpdump.wait(timeout=10)
    data = pcap.read_bytes()
    assert len(data) > 3000, "the capture caught too little: %d bytes" % len(data)
    if secured:
        assert MARKER.encode() not in data and b"users:" not in data
    else:
        assert MARKER.encode() in data   # so this test can fail


def test_flood_of_bad_messages_during_a_run(tmp_path, http_server, procs):
    """Without keys, anyone may speak ZeroMQ to the port: 20 peers each send 500 undecodable
    messages (three of them one over the size limit too) while a run goes on. The run counts exactly, the
    master's memory grows by a bounded amount, the log by a few lines, all printable."""
    port = free_port()
    m, err = _master(procs, tmp_path, _scenario(tmp_path, http_server.url), port, seconds="12s")
    _worker(procs, tmp_path, port, "w")
    assert wait_for(lambda: "All users spawned" in err.read_text(), timeout=20)
    before = _peak_rss_kib(m.pid)
    peers = []
    for k in range(20):
        p = ZmtpPeer(port, b"flood-%d\xff" % k)
        for _ in range(500):
            p.send(b"\x0a\xff\xff\xff\xff\x0f")
        if k < 3:
            try:
                p.send(b"\x00" * (17 << 20))   # over the 16 MiB limit: the master drops it
            except OSError:
                pass
        peers.append(p)
    time.sleep(1)   # what was sent is read and dropped
    after = _peak_rss_kib(m.pid)
    out, _ = m.communicate(timeout=60)
    for p in peers:
        p.close()
    raw = err.read_bytes()
    assert m.returncode == 0, raw.decode(errors="replace")
    assert aggregated(out)[0] == http_server.count
    grew = (after - before) / 1024
    print("master peak RSS: %d KiB before, %d KiB after the flood (+%.1f MiB)"
          % (before, after, grew))
    assert grew < 64, "the master's peak RSS grew by %.0f MiB" % grew
    assert b"\xff" not in raw
    bad = [l for l in raw.decode().splitlines() if "bad message" in l]
    assert 1 <= len(bad) <= 2 * 20 + 2, "\n".join(bad)


def test_raw_garbage_at_a_secured_master_costs_a_line(tmp_path, http_server, procs, keys):
    """With keys, 300 connections of random bytes never get past the handshake: the run
    counts exactly and the log says so in one line (and a count at the end)."""
    port = free_port()
    m, err = _master(procs, tmp_path, _scenario(tmp_path, http_server.url), port, keys,
                     seconds="5s")
    _worker(procs, tmp_path, port, "w", keys["w"], keys["m"] / "master.pub")
    assert wait_for(lambda: "All users spawned" in err.read_text(), timeout=20)
    before = _peak_rss_kib(m.pid)
    for k in range(300):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            try:
                s.sendall(os.urandom(256) if k % 2 else b"\xff" + b"\x00" * 8 + b"\x7f\x03\x00"
                          + b"NULL".ljust(20, b"\x00") + b"\x00" * 32 + os.urandom(64))
            except OSError:
                pass
    time.sleep(1)
    after = _peak_rss_kib(m.pid)
    out, _ = m.communicate(timeout=60)
    text = err.read_text()
    assert m.returncode == 0, text
    assert aggregated(out)[0] == http_server.count
    print("secured master peak RSS: %d KiB before, %d KiB after 300 garbage connections"
          % (before, after))
    assert (after - before) / 1024 < 32
    refused = [l for l in text.splitlines() if "refused worker connection" in l.lower()]
    assert 1 <= len(refused) <= 3, "\n".join(refused)


def test_a_key_added_to_the_authorized_directory_is_admitted_without_a_restart(
        tmp_path, http_server, procs, keys):
    port = free_port()
    m, err = _master(procs, tmp_path, _scenario(tmp_path, http_server.url), port, keys,
                     seconds="2s")
    worker, log = _worker(procs, tmp_path, port, "late", keys["other-w"], keys["m"] / "master.pub")
    assert wait_for(lambda: "refused this worker's key" in log.read_text(), timeout=10), \
        log.read_text()
    (keys["authorized"] / "late.pub").write_bytes((keys["other-w"] / "worker.pub").read_bytes())
    out, _ = m.communicate(timeout=60)
    assert m.returncode == 0, err.read_text()
    assert aggregated(out)[0] == http_server.count > 0
    assert "Connected to the master" in log.read_text()


def test_keys_from_the_environment_and_a_config_file(tmp_path, keys):
    """As every option: HERD_CURVE_KEY and `curve-authorized = DIR` lines work too."""
    scen = write(tmp_path, "s.yaml", "host: http://127.0.0.1:9\nusers:\n  - name: U\n"
                 "    tasks:\n      - steps:\n          - get: /\n")
    conf = write(tmp_path, "herd.conf", "curve-authorized = %s\n" % keys["authorized"])
    env = dict(os.environ, HERD_CURVE_KEY=str(keys["m"] / "master.key"))
    r = subprocess.run([MASTER, "-f", scen, "--headless", "--expect-workers", "1", "--check",
                        "--config", conf], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Workers' channel: CurveZMQ" in r.stdout, r.stderr
    env = dict(os.environ, HERD_CURVE_KEY=str(keys["w"] / "worker.key"),
               HERD_CURVE_MASTER=str(keys["m"] / "master.pub"))
    r = subprocess.run([WORKER, "--check"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "Channel: CurveZMQ" in r.stdout, r.stderr
