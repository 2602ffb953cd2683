/* The back office (/console): plain JavaScript over the JSON API.
 *
 * The API key lives in this tab's sessionStorage only: never in a URL, a cookie or the page.
 * Every value from the API reaches the page through textContent (or an attribute), never
 * innerHTML, so a campaign named <script>… is shown as text.
 * Messages come from the shared catalogue (gateway/i18n.py, ids console.*), handed over in the
 * body's data-messages attribute: the CSP allows no inline script.
 */
(function () {
  "use strict";

  var KEY = "gateway.console.key";
  var MESSAGES = JSON.parse(document.body.dataset.messages || "{}");
  var LANG = document.body.dataset.lang === "en" ? "en" : "zh";
  var session = { role: null, name: null };
  var timers = [];
  var viewToken = 0;

  // ---- small helpers ------------------------------------------------------------------------

  function t(id, fields) {
    var text = Object.prototype.hasOwnProperty.call(MESSAGES, id) ? MESSAGES[id] : id;
    if (fields) {
      Object.keys(fields).forEach(function (name) {
        text = text.split("{" + name + "}").join(String(fields[name]));
      });
    }
    return text;
  }

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, visible) {
    node.classList.toggle("hidden", !visible);
  }

  function yuan(cents) {
    var value = cents / 100;
    return Number.isInteger(value) ? String(value) : value.toFixed(2).replace(/0$/, "");
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // A time of the API as the operator's local time, "2026-11-11 00:00".
  function localTime(text) {
    var d = new Date(text);
    if (isNaN(d.getTime())) return text;
    return (
      d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes())
    );
  }

  // A datetime-local input's value as RFC 3339 with the browser's offset; "" stays "" (the
  // API's 400 then names the field).
  function rfc3339(value) {
    if (!value) return "";
    var d = new Date(value);
    if (isNaN(d.getTime())) return value;
    var offset = -d.getTimezoneOffset();
    var sign = offset >= 0 ? "+" : "-";
    var abs = Math.abs(offset);
    return (
      d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":00" +
      sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60)
    );
  }

  function inputValue(date) {
    return (
      date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes())
    );
  }

  // Form values for the API: "" -> null; a number when it reads as one, else the text itself,
  // so that the API's 400 names the field.
  function cents(text) {
    text = text.trim();
    if (text === "") return null;
    var n = Number(text);
    return isNaN(n) ? text : Math.round(n * 100);
  }

  function integer(text) {
    text = text.trim();
    if (text === "") return null;
    var n = Number(text);
    return isNaN(n) ? text : n;
  }

  // 折 (8.5 = pay 85%) as basis points off (1500).
  function zheToBasisPoints(text) {
    text = text.trim();
    if (text === "") return null;
    var n = Number(text);
    return isNaN(n) ? text : Math.round((10 - n) * 1000);
  }

  function basisPointsToZhe(bp) {
    return String((10000 - bp) / 1000);
  }

  function list(text) {
    return text
      .split(/[,，\s]+/)
      .map(function (part) {
        return part.trim();
      })
      .filter(Boolean);
  }

  function percent(rate) {
    return (rate * 100).toFixed(1) + "%";
  }

  // ---- the offer as retail writes it: 满500减100, 8.5折, 无门槛10元, 兑换, 礼品, 积分 N -------
  // The same rules and messages (offer.*) as the member's pages (gateway/pages/offers.py),
  // here in the browser because the poster's data needs the admin key.

  function offer(c) {
    var minSpend = c.min_spend || 0;
    switch (c.kind) {
      case "percent": {
        var headline = t("offer.percent", { zhe: basisPointsToZhe(c.percent_off || 0), percent: (c.percent_off || 0) / 100 });
        if (c.max_discount) headline += t("offer.cap", { cap: yuan(c.max_discount) });
        return minSpend ? t("offer.min_spend", { min: yuan(minSpend) }) + headline : headline;
      }
      case "threshold":
      case "amount":
        return minSpend
          ? t("offer.threshold", { min: yuan(minSpend), amount: yuan(c.amount_off || 0) })
          : t("offer.no_threshold", { amount: yuan(c.amount_off || 0) });
      case "exchange":
        return t("offer.exchange", { sku: c.sku || "" });
      case "gift":
        return t("offer.gift", { sku: c.sku || "" });
      case "points":
        return t("offer.points", { points: c.points || 0 });
      default:
        return c.kind;
    }
  }

  function validityText(v) {
    if (v && v.mode === "fixed") {
      return t("offer.valid_between", { start: localTime(v.starts_at), end: localTime(v.ends_at) });
    }
    return t("offer.valid_days", { days: v ? v.days : "?" });
  }

  function windowText(c) {
    return t("offer.claim_window", { start: localTime(c.claim_starts_at), end: localTime(c.claim_ends_at) });
  }

  function statusPill(node, status) {
    node.textContent = t("console.status." + status);
    node.className = "pill status-" + status;
  }

  function reasonText(reason) {
    var id = "console.reason." + reason;
    return Object.prototype.hasOwnProperty.call(MESSAGES, id) ? t(id) : reason;
  }

  // ---- the API --------------------------------------------------------------------------------

  function ApiError(status, body) {
    this.status = status;
    this.code = (body && body.code) || "error";
    this.detail = (body && body.detail) || t("site.error");
    this.body = body || {};
  }

  function api(method, path, body, as, extra) {
    var key = sessionStorage.getItem(KEY);
    var headers = { Authorization: "Bearer " + key, Accept: "application/json" };
    Object.keys(extra || {}).forEach(function (name) {
      headers[name] = extra[name];
    });
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(
      function (response) {
        if (response.ok && as === "blob") return response.blob();
        return response.text().then(function (text) {
          var data = null;
          try {
            data = text ? JSON.parse(text) : null;
          } catch (e) {
            data = { code: "error", detail: text };
          }
          if (!response.ok) throw new ApiError(response.status, data);
          return data;
        });
      },
      function () {
        throw new ApiError(0, { code: "network", detail: t("console.error.network") });
      }
    );
  }

  // The QR code needs the key, which an <img> cannot send: fetch it, show it as a data: URL.
  function loadQr(campaignId, img) {
    return api("GET", "/v1/campaigns/" + encodeURIComponent(campaignId) + "/qr.svg", undefined, "blob").then(
      function (blob) {
        return new Promise(function (resolve) {
          var reader = new FileReader();
          reader.onload = function () {
            img.src = String(reader.result);
            resolve();
          };
          reader.readAsDataURL(blob);
        });
      }
    );
  }

  // ---- messages on the page ---------------------------------------------------------------

  function flash(text, kind) {
    var node = $("flash");
    node.textContent = text;
    node.className = "notice " + (kind || "ok");
  }

  function clearFlash() {
    $("flash").className = "notice hidden";
  }

  // The API's 400 names a field first ("min_spend: a threshold coupon needs ...", or
  // "points.multipliers[1].when.day_of_month: ..."): show the detail beside that field, or
  // beside the nearest enclosing one (the path shortened from its end), or above the form.
  function fieldOf(detail) {
    var match = /^([A-Za-z_]+(?:\.[A-Za-z_]+|\[\d+\])*):/.exec(detail);
    if (match) return match[1];
    match = /field `([A-Za-z_]+)`/.exec(detail);
    return match ? match[1] : null;
  }

  function enclosing(name) {
    var cut = Math.max(name.lastIndexOf("."), name.lastIndexOf("["));
    return cut > 0 ? name.slice(0, cut) : null;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(function (node) {
      node.textContent = "";
    });
    form.querySelectorAll(".invalid").forEach(function (node) {
      node.classList.remove("invalid");
    });
  }

  function showError(form, error) {
    var name = fieldOf(error.detail);
    var field = null;
    while (name && !field) {
      field = form.querySelector('[data-field="' + name + '"]');
      if (!field) name = enclosing(name);
    }
    var target = field ? field.querySelector(".field-error") || field.parentElement.querySelector(".field-error") : null;
    if (!target) target = form.querySelector('[data-error-for="body"]') || form.querySelector(".field-error");
    if (field) field.classList.add("invalid");
    if (target) {
      target.textContent = error.detail;
    } else {
      flash(error.detail, "error");
    }
  }

  // ---- routing ------------------------------------------------------------------------------

  var VIEWS = [
    "signin", "campaigns", "new", "campaign", "live", "poster", "members", "tiers", "programme",
    "segments", "jobs", "reports", "store",
  ];

  function showView(name) {
    VIEWS.forEach(function (view) {
      show($("view-" + view), view === name);
    });
    document.body.dataset.view = name;
    document.querySelectorAll("#nav a").forEach(function (a) {
      a.classList.toggle("active", a.dataset.nav === name || (name === "campaign" && a.dataset.nav === "campaigns"));
    });
  }

  function stopTimers() {
    timers.forEach(function (id) {
      clearTimeout(id);
      clearInterval(id);
    });
    timers = [];
    viewToken += 1;
  }

  // A message for the view a hash change is about to show (route() clears the page's flash).
  var nextFlash = null;

  function route() {
    stopTimers();
    clearFlash();
    if (nextFlash) {
      flash(nextFlash[0], nextFlash[1]);
      nextFlash = null;
    }
    if (!session.role) {
      showView("signin");
      return;
    }
    var parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
    var name = parts[0] || (session.role === "clerk" ? "store" : "campaigns");
    if (session.role === "clerk" && name !== "store") {
      location.replace("#/store");
      return;
    }
    switch (name) {
      case "campaigns":
        return campaignsView();
      case "new":
        return newView();
      case "c":
        return campaignView(parts[1]);
      case "live":
        return liveView(parts[1]);
      case "poster":
        return posterView(parts[1]);
      case "members":
        return membersView(parts[1]);
      case "tiers":
        return tiersView();
      case "programme":
        return programmeView();
      case "segments":
        return segmentsView();
      case "jobs":
        return jobsView(parts[1]);
      case "reports":
        return reportsView();
      case "store":
        return storeView();
      default:
        location.replace("#/campaigns");
    }
  }

  // ---- sign in / out ------------------------------------------------------------------------

  function signedIn(who) {
    session.role = who.role;
    session.name = who.name;
    $("who").textContent = t("console.who", { name: who.name, role: t("console.role." + who.role) });
    document.querySelectorAll("#nav a").forEach(function (a) {
      show(a, a.dataset.role.split(" ").indexOf(who.role) >= 0);
    });
    show($("nav"), true);
    show($("sign-out"), true);
    document.body.dataset.role = who.role;
    route();
  }

  function whoami() {
    return api("GET", "/v1/whoami").then(function (who) {
      if (who.role !== "admin" && who.role !== "clerk") {
        sessionStorage.removeItem(KEY);
        throw new ApiError(403, { code: "forbidden", detail: t("console.signin.role", { role: who.role }) });
      }
      return who;
    });
  }

  $("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = $("signin-key");
    $("signin-error").textContent = "";
    sessionStorage.setItem(KEY, input.value.trim());
    input.value = "";
    whoami().then(signedIn, function (error) {
      sessionStorage.removeItem(KEY);
      $("signin-error").textContent = error.status === 401 ? t("console.signin.unknown") : error.detail;
    });
  });

  $("sign-out").addEventListener("click", function () {
    sessionStorage.removeItem(KEY);
    location.replace("/console");
  });

  // Any 401 later (the key was revoked): back to the sign-in form.
  function failed(error, where) {
    if (error.status === 401) {
      sessionStorage.removeItem(KEY);
      session.role = null;
      location.replace("/console");
      return;
    }
    if (where) {
      where.textContent = error.detail;
    } else {
      flash(error.detail, "error");
    }
  }

  // ---- campaigns ----------------------------------------------------------------------------

  var listState = { status: "", q: "", next: null };

  function campaignRow(c) {
    var row = el("tr");
    var name = el("td");
    var link = el("a", c.name);
    link.href = "#/c/" + encodeURIComponent(c.id);
    name.appendChild(link);
    row.appendChild(name);
    row.appendChild(el("td", offer(c)));
    var status = el("td");
    var pill = el("span");
    statusPill(pill, c.status);
    status.appendChild(pill);
    row.appendChild(status);
    row.appendChild(el("td", c.stats.stock_total, "num"));
    var remaining = el("td", c.stats.remaining, "num");
    // At or below the campaign's warning line: the operator may want to raise the stock.
    if (c.status !== "draft" && c.stats.remaining <= c.low_stock_threshold) remaining.classList.add("low");
    row.appendChild(remaining);
    row.appendChild(el("td", c.stats.claimed, "num"));
    row.appendChild(el("td", percent(c.stats.claim_rate), "num"));
    row.appendChild(el("td", percent(c.stats.redemption_rate), "num"));
    row.dataset.campaignId = c.id;
    return row;
  }

  function campaignQuery(before) {
    var params = new URLSearchParams();
    if (listState.status) params.set("status", listState.status);
    if (listState.q) params.set("q", listState.q);
    params.set("limit", "50");
    if (before) params.set("before", before);
    return "/v1/campaigns?" + params.toString();
  }

  function loadCampaigns(append, token) {
    return api("GET", campaignQuery(append ? listState.next : null)).then(function (page) {
      if (token !== viewToken) return;
      var body = $("campaign-table").tBodies[0];
      if (!append) clear(body);
      page.campaigns.forEach(function (c) {
        body.appendChild(campaignRow(c));
      });
      listState.next = page.next;
      show($("campaign-more"), !!page.next);
      $("campaign-empty").hidden = body.rows.length > 0;
    }, failed);
  }

  function campaignsView() {
    showView("campaigns");
    var token = viewToken;
    loadCampaigns(false, token);
    // Live stats: the first page again every 5 s while the list is shown (not the later
    // pages, whose rows stay as loaded).
    timers.push(
      setInterval(function () {
        if (!listState.next || $("campaign-table").tBodies[0].rows.length <= 50) loadCampaigns(false, token);
      }, 5000)
    );
  }

  $("campaign-filter").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    listState.status = form.elements.status.value;
    listState.q = form.elements.q.value.trim();
    loadCampaigns(false, viewToken);
  });

  $("campaign-more").addEventListener("click", function () {
    loadCampaigns(true, viewToken);
  });

  // ---- create -------------------------------------------------------------------------------

  var createForm = $("create-form");

  function syncKindFields() {
    var kind = createForm.elements.kind.value;
    createForm.querySelectorAll("[data-kinds]").forEach(function (field) {
      show(field, field.dataset.kinds.split(" ").indexOf(kind) >= 0);
    });
    syncValidityFields(createForm);
  }

  function syncValidityFields(form) {
    var mode = form.elements.validity_mode.value;
    form.querySelectorAll("[data-validity]").forEach(function (field) {
      show(field, field.dataset.validity === mode);
    });
  }

  // The validity fields of a form (create or edit) as the API's validity object.
  function validityBody(f) {
    return f.validity_mode.value === "fixed"
      ? { mode: "fixed", starts_at: rfc3339(f.validity_starts_at.value), ends_at: rfc3339(f.validity_ends_at.value) }
      : { mode: "relative", days: integer(f.validity_days.value) };
  }

  createForm.elements.kind.addEventListener("change", syncKindFields);
  createForm.elements.validity_mode.addEventListener("change", syncKindFields);

  function newView() {
    showView("new");
    clearErrors(createForm);
    var f = createForm.elements;
    if (!f.claim_starts_at.value) {
      var now = new Date();
      now.setSeconds(0, 0);
      f.claim_starts_at.value = inputValue(now);
      f.claim_ends_at.value = inputValue(new Date(now.getTime() + 7 * 86400000));
      f.validity_starts_at.value = inputValue(now);
      f.validity_ends_at.value = inputValue(new Date(now.getTime() + 30 * 86400000));
    }
    syncKindFields();
    f.name.focus();
  }

  function createBody() {
    var f = createForm.elements;
    var kind = f.kind.value;
    var body = {
      name: f.name.value,
      kind: kind,
      scope: {
        skus: list(f.scope_skus.value),
        categories: list(f.scope_categories.value),
        stores: list(f.scope_stores.value),
      },
      channels: [],
      claim_starts_at: rfc3339(f.claim_starts_at.value),
      claim_ends_at: rfc3339(f.claim_ends_at.value),
      transferable: f.transferable.checked,
      stackable: f.stackable.checked,
      link_only: f.link_only.checked,
      points_price: integer(f.points_price.value),
    };
    if (f.channel_online.checked) body.channels.push("online");
    if (f.channel_store.checked) body.channels.push("store");
    if (kind === "threshold" || kind === "amount") {
      body.amount_off = cents(f.amount_off.value);
      body.min_spend = cents(f.min_spend.value);
      if (kind === "amount" && body.min_spend === null) body.min_spend = 0;
    } else if (kind === "percent") {
      body.percent_off = zheToBasisPoints(f.percent_off.value);
      body.max_discount = cents(f.max_discount.value);
    } else if (kind === "exchange" || kind === "gift") {
      body.sku = f.sku.value.trim() || null;
    } else if (kind === "points") {
      body.points = integer(f.points.value);
    }
    body.validity = validityBody(f);
    ["stock", "per_member_limit", "low_stock_threshold"].forEach(function (name) {
      var value = integer(f[name].value);
      if (value !== null) body[name] = value;
    });
    return body;
  }

  createForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(createForm);
    var button = createForm.querySelector("button[type=submit]");
    button.disabled = true;
    api("POST", "/v1/campaigns", createBody())
      .then(
        function (campaign) {
          createForm.reset();
          location.hash = "#/c/" + encodeURIComponent(campaign.id);
          flash(t("console.new.created"), "ok");
        },
        function (error) {
          if (error.status === 400) {
            showError(createForm, error);
          } else {
            failed(error);
          }
        }
      )
      .then(function () {
        button.disabled = false;
      });
  });

  // ---- one campaign -------------------------------------------------------------------------

  var current = null;

  function renderStats(node, stats) {
    clear(node);
    [
      ["stock_total", stats.stock_total],
      ["remaining", stats.remaining],
      ["claimed", stats.claimed],
      ["redeemed", stats.redeemed],
      ["claim_rate", percent(stats.claim_rate)],
      ["redemption_rate", percent(stats.redemption_rate)],
    ].forEach(function (pair) {
      var box = el("div", null, "stat");
      box.appendChild(el("span", t("console.stats." + pair[0]), "label"));
      box.appendChild(el("strong", pair[1]));
      node.appendChild(box);
    });
  }

  var MOVES = { draft: ["publish", "close"], live: ["pause", "close"], paused: ["resume", "close"], closed: [] };

  function renderCampaign(c) {
    current = c;
    $("c-name").textContent = c.name;
    statusPill($("c-status"), c.status);
    $("c-offer").textContent = offer(c);
    $("c-validity").textContent = validityText(c.validity);
    $("c-window").textContent = windowText(c);
    $("c-id").textContent = c.id;
    renderStats($("c-stats"), c.stats);
    document.querySelectorAll("#c-actions [data-move]").forEach(function (button) {
      show(button, MOVES[c.status].indexOf(button.dataset.move) >= 0);
    });
    show($("stock-form"), c.status !== "closed");
    show($("edit-card"), c.status !== "closed");
    fillEdit(c);
    show($("close-confirm"), false);
    show($("stock-confirm"), false);
    $("c-live-link").href = "#/live/" + encodeURIComponent(c.id);
    $("c-poster-link").href = "#/poster/" + encodeURIComponent(c.id);
  }

  var editForm = $("edit-form");

  function fillEdit(c) {
    var f = editForm.elements;
    clearErrors(editForm);
    f.name.value = c.name;
    f.claim_ends_at.value = inputValue(new Date(c.claim_ends_at));
    f.low_stock_threshold.value = c.low_stock_threshold;
    f.validity_mode.value = c.validity.mode;
    f.validity_days.value = c.validity.mode === "relative" ? c.validity.days : "";
    f.validity_starts_at.value = c.validity.mode === "fixed" ? inputValue(new Date(c.validity.starts_at)) : "";
    f.validity_ends_at.value = c.validity.mode === "fixed" ? inputValue(new Date(c.validity.ends_at)) : "";
    syncValidityFields(editForm);
  }

  editForm.elements.validity_mode.addEventListener("change", function () {
    syncValidityFields(editForm);
  });

  editForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(editForm);
    var f = editForm.elements;
    var body = {
      name: f.name.value,
      claim_ends_at: rfc3339(f.claim_ends_at.value),
      validity: validityBody(f),
      low_stock_threshold: integer(f.low_stock_threshold.value),
    };
    api("PATCH", "/v1/campaigns/" + encodeURIComponent(current.id), body).then(
      function (c) {
        renderCampaign(c);
        flash(t("console.edit.saved"), "ok");
      },
      function (error) {
        if (error.status === 400) {
          showError(editForm, error);
        } else {
          failed(error);
        }
      }
    );
  });

  function campaignView(id) {
    showView("campaign");
    var token = viewToken;
    $("c-link").textContent = "";
    show($("c-qr"), false);
    $("c-qr").removeAttribute("src");
    $("stock-error").textContent = "";
    api("GET", "/v1/campaigns/" + encodeURIComponent(id)).then(function (c) {
      if (token === viewToken) renderCampaign(c);
    }, failed);
  }

  function move(verb) {
    api("POST", "/v1/campaigns/" + encodeURIComponent(current.id) + "/" + verb).then(function (c) {
      renderCampaign(c);
      flash(t("console.move.done", { status: t("console.status." + c.status) }), "ok");
    }, failed);
  }

  document.querySelectorAll("#c-actions [data-move]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (button.dataset.move === "close") {
        show($("close-confirm"), true);
      } else {
        move(button.dataset.move);
      }
    });
  });
  $("close-yes").addEventListener("click", function () {
    show($("close-confirm"), false);
    move("close");
  });
  $("close-no").addEventListener("click", function () {
    show($("close-confirm"), false);
  });

  var pendingDelta = 0;

  $("stock-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("stock-error").textContent = "";
    var delta = Number(event.target.elements.delta.value.trim());
    if (!Number.isInteger(delta) || delta === 0) {
      $("stock-error").textContent = t("console.stock.bad");
      return;
    }
    pendingDelta = delta;
    var total = current.stats.stock_total + delta;
    $("stock-confirm-text").textContent = t(delta > 0 ? "console.stock.confirm_up" : "console.stock.confirm_down", {
      n: Math.abs(delta),
      total: total,
    });
    show($("stock-confirm"), true);
  });
  $("stock-yes").addEventListener("click", function () {
    show($("stock-confirm"), false);
    api("POST", "/v1/campaigns/" + encodeURIComponent(current.id) + "/stock", { delta: pendingDelta }).then(
      function (level) {
        $("stock-form").reset();
        flash(t("console.stock.done", { total: level.stock_total, remaining: level.remaining }), "ok");
        campaignView(current.id);
      },
      function (error) {
        failed(error, $("stock-error"));
      }
    );
  });
  $("stock-no").addEventListener("click", function () {
    show($("stock-confirm"), false);
  });

  $("c-link-show").addEventListener("click", function () {
    var id = current.id;
    api("GET", "/v1/campaigns/" + encodeURIComponent(id) + "/link").then(function (link) {
      $("c-link").textContent = link.url;
    }, failed);
    loadQr(id, $("c-qr")).then(function () {
      show($("c-qr"), true);
    }, failed);
  });

  // ---- the live flash view: /live every second (Redis only) -------------------------------

  var CHART_POINTS = 60;

  function drawChart(rates) {
    var svg = $("live-chart");
    clear(svg);
    var max = Math.max.apply(null, rates.concat([1]));
    var width = 600 / CHART_POINTS;
    rates.forEach(function (rate, i) {
      var h = (rate / max) * 110;
      var bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      bar.setAttribute("x", String((CHART_POINTS - rates.length + i) * width + 1));
      bar.setAttribute("y", String(118 - h));
      bar.setAttribute("width", String(width - 2));
      bar.setAttribute("height", String(Math.max(h, 0.5)));
      bar.setAttribute("class", "bar");
      svg.appendChild(bar);
    });
  }

  function renderRefusals(refusals) {
    var body = $("live-refusals");
    clear(body);
    var reasons = Object.keys(refusals).sort(function (a, b) {
      return refusals[b] - refusals[a];
    });
    reasons.forEach(function (reason) {
      var row = el("tr");
      row.dataset.reason = reason;
      row.appendChild(el("td", reasonText(reason)));
      row.appendChild(el("td", reason, "muted"));
      row.appendChild(el("td", refusals[reason], "num"));
      body.appendChild(row);
    });
    show($("live-no-refusals"), reasons.length === 0);
  }

  function liveView(id) {
    showView("live");
    var token = viewToken;
    var path = "/v1/campaigns/" + encodeURIComponent(id) + "/live";
    var previous = null;
    var rates = [];
    $("live-back").href = "#/c/" + encodeURIComponent(id);
    $("live-name").textContent = "";
    $("live-rate").textContent = "0";
    drawChart(rates);
    api("GET", "/v1/campaigns/" + encodeURIComponent(id)).then(function (c) {
      if (token === viewToken) $("live-name").textContent = c.name;
    }, failed);

    function tick() {
      var started = Date.now();
      api("GET", path).then(
        function (live) {
          if (token !== viewToken) return;
          var at = Date.parse(live.at);
          if (previous && at > previous.at) {
            var rate = ((live.claimed - previous.claimed) * 1000) / (at - previous.at);
            rates.push(Math.max(rate, 0));
            if (rates.length > CHART_POINTS) rates.shift();
            $("live-rate").textContent = rate >= 10 ? String(Math.round(rate)) : rate.toFixed(1);
            drawChart(rates);
          }
          previous = { at: at, claimed: live.claimed };
          $("live-remaining").textContent = live.remaining;
          $("live-claimed").textContent = live.claimed;
          $("live-total").textContent = live.stock_total;
          statusPill($("live-status"), live.status);
          renderRefusals(live.refusals);
          schedule(started);
        },
        function (error) {
          if (token !== viewToken) return;
          failed(error);
          if (error.status !== 401 && error.status !== 404) schedule(started);
        }
      );
    }

    function schedule(started) {
      timers.push(setTimeout(tick, Math.max(0, 1000 - (Date.now() - started))));
    }

    tick();
  }

  // ---- the poster (A4, print CSS) ---------------------------------------------------------

  function posterView(id) {
    showView("poster");
    var token = viewToken;
    $("poster-back").href = "#/c/" + encodeURIComponent(id);
    ["poster-name", "poster-offer", "poster-validity", "poster-window"].forEach(function (node) {
      $(node).textContent = "";
    });
    $("poster-qr").removeAttribute("src");
    api("GET", "/v1/campaigns/" + encodeURIComponent(id)).then(function (c) {
      if (token !== viewToken) return;
      $("poster-name").textContent = c.name;
      $("poster-offer").textContent = offer(c);
      $("poster-validity").textContent = validityText(c.validity);
      $("poster-window").textContent = windowText(c);
    }, failed);
    loadQr(id, $("poster-qr")).catch(failed);
  }

  $("poster-print").addEventListener("click", function () {
    window.print();
  });

  // ---- members ------------------------------------------------------------------------------

  function kv(node, pairs) {
    clear(node);
    pairs.forEach(function (pair) {
      node.appendChild(el("dt", pair[0]));
      node.appendChild(el("dd", pair[1] === null || pair[1] === undefined ? "—" : pair[1]));
    });
  }

  function stateText(state) {
    return t("console.state." + state);
  }

  function showPath(code) {
    api("GET", "/v1/coupons/" + encodeURIComponent(code) + "/path").then(function (answer) {
      var list = $("member-path");
      clear(list);
      answer.path.forEach(function (coupon) {
        list.appendChild(el("li", coupon.member_id + " · " + coupon.code + " · " + stateText(coupon.state)));
      });
      show($("path-card"), true);
    }, failed);
  }

  // A time of the API as the date the gateway's zone gives it (the API writes times with the
  // gateway's offset: a 保级 deadline at local midnight stays on its day in any browser).
  function apiDate(text) {
    return String(text || "").slice(0, 10);
  }

  function signed(n) {
    return n > 0 ? "+" + n : String(n);
  }

  var memberState = { id: null, next: null, adjustKey: null };

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // The tier's progress in words: 再消费 ¥X 升级金卡, and the 保级 nudge.
  function nextTierText(m) {
    if (m.next_tier) {
      var name = t("tier." + m.next_tier.tier);
      return m.next_tier.spend_needed > 0
        ? t("console.member.next_text", { amount: yuan(m.next_tier.spend_needed), tier: name })
        : t("console.member.next_reached", { tier: name });
    }
    return m.tier === "diamond" ? t("console.member.top") : t("console.member.no_next");
  }

  function keepTierText(m) {
    if (!m.keep_tier) return t("console.member.no_keep");
    var date = apiDate(m.keep_tier.until);
    return m.keep_tier.spend_needed > 0
      ? t("console.member.keep_text", { date: date, amount: yuan(m.keep_tier.spend_needed) })
      : t("console.member.kept", { date: date });
  }

  function renderMember(m) {
    kv($("member-profile"), [
      [t("console.field.member_id"), m.member_id],
      [t("console.member.tier"), t("tier." + m.tier)],
      [t("console.member.tier_since"), localTime(m.tier_since)],
      [t("console.member.spend_12m"), "¥" + yuan(m.spend_12m)],
      [t("console.member.orders_12m"), m.orders_12m],
      [t("console.member.next_tier"), nextTierText(m)],
      [t("console.member.keep_tier"), keepTierText(m)],
      [t("console.member.birthday"), m.birthday],
      [t("console.member.referred_by"), m.referred_by],
      [t("console.member.registered_at"), localTime(m.registered_at)],
    ]);
    var bar = $("member-bar");
    if (m.next_tier) {
      var goal = Math.max(m.spend_12m + m.next_tier.spend_needed, 1);
      bar.max = goal;
      bar.value = m.next_tier.spend_needed > 0 ? m.spend_12m : goal;
    }
    show($("member-progress"), !!m.next_tier);
    var points = $("member-points");
    clear(points);
    var expiry = m.points.next_expiry;
    [
      ["balance", m.points.balance],
      ["pending", m.points.pending],
      ["next_expiry", expiry ? t("console.points.expiry_text", { n: expiry.points, date: apiDate(expiry.at) }) : "—"],
    ].forEach(function (pair) {
      var box = el("div", null, "stat");
      box.dataset.stat = pair[0];
      box.appendChild(el("span", t("console.points." + pair[0]), "label"));
      box.appendChild(el("strong", pair[1], pair[0] === "next_expiry" ? "small" : null));
      points.appendChild(box);
    });
  }

  function entryRow(e) {
    var row = el("tr");
    row.dataset.kind = e.kind;
    row.appendChild(el("td", localTime(e.at)));
    row.appendChild(el("td", t("points.kind." + e.kind)));
    row.appendChild(el("td", signed(e.points), "num " + (e.points < 0 ? "minus" : "plus")));
    row.appendChild(el("td", e.balance_after, "num"));
    var related = [];
    if (e.order_id) related.push(t("console.points.order", { id: e.order_id }));
    if (e.campaign_id) related.push(t("console.points.campaign", { id: e.campaign_id }));
    if (e.counterparty) related.push(t("console.points.member", { id: e.counterparty }));
    row.appendChild(el("td", related.join(" · ")));
    row.appendChild(el("td", e.reason || ""));
    return row;
  }

  // The member's points history, 20 at a time (newest first); `more` appends the next page.
  // Its failure is the caller's to show.
  function loadHistory(more, token) {
    var params = new URLSearchParams({ limit: "20" });
    if (more && memberState.next) params.set("before", memberState.next);
    var path = "/v1/members/" + encodeURIComponent(memberState.id) + "/points/history?" + params.toString();
    return api("GET", path).then(function (page) {
      if (token !== viewToken) return;
      var body = $("points-history");
      if (!more) clear(body);
      page.entries.forEach(function (e) {
        body.appendChild(entryRow(e));
      });
      if (!body.rows.length) {
        var empty = el("tr");
        var cell = el("td", t("console.points.none"), "muted");
        cell.colSpan = 6;
        empty.appendChild(cell);
        body.appendChild(empty);
      }
      memberState.next = page.next;
      show($("points-more"), !!page.next);
    });
  }

  $("points-more").addEventListener("click", function () {
    loadHistory(true, viewToken).catch(failed);
  });

  // ---- a member's rewards (开卡礼, 首单礼, ...): given, or refused with the reason -------

  // The occasion in words: the reward's instance, as the outbox keys it ("referral:inviter:
  // <invitee>", "spend_step:month:2026-11:50000", "birthday:2027", ...).
  function occasionText(r) {
    var parts = r.occasion.split(":");
    var rest = parts.slice(2).join(":");
    var member = r.counterparty || "—";
    switch (parts[0]) {
      case "welcome":
        return t("console.occasion.welcome");
      case "first_order":
        return t("console.occasion.first_order", { order: r.order_id || "—" });
      case "referral":
        return parts[1] === "inviter"
          ? t("console.occasion.referral_inviter", { member: member })
          : t("console.occasion.referral_invitee", { member: member });
      case "transfer":
        return parts[1] === "giver"
          ? t("console.occasion.transfer_giver", { code: rest, member: member })
          : t("console.occasion.transfer_first_order", { member: member });
      case "spend_step":
        return parts[1] === "month"
          ? t("console.occasion.spend_month", { month: parts[2], amount: yuan(Number(parts[3])) })
          : t("console.occasion.spend_order", { order: rest });
      case "birthday":
        return t("console.occasion.birthday", { year: parts[1] });
      case "win_back":
        return t("console.occasion.win_back", { day: parts.slice(1).join(":") });
      default:
        return r.occasion;
    }
  }

  function rewardRow(r) {
    var row = el("tr");
    row.dataset.kind = r.kind;
    row.appendChild(el("td", localTime(r.at)));
    row.appendChild(el("td", t("console.rewards.kind." + r.kind)));
    row.appendChild(el("td", occasionText(r)));
    row.appendChild(el("td", r.points ? signed(r.points) : "—", "num" + (r.points ? " plus" : "")));
    var coupon = el("td");
    if (r.coupon_code) {
      coupon.appendChild(el("span", r.coupon_code, "code-cell"));
    } else if (r.refused) {
      coupon.appendChild(el("span", t("console.rewards.refused", { reason: reasonText(r.refused) }), "refused"));
      row.classList.add("refused-row");
    } else {
      coupon.textContent = "—";
    }
    row.appendChild(coupon);
    return row;
  }

  var rewardState = { next: null };

  // The member's rewards, 20 at a time (newest first); `more` appends the next page.
  function loadRewards(more, token) {
    var params = new URLSearchParams({ limit: "20" });
    if (more && rewardState.next) params.set("before", rewardState.next);
    var path = "/v1/members/" + encodeURIComponent(memberState.id) + "/rewards?" + params.toString();
    return api("GET", path).then(function (page) {
      if (token !== viewToken) return;
      var body = $("member-rewards");
      if (!more) clear(body);
      page.rewards.forEach(function (r) {
        body.appendChild(rewardRow(r));
      });
      if (!body.rows.length) {
        var empty = el("tr");
        var cell = el("td", t("console.rewards.none"), "muted");
        cell.colSpan = 5;
        empty.appendChild(cell);
        body.appendChild(empty);
      }
      rewardState.next = page.next;
      show($("rewards-more"), !!page.next);
    });
  }

  $("rewards-more").addEventListener("click", function () {
    loadRewards(true, viewToken).catch(failed);
  });

  function membersView(id) {
    showView("members");
    show($("member-result"), false);
    show($("path-card"), false);
    $("member-error").textContent = "";
    if (!id) return;
    $("member-id").value = id;
    memberState.id = id;
    memberState.next = null;
    var token = viewToken;
    var base = "/v1/members/" + encodeURIComponent(id);
    rewardState.next = null;
    Promise.all([
      api("GET", base),
      api("GET", base + "/coupons"),
      loadHistory(false, token),
      loadRewards(false, token),
    ]).then(
      function (answers) {
        if (token !== viewToken) return;
        renderMember(answers[0]);
        var body = $("member-coupons");
        clear(body);
        answers[1].coupons.forEach(function (c) {
          var row = el("tr");
          row.appendChild(el("td", c.code, "code-cell"));
          row.appendChild(el("td", c.campaign_id));
          row.appendChild(el("td", stateText(c.state)));
          row.appendChild(el("td", localTime(c.valid_until)));
          row.appendChild(el("td", c.transferred_from || ""));
          var cell = el("td");
          var button = el("button", t("console.members.show_path"), "btn small secondary");
          button.type = "button";
          button.addEventListener("click", function () {
            showPath(c.code);
          });
          cell.appendChild(button);
          row.appendChild(cell);
          body.appendChild(row);
        });
        if (!answers[1].coupons.length) {
          var empty = el("tr");
          var cell2 = el("td", t("console.members.none"), "muted");
          cell2.colSpan = 6;
          empty.appendChild(cell2);
          body.appendChild(empty);
        }
        show($("adjust-form"), session.role === "admin");
        show($("member-result"), true);
      },
      function (error) {
        failed(error, $("member-error"));
      }
    );
  }

  // An operator's points adjustment (admins only): one Idempotency-Key per attempt, so a
  // double submit adjusts once; a new key after an answer.
  var adjustForm = $("adjust-form");
  adjustForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(adjustForm);
    var f = adjustForm.elements;
    var button = adjustForm.querySelector("button[type=submit]");
    if (button.disabled) return;
    if (!memberState.adjustKey) memberState.adjustKey = newKey();
    var body = { points: integer(f.points.value.replace(/^\+/, "")), reason: f.reason.value.trim() };
    var id = memberState.id;
    button.disabled = true;
    api("POST", "/v1/members/" + encodeURIComponent(id) + "/points/adjustments", body, undefined, {
      "Idempotency-Key": memberState.adjustKey,
    })
      .then(
        function (entry) {
          memberState.adjustKey = null;
          adjustForm.reset();
          membersView(id);
          flash(t("console.points.adjusted", { points: signed(entry.points), balance: entry.balance_after }), "ok");
        },
        function (error) {
          if (error.status !== 0) memberState.adjustKey = null; // answered: the next try is new
          if (error.status === 401) return failed(error);
          showError(adjustForm, error);
        }
      )
      .then(function () {
        button.disabled = false;
      });
  });

  $("member-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var id = event.target.elements.member_id.value.trim();
    if (id) location.hash = "#/members/" + encodeURIComponent(id);
  });

  // ---- tiers --------------------------------------------------------------------------------

  function fillTier(form, policy) {
    var f = form.elements;
    if (!policy) {
      form.querySelector(".tier-updated").textContent = t("console.tiers.unset");
      return;
    }
    f.percent_off.value = basisPointsToZhe(policy.percent_off);
    f.birthday_percent_off.value = basisPointsToZhe(policy.birthday_percent_off);
    f.points_per_yuan.value = policy.points_per_yuan;
    f.coupons_on_member_price.checked = policy.coupons_on_member_price;
    form.querySelector(".tier-updated").textContent = t("console.tiers.updated", { at: localTime(policy.updated_at) });
  }

  function tiersView() {
    showView("tiers");
    var token = viewToken;
    api("GET", "/v1/tiers").then(function (answer) {
      if (token !== viewToken) return;
      var byTier = {};
      answer.tiers.forEach(function (policy) {
        byTier[policy.tier] = policy;
      });
      document.querySelectorAll(".tier-form").forEach(function (form) {
        clearErrors(form);
        fillTier(form, byTier[form.dataset.tier]);
      });
    }, failed);
  }

  document.querySelectorAll(".tier-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      var f = form.elements;
      var body = {
        percent_off: zheToBasisPoints(f.percent_off.value || "10"),
        birthday_percent_off: zheToBasisPoints(f.birthday_percent_off.value || "10"),
        points_per_yuan: integer(f.points_per_yuan.value),
        coupons_on_member_price: f.coupons_on_member_price.checked,
      };
      api("PUT", "/v1/tiers/" + encodeURIComponent(form.dataset.tier), body).then(
        function (policy) {
          fillTier(form, policy);
          flash(t("console.tiers.saved") + ": " + t("tier." + policy.tier), "ok");
        },
        function (error) {
          if (error.status === 400) {
            showError(form, error);
          } else {
            failed(error);
          }
        }
      );
    });
  });

  // ---- the programme (积分 and 等级 rules) and the tier review ---------------------------
  // GET /v1/programme fills the form; the form is the whole programme again for PUT (a PUT
  // replaces it). Money in yuan on the form, cents on the wire; a reward's coupon is picked
  // from the live campaigns.

  var programmeForm = $("programme-form");
  var TIER_NAMES = ["silver", "gold", "diamond"];
  var THRESHOLDS = ["single_order", "yearly_spend"];

  function syncExpiry() {
    show(programmeForm.querySelector('[data-field="points.expiry.days"]'), programmeForm.elements.expiry_mode.value === "days");
  }

  programmeForm.elements.expiry_mode.addEventListener("change", syncExpiry);

  // Each rule's fields are named by its place ("points.multipliers[2].when.skus"), so that the
  // API's 400 lands beside the field it names; renumbered after a removal.
  function renumberMultipliers() {
    var rows = $("multipliers").querySelectorAll("fieldset.multiplier");
    rows.forEach(function (row, i) {
      var path = "points.multipliers[" + i + "]";
      row.dataset.field = path;
      row.querySelector("legend").textContent = "#" + (i + 1);
      row.querySelectorAll("[data-rel]").forEach(function (field) {
        field.dataset.field = path + "." + field.dataset.rel;
      });
    });
    show($("multipliers-none"), rows.length === 0);
  }

  function addMultiplier(rule) {
    var row = $("multiplier-template").content.firstElementChild.cloneNode(true);
    var when = (rule && rule.when) || {};
    function input(name) {
      return row.querySelector('[name="' + name + '"]');
    }
    if (rule) {
      input("m_name").value = rule.name;
      input("m_multiplier").value = rule.multiplier;
    }
    input("m_day_of_month").value = when.day_of_month == null ? "" : when.day_of_month;
    input("m_birthday_month").checked = !!when.birthday_month;
    input("m_starts_at").value = when.starts_at ? inputValue(new Date(when.starts_at)) : "";
    input("m_ends_at").value = when.ends_at ? inputValue(new Date(when.ends_at)) : "";
    input("m_skus").value = (when.skus || []).join(", ");
    input("m_categories").value = (when.categories || []).join(", ");
    input("m_stores").value = (when.stores || []).join(", ");
    input("m_online").checked = (when.channels || []).indexOf("online") >= 0;
    input("m_store").checked = (when.channels || []).indexOf("store") >= 0;
    row.querySelector(".multiplier-remove").addEventListener("click", function () {
      row.remove();
      renumberMultipliers();
    });
    $("multipliers").appendChild(row);
    renumberMultipliers();
    return row;
  }

  $("multiplier-add").addEventListener("click", function () {
    addMultiplier(null).querySelector('[name="m_name"]').focus();
  });

  // A rule's conditions: only those set (absent: any).
  function multiplierBody(row) {
    function value(name) {
      return row.querySelector('[name="' + name + '"]');
    }
    var when = {};
    if (value("m_birthday_month").checked) when.birthday_month = true;
    var day = integer(value("m_day_of_month").value);
    if (day !== null) when.day_of_month = day;
    if (value("m_starts_at").value) when.starts_at = rfc3339(value("m_starts_at").value);
    if (value("m_ends_at").value) when.ends_at = rfc3339(value("m_ends_at").value);
    ["skus", "categories", "stores"].forEach(function (name) {
      var items = list(value("m_" + name).value);
      if (items.length) when[name] = items;
    });
    var channels = [];
    if (value("m_online").checked) channels.push("online");
    if (value("m_store").checked) channels.push("store");
    if (channels.length) when.channels = channels;
    return { name: value("m_name").value.trim(), multiplier: integer(value("m_multiplier").value), when: when };
  }

  // ---- the campaigns a reward or a grant job can name: the live ones ---------------------

  var liveCampaigns = [];

  function loadLiveCampaigns() {
    return api("GET", "/v1/campaigns?status=live&limit=200").then(function (page) {
      liveCampaigns = page.campaigns;
      return liveCampaigns;
    });
  }

  // A picker's options: "none" first (value ""), then every live campaign by name and offer;
  // a campaign the rules name that is no longer live stays selectable by its id, so that
  // saving shows the API's word on it beside the field instead of dropping it.
  function fillPicker(select, selected, noneLabel) {
    clear(select);
    var none = el("option", noneLabel || t("console.rewards.no_coupon"));
    none.value = "";
    select.appendChild(none);
    var found = false;
    liveCampaigns.forEach(function (c) {
      var option = el("option", c.name + " · " + offer(c));
      option.value = c.id;
      if (c.id === selected) found = true;
      select.appendChild(option);
    });
    if (selected && !found) {
      var kept = el("option", t("console.rewards.not_live", { id: selected }));
      kept.value = selected;
      select.appendChild(kept);
    }
    select.value = selected || "";
  }

  // ---- the programme's rewards: a reward's coupon and points, spend steps as rows --------

  // Each step's fields are named by its place ("rewards.spend_steps[1].min_paid"), as the
  // multipliers are, so that the API's 400 lands beside the field it names.
  function renumberSteps() {
    var rows = $("spend-steps").querySelectorAll(".step");
    rows.forEach(function (row, i) {
      var path = "rewards.spend_steps[" + i + "]";
      row.dataset.field = path;
      row.querySelector(".step-no").textContent = "#" + (i + 1);
      row.querySelectorAll("[data-rel]").forEach(function (field) {
        field.dataset.field = path + "." + field.dataset.rel;
      });
    });
    show($("spend-steps-none"), rows.length === 0);
  }

  function addStep(step) {
    var row = $("step-template").content.firstElementChild.cloneNode(true);
    row.querySelector('[name="s_period"]').value = step ? step.period : "order";
    row.querySelector('[name="s_min_paid"]').value = step ? yuan(step.min_paid) : "";
    fillPicker(row.querySelector('[name="s_campaign"]'), step ? step.campaign_id : null, t("console.rewards.pick"));
    row.querySelector(".step-remove").addEventListener("click", function () {
      row.remove();
      renumberSteps();
    });
    $("spend-steps").appendChild(row);
    renumberSteps();
    return row;
  }

  $("step-add").addEventListener("click", function () {
    addStep(null).querySelector('[name="s_min_paid"]').focus();
  });

  // A count of the form ("" when 0: an empty field is "none").
  function countValue(n) {
    return n ? String(n) : "";
  }

  function fillRewards(r) {
    var f = programmeForm.elements;
    [
      ["welcome", r.welcome],
      ["first_order", r.first_order],
      ["inviter", r.referral.inviter],
      ["invitee", r.referral.invitee],
    ].forEach(function (pair) {
      fillPicker(f[pair[0] + "_campaign"], pair[1].campaign_id);
      f[pair[0] + "_points"].value = countValue(pair[1].points);
    });
    f.giver_points.value = countValue(r.transfer.giver_points);
    fillPicker(f.transfer_campaign, r.transfer.first_order_campaign_id);
    fillPicker(f.birthday_campaign, r.birthday.campaign_id);
    f.birthday_days.value = String(r.birthday.days_before);
    fillPicker(f.win_back_campaign, r.win_back.campaign_id);
    f.win_back_days.value = String(r.win_back.after_days);
    clear($("spend-steps"));
    r.spend_steps.forEach(addStep);
    renumberSteps();
  }

  // The rewards as the API's: an empty points field is 0 (none), an empty day count is left
  // out (the API's default), no campaign is null (no coupon).
  function rewardsBody() {
    var f = programmeForm.elements;
    function points(name) {
      var n = integer(f[name].value);
      return n === null ? 0 : n;
    }
    function grant(prefix) {
      return { campaign_id: f[prefix + "_campaign"].value || null, points: points(prefix + "_points") };
    }
    var birthday = { campaign_id: f.birthday_campaign.value || null };
    var beforeDays = integer(f.birthday_days.value);
    if (beforeDays !== null) birthday.days_before = beforeDays;
    var winBack = { campaign_id: f.win_back_campaign.value || null };
    var afterDays = integer(f.win_back_days.value);
    if (afterDays !== null) winBack.after_days = afterDays;
    var steps = [];
    $("spend-steps").querySelectorAll(".step").forEach(function (row) {
      steps.push({
        period: row.querySelector('[name="s_period"]').value,
        min_paid: cents(row.querySelector('[name="s_min_paid"]').value),
        campaign_id: row.querySelector('[name="s_campaign"]').value || null,
      });
    });
    return {
      welcome: grant("welcome"),
      first_order: grant("first_order"),
      referral: { inviter: grant("inviter"), invitee: grant("invitee") },
      transfer: {
        giver_points: points("giver_points"),
        first_order_campaign_id: f.transfer_campaign.value || null,
      },
      spend_steps: steps,
      birthday: birthday,
      win_back: winBack,
    };
  }

  function fillProgramme(p) {
    var f = programmeForm.elements;
    clearErrors(programmeForm);
    f.expiry_mode.value = p.points.expiry.mode;
    f.expiry_days.value = p.points.expiry.mode === "days" ? p.points.expiry.days : "";
    f.pending_days.value = p.points.pending_days;
    f.transferable.checked = p.points.transferable;
    clear($("multipliers"));
    p.points.multipliers.forEach(addMultiplier);
    renumberMultipliers();
    TIER_NAMES.forEach(function (tier) {
      var rule = p.tiers[tier] || {};
      THRESHOLDS.forEach(function (kind) {
        f[tier + "_" + kind].value = rule[kind] == null ? "" : yuan(rule[kind]);
      });
    });
    f.downgrade.value = p.tiers.downgrade;
    fillRewards(p.rewards);
    syncExpiry();
  }

  // The form as the API's programme.
  function programmeBody() {
    var f = programmeForm.elements;
    var mode = f.expiry_mode.value;
    var expiry = mode === "days" ? { mode: "days", days: integer(f.expiry_days.value) } : { mode: mode };
    var tiers = { downgrade: f.downgrade.value };
    TIER_NAMES.forEach(function (tier) {
      var rule = {};
      THRESHOLDS.forEach(function (kind) {
        rule[kind] = cents(f[tier + "_" + kind].value);
      });
      tiers[tier] = rule.single_order === null && rule.yearly_spend === null ? null : rule;
    });
    var multipliers = [];
    $("multipliers").querySelectorAll("fieldset.multiplier").forEach(function (row) {
      multipliers.push(multiplierBody(row));
    });
    return {
      points: {
        expiry: expiry,
        pending_days: integer(f.pending_days.value),
        transferable: f.transferable.checked,
        multipliers: multipliers,
      },
      tiers: tiers,
      rewards: rewardsBody(),
    };
  }

  function programmeView() {
    showView("programme");
    show($("review-result"), false);
    var token = viewToken;
    Promise.all([api("GET", "/v1/programme"), loadLiveCampaigns()]).then(function (answers) {
      if (token === viewToken) fillProgramme(answers[0]);
    }, failed);
  }

  programmeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(programmeForm);
    var body = programmeBody();
    var button = programmeForm.querySelector("button[type=submit]");
    button.disabled = true;
    api("PUT", "/v1/programme", body)
      .then(
        function (p) {
          fillProgramme(p);
          flash(t("console.programme.saved"), "ok");
        },
        function (error) {
          if (error.status === 400) {
            showError(programmeForm, error);
          } else {
            failed(error);
          }
        }
      )
      .then(function () {
        button.disabled = false;
      });
  });

  $("review-run").addEventListener("click", function () {
    var button = $("review-run");
    var result = $("review-result");
    button.disabled = true;
    api("POST", "/v1/tiers/review")
      .then(
        function (report) {
          result.textContent = t("console.review.done", report);
          result.className = "notice ok";
        },
        function (error) {
          if (error.status === 401) return failed(error);
          result.textContent = error.detail;
          result.className = "notice error";
        }
      )
      .then(function () {
        button.disabled = false;
      });
  });

  // ---- charts: inline SVG, sized by attributes (the CSP allows no inline style) -----------

  var SVG_NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, String(attrs[name]));
    });
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  // A horizontal bar: `value` of `max` (a share of the cell's width).
  function hbar(value, max, kind) {
    var node = svg("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", class: "hbar " + (kind || ""), "aria-hidden": "true" });
    node.appendChild(svg("rect", { x: 0, y: 0, width: 100, height: 10, class: "track" }));
    var width = max > 0 ? Math.max(0, Math.min(100, (value / max) * 100)) : 0;
    node.appendChild(svg("rect", { x: 0, y: 0, width: width.toFixed(2), height: 10, class: "fill" }));
    return node;
  }

  function barCell(value, max, kind) {
    var cell = el("td", null, "bar-cell");
    cell.appendChild(hbar(value, max, kind));
    return cell;
  }

  function rate(value) {
    return value === null || value === undefined ? "—" : percent(value);
  }

  function statBoxes(node, pairs) {
    clear(node);
    pairs.forEach(function (pair) {
      var box = el("div", null, "stat");
      box.dataset.stat = pair[0];
      box.appendChild(el("span", pair[1], "label"));
      box.appendChild(el("strong", pair[2]));
      node.appendChild(box);
    });
  }

  function numCell(value) {
    return el("td", value === null || value === undefined ? "—" : value, "num");
  }

  // The gateway's days: the API writes times with the gateway's offset, so an answer tells
  // the console the gateway's offset and its day; a day picked on a form is then that day in
  // the gateway's zone (the reports' and the RFM's days are the gateway's local days).
  var gatewayClock = { offset: null, today: null };

  function learnClock(text) {
    var match = /^(\d{4}-\d\d-\d\d)T.*([+-]\d\d:\d\d|Z)$/.exec(text || "");
    if (match) {
      gatewayClock.today = match[1];
      gatewayClock.offset = match[2];
    }
  }

  // A day and a time of day in the gateway's zone (the browser's until an answer told it).
  function gatewayTime(day, time) {
    var offset = gatewayClock.offset || rfc3339(day + "T00:00").slice(-6);
    return day + "T" + time + offset;
  }

  function shiftDay(value, days) {
    var d = new Date(value + "T00:00");
    d.setDate(d.getDate() + days);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
  }

  function nextDay(value) {
    return shiftDay(value, 1);
  }

  // The gateway's day of one of its times ("2026-11-11T10:00:00+08:00" -> "2026-11-11").
  function dayOf(text) {
    return String(text || "").slice(0, 10);
  }

  // One of the gateway's times as the gateway's local time ("2026-11-11 10:00"): the windows
  // of the RFM table and the reports, whose days are the gateway's.
  function gatewayLocal(text) {
    return String(text || "").slice(0, 16).replace("T", " ");
  }

  // ---- segments: the RFM table (四度分析), the builder, saved segments, grant jobs --------

  var GROUPS = ["champions", "loyal", "big_spenders", "at_risk", "lapsed", "new", "others"];
  var BANDS = [
    ["active", "0-90"],
    ["dormant", "91-180"],
    ["lapsed", "181-360"],
    ["none", "—"],
  ];

  // A group's rule in words with the thresholds of this table (F 3: orders above the
  // frequency's score_2_max, F ≥ 2: above its score_1_max, M 3: spend above the monetary's).
  function groupRule(name, rfm) {
    function above(measure, key, money) {
      var value = rfm[measure].thresholds[key];
      if (value === null) return "—";
      return money ? "¥" + yuan(value) : String(value);
    }
    return t("console.rfm.rule." + name, {
      f1: above("frequency", "score_1_max"),
      f2: above("frequency", "score_2_max"),
      m2: above("monetary", "score_2_max", true),
    });
  }

  function thresholdText(measure, money) {
    var th = measure.thresholds;
    if (th.score_1_max === null) return t("console.rfm.no_buyers");
    function v(n) {
      return money ? "¥" + yuan(n) : String(n);
    }
    return t("console.rfm.threshold_text", { a: v(th.score_1_max), b: v(th.score_2_max) });
  }

  function renderRfm(rfm) {
    $("rfm-window").textContent = t("console.rfm.window", { first: rfm.window.first_day, last: rfm.window.last_day, as_of: gatewayLocal(rfm.as_of) });
    $("rfm-as-of").value = rfm.window.last_day;
    statBoxes($("rfm-totals"), [
      ["members", t("console.rfm.members"), rfm.members],
      ["buyers", t("console.rfm.buyers"), rfm.buyers],
    ]);
    var body = $("rfm-groups").tBodies[0];
    clear(body);
    rfm.groups.forEach(function (group) {
      var row = el("tr");
      row.dataset.group = group.name;
      row.appendChild(el("td", t("console.rfm.group." + group.name), "strong"));
      var rule = el("td");
      rule.appendChild(el("span", groupRule(group.name, rfm)));
      rule.appendChild(el("span", group.rule, "muted rule-code"));
      row.appendChild(rule);
      row.appendChild(el("td", group.count, "num"));
      var share = barCell(group.count, rfm.members, "group-" + group.name);
      share.appendChild(el("span", rfm.members ? percent(group.count / rfm.members) : "—", "muted bar-label"));
      row.appendChild(share);
      var pick = el("td");
      var button = el("button", t("console.rfm.pick"), "btn small secondary");
      button.type = "button";
      button.addEventListener("click", function () {
        segmentForm.reset();
        segmentForm.elements.group.value = group.name;
        previewSoon();
        segmentForm.elements.name.value = t("console.rfm.group." + group.name);
        segmentForm.scrollIntoView({ block: "start" });
      });
      pick.appendChild(button);
      row.appendChild(pick);
      body.appendChild(row);
    });
    var bands = $("rfm-bands").tBodies[0];
    clear(bands);
    BANDS.forEach(function (band) {
      var row = el("tr");
      row.dataset.band = band[0];
      row.appendChild(el("td", t("console.rfm.band." + band[0])));
      row.appendChild(el("td", band[1], "muted"));
      row.appendChild(el("td", rfm.recency[band[0]], "num"));
      row.appendChild(barCell(rfm.recency[band[0]], rfm.members, "band-" + band[0]));
      bands.appendChild(row);
    });
    var scores = $("rfm-scores").tBodies[0];
    clear(scores);
    [
      ["frequency", false],
      ["monetary", true],
      ["width", false],
    ].forEach(function (pair) {
      var measure = rfm[pair[0]];
      var row = el("tr");
      row.dataset.measure = pair[0];
      row.appendChild(el("td", t("console.rfm.measure." + pair[0])));
      row.appendChild(el("td", thresholdText(measure, pair[1]), "muted"));
      ["1", "2", "3"].forEach(function (score) {
        row.appendChild(el("td", measure.scores[score], "num"));
      });
      scores.appendChild(row);
    });
  }

  // A past day: the table as it stood at that day's end in the gateway's zone (its 365 days
  // end with it); today, a later day or none: now.
  function loadRfm(token, day) {
    $("rfm-error").textContent = "";
    var path = "/v1/segments/rfm";
    if (day && gatewayClock.today && day < gatewayClock.today) {
      path += "?as_of=" + encodeURIComponent(gatewayTime(day, "23:59:59"));
    }
    return api("GET", path).then(
      function (rfm) {
        if (!gatewayClock.today || !day) learnClock(rfm.as_of);
        if (token === viewToken) renderRfm(rfm);
      },
      function (error) {
        failed(error, $("rfm-error"));
      }
    );
  }

  $("rfm-form").addEventListener("submit", function (event) {
    event.preventDefault();
    loadRfm(viewToken, $("rfm-as-of").value);
  });

  // The builder: its filter as the API's (an empty field: no condition), its size asked again
  // 300 ms after the last edit; only the answer to the latest question is shown.
  var segmentForm = $("segment-form");
  var preview = { timer: null, asked: 0 };

  function filterBody() {
    var f = segmentForm.elements;
    var filter = {};
    [
      ["recency_days", integer],
      ["orders", integer],
      ["spend", cents],
    ].forEach(function (pair) {
      var min = pair[1](f[pair[0] + "_min"].value);
      var max = pair[1](f[pair[0] + "_max"].value);
      if (min === null && max === null) return;
      var range = {};
      if (min !== null) range.min = min;
      if (max !== null) range.max = max;
      filter[pair[0]] = range;
    });
    var categories = integer(f.categories_min.value);
    if (categories !== null) filter.categories = { min: categories };
    var registered = integer(f.registered_days_max.value);
    if (registered !== null) filter.registered_days = { max: registered };
    var tiers = [];
    segmentForm.querySelectorAll('[data-field="filter.tiers"] input:checked').forEach(function (box) {
      tiers.push(box.value);
    });
    if (tiers.length) filter.tiers = tiers;
    if (f.birthday_month.value) filter.birthday_month = Number(f.birthday_month.value);
    if (f.group.value) filter.group = f.group.value;
    return filter;
  }

  function askSize() {
    var asked = ++preview.asked;
    var token = viewToken;
    $("segment-size-note").textContent = t("console.segment.counting");
    api("POST", "/v1/segments/preview", { filter: filterBody() }).then(
      function (answer) {
        if (asked !== preview.asked || token !== viewToken) return;
        clearErrors(segmentForm);
        $("segment-size").textContent = answer.size;
        $("segment-size-note").textContent = "";
      },
      function (error) {
        if (asked !== preview.asked || token !== viewToken) return;
        clearErrors(segmentForm);
        $("segment-size").textContent = "–";
        $("segment-size-note").textContent = "";
        if (error.status === 400) {
          showError(segmentForm, error);
        } else {
          failed(error);
        }
      }
    );
  }

  function previewSoon() {
    clearTimeout(preview.timer);
    preview.timer = setTimeout(askSize, 300);
  }

  ["input", "change"].forEach(function (type) {
    segmentForm.addEventListener(type, function (event) {
      if (event.target.name !== "name") previewSoon();
    });
  });
  segmentForm.addEventListener("reset", function () {
    clearErrors(segmentForm);
    setTimeout(previewSoon, 0); // after the fields are emptied
  });

  segmentForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(segmentForm);
    var button = segmentForm.querySelector("button[type=submit]");
    button.disabled = true;
    var body = { name: segmentForm.elements.name.value.trim(), filter: filterBody() };
    api("POST", "/v1/segments", body)
      .then(
        function (segment) {
          flash(t("console.segment.saved_one", { name: segment.name, size: segment.size }), "ok");
          $("segment-size").textContent = segment.size;
          return loadSegments(false, viewToken).then(function () {
            $("job-segment").value = segment.id;
          });
        },
        function (error) {
          if (error.status === 400) {
            showError(segmentForm, error);
          } else {
            failed(error);
          }
        }
      )
      .then(function () {
        button.disabled = false;
      });
  });

  // A saved filter in words: 最近消费 ≤ 90 天 · 订单 ≥ 2 · ...
  function filterText(filter) {
    var parts = [];
    function range(name, value, money) {
      if (!value) return;
      function v(n) {
        return money ? "¥" + yuan(n) : String(n);
      }
      var label = t("console.segment." + name);
      if (value.min !== undefined && value.max !== undefined) {
        parts.push(label + " " + v(value.min) + "–" + v(value.max));
      } else if (value.min !== undefined) {
        parts.push(label + " ≥ " + v(value.min));
      } else {
        parts.push(label + " ≤ " + v(value.max));
      }
    }
    range("recency_days", filter.recency_days);
    range("orders", filter.orders);
    range("spend", filter.spend, true);
    if (filter.categories) parts.push(t("console.segment.categories") + " ≥ " + filter.categories.min);
    if (filter.registered_days) parts.push(t("console.segment.registered_days") + " ≤ " + filter.registered_days.max);
    if (filter.tiers) {
      parts.push(
        filter.tiers
          .map(function (tier) {
            return t("tier." + tier);
          })
          .join(" / ")
      );
    }
    if (filter.birthday_month) parts.push(t("console.segment.birthday_in", { n: filter.birthday_month }));
    if (filter.group) parts.push(t("console.segment.group") + ": " + t("console.rfm.group." + filter.group));
    return parts.length ? parts.join(" · ") : t("console.segment.everyone");
  }

  var segmentState = { next: null, names: {}, members: { id: null, next: null } };

  function segmentRow(s, token) {
    var row = el("tr");
    row.dataset.segmentId = s.id;
    row.appendChild(el("td", s.name, "strong"));
    row.appendChild(el("td", filterText(s.filter)));
    var size = el("td", "…", "num size");
    row.appendChild(size);
    row.appendChild(el("td", localTime(s.created_at)));
    var actions = el("td", null, "actions");
    var members = el("button", t("console.segment.show_members"), "btn small secondary");
    members.type = "button";
    members.addEventListener("click", function () {
      showSegmentMembers(s, false);
    });
    var grant = el("button", t("console.segment.grant"), "btn small");
    grant.type = "button";
    grant.addEventListener("click", function () {
      $("job-segment").value = s.id;
      $("job-form").scrollIntoView({ block: "start" });
      $("job-campaign").focus();
    });
    actions.appendChild(members);
    actions.appendChild(grant);
    row.appendChild(actions);
    // The list has no sizes (each costs a pass over the members): one GET per row.
    api("GET", "/v1/segments/" + encodeURIComponent(s.id)).then(
      function (full) {
        if (token === viewToken) size.textContent = full.size;
      },
      function (error) {
        if (error.status === 401) failed(error);
        size.textContent = "—";
      }
    );
    return row;
  }

  function loadSegments(more, token) {
    var params = new URLSearchParams({ limit: "20" });
    if (more && segmentState.next) params.set("before", segmentState.next);
    return api("GET", "/v1/segments?" + params.toString()).then(function (page) {
      if (token !== viewToken) return;
      var body = $("segment-table").tBodies[0];
      var select = $("job-segment");
      if (!more) {
        clear(body);
        clear(select);
        var none = el("option", t("console.grant_job.pick_segment"));
        none.value = "";
        select.appendChild(none);
      }
      page.segments.forEach(function (s) {
        segmentState.names[s.id] = s.name;
        body.appendChild(segmentRow(s, token));
        var option = el("option", s.name);
        option.value = s.id;
        select.appendChild(option);
      });
      segmentState.next = page.next;
      show($("segments-more"), !!page.next);
      $("segments-empty").hidden = body.rows.length > 0;
    }, failed);
  }

  $("segments-more").addEventListener("click", function () {
    loadSegments(true, viewToken);
  });

  // A segment's members now, 100 at a time, each a link to the member's page.
  function showSegmentMembers(s, more) {
    var state = segmentState.members;
    if (!more) {
      state.id = s.id;
      state.next = null;
      clear($("segment-member-ids"));
      $("segment-members-title").textContent = t("console.segment.members_of", { name: s.name });
    }
    var params = new URLSearchParams({ limit: "100" });
    if (more && state.next) params.set("after", state.next);
    var token = viewToken;
    api("GET", "/v1/segments/" + encodeURIComponent(s.id) + "/members?" + params.toString()).then(function (page) {
      if (token !== viewToken || state.id !== s.id) return;
      var ids = $("segment-member-ids");
      page.member_ids.forEach(function (id) {
        var link = el("a", id);
        link.href = "#/members/" + encodeURIComponent(id);
        ids.appendChild(link);
      });
      if (!ids.childNodes.length) ids.appendChild(el("span", t("console.segment.no_members"), "muted"));
      state.next = page.next;
      state.segment = s;
      show($("segment-members-more"), !!page.next);
      show($("segment-members"), true);
    }, failed);
  }

  $("segment-members-more").addEventListener("click", function () {
    showSegmentMembers(segmentState.members.segment, true);
  });

  function segmentsView() {
    showView("segments");
    var token = viewToken;
    show($("segment-members"), false);
    clearErrors($("job-form"));
    loadRfm(token);
    loadSegments(false, token);
    loadLiveCampaigns().then(function () {
      if (token === viewToken) fillPicker($("job-campaign"), $("job-campaign").value || null, t("console.grant_job.pick_campaign"));
    }, failed);
    askSize();
  }

  // 向人群发券: a grant job (202 and its id); its progress is the jobs view's. One
  // Idempotency-Key per attempt, so a submit retried after a lost answer makes one job.
  var jobForm = $("job-form");
  var jobKey = null;
  jobForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(jobForm);
    var f = jobForm.elements;
    var missing = !f.segment_id.value ? "segment_id" : !f.campaign_id.value ? "campaign_id" : null;
    if (missing) {
      showError(jobForm, { detail: missing + ": " + t("console.grant_job.pick_" + (missing === "segment_id" ? "segment" : "campaign")) });
      return;
    }
    var button = jobForm.querySelector("button[type=submit]");
    button.disabled = true;
    var body = { segment_id: f.segment_id.value, channel: f.channel.value };
    if (!jobKey) jobKey = newKey();
    var path = "/v1/campaigns/" + encodeURIComponent(f.campaign_id.value) + "/grants";
    api("POST", path, body, undefined, { "Idempotency-Key": jobKey })
      .then(
        function (answer) {
          jobKey = null;
          nextFlash = [t("console.grant_job.started"), "ok"];
          location.hash = "#/jobs/" + encodeURIComponent(answer.job_id);
        },
        function (error) {
          if (error.status !== 0) jobKey = null; // answered: the next try is new
          if (error.status === 401) return failed(error);
          if (["campaign_not_found", "not_live", "not_started", "ended"].indexOf(error.code) >= 0) {
            showError(jobForm, { detail: "campaign_id: " + error.detail });
          } else if (error.code === "segment_not_found") {
            showError(jobForm, { detail: "segment_id: " + error.detail });
          } else {
            showError(jobForm, error);
          }
        }
      )
      .then(function () {
        button.disabled = false;
      });
  });

  // ---- grant jobs: the list, and each running one polled every second until done -------

  var campaignNames = {};

  // The campaigns' names for the rows (one GET per campaign not seen yet).
  function nameCampaign(cell, id, token) {
    function put(name) {
      clear(cell);
      var link = el("a", name);
      link.href = "#/c/" + encodeURIComponent(id);
      cell.appendChild(link);
    }
    if (!id) return;
    if (campaignNames[id]) return put(campaignNames[id]);
    put(id);
    api("GET", "/v1/campaigns/" + encodeURIComponent(id)).then(function (c) {
      campaignNames[id] = c.name;
      if (token === viewToken) put(c.name);
    }, function () {});
  }

  function rejectedText(rejected) {
    var reasons = Object.keys(rejected || {}).filter(function (reason) {
      return rejected[reason] > 0;
    });
    if (!reasons.length) return "—";
    return reasons
      .sort(function (a, b) {
        return rejected[b] - rejected[a];
      })
      .map(function (reason) {
        return reasonText(reason) + " " + rejected[reason];
      })
      .join(" · ");
  }

  function jobRow(job, token) {
    var row = el("tr");
    row.dataset.jobId = job.id;
    row.appendChild(el("td", job.id, "code-cell"));
    var campaign = el("td");
    nameCampaign(campaign, job.campaign_id, token);
    row.appendChild(campaign);
    row.appendChild(el("td", segmentState.names[job.segment_id] || job.segment_id || "—"));
    var state = el("td");
    state.appendChild(el("span", "", "pill job-state"));
    row.appendChild(state);
    var progress = el("td", null, "progress-cell");
    var bar = el("progress", null, "job-bar");
    progress.appendChild(bar);
    progress.appendChild(el("span", "", "muted job-count"));
    row.appendChild(progress);
    row.appendChild(el("td", "", "num job-granted"));
    row.appendChild(el("td", "", "job-rejected"));
    row.appendChild(el("td", localTime(job.started_at)));
    row.appendChild(el("td", "", "job-finished"));
    updateJob(row, job);
    return row;
  }

  function updateJob(row, job) {
    row.dataset.state = job.state;
    var pill = row.querySelector(".job-state");
    pill.textContent = t("console.jobs.state." + job.state);
    pill.className = "pill job-state job-" + job.state;
    var bar = row.querySelector(".job-bar");
    bar.max = Math.max(job.total, 1);
    bar.value = job.total ? job.done : job.state === "running" ? 0 : 1;
    row.querySelector(".job-count").textContent = t("console.jobs.done_of", {
      done: job.done,
      total: job.total,
      percent: job.total ? Math.floor((job.done * 100) / job.total) : job.state === "running" ? 0 : 100,
    });
    row.querySelector(".job-granted").textContent = job.granted;
    row.querySelector(".job-rejected").textContent = rejectedText(job.rejected);
    row.querySelector(".job-finished").textContent = job.finished_at ? localTime(job.finished_at) : "—";
  }

  function pollJob(row, id, token) {
    var started = Date.now();
    api("GET", "/v1/jobs/" + encodeURIComponent(id)).then(
      function (job) {
        if (token !== viewToken) return;
        updateJob(row, job);
        if (job.state === "running") schedule();
      },
      function (error) {
        if (token !== viewToken) return;
        failed(error);
        if (error.status !== 401 && error.status !== 404) schedule();
      }
    );
    function schedule() {
      timers.push(
        setTimeout(function () {
          pollJob(row, id, token);
        }, Math.max(0, 1000 - (Date.now() - started)))
      );
    }
  }

  function jobsView(highlight) {
    showView("jobs");
    var token = viewToken;
    var names = Object.keys(segmentState.names).length
      ? Promise.resolve()
      : api("GET", "/v1/segments?limit=200").then(function (page) {
          page.segments.forEach(function (s) {
            segmentState.names[s.id] = s.name;
          });
        });
    var jobs = api("GET", "/v1/jobs?limit=50");
    Promise.all([jobs, names.catch(function () {})]).then(function (answers) {
      if (token !== viewToken) return;
      var list = answers[0].jobs;
      var body = $("job-table").tBodies[0];
      clear(body);
      list.forEach(function (job) {
        var row = jobRow(job, token);
        if (job.id === highlight) row.classList.add("highlight");
        body.appendChild(row);
        if (job.state === "running") pollJob(row, job.id, token);
      });
      $("jobs-empty").hidden = list.length > 0;
    }, failed);
  }

  // ---- reports: funnel, points, referrals, clerks, members per tier ----------------------

  // The window of the form, in the gateway's days: [from's 00:00, the day after to's
  // 00:00), or up to now when `to` is today (or later); the points figures are as of the
  // same end. Empty days: the API's defaults (the 30 days before now).
  function reportWindow() {
    var f = $("report-form").elements;
    var params = new URLSearchParams();
    if (f.from.value) params.set("from", gatewayTime(f.from.value, "00:00:00"));
    if (f.to.value && gatewayClock.today && f.to.value < gatewayClock.today) {
      params.set("to", gatewayTime(nextDay(f.to.value), "00:00:00"));
    }
    var asOf = new URLSearchParams();
    if (params.has("to")) asOf.set("as_of", params.get("to"));
    return { window: params.toString(), asOf: asOf.toString() };
  }

  function funnelChart(f) {
    var max = Math.max(f.claimed, f.reserved, f.committed, 1);
    var node = svg("svg", { viewBox: "0 0 240 48", preserveAspectRatio: "none", class: "funnel", role: "img", "aria-label": f.claimed + " → " + f.reserved + " → " + f.committed });
    [f.claimed, f.reserved, f.committed].forEach(function (value, i) {
      var width = Math.max((value / max) * 240, value ? 2 : 0);
      node.appendChild(svg("rect", { x: ((240 - width) / 2).toFixed(2), y: i * 16 + 1, width: width.toFixed(2), height: 14, class: "stage stage-" + (i + 1) }));
    });
    return node;
  }

  function loadFunnels(token) {
    var body = $("funnel-table").tBodies[0];
    return api("GET", "/v1/campaigns?limit=20").then(function (page) {
      if (token !== viewToken) return;
      clear(body);
      var published = page.campaigns.filter(function (c) {
        return c.status !== "draft";
      });
      $("funnel-empty").hidden = published.length > 0;
      published.forEach(function (c) {
        var row = el("tr");
        row.dataset.campaignId = c.id;
        var name = el("td");
        var link = el("a", c.name);
        link.href = "#/c/" + encodeURIComponent(c.id);
        name.appendChild(link);
        name.appendChild(el("span", offer(c), "muted small-offer"));
        row.appendChild(name);
        var chart = el("td", null, "funnel-cell");
        row.appendChild(chart);
        var cells = ["claimed", "reserved", "committed"].map(function (stage) {
          var cell = el("td", "…", "num " + stage);
          row.appendChild(cell);
          return cell;
        });
        var rateCell = el("td", rate(c.stats.conversion_rate), "num rate");
        row.appendChild(rateCell);
        row.appendChild(el("td", c.stats.transferred, "num transferred"));
        row.appendChild(el("td", c.stats.exchanged, "num exchanged"));
        body.appendChild(row);
        api("GET", "/v1/campaigns/" + encodeURIComponent(c.id) + "/funnel").then(function (f) {
          if (token !== viewToken) return;
          cells[0].textContent = f.claimed;
          cells[1].textContent = f.reserved;
          cells[2].textContent = f.committed;
          rateCell.textContent = rate(f.conversion_rate);
          chart.appendChild(funnelChart(f));
        }, failed);
      });
    }, function (error) {
      failed(error, $("report-error"));
    });
  }

  var MOVES_SHOWN = ["earned", "spent", "expired", "transferred", "adjusted", "reversed"];

  function renderPoints(p) {
    $("points-as-of").textContent = t("console.preport.as_of", { as_of: gatewayLocal(p.as_of) });
    statBoxes($("points-stats"), [
      ["outstanding", t("console.preport.outstanding"), p.outstanding],
      ["pending", t("console.preport.pending"), p.pending],
      ["owed", t("console.preport.owed"), p.owed],
      ["expiring_30d", t("console.preport.expiring_30d"), p.expiring_30d],
      ["expiring_90d", t("console.preport.expiring_90d"), p.expiring_90d],
    ]);
    // Outstanding as one bar: the part expiring within 30 days, within 90, and the rest.
    var chart = $("points-expiry-chart");
    clear(chart);
    var total = Math.max(p.outstanding, 1);
    chart.appendChild(svg("rect", { x: 0, y: 0, width: 600, height: 28, class: "rest" }));
    chart.appendChild(svg("rect", { x: 0, y: 0, width: ((600 * p.expiring_90d) / total).toFixed(2), height: 28, class: "exp90" }));
    chart.appendChild(svg("rect", { x: 0, y: 0, width: ((600 * p.expiring_30d) / total).toFixed(2), height: 28, class: "exp30" }));
    var legend = $("points-expiry-legend");
    clear(legend);
    [
      ["exp30", t("console.preport.legend_30", { n: p.expiring_30d })],
      ["exp90", t("console.preport.legend_90", { n: p.expiring_90d - p.expiring_30d })],
      ["rest", t("console.preport.legend_rest", { n: Math.max(p.outstanding - p.expiring_90d, 0) })],
    ].forEach(function (pair) {
      var item = el("span", null, "legend-item");
      item.appendChild(el("i", null, "swatch " + pair[0]));
      item.appendChild(el("span", pair[1]));
      legend.appendChild(item);
    });
    // The last 30 days' moves as columns (an operator's net adjustment may be negative).
    var moves = $("points-moves-chart");
    clear(moves);
    var values = MOVES_SHOWN.map(function (name) {
      return p.last_30_days[name];
    });
    var max = Math.max.apply(
      null,
      values
        .map(function (v) {
          return Math.abs(v);
        })
        .concat([1])
    );
    var step = 600 / MOVES_SHOWN.length;
    moves.appendChild(svg("line", { x1: 0, y1: 140, x2: 600, y2: 140, class: "axis" }));
    MOVES_SHOWN.forEach(function (name, i) {
      var value = values[i];
      var h = (Math.abs(value) / max) * 110;
      var x = i * step + step * 0.2;
      var column = svg("rect", { x: x.toFixed(2), y: (140 - h).toFixed(2), width: (step * 0.6).toFixed(2), height: Math.max(h, 0.5).toFixed(2), class: "column move-" + name + (value < 0 ? " negative" : "") });
      column.dataset.move = name;
      column.dataset.value = value;
      moves.appendChild(column);
      moves.appendChild(svg("text", { x: (i * step + step / 2).toFixed(2), y: (134 - h).toFixed(2), "text-anchor": "middle", class: "value" }, value));
      moves.appendChild(svg("text", { x: (i * step + step / 2).toFixed(2), y: 162, "text-anchor": "middle", class: "label" }, t("console.preport.move." + name)));
    });
  }

  function renderReferrals(r) {
    statBoxes($("referral-stats"), [
      ["invitations", t("console.referrals.invitations"), r.invitations],
      ["first_orders", t("console.referrals.first_orders"), r.first_orders],
      ["given", t("console.referrals.given"), r.rewards.given],
      ["refused", t("console.referrals.refused"), r.rewards.refused],
      ["points", t("console.referrals.points"), r.rewards.points],
      ["coupons", t("console.referrals.coupons"), r.rewards.coupons],
    ]);
    var body = $("referral-board").tBodies[0];
    clear(body);
    var top = r.top_inviters.length ? r.top_inviters[0].invitees_ordered : 0;
    r.top_inviters.forEach(function (inviter, i) {
      var row = el("tr");
      row.dataset.memberId = inviter.member_id;
      row.appendChild(el("td", i + 1, "num rank"));
      var member = el("td");
      var link = el("a", inviter.member_id);
      link.href = "#/members/" + encodeURIComponent(inviter.member_id);
      member.appendChild(link);
      row.appendChild(member);
      row.appendChild(el("td", inviter.invitees_ordered, "num"));
      row.appendChild(barCell(inviter.invitees_ordered, top, "board"));
      body.appendChild(row);
    });
    $("referral-empty").hidden = r.top_inviters.length > 0;
  }

  function renderClerks(report) {
    var body = $("clerk-table").tBodies[0];
    clear(body);
    report.clerks.forEach(function (clerk) {
      var row = el("tr");
      row.dataset.actor = clerk.actor;
      row.appendChild(el("td", clerk.actor));
      row.appendChild(el("td", clerk.granted, "num"));
      row.appendChild(el("td", clerk.redeemed, "num"));
      row.appendChild(el("td", rate(clerk.redemption_rate), "num"));
      row.appendChild(barCell(clerk.redemption_rate || 0, 1, "rate"));
      body.appendChild(row);
    });
    var foot = $("clerk-table").tFoot;
    clear(foot);
    var total = el("tr");
    total.appendChild(el("th", t("console.clerks.total")));
    total.appendChild(el("td", report.total.granted, "num"));
    total.appendChild(el("td", report.total.redeemed, "num"));
    total.appendChild(el("td", rate(report.total.redemption_rate), "num"));
    total.appendChild(barCell(report.total.redemption_rate || 0, 1, "rate"));
    foot.appendChild(total);
    $("clerk-empty").hidden = report.clerks.length > 0;
  }

  function renderMembersReport(report) {
    var body = $("member-report").tBodies[0];
    clear(body);
    var rows = [["overall", report.overall]].concat(
      report.tiers.map(function (figures) {
        return [figures.tier, figures];
      })
    );
    rows.forEach(function (pair) {
      var m = pair[1];
      var row = el("tr");
      row.dataset.tier = pair[0];
      if (pair[0] === "overall") row.className = "overall";
      row.appendChild(el("th", pair[0] === "overall" ? t("console.mreport.overall") : t("tier." + pair[0])));
      row.appendChild(numCell(m.new_members));
      row.appendChild(numCell(m.active_members));
      row.appendChild(barCell(m.active_members, report.overall.active_members, "active"));
      row.appendChild(numCell(m.ordering_members));
      row.appendChild(numCell(m.repeat_members));
      row.appendChild(el("td", rate(m.repeat_rate), "num"));
      row.appendChild(numCell(m.orders));
      row.appendChild(el("td", "¥" + yuan(m.paid_total), "num"));
      row.appendChild(el("td", m.average_order_value === null ? "—" : "¥" + yuan(m.average_order_value), "num"));
      body.appendChild(row);
    });
  }

  function loadReports(token) {
    $("report-error").textContent = "";
    var w = reportWindow();
    function ask(path, render) {
      return api("GET", path).then(
        function (report) {
          if (token === viewToken) render(report);
          return report;
        },
        function (error) {
          failed(error, $("report-error"));
        }
      );
    }
    ask("/v1/reports/members?" + w.window, function (report) {
      if (!w.window) learnClock(report.to);
      var f = $("report-form").elements;
      f.from.value = dayOf(report.from);
      // `to` is excluded: its day is the last one only when it is not midnight.
      f.to.value = /T00:00:00/.test(report.to) ? shiftDay(dayOf(report.to), -1) : dayOf(report.to);
      $("report-window").textContent = t("console.reports.window", { from: gatewayLocal(report.from), to: gatewayLocal(report.to) });
      renderMembersReport(report);
    });
    ask("/v1/reports/points" + (w.asOf ? "?" + w.asOf : ""), renderPoints);
    ask("/v1/reports/referrals?" + w.window, renderReferrals);
    ask("/v1/reports/clerks?" + w.window, renderClerks);
    loadFunnels(token);
  }

  $("report-form").addEventListener("submit", function (event) {
    event.preventDefault();
    loadReports(viewToken);
  });

  function reportsView() {
    showView("reports");
    loadReports(viewToken);
  }

  // ---- in store: grant, look up, revoke, reissue (clerks and operators) ------------------

  function storeView() {
    showView("store");
  }

  var grantForm = $("grant-form");
  grantForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(grantForm);
    var result = $("grant-result");
    // Newest first; the last few grants stay on screen for the clerk.
    function report(node) {
      result.insertBefore(node, result.firstChild);
      while (result.childNodes.length > 10) result.removeChild(result.lastChild);
    }
    var campaignId = grantForm.elements.campaign_id.value.trim();
    var body = { member_ids: list(grantForm.elements.member_ids.value), channel: "store" };
    api("POST", "/v1/campaigns/" + encodeURIComponent(campaignId) + "/grants", body).then(
      function (answer) {
        answer.granted.forEach(function (coupon) {
          report(el("p", t("console.store.granted", { member: coupon.member_id, code: coupon.code }), "notice ok granted"));
        });
        answer.rejected.forEach(function (rejection) {
          report(
            el(
              "p",
              t("console.store.rejected", { member: rejection.member_id, reason: reasonText(rejection.reason) }),
              "notice error rejected"
            )
          );
        });
      },
      function (error) {
        if (error.status === 401) return failed(error);
        if (error.code === "campaign_not_found") {
          grantForm.querySelector('[data-field="campaign_id"] .field-error').textContent = error.detail;
        } else {
          showError(grantForm, error);
        }
      }
    );
  });

  var desk = { code: null };

  function showCoupon(c) {
    desk.code = c.code;
    kv($("lookup-coupon"), [
      [t("console.coupon.code"), c.code],
      [t("console.coupon.state"), stateText(c.state)],
      [t("console.coupon.member"), c.member_id],
      [t("console.coupon.campaign"), c.campaign_id],
      [t("console.coupon.kind"), t("console.kind." + c.kind)],
      [t("console.coupon.valid_from"), localTime(c.valid_from)],
      [t("console.coupon.valid_until"), localTime(c.valid_until)],
      [t("console.coupon.channel"), t("console.channel." + c.channel)],
      [t("console.coupon.transferred_from"), c.transferred_from],
    ]);
    var active = c.state === "active";
    $("desk-revoke").disabled = !active;
    $("desk-reissue").disabled = !active;
    show($("lookup-result"), true);
  }

  $("lookup-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("lookup-error").textContent = "";
    $("desk-error").textContent = "";
    show($("lookup-result"), false);
    var code = event.target.elements.code.value.trim();
    if (!code) return;
    api("GET", "/v1/coupons/" + encodeURIComponent(code)).then(showCoupon, function (error) {
      failed(error, $("lookup-error"));
    });
  });

  function deskAction(verb) {
    var reason = $("desk-reason").value.trim();
    $("desk-error").textContent = "";
    if (!reason) {
      $("desk-error").textContent = t("console.store.need_reason");
      return;
    }
    api("POST", "/v1/coupons/" + encodeURIComponent(desk.code) + "/" + verb, { reason: reason }).then(
      function (coupon) {
        $("desk-reason").value = "";
        if (verb === "reissue") {
          flash(t("console.store.reissued", { code: coupon.code }), "ok");
        } else {
          flash(t("console.store.revoked"), "ok");
        }
        showCoupon(coupon);
      },
      function (error) {
        failed(error, $("desk-error"));
      }
    );
  }

  $("desk-revoke").addEventListener("click", function () {
    deskAction("revoke");
  });
  $("desk-reissue").addEventListener("click", function () {
    deskAction("reissue");
  });

  // ---- start --------------------------------------------------------------------------------

  window.addEventListener("hashchange", route);
  document.documentElement.lang = LANG === "en" ? "en" : "zh-CN";
  if (sessionStorage.getItem(KEY)) {
    whoami().then(signedIn, function () {
      sessionStorage.removeItem(KEY);
      route();
    });
  } else {
    route();
  }
})();
