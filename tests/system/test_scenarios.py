"""The five gaming generators and gaming.yaml against herd-sample-services, checked against
the services' own count (/__stats) and invariants (/__invariants)."""
import os
import re

import pytest

from conftest import ROOT, aggregated, row, run_master, write
from test_sample_services import start  # noqa: F401  (fixture: starts the services)

SCEN = os.path.join(ROOT, "scenarios")

# file, service, the rows each must show, setup requests one local worker makes
GENERATORS = [
    ("authentication_server.yaml", "profile",
     [("POST", "/players"), ("GET", "/players/[playerUUID]")], 1),
    ("match_server.yaml", "matchmaking",
     [("POST", "/games/create"), ("GET", "/games/open"), ("PUT", "/games/close")], 0),
    ("item_generator.yaml", "item", [("POST", "/items")], 0),
    ("game_server.yaml", "item",
     [("GET", "/players"), ("PUT", "/players/balance"), ("POST", "/players/items")], 1),
    ("trading_server.yaml", "tradepost",
     [("GET", "/trades/player_items"), ("POST", "/trades/sell"), ("GET", "/trades/open"),
      ("PUT", "/trades/buy")], 0),
]


@pytest.mark.parametrize("name,service,rows,setup", GENERATORS,
                         ids=[g[0].split(".")[0] for g in GENERATORS])
def test_generator_alone(start, name, service, rows, setup):
    svc = start()
    host = "http://127.0.0.1:%d" % svc.ports[service]
    # The generators' documented command line, with -H pointing at this test's port.
    r = run_master(["-H", host, "-f", os.path.join(SCEN, name), "--headless", "-u=1", "-r=1",
                    "-t=3s", "--stop-timeout", "5s"])
    assert r.returncode == 0, r.stderr + r.stdout
    reqs, fails = aggregated(r.stdout)
    assert fails == 0, r.stdout
    for method, path in rows:
        got = row(r.stdout, method, path)
        assert got and got[0] > 0 and got[1] == 0, (method, path, r.stdout)
    assert reqs == svc.stats()["total"] - setup


def test_error_rate_reported_as_http_500(start):
    svc = start("--error-rate", "0.1")
    host = "http://127.0.0.1:%d" % svc.ports["item"]
    r = run_master(["-H", host, "-f", os.path.join(SCEN, "item_generator.yaml"), "--headless",
                    "-u", "4", "-r", "10", "-t", "3s", "--stop-timeout", "5s"])
    assert r.returncode == 1
    reqs, fails = aggregated(r.stdout)
    assert reqs == svc.stats()["total"]
    assert 0.07 < fails / reqs < 0.13, (fails, reqs)
    assert re.search(r"^%d\s+POST /items: HTTP 500\s*$" % fails, r.stdout, re.M), r.stdout


def gaming_file(tmp_path, svc):
    """gaming.yaml with the services' default ports replaced by this test's ports."""
    text = open(os.path.join(SCEN, "gaming.yaml")).read()
    for service, default in (("profile", 8080), ("matchmaking", 8081), ("item", 8082),
                             ("tradepost", 8083)):
        text = text.replace("127.0.0.1:%d" % default, "127.0.0.1:%d" % svc.ports[service])
    return write(tmp_path, "gaming.yaml", text)


def test_gaming_50_users_keeps_invariants(tmp_path, start):
    svc = start()
    f = gaming_file(tmp_path, svc)
    r = run_master(["-f", f, "--headless", "-u", "50", "-r", "50", "-t", "5s",
                    "--stop-timeout", "5s", "--exit-code-on-error", "0"])
    assert r.returncode == 0, r.stderr
    reqs, fails = aggregated(r.stdout)
    assert reqs > 500
    # two setup requests; every other request the services answered is in the summary
    assert reqs == svc.stats()["total"] - 2
    # all five classes ran
    for method, path in [("POST", "/players"), ("POST", "/games/create"), ("POST", "/items"),
                         ("PUT", "/players/balance"), ("PUT", "/trades/buy")]:
        assert row(r.stdout, method, path), (method, path)
    inv = svc.invariants()
    assert inv["money_conserved_ok"] is True, inv
    assert inv["items_with_one_owner_ok"] is True, inv
    assert inv["players_in_at_most_one_game_ok"] is True, inv
    assert inv["ok"] is True, inv
    # Races between users (two buyers, one order) are allowed to fail, but only as 400s
    # the services explain, never as transfer errors.
    assert "Couldn't connect" not in r.stdout and "Timeout" not in r.stdout
