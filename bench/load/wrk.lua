-- wrk script of the gateway bench (bench/load/wrk.ts).
-- WRK_BODY_BYTES=N: POST an N-byte body with every request (the upload workload). The body is
-- built once per wrk thread at load time, so the request stays wrk's static, pre-built one.
-- done() prints one line "WRKJSON {...}" with the counts and the latency percentiles wrk
-- keeps (microseconds), p99.9 included, which `wrk --latency` does not print.
local body_bytes = tonumber(os.getenv("WRK_BODY_BYTES") or "0") or 0
if body_bytes > 0 then
  wrk.method = "POST"
  wrk.body = string.rep("x", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"bytes":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.bytes, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
