/*
 * fuzz_body — herd-sample-services reading a request's JSON body: parsed as an object, then
 * the typed fields the services take (strings, UUIDs, money as a number or a decimal string).
 */
#include <stddef.h>
#include <stdint.h>

#include "../../sample-services/body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_t *obj = body_parse_object((const char *)data, size, err, sizeof err);
    if (!obj)
        return 0;
    static const char *const fields[] = {
        "player_name", "email",  "password", "item_name",  "item_value",     "playerUUID",
        "amount",      "source", "itemUUID", "gameUUID",   "lister",         "playerItemUUID",
        "list_price",  "orderUUID", "buyer"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *s;
        uuid_t u;
        int64_t cents;
        body_get_string(obj, fields[i], &s, err, sizeof err);
        body_get_uuid(obj, fields[i], u, err, sizeof err);
        body_get_money(obj, fields[i], &cents, err, sizeof err);
    }
    json_decref(obj);
    return 0;
}
