// /tasks/: live AI job progress and task states without reload (NodusLive from ml/live.js).
// Each project's topic carries job.* and task.* events; a reconnect or a seq gap re-reads the
// jobs over REST. Text only (textContent), no inline script or style (CSP).
(function () {
  "use strict";
  const table = document.getElementById("task-table");
  if (!table || !window.NodusLive) return;
  const rows = new Map();
  for (const tr of table.querySelectorAll("tr[data-task]")) rows.set(Number(tr.dataset.task), tr);
  const projects = [...new Set([...rows.values()].map((tr) => tr.dataset.project).filter(Boolean))];
  const newest = new Map(); // task id → newest job id shown

  function render(job) {
    const tr = rows.get(Number(job.task));
    if (!tr) return;
    const id = Number(job.job ?? job.id);
    if ((newest.get(Number(job.task)) ?? 0) > id) return; // an older job's late event
    newest.set(Number(job.task), id);
    const cell = tr.querySelector("[data-field=ai]");
    const bar = document.createElement("progress");
    bar.max = 1;
    bar.value = job.state === "succeeded" ? 1 : Number(job.progress || 0);
    const text = document.createElement("span");
    const pct = Math.round(100 * bar.value);
    text.textContent = job.state === "running" ? ` ${job.stage || "running"} ${pct}%`
      : job.state === "failed" ? ` failed: ${job.error || ""}` : ` ${job.state}`;
    cell.dataset.state = job.state;
    cell.replaceChildren(...(job.state === "running" || job.state === "queued" ? [bar, text] : [text]));
  }

  function setState(task, state) {
    const span = rows.get(Number(task))?.querySelector(".state");
    if (!span || !state) return;
    span.className = `state state-${state}`;
    span.textContent = state.replace("_", " ");
  }

  async function resync(slug) {
    const r = await fetch(`/api/v1/jobs/?project=${encodeURIComponent(slug)}&page_size=200`, { credentials: "same-origin" });
    if (!r.ok) return;
    const jobs = (await r.json()).results || [];
    for (const job of jobs.slice().reverse()) if (job.task) render(job); // oldest first: the newest wins
  }

  const live = new window.NodusLive();
  live.onstate = (s) => { table.dataset.live = s; };
  for (const slug of projects) {
    live.subscribe(`project.${slug}`, (ev) => {
      if (ev.type.startsWith("job.") && ev.data.task) render(ev.data);
      else if (ev.type.startsWith("task.")) setState(ev.data.task, ev.data.state);
    }, () => void resync(slug));
  }
  for (const slug of projects) void resync(slug);
  live.connect();
})();
