// The admin page: people and their roles (list, add), and the directory's import and export
// (grids, people with their channels, duty rosters) as CSV or XLSX with row-numbered errors.
"use strict";

const ROLES = ["admin", "operator", "grid_leader", "grid_head", "patrol", "volunteer"];
const TABLES = ["grids", "people", "rosters"];
const page = { me: null, people: [] };

function renderPeople() {
  const body = document.querySelector("#people tbody");
  body.replaceChildren(...page.people.map((p) => el("tr", { "data-person": p.username },
    el("td", {}, p.username),
    el("td", {}, p.display_name || ""),
    el("td", {}, word("role", p.role)),
    el("td", {}, (p.grids || []).join("、") || "—"),
    el("td", {}, p.phone || ""),
    el("td", {}, (p.channels || []).map((c) => word("channel", c.kind)).join("、") || "—"),
    el("td", {}, p.can_log_in ? t("yes") : t("no")))));
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

function problems(error) {
  const list = error instanceof ApiError && error.detail && error.detail.errors;
  if (!Array.isArray(list)) return null;
  return el("ul", { class: "problems" }, list.map((p) => el("li", {},
    `${t("admin.row")} ${p.row}` + (p.column ? ` · ${p.column}` : "") + ` · ${p.message}`)));
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

function render() {
  applyI18n();
  const roles = document.getElementById("add-role");
  const chosen = roles.value || "patrol";
  roles.replaceChildren(...ROLES.map((r) => el("option", { value: r }, word("role", r))));
  roles.value = chosen;
  renderPeople();
  document.getElementById("tables").replaceChildren(...TABLES.map(tableBox));
}

async function main() {
  setupLanguage(render);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("add").addEventListener("submit", addPerson);
  try {
    page.me = await api("GET", "/api/me");
    document.getElementById("who").textContent = page.me.username;
    if (page.me.role !== "admin") document.getElementById("add").hidden = true;
    render();
    await loadPeople();
  } catch (e) {
    document.getElementById("error").textContent = errorText(e);
  }
}

main();
