-- wrk script: POST /v1/batch of 100 puts, durability fsync; each value is an 80-byte JSON
-- string (redis-benchmark runs with -d 80: 80-byte values). Keys are random
-- among 1,000,000 per map, like `redis-benchmark -r 1000000`. As redis-benchmark builds its
-- pipelined command buffer once, each thread builds 500 request bodies up front and cycles
-- through them, so the Lua string building does not take CPU from the server during the run.
-- Environment: TOKEN (bearer token), WRK_COMMON (path of wrk_common.lua).
dofile(os.getenv("WRK_COMMON"))
local requests = {}
local counter = 0

function init(args)
  authorize()
  math.randomseed(1000 + id)
  local value = '"' .. string.rep("x", 80) .. '"'
  for r = 1, 500 do
    local ops = {}
    for i = 1, 100 do
      ops[i] = '{"op":"put","map":"batch","key":"k' .. math.random(0, 999999) .. '","value":' .. value .. '}'
    end
    requests[r] = wrk.format("POST", "/v1/batch", nil, '{"durability":"fsync","operations":[' .. table.concat(ops, ",") .. ']}')
  end
end

function request()
  counter = counter % #requests + 1
  return requests[counter]
end
