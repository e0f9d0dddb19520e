// The weekly figures: GET /api/stats over [from, to) per grid and kind, with the CSV and XLSX
// of the same period. Counted by the server in SQL; this page only shows them.
"use strict";

const COLUMNS = ["reported", "registered", "closed", "false_alarms", "handled_on_time",
  "handled_late", "still_overdue", "reworked", "accept_median_s", "accept_p90_s",
  "close_median_s", "close_p90_s"];
const fig = { data: null };

function isoDay(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function query() {
  const q = new URLSearchParams({ from: document.getElementById("from").value,
    to: document.getElementById("to").value });
  const grid = document.getElementById("grid").value.trim();
  if (grid) q.set("grid", grid);
  return q.toString();
}

function cell(name, value) {
  if (value === null || value === undefined) return "—";
  return name.endsWith("_s") ? (value / 60).toFixed(1) : String(value);
}

function render() {
  applyI18n();
  const head = document.querySelector("#figures thead");
  head.replaceChildren(el("tr", {}, el("th", {}, t("case.grid")), el("th", {}, t("filter.kind")),
    COLUMNS.map((c) => el("th", {}, t("figures." + c)))));
  const body = document.querySelector("#figures tbody");
  if (!fig.data) return;
  const rows = fig.data.rows.map((r) => el("tr", { "data-kind": r.kind },
    el("td", {}, r.grid || "—"), el("td", {}, word("kind", r.kind)),
    COLUMNS.map((c) => el("td", {}, cell(c, r[c])))));
  const total = fig.data.total;
  rows.push(el("tr", { class: "total", "data-total": "1" },
    el("td", {}, t("figures.total")), el("td", {}, ""),
    COLUMNS.map((c) => el("td", {}, cell(c, total[c])))));
  body.replaceChildren(...rows);
  document.getElementById("as-of").textContent =
    `${t("figures.asOf")} ${fmtTime(fig.data.as_of)} · ${fig.data.timezone} · ${t("figures.minutes")}`;
  // A grid head or leader is shown which grids the figures cover (the server chose them).
  const scope = document.getElementById("scope");
  scope.hidden = fig.data.grids === null;
  if (fig.data.grids !== null) {
    scope.textContent = `${t("filter.grid")}: ${fig.data.grids.join(", ") || "—"}`;
  }
}

async function load(event) {
  if (event) event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const q = query();
  document.getElementById("csv").href = "/api/stats.csv?" + q;
  document.getElementById("xlsx").href = "/api/stats.xlsx?" + q;
  try {
    fig.data = await api("GET", "/api/stats?" + q);
  } catch (e) {
    fig.data = null;
    error.textContent = errorText(e);
  }
  render();
}

async function main() {
  setupLanguage(render);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("period").addEventListener("submit", load);
  // This week: Monday to next Monday, the communities' weekly report.
  const today = new Date();
  const monday = new Date(today);
  monday.setDate(today.getDate() - ((today.getDay() + 6) % 7));
  const next = new Date(monday);
  next.setDate(monday.getDate() + 7);
  document.getElementById("from").value = isoDay(monday);
  document.getElementById("to").value = isoDay(next);
  try {
    const me = await api("GET", "/api/me");
    document.getElementById("who").textContent = me.username;
    document.getElementById("nav-admin").hidden = !["admin", "operator"].includes(me.role);
    document.getElementById("nav-duty").hidden = !["admin", "operator", "grid_head"].includes(me.role);
  } catch (_) {
    return;
  }
  await load();
}

main();
