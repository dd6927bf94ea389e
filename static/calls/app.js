// Every page: times in the operator's own time zone, the zone shown (the server renders them in TIME_ZONE).
(function () {
  "use strict";
  const options = {
    short: { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false, timeZoneName: "short" },
    long: { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" },
  };
  function parts(date, kind) {
    const out = {};
    new Intl.DateTimeFormat(undefined, options[kind]).formatToParts(date).forEach((p) => { out[p.type] = p.value; });
    return out;
  }
  document.querySelectorAll("time[data-local]").forEach((node) => {
    const date = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(date.getTime())) return;
    const kind = node.dataset.local === "short" ? "short" : "long";
    const p = parts(date, kind);
    const clock = p.hour + ":" + p.minute + (kind === "long" ? ":" + p.second : "");
    node.textContent = p.year + "-" + p.month + "-" + p.day + " " + clock + " " + (p.timeZoneName || "");
    node.title = "Your time zone (" + Intl.DateTimeFormat().resolvedOptions().timeZone + ")";
  });
})();
