/*
 * matchmaking (:8081) — games open with up to 100 free players and close with a random
 * winner. When no player is free a game still opens, empty; GET /games/open offers games with
 * players first, and closing an empty game answers 200 with an empty winner, so the match
 * generator never fails on its own.
 */
#include "body.h"
#include "service.h"
#include "state.h"

#define S svc_state

static int post_create(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    uint32_t idx;
    state_lock();
    if (state_add_game(&idx) < 0) {
        state_unlock();
        return svc_error(out, 500, "out of memory");
    }
    buf_reset(out);
    state_put_uuid(out, S.games[idx].id);
    state_unlock();
    return 201;
}

static int get_open(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    buf_reset(out);
    state_lock();
    int64_t g = state_random_open_game();
    uint32_t opened;
    if (g < 0 && state_add_game(&opened) == 0) {
        /* None open: open one, so match_server alone never closes "" (with 2 creates to 1
         * close the open count is a random walk that can reach 0 near the start). */
        g = opened;
        S.auto_opened++;
    }
    if (g < 0) {
        state_unlock();
        buf_puts(out, "{\"gameUUID\": \"\", \"players\": [], \"winner\": \"\", \"created\": \"\", "
                      "\"finished\": null}");
        return 200;
    }
    const game_t *gm = &S.games[g];
    buf_puts(out, "{\"gameUUID\": ");
    state_put_uuid(out, gm->id);
    buf_puts(out, ", \"players\": [");
    for (uint32_t k = 0; k < gm->n_players; k++) {
        if (k)
            buf_putc(out, ',');
        state_put_uuid(out, S.players[gm->players[k]].id);
    }
    buf_puts(out, "], \"winner\": \"\", \"created\": ");
    state_put_time(out, gm->created_ms);
    buf_puts(out, ", \"finished\": null}");
    state_unlock();
    return 200;
}

static int put_close(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    uuid_t id;
    uint32_t g;
    int status;
    if (body_get_uuid(obj, "gameUUID", id, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else {
        state_lock();
        if (!state_find_game(id, &g)) {
            status = svc_error(out, 400, "game not found");
        } else if (S.games[g].finished_ms) {
            status = svc_error(out, 400, "game already closed");
        } else {
            int32_t winner = state_close_game(g);
            buf_reset(out);
            if (winner >= 0)
                state_put_uuid(out, S.players[winner].id);
            else
                buf_puts(out, "\"\"");
            status = 200;
        }
        state_unlock();
    }
    json_decref(obj);
    return status;
}

static const svc_route_t routes[] = {
    {"POST", "/games/create", post_create},
    {"GET", "/games/open", get_open},
    {"PUT", "/games/close", put_close},
};

const svc_service_t svc_matchmaking = {"matchmaking", routes, sizeof routes / sizeof *routes};
