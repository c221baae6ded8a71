/*
 * profile (:8080) — players sign up and are looked up. New players start with a balance of
 * 0.00 (the seeded ones with 1000.00) and in no game.
 */
#include <string.h>

#include "body.h"
#include "money.h"
#include "service.h"
#include "state.h"

#define S svc_state

static int post_players(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    const char *name, *email, *password;
    int status;
    uint32_t idx;
    if (body_get_string(obj, "player_name", &name, err, sizeof err) < 0 ||
        body_get_string(obj, "email", &email, err, sizeof err) < 0 ||
        body_get_string(obj, "password", &password, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else if (!*name || !*password) {
        status = svc_error(out, 400, "player_name and password must not be empty");
    } else if (!strchr(email, '@')) {
        status = svc_error(out, 400, "email must contain '@'");
    } else {
        state_lock();
        if (state_email_taken(email)) {
            state_unlock();
            status = svc_error(out, 400, "email already registered");
        } else if (state_add_player(name, email, password, 0, &idx) < 0) {
            state_unlock();
            status = svc_error(out, 500, "out of memory");
        } else {
            buf_reset(out);
            state_put_uuid(out, S.players[idx].id);
            state_unlock();
            status = 201;
        }
    }
    json_decref(obj);
    return status;
}

static int get_players(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    buf_reset(out);
    buf_putc(out, '[');
    state_lock();
    uint32_t n = S.n_players < STATE_LIST_MAX ? S.n_players : STATE_LIST_MAX;
    buf_reserve(out, (size_t)n * 40 + 2);
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        state_put_uuid(out, S.players[i].id);
    }
    state_unlock();
    buf_putc(out, ']');
    return 200;
}

static int get_player(const svc_request_t *rq, buf_t *out)
{
    uuid_t id;
    uint32_t idx;
    if (strlen(rq->path_arg) != 36 || uuid_parse(rq->path_arg, id) != 0)
        return svc_error(out, 404, "player not found");
    state_lock();
    if (!state_find_player(id, &idx)) {
        state_unlock();
        return svc_error(out, 404, "player not found");
    }
    const player_t *p = &S.players[idx];
    buf_reset(out);
    buf_puts(out, "{\"playerUUID\": ");
    state_put_uuid(out, p->id);
    buf_puts(out, ", \"player_name\": \"");
    buf_put_json_escaped(out, p->name, strlen(p->name));
    buf_puts(out, "\", \"email\": \"");
    buf_put_json_escaped(out, p->email, strlen(p->email));
    buf_puts(out, "\", \"created\": ");
    state_put_time(out, p->created_ms);
    buf_printf(out, ", \"stats\": {\"games_played\": %u, \"games_won\": %u}", p->games_played,
               p->games_won);
    buf_puts(out, ", \"account_balance\": \"");
    money_put(out, p->balance_cents);
    buf_puts(out, "\", \"current_game\": ");
    if (p->game >= 0)
        state_put_uuid(out, S.games[p->game].id);
    else
        buf_puts(out, "\"\"");
    buf_putc(out, '}');
    state_unlock();
    return 200;
}

static const svc_route_t routes[] = {
    {"POST", "/players", post_players},
    {"GET", "/players", get_players},
    {"GET", "/players/{uuid}", get_player},
};

const svc_service_t svc_profile = {"profile", routes, sizeof routes / sizeof *routes};
