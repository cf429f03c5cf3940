// Pure triage logic (no DOM, no Cornerstone): ordering and keyboard navigation of suggestions.
import type { Suggestion } from "../state/store";

export const PENDING = "suggested";

/** Most confident first; ties by slice so the reader moves through the volume in order. */
export function orderSuggestions(list: Suggestion[]): Suggestion[] {
  const z = (s: Suggestion) => s.centroid_voxel?.[0] ?? 0;
  return [...list].sort((a, b) => (b.probability ?? 0) - (a.probability ?? 0) || z(a) - z(b) || a.id - b.id);
}

/** N / P: the next or previous item after `current` (wrapping); the first (or last) when none is selected. */
export function step<T>(items: T[], current: T | null | undefined, dir: 1 | -1): T | null {
  if (!items.length) return null;
  const i = current === null || current === undefined ? -1 : items.indexOf(current);
  if (i < 0) return dir === 1 ? items[0] : items[items.length - 1];
  return items[(i + dir + items.length) % items.length];
}

/** After a decision: the next suggestion still pending after `id` (wrapping), or null when all are decided. */
export function nextPending(list: Suggestion[], id: number): Suggestion | null {
  const i = list.findIndex((s) => s.id === id);
  for (let k = 1; k <= list.length; k++) {
    const s = list[(i + k + list.length) % list.length];
    if (s.status === PENDING && s.id !== id) return s;
  }
  return null;
}
