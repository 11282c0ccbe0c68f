-- wrk script: single-key PUTs, a fresh key per request, a 90-byte JSON body.
-- Environment: TOKEN (bearer token), DURABILITY (default fsync), WRK_COMMON (path of wrk_common.lua).
dofile(os.getenv("WRK_COMMON"))
local counter = 0
local durability = "fsync"

function init(args)
  authorize()
  durability = os.getenv("DURABILITY") or "fsync"
end

function request()
  counter = counter + 1
  return wrk.format("PUT", "/v1/maps/bench/keys/t" .. id .. "-" .. counter .. "?durability=" .. durability, nil,
    '{"n":' .. counter .. ',"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}')
end
