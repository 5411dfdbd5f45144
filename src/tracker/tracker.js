/* Conversion tracker: ct.track("purchase", {value: 49.9, currency: "EUR"}); see README */
(function (w, d) {
  var s = d.currentScript,
    base = s ? s.src.replace(/\/v1\/tracker\.js.*$/, '') : '';
  var url = (s && s.getAttribute('data-endpoint')) || base + '/v1/events/track';
  var KEYS = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'gclid', 'fbclid', 'msclkid'];
  function store(area, k, v) {
    try {
      if (v === undefined) return w[area].getItem(k);
      w[area].setItem(k, v);
    } catch (e) {}
    return v || null;
  }
  function id() {
    return w.crypto && crypto.randomUUID
      ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  var visitor = store('localStorage', 'ct_vid') || store('localStorage', 'ct_vid', id());
  var session = store('sessionStorage', 'ct_sid') || store('sessionStorage', 'ct_sid', id());
  // The landing page's campaign parameters and click ids stay with the session's events.
  var landing = {},
    kept = {},
    q = new URLSearchParams(w.location.search),
    found = false;
  KEYS.forEach(function (k) {
    var v = q.get(k);
    if (v) {
      landing[k] = v;
      found = true;
    }
  });
  if (found) store('sessionStorage', 'ct_landing', JSON.stringify(landing));
  else
    try {
      landing = JSON.parse(store('sessionStorage', 'ct_landing') || '{}');
    } catch (e) {}
  // As the service reads a landing address: trimmed, capped (UTMs 256, click ids 512), a
  // value it cannot store (%00) left out; one bad value must not fail every event.
  KEYS.forEach(function (k, i) {
    var v = String(landing[k] || '')
      .trim()
      .slice(0, i < 5 ? 256 : 512)
      .replace(/[\uD800-\uDBFF]$/, '');
    if (v && v.indexOf('\u0000') < 0) kept[k] = v;
  });
  landing = kept;
  // Only URLs the service accepts: others would fail the event.
  function webUrl(u) {
    return /^https?:\/\//i.test(u || '') && u.length <= 2048 ? u : undefined;
  }
  // No occurred_at: a visitor's clock may be wrong.
  function event(type, fields) {
    var e = {
        event_type: type,
        event_id: id(),
        visitor_id: visitor,
        session_id: session,
      },
      page = webUrl(w.location.href),
      ref = webUrl(d.referrer),
      k;
    if (page) e.page_url = page;
    if (ref) e.referrer = ref;
    for (k in landing) e[k] = landing[k];
    // A plain object's fields only: a string or an array would spread into "0", "1"…
    if (fields && typeof fields === 'object' && !Array.isArray(fields))
      for (k in fields) e[k] = fields[k];
    try {
      return JSON.stringify(e);
    } catch (err) {
      return undefined; // no JSON (a cycle, a BigInt): nothing to send
    }
  }
  // text/plain: a simple request (no preflight); the service reads it as JSON.
  function beacon(body) {
    return !!(
      body &&
      navigator.sendBeacon &&
      navigator.sendBeacon(url, new Blob([body], { type: 'text/plain' }))
    );
  }
  // Bodies waiting for their resend: a page left meanwhile beacons them.
  var waiting = {};
  w.addEventListener('pagehide', function () {
    for (var k in waiting) beacon(waiting[k]);
    waiting = {};
  });
  function send(body, retried, plain) {
    return fetch(url, {
      method: 'POST',
      body: body,
      // Outlives the page; refused past 64 KB of such bodies in flight.
      keepalive: !plain,
      credentials: 'include',
      headers: { 'Content-Type': 'application/json' },
    }).then(
      function (r) {
        // 429 or 503: once more when told, same event_id (never stored twice), within a minute.
        var wait = Number(r.headers.get('Retry-After')),
          key = id();
        if (!retried && (r.status === 429 || r.status === 503) && wait >= 0 && wait <= 60)
          return new Promise(function (resolve) {
            waiting[key] = body;
            setTimeout(function () {
              if (!waiting[key]) return resolve(true); // sent as a beacon already
              delete waiting[key];
              resolve(send(body, true, plain));
            }, wait * 1000);
          });
        // Not JSON (a proxy's page): an answer all the same, not sent again.
        return r.json().catch(function () {
          return { success: false, status: r.status };
        });
      },
      function () {
        return plain ? beacon(body) : send(body, retried, true);
      },
    );
  }
  function track(type, fields) {
    var body = event(type, fields);
    if (!body) return Promise.resolve(false);
    return w.fetch ? send(body, false) : Promise.resolve(beacon(body));
  }
  // Calls queued by the page's stub before this script loaded: {q: [[name, args]]}.
  var queued = (w.ct && w.ct.q) || [];
  w.ct = {
    track: track,
    beacon: function (type, fields) {
      return beacon(event(type, fields));
    },
    visitorId: visitor,
  };
  // One bad call (fields that are no JSON) must not cost the calls queued after it.
  queued.forEach(function (call) {
    try {
      w.ct[call[0]].apply(null, call[1]);
    } catch (e) {}
  });
})(window, document);
