// Listen mode on the live page: rolling sentiment per speaker, talk ratio, silence, alerts. It reads the events
// live.js receives (a "live:message" DOM event per socket message); every text goes in through textContent.
(function () {
  "use strict";
  const panel = document.getElementById("listen-panel");
  if (!panel) return;
  const byId = (id) => document.getElementById(id);
  const alerts = byId("listen-alerts");
  const ms = (value) => (value === null || value === undefined ? "—" : value + " ms");

  function sentiment(data) {
    const role = data.role === "person" ? "person" : "caller";
    const cell = byId("listen-sentiment-" + role);
    if (!cell || data.rolling === null || data.rolling === undefined) return;
    cell.textContent = String(data.rolling) + " (" + String(data.label || "") + ")";
    cell.className = data.rolling >= 0.05 ? "positive" : data.rolling <= -0.05 ? "negative" : "neutral";
  }

  function stats(data) {
    byId("listen-talk-caller").textContent = ms(data.caller_talk_ms);
    byId("listen-talk-person").textContent = ms(data.person_talk_ms);
    byId("listen-share").textContent = data.caller_share === null || data.caller_share === undefined ? "—" : String(data.caller_share);
    byId("listen-silence").textContent = ms(data.silence_ms);
    byId("listen-longest").textContent = ms(data.longest_silence_ms);
  }

  function alert(data) {
    const item = document.createElement("li");
    item.className = "alert";
    const phrase = document.createElement("strong");
    phrase.textContent = String(data.phrase || "");
    item.appendChild(phrase);
    item.appendChild(document.createTextNode(" · " + String(data.speaker || "") + ": “" + String(data.text || "") + "”"));
    alerts.appendChild(item);
    panel.classList.add("alerted");
  }

  const handlers = { sentiment: sentiment, "listen-stats": stats, alert: alert };
  document.addEventListener("live:message", (event) => {
    const message = event.detail || {};
    const handle = handlers[message.kind];
    if (handle) handle(message.data || {});
  });
})();
