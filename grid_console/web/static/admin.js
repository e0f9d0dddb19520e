// The admin page: people and their roles (list, add), and the directory's import and export
// (grids, people with their channels, duty rosters) as CSV or XLSX with row-numbered errors.
"use strict";

const ROLES = ["admin", "operator", "grid_leader", "grid_head", "patrol", "volunteer"];
const TABLES = ["grids", "people", "rosters"];
const page = { me: null, people: [], editing: null, channelsDirty: false, quarantine: null };

const CHANNELS = ["wecom", "dingtalk", "feishu", "email", "webhook"];

function channelRow(channel) {
  const kind = el("select", { "data-field": "kind" },
    CHANNELS.map((k) => el("option", { value: k }, word("channel", k))));
  kind.value = channel.kind || "wecom";
  const target = el("input", { "data-field": "target", value: channel.target || "", maxlength: "1024",
    placeholder: t("admin.target") });
  const secret = el("input", { "data-field": "secret", type: "password", maxlength: "256",
    placeholder: channel.has_secret ? t("admin.secretKept") : t("admin.secret") });
  const row = el("div", { class: "filters", "data-channel": "1" }, kind, target, secret,
    el("button", { type: "button", class: "danger", onclick: () => { row.remove(); page.channelsDirty = true; } },
      t("admin.remove")));
  for (const input of [kind, target, secret]) {
    input.addEventListener("input", () => { page.channelsDirty = true; });
  }
  return row;
}

function openEdit(person) {
  const form = document.getElementById("edit");
  page.editing = person.username;
  page.channelsDirty = false;
  document.getElementById("edit-who").textContent = person.username;
  form.elements.display_name.value = person.display_name || "";
  form.elements.role.value = person.role;
  form.elements.grids.value = (person.grids || []).join(", ");
  form.elements.phone.value = person.phone || "";
  form.elements.active.checked = person.active;
  form.elements.password.value = "";
  document.getElementById("edit-channels").replaceChildren(...(person.channels || []).map(channelRow));
  document.getElementById("edit-done").textContent = "";
  form.hidden = false;
  form.scrollIntoView({ block: "nearest" });
}

async function saveEdit(event) {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("error");
  error.textContent = "";
  const body = {
    display_name: form.elements.display_name.value.trim(),
    role: form.elements.role.value,
    grids: form.elements.grids.value.split(/[,，、\s]+/).filter(Boolean),
    phone: form.elements.phone.value.trim(),
    active: form.elements.active.checked,
  };
  if (form.elements.password.value) body.password = form.elements.password.value;
  // Channels are replaced as a whole: sent only when changed here, so untouched secrets stay.
  if (page.channelsDirty) {
    body.channels = [...document.querySelectorAll("#edit-channels [data-channel]")].map((row) => {
      const value = (f) => row.querySelector(`[data-field=${f}]`).value.trim();
      const channel = { kind: value("kind"), target: value("target") };
      if (value("secret")) channel.secret = value("secret");
      return channel;
    });
  }
  try {
    await api("PATCH", `/api/people/${encodeURIComponent(page.editing)}`, body);
    document.getElementById("edit-done").textContent = t("admin.saved");
    page.channelsDirty = false;
    await loadPeople();
  } catch (e) {
    error.textContent = errorText(e);
  }
}

function renderPeople() {
  const body = document.querySelector("#people tbody");
  const admin = page.me && page.me.role === "admin";
  body.replaceChildren(...page.people.map((p) => el("tr", {
    "data-person": p.username, class: admin ? "case" : null, onclick: admin ? () => openEdit(p) : null },
    el("td", {}, p.username),
    el("td", {}, p.display_name || ""),
    el("td", {}, word("role", p.role)),
    el("td", {}, (p.grids || []).join("、") || "—"),
    el("td", {}, p.phone || ""),
    el("td", {}, (p.channels || []).map((c) => word("channel", c.kind)).join("、") || "—"),
    el("td", {}, p.can_log_in ? t("yes") : t("no")),
    el("td", {}, p.active ? t("admin.active") : t("admin.inactive")))));
}

async function loadPeople() {
  page.people = (await api("GET", "/api/people")).people;
  renderPeople();
}

async function addPerson(event) {
  event.preventDefault();
  const form = event.target;
  const done = document.getElementById("add-done");
  const error = document.getElementById("error");
  done.textContent = "";
  error.textContent = "";
  const value = (name) => form.elements[name].value.trim();
  const body = {
    username: value("username"), role: value("role"),
    grids: value("grids").split(/[,，、\s]+/).filter(Boolean),
  };
  for (const name of ["display_name", "phone"]) if (value(name)) body[name] = value(name);
  if (form.elements.password.value) body.password = form.elements.password.value;
  try {
    await api("POST", "/api/people", body);
    done.textContent = t("admin.added");
    form.reset();
    await loadPeople();
  } catch (e) {
    error.textContent = errorText(e);
  }
}

function tableBox(table) {
  const input = el("input", { type: "file", accept: ".csv,.xlsx", id: `file-${table}` });
  const result = el("div", { class: "small", id: `result-${table}`, role: "status" });
  const upload = async () => {
    result.replaceChildren();
    const file = input.files && input.files[0];
    if (!file) { result.textContent = t("admin.pickFile"); return; }
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const reply = await api("POST", `/api/${table}/import`, form);
      result.textContent = `${t("admin.imported")} ${reply.imported}`;
      if (table === "people") await loadPeople();
    } catch (e) {
      result.append(el("p", { class: "error" }, errorText(e)));
      const list = problems(e);
      if (list) result.append(list);
    }
  };
  const admin = page.me.role === "admin";
  return el("div", { class: "filters", "data-table": table },
    el("strong", {}, t("admin.table." + table)),
    el("a", { href: `/api/${table}/export?format=csv` }, t("admin.exportCsv")),
    el("a", { href: `/api/${table}/export?format=xlsx` }, t("admin.exportXlsx")),
    admin ? input : null,
    admin ? el("button", { type: "button", "data-import": table, onclick: upload }, t("admin.import")) : null,
    result);
}

// What the ingest refused: the count per reason and the newest rows, as text (a payload is
// whatever a node or an intruder sent, never markup).
function renderQuarantine() {
  const q = page.quarantine;
  const box = document.getElementById("quarantine");
  if (!q) return;
  if (!q.total) { box.replaceChildren(el("p", { class: "muted", id: "quarantine-none" }, t("quarantine.none"))); return; }
  const counts = el("ul", { id: "quarantine-counts" }, Object.entries(q.counts).map(([reason, n]) =>
    el("li", { "data-reason": reason }, `${word("quarantine", reason)}: ${n}`)));
  const head = ["quarantine.at", "quarantine.reason", "quarantine.topic", "quarantine.size",
    "quarantine.detail", "quarantine.payload"].map((k) => el("th", {}, t(k)));
  box.replaceChildren(
    el("p", {}, `${t("quarantine.total")} ${q.total}`), counts,
    el("table", { class: "deliveries", id: "quarantine-rows" },
      el("thead", {}, el("tr", {}, head)),
      el("tbody", {}, q.items.map((r) => el("tr", { "data-quarantine": r.id, "data-reason": r.reason },
        el("td", {}, fmtTime(r.received_at)), el("td", {}, word("quarantine", r.reason)),
        el("td", { class: "small" }, r.topic), el("td", {}, String(r.size)),
        el("td", { class: "small" }, r.detail), el("td", { class: "small" }, el("code", {}, r.preview)))))));
}

async function loadQuarantine() {
  page.quarantine = await api("GET", "/api/quarantine?limit=50");
  renderQuarantine();
}

function render() {
  applyI18n();
  for (const [id, fallback] of [["add-role", "patrol"], ["edit-role", ""]]) {
    const roles = document.getElementById(id);
    const chosen = roles.value || fallback;
    roles.replaceChildren(...ROLES.map((r) => el("option", { value: r }, word("role", r))));
    roles.value = chosen;
  }
  renderPeople();
  renderQuarantine();
  document.getElementById("tables").replaceChildren(...TABLES.map(tableBox));
}

async function main() {
  setupLanguage(render);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("add").addEventListener("submit", addPerson);
  document.getElementById("edit").addEventListener("submit", saveEdit);
  document.getElementById("edit-cancel").addEventListener("click", () => {
    document.getElementById("edit").hidden = true;
  });
  document.getElementById("add-channel").addEventListener("click", () => {
    document.getElementById("edit-channels").append(channelRow({}));
    page.channelsDirty = true;
  });
  try {
    page.me = await api("GET", "/api/me");
    document.getElementById("who").textContent = page.me.username;
    if (page.me.role !== "admin") document.getElementById("add").hidden = true;
    render();
    await Promise.all([loadPeople(), loadQuarantine()]);
  } catch (e) {
    document.getElementById("error").textContent = errorText(e);
  }
}

main();
