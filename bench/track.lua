-- wrk script for `bench:track`: POST /v1/events/track with a realistic ~500-byte JSON body
-- and a unique event_id on every request.
--
--   wrk -t2 -c50 -d10s --latency -s bench/track.lua http://127.0.0.1:PORT/v1/events/track -- PREFIX [probe]
--
-- event_id = PREFIX-THREAD-COUNTER: PREFIX is unique per wrk run (the driver makes it),
-- THREAD is numbered in setup(), COUNTER counts the thread's requests; so ids never collide
-- across threads, runs or targets, and the rows of one run can be counted by prefix.
-- done() prints one line "BENCH_JSON {...}" that bench/track.mjs parses.
-- "probe" mode also prints the body size and the first non-2xx responses (status + body);
-- it is for a one-connection smoke check only, as response() slows wrk down.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- A browser's agent, as a tracker in a page sends it (the service runs bot detection on it).
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
  .. "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

-- Placeholders, in order: event_id (prefix, thread, counter), visitor_id (thread, n),
-- session_id (thread, n); OCCURRED_AT is filled in once per thread by init().
local TEMPLATES = {
  [[{"event_id":"%s-%d-%d","event_type":"purchase","visitor_id":"v_%d_%d","session_id":"s_%d_%d","occurred_at":"OCCURRED_AT",]]
    .. [["page_url":"https://shop.example.com/checkout/confirmation?order=A10042&utm_source=google&utm_medium=cpc&utm_campaign=black_friday_2026&utm_content=banner_a",]]
    .. [["referrer":"https://www.google.com/","utm_source":"google","utm_medium":"cpc","utm_campaign":"black_friday_2026","utm_term":"running shoes","utm_content":"banner_a",]]
    .. [["value":129.9,"currency":"EUR","properties":{"order_id":"A10042","items":3,"coupon":"BF20","first_order":true}}]],
  [[{"event_id":"%s-%d-%d","event_type":"page_view","visitor_id":"v_%d_%d","session_id":"s_%d_%d","occurred_at":"OCCURRED_AT",]]
    .. [["page_url":"https://shop.example.com/products/trail-runner-2?utm_source=facebook&utm_medium=paid_social&utm_campaign=autumn_sale&utm_content=carousel_3",]]
    .. [["referrer":"https://l.facebook.com/","utm_source":"facebook","utm_medium":"paid_social","utm_campaign":"autumn_sale","utm_content":"carousel_3",]]
    .. [["properties":{"page_title":"Trail Runner 2 - Example Shop","category":"shoes","language":"en-GB","screen":"1920x1080"}}]],
  [[{"event_id":"%s-%d-%d","event_type":"add_to_cart","visitor_id":"v_%d_%d","session_id":"s_%d_%d","occurred_at":"OCCURRED_AT",]]
    .. [["page_url":"https://shop.example.com/products/rain-jacket?utm_source=newsletter&utm_medium=email&utm_campaign=weekly_48&utm_content=hero",]]
    .. [["referrer":"https://mail.example.org/","utm_source":"newsletter","utm_medium":"email","utm_campaign":"weekly_48","utm_content":"hero",]]
    .. [["value":59.95,"currency":"EUR","properties":{"sku":"RJ-2041-M","quantity":1,"variant":"navy","in_stock":true}}]],
  [[{"event_id":"%s-%d-%d","event_type":"begin_checkout","visitor_id":"v_%d_%d","session_id":"s_%d_%d","occurred_at":"OCCURRED_AT",]]
    .. [["page_url":"https://shop.example.com/cart?ref=header&utm_source=bing&utm_medium=organic&utm_campaign=brand",]]
    .. [["referrer":"https://www.bing.com/search?q=trail+running+shoes","utm_source":"bing","utm_medium":"organic","utm_campaign":"brand",]]
    .. [["value":189.85,"currency":"USD","properties":{"items":4,"shipping":"express","gift_wrap":false,"cart_id":"c_7f3a9e21"}}]],
  [[{"event_id":"%s-%d-%d","event_type":"sign_up","visitor_id":"v_%d_%d","session_id":"s_%d_%d","occurred_at":"OCCURRED_AT",]]
    .. [["page_url":"https://shop.example.com/account/welcome?utm_source=partner_blog&utm_medium=referral&utm_campaign=affiliate_q4&utm_term=gear_guide",]]
    .. [["referrer":"https://blog.partner.example.net/best-running-gear-2026","utm_source":"partner_blog","utm_medium":"referral","utm_campaign":"affiliate_q4","utm_term":"gear_guide",]]
    .. [["value":0,"currency":"EUR","properties":{"method":"email","newsletter_opt_in":true,"plan":"free"}}]],
}

-- Numbered by setup(), which runs in the main Lua state before the threads start.
local next_thread_id = 0
function setup(thread)
  next_thread_id = next_thread_id + 1
  thread:set("thread_id", next_thread_id)
end

-- Per-thread state (each wrk thread has its own Lua state).
local prefix, probe, templates, request_head
local counter = 0
local shown_errors = 0

function init(args)
  prefix = args[1]
  probe = args[2] == "probe"
  if prefix == nil or not prefix:match("^[%w-]+$") then
    error("track.lua needs a run prefix of letters, digits and '-': wrk ... URL -- PREFIX")
  end
  -- Now, in UTC: within the service's window (5 min ahead .. TRACK_MAX_EVENT_AGE_HOURS back).
  local occurred_at = os.date("!%Y-%m-%dT%H:%M:%SZ")
  templates = {}
  for i, template in ipairs(TEMPLATES) do
    templates[i] = template:gsub("OCCURRED_AT", occurred_at)
  end
  -- The request line and fixed headers, built once: wrk.format() would rebuild them from
  -- the headers table on every request, and wrk shares the CPUs with the server.
  local lines = { wrk.method .. " " .. wrk.path .. " HTTP/1.1" }
  for name, value in pairs(wrk.headers) do lines[#lines + 1] = name .. ": " .. value end
  request_head = table.concat(lines, "\r\n") .. "\r\nContent-Length: "
  if probe then response = show_non_2xx end
end

function request()
  counter = counter + 1
  local body = string.format(templates[counter % #templates + 1],
    prefix, thread_id, counter,
    thread_id, counter % 5000,            -- visitors come back
    thread_id, math.floor(counter / 8))   -- ~8 events per session
  if probe and counter <= #templates then
    io.write(string.format("PROBE body %d bytes\n", #body))
  end
  return request_head .. #body .. "\r\n\r\n" .. body
end

function show_non_2xx(status, headers, body)
  if (status < 200 or status > 299) and shown_errors < 3 then
    shown_errors = shown_errors + 1
    io.write(string.format("PROBE non-2xx %d %s\n", status, body))
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"status_errors":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
