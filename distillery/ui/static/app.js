// Distillery dashboard: live status, charts and training curves. Reads the API through
// the /ui/api bridge (the session cookie authorises it; the key never reaches this code).
// Every value from the server is placed with textContent or SVG attributes, never as HTML.
"use strict";

const TERMINAL = ["succeeded", "failed", "cancelled"];
const SVG = "http://www.w3.org/2000/svg";

async function api(path, options = {}) {
  const response = await fetch("/ui/api/" + path, { credentials: "same-origin", ...options });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.error && body.error.message) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

// The session's CSRF token, which a write through the bridge must carry.
function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function setField(root, name, value) {
  root.querySelectorAll(`[data-field="${name}"]`).forEach((node) => { node.textContent = String(value); });
}

function showJob(root, job) {
  const p = job.progress, u = job.usage;
  root.querySelectorAll('[data-field="status"]').forEach((node) => {
    node.textContent = job.status;
    node.className = "status status-" + job.status;
  });
  root.querySelectorAll('[data-field="bar"]').forEach((bar) => { bar.max = p.total || 1; bar.value = p.completed; });
  setField(root, "done", `${p.completed}/${p.total}`);
  for (const key of ["accepted", "rejected", "failed", "skipped"]) setField(root, key, p[key]);
  setField(root, "requests", u.requests);
  setField(root, "cached", u.cached_requests);
  setField(root, "prompt_tokens", u.prompt_tokens);
  setField(root, "completion_tokens", u.completion_tokens);
  setField(root, "cost", u.cost_usd.toFixed(root.tagName === "TR" ? 4 : 6));
}

function every(ms, tick) {
  let stopped = false;
  const loop = async () => {
    if (stopped) return;
    try { stopped = (await tick()) === false; } catch (_) { /* a missed poll is retried next time */ }
    if (!stopped) setTimeout(loop, ms);
  };
  setTimeout(loop, ms);
}

// --- jobs list: refresh statuses while any job is live
function jobsPage() {
  const live = document.querySelector('[data-live="jobs"]');
  if (!live) return;
  const offset = live.dataset.offset || "0";
  every(2000, async () => {
    const page = await api(`jobs?limit=50&offset=${encodeURIComponent(offset)}`);
    let running = false;
    for (const job of page.data) {
      const row = document.querySelector(`tr[data-job-id="${CSS.escape(job.id)}"]`);
      if (row) showJob(row, job);
      running = running || !TERMINAL.includes(job.status);
    }
    return running;
  });
}

// --- one job: live progress until it ends, then reload for its dataset and events
function jobPage() {
  const root = document.getElementById("job");
  const cancel = document.querySelector("[data-cancel]");
  if (cancel) {
    cancel.addEventListener("click", async () => {
      if (!window.confirm("Cancel this job? Records made so far are kept.")) return;
      try {
        await api(`jobs/${encodeURIComponent(cancel.dataset.cancel)}/cancel`, {
          method: "POST", headers: { "X-Distillery-UI": csrfToken() },
        });
      } catch (error) { window.alert("Cancel failed: " + error.message); }
      window.location.reload();
    });
  }
  if (!root || root.dataset.terminal === "yes") return;
  every(1500, async () => {
    const job = await api(`jobs/${encodeURIComponent(root.dataset.jobId)}`);
    showJob(document.body, job);
    if (TERMINAL.includes(job.status)) { window.location.reload(); return false; }
    return true;
  });
}

// --- pipelines: a run's status, stages done, current stage and cost (a list row, or its page)
function showPipeline(root, pipeline, digits) {
  root.querySelectorAll('[data-field="status"]').forEach((node) => {
    node.textContent = pipeline.status;
    node.className = "status status-" + pipeline.status;
  });
  root.querySelectorAll('[data-field="bar"]').forEach((bar) => {
    bar.max = pipeline.progress.stages || 1;
    bar.value = pipeline.progress.done;
  });
  setField(root, "done", `${pipeline.progress.done}/${pipeline.progress.stages}`);
  setField(root, "current", pipeline.current_stage || "—");
  setField(root, "cost", pipeline.cost_usd.toFixed(digits));
}

function pipelinesPage() {
  const live = document.querySelector('[data-live="pipelines"]');
  if (!live) return;
  const offset = live.dataset.offset || "0";
  every(2000, async () => {
    const page = await api(`pipelines?limit=50&offset=${encodeURIComponent(offset)}`);
    let running = false;
    for (const pipeline of page.data) {
      const row = document.querySelector(`tr[data-pipeline-id="${CSS.escape(pipeline.id)}"]`);
      if (row) showPipeline(row, pipeline, 4);
      running = running || !TERMINAL.includes(pipeline.status);
    }
    return running;
  });
}

// One run: its stages' progress in place; when a stage starts or ends, or the run ends,
// reload for the stage's job link, the report and the events.
function pipelinePage() {
  const root = document.getElementById("pipeline");
  if (!root || root.dataset.terminal === "yes") return;
  const title = document.querySelector("h1");
  every(1500, async () => {
    const pipeline = await api(`pipelines/${encodeURIComponent(root.dataset.pipelineId)}`);
    showPipeline(root, pipeline, 6);
    if (title) showPipeline(title, pipeline, 6);
    for (const stage of pipeline.stages) {
      const row = document.querySelector(`tr[data-stage="${CSS.escape(String(stage.position))}"]`);
      const bar = row && row.querySelector('[data-field="bar"]');
      if (!bar || !stage.progress) continue;
      bar.max = stage.progress.total || 1;
      bar.value = stage.progress.done;
      setField(row, "done", `${stage.progress.done}/${stage.progress.total ?? "?"} ${stage.progress.unit}`);
    }
    const stages = pipeline.stages.map((s) => s.status).join(",");
    if (TERMINAL.includes(pipeline.status) || stages !== root.dataset.stages) { window.location.reload(); return false; }
    return true;
  });
}

// --- charts
function chartCard(title) {
  const card = el("div", undefined, "chart");
  card.appendChild(el("h3", title));
  return card;
}

function barChart(title, entries) {
  const card = chartCard(title);
  const rowH = 20, labelW = 170, width = 520, barW = width - labelW - 70;
  const max = Math.max(...entries.map((e) => e[1]), 0) || 1;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${entries.length * rowH + 6}`, role: "img", "aria-label": title });
  entries.forEach(([label, value], i) => {
    const y = i * rowH + 3;
    const shown = String(label).length > 26 ? String(label).slice(0, 25) + "…" : String(label);
    chart.appendChild(svg("text", { x: labelW - 6, y: y + 13, "text-anchor": "end" }, shown));
    chart.appendChild(svg("rect", { class: "bar", x: labelW, y: y + 2, height: rowH - 6, width: Math.max(1, (value / max) * barW) }));
    chart.appendChild(svg("text", { x: labelW + Math.max(1, (value / max) * barW) + 4, y: y + 13 }, formatNumber(value)));
  });
  card.appendChild(chart);
  return card;
}

function lineChart(title, points) {
  const card = chartCard(title);
  const width = 520, height = 220, left = 56, bottom = 24, top = 8, right = 10;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)], [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const sx = (x) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);
  const sy = (y) => height - bottom - ((y - y0) / (y1 - y0 || 1)) * (height - top - bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.appendChild(svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
  chart.appendChild(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }));
  chart.appendChild(svg("text", { x: left - 4, y: top + 10, "text-anchor": "end" }, formatNumber(y1)));
  chart.appendChild(svg("text", { x: left - 4, y: height - bottom, "text-anchor": "end" }, formatNumber(y0)));
  chart.appendChild(svg("text", { x: left, y: height - 6 }, `step ${formatNumber(x0)}`));
  chart.appendChild(svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, formatNumber(x1)));
  const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(" ");
  chart.appendChild(svg("path", { class: "line", d: path }));
  if (points.length === 1) chart.appendChild(svg("circle", { cx: sx(xs[0]), cy: sy(ys[0]), r: 3, class: "bar" }));
  card.appendChild(chart);
  return card;
}

function formatNumber(value) {
  if (typeof value !== "number" || !isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  return Math.abs(value) >= 100 ? value.toFixed(1) : value.toPrecision(4);
}

const isNumber = (v) => typeof v === "number" && isFinite(v);

// Any stats shape issue-by-issue may add: numbers go into a summary, maps of numbers and
// lists of numbers (or of {label, count} bins) become bar charts, the rest is shown as JSON.
function renderStats(container, stats, prefix = "", summary = []) {
  for (const [key, value] of Object.entries(stats || {})) {
    const title = prefix ? `${prefix} · ${key}` : key;
    if (isNumber(value) || typeof value === "string" || typeof value === "boolean" || value === null) {
      summary.push([title, value]);
    } else if (Array.isArray(value) && value.length && value.every(isNumber)) {
      container.appendChild(barChart(title, value.map((v, i) => [String(i), v])));
    } else if (Array.isArray(value) && value.length && value.every((v) => v && typeof v === "object")) {
      const bins = value.map((v) => {
        const count = ["count", "n", "value", "records"].map((k) => v[k]).find(isNumber);
        const label = Object.entries(v).filter(([k]) => !["count", "n", "value", "records"].includes(k))
          .map(([, x]) => (Array.isArray(x) ? x.join("–") : x)).join(" ");
        return [label, count];
      });
      if (bins.every((b) => isNumber(b[1]))) container.appendChild(barChart(title, bins));
      else container.appendChild(jsonCard(title, value));
    } else if (value && typeof value === "object" && !Array.isArray(value)) {
      const entries = Object.entries(value);
      if (entries.length && entries.every(([, v]) => isNumber(v))) container.appendChild(barChart(title, entries));
      else if (entries.length) renderStats(container, value, title, summary);
    } else if (Array.isArray(value) && value.length) {
      container.appendChild(jsonCard(title, value));
    }
  }
  return summary;
}

function jsonCard(title, value) {
  const card = chartCard(title);
  card.appendChild(el("pre", JSON.stringify(value, null, 2)));
  return card;
}

function summaryCard(title, rows) {
  const card = chartCard(title);
  const list = el("dl", undefined, "kv");
  for (const [k, v] of rows) { list.appendChild(el("dt", k)); list.appendChild(el("dd", isNumber(v) ? formatNumber(v) : v)); }
  card.appendChild(list);
  return card;
}

function datasetPage() {
  const source = document.getElementById("stats");
  const container = document.getElementById("charts");
  if (!source || !container) return;
  const summary = renderStats(container, JSON.parse(source.textContent || "{}"));
  if (summary.length) container.insertBefore(summaryCard("summary", summary), container.firstChild);
  if (!container.children.length) container.appendChild(el("p", "No stats for this dataset.", "muted"));
}

// --- training
function trainingPage() {
  const status = document.getElementById("training-status");
  const table = document.getElementById("training-jobs");
  api("training-jobs?limit=100").then((page) => {
    const rows = (page && page.data) || [];
    status.textContent = rows.length ? "" : "No training jobs yet.";
    table.hidden = !rows.length;
    const body = table.querySelector("tbody");
    for (const job of rows) {
      const tr = document.createElement("tr");
      const link = el("a", job.id);
      link.href = "/ui/training/" + encodeURIComponent(job.id);
      const first = document.createElement("td");
      first.appendChild(link);
      tr.appendChild(first);
      for (const key of ["method", "base_model", "status", "dataset_id", "created_at"]) {
        tr.appendChild(el("td", job[key] ?? "", key === "base_model" ? "long" : undefined));
      }
      body.appendChild(tr);
    }
  }).catch((error) => {
    status.textContent = error.status === 404
      ? "Training jobs are not available on this server yet."
      : "Could not load training jobs: " + error.message;
  });
}

const STEP_KEYS = ["step", "global_step", "epoch", "id", "created_at", "time", "timestamp"];

// Metrics as a page or list of rows ({step, loss, ...} or {step, name, value}) or as
// {series: {name: [[step, value], ...]}}: all become one curve per metric name.
function curvesFrom(metrics) {
  const curves = {};
  const add = (name, step, value) => {
    if (isNumber(step) && isNumber(value)) (curves[name] = curves[name] || []).push([step, value]);
  };
  const rows = Array.isArray(metrics) ? metrics
    : metrics && ["data", "metrics", "points", "steps"].map((k) => metrics[k]).find(Array.isArray);
  if (rows) {
    rows.forEach((row, i) => {
      if (!row || typeof row !== "object") return;
      const step = [row.step, row.global_step, i].find(isNumber);
      if (typeof row.name === "string" && "value" in row) { add(row.name, step, row.value); return; }
      for (const [k, v] of Object.entries(row)) {
        if (STEP_KEYS.includes(k)) continue;
        if (isNumber(v)) add(k, step, v);
        else if (v && typeof v === "object" && !Array.isArray(v)) {
          for (const [name, x] of Object.entries(v)) add(name, step, x);
        }
      }
    });
  } else if (metrics && typeof metrics === "object") {
    const source = metrics.series && typeof metrics.series === "object" ? metrics.series : metrics;
    for (const [name, values] of Object.entries(source)) {
      if (!Array.isArray(values)) continue;
      values.forEach((v, i) => {
        if (Array.isArray(v)) add(name, v[0], v[1]);
        else if (v && typeof v === "object") add(name, [v.step, i].find(isNumber), v.value);
        else add(name, i, v);
      });
    }
  }
  return curves;
}

// A training job's fields as a definition list; an object (hyperparameters, lora, metrics)
// as a list of its own inside, so it wraps within the page instead of one long JSON line.
function fieldList(object) {
  const list = el("dl", undefined, "kv");
  for (const [k, v] of Object.entries(object)) {
    list.appendChild(el("dt", k));
    const value = el("dd");
    if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) value.appendChild(fieldList(v));
    else value.textContent = v !== null && typeof v === "object" ? JSON.stringify(v) : String(v ?? "—");
    list.appendChild(value);
  }
  return list;
}

function trainingJobPage() {
  const root = document.getElementById("training-job");
  if (!root) return;
  const id = encodeURIComponent(root.dataset.trainingJobId);
  const status = document.getElementById("training-status");
  const fields = document.getElementById("training-fields");
  const curves = document.getElementById("curves");
  const events = document.querySelector("#training-events tbody");
  const refresh = async () => {
    let job;
    try { job = await api(`training-jobs/${id}`); } catch (error) {
      status.textContent = error.status === 404
        ? "This training job was not found, or training is not available on this server yet."
        : "Could not load the training job: " + error.message;
      curves.replaceChildren(el("p", "No metrics to show.", "muted"));
      return false;
    }
    status.textContent = "";
    fields.replaceChildren(...fieldList(job).children);
    try {
      const found = curvesFrom(await api(`training-jobs/${id}/metrics`));
      const names = Object.keys(found).sort((a, b) => (b.includes("loss") - a.includes("loss")) || a.localeCompare(b));
      curves.replaceChildren(...names.map((name) => lineChart(name, found[name].sort((a, b) => a[0] - b[0]))));
      if (!names.length) curves.replaceChildren(el("p", "No metrics recorded yet.", "muted"));
    } catch (error) {
      curves.replaceChildren(el("p", error.status === 404 ? "Metrics are not available yet." : "Could not load metrics: " + error.message, "muted"));
    }
    try {
      const page = await api(`training-jobs/${id}/events?limit=500`);
      events.replaceChildren(...((page && page.data) || []).map((e) => {
        const tr = document.createElement("tr");
        for (const key of ["created_at", "level", "type", "message"]) {
          tr.appendChild(el("td", e[key] ?? "", key === "message" ? "long" : undefined));
        }
        return tr;
      }));
    } catch (_) { /* events are optional on this page */ }
    return !TERMINAL.includes(job.status);
  };
  refresh().then((live) => { if (live) every(5000, refresh); });
}

const pages = {
  jobs: jobsPage, job: jobPage, pipelines: pipelinesPage, pipeline: pipelinePage,
  dataset: datasetPage, training: trainingPage, "training-job": trainingJobPage,
};
(pages[document.body.dataset.page] || (() => {}))();
