// Operator page: the live alert list (GET /api/alerts, then server-sent events), the
// acknowledge / release / resolve buttons (release and resolve with a note), the status strip,
// an alarm that repeats until the alert is acknowledged, and the page's own honesty: when the
// node stops answering, everything that is no longer live turns grey and says since when.
"use strict";

const URGENT = new Set(["fire_lane_blocked", "ebike_in_lift", "gas", "smoke", "co"]);
const ACTIVE = new Set(["open", "acknowledged"]);
const MAX_ALERTS = 300;
const FLASH_MS = 10000;
// The node sends its status every 5 s: two missed ones and a margin mean it is not answering.
const STALE_MS = 12000;
const PROBE_TIMEOUT_MS = 2500;
const RING_EVERY_MS = 5000;
const RING_EVERY_ESCALATED_MS = 2500;

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const alerts = new Map(); // id -> {payload, row, flashUntil, note: {action, text} | null}
let events = null;
let lastStatus = null;
let lastStatusAt = 0; // Date.now() when the node last answered with its status
let lastHeardAt = 0; // ... or sent anything on the live feed
let feedLost = true;
let probeFailed = false;
let nodeDown = false;
let audio = null;
let soundOn = localStorage.getItem("gs.sound") !== "off";
let nextRingAt = 0;

// Communities' practice: red open, yellow acknowledged, green cleared or resolved, grey
// released (false alarm). An escalated alert nobody acknowledged is the most urgent of all:
// still red, and louder (style.css .escalated-open).
function colourOf(a) {
  if (a.state === "open") return "red";
  if (a.state === "acknowledged") return "yellow";
  if (a.state === "released") return "grey";
  return "green";
}

function alarming(a) {
  return a.state === "open" && (URGENT.has(a.kind) || a.escalated);
}

function dwellOf(a) {
  if (!ACTIVE.has(a.state)) return a.dwell_s;
  // While the node is down the page cannot know the alert is still going: the timer stops at
  // the node's last word.
  const until = nodeDown ? lastHeardAt : Date.now();
  return a.dwell_s + Math.max(0, (until - Date.parse(a.updated_at)) / 1000);
}

// --- names, not ids ------------------------------------------------------------------------

function cameraOf(id) {
  return ((lastStatus && lastStatus.cameras) || []).find((c) => c.id === id);
}

function sensorOf(id) {
  return ((lastStatus && lastStatus.sensors) || []).find((s) => s.id === id);
}

// Where the alert is, in the words the installer configured: the camera's location and the
// zone's name (two zones of one camera read differently), or the sensor's location and name.
function placeOf(a) {
  const loc = a.location || {};
  const src = a.source || {};
  // building and floor are often already part of the text ("3号楼 电梯2")
  const extra = [loc.building, loc.floor].filter((v) => v && !(loc.text || "").includes(v));
  let what = "";
  if (src.zone) {
    const cam = cameraOf(src.camera);
    const name = cam && cam.zone_names && cam.zone_names[src.zone];
    what = name || `${GS.t("alert.zone")} ${src.zone}`;
  } else if (src.sensor) {
    const sensor = sensorOf(src.sensor);
    what = (sensor && sensor.name) || (loc.text ? "" : src.sensor);
  } else if (src.camera && !loc.text) {
    what = src.camera;
  }
  return [loc.text, ...extra, what].filter(Boolean).join(" · ") || "–";
}

function namesKey(s) {
  const cams = (s.cameras || []).map((c) => [c.id, c.location, c.zone_names]);
  const sensors = (s.sensors || []).map((x) => [x.id, x.name, x.location]);
  return JSON.stringify([cams, sensors]);
}

// --- the list ------------------------------------------------------------------------------

function upsert(a, live) {
  const prev = alerts.get(a.id);
  if (prev && prev.payload.seq >= a.seq) return; // a duplicate delivery or a stale event
  const entry = prev || { flashUntil: 0, note: null };
  const wasEscalated = prev && prev.payload.escalated;
  entry.payload = a;
  if (!ACTIVE.has(a.state)) entry.note = null;
  const urgentNew = !prev && a.event === "raised" && URGENT.has(a.kind);
  const escalatedNow = a.escalated && !wasEscalated && a.state === "open";
  if (live && (urgentNew || escalatedNow)) {
    entry.flashUntil = Date.now() + FLASH_MS;
    alarm();
  }
  replaceRow(entry);
  alerts.set(a.id, entry);
  order();
  ring();
}

function replaceRow(entry) {
  const typing = entry.row && entry.row.contains(document.activeElement) && document.activeElement.name === "note";
  const row = renderRow(entry);
  if (entry.row) entry.row.replaceWith(row);
  entry.row = row;
  if (typing) {
    const box = row.querySelector("textarea[name=note]");
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }
}

function order() {
  const sorted = [...alerts.values()].sort((x, y) => {
    const ax = ACTIVE.has(x.payload.state);
    const ay = ACTIVE.has(y.payload.state);
    if (ax !== ay) return ax ? -1 : 1;
    return x.payload.id < y.payload.id ? 1 : -1; // ULIDs sort by raise time
  });
  for (const old of sorted.slice(MAX_ALERTS)) {
    old.row.remove();
    alerts.delete(old.payload.id);
  }
  // Rows move only when the order changed: a row taken out and put back under the
  // operator's finger swallows the click that was on its way.
  const want = sorted.slice(0, MAX_ALERTS).map((e) => e.row);
  const list = $("alerts");
  const same = want.length === list.children.length && want.every((row, i) => list.children[i] === row);
  if (!same) list.append(...want);
  $("no-alerts").hidden = alerts.size > 0;
}

function renderRow(entry) {
  const a = entry.payload;
  const active = ACTIVE.has(a.state);
  const src = a.source || {};
  const ids = [src.camera, src.zone, src.sensor].filter(Boolean).join(" / ");
  const flashing = entry.flashUntil > Date.now();
  const snap = a.evidence && GS.imageUrl(a.evidence.url);
  const urgent = a.state === "open" && a.escalated;
  return GS.el(
    "li",
    {
      class: `alert state-${colourOf(a)}${urgent ? " escalated-open" : ""}${active ? "" : " closed"}${flashing ? " flash-new" : ""}`,
      "data-alert-id": a.id,
      "data-state": a.state,
      "data-kind": a.kind,
    },
    snap
      ? GS.el("a", { class: "thumb", href: snap, target: "_blank" }, GS.el("img", { src: snap, alt: "", loading: "lazy" }))
      : GS.el("div", { class: "thumb noimg" }, GS.t("alert.noPicture")),
    GS.el(
      "div",
      { class: "body" },
      GS.el(
        "div",
        { class: "title" },
        GS.el("b", { class: "kind" }, GS.kindLabel(a.kind)),
        GS.el("span", { class: `badge sev-${a.severity}` }, GS.t(`sev.${a.severity}`)),
        GS.el("span", { class: "badge state" }, GS.t(`state.${a.state}`)),
        a.escalated && GS.el("span", { class: "badge escalated" }, GS.t("alert.escalated")),
      ),
      // The ids stay one hover away, for telling the installer which zone misbehaves.
      GS.el("div", { class: "place", title: ids }, placeOf(a)),
      GS.el(
        "div",
        { class: "meta" },
        GS.el("span", {}, `${GS.t("alert.grid")} `, GS.el("b", {}, a.grid || "–")),
        GS.el("span", {}, `${GS.t("alert.started")} ${GS.formatTime(a.started_at)}`),
        GS.el("span", {}, `${GS.t("alert.dwell")} `, GS.el("b", { class: "dwell" }, GS.formatDuration(dwellOf(a)))),
      ),
      a.actor &&
        GS.el(
          "div",
          { class: "meta muted actor" },
          `${GS.t("alert.by")} ${a.actor.by} · ${GS.formatTime(a.actor.at)}${a.actor.note ? ` · ${a.actor.note}` : ""}`,
        ),
      entry.note && noteBox(entry),
    ),
    GS.el(
      "div",
      { class: "actions" },
      actionButton(a, "ack", "action.ack", a.state === "open", () => act(a.id, "ack", null)),
      actionButton(a, "release", "action.release", active, () => openNote(entry, "release")),
      actionButton(a, "resolve", "action.resolve", active, () => openNote(entry, "resolve")),
    ),
  );
}

function actionButton(a, action, label, enabled, onclick) {
  return GS.el(
    "button",
    { type: "button", class: `act act-${action}`, "data-action": action, disabled: !enabled, onclick },
    GS.t(label),
  );
}

// Release and resolve ask for a note first (the API keeps it with the alert's actor).
function noteBox(entry) {
  const { action, text } = entry.note;
  const box = GS.el("textarea", {
    name: "note",
    rows: 2,
    maxlength: 1000,
    placeholder: GS.t("note.placeholder"),
    oninput: (e) => {
      entry.note.text = e.target.value;
    },
  });
  box.value = text;
  return GS.el(
    "div",
    { class: "note-box", "data-note-for": action },
    GS.el("label", {}, GS.el("span", { class: "small" }, GS.t(`note.title.${action}`)), box),
    GS.el(
      "div",
      { class: "buttons" },
      GS.el("button", { type: "button", class: `act-${action} primary`, "data-confirm": action, onclick: () => act(entry.payload.id, action, entry.note.text) }, GS.t(`note.confirm.${action}`)),
      GS.el("button", { type: "button", "data-cancel": "1", onclick: () => closeNote(entry) }, GS.t("note.cancel")),
    ),
  );
}

function openNote(entry, action) {
  entry.note = { action, text: entry.note && entry.note.action === action ? entry.note.text : "" };
  replaceRow(entry);
  entry.row.querySelector("textarea[name=note]").focus();
}

function closeNote(entry) {
  entry.note = null;
  replaceRow(entry);
}

async function act(id, action, note) {
  const entry = alerts.get(id);
  const by = $("by").value.trim() || "operator";
  const buttons = entry ? [...entry.row.querySelectorAll("button")] : [];
  for (const b of buttons) b.disabled = true;
  const text = (note || "").trim();
  const res = await GS.request("POST", `/api/alerts/${enc(id)}/${action}`, { by, note: text || null });
  const done = res.ok && res.body && res.body.ok !== false;
  if (done && entry) entry.note = null;
  if (res.ok && res.body && res.body.alert) upsert(res.body.alert, false);
  if (!done) {
    if (entry) replaceRow(entry); // buttons back as the alert's state allows
    showActionStatus(res.ok ? res.body.message : GS.errorText(res), "error");
  } else {
    showActionStatus("");
  }
}

function showActionStatus(text, kind = "") {
  const line = $("action-status");
  line.textContent = text;
  line.className = `status-line ${kind}`;
}

function renderDwells() {
  for (const entry of alerts.values()) {
    const a = entry.payload;
    if (ACTIVE.has(a.state)) entry.row.querySelector(".dwell").textContent = GS.formatDuration(dwellOf(a));
  }
}

function tick() {
  const now = Date.now();
  checkNode();
  renderDwells();
  for (const entry of alerts.values()) {
    if (entry.flashUntil && entry.flashUntil <= now) {
      entry.flashUntil = 0;
      entry.row.classList.remove("flash-new");
    }
  }
  ring();
  renderDown();
}

// --- sound and flash -----------------------------------------------------------------------

function alarm() {
  document.body.dataset.alarms = String(Number(document.body.dataset.alarms || 0) + 1);
  const flash = $("flash");
  flash.classList.remove("on");
  void flash.offsetWidth; // restart the animation
  flash.classList.add("on");
  nextRingAt = 0; // at once, whatever the repeat was waiting for
  ring();
}

// The alarm repeats while an urgent or escalated alert is open and nobody acknowledged it;
// faster and louder when one is escalated.
function ring() {
  const open = [...alerts.values()].map((e) => e.payload).filter(alarming);
  document.body.dataset.ringing = open.length ? "1" : "0";
  if (!open.length) {
    nextRingAt = 0;
    return;
  }
  const loud = open.some((a) => a.escalated);
  const now = Date.now();
  if (now < nextRingAt) return;
  nextRingAt = now + (loud ? RING_EVERY_ESCALATED_MS : RING_EVERY_MS);
  document.body.dataset.rings = String(Number(document.body.dataset.rings || 0) + 1);
  if (soundOn) beep(loud);
}

function audioContext() {
  if (audio) return audio;
  try {
    audio = new AudioContext();
    audio.addEventListener("statechange", renderSound);
  } catch {
    audio = null; // no Web Audio: the flash and the red rows are the cue
  }
  return audio;
}

function beep(loud) {
  const ctx = audioContext();
  if (!ctx || ctx.state !== "running") return renderSound();
  const t0 = ctx.currentTime + 0.02;
  const tones = loud ? [988, 740, 988, 740, 988, 740] : [880, 660, 880, 660];
  const peak = loud ? 0.35 : 0.15;
  tones.forEach((freq, i) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    const start = t0 + i * 0.25;
    osc.type = "square";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(peak, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.22);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + 0.23);
  });
}

// Browsers keep audio suspended until the person on the page clicks: say so, big enough to
// be seen, instead of staying silent.
function renderSound() {
  $("sound").textContent = GS.t(soundOn ? "sound.on" : "sound.off");
  $("sound").classList.toggle("off", !soundOn);
  const ctx = audio;
  const blocked = soundOn && (!ctx || ctx.state !== "running");
  $("sound-blocked").hidden = !blocked;
}

async function unlockAudio() {
  const ctx = audioContext();
  if (!ctx) return renderSound();
  try {
    await ctx.resume();
  } catch {
    // still blocked: the badge stays
  }
  renderSound();
}

// --- is the node there? ------------------------------------------------------------------

// The node is down when its status is older than STALE_MS, or when the live feed broke and
// the node does not answer a probe either (a killed node is then shown at once).
function checkNode() {
  const stale = lastStatusAt > 0 && Date.now() - lastStatusAt > STALE_MS;
  const down = stale || (feedLost && probeFailed) || (lastStatusAt === 0 && probeFailed);
  if (down !== nodeDown) {
    nodeDown = down;
    document.body.classList.toggle("node-down", down);
    renderDwells(); // stopped at once, not one tick later
    if (lastStatus) renderStatus(lastStatus);
    renderDown();
  }
}

async function probe() {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), PROBE_TIMEOUT_MS);
  try {
    const res = await fetch("/healthz", { cache: "no-store", signal: ctl.signal });
    probeFailed = !res.ok;
  } catch {
    probeFailed = true;
  } finally {
    clearTimeout(timer);
  }
  checkNode();
}

function renderDown() {
  const banner = $("down");
  const node = (lastStatus && lastStatus.node) || {};
  let text = "";
  let kind = "";
  if (nodeDown) {
    const since = lastHeardAt ? new Date(lastHeardAt) : null;
    const ago = since ? GS.formatDuration((Date.now() - lastHeardAt) / 1000) : "–";
    text = GS.t("down.node", { since: since ? GS.formatTime(since.toISOString()) : "–", ago });
    kind = "node";
  } else if (lastStatus && node.broker_connected === false) {
    const n = node.outbox_backlog ?? 0;
    text = node.broker_down_since
      ? GS.t("down.link", { since: GS.formatTime(node.broker_down_since), n })
      : GS.t("down.linkNoSince", { n });
    kind = "link";
  }
  banner.hidden = !text;
  banner.dataset.kind = kind;
  if (banner.textContent !== text) banner.textContent = text;
}

// --- the status strip ----------------------------------------------------------------------

function renderStatus(s) {
  const node = s.node || {};
  const down = nodeDown;
  $("site").textContent = [node.site && node.site.name, node.id].filter(Boolean).join(" · ");
  const broker = node.broker_connected;
  const linkText = down
    ? GS.t("status.unknown")
    : broker
      ? GS.t("status.online")
      : [GS.t("status.offline"), node.broker_down_since && GS.t("status.since", { since: GS.formatTime(node.broker_down_since) })].filter(Boolean).join(" ");
  $("node-status").replaceChildren(
    GS.el("span", { class: `chip ${down ? "stale" : broker ? "online" : "offline"}`, "data-chip": "broker" }, `${GS.t("status.broker")} ${linkText}`),
    GS.el("span", { class: `chip ${down ? "stale" : node.outbox_backlog ? "warn" : ""}`, "data-chip": "outbox" }, `${GS.t("status.outbox")} ${node.outbox_backlog ?? 0}`),
    GS.el("span", { class: `chip${down ? " stale" : ""}` }, `${GS.t("status.open")} ${(s.alerts && s.alerts.open) ?? 0}`),
  );
  const state = (online) => (down ? "stale" : online ? "online" : "offline");
  $("camera-chips").replaceChildren(
    ...(s.cameras || []).map((c) =>
      GS.el(
        "span",
        {
          class: `chip ${state(c.online)}`,
          "data-camera": c.id,
          title: `${c.id} · ${c.grid || ""} · ${GS.formatTime(c.last_frame_at)}`,
        },
        c.location || c.id,
        GS.el("small", { class: "fps" }, down ? ` ${GS.t("status.unknown")}` : c.online ? ` ${Number(c.fps || 0).toFixed(1)} fps` : ` ${GS.t("status.offline")}`),
      ),
    ),
  );
  // A sensor read over MQTT is not heard while the node's broker link is down.
  const unheard = (x) => down || (broker === false && x.via === "mqtt");
  $("sensor-chips").replaceChildren(
    ...(s.sensors || []).map((x) =>
      GS.el(
        "span",
        {
          class: `chip ${unheard(x) ? "stale" : state(x.online)}`,
          "data-sensor": x.id,
          title: `${x.id} · ${x.location || ""} ${x.grid || ""} · ${GS.formatTime(x.last_seen_at)}`,
        },
        x.name || x.location || x.id,
        GS.el("small", {}, ` ${GS.t(`sensorkind.${x.kind}`)}${unheard(x) ? ` ${GS.t("status.unknown")}` : x.online ? "" : ` ${GS.t("status.offline")}`}`),
      ),
    ),
  );
  if (!(s.sensors || []).length) $("sensor-chips").append(GS.el("span", { class: "muted" }, "–"));
}

function onStatus(s) {
  const renamed = !lastStatus || namesKey(lastStatus) !== namesKey(s);
  lastStatus = s;
  lastStatusAt = Date.now();
  lastHeardAt = lastStatusAt;
  probeFailed = false;
  checkNode();
  renderStatus(s);
  renderDown();
  if (renamed) for (const entry of alerts.values()) replaceRow(entry);
}

// --- loading and the live feed -------------------------------------------------------------

async function loadAlerts() {
  const res = await GS.request("GET", "/api/alerts?limit=100");
  if (!res.ok) return showActionStatus(GS.errorText(res), "error");
  for (const a of res.body.alerts || []) upsert(a, false);
  order();
}

async function loadStatus() {
  const res = await GS.request("GET", "/api/status");
  if (res.ok) onStatus(res.body);
  else if (res.status === 0) probe();
}

function connect() {
  if (events) events.close();
  const token = GS.token();
  let lost = false;
  events = new EventSource(`/api/events${token ? `?token=${enc(token)}` : ""}`);
  events.addEventListener("open", () => {
    feedLost = false;
    setLive(true);
    if (lost) loadAlerts(); // catch up on what happened while the feed was down
  });
  events.addEventListener("error", () => {
    lost = true;
    feedLost = true;
    setLive(false);
    probe();
    // A refused stream (e.g. 401) is not retried by the browser: retry it ourselves.
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
  });
  events.addEventListener("alert", (e) => {
    lastHeardAt = Date.now();
    upsert(JSON.parse(e.data), true);
  });
  events.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
}

function setLive(ok) {
  const live = $("live");
  live.classList.toggle("lost", !ok);
  live.dataset.i18n = ok ? "live.connected" : "live.lost";
  live.textContent = GS.t(live.dataset.i18n);
}

function rerender() {
  for (const entry of alerts.values()) replaceRow(entry);
  if (lastStatus) renderStatus(lastStatus);
  renderSound();
  renderDown();
}

function init() {
  GS.initHeader();
  const by = $("by");
  by.value = localStorage.getItem("gs.by") || "";
  by.placeholder = "operator";
  by.addEventListener("input", () => localStorage.setItem("gs.by", by.value.trim()));
  const hide = $("hide-closed");
  hide.checked = localStorage.getItem("gs.hideClosed") === "1";
  $("alerts").classList.toggle("hide-closed", hide.checked);
  hide.addEventListener("change", () => {
    localStorage.setItem("gs.hideClosed", hide.checked ? "1" : "0");
    $("alerts").classList.toggle("hide-closed", hide.checked);
  });
  $("sound").addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("gs.sound", soundOn ? "on" : "off");
    if (soundOn) unlockAudio().then(() => beep(false));
    renderSound();
  });
  $("sound-blocked").addEventListener("click", () => unlockAudio().then(() => beep(false)));
  // Browsers start audio only after a user gesture: any click on the page unlocks it.
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  audioContext();
  GS.onLanguage.push(rerender);
  GS.onToken.push(connect);
  renderSound();
  setLive(false);
  connect();
  loadStatus();
  GS.probeReads().then(loadAlerts);
  setInterval(tick, 1000);
  // While the feed is down, ask for the status now and then: the node may be back before
  // the event stream reconnects.
  setInterval(() => {
    if (feedLost || nodeDown) loadStatus();
  }, 5000);
}

init();
