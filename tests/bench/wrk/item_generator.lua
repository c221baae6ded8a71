-- item_generator.yaml: createItem: POST /items with a random name and value.
dofile(os.getenv("HERD_BENCH_LUA") .. "/common.lua")
request = function()
  return wrk.format("POST", "/items", H, string.format('{"item_name":"%s","item_value":%s}',
                                                      rs(32), rf(1, 99.99)))
end
