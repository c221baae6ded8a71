"""herd-master --check and herd-worker --check: every flag and the scenario checked as a run
would check them, what would run printed, exit 0 or 2, and nothing started: no file created,
no port listened on, no worker process, no connection."""
import os
import shutil
import socket
import stat
import subprocess

import pytest

from conftest import MASTER, ROOT, WORKER, free_port, run_master, write

SCENARIOS = os.path.join(ROOT, "scenarios")

# each file of scenarios/: its classes and their hosts
EXPECTED = {
    "authentication_server.yaml": {"AuthenticationLoad": "http://127.0.0.1:8080"},
    "game_server.yaml": {"GameLoad": "http://127.0.0.1:8082"},
    "item_generator.yaml": {"ItemLoad": "http://127.0.0.1:8082"},
    "match_server.yaml": {"MatchLoad": "http://127.0.0.1:8081"},
    "trading_server.yaml": {"TradeLoad": "http://127.0.0.1:8083"},
    "gaming.yaml": {"AuthenticationLoad": "http://127.0.0.1:8080",
                    "MatchLoad": "http://127.0.0.1:8081",
                    "ItemLoad": "http://127.0.0.1:8082",
                    "GameLoad": "http://127.0.0.1:8082",
                    "TradeLoad": "http://127.0.0.1:8083"},
}

NO_HOST = """\
users:
  - name: Anywhere
    tasks:
      - name: t
        steps:
          - get: /x
"""


def class_lines(stdout):
    """{class: (users, host)} from the indented lines under 'User classes'."""
    out, inside = {}, False
    for line in stdout.splitlines():
        if line.startswith("User classes"):
            inside = True
            continue
        if inside and line.startswith("  "):
            parts = line.split()
            out[parts[0]] = (int(parts[1]), parts[-1])
        elif inside:
            break
    return out


def listening(port):
    """A socket bound and listening on 127.0.0.1:port, held by the test."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return s


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_scenario_prints_its_classes(tmp_path, name):
    path = os.path.join(SCENARIOS, name)
    r = run_master(["-f", path, "--headless", "-u", "10", "-r", "2", "-t", "30s", "--check"],
                   timeout=20)
    assert r.returncode == 0, r.stderr
    classes = class_lines(r.stdout)
    assert {c: h for c, (_, h) in classes.items()} == EXPECTED[name], r.stdout
    assert sum(u for u, _ in classes.values()) == 10, r.stdout
    assert "Scenario: %s" % path in r.stdout
    assert "Spawn rate: 2 users/s" in r.stdout
    assert "Run time: 30 s" in r.stdout
    assert "Workers: 1 local herd-worker process" in r.stdout
    assert "Web UI: none (--headless)" in r.stdout
    assert r.stdout.rstrip().endswith("nothing was started).")


def test_users_split_and_workers_expected():
    r = run_master(["-f", os.path.join(SCENARIOS, "gaming.yaml"), "-u", "7", "--check",
                    "--expect-workers", "3", "--master-bind-port", "5557", "--web-port", "8111",
                    "--web-auth", "a:b", "GameLoad", "TradeLoad"], timeout=20)
    assert r.returncode == 0, r.stderr
    classes = class_lines(r.stdout)
    assert sorted(classes) == ["GameLoad", "TradeLoad"], r.stdout
    assert sorted(u for u, _ in classes.values()) == [3, 4], r.stdout
    assert "Workers: 3 herd-worker processes expected on *:5557" in r.stdout
    assert "Web UI: http://127.0.0.1:8111, with --web-auth" in r.stdout


def test_stages_and_thresholds_are_printed():
    r = run_master(["-f", os.path.join(SCENARIOS, "match_server.yaml"), "--headless", "--check",
                    "--stages", "10s:5,1m:50:5,10s:0", "--threshold", "p95<300ms"], timeout=20)
    assert r.returncode == 0, r.stderr
    assert class_lines(r.stdout) == {"MatchLoad": (50, "http://127.0.0.1:8081")}
    assert "  2. 60 s: to 50 users at 5 users/s" in r.stdout
    assert "Run time: 80 s (the stages)" in r.stdout
    assert "Thresholds: p95<300ms" in r.stdout


BAD = [
    # (arguments after -f, the one line on stderr)
    (["--bogus"], "herd-master: unknown option '--bogus' (see --help)"),
    (["--stages", "10s"],
     "herd-master: --stages: '10s' is not DURATION:USERS[:SPAWN_RATE] (e.g. 30s:50:10)"),
    (["--threshold", "p95<<3"],
     "herd-master: --threshold: threshold 'p95<<3': expected a number after the operator"),
    (["--web-auth", "nocolon"], "herd-master: --web-auth wants USER:PASSWORD, got no ':'"),
    (["NoSuchClass"], None),
    (["-u", "0"], None),
]


@pytest.mark.parametrize("args,line", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_command_lines_exit_2(args, line):
    r = run_master(["-f", os.path.join(SCENARIOS, "gaming.yaml"), "--check"] + args, timeout=20)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("herd-master: "), r.stderr
    if line:
        assert lines[0] == line


def test_bad_scenario_exits_2(tmp_path):
    path = write(tmp_path, "bad.yaml", "users:\n  - name: A\n    tasks: 3\n")
    r = run_master(["-f", path, "--check"], timeout=20)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("herd-master: %s:" % path) and r.stderr.count("\n") == 1, r.stderr


def test_class_without_host_needs_H(tmp_path):
    path = write(tmp_path, "nohost.yaml", NO_HOST)
    r = run_master(["-f", path, "--check"], timeout=20)
    assert r.returncode == 2
    assert r.stderr == ("herd-master: no host for user class 'Anywhere': pass -H/--host or set "
                        "host: in %s\n" % path)
    r = run_master(["-f", path, "--check", "-H", "http://127.0.0.1:9"], timeout=20)
    assert r.returncode == 0, r.stderr
    assert class_lines(r.stdout) == {"Anywhere": (1, "http://127.0.0.1:9")}


def test_tls_files_are_checked(tmp_path):
    cert = write(tmp_path, "cert.pem", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    notkey = write(tmp_path, "key.pem", "hello\n")
    r = run_master(["-f", os.path.join(SCENARIOS, "gaming.yaml"), "--check",
                    "--tls-cert", cert, "--tls-key", notkey], timeout=20)
    assert r.returncode == 2
    assert r.stderr == "herd-master: --tls-key: '%s' is not a PEM private key\n" % notkey
    r = run_master(["-f", os.path.join(SCENARIOS, "gaming.yaml"), "--check",
                    "--tls-cert", str(tmp_path / "missing.pem"), "--tls-key", notkey], timeout=20)
    assert r.returncode == 2 and r.stderr.startswith("herd-master: --tls-cert: "), r.stderr


def test_real_tls_files_pass(tmp_path):
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                   check=True, capture_output=True)
    r = run_master(["-f", os.path.join(SCENARIOS, "gaming.yaml"), "--check", "--web-port", "8443",
                    "--tls-cert", cert, "--tls-key", key], timeout=20)
    assert r.returncode == 0, r.stderr
    assert "Web UI: https://127.0.0.1:8443" in r.stdout


def test_check_from_environment_and_config(tmp_path):
    args = ["-f", os.path.join(SCENARIOS, "trading_server.yaml"), "--headless", "-t", "1s"]
    env = dict(os.environ, HERD_CHECK="1")
    r = run_master(args, timeout=20, env=env)
    assert r.returncode == 0 and "TradeLoad" in r.stdout, r.stderr
    conf = write(tmp_path, "herd.conf", "check = true\n")
    r = run_master(args + ["--config", conf], timeout=20)
    assert r.returncode == 0 and "TradeLoad" in r.stdout, r.stderr


def test_nothing_created_nothing_listening(tmp_path):
    """The ports the run would listen on are held by the test (a run would fail on them),
    the output paths do not exist, and herd-worker is a script that leaves a mark."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    master = str(bindir / "herd-master")
    shutil.copy(MASTER, master)
    mark = tmp_path / "worker-started"
    fake = bindir / "herd-worker"
    fake.write_text("#!/bin/sh\ntouch '%s'\n" % mark)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    out = tmp_path / "out"
    out.mkdir()
    web_port, bind_port = free_port(), free_port()
    held = [listening(web_port), listening(bind_port)]
    try:
        args = ["-f", os.path.join(SCENARIOS, "gaming.yaml"), "-u", "5",
                "--web-host", "127.0.0.1", "--web-port", str(web_port),
                "--master-bind-host", "127.0.0.1", "--master-bind-port", str(bind_port),
                "--local-workers", "2", "--csv", str(out / "run"), "--json", str(out / "r.json"),
                "--html", str(out / "r.html"), "--logfile", str(out / "master.log")]
        r = subprocess.run([master] + args + ["--check"], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 0, r.stderr
        assert "Web UI: http://127.0.0.1:%d" % web_port in r.stdout
        assert "Output: --csv %s_stats.csv" % (out / "run") in r.stdout
        assert os.listdir(out) == []
        assert not mark.exists()
        # the same command line without --check does try to listen: the test can fail
        r = subprocess.run([master] + args, capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "address already in use" in r.stderr, r.stderr
    finally:
        for s in held:
            s.close()


# ---- herd-worker --check ------------------------------------------------------------------

def run_worker(args):
    return subprocess.run([WORKER] + args, capture_output=True, text=True, timeout=20)


def test_worker_check_good(tmp_path):
    port = free_port()
    held = listening(port)   # a master would be here: the worker must not connect to it
    held.settimeout(0.5)
    try:
        r = run_worker(["--check", "--master-host", "127.0.0.1", "--master-port", str(port),
                        "--threads", "2", "--master-timeout", "10s",
                        "--logfile", str(tmp_path / "w.log")])
        assert r.returncode == 0, r.stderr
        assert "Master: tcp://127.0.0.1:%d" % port in r.stdout
        assert "Threads: 2" in r.stdout
        assert "Master timeout: 10 s" in r.stdout
        with pytest.raises(socket.timeout):
            held.accept()
        assert os.listdir(tmp_path) == []
    finally:
        held.close()
    r = run_worker(["--check", "--master-host", "master"])   # a compose service's name
    assert r.returncode == 0 and "Master: tcp://master:5557" in r.stdout, r.stderr


WORKER_BAD = [
    (["--master-host", "tcp://m"],
     "herd-worker: --master-host 'tcp://m': give the host alone, without a scheme "
     "(--master-port takes the port)"),
    (["--master-host", "m:5557"],
     "herd-worker: --master-host 'm:5557': give the host alone (--master-port takes the port)"),
    (["--master-port", "0"],
     "herd-worker: --master-port wants a whole number (1 to 65535), got '0'"),
    (["--threads", "x"], None),
    (["--master-timeout", "soon"], None),
    (["-L", "LOUD"],
     "herd-worker: -L/--loglevel wants DEBUG, INFO, WARNING, ERROR or CRITICAL, got 'LOUD'"),
    (["--logfile", "/nonexistent-dir/w.log"],
     "herd-worker: --logfile: cannot write '/nonexistent-dir/w.log': No such file or directory"),
    (["--bogus"], None),
]


@pytest.mark.parametrize("args,line", WORKER_BAD, ids=[" ".join(b[0]) for b in WORKER_BAD])
def test_worker_check_bad(args, line):
    r = run_worker(["--check"] + args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("herd-worker: "), r.stderr
    if line:
        assert lines[0] == line


def test_check_in_help():
    for prog in (MASTER, WORKER):
        r = subprocess.run([prog, "--help"], capture_output=True, text=True, timeout=10)
        assert "--check" in r.stdout
