// Operator page: the live alert list (GET /api/alerts, then server-sent events), the
// acknowledge / release / resolve buttons, the status strip, a sound and a flash on urgent alerts.
"use strict";

const URGENT = new Set(["fire_lane_blocked", "ebike_in_lift", "gas", "smoke", "co"]);
const ACTIVE = new Set(["open", "acknowledged"]);
const MAX_ALERTS = 300;
const FLASH_MS = 10000;

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const alerts = new Map(); // id -> {payload, row, flashUntil}
let events = null;
let lastStatus = null;
let audio = null;
let soundOn = localStorage.getItem("gs.sound") !== "off";

// Communities' practice: red raised, yellow acknowledged or escalated, green cleared or
// resolved; a released alert (false alarm) is grey.
function colourOf(a) {
  if (a.state === "open") return a.escalated ? "yellow" : "red";
  if (a.state === "acknowledged") return "yellow";
  if (a.state === "released") return "grey";
  return "green";
}

function dwellOf(a) {
  if (!ACTIVE.has(a.state)) return a.dwell_s;
  return a.dwell_s + Math.max(0, (Date.now() - Date.parse(a.updated_at)) / 1000);
}

// --- the list ------------------------------------------------------------------------------

function upsert(a, live) {
  const prev = alerts.get(a.id);
  if (prev && prev.payload.seq >= a.seq) return; // a duplicate delivery or a stale event
  const entry = prev || { flashUntil: 0 };
  entry.payload = a;
  if (!prev && live && a.event === "raised" && URGENT.has(a.kind)) {
    entry.flashUntil = Date.now() + FLASH_MS;
    alarm();
  }
  const row = renderRow(entry);
  if (entry.row) entry.row.replaceWith(row);
  entry.row = row;
  alerts.set(a.id, entry);
  order();
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
  $("alerts").append(...sorted.slice(0, MAX_ALERTS).map((e) => e.row));
  $("no-alerts").hidden = alerts.size > 0;
}

function renderRow(entry) {
  const a = entry.payload;
  const active = ACTIVE.has(a.state);
  const loc = a.location || {};
  // building and floor are often already part of the text ("3号楼 电梯2")
  const extra = [loc.building, loc.floor].filter((v) => v && !(loc.text || "").includes(v));
  const place = [loc.text, ...extra].filter(Boolean).join(" · ") || "–";
  const source = [a.source.camera, a.source.zone, a.source.sensor].filter(Boolean).join(" / ");
  const flashing = entry.flashUntil > Date.now();
  const snap = a.evidence && GS.imageUrl(a.evidence.url);
  return GS.el(
    "li",
    {
      class: `alert state-${colourOf(a)}${active ? "" : " closed"}${flashing ? " flash-new" : ""}`,
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
      GS.el("div", { class: "place" }, place),
      GS.el(
        "div",
        { class: "meta" },
        GS.el("span", {}, `${GS.t("alert.grid")} `, GS.el("b", {}, a.grid || "–")),
        GS.el("span", {}, `${GS.t("alert.started")} ${GS.formatTime(a.started_at)}`),
        GS.el("span", {}, `${GS.t("alert.dwell")} `, GS.el("b", { class: "dwell" }, GS.formatDuration(dwellOf(a)))),
        source && GS.el("span", { class: "muted" }, `${GS.t("alert.source")} ${source}`),
      ),
      a.actor &&
        GS.el(
          "div",
          { class: "meta muted" },
          `${GS.t("alert.by")} ${a.actor.by} · ${GS.formatTime(a.actor.at)}${a.actor.note ? ` · ${a.actor.note}` : ""}`,
        ),
    ),
    GS.el(
      "div",
      { class: "actions" },
      actionButton(a, "ack", "action.ack", a.state === "open"),
      actionButton(a, "release", "action.release", active),
      actionButton(a, "resolve", "action.resolve", active),
    ),
  );
}

function actionButton(a, action, label, enabled) {
  return GS.el(
    "button",
    { type: "button", class: `act act-${action}`, "data-action": action, disabled: !enabled, onclick: (e) => act(a.id, action, e.target) },
    GS.t(label),
  );
}

async function act(id, action, button) {
  const by = $("by").value.trim() || "operator";
  button.disabled = true;
  const res = await GS.request("POST", `/api/alerts/${enc(id)}/${action}`, { by, note: null });
  if (res.ok && res.body && res.body.alert) upsert(res.body.alert, false);
  if (!res.ok || (res.body && res.body.ok === false)) {
    button.disabled = false;
    const text = res.ok ? res.body.message : GS.errorText(res);
    showActionStatus(text, "error");
  } else {
    showActionStatus("");
  }
}

function showActionStatus(text, kind = "") {
  const line = $("action-status");
  line.textContent = text;
  line.className = `status-line ${kind}`;
}

function tick() {
  const now = Date.now();
  for (const entry of alerts.values()) {
    const a = entry.payload;
    if (ACTIVE.has(a.state)) entry.row.querySelector(".dwell").textContent = GS.formatDuration(dwellOf(a));
    if (entry.flashUntil && entry.flashUntil <= now) {
      entry.flashUntil = 0;
      entry.row.classList.remove("flash-new");
    }
  }
}

// --- sound and flash -----------------------------------------------------------------------

function alarm() {
  document.body.dataset.alarms = String(Number(document.body.dataset.alarms || 0) + 1);
  const flash = $("flash");
  flash.classList.remove("on");
  void flash.offsetWidth; // restart the animation
  flash.classList.add("on");
  if (soundOn) beep();
}

function beep() {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const t0 = audio.currentTime + 0.02;
    [880, 660, 880, 660].forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      const start = t0 + i * 0.25;
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.15, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(start + 0.23);
    });
  } catch {
    // No audio device: the flash is the cue.
  }
}

function renderSound() {
  $("sound").textContent = GS.t(soundOn ? "sound.on" : "sound.off");
  $("sound").classList.toggle("off", !soundOn);
}

// --- the status strip ----------------------------------------------------------------------

function renderStatus(s) {
  lastStatus = s;
  const node = s.node || {};
  $("site").textContent = [node.site && node.site.name, node.id].filter(Boolean).join(" · ");
  const broker = node.broker_connected;
  $("node-status").replaceChildren(
    GS.el("span", { class: `chip ${broker ? "online" : "offline"}`, "data-chip": "broker" }, `${GS.t("status.broker")} ${GS.t(broker ? "status.online" : "status.offline")}`),
    GS.el("span", { class: `chip ${node.outbox_backlog ? "warn" : ""}` }, `${GS.t("status.outbox")} ${node.outbox_backlog ?? 0}`),
    GS.el("span", { class: "chip" }, `${GS.t("status.open")} ${(s.alerts && s.alerts.open) ?? 0}`),
  );
  $("camera-chips").replaceChildren(
    ...(s.cameras || []).map((c) =>
      GS.el(
        "span",
        {
          class: `chip ${c.online ? "online" : "offline"}`,
          "data-camera": c.id,
          title: `${c.location || ""} ${c.grid || ""} · ${GS.formatTime(c.last_frame_at)}`,
        },
        c.id,
        c.online ? GS.el("small", {}, ` ${Number(c.fps || 0).toFixed(1)} fps`) : GS.el("small", {}, ` ${GS.t("status.offline")}`),
      ),
    ),
  );
  $("sensor-chips").replaceChildren(
    ...(s.sensors || []).map((x) =>
      GS.el(
        "span",
        {
          class: `chip ${x.online ? "online" : "offline"}`,
          "data-sensor": x.id,
          title: `${x.location || ""} ${x.grid || ""} · ${GS.formatTime(x.last_seen_at)}`,
        },
        x.id,
        GS.el("small", {}, ` ${GS.t(`sensorkind.${x.kind}`)}${x.online ? "" : ` ${GS.t("status.offline")}`}`),
      ),
    ),
  );
  if (!(s.sensors || []).length) $("sensor-chips").append(GS.el("span", { class: "muted" }, "–"));
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
  if (res.ok) renderStatus(res.body);
}

function connect() {
  if (events) events.close();
  const token = GS.token();
  let lost = false;
  events = new EventSource(`/api/events${token ? `?token=${enc(token)}` : ""}`);
  events.addEventListener("open", () => {
    setLive(true);
    if (lost) loadAlerts(); // catch up on what happened while the feed was down
  });
  events.addEventListener("error", () => {
    lost = true;
    setLive(false);
    // A refused stream (e.g. 401) is not retried by the browser: retry it ourselves.
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 5000);
  });
  events.addEventListener("alert", (e) => upsert(JSON.parse(e.data), true));
  events.addEventListener("status", (e) => renderStatus(JSON.parse(e.data)));
}

function setLive(ok) {
  const live = $("live");
  live.classList.toggle("lost", !ok);
  live.dataset.i18n = ok ? "live.connected" : "live.lost";
  live.textContent = GS.t(live.dataset.i18n);
}

function rerender() {
  for (const entry of alerts.values()) {
    const row = renderRow(entry);
    entry.row.replaceWith(row);
    entry.row = row;
  }
  if (lastStatus) renderStatus(lastStatus);
  renderSound();
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
    renderSound();
    if (soundOn) beep();
  });
  // Browsers start audio only after a user gesture: unlock it on the first click.
  document.addEventListener("pointerdown", () => {
    try {
      audio = audio || new AudioContext();
      audio.resume();
    } catch {
      // no audio
    }
  }, { once: true });
  GS.onLanguage.push(rerender);
  GS.onToken.push(connect);
  renderSound();
  setLive(false);
  connect();
  loadStatus();
  GS.probeReads().then(loadAlerts);
  setInterval(tick, 1000);
}

init();
