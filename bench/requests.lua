-- wrk script: cycles through pre-signed requests read from BENCH_REQUESTS (one JSON-free,
-- tab-separated line each: path, webhook-id, webhook-timestamp, webhook-signature, body).
local reqs = {}
local counter = 0

local function load(path)
  for line in io.lines(path) do
    local p, id, ts, sig, body = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)")
    reqs[#reqs + 1] = wrk.format("POST", p, {
      ["Content-Type"] = "application/json",
      ["webhook-id"] = id,
      ["webhook-timestamp"] = ts,
      ["webhook-signature"] = sig,
    }, body)
  end
end

-- Each thread walks its own stride of the list, so ids stay unique until the list wraps.
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  load(os.getenv("BENCH_REQUESTS"))
  nthreads = tonumber(os.getenv("BENCH_THREADS"))
  i = tid
end

function request()
  local r = reqs[(i % #reqs) + 1]
  i = i + nthreads
  return r
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_SUMMARY"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "non2xx": %d}',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), summary.errors.status))
  out:close()
end
