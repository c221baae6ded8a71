"""A worker's warnings and errors reach the master over the protocol (a Log message), for
the web UI's Logs tab: the master logs each one at DEBUG with its source. The worker is
external, its stderr a pipe of its own, so a line in the master's stderr can only have come
over the wire."""
import os
import re
import signal
import time

from conftest import MASTER, WORKER, free_port, wait_for, write

SETUP_FAILS = """\
setup:
  - get: /status/500
    save: {things: $}
users:
  - name: U
    tasks:
      - name: t
        steps:
          - get: "/x/{{ pick(things) }}"
"""


def test_worker_error_reaches_the_master(tmp_path, http_server, procs):
    f = write(tmp_path, "setup.yaml", SETUP_FAILS)
    port = free_port()
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "1",
                          "-t", "10s", "--loglevel", "DEBUG", "--expect-workers", "1",
                          "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)])
    worker = procs.start([WORKER, "--master-port", str(port), "--threads", "1"])
    _, err = master.communicate(timeout=60)
    _, werr = worker.communicate(timeout=20)
    assert master.returncode == 1, err
    # The worker logged it itself ...
    assert re.search(r"worker/ERROR: setup step GET /status/500 failed: HTTP 500$", werr,
                     re.M), werr
    # ... and shipped it: the master logs it with the worker's id and host, at DEBUG.
    wid = re.search(r"Worker (\w{8})-[-\w]+ \(", werr).group(1)
    shipped = re.findall(r"master/DEBUG: worker (\w{8}) \(([^)]*)\)/ERROR: "
                         r"setup step GET /status/500 failed: HTTP 500$", err, re.M)
    assert len(shipped) == 1, err
    assert shipped[0][0] == wid
    assert shipped[0][1], err   # the worker's host name
    assert "worker/" not in err   # nothing of the worker's stderr in the master's


def test_worker_warnings_not_logged_below_debug(tmp_path, http_server, procs):
    """At the default level the shipped line is kept for the web UI, not written again: the
    master's own line about the failure is enough on a terminal."""
    f = write(tmp_path, "setup.yaml", SETUP_FAILS)
    port = free_port()
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "1",
                          "-t", "10s", "--expect-workers", "1",
                          "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)])
    procs.start([WORKER, "--master-port", str(port), "--threads", "1"])
    _, err = master.communicate(timeout=60)
    assert master.returncode == 1, err
    assert "master/ERROR: worker " in err and "HTTP 500" in err
    assert "master/DEBUG" not in err


def test_warning_logged_while_cut_off_arrives_after_the_reconnect(tmp_path, http_server,
                                                                   procs):
    """The worker loses its master (stopped for a while), logs a WARNING with nobody to send
    it to, and ships it once the master is back."""
    f = write(tmp_path, "one.yaml", """\
users:
  - name: U
    tasks:
      - name: t
        steps:
          - get: /a
""")
    port = free_port()
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "1",
                          "-t", "8s", "--loglevel", "DEBUG", "--expect-workers", "1",
                          "--heartbeat-liveness", "1", "--master-bind-host", "127.0.0.1",
                          "--master-bind-port", str(port)])
    worker = procs.start([WORKER, "--master-port", str(port), "--threads", "1"])
    assert wait_for(lambda: http_server.count > 0, timeout=15)
    os.kill(master.pid, signal.SIGSTOP)
    time.sleep(2.5)
    os.kill(master.pid, signal.SIGCONT)
    _, err = master.communicate(timeout=60)
    _, werr = worker.communicate(timeout=20)
    assert re.search(r"worker/WARNING: Lost the master", werr), werr
    assert re.search(r"master/DEBUG: worker \w{8} \([^)]*\)/WARNING: Lost the master "
                     r"\(no message for \d+ s\)", err), err
