"""Rates that never lie, checked against the server's own timestamped count: the history's
per-second rows and the live table read the true rate from the first complete second, a step
in load is a step, and --reset-stats counts from the reset only, with req/s over the time
since the reset, in the console, CSV, JSON and HTML.

Users on a schedule (`wait: {throughput: N}`) give a known rate; each figure is compared with
the server's count over the same seconds, with tolerances a loaded machine meets."""
import csv
import datetime
import json
import re
from collections import Counter

from conftest import aggregated, run_master, write

PACED = """\
users:
  - name: Paced
    wait: {throughput: 10}
    tasks:
      - name: get
        steps:
          - get: /hello
"""   # 10 requests a second per user


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def history(prefix):
    return [row for row in read_csv(prefix + "_stats_history.csv") if row["Name"] == "Aggregated"]


def whole_seconds(rows):
    """The rows of whole seconds: all but those of the second the run stopped in (the last
    row, and the row before it when the stop came in the same second)."""
    return [row for row in rows if row["Timestamp"] != rows[-1]["Timestamp"]]


def per_second(server):
    """The server's count of requests answered in each wall-clock second."""
    with server.lock:
        return Counter(int(t) for t in server.times)


def close(got, want, rel, absolute=0.0):
    return abs(got - want) <= max(absolute, rel * want)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def assert_rows_are_the_servers_seconds(rows, server):
    """A row of a whole second holds what the server answered in that second (give or take
    requests a few ms from the second's edge: herd counts a response when it has read it)."""
    served = per_second(server)
    for row in whole_seconds(rows):
        second, rps = int(row["Timestamp"]), float(row["Requests/s"])
        assert close(rps, served[second], 0.05, 5), (second, rps, served[second],
                                                     [(x["Timestamp"], x["Requests/s"]) for x in rows],
                                                     sorted(served.items()))


def live_rates(stdout):
    """req/s of the Aggregated row of every live table (the last table is the summary)."""
    rows = [l for l in stdout.splitlines() if l.strip().startswith("Aggregated") and "|" in l]
    return [float(r.split()[-2]) for r in rows[:-1]]


def test_history_and_live_table_read_the_true_rate_from_the_first_second(tmp_path, http_server):
    f = write(tmp_path, "paced.yaml", PACED)
    prefix = str(tmp_path / "steady")
    r = run_master(["-f", f, "-H", http_server.url, "--headless", "-u", "10", "-r", "100",
                    "-t", "12s", "--csv", prefix])
    assert r.returncode == 0, r.stderr
    rows = history(prefix)
    assert len(rows) >= 10, rows
    # From the very first row (the first complete second), what the server answered in that
    # second: the paced 100 - not 0, 48, 65 ... as the window's ramp read.
    assert_rows_are_the_servers_seconds(rows, http_server)
    rates = [float(row["Requests/s"]) for row in rows]
    assert close(median(rates), 100, 0.05), rates
    assert int(rows[-1]["Total Request Count"]) == aggregated(r.stdout)[0]
    # The live table: shown once a second is complete, at the true rate from the first one.
    live = live_rates(r.stdout)
    assert len(live) >= 3, r.stdout
    assert all(close(x, 100, 0.2) for x in live) and close(median(live), 100, 0.05), live


def test_a_step_in_load_is_a_step_in_the_history(tmp_path, http_server):
    f = write(tmp_path, "paced.yaml", PACED)
    prefix = str(tmp_path / "step")
    r = run_master(["-f", f, "-H", http_server.url, "--headless", "-r", "100",
                    "--stages", "6s:5,6s:10", "--csv", prefix])
    assert r.returncode == 0, r.stderr
    rows = history(prefix)
    # Each second as the server saw it, so the step is where the server saw it ...
    assert_rows_are_the_servers_seconds(rows, http_server)
    # ... and the rows of each stage read its rate: a 10-second average would still be
    # climbing through the 10 users' rows. (User Count is what the workers last reported: it
    # can lag the change by a row, hence medians.)
    stage1 = [float(x["Requests/s"]) for x in rows if x["User Count"] == "5"]
    stage2 = [float(x["Requests/s"]) for x in rows if x["User Count"] == "10"]
    assert len(stage1) >= 3 and len(stage2) >= 4, rows
    assert close(median(stage1), 50, 0.1), stage1
    assert close(median(stage2), 100, 0.1), stage2


def reset_second(stderr):
    """The second the statistics count from, as the master logged it."""
    m = re.search(r"Resetting stats.*\(unix (\d+)\)", stderr)
    if m:
        return int(m.group(1))
    # a master that does not say: the moment it logged the reset
    m = re.search(r"^\[([\d-]+ [\d:]+),(\d+)\] master/INFO: Resetting stats", stderr, re.M)
    assert m, stderr
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
    return t + int(m.group(2)) / 1000


def test_reset_stats_counts_from_the_reset_only(tmp_path, http_server):
    f = write(tmp_path, "paced.yaml", PACED)
    prefix = str(tmp_path / "reset")
    out_json, out_html = str(tmp_path / "reset.json"), str(tmp_path / "reset.html")
    # a 4 s ramp (a user a second, each 10 requests a second), then 50 a second for ~10 s
    r = run_master(["-f", f, "-H", http_server.url, "--headless", "-u", "5", "-r", "1",
                    "-t", "14s", "--reset-stats", "--csv", prefix, "--json", out_json,
                    "--html", out_html])
    assert r.returncode == 0, r.stderr
    cut = reset_second(r.stderr)
    with http_server.lock:
        after = sum(1 for t in http_server.times if t >= cut)
        before = http_server.count - after
    assert before > 50, before   # the ramp-up was real and is not what is measured
    reqs, _ = aggregated(r.stdout)
    # The total is what the server answered after the reset, within the half second of each
    # worker's requests a report in flight at the reset stands for (25 here), and a request
    # per user the stop cut short.
    assert abs(reqs - after) <= 25 + 5, (reqs, after, before)
    # req/s is requests / the time since the reset, everywhere: the true 50 (within what the
    # total is off by), not requests / the whole run (39 here).
    doc = json.load(open(out_json))
    end = datetime.datetime.strptime(doc["end_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()
    since_reset = end - cut
    assert 8 < since_reset < 11, (end, cut)
    expect = reqs / since_reset
    assert close(expect, 50, 0.08), (reqs, since_reset)
    summary = [l for l in r.stdout.splitlines() if l.strip().startswith("Aggregated") and "|" in l][-1]
    stats = [row for row in read_csv(prefix + "_stats.csv") if row["Name"] == "Aggregated"][0]
    agg = [e for e in doc["stats"] if e["name"] == "Aggregated"][0]
    html = open(out_html).read()   # the page, with the document it renders inlined
    m = re.search(r'<script id="herd-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, html[:2000]
    hagg = json.loads(m.group(1))["stats"][-1]
    assert hagg["name"] == "Aggregated"
    assert int(stats["Request Count"]) == agg["num_requests"] == reqs
    for where, rps in [("console", float(summary.split()[-2])), ("csv", float(stats["Requests/s"])),
                       ("json", agg["num_reqs_per_sec"]), ("html", hagg["num_reqs_per_sec"])]:
        assert close(rps, expect, 0.005, 0.01), (where, rps, expect)
    # The history's rates are the server's seconds, the ramp's too; after the reset they read 50.
    rows = history(prefix)
    assert_rows_are_the_servers_seconds(rows, http_server)
    after_rows = [float(x["Requests/s"]) for x in rows if int(x["Timestamp"]) >= cut]
    assert len(after_rows) >= 5 and close(median(after_rows), 50, 0.05), rows
