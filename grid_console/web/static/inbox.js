// The monitoring centre: every case of every node, filtered; a case's snapshot with its objects,
// its timeline and audit trail, and the one-click actions; node and camera health. Polled.
"use strict";

const POLL_MS = 3000;
const STATES = ["reported", "registered", "dispatched", "accepted", "on_site", "handled",
  "closed", "false_alarm", "returned", "deferred"];
// The buttons each state offers; the server checks the role and the state machine again.
const ACTIONS = {
  reported: ["register", "false_alarm"],
  registered: ["dispatch", "false_alarm", "defer"],
  returned: ["dispatch", "false_alarm", "defer"],
  dispatched: ["dispatch", "false_alarm", "defer"],
  accepted: ["false_alarm"],
  on_site: ["false_alarm"],
  handled: ["close", "return"],
  closed: ["reopen"],
  false_alarm: ["reopen"],
  deferred: ["false_alarm", "reopen"],
};
const NEEDS_NOTE = ["return", "defer", "reopen"];
const CENTRE_ROLES = ["admin", "operator"];
// Grid heads and leaders read the figures of their own grids (the server scopes them).
const FIGURES_ROLES = [...CENTRE_ROLES, "grid_leader", "grid_head"];
// Who arranges duty (leave, stand-ins, extra duty): the centre, and grid heads for their grids.
const DUTY_ROLES = [...CENTRE_ROLES, "grid_head"];

const view = { me: null, cases: [], current: null, detail: null, listSig: "", detailSig: "",
  kinds: new Set(), grids: new Set(), people: new Map(), clip: null, more: false };

function filters() {
  const value = (id) => document.getElementById(id).value;
  return { grid: value("f-grid"), kind: value("f-kind"), colour: value("f-colour"),
    state: value("f-state"), since: Number(value("f-time") || 0),
    from: value("f-from"), to: value("f-to") };
}

function setOptions(select, values, labelOf) {
  const chosen = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  for (const v of [...values].sort()) {
    if (!known.has(v)) select.append(el("option", { value: v, "data-code": v }, labelOf(v)));
  }
  for (const option of select.options) {
    if (option.dataset.code) option.textContent = labelOf(option.dataset.code);
  }
  select.value = chosen;
}

function caseRow(c) {
  return el("tr", {
    class: "case" + (c.id === view.current ? " current" : ""), "data-case": c.id,
    "data-state": c.state, onclick: () => openCase(c.id),
  },
  el("td", {}, colourMark(c.colour)),
  el("td", {}, word("kind", c.kind), c.overdue ? el("span", { class: "tag warn" }, t("case.overdue")) : null),
  el("td", {}, c.grid || "—"),
  el("td", {}, placeOf(c)),
  el("td", {}, word("state", c.state)),
  el("td", {}, fmtTime(c.opened_at)));
}

function renderList() {
  const shown = view.cases;  // filtered by the server, the time window included
  // Red cases (nobody has taken them, or overdue) counted in the tab's title, so a centre
  // watching other windows sees them arrive.
  const red = view.cases.filter((c) => c.colour === "red").length;
  document.title = (red ? `(${red}) ` : "") + t("nav.inbox");
  const sig = CONSOLE.lang + view.current + view.more + JSON.stringify(shown);
  if (sig === view.listSig) return;
  view.listSig = sig;
  // "500+": older matching cases exist beyond this page; a narrower window shows them.
  document.getElementById("count").textContent =
    `${shown.length}${view.more ? "+" : ""} ${t("inbox.count")}`;
  const body = document.getElementById("cases");
  body.replaceChildren(...(shown.length ? shown.map(caseRow)
    : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, t("case.none")))]));
}

async function refreshList() {
  const f = filters();
  const query = new URLSearchParams({ limit: "500" });
  for (const name of ["grid", "kind", "colour", "state"]) if (f[name]) query.set(name, f[name]);
  // The time window is filtered by the server over every case, not over this page: a preset
  // (last hour, day, week) counts back from now; otherwise the chosen days (dates are days in
  // the console's time zone, `to` excluded).
  if (f.since) query.set("from", new Date(Date.now() - f.since * 1000).toISOString());
  else if (f.from) query.set("from", f.from);
  if (f.to) query.set("to", f.to);
  const reply = await api("GET", "/api/cases?" + query);
  view.cases = reply.cases;
  view.more = reply.next_before !== null && reply.next_before !== undefined;
  for (const c of reply.cases) {
    view.kinds.add(c.kind);
    if (c.grid) view.grids.add(c.grid);
  }
  for (const g of view.me.grids || []) view.grids.add(g);
  setOptions(document.getElementById("f-kind"), view.kinds, (k) => word("kind", k));
  setOptions(document.getElementById("f-grid"), view.grids, (g) => g);
  renderList();
}

function snapshot(detail, evidence) {
  if (!evidence.snapshots.length) return el("p", { class: "muted" }, t("case.noSnapshot"));
  const sha = evidence.snapshots[evidence.snapshots.length - 1];
  const boxes = evidence.objects.map((o) => {
    const [x1, y1, x2, y2] = o.box;
    const style = `left:${x1 * 100}%;top:${y1 * 100}%;width:${(x2 - x1) * 100}%;height:${(y2 - y1) * 100}%`;
    return el("div", { class: "box", style, "data-object": o.class },
      el("span", {}, `${word("cat", o.category)} ${Math.round(o.confidence * 100)}%`));
  });
  return el("div", { class: "shot" },
    el("img", { src: `/api/snapshots/${sha}`, alt: t("case.snapshot"), id: "snapshot" }), boxes);
}

// A person's note is shown as written; the console's own notes only where they are worded for
// people ("中文 / English"), not its internal reason codes.
function noteOf(e) {
  if (!e.note) return "";
  if (e.source === "api") return e.note;
  return /[\u4e00-\u9fff]/.test(e.note) ? serverText(e.note) : "";
}

function timeline(events) {
  return el("ol", { class: "timeline", id: "timeline" }, events.map((e) => el("li", { "data-action": e.action },
    el("span", { class: "when" }, fmtTime(e.at)),
    el("strong", {}, word("action", e.action)), " ",
    e.from_state && e.from_state !== e.to_state
      ? `${word("state", e.from_state)} → ${word("state", e.to_state)} ` : "",
    el("span", { class: "muted" }, `${t("case.by")} ${e.actor}`),
    noteOf(e) ? el("div", { class: "small" }, noteOf(e)) : null)));
}

// The case's clip, asked for once when the case is opened (the server fetches it from the node
// the first time and throttles retries). The box outlives redraws of the detail, so a playing
// video is moved, not rebuilt, when the case changes under it.
async function loadClip(id) {
  if (view.clip && view.clip.url) URL.revokeObjectURL(view.clip.url);
  view.clip = { id, box: el("div", { class: "clip", id: "clip" }), url: null, reason: "loading",
    retryAt: null };
  drawClip();
  let reply;
  try {
    reply = await fetch(`/api/cases/${id}/clip`, { credentials: "same-origin" });
  } catch (_) {
    reply = null;
  }
  if (!view.clip || view.clip.id !== id) return;
  if (reply && reply.ok) {
    const clip = view.clip;
    clip.url = URL.createObjectURL(await reply.blob());
    clip.reason = null;
    // Many cameras send H.265, which most browsers cannot play: then the video says so, and
    // the download link (always there: evidence to keep or pass on) opens it in a player.
    const video = el("video", { src: clip.url, controls: true, muted: true, playsinline: true,
      preload: "metadata", id: "clip-video", onerror: () => {
        if (view.clip !== clip) return;
        clip.reason = "unplayable";
        drawClip();
      } });
    clip.box.replaceChildren(video, clipDownload(clip));
    return;
  }
  const detail = reply ? ((await reply.json().catch(() => null)) || {}).detail || {} : {};
  view.clip.reason = detail.reason || (reply ? "failed" : "unreachable");
  view.clip.retryAt = detail.retry_at || null;
  drawClip();
}

// The clip's words, redrawn in the reader's language; a playing video is never touched.
function drawClip() {
  const clip = view.clip;
  if (!clip) return;
  if (clip.reason === null) {  // a playing video is left alone; its link follows the language
    const link = clip.box.querySelector("#clip-download");
    if (link) link.textContent = t("clip.download");
    return;
  }
  const said = t("clip." + clip.reason, t("clip.failed"));
  const quiet = ["loading", "none"].includes(clip.reason);
  clip.box.replaceChildren(el("p", { class: quiet ? "muted" : "error", "data-clip": clip.reason },
    said, clip.retryAt ? ` · ${t("clip.retry")} ${fmtTime(clip.retryAt)}` : ""),
    clip.url ? clipDownload(clip) : null);
}

function clipDownload(clip) {
  return el("p", { class: "small" }, el("a", { href: clip.url, download: `case-${clip.id}.mp4`,
    id: "clip-download" }, t("clip.download")));
}

// Each attempt behind the count, opened on demand: when, whether it worked, the endpoint's
// status and words (text, never markup).
function tries(d) {
  if (!d.tries || !d.tries.length) return String(d.attempts);
  return el("details", { "data-tries": d.id },
    el("summary", {}, String(d.attempts)),
    el("ol", { class: "small tries" }, d.tries.map((a) => el("li", { "data-ok": String(a.ok) },
      `${fmtTime(a.started_at)} · ${t(a.ok ? "delivery.tryOk" : "delivery.tryFailed")}` +
      (a.http_status ? ` · HTTP ${a.http_status}` : "") + (a.detail ? ` · ${a.detail}` : "")))));
}

// Who was told about the case, how, and whether it reached them (the person's name, never the
// channel's address). An error is the endpoint's own words, shown as text.
function deliveries(list) {
  if (!list.length) return el("p", { class: "muted", id: "deliveries" }, t("case.noDeliveries"));
  const head = ["delivery.person", "delivery.channel", "delivery.state", "delivery.attempts",
    "delivery.sentAt", "delivery.error"].map((k) => el("th", {}, t(k)));
  return el("table", { class: "deliveries", id: "deliveries" },
    el("thead", {}, el("tr", {}, head)),
    el("tbody", {}, list.map((d) => el("tr", { "data-delivery": d.id, "data-state": d.state },
      el("td", {}, d.name),
      el("td", {}, word("channel", d.channel)),
      el("td", { class: d.state === "failed" ? "error" : null }, word("delivery", d.state)),
      el("td", {}, tries(d)),
      el("td", {}, d.sent_at ? fmtTime(d.sent_at) : "—"),
      el("td", { class: "small" }, d.last_error || "")))));
}

// "2031-05-20" as the start of that day in the console's zone, with the zone's offset written
// out ("2031-05-20T00:00:00+08:00"): the API takes a time only with its zone.
async function midnightIn(day) {
  if (!view.timezone) view.timezone = (await api("GET", "/api/pages/settings")).timezone;
  const [y, m, d] = day.split("-").map(Number);
  const noon = new Date(Date.UTC(y, m - 1, d, 12));  // the day's offset, away from DST edges
  const name = new Intl.DateTimeFormat("en-US", { timeZone: view.timezone, timeZoneName: "longOffset" })
    .formatToParts(noon).find((p) => p.type === "timeZoneName").value;  // "GMT+08:00" or "GMT"
  const offset = name === "GMT" ? "+00:00" : name.slice(3);
  return `${day}T00:00:00${offset}`;
}

async function peopleFor(grid) {
  const key = grid || "";
  if (!view.people.has(key)) {
    const query = grid ? "?grid=" + encodeURIComponent(grid) : "";
    view.people.set(key, (await api("GET", "/api/pages/assignable" + query)).people);
  }
  return view.people.get(key);
}

async function act(c, action) {
  const status = document.getElementById("act-error");
  const note = document.getElementById("act-note").value.trim();
  status.textContent = "";
  const body = { action };
  if (note) body.note = note;
  if (NEEDS_NOTE.includes(action) && !note) { status.textContent = t("err.needNote"); return; }
  if (action === "dispatch") {
    const to = document.getElementById("act-to").value;
    if (!to) { status.textContent = t("err.needPerson"); return; }
    body.to = to;
  }
  if (action === "defer") {
    const due = document.getElementById("act-due").value;
    if (!due) { status.textContent = t("err.needDue"); return; }
    body.due = await midnightIn(due);
  }
  try {
    await api("POST", `/api/cases/${c.id}/actions`, body);
    document.getElementById("act-note").value = "";
    document.getElementById("act-done").textContent = t("action.done") + t("action." + action);
    view.detailSig = "";
    await Promise.all([refreshList(), refreshDetail()]);
  } catch (e) {
    status.textContent = errorText(e);
  }
}

async function renderDetail() {
  const root = document.getElementById("detail");
  const d = view.detail;
  if (!d) return;
  const sig = CONSOLE.lang + JSON.stringify(d);
  if (sig === view.detailSig) return;
  // Never redraw under the operator's hands (a note being typed, a person being chosen): the
  // change is drawn once they leave the field.
  const busy = document.activeElement;
  if (busy && ["act-note", "act-to", "act-due"].includes(busy.id)) return;
  // Keep what the operator is writing across a live redraw.
  const typing = document.getElementById("act-note");
  const kept = typing ? typing.value : "";
  const chosen = document.getElementById("act-to") ? document.getElementById("act-to").value : "";
  view.detailSig = sig;
  const c = d.case;
  const actions = ACTIONS[c.state] || [];
  let picker = null;
  if (actions.includes("dispatch")) {
    const people = await peopleFor(c.grid).catch(() => []);
    picker = el("select", { id: "act-to" }, el("option", { value: "" }, t("case.pick")),
      people.map((p) => el("option", { value: p.username },
        `${p.name || p.username} (${p.username}) · ${word("role", p.role)}`)));
    picker.value = chosen;
  }
  let due = null;
  if (actions.includes("defer")) {
    const tomorrow = new Date(Date.now() + 86400000);
    const pad = (n) => String(n).padStart(2, "0");
    due = el("label", { class: "small" }, t("case.deferUntil") + " ",
      el("input", { type: "date", id: "act-due",
        value: `${tomorrow.getFullYear()}-${pad(tomorrow.getMonth() + 1)}-${pad(tomorrow.getDate())}` }));
  }
  const keptDue = document.getElementById("act-due") ? document.getElementById("act-due").value : "";
  const buttons = actions.map((action) => el("button", {
    type: "button", "data-action": action,
    class: ["register", "dispatch", "close"].includes(action) ? "primary" : action === "false_alarm" ? "danger" : null,
    onclick: () => act(c, action),
  }, t("action." + action)));
  const tags = [];
  if (c.overdue) tags.push(el("span", { class: "tag warn" }, t("case.overdue")));
  if (c.problem_gone) tags.push(el("span", { class: "tag" }, t("case.gone")));
  if (c.escalation_level) tags.push(el("span", { class: "tag warn" }, t("case.escalated")));
  root.replaceChildren(
    el("h2", {}, colourMark(c.colour), ` ${t("case")} #${c.id} · ${word("kind", c.kind)} · `,
      el("span", { id: "detail-state", "data-state": c.state }, word("state", c.state)), tags),
    el("dl", {},
      el("dt", {}, t("case.grid")), el("dd", {}, c.grid || "—"),
      el("dt", {}, t("case.place")), el("dd", {}, placeOf(c)),
      el("dt", {}, t("case.source")), el("dd", {}, sourceOf(c)),
      el("dt", {}, t("case.opened")), el("dd", {}, fmtTime(c.opened_at)),
      el("dt", {}, t("case.due")), el("dd", {}, fmtTime(c.response_due_at)),
      el("dt", {}, t("case.handleDue")), el("dd", {}, fmtTime(c.handle_due_at)),
      el("dt", {}, t("case.assignees")), el("dd", {}, c.assignees.join("、") || "—")),
    el("div", { class: "actions" }, picker, buttons, due),
    actions.length ? el("textarea", { id: "act-note", maxlength: "1000",
      placeholder: t("case.notePlaceholder") }) : el("textarea", { id: "act-note", hidden: true }),
    el("p", { class: "error", id: "act-error", role: "alert" }),
    el("p", { class: "notice", id: "act-done", role: "status" }),
    el("h3", {}, t("case.snapshot")), snapshot(d, d.evidence),
    el("h3", {}, t("case.clip")), view.clip && view.clip.id === c.id ? view.clip.box : null,
    d.photos.length ? el("h3", {}, t("case.photos")) : null,
    el("div", { class: "photos" }, d.photos.map((sha) =>
      el("img", { src: `/api/cases/${c.id}/photos/${sha}`, alt: t("case.photos"), "data-photo": sha }))),
    el("h3", {}, t("case.deliveries")), deliveries(d.deliveries || []),
    el("h3", {}, t("case.timeline")), timeline(d.events));
  drawClip();
  document.getElementById("act-note").value = kept;
  if (keptDue && document.getElementById("act-due")) document.getElementById("act-due").value = keptDue;
}

async function refreshDetail() {
  if (view.current === null) return;
  const id = view.current;
  const [detail, evidence] = await Promise.all([
    api("GET", `/api/cases/${id}`), api("GET", `/api/pages/cases/${id}/evidence`)]);
  if (id !== view.current) return;
  view.detail = { ...detail, evidence };
  await renderDetail();
}

async function openCase(id) {
  view.current = id;
  view.detailSig = "";
  history.replaceState(null, "", `/cases/${id}`);
  loadClip(id);
  view.listSig = "";
  renderList();
  try {
    await refreshDetail();
  } catch (e) {
    document.getElementById("detail").replaceChildren(el("p", { class: "error" }, errorText(e)));
  }
}

async function refreshHealth() {
  if (!CENTRE_ROLES.includes(view.me.role)) return;
  const h = await api("GET", "/api/pages/health");
  const section = document.getElementById("health");
  section.hidden = false;
  const body = document.getElementById("health-body");
  if (!h.nodes.length && !h.devices.length) {
    body.replaceChildren(el("p", { class: "muted" }, t("health.none")));
    return;
  }
  const stateWord = (s) => t("health." + s, s);
  body.replaceChildren(
    el("ul", {}, h.nodes.map((n) => el("li", { class: n.status, "data-node": n.node },
      `${n.site_name || n.site} / ${n.node} · ${stateWord(n.status)}`))),
    el("ul", {}, h.devices.map((d) => el("li", { class: d.state, "data-device": d.id },
      `${t("health." + d.kind, d.kind)} ${d.node}/${d.id} · ${stateWord(d.state)}`))));
}

async function tick() {
  await refreshList();
  // The console answers again: a "cannot reach the console" from a tap during the outage is
  // no longer true, and left there it would tell the operator not to try again.
  const status = document.getElementById("act-error");
  if (status && status.textContent === t("err.network")) status.textContent = "";
  try {
    await refreshDetail();
  } catch (e) {
    // A case that is not (or no longer) mine to see: say so once and stop asking for it; the
    // list and the health still refresh. Anything else is a lost connection.
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    view.current = null;
    view.detail = null;
    document.getElementById("detail").replaceChildren(el("p", { class: "error" }, errorText(e)));
  }
  await refreshHealth();
}

async function main() {
  applyI18n();
  const stateSelect = document.getElementById("f-state");
  for (const s of STATES) stateSelect.append(el("option", { value: s, "data-code": s }, word("state", s)));
  let live = { now: () => {} };
  setupLanguage(() => {
    view.listSig = ""; view.detailSig = "";
    setOptions(stateSelect, STATES, (s) => word("state", s));
    live.now();
  });
  document.getElementById("logout").addEventListener("click", logout);
  for (const id of ["f-grid", "f-kind", "f-colour", "f-state", "f-time", "f-from", "f-to"]) {
    document.getElementById(id).addEventListener("change", () => { view.listSig = ""; live.now(); });
  }
  try {
    view.me = await api("GET", "/api/me");
  } catch (e) {
    return;
  }
  document.getElementById("who").textContent = view.me.username;
  document.getElementById("nav").hidden = !FIGURES_ROLES.includes(view.me.role);
  document.getElementById("nav-admin").hidden = !CENTRE_ROLES.includes(view.me.role);
  document.getElementById("nav-duty").hidden = !DUTY_ROLES.includes(view.me.role);
  const match = location.pathname.match(/^\/cases\/(\d+)$/);
  if (match) {
    view.current = Number(match[1]);
    loadClip(view.current);
  }
  live = poll(tick, POLL_MS, document.getElementById("live"));
}

main();
