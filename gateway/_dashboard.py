"""The live dashboard: one self-contained HTML page (no external assets), served at ``/``.

Open ``http://HOST:PORT/?token=TOKEN``. The page connects to the WebSocket endpoint
named in its ``tocsin-ws-path`` meta tag with the token from its own URL, subscribes to
everything, shows the open alerts as the events arrive, and offers acknowledge and
resolve buttons when the token's roles allow them. It reconnects with backoff and
resumes from the last seq it saw. The DOM is made for tests: ``#status[data-status]``
(connecting, open, closed), ``#user``, ``#roles``, ``#count``, ``#seq``, ``#message``,
rows ``#alerts tr[data-alert-id][data-state][data-severity]`` and buttons
``button[data-action=ack|resolve][data-alert-id]``.

The Content-Security-Policy allows exactly this page's script and style (by hash).
"""

from __future__ import annotations

import base64
import hashlib

__all__ = ["DASHBOARD_HEADERS", "DASHBOARD_HTML", "dashboard_html"]

_STYLE = """
body { font: 14px system-ui, sans-serif; margin: 0; background: #f6f7f9; color: #1d232b; }
header { display: flex; gap: 1.5em; align-items: center; padding: .8em 1.2em;
  background: #1d232b; color: #fff; }
header h1 { font-size: 1.1em; margin: 0; }
#status { padding: .15em .6em; border-radius: 1em; background: #888; }
#status[data-status=open] { background: #2e7d32; }
#status[data-status=closed] { background: #c62828; }
main { padding: 1em 1.2em; }
#message { min-height: 1.4em; color: #8a4b00; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .45em .6em; border-bottom: 1px solid #e3e6ea; }
tr[data-severity=critical] td:first-child { border-left: 4px solid #c62828; }
tr[data-severity=warning] td:first-child { border-left: 4px solid #ef8f00; }
tr[data-severity=info] td:first-child { border-left: 4px solid #1565c0; }
tr[data-state=acknowledged] { color: #5f6b7a; }
tr[data-state=suppressed] { color: #9aa4b1; font-style: italic; }
.labels span { display: inline-block; margin: 0 .3em .2em 0; padding: 0 .4em;
  background: #eef1f5; border-radius: .3em; font-size: .9em; }
button { margin-right: .3em; }
#empty { color: #5f6b7a; padding: 1em 0; }
"""

_SCRIPT = """
"use strict";
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const wsPath = document.querySelector("meta[name=tocsin-ws-path]").content;
const alerts = new Map();
let roles = [];
let lastSeq = null;
let socket = null;
let retry = 0;
let counter = 0;
const $ = (id) => document.getElementById(id);

function setStatus(status, text) {
  const el = $("status");
  el.dataset.status = status;
  el.textContent = text || status;
}

function say(text) { $("message").textContent = text; }

function canOperate() { return roles.includes("operator") || roles.includes("admin"); }

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
}

function act(action, alertId) {
  counter += 1;
  send({ type: action, id: action + "-" + counter, alert_id: alertId });
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function render() {
  const body = $("alerts");
  body.replaceChildren();
  const sorted = [...alerts.values()].sort((a, b) => b.starts_at - a.starts_at);
  for (const a of sorted) {
    const row = document.createElement("tr");
    row.dataset.alertId = a.alert_id;
    row.dataset.state = a.state;
    row.dataset.severity = a.severity;
    cell(row, a.severity);
    cell(row, a.state + (a.acknowledged_by ? " by " + a.acknowledged_by : ""));
    cell(row, a.rule_id);
    const labels = cell(row, "");
    labels.className = "labels";
    for (const [k, v] of Object.entries(a.labels || {})) {
      const span = document.createElement("span");
      span.textContent = k + "=" + v;
      labels.appendChild(span);
    }
    cell(row, a.value === null || a.value === undefined ? "" : String(a.value));
    cell(row, new Date(a.starts_at * 1000).toLocaleString());
    const actions = cell(row, "");
    if (canOperate()) {
      for (const action of ["ack", "resolve"]) {
        if (action === "ack" && a.state === "acknowledged") continue;
        const button = document.createElement("button");
        button.textContent = action === "ack" ? "Acknowledge" : "Resolve";
        button.dataset.action = action;
        button.dataset.alertId = a.alert_id;
        button.addEventListener("click", () => act(action, a.alert_id));
        actions.appendChild(button);
      }
    }
    body.appendChild(row);
  }
  $("count").textContent = String(alerts.size);
  $("empty").hidden = alerts.size > 0;
  $("seq").textContent = lastSeq === null ? "" : String(lastSeq);
}

function applyEvent(t) {
  lastSeq = t.seq;
  const p = t.payload || {};
  if (!t.alert_id || typeof p.state !== "string") return;
  if (p.state === "resolved") { alerts.delete(t.alert_id); return; }
  let a = alerts.get(t.alert_id);
  if (!a) {
    a = { alert_id: t.alert_id, rule_id: t.rule_id, starts_at: p.starts_at || t.at,
          value: null, annotations: {} };
    alerts.set(t.alert_id, a);
  }
  a.state = p.state;
  a.severity = p.severity;
  a.labels = p.labels;
  if ("value" in p) a.value = p.value;
  if ("annotations" in p) a.annotations = p.annotations;
  if (t.kind === "alert_acknowledged") { a.acknowledged_by = p.by; }
}

function onFrame(frame) {
  switch (frame.type) {
    case "welcome":
      roles = frame.roles;
      $("user").textContent = frame.user;
      $("roles").textContent = roles.join(", ");
      send(lastSeq === null ? { type: "subscribe", id: "dashboard" }
                            : { type: "subscribe", id: "dashboard", resume_from: lastSeq });
      break;
    case "snapshot":
      alerts.clear();
      for (const a of frame.alerts) alerts.set(a.alert_id, a);
      lastSeq = frame.seq;
      break;
    case "event":
      applyEvent(frame.event);
      break;
    case "reply":
      if (frame.id !== "dashboard") say(frame.id + ": done");
      break;
    case "error":
      say((frame.id ? frame.id + ": " : "") + frame.code + ": " + frame.message);
      if (frame.id === "dashboard" && lastSeq !== null) {
        lastSeq = null;  // cannot resume (the server's history changed): start afresh
        send({ type: "subscribe", id: "dashboard" });
      }
      break;
  }
  render();
}

function connect() {
  setStatus("connecting");
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + wsPath + "?token=" + encodeURIComponent(token));
  socket.addEventListener("open", () => { retry = 0; setStatus("open"); });
  socket.addEventListener("message", (e) => onFrame(JSON.parse(e.data)));
  socket.addEventListener("close", (e) => {
    setStatus("closed", "closed (" + e.code + (e.reason ? ": " + e.reason : "") + ")");
    if (e.code === 1008) { say("not authorised: " + (e.reason || "check the token")); return; }
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, 250 * 2 ** retry);
  });
}

if (!token) { setStatus("closed", "no token"); say("open this page with ?token=YOUR_TOKEN"); }
else { connect(); }
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="tocsin-ws-path" content="/ws">
<title>Tocsin</title>
<style>{style}</style>
</head>
<body>
<header>
  <h1>Tocsin</h1>
  <span id="status" data-status="connecting">connecting</span>
  <span>user <b id="user"></b> (<span id="roles"></span>)</span>
  <span>open alerts <b id="count">0</b></span>
  <span>seq <span id="seq"></span></span>
</header>
<main>
  <div id="message" role="status"></div>
  <table>
    <thead><tr><th>Severity</th><th>State</th><th>Rule</th><th>Labels</th><th>Value</th>
      <th>Since</th><th></th></tr></thead>
    <tbody id="alerts"></tbody>
  </table>
  <div id="empty">No open alerts.</div>
</main>
<script>{script}</script>
</body>
</html>
"""


def _hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return "'sha256-" + base64.b64encode(digest).decode() + "'"


def dashboard_html(ws_path: str = "/ws") -> bytes:
    """Return the page, connecting to the WebSocket endpoint ``ws_path``."""
    page = _PAGE.replace("{style}", _STYLE).replace("{script}", _SCRIPT)
    return page.replace('content="/ws"', f'content="{ws_path}"').encode()


DASHBOARD_HTML = dashboard_html()
"""The page for the default endpoint ``/ws``."""

DASHBOARD_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        f"default-src 'none'; script-src {_hash(_SCRIPT)}; style-src {_hash(_STYLE)}; "
        "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
)
"""Headers served with the page: only its own script and style run; no token leaks."""
