// The live call page: a WebSocket to the call's watch group; every text goes in through textContent.
// The call's state comes from the server: rendered into #call-state, then a "state" message on every (re)connect,
// then "ended". The hang-up button works only while the call is live, and asks for confirmation first.
(function () {
  "use strict";
  const root = document.getElementById("live");
  const list = document.getElementById("turns");
  const partial = document.getElementById("partial");
  const partialLine = document.getElementById("partial-line");
  const status = document.getElementById("live-status");
  const ended = document.getElementById("ended");
  const hangup = document.getElementById("hangup");
  const confirmBox = document.getElementById("hangup-confirm");
  const facts = document.getElementById("call-state");
  const stateLabel = document.getElementById("call-state-label");
  const stateNote = document.getElementById("call-state-note");
  const elapsed = document.getElementById("elapsed");
  const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  let callLive = facts.dataset.live === "1";
  let startedAt = facts.dataset.startedAt ? Date.parse(facts.dataset.startedAt) : null;
  let endedAt = facts.dataset.endedAt ? Date.parse(facts.dataset.endedAt) : null;
  let eventsAfter = parseInt(facts.dataset.eventsAfter || "0", 10) || 0;

  function clock(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const mm = String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function tick() {
    if (startedAt === null) return;
    const until = endedAt !== null ? endedAt : Date.now();
    elapsed.textContent = clock(until - startedAt) + (endedAt !== null ? " (call ended)" : "");
  }

  function setPartial(text) {
    partial.textContent = text || "";
    partialLine.hidden = !text;
  }

  function showState(data) {  // the server's word on the call (the "state" message)
    if (typeof data.label === "string") stateLabel.textContent = data.label;
    if (typeof data.state === "string") stateLabel.className = "state " + data.state.replace(/[^a-z-]/g, "");
    stateNote.textContent = data.note || "";
    if (data.started_at) startedAt = Date.parse(data.started_at);
    if (data.ended_at) endedAt = Date.parse(data.ended_at);
    if (data.live === false) callEnded(data.ended_at);
    else if (hangup) hangup.disabled = data.state === "hangup-requested";
    tick();
  }

  function callEnded(at) {
    callLive = false;
    if (endedAt === null) endedAt = at ? Date.parse(at) : Date.now();
    ended.hidden = false;
    setPartial("");
    if (hangup) hangup.disabled = true;
    if (confirmBox) confirmBox.hidden = true;
    if (stateLabel.className.indexOf("awaiting-hangup") < 0) {
      stateLabel.textContent = "ended";
      stateLabel.className = "state ended";
    }
    status.textContent = "closed (the call has ended)";
    tick();
  }

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
    const role = ["caller", "agent", "person", "system", "tool"].includes(turn.role) ? turn.role : "system";
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
    list.appendChild(el("li", "event " + String(kind).replace(/[^a-z-]/g, ""), text));
  }

  const handlers = {
    partial: (data) => { setPartial(data.text); },
    turn: (data) => { if (data.role === "caller") setPartial(""); showTurn(data); },
    "barge-in": (data) => note("Caller interrupted the agent" + (data.reaction_ms !== undefined ? " (reaction " + data.reaction_ms + " ms)" : ""), "barge-in"),
    dtmf: (data) => note("Keypad: " + (data.digit || "?"), "dtmf"),
    "dtmf-sent": (data) => note("Agent pressed: " + (data.digits || "?"), "dtmf"),
    tool: toolProgress,
    tools: showTools,
    note: (data) => {  // a stored event the page missed (between its render and its socket)
      if (Number.isInteger(data.id)) eventsAfter = Math.max(eventsAfter, data.id);
      note(data.text || "", data.event || "");
    },
    state: showState,
    ended: () => callEnded(null),
  };

  // Reconnects with backoff when the socket drops (a server restart, the channel layer's Redis restarting), and
  // asks for the turns stored since the last one shown. 4403/4404 (no access, no such call) are final.
  const FINAL_CODES = [4403, 4404];
  const DELAYS_MS = [500, 1000, 2000, 5000];
  let failures = 0;
  let lastSequence = null;

  function connect() {
    const query = "?after=" + encodeURIComponent(lastSequence === null ? 0 : lastSequence) + "&state=1&events_after=" + eventsAfter;
    const socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath + query);
    socket.addEventListener("open", () => { failures = 0; if (callLive) status.textContent = "live"; });
    socket.addEventListener("close", (event) => {
      if (!callLive) { status.textContent = "closed (the call has ended)"; return; }
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
      document.dispatchEvent(new CustomEvent("live:message", { detail: message }));  // listen.js and other panels
    });
  }

  list.querySelectorAll(".turn[data-seq]").forEach((item) => {
    const sequence = parseInt(item.dataset.seq, 10);
    if (Number.isInteger(sequence)) lastSequence = Math.max(lastSequence === null ? 0 : lastSequence, sequence);
  });
  if (lastSequence === null) lastSequence = 0;

  if (hangup && confirmBox) {  // hang-up asks first: the button shows the question, "Yes" sends the form
    hangup.addEventListener("click", (event) => {
      event.preventDefault();
      if (!callLive || hangup.disabled) return;
      confirmBox.hidden = false;
      hangup.hidden = true;
      document.getElementById("hangup-yes").focus();
    });
    document.getElementById("hangup-cancel").addEventListener("click", () => {
      confirmBox.hidden = true;
      hangup.hidden = false;
      hangup.focus();
    });
  }

  tick();
  window.setInterval(tick, 1000);
  if (callLive) connect(); else callEnded(facts.dataset.endedAt || null);
})();
