// The claim page: live stock, countdown, the claim button and its answer.
// The page's HTML is the same for every member: who they are (m) and the link's token come
// from the URL, read here. No inline script anywhere (the CSP forbids it).
(function () {
  "use strict";
  var body = document.body;
  var messages = JSON.parse(body.dataset.messages || "{}");
  var campaign = body.dataset.campaign;
  var state = body.dataset.state;
  var startsAt = Number(body.dataset.starts);
  var endsAt = Number(body.dataset.ends);
  // A campaign with a points price: its coupons are exchanged for points (积分兑换).
  var pointsPrice = Number(body.dataset.pointsPrice) || 0;
  // Server time minus ours: countdowns follow the gateway's clock, not the phone's.
  var skew = Number(body.dataset.now) - Date.now();
  var params = new URLSearchParams(window.location.search);
  var memberToken = params.get("m");
  var linkToken = params.get("token");
  var button = document.getElementById("claim-button");
  var statusBox = document.getElementById("status");
  var remainingBox = document.getElementById("remaining");
  var meter = document.getElementById("meter");
  var claimed = false;
  var busy = false;
  var final = null; // a refusal that no retry changes
  var requestId = newRequestId();

  function msg(id, fields) {
    var text = messages[id] || messages["refusal.unavailable"] || id;
    Object.keys(fields || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(fields[k]));
    });
    return text;
  }

  function newRequestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function now() { return Date.now() + skew; }

  function show(text, kind) {
    statusBox.textContent = text;
    statusBox.className = "notice " + (kind || "");
  }

  function hideStatus() { statusBox.className = "notice hidden"; }

  // The token names its member and expiry (v1.<member, base64url>.<expiry ms>.<mac>): shown
  // and checked for expiry here; the server checks the rest.
  function tokenMember(token) {
    var parts = (token || "").split(".");
    if (parts.length !== 4 || parts[0] !== "v1") { return null; }
    try {
      var b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) { b64 += "="; }
      return { id: atob(b64), expires: Number(parts[2]) };
    } catch (e) {
      return null;
    }
  }

  function setRemaining(n) {
    if (n === null || n === undefined || isNaN(n)) { return; }
    remainingBox.textContent = remainingBox.dataset.template.split("{n}").join(String(n));
    var total = Number(meter.dataset.total) || 0;
    var share = total > 0 ? Math.max(0, Math.min(1, n / total)) : 0;
    meter.style.width = Math.round(share * 100) + "%";
  }

  function countdown() {
    var left = Math.max(0, Math.ceil((startsAt - now()) / 1000));
    var d = Math.floor(left / 86400);
    var h = Math.floor((left % 86400) / 3600);
    var m = Math.floor((left % 3600) / 60);
    var s = left % 60;
    function two(x) { return (x < 10 ? "0" : "") + x; }
    var t = (d > 0 ? d + "d " : "") + two(h) + ":" + two(m) + ":" + two(s);
    return msg("claim.countdown", { t: t });
  }

  // What the button says and whether it can be pressed, from what is known now.
  function render() {
    if (claimed) { return; }
    if (final) {
      button.disabled = true;
      button.textContent = msg("refusal." + final);
      return;
    }
    var t = now();
    if (state === "not_live") {
      button.disabled = true;
      button.textContent = msg("refusal.not_live");
    } else if (state === "ended" || t >= endsAt) {
      button.disabled = true;
      button.textContent = msg("refusal.ended");
    } else if (state === "sold_out") {
      button.disabled = true;
      button.textContent = msg("refusal.sold_out");
    } else if (t < startsAt) {
      button.disabled = true;
      button.textContent = msg("refusal.not_started");
      show(countdown(), "");
    } else {
      if (state === "not_started") { state = "open"; hideStatus(); }
      button.textContent = pointsPrice
        ? (busy ? msg("claim.exchanging") : msg("claim.exchange", { n: pointsPrice }))
        : (busy ? msg("claim.claiming") : msg("claim.button"));
      button.disabled = busy || !memberToken;
    }
  }

  function pollStock() {
    if (document.hidden) { return; }
    fetch("/claim/" + encodeURIComponent(campaign) + "/stock", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (live) {
        if (!live) { return; }
        skew = live.now - Date.now();
        setRemaining(live.remaining);
        if (live.status && live.status !== "live") {
          state = live.status === "closed" ? "ended" : "not_live";
        } else if (live.remaining !== null && live.remaining <= 0) {
          state = "sold_out";
        } else if (state === "sold_out" || state === "not_live") {
          state = "open"; // stock raised or campaign resumed
        }
        render();
      })
      .catch(function () { /* the next poll tries again */ });
  }

  function showCoupon(coupon) {
    claimed = true;
    button.classList.add("hidden");
    hideStatus();
    if (coupon.points_spent) {
      document.getElementById("coupon-done").textContent = msg("claim.exchanged", { n: coupon.points_spent });
    }
    document.getElementById("coupon-code").textContent = coupon.code;
    document.getElementById("coupon-qr").src = "/claim/qr/" + encodeURIComponent(coupon.code) + ".svg";
    var until = String(coupon.valid_until || "").replace("T", " ").slice(0, 16);
    document.getElementById("coupon-valid").textContent = msg("claim.valid_until", { t: until });
    document.getElementById("to-wallet").href = "/wallet?m=" + encodeURIComponent(memberToken);
    document.getElementById("coupon").classList.remove("hidden");
    pollStock(); // the stock this claim took
  }

  var RETRY = { rate_limited: true, unavailable: true, ledger_unavailable: true, not_started: true };

  function claim() {
    if (busy || claimed || !memberToken) { return; }
    busy = true; // a second tap while the first is on its way does nothing
    render();
    fetch("/claim/" + encodeURIComponent(campaign), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: linkToken, member_token: memberToken, request_id: requestId }),
    })
      .then(function (r) {
        return r.json().then(function (data) { return { status: r.status, data: data }; });
      })
      .then(function (answer) {
        busy = false;
        if (answer.status === 201) {
          showCoupon(answer.data);
          return;
        }
        var code = (answer.data && answer.data.code) || "unavailable";
        if (code === "sold_out") { setRemaining(0); }
        if (!RETRY[code]) { final = code; }
        show(msg("refusal." + code), "error");
        render();
      })
      .catch(function () {
        busy = false; // the same request_id again: a retry cannot claim twice
        show(msg("refusal.network"), "error");
        render();
      });
  }

  button.addEventListener("click", claim);

  var who = tokenMember(memberToken);
  if (!memberToken) {
    document.getElementById("open-in-app").classList.remove("hidden");
    var demo = document.getElementById("demo");
    if (demo) {
      demo.classList.remove("hidden");
      document.getElementById("demo-token").value = linkToken || "";
      if (!linkToken) { document.getElementById("demo-token").disabled = true; }
    }
  } else if (!who || who.expires <= now()) {
    final = "unauthorized";
    show(msg("refusal.unauthorized"), "error");
  } else {
    document.getElementById("member").textContent = msg("claim.member", { id: who.id });
  }

  setRemaining(Number(body.dataset.remaining));
  render();
  pollStock();
  window.setInterval(pollStock, 1500);
  window.setInterval(render, 1000);
  document.addEventListener("visibilitychange", pollStock);
})();
