/*
 * state — the one in-memory world the four sample services share: players, games, items,
 * player items, trade orders and the balance ledger. Records live in arrays and are found by
 * UUID through an idmap; they are never deleted, so an index stays valid for the process's
 * life (a pointer does not: an array may move when a record is added).
 *
 * Thread rule: every read or write of `svc_state` happens between state_lock() and
 * state_unlock(). The services hold the lock for one request's whole read-check-write, which
 * is what keeps the invariants (state_invariants_json) true under concurrent load.
 * (state.c and the service files spell `svc_state` as `S` through a local #define.)
 */
#ifndef HERD_SVC_STATE_H
#define HERD_SVC_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <uuid/uuid.h>

#include "../common/buf.h"
#include "idmap.h"

#define STATE_GAME_SIZE 100            /* players a new game takes, at most */
#define STATE_LIST_MAX 10000           /* UUIDs GET /players and GET /items return, at most */
#define STATE_START_BALANCE_CENTS 100000 /* a seeded player's balance: 1000.00 */

typedef struct player {
    uuid_t id;
    char *name;              /* owned */
    char *email;             /* owned; unique (state.emails) */
    uint64_t password_hash;  /* salted; the password itself is never kept */
    int64_t created_ms, updated_ms;
    int64_t balance_cents;
    uint32_t games_played, games_won;
    int32_t game;            /* open game the player is in, -1 when none */
    uint32_t set_pos;        /* position in state.in_game when game >= 0, else in state.free */
    uint32_t items_owned;    /* player items whose owner is this player */
} player_t;

typedef struct game {
    uuid_t id;
    int64_t created_ms;
    int64_t finished_ms;     /* 0 while open */
    int32_t winner;          /* player index once closed with players, else -1 */
    uint32_t *players;       /* owned while open; freed at close */
    uint32_t n_players;
    uint32_t open_pos;       /* position in state.open_games (or open_empty_games) while open */
} game_t;

typedef struct item {
    uuid_t id;
    char *name;              /* owned */
    int64_t value_cents;
    int64_t available_ms;
} item_t;

typedef struct player_item {
    uuid_t id;
    uint32_t owner;          /* player index: exactly one owner, always */
    uint32_t item;
    int64_t price_cents;
    char *source;            /* owned */
    int32_t game_session;    /* the owner's game when acquired, -1 when none */
    int32_t order;           /* the open order listing it, -1 when unlisted (and so visible) */
    uint32_t set_pos;        /* position in state.unlisted while order < 0 */
    int64_t acquired_ms;
} player_item_t;

enum order_status { ORDER_OPEN, ORDER_FILLED, ORDER_CANCELLED };

typedef struct order {
    uuid_t id;
    uint32_t lister, player_item;
    int32_t buyer;           /* player index once filled, else -1 */
    int64_t list_price_cents;
    int status;              /* enum order_status; never goes back to ORDER_OPEN */
    uint32_t open_pos;       /* position in state.open_orders while open */
    int64_t created_ms, ended_ms;
} order_t;

typedef struct ledger_entry {
    uint32_t player;
    int32_t game;
    int64_t amount_cents;
} ledger_entry_t;

/* A growable array of indices; sets below are kept with swap-remove and a back position. */
typedef struct idxvec {
    uint32_t *v;
    uint32_t len;
    size_t cap;                /* slots allocated in v */
} idxvec_t;

typedef struct state {
    /* Records are addressed by uint32_t index; each cap_* counts allocated slots. */
    player_t *players;        uint32_t n_players; size_t cap_players;
    game_t *games;            uint32_t n_games;   size_t cap_games;
    item_t *items;            uint32_t n_items;   size_t cap_items;
    player_item_t *pitems;    uint32_t n_pitems;  size_t cap_pitems;
    order_t *orders;          uint32_t n_orders;  size_t cap_orders;
    ledger_entry_t *ledger;   uint32_t n_ledger;  size_t cap_ledger;
    idmap_t player_ids, game_ids, item_ids, pitem_ids, order_ids, emails;
    idxvec_t free;            /* players in no game */
    idxvec_t in_game;         /* players in an open game */
    idxvec_t open_games;      /* open games with at least one player */
    idxvec_t open_empty_games;/* open games created when no player was free */
    idxvec_t unlisted;        /* player items not listed on the trade post */
    idxvec_t open_orders;
    int64_t opening_cents;    /* sum of the balances players started with */
    int64_t ledger_cents;     /* sum of every /players/balance change */
    uint64_t auto_listed;     /* orders GET /trades/open listed itself (none were open) */
    uint64_t auto_opened;     /* games GET /games/open opened itself (none were open) */
    uint64_t auto_cancelled;  /* orders GET /trades/player_items cancelled (nothing unlisted) */
} state_t;

extern state_t svc_state;

typedef struct state_seed {
    uint32_t players, items, games, player_items;
} state_seed_t;

/* Builds the seeded world; 0, or -1 with err filled. Called once before any listener. */
int state_init(const state_seed_t *seed, char *err, size_t errlen);
void state_free(void);
void state_lock(void);
void state_unlock(void);

int64_t state_now_ms(void);
/* Append "…" quoted UUID / RFC 3339 UTC time. */
int state_put_uuid(buf_t *b, const uuid_t id);
int state_put_time(buf_t *b, int64_t ms);

/* Lookups: 1 and *idx when found. */
int state_find_player(const uuid_t id, uint32_t *idx);
int state_find_game(const uuid_t id, uint32_t *idx);
int state_find_item(const uuid_t id, uint32_t *idx);
int state_find_pitem(const uuid_t id, uint32_t *idx);
int state_find_order(const uuid_t id, uint32_t *idx);
int state_email_taken(const char *email);

/* Creation: 0 and *idx, or -1 on OOM (nothing half-made is left behind). */
int state_add_player(const char *name, const char *email, const char *password,
                     int64_t balance_cents, uint32_t *idx);
int state_add_item(const char *name, int64_t value_cents, uint32_t *idx);
/* A new open game with up to STATE_GAME_SIZE random free players. */
int state_add_game(uint32_t *idx);
int state_add_pitem(uint32_t owner, uint32_t item, const char *source, uint32_t *idx);
/* Lists an unlisted player item for its owner. */
int state_add_order(uint32_t pitem, int64_t list_price_cents, uint32_t *idx);

/* Closes an open game: random winner (-1 when it has no players), stats, everybody leaves. */
int32_t state_close_game(uint32_t game);
/* Closes an open order: filled (item and money move to/from buyer) or cancelled. */
void state_fill_order(uint32_t order, uint32_t buyer);
void state_cancel_order(uint32_t order);
/* Adds amount to a player's balance and writes the ledger; -1 on OOM. */
int state_change_balance(uint32_t player, int64_t amount_cents);

/* Random picks; -1 when there is none. */
int64_t state_random_in_game_player(int64_t exclude, int64_t min_balance_cents);
int64_t state_random_open_game(void);
int64_t state_random_unlisted_in_game(void);  /* an unlisted item whose owner is in a game */
int64_t state_random_open_order(void);
int64_t state_random_open_order_in_game(void); /* an open order whose lister is in a game */

/* The invariants tests check, as a JSON object (GET /__invariants). */
int state_invariants_json(buf_t *b);

#endif
