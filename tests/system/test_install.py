"""`make install` and `make uninstall` with PREFIX and DESTDIR, into a temporary root.

What a user (or a packager) would notice: every file lands where it should and nothing else
does; the installed programs run; each man page renders without a groff warning and names
every option its program's --help lists; the bash completion registers the three programs
and offers exactly the options of their --help; `make uninstall` leaves nothing behind.

The test runs the repository's own Makefile (its default build, whatever HERD_BIN points at),
so it checks what `make install` really does.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT

PROGS = ["herd-master", "herd-worker", "herd-sample-services"]
PREFIX = "/usr"

pytestmark = pytest.mark.skipif(
    shutil.which("help2man") is None,
    reason="help2man is missing: the man pages are generated with it (make deps installs it)")


def make(target, destdir):
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", target,
                        f"DESTDIR={destdir}", f"PREFIX={PREFIX}"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"make {target} failed:\n{r.stdout}\n{r.stderr}"


def installed(destdir):
    """Every file and symlink under destdir, as paths relative to it ('usr/bin/...')."""
    out = set()
    for d, _dirs, files in os.walk(destdir):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), destdir))
    return out


def help_options(binary):
    """The options --help lists: an option line is indented at most six spaces and starts
    with '-'; its spelling ends at the first double space ('-f, --locustfile FILE')."""
    text = subprocess.run([binary, "--help"], capture_output=True, text=True,
                          check=True).stdout
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^ {1,6}(-.*?)(?:  |$)", line)
        if m:
            opts.update(re.findall(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)", m.group(1)))
    assert opts, f"no options found in {binary} --help"
    return opts


def render(page, width):
    """The page as man shows it, and what groff warned about it."""
    env = dict(os.environ, MANWIDTH=str(width), LC_ALL="C.UTF-8")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    if shutil.which("man"):
        r = subprocess.run(["man", "--warnings", "-l", page], capture_output=True,
                           text=True, env=env)
    else:
        r = subprocess.run(f"zcat '{page}' | groff -man -Tutf8 -ww -rLL={width}n",
                           shell=True, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout.replace("\u2010", "-").replace("\u2212", "-"), r.stderr


def bash(script):
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("destdir"))
    make("install", d)
    return d


def expected_files():
    scen = sorted(f for f in os.listdir(os.path.join(ROOT, "scenarios")) if f.endswith(".yaml"))
    files = {f"usr/bin/{p}" for p in PROGS}
    files |= {f"usr/share/herd/scenarios/{f}" for f in scen + ["README.md"]}
    files |= {f"usr/share/man/man1/{p}.1.gz" for p in PROGS}
    files.add("usr/share/man/man5/herd-scenario.5.gz")
    files |= {f"usr/share/bash-completion/completions/{p}" for p in PROGS}
    return files


def test_every_file_is_where_it_should_be(destdir):
    assert installed(destdir) == expected_files()
    for p in PROGS:
        assert os.access(os.path.join(destdir, "usr/bin", p), os.X_OK)
    with open(os.path.join(ROOT, "scenarios", "gaming.yaml"), "rb") as a, \
            open(os.path.join(destdir, "usr/share/herd/scenarios/gaming.yaml"), "rb") as b:
        assert a.read() == b.read()


def test_installed_programs_run(destdir):
    for p in PROGS:
        r = subprocess.run([os.path.join(destdir, "usr/bin", p), "--version"],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(p + " "), r.stdout


@pytest.mark.parametrize("page", [f"man1/{p}.1.gz" for p in PROGS] + ["man5/herd-scenario.5.gz"])
def test_man_page_renders_without_warnings(destdir, page):
    text, warnings = render(os.path.join(destdir, "usr/share/man", page), 80)
    assert warnings == ""
    for section in ("NAME", "DESCRIPTION", "SEE ALSO"):
        assert re.search(rf"^{section}$", text, re.M), f"{page} has no {section} section"


@pytest.mark.parametrize("prog", PROGS)
def test_man_page_names_every_help_option(destdir, prog):
    # wide enough that no option is broken across lines
    text, _ = render(os.path.join(destdir, f"usr/share/man/man1/{prog}.1.gz"), 1000)
    opts = help_options(os.path.join(destdir, "usr/bin", prog))
    missing = [o for o in sorted(opts) if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text)]
    assert missing == [], f"{prog}(1) lacks {missing}"
    assert "--version" in opts and "--help" in opts


def test_man_pages_name_the_installed_scenarios(destdir):
    text, _ = render(os.path.join(destdir, "usr/share/man/man1/herd-master.1.gz"), 200)
    assert f"{PREFIX}/share/herd/scenarios/gaming.yaml" in text


def test_scenario_page_covers_the_format(destdir):
    text, _ = render(os.path.join(destdir, "usr/share/man/man5/herd-scenario.5.gz"), 200)
    for key in ("description", "host", "defaults", "vars", "setup", "users", "stages",
                "thresholds", "weight", "fixed_count", "wait", "on_start", "tasks",
                "sequential", "steps", "save", "expect", "query", "json", "max_body",
                "random_int", "pick"):
        assert re.search(rf"\b{key}\b", text), f"herd-scenario(5) does not mention {key}"


def completions(destdir, prog, words):
    """What the installed completion offers for `prog WORDS...` (the last word is completed)."""
    comp = os.path.join(destdir, "usr/share/bash-completion/completions", prog)
    argv = " ".join(f"'{w}'" for w in [prog] + words)
    out = bash(f"source '{comp}'; COMP_WORDS=({argv}); COMP_CWORD={len(words)}; "
               f"_herd {prog} '{words[-1]}' '{([prog] + words)[-2]}'; "
               'printf "%s\\n" "${COMPREPLY[@]}"')
    return set(out.split())


@pytest.mark.parametrize("prog", PROGS)
def test_completion_registers_and_offers_exactly_the_help_options(destdir, prog):
    comp = os.path.join(destdir, "usr/share/bash-completion/completions", prog)
    registered = bash(f"source '{comp}'; complete -p {prog}")
    assert re.search(rf"complete -F \S+ {prog}$", registered.strip()), registered
    offered = completions(destdir, prog, ["-"])
    assert offered == help_options(os.path.join(destdir, "usr/bin", prog))


def test_completion_values(destdir, tmp_path):
    (tmp_path / "a.yaml").write_text("x")
    (tmp_path / "b.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert completions(destdir, "herd-master", ["-f", ""]) == {"a.yaml", "sub"}
        assert completions(destdir, "herd-master", ["--locustfile", ""]) == {"a.yaml", "sub"}
        assert completions(destdir, "herd-worker", ["--logfile", "b"]) == {"b.txt"}
    finally:
        os.chdir(cwd)
    levels = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert completions(destdir, "herd-master", ["--loglevel", ""]) == levels
    assert completions(destdir, "herd-worker", ["-L", "W"]) == {"WARNING"}


def test_uninstall_removes_everything_it_installed(destdir):
    make("uninstall", destdir)
    assert installed(destdir) == set()
    assert not os.path.exists(os.path.join(destdir, "usr/share/herd"))
