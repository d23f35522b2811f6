/* gitops dashboard: live updates and small conveniences. Vanilla JavaScript, no build step.

   - Opens an EventSource on <body data-events> (/api/v1/events) and, when an event names a target
     shown on the page (elements with data-target="app@cluster"), fetches fresh server-rendered
     fragments and swaps them in: rows and matrix cells from /fragments/targets, the live section of
     an application page from its data-fragment URL. A started operation marks its target as running
     at once. Fragments are parsed with DOMParser (inert: no script runs) and moved in as nodes;
     no value is ever written as HTML text. Each time the stream opens, what is shown is fetched once
     more: a change made between the page's render and the stream's opening is in no event it gets.
   - The drift view's Unified / Side by side switch without a reload.
   - Relative times ("5 min ago") kept current.
*/
(function () {
  "use strict";

  var DEBOUNCE_MS = 250;
  var KINDS = ["operation", "status", "message"];

  function targetsWith(key) {
    var found = [];
    var all = document.querySelectorAll("[data-target]");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute("data-target") === key) found.push(all[i]);
    }
    return found;
  }

  function setLive(state) {
    var el = document.getElementById("live-indicator");
    if (el) {
      el.setAttribute("data-state", state);
      el.title = "Live updates: " + state;
    }
  }

  function parseFragment(text) {
    return new DOMParser().parseFromString(text, "text/html");
  }

  function fetchFragment(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (res) {
      if (!res.ok || res.redirected) throw new Error("fragment " + res.status);
      return res.text();
    });
  }

  /* ---- rows and matrix cells (overview, cluster page) ---- */
  var pendingTargets = {};
  var targetsTimer = null;

  function refreshTargets() {
    targetsTimer = null;
    var waiting = Object.keys(pendingTargets);
    var keys = waiting.slice(0, 100);  /* the fragment route answers at most 100 targets at once */
    keys.forEach(function (k) { delete pendingTargets[k]; });
    if (waiting.length > keys.length) targetsTimer = setTimeout(refreshTargets, DEBOUNCE_MS);
    if (!keys.length) return;
    var query = keys.map(function (k) { return "target=" + encodeURIComponent(k); }).join("&");
    fetchFragment("/fragments/targets?" + query).then(function (text) {
      var doc = parseFragment(text);
      var fresh = doc.querySelectorAll("[data-target][data-part]");
      for (var i = 0; i < fresh.length; i++) {
        var key = fresh[i].getAttribute("data-target");
        var part = fresh[i].getAttribute("data-part");
        var old = targetsWith(key);
        for (var j = 0; j < old.length; j++) {
          if (old[j].getAttribute("data-part") !== part) continue;
          if (old[j].isEqualNode(fresh[i])) continue;  /* unchanged: no flash */
          var node = document.importNode(fresh[i], true);
          node.classList.add("flash-update");
          old[j].replaceWith(node);
        }
      }
    }).catch(function () { /* the next event tries again */ });
  }

  function scheduleTarget(key) {
    pendingTargets[key] = true;
    if (targetsTimer === null) targetsTimer = setTimeout(refreshTargets, DEBOUNCE_MS);
  }

  /* ---- the live section of an application page ---- */
  var sectionTimer = null;

  function driftMode() {
    var drift = document.getElementById("drift");
    return drift && drift.classList.contains("drift-split") ? "split" : "unified";
  }

  function refreshSection() {
    sectionTimer = null;
    var section = document.getElementById("live-section");
    if (!section) return;
    var url = section.getAttribute("data-fragment") + "&drift=" + driftMode();
    var open = [];
    var details = section.querySelectorAll("details[open][id]");
    for (var i = 0; i < details.length; i++) open.push(details[i].id);
    fetchFragment(url).then(function (text) {
      var fresh = parseFragment(text).getElementById("live-section");
      if (!fresh) return;
      var node = document.importNode(fresh, true);
      var all = node.querySelectorAll("details[id]");
      for (var j = 0; j < all.length; j++) {
        if (open.indexOf(all[j].id) >= 0) all[j].open = true;
      }
      var current = document.getElementById("live-section");
      if (current) current.replaceWith(node);
    }).catch(function () { /* the next event tries again */ });
  }

  function scheduleSection() {
    if (sectionTimer === null) sectionTimer = setTimeout(refreshSection, DEBOUNCE_MS);
  }

  /* ---- the overview's counts ---- */
  var countsTimer = null;

  function refreshCounts() {
    countsTimer = null;
    var counts = document.querySelector("section[data-testid=counts][data-fragment]");
    if (!counts) return;
    fetchFragment(counts.getAttribute("data-fragment") + window.location.search).then(function (text) {
      var fresh = parseFragment(text).querySelector("section[data-testid=counts]");
      var current = document.querySelector("section[data-testid=counts]");
      if (fresh && current && !current.isEqualNode(fresh)) current.replaceWith(document.importNode(fresh, true));
    }).catch(function () { /* the next event tries again */ });
  }

  function scheduleCounts() {
    if (countsTimer === null && document.querySelector("section[data-testid=counts][data-fragment]")) {
      countsTimer = setTimeout(refreshCounts, DEBOUNCE_MS);
    }
  }

  /* ---- events ---- */
  function onEvent(event) {
    var payload;
    try { payload = JSON.parse(event.data); } catch (e) { return; }
    if (!payload || typeof payload.application !== "string" || typeof payload.cluster !== "string") return;
    var key = payload.application + "@" + payload.cluster;
    var data = payload.data || {};
    var shown = targetsWith(key);
    if (shown.length) {
      if (payload.kind === "operation" && data.phase === "Running") {
        shown.forEach(function (el) { el.classList.add("is-running"); });
      }
      scheduleTarget(key);
    }
    var section = document.getElementById("live-section");
    if (section && section.getAttribute("data-app") === payload.application) scheduleSection();
    if (payload.kind === "status") scheduleCounts();  /* any target's status may move a count */
  }

  /* the stream skipped events (this page fell too far behind), or it just opened: refresh everything shown */
  function onReset() {
    var all = document.querySelectorAll("[data-target][data-part]");
    for (var i = 0; i < all.length; i++) scheduleTarget(all[i].getAttribute("data-target"));
    if (document.getElementById("live-section")) scheduleSection();
    scheduleCounts();
  }

  function connect() {
    var url = document.body.getAttribute("data-events");
    if (!url || typeof window.EventSource !== "function") return;
    setLive("connecting");
    var source = new EventSource(url);
    /* the page was rendered before the stream opened: what changed in between (a sync that finished
       while the page loaded) is in no event this page will get, so fetch what is shown once more */
    source.onopen = function () { setLive("live"); onReset(); };
    source.onerror = function () {
      setLive(source.readyState === EventSource.CLOSED ? "offline" : "connecting");
    };
    KINDS.forEach(function (kind) { source.addEventListener(kind, onEvent); });
    source.addEventListener("reset", onReset);
    window.addEventListener("pagehide", function () { source.close(); });
  }

  /* ---- drift layout switch ---- */
  function onClick(event) {
    var link = event.target.closest ? event.target.closest("[data-drift-mode]") : null;
    if (!link) return;
    var drift = document.getElementById("drift");
    if (!drift) return;
    event.preventDefault();
    var mode = link.getAttribute("data-drift-mode") === "split" ? "split" : "unified";
    drift.classList.remove("drift-split", "drift-unified");
    drift.classList.add("drift-" + mode);
    var links = document.querySelectorAll("[data-drift-mode]");
    for (var i = 0; i < links.length; i++) {
      links[i].classList.toggle("active", links[i].getAttribute("data-drift-mode") === mode);
    }
    if (window.history && window.URL) {
      var here = new URL(window.location.href);
      here.searchParams.set("drift", mode);
      window.history.replaceState(null, "", here.pathname + here.search);
    }
  }

  /* ---- relative times ---- */
  function ago(seconds) {
    var future = seconds < 0;
    var d = Math.abs(seconds);
    var text;
    if (d < 60) text = Math.floor(d) + " s";
    else if (d < 3600) text = Math.floor(d / 60) + " min";
    else if (d < 86400) text = Math.floor(d / 3600) + " h";
    else text = Math.floor(d / 86400) + " d";
    return future ? "in " + text : text + " ago";
  }

  function tick() {
    var times = document.querySelectorAll("time[datetime]");
    var now = Date.now();
    for (var i = 0; i < times.length; i++) {
      var text = times[i].textContent || "";
      if (!/ago$|^in /.test(text)) continue;
      var at = Date.parse(times[i].getAttribute("datetime"));
      if (!isNaN(at)) times[i].textContent = ago((now - at) / 1000);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("click", onClick);
    connect();
    setInterval(tick, 15000);
  });
})();
