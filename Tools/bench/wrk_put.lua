-- wrk script: durable single-key PUTs, a fresh key per request, a 90-byte JSON body.
-- Environment: TOKEN (bearer token), WRK_COMMON (path of wrk_common.lua).
dofile(os.getenv("WRK_COMMON"))
local counter = 0

function init(args)
  authorize()
end

function request()
  counter = counter + 1
  return wrk.format("PUT", "/v1/maps/bench/keys/t" .. id .. "-" .. counter .. "?durability=fsync", nil,
    '{"n":' .. counter .. ',"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}')
end
