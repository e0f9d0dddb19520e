// Installer page: pick a camera, draw its zones on the live picture, save, test on a clip.
"use strict";

// Mirrors _KIND_DEFAULTS in edge/config/model.py: shown as placeholders, never sent.
const KIND_DEFAULTS = {
  no_parking: { grace_s: 300, clear_after_s: 60, min_confidence: 0.35, categories: ["vehicle"] },
  fire_lane: { grace_s: 60, clear_after_s: 30, min_confidence: 0.35, categories: ["vehicle", "two_wheeler"] },
  lift: { grace_s: 0, clear_after_s: 10, min_confidence: 0.3, categories: ["two_wheeler"] },
};
const NUMBER_FIELDS = ["grace_s", "clear_after_s", "min_confidence"];
const FORM_FIELDS = ["id", "name", "kind", "polygon", "categories", ...NUMBER_FIELDS];
const FRAME_EVERY_MS = 2000;
const STATUS_EVERY_MS = 10000;

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const state = { camera: null, saved: "[]", formZone: null, frameBusy: false, frameUrl: null };
const editor = new ZoneEditor($("overlay"), () => {
  renderList();
  renderForm();
  renderDirty();
});

// --- zones between the config and the editor ---------------------------------------------

function fromConfig(zone) {
  const { polygon, ...data } = zone;
  return { data, points: (polygon || []).map(([x, y]) => [x, y]), closed: true, errors: {} };
}

function toConfig(zone) {
  const round = (v) => Math.round(v * 10000) / 10000;
  return { ...zone.data, polygon: zone.points.map(([x, y]) => [round(x), round(y)]) };
}

function newZone() {
  const ids = new Set(editor.zones.map((z) => z.data.id));
  let n = editor.zones.length + 1;
  while (ids.has(`zone-${n}`)) n += 1;
  editor.addZone({ data: { id: `zone-${n}`, kind: "no_parking" }, points: [], closed: false, errors: {} });
}

// --- cameras and the live picture ------------------------------------------------------------

async function loadCameras() {
  const res = await GS.request("GET", "/api/status");
  const select = $("camera");
  if (!res.ok) return setStatus("save-status", GS.errorText(res), "error");
  const cameras = res.body.cameras || [];
  const current = state.camera || new URLSearchParams(location.search).get("camera");
  select.replaceChildren(
    ...cameras.map((c) =>
      GS.el("option", { value: c.id }, [c.id, c.location, c.grid && `${GS.t("alert.grid")} ${c.grid}`].filter(Boolean).join(" · ")),
    ),
  );
  if (!cameras.length) select.append(GS.el("option", { value: "" }, GS.t("camera.none")));
  const ids = cameras.map((c) => c.id);
  select.value = ids.includes(current) ? current : ids[0] || "";
  if (select.value !== state.camera) await selectCamera(select.value);
  showOnline(cameras);
}

// The camera's online state from /api/status, shown beside the picker.
function showOnline(cameras) {
  const cam = cameras.find((c) => c.id === state.camera);
  $("camera-state").textContent = cam && !cam.online ? GS.t("camera.offline") : "";
}

async function refreshOnline() {
  const res = await GS.request("GET", "/api/status");
  if (res.ok) showOnline(res.body.cameras || []);
}

async function selectCamera(id) {
  state.camera = id || null;
  showWaiting(true);
  $("frame").removeAttribute("src");
  $("clip-alerts").replaceChildren();
  setStatus("clip-status", "");
  setStatus("save-status", "");
  await loadZones();
  refreshFrame();
  refreshOnline();
}

async function loadZones() {
  if (!state.camera) return editor.setZones([]);
  const res = await GS.request("GET", `/api/cameras/${enc(state.camera)}/zones`);
  if (!res.ok) {
    editor.setZones([]);
    return setStatus("save-status", GS.errorText(res), "error");
  }
  const zones = res.body.zones || [];
  state.saved = JSON.stringify(zones);
  editor.setZones(zones.map(fromConfig));
}

async function refreshFrame() {
  const camera = state.camera;
  if (!camera || state.frameBusy || document.hidden) return;
  state.frameBusy = true;
  try {
    const res = await fetch(`/api/cameras/${enc(camera)}/snapshot.jpg?zones=0&t=${Date.now()}`, {
      headers: GS.headers(),
      cache: "no-store",
    });
    if (camera !== state.camera) return;
    if (!res.ok) return showWaiting(true);
    const url = URL.createObjectURL(await res.blob());
    const next = new Image();
    next.src = url;
    await next.decode();
    if (camera !== state.camera) return URL.revokeObjectURL(url);
    const img = $("frame");
    img.src = url;
    if (state.frameUrl) URL.revokeObjectURL(state.frameUrl);
    state.frameUrl = url;
    showWaiting(false);
    editor.render();
  } catch {
    showWaiting(true);
  } finally {
    state.frameBusy = false;
  }
}

function showWaiting(waiting) {
  $("picture").classList.toggle("no-frame", waiting);
}

// --- the zone list and the settings form ---------------------------------------------------

function renderList() {
  const list = $("zone-list");
  if (!editor.zones.length) {
    list.replaceChildren(GS.el("li", { class: "empty muted" }, GS.t("zone.none")));
    return;
  }
  list.replaceChildren(
    ...editor.zones.map((zone, i) =>
      GS.el(
        "li",
        {
          class: `zone-item kind-${zone.data.kind}${i === editor.selected ? " selected" : ""}${Object.keys(zone.errors).length ? " has-error" : ""}`,
          "data-zone-id": zone.data.id,
          onclick: () => editor.select(i),
        },
        GS.el("span", { class: "swatch" }),
        GS.el("b", {}, zone.data.id || "?"),
        GS.el("span", {}, GS.t(`kind.${zone.data.kind}`)),
        GS.el("span", { class: "muted" }, `${zone.points.length} ${GS.t("zone.points")}`),
        !zone.closed && GS.el("span", { class: "tag" }, GS.t("zone.drawing")),
      ),
    ),
  );
}

function renderForm(force = false) {
  const zone = editor.current;
  const form = $("zone-form");
  form.hidden = !zone;
  if (!zone) return;
  const defaults = KIND_DEFAULTS[zone.data.kind] || {};
  if (force || state.formZone !== zone) {
    state.formZone = zone;
    for (const name of ["id", "name", "kind", ...NUMBER_FIELDS]) {
      form.querySelector(`[name=${name}]`).value = zone.data[name] ?? "";
    }
    for (const box of form.querySelectorAll("[name=categories]")) {
      box.checked = (zone.data.categories || []).includes(box.value);
    }
  }
  for (const name of NUMBER_FIELDS) {
    form.querySelector(`[name=${name}]`).placeholder = `${GS.t("zone.default")} ${defaults[name] ?? ""}`;
  }
  const cats = (defaults.categories || []).map((c) => GS.t(`cat.${c}`)).join(GS.t("list.sep"));
  $("categories-default").textContent = GS.t("zone.categories.default") + cats;
  const other = Object.entries(zone.data).filter(([k]) => !FORM_FIELDS.includes(k));
  $("zone-other").textContent = other.length
    ? GS.t("zone.other") + other.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")
    : "";
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    const message = zone.errors[slot.dataset.errorFor] || "";
    slot.textContent = message;
    const input = form.querySelector(`[name=${slot.dataset.errorFor}]`);
    if (input) input.classList.toggle("invalid", Boolean(message));
  }
  $("zone-close").disabled = zone.closed || zone.points.length < 3;
  $("point-delete").disabled = editor.selectedPoint < 0;
}

function onFormInput(event) {
  const zone = editor.current;
  const { name, value } = event.target;
  if (!zone || !name) return;
  if (name === "categories") {
    const ticked = [...$("zone-form").querySelectorAll("[name=categories]:checked")].map((b) => b.value);
    if (ticked.length) zone.data.categories = ticked;
    else delete zone.data.categories;
  } else if (NUMBER_FIELDS.includes(name) || name === "name") {
    const raw = value.trim();
    const number = Number(raw);
    if (raw === "") delete zone.data[name];
    // Not a number: sent as typed, so the node's own validation message is shown.
    else zone.data[name] = name === "name" || !Number.isFinite(number) ? raw : number;
  } else {
    zone.data[name] = value.trim();
  }
  delete zone.errors[name];
  editor.render();
  renderList();
  renderForm();
  renderDirty();
}

function renderDirty() {
  const dirty = JSON.stringify(editor.zones.map(toConfig)) !== state.saved;
  $("save").classList.toggle("dirty", dirty);
}

// --- saving and the node's validation errors -----------------------------------------------

function issuesOf(body) {
  if (body && Array.isArray(body.errors)) return body.errors;
  const detail = body && body.detail;
  if (detail && Array.isArray(detail.errors)) return detail.errors;
  if (Array.isArray(detail)) {
    // FastAPI's own request validation: {"loc": ["body", "zones", 0, "grace_s"], "msg": ...}
    return detail.map((d) => ({
      path: (d.loc || []).map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join(""),
      message: d.msg,
    }));
  }
  return [{ path: "", message: typeof detail === "string" ? detail : JSON.stringify(body) }];
}

// Puts each issue next to its field: `cameras[1].zones[0].grace_s` -> zone 0, field grace_s.
function applyIssues(issues) {
  const general = [];
  for (const zone of editor.zones) zone.errors = {};
  for (const issue of issues) {
    const m = /zones\[(\d+)\](?:\.([A-Za-z_]+))?/.exec(issue.path || "");
    const zone = m && editor.zones[Number(m[1])];
    if (!zone) {
      general.push(issue.path ? `${issue.path}: ${issue.message}` : issue.message);
      continue;
    }
    let field = m[2] || "_zone";
    let message = issue.message;
    if (!FORM_FIELDS.includes(field)) {
      message = m[2] ? `${m[2]}: ${message}` : message;
      field = "_zone";
    }
    zone.errors[field] = zone.errors[field] ? `${zone.errors[field]}; ${message}` : message;
  }
  if (!editor.current || !Object.keys(editor.current.errors).length) {
    const first = editor.zones.findIndex((z) => Object.keys(z.errors).length);
    if (first >= 0) editor.select(first);
  }
  renderList();
  renderForm();
  return general;
}

async function save() {
  if (!state.camera) return;
  for (const zone of editor.zones) if (zone.points.length >= 3) zone.closed = true;
  const zones = editor.zones.map(toConfig);
  setStatus("save-status", GS.t("saving"));
  const res = await GS.request("PUT", `/api/cameras/${enc(state.camera)}/zones`, { zones });
  if (res.ok) {
    state.saved = JSON.stringify(zones);
    applyIssues([]);
    editor.render();
    renderDirty();
    return setStatus("save-status", GS.t("saved"), "ok");
  }
  if (res.status === 422) {
    const general = applyIssues(issuesOf(res.body));
    return setStatus("save-status", [GS.t("save.invalid"), ...general].join("\n"), "error");
  }
  setStatus("save-status", GS.errorText(res), "error");
}

function setStatus(id, text, kind = "") {
  const line = $(id);
  line.textContent = text;
  line.className = `status-line ${kind}`;
}

// --- test on a clip -----------------------------------------------------------------------

async function loadClips(select) {
  const res = await GS.request("GET", "/api/clips");
  const list = res.ok ? res.body.clips || res.body || [] : [];
  const names = list.map((c) => (typeof c === "string" ? c : c.name));
  $("clip").replaceChildren(
    GS.el("option", { value: "" }, GS.t("clip.none")),
    ...names.map((n) => GS.el("option", { value: n }, n)),
  );
  if (select && names.includes(select)) $("clip").value = select;
  else if (names.length === 1) $("clip").value = names[0];
}

async function uploadClip() {
  const file = $("clip-file").files[0];
  if (!file) return setStatus("clip-status", GS.t("clip.needClip"), "error");
  // The node takes names like `stem.ext`, the stem of letters, digits, '_' and '-'.
  const dot = file.name.lastIndexOf(".");
  const ext = dot > 0 ? file.name.slice(dot + 1).replace(/[^A-Za-z0-9]/g, "") : "";
  const base = dot > 0 ? file.name.slice(0, dot) : file.name;
  const stem = base.replace(/[^A-Za-z0-9_-]+/g, "_").replace(/^[_-]+/, "").slice(0, 80) || "clip";
  const name = ext ? `${stem}.${ext}` : stem;
  setStatus("clip-status", `${GS.t("clip.upload")} ${name}…`);
  const type = file.type || "application/octet-stream";
  const res = await GS.request("PUT", `/api/clips/${enc(name)}`, file, type);
  if (!res.ok) return setStatus("clip-status", GS.errorText(res), "error");
  await loadClips((res.body && res.body.name) || name);
  setStatus("clip-status", `${GS.t("clip.uploaded")}: ${name}`, "ok");
}

async function runClip() {
  const clip = $("clip").value;
  if (!state.camera) return;
  if (!clip) return setStatus("clip-status", GS.t("clip.needClip"), "error");
  const still = Number($("still").value) || 5;
  const body = { clip, zones: editor.zones.map(toConfig), still_seconds: still };
  setStatus("clip-status", GS.t("clip.running"));
  $("clip-run").disabled = true;
  const res = await GS.request("POST", `/api/cameras/${enc(state.camera)}/test-clip`, body);
  $("clip-run").disabled = false;
  if (res.status === 422) {
    const general = applyIssues(issuesOf(res.body));
    return setStatus("clip-status", [GS.t("save.invalid"), ...general].join("\n"), "error");
  }
  if (!res.ok) return setStatus("clip-status", GS.errorText(res), "error");
  const r = res.body;
  const alerts = lastPerAlert(r.alerts || []);
  const summary = GS.t("clip.result", {
    frames: r.frames,
    video: Number(r.video_s).toFixed(1),
    wall: Number(r.wall_s).toFixed(1),
    n: alerts.length,
  });
  setStatus("clip-status", summary, "ok");
  $("clip-alerts").replaceChildren(
    ...(alerts.length ? alerts.map(clipAlert) : [GS.el("li", { class: "muted" }, GS.t("clip.noAlerts"))]),
  );
}

// The replay reports every transition; show each alert once, with its latest evidence.
function lastPerAlert(events) {
  const byId = new Map();
  for (const a of events) {
    const prev = byId.get(a.id);
    const evidence = a.evidence || (prev && prev.evidence);
    const events = [...((prev && prev.events) || []), a.event];
    byId.set(a.id, { ...a, evidence, events });
  }
  return [...byId.values()];
}

function clipAlert(a) {
  const snap = a.evidence && GS.imageUrl(`/api/test-snapshots/${enc(a.evidence.snapshot_id)}.jpg`);
  return GS.el(
    "li",
    { class: `clip-alert sev-${a.severity}`, "data-kind": a.kind },
    snap ? GS.el("a", { href: snap, target: "_blank" }, GS.el("img", { src: snap, alt: "", loading: "lazy" })) : GS.el("div", { class: "noimg" }),
    GS.el(
      "div",
      {},
      GS.el("b", {}, GS.kindLabel(a.kind)),
      ` · ${a.source.zone || ""} · ${GS.t(`sev.${a.severity}`)}`,
      GS.el("div", { class: "muted small" }, `${GS.t("alert.dwell")} ${GS.formatDuration(a.dwell_s)} · ${a.events.map((e) => GS.t(`event.${e}`)).join(" → ")}`),
    ),
  );
}

// --- wiring --------------------------------------------------------------------------------

function init() {
  GS.initHeader();
  $("camera").addEventListener("change", (e) => selectCamera(e.target.value));
  $("zone-new").addEventListener("click", newZone);
  $("zone-close").addEventListener("click", () => editor.closeZone());
  $("zone-delete").addEventListener("click", () => editor.deleteZone());
  $("point-delete").addEventListener("click", () => editor.deletePoint());
  $("zone-form").addEventListener("input", onFormInput);
  $("save").addEventListener("click", save);
  $("discard").addEventListener("click", loadZones);
  $("clip-upload").addEventListener("click", uploadClip);
  $("clip-run").addEventListener("click", runClip);
  document.addEventListener("keydown", (e) => editor.key(e));
  GS.onLanguage.push(() => {
    renderList();
    renderForm(true);
    editor.render();
    loadCameras();
  });
  GS.onToken.push(refreshFrame);
  GS.probeReads();
  loadCameras();
  loadClips();
  setInterval(refreshFrame, FRAME_EVERY_MS);
  setInterval(refreshOnline, STATUS_EVERY_MS);
}

init();
