"""deploy/k8s: the kustomizations render, and what they render would run.

Both kustomizations (deploy/k8s, the headless Job; deploy/k8s/web-ui, the web UI's
Deployment) are rendered by Debian's kubectl (package kubernetes-client, 1.20: the oldest
kustomize the manifests are written for), fetched with `apt-get download` and unpacked under
build/ once, and by a newer kubectl on PATH when there is one. The rendered objects are then
checked against the programs themselves:

- every container's command and arguments (and its environment's HERD_* values) pass the
  locally built program's --check, with the ConfigMap's files and the Secret herd-keys' (the
  keys the README makes) at the paths they are mounted on and the init containers run first
  (herd-sample-services has no --check: it is started with the same options on free ports);
- the workers' channel is CurveZMQ: the master and the workers take their keys from the
  Secret herd-keys (not optional: without it no pod starts), each only the keys it needs,
  the secret one copied to a file of mode 0600 in memory by an init container;
- the probes ask a path the master serves (/health) on the port it listens on (--web-port);
- the Services' ports are the programs' ports, the workers' --master-host is the master
  Service's name, the scenario's hosts are the sample services' Service;
- pods run as uid 10001, not root, read-only, with no privilege escalation; every container
  asks for CPU and memory and has a memory limit;
- the README's overlay for one's own scenario renders and passes --check;
- herd-master started with the Job's and the Deployment's exact arguments (ports swapped
  for free ones) answers a kubelet's probe, with and without --web-auth;
- and the headless run, run here as the cluster would run it (the Services' names resolved
  to loopback, the run cut short), ends with its summary and exit code 0, a worker without
  keys refused and never registered.

Runs standalone: /usr/bin/python3 -m pytest tests/deploy/test_k8s.py
"""
import base64
import glob
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("HERD_BIN") or os.path.join(ROOT, "bin")
K8S = os.path.join(ROOT, "deploy", "k8s")
KUSTOMIZATIONS = {"headless": K8S, "web-ui": os.path.join(K8S, "web-ui")}
# Debian's kubernetes-client, unpacked once (dpkg -x): not installed, so it cannot clash with
# another kubectl package on the machine.
DEBIAN_DIR = os.path.join(ROOT, "build", "kubernetes-client")
DEBIAN_KUBECTL = os.path.join(DEBIAN_DIR, "usr", "bin", "kubectl")

SECRET = "herd-keys"
MASTER_SERVICE = "herd-master"
SAMPLE_SERVICE = "herd-sample-services"
UID = 10001


# ---- kubectl ---------------------------------------------------------------------------------

def debian_kubectl():
    """build/kubernetes-client/usr/bin/kubectl, downloaded and unpacked the first time."""
    if os.access(DEBIAN_KUBECTL, os.X_OK):
        return DEBIAN_KUBECTL
    os.makedirs(os.path.dirname(DEBIAN_DIR), exist_ok=True)
    work = tempfile.mkdtemp(prefix="kubernetes-client-", dir=os.path.dirname(DEBIAN_DIR))
    try:
        r = subprocess.run(["apt-get", "download", "kubernetes-client"], cwd=work,
                           capture_output=True, text=True, timeout=300)
        debs = glob.glob(os.path.join(work, "kubernetes-client_*.deb"))
        assert r.returncode == 0 and debs, \
            "apt-get download kubernetes-client failed:\n" + r.stdout + r.stderr
        tree = os.path.join(work, "tree")
        subprocess.run(["dpkg", "-x", debs[0], tree], check=True, timeout=300)
        try:
            os.rename(tree, DEBIAN_DIR)   # atomic: a concurrent run finds all of it or nothing
        except OSError:
            if not os.access(DEBIAN_KUBECTL, os.X_OK):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return DEBIAN_KUBECTL


def kubectl_version(kubectl):
    r = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r'(?:GitVersion:"|Client Version: )v?(\d+)\.(\d+)', r.stdout)
    return (int(m.group(1)), int(m.group(2))) if r.returncode == 0 and m else None


def kubectls():
    """("debian", path) always; ("path", kubectl on PATH) when it is another, working one."""
    found = [("debian", None)]
    other = shutil.which("kubectl")
    if other and os.path.realpath(other) != os.path.realpath(DEBIAN_KUBECTL):
        found.append(("path", other))
    return found


KUBECTLS = dict(kubectls())
_renders = {}


def render(which, name):
    """The objects `kubectl kustomize` renders for a kustomization, cached per run."""
    key = (which, name)
    if key not in _renders:
        kubectl = debian_kubectl() if which == "debian" else KUBECTLS[which]
        version = kubectl_version(kubectl)
        if which == "debian":
            assert version == (1, 20), "Debian's kubectl is %s, not 1.20" % (version,)
        elif version is None:
            pytest.skip("%s does not run (kubectl version --client failed)" % kubectl)
        r = subprocess.run([kubectl, "kustomize", KUSTOMIZATIONS[name]], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, "%s kustomize %s:\n%s" % (kubectl, name, r.stderr)
        docs = [d for d in yaml.safe_load_all(r.stdout) if d]
        _renders[key] = docs
    return _renders[key]


CASES = [(k, n) for k in KUBECTLS for n in KUSTOMIZATIONS]
IDS = ["%s-%s" % c for c in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def objs(request):
    return Objects(render(*request.param), request.param[1])


# ---- reading the rendered objects ------------------------------------------------------------

class Objects:
    def __init__(self, docs, name):
        self.docs = docs
        self.name = name

    def of(self, kind, name=None):
        return [d for d in self.docs if d["kind"] == kind and
                (name is None or d["metadata"]["name"] == name)]

    def one(self, kind, name):
        found = self.of(kind, name)
        assert len(found) == 1, "%s/%s: %d rendered" % (kind, name, len(found))
        return found[0]

    def workloads(self):
        """(object, pod spec) of every Deployment and Job."""
        return [(d, d["spec"]["template"]["spec"]) for d in self.docs
                if d["kind"] in ("Deployment", "Job")]

    def master(self):
        kind = "Job" if self.name == "headless" else "Deployment"
        return self.one(kind, "herd-master")

    def configmap(self, name):
        """The ConfigMap a volume names (kustomize's generated name, hash included)."""
        return self.one("ConfigMap", name)


def container(workload, name=None):
    cs = workload["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1
    assert name is None or cs[0]["name"] == name
    return cs[0]


def flags(c):
    """A container's --option=value / --option value arguments as a dict (switches: True)."""
    out = {}
    args = list(c.get("args", []))
    i = 0
    while i < len(args):
        a = args[i]
        assert a.startswith("--"), "argument %r: write options as --option=value" % a
        if "=" in a:
            k, v = a[2:].split("=", 1)
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            k, v = a[2:], args[i + 1]
            i += 1
        else:
            k, v = a[2:], True
        out[k] = v
        i += 1
    return out


def env_values(c):
    """The container's literal environment (valueFrom, a Secret's, left out)."""
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def option(c, name):
    """An option's value as herd would see it: the command line, else HERD_<OPTION>."""
    f = flags(c)
    if name in f:
        return f[name]
    return env_values(c).get("HERD_" + name.upper().replace("-", "_"))


def container_port(c, port):
    """A probe's or Service's port (a number or a container port's name) as a number."""
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError("container %s has no port named %r" % (c["name"], port))


_secrets = {}


def readme_secret_commands():
    """The README's two lines that make the keys and the Secret herd-keys."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    gen = re.findall(r"^herd-master --gen-keys keys && herd-worker --gen-keys keys$", text, re.M)
    create = re.findall(r"^kubectl create secret generic %s --from-file=keys/$" % SECRET, text,
                        re.M)
    assert len(gen) == 1 and len(create) == 1, "README: the Secret's commands are not there"
    return gen[0], create[0]


def secret_data(name):
    """The files of the Secret herd-keys, made by the README's own commands with the built
    programs and Debian's kubectl (its --dry-run=client output: no cluster), once per run."""
    assert name == SECRET, "the pods name a Secret the README does not make: %s" % name
    if name not in _secrets:
        gen, create = readme_secret_commands()
        work = tempfile.mkdtemp(prefix="herd-keys-")
        try:
            path = os.path.join(work, "bin")
            os.mkdir(path)
            os.symlink(debian_kubectl(), os.path.join(path, "kubectl"))
            env = dict(os.environ, PATH=os.pathsep.join([path, BIN, os.environ["PATH"]]),
                       KUBECONFIG=os.path.join(work, "no-cluster"))
            for command in (gen, create + " --dry-run=client -o yaml"):
                r = subprocess.run(["sh", "-ec", command], cwd=work, env=env,
                                   capture_output=True, text=True, timeout=60)
                assert r.returncode == 0, (command, r.stdout, r.stderr)
            secret = yaml.safe_load(r.stdout)
            assert secret["kind"] == "Secret" and secret["metadata"]["name"] == SECRET
            _secrets[name] = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        finally:
            shutil.rmtree(work)
    return _secrets[name]


def public_key(text):
    """The public-key of a key file's text (the ZeroMQ certificate --gen-keys writes)."""
    m = re.search(r'public-key\s*=\s*"(.{40})"', text)
    assert m, text
    return m.group(1)


def pod_volumes(objs, workload, root):
    """Fills the pod's volumes under root/VOLUME as the kubelet would: a ConfigMap's data, a
    Secret's items (mode defaultMode plus the group's read, which fsGroup adds), an emptyDir
    empty. Returns {volume name: local dir}."""
    spec = workload["spec"]["template"]["spec"]
    dirs = {}
    for v in spec.get("volumes", []):
        local = os.path.join(root, v["name"])
        os.makedirs(local, exist_ok=True)
        dirs[v["name"]] = local
        if "configMap" in v:
            source, data = v["configMap"], objs.configmap(v["configMap"]["name"]).get("data", {})
        elif "secret" in v:
            source, data = v["secret"], secret_data(v["secret"]["secretName"])
        else:
            assert set(v) == {"name", "emptyDir"}, v
            continue
        items = source.get("items")
        if items:
            # the kubelet refuses to start a pod whose item names a key the object lacks
            assert all(i["key"] in data for i in items), (v, sorted(data))
            data = {i["path"]: data[i["key"]] for i in items}
        mode = source.get("defaultMode", 0o644)
        if spec.get("securityContext", {}).get("fsGroup") is not None:
            mode |= 0o440
        for path, text in data.items():
            target = os.path.join(local, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w") as f:
                f.write(text)
            os.chmod(target, mode)
    return dirs


def mounts(c, dirs):
    """A container's {mountPath: local dir}."""
    return {m["mountPath"].rstrip("/"): dirs[m["name"]] for m in c.get("volumeMounts", [])}


def localize(value, mapping):
    """A path under a mount as its local copy; in --option=PATH too."""
    if value.startswith("--") and "=" in value:
        k, v = value.split("=", 1)
        return k + "=" + localize(v, mapping)
    for mount, local in mapping.items():
        if value == mount or value.startswith(mount + "/"):
            return local + value[len(mount):]
    return value


def local_command(objs, workload, root):
    """(argv, env) to run a container's command here: the built program, the pod's mounted
    files at local paths (its init containers run on them first), the container's literal
    HERD_* environment (and no other)."""
    c = container(workload)
    assert len(c["command"]) == 1, c["command"]
    program = os.path.join(BIN, c["command"][0])
    assert os.access(program, os.X_OK), "%s: not built (make)" % program
    dirs = pod_volumes(objs, workload, root)
    for init in workload["spec"]["template"]["spec"].get("initContainers", []):
        m = mounts(init, dirs)
        argv = [localize(a, m) for a in init["command"] + init.get("args", [])]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (init["name"], argv, r.stdout, r.stderr)
    mapping = mounts(c, dirs)
    argv = [program] + [localize(a, mapping) if isinstance(a, str) else a
                        for a in c.get("args", [])]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERD_")}
    env.update({k: localize(v, mapping) for k, v in env_values(c).items()})
    return argv, env


# ---- the tests -------------------------------------------------------------------------------

def test_renders_what_it_should(objs):
    kinds = sorted((d["kind"], re.sub(r"-[a-z0-9]{10}$", "-HASH", d["metadata"]["name"]))
                   for d in objs.docs)
    master_kind = "Job" if objs.name == "headless" else "Deployment"
    assert kinds == sorted([
        ("ConfigMap", "herd-scenario-HASH"), ("Service", MASTER_SERVICE),
        ("Service", SAMPLE_SERVICE), ("Deployment", "herd-worker"),
        ("Deployment", SAMPLE_SERVICE), (master_kind, "herd-master")])
    if objs.name == "headless":
        job = objs.master()
        assert job["spec"]["backoffLimit"] == 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        f = flags(container(job))
        assert f.get("autostart") is True and int(f["autoquit"]) > 0
    else:
        f = flags(container(objs.master()))
        assert "autostart" not in f and "autoquit" not in f and "headless" not in f
        assert objs.master()["spec"]["replicas"] == 1


def test_every_container_passes_check(objs, tmp_path):
    for w, _ in objs.workloads():
        c = container(w)
        if c["command"][0] == "herd-sample-services":
            continue   # no --check: test_sample_services_take_their_arguments
        argv, env = local_command(objs, w, str(tmp_path / w["metadata"]["name"]))
        r = subprocess.run(argv + ["--check"], env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, (argv, r.stdout, r.stderr)
        assert "The command line is good" in r.stdout, r.stdout
        keys = secret_data(SECRET)
        master_pub, worker_pub = public_key(keys["master.pub"]), public_key(keys["worker.pub"])
        if c["command"][0] == "herd-master":
            port = option(c, "master-bind-port")
            assert "herd-worker processes expected on *:%s" % port in r.stdout, r.stdout
            assert ":%s (listening on every interface)" % option(c, "web-port") in r.stdout
            assert "Scenario: " in r.stdout and "User classes (" in r.stdout
            assert re.search(r"^Workers' channel: CurveZMQ, master key %s, 1 authorized worker "
                             r"key in \S+$" % re.escape(master_pub), r.stdout, re.M), r.stdout
        else:
            assert "Master: tcp://%s:%s" % (option(c, "master-host"),
                                             option(c, "master-port")) in r.stdout
            assert "Channel: CurveZMQ, this worker's key %s, the master's %s\n" % (
                worker_pub, master_pub) in r.stdout, r.stdout
        assert "chmod" not in r.stdout + r.stderr and "not secured" not in r.stdout, r.stdout


def test_sample_services_take_their_arguments(objs):
    """herd-sample-services has no --check: it is started with the manifest's options, its
    ports swapped for free ones and its address for loopback, and must say it is ready."""
    w = objs.one("Deployment", SAMPLE_SERVICE)
    c = container(w)
    f = flags(c)
    argv = [os.path.join(BIN, "herd-sample-services")]
    for k, v in f.items():
        if k.endswith("-port"):
            v = "0"
        elif k == "bind":
            v = "127.0.0.1"
        argv.append("--%s" % k if v is True else "--%s=%s" % (k, v))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("herd-sample-services ready "), (argv, line, p.stderr.read())
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=10)
    # its ports are the container's, by name
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for svc in ("profile", "matchmaking", "item", "tradepost"):
        assert int(f["%s-port" % svc]) == ports[svc], svc


def test_scenario_configmap_is_the_committed_file(objs):
    """The ConfigMap holds deploy/k8s/base/scenario.yaml as it is (kustomize's generator),
    at the path herd-master's -f names."""
    w = objs.master()
    c = container(w)
    volumes = {v["name"]: v for v in w["spec"]["template"]["spec"]["volumes"]}
    path = option(c, "locustfile")
    mounts = [m for m in c["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/")]
    assert len(mounts) == 1, (path, c["volumeMounts"])
    cm = objs.configmap(volumes[mounts[0]["name"]]["configMap"]["name"])
    key = path[len(mounts[0]["mountPath"].rstrip("/")) + 1:]
    with open(os.path.join(K8S, "base", "scenario.yaml")) as f:
        assert cm["data"][key] == f.read()


def test_scenario_targets_the_sample_services(objs):
    """Every host the demo scenario names is the sample services' Service, on one of its
    ports: what the workers will resolve in the cluster."""
    cm = objs.of("ConfigMap")[0]
    scenario = yaml.safe_load(cm["data"]["scenario.yaml"])
    svc = objs.one("Service", SAMPLE_SERVICE)
    ports = {p["port"] for p in svc["spec"]["ports"]}
    urls = [scenario["host"]] + [u["host"] for u in scenario["users"] if "host" in u]
    for s in scenario.get("setup", []):
        urls += [v for k, v in s.items() if isinstance(v, str) and v.startswith("http")]
    for url in urls:
        u = urllib.parse.urlsplit(url)
        assert u.hostname == SAMPLE_SERVICE and u.port in ports, url


def test_probes_ask_what_the_master_serves(objs):
    c = container(objs.master(), "herd-master")
    web_port = int(option(c, "web-port"))
    for probe in ("readinessProbe", "livenessProbe"):
        get = c[probe]["httpGet"]
        assert get["path"] == "/health", probe
        assert container_port(c, get["port"]) == web_port, probe
        assert get.get("scheme", "HTTP") == "HTTP" and not option(c, "tls-cert"), probe
    # the kubelet probes the pod's address: the master listens on every interface
    assert option(c, "web-host") in ("0.0.0.0", "*")
    # the sample services' probes
    s = container(objs.one("Deployment", SAMPLE_SERVICE))
    f = flags(s)
    assert container_port(s, s["readinessProbe"]["httpGet"]["port"]) == int(f["profile-port"])
    assert s["readinessProbe"]["httpGet"]["path"] == "/__stats"
    assert container_port(s, s["livenessProbe"]["tcpSocket"]["port"]) == int(f["profile-port"])


def test_services_match_the_flags(objs):
    master = objs.master()
    c = container(master, "herd-master")
    svc = objs.one("Service", MASTER_SERVICE)
    ports = {p["name"]: p for p in svc["spec"]["ports"]}
    assert set(ports) == {"workers", "web"}
    assert ports["workers"]["port"] == int(option(c, "master-bind-port"))
    assert container_port(c, ports["workers"]["targetPort"]) == int(option(c, "master-bind-port"))
    assert ports["web"]["port"] == int(option(c, "web-port"))
    assert container_port(c, ports["web"]["targetPort"]) == int(option(c, "web-port"))
    assert option(c, "master-bind-host") in (None, "*", "0.0.0.0")

    # the Service selects the master's pods and no other
    def selected(selector):
        return [w["metadata"]["name"] + "/" + w["kind"] for w, spec in objs.workloads()
                if all(w["spec"]["template"]["metadata"]["labels"].get(k) == v
                       for k, v in selector.items())]
    assert selected(svc["spec"]["selector"]) == ["herd-master/" + master["kind"]]
    sample = objs.one("Service", SAMPLE_SERVICE)
    assert selected(sample["spec"]["selector"]) == [SAMPLE_SERVICE + "/Deployment"]
    s = container(objs.one("Deployment", SAMPLE_SERVICE))
    for p in sample["spec"]["ports"]:
        assert p["port"] == container_port(s, p["targetPort"]) == int(flags(s)[p["name"] + "-port"])

    # the workers find the master by the Service's name, on its workers' port
    worker = container(objs.one("Deployment", "herd-worker"), "herd-worker")
    assert option(worker, "master-host") == svc["metadata"]["name"]
    assert int(option(worker, "master-port")) == ports["workers"]["port"]
    # a Deployment's selector picks its own pods
    for w, _ in objs.workloads():
        if w["kind"] == "Deployment":
            labels = w["spec"]["template"]["metadata"]["labels"]
            assert all(labels.get(k) == v
                       for k, v in w["spec"]["selector"]["matchLabels"].items())


def test_keys_come_from_the_secret(objs, tmp_path):
    """The master and the workers read their keys from the Secret herd-keys, which is not
    optional (without it the pods wait, their events naming it, and never run unsecured),
    each only the keys its role needs; the secret key is copied by an init container to a
    file of mode 0600 in memory, which is what --curve-key names; the master's
    --curve-authorized directory holds the workers' public key."""
    roles = {"herd-master": ({"master.key": "master.key", "worker.pub": "authorized/worker.pub"},
                             "master.key"),
             "herd-worker": ({"worker.key": "worker.key", "master.pub": "master.pub"},
                             "worker.key")}
    keyed = [w for w, _ in objs.workloads() if w["metadata"]["name"] in roles]
    assert len(keyed) == 2
    keys = secret_data(SECRET)
    assert sorted(keys) == ["master.key", "master.pub", "worker.key", "worker.pub"]
    for w in keyed:
        name = w["metadata"]["name"]
        spec = w["spec"]["template"]["spec"]
        items, secret_key = roles[name]
        assert spec["securityContext"].get("fsGroup") == UID, name   # uid 10001 reads them
        secrets = [v for v in spec["volumes"] if "secret" in v]
        assert len(secrets) == 1, name
        src = secrets[0]["secret"]
        assert src["secretName"] == SECRET and src.get("optional") is not True, name
        assert src.get("defaultMode") == 0o440, name
        assert {i["key"]: i["path"] for i in src["items"]} == items, name
        memory = [v["name"] for v in spec["volumes"]
                  if v.get("emptyDir", {}).get("medium") == "Memory"]
        c = container(w)
        by_path = {m["mountPath"].rstrip("/"): m["name"] for m in c["volumeMounts"]}
        key_path = option(c, "curve-key")
        assert by_path.get(os.path.dirname(key_path)) in memory, (name, key_path)
        argv, _ = local_command(objs, w, str(tmp_path / name))
        local_key = option({"args": argv[1:], "env": []}, "curve-key")
        assert os.stat(local_key).st_mode & 0o777 == 0o600, name
        with open(local_key) as f:
            assert f.read() == keys[secret_key], name
        if name == "herd-master":
            authorized = option(c, "curve-authorized")
            secret_mount = [p for p, v in by_path.items() if v == secrets[0]["name"]][0]
            assert authorized == secret_mount + "/authorized", authorized
        else:
            master = option(c, "curve-master")
            assert master == [p for p, v in by_path.items()
                              if v == secrets[0]["name"]][0] + "/master.pub", master


def test_workers_expected_are_the_replicas(objs):
    c = container(objs.master())
    workers = objs.one("Deployment", "herd-worker")
    assert int(option(c, "expect-workers")) == workers["spec"]["replicas"]


def test_pods_run_unprivileged_with_resources(objs):
    for w, spec in objs.workloads():
        name = w["metadata"]["name"]
        pod = spec.get("securityContext", {})
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = dict(pod)
            sc.update(c.get("securityContext", {}))
            assert sc.get("runAsNonRoot") is True, name
            assert sc.get("runAsUser") == UID and sc.get("runAsGroup") == UID, name
            assert sc.get("allowPrivilegeEscalation") is False, name
            assert sc.get("readOnlyRootFilesystem") is True, name
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], name
            assert c["image"] == "herd:latest" and c["imagePullPolicy"] == "IfNotPresent", name
            res = c.get("resources", {})
            assert res.get("requests", {}).get("cpu") and res["requests"].get("memory"), name
            assert res.get("limits", {}).get("memory"), name
            assert "privileged" not in sc and not spec.get("hostNetwork"), name


def readme_block(first_line):
    """The README's yaml block whose first line starts with first_line (all of its text)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    found = [b for b in blocks if re.match(re.escape(first_line) + r"\b", b)]
    assert len(found) == 1, "README: no single yaml block starting %r" % first_line
    return found[0]


OWN_SCENARIO = """description: my own
host: http://my-api.my-namespace:8080
users:
  - name: Reader
    tasks:
      - steps:
          - get: /things
"""


@pytest.mark.parametrize("which", list(KUBECTLS))
def test_readme_overlay_for_your_own_scenario(which, tmp_path):
    """The README's overlay, as written there (my-test/ beside a checkout named herd),
    renders: the ConfigMap is the user's scenario, the test and the workers are patched, the
    sample services are gone, and the master's arguments still pass --check."""
    os.symlink(ROOT, tmp_path / "herd")
    my = tmp_path / "my-test"
    my.mkdir()
    (my / "kustomization.yaml").write_text(readme_block("# my-test/kustomization.yaml"))
    (my / "patch.yaml").write_text(readme_block("# my-test/patch.yaml"))
    (my / "scenario.yaml").write_text(OWN_SCENARIO)
    KUSTOMIZATIONS["readme-overlay"] = str(my)
    try:
        _renders.pop((which, "readme-overlay"), None)
        objs = Objects(render(which, "readme-overlay"), "headless")
    finally:
        del KUSTOMIZATIONS["readme-overlay"]
        _renders.pop((which, "readme-overlay"), None)
    kinds = sorted((d["kind"], d["metadata"]["name"].rsplit("-", 1)[0]
                    if d["kind"] == "ConfigMap" else d["metadata"]["name"]) for d in objs.docs)
    assert kinds == sorted([("ConfigMap", "herd-scenario"), ("Service", MASTER_SERVICE),
                            ("Deployment", "herd-worker"), ("Job", "herd-master")])
    assert objs.of("ConfigMap")[0]["data"] == {"scenario.yaml": OWN_SCENARIO}
    job = objs.master()
    c = container(job)
    assert option(c, "users") == "5000" and option(c, "run-time") == "10m"
    assert option(c, "spawn-rate") == "100"   # the base's, kept
    workers = objs.one("Deployment", "herd-worker")
    assert workers["spec"]["replicas"] == 10 == int(option(c, "expect-workers"))
    argv, env = local_command(objs, job, str(tmp_path / "files"))
    r = subprocess.run(argv + ["--check"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert re.search(r"Reader +5000 users +http://my-api.my-namespace:8080", r.stdout), r.stdout


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(port, path):
    """GET path as the kubelet asks it: the pod's address as Host, kube-probe, no credentials."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path, headers={"Host": "10.244.0.12:%d" % port,
                                        "User-Agent": "kube-probe/1.20", "Accept": "*/*",
                                        "Connection": "close"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.mark.parametrize("auth", [None, "admin:s3cret"], ids=["no-auth", "web-auth"])
@pytest.mark.parametrize("name", list(KUSTOMIZATIONS))
def test_master_answers_its_probes(name, auth, tmp_path):
    """herd-master started with the manifest's exact arguments and environment (ports
    swapped for free ones; HERD_WEB_AUTH as the optional Secret would set it) answers the
    probes' GET /health while it waits for its workers, credentials or not."""
    objs = Objects(render("debian", name), name)
    master = objs.master()
    c = container(master)
    argv, env = local_command(objs, master, str(tmp_path / "files"))
    web, bind = free_port(), free_port()
    argv = [("--web-port=%d" % web if a.startswith("--web-port=") else
             "--master-bind-port=%d" % bind if a.startswith("--master-bind-port=") else a)
            for a in argv]
    assert "--web-port=%d" % web in argv and "--master-bind-port=%d" % bind in argv
    if auth:
        assert any(e["name"] == "HERD_WEB_AUTH" and
                   e["valueFrom"]["secretKeyRef"].get("optional") is True
                   for e in c["env"] if "valueFrom" in e)
        env["HERD_WEB_AUTH"] = auth
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        p = subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=str(tmp_path),
                             start_new_session=True)
    path = c["readinessProbe"]["httpGet"]["path"]
    try:
        deadline = time.time() + 20
        answer = None
        while time.time() < deadline and answer is None:
            assert p.poll() is None, (tmp_path / "err").read_text()
            try:
                answer = probe(web, path)
            except OSError:
                time.sleep(0.1)
        assert answer is not None, "no answer on --web-port"
        status, body = answer
        assert status == 200, (status, body)
        assert json.loads(body) == {"state": "waiting" if name == "headless" else "ready"}
        if auth:
            assert probe(web, "/api/state")[0] == 401
            conn = http.client.HTTPConnection("127.0.0.1", web, timeout=5)
            conn.request("GET", "/api/state", headers={
                "Authorization": "Basic " + base64.b64encode(auth.encode()).decode()})
            doc = json.loads(conn.getresponse().read())
            conn.close()
        else:
            doc = json.loads(probe(web, "/api/state")[1])
        assert doc["expect_workers"] == int(option(c, "expect-workers"))
        assert doc["defaults"]["user_count"] == int(option(c, "users"))
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(timeout=10)


def test_headless_job_runs_to_its_summary(tmp_path):
    """The headless run as the cluster would run it, here: the sample services with their
    Deployment's options, the Job's herd-master and herd-worker × replicas with theirs. The
    Services' names are resolved as the cluster's DNS would (the workers' herd-master:5557 and
    the scenario's herd-sample-services:PORT become loopback and free ports), the run time is
    cut to 10 s and --autoquit to 1 s. herd-master must exit 0 after its summary (the Job
    completes), no request failing; the workers exit 0 when it quits."""
    objs = Objects(render("debian", "headless"), "headless")
    procs = []
    try:
        # the target
        s = container(objs.one("Deployment", SAMPLE_SERVICE))
        argv = [os.path.join(BIN, "herd-sample-services")]
        for k, v in flags(s).items():
            v = "0" if k.endswith("-port") else "127.0.0.1" if k == "bind" else v
            argv.append("--%s" % k if v is True else "--%s=%s" % (k, v))
        svc_p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, start_new_session=True)
        procs.append(svc_p)
        line = svc_p.stdout.readline()
        assert line.startswith("herd-sample-services ready "), line
        local = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[2:])}
        urls = {"http://%s:%d" % (SAMPLE_SERVICE, p["port"]): "http://127.0.0.1:%d" % local[p["name"]]
                for p in objs.one("Service", SAMPLE_SERVICE)["spec"]["ports"]}

        # the master, its scenario's hosts resolved
        job = objs.master()
        argv, env = local_command(objs, job, str(tmp_path / "files"))
        scenario = option({"args": argv[1:], "env": []}, "locustfile")
        with open(scenario) as f:
            text = f.read()
        for name, url in urls.items():
            text = text.replace(name, url)
        assert "http://%s" % SAMPLE_SERVICE not in text
        with open(scenario, "w") as f:
            f.write(text)
        bind, web = free_port(), free_port()
        swap = {"--master-bind-port": str(bind), "--web-port": str(web), "--autoquit": "1"}
        argv = [a.split("=")[0] + "=" + swap[a.split("=")[0]] if a.split("=")[0] in swap else a
                for a in argv]
        env["HERD_RUN_TIME"] = "10s"
        out, err = tmp_path / "master.out", tmp_path / "master.err"
        with open(out, "w") as o, open(err, "w") as e:
            master = subprocess.Popen(argv, env=env, stdout=o, stderr=e, cwd=str(tmp_path),
                                      start_new_session=True)
        procs.append(master)

        # the workers, herd-master resolved to loopback
        w = objs.one("Deployment", "herd-worker")
        wargv, wenv = local_command(objs, w, str(tmp_path / "worker-files"))
        assert "--master-host=%s" % MASTER_SERVICE in wargv
        wargv = ["--master-host=127.0.0.1" if a.startswith("--master-host=") else
                 "--master-port=%d" % bind if a.startswith("--master-port=") else a
                 for a in wargv]
        # one more, without the keys: refused, never registered
        keyless = [a for a in wargv if not a.startswith("--curve-")]
        assert len(keyless) == len(wargv) - 2
        intruder = subprocess.Popen(keyless, env=wenv, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(intruder)
        workers = []
        for i in range(w["spec"]["replicas"]):
            p = subprocess.Popen(wargv, env=wenv, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            procs.append(p)
            workers.append(p)

        rc = master.wait(timeout=120)
        stdout, stderr = out.read_text(), err.read_text()
        assert rc == 0, (rc, stdout[-3000:], stderr[-3000:])
        rows = [l for l in stdout.splitlines() if l.strip().startswith("Aggregated") and "|" in l]
        assert rows, stdout + stderr
        requests, failures = int(rows[-1].split()[1]), int(rows[-1].split()[2].split("(")[0])
        assert requests > 1000 and failures == 0, rows[-1]
        assert "Waiting for %d worker(s)" % len(workers) in stderr, stderr
        assert "Workers' channel secured with CurveZMQ" in stderr, stderr
        assert "open beyond this host without --curve-key" not in stderr, stderr
        assert "chmod" not in stderr, stderr
        assert len(re.findall(r"Worker \w+ .* connected; \d+ worker\(s\) connected",
                              stderr)) == len(workers), stderr
        # (the reason the master gives is libzmq's event, which may be the general "its
        # handshake failed" when the connection ends first; the worker's is always this)
        assert "Refused a worker connection from 127.0.0.1: " in stderr, stderr
        for p in workers:
            assert p.wait(timeout=20) == 0
        os.killpg(intruder.pid, signal.SIGKILL)
        assert "give this worker --curve-key and --curve-master" in intruder.communicate(
            timeout=10)[1]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
