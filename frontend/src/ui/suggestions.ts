// One row of the AI suggestions panel: segment, probability (with the detector badge), diameter,
// status, and A / R / E buttons while it is undecided. Apart from app.ts (which pulls in
// Cornerstone) so that it is tested on its own.
import type { Suggestion } from "../state/store";
import type { Decision } from "../triage/triage";
import { fmt, h } from "./dom";

export const SECOND_STAGE_TITLE = "Proposed by the second-stage blob classifier, not the segmentation network";

/** A badge for a suggestion the second stage proposed, named as the server names it; nothing for
 * the network's (or unknown). */
export function detectorBadge(detector: string, label: string): HTMLElement | null {
  if (detector !== "second_stage") return null;
  return h("span", { class: "detector-badge", text: label || detector, title: SECOND_STAGE_TITLE, "data-field": "detector" });
}

export interface RowOptions {
  selected: boolean;
  readonly: boolean;
  select: () => void;
  decide: (decision: Decision) => void;
}

export function suggestionRow(sug: Suggestion, o: RowOptions): HTMLElement {
  const act = (label: string, decision: Decision, key: string) => {
    const b = h("button", { type: "button", text: label, title: `${label} (${key})`, "data-decision": decision });
    b.disabled = o.readonly;
    b.addEventListener("click", (e) => { e.stopPropagation(); o.select(); o.decide(decision); });
    return b;
  };
  const row = h("div", { class: `suggestion${o.selected ? " selected" : ""}`, "data-finding": sug.id, "data-status": sug.status },
    h("span", { class: "swatch ai" }),
    h("span", { class: "what", text: `#${sug.segment} p ${fmt(sug.probability, 2)} · ⌀ ${fmt(sug.diameter_mm)} mm` }),
    detectorBadge(sug.detector, sug.detector_label),
    h("span", { class: `status status-${sug.status}`, text: sug.status, "data-field": "status" }),
    ...(sug.status === "suggested" ? [act("✓", "accept", "A"), act("✕", "reject", "R"), act("✎", "edit", "E")] : []),
  );
  row.addEventListener("click", o.select);
  return row;
}
