"""System tests for herd-sample-services: real processes on loopback, standard library only.

Each test starts its own server on free ports (port 0, read back from the ready line) and kills
it at teardown, so counts and state are never shared between tests.
"""

import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import threading
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# HERD_SAMPLE_SERVICES_BIN runs the tests against another build (sanitizers, valgrind wrapper).
BINARY = os.environ.get("HERD_SAMPLE_SERVICES_BIN") or os.path.join(
    os.environ.get("HERD_BIN") or os.path.join(ROOT, "bin"), "herd-sample-services")
SERVICES = ("profile", "matchmaking", "item", "tradepost")


class Server:
    """A running herd-sample-services; ports by service name."""

    def __init__(self, proc, ports):
        self.proc = proc
        self.ports = ports

    def conn(self, service, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.ports[service], timeout=timeout)

    def call(self, service, method, path, body=None, raw=None, conn=None):
        """One request; returns (status, decoded JSON or None). A given conn is reused."""
        c = conn or self.conn(service)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        try:
            c.request(method, path, body=data, headers=headers)
            resp = c.getresponse()
            text = resp.read()
        finally:
            if conn is None:
                c.close()
        try:
            return resp.status, json.loads(text) if text else None
        except ValueError:
            return resp.status, None

    def stats(self):
        return self.call("profile", "GET", "/__stats")[1]

    def invariants(self):
        return self.call("item", "GET", "/__invariants")[1]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def launch(*args):
    """Starts the binary on free ports and waits for its ready line."""
    proc = subprocess.Popen(
        [BINARY, "--profile-port", "0", "--matchmaking-port", "0", "--item-port", "0",
         "--tradepost-port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("herd-sample-services ready "):
        proc.kill()
        proc.wait()
        pytest.fail("no ready line: %r %r" % (line, proc.stderr.read()))
    ports = dict(kv.split("=") for kv in line.split()[2:])
    return Server(proc, {k: int(v) for k, v in ports.items()})


@pytest.fixture
def start():
    """Factory fixture: start(*flags) -> Server; every server is stopped at teardown."""
    servers = []

    def _start(*args):
        s = launch(*args)
        servers.append(s)
        return s

    try:
        yield _start
    finally:
        codes = [s.stop() for s in servers]
    # A clean stop is part of the contract (and how sanitizer builds report leaks).
    assert codes == [0] * len(codes), [s.proc.stderr.read()[-2000:] for s in servers]


@pytest.fixture
def server(start):
    return start()


def is_uuid(s):
    try:
        return str(uuid.UUID(s)) == s
    except (ValueError, TypeError, AttributeError):
        return False


# ---- command line and lifecycle ----

def run_flags(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=10)


def test_help_exits_zero():
    r = run_flags("--help")
    assert r.returncode == 0
    assert "--error-rate" in r.stdout and "--seed-player-items" in r.stdout


@pytest.mark.parametrize("args, flag", [
    (["--bogus"], "--bogus"),
    (["--error-rate", "1.5"], "--error-rate"),
    (["--drop-rate=abc"], "--drop-rate"),
    (["--profile-port", "70000"], "--profile-port"),
    (["--threads", "0"], "--threads"),
    (["--seed-players", "-1"], "--seed-players"),
    (["--delay-ms"], "--delay-ms"),
])
def test_bad_flag_names_it_and_exits_2(args, flag):
    r = run_flags(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0]


def test_port_in_use_exits_1():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        r = run_flags("--profile-port", str(port), "--matchmaking-port", "0", "--item-port", "0",
                      "--tradepost-port", "0")
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0]
    finally:
        holder.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly(sig):
    s = launch()
    try:
        assert s.call("profile", "GET", "/players")[0] == 200
        s.proc.send_signal(sig)
        assert s.proc.wait(timeout=10) == 0
    finally:
        s.stop()


# ---- profile ----

def test_profile_routes(server):
    status, players = server.call("profile", "GET", "/players")
    assert status == 200 and len(players) == 1000 and all(map(is_uuid, players))

    status, p = server.call("profile", "GET", "/players/" + players[0])
    assert status == 200
    assert set(p) == {"playerUUID", "player_name", "email", "created", "stats",
                      "account_balance", "current_game"}
    assert p["playerUUID"] == players[0]
    assert p["stats"] == {"games_played": 0, "games_won": 0}
    assert p["account_balance"] == "1000.00"

    new = {"player_name": "zed", "email": "zed@example.com", "password": "hunter2"}
    status, pid = server.call("profile", "POST", "/players", new)
    assert status == 201 and is_uuid(pid)
    status, p = server.call("profile", "GET", "/players/" + pid)
    assert status == 200
    assert (p["player_name"], p["email"], p["current_game"]) == ("zed", "zed@example.com", "")
    assert "hunter2" not in json.dumps(p) and "password" not in json.dumps(p)

    assert server.call("profile", "POST", "/players", new)[0] == 400  # email taken
    for bad in ({"player_name": "a", "email": "no-at-sign", "password": "x"},
                {"player_name": "a", "password": "x"},
                {"player_name": "a", "email": 5, "password": "x"}):
        status, body = server.call("profile", "POST", "/players", bad)
        assert status == 400 and body["message"]

    status, body = server.call("profile", "GET", "/players/" + str(uuid.uuid4()))
    assert status == 404 and body == {"message": "player not found"}
    assert server.call("profile", "GET", "/players/not-a-uuid")[0] == 404


# ---- matchmaking ----

def test_matchmaking_routes(server):
    status, g = server.call("matchmaking", "GET", "/games/open")
    assert status == 200
    assert set(g) == {"gameUUID", "players", "winner", "created", "finished"}
    assert is_uuid(g["gameUUID"]) and len(g["players"]) == 100

    status, winner = server.call("matchmaking", "PUT", "/games/close", {"gameUUID": g["gameUUID"]})
    assert status == 200 and winner in g["players"]
    status, w = server.call("profile", "GET", "/players/" + winner)
    assert w["stats"] == {"games_played": 1, "games_won": 1} and w["current_game"] == ""
    loser = next(p for p in g["players"] if p != winner)
    assert server.call("profile", "GET", "/players/" + loser)[1]["stats"]["games_played"] == 1

    assert server.call("matchmaking", "PUT", "/games/close", {"gameUUID": g["gameUUID"]})[0] == 400
    assert server.call("matchmaking", "PUT", "/games/close",
                       {"gameUUID": str(uuid.uuid4())})[0] == 400
    assert server.call("matchmaking", "PUT", "/games/close", {})[0] == 400

    status, gid = server.call("matchmaking", "POST", "/games/create")
    assert status == 201 and is_uuid(gid)
    # 1000 players, 5 seeded games of 100 minus one closed: 600 were free, the new game took 100.
    assert server.invariants()["players_in_game"] == 500
    assert server.invariants()["players_in_at_most_one_game_ok"] is True


def test_no_open_game_opens_one(start):
    """With none open, GET /games/open opens one, so match_server run alone never closes
    an empty gameUUID (its 2:1 create/close mix can close every game near the start)."""
    s = start("--seed-games", "0")
    status, g = s.call("matchmaking", "GET", "/games/open")
    assert status == 200 and len(g["gameUUID"]) == 36 and len(g["players"]) == 100
    assert s.invariants()["auto_opened"] == 1
    assert s.call("matchmaking", "PUT", "/games/close", {"gameUUID": g["gameUUID"]})[0] == 200
    # closing every game, then asking again: still one to close
    for _ in range(3):
        status, g = s.call("matchmaking", "GET", "/games/open")
        assert s.call("matchmaking", "PUT", "/games/close", {"gameUUID": g["gameUUID"]})[0] == 200
    assert s.invariants()["auto_opened"] == 4 and s.invariants()["ok"] is True


# ---- item ----

def test_item_routes(server):
    status, iid = server.call("item", "POST", "/items", {"item_name": "sword", "item_value": "12.34"})
    assert status == 201 and is_uuid(iid)
    status, iid2 = server.call("item", "POST", "/items", {"item_name": "shield", "item_value": 7.5})
    assert status == 201
    status, it = server.call("item", "GET", "/items/" + iid)
    assert status == 200
    assert set(it) == {"ItemUUID", "Item_name", "Item_value", "Available_time"}
    assert (it["ItemUUID"], it["Item_name"], it["Item_value"]) == (iid, "sword", "12.34")
    assert server.call("item", "GET", "/items/" + iid2)[1]["Item_value"] == "7.50"
    status, items = server.call("item", "GET", "/items")
    assert status == 200 and len(items) == 102 and iid in items
    assert server.call("item", "GET", "/items/" + str(uuid.uuid4()))[0] == 404
    for bad in ({"item_name": "x"}, {"item_name": "x", "item_value": "abc"},
                {"item_name": "x", "item_value": [1]}, {"item_name": 3, "item_value": "1.00"}):
        assert server.call("item", "POST", "/items", bad)[0] == 400

    status, p = server.call("item", "GET", "/players")
    assert status == 200
    assert set(p) == {"playerUUID", "updated", "account_balance", "current_game"}
    assert is_uuid(p["current_game"])

    status, bal = server.call("item", "PUT", "/players/balance",
                              {"playerUUID": p["playerUUID"], "amount": "10.50", "source": "loot"})
    assert status == 200
    assert bal == {"PlayerUUID": p["playerUUID"], "AccountBalance": "1010.50"}
    status, bal = server.call("item", "PUT", "/players/balance",
                              {"playerUUID": p["playerUUID"], "amount": 0.25, "source": "loot"})
    assert bal["AccountBalance"] == "1010.75"
    inv = server.invariants()
    assert inv["ledger_cents"] == 1075 and inv["ledger_entries"] == 2

    status, pi = server.call("item", "POST", "/players/items",
                             {"playerUUID": p["playerUUID"], "itemUUID": iid, "source": "loot"})
    assert status == 201
    assert {"playerItemUUID", "playerUUID", "itemUUID", "source", "price", "visible"} <= set(pi)
    assert (pi["playerUUID"], pi["itemUUID"], pi["source"], pi["price"], pi["visible"]) == \
        (p["playerUUID"], iid, "loot", "12.34", True)

    # A new player is in no game: no money, no items.
    _, newbie = server.call("profile", "POST", "/players",
                            {"player_name": "n", "email": "n@x", "password": "p"})
    assert server.call("item", "PUT", "/players/balance",
                       {"playerUUID": newbie, "amount": "1.00", "source": "loot"})[0] == 400
    assert server.call("item", "POST", "/players/items",
                       {"playerUUID": newbie, "itemUUID": iid, "source": "loot"})[0] == 400
    assert server.call("item", "POST", "/players/items",
                       {"playerUUID": p["playerUUID"], "itemUUID": str(uuid.uuid4()),
                        "source": "loot"})[0] == 400
    assert server.call("item", "PUT", "/players/balance",
                       {"playerUUID": p["playerUUID"], "amount": {"x": 1}, "source": "l"})[0] == 400


def test_item_players_400_when_nobody_in_game(start):
    s = start("--seed-games", "0")
    assert s.call("item", "GET", "/players")[0] == 400


# ---- tradepost ----

def test_tradepost_routes(server):
    status, pi = server.call("tradepost", "GET", "/trades/player_items")
    assert status == 200 and set(pi) == {"PlayerUUID", "PlayerItemUUID", "Price"}
    price = float(pi["Price"])
    sell = {"lister": pi["PlayerUUID"], "playerItemUUID": pi["PlayerItemUUID"],
            "list_price": price * 1.5}
    status, oid = server.call("tradepost", "POST", "/trades/sell", sell)
    assert status == 201 and is_uuid(oid)
    assert server.call("tradepost", "POST", "/trades/sell", sell)[0] == 400  # already listed
    other = server.call("item", "GET", "/players")[1]["playerUUID"]
    if other != pi["PlayerUUID"]:
        assert server.call("tradepost", "POST", "/trades/sell",
                           dict(sell, lister=other))[0] == 400  # not the owner

    status, o = server.call("tradepost", "GET", "/trades/open")
    assert status == 200 and set(o) == {"OrderUUID", "ListPrice", "BuyerUUID", "AccountBalance"}
    assert o["OrderUUID"] == oid and o["BuyerUUID"] != pi["PlayerUUID"]
    list_price = round(price * 1.5, 2)
    assert abs(float(o["ListPrice"]) - list_price) < 0.011

    assert server.call("tradepost", "PUT", "/trades/buy",
                       {"orderUUID": oid, "buyer": pi["PlayerUUID"]})[0] == 400  # lister
    _, poor = server.call("profile", "POST", "/players",
                          {"player_name": "p", "email": "poor@x", "password": "p"})
    assert server.call("tradepost", "PUT", "/trades/buy",
                       {"orderUUID": oid, "buyer": poor})[0] == 400  # 0.00 balance

    before = server.invariants()["money_total_cents"]
    status, body = server.call("tradepost", "PUT", "/trades/buy",
                               {"orderUUID": oid, "buyer": o["BuyerUUID"]})
    assert status == 201 and body == oid
    assert server.call("tradepost", "PUT", "/trades/buy",
                       {"orderUUID": oid, "buyer": o["BuyerUUID"]})[0] == 400  # closed
    buyer = server.call("profile", "GET", "/players/" + o["BuyerUUID"])[1]
    assert buyer["account_balance"] == "%.2f" % (1000 - float(o["ListPrice"]))
    inv = server.invariants()
    assert inv["money_total_cents"] == before and inv["ok"] is True
    assert inv["filled_orders"] == 1 and inv["open_orders"] == 0

    # The item moved: the old owner cannot sell it, the buyer can.
    assert server.call("tradepost", "POST", "/trades/sell", sell)[0] == 400
    assert server.call("tradepost", "POST", "/trades/sell",
                       dict(sell, lister=o["BuyerUUID"], list_price="3.00"))[0] == 201


def test_tradepost_404_when_nothing_to_trade(start):
    s = start("--seed-player-items", "0")
    assert s.call("tradepost", "GET", "/trades/player_items")[0] == 404
    assert s.call("tradepost", "GET", "/trades/open")[0] == 404


# ---- bad input never kills the server ----

def test_bad_input_is_400_and_server_stays_up(server):
    bad_bodies = ["{", "not json", "[1, 2]", "\"just a string\"", "", "{\"gameUUID\": 12}",
                  "{\"gameUUID\": \"nope\"}", "\xff\xfe"]
    for raw in bad_bodies:
        status, body = server.call("matchmaking", "PUT", "/games/close", raw=raw)
        assert status == 400 and body["message"], raw
    status, body = server.call("profile", "POST", "/players", raw="x" * (1024 * 1024))
    assert status == 400 and body == {"message": "body too large"}
    assert server.call("profile", "GET", "/nope")[0] == 404
    assert server.call("item", "GET", "/players/balance")[0] == 405
    assert server.call("tradepost", "DELETE", "/trades/buy")[0] == 405
    # Garbage that is not HTTP at all.
    with socket.create_connection(("127.0.0.1", server.ports["item"]), timeout=5) as sock:
        sock.sendall(b"\x00\x01garbage\r\n\r\n")
        try:
            sock.recv(1024)
        except OSError:
            pass
    assert server.call("profile", "GET", "/players")[0] == 200
    assert server.proc.poll() is None


# ---- /__stats, /__reset ----

def test_stats_count_every_answered_request(server):
    made = {"GET /players": 0, "POST /players": 0, "GET /games/open": 0, "GET (unmatched)": 0}
    c = server.conn("profile")
    for i in range(7):
        server.call("profile", "GET", "/players", conn=c)
        made["GET /players"] += 1
    for i in range(3):
        server.call("profile", "POST", "/players",
                    {"player_name": "s", "email": "s%d@x" % i, "password": "p"}, conn=c)
        made["POST /players"] += 1
    server.call("profile", "POST", "/players", {"player_name": "s"}, conn=c)  # 400
    made["POST /players"] += 1
    server.call("profile", "GET", "/nowhere", conn=c)
    made["GET (unmatched)"] += 1
    c.close()
    for i in range(4):
        server.call("matchmaking", "GET", "/games/open")
        made["GET /games/open"] += 1
    server.call("item", "GET", "/__invariants")  # test routes are not counted

    st = server.stats()
    assert st["total"] == sum(made.values())
    assert st["services"]["profile"]["total"] == 12
    assert st["services"]["matchmaking"]["total"] == 4
    assert st["services"]["item"]["total"] == 0
    assert st["routes"]["GET /players"] == {"200": 7}
    assert st["routes"]["POST /players"] == {"201": 3, "400": 1}
    assert st["routes"]["GET (unmatched)"] == {"404": 1}
    assert st["routes"]["GET /games/open"] == {"200": 4}
    # Every port serves the same stats.
    assert server.call("tradepost", "GET", "/__stats")[1]["total"] == st["total"]

    assert server.call("item", "POST", "/__reset")[0] == 200
    st = server.stats()
    assert st["total"] == 0 and st["routes"] == {}
    server.call("item", "GET", "/items")
    assert server.stats()["total"] == 1


# ---- invariants under concurrent load ----

def test_invariants_hold_after_concurrent_trades_and_closes(server):
    stop_at = time.time() + 3.0
    errors = []
    granted = [0]
    lock = threading.Lock()

    def trader():
        c_t, c_i = server.conn("tradepost"), server.conn("item")
        while time.time() < stop_at:
            if random.random() < 0.5:
                st, pi = server.call("tradepost", "GET", "/trades/player_items", conn=c_t)
                if st == 200:
                    server.call("tradepost", "POST", "/trades/sell",
                                {"lister": pi["PlayerUUID"], "playerItemUUID": pi["PlayerItemUUID"],
                                 "list_price": float(pi["Price"]) * 1.5}, conn=c_t)
            else:
                st, o = server.call("tradepost", "GET", "/trades/open", conn=c_t)
                if st == 200:
                    server.call("tradepost", "PUT", "/trades/buy",
                                {"orderUUID": o["OrderUUID"], "buyer": o["BuyerUUID"]}, conn=c_t)
            st, p = server.call("item", "GET", "/players", conn=c_i)
            if st == 200:
                st, _ = server.call("item", "PUT", "/players/balance",
                                    {"playerUUID": p["playerUUID"], "amount": "1.01",
                                     "source": "loot"}, conn=c_i)
                if st == 200:
                    with lock:
                        granted[0] += 101

    def matcher():
        c = server.conn("matchmaking")
        while time.time() < stop_at:
            if random.random() < 0.5:
                st, _ = server.call("matchmaking", "POST", "/games/create", conn=c)
            else:
                st, g = server.call("matchmaking", "GET", "/games/open", conn=c)
                if st == 200 and g["gameUUID"]:
                    server.call("matchmaking", "PUT", "/games/close",
                                {"gameUUID": g["gameUUID"]}, conn=c)
            if st >= 500:
                errors.append(st)

    threads = [threading.Thread(target=trader) for _ in range(6)] + \
              [threading.Thread(target=matcher) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    inv = server.invariants()
    assert inv["filled_orders"] > 10 and inv["games"] > 10
    assert inv["money_conserved_ok"] and inv["items_with_one_owner_ok"]
    assert inv["players_in_at_most_one_game_ok"] and inv["closed_orders_never_reopen_ok"]
    assert inv["ok"] is True
    assert inv["ledger_cents"] == granted[0]
    assert inv["money_total_cents"] == 1000 * 100000 + granted[0]


# ---- trouble on request ----

def test_error_rate_injects_that_share_of_500s(start):
    s = start("--error-rate", "0.3")
    n, errors = 600, 0
    c = s.conn("item")
    for _ in range(n):
        status, body = s.call("item", "GET", "/items", conn=c)
        if status == 500:
            errors += 1
            assert body == {"message": "injected error"}
        else:
            assert status == 200
    assert 0.3 * n - 60 < errors < 0.3 * n + 60
    st = s.stats()
    assert st["total"] == n and st["routes"]["GET /items"].get("500", 0) == errors
    assert s.invariants()["players"] == 1000  # test routes are never failed


def test_delay_adds_latency_without_blocking(start):
    s = start("--delay-ms", "50", "--threads", "2")
    latencies = []
    lock = threading.Lock()

    def client():
        c = s.conn("profile")
        for _ in range(4):
            t0 = time.monotonic()
            assert s.call("profile", "GET", "/players/" + str(uuid.uuid4()), conn=c)[0] == 404
            with lock:
                latencies.append(time.monotonic() - t0)

    threads = [threading.Thread(target=client) for _ in range(50)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    assert len(latencies) == 200
    assert min(latencies) >= 0.049
    assert statistics.median(latencies) < 0.150
    assert elapsed < 3.0  # 4 sequential rounds of 50 ms, not 200 of them on 2 threads
    admin = []
    for _ in range(3):
        t0 = time.monotonic()
        s.stats()
        admin.append(time.monotonic() - t0)
    assert min(admin) < 0.049  # test routes are not delayed


def test_drop_rate_closes_connections_unanswered(start):
    s = start("--drop-rate", "0.5")
    n, dropped = 300, 0
    for _ in range(n):
        try:
            status, _ = s.call("profile", "GET", "/players/" + str(uuid.uuid4()))
            assert status == 404
        except (http.client.HTTPException, ConnectionError):
            dropped += 1
    assert 0.5 * n - 50 < dropped < 0.5 * n + 50
    assert s.stats()["total"] == n - dropped
    assert s.proc.poll() is None


# ---- the five generators, each alone on a fresh server, never fail ----

def run_tasks(seconds, tasks):
    """Runs weighted task functions in a loop; returns the failing (status, path) pairs."""
    failures = []
    names = [t for t, w in tasks for _ in range(w)]
    stop_at = time.time() + seconds
    count = 0
    while time.time() < stop_at:
        random.choice(names)(failures)
        count += 1
    assert count > 50
    return failures


def check(failures, path, status):
    if status >= 400:
        failures.append((status, path))
    return status < 400


def test_generators_alone_never_fail(start):
    rnd = lambda n: "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))

    s = start()  # authentication_server
    c = s.conn("profile")
    _, players = s.call("profile", "GET", "/players", conn=c)

    def create_player(f):
        name = rnd(32)
        check(f, "POST /players", s.call("profile", "POST", "/players",
              {"player_name": name, "email": name + "@gmail.com", "password": rnd(32)}, conn=c)[0])

    def get_player(f):
        check(f, "GET /players/[id]",
              s.call("profile", "GET", "/players/" + random.choice(players), conn=c)[0])

    assert run_tasks(1.0, [(create_player, 1), (get_player, 5)]) == []

    s = start()  # match_server
    c = s.conn("matchmaking")

    def create_game(f):
        check(f, "POST /games/create", s.call("matchmaking", "POST", "/games/create", conn=c)[0])

    def close_game(f):
        st, g = s.call("matchmaking", "GET", "/games/open", conn=c)
        if check(f, "GET /games/open", st):
            check(f, "PUT /games/close", s.call("matchmaking", "PUT", "/games/close",
                                                {"gameUUID": g["gameUUID"]}, conn=c)[0])

    assert run_tasks(1.5, [(create_game, 2), (close_game, 1)]) == []

    s = start()  # item_generator and game_server
    c = s.conn("item")
    _, items = s.call("item", "GET", "/items", conn=c)

    def create_item(f):
        check(f, "POST /items", s.call("item", "POST", "/items",
              {"item_name": rnd(32), "item_value": round(random.uniform(1, 99.99), 2)}, conn=c)[0])

    def acquire_money(f):
        st, p = s.call("item", "GET", "/players", conn=c)
        if check(f, "GET /players", st):
            check(f, "PUT /players/balance", s.call("item", "PUT", "/players/balance",
                  {"playerUUID": p["playerUUID"], "amount": round(random.uniform(1.01, 49.99), 2),
                   "source": "loot"}, conn=c)[0])

    def acquire_item(f):
        st, p = s.call("item", "GET", "/players", conn=c)
        if check(f, "GET /players", st):
            check(f, "POST /players/items", s.call("item", "POST", "/players/items",
                  {"playerUUID": p["playerUUID"], "itemUUID": random.choice(items),
                   "source": "loot"}, conn=c)[0])

    assert run_tasks(1.0, [(create_item, 1)]) == []
    assert run_tasks(1.0, [(acquire_money, 2), (acquire_item, 5)]) == []

    s = start("--seed-player-items", "20")  # trading_server; few items: the market runs dry
    c = s.conn("tradepost")

    def sell_item(f):
        st, pi = s.call("tradepost", "GET", "/trades/player_items", conn=c)
        if check(f, "GET /trades/player_items", st):
            check(f, "POST /trades/sell", s.call("tradepost", "POST", "/trades/sell",
                  {"lister": pi["PlayerUUID"], "playerItemUUID": pi["PlayerItemUUID"],
                   "list_price": float(pi["Price"]) * 1.5}, conn=c)[0])

    def buy_item(f):
        st, o = s.call("tradepost", "GET", "/trades/open", conn=c)
        if check(f, "GET /trades/open", st):
            check(f, "PUT /trades/buy", s.call("tradepost", "PUT", "/trades/buy",
                  {"orderUUID": o["OrderUUID"], "buyer": o["BuyerUUID"]}, conn=c)[0])

    assert run_tasks(1.5, [(sell_item, 1), (buy_item, 1)]) == []
    inv = s.invariants()
    assert inv["ok"] is True and inv["filled_orders"] > 50
