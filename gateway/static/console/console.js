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

  var VIEWS = ["signin", "campaigns", "new", "campaign", "live", "poster", "members", "tiers", "programme", "store"];

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

  function route() {
    stopTimers();
    clearFlash();
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
    Promise.all([api("GET", base), api("GET", base + "/coupons"), loadHistory(false, token)]).then(
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
  // replaces it). Money in yuan on the form, cents on the wire; rewards as JSON for now.

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
    f.rewards.value = JSON.stringify(p.rewards, null, 2);
    syncExpiry();
  }

  // The form as the API's programme; a rewards text that is not JSON is refused here, beside
  // its field (null: nothing to send).
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
    var rewards;
    try {
      rewards = JSON.parse(f.rewards.value.trim() || "{}");
    } catch (e) {
      showError(programmeForm, { detail: t("console.programme.rewards_bad", { error: e.message }) });
      return null;
    }
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
      rewards: rewards,
    };
  }

  function programmeView() {
    showView("programme");
    show($("review-result"), false);
    var token = viewToken;
    api("GET", "/v1/programme").then(function (p) {
      if (token === viewToken) fillProgramme(p);
    }, failed);
  }

  programmeForm.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors(programmeForm);
    var body = programmeBody();
    if (!body) return;
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
