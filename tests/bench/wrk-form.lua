-- Loaded by tests/bench/load.ts for form POSTs (the token endpoint): every request POSTs WRK_FORM_BODY.
-- With WRK_FORM_CODES (a file, one authorization code a line), each request takes the next code in
-- place of "{code}" in the body, each code once. A thread out of codes stops; when every thread has
-- stopped, the reported duration is the time until the last one did (wrk itself still waits out
-- --duration). The summary line is wrk-report.lua's.
dofile(os.getenv("WRK_REPORT_SCRIPT"))

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } wrk_form_timespec;
int clock_gettime(int clk_id, wrk_form_timespec *tp);
]]
local timespec = ffi.new("wrk_form_timespec")
local function now_us()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC
  return tonumber(timespec.tv_sec) * 1e6 + tonumber(timespec.tv_nsec) / 1e3
end

local template = os.getenv("WRK_FORM_BODY")
local codes_file = os.getenv("WRK_FORM_CODES")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = template

-- The main script state: the threads, and when the last of them was set up (wrk starts its clock then).
local threads = {}
local started = 0
setup = function(thread)
  thread:set("index", #threads)
  threads[#threads + 1] = thread
  started = now_us()
end

local report = done
done = function(summary, latency, requests)
  local last = 0
  for _, thread in ipairs(threads) do
    local at = thread:get("stopped_at")
    if not at then
      last = nil
      break
    end
    if at > last then last = at end
  end
  if last and last > started and last - started < summary.duration then
    summary.duration = math.floor(last - started)
  end
  report(summary, latency, requests)
end

-- Each thread's own state.
local codes = nil
local next_code = 1

init = function(args)
  if not codes_file or codes_file == "" then return end
  codes = {}
  local total = tonumber(os.getenv("WRK_THREADS") or "1")
  local i = 0
  for line in io.lines(codes_file) do
    if line ~= "" then
      if i % total == index then codes[#codes + 1] = line end
      i = i + 1
    end
  end
end

request = function()
  if not codes then return wrk.format() end
  local code = codes[next_code]
  if not code then
    -- Out of codes: stop this thread; what is written now is never read.
    if not stopped_at then stopped_at = now_us() end
    wrk.thread:stop()
    return wrk.format(nil, nil, nil, "")
  end
  next_code = next_code + 1
  return wrk.format(nil, nil, nil, (template:gsub("{code}", code)))
end
