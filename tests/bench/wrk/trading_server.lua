-- trading_server.yaml: sellItem: GET /trades/player_items, then POST /trades/sell at 1.5 times
-- the price; buyItem: GET /trades/open, then PUT /trades/buy (equal weights).
dofile(os.getenv("HERD_BENCH_LUA") .. "/common.lua")
request = function()
  local t = take()
  if t and t.item then
    return wrk.format("POST", "/trades/sell", H, string.format(
      '{"lister":"%s","playerItemUUID":"%s","list_price":%.2f}', t.player, t.item, t.price * 1.5))
  elseif t then
    return wrk.format("PUT", "/trades/buy", H, string.format('{"orderUUID":"%s","buyer":"%s"}',
                                                             t.order, t.buyer))
  end
  if math.random(2) == 1 then return wrk.format("GET", "/trades/player_items", H) end
  return wrk.format("GET", "/trades/open", H)
end
response = function(status, headers, body)
  local item = body:match('"PlayerItemUUID":%s*"([^"]+)"')
  if item then
    pending[#pending + 1] = {item = item, player = body:match('"PlayerUUID":%s*"([^"]+)"'),
                             price = tonumber(body:match('"Price":%s*"([^"]+)"')) or 1}
    return
  end
  local order = body:match('"OrderUUID":%s*"([^"]+)"')
  if order then
    pending[#pending + 1] = {order = order, buyer = body:match('"BuyerUUID":%s*"([^"]+)"')}
  end
end
