// Upload page: one request per file (zips expanded by the server), 3 in flight, per-file progress.
// Results are written with textContent only: file names and reasons are never parsed as HTML.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const api = document.getElementById("upload").dataset.api;
  const rows = document.getElementById("upload-rows");
  const summary = document.getElementById("upload-summary");
  const csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;

  function row(name) {
    const tr = document.createElement("tr");
    const [a, b, c] = [0, 1, 2].map(() => document.createElement("td"));
    a.textContent = name;
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    b.appendChild(bar);
    tr.append(a, b, c);
    rows.appendChild(tr);
    return { bar, result: c };
  }

  function send(file, project, ui, totals) {
    return new Promise((resolve) => {
      const data = new FormData();
      data.append("project", project);
      const name = file.webkitRelativePath || file.name;
      data.append("file", file, file.name);
      data.append("path:" + file.name, name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", api);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) ui.bar.value = (100 * e.loaded) / e.total; };
      xhr.onload = () => {
        ui.bar.value = 100;
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = { detail: xhr.statusText }; }
        const files = body.files || [];
        for (const f of files) totals[f.status] = (totals[f.status] || 0) + 1;
        const refused = files.filter((f) => f.status === "refused");
        ui.result.textContent = refused.length
          ? refused.map((f) => `${f.file}: refused [${f.rule}] ${f.reason}`).join("; ")
          : files.length ? files.map((f) => f.status).filter((v, i, a) => a.indexOf(v) === i).join(", ")
          : `error ${xhr.status}: ${body.detail || ""}`;
        if (!files.length) totals.refused = (totals.refused || 0) + 1;
        resolve();
      };
      xhr.onerror = () => { ui.result.textContent = "network error"; totals.refused = (totals.refused || 0) + 1; resolve(); };
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const project = document.getElementById("upload-project").value;
    const files = [...document.getElementById("upload-files").files, ...document.getElementById("upload-folder").files];
    rows.textContent = "";
    const totals = {};
    const queue = files.map((f) => [f, row(f.webkitRelativePath || f.name)]);
    const workers = Array.from({ length: 3 }, async () => {
      while (queue.length) { const [f, ui] = queue.shift(); await send(f, project, ui, totals); }
    });
    summary.textContent = `Uploading ${files.length} file(s)…`;
    await Promise.all(workers);
    summary.textContent = `Done: ${totals.stored || 0} stored, ${totals.present || 0} already present, ${totals.refused || 0} refused.`;
  });
})();
