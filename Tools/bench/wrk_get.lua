-- wrk script: GETs of random keys k0..k(KEYS-1) of map "read", optionally asOf (ASOF).
-- Environment: TOKEN, KEYS, ASOF (optional: an RFC 3339 time or epoch ms), WRK_COMMON.
dofile(os.getenv("WRK_COMMON"))
local keys = 1
local asof = nil

function init(args)
  authorize()
  keys = tonumber(os.getenv("KEYS"))
  asof = os.getenv("ASOF")
  math.randomseed(os.time() + id)
end

function request()
  local path = "/v1/maps/read/keys/k" .. math.random(0, keys - 1)
  if asof and asof ~= "" then path = path .. "?asOf=" .. asof end
  return wrk.format("GET", path)
end
