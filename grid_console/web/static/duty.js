// The duty page (/duty): the centre (admin, operator) over every grid, and a grid head over
// their own grids, record that someone is on leave (with whoever stands in) or on extra duty,
// see the changes now and in the next two months, withdraw one, and ask who is on duty in a
// grid at a time. Anyone else is told they may not (the API answers 403).
"use strict";

Object.assign(I18N.zh, {
  "duty.title": "排班调整（请假、顶班、加班）",
  "duty.hint": "请假的人员不再接收派遣；指定顶班人员时，由其在请假人原排班的网格和时段接替。加班人员在所选网格值班。时间为本机时间。",
  "duty.kind": "类型",
  "duty.kind.leave": "请假",
  "duty.kind.extra": "加班",
  "duty.person": "人员",
  "duty.from": "开始",
  "duty.to": "结束",
  "duty.substitute": "顶班人员",
  "duty.noSubstitute": "（无人顶班）",
  "duty.grid": "网格",
  "duty.note": "说明",
  "duty.submit": "登记",
  "duty.added": "已登记",
  "duty.revoke": "撤销",
  "duty.revoked": "已撤销",
  "duty.end": "提前结束",
  "duty.ended": "已提前结束",
  "duty.none": "现在及今后两个月没有排班调整",
  "duty.by": "登记人",
  "duty.standsIn": "顶班：",
  "duty.inGrid": "网格：",
  "duty.who": "值班查询",
  "duty.at": "时间",
  "duty.atHint": "留空为现在",
  "duty.ask": "查询",
  "duty.nobody": "此时无人值班（案件将派给网格长）",
  "duty.onLeave": "请假：",
  "duty.why.shift": "按排班",
  "duty.why.extra": "加班",
  "duty.why.stands_in": "顶替",
  "duty.field.kind": "类型",
  "duty.field.username": "人员",
  "duty.field.from": "开始",
  "duty.field.to": "结束",
  "duty.field.substitute": "顶班人员",
  "duty.field.grid": "网格",
  "duty.field.id": "调整",
  "duty.needBoth": "请填写开始和结束时间",
  "duty.file": "节假日排班表",
  "duty.fileHint": "CSV 或 XLSX，列：类型（请假/加班）、人员、开始、结束、顶班人员、网格、说明；时间为平台时区。有错时一行都不导入；重复导入不会重复登记。",
});
Object.assign(I18N.en, {
  "duty.title": "Leave, stand-ins and extra duty",
  "duty.hint": "Someone on leave is sent no cases; a substitute covers the absent person's rostered grids and hours. Extra duty puts a person on duty in the chosen grid. Times are this device's local time.",
  "duty.kind": "Kind",
  "duty.kind.leave": "Leave",
  "duty.kind.extra": "Extra duty",
  "duty.person": "Person",
  "duty.from": "From",
  "duty.to": "To",
  "duty.substitute": "Stand-in",
  "duty.noSubstitute": "(nobody stands in)",
  "duty.grid": "Grid",
  "duty.note": "Note",
  "duty.submit": "Record",
  "duty.added": "Recorded",
  "duty.revoke": "Withdraw",
  "duty.revoked": "Withdrawn",
  "duty.end": "End now",
  "duty.ended": "Ended early",
  "duty.none": "No changes now or in the next two months",
  "duty.by": "recorded by",
  "duty.standsIn": "stand-in: ",
  "duty.inGrid": "grid: ",
  "duty.who": "Who is on duty",
  "duty.at": "At",
  "duty.atHint": "empty for now",
  "duty.ask": "Ask",
  "duty.nobody": "Nobody on duty then (cases go to the grid head)",
  "duty.onLeave": "On leave: ",
  "duty.why.shift": "rostered",
  "duty.why.extra": "extra duty",
  "duty.why.stands_in": "standing in for",
  "duty.field.kind": "Kind",
  "duty.field.username": "Person",
  "duty.field.from": "From",
  "duty.field.to": "To",
  "duty.field.substitute": "Stand-in",
  "duty.field.grid": "Grid",
  "duty.field.id": "Change",
  "duty.needBoth": "Fill in both From and To",
  "duty.file": "Holiday roster",
  "duty.fileHint": "CSV or XLSX with the columns kind (leave/extra), username, from, to, substitute, grid, note; times in the console's zone. A file with errors imports nothing; importing it again records nothing twice.",
});

const dutyPage = { me: null, people: [], grids: [], changes: null, answer: null, notice: null };

// A datetime-local field's value is the device's wall time: sent as UTC, so the server never
// has to guess the zone.
function instant(value) {
  return value ? new Date(value).toISOString() : null;
}

function fillSelect(id, values, label, first) {
  const select = document.getElementById(id);
  const chosen = select.value;
  const options = values.map(([value, text]) => el("option", { value }, text));
  select.replaceChildren(...(first ? [el("option", { value: "" }, first)] : []), ...options);
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

function renderDutyForm() {
  const people = dutyPage.people.map((p) => [p.username, `${named(p.username, p.display_name)} · ${word("role", p.role)}`]);
  fillSelect("duty-kind", ["leave", "extra"].map((k) => [k, t("duty.kind." + k)]));
  fillSelect("duty-person", people);
  fillSelect("duty-substitute", people, null, t("duty.noSubstitute"));
  const grids = dutyPage.grids.map((g) => [g.id, `${g.id} ${g.name}`]);
  fillSelect("duty-grid", grids);
  fillSelect("duty-query-grid", grids);
  const leave = document.getElementById("duty-kind").value === "leave";
  document.querySelector("#duty-add [data-for=leave]").hidden = !leave;
  document.querySelector("#duty-add [data-for=extra]").hidden = leave;
}

function nameOf(username) {
  const person = dutyPage.people.find((p) => p.username === username);
  return named(username, person && person.display_name);
}

function changeItem(c) {
  const other = c.kind === "leave"
    ? (c.substitute ? t("duty.standsIn") + named(c.substitute, c.substitute_name) : t("duty.noSubstitute"))
    : t("duty.inGrid") + c.grid;
  // One in force now ends now (and stays on record); one still to come is withdrawn.
  const inForce = new Date(c.from) <= new Date();
  const revoke = el("button", { type: "button", class: "danger", "data-revoke": c.id,
    onclick: () => revokeChange(c.id) }, t(inForce ? "duty.end" : "duty.revoke"));
  return el("li", { "data-change": c.id, "data-kind": c.kind },
    el("strong", {}, t("duty.kind." + c.kind, c.kind)), " ",
    named(c.username, c.display_name), " · ", other, " · ",
    el("span", { class: "when" }, `${fmtTime(c.from)} → ${fmtTime(c.to)}`),
    c.note ? ` · ${c.note}` : "", " ",
    el("span", { class: "muted small" }, `${t("duty.by")} ${c.created_by}`), " ", revoke);
}

function renderDutyChanges() {
  const box = document.getElementById("duty-changes");
  if (dutyPage.changes === null) return;
  // Whoever the API lets read the changes (admin, operator) may also record and withdraw them.
  box.replaceChildren(dutyPage.changes.length
    ? el("ul", { class: "duty-list" }, dutyPage.changes.map(changeItem))
    : el("p", { class: "muted", id: "duty-none" }, t("duty.none")));
}

function renderDutyAnswer() {
  const box = document.getElementById("duty-on");
  const a = dutyPage.answer;
  if (!a) { box.replaceChildren(); return; }
  const lines = a.on_duty.map((d) => el("li", { "data-on": d.username, "data-why": d.why },
    `${named(d.username, d.display_name)} · ${word("role", d.role)} · ${t("duty.why." + d.why, d.why)}` +
    (d.stands_in_for ? ` ${nameOf(d.stands_in_for)}` : "")));
  if (!lines.length) lines.push(el("li", { id: "duty-nobody" }, t("duty.nobody")));
  const away = a.on_leave.length
    ? el("p", { id: "duty-away" }, t("duty.onLeave") + `${a.on_leave.map((p) => named(p.username, p.display_name)).join(CONSOLE.lang === "zh" ? "、" : ", ")}`)
    : null;
  box.replaceChildren(el("p", { class: "muted small" }, `${a.grid} · ${fmtTime(a.at)}`), el("ul", {}, lines), away);
}

function renderDuty() {
  const section = document.getElementById("duty-panel");
  if (!section || section.hidden) return;
  applyI18n(section);
  renderDutyForm();
  renderDutyChanges();
  renderDutyAnswer();
  if (dutyPage.notice) document.getElementById("duty-done").textContent = t(dutyPage.notice);
}

async function loadDutyChanges() {
  dutyPage.changes = (await api("GET", "/api/duty-changes")).changes;
  renderDutyChanges();
}

async function addChange(event) {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("error");
  error.textContent = "";
  dutyPage.notice = null;
  document.getElementById("duty-done").textContent = "";
  const value = (name) => form.elements[name].value.trim();
  if (!value("from") || !value("to")) { error.textContent = t("duty.needBoth"); return; }
  const body = { kind: value("kind"), username: value("username"), from: instant(value("from")), to: instant(value("to")) };
  if (body.kind === "leave" && value("substitute")) body.substitute = value("substitute");
  if (body.kind === "extra") body.grid = value("grid");
  if (value("note")) body.note = value("note");
  try {
    await api("POST", "/api/duty-changes", body);
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
    dutyPage.notice = "duty.added";
    document.getElementById("duty-done").textContent = t("duty.added");
    form.elements.note.value = "";
    await Promise.all([loadDutyChanges(), dutyPage.answer ? askDuty() : null]);
  } catch (e) {
    error.textContent = fieldError(e, document.getElementById("duty-add"), "duty.field");
  }
}

async function revokeChange(id) {
  const error = document.getElementById("error");
  error.textContent = "";
  try {
    const done = await api("DELETE", `/api/duty-changes/${id}`);
    dutyPage.notice = done.cancelled_at ? "duty.revoked" : "duty.ended";
    document.getElementById("duty-done").textContent = t(dutyPage.notice);
    await Promise.all([loadDutyChanges(), dutyPage.answer ? askDuty() : null]);
  } catch (e) {
    error.textContent = fieldError(e, document.getElementById("duty-add"), "duty.field");
  }
}

async function askDuty(event) {
  if (event) event.preventDefault();
  const form = document.getElementById("duty-query");
  const grid = form.elements.grid.value;
  if (!grid) return;
  const at = instant(form.elements.at.value);
  const query = at ? `?at=${encodeURIComponent(at)}` : "";
  try {
    dutyPage.answer = await api("GET", `/api/grids/${encodeURIComponent(grid)}/on-duty${query}`);
    renderDutyAnswer();
  } catch (e) {
    document.getElementById("error").textContent = errorText(e);
  }
}

async function importFile() {
  const input = document.getElementById("duty-upload");
  const result = document.getElementById("duty-imported");
  result.replaceChildren();
  const file = input.files && input.files[0];
  if (!file) { result.textContent = t("admin.pickFile"); return; }
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const reply = await api("POST", "/api/duty-changes/import", form);
    result.textContent = `${t("admin.imported")} ${reply.imported}`;
    await loadDutyChanges();
  } catch (e) {
    result.append(el("p", { class: "error" }, errorText(e)));
    const list = problems(e);
    if (list) result.append(list);
  }
}

async function main() {
  applyI18n();
  setupLanguage(renderDuty);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("duty-add").addEventListener("submit", addChange);
  document.getElementById("duty-query").addEventListener("submit", askDuty);
  document.getElementById("duty-kind").addEventListener("change", renderDutyForm);
  document.getElementById("duty-import").addEventListener("click", importFile);
  try {
    dutyPage.me = await api("GET", "/api/me");
    document.getElementById("who").textContent = dutyPage.me.username;
    document.getElementById("nav-admin").hidden = !["admin", "operator"].includes(dutyPage.me.role);
    const [people, grids] = await Promise.all([api("GET", "/api/duty/people"), api("GET", "/api/grids")]);
    dutyPage.people = people.people;
    dutyPage.grids = grids.grids;
    document.getElementById("duty-panel").hidden = false;
    renderDuty();
    await loadDutyChanges();
  } catch (e) {
    document.getElementById("error").textContent = errorText(e);
  }
}

main();
