// The viewer's UI: toolbar, overlay, progress, findings panel, history, help, conflict dialog,
// keyboard shortcuts. Reads the Store, calls Viewer methods.
import { Enums as csEnums, eventTarget } from "@cornerstonejs/core";
import type { Finding, State, Store } from "../state/store";
import type { Triage } from "../triage/triage";
import type { Viewer } from "../viewer";
import { byId, h } from "./dom";
import { commandFor, PRESETS, SHORTCUTS } from "./keymap";
import { suggestionRow } from "./suggestions";

const TOOLS: [string, string][] = [
  ["WindowLevel", "W/L"], ["Pan", "Pan"], ["Zoom", "Zoom"], ["Length", "Length"], ["Brush", "Brush"],
  ["Eraser", "Eraser"], ["ThresholdBrush", "Threshold"], ["SphereBrush", "Sphere"],
  ["RectangleScissors", "Rect ✂"], ["CircleScissors", "Circle ✂"], ["LassoScissors", "Lasso ✂"],
  ["Crosshairs", "Crosshairs"],
];

export function mountUi(viewer: Viewer, store: Store, triage: Triage): void {
  ctx = { viewer, store, triage };
  toolbar(viewer, store);
  triagePanel(triage, store);
  jobStatus(store);
  overlay(viewer);
  progress(store);
  findingsPanel(viewer, store);
  history(viewer, store);
  saveStatus(viewer, store);
  conflict(store);
  help();
  keyboard(viewer, store);
}

let ctx: { viewer: Viewer; store: Store; triage: Triage } | null = null;

/** AI suggestions: one row each (probability and detector, diameter, status), A / R / E buttons on undecided ones. */
function triagePanel(triage: Triage, store: Store): void {
  const root = byId("suggestions");
  const toggle = byId<HTMLInputElement>("ai-visible");
  toggle.addEventListener("change", () => store.set({ aiVisible: toggle.checked }));
  store.subscribe((s, prev) => {
    toggle.checked = s.aiVisible;
    if (s !== prev && s.suggestions === prev.suggestions && s.selectedSuggestion === prev.selectedSuggestion && s.saveStatus === prev.saveStatus && s.job === prev.job) return;
    byId("ai-panel").hidden = s.suggestions.length === 0 && s.job === null;
    const pending = s.suggestions.filter((x) => x.status === "suggested").length;
    byId("ai-count").textContent = s.suggestions.length ? `${pending} of ${s.suggestions.length} to triage` : "";
    const ro = s.saveStatus === "readonly";
    root.replaceChildren(...s.suggestions.map((sug) => suggestionRow(sug, {
      selected: sug.id === s.selectedSuggestion, readonly: ro,
      select: () => triage.select(sug), decide: (decision) => void triage.decide(decision),
    })));
    root.querySelector(".suggestion.selected")?.scrollIntoView({ block: "nearest" });
  });
}

/** The series' pre-annotation job: a progress bar while it runs, its outcome after. */
function jobStatus(store: Store): void {
  const el = byId("job-status");
  store.subscribe((s, prev) => {
    if (s !== prev && s.job === prev.job && s.live === prev.live) return;
    const j = s.job;
    el.hidden = j === null;
    if (!j) return;
    el.dataset.state = j.state;
    const pct = Math.round(100 * (j.state === "succeeded" ? 1 : j.progress));
    const text = j.state === "running" ? `AI running · ${j.stage || "…"} · ${pct}%`
      : j.state === "queued" ? "AI queued" : j.state === "failed" ? `AI failed: ${j.error}` : `AI ${j.state}`;
    el.replaceChildren(
      h("div", { class: "job-bar" }, h("div", { class: "fill", style: `width:${pct}%` })),
      h("span", { text, "data-field": "job-text" }),
      h("span", { class: "muted", text: s.live ? ` · ${s.live}` : "" }),
    );
  });
}

function toolbar(viewer: Viewer, store: Store): void {
  const bar = byId("toolbar");
  const tools = h("div", { class: "group" });
  for (const [name, label] of TOOLS) {
    const b = h("button", { type: "button", "data-tool": name, text: label });
    b.addEventListener("click", () => viewer.setTool(name));
    tools.append(b);
  }
  const presets = h("div", { class: "group" });
  for (const [key, p] of Object.entries(PRESETS)) {
    const b = h("button", { type: "button", "data-preset": key, text: p.label });
    b.addEventListener("click", () => viewer.preset(key));
    presets.append(b);
  }
  const size = h("input", { type: "range", min: 1, max: 40, value: store.get().brushSize, id: "brush-size", title: "Brush size" });
  size.addEventListener("input", () => store.set({ brushSize: Number(size.value) }));
  const lo = h("input", { type: "number", id: "thr-lo", value: store.get().threshold[0], title: "Threshold low (HU)", style: "width:5em" });
  const hi = h("input", { type: "number", id: "thr-hi", value: store.get().threshold[1], title: "Threshold high (HU)", style: "width:5em" });
  const thr = () => store.set({ threshold: [Number(lo.value), Number(hi.value)] });
  lo.addEventListener("change", thr);
  hi.addEventListener("change", thr);
  const act = (label: string, id: string, fn: () => void) => {
    const b = h("button", { type: "button", id, text: label });
    b.addEventListener("click", fn);
    return b;
  };
  const opacity = h("input", { type: "range", min: 0, max: 100, value: Math.round(store.get().opacity * 100), id: "opacity", title: "Label opacity" });
  opacity.addEventListener("input", () => store.set({ opacity: Number(opacity.value) / 100 }));
  bar.append(
    tools, presets,
    h("div", { class: "group" }, h("label", { text: "Size " }), size, h("label", { text: " HU " }), lo, hi, h("label", { text: " Opacity " }), opacity),
    h("div", { class: "group" },
      act("Undo", "undo", () => viewer.undo()), act("Redo", "redo", () => viewer.redo()),
      act("Interpolate", "interpolate", () => viewer.interpolateActive()),
      act("MPR", "layout", () => void viewer.toggleLayout()), act("Cine", "cine", () => viewer.toggleCine()),
      act("AI", "ai-toggle", () => store.set({ aiVisible: !store.get().aiVisible })),
      act("?", "help-button", () => toggleHelp()),
    ),
    h("div", { class: "group right" },
      act("Save", "save", () => void viewer.saver.save()),
      act("Submit", "submit", () => void viewer.submit()),
    ),
  );
  store.subscribe((s) => {
    for (const b of bar.querySelectorAll<HTMLButtonElement>("button[data-tool]")) b.classList.toggle("active", b.dataset.tool === s.tool);
    const ro = s.saveStatus === "readonly";
    for (const id of ["save", "submit", "interpolate", "undo", "redo"]) (byId(id) as HTMLButtonElement).disabled = ro;
  });
}

function overlay(viewer: Viewer): void {
  const el = byId("overlay");
  const o = viewer.cfg.overlay;
  const left = h("div", { class: "tl" },
    h("div", { text: o.patientName, "data-field": "patient-name" }),
    h("div", { text: `ID ${o.patientId}${o.sex ? " · " + o.sex : ""}${o.birthDate ? " · " + o.birthDate : ""}` }),
    h("div", { text: `${o.studyDate} ${o.studyDescription}` }),
    h("div", { text: `${viewer.cfg.modality} · ${o.seriesDescription}` }),
  );
  const right = h("div", { class: "tr" });
  el.append(left, right);
  const update = () => {
    const vp = viewer.viewport();
    if (!vp) return;
    let slice = "";
    try {
      slice = `Slice ${vp.getSliceIndex() + 1} / ${vp.getNumberOfSlices()}`;
    } catch {
      /* not ready */
    }
    const voi = vp.getProperties?.()?.voiRange;
    const wl = voi ? `W ${Math.round(voi.upper - voi.lower)} L ${Math.round((voi.upper + voi.lower) / 2)}` : "";
    right.replaceChildren(h("div", { text: slice, "data-field": "slice" }), h("div", { text: wl, "data-field": "wl" }));
  };
  for (const ev of [csEnums.Events.VOI_MODIFIED, csEnums.Events.CAMERA_MODIFIED, csEnums.Events.VOLUME_NEW_IMAGE]) {
    eventTarget.addEventListener(ev, update);
    document.addEventListener(ev, update, true);
  }
  setInterval(update, 500);
}

function progress(store: Store): void {
  const box = byId("progress");
  const bar = byId("progress-bar");
  const text = byId("progress-text");
  store.subscribe((s) => {
    const pct = s.total ? Math.round((100 * s.loaded) / s.total) : 0;
    bar.style.width = `${pct}%`;
    text.textContent = s.total ? `Loading ${s.loaded} / ${s.total} slices` : "Loading…";
    box.hidden = s.total > 0 && s.loaded >= s.total;
  });
}

function findingsPanel(viewer: Viewer, store: Store): void {
  const root = byId("findings");
  const schema = viewer.cfg.schema;
  const add = h("button", { type: "button", id: "new-finding", text: "+ New finding" });
  add.addEventListener("click", () => viewer.addFinding());
  root.before(add);
  const row = (f: Finding, s: State): HTMLElement => {
    const active = f.segment === s.activeSegment;
    const color = schema.classes.find((c) => c.name === f.label_class)?.color ?? "#f00";
    const cls = h("select", { "data-field": "class" });
    for (const c of schema.classes) cls.append(h("option", { value: c.name, text: c.name, selected: c.name === f.label_class }));
    const readonly = s.saveStatus === "readonly";
    cls.disabled = readonly;
    const update = (patch: Partial<Finding>) => {
      store.set({ findings: store.get().findings.map((x) => (x.segment === f.segment ? { ...x, ...patch } : x)) });
      viewer.saver.markDirty();
    };
    cls.addEventListener("change", () => update({ label_class: cls.value }));
    const attrs = h("div", { class: "attrs" });
    for (const a of schema.attributes) {
      const value = f.attributes[a.name];
      let input: HTMLInputElement | HTMLSelectElement;
      if (a.type === "bool") input = h("input", { type: "checkbox", checked: value === true });
      else if (a.type === "choice") {
        input = h("select", {}, h("option", { value: "", text: "—" }));
        for (const c of a.choices ?? []) input.append(h("option", { value: c, text: c, selected: value === c }));
      } else input = h("input", { type: a.type === "int" ? "number" : "text", min: a.min, max: a.max, value: value === undefined ? "" : String(value), style: "width:4em" });
      input.disabled = readonly;
      input.dataset.attr = a.name;
      input.addEventListener("change", () => {
        const next = { ...store.finding(f.segment)!.attributes };
        const raw = input instanceof HTMLInputElement && input.type === "checkbox" ? input.checked : input.value;
        if (raw === "") delete next[a.name];
        else next[a.name] = a.type === "int" ? Number(raw) : raw;
        update({ attributes: next });
      });
      attrs.append(h("label", {}, a.name.replace(/_/g, " "), input));
    }
    const measure = f.diameter_mm != null ? `⌀ ${f.diameter_mm} mm · ${f.volume_mm3} mm³` : "measured on save";
    const eye = h("button", { type: "button", title: "Show/hide", text: f.visible ? "👁" : "–", "data-action": "visibility" });
    eye.addEventListener("click", (e) => { e.stopPropagation(); update({ visible: !f.visible }); });
    const jump = h("button", { type: "button", title: "Jump to", text: "⤢", "data-action": "jump" });
    jump.addEventListener("click", (e) => { e.stopPropagation(); viewer.jumpTo(f); });
    const del = h("button", { type: "button", title: "Delete finding", text: "✕", "data-action": "delete", class: "danger" });
    del.disabled = readonly;
    del.addEventListener("click", (e) => { e.stopPropagation(); if (confirm(`Delete finding ${f.segment}?`)) viewer.deleteFinding(f.segment); });
    const el = h("div", { class: `finding${active ? " active" : ""}`, "data-segment": f.segment },
      h("div", { class: "head" }, h("span", { class: "swatch", style: `background:${color}` }), h("strong", { text: `#${f.segment}` }), cls, eye, jump, del),
      h("div", { class: "measure", text: `${measure}${f.source ? ` · ${f.source}/${f.status}` : ""}`, "data-field": "measure" }),
      attrs,
    );
    el.addEventListener("click", () => { store.set({ activeSegment: f.segment }); viewer.jumpTo(f); });
    return el;
  };
  store.subscribe((s, prev) => {
    if (s !== prev && s.findings === prev.findings && s.activeSegment === prev.activeSegment && s.saveStatus === prev.saveStatus) return;
    const focused = document.activeElement as HTMLElement | null;
    if (focused && root.contains(focused) && s.activeSegment === prev.activeSegment && s.saveStatus === prev.saveStatus) return;
    root.replaceChildren(...(s.findings.length ? s.findings.map((f) => row(f, s)) : [h("p", { class: "muted", text: "No findings. Press + to add one, then paint." })]));
    add.toggleAttribute("disabled", s.saveStatus === "readonly");
  });
}

function history(viewer: Viewer, store: Store): void {
  const root = byId("history");
  store.subscribe((s, prev) => {
    if (s.history === prev.history && s !== prev) return;
    root.replaceChildren(...s.history.map((r) => {
      const li = h("li", { "data-revision": r.id },
        h("span", { text: `#${r.id} ${r.author ?? "model"} · ${new Date(r.created).toLocaleTimeString()}${r.message ? " · " + r.message : ""}` }));
      if (!r.is_head && s.saveStatus !== "readonly") {
        const b = h("button", { type: "button", text: "Restore" });
        b.addEventListener("click", () => void viewer.restore(r.id));
        li.append(b);
      } else if (r.is_head) li.append(h("em", { text: " (current)" }));
      return li;
    }));
  });
  store.subscribe((s, prev) => {
    if (s.headRevision !== prev.headRevision) void viewer.loadHistory();
  });
}

function saveStatus(viewer: Viewer, store: Store): void {
  const el = byId("save-status");
  store.subscribe((s) => {
    el.dataset.status = s.saveStatus;
    el.replaceChildren(h("span", { class: "dot" }), h("span", { text: ` ${s.message || s.saveStatus}` }), h("span", { class: "muted", text: ` · task ${s.taskState}` }));
  });
  window.addEventListener("beforeunload", (e) => {
    const st = store.get().saveStatus;
    if (st === "dirty" || st === "saving" || st === "error") {
      void viewer.saver.save();
      e.preventDefault();
    }
  });
}

function conflict(store: Store): void {
  const el = byId("conflict");
  store.subscribe((s) => {
    el.hidden = s.saveStatus !== "conflict";
    if (el.hidden) return;
    const reload = h("button", { type: "button", class: "primary", id: "conflict-reload", text: "Reload the current labels" });
    reload.addEventListener("click", () => location.reload());
    el.replaceChildren(
      h("h2", { text: "Conflict: these labels were changed elsewhere" }),
      h("p", { text: `${s.message}${s.conflictWith ? ` (current revision ${s.conflictWith})` : ""}. Your changes were not saved over them.` }),
      reload,
    );
  });
}

function help(): void {
  const el = byId("help");
  const rows = SHORTCUTS.map((s) => h("tr", {}, h("td", {}, ...s.keys.map((k) => h("kbd", { text: k }))), h("td", { text: s.label })));
  el.append(h("div", { class: "help-box" }, h("h2", { text: "Keyboard shortcuts" }), h("table", {}, ...rows), h("p", { class: "muted", text: "Mouse: left = active tool, middle = pan, right = zoom, wheel = scroll." })));
  el.addEventListener("click", () => (el.hidden = true));
}

function toggleHelp(force?: boolean): void {
  const el = byId("help");
  el.hidden = force === undefined ? !el.hidden : !force;
}

function keyboard(viewer: Viewer, store: Store): void {
  document.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    const cmd = commandFor(e);
    if (!cmd) return;
    e.preventDefault();
    run(viewer, store, cmd);
  });
}

export function run(viewer: Viewer, store: Store, cmd: string): void {
  const [name, arg] = cmd.split(":");
  switch (name) {
    case "tool": viewer.setTool(arg); break;
    case "preset": viewer.preset(arg); break;
    case "scroll": viewer.scroll(Number(arg)); break;
    case "brush": store.set({ brushSize: Math.max(1, Math.min(40, store.get().brushSize + (arg === "larger" ? 1 : -1))) }); break;
    case "cine": viewer.toggleCine(); break;
    case "layout": void viewer.toggleLayout(); break;
    case "finding":
      if (arg === "new") viewer.addFinding();
      else ctx?.triage.navigate(arg === "next" ? 1 : -1);
      break;
    case "triage": void ctx?.triage.decide(arg as "accept" | "reject" | "edit"); break;
    case "ai": store.set({ aiVisible: !store.get().aiVisible }); break;
    case "segments": store.set({ labelsVisible: !store.get().labelsVisible }); break;
    case "undo": viewer.undo(); break;
    case "redo": viewer.redo(); break;
    case "save": void viewer.saver.save(); break;
    case "interpolate": viewer.interpolateActive(); break;
    case "help": toggleHelp(); break;
    case "close": toggleHelp(false); break;
  }
}
