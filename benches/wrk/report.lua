-- Shared by every wrk run of benches/compare.sh; compare.sh puts it in front
-- of the scenario's own script. It prints one machine-readable line at the end:
--   BENCH requests=… bytes=… duration_us=… p50_us=… p99_us=… connect=… read=…
--         write=… status=… timeout=… bad=…
-- `bad` is the sum over threads of a global `bad` counter that a scenario's
-- response() may raise (for example S3 counts every response that is not 206).

local threads = {}
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, t in ipairs(threads) do
    bad_total = bad_total + (tonumber(t:get("bad")) or 0)
  end
  local e = summary.errors
  -- NOTE: %.0f, not %d: byte counts pass 2^31 and LuaJIT numbers are doubles.
  io.write(string.format(
    "BENCH requests=%.0f bytes=%.0f duration_us=%.0f p50_us=%.0f p99_us=%.0f " ..
    "connect=%.0f read=%.0f write=%.0f status=%.0f timeout=%.0f bad=%.0f\n",
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, bad_total))
end
