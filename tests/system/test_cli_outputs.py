"""The command line and the output files.

Report paths are checked before anything starts, written through (never replaced) when they
are not regular files, and fail the run when they cannot be written at the end; -H, -u and
the classes to run are checked before anything starts; Locust's flags are complete: -V, -s,
-l, --show-task-ratio[-json], -T a b, class names, -t 0, --autostart and --autoquit; --help
and the README list the same flags.

Every run here is small (a user or two, waits between tasks, 1 s) and runs in tmp_path, so a
build that writes stray files leaves them there.
"""
import json
import os
import re
import select
import signal
import stat
import subprocess
import threading
import time

import pytest

from conftest import (MASTER, ROOT, SERVICES, WORKER, CountingServer, aggregated, run_master,
                      wait_for, write)

GAMING = os.path.join(ROOT, "scenarios", "gaming.yaml")

ONE_GET = """\
users:
  - name: Getter
    wait: {constant: 0.05}
    tasks:
      - name: get
        steps:
          - get: /hello
"""


def one_line(r):
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def quick_run(tmp_path, server, extra, scenario=ONE_GET):
    f = write(tmp_path, "one.yaml", scenario)
    return run_master(["-f", f, "-H", server.url, "--headless", "-u", "2", "-r", "10", "-t",
                       "1s", "--stop-timeout", "5s", "--only-summary"] + extra,
                      cwd=str(tmp_path))


def json_requests(doc):
    return [e for e in doc["stats"] if e["name"] == "Aggregated"][0]["num_requests"]


# ---- item 8: report files ------------------------------------------------------------------

@pytest.fixture
def dev_stdout_guard():
    """A build that writes reports to FILE.tmp and renames that over the path replaces the
    /dev/stdout symlink with a regular file, for every process on the machine: put it back."""
    before = os.readlink("/dev/stdout") if os.path.islink("/dev/stdout") else None
    yield before
    if before and not os.path.islink("/dev/stdout"):
        try:
            os.unlink("/dev/stdout")
            os.symlink(before, "/dev/stdout")
        except OSError:
            pass
    if os.path.lexists("/dev/stdout.tmp"):
        os.unlink("/dev/stdout.tmp")


@pytest.mark.parametrize("path", ["/dev/stdout", "-"])
def test_json_to_stdout_leaves_the_device_and_carries_only_json(tmp_path, http_server,
                                                                dev_stdout_guard, path):
    r = quick_run(tmp_path, http_server, ["--json", path])
    assert r.returncode == 0, r.stderr
    if dev_stdout_guard:
        assert os.path.islink("/dev/stdout")
        assert os.readlink("/dev/stdout") == dev_stdout_guard
    assert not os.path.lexists(tmp_path / "-")
    doc = json.loads(r.stdout)          # stdout carries the report and nothing else
    reqs, fails = aggregated(r.stderr)  # the tables went to stderr
    assert json_requests(doc) == reqs == http_server.count > 0 and fails == 0
    assert "The JSON report goes to stdout; the tables go to stderr" in r.stderr


def test_symlinks_are_written_through(tmp_path, http_server):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "run.json").write_text("old")
    os.symlink(reports / "run.json", tmp_path / "latest.json")
    os.symlink(reports / "new.html", tmp_path / "latest.html")        # target made on write
    os.symlink(reports / "kept_stats.csv", tmp_path / "run_stats.csv")
    r = quick_run(tmp_path, http_server, ["--json", str(tmp_path / "latest.json"),
                                          "--html", str(tmp_path / "latest.html"),
                                          "--csv", str(tmp_path / "run")])
    assert r.returncode == 0, r.stderr
    for link in ["latest.json", "latest.html", "run_stats.csv"]:
        assert os.path.islink(tmp_path / link), link
    reqs, _ = aggregated(r.stdout)
    assert json_requests(json.loads((reports / "run.json").read_text())) == reqs
    assert '<script id="herd-data" type="application/json">' in (reports / "new.html").read_text()
    assert (reports / "kept_stats.csv").read_text().startswith("Type,Name,Request Count,")
    assert not list(tmp_path.glob("*.tmp")) and not list(reports.glob("*.tmp"))


def test_fifo_is_written_through(tmp_path, http_server):
    fifo = tmp_path / "report.json"
    os.mkfifo(fifo)
    # A reader is there from now on, so the master's write at the end finds it.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    chunks, done = [], threading.Event()

    def read_until_writer_closes():
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not done.is_set():
            if not poller.poll(100):
                continue    # no writer has connected yet
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                break       # the writer closed
            chunks.append(data)

    reader = threading.Thread(target=read_until_writer_closes, daemon=True)
    reader.start()
    try:
        r = quick_run(tmp_path, http_server, ["--json", str(fifo)])
        assert r.returncode == 0, r.stderr
        reader.join(10)
    finally:
        done.set()
        reader.join(5)
        os.close(fd)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    reqs, _ = aggregated(r.stdout)
    assert json_requests(json.loads(b"".join(chunks))) == reqs > 0


def test_unwritable_outputs_are_refused_before_the_run(tmp_path):
    f = write(tmp_path, "one.yaml", ONE_GET)
    cases = [
        ("--csv", "/nonexistent/run",
         "'/nonexistent/run_stats.csv': directory '/nonexistent' does not exist"),
        ("--json", "/nonexistent/x.json",
         "'/nonexistent/x.json': directory '/nonexistent' does not exist"),
        ("--html", str(tmp_path), "'%s': it is a directory (give a file name)" % tmp_path),
        ("--logfile", "/nonexistent/herd.log",
         "'/nonexistent/herd.log': directory '/nonexistent' does not exist"),
    ]
    for option, path, why in cases:
        r = run_master(["-f", f, "-H", "http://127.0.0.1:1", "--headless", "-t", "1s",
                        option, path], cwd=str(tmp_path))
        assert r.returncode == 2, (option, r.stderr)
        assert one_line(r) == "herd-master: %s: cannot write %s" % (option, why)
        assert r.stdout == ""


def test_a_report_that_cannot_be_written_at_the_end_fails_the_run(tmp_path, http_server):
    # a disk that is full by the end of the run, and a FIFO nobody reads any more
    os.symlink("/dev/full", tmp_path / "full.json")
    os.mkfifo(tmp_path / "gone.html")
    cases = [("--json", tmp_path / "full.json", "No space left on device", os.path.islink),
             ("--html", tmp_path / "gone.html", "no process is reading the FIFO",
              lambda p: stat.S_ISFIFO(os.lstat(p).st_mode))]
    for option, path, why, still_there in cases:
        r = quick_run(tmp_path, http_server, [option, str(path)])
        assert r.returncode == 1, (option, r.stderr)
        reqs, fails = aggregated(r.stdout)
        assert reqs > 0 and fails == 0          # the run itself went well
        assert "%s: cannot write '%s': %s" % (option, path, why) in r.stderr
        assert "Exit code 1: a report file could not be written" in r.stderr
        assert still_there(path)


# ---- item 9: -H ----------------------------------------------------------------------------

def test_bad_hosts_are_usage_errors(tmp_path):
    f = write(tmp_path, "one.yaml", ONE_GET)
    for host, why in [("http://", "it has no host"),
                      ("http://127.0.0.1:99999", "its port must be 1-65535"),
                      ("http://127.0.0.1:8080/?page=1", "no query or fragment"),
                      ("http://127.0.0.1:8080/#top", "no query or fragment"),
                      ("ftp://127.0.0.1", "it does not start with http:// or https://")]:
        r = run_master(["-f", f, "--headless", "-t", "1s", "-H", host], cwd=str(tmp_path))
        assert r.returncode == 2, (host, r.stderr)
        line = one_line(r)
        assert line.startswith("herd-master: -H/--host wants a base URL like "
                               "http://127.0.0.1:8080, got '%s': " % host), line
        assert why in line


def test_uppercase_scheme_is_a_valid_host(tmp_path, http_server):
    r = run_master(["-f", write(tmp_path, "one.yaml", ONE_GET), "-H",
                    http_server.url.replace("http://", "HTTP://"), "--headless", "-u", "2",
                    "-t", "1s", "--stop-timeout", "5s", "--only-summary"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    reqs, fails = aggregated(r.stdout)
    assert reqs == http_server.count > 0 and fails == 0


def test_a_class_host_wins_over_H_and_the_log_says_so(tmp_path, http_server):
    own = CountingServer()
    t = threading.Thread(target=own.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        f = write(tmp_path, "two.yaml", """\
users:
  - name: Own
    host: %s
    wait: {constant: 0.05}
    tasks: [{name: a, steps: [{get: /own}]}]
  - name: Plain
    wait: {constant: 0.05}
    tasks: [{name: b, steps: [{get: /plain}]}]
""" % own.url)
        r = run_master(["-f", f, "-H", http_server.url, "--headless", "-u", "2", "-r", "10",
                        "-t", "1s", "--stop-timeout", "5s", "--only-summary"],
                       cwd=str(tmp_path))
        assert r.returncode == 0, r.stderr
        assert set(own.paths) == {"/own"} and set(http_server.paths) == {"/plain"}
        assert ("User class 'Own' keeps its own host %s: -H %s applies only to classes "
                "without host:" % (own.url, http_server.url)) in r.stderr
        assert "User class 'Plain'" not in r.stderr
    finally:
        own.shutdown()
        own.server_close()


# ---- no users ------------------------------------------------------------------------------

def test_no_users_is_a_usage_error(tmp_path):
    f = write(tmp_path, "one.yaml", ONE_GET)
    r = run_master(["-f", f, "-H", "http://127.0.0.1:1", "--headless", "-u", "0", "-t", "1s"],
                   cwd=str(tmp_path))
    assert r.returncode == 2
    line = one_line(r)
    assert line.startswith("herd-master: -u/--users wants 1 or more") and "-l" in line

    zero = write(tmp_path, "zero.yaml", """\
users:
  - {name: A, weight: 0, tasks: [{steps: [{get: /a}]}]}
  - {name: B, weight: 0, tasks: [{steps: [{get: /b}]}]}
  - {name: C, tasks: [{steps: [{get: /c}]}]}
""")
    # every class has weight 0, or the classes named on the command line have
    for args in [["--", "A", "B"], ["A"]]:
        r = run_master(["-f", zero, "-H", "http://127.0.0.1:1", "--headless", "-t", "1s"] + args,
                       cwd=str(tmp_path))
        assert r.returncode == 2, (args, r.stderr)
        assert one_line(r) == ("herd-master: %s: no user would run: every user class to run "
                               "has weight 0 or fixed_count 0 (give one a weight above 0, or a "
                               "fixed_count above 0)" % zero)
    all_zero = write(tmp_path, "all_zero.yaml", """\
users:
  - {name: A, weight: 0, tasks: [{steps: [{get: /a}]}]}
""")
    r = run_master(["-f", all_zero, "-H", "http://127.0.0.1:1", "--headless", "-t", "1s"],
                   cwd=str(tmp_path))
    assert r.returncode == 2 and "no user would run" in one_line(r)


# ---- Locust's command line, completed ------------------------------------------------------

def test_version_on_every_binary():
    for binary, name in [(MASTER, "herd-master"), (WORKER, "herd-worker"),
                         (SERVICES, "herd-sample-services")]:
        for flag in ["-V", "--version"]:
            r = subprocess.run([binary, flag], capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, (binary, flag, r.stderr)
            assert re.fullmatch(r"%s \d+\.\d+\.\d+\n" % name, r.stdout), r.stdout


def test_s_lets_users_finish_their_task(tmp_path, http_server, procs):
    f = write(tmp_path, "gated.yaml", """\
users:
  - name: Gated
    tasks: [{name: slow, steps: [{get: /gated}]}]
""")
    http_server.gate.clear()    # every request waits until the run has been told to stop
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "2",
                          "-r", "10", "-t", "1s", "-s", "20s", "--only-summary"],
                         cwd=str(tmp_path))
    err = []

    def open_gate_at_the_stop():
        for line in master.stderr:
            err.append(line)
            if "--run-time limit reached" in line:
                http_server.gate.set()

    reader = threading.Thread(target=open_gate_at_the_stop, daemon=True)
    reader.start()
    try:
        out = master.stdout.read()
        master.wait(timeout=60)
        reader.join(10)
    finally:
        http_server.gate.set()
    assert master.returncode == 0, "".join(err)
    reqs, fails = aggregated(out)
    # both requests were in flight at the stop; -s let them be answered and counted
    assert reqs == http_server.count >= 2 and fails == 0


GAMING_LIST = """\
Available Users:
    AuthenticationLoad
        createPlayer
        getPlayer
    MatchLoad
        createGame
        closeGame
    ItemLoad
        createItem
    GameLoad
        acquireMoney
        acquireItem
    TradeLoad
        sellItem
        buyItem
"""


def test_list_prints_classes_and_tasks(tmp_path):
    for flag in ["-l", "--list"]:
        r = run_master(["-f", GAMING, flag], cwd=str(tmp_path))   # no --headless: nothing runs
        assert r.returncode == 0, r.stderr
        assert r.stdout == GAMING_LIST
    f = write(tmp_path, "tags.yaml", """\
users:
  - {name: U, tasks: [{name: a, tags: [read, fast], steps: [{get: /a}]}, {name: b, steps: [{get: /b}]}]}
""")
    r = run_master(["-f", f, "-l"], cwd=str(tmp_path))
    assert r.stdout == "Available Users:\n    U\n        a  [tags: read, fast]\n        b\n"


# gaming.yaml: five classes of weight 1; (task, weight) per class
GAMING_TASKS = [("AuthenticationLoad", [("createPlayer", 1), ("getPlayer", 5)]),
                ("MatchLoad", [("createGame", 2), ("closeGame", 1)]),
                ("ItemLoad", [("createItem", 1)]),
                ("GameLoad", [("acquireMoney", 2), ("acquireItem", 5)]),
                ("TradeLoad", [("sellItem", 1), ("buyItem", 1)])]


def locust_line(level, pct, name):
    """One line of Locust's _print_task_ratio."""
    pad = "  " * level
    return " %-10s %-50s" % (pad + "%-6.1f" % pct, pad + name)


def test_show_task_ratio_gaming_exact(tmp_path):
    r = run_master(["-f", GAMING, "--show-task-ratio"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    per_class = [(0, 20.0, "AuthenticationLoad"), (1, 16.7, "createPlayer"), (1, 83.3, "getPlayer"),
                 (0, 20.0, "MatchLoad"), (1, 66.7, "createGame"), (1, 33.3, "closeGame"),
                 (0, 20.0, "ItemLoad"), (1, 100.0, "createItem"),
                 (0, 20.0, "GameLoad"), (1, 28.6, "acquireMoney"), (1, 71.4, "acquireItem"),
                 (0, 20.0, "TradeLoad"), (1, 50.0, "sellItem"), (1, 50.0, "buyItem")]
    total = [(0, 20.0, "AuthenticationLoad"), (1, 3.3, "createPlayer"), (1, 16.7, "getPlayer"),
             (0, 20.0, "MatchLoad"), (1, 13.3, "createGame"), (1, 6.7, "closeGame"),
             (0, 20.0, "ItemLoad"), (1, 20.0, "createItem"),
             (0, 20.0, "GameLoad"), (1, 5.7, "acquireMoney"), (1, 14.3, "acquireItem"),
             (0, 20.0, "TradeLoad"), (1, 10.0, "sellItem"), (1, 10.0, "buyItem")]
    want = ["", " Task ratio per User class", "-" * 80]
    want += [locust_line(*row) for row in per_class]
    want += ["", " Total task ratio", "-" * 80]
    want += [locust_line(*row) for row in total]
    assert r.stdout == "\n".join(want) + "\n"


def test_show_task_ratio_json_gaming_exact(tmp_path):
    r = run_master(["-f", GAMING, "--show-task-ratio-json"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    share = 1 / 5
    want = {"per_class": {}, "total": {}}
    for cls, tasks in GAMING_TASKS:
        n = sum(w for _, w in tasks)
        want["per_class"][cls] = {"ratio": share, "tasks": {
            t: {"ratio": w * 1.0 / n} for t, w in tasks}}
        want["total"][cls] = {"ratio": share, "tasks": {
            t: {"ratio": w * share / n} for t, w in tasks}}
    assert r.stdout == json.dumps(want, indent=4) + "\n"   # Locust's layout, byte for byte
    doc = json.loads(r.stdout)
    assert doc["total"]["AuthenticationLoad"]["tasks"]["createPlayer"]["ratio"] == 0.2 / 6

    # -u splits the users as a run would: 3 users over two named classes are 2 and 1
    r = run_master(["-f", GAMING, "--show-task-ratio-json", "-u", "3", "ItemLoad", "TradeLoad"],
                   cwd=str(tmp_path))
    doc = json.loads(r.stdout)
    assert list(doc["per_class"]) == ["ItemLoad", "TradeLoad"]
    assert doc["per_class"]["ItemLoad"]["ratio"] == 2 / 3
    assert doc["total"]["TradeLoad"]["tasks"]["buyItem"]["ratio"] == 1 * (1 / 3) / 2


TAGGED = """\
users:
  - name: U
    sequential: true
    wait: {constant: 0.05}
    tasks:
      - {name: a, tags: [a], steps: [{get: /a}]}
      - {name: b, tags: [b], steps: [{get: /b}]}
      - {name: c, tags: [c], steps: [{get: /c}]}
"""


def test_tags_as_separate_words(tmp_path, http_server):
    f = write(tmp_path, "tags.yaml", TAGGED)
    base = ["-f", f, "-H", http_server.url, "--headless", "-u", "1", "-t", "1s",
            "--stop-timeout", "5s", "--only-summary"]
    r = run_master(base + ["-T", "a", "b"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert set(http_server.paths) == {"/a", "/b"}
    http_server.paths.clear()
    r = run_master(base + ["--exclude-tags", "a", "b"], cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert set(http_server.paths) == {"/c"}
    r = run_master(["-f", f, "--show-task-ratio-json", "-T", "a", "b", "-E", "b"],
                   cwd=str(tmp_path))
    assert json.loads(r.stdout)["per_class"]["U"]["tasks"] == {"a": {"ratio": 1.0}}


TWO_CLASSES = """\
users:
  - name: Alpha
    wait: {constant: 0.05}
    tasks: [{name: a, tags: [x], steps: [{get: /a}]}]
  - name: Beta
    wait: {constant: 0.05}
    tasks: [{name: b, tags: [x], steps: [{get: /b}]}]
"""


def test_class_names_run_only_those(tmp_path, http_server):
    f = write(tmp_path, "two.yaml", TWO_CLASSES)
    base = ["-f", f, "-H", http_server.url, "--headless", "-u", "2", "-r", "10", "-t", "1s",
            "--stop-timeout", "5s", "--only-summary"]
    for args in [base + ["Beta"], ["Beta"] + base + ["-T", "x"], base + ["-T", "x", "--", "Beta"]]:
        http_server.paths.clear()
        r = run_master(args, cwd=str(tmp_path))
        assert r.returncode == 0, (args, r.stderr)
        assert set(http_server.paths) == {"/b"}, args
        assert '"Beta": 2' in r.stderr
    r = run_master(base + ["Gamma"], cwd=str(tmp_path))
    assert r.returncode == 2
    assert one_line(r) == "herd-master: unknown user class 'Gamma' (the file has Alpha, Beta)"


def test_run_time_zero_runs_until_interrupted(tmp_path, http_server, procs):
    f = write(tmp_path, "one.yaml", ONE_GET)
    master = procs.start([MASTER, "-f", f, "-H", http_server.url, "--headless", "-u", "1",
                          "-t", "0", "--stop-timeout", "5s", "--only-summary"],
                         cwd=str(tmp_path))
    assert wait_for(lambda: http_server.count >= 10, timeout=30)
    assert master.poll() is None        # -t 0 set no limit
    master.send_signal(signal.SIGINT)
    out, err = master.communicate(timeout=30)
    assert master.returncode == 0, err
    assert "No run time limit set, use CTRL+C to interrupt" in err
    assert "Run time limit set" not in err
    reqs, _ = aggregated(out)
    assert reqs == http_server.count


def test_autostart_and_autoquit(tmp_path, http_server):
    start = time.monotonic()
    r = quick_run(tmp_path, http_server, ["--autostart", "--autoquit", "2"])
    elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert "The run is over; exiting in 2 s (--autoquit)" in r.stderr
    assert elapsed >= 3.0               # the 1 s run, then 2 s more
    assert aggregated(r.stdout)[0] > 0
    r = quick_run(tmp_path, http_server, ["--autostart", "--autoquit", "0"])
    assert r.returncode == 0, r.stderr
    assert "--autoquit" not in r.stderr


# ---- --help and the README -----------------------------------------------------------------

def help_flags(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    flags = set()
    for line in r.stdout.splitlines():
        m = re.match(r"^ {2,6}(?:(-[A-Za-z]), )?(--[a-z][a-z0-9-]*)", line)
        if m:
            flags.update(x for x in m.groups() if x)
    return flags, r.stdout


def readme():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def flags_in(text):
    return set(re.findall(r"`(--?[A-Za-z][a-z0-9-]*)", text))


def test_help_and_readme_list_the_same_flags():
    text = readme()
    table = text[text.index("| option | default | meaning |"):]
    table = table[:table.index("\n\n")]
    first_column = "\n".join(row.split("|")[1] for row in table.splitlines()[2:])
    flags, out = help_flags(MASTER)
    assert flags == flags_in(first_column), out
    assert "UserClass" in out

    worker = text[text.index("`herd-worker` takes"):]
    worker = worker[:worker.index("\n\n")].split("`herd-sample-services`")[0]
    flags, out = help_flags(WORKER)
    assert flags == flags_in(worker), out
    assert "HTTP/1.1" in out and "libcurl" in out   # the native client and libcurl both

    services = text[text.index("## herd-sample-services"):]
    services = services[:services.index("\n## ")]
    flags, out = help_flags(SERVICES)
    assert flags and flags <= flags_in(services), (flags - flags_in(services), out)
