-- wrk script for bench/resend_load.py: each thread reads its own file of "<api key> <path>" lines
-- (the path given after --, with the thread's number appended) and sends them in order, with the
-- method given after the path; GET phases cycle through their lines, POST phases never reuse one.
-- At the end it prints one line, WRK_JSON {...}, with the latency percentiles and the statuses.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  method = args[2]
  lines = {}
  for line in io.lines(args[1] .. "." .. number) do
    local key, path = line:match("^(%S+) (%S+)$")
    table.insert(lines, { key = key, path = path })
  end
  next_line = 0
  statuses = {}
  exhausted = 0
end

function request()
  next_line = next_line + 1
  if next_line > #lines then
    if method ~= "GET" then
      exhausted = exhausted + 1
    end
    next_line = 1
  end
  local line = lines[next_line]
  return wrk.format(method, line.path, { ["Authorization"] = "Bearer " .. line.key, ["Content-Length"] = "0" })
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total, reused = {}, 0
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
    reused = reused + thread:get("exhausted")
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, '
      .. '"socket_errors": %d, "reused_lines": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max, errors.connect + errors.read + errors.write + errors.timeout, reused, table.concat(parts, ", ")
  ))
end
