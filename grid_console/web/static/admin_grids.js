// The admin page's grids: the list (for admins and operators), and for admins a form that adds
// a grid or, with a row clicked, changes its name, community and parent. The id cannot change:
// it is what the nodes send. Its own file, loaded after admin.js.
"use strict";

Object.assign(I18N.zh, {
  "grids.title": "网格",
  "grids.hint": "网格编号即节点配置中的 grid，添加后不能修改；名称、小区和上级网格可改。上级网格不能形成环。点击一行修改。",
  "grids.id": "网格编号",
  "grids.name": "名称",
  "grids.site": "小区",
  "grids.siteId": "小区编号",
  "grids.siteName": "小区名称",
  "grids.parent": "上级网格",
  "grids.top": "（无，顶级网格）",
  "grids.add": "添加网格",
  "grids.edit": "修改网格",
  "grids.new": "改为添加",
  "grids.added": "已添加",
  "grids.field.id": "网格编号",
  "grids.field.name": "名称",
  "grids.field.site": "小区编号",
  "grids.field.site_name": "小区名称",
  "grids.field.parent": "上级网格",
});
Object.assign(I18N.en, {
  "grids.title": "Grids",
  "grids.hint": "A grid's id is the grid in the nodes' configuration and cannot change once added; its name, community and parent can. Parents cannot make a loop. Click a row to change it.",
  "grids.id": "Grid id",
  "grids.name": "Name",
  "grids.site": "Community",
  "grids.siteId": "Community id",
  "grids.siteName": "Community name",
  "grids.parent": "Parent grid",
  "grids.top": "(none: a top-level grid)",
  "grids.add": "Add a grid",
  "grids.edit": "Change a grid",
  "grids.new": "Add instead",
  "grids.added": "Added",
  "grids.field.id": "Grid id",
  "grids.field.name": "Name",
  "grids.field.site": "Community id",
  "grids.field.site_name": "Community name",
  "grids.field.parent": "Parent grid",
});

const gridsPage = { me: null, list: null, editing: null, notice: null };

function gridRow(g) {
  const admin = gridsPage.me.role === "admin";
  const site = g.site ? named(g.site, g.site_name) : "—";
  return el("tr", { "data-grid": g.id, class: admin ? "case" : null, onclick: admin ? () => editGrid(g) : null },
    el("td", {}, g.id), el("td", {}, g.name), el("td", {}, site), el("td", {}, g.parent || "—"));
}

function gridForm() {
  const form = document.getElementById("grid-form");
  const editing = gridsPage.editing;
  document.getElementById("grid-form-title").textContent = t(editing ? "grids.edit" : "grids.add");
  form.elements.id.disabled = Boolean(editing);
  document.getElementById("grid-new").hidden = !editing;
  const parent = form.elements.parent;
  const chosen = parent.value;
  parent.replaceChildren(el("option", { value: "" }, t("grids.top")),
    ...(gridsPage.list || []).filter((g) => !editing || g.id !== editing)
      .map((g) => el("option", { value: g.id }, `${g.id} ${g.name}`)));
  parent.value = chosen;
}

function renderGrids() {
  const section = document.getElementById("grids-panel");
  if (!gridsPage.list) return;
  section.hidden = false;
  document.getElementById("grid-form").hidden = gridsPage.me.role !== "admin";
  applyI18n(section);
  document.querySelector("#grids tbody").replaceChildren(...gridsPage.list.map(gridRow));
  gridForm();
  if (gridsPage.notice) document.getElementById("grid-done").textContent = t(gridsPage.notice);
}

function editGrid(g) {
  const form = document.getElementById("grid-form");
  gridsPage.editing = g.id;
  gridForm();
  form.elements.id.value = g.id;
  form.elements.name.value = g.name;
  form.elements.site.value = g.site || "";
  form.elements.site_name.value = g.site_name || "";
  form.elements.parent.value = g.parent || "";
  document.getElementById("grid-done").textContent = "";
  form.scrollIntoView({ block: "nearest" });
}

function newGrid() {
  gridsPage.editing = null;
  document.getElementById("grid-form").reset();
  gridForm();
}

async function saveGrid(event) {
  event.preventDefault();
  const form = event.target;
  const error = document.getElementById("error");
  error.textContent = "";
  gridsPage.notice = null;
  const value = (name) => form.elements[name].value.trim();
  const body = { name: value("name"), site: value("site"), site_name: value("site_name"), parent: value("parent") };
  try {
    if (gridsPage.editing) {
      await api("PATCH", `/api/grids/${encodeURIComponent(gridsPage.editing)}`, body);
      gridsPage.notice = "admin.saved";
    } else {
      if (!body.name) delete body.name;  // a new grid is named by its id until named
      await api("POST", "/api/grids", { id: value("id"), ...body });
      gridsPage.notice = "grids.added";
      form.reset();
    }
    form.querySelectorAll("[aria-invalid]").forEach((input) => input.removeAttribute("aria-invalid"));
    await loadGrids();
  } catch (e) {
    error.textContent = fieldError(e, form, "grids.field");
  }
}

async function loadGrids() {
  try {
    gridsPage.me = gridsPage.me || await api("GET", "/api/me");
    gridsPage.list = (await api("GET", "/api/grids")).grids;
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return;
    document.getElementById("error").textContent = errorText(e);
    return;
  }
  renderGrids();
}

document.getElementById("grid-form").addEventListener("submit", saveGrid);
document.getElementById("grid-new").addEventListener("click", newGrid);
// After admin.js's own listener has switched the language (listeners run in order).
document.getElementById("lang").addEventListener("click", renderGrids);
loadGrids();
