-- wrk script: POST /v1/batch of 100 puts (fresh keys per request), durability fsync.
-- Environment: TOKEN (bearer token), WRK_COMMON (path of wrk_common.lua).
dofile(os.getenv("WRK_COMMON"))
local counter = 0

function init(args)
  authorize()
end

function request()
  counter = counter + 1
  local ops = {}
  for i = 1, 100 do
    ops[i] = '{"op":"put","map":"batch","key":"t' .. id .. '-' .. counter .. '-' .. i .. '","value":' .. i .. '}'
  end
  return wrk.format("POST", "/v1/batch", nil, '{"durability":"fsync","operations":[' .. table.concat(ops, ",") .. ']}')
end
