// The admin page's section "各类事件时限与派遣 / Timers and routing per kind": every kind's
// response and handling deadlines, auto-register and dispatch mode, from /api/admin/kinds,
// edited and saved one kind at a time. Its own file, loaded after admin.js: the section is
// for admins only (the API answers 403 to anyone else, and the section stays hidden).
"use strict";

Object.assign(I18N.zh, {
  "kinds.title": "各类事件时限与派遣",
  "kinds.hint": "改动只用于之后新开的案件；已开的案件保留已定下的时限。未改动的类型沿用启动参数或配置文件（默认）。所有副本立即生效，无需重启。“按事件级别”派遣由级别的规则决定（启动参数 --dispatch-severity 和 --dispatch-default）。",
  "kinds.kind": "事件类型",
  "kinds.f.response_s": "响应时限",
  "kinds.f.handle_s": "处置时限",
  "kinds.f.auto_register": "自动立案",
  "kinds.f.dispatch": "派遣方式",
  "kinds.f.kind": "事件类型",
  "kinds.f.body": "请求",
  "kinds.seconds": "秒",
  "kinds.minutes": "分钟",
  "kinds.default": "默认",
  "kinds.source": "来源",
  "kinds.src.default": "默认（启动参数）",
  "kinds.src.admin": "管理员修改",
  "kinds.save": "保存",
  "kinds.reset": "恢复默认",
  "kinds.saved": "已保存",
  "kinds.wasReset": "已恢复默认",
  "kinds.nothing": "没有改动",
  "kinds.bad.seconds": "必须是 {low} 到 {high} 之间的整数秒",
  "kinds.changes": "最近的修改",
  "kinds.noChanges": "还没有修改",
  "kinds.act.set_kind_settings": "修改",
  "kinds.act.reset_kind_settings": "恢复默认",
  "kinds.mode.on_duty": "值班网格员",
  "kinds.mode.all_on_duty": "全体值班人员并告知网格长",
  "kinds.mode.manual": "人工派遣",
  "kinds.mode.by_severity": "按事件级别",
});
Object.assign(I18N.en, {
  "kinds.title": "Timers and routing per kind",
  "kinds.hint": "A change applies to cases opened from now on; open cases keep the deadlines they were given. Kinds nobody changed follow the serve options or the config file (default). Every replica follows at once, with no restart. \"By severity\" leaves dispatch to the severity's rule (the options --dispatch-severity and --dispatch-default).",
  "kinds.kind": "Kind",
  "kinds.f.response_s": "Response deadline",
  "kinds.f.handle_s": "Handling deadline",
  "kinds.f.auto_register": "Auto-register",
  "kinds.f.dispatch": "Dispatch",
  "kinds.f.kind": "Kind",
  "kinds.f.body": "Request",
  "kinds.seconds": "s",
  "kinds.minutes": "min",
  "kinds.default": "default",
  "kinds.source": "Source",
  "kinds.src.default": "default (serve options)",
  "kinds.src.admin": "changed by an admin",
  "kinds.save": "Save",
  "kinds.reset": "Reset to default",
  "kinds.saved": "Saved",
  "kinds.wasReset": "Reset to default",
  "kinds.nothing": "Nothing changed",
  "kinds.bad.seconds": "must be whole seconds from {low} to {high}",
  "kinds.changes": "Recent changes",
  "kinds.noChanges": "No changes yet",
  "kinds.act.set_kind_settings": "changed",
  "kinds.act.reset_kind_settings": "reset to default",
  "kinds.mode.on_duty": "On-duty patrols",
  "kinds.mode.all_on_duty": "Everyone on duty, grid head told",
  "kinds.mode.manual": "Manual",
  "kinds.mode.by_severity": "By severity",
});

const kindsPage = { data: null, notes: {} };
const SECONDS_FIELDS = ["response_s", "handle_s"];

function kindName(k) {
  return t("kind." + k.kind, CONSOLE.lang === "zh" ? k.name_zh : k.name_en);
}

function fieldProblem(field, text) {
  return `${t("kinds.f." + field)}${CONSOLE.lang === "zh" ? "：" : ": "}${text}`;
}

function minutesHint(seconds) {
  const m = Number(seconds) / 60;
  return Number.isFinite(m) && m >= 1 ? ` ≈ ${Math.round(m * 10) / 10} ${t("kinds.minutes")}` : "";
}

function secondsCell(k, field) {
  const [low, high] = kindsPage.data.limits[field];
  const input = el("input", { type: "number", name: field, min: String(low), max: String(high),
    step: "1", inputmode: "numeric", value: String(k[field]), "aria-label": t("kinds.f." + field),
    class: k.sources[field] === "admin" ? "changed" : null });
  const hint = el("small", { class: "muted" },
    `${t("kinds.default")} ${k.defaults[field]} ${t("kinds.seconds")}${minutesHint(k.defaults[field])}`);
  return el("td", {}, el("span", { class: "kl" }, t("kinds.f." + field)), input,
    el("span", { class: "unit" }, t("kinds.seconds")), hint);
}

function kindRow(k) {
  const auto = el("input", { type: "checkbox", name: "auto_register",
    "aria-label": t("kinds.f.auto_register"), class: k.sources.auto_register === "admin" ? "changed" : null });
  auto.checked = Boolean(k.auto_register);
  const mode = el("select", { name: "dispatch", "aria-label": t("kinds.f.dispatch"),
    class: k.sources.dispatch === "admin" ? "changed" : null },
    kindsPage.data.dispatch_modes.map((m) => el("option", { value: m }, t("kinds.mode." + m, m))));
  mode.value = k.dispatch;
  const defaults = (f) => el("small", { class: "muted" }, `${t("kinds.default")} ` +
    (f === "dispatch" ? t("kinds.mode." + k.defaults.dispatch, k.defaults.dispatch)
      : (k.defaults.auto_register ? t("yes") : t("no"))));
  const source = k.source === "admin"
    ? `${t("kinds.src.admin")} · ${k.updated_by || ""} · ${fmtTime(k.updated_at)}` : t("kinds.src.default");
  const note = kindsPage.notes[k.kind] || { text: () => "" };
  return el("tr", { "data-kind": k.kind, class: k.source === "admin" ? "admin-set" : null },
    el("th", { scope: "row" }, kindName(k)),
    secondsCell(k, "response_s"),
    secondsCell(k, "handle_s"),
    el("td", {}, el("label", {}, auto, " ", el("span", { class: "kl" }, t("kinds.f.auto_register"))),
      defaults("auto_register")),
    el("td", {}, el("span", { class: "kl" }, t("kinds.f.dispatch")), mode, defaults("dispatch")),
    el("td", { class: "small", "data-source": k.source }, source),
    el("td", { class: "kind-actions" },
      el("button", { type: "button", class: "primary", "data-save": k.kind, onclick: () => saveKind(k) },
        t("kinds.save")),
      el("button", { type: "button", "data-reset": k.kind, disabled: k.source !== "admin",
        onclick: () => resetKind(k) }, t("kinds.reset")),
      el("div", { class: note.bad ? "error" : "notice", role: "status", "data-note": k.kind },
        note.text())));
}

// The values typed in a row, kept across a redraw (a language switch).
function typed(row) {
  const value = (name) => row.querySelector(`[name=${name}]`);
  return {
    response_s: value("response_s").value.trim(),
    handle_s: value("handle_s").value.trim(),
    auto_register: value("auto_register").checked,
    dispatch: value("dispatch").value,
  };
}

// Only what differs from the kind's value now, each checked here first so the admin sees the
// field named at once; the server checks again (and alone checks handling >= response).
function changesOf(k, values) {
  const body = {};
  for (const field of SECONDS_FIELDS) {
    const [low, high] = kindsPage.data.limits[field];
    const number = Number(values[field]);
    if (values[field] === "" || !Number.isInteger(number) || number < low || number > high) {
      throw { text: () => fieldProblem(field, t("kinds.bad.seconds").replace("{low}", low).replace("{high}", high)) };
    }
    if (number !== k[field]) body[field] = number;
  }
  if (values.auto_register !== k.auto_register) body.auto_register = values.auto_register;
  if (values.dispatch !== k.dispatch) body.dispatch = values.dispatch;
  return body;
}

function refusal(e) {
  const d = e instanceof ApiError && e.status === 422 && e.detail;
  if (d && d.field && d.problem) return fieldProblem(d.field, CONSOLE.lang === "zh" ? d.problem.zh : d.problem.en);
  return errorText(e);
}

function rowOf(kind) {
  return document.querySelector(`#kinds tr[data-kind="${kind}"]`);
}

async function saveKind(k) {
  let body;
  try {
    body = changesOf(k, typed(rowOf(k.kind)));
  } catch (e) {
    setNote(k.kind, e.text, true);
    return;
  }
  if (Object.keys(body).length === 0) { setNote(k.kind, () => t("kinds.nothing"), false); return; }
  try {
    await api("PATCH", `/api/admin/kinds/${encodeURIComponent(k.kind)}`, body);
    kindsPage.notes[k.kind] = { text: () => t("kinds.saved") };
    await loadKinds(k.kind);
  } catch (e) {
    setNote(k.kind, () => refusal(e), true);
  }
}

async function resetKind(k) {
  try {
    await api("DELETE", `/api/admin/kinds/${encodeURIComponent(k.kind)}`);
    kindsPage.notes[k.kind] = { text: () => t("kinds.wasReset") };
    await loadKinds(k.kind);
  } catch (e) {
    setNote(k.kind, () => refusal(e), true);
  }
}

// A note is kept as how to say it, so a language switch says it again in the other language.
function setNote(kind, text, bad) {
  kindsPage.notes[kind] = { text, bad };
  const note = document.querySelector(`[data-note="${kind}"]`);
  note.textContent = text();
  note.className = bad ? "error" : "notice";
}

function changeLine(c) {
  const fields = Object.keys(c.after || {}).filter((f) => (c.before || {})[f] !== c.after[f]);
  const show = (f, v) => (v === null || v === undefined ? t("kinds.default")
    : f === "dispatch" ? t("kinds.mode." + v, v) : typeof v === "boolean" ? (v ? t("yes") : t("no")) : String(v));
  const what = fields.map((f) => `${t("kinds.f." + f)} ${show(f, c.before[f])} → ${show(f, c.after[f])}`);
  return el("li", { "data-change": c.kind }, `${fmtTime(c.at)} · ${c.actor} · ${t("kind." + c.kind, c.kind)} · ` +
    `${t("kinds.act." + c.action, c.action)}` + (what.length ? `：${what.join("；")}` : ""));
}

function renderKinds() {
  const section = document.getElementById("kinds-panel");
  if (!kindsPage.data || !section) return;
  const drafts = {};
  document.querySelectorAll("#kinds tbody tr[data-kind]").forEach((row) => { drafts[row.dataset.kind] = typed(row); });
  section.hidden = false;
  applyI18n(section);
  const head = ["kinds.kind", "kinds.f.response_s", "kinds.f.handle_s", "kinds.f.auto_register",
    "kinds.f.dispatch", "kinds.source", null].map((key) => el("th", { scope: "col" }, key ? t(key) : ""));
  const rows = kindsPage.data.kinds.map(kindRow);
  document.getElementById("kinds").replaceChildren(el("thead", {}, el("tr", {}, head)), el("tbody", {}, rows));
  for (const row of rows) {
    const draft = drafts[row.dataset.kind];
    if (!draft) continue;
    for (const name of ["response_s", "handle_s", "dispatch"]) row.querySelector(`[name=${name}]`).value = draft[name];
    row.querySelector("[name=auto_register]").checked = draft.auto_register;
  }
  const changes = kindsPage.data.changes || [];
  document.getElementById("kind-changes").replaceChildren(changes.length
    ? el("ul", { class: "small" }, changes.map(changeLine)) : el("p", { class: "muted small" }, t("kinds.noChanges")));
}

async function loadKinds(fresh) {
  try {
    kindsPage.data = await api("GET", "/api/admin/kinds");
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return; // not an admin: no section
    document.getElementById("error").textContent = errorText(e);
    return;
  }
  // The row just saved or reset shows the server's values; the others keep what is typed.
  const saved = fresh ? rowOf(fresh) : null;
  if (saved) saved.remove();
  renderKinds();
}

// After admin.js's own listener has switched the language (listeners run in order).
document.getElementById("lang").addEventListener("click", renderKinds);
loadKinds();
