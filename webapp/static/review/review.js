// Review page: per-finding accept/reject and task decisions through the REST API (no inline JS: CSP).
(function () {
  "use strict";
  const root = document.getElementById("review");
  if (!root) return;
  const task = Number(root.dataset.task);
  const csrf = root.dataset.csrf;
  const errorBox = document.getElementById("review-error");

  async function post(url, body) {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.detail || res.statusText);
    return data;
  }
  function show(err) { if (errorBox) errorBox.textContent = err.message; else alert(err.message); }

  document.querySelectorAll("#findings button[data-action]").forEach((btn) => {
    btn.addEventListener("click", async () => {
      const row = btn.closest("tr");
      const finding = Number(row.dataset.finding);
      const action = btn.dataset.action;
      try {
        if (action === "comment") {
          const comment = prompt("Comment on this finding");
          if (!comment) return;
          await post("/api/v1/reviews/", { task, finding, decision: "comment", comment });
          location.reload();
          return;
        }
        const decision = action === "accept" ? "accept_finding" : "reject_finding";
        await post("/api/v1/reviews/", { task, finding, decision });
        row.querySelector(".status").textContent = action === "accept" ? "accepted" : "rejected";
      } catch (err) { show(err); }
    });
  });

  const form = document.getElementById("review-form");
  if (form) {
    form.querySelectorAll("button[data-decision]").forEach((btn) => {
      btn.addEventListener("click", async () => {
        const comment = form.elements.comment.value;
        const slice = form.elements.slice_index.value;
        const body = { task, decision: btn.dataset.decision, comment };
        if (slice !== "") body.slice_index = Number(slice);
        try {
          await post("/api/v1/reviews/", body);
          location.href = btn.dataset.decision === "comment" ? location.href : "/review/";
        } catch (err) { show(err); }
      });
    });
  }
})();
