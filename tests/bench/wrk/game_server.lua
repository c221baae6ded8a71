-- game_server.yaml: GET /players, then acquireMoney (2: PUT /players/balance) or acquireItem
-- (5: POST /players/items with an item of the run's start, from the file the argument names).
dofile(os.getenv("HERD_BENCH_LUA") .. "/common.lua")
local items
function init(args) items = lines(args[1]) end
request = function()
  local p = take()
  if not p then return wrk.format("GET", "/players", H) end
  if math.random(7) <= 2 then
    return wrk.format("PUT", "/players/balance", H, string.format(
      '{"playerUUID":"%s","amount":%s,"source":"loot"}', p, rf(1.01, 49.99)))
  end
  return wrk.format("POST", "/players/items", H, string.format(
    '{"playerUUID":"%s","itemUUID":"%s","source":"loot"}', p, items[math.random(#items)]))
end
response = function(status, headers, body)
  local p = body:match('"playerUUID":%s*"([^"]+)"')
  if p then pending[#pending + 1] = p end
end
