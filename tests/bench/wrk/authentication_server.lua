-- authentication_server.yaml: createPlayer (1) and getPlayer (5) over the players the run
-- started with (bench.py writes their ids, one a line, to the file named by the argument).
dofile(os.getenv("HERD_BENCH_LUA") .. "/common.lua")
local players
function init(args) players = lines(args[1]) end
request = function()
  if math.random(6) == 1 then
    return wrk.format("POST", "/players", H, string.format(
      '{"player_name":"%s","email":"%s@example.com","password":"%s"}', rs(32), rs(20), rs(32)))
  end
  return wrk.format("GET", "/players/" .. players[math.random(#players)], H)
end
