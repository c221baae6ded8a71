-- Shared by the gaming scripts: what herd's scenarios send, rebuilt for wrk so that `make bench`
-- can set herd beside wrk doing the same requests against the same service. A step that uses a
-- value saved from a response is sent by the next request() after that response (wrk calls
-- request() once per request, on whichever connection is free), so the request mix matches
-- the scenario's task weights.
H = {["Content-Type"] = "application/json"}
pending = {}

function rs(n)
  local t = {}
  for i = 1, n do t[i] = string.char(97 + math.random(0, 25)) end
  return table.concat(t)
end

function rf(lo, hi)
  return string.format("%.2f", lo + math.random() * (hi - lo))
end

function lines(path)
  local t = {}
  for l in io.lines(path) do if #l > 0 then t[#t + 1] = l end end
  return t
end

function take()
  if #pending > 0 then return table.remove(pending, 1) end
  return nil
end
