"""Processes and signals: what happens to the numbers when herd is interrupted, killed, short of
file descriptors or slowed by DNS and long setups, and where the workers' log lines go. Every
figure is checked against what the counting server served, or what is on disk."""
import os
import resource
import signal
import subprocess
import time

import pytest

from conftest import MASTER, WORKER, aggregated, free_port, row, run_master, wait_for, write

# A task of two requests with a pause between them, and an on_stop step: a graceful stop lets
# every started task end (as many /second as /first) and runs on_stop once per user.
TWO_STEP = """\
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - name: t
        steps:
          - get: /first
          - sleep: 0.2
          - get: /second
    on_stop:
      - get: /stop
"""


def child_pids(pid):
    """Processes whose parent is pid (the master's local workers)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def alive(pid):
    """Running (a zombie whose parent is gone counts as dead: it holds no socket)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def workers_of(master, n=1, timeout=20):
    """The pids of the master's n local workers, once they are all started."""
    pids = []

    def started():
        pids[:] = child_pids(master.pid)
        return len(pids) >= n

    assert wait_for(started, timeout=timeout), "no local worker appeared"
    return list(pids)


@pytest.fixture
def kill_later():
    """pids to SIGKILL at teardown: local workers live in process groups of their own, which
    the procs fixture's killpg of the master's group does not reach."""
    pids = []
    yield pids
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def served(srv, path):
    return srv.paths.get(path, 0)


# ---- 1. Ctrl-C and SIGTERM stop gracefully ------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_group_stops_gracefully(tmp_path, http_server, procs, kill_later, sig):
    """What a terminal's Ctrl-C (or timeout, a CI runner) does: the signal goes to the master's
    whole process group. The local worker must not die with it: users finish their task
    within --stop-timeout, on_stop runs, the final report is in, and herd's count is the
    server's."""
    f = write(tmp_path, "two.yaml", TWO_STEP)
    users = 3
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", str(users),
                          "-r", "20", "--stop-timeout", "10s", "--only-summary"])
    kill_later.extend(workers_of(master))
    assert wait_for(lambda: served(http_server, "/second") >= 15, timeout=30)
    os.killpg(master.pid, sig)
    out, err = master.communicate(timeout=60)
    assert master.returncode == 0, err
    reqs, fails = aggregated(out)
    assert fails == 0
    # on_stop ran for every user, and herd counted it
    assert served(http_server, "/stop") == users, err
    assert row(out, "GET", "/stop") == (users, 0)
    # --stop-timeout honoured: every task started was finished
    assert served(http_server, "/first") == served(http_server, "/second")
    # the final reports are in: herd's count is the server's (within one request a user)
    assert 0 <= http_server.count - reqs <= users, (reqs, http_server.count)
    assert "missing" not in err
    assert "sent no final report" not in err


def test_second_sigint_forces(tmp_path, http_server, procs, kill_later):
    """The first Ctrl-C waits for users (here stuck on a stalled server, --stop-timeout 60s);
    a second one ends the run at once, workers included."""
    f = write(tmp_path, "gated.yaml", """\
users:
  - name: U
    tasks:
      - name: t
        steps:
          - get: /gated
    on_stop:
      - get: /stop
""")
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "2",
                          "-r", "20", "--stop-timeout", "60s", "--only-summary"])
    workers = workers_of(master)
    kill_later.extend(workers)
    try:
        assert wait_for(lambda: served(http_server, "/gated") >= 10, timeout=30)
        http_server.gate.clear()   # from now on every request stalls
        os.killpg(master.pid, signal.SIGINT)
        time.sleep(1.5)
        # still stopping gracefully: the users cannot finish, nothing has died
        assert master.poll() is None
        assert all(alive(p) for p in workers), "the worker died with the first Ctrl-C"
        os.killpg(master.pid, signal.SIGINT)
        out, err = master.communicate(timeout=30)
    finally:
        http_server.gate.set()
    assert "Interrupted again" in err
    assert "Aggregated" in out
    assert wait_for(lambda: not any(alive(p) for p in workers), timeout=15)


def test_standalone_worker_leaves_gracefully_on_sigterm(tmp_path, http_server, procs):
    """A herd-worker of its own that gets SIGTERM (docker stop, systemd) stops its users as the
    master's stop would, sends its final report and exits 0: nothing it counted is lost."""
    f = write(tmp_path, "two.yaml", TWO_STEP)
    port = free_port()
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "2",
                          "-r", "20", "-t", "10s", "--stop-timeout", "10s", "--only-summary",
                          "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
                          "--master-bind-port", str(port)])
    worker = procs.start([WORKER, "--master-port", str(port), "--threads", "1"])
    assert wait_for(lambda: served(http_server, "/second") >= 10, timeout=30)
    worker.send_signal(signal.SIGTERM)
    _, werr = worker.communicate(timeout=30)
    assert worker.returncode == 0, werr
    assert "Final report acknowledged" in werr
    out, err = master.communicate(timeout=60)
    reqs, fails = aggregated(out)
    assert fails == 0
    assert served(http_server, "/stop") == 2
    assert served(http_server, "/first") == served(http_server, "/second")
    assert 0 <= http_server.count - reqs <= 2, (reqs, http_server.count)
    assert "got SIGTERM: stopping its 2 users" in err


# ---- 6. more users than file descriptors --------------------------------------------------

def nofile(n):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def test_users_beyond_fd_limit_refused(tmp_path, http_server):
    """Each user needs a socket: a worker whose limit (here 256) cannot hold -u refuses the
    share with the limit it found and how to raise it, and the run fails (exit 1) before
    any request, instead of failing connections or stalling. Under the limit it runs."""
    f = write(tmp_path, "one.yaml", """\
users:
  - name: U
    tasks:
      - name: t
        steps:
          - get: /x
""")
    r = run_master(["-f", f, "-H", http_server.url, "--headless", "-u", "2000", "-r", "2000",
                    "-t", "4s", "--only-summary"], preexec_fn=nofile(256))
    assert r.returncode == 1, r.stderr
    assert "2000 users cannot run on this worker" in r.stderr
    assert "file descriptor limit (RLIMIT_NOFILE, ulimit -n) is 256" in r.stderr
    assert "ulimit -n" in r.stderr
    assert "missing" not in r.stderr
    assert http_server.count == 0
    reqs, _ = aggregated(r.stdout)
    assert reqs == 0

    r = run_master(["-f", f, "-H", http_server.url, "--headless", "-u", "20", "-r", "100",
                    "-t", "2s", "--stop-timeout", "5s", "--only-summary"],
                   preexec_fn=nofile(256))
    assert r.returncode == 0, r.stderr
    reqs, fails = aggregated(r.stdout)
    assert fails == 0 and reqs > 0
    assert reqs == http_server.count


# ---- 7. the master killed: its workers stop at once ---------------------------------------

def test_master_sigkill_stops_local_workers(tmp_path, http_server, procs, kill_later):
    f = write(tmp_path, "one.yaml", """\
users:
  - name: U
    wait: {constant: 0.02}
    tasks:
      - name: t
        steps:
          - get: /x
""")
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "2",
                          "-r", "20", "--local-workers", "2", "--only-summary"])
    workers = workers_of(master, n=2)
    kill_later.extend(workers)
    assert wait_for(lambda: http_server.count >= 20, timeout=30)
    os.kill(master.pid, signal.SIGKILL)
    master.wait(timeout=10)
    # gone at once (before this fix they loaded the server 3 s more and lived 13 s)
    assert wait_for(lambda: not any(alive(p) for p in workers), timeout=5)
    time.sleep(0.5)
    before = http_server.count
    time.sleep(1.5)
    assert http_server.count == before, "the server is still being loaded"


# ---- 14. --logfile holds the workers' lines too -------------------------------------------

def test_logfile_has_worker_lines_and_is_cloexec(tmp_path, http_server, procs, kill_later):
    f = write(tmp_path, "one.yaml", """\
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - name: t
        steps:
          - get: /x
""")
    log = str(tmp_path / "herd.log")
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "2",
                          "-r", "20", "-t", "3s", "--stop-timeout", "5s", "--only-summary",
                          "--logfile", log])
    workers = workers_of(master)
    kill_later.extend(workers)
    read = lambda: open(log).read() if os.path.exists(log) else ""
    assert wait_for(lambda: "worker/INFO: All 2 users spawned" in read(), timeout=30), read()
    # the worker has the log file as its stderr and nowhere else; the master's copy is
    # close-on-exec
    real = os.path.realpath(log)
    for pid in workers:
        fds = [int(fd) for fd in os.listdir("/proc/%d/fd" % pid)
               if os.path.realpath("/proc/%d/fd/%s" % (pid, fd)) == real]
        assert fds == [2], fds
    for fd in os.listdir("/proc/%d/fd" % master.pid):
        if os.path.realpath("/proc/%d/fd/%s" % (master.pid, fd)) == real:
            flags = open("/proc/%d/fdinfo/%s" % (master.pid, fd)).read().split("flags:")[1]
            assert int(flags.split()[0], 8) & 0o2000000, "log file not close-on-exec"
    out, err = master.communicate(timeout=60)
    assert master.returncode == 0, err
    text = read()
    assert "master/INFO: Starting herd-master" in text
    assert "worker/INFO: Connected to the master" in text
    assert "worker/INFO: Stopped; final report seq" in text
    assert "worker/" not in err and "master/" not in err   # nothing left on the terminal
    reqs, _ = aggregated(out)
    assert 0 <= http_server.count - reqs <= 2


# ---- 15. the control thread never blocks --------------------------------------------------

SLOW_DNS_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Names ending in .slow-dns.test resolve to 127.0.0.1 after SLOW_DNS_DELAY_S seconds. */
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) =
        (int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))
            dlsym(RTLD_NEXT, "getaddrinfo");
    static const char suffix[] = ".slow-dns.test";
    size_t n = node ? strlen(node) : 0, k = sizeof suffix - 1;
    if (n >= k && strcasecmp(node + n - k, suffix) == 0) {
        const char *d = getenv("SLOW_DNS_DELAY_S");
        sleep(d ? (unsigned)atoi(d) : 4);
        node = "127.0.0.1";
    }
    return real(node, service, hints, res);
}
"""


@pytest.fixture
def slow_dns(tmp_path):
    """An LD_PRELOAD value for herd-worker with the slow resolver (after the sanitizer's
    runtime, which must come first, in a sanitizer build)."""
    src = tmp_path / "slowdns.c"
    src.write_text(SLOW_DNS_C)
    so = str(tmp_path / "slowdns.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-o", so, str(src), "-ldl"], check=True)
    ldd = subprocess.run(["ldd", WORKER], capture_output=True, text=True).stdout
    asan = [l.split("=>")[1].split()[0] for l in ldd.splitlines() if "libasan" in l]
    return " ".join(asan + [so])


def test_slow_dns_does_not_make_the_worker_missing(tmp_path, http_server, procs, slow_dns):
    """Resolving the master's host and the target's takes 4 s each (an LD_PRELOAD stand-in for
    a slow DNS): the worker connects late and starts its users late, but its heartbeats
    never stop, so it is never declared missing, and every request is counted."""
    port = int(http_server.url.rsplit(":", 1)[1])
    f = write(tmp_path, "slow.yaml", """\
host: http://target.slow-dns.test:%d
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - name: t
        steps:
          - get: /x
""" % port)
    mport = free_port()
    master = procs.start([MASTER, "-f", f, "--headless", "-u", "2", "-r", "20", "-t", "9s",
                          "--stop-timeout", "5s", "--only-summary", "--expect-workers", "1",
                          "--master-bind-host", "127.0.0.1", "--master-bind-port", str(mport)])
    env = dict(os.environ, LD_PRELOAD=slow_dns, SLOW_DNS_DELAY_S="4")
    procs.start([WORKER, "--master-host", "master.slow-dns.test", "--master-port", str(mport),
                 "--threads", "2"], env=env)
    out, err = master.communicate(timeout=90)
    assert master.returncode == 0, err
    assert "missing" not in err
    reqs, fails = aggregated(out)
    assert fails == 0 and reqs > 0
    assert 0 <= http_server.count - reqs <= 2 and http_server.count > 0


def test_new_run_during_long_setup_is_not_blocked(tmp_path, http_server, procs):
    """A worker is in a 30 s setup when its master dies; the next master's run (no setup)
    must start at once: the old setup is abandoned, not waited for."""
    long_setup = write(tmp_path, "long.yaml", """\
setup:
  - sleep: 30
users:
  - name: U
    tasks:
      - name: t
        steps:
          - get: /never
""")
    quick = write(tmp_path, "quick.yaml", """\
users:
  - name: U
    wait: {constant: 0.05}
    tasks:
      - name: t
        steps:
          - get: /x
""")
    port = free_port()
    wlog = str(tmp_path / "worker.log")
    common = ["-H", http_server.url, "--headless", "-u", "2", "-r", "20", "--only-summary",
              "--expect-workers", "1", "--master-bind-host", "127.0.0.1",
              "--master-bind-port", str(port)]
    first = procs.start([MASTER, "-f", long_setup] + common)
    procs.start([WORKER, "--master-port", str(port), "--threads", "1", "--logfile", wlog])
    read = lambda: open(wlog).read() if os.path.exists(wlog) else ""
    assert wait_for(lambda: "Running 1 setup step(s)" in read(), timeout=30), read()
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    second = procs.start([MASTER, "-f", quick, "-t", "8s", "--stop-timeout", "5s"] + common)
    out, err = second.communicate(timeout=90)
    assert second.returncode == 0, err
    assert "missing" not in err
    reqs, fails = aggregated(out)
    assert fails == 0 and reqs > 0
    assert 0 <= http_server.count - reqs <= 2
    assert served(http_server, "/never") == 0
    assert "abandoned" in read()
