#!/usr/bin/python3
"""make bench: herd beside wrk, a plain libcurl multi loop (curl_loop.c, built here with cc)
and Locust when python3-locust is installed, all against one loopback nginx, in one run,
over http:// and then over https:// (TLS 1.3, keep-alive, a certificate from a CA made here
with the openssl CLI; herd and wrk only). Prints requests, CPU seconds of the load generator (every
process it started, master and workers together), requests per CPU-second and the ratio to
wrk; then the web UI's cost (herd-master's own CPU with 0 and 10 Server-Sent Events clients
during a full-load test) and the paced-users figures.

A benchmark, not a test: it prints figures and never fails on them.
Environment: BENCH_SECONDS (default 10), BENCH_USERS (50), BENCH_PACED_USERS (5000),
BENCH_TLS (1; 0 skips the https rows), BENCH_GAMING (1; 0 skips the five gaming scenarios against herd-sample-services), BENCH_WEB
(1; 0 skips the web UI's figures).
"""
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "bin")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
USERS = int(os.environ.get("BENCH_USERS", "50"))
PACED = int(os.environ.get("BENCH_PACED_USERS", "5000"))
BODY = '{"status":"ok","message":"hello from the herd bench"}'   # 53 bytes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certs(tmp):
    """A CA and a certificate for 127.0.0.1 signed by it; (ca, cert, key) paths."""
    ca_key, ca = os.path.join(tmp, "ca.key"), os.path.join(tmp, "ca.pem")
    key, csr, cert = (os.path.join(tmp, n) for n in ("srv.key", "srv.csr", "srv.pem"))
    ext = os.path.join(tmp, "srv.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run = lambda *a: subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=herd bench CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def start_nginx(tmp):
    """nginx with an http and an https server: (process, http URL, https URL, CA file);
    https is None when the openssl CLI is missing."""
    port, tls_port = free_port(), free_port()
    try:
        ca, cert, key = make_certs(tmp)
    except (OSError, subprocess.CalledProcessError):
        ca = None
    tls_server = ""
    if ca:
        tls_server = """
    server {
        listen 127.0.0.1:%d ssl;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_protocols TLSv1.3;
        ssl_session_cache shared:bench:10m;
        location / { default_type application/json; return 200 '%s'; }
    }""" % (tls_port, cert, key, BODY)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""
daemon off;
worker_processes 1;
pid %(tmp)s/nginx.pid;
error_log stderr warn;
worker_rlimit_nofile 65536;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path %(tmp)s;
    proxy_temp_path %(tmp)s;
    fastcgi_temp_path %(tmp)s;
    uwsgi_temp_path %(tmp)s;
    scgi_temp_path %(tmp)s;
    server {
        listen 127.0.0.1:%(port)d;
        location / { default_type application/json; return 200 '%(body)s'; }
    }%(tls)s
}
""" % {"tmp": tmp, "port": port, "body": BODY, "tls": tls_server})
    p = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stderr=subprocess.PIPE)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return (p, "http://127.0.0.1:%d" % port,
                    "https://127.0.0.1:%d" % tls_port if ca else None, ca)
        except OSError:
            time.sleep(0.05)
    p.kill()
    sys.exit("bench: nginx did not start: %s" % p.stderr.read().decode())


def measured(args, **kw):
    """Run to completion; (stdout+stderr text, CPU seconds of it and its descendants)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return r, cpu


def aggregated(text):
    rows = [l for l in text.splitlines() if l.strip().startswith("Aggregated") and "|" in l]
    if not rows:
        return None
    f = rows[-1].split()
    return int(f[1]), int(f[2].split("(")[0])


def run_wrk(url):
    r, cpu = measured(["wrk", "-t1", "-c%d" % USERS, "-d%ds" % SECONDS, url + "/"])
    m = re.search(r"(\d+) requests in", r.stdout)
    return (int(m.group(1)) if m else 0), cpu, r.stdout


def run_curl_loop(url, tmp):
    """The plain libcurl multi loop (tests/bench/curl_loop.c), compiled here with cc; None
    when it cannot be built."""
    exe = os.path.join(tmp, "curl_loop")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "curl_loop.c")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or subprocess.run([cc, "-O2", "-std=c11", "-D_GNU_SOURCE", src, "-o", exe,
                                 "-lcurl"], capture_output=True).returncode != 0:
        return None
    r, cpu = measured([exe, url + "/", str(USERS), str(SECONDS)])
    m = re.search(r"(\d+) requests", r.stdout)
    return (int(m.group(1)) if m else 0), cpu, r.stdout


def run_herd(url, tmp, threads=None, ca=None, curl=False):
    f = os.path.join(tmp, "one.yaml")
    with open(f, "w") as fh:
        fh.write("users:\n  - name: Bench\n    tasks:\n      - name: get\n        steps:\n"
                 "          - get: /\n")
    args = [os.path.join(BIN, "herd-master"), "-f", f, "-H", url, "--headless",
            "-u", str(USERS), "-r", str(USERS * 100), "-t", "%ds" % SECONDS, "--only-summary"]
    if threads:
        args += ["--worker-threads", str(threads)]
    if ca:
        args += ["--tls-ca", ca]
    env = dict(os.environ)
    if curl:
        env["HERD_TRANSPORT"] = "curl"
    r, cpu = measured(args, env=env)
    agg = aggregated(r.stdout)
    return (agg[0] if agg else 0), cpu, r.stdout + r.stderr


def have_locust():
    return subprocess.run(["/usr/bin/python3", "-c", "import locust"],
                          capture_output=True).returncode == 0


def run_locust(url, tmp, fast):
    f = os.path.join(tmp, "locustfile_%s.py" % ("fast" if fast else "plain"))
    with open(f, "w") as fh:
        if fast:
            fh.write("from locust import task\nfrom locust.contrib.fasthttp import FastHttpUser\n"
                     "class U(FastHttpUser):\n    @task\n    def get(self):\n"
                     "        self.client.get('/')\n")
        else:
            fh.write("from locust import HttpUser, task\nclass U(HttpUser):\n    @task\n"
                     "    def get(self):\n        self.client.get('/')\n")
    r, cpu = measured(["/usr/bin/python3", "-m", "locust", "-f", f, "-H", url, "--headless",
                       "-u", str(USERS), "-r", str(USERS), "-t", "%ds" % SECONDS,
                       "--only-summary"], cwd=tmp)
    agg = aggregated(r.stdout + r.stderr)
    return (agg[0] if agg else 0), cpu, r.stdout + r.stderr


def paced(url, tmp):
    """PACED users, each one task a second: achieved rate, peak RSS per user, spawn time."""
    f = os.path.join(tmp, "paced.yaml")
    with open(f, "w") as fh:
        fh.write("users:\n  - name: Paced\n    wait: {pacing: 1}\n    tasks:\n"
                 "      - name: get\n        steps:\n          - get: /\n")
    secs = max(SECONDS, 10)
    args = [os.path.join(BIN, "herd-master"), "-f", f, "-H", url, "--headless",
            "-u", str(PACED), "-r", str(PACED), "-t", "%ds" % secs, "--only-summary"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_kb = 0
    while p.poll() is None:
        for pid in subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True,
                                  text=True).stdout.split():
            try:
                with open("/proc/%s/status" % pid) as st:
                    m = re.search(r"VmHWM:\s+(\d+) kB", st.read())
                    if m:
                        peak_kb = max(peak_kb, int(m.group(1)))
            except OSError:
                pass
        time.sleep(0.2)
    out, err = p.communicate()
    agg = aggregated(out)
    ramp = re.search(r"\[([\d:-]+ [\d:]+),(\d+)\] master/INFO: Ramping", err)
    done = re.search(r"\[([\d:-]+ [\d:]+),(\d+)\] master/INFO: All users spawned", err)

    def ts(m):
        return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1e3
    spawn = ts(done) - ts(ramp) if ramp and done else float("nan")
    reqs = agg[0] if agg else 0
    # the first second is the ramp: count the rate over the rest
    return reqs, secs, peak_kb, spawn, err


def start_services():
    """herd-sample-services on free ports; returns (process, {service: port})."""
    p = subprocess.Popen([os.path.join(BIN, "herd-sample-services"), "--profile-port", "0",
                          "--matchmaking-port", "0", "--item-port", "0", "--tradepost-port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("herd-sample-services ready"):
        p.kill()
        sys.exit("bench: herd-sample-services did not start: %s" % p.stderr.read())
    return p, {k: int(v) for k, v in (kv.split("=") for kv in line.split()[2:])}


GAMING = [("authentication_server.yaml", "profile", "/players"),
          ("match_server.yaml", "matchmaking", None),
          ("item_generator.yaml", "item", None),
          ("game_server.yaml", "item", "/items"),
          ("trading_server.yaml", "tradepost", None)]
WRK_LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk")


def gaming_wrk(name, service, setup_path, tmp):
    """wrk sending what the scenario sends (tests/bench/wrk/NAME.lua) to a fresh stand-in:
    (requests, CPU s, non-2xx/3xx responses). The ids a scenario's setup step reads are
    fetched here and handed to the script in a file."""
    svc, ports = start_services()
    try:
        base = "http://127.0.0.1:%d" % ports[service]
        args = ["wrk", "-t1", "-c%d" % USERS, "-d%ds" % SECONDS, "-s",
                os.path.join(WRK_LUA, name.replace(".yaml", ".lua")), base + "/"]
        if setup_path:
            with urllib.request.urlopen(base + setup_path, timeout=10) as resp:
                ids = json.loads(resp.read())
            ids_file = os.path.join(tmp, "ids.txt")
            with open(ids_file, "w") as fh:
                fh.write("\n".join(ids) + "\n")
            args += ["--", ids_file]
        r, cpu = measured(args, env=dict(os.environ, HERD_BENCH_LUA=WRK_LUA))
    finally:
        svc.terminate()
        svc.wait()
    m = re.search(r"(\d+) requests in", r.stdout)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return (int(m.group(1)) if m else 0), cpu, int(bad.group(1)) if bad else 0


def gaming(wrk_rate, tmp):
    """Each generator with USERS users against a fresh stand-in: herd's req/CPU-s beside
    wrk's single GET of nginx (the first table's) and beside wrk sending the same requests to
    the same service (tests/bench/wrk/*.lua), which is the like-for-like figure; the last
    column is what that work costs wrk itself against its single GET."""
    print()
    print("gaming scenarios against herd-sample-services, %d users, %d s: herd's CPU (master and "
          "worker), wrk doing the same requests (same service, its Lua script)" % (USERS, SECONDS))
    print("%-24s %9s %7s %10s %6s %9s %9s %10s %14s" % (
        "scenario", "requests", "CPU s", "req/CPU-s", "fails", "wrk same", "x wrk GET",
        "x wrk same", "wrk same/GET"))
    for name, service, setup_path in GAMING:
        svc, ports = start_services()
        try:
            args = [os.path.join(BIN, "herd-master"), "-f", os.path.join(ROOT, "scenarios", name),
                    "-H", "http://127.0.0.1:%d" % ports[service], "--headless", "-u", str(USERS),
                    "-r", str(USERS * 100), "-t", "%ds" % SECONDS, "--only-summary"]
            r, cpu = measured(args)
        finally:
            svc.terminate()
            svc.wait()
        agg = aggregated(r.stdout) or (0, 0)
        rate = agg[0] / cpu if cpu else 0
        same = None
        if shutil.which("wrk"):
            wn, wcpu, _ = gaming_wrk(name, service, setup_path, tmp)
            same = wn / wcpu if wcpu else 0
        print("%-24s %9d %7.2f %10.0f %6d %9s %9.2f %10s %14s" % (
            name.replace(".yaml", ""), agg[0], cpu, rate, agg[1],
            "%.0f" % same if same is not None else "-", rate / wrk_rate if wrk_rate else 0,
            "%.2f" % (rate / same) if same else "-",
            "%.2f" % (same / wrk_rate) if same and wrk_rate else "-"))


def master_cpu_s(pid):
    """CPU seconds of one process (not its children), from /proc."""
    with open("/proc/%d/stat" % pid) as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def web_master_cpu(url, tmp, clients):
    """herd-master serving the web UI, a test of USERS users for SECONDS started with
    --autostart, `clients` browsers' worth of Server-Sent Events readers: (master CPU s,
    events read, requests)."""
    import threading
    import urllib.request
    f = os.path.join(tmp, "one.yaml")
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    p = subprocess.Popen([os.path.join(BIN, "herd-master"), "-f", f, "-H", url, "--autostart",
                          "-u", str(USERS), "-r", str(USERS * 100), "-t", "%ds" % SECONDS,
                          "--web-port", str(port), "--autoquit", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    events = [0] * clients
    stop = threading.Event()

    def reader(k):
        while not stop.is_set():
            try:
                with urllib.request.urlopen(base + "/api/events", timeout=5) as r:
                    for line in r:
                        if line.startswith(b"event: state"):
                            events[k] += 1
                        if stop.is_set():
                            return
            except OSError:
                time.sleep(0.1)
    threads = [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    state, doc = None, {}
    deadline = time.time() + SECONDS + 30
    while time.time() < deadline and state != "stopped":
        time.sleep(0.5)
        try:
            with urllib.request.urlopen(base + "/api/state", timeout=5) as r:
                doc = json.load(r)
                state = doc.get("state")
        except OSError:
            pass
    cpu = master_cpu_s(p.pid) if p.poll() is None else 0.0
    stop.set()
    p.terminate()
    p.communicate(timeout=30)
    reqs = doc.get("stats", [{}])[-1].get("num_requests", 0) if doc.get("stats") else 0
    return cpu, sum(events), reqs


def web_sse(url, tmp):
    print()
    print("web UI: herd-master's own CPU during a %d s test at full load (%d users), "
          "Server-Sent Events clients reading the page's live data" % (SECONDS, USERS))
    print("%-30s %10s %12s %10s %12s" % ("clients", "CPU s", "% of a core", "events",
                                         "requests"))
    rows = []
    for clients in (0, 10):
        cpu, events, reqs = web_master_cpu(url, tmp, clients)
        rows.append(cpu)
        print("%-30s %10.2f %12.2f %10d %12d" % (clients, cpu, 100 * cpu / SECONDS, events,
                                                  reqs))
    print("%-30s %10.2f %12.2f" % ("difference (10 - 0)", rows[1] - rows[0],
                                   100 * (rows[1] - rows[0]) / SECONDS))


def print_rows(rows, wrk_rate):
    print("%-40s %12s %10s %14s %10s" % ("generator", "requests", "CPU s", "req/CPU-s",
                                          "x wrk"))
    for name, n, cpu in rows:
        rate = n / cpu if cpu else 0
        print("%-40s %12d %10.2f %14.0f %10.2f" % (name, n, cpu, rate,
                                                      rate / wrk_rate if wrk_rate else 0))


def main():
    tmp = tempfile.mkdtemp(prefix="herd-bench-")
    nginx, url, tls_url, ca = start_nginx(tmp)
    try:
        print("herd bench: %d s each, %d users / connections, loopback nginx (1 worker), "
              "53-byte JSON, %d cores" % (SECONDS, USERS, os.cpu_count()))
        rows = []
        wrk_n, wrk_cpu, _ = run_wrk(url)
        rows.append(("wrk -t1 -c%d" % USERS, wrk_n, wrk_cpu))
        loop = run_curl_loop(url, tmp)
        if loop:
            rows.append(("plain libcurl multi loop (curl_loop.c)", loop[0], loop[1]))
        else:
            print("(no C compiler or libcurl headers: plain libcurl row skipped)")
        n, cpu, out = run_herd(url, tmp)
        rows.append(("herd (1 local worker, 1 thread/core)", n, cpu))
        n1, cpu1, _ = run_herd(url, tmp, threads=1)
        rows.append(("herd (1 local worker, 1 thread)", n1, cpu1))
        if have_locust():
            for fast in (True, False):
                n, cpu, _ = run_locust(url, tmp, fast)
                rows.append(("Locust %s" % ("FastHttpUser" if fast else "HttpUser"), n, cpu))
        else:
            print("(python3-locust not installed: Locust rows skipped)")
        wrk_rate = wrk_n / wrk_cpu if wrk_cpu else 0
        print_rows(rows, wrk_rate)
        if tls_url and os.environ.get("BENCH_TLS", "1") != "0":
            print()
            print("https:// (TLS 1.3, keep-alive, same nginx)")
            rows = []
            twrk_n, twrk_cpu, _ = run_wrk(tls_url)
            rows.append(("wrk -t1 -c%d" % USERS, twrk_n, twrk_cpu))
            n, cpu, _ = run_herd(tls_url, tmp, ca=ca)
            rows.append(("herd (1 local worker, 1 thread/core)", n, cpu))
            n, cpu, _ = run_herd(tls_url, tmp, threads=1, ca=ca)
            rows.append(("herd (1 local worker, 1 thread)", n, cpu))
            n, cpu, _ = run_herd(tls_url, tmp, ca=ca, curl=True)
            rows.append(("herd through libcurl (HERD_TRANSPORT=curl)", n, cpu))
            print_rows(rows, twrk_n / twrk_cpu if twrk_cpu else 0)
        elif not tls_url:
            print("(no openssl CLI: https rows skipped)")
        if os.environ.get("BENCH_GAMING", "1") != "0":
            gaming(wrk_rate, tmp)
        if os.environ.get("BENCH_WEB", "1") != "0":
            web_sse(url, tmp)
        if PACED:
            reqs, secs, peak_kb, spawn, err = paced(url, tmp)
            print()
            print("paced: %d users, wait {pacing: 1}, %d s" % (PACED, secs))
            print("  achieved rate     %10.0f req/s (target %d)" % (reqs / secs, PACED))
            print("  worker peak RSS   %10.1f MB = %.1f KB per user" %
                  (peak_kb / 1024, peak_kb / PACED if PACED else 0))
            print("  spawn time        %10.2f s for %d users at -r %d" % (spawn, PACED, PACED))
    finally:
        nginx.terminate()
        nginx.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
