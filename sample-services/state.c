#include "state.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/rng.h"
#include "../common/vec.h"
#include "money.h"
#include "service.h"

state_t svc_state;
static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;

#define S svc_state

void state_lock(void) { pthread_mutex_lock(&state_mutex); }
void state_unlock(void) { pthread_mutex_unlock(&state_mutex); }

int64_t state_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int state_put_uuid(buf_t *b, const uuid_t id)
{
    char s[37];
    uuid_unparse_lower(id, s);
    return buf_printf(b, "\"%s\"", s);
}

int state_put_time(buf_t *b, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char s[40];
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    return buf_printf(b, "\"%s.%03dZ\"", s, (int)(ms % 1000));
}

/* ---- growable arrays and index sets ---- */

/* Room in arr for one more than its n records (n is a uint32_t count: widened before + 1). */
#define RESERVE_ONE_MORE(arr, cap, n) VEC_RESERVE(arr, cap, (size_t)(n) + 1)

/* Appends v; returns its position, or -1 on OOM. */
static int64_t set_add(idxvec_t *s, uint32_t v)
{
    if (RESERVE_ONE_MORE(s->v, s->cap, s->len) < 0)
        return -1;
    s->v[s->len] = v;
    return s->len++;
}

/* Removes the element at pos; returns the element moved into pos (or UINT32_MAX if none),
 * whose back position the caller must update. */
static uint32_t set_remove_at(idxvec_t *s, uint32_t pos)
{
    s->len--;
    if (pos == s->len)
        return UINT32_MAX;
    s->v[pos] = s->v[s->len];
    return s->v[pos];
}

/* Every set below has enough room reserved before a record is added to it, so moving an
 * element between sets cannot fail half-way (see reserve_sets). */
static int reserve_sets(void)
{
    return RESERVE_ONE_MORE(S.free.v, S.free.cap, S.n_players) |
           RESERVE_ONE_MORE(S.in_game.v, S.in_game.cap, S.n_players) |
           RESERVE_ONE_MORE(S.open_games.v, S.open_games.cap, S.n_games) |
           RESERVE_ONE_MORE(S.open_empty_games.v, S.open_empty_games.cap, S.n_games) |
           RESERVE_ONE_MORE(S.unlisted.v, S.unlisted.cap, S.n_pitems) |
           RESERVE_ONE_MORE(S.open_orders.v, S.open_orders.cap, S.n_orders);
}

static void player_leave_set(uint32_t p)
{
    idxvec_t *s = S.players[p].game >= 0 ? &S.in_game : &S.free;
    uint32_t moved = set_remove_at(s, S.players[p].set_pos);
    if (moved != UINT32_MAX)
        S.players[moved].set_pos = S.players[p].set_pos;
}

static void player_set_game(uint32_t p, int32_t game)
{
    player_leave_set(p);
    S.players[p].game = game;
    S.players[p].set_pos = (uint32_t)set_add(game >= 0 ? &S.in_game : &S.free, p);
}

static void pitem_unlisted_remove(uint32_t pi)
{
    uint32_t moved = set_remove_at(&S.unlisted, S.pitems[pi].set_pos);
    if (moved != UINT32_MAX)
        S.pitems[moved].set_pos = S.pitems[pi].set_pos;
}

static void order_open_remove(uint32_t o)
{
    uint32_t moved = set_remove_at(&S.open_orders, S.orders[o].open_pos);
    if (moved != UINT32_MAX)
        S.orders[moved].open_pos = S.orders[o].open_pos;
}

static void game_open_remove(uint32_t g)
{
    idxvec_t *s = S.games[g].n_players ? &S.open_games : &S.open_empty_games;
    uint32_t moved = set_remove_at(s, S.games[g].open_pos);
    if (moved != UINT32_MAX)
        S.games[moved].open_pos = S.games[g].open_pos;
}

/* ---- hashing of strings (emails, passwords) ---- */

static uint64_t hash64(const char *s, uint64_t seed)
{
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* A 128-bit key for the email index; two different emails colliding is not a practical
 * concern for a test target. */
static void email_key(const char *email, unsigned char key[16])
{
    uint64_t a = hash64(email, 0x51ED270B2A3C9F11ull), b = hash64(email, 0x7F4A7C159E3779B9ull);
    memcpy(key, &a, 8);
    memcpy(key + 8, &b, 8);
}

/* ---- lookups ---- */

int state_find_player(const uuid_t id, uint32_t *idx) { return idmap_get(&S.player_ids, id, idx); }
int state_find_game(const uuid_t id, uint32_t *idx) { return idmap_get(&S.game_ids, id, idx); }
int state_find_item(const uuid_t id, uint32_t *idx) { return idmap_get(&S.item_ids, id, idx); }
int state_find_pitem(const uuid_t id, uint32_t *idx) { return idmap_get(&S.pitem_ids, id, idx); }
int state_find_order(const uuid_t id, uint32_t *idx) { return idmap_get(&S.order_ids, id, idx); }

int state_email_taken(const char *email)
{
    unsigned char key[16];
    uint32_t idx;
    email_key(email, key);
    return idmap_get(&S.emails, key, &idx);
}

/* ---- creation ---- */

int state_add_player(const char *name, const char *email, const char *password,
                     int64_t balance_cents, uint32_t *idx)
{
    if (RESERVE_ONE_MORE(S.players, S.cap_players, S.n_players) < 0 || reserve_sets() < 0)
        return -1;
    if (idmap_reserve(&S.player_ids, 1) < 0 || idmap_reserve(&S.emails, 1) < 0)
        return -1;
    player_t p = {0};
    uuid_generate_random(p.id);
    p.name = strdup(name);
    p.email = strdup(email);
    if (!p.name || !p.email) {
        free(p.name);
        free(p.email);
        return -1;
    }
    unsigned char ekey[16];
    email_key(email, ekey);
    /* Both maps have room reserved: these cannot fail. */
    idmap_put(&S.player_ids, p.id, S.n_players);
    idmap_put(&S.emails, ekey, S.n_players);
    p.password_hash = hash64(password, rng_next(svc_rng()));
    p.created_ms = p.updated_ms = state_now_ms();
    p.balance_cents = balance_cents;
    p.game = -1;
    uint32_t i = S.n_players++;
    S.players[i] = p;
    S.players[i].set_pos = (uint32_t)set_add(&S.free, i);
    S.opening_cents += balance_cents;
    *idx = i;
    return 0;
}

int state_add_item(const char *name, int64_t value_cents, uint32_t *idx)
{
    if (RESERVE_ONE_MORE(S.items, S.cap_items, S.n_items) < 0)
        return -1;
    item_t it = {0};
    uuid_generate_random(it.id);
    it.name = strdup(name);
    if (!it.name || idmap_put(&S.item_ids, it.id, S.n_items) < 0) {
        free(it.name);
        return -1;
    }
    it.value_cents = value_cents;
    it.available_ms = state_now_ms();
    *idx = S.n_items;
    S.items[S.n_items++] = it;
    return 0;
}

int state_add_game(uint32_t *idx)
{
    if (RESERVE_ONE_MORE(S.games, S.cap_games, S.n_games) < 0 || reserve_sets() < 0)
        return -1;
    game_t g = {0};
    uuid_generate_random(g.id);
    uint32_t want = S.free.len < STATE_GAME_SIZE ? S.free.len : STATE_GAME_SIZE;
    if (want && !(g.players = malloc(want * sizeof *g.players)))
        return -1;
    if (idmap_put(&S.game_ids, g.id, S.n_games) < 0) {
        free(g.players);
        return -1;
    }
    g.created_ms = state_now_ms();
    g.winner = -1;
    uint32_t gi = S.n_games++;
    for (uint32_t k = 0; k < want; k++) {
        uint32_t p = S.free.v[rng_below(svc_rng(), S.free.len)];
        g.players[g.n_players++] = p;
        player_set_game(p, (int32_t)gi);
    }
    S.games[gi] = g;
    S.games[gi].open_pos =
        (uint32_t)set_add(g.n_players ? &S.open_games : &S.open_empty_games, gi);
    *idx = gi;
    return 0;
}

int state_add_pitem(uint32_t owner, uint32_t item, const char *source, uint32_t *idx)
{
    if (RESERVE_ONE_MORE(S.pitems, S.cap_pitems, S.n_pitems) < 0 || reserve_sets() < 0)
        return -1;
    player_item_t pi = {0};
    uuid_generate_random(pi.id);
    pi.source = strdup(source);
    if (!pi.source || idmap_put(&S.pitem_ids, pi.id, S.n_pitems) < 0) {
        free(pi.source);
        return -1;
    }
    pi.owner = owner;
    pi.item = item;
    pi.price_cents = S.items[item].value_cents;
    pi.game_session = S.players[owner].game;
    pi.order = -1;
    pi.acquired_ms = state_now_ms();
    uint32_t i = S.n_pitems++;
    S.pitems[i] = pi;
    S.pitems[i].set_pos = (uint32_t)set_add(&S.unlisted, i);
    S.players[owner].items_owned++;
    *idx = i;
    return 0;
}

int state_add_order(uint32_t pitem, int64_t list_price_cents, uint32_t *idx)
{
    if (RESERVE_ONE_MORE(S.orders, S.cap_orders, S.n_orders) < 0 || reserve_sets() < 0)
        return -1;
    order_t o = {0};
    uuid_generate_random(o.id);
    if (idmap_put(&S.order_ids, o.id, S.n_orders) < 0)
        return -1;
    o.lister = S.pitems[pitem].owner;
    o.player_item = pitem;
    o.buyer = -1;
    o.list_price_cents = list_price_cents;
    o.status = ORDER_OPEN;
    o.created_ms = state_now_ms();
    uint32_t i = S.n_orders++;
    S.orders[i] = o;
    S.orders[i].open_pos = (uint32_t)set_add(&S.open_orders, i);
    pitem_unlisted_remove(pitem);
    S.pitems[pitem].order = (int32_t)i;
    *idx = i;
    return 0;
}

/* ---- changes ---- */

int32_t state_close_game(uint32_t gi)
{
    game_t *g = &S.games[gi];
    game_open_remove(gi);
    g->finished_ms = state_now_ms();
    g->winner = g->n_players ? (int32_t)g->players[rng_below(svc_rng(), g->n_players)] : -1;
    for (uint32_t k = 0; k < g->n_players; k++) {
        uint32_t p = g->players[k];
        S.players[p].games_played++;
        if ((int32_t)p == g->winner)
            S.players[p].games_won++;
        S.players[p].updated_ms = g->finished_ms;
        player_set_game(p, -1);
    }
    free(g->players);
    g->players = NULL;
    /* n_players stays: it says which open set the game was in and how many played. */
    return g->winner;
}

static void pitem_unlist(uint32_t pi)
{
    S.pitems[pi].order = -1;
    S.pitems[pi].set_pos = (uint32_t)set_add(&S.unlisted, pi);
}

void state_fill_order(uint32_t oi, uint32_t buyer)
{
    order_t *o = &S.orders[oi];
    int64_t now = state_now_ms();
    order_open_remove(oi);
    o->status = ORDER_FILLED;
    o->buyer = (int32_t)buyer;
    o->ended_ms = now;
    S.players[buyer].balance_cents -= o->list_price_cents;
    S.players[o->lister].balance_cents += o->list_price_cents;
    S.players[buyer].updated_ms = S.players[o->lister].updated_ms = now;
    player_item_t *pi = &S.pitems[o->player_item];
    S.players[pi->owner].items_owned--;
    pi->owner = buyer;
    pi->game_session = S.players[buyer].game;
    S.players[buyer].items_owned++;
    pitem_unlist(o->player_item);
}

void state_cancel_order(uint32_t oi)
{
    order_t *o = &S.orders[oi];
    order_open_remove(oi);
    o->status = ORDER_CANCELLED;
    o->ended_ms = state_now_ms();
    pitem_unlist(o->player_item);
}

int state_change_balance(uint32_t p, int64_t amount_cents)
{
    if (RESERVE_ONE_MORE(S.ledger, S.cap_ledger, S.n_ledger) < 0)
        return -1;
    S.ledger[S.n_ledger++] = (ledger_entry_t){p, S.players[p].game, amount_cents};
    S.ledger_cents += amount_cents;
    S.players[p].balance_cents += amount_cents;
    S.players[p].updated_ms = state_now_ms();
    return 0;
}

/* ---- random picks: a few random tries, then one scan from a random start ---- */

#define PICK_TRIES 32

int64_t state_random_in_game_player(int64_t exclude, int64_t min_balance_cents)
{
    uint32_t n = S.in_game.len;
    if (n == 0)
        return -1;
    for (int t = 0; t < PICK_TRIES; t++) {
        uint32_t p = S.in_game.v[rng_below(svc_rng(), n)];
        if ((int64_t)p != exclude && S.players[p].balance_cents >= min_balance_cents)
            return p;
    }
    uint32_t start = rng_below(svc_rng(), n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t p = S.in_game.v[(start + k) % n];
        if ((int64_t)p != exclude && S.players[p].balance_cents >= min_balance_cents)
            return p;
    }
    return -1;
}

int64_t state_random_open_game(void)
{
    /* Games with players first: closing an empty game changes nothing worth loading. */
    if (S.open_games.len)
        return S.open_games.v[rng_below(svc_rng(), S.open_games.len)];
    if (S.open_empty_games.len)
        return S.open_empty_games.v[rng_below(svc_rng(), S.open_empty_games.len)];
    return -1;
}

int64_t state_random_unlisted_in_game(void)
{
    uint32_t n = S.unlisted.len;
    if (n == 0)
        return -1;
    for (int t = 0; t < PICK_TRIES; t++) {
        uint32_t pi = S.unlisted.v[rng_below(svc_rng(), n)];
        if (S.players[S.pitems[pi].owner].game >= 0)
            return pi;
    }
    uint32_t start = rng_below(svc_rng(), n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t pi = S.unlisted.v[(start + k) % n];
        if (S.players[S.pitems[pi].owner].game >= 0)
            return pi;
    }
    return -1;
}

int64_t state_random_open_order(void)
{
    if (!S.open_orders.len)
        return -1;
    return (int64_t)S.open_orders.v[rng_below(svc_rng(), S.open_orders.len)];
}

int64_t state_random_open_order_in_game(void)
{
    uint32_t n = S.open_orders.len;
    if (n == 0)
        return -1;
    uint32_t start = rng_below(svc_rng(), n);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t o = S.open_orders.v[(start + k) % n];
        if (S.players[S.orders[o].lister].game >= 0)
            return o;
    }
    return -1;
}

/* ---- seeding ---- */

int state_init(const state_seed_t *seed, char *err, size_t errlen)
{
    memset(&S, 0, sizeof S);
    char name[64], email[96], pw[32];
    uint32_t idx;
    for (uint32_t i = 0; i < seed->players; i++) {
        snprintf(name, sizeof name, "player%u", i);
        snprintf(email, sizeof email, "player%u@sample.herd", i);
        snprintf(pw, sizeof pw, "secret%u", i);
        if (state_add_player(name, email, pw, STATE_START_BALANCE_CENTS, &idx) < 0)
            goto oom;
    }
    for (uint32_t i = 0; i < seed->items; i++) {
        snprintf(name, sizeof name, "item%u", i);
        if (state_add_item(name, 100 + (int64_t)rng_below(svc_rng(), 9900), &idx) < 0)
            goto oom;
    }
    for (uint32_t i = 0; i < seed->games; i++)
        if (state_add_game(&idx) < 0)
            goto oom;
    if (S.in_game.len && S.n_items)
        for (uint32_t i = 0; i < seed->player_items; i++) {
            uint32_t owner = S.in_game.v[rng_below(svc_rng(), S.in_game.len)];
            if (state_add_pitem(owner, rng_below(svc_rng(), S.n_items), "seed", &idx) < 0)
                goto oom;
        }
    return 0;
oom:
    snprintf(err, errlen, "out of memory while seeding");
    return -1;
}

void state_free(void)
{
    for (uint32_t i = 0; i < S.n_players; i++) {
        free(S.players[i].name);
        free(S.players[i].email);
    }
    for (uint32_t i = 0; i < S.n_games; i++)
        free(S.games[i].players);
    for (uint32_t i = 0; i < S.n_items; i++)
        free(S.items[i].name);
    for (uint32_t i = 0; i < S.n_pitems; i++)
        free(S.pitems[i].source);
    free(S.players);
    free(S.games);
    free(S.items);
    free(S.pitems);
    free(S.orders);
    free(S.ledger);
    idmap_t *maps[] = {&S.player_ids, &S.game_ids, &S.item_ids, &S.pitem_ids, &S.order_ids,
                       &S.emails};
    for (size_t i = 0; i < sizeof maps / sizeof *maps; i++)
        idmap_free(maps[i]);
    idxvec_t *sets[] = {&S.free, &S.in_game, &S.open_games, &S.open_empty_games, &S.unlisted,
                        &S.open_orders};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        free(sets[i]->v);
    memset(&S, 0, sizeof S);
}

/* ---- invariants ---- */

int state_invariants_json(buf_t *b)
{
    int64_t money = 0;
    int non_negative = 1;
    for (uint32_t p = 0; p < S.n_players; p++) {
        money += S.players[p].balance_cents;
        if (S.players[p].balance_cents < 0)
            non_negative = 0;
    }

    /* Every player item has one valid owner, and each player's count matches a recount. */
    int one_owner = 1;
    uint32_t *owned = calloc(S.n_players ? S.n_players : 1, sizeof *owned);
    uint32_t *seen = calloc(S.n_players ? S.n_players : 1, sizeof *seen);
    if (!owned || !seen) {
        free(owned);
        free(seen);
        return -1;
    }
    for (uint32_t i = 0; i < S.n_pitems; i++) {
        if (S.pitems[i].owner >= S.n_players)
            one_owner = 0;
        else
            owned[S.pitems[i].owner]++;
    }
    for (uint32_t p = 0; p < S.n_players; p++)
        if (owned[p] != S.players[p].items_owned)
            one_owner = 0;

    /* Orders: an open order's item points back at it and belongs to the lister; a closed
     * order is referenced by no item and sits in no open set. */
    int orders_ok = 1;
    uint64_t n_open = 0, n_filled = 0, n_cancelled = 0;
    for (uint32_t o = 0; o < S.n_orders; o++) {
        const order_t *or = &S.orders[o];
        const player_item_t *pi = &S.pitems[or->player_item];
        if (or->status == ORDER_OPEN) {
            n_open++;
            if (pi->order != (int32_t)o || pi->owner != or->lister ||
                or->open_pos >= S.open_orders.len || S.open_orders.v[or->open_pos] != o)
                orders_ok = 0;
        } else {
            or->status == ORDER_FILLED ? n_filled++ : n_cancelled++;
            if (pi->order == (int32_t)o || or->ended_ms == 0)
                orders_ok = 0;
        }
    }
    if (n_open != S.open_orders.len)
        orders_ok = 0;
    uint64_t listed = 0;
    for (uint32_t i = 0; i < S.n_pitems; i++)
        if (S.pitems[i].order >= 0) {
            listed++;
            if (S.orders[S.pitems[i].order].status != ORDER_OPEN)
                orders_ok = 0;
        }
    if (listed != n_open || listed + S.unlisted.len != S.n_pitems)
        orders_ok = 0;

    /* Games: a player appears in at most one open game, and its game field says which. */
    int one_game = 1;
    memset(seen, 0, S.n_players * sizeof *seen);
    uint64_t n_open_games = 0, in_games = 0;
    for (uint32_t g = 0; g < S.n_games; g++) {
        const game_t *gm = &S.games[g];
        if (gm->finished_ms)
            continue;
        n_open_games++;
        for (uint32_t k = 0; k < gm->n_players; k++) {
            uint32_t p = gm->players[k];
            in_games++;
            if (++seen[p] > 1 || S.players[p].game != (int32_t)g)
                one_game = 0;
        }
    }
    for (uint32_t p = 0; p < S.n_players; p++)
        if (S.players[p].game >= 0 && seen[p] != 1)
            one_game = 0;
    if (in_games != S.in_game.len || S.in_game.len + S.free.len != S.n_players ||
        n_open_games != S.open_games.len + S.open_empty_games.len)
        one_game = 0;
    free(owned);
    free(seen);

    int conserved = money == S.opening_cents + S.ledger_cents;
    int rc = buf_puts(b, "{\"money_total\": \"");
    rc |= money_put(b, money);
    rc |= buf_printf(b,
                     "\", \"money_total_cents\": %lld, \"money_expected_cents\": %lld, "
                     "\"opening_cents\": %lld, \"ledger_cents\": %lld, \"ledger_entries\": %u, "
                     "\"money_conserved_ok\": %s, \"balances_non_negative_ok\": %s, "
                     "\"items_with_one_owner_ok\": %s, \"orders_consistent_ok\": %s, "
                     "\"closed_orders_never_reopen_ok\": %s, "
                     "\"players_in_at_most_one_game_ok\": %s, ",
                     (long long)money, (long long)(S.opening_cents + S.ledger_cents),
                     (long long)S.opening_cents, (long long)S.ledger_cents, S.n_ledger,
                     conserved ? "true" : "false", non_negative ? "true" : "false",
                     one_owner ? "true" : "false", orders_ok ? "true" : "false",
                     orders_ok ? "true" : "false", one_game ? "true" : "false");
    rc |= buf_printf(b,
                     "\"players\": %u, \"players_in_game\": %u, \"items\": %u, "
                     "\"player_items\": %u, \"games\": %u, \"open_games\": %llu, "
                     "\"orders\": %u, \"open_orders\": %llu, \"filled_orders\": %llu, "
                     "\"cancelled_orders\": %llu, \"auto_opened\": %llu, \"auto_listed\": %llu, "
                     "\"auto_cancelled\": %llu, \"ok\": %s}",
                     S.n_players, S.in_game.len, S.n_items, S.n_pitems, S.n_games,
                     (unsigned long long)n_open_games, S.n_orders, (unsigned long long)n_open,
                     (unsigned long long)n_filled, (unsigned long long)n_cancelled,
                     (unsigned long long)S.auto_opened, (unsigned long long)S.auto_listed,
                     (unsigned long long)S.auto_cancelled,
                     conserved && non_negative && one_owner && orders_ok && one_game ? "true"
                                                                                     : "false");
    return rc ? -1 : 0;
}
