/*
 * item (:8082) — the item catalogue, and players in a game earning money (every change also
 * goes to the ledger) and items.
 */
#include <string.h>

#include "body.h"
#include "money.h"
#include "service.h"
#include "state.h"

#define S svc_state

static int post_items(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    const char *name;
    int64_t value;
    uint32_t idx;
    int status;
    if (body_get_string(obj, "item_name", &name, err, sizeof err) < 0 ||
        body_get_money(obj, "item_value", &value, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else if (value < 0) {
        status = svc_error(out, 400, "item_value must not be negative");
    } else {
        state_lock();
        if (state_add_item(name, value, &idx) < 0) {
            status = svc_error(out, 500, "out of memory");
        } else {
            buf_reset(out);
            state_put_uuid(out, S.items[idx].id);
            status = 201;
        }
        state_unlock();
    }
    json_decref(obj);
    return status;
}

static int get_items(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    buf_reset(out);
    buf_putc(out, '[');
    state_lock();
    uint32_t n = S.n_items < STATE_LIST_MAX ? S.n_items : STATE_LIST_MAX;
    buf_reserve(out, (size_t)n * 40 + 2);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        state_put_uuid(out, S.items[i].id);
    }
    state_unlock();
    buf_putc(out, ']');
    return 200;
}

static int get_item(const svc_request_t *rq, buf_t *out)
{
    uuid_t id;
    uint32_t idx;
    if (strlen(rq->path_arg) != 36 || uuid_parse(rq->path_arg, id) != 0)
        return svc_error(out, 404, "item not found");
    state_lock();
    if (!state_find_item(id, &idx)) {
        state_unlock();
        return svc_error(out, 404, "item not found");
    }
    const item_t *it = &S.items[idx];
    buf_reset(out);
    buf_puts(out, "{\"ItemUUID\": ");
    state_put_uuid(out, it->id);
    buf_puts(out, ", \"Item_name\": \"");
    buf_put_json_escaped(out, it->name, strlen(it->name));
    buf_puts(out, "\", \"Item_value\": \"");
    money_put(out, it->value_cents);
    buf_puts(out, "\", \"Available_time\": ");
    state_put_time(out, it->available_ms);
    buf_putc(out, '}');
    state_unlock();
    return 200;
}

static int get_players(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    state_lock();
    int64_t p = state_random_in_game_player(-1, INT64_MIN);
    if (p < 0) {
        state_unlock();
        return svc_error(out, 400, "no player is in a game");
    }
    const player_t *pl = &S.players[p];
    buf_reset(out);
    buf_puts(out, "{\"playerUUID\": ");
    state_put_uuid(out, pl->id);
    buf_puts(out, ", \"updated\": ");
    state_put_time(out, pl->updated_ms);
    buf_puts(out, ", \"account_balance\": \"");
    money_put(out, pl->balance_cents);
    buf_puts(out, "\", \"current_game\": ");
    state_put_uuid(out, S.games[pl->game].id);
    buf_putc(out, '}');
    state_unlock();
    return 200;
}

/* Looks the player up and checks it is in a game; 0, or the 400 already written. */
static int player_in_game(const uuid_t id, uint32_t *p, buf_t *out)
{
    if (!state_find_player(id, p))
        return svc_error(out, 400, "player not found");
    if (S.players[*p].game < 0)
        return svc_error(out, 400, "player is not in a game");
    return 0;
}

static int put_balance(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    uuid_t id;
    int64_t amount;
    const char *source;
    uint32_t p;
    int status;
    if (body_get_uuid(obj, "playerUUID", id, err, sizeof err) < 0 ||
        body_get_money(obj, "amount", &amount, err, sizeof err) < 0 ||
        body_get_string(obj, "source", &source, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else {
        state_lock();
        if ((status = player_in_game(id, &p, out)) != 0) {
            /* 400 written */
        } else if (S.players[p].balance_cents + amount < 0) {
            status = svc_error(out, 400, "balance would go below zero");
        } else if (state_change_balance(p, amount) < 0) {
            status = svc_error(out, 500, "out of memory");
        } else {
            buf_reset(out);
            buf_puts(out, "{\"PlayerUUID\": ");
            state_put_uuid(out, S.players[p].id);
            buf_puts(out, ", \"AccountBalance\": \"");
            money_put(out, S.players[p].balance_cents);
            buf_puts(out, "\"}");
            status = 200;
        }
        state_unlock();
    }
    json_decref(obj);
    return status;
}

static int post_player_items(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    uuid_t pid, iid;
    const char *source;
    uint32_t p, it, pi;
    int status;
    if (body_get_uuid(obj, "playerUUID", pid, err, sizeof err) < 0 ||
        body_get_uuid(obj, "itemUUID", iid, err, sizeof err) < 0 ||
        body_get_string(obj, "source", &source, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else {
        state_lock();
        if ((status = player_in_game(pid, &p, out)) != 0) {
            /* 400 written */
        } else if (!state_find_item(iid, &it)) {
            status = svc_error(out, 400, "item not found");
        } else if (state_add_pitem(p, it, source, &pi) < 0) {
            status = svc_error(out, 500, "out of memory");
        } else {
            const player_item_t *x = &S.pitems[pi];
            buf_reset(out);
            buf_puts(out, "{\"playerItemUUID\": ");
            state_put_uuid(out, x->id);
            buf_puts(out, ", \"playerUUID\": ");
            state_put_uuid(out, S.players[p].id);
            buf_puts(out, ", \"itemUUID\": ");
            state_put_uuid(out, S.items[it].id);
            buf_puts(out, ", \"source\": \"");
            buf_put_json_escaped(out, x->source, strlen(x->source));
            buf_puts(out, "\", \"game_session\": ");
            state_put_uuid(out, S.games[x->game_session].id);
            buf_puts(out, ", \"price\": \"");
            money_put(out, x->price_cents);
            buf_puts(out, "\", \"acquire_time\": ");
            state_put_time(out, x->acquired_ms);
            buf_puts(out, ", \"visible\": true}");
            status = 201;
        }
        state_unlock();
    }
    json_decref(obj);
    return status;
}

static const svc_route_t routes[] = {
    {"POST", "/items", post_items},
    {"GET", "/items", get_items},
    {"GET", "/items/{uuid}", get_item},
    {"GET", "/players", get_players},
    {"PUT", "/players/balance", put_balance},
    {"POST", "/players/items", post_player_items},
};

const svc_service_t svc_item = {"item", routes, sizeof routes / sizeof *routes};
