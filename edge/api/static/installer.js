// Installer page: pick a camera, draw its zones on the live picture, save, test on a clip.
"use strict";

// Categories' defaults by kind (edge/config/model.py); every other setting's defaults come
// from GET /api/zone-fields with the setting itself.
const CATEGORY_DEFAULTS = {
  no_parking: ["vehicle"],
  fire_lane: ["vehicle", "two_wheeler"],
  lift: ["two_wheeler"],
};
// Shown at once; the rest of the zone's settings under "更多设置".
const BASIC_FIELDS = ["grace_s", "stationary_window_s", "clear_after_s", "min_confidence", "severity", "confirm_s", "min_hits"];
const OWN_FIELDS = ["id", "name", "kind", "polygon", "categories"];
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.\-]*$/;
const FRAME_EVERY_MS = 2000;
const STATUS_EVERY_MS = 10000;

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const state = {
  camera: null,
  saved: "[]", // the camera's zones as last loaded or saved, normalised (see canonical)
  fields: [], // GET /api/zone-fields
  formZone: null,
  formKind: null,
  frameBusy: false,
  frameUrl: null,
};
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

function round4(v) {
  return Math.round(v * 10000) / 10000;
}

function toConfig(zone) {
  return { ...zone.data, polygon: zone.points.map(([x, y]) => [round4(x), round4(y)]) };
}

// Zones compared by what they say, not how they are written: keys sorted (the file and the
// page order them differently), corners rounded as saved. A fresh page is never "unsaved".
function canonical(zones) {
  const norm = (v) => {
    if (Array.isArray(v)) return v.map(norm);
    if (v && typeof v === "object") {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, norm(v[k])]));
    }
    return typeof v === "number" ? round4(v) : v;
  };
  return JSON.stringify(zones.map(norm));
}

function isDirty() {
  return canonical(editor.zones.map(toConfig)) !== state.saved;
}

// Work on screen is never thrown away without asking.
function mayDiscard() {
  return !isDirty() || window.confirm(GS.t("confirm.discard"));
}

function newZone() {
  const ids = new Set(editor.zones.map((z) => z.data.id));
  let n = editor.zones.length + 1;
  while (ids.has(`zone-${n}`)) n += 1;
  editor.addZone({ data: { id: `zone-${n}`, kind: "no_parking" }, points: [], closed: false, errors: {} });
}

function deleteZone() {
  const zone = editor.current;
  if (!zone) return;
  if (!window.confirm(GS.t("confirm.deleteZone", { id: zone.data.id || "?" }))) return;
  editor.deleteZone();
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
      GS.el("option", { value: c.id }, [c.location || c.id, c.location && c.id, c.grid && `${GS.t("alert.grid")} ${c.grid}`].filter(Boolean).join(" · ")),
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

function onCameraPicked(event) {
  if (!mayDiscard()) {
    event.target.value = state.camera; // stay, with the work on screen
    return;
  }
  selectCamera(event.target.value);
}

async function selectCamera(id) {
  state.camera = id || null;
  showWaiting(true);
  $("frame").removeAttribute("src");
  editor.setDetections([]);
  $("det-state").textContent = "";
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
    state.saved = "[]";
    editor.setZones([]);
    return setStatus("save-status", GS.errorText(res), "error");
  }
  const zones = res.body.zones || [];
  state.saved = canonical(zones);
  state.formZone = null;
  editor.setZones(zones.map(fromConfig));
}

function discard() {
  if (mayDiscard()) loadZones();
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
    $("picture").style.setProperty("--aspect", String(next.naturalWidth / next.naturalHeight));
    showWaiting(false);
    await refreshDetections(camera);
    editor.render();
  } catch {
    showWaiting(true);
  } finally {
    state.frameBusy = false;
  }
}

// What the model saw on the camera's latest judged frame, drawn over the picture.
async function refreshDetections(camera) {
  if (!$("show-det").checked) {
    editor.setDetections([]);
    $("det-state").textContent = "";
    return;
  }
  const res = await GS.request("GET", `/api/cameras/${enc(camera)}/detections`);
  if (camera !== state.camera || !res.ok) return;
  const found = res.body.detections || [];
  const floor = confidenceFloor();
  editor.setDetections(found, floor);
  const counted = found.filter((d) => d.confidence >= floor).length;
  $("det-state").textContent = res.body.at
    ? counted
      ? GS.t("det.count", { n: counted, at: GS.formatTime(res.body.at) })
      : GS.t("det.none")
    : "";
}

// The selected zone's min_confidence (its own or its kind's default): what counts there.
function confidenceFloor() {
  const zone = editor.current;
  const field = state.fields.find((f) => f.name === "min_confidence");
  if (!zone || !field) return 0;
  const own = Number(zone.data.min_confidence);
  return Number.isFinite(own) && zone.data.min_confidence !== "" && zone.data.min_confidence !== undefined
    ? own
    : Number(defaultOf(field, zone.data.kind)) || 0;
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
        GS.el("b", {}, zone.data.name || zone.data.id || "?"),
        zone.data.name && GS.el("span", { class: "muted small" }, zone.data.id),
        GS.el("span", {}, GS.t(`kind.${zone.data.kind}`)),
        GS.el("span", { class: "muted" }, `${zone.points.length} ${GS.t("zone.points")}`),
        !zone.closed && GS.el("span", { class: "tag" }, GS.t("zone.drawing")),
      ),
    ),
  );
}

// A setting's value in the zone's data; `actions.door_hold` lives in data.actions.
function getValue(data, name) {
  const [head, tail] = name.split(".");
  if (!tail) return data[head];
  return data[head] && typeof data[head] === "object" ? data[head][tail] : undefined;
}

function setValue(data, name, value) {
  const [head, tail] = name.split(".");
  if (!tail) {
    if (value === undefined) delete data[head];
    else data[head] = value;
    return;
  }
  const inner = { ...(data[head] && typeof data[head] === "object" ? data[head] : {}) };
  if (value === undefined) delete inner[tail];
  else inner[tail] = value;
  if (Object.keys(inner).length) data[head] = inner;
  else delete data[head];
}

function defaultOf(field, kind) {
  if (field.by_kind && kind in field.by_kind) return field.by_kind[kind];
  return field.default;
}

function shownDefault(field, kind) {
  const value = defaultOf(field, kind);
  if (value === null || value === undefined || value === "") return GS.t("zone.unset");
  return field.name === "severity" ? GS.t(`sev.${value}`) : String(value);
}

// One input per setting the zone's kind uses, built from the model's list (GET
// /api/zone-fields): its name, unit and meaning, the default as placeholder.
function fieldInput(field, kind) {
  const label = GS.fieldLabel(field.name);
  const unitKey = `zf.${field.name}.unit`;
  const unit = I18N[GS.lang][unitKey] ?? I18N.zh[unitKey] ?? "";
  const help = (I18N[GS.lang][`zf.${field.name}.help`] && GS.t(`zf.${field.name}.help`)) || field.description;
  let input;
  if (field.type === "boolean") {
    input = GS.el(
      "select",
      { name: field.name },
      GS.el("option", { value: "" }, `${GS.t("zone.default")}: ${GS.t(defaultOf(field, kind) ? "zone.yes" : "zone.no")}`),
      GS.el("option", { value: "true" }, GS.t("zone.yes")),
      GS.el("option", { value: "false" }, GS.t("zone.no")),
    );
  } else if (field.type === "enum") {
    input = GS.el(
      "select",
      { name: field.name },
      GS.el("option", { value: "" }, `${GS.t("zone.default")}: ${shownDefault(field, kind)}`),
      ...field.options.map((o) => GS.el("option", { value: o }, field.name === "severity" ? GS.t(`sev.${o}`) : o)),
    );
  } else {
    const numeric = field.type === "number" || field.type === "integer";
    input = GS.el("input", {
      name: field.name,
      autocomplete: "off",
      inputmode: numeric ? (field.type === "integer" ? "numeric" : "decimal") : null,
      placeholder: `${GS.t("zone.default")} ${shownDefault(field, kind)}`,
    });
  }
  return GS.el(
    "label",
    { class: "field", "data-field": field.name },
    GS.el("span", {}, unit ? GS.t("unit.wrap", { label, unit }) : label),
    input,
    GS.el("small", { class: "help muted" }, help),
    GS.el("span", { class: "field-error", "data-error-for": field.name }),
  );
}

function buildFields(kind) {
  const fields = state.fields.filter((f) => f.kinds.includes(kind));
  $("zone-fields").replaceChildren(...fields.filter((f) => BASIC_FIELDS.includes(f.name)).map((f) => fieldInput(f, kind)));
  $("zone-fields-more").replaceChildren(...fields.filter((f) => !BASIC_FIELDS.includes(f.name)).map((f) => fieldInput(f, kind)));
}

function renderForm(force = false) {
  const zone = editor.current;
  const form = $("zone-form");
  form.hidden = !zone;
  if (!zone) return;
  const kind = zone.data.kind;
  if (force || state.formKind !== kind || !$("zone-fields").childElementCount) {
    state.formKind = kind;
    buildFields(kind);
    force = true;
  }
  if (force || state.formZone !== zone) {
    state.formZone = zone;
    for (const name of ["id", "name", "kind"]) form.querySelector(`[name=${name}]`).value = zone.data[name] ?? "";
    for (const input of form.querySelectorAll("[data-field] [name]")) {
      const value = getValue(zone.data, input.name);
      input.value = value === undefined || value === null ? "" : String(value);
    }
    for (const box of form.querySelectorAll("[name=categories]")) {
      box.checked = (zone.data.categories || []).includes(box.value);
    }
    // A setting set in the file but kept under "更多设置" opens it.
    const more = [...$("zone-fields-more").querySelectorAll("[name]")].some((i) => i.value !== "");
    if (more) $("zone-more").open = true;
  }
  const cats = (CATEGORY_DEFAULTS[kind] || []).map((c) => GS.t(`cat.${c}`)).join(GS.t("list.sep"));
  $("categories-default").textContent = GS.t("zone.categories.default") + cats;
  const known = new Set([...OWN_FIELDS, ...state.fields.map((f) => f.name.split(".")[0])]);
  const other = Object.entries(zone.data).filter(([k]) => !known.has(k));
  $("zone-other").textContent = other.length
    ? GS.t("zone.other") + other.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")
    : "";
  $("zone-earliest").textContent = earliest(zone);
  for (const slot of form.querySelectorAll("[data-error-for]")) {
    const message = zone.errors[slot.dataset.errorFor] || "";
    slot.textContent = message;
    const input = form.querySelector(`[name="${slot.dataset.errorFor}"]`);
    if (input) input.classList.toggle("invalid", Boolean(message));
  }
  $("zone-close").disabled = zone.closed || zone.points.length < 3;
  $("point-delete").disabled = editor.selectedPoint < 0;
}

// When the zone raises at the earliest, and which setting decides it: a parked vehicle counts
// as stopped only after stationary_window_s, and its dwell is then dated back to when it
// stopped (edge/rules/dwell.py), so a 5 s grace with a 10 s window raises at 10 s.
function earliest(zone) {
  const value = (name) => {
    const field = state.fields.find((f) => f.name === name);
    const own = Number(zone.data[name]);
    if (zone.data[name] !== undefined && zone.data[name] !== "" && Number.isFinite(own)) return own;
    return field ? Number(defaultOf(field, zone.data.kind)) : NaN;
  };
  if (zone.data.kind === "lift") {
    const c = value("confirm_s");
    const n = value("min_hits");
    return Number.isFinite(c) && Number.isFinite(n) ? GS.t("zone.earliest.lift", { c, n }) : "";
  }
  const g = value("grace_s");
  const w = value("stationary_window_s");
  if (!Number.isFinite(g) || !Number.isFinite(w) || g < 0 || w <= 0) return ""; // the field says what is wrong
  const why = w > g ? GS.t("zone.earliest.window", { w, g }) : GS.t("zone.earliest.grace", { w, g });
  return `${GS.t("zone.earliest.dwell", { t: Math.max(g, w) })} ${why}`;
}

function onFormInput(event) {
  const zone = editor.current;
  const { name, value } = event.target;
  if (!zone || !name) return;
  const field = state.fields.find((f) => f.name === name);
  if (name === "categories") {
    const ticked = [...$("zone-form").querySelectorAll("[name=categories]:checked")].map((b) => b.value);
    if (ticked.length) zone.data.categories = ticked;
    else delete zone.data.categories;
  } else if (field) {
    const raw = value.trim();
    const number = Number(raw);
    const numeric = field.type === "number" || field.type === "integer";
    // Not a number: sent as typed, so that the node's own check names the problem.
    if (raw === "") setValue(zone.data, name, undefined);
    else if (field.type === "boolean") setValue(zone.data, name, raw === "true");
    else setValue(zone.data, name, numeric && Number.isFinite(number) ? number : raw);
  } else if (name === "name") {
    if (value.trim() === "") delete zone.data.name;
    else zone.data.name = value.trim();
  } else {
    zone.data[name] = value.trim();
  }
  delete zone.errors[name];
  // The id goes into alert payloads and topics: say at once why Chinese is refused there.
  if (name === "id" && zone.data.id && !ID_PATTERN.test(zone.data.id)) {
    zone.errors.id = GS.issueMessage({ path: "zones[0].id", type: "string_pattern_mismatch" });
  }
  editor.render();
  renderList();
  renderForm(name === "kind");
  renderDirty();
}

function renderDirty() {
  const dirty = isDirty();
  $("save").classList.toggle("dirty", dirty);
  $("unsaved").hidden = !dirty;
  document.body.dataset.dirty = dirty ? "1" : "0";
}

// --- saving and the node's validation errors -----------------------------------------------

function issuesOf(body) {
  if (body && Array.isArray(body.errors)) return body.errors;
  const detail = body && body.detail;
  if (detail && Array.isArray(detail.errors)) return detail.errors;
  if (Array.isArray(detail)) {
    // FastAPI's own request validation: {"loc": ["body", "zones", 0, "grace_s"], "type", "ctx"}
    return detail.map((d) => ({
      path: (d.loc || []).map((p) => (typeof p === "number" ? `[${p}]` : `.${p}`)).join(""),
      message: d.msg,
      type: d.type,
      ctx: d.ctx,
    }));
  }
  return [{ path: "", message: typeof detail === "string" ? detail : JSON.stringify(body) }];
}

// Puts each issue next to its field, in the page's language:
// `cameras[1].zones[0].grace_s` -> zone 0, field grace_s, "宽限时间：不能小于 0".
function applyIssues(issues) {
  const general = [];
  for (const zone of editor.zones) zone.errors = {};
  const form = $("zone-form");
  for (const issue of issues) {
    const m = /zones\[(\d+)\]/.exec(issue.path || "");
    const zone = m && editor.zones[Number(m[1])];
    const message = GS.issueMessage(issue);
    if (!zone) {
      general.push(message);
      continue;
    }
    const name = GS.issueField(issue.path);
    const [head] = name.split(".");
    let field = "_zone";
    if (OWN_FIELDS.includes(name)) field = name;
    else if (state.fields.some((f) => f.name === name)) field = name;
    else if (state.fields.some((f) => f.name.startsWith(`${head}.`))) field = "_zone";
    zone.errors[field] = zone.errors[field] ? `${zone.errors[field]}; ${message}` : message;
  }
  if (!editor.current || !Object.keys(editor.current.errors).length) {
    const first = editor.zones.findIndex((z) => Object.keys(z.errors).length);
    if (first >= 0) editor.select(first);
  }
  // An error under "更多设置" must not hide there.
  const current = editor.current;
  if (current && Object.keys(current.errors).some((f) => form.querySelector(`#zone-fields-more [name="${f}"]`))) {
    $("zone-more").open = true;
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
    state.saved = canonical(zones);
    applyIssues([]);
    editor.render();
    renderDirty();
    return setStatus("save-status", res.body && res.body.ok === false ? res.body.message : GS.t("saved"), res.body && res.body.ok === false ? "error" : "ok");
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

function zoneName(id) {
  const zone = editor.zones.find((z) => z.data.id === id);
  return (zone && zone.data.name) || id || "";
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
      ` · ${zoneName(a.source.zone)} · ${GS.t(`sev.${a.severity}`)}`,
      GS.el("div", { class: "muted small" }, `${GS.t("alert.dwell")} ${GS.formatDuration(a.dwell_s)} · ${a.events.map((e) => GS.t(`event.${e}`)).join(" → ")}`),
    ),
  );
}

// --- wiring --------------------------------------------------------------------------------

// Touch screens have no right-click and no Delete key: the hint says what works there.
function isTouch() {
  return window.matchMedia("(pointer: coarse)").matches || navigator.maxTouchPoints > 0;
}

async function loadFields() {
  const res = await GS.request("GET", "/api/zone-fields");
  if (!res.ok) return setStatus("save-status", GS.errorText(res), "error");
  state.fields = res.body.fields || [];
  renderForm(true);
}

function init() {
  if (isTouch()) $("hint").dataset.i18n = "camera.hint.touch";
  GS.initHeader();
  $("camera").addEventListener("change", onCameraPicked);
  $("zone-new").addEventListener("click", newZone);
  $("zone-close").addEventListener("click", () => editor.closeZone());
  $("zone-delete").addEventListener("click", deleteZone);
  $("point-delete").addEventListener("click", () => editor.deletePoint());
  $("zone-form").addEventListener("input", onFormInput);
  $("save").addEventListener("click", save);
  $("discard").addEventListener("click", discard);
  $("show-det").addEventListener("change", () => state.camera && refreshDetections(state.camera).then(() => editor.render()));
  $("clip-upload").addEventListener("click", uploadClip);
  $("clip-run").addEventListener("click", runClip);
  document.addEventListener("keydown", (e) => editor.key(e));
  // Leaving the page (a link, a reload, closing the tab) with unsaved zones asks first.
  window.addEventListener("beforeunload", (e) => {
    if (!isDirty()) return;
    e.preventDefault();
    e.returnValue = "";
  });
  GS.onLanguage.push(() => {
    renderList();
    renderForm(true);
    editor.render();
    loadCameras();
    loadClips($("clip").value);
  });
  GS.onToken.push(refreshFrame);
  GS.probeReads();
  loadFields().then(loadCameras);
  loadClips();
  setInterval(refreshFrame, FRAME_EVERY_MS);
  setInterval(refreshOnline, STATUS_EVERY_MS);
}

init();
