-- wrk script of benches/load.sh: sends pre-generated requests, each at most once, counts
-- answers by status, and optionally paces requests to a fixed total rate.
--
--   wrk -t T -c C -d D -s bodies.lua URL -- FILE MODE PATH RATE THREADS
--
-- FILE     one request per line: a form body (MODE = post) or a request target (MODE = get)
-- MODE     post: POST PATH with the line as an application/x-www-form-urlencoded body
--          get:  GET the line itself (a path with its query string)
-- PATH     the POST path (ignored for get)
-- RATE     total requests per second over all threads; 0 = as fast as possible
-- THREADS  the -t value (thread i sends lines i, i+T, i+2T, ...: no line is sent twice)
--
-- done() prints one line: WRK_RESULT key=value ... (read by benches/load.sh).
-- Lines are never reused: when a thread runs out, it wraps around and counts it in
-- `wrapped` (the report flags such a run: its replays would be refused).

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("id", #threads - 1)
end

local ffi = require("ffi")
ffi.cdef [[
   typedef struct { long tv_sec; long tv_nsec; } jg_timespec;
   int clock_gettime(int clk_id, jg_timespec *tp);
]]
local ts = ffi.new("jg_timespec")
local function now_ms()
   ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
   return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

function init(args)
   local file, mode, path = args[1], args[2], args[3]
   local rate = tonumber(args[4]) or 0
   local nthreads = tonumber(args[5]) or 1
   local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
   reqs = {}
   local i = 0
   for line in io.lines(file) do
      if line ~= "" then
         if i % nthreads == id then
            if mode == "get" then
               reqs[#reqs + 1] = wrk.format("GET", line)
            else
               reqs[#reqs + 1] = wrk.format("POST", path, headers, line)
            end
         end
         i = i + 1
      end
   end
   if #reqs == 0 then
      error("no requests for thread " .. id .. " in " .. file)
   end
   npool = #reqs
   idx, wrapped, sent = 0, 0, 0
   ok, non2xx, s4xx, s5xx, other = 0, 0, 0, 0, 0
   if rate > 0 then
      -- One schedule per thread: the k-th request of this thread is due at start + k * gap.
      -- A connection that finished its previous request waits for the next free slot, so the
      -- rate holds whatever the latency (as long as connections are free); wrk measures the
      -- latency of each request from when it is written, so the wait is not counted.
      local gap = 1000.0 * nthreads / rate
      local next_slot = nil
      delay = function()
         local now = now_ms()
         if next_slot == nil or next_slot < now - 1000 then
            next_slot = now
         end
         local wait = next_slot - now
         next_slot = next_slot + gap
         if wait < 0 then
            return 0
         end
         return wait
      end
   end
end

function request()
   idx = idx + 1
   if idx > #reqs then
      idx = 1
      wrapped = wrapped + 1
   end
   sent = sent + 1
   return reqs[idx]
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      non2xx = non2xx + 1
      if status >= 500 then
         s5xx = s5xx + 1
      elseif status >= 400 then
         s4xx = s4xx + 1
      else
         other = other + 1
      end
   end
end

function done(summary, latency, requests)
   local t = { ok = 0, non2xx = 0, s4xx = 0, s5xx = 0, other = 0, wrapped = 0, pool = 0, sent = 0 }
   for _, thread in ipairs(threads) do
      t.ok = t.ok + thread:get("ok")
      t.non2xx = t.non2xx + thread:get("non2xx")
      t.s4xx = t.s4xx + thread:get("s4xx")
      t.s5xx = t.s5xx + thread:get("s5xx")
      t.other = t.other + thread:get("other")
      t.wrapped = t.wrapped + thread:get("wrapped")
      t.sent = t.sent + thread:get("sent")
      t.pool = t.pool + thread:get("npool")
   end
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d rps=%.1f ok=%d non2xx=%d s4xx=%d s5xx=%d other=%d " ..
      "sock_errors=%d timeouts=%d wrapped=%d sent=%d pool=%d " ..
      "p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      t.ok, t.non2xx, t.s4xx, t.s5xx, t.other,
      e.connect + e.read + e.write, e.timeout, t.wrapped, t.sent, t.pool,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, latency.mean))
end
