"""The web UI's page in a real browser: Debian's chromium through chromium-driver and
python3-selenium, headless, against herd-sample-services (or the counting server) on free
ports. A test drives the page as a person would (the form, the table, the charts, Edit, Stop,
Reset, Download, a reload mid-run), and checks what it shows against the master's API and the
services' own counts; bad input from the form; the seed's command line; a scenario with
1 000 rows; and the HTML report (the same page) opened offline from a file.

Screenshots of the Statistics and Charts tabs go to tests/system/artifacts/ (not committed);
test_page_drives_a_test also writes docs/web-ui.png, the README's screenshot, when
HERD_README_SCREENSHOT=1 (so that a test run leaves the tree as it was).
"""
import csv
import json
import os
import shutil
import tempfile
import time

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from conftest import MASTER, ROOT, WORKER, free_port, run_master, wait_for, write
from webutil import SCENARIOS, Web, start_services, start_web

ARTIFACTS = os.path.join(ROOT, "tests", "system", "artifacts")
README_SCREENSHOT = os.path.join(ROOT, "docs", "web-ui.png")
AUTH = os.path.join(SCENARIOS, "authentication_server.yaml")
CHROMEDRIVER = "/usr/bin/chromedriver"
SETUP_REQUESTS = 1   # authentication_server's setup (GET /players), once per worker per test


@pytest.fixture
def browser(tmp_path):
    """A headless chromium with a fresh profile; downloads go to browser.downloads."""
    profile = tempfile.mkdtemp(prefix="herd-chromium-")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts = webdriver.ChromeOptions()
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                "--window-size=1366,900", "--lang=en-US"]:
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        driver.downloads = str(downloads)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The page as the tests read it: through the DOM and the Chart.js instances it exposes
    (window.herdCharts)."""

    def __init__(self, driver):
        self.d = driver

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def wait(self, pred, what, timeout=30):
        last = [None]

        def ok():
            try:
                last[0] = pred()
                return bool(last[0])
            except WebDriverException as e:   # an element replaced while read: try again
                last[0] = e
                return False
        if not wait_for(ok, timeout=timeout, step=0.2):
            shot = self.screenshot("failed-%s.png" % "".join(
                c if c.isalnum() else "-" for c in what)[:60])
            pytest.fail("%s (last: %r; banner: %r; screenshot: %s)" % (
                what, last[0], self.text("banner"), shot))
        return last[0]

    def visible(self, id_):
        return self.el(id_).is_displayed()

    def text(self, id_):
        return self.js("return document.getElementById(arguments[0]).textContent", id_).strip()

    def fill(self, id_, value):
        e = self.el(id_)
        e.clear()
        e.send_keys(value)

    def click(self, id_):
        self.el(id_).click()

    def click_row(self, method):
        """Click the first statistics row of that method (the table is rebuilt every second:
        a row found may be replaced before the click lands, then it is found again)."""
        xpath = "//tbody[@id='stats-body']/tr[td[1]='%s']" % method
        for _ in range(20):
            try:
                self.d.find_element(By.XPATH, xpath).click()
                return
            except StaleElementReferenceException:
                time.sleep(0.1)
        pytest.fail("could not click a %s row" % method)

    def tab(self, name):
        self.d.find_element(By.CSS_SELECTOR, "#tabs button[data-tab='%s']" % name).click()

    def rows(self):
        """The statistics table's rows (Aggregated apart), as the text of their cells."""
        return self.js("return Array.from(document.querySelectorAll('#stats-body tr[data-i]'),"
                       " tr => Array.from(tr.cells, c => c.textContent))")

    def aggregated(self):
        return self.js("const tr = document.querySelector('#stats-foot tr');"
                       "return tr ? Array.from(tr.cells, c => c.textContent) : null")

    def columns(self):
        return self.js("return Array.from(document.querySelectorAll('#stats-head th'),"
                       " th => th.textContent)")

    def cell(self, row, label):
        return row[self.columns().index(label)]

    def chart(self, name):
        """{t0, key, datasets: [{label, data: [{x, y}]}]} of one of the page's charts."""
        return self.js("const c = window.herdCharts, ch = c[arguments[0]];"
                       "return {t0: c.t0, key: c.key, datasets: ch.data.datasets.map("
                       "d => ({label: d.label, data: d.data}))}", name)

    def js_errors(self):
        return [e for e in self.d.get_log("browser")
                if e["level"] == "SEVERE" and e.get("source") == "javascript"]

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        assert self.d.save_screenshot(path), path
        return path


def agg_requests(page):
    agg = page.aggregated()
    return int(page.cell(agg, "# Requests")) if agg else 0


def start_from_form(page, users, rate):
    page.wait(lambda: page.visible("start-form"), "the start form is shown")
    page.fill("f-users", str(users))
    page.fill("f-rate", str(rate))
    page.wait(lambda: page.el("f-start").is_enabled(), "Start is enabled")
    page.click("f-start")
    page.wait(lambda: page.visible("main") and not page.visible("start"),
              "the page leaves the form for the test")


def wait_history(web, rows):
    assert wait_for(lambda: len(web.json("/api/history")["history"]) >= rows, timeout=30), \
        "fewer than %d seconds of history" % rows
    return web.json("/api/history")["history"]


def check_charts_from_second_0(page, web, min_points):
    """The charts hold the test's history from its first second: the same first second as
    the master's, at x = 0, and every second since (the last ones may still arrive)."""
    page.tab("charts")
    hist = web.json("/api/history")["history"]
    rps = page.wait(lambda: (lambda c: c if len(c["datasets"][0]["data"]) >= max(
        min_points, len(hist) - 2) else None)(page.chart("rps")), "the charts fill")
    assert rps["t0"] == hist[0]["time"], (rps["t0"], hist[0])
    data = rps["datasets"][0]["data"]
    assert data[0]["x"] == 0
    # the chart may have seconds newer than the history read above, or lag it by one:
    # compare the seconds both have
    hist = web.json("/api/history")["history"]
    n = min(len(data), len(hist))
    assert n >= min_points, (data, hist)
    assert [p["x"] for p in data[:n]] == [h["time"] - hist[0]["time"] for h in hist[:n]]
    assert [p["y"] for p in data[:n]] == [h["current_rps"] for h in hist[:n]]
    return rps


def test_page_drives_a_test(procs, browser):
    svc = start_services(procs)
    web = start_web(procs, ["-f", AUTH, "-H", svc.url("profile"), "--stop-timeout", "5s"])
    page = Page(browser)
    browser.get(web.base + "/")

    # The form, pre-filled with the command line's host; a test of 4 users.
    page.wait(lambda: page.visible("start-form"), "the start form is shown")
    assert page.el("f-host").get_attribute("value") == svc.url("profile")
    assert page.text("h-state") == "ready"
    start_from_form(page, 4, 4)

    # The statistics table fills: a row per request name, Locust's columns and ours.
    page.wait(lambda: len(page.rows()) == 2 and agg_requests(page) > 0, "the table fills")
    assert page.columns() == ["Type", "Name", "# Requests", "# Fails", "Median", "90%ile",
                              "95%ile", "99%ile", "Average", "Min", "Max", "Avg size",
                              "Current RPS", "Current failures/s"]
    assert sorted((r[0], r[1]) for r in page.rows()) == [("GET", "/players/[playerUUID]"),
                                                          ("POST", "/players")]
    page.wait(lambda: page.text("h-state") == "running" and page.text("h-users") == "4",
              "the header shows the test running with its 4 users")

    # The charts have data, from the test's second 0.
    wait_history(web, 3)
    rps = check_charts_from_second_0(page, web, 3)
    assert max(p["y"] for p in rps["datasets"][0]["data"]) > 0
    times = page.chart("times")
    assert [d["label"] for d in times["datasets"]] == ["Median", "95th percentile",
                                                       "99th percentile"]
    assert any(p["y"] for p in times["datasets"][1]["data"])
    assert max(p["y"] for p in page.chart("users")["datasets"][0]["data"]) >= 1
    # the events carry the new seconds: the whole history is not fetched again and again
    refetches = page.js("return performance.getEntriesByType('resource')"
                        ".filter(e => new URL(e.name).pathname.endsWith('/api/history')).length")
    assert refetches <= 1, refetches

    # A row's own charts, and back to Aggregated.
    page.tab("stats")
    page.click_row("POST")
    page.wait(lambda: page.text("charts-title") == "POST /players"
              and page.chart("rps")["key"] == "POST /players"
              and len(page.chart("rps")["datasets"][0]["data"]) >= 3, "the row's charts")
    # the chart's first seconds are the row's history (the page may be a second behind the
    # history: compare the seconds both have)
    own = web.json("/api/history?method=POST&name=/players")["history"]
    shown = page.chart("rps")["datasets"][0]["data"]
    n = min(len(shown), len(own), 3)
    assert n >= 2, (shown, own)
    assert [p["y"] for p in shown[:n]] == [h["current_rps"] for h in own[:n]]
    page.click("charts-back")
    page.wait(lambda: page.chart("rps")["key"] is None and page.text("charts-title") == "Aggregated",
              "back to the Aggregated charts")

    # Edit: 8 users; the header and the workers follow.
    page.click("btn-edit")
    page.wait(lambda: page.visible("edit-dialog"), "the Edit dialog opens")
    page.fill("e-users", "8")
    page.fill("e-rate", "8")
    page.click("e-apply")
    page.wait(lambda: not page.visible("edit-dialog"), "the Edit dialog closes")
    page.wait(lambda: page.text("h-users") == "8", "the header shows 8 users")
    page.tab("workers")
    page.wait(lambda: sum(int(u) for u in page.js(
        "return Array.from(document.querySelectorAll('#workers-table tbody tr'),"
        " tr => tr.cells[3].textContent)")) == 8, "the workers' users add up to 8")

    worker = page.js("return Array.from(document.querySelectorAll('#workers-table tbody tr')[0]"
                     ".cells, c => c.textContent)")
    assert worker[2] == "running" and worker[5].endswith("MiB"), worker   # state, memory

    # The other tabs: the master's log lines, the task ratio, no failures.
    page.tab("logs")
    page.wait(lambda: "Ramping to 4 users" in page.text("logs")
              and "Changing to 8 users" in page.text("logs"), "the master's log lines")
    page.tab("ratio")
    ratio = page.text("ratio")
    assert "AuthenticationLoad" in ratio and "16.7%createPlayer" in ratio.replace(" ", "") \
        and "83.3%getPlayer" in ratio.replace(" ", ""), ratio
    page.tab("failures")
    assert page.text("failures-table").endswith("No failures.")

    # A reload mid-run: the charts still start at the test's second 0.
    hist = wait_history(web, 6)
    browser.refresh()
    page.wait(lambda: page.visible("main"), "the page is back")
    check_charts_from_second_0(page, web, len(hist))
    page.wait(lambda: max(p["y"] for p in page.chart("users")["datasets"][0]["data"]) == 8,
              "the users chart shows the edit")
    page.screenshot("web-ui-charts.png")
    if os.environ.get("HERD_README_SCREENSHOT") == "1":
        assert browser.save_screenshot(README_SCREENSHOT)
    page.tab("stats")
    page.screenshot("web-ui-statistics.png")

    # Stop: the final table counts what the services answered (the stop timeout lets every
    # user finish its task: nothing is in flight).
    page.click("btn-stop")
    page.wait(lambda: page.text("h-state") == "stopped", "the test stops", timeout=30)
    doc = web.state()
    agg = doc["stats"][-1]
    assert agg["num_interrupted"] == 0
    page.wait(lambda: agg_requests(page) == agg["num_requests"], "the final table")
    assert agg_requests(page) == svc.total() - SETUP_REQUESTS > 0
    shown = {(r[0], r[1]): int(page.cell(r, "# Requests")) for r in page.rows()}
    assert shown == {(e["method"], e["name"]): e["num_requests"] for e in doc["stats"][:-1]}
    # sub-millisecond times keep their digits (loopback answers in well under 1 ms)
    median = page.cell(page.aggregated(), "Median")
    assert median != "0" and float(median) == pytest.approx(agg["median_response_time"],
                                                            rel=0.01, abs=0.001), median

    # Download the statistics CSV: what /stats/requests says.
    page.tab("download")
    browser.find_element(By.CSS_SELECTOR, "a[href='stats/requests/csv']").click()

    def downloaded():
        # Chromium makes an empty file of the final name at once and writes NAME.crdownload,
        # renamed over it when complete: done when no .crdownload is left and the file has bytes
        # (and its own hidden temporary files come and go: not looked at)
        files = [f for f in os.listdir(browser.downloads) if not f.startswith(".")]
        if any(f.endswith(".crdownload") for f in files):
            return None
        for f in files:
            try:
                if os.path.getsize(os.path.join(browser.downloads, f)) > 0:
                    return f
            except FileNotFoundError:   # renamed meanwhile: the next look sees it
                pass
        return None
    name = page.wait(downloaded, "the CSV is downloaded")
    with open(os.path.join(browser.downloads, name), newline="") as f:
        rows = list(csv.DictReader(f))
    locust = web.json("/stats/requests")
    assert [(r["Type"], r["Name"], int(r["Request Count"]), int(r["Failure Count"]))
            for r in rows] == [(e["method"] or "", e["name"], e["num_requests"],
                                e["num_failures"]) for e in locust["stats"]]
    assert int(rows[-1]["Request Count"]) == agg["num_requests"]

    # The HTML report of the test is the same page, with the test's figures.
    browser.get(web.base + "/stats/report")
    page.wait(lambda: len(page.rows()) == 2, "the report's table")
    assert agg_requests(page) == agg["num_requests"]
    assert not page.visible("actions") and page.text("h-state") == "stopped"

    # Reset stats: the table starts again from 0.
    browser.get(web.base + "/")
    page.wait(lambda: page.visible("main") and agg_requests(page) > 0, "the page is back")
    page.tab("stats")
    page.click("btn-reset")
    page.wait(lambda: agg_requests(page) == 0, "the table is reset")

    # New test: the form again, with the last test's figures; back to the last test.
    page.click("btn-new")
    page.wait(lambda: page.visible("start-form") and not page.visible("main"), "the form")
    assert page.el("f-host").get_attribute("value") == svc.url("profile")
    page.click("f-cancel")
    page.wait(lambda: page.visible("main") and not page.visible("start"), "the last test")
    assert page.js_errors() == []


def test_bad_input_is_shown_and_nothing_starts(procs, browser):
    svc = start_services(procs)
    web = start_web(procs, ["-f", AUTH, "-H", svc.url("profile")])
    page = Page(browser)
    browser.get(web.base + "/")
    for users, rate, field in [("abc", "1", "user_count"), ("2", "-1", "spawn_rate")]:
        page.wait(lambda: page.visible("start-form") and page.el("f-start").is_enabled(),
                  "the form is ready")
        page.fill("f-users", users)
        page.fill("f-rate", rate)
        page.click("f-start")
        message = page.wait(lambda: page.visible("start-error") and page.text("start-error"),
                            "the API's message is shown in the form")
        assert field in message, message
        status, _, body = web.request("/api/start", {"user_count": users, "spawn_rate": rate})
        assert status == 400 and field in body.decode()
    time.sleep(1.5)
    assert web.state()["state"] == "ready"
    assert page.visible("start-form") and not page.visible("main")
    assert svc.total() == 0
    assert page.js_errors() == []


def test_seed_command_line(procs, browser):
    """herd-master --web-port PORT -f scenarios/authentication_server.yaml, the page at
    http://localhost:PORT, a test started from the form with what it proposes."""
    svc = start_services(procs)
    port = free_port()
    proc = procs.start([MASTER, "--web-port", str(port), "-f",
                        "scenarios/authentication_server.yaml", "-H", svc.url("profile")],
                       cwd=ROOT)
    web = Web(proc, "http://127.0.0.1:%d" % port)
    assert wait_for(lambda: proc.poll() is None and _answers(web), timeout=20), \
        "the web UI did not come up"
    page = Page(browser)
    browser.get("http://localhost:%d" % port)
    page.wait(lambda: page.visible("start-form"), "the start form is shown")
    assert page.el("f-users").get_attribute("value") == "1"
    page.wait(lambda: page.el("f-start").is_enabled(), "Start waits for the local worker")
    page.click("f-start")
    page.wait(lambda: len(page.rows()) == 2 and agg_requests(page) > 0, "the table fills")
    assert "authentication_server.yaml" in page.text("scenario")
    page.click("btn-stop")
    page.wait(lambda: page.text("h-state") == "stopped", "the test stops")
    assert page.js_errors() == []


def test_start_waits_for_the_expected_workers(procs, browser):
    svc = start_services(procs)
    master_port = free_port()
    web = start_web(procs, ["-f", AUTH, "-H", svc.url("profile"), "--expect-workers", "1",
                            "--master-bind-host", "127.0.0.1", "--master-bind-port",
                            str(master_port)], workers=False)
    page = Page(browser)
    browser.get(web.base + "/")
    page.wait(lambda: page.visible("start-wait"), "the form says what Start waits for")
    assert page.text("start-wait") == "Waiting for workers: 0 of 1 connected."
    assert not page.el("f-start").is_enabled()
    procs.start([WORKER, "--master-host", "127.0.0.1", "--master-port", str(master_port)])
    page.wait(lambda: page.el("f-start").is_enabled() and not page.visible("start-wait"),
              "Start is enabled once the worker is connected")
    assert page.text("h-workers") == "1"
    assert page.js_errors() == []


def test_polling_when_events_fail(procs, browser):
    """A browser (or a proxy) where Server-Sent Events keep failing: the page polls
    /api/state instead, and still follows the test."""
    svc = start_services(procs)
    web = start_web(procs, ["-f", AUTH, "-H", svc.url("profile")])
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.EventSource = function () {
          var es = this, n = 0;
          es.readyState = 0;
          es.close = function () { es.readyState = 2; };
          es.addEventListener = function () {};
          var t = setInterval(function () { if (es.onerror) es.onerror(); if (++n >= 3) clearInterval(t); }, 50);
        };
        window.EventSource.CLOSED = 2;"""})
    page = Page(browser)
    browser.get(web.base + "/")
    start_from_form(page, 2, 2)
    page.wait(lambda: "polling every 2 s" in page.text("foot"), "the page polls")
    first = page.wait(lambda: agg_requests(page), "the table fills")
    page.wait(lambda: agg_requests(page) > first, "the table follows the test")
    page.click("btn-stop")
    page.wait(lambda: page.text("h-state") == "stopped", "the test stops")
    assert page.js_errors() == []


def _answers(web):
    try:
        return web.request("/api/state")[0] == 200
    except OSError:
        return False


MANY = 1000


def test_a_thousand_rows_stay_usable(procs, browser, tmp_path, http_server):
    # one name is markup: it must show as text, and never run
    names = ["/r/%d" % i for i in range(MANY - 1)] + ['<img src=x onerror="window.pwned=1">']
    steps = "".join("          - get: /\n            name: '%s'\n" % n for n in names)
    f = write(tmp_path, "many.yaml",
              "users:\n  - name: Many\n    tasks:\n      - name: all\n        steps:\n" + steps)
    web = start_web(procs, ["-f", f, "-H", http_server.url])
    page = Page(browser)
    browser.get(web.base + "/")
    start_from_form(page, 2, 2)
    page.wait(lambda: page.text("stats-shown") == "%d rows" % MANY, "every row is counted",
              timeout=60)
    # Only the rows in view are in the table (with a margin): an update costs what a hundred
    # rows do. Scrolling brings the others.
    shown = len(page.rows())
    assert 10 < shown < 200, shown
    renders = []
    for _ in range(4):
        time.sleep(1.1)
        renders.append(page.js("return window.herdStatsRenderMs"))
    assert min(renders) < 100, renders
    page.js("const w = document.getElementById('stats-wrap'); w.scrollTop = w.scrollHeight")
    page.wait(lambda: page.js("const r = document.querySelectorAll('#stats-body tr[data-i]');"
                              "return +r[r.length - 1].dataset.i") == MANY - 1,
              "the last row comes into view")
    page.click("btn-stop")
    page.wait(lambda: page.text("h-state") == "stopped", "the test stops", timeout=60)

    # Sorted by # Requests, most first (ties in the document's order), from top to bottom.
    doc = web.state()
    want = [(e["method"], e["name"], e["num_requests"]) for e in doc["stats"][:-1]]
    want = sorted(want, key=lambda e: -e[2])   # Python's sort is stable, as the page's
    page.wait(lambda: agg_requests(page) == doc["stats"][-1]["num_requests"], "the final table")
    page.d.find_element(By.CSS_SELECTOR, "#stats-head th[data-key='num_requests']").click()

    def window():
        return [(r[0], r[1], int(page.cell(r, "# Requests"))) for r in page.rows()]
    page.js("document.getElementById('stats-wrap').scrollTop = 0")
    page.wait(lambda: window() and window() == want[:len(window())], "the top of the sorted table")
    page.js("const w = document.getElementById('stats-wrap'); w.scrollTop = w.scrollHeight")
    page.wait(lambda: window() and window() == want[-len(window()):],
              "the bottom of the sorted table")
    assert page.cell(page.aggregated(), "Name") == "Aggregated"   # the total stays apart

    # A filter narrows the table: /r/99 and /r/990 ... /r/998.
    page.fill("stats-filter", "/r/99")
    page.wait(lambda: len(page.rows()) == 10, "the filter keeps 10 rows")
    assert page.text("stats-shown") == "10 of %d rows" % MANY
    page.fill("stats-filter", "onerror")
    page.wait(lambda: [r[1] for r in page.rows()] == [names[-1]], "the markup row, as text")
    assert page.js("return document.querySelectorAll('#stats-body img').length") == 0
    assert page.js("return window.pwned") is None
    assert page.js_errors() == []


def test_html_report_is_the_page_offline(tmp_path, procs, browser):
    """--html writes the page with the run inlined: opened from the file, with nothing to
    fetch, it shows the tables and the charts of the run, and no controls."""
    svc = start_services(procs)
    out, js = str(tmp_path / "run.html"), str(tmp_path / "run.json")
    r = run_master(["-f", AUTH, "-H", svc.url("profile"), "--headless", "-u", "2", "-r", "2",
                    "-t", "4s", "--stop-timeout", "5s", "--html", out, "--json", js])
    assert r.returncode == 0, r.stderr
    doc = json.load(open(js))
    page = Page(browser)
    browser.get("file://" + out)
    page.wait(lambda: len(page.rows()) == 2, "the report's table")
    assert agg_requests(page) == doc["stats"][-1]["num_requests"] == svc.total() - SETUP_REQUESTS
    assert page.text("h-state") == "stopped"
    assert not page.visible("start") and not page.visible("actions")
    assert not page.d.find_element(By.CSS_SELECTOR, "#tabs button[data-tab='download']").is_displayed()
    assert page.js("return performance.getEntriesByType('resource').length") == 0
    # its charts: the whole history, and a row's own from the report
    page.tab("charts")
    rps = page.wait(lambda: (lambda c: c if c["datasets"][0]["data"] else None)(
        page.chart("rps")), "the report's charts")
    assert rps["t0"] == doc["history"][0]["time"]
    assert [p["y"] for p in rps["datasets"][0]["data"]] == [h["current_rps"]
                                                           for h in doc["history"]]
    page.screenshot("report-charts.png")
    page.tab("stats")
    page.click_row("GET")
    page.wait(lambda: page.chart("rps")["key"] == "GET /players/[playerUUID]"
              and page.chart("rps")["datasets"][0]["data"], "the row's charts from the report")
    # the dark theme follows the system's
    page.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {
        "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    page.wait(lambda: page.js("return getComputedStyle(document.body).backgroundColor")
              == "rgb(13, 17, 23)", "a dark background")
    page.tab("stats")
    page.screenshot("report-statistics-dark.png")
    page.tab("charts")
    page.wait(lambda: page.js("return herdCharts.rps.options.scales.x.grid.color") == "#30363d",
              "dark charts")
    page.screenshot("report-charts-dark.png")
    assert page.js_errors() == []
