// The live call page: a WebSocket to the call's watch group; every text goes in through textContent.
(function () {
  "use strict";
  const root = document.getElementById("live");
  const list = document.getElementById("turns");
  const partial = document.getElementById("partial");
  const status = document.getElementById("live-status");
  const ended = document.getElementById("ended");
  const hangup = document.getElementById("hangup");
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function offset(ms) {
    if (ms === null || ms === undefined) return "--:--";
    const minutes = Math.floor(ms / 60000), rest = ms % 60000;
    return String(minutes).padStart(2, "0") + ":" + String(Math.floor(rest / 1000)).padStart(2, "0") + "." + Math.floor((rest % 1000) / 100);
  }

  function showTurn(turn) {
    const role = ["caller", "agent", "system", "tool"].includes(turn.role) ? turn.role : "system";
    const item = el("li", "turn " + role + (turn.interrupted ? " interrupted" : ""));
    item.dataset.seq = turn.sequence;
    const label = role.charAt(0).toUpperCase() + role.slice(1);
    item.appendChild(el("div", "meta", offset(turn.start_ms) + " " + label + (turn.interrupted ? " · interrupted" : turn.resumed ? " · paused and resumed" : "")));
    const bubble = el("div", "bubble");
    if (turn.interrupted) {
      const heard = turn.heard_text || "";
      const text = turn.text || "";
      bubble.appendChild(el("span", "heard", heard));
      const rest = text.startsWith(heard) ? text.slice(heard.length) : text;
      if (rest) bubble.appendChild(el("span", "unheard", rest));
    } else {
      bubble.textContent = turn.text || "";
    }
    item.appendChild(bubble);
    if (Array.isArray(turn.tool_calls) && turn.tool_calls.length) item.appendChild(toolList(turn.tool_calls));
    const existing = list.querySelector('.turn[data-seq="' + CSS.escape(String(turn.sequence)) + '"]');
    if (existing) existing.replaceWith(item); else list.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function toolLine(tool) {
    let text = (tool.name || "?") + " · " + (tool.status || "?");
    if (tool.http_status) text += " (HTTP " + tool.http_status + ")";
    if (tool.latency_ms !== null && tool.latency_ms !== undefined) text += " · " + tool.latency_ms + " ms";
    if (tool.cancelled_by_barge_in) text += " · not spoken: the caller interrupted";
    if (tool.error) text += " · " + tool.error;
    return text;
  }

  function toolList(tools) {
    const items = el("ul", "tools");
    tools.forEach((tool) => {
      const item = el("li", "tool-call " + String(tool.status || "").replace(/[^a-z_]/g, ""), toolLine(tool));
      if (tool.result) item.title = tool.result;
      items.appendChild(item);
    });
    return items;
  }

  function showTools(data) {  // a stored turn's tool calls changed (a result that came in after a barge-in)
    const turn = list.querySelector('.turn[data-seq="' + CSS.escape(String(data.sequence)) + '"]');
    if (!turn || !Array.isArray(data.tool_calls)) return;
    const old = turn.querySelector(".tools");
    if (old) old.replaceWith(toolList(data.tool_calls)); else turn.appendChild(toolList(data.tool_calls));
  }

  function toolProgress(data) {  // a tool started or finished before its turn is stored
    const tool = data.tool_call || {};
    const key = String(data.sequence) + ":" + String(tool.id || "");
    const existing = Array.from(list.querySelectorAll("li.event.tool")).find((item) => item.dataset.key === key);
    const item = el("li", "event tool", "Tool " + toolLine(tool));
    item.dataset.key = key;
    if (existing) existing.replaceWith(item); else list.appendChild(item);
  }

  function note(text, kind) {
    list.appendChild(el("li", "event " + kind, text));
  }

  const handlers = {
    partial: (data) => { partial.textContent = data.text || ""; },
    turn: (data) => { if (data.role === "caller") partial.textContent = ""; showTurn(data); },
    "barge-in": (data) => note("Caller interrupted the agent" + (data.reaction_ms !== undefined ? " (reaction " + data.reaction_ms + " ms)" : ""), "barge-in"),
    dtmf: (data) => note("Keypad: " + (data.digit || "?"), "dtmf"),
    "dtmf-sent": (data) => note("Agent pressed: " + (data.digits || "?"), "dtmf"),
    tool: toolProgress,
    tools: showTools,
    ended: () => {
      ended.hidden = false;
      partial.textContent = "";
      if (hangup) hangup.disabled = true;
      status.textContent = "call ended";
    },
  };

  // Reconnects with backoff when the socket drops (a server restart, the channel layer's Redis restarting), and
  // asks for the turns stored since the last one shown. 4403/4404 (no access, no such call) are final.
  const FINAL_CODES = [4403, 4404];
  const DELAYS_MS = [500, 1000, 2000, 5000];
  let failures = 0;
  let lastSequence = null;

  function connect() {
    const after = lastSequence === null ? "" : "?after=" + encodeURIComponent(lastSequence);
    const socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath + after);
    socket.addEventListener("open", () => { failures = 0; status.textContent = "live"; });
    socket.addEventListener("close", (event) => {
      if (!ended.hidden) return;
      if (FINAL_CODES.includes(event.code)) { status.textContent = "disconnected"; return; }
      const delay = DELAYS_MS[Math.min(failures, DELAYS_MS.length - 1)];
      failures += 1;
      status.textContent = "reconnecting…";
      window.setTimeout(connect, delay);
    });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      const data = message.data || {};
      if (message.kind === "turn" && Number.isInteger(data.sequence)) {
        lastSequence = Math.max(lastSequence === null ? 0 : lastSequence, data.sequence);
      }
      const handle = handlers[message.kind];
      if (handle) handle(data);
    });
  }

  list.querySelectorAll(".turn[data-seq]").forEach((item) => {
    const sequence = parseInt(item.dataset.seq, 10);
    if (Number.isInteger(sequence)) lastSequence = Math.max(lastSequence === null ? 0 : lastSequence, sequence);
  });
  if (lastSequence === null) lastSequence = 0;
  connect();
})();
