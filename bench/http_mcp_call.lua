-- wrk script for bench/http_benchmark.py: one fixed request per target, every
-- response checked, results printed as one JSON line the driver parses.
--
-- Configured through the environment (the driver sets these):
--   WRK_METHOD   GET or POST (default GET)
--   WRK_HEADERS  "Name: value" lines, newline separated
--   WRK_BODY     request body; the text __ID__ is replaced by a per-request
--                JSON-RPC id unique across threads (a session may track ids in flight)
--   WRK_EXPECT   the upstream document, compact; a response is good when it has
--                status WRK_STATUS (default 200), no "isError":true and, after
--                removing whitespace and backslashes (JSON string escapes), contains it
--   WRK_MAX_REQUESTS  per-thread cap: a thread that reaches it stops (wrk still waits
--                out -d, so the driver flags the run as capped instead of trusting req/s)

local expect = os.getenv("WRK_EXPECT") or ""
local want_status = tonumber(os.getenv("WRK_STATUS") or "200")
local body_tpl = os.getenv("WRK_BODY")
local max_requests = tonumber(os.getenv("WRK_MAX_REQUESTS") or "0")

wrk.method = os.getenv("WRK_METHOD") or "GET"
for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end

local find = string.find
local gsub = string.gsub
mismatches = 0
responses = 0
capped = 0
sample = nil

if body_tpl and #body_tpl > 0 then
  local prefix, suffix = body_tpl:match("^(.-)__ID__(.*)$")
  if prefix then
    local counter = 0
    function request()
      counter = counter + 1
      return wrk.format(nil, nil, nil, prefix .. tostring((tid or 0) * 1000000000 + counter) .. suffix)
    end
  else
    wrk.body = body_tpl
  end
end

function response(status, headers, body)
  responses = responses + 1
  if max_requests > 0 and responses >= max_requests then
    capped = 1
    wrk.thread:stop()
  end
  local good = status == want_status
  if good then
    local flat = gsub(body, "[%s\\]", "")
    good = find(flat, expect, 1, true) ~= nil and find(flat, '"isError":true', 1, true) == nil
  end
  if not good then
    mismatches = mismatches + 1
    if sample == nil then sample = tostring(status) .. " " .. string.sub(body, 1, 300) end
  end
end

-- Main state: keep the threads so done() can read their counters.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

local function quote(s)
  return '"' .. (gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)) .. '"'
end

function done(summary, latency, requests)
  local bad, first, cap = 0, nil, 0
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("mismatches") or 0)
    cap = cap + (thread:get("capped") or 0)
    first = first or thread:get("sample")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"mismatches":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,"capped":%d,"sample":%s}\n',
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max, cap,
    first and quote(first) or "null"))
end
