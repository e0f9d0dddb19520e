// The patrol's phone page: the open cases of my grids, mine first, red before yellow; accept,
// navigate, arrived, a photo from the camera, handled with a note, return with a reason, false
// alarm. Polled every few seconds; a task being written in is never redrawn under the thumb.
"use strict";

const POLL_MS = 4000;
const HIDDEN_STATES = ["closed", "false_alarm", "deferred"];
// What a patrol can do in each state; the server's role table has the last word.
const BUTTONS = {
  reported: ["false_alarm"],
  registered: ["false_alarm"],
  returned: ["false_alarm"],
  dispatched: ["accept", "return", "false_alarm"],
  accepted: ["arrive", "handle", "return", "false_alarm"],
  on_site: ["handle", "return", "false_alarm"],
  handled: [],
};
const ROLE_ACTIONS = {
  patrol: ["accept", "arrive", "handle", "return", "false_alarm"],
  volunteer: ["accept", "arrive", "handle", "return"],
};
const NEEDS_NOTE = ["return"];
const COLOUR_ORDER = { red: 0, yellow: 1, green: 2 };
// The case a notification's link was for (/cases/{id} sends a patrol here): shown first, marked.
const FOCUS = Number(new URLSearchParams(location.search).get("case")) || null;

const state = { me: null, cases: [], signature: "", notes: new Map(), photos: new Map(),
  seen: null, duty: null };

function showError(text) {
  document.getElementById("error").textContent = text || "";
  if (text) document.getElementById("notice").textContent = "";
}

function showNotice(text) {
  document.getElementById("notice").textContent = text || "";
}

function mapLink(c) {
  if (c.lon === null || c.lat === null || c.lon === undefined || c.lat === undefined) {
    return el("span", { class: "muted small" }, t("case.noMap"));
  }
  const name = encodeURIComponent(placeOf(c));
  const href = `https://uri.amap.com/marker?position=${c.lon},${c.lat}&name=${name}`
    + "&coordinate=wgs84&callnative=1";
  return el("a", { class: "button", href, target: "_blank", rel: "noopener", "data-map": "1" },
    t("case.map"));
}

function allowed(action) {
  const role = state.me ? state.me.role : "patrol";
  const mine = ROLE_ACTIONS[role] || ROLE_ACTIONS.patrol.concat(["close"]);
  return mine.includes(action);
}

async function act(c, action) {
  const note = (state.notes.get(c.id) || "").trim();
  if (NEEDS_NOTE.includes(action) && !note) {
    showError(t("err.needNote"));
    return;
  }
  const body = { action };
  if (note) body.note = note;
  if (action === "handle") body.photos = state.photos.get(c.id) || [];
  showError("");
  try {
    await api("POST", `/api/cases/${c.id}/actions`, body);
    if (action === "accept") document.getElementById("new-task").hidden = true;
    if (action === "handle" || action === "return") {
      state.notes.delete(c.id);
      state.photos.delete(c.id);
    }
    showNotice(t("action.done") + t("action." + action));
    state.signature = "";
    live.now();
  } catch (e) {
    showError(errorText(e));
    // Refused because the case moved on (409) or left my grid (404): show what is true now.
    live.now();
  }
}

// A phone's camera writes 5 to 20 MB; the console takes at most 8 MiB and the patrol may be on
// a slow network. A big picture is sent as a JPEG of at most 2560 px a side, which still shows
// a number plate; a small one goes as it is.
const SHRINK_ABOVE_BYTES = 2 * 1024 * 1024;
const MAX_SIDE_PX = 2560;

async function shrink(file) {
  if (file.size <= SHRINK_ABOVE_BYTES || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file);  // applies the EXIF orientation
    const scale = Math.min(1, MAX_SIDE_PX / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.85));
    return blob ? new File([blob], "photo.jpg", { type: "image/jpeg" }) : file;
  } catch (_) {
    return file;  // not a picture the browser can read: the server says what is wrong
  }
}

async function upload(c, input) {
  const picked = input.files && input.files[0];
  if (!picked) return;
  showNotice(t("patrol.photoBusy"));
  const file = await shrink(picked);
  const form = new FormData();
  form.append("file", file, file.name || "photo.jpg");
  showError("");
  showNotice(t("patrol.photoBusy"));
  try {
    const reply = await api("POST", `/api/cases/${c.id}/photos`, form);
    const list = state.photos.get(c.id) || [];
    if (!list.includes(reply.sha256)) list.push(reply.sha256);
    state.photos.set(c.id, list);
    showNotice(t("patrol.photoDone"));
    state.signature = "";
    render();
  } catch (e) {
    showNotice("");
    showError(errorText(e));
  } finally {
    input.value = "";
  }
}

function task(c) {
  const buttons = (BUTTONS[c.state] || []).filter(allowed).map((action) =>
    el("button", {
      type: "button", "data-action": action,
      class: action === "accept" || action === "handle" ? "primary" : action === "false_alarm" ? "danger" : null,
      onclick: () => act(c, action),
    }, t("action." + action)));
  const working = ["accepted", "on_site"].includes(c.state);
  const photos = state.photos.get(c.id) || [];
  const photoInput = el("input", {
    type: "file", accept: "image/*", capture: "environment", id: `photo-${c.id}`,
    onchange: (e) => upload(c, e.target),
  });
  const note = el("textarea", {
    "data-note": "1", placeholder: t("case.notePlaceholder"), maxlength: "1000",
    oninput: (e) => state.notes.set(c.id, e.target.value),
  });
  note.value = state.notes.get(c.id) || "";
  const tags = [];
  if (c.overdue) tags.push(el("span", { class: "tag warn" }, t("case.overdue")));
  if (c.problem_gone) tags.push(el("span", { class: "tag" }, t("case.gone")));
  const mine = c.assignees.includes(state.me.username) || c.assignee === state.me.username;
  const focus = c.id === FOCUS ? " focus" : "";
  return el("article", { class: `task ${c.colour}${focus}`, "data-case": c.id, "data-state": c.state },
    el("div", { class: "head" },
      colourMark(c.colour),
      el("strong", {}, word("kind", c.kind)),
      el("span", { class: "tag" }, word("state", c.state)),
      tags),
    el("p", {}, el("span", { class: "muted" }, t("case.place") + "："), placeOf(c)),
    el("p", { class: "small muted" },
      `${t("case.grid")} ${c.grid || "—"} · ${t("case.opened")} ${fmtTime(c.opened_at)}`
      + (mine ? "" : ` · ${t("case.assignees")} ${c.assignees.join("、") || "—"}`)),
    el("div", { class: "buttons" },
      mapLink(c),
      working && allowed("handle")
        ? el("label", { class: "button", for: `photo-${c.id}` },
          photos.length ? `${t("patrol.photo")} (${photos.length})` : t("patrol.photo"))
        : null,
      buttons),
    working ? photoInput : null,
    (BUTTONS[c.state] || []).some((a) => allowed(a)) ? note : null);
}

function render() {
  const root = document.getElementById("tasks");
  // Never redraw while the patrol is typing a note: the keyboard would close.
  if (root.contains(document.activeElement) && document.activeElement.tagName === "TEXTAREA") return;
  const visible = state.cases.filter((c) => !HIDDEN_STATES.includes(c.state));
  const me = state.me.username;
  visible.sort((a, b) => {
    const ma = a.assignees.includes(me) || a.assignee === me ? 0 : 1;
    const mb = b.assignees.includes(me) || b.assignee === me ? 0 : 1;
    const fa = a.id === FOCUS ? 0 : 1;
    const fb = b.id === FOCUS ? 0 : 1;
    return fa - fb || ma - mb || COLOUR_ORDER[a.colour] - COLOUR_ORDER[b.colour]
      || b.opened_at.localeCompare(a.opened_at);
  });
  const signature = CONSOLE.lang + JSON.stringify(visible) + JSON.stringify([...state.photos]);
  if (signature === state.signature) return;
  state.signature = signature;
  root.replaceChildren(...(visible.length ? visible.map(task)
    : [el("p", { class: "muted", id: "empty" }, t("patrol.none"))]));
}

// Cases dispatched to me that the page has not shown before: the page itself is a channel
// (issue 16), so it says so on the screen, in the tab's title and with a buzz where phones can.
function announce(cases) {
  const me = state.me.username;
  const mine = cases.filter((c) => c.state === "dispatched" && c.assignees.includes(me));
  const fresh = state.seen === null ? [] : mine.filter((c) => !state.seen.has(c.id));
  state.seen = new Set([...(state.seen || []), ...mine.map((c) => c.id)]);
  const waiting = mine.length;
  document.title = (waiting ? `(${waiting}) ` : "") + t("patrol.title");
  if (!fresh.length) return;
  const banner = document.getElementById("new-task");
  banner.textContent = `${t("patrol.newTask")}：` + fresh.map((c) => word("kind", c.kind)).join("、");
  banner.hidden = false;
  if (navigator.vibrate) navigator.vibrate([300, 100, 300]);
}

async function refresh() {
  // The open cases only: an open task behind many newer closed ones must still be here.
  const reply = await api("GET", "/api/cases?open=true&limit=1000");
  // The console answers again: a "cannot reach the console" from a tap during the outage is
  // no longer true, and left there it would tell the patrol not to try again.
  if (document.getElementById("error").textContent === t("err.network")) showError("");
  state.cases = reply.cases;
  announce(reply.cases);
  render();
}

// My duty, above the tasks: on duty now and why, on leave until when, and what is coming
// (a leave, standing in for someone, extra duty). Asked once a minute: it changes by the hour.
Object.assign(I18N.zh, {
  "my.onDuty": "值班中：",
  "my.off": "现在不在班",
  "my.leave": "请假中，至 ",
  "my.standIn": "顶班：",
  "my.coming": "即将：",
  "my.why.shift": "按排班",
  "my.why.extra": "加班",
  "my.why.stands_in": "顶替 ",
  "my.kind.leave": "请假",
  "my.kind.extra": "加班 ",
  "my.kind.cover": "顶替 ",
});
Object.assign(I18N.en, {
  "my.onDuty": "On duty: ",
  "my.off": "Not on duty now",
  "my.leave": "On leave until ",
  "my.standIn": "stand-in: ",
  "my.coming": "Coming: ",
  "my.why.shift": "rostered",
  "my.why.extra": "extra duty",
  "my.why.stands_in": "standing in for ",
  "my.kind.leave": "leave",
  "my.kind.extra": "extra duty in ",
  "my.kind.cover": "standing in for ",
});
const DUTY_EVERY_MS = 60_000;

function renderDuty() {
  const d = state.duty;
  const line = document.getElementById("my-duty");
  if (!d) { line.replaceChildren(); return; }
  const comma = CONSOLE.lang === "zh" ? "、" : ", ";
  const paren = (text) => (CONSOLE.lang === "zh" ? `（${text}）` : ` (${text})`);
  let now;
  if (d.on_duty.length) {
    now = t("my.onDuty") + d.on_duty.map((o) => o.grid + paren(t("my.why." + o.why, o.why) +
      (o.stands_in_for || ""))).join(comma);
  } else if (d.on_leave) {
    now = t("my.leave") + fmtTime(d.on_leave.to) +
      (d.on_leave.substitute ? paren(t("my.standIn") + d.on_leave.substitute) : "");
  } else {
    now = t("my.off");
  }
  const me = state.me.username;
  const coming = d.changes.filter((c) => new Date(c.from) > new Date()).slice(0, 3).map((c) => {
    const what = c.kind === "extra" ? t("my.kind.extra") + c.grid
      : c.username === me ? t("my.kind.leave") : t("my.kind.cover") + c.username;
    return `${fmtTime(c.from)} → ${fmtTime(c.to)} ${what}`;
  });
  line.replaceChildren(el("span", { "data-now": d.on_duty.length ? "on" : d.on_leave ? "leave" : "off" }, now),
    ...coming.map((text) => el("span", { class: "muted small", "data-coming": "1" }, t("my.coming") + text)));
}

async function loadDuty() {
  try {
    state.duty = await api("GET", "/api/me/duty");
    renderDuty();
  } catch (_) { /* the tasks' own polling says when the console cannot be reached */ }
}

let live = { now: () => {} };

async function main() {
  applyI18n();
  setupLanguage(() => { state.signature = ""; render(); renderDuty(); });
  document.getElementById("logout").addEventListener("click", logout);
  try {
    state.me = await api("GET", "/api/me");
  } catch (e) {
    showError(errorText(e));
    return;
  }
  document.getElementById("who").textContent = state.me.username;
  live = poll(refresh, POLL_MS, document.getElementById("live"));
  loadDuty();
  setInterval(loadDuty, DUTY_EVERY_MS);
}

main();
