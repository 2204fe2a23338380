// The Twinkle dashboard: a single page over the server's own API.
//
// The API key is asked for once and kept in sessionStorage (this tab only); every request sends it
// as `Authorization: Bearer`, never in a URL. Views are chosen by the URL fragment (#/runs,
// #/runs/<id>, #/operator). A run's page polls its history while the run is active, so the curves
// grow as it trains. Data from the server is put into the page as text, never as HTML.
"use strict";

const KEY_STORE = "twinkle.dashboard.key";
const API = "/api/v1";
const LIVE_POLL_MS = 2000;
const OPERATOR_POLL_MS = 5000;
const HISTORY_PAGE = 1000;
const CHARTS = [
  { field: "loss", title: "Loss" },
  { field: "lr", title: "Learning rate" },
  { field: "grad_norm", title: "Grad norm" },
  { field: "tokens_per_s", title: "Throughput (tokens/s)" },
];

const state = { key: sessionStorage.getItem(KEY_STORE), user: null, timer: null, view: 0 };

// -- talking to the server ---------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, { raw = false } = {}) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${state.key}`, Accept: raw ? "*/*" : "application/json" },
    cache: "no-store",
    credentials: "omit",
  });
  if (!response.ok) {
    let code = "http_error";
    let message = `${method} ${path} answered ${response.status}`;
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch (_) {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, code, message);
  }
  if (raw) return response.blob();
  return response.status === 204 ? null : response.json();
}

const api = {
  whoami: () => request("GET", `${API}/whoami`),
  runs: (offset) => request("GET", `${API}/training_runs?limit=100&offset=${offset}`),
  run: (id) => request("GET", `${API}/training_runs/${encodeURIComponent(id)}`),
  history: (id, offset) =>
    request(
      "GET",
      `${API}/training_runs/${encodeURIComponent(id)}/history?kind=train&limit=${HISTORY_PAGE}&offset=${offset}`,
    ),
  checkpoints: (id) => request("GET", `${API}/training_runs/${encodeURIComponent(id)}/checkpoints?limit=100`),
  archive: (id, ckpt) =>
    request(
      "GET",
      `${API}/training_runs/${encodeURIComponent(id)}/checkpoints/${encodeURIComponent(ckpt)}/archive`,
      { raw: true },
    ),
  deleteCheckpoint: (id, ckpt) =>
    request("DELETE", `${API}/training_runs/${encodeURIComponent(id)}/checkpoints/${encodeURIComponent(ckpt)}`),
  operator: () => request("GET", "/dashboard/api/operator"),
};

// -- small DOM helpers -------------------------------------------------------------------------

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
  if (className) td.className = className;
  return td;
}

function fillTable(tableId, rows, makeRow) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows.map(makeRow));
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

function bytes(n) {
  if (n === null || n === undefined) return "-";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "-");

function showView(name) {
  for (const id of ["login-view", "runs-view", "run-view", "operator-view"]) $(id).hidden = id !== name;
  $("nav").hidden = name === "login-view";
  $("nav-runs").classList.toggle("current", name === "runs-view" || name === "run-view");
  $("nav-operator").classList.toggle("current", name === "operator-view");
}

function stopPolling() {
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
}

// -- signing in --------------------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  try {
    state.user = await api.whoami();
  } catch (err) {
    if (err.status === 401) {
      // Perhaps the operator token, which has no user: it may open the operator view only.
      try {
        await api.operator();
        state.user = { user_name: "operator" };
      } catch (_) {
        throw err;
      }
    } else {
      throw err;
    }
  }
  sessionStorage.setItem(KEY_STORE, key);
  $("who").textContent = state.user.user_name;
}

function signOut() {
  stopPolling();
  sessionStorage.removeItem(KEY_STORE);
  state.key = null;
  state.user = null;
  location.hash = "#/runs";
  route();
}

// -- runs --------------------------------------------------------------------------------------

async function showRuns(view) {
  showView("runs-view");
  const runs = [];
  for (let offset = 0; ; ) {
    const page = await api.runs(offset);
    runs.push(...page.training_runs);
    offset += page.training_runs.length;
    if (!page.training_runs.length || offset >= page.cursor.total_count) break;
  }
  if (view !== state.view) return;
  $("runs-empty").hidden = runs.length > 0;
  fillTable("runs-table", runs, (run) => {
    const link = document.createElement("a");
    link.href = `#/runs/${encodeURIComponent(run.training_run_id)}`;
    link.textContent = run.training_run_id;
    const first = document.createElement("td");
    first.append(link);
    const lora = run.lora_config || {};
    const targets = Array.isArray(lora.target_modules) ? lora.target_modules.join(", ") : lora.target_modules;
    const tr = row(
      first,
      cell(run.status),
      cell(run.base_model),
      cell(run.adapter_name),
      cell(lora.r, "num"),
      cell(lora.lora_alpha, "num"),
      cell(lora.lora_dropout, "num"),
      cell(targets),
      cell(run.gradient_accumulation_steps, "num"),
      cell(when(run.created_at)),
      cell(run.last_checkpoint ? run.last_checkpoint.name : null),
    );
    tr.dataset.runId = run.training_run_id;
    return tr;
  });
}

// -- one run -----------------------------------------------------------------------------------

function drawCharts(points) {
  if (typeof Plotly === "undefined") {
    $("history-note").textContent = "Charts need plotly.js, which this server does not serve (pip install plotly).";
    return;
  }
  const steps = points.map((p) => p.step);
  for (const { field, title } of CHARTS) {
    const trace = {
      x: steps,
      y: points.map((p) => p[field]),
      type: "scatter",
      mode: points.length < 60 ? "lines+markers" : "lines",
      name: title,
      line: { color: "#3b5bdb" },
    };
    const layout = {
      title: { text: title, font: { size: 14 } },
      margin: { l: 60, r: 15, t: 36, b: 40 },
      // Steps are whole numbers: no ticks between them on a short run.
      xaxis: { title: { text: "optimizer step" }, tick0: 0, dtick: Math.max(1, Math.ceil(steps.length / 10)) },
      yaxis: { exponentformat: "e" },
      height: 258,
    };
    Plotly.react($(`chart-${field}`), [trace], layout, { displaylogo: false, responsive: true });
  }
}

function showSettings(run) {
  const lora = run.lora_config || {};
  const items = [
    ["Base model", run.base_model],
    ["Adapter", run.adapter_name],
    ["LoRA", `r=${lora.r} alpha=${lora.lora_alpha} dropout=${lora.lora_dropout}`],
    ["Target modules", Array.isArray(lora.target_modules) ? lora.target_modules.join(", ") : lora.target_modules],
    ["Gradient accumulation", run.gradient_accumulation_steps],
    ["Created", when(run.created_at)],
  ];
  const nodes = [];
  for (const [term, value] of items) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value === undefined || value === null ? "-" : String(value);
    nodes.push(dt, dd);
  }
  $("run-settings").replaceChildren(...nodes);
  $("run-status").textContent = run.status;
  $("run-status").className = `badge ${run.status}`;
}

async function download(runId, ckpt) {
  const blob = await api.archive(runId, ckpt.checkpoint_id);
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = `${runId}-${ckpt.name}.tar.gz`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function showCheckpoints(runId) {
  const list = (await api.checkpoints(runId)).checkpoints;
  $("checkpoints-empty").hidden = list.length > 0;
  fillTable("checkpoints-table", list, (ckpt) => {
    const get = document.createElement("button");
    get.type = "button";
    get.textContent = "Download";
    get.className = "download";
    get.addEventListener("click", () => download(runId, ckpt).catch(showRunError));
    const drop = document.createElement("button");
    drop.type = "button";
    drop.textContent = "Delete";
    drop.className = "delete danger";
    drop.addEventListener("click", async () => {
      if (!confirm(`Delete checkpoint ${ckpt.name}? This cannot be undone.`)) return;
      try {
        await api.deleteCheckpoint(runId, ckpt.checkpoint_id);
        await showCheckpoints(runId);
      } catch (err) {
        showRunError(err);
      }
    });
    const actions = document.createElement("td");
    actions.append(get, " ", drop);
    const tr = row(
      cell(ckpt.name),
      cell(ckpt.twinkle_path),
      cell(ckpt.optimizer_step, "num"),
      cell(bytes(ckpt.size_bytes), "num"),
      cell(ckpt.has_optimizer ? "yes" : "no"),
      cell(when(ckpt.created_at)),
      actions,
    );
    tr.dataset.checkpoint = ckpt.name;
    return tr;
  });
}

function showRunError(err) {
  $("run-error").textContent = err.message;
}

async function showRun(runId, view) {
  showView("run-view");
  $("run-id").textContent = runId;
  $("run-error").textContent = "";
  $("run-settings").replaceChildren();
  const points = [];
  let run;
  try {
    run = await api.run(runId);
  } catch (err) {
    for (const { field } of CHARTS) $(`chart-${field}`).replaceChildren();
    fillTable("checkpoints-table", [], row);
    throw err;
  }
  showSettings(run);
  await showCheckpoints(runId);
  const poll = async () => {
    // Fetch the points after the ones held; a run that is training keeps adding them.
    for (;;) {
      const page = await api.history(runId, points.length);
      points.push(...page.points);
      if (!page.points.length || points.length >= page.cursor.total_count) break;
    }
    if (view !== state.view) return;
    drawCharts(points);
    $("history-note").textContent = `${points.length} optimizer steps recorded` +
      (run.status === "active" ? "; updating live." : ".");
    if (run.status === "active") {
      state.timer = setTimeout(() => {
        api.run(runId).then((fresh) => {
          run = fresh;
          showSettings(run);
        }).catch(() => {});
        poll().catch(showRunError);
      }, LIVE_POLL_MS);
    }
  };
  await poll();
}

// -- operator ----------------------------------------------------------------------------------

async function showOperator(view) {
  showView("operator-view");
  $("operator-error").textContent = "";
  let data;
  try {
    data = await api.operator();
  } catch (err) {
    $("operator-body").hidden = true;
    $("operator-error").textContent = `The operator view is for operators only: ${err.message}`;
    return;
  }
  if (view !== state.view) return;
  $("operator-body").hidden = false;
  fillTable("models-table", data.models, (m) => {
    const lp = m.last_pass;
    const last = lp ? `${lp.runs}, ${lp.rows}, ${lp.positions}, ${(lp.seconds * 1000).toFixed(1)}` : "-";
    const perPass = m.passes ? (m.fused_ops / m.passes).toFixed(2) : "-";
    // Throughput inside passes, and the share of the worker's busy time spent waiting for partners.
    const throughput = m.pass_seconds ? Math.round(m.pass_positions / m.pass_seconds) : "-";
    const busy = m.pass_seconds + m.fusion_wait_seconds;
    const waiting = busy ? `${((100 * m.fusion_wait_seconds) / busy).toFixed(1)}%` : "-";
    return row(
      cell(m.model_id),
      cell(m.state),
      cell(`${m.capacity.used} / ${m.capacity.max_loras}`, "num"),
      cell(m.queue_depth, "num"),
      cell(m.executed, "num"),
      cell(m.failed, "num"),
      cell(m.passes, "num"),
      cell(perPass, "num"),
      cell(throughput, "num"),
      cell(waiting, "num"),
      cell(last),
    );
  });
  const devices = Object.entries(data.devices).map(([name, kinds]) => ({ name, ...kinds }));
  if (!devices.length) {
    devices.push({ name: "cpu (server process resident)", allocated: data.process_resident_bytes });
  }
  fillTable("devices-table", devices, (d) =>
    row(
      cell(d.name),
      cell(bytes(d.allocated), "num"),
      cell(bytes(d.reserved), "num"),
      cell(bytes(d.peak_allocated), "num"),
      cell(bytes(d.free), "num"),
      cell(bytes(d.total), "num"),
    ),
  );
  fillTable("users-table", data.users, (u) => {
    const tr = row(
      cell(u.user_name),
      cell(u.runs, "num"),
      cell(u.active_runs, "num"),
      cell(u.checkpoints, "num"),
      cell(bytes(u.checkpoint_bytes), "num"),
      cell(u.optimizer_steps, "num"),
      cell(u.tokens_trained, "num"),
    );
    tr.dataset.user = u.user_name;
    return tr;
  });
  state.timer = setTimeout(() => showOperator(view).catch(() => {}), OPERATOR_POLL_MS);
}

// -- routing -----------------------------------------------------------------------------------

async function route() {
  stopPolling();
  state.view += 1;
  const view = state.view;
  if (!state.key) {
    showView("login-view");
    return;
  }
  if (!state.user) {
    try {
      await signIn(state.key);
    } catch (err) {
      sessionStorage.removeItem(KEY_STORE);
      state.key = null;
      showView("login-view");
      $("login-error").textContent = err.message;
      return;
    }
  }
  const hash = location.hash || "#/runs";
  const runMatch = hash.match(/^#\/runs\/([^/]+)$/);
  try {
    if (hash === "#/operator" || state.user.user_name === "operator" && !state.user.user_id) {
      await showOperator(view);
    } else if (runMatch) {
      await showRun(decodeURIComponent(runMatch[1]), view);
    } else {
      await showRuns(view);
    }
  } catch (err) {
    if (view !== state.view) return;
    if (err.status === 401) {
      signOut();
      $("login-error").textContent = err.message;
    } else if (runMatch) {
      showRunError(err);
    } else {
      $("login-error").textContent = err.message;
    }
  }
}

function start() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("api-key");
    const key = input.value.trim();
    input.value = "";
    $("login-error").textContent = "";
    try {
      await signIn(key);
    } catch (err) {
      state.key = null;
      state.user = null;
      $("login-error").textContent = err.message;
      return;
    }
    route();
  });
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  route();
}

document.addEventListener("DOMContentLoaded", start);
