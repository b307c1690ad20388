// sumame MDMS portal: every figure shown comes from the /v1 API, called with the party's key.
"use strict";
const KEY = "sumame-mdms-key";
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

async function api(path, opts) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw { status: 401, reason: "not signed in: enter your API key on the sign-in page" };
  const o = opts || {};
  const r = await fetch(path, { ...o, headers: { ...(o.headers || {}), "X-API-Key": key } });
  const json = (r.headers.get("content-type") || "").includes("json") ? await r.json() : null;
  if (!r.ok) throw { status: r.status, reason: (json && json.reason) || r.statusText };
  return { status: r.status, body: json, response: r };
}

function refuse(e, where) {
  const box = where || $("error");
  box.hidden = false;
  box.className = "refused";
  box.dataset.status = e.status;
  box.textContent = `refused (${e.status}): ${e.reason}`;
  if (!where) $("content").replaceChildren();
}

function table(id, cols, rows) {
  const t = h("table", { id });
  t.append(h("tr", {}, ...cols.map(([, title]) => h("th", { text: title }))));
  for (const r of rows) t.append(h("tr", {}, ...cols.map(([k]) => {
    const v = typeof k === "function" ? k(r) : r[k];
    return v instanceof Node ? h("td", {}, v) : h("td", { text: v === null || v === undefined ? "—" : String(v) });
  })));
  return t;
}

const fmt = (iso) => (iso ? iso.replace("T", " ").replace(/:00\+09:00$/, " JST") : "—");

// ---------------------------------------------------------------- pages
async function login() {
  const input = h("input", { id: "api-key", type: "password", size: "50", placeholder: "smk_…" });
  const form = h("form", { id: "login" }, h("label", { text: "API key " }), input, " ",
                 h("button", { id: "sign-in", type: "submit", text: "Sign in" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try { await api("/v1/meters"); location.href = "/portal/fleet"; }
    catch (e) { sessionStorage.removeItem(KEY); refuse(e, $("error")); }
  });
  $("content").replaceChildren(form);
}

async function fleet() {
  const { body } = await api("/v1/meters");
  $("who").textContent = `${body.party} (${body.role})`;
  const c = body.status_counts;
  const counts = h("p", { class: "counts", id: "counts" },
    h("span", { id: "count-meters", text: `meters ${body.count}` }),
    h("span", { id: "count-up", class: "status-up", text: `up ${c.up}` }),
    h("span", { id: "count-late", class: "status-late", text: `late ${c.late}` }),
    h("span", { id: "count-outage", class: "status-outage", text: `in outage ${c.outage}` }),
    h("span", { text: `as of ${fmt(body.meters.length ? body.meters[0].as_of : null)}` }));
  const link = (r) => h("a", { href: `/portal/meter?sp=${encodeURIComponent(r.supply_point)}`, text: r.supply_point });
  const status = (r) => h("span", { class: `status-${r.status}`, text: r.status });
  const out = await api("/v1/outages").then((x) => x.body.outages, () => []);
  $("content").replaceChildren(counts,
    table("meters", [[link, "supply point"], ["receiving_point", "receiving point"], ["serial", "serial"],
                     ["kind", "kind"], [status, "status"], [(r) => fmt(r.last_interval_end), "last 30-min value"]],
          body.meters),
    h("h2", { text: "Outages" }),
    table("outages", [["supply_point", "supply point"], [(o) => fmt(o.start), "start"], [(o) => fmt(o.end), "end"],
                      [(o) => (o.duration.value === null ? "—" : `${(o.duration.value / 60).toFixed(0)} min`), "length"],
                      ["how", "detected by"]], out));
}

function chart(name, unit, rows, reverse) {
  const W = 760, H = 180, pad = 30;
  const values = rows.map((r) => r[name].value);
  const max = Math.max(1e-9, ...values.filter((v) => v !== null));
  const s = svg("svg", { id: `chart-${name}`, class: "chart", width: W, height: H + pad, "data-item": name,
                         "data-unit": unit, role: "img" });
  const bw = (W - pad) / Math.max(1, rows.length);
  rows.forEach((r, i) => {
    const v = r[name].value;
    const x = pad + i * bw;
    if (v === null) {
      s.append(svg("rect", { class: "nodata", x, y: H - 3, width: Math.max(1, bw - 1), height: 3,
                             "data-end": r.interval_end, "data-value": "" }));
    } else {
      const bh = (v / max) * (H - 10);
      const bar = svg("rect", { class: reverse ? "bar reverse" : "bar", x, y: H - bh, width: Math.max(1, bw - 1),
                                height: bh, "data-end": r.interval_end, "data-value": String(v) });
      bar.append(svg("title", {})); bar.lastChild.textContent = `${fmt(r.interval_end)}: ${v} ${unit}`;
      s.append(bar);
    }
  });
  const label = svg("text", { x: 2, y: 12, "font-size": "11" });
  label.textContent = `${max.toFixed(3)} ${unit}`;
  s.append(label);
  return s;
}

function nextDay(d) {
  const t = new Date(`${d}T00:00:00Z`); t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

async function meter() {
  const q = new URLSearchParams(location.search);
  const sp = q.get("sp") || "";
  const { body } = await api(`/v1/meters?supply_point=${encodeURIComponent(sp)}`);
  const m = body.meters[0];
  $("who").textContent = `${body.party} (${body.role})`;
  const grid = q.get("grid") || "30";
  const date = q.get("date") || (m.last_interval_end || "2026-01-01").slice(0, 10);
  const pick = h("select", { id: "grid" }, ...["30", "15", "5"].map((g) => h("option", { value: g, text: `${g} min` })));
  pick.value = grid;
  const day = h("input", { id: "date", type: "date", value: date });
  const go = () => { location.search = `?sp=${encodeURIComponent(sp)}&grid=${pick.value}&date=${day.value}`; };
  pick.addEventListener("change", go); day.addEventListener("change", go);
  const head = h("div", {}, h("p", { id: "identity", text:
    `supply point ${sp} · receiving point ${m.receiving_point || "none"} · serial ${m.serial} · ${m.kind} · ${m.status}` }),
    h("label", { text: "interval " }), pick, h("label", { text: " day " }), day);
  $("content").replaceChildren(head);
  const g = Number(grid);
  const from = `${date}T00:${String(g).padStart(2, "0")}`;
  const iv = await api(`/v1/intervals?supply_point=${encodeURIComponent(sp)}&item=forward_kwh,reverse_kwh&grid=${g}` +
                       `&from=${from}&to=${nextDay(date)}T00:00`);
  const rows = iv.body.intervals;
  for (const [name, rev] of [["forward_kwh", false], ["reverse_kwh", true]]) {
    const unit = iv.body.items[name].unit;
    $("content").append(h("h2", { text: `${rev ? "Reverse (export)" : "Forward (import)"} energy per ${g} min [${unit}]` }),
                        chart(name, unit, rows, rev));
  }
  const logBox = h("div", { id: "log" });
  $("content").append(h("h2", { text: "Events and commands" }), logBox);
  try {
    const ev = (await api(`/v1/events?supply_point=${encodeURIComponent(sp)}`)).body;
    logBox.append(table("events", [[(e) => fmt(e.at), "at"], ["log", "log"], ["kind", "event"], ["code", "code"]], ev.events),
                  table("commands", [[(c) => fmt(c.at), "at"], ["op", "command"], ["argument", "argument"],
                                     [(c) => (c.ok ? "ok" : "failed"), "result"], ["detail", "detail"]], ev.commands));
  } catch (e) { refuse(e, logBox); }
}

async function download(job) {
  const r = await api(`/v1/exports/${job.id}`);
  const blob = await r.response.blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: `sumame-export-${job.id}.${job.format}` });
  document.body.append(a); a.click(); a.remove();
}

async function exportsPage() {
  const grid = h("select", { id: "export-grid" }, ...["30", "15", "5"].map((g) => h("option", { value: g, text: `${g} min` })));
  const from = h("input", { id: "export-from", value: "2026-04-02" });
  const to = h("input", { id: "export-to", value: "2026-04-04" });
  const format = h("select", { id: "export-format" }, h("option", { text: "csv" }), h("option", { text: "parquet" }));
  const msg = h("div", { id: "export-message" });
  const start = h("button", { id: "export-start", type: "button", text: "Start export" });
  start.addEventListener("click", async () => {
    try {
      const r = await api("/v1/exports", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ grid: Number(grid.value), from: from.value, to: to.value, format: format.value }) });
      msg.textContent = `job ${r.body.id} ${r.body.status}`; msg.className = "";
      render();
    } catch (e) { refuse(e, msg); }
  });
  const list = h("div", { id: "export-list" });
  async function render() {
    const jobs = (await api("/v1/exports")).body.exports;
    const dl = (j) => (j.status === "done" ? h("button", { text: "download", onclick: () => download(j) }) : j.status);
    list.replaceChildren(table("exports", [["id", "job"], ["party", "party"], ["format", "format"], ["grid_min", "min"],
      [(j) => fmt(j.from), "from"], [(j) => fmt(j.to), "to"], ["rows", "rows"], [dl, "state"], [(j) => fmt(j.created), "created"]],
      jobs));
    if (jobs.some((j) => j.status === "queued" || j.status === "running")) setTimeout(render, 500);
  }
  $("content").replaceChildren(h("p", {}, grid, " from ", from, " to ", to, " ", format, " ", start), msg, list);
  await render();
}

const PAGES = { login, fleet, meter, exports: exportsPage };
window.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  page().then(() => { document.body.dataset.ready = "1"; },
              (e) => { refuse(e.status ? e : { status: 0, reason: String(e) }); document.body.dataset.ready = "1"; });
});
