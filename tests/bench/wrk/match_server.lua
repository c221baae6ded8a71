-- match_server.yaml: createGame (2); closeGame (1): GET /games/open, then PUT /games/close
-- with the gameUUID it answered.
dofile(os.getenv("HERD_BENCH_LUA") .. "/common.lua")
request = function()
  local g = take()
  if g then return wrk.format("PUT", "/games/close", H, '{"gameUUID":"' .. g .. '"}') end
  if math.random(3) <= 2 then return wrk.format("POST", "/games/create", H) end
  return wrk.format("GET", "/games/open", H)
end
response = function(status, headers, body)
  local g = body:match('"gameUUID":%s*"([^"]+)"')
  if g then pending[#pending + 1] = g end
end
