-- wrk script: POST /v1/batch bodies of simulated messages, every messageId unique per request
-- (so the collector's dedupe never drops one). The body template comes from ABM_BENCH_BODY,
-- the Basic auth header from ABM_BENCH_AUTH (both written by bench/collector_load.py).

local counter = 0
local thread_id = 0
local template = nil
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
  local f = assert(io.open(os.getenv("ABM_BENCH_BODY"), "r"))
  template = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = os.getenv("ABM_BENCH_AUTH")
end

function request()
  counter = counter + 1
  local prefix = "b" .. thread_id .. "-" .. counter .. "-"
  local body = template:gsub("__MID__", prefix)
  return wrk.format(nil, nil, nil, body)
end
