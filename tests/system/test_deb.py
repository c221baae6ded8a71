"""`make deb`: the Debian package, built by the repository's own Makefile.

What a user (or a packager) would notice: the package holds the files `make install
PREFIX=/usr` installs and nothing else but Debian's own; it depends on the shared libraries
the programs are linked with, so `apt install ./herd_*.deb` pulls them in; lintian finds no
error and no warning; installed (into a throwaway root, never this machine's), its programs
run on the system's libraries; and building it leaves the source tree as it was.
"""
import glob
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import ROOT

PROGS = ["herd-master", "herd-worker", "herd-sample-services"]
OUT = os.path.join(ROOT, "build", "deb")

# What the package holds beyond `make install`: Debian's copyright and changelog, and the
# lintian overrides (each with its reason, in debian/herd.lintian-overrides).
DEBIAN_OWN = {"usr/share/doc/herd/copyright", "usr/share/doc/herd/changelog.gz",
              "usr/share/lintian/overrides/herd"}

# The libraries herd-master, herd-worker and herd-sample-services are linked with, by their
# Debian 12 package names (libcurl4 is the OpenSSL flavour libcurl4-openssl-dev links).
LIBRARIES = {"libc6", "libcurl4", "libjansson4", "libmicrohttpd12", "libprotobuf-c1",
             "libuuid1", "libyaml-0-2", "libzmq5", "libczmq4"}

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-deb") is None or shutil.which("apt-get") is None,
    reason="not a Debian system: make deb needs dpkg and apt")


# make's variables of a make this test runs under (make test-sanitize passes BUILD=...) would
# send the package elsewhere: the test's own make starts from none of them.
CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 60), **kw)
    assert r.returncode == 0, f"{cmd} failed:\n{r.stdout}\n{r.stderr}"
    return r.stdout


def git_status():
    r = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=all"],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def outside_packages():
    parent = os.path.dirname(ROOT)
    return set(glob.glob(os.path.join(parent, "herd_*")) +
               glob.glob(os.path.join(parent, "herd-dbgsym_*")))


@pytest.fixture(scope="module")
def built():
    """Runs `make deb`; returns (path of the .deb, its output, the tree's git status before
    and after, the packages in the folder above the tree before and after)."""
    status, outside = git_status(), outside_packages()
    start = time.monotonic()
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "deb"],
                       capture_output=True, text=True, timeout=1200, env=CLEAN_ENV)
    seconds = time.monotonic() - start
    assert r.returncode == 0, f"make deb failed:\n{r.stdout}\n{r.stderr}"
    print(f"make deb: {seconds:.0f} s")
    debs = glob.glob(os.path.join(OUT, "herd_*.deb"))
    assert len(debs) == 1, f"expected one herd_*.deb in {OUT}: {debs}"
    return {"deb": debs[0], "stdout": r.stdout, "status": (status, git_status()),
            "outside": (outside, outside_packages())}


@pytest.fixture(scope="module")
def make_install(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("destdir"))
    run(["make", "-C", ROOT, "--no-print-directory", "install", f"DESTDIR={d}", "PREFIX=/usr"],
        env=CLEAN_ENV,
        timeout=900)
    return d


def tree(root):
    """Every file and symlink under root ('usr/bin/...'), a symlink with its target."""
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.readlink(p) if os.path.islink(p) else None
    return out


def contents(deb):
    """The package's files and symlinks as `dpkg-deb -c` lists them, as tree() does."""
    out = {}
    for line in run(["dpkg-deb", "-c", deb]).splitlines():
        # drwxr-xr-x root/root  0 2026-11-29 22:37 ./usr/bin/  |  ... ./a -> b
        m = re.match(r"^(\S)\S* +\S+ +\d+ +\S+ +\S+ +\./(.*?)(?: -> (.*))?$", line)
        assert m, line
        kind, path, target = m.groups()
        if kind != "d":
            out[path] = target
    return out


def field(deb, name):
    return run(["dpkg-deb", "-f", deb, name]).strip()


def test_the_tree_stays_as_it_was(built):
    before, after = built["status"]
    if before is not None:
        assert after == before, "make deb changed the source tree"
    before, after = built["outside"]
    assert after == before, f"make deb wrote outside the tree: {after - before}"


def test_package_holds_what_make_install_installs(built, make_install):
    pkg = contents(built["deb"])
    assert DEBIAN_OWN <= set(pkg), f"missing Debian files: {DEBIAN_OWN - set(pkg)}"
    for p in DEBIAN_OWN:
        del pkg[p]
    assert pkg == tree(make_install)


def test_package_files_are_the_trees(built, tmp_path):
    """The scenarios and the completion are the tree's; the programs are executable."""
    run(["dpkg-deb", "-x", built["deb"], str(tmp_path)])
    for f in glob.glob(os.path.join(ROOT, "scenarios", "*.yaml")):
        with open(f, "rb") as a, \
                open(tmp_path / "usr/share/herd/scenarios" / os.path.basename(f), "rb") as b:
            assert a.read() == b.read(), f
    for p in PROGS:
        assert os.access(tmp_path / "usr/bin" / p, os.X_OK)


def test_control_fields(built, tmp_path):
    deb = built["deb"]
    assert field(deb, "Package") == "herd"
    run(["dpkg-deb", "-x", deb, str(tmp_path)])
    version = run([str(tmp_path / "usr/bin/herd-master"), "--version"]).split()[-1]
    assert field(deb, "Version") == version, "debian/changelog and herd's version differ"
    names = {d.strip().split()[0] for d in field(deb, "Depends").split(",")}
    assert LIBRARIES <= names, f"Depends lacks {LIBRARIES - names}: {field(deb, 'Depends')}"
    assert field(deb, "Description")


def test_lintian_reports_no_error_and_no_warning(built):
    # Tags that do not apply to herd are overridden with their reason in
    # debian/herd.lintian-overrides (scenarios/README.md installed beside the scenarios).
    # Info and pedantic tags are shown too so that a new one is seen, but only errors and
    # warnings fail: none remain.
    r = subprocess.run(["lintian", "--info", "--pedantic", built["deb"]],
                       capture_output=True, text=True, timeout=300)
    tags = [l for l in r.stdout.splitlines() if re.match(r"^[EW]: ", l)]
    assert tags == [], "\n".join(tags)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lintian: 0 error(s), 0 warning(s)" in built["stdout"]


def test_installs_and_runs_in_a_throwaway_root(built, tmp_path):
    """dpkg installs it into a root of its own (its own database, its own log: nothing of
    this machine's changes); its programs then run on the system's libraries."""
    root = tmp_path / "root"
    (root / "var/lib/dpkg/info").mkdir(parents=True)
    (root / "var/lib/dpkg/updates").mkdir()
    (root / "var/lib/dpkg/status").write_text("")
    dpkg = ["dpkg", f"--root={root}", f"--log={tmp_path / 'dpkg.log'}", "--force-not-root"]
    run(dpkg + ["--force-depends", "-i", built["deb"]])
    listed = {l for l in run(dpkg + ["-L", "herd"]).splitlines()}
    assert {f"/usr/bin/{p}" for p in PROGS} <= listed
    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    for p in PROGS:
        out = run([str(root / "usr/bin" / p), "--version"], env=env, timeout=10)
        assert out.startswith(p + " "), out
    run(dpkg + ["--force-depends", "--purge", "herd"])
    assert [f for f in tree(root) if not f.startswith("var/")] == []


def test_apt_would_install_it_with_its_libraries(built):
    """`apt install ./herd_*.deb`, simulated: apt resolves every dependency on this system."""
    r = subprocess.run(["apt-get", "install", "-s", "-q", built["deb"]],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^Inst herd ", r.stdout, re.M), r.stdout
