// The wallet: transfer a coupon to a friend (转赠). The member token comes from the URL.
(function () {
  "use strict";
  var messages = JSON.parse(document.body.dataset.messages || "{}");
  var memberToken = new URLSearchParams(window.location.search).get("m");
  var statusBox = document.getElementById("wallet-status");

  function msg(id, fields) {
    var text = messages[id] || messages["refusal.unavailable"] || id;
    Object.keys(fields || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(fields[k]));
    });
    return text;
  }

  function show(text, kind) {
    statusBox.textContent = text;
    statusBox.className = "notice " + kind;
    statusBox.scrollIntoView({ block: "nearest" });
  }

  function requestId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.transfer"), function (form) {
    var id = requestId(); // one per form: a double submit gives the coupon once
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button");
      var friend = form.elements.to_member_id.value.trim();
      if (!friend || button.disabled) { return; }
      button.disabled = true;
      fetch("/wallet/transfers", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          member_token: memberToken, code: form.dataset.code, to_member_id: friend, request_id: id,
        }),
      })
        .then(function (r) {
          return r.json().then(function (data) { return { status: r.status, data: data }; });
        })
        .then(function (answer) {
          if (answer.status === 201) {
            show(msg("wallet.sent", { id: friend }), "ok");
            window.setTimeout(function () { window.location.reload(); }, 1200);
            return;
          }
          id = requestId(); // refused: the next try is a new request
          button.disabled = false;
          show(msg("refusal." + ((answer.data && answer.data.code) || "unavailable")), "error");
        })
        .catch(function () {
          button.disabled = false;
          show(msg("refusal.network"), "error");
        });
    });
  });
})();
