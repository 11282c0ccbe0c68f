-- wrk script: GETs of random keys k0..k(KEYS-1) of map "read", optionally asOf (ASOF env).
-- Environment: TOKEN, KEYS, ASOF (optional: an RFC 3339 time or epoch ms).
local keys = 1
local asof = nil
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  keys = tonumber(os.getenv("KEYS"))
  asof = os.getenv("ASOF")
  math.randomseed(os.time() + (id or 0))
end

function request()
  local path = "/v1/maps/read/keys/k" .. math.random(0, keys - 1)
  if asof and asof ~= "" then path = path .. "?asOf=" .. asof end
  return wrk.format("GET", path)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK {"requests":%d,"seconds":%.3f,"errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, errors, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
