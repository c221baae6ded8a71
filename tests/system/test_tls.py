"""https:// against a real nginx with certificates from a CA the test makes with openssl:
through the native transport and through libcurl (HERD_TRANSPORT=curl), with the CA
trusted (tls: {ca:}, --tls-ca, SSL_CERT_FILE), untrusted (libcurl's failure), skipped
(insecure, with its warning), a client certificate (ssl_verify_client on), session
resumption on reconnects ($ssl_session_reused), and the minimum version. Counts are checked
against nginx's own access log.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest

from conftest import MASTER, WORKER, aggregated, free_port, write

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not os.path.exists(NGINX) or not shutil.which("openssl"),
                                reason="needs nginx-light and openssl (make deps)")

TRANSPORTS = ["native", "curl"]
UNTRUSTED = "SSL peer certificate or SSH remote key was not OK"   # curl_easy_strerror(60)


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_ca(d, name):
    key, pem = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", key, "-out", pem, "-days", "2", "-subj", "/CN=herd test " + name)
    return key, pem


def make_cert(d, name, ca_key, ca_pem, ext):
    key, csr, pem = (os.path.join(d, name + x) for x in (".key", ".csr", ".pem"))
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write(ext + "\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=" + name)
    openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
            "-out", pem, "-days", "2", "-extfile", extfile)
    return pem, key


class Nginx:
    """One nginx, four TLS servers: plain (few requests per connection, so users
    reconnect), client-certificate, TLS 1.2 only, and one whose certificate (from the
    trusted CA) names another host; each with its own access log."""

    def __init__(self, d):
        self.dir = d
        ca_key, self.ca = make_ca(d, "ca")
        self.srv_cert, self.srv_key = make_cert(d, "srv", ca_key, self.ca,
                                                "subjectAltName=IP:127.0.0.1,DNS:localhost")
        cca_key, self.client_ca = make_ca(d, "clientca")
        self.client_cert, self.client_key = make_cert(d, "client", cca_key, self.client_ca,
                                                      "extendedKeyUsage=clientAuth")
        _, self.other_ca = make_ca(d, "otherca")
        wrong_cert, wrong_key = make_cert(d, "wrong", ca_key, self.ca,
                                          "subjectAltName=DNS:elsewhere.invalid")
        self.ports = {k: free_port() for k in ("plain", "mtls", "tls12", "wrongname", "h2")}
        conf = os.path.join(d, "nginx.conf")
        servers = ""
        extra = {
            "plain": "keepalive_requests 5; ssl_protocols TLSv1.2 TLSv1.3;",
            "mtls": "ssl_verify_client on; ssl_client_certificate %s; "
                    "ssl_protocols TLSv1.2 TLSv1.3;" % self.client_ca,
            "tls12": "ssl_protocols TLSv1.2;",
            "wrongname": "",
            "h2": "keepalive_requests 100000000;",   # nginx closes nothing on its own
        }
        for name, port in self.ports.items():
            servers += """
    server {
        listen 127.0.0.1:%d ssl%s;
        ssl_certificate %s;
        ssl_certificate_key %s;
        ssl_session_cache shared:%s:1m;
        access_log %s/%s.log reqs;
        %s
        location / { default_type text/plain; return 200 'ok'; }
    }""" % (port, " http2" if name == "h2" else "",
            wrong_cert if name == "wrongname" else self.srv_cert,
            wrong_key if name == "wrongname" else self.srv_key, name, d, name, extra[name])
        with open(conf, "w") as f:
            f.write("""
daemon off;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 1024; }
http {
    log_format reqs '$ssl_session_reused $status $request_method $uri $ssl_protocol '
                    '$ssl_server_name $server_protocol $connection';
    client_body_temp_path %(d)s;
    proxy_temp_path %(d)s;
    fastcgi_temp_path %(d)s;
    uwsgi_temp_path %(d)s;
    scgi_temp_path %(d)s;
    %(servers)s
}
""" % {"d": d, "servers": servers})
        self.proc = subprocess.Popen([NGINX, "-c", conf, "-p", d], stderr=subprocess.PIPE,
                                     start_new_session=True)
        for port in self.ports.values():
            for _ in range(200):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if self.proc.poll() is not None:
                        raise RuntimeError("nginx: " + self.proc.stderr.read().decode())
                    time.sleep(0.05)

    def url(self, name):
        return "https://127.0.0.1:%d" % self.ports[name]

    def log(self, name, path):
        """Access log lines (reused, status, method, uri, TLS protocol, SNI, HTTP protocol,
        connection number) of requests for path."""
        with open(os.path.join(self.dir, name + ".log")) as f:
            lines = [l.split() for l in f]
        return [l for l in lines if len(l) >= 4 and l[3] == path]

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    n = Nginx(str(tmp_path_factory.mktemp("tls")))
    try:
        yield n
    finally:
        n.stop()


def env_for(transport, **extra):
    """The environment without the CA variables this machine may set (so only what the test
    gives is trusted), with the transport chosen."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR", "HERD_TRANSPORT",
                        "HERD_TLS_CA", "HERD_INSECURE")}
    if transport == "curl":
        env["HERD_TRANSPORT"] = "curl"
    env.update(extra)
    return env


def scenario(tmp_path, path, tls=None):
    """A one-step scenario requesting a path unique to the test; tls is the class's `tls:`
    mapping as YAML flow text."""
    text = "users:\n  - name: U\n"
    if tls:
        text += "    tls: %s\n" % tls
    text += "    tasks:\n      - name: t\n        steps:\n          - get: %s\n" % path
    return write(tmp_path, "s.yaml", text)


def run(f, host, env, *args, users=3, seconds=2):
    # -s: users finish the request they are in, so every request nginx logs is counted.
    r = subprocess.run([MASTER, "-f", f, "-H", host, "--headless", "-u", str(users), "-r", "100",
                        "-t", "%ds" % seconds, "-s", "10s", "--only-summary"] + list(args),
                       capture_output=True, text=True, timeout=90, env=env)
    return r


def unique_path():
    return "/t-" + uuid.uuid4().hex[:12]


def assert_all_served(nginx, server, path, r):
    assert r.returncode == 0, r.stdout + r.stderr
    reqs, fails = aggregated(r.stdout)
    assert fails == 0, r.stdout
    assert reqs > 0
    assert "still in flight" not in r.stdout
    served = [l for l in nginx.log(server, path) if l[1] == "200"]
    assert reqs == len(served), (reqs, len(served))
    return served


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_scenario_ca_trusted_counts_equal_nginx(nginx, tmp_path, transport):
    shutil.copy(nginx.ca, tmp_path / "my-ca.pem")
    path = unique_path()
    f = scenario(tmp_path, path, "{ca: my-ca.pem}")    # relative to the scenario's folder
    r = run(f, nginx.url("plain"), env_for(transport))
    served = assert_all_served(nginx, "plain", path, r)
    assert all(l[4] == "TLSv1.3" for l in served)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_host_name_and_sni(nginx, tmp_path, transport):
    # A name: sent as SNI and checked against the certificate's DNS name; an IP address:
    # checked against its IP entry, no SNI (as curl).
    path = unique_path()
    f = scenario(tmp_path, path)
    r = run(f, "https://localhost:%d" % nginx.ports["plain"], env_for(transport),
            "--tls-ca", nginx.ca)
    served = assert_all_served(nginx, "plain", path, r)
    assert all(l[5] == "localhost" for l in served), served[:3]
    path = unique_path()
    f = scenario(tmp_path, path)
    served = assert_all_served(nginx, "plain", path, run(f, nginx.url("plain"),
                                                         env_for(transport), "--tls-ca", nginx.ca))
    assert all(l[5] == "-" for l in served), served[:3]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_tls_ca_flag_and_environment(nginx, tmp_path, transport):
    path = unique_path()
    f = scenario(tmp_path, path)
    assert_all_served(nginx, "plain", path,
                      run(f, nginx.url("plain"), env_for(transport), "--tls-ca", nginx.ca))
    path = unique_path()
    f = scenario(tmp_path, path)
    assert_all_served(nginx, "plain", path,
                      run(f, nginx.url("plain"), env_for(transport, HERD_TLS_CA=nginx.ca)))
    # As curl's tool: SSL_CERT_FILE, and CURL_CA_BUNDLE before it.
    path = unique_path()
    f = scenario(tmp_path, path)
    assert_all_served(nginx, "plain", path,
                      run(f, nginx.url("plain"), env_for(transport, SSL_CERT_FILE=nginx.ca)))
    path = unique_path()
    f = scenario(tmp_path, path)
    assert_all_served(nginx, "plain", path,
                      run(f, nginx.url("plain"),
                          env_for(transport, CURL_CA_BUNDLE=nginx.ca,
                                  SSL_CERT_FILE=nginx.other_ca)))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_untrusted_certificate_fails_as_curl_does(nginx, tmp_path, transport):
    path = unique_path()
    # Trusting another CA, and trusting only the system's: both refuse nginx's certificate.
    for args in (["--tls-ca", nginx.other_ca], []):
        f = scenario(tmp_path, path)
        r = run(f, nginx.url("plain"), env_for(transport), *args, users=1, seconds=1)
        assert r.returncode == 1, r.stdout + r.stderr
        reqs, fails = aggregated(r.stdout)
        assert reqs > 0 and fails == reqs
        assert "GET %s: %s" % (path, UNTRUSTED) in r.stdout
    assert nginx.log("plain", path) == []      # no request got through
    # The same words as curl's for its exit code 60.
    c = subprocess.run(["curl", "-sS", "--cacert", nginx.other_ca, nginx.url("plain") + path],
                       capture_output=True, text=True, env=env_for("curl"))
    assert c.returncode == 60, c.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_certificate_for_another_host_fails(nginx, tmp_path, transport):
    path = unique_path()
    f = scenario(tmp_path, path)
    r = run(f, nginx.url("wrongname"), env_for(transport), "--tls-ca", nginx.ca, users=1,
            seconds=1)
    reqs, fails = aggregated(r.stdout)
    assert reqs > 0 and fails == reqs
    assert "GET %s: %s" % (path, UNTRUSTED) in r.stdout
    assert nginx.log("wrongname", path) == []
    # --insecure skips the name check too
    r = run(f, nginx.url("wrongname"), env_for(transport), "--insecure")
    assert_all_served(nginx, "wrongname", path, r)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_insecure_passes_and_warns(nginx, tmp_path, transport):
    path = unique_path()
    f = scenario(tmp_path, path)
    r = run(f, nginx.url("plain"), env_for(transport), "--insecure")
    assert_all_served(nginx, "plain", path, r)
    assert "TLS verification is off (--insecure)" in r.stderr
    assert "Insecure: TLS verification was off (--insecure)" in r.stdout
    path = unique_path()
    f = scenario(tmp_path, path, "{insecure: true}")
    r = run(f, nginx.url("plain"), env_for(transport))
    assert_all_served(nginx, "plain", path, r)
    assert "Insecure: TLS verification was off (tls: {insecure: true} in class U)" in r.stdout
    path = unique_path()
    f = scenario(tmp_path, path)
    r = run(f, nginx.url("plain"), env_for(transport, HERD_INSECURE="1"))
    assert_all_served(nginx, "plain", path, r)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_client_certificate(nginx, tmp_path, transport):
    shutil.copy(nginx.client_cert, tmp_path / "me.pem")
    shutil.copy(nginx.client_key, tmp_path / "me.key")
    path = unique_path()
    f = scenario(tmp_path, path, "{cert: me.pem, key: me.key}")
    r = run(f, nginx.url("mtls"), env_for(transport), "--tls-ca", nginx.ca)
    assert_all_served(nginx, "mtls", path, r)
    # Without it, nginx answers 400 "No required SSL certificate was sent".
    path = unique_path()
    f = scenario(tmp_path, path)
    r = run(f, nginx.url("mtls"), env_for(transport), "--tls-ca", nginx.ca, users=1, seconds=1)
    reqs, fails = aggregated(r.stdout)
    assert reqs > 0 and fails == reqs
    assert [l[1] for l in nginx.log("mtls", path)] == ["400"] * reqs


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reconnects_resume_the_session(nginx, tmp_path, transport):
    path = unique_path()
    f = scenario(tmp_path, path)
    # nginx closes each connection after 5 requests: users reconnect many times.
    r = run(f, nginx.url("plain"), env_for(transport), "--tls-ca", nginx.ca, users=2)
    served = assert_all_served(nginx, "plain", path, r)
    assert len(served) >= 50
    # Each request says whether its connection's handshake resumed a session ("r"): every
    # connection but each user's first (5 requests) and a few after a failed resumption.
    fresh = [l for l in served if l[0] != "r"]
    assert len(fresh) <= 5 * 2 + 20, (len(fresh), len(served))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_min_version(nginx, tmp_path, transport):
    shutil.copy(nginx.ca, tmp_path / "ca.pem")
    path = unique_path()
    f = scenario(tmp_path, path, '{ca: ca.pem, min_version: "1.2"}')
    served = assert_all_served(nginx, "tls12", path, run(f, nginx.url("tls12"),
                                                         env_for(transport)))
    assert all(l[4] == "TLSv1.2" for l in served)
    path = unique_path()
    f = scenario(tmp_path, path, '{ca: ca.pem, min_version: "1.3"}')
    r = run(f, nginx.url("tls12"), env_for(transport), users=1, seconds=1)
    reqs, fails = aggregated(r.stdout)
    assert reqs > 0 and fails == reqs
    assert "GET %s: SSL connect error" % path in r.stdout       # curl_easy_strerror(35)
    assert nginx.log("tls12", path) == []


def test_bad_tls_files_are_load_errors(nginx, tmp_path):
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    shutil.copy(nginx.client_cert, tmp_path / "me.pem")
    shutil.copy(nginx.srv_key, tmp_path / "other.key")
    cases = [
        ("{ca: junk.pem}", r"s\.yaml:3:\d+: 'ca': junk\.pem holds no PEM certificate"),
        ("{ca: missing.pem}", r"s\.yaml:3:\d+: 'ca': .*missing\.pem"),
        ("{cert: me.pem, key: other.key}",
         r"s\.yaml:3:\d+: 'key': other\.key is not the private key of 'cert' me\.pem"),
        ('{min_version: "1.1"}', r"s\.yaml:3:\d+: 'min_version' must be \"1\.2\" or \"1\.3\""),
        ("{verify: false}", r"s\.yaml:3:\d+: unknown key 'verify' in tls"),
    ]
    for tls, want in cases:
        f = scenario(tmp_path, "/", tls)
        r = subprocess.run([MASTER, "-f", f, "-H", nginx.url("plain"), "--headless", "-t", "1s"],
                           capture_output=True, text=True, timeout=30, env=env_for("native"))
        assert r.returncode == 2, (tls, r.stdout + r.stderr)
        assert re.search(want, r.stderr), (tls, r.stderr)
    f = scenario(tmp_path, "/")
    r = subprocess.run([MASTER, "-f", f, "--tls-ca", str(tmp_path / "nope.pem"), "--headless"],
                       capture_output=True, text=True, timeout=30, env=env_for("native"))
    assert r.returncode == 2
    assert "--tls-ca: %s: No such file or directory" % (tmp_path / "nope.pem") in r.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_external_worker_needs_no_files(nginx, tmp_path, procs, transport):
    """The scenario's client certificate and key and the --tls-ca file travel with the
    scenario: a worker started in another folder, where none of those names exist, uses
    them."""
    d = tmp_path / "master-side"
    d.mkdir()
    shutil.copy(nginx.client_cert, d / "me.pem")
    shutil.copy(nginx.client_key, d / "me.key")
    shutil.copy(nginx.ca, d / "ca.pem")
    path = unique_path()
    f = scenario(d, path, "{cert: me.pem, key: me.key}")
    port = free_port()
    env = env_for(transport)
    master = procs.start([MASTER, "-f", f, "-H", nginx.url("mtls"), "--headless", "-u", "2",
                          "-r", "20", "-t", "2s", "-s", "10s", "--only-summary",
                          "--tls-ca", "ca.pem", "--expect-workers", "1",
                          "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)],
                         cwd=str(d), env=env)
    elsewhere = tmp_path / "worker-side"
    elsewhere.mkdir()
    procs.start([WORKER, "--master-port", str(port), "--threads", "1"], cwd=str(elsewhere),
                env=env)
    out, err = master.communicate(timeout=60)
    r = subprocess.CompletedProcess(master.args, master.returncode, out, err)
    assert_all_served(nginx, "mtls", path, r)


def test_http2_over_tls_one_connection_per_user(nginx, tmp_path):
    """http2: true over https goes through libcurl (ALPN h2) with the class's CA: every
    request nginx logs is HTTP/2.0, counts equal, and each user keeps one connection."""
    shutil.copy(nginx.ca, tmp_path / "my-ca.pem")
    path = unique_path()
    f = write(tmp_path, "s.yaml", "users:\n  - name: U\n    http2: true\n"
              "    tls: {ca: my-ca.pem}\n    tasks:\n      - name: t\n        steps:\n"
              "          - get: %s\n" % path)
    r = run(f, nginx.url("h2"), env_for("native"), users=3)
    served = assert_all_served(nginx, "h2", path, r)
    assert all(l[6] == "HTTP/2.0" for l in served), served[:3]
    assert len({l[7] for l in served}) <= 3, len({l[7] for l in served})
