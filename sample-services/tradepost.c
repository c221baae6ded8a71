/*
 * tradepost (:8083) — players list their items and buy each other's. A trade moves money from
 * buyer to lister and the item to the buyer; money is never made or lost here.
 *
 * The trade generator sells and buys in equal measure, so the number of open orders is a
 * random walk that, on a fast run, would sooner or later hit zero (or use up every unlisted
 * item) and fail a request. So the trade post keeps its market liquid: GET /trades/open with no
 * open order lists a random unlisted item of an in-game player itself (at 1.5 x its price),
 * and GET /trades/player_items with no unlisted item cancels a random open order to free its
 * item. Both are counted in /__invariants (auto_listed, auto_cancelled); 404 remains for when
 * there is truly nothing to offer.
 */
#include "body.h"
#include "money.h"
#include "service.h"
#include "state.h"

#define S svc_state

#define OPEN_ORDER_TRIES 8  /* orders GET /trades/open tries before it gives up on a buyer */

static int get_player_items(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    state_lock();
    int64_t pi = state_random_unlisted_in_game();
    if (pi < 0) {
        int64_t o = state_random_open_order_in_game();
        if (o >= 0) {
            state_cancel_order((uint32_t)o);
            S.auto_cancelled++;
            pi = S.orders[o].player_item;
        }
    }
    if (pi < 0) {
        state_unlock();
        return svc_error(out, 404, "item not found");
    }
    const player_item_t *x = &S.pitems[pi];
    buf_reset(out);
    buf_puts(out, "{\"PlayerUUID\": ");
    state_put_uuid(out, S.players[x->owner].id);
    buf_puts(out, ", \"PlayerItemUUID\": ");
    state_put_uuid(out, x->id);
    buf_puts(out, ", \"Price\": \"");
    money_put(out, x->price_cents);
    buf_puts(out, "\"}");
    state_unlock();
    return 200;
}

static int post_sell(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    uuid_t lister_id, pi_id;
    int64_t price;
    uint32_t lister, pi, o;
    int status;
    if (body_get_uuid(obj, "lister", lister_id, err, sizeof err) < 0 ||
        body_get_uuid(obj, "playerItemUUID", pi_id, err, sizeof err) < 0 ||
        body_get_money(obj, "list_price", &price, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else if (price <= 0) {
        status = svc_error(out, 400, "list_price must be positive");
    } else {
        state_lock();
        if (!state_find_player(lister_id, &lister)) {
            status = svc_error(out, 400, "lister not found");
        } else if (!state_find_pitem(pi_id, &pi)) {
            status = svc_error(out, 400, "player item not found");
        } else if (S.pitems[pi].owner != lister) {
            status = svc_error(out, 400, "player item does not belong to the lister");
        } else if (S.pitems[pi].order >= 0) {
            status = svc_error(out, 400, "player item is already listed");
        } else if (state_add_order(pi, price, &o) < 0) {
            status = svc_error(out, 500, "out of memory");
        } else {
            buf_reset(out);
            state_put_uuid(out, S.orders[o].id);
            status = 201;
        }
        state_unlock();
    }
    json_decref(obj);
    return status;
}

static int get_open(const svc_request_t *rq, buf_t *out)
{
    (void)rq;
    uint32_t o;
    state_lock();
    if (S.open_orders.len == 0) {
        int64_t pi = state_random_unlisted_in_game();
        if (pi >= 0 && state_add_order((uint32_t)pi, (S.pitems[pi].price_cents * 3 + 1) / 2, &o) == 0)
            S.auto_listed++;
    }
    int64_t order = -1, buyer = -1;
    for (int t = 0; t < OPEN_ORDER_TRIES && buyer < 0; t++) {
        order = state_random_open_order();
        if (order < 0)
            break;
        buyer = state_random_in_game_player(S.orders[order].lister,
                                            S.orders[order].list_price_cents);
    }
    if (buyer < 0) {
        state_unlock();
        return svc_error(out, 404, "order not found");
    }
    buf_reset(out);
    buf_puts(out, "{\"OrderUUID\": ");
    state_put_uuid(out, S.orders[order].id);
    buf_puts(out, ", \"ListPrice\": \"");
    money_put(out, S.orders[order].list_price_cents);
    buf_puts(out, "\", \"BuyerUUID\": ");
    state_put_uuid(out, S.players[buyer].id);
    buf_puts(out, ", \"AccountBalance\": \"");
    money_put(out, S.players[buyer].balance_cents);
    buf_puts(out, "\"}");
    state_unlock();
    return 200;
}

static int put_buy(const svc_request_t *rq, buf_t *out)
{
    char err[160];
    json_t *obj = body_parse_object(rq->body, rq->body_len, err, sizeof err);
    if (!obj)
        return svc_error(out, 400, err);
    uuid_t order_id, buyer_id;
    uint32_t o, buyer;
    int status;
    if (body_get_uuid(obj, "orderUUID", order_id, err, sizeof err) < 0 ||
        body_get_uuid(obj, "buyer", buyer_id, err, sizeof err) < 0) {
        status = svc_error(out, 400, err);
    } else {
        state_lock();
        if (!state_find_order(order_id, &o)) {
            status = svc_error(out, 400, "order not found");
        } else if (S.orders[o].status != ORDER_OPEN) {
            status = svc_error(out, 400, "order is closed");
        } else if (!state_find_player(buyer_id, &buyer)) {
            status = svc_error(out, 400, "buyer not found");
        } else if (buyer == S.orders[o].lister) {
            status = svc_error(out, 400, "buyer is the lister");
        } else if (S.players[buyer].balance_cents < S.orders[o].list_price_cents) {
            status = svc_error(out, 400, "buyer cannot afford the order");
        } else {
            state_fill_order(o, buyer);
            buf_reset(out);
            state_put_uuid(out, S.orders[o].id);
            status = 201;
        }
        state_unlock();
    }
    json_decref(obj);
    return status;
}

static const svc_route_t routes[] = {
    {"GET", "/trades/player_items", get_player_items},
    {"POST", "/trades/sell", post_sell},
    {"GET", "/trades/open", get_open},
    {"PUT", "/trades/buy", put_buy},
};

const svc_service_t svc_tradepost = {"tradepost", routes, sizeof routes / sizeof *routes};
