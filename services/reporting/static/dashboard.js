// The dashboard's behaviour: charts from data-figure attributes, live refresh of every
// [data-k] number from the page's live endpoint, sortable and filterable tables.
// Served by the app itself (no CDN, no inline script: CSP script-src 'self').
"use strict";

const CONFIG = { displaylogo: false, responsive: true };

function drawCharts() {
  if (typeof Plotly === "undefined") return;
  for (const el of document.querySelectorAll("[data-figure]")) {
    const fig = JSON.parse(el.dataset.figure);
    Plotly.newPlot(el, fig.data, fig.layout, CONFIG).then((gd) => { gd.dataset.rendered = "1"; });
  }
}

function applyValues(values) {
  for (const el of document.querySelectorAll("[data-k]")) {
    const text = values[el.dataset.k];
    if (text !== undefined && el.textContent !== text) {
      el.textContent = text;
      el.classList.remove("flash");
      void el.offsetWidth; // restart the highlight
      el.classList.add("flash");
    }
  }
}

// A list that grew since the page was drawn says so, with a link that reloads the page (its rows
// are paged and sorted by the server: inserting them here would break the page's order and pager).
function applyLists(lists) {
  const fmt = new Intl.NumberFormat(document.documentElement.lang === "vi" ? "vi-VN" : "en-GB");
  for (const el of document.querySelectorAll("[data-list]")) {
    const now = lists[el.dataset.list];
    if (now === undefined) continue;
    const added = now - Number(el.dataset.total);
    if (added > 0) {
      el.querySelector(".msg").textContent = el.dataset.words.replace("{n}", fmt.format(added));
      el.hidden = false;
    } else {
      el.hidden = true;
    }
  }
}

function startLive() {
  const url = document.body.dataset.liveUrl;
  if (!url) return;
  const interval = Number(document.body.dataset.liveInterval || 1000);
  const stamp = document.getElementById("updated-at");
  let busy = false;
  async function tick() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!r.ok) throw new Error(String(r.status));
      const body = await r.json();
      applyValues(body.values);
      if (body.lists) applyLists(body.lists);
      if (typeof Plotly !== "undefined" && body.charts) {
        for (const [id, fig] of Object.entries(body.charts)) {
          const el = document.getElementById(id);
          if (el && el.dataset.rendered === "1") Plotly.react(el, fig.data, fig.layout, CONFIG);
        }
      }
      if (stamp) { stamp.textContent = body.updated; stamp.parentElement.classList.remove("stale"); }
      document.body.dataset.liveVersion = String(Number(document.body.dataset.liveVersion || 0) + 1);
    } catch (e) {
      if (stamp) stamp.parentElement.classList.add("stale");
    } finally {
      busy = false;
    }
  }
  setInterval(tick, interval);
}

function numberOf(text) {
  const vi = document.body.dataset.lang === "vi";
  let t = text.replace(/[^0-9,.\-]/g, "");
  t = vi ? t.replace(/\./g, "").replace(",", ".") : t.replace(/,/g, "");
  const n = parseFloat(t);
  return Number.isNaN(n) ? -Infinity : n;
}

function columnIndex(table, th) {
  // map a header cell to the body column it labels
  const rows = Array.from(table.querySelectorAll("thead tr"));
  const grid = [];
  rows.forEach((tr, r) => {
    grid[r] = grid[r] || [];
    let c = 0;
    for (const cell of tr.children) {
      while (grid[r][c]) c++;
      const span = Number(cell.getAttribute("colspan") || 1);
      const down = Number(cell.getAttribute("rowspan") || 1);
      for (let i = 0; i < down; i++) for (let j = 0; j < span; j++) {
        grid[r + i] = grid[r + i] || [];
        grid[r + i][c + j] = cell;
      }
      if (cell === th) return;
      c += span;
    }
  });
  const last = grid[rows.length - 1] || [];
  return last.indexOf(th);
}

function sortBy(table, th) {
  const index = columnIndex(table, th);
  const asc = th.dataset.sorted !== "asc";
  for (const h of table.querySelectorAll("th[data-sorted]")) delete h.dataset.sorted;
  th.dataset.sorted = asc ? "asc" : "desc";
  const body = table.tBodies[0];
  const numeric = th.dataset.sort === "num";
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    // a cell may carry its sort value (data-v), e.g. a rank shown as "2/6"
    const x = a.cells[index] ? (a.cells[index].dataset.v ?? a.cells[index].textContent.trim()) : "";
    const y = b.cells[index] ? (b.cells[index].dataset.v ?? b.cells[index].textContent.trim()) : "";
    const d = numeric ? numberOf(x) - numberOf(y) : x.localeCompare(y, document.documentElement.lang);
    return asc ? d : -d;
  });
  for (const r of rows) body.appendChild(r);
}

function filterRows(table) {
  const box = document.querySelector(`[data-filter="#${table.id}"]`);
  const only = document.querySelector(`[data-only-nonzero][data-target="#${table.id}"]`);
  const needle = box ? box.value.trim().toLowerCase() : "";
  for (const row of table.tBodies[0].rows) {
    let show = !needle || row.textContent.toLowerCase().includes(needle)
      || (row.dataset.code || "").toLowerCase().includes(needle);
    if (show && only && only.checked) {
      const cell = row.querySelector(`[data-col="${only.dataset.onlyNonzero}"]`);
      show = cell !== null && numberOf(cell.textContent) > 0;
    }
    row.hidden = !show;
  }
}

function wireTables() {
  for (const table of document.querySelectorAll("table.sortable")) {
    for (const th of table.querySelectorAll("thead th[data-sort]")) {
      th.addEventListener("click", () => sortBy(table, th));
    }
  }
  // a filter checkbox of a server-side list (the agency tree) applies at once
  for (const box of document.querySelectorAll("input[data-autosubmit]")) {
    box.addEventListener("change", () => box.form.submit());
  }
  for (const input of document.querySelectorAll("[data-filter], [data-only-nonzero]")) {
    const target = document.querySelector(input.dataset.filter || input.dataset.target);
    if (target) input.addEventListener("input", () => filterRows(target));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  drawCharts();
  wireTables();
  startLive();
});
