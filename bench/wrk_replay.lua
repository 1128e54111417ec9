-- Replays pre-signed WeChat requests, each exactly once: thread i takes every n-th line.
-- File format (one request per line): <path>\t<body with \n escaped as \\n>
local path = os.getenv("WXBENCH_REQUESTS")
local lines = {}
for line in io.lines(path) do
  local tab = line:find("\t", 1, true)
  lines[#lines + 1] = { line:sub(1, tab - 1), (line:sub(tab + 1):gsub("\\n", "\n")) }
end

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  nthreads = tonumber(os.getenv("WXBENCH_THREADS"))
  idx = tid
  wrapped = 0
  bad = 0
  marker = os.getenv("WXBENCH_MARKER") or ""
  headers = { ["Content-Type"] = "text/xml" }
end

function request()
  local r = lines[idx]
  idx = idx + nthreads
  if idx > #lines then
    idx = tid
    wrapped = wrapped + 1
  end
  return wrk.format("POST", r[1], headers, r[2])
end

function response(status, hdrs, body)
  if status ~= 200 or (marker ~= "" and not body:find(marker, 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local w, b = 0, 0
  for _, t in ipairs(threads) do
    w = w + t:get("wrapped")
    b = b + t:get("bad")
  end
  io.write(string.format("WXBENCH wrapped=%d bad=%d\n", w, b))
  for _, p in ipairs({ 50, 99 }) do
    io.write(string.format("WXBENCH p%d_us=%d\n", p, latency:percentile(p)))
  end
  io.write(string.format("WXBENCH requests=%d errors=%d duration_us=%d\n", summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    summary.duration))
end
