-- wrk script: POST /v1/batch of 100 puts (fresh keys per request), durability fsync.
-- Environment: TOKEN (bearer token).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local ops = {}
  for i = 1, 100 do
    ops[i] = '{"op":"put","map":"batch","key":"t' .. id .. '-' .. counter .. '-' .. i .. '","value":' .. i .. '}'
  end
  return wrk.format("POST", "/v1/batch", nil, '{"durability":"fsync","operations":[' .. table.concat(ops, ",") .. ']}')
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('WRK {"requests":%d,"seconds":%.3f,"errors":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, errors, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
