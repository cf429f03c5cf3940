// Dashboard: live jobs and runs over the websocket, a small SVG line chart (no libraries, no inline JS).
(function () {
  "use strict";
  const root = document.getElementById("dashboard");
  if (!root) return;
  const project = root.dataset.project;
  const csrf = root.dataset.csrf;
  const errorBox = document.getElementById("dash-error");
  const SVG = "http://www.w3.org/2000/svg";
  const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4"];

  async function api(method, url, body, isForm) {
    const opts = { method, credentials: "same-origin", headers: { "X-CSRFToken": csrf } };
    if (body !== undefined) {
      if (isForm) opts.body = body; else { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
    }
    const res = await fetch(url, opts);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.detail || res.statusText);
    return data;
  }
  function fail(err) { if (errorBox) errorBox.textContent = err.message; }

  // --- chart: series = [{name, points: [[x, y], ...]}] ---------------------------------------
  function drawChart(svg, series, xLabel) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const W = Number(svg.getAttribute("width")), H = Number(svg.getAttribute("height")), P = 32;
    const all = series.flatMap((s) => s.points).filter((p) => p[1] !== null && isFinite(p[1]));
    if (!all.length) return;
    const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1), y0 = Math.min(0, ...ys), y1 = Math.max(...ys, y0 + 1e-6);
    const sx = (x) => P + ((x - x0) / (x1 - x0)) * (W - 2 * P);
    const sy = (y) => H - P - ((y - y0) / (y1 - y0)) * (H - 2 * P);
    const axis = document.createElementNS(SVG, "path");
    axis.setAttribute("d", `M${P},${P / 2}V${H - P}H${W - P / 2}`);
    axis.setAttribute("stroke", "#888"); axis.setAttribute("fill", "none");
    svg.appendChild(axis);
    const label = (x, y, text) => { const t = document.createElementNS(SVG, "text"); t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("font-size", "10"); t.textContent = text; svg.appendChild(t); return t; };
    label(2, sy(y1) + 4, y1.toFixed(3)); label(2, sy(y0), y0.toFixed(2)); label(W - P - 40, H - 4, `${xLabel} ${x1}`);
    series.forEach((s, i) => {
      const pts = s.points.filter((p) => p[1] !== null && isFinite(p[1]));
      if (!pts.length) return;
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", pts.map((p, j) => `${j ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(""));
      path.setAttribute("stroke", COLORS[i % COLORS.length]); path.setAttribute("fill", "none"); path.setAttribute("stroke-width", "1.5");
      path.setAttribute("data-series", s.name); path.setAttribute("data-points", String(pts.length));
      svg.appendChild(path);
      label(W - 110, 12 + i * 12, s.name).setAttribute("fill", COLORS[i % COLORS.length]);
    });
  }

  // --- training curve ----------------------------------------------------------------------------
  const lossChart = document.getElementById("loss-chart");
  let curveRun = null, history = [];
  function drawCurve() {
    drawChart(lossChart, [
      { name: "loss", points: history.map((h) => [h.iteration, h.loss]) },
      // training.finetune reports validation as `val_dice` (older runs: `dice`)
      { name: "val dice", points: history.map((h) => [h.iteration, h.val_dice ?? h.dice]).filter((p) => p[1] !== undefined && p[1] !== null) },
    ], "iteration");
  }
  async function loadRun(id) {
    const run = await api("GET", `/api/v1/training-runs/${id}/`);
    if (curveRun === id) { history = run.history || []; drawCurve(); setRunState(id, run.state); }
  }
  function followRun(id) {
    curveRun = id; history = [];
    document.getElementById("curve-run").textContent = `run #${id}`;
    live.subscribe(`training.${id}`, (ev) => {
      if (ev.type === "training.progress" && ev.data.point) { history.push(ev.data.point); drawCurve(); }
      else setRunState(id, ev.data.state);
    }, () => loadRun(id));
    loadRun(id);
  }
  function addRunRow(d) {
    const body = document.querySelector("#runs tbody");
    if (!body || document.querySelector(`#runs tr[data-run="${d.run}"]`)) return;
    const empty = body.querySelector("tr:not([data-run])");
    if (empty) empty.remove();
    const row = document.createElement("tr");
    row.dataset.run = String(d.run); row.dataset.state = d.state;
    const cells = [`#${d.run}`, d.state, d.trigger || "", d.base_version ? `version ${d.base_version}` : "", "—", "", ""];
    cells.forEach((text, i) => { const td = document.createElement("td"); td.textContent = text; if (i === 1) td.className = "state-cell"; row.appendChild(td); });
    const cancel = document.createElement("button");
    cancel.textContent = "Cancel"; cancel.dataset.runAction = "cancel";
    cancel.addEventListener("click", () => api("POST", `/api/v1/training-runs/${d.run}/cancel/`, {}).catch(fail));
    row.lastChild.appendChild(cancel);
    body.insertBefore(row, body.firstChild);
  }
  function setRunState(id, state) {
    const row = document.querySelector(`#runs tr[data-run="${id}"]`);
    if (row && state) { row.querySelector(".state-cell").textContent = state; row.dataset.state = state; }
  }

  // --- jobs --------------------------------------------------------------------------------------
  function updateJob(d) {
    const row = document.querySelector(`#jobs tr[data-job="${d.job}"]`);
    if (!row) return;
    row.querySelector(".state-cell").textContent = d.state;
    row.querySelector("progress").value = d.progress;
    row.querySelector(".stage").textContent = d.stage || "";
    row.querySelector(".error-cell").textContent = d.error || "";
  }

  const live = new window.NodusLive();
  live.onstate = (s) => { document.getElementById("ws-state").textContent = s; };
  live.subscribe(`project.${project}`, (ev) => {
    if (ev.type.startsWith("job.")) {
      if (!document.querySelector(`#jobs tr[data-job="${ev.data.job}"]`) && ev.type === "job.queued") location.reload();
      else updateJob(ev.data);
    } else if (ev.type === "training.queued") {
      addRunRow(ev.data);  // a new run joins the table live; its curve keeps drawing without reload
    } else if (ev.type === "training.finished" || ev.type === "model.activated" || ev.type === "model.validated") {
      location.reload();
    } else if (ev.type.startsWith("training.")) setRunState(ev.data.run, ev.data.state);
  });
  live.connect();

  const open = document.querySelector('#runs tr[data-state="running"], #runs tr[data-state="queued"], #runs tr[data-state="evaluating"]')
    || document.querySelector("#runs tr[data-run]");
  if (open) followRun(Number(open.dataset.run));

  // --- metrics across versions -------------------------------------------------------------------
  const vm = JSON.parse(document.getElementById("version-metrics").textContent || "[]");
  const vchart = document.getElementById("versions-chart");
  if (vchart) drawChart(vchart, ["dice", "sensitivity", "precision", "f1"].map((k) => ({
    name: k, points: vm.map((v, i) => [i + 1, v.metrics[k] === undefined ? null : v.metrics[k]]),
  })), "version #");

  // --- actions -------------------------------------------------------------------------------------
  document.querySelectorAll("#versions button[data-model-action]").forEach((b) => b.addEventListener("click", async () => {
    const id = b.closest("tr").dataset.version, act = b.dataset.modelAction;
    try {
      if (act === "discard") await api("POST", `/api/v1/models/${id}/discard/`, {});
      else await api("POST", `/api/v1/models/${id}/promote/`, { reason: act === "rollback" ? "rollback" : "promote" });
      location.reload();
    } catch (e) { fail(e); }
  }));
  document.querySelectorAll("#jobs button[data-job-action]").forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", `/api/v1/jobs/${b.closest("tr").dataset.job}/retry/`, {}); location.reload(); } catch (e) { fail(e); }
  }));
  document.querySelectorAll("#runs button[data-run-action]").forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", `/api/v1/training-runs/${b.closest("tr").dataset.run}/cancel/`, {}); } catch (e) { fail(e); }
  }));
  document.getElementById("train-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      let extra = {};
      if (f.advanced && f.advanced.value.trim()) {
        try { extra = JSON.parse(f.advanced.value); } catch (_) { throw new Error("advanced settings must be a JSON object"); }
        if (!extra || typeof extra !== "object" || Array.isArray(extra)) throw new Error("advanced settings must be a JSON object");
      }
      const config = { ...extra, max_epochs: Number(f.max_epochs.value), max_minutes: Number(f.max_minutes.value) };
      const run = await api("POST", "/api/v1/training-runs/", { project, config });
      addRunRow({ run: run.id, state: run.state, trigger: run.trigger, base_version: run.base_version });
      followRun(run.id);
    } catch (err) { fail(err); }
  });
  document.getElementById("import-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const fd = new FormData(e.target); fd.append("project", project);
    try { await api("POST", "/api/v1/models/", fd, true); location.reload(); } catch (err) { fail(err); }
  });
  document.getElementById("schedule-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target.elements;
    try {
      await api("PUT", "/api/v1/training-runs/schedule/", { project, enabled: f.enabled.checked, nightly: f.nightly.checked, hour: Number(f.hour.value), min_new_labels: Number(f.min_new_labels.value) });
      fail({ message: "schedule saved" });
    } catch (err) { fail(err); }
  });
})();
