// Keyboard shortcuts as data (OHIF-like); the help overlay is generated from this table.

export interface Shortcut {
  keys: string[];
  command: string;
  label: string;
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ["w"], command: "tool:WindowLevel", label: "Window/level (drag)" },
  { keys: ["g"], command: "tool:Pan", label: "Pan (grab)" },
  { keys: ["z"], command: "tool:Zoom", label: "Zoom" },
  { keys: ["l"], command: "tool:Length", label: "Length measurement" },
  { keys: ["b"], command: "tool:Brush", label: "Brush" },
  { keys: ["x"], command: "tool:Eraser", label: "Eraser" },
  { keys: ["t"], command: "tool:ThresholdBrush", label: "Threshold brush (HU range)" },
  { keys: ["s"], command: "tool:SphereBrush", label: "Sphere brush" },
  { keys: ["q"], command: "tool:RectangleScissors", label: "Rectangle scissors" },
  { keys: ["f"], command: "tool:CircleScissors", label: "Circle scissors" },
  { keys: ["d"], command: "tool:LassoScissors", label: "Freehand (lasso) scissors: fill inside, Shift erases" },
  { keys: ["c"], command: "tool:Crosshairs", label: "Crosshairs (MPR)" },
  { keys: ["i"], command: "interpolate", label: "Interpolate active finding between slices" },
  { keys: ["["], command: "brush:smaller", label: "Smaller brush" },
  { keys: ["]"], command: "brush:larger", label: "Larger brush" },
  { keys: ["arrowup", "arrowleft"], command: "scroll:-1", label: "Previous slice" },
  { keys: ["arrowdown", "arrowright"], command: "scroll:1", label: "Next slice" },
  { keys: ["pageup"], command: "scroll:-10", label: "10 slices back" },
  { keys: ["pagedown"], command: "scroll:10", label: "10 slices forward" },
  { keys: ["1"], command: "preset:lung", label: "W/L lung" },
  { keys: ["2"], command: "preset:mediastinum", label: "W/L mediastinum" },
  { keys: ["3"], command: "preset:bone", label: "W/L bone" },
  { keys: ["4"], command: "preset:brain", label: "W/L brain" },
  { keys: ["5"], command: "preset:liver", label: "W/L liver" },
  { keys: ["space"], command: "cine", label: "Cine play/stop" },
  { keys: ["m"], command: "layout:toggle", label: "Stack / MPR layout" },
  { keys: ["+", "insert"], command: "finding:new", label: "New finding" },
  { keys: ["n"], command: "finding:next", label: "Next finding / AI suggestion (jumps to its slice)" },
  { keys: ["p"], command: "finding:previous", label: "Previous finding / AI suggestion" },
  { keys: ["a"], command: "triage:accept", label: "Accept the selected AI suggestion (joins your label)" },
  { keys: ["r"], command: "triage:reject", label: "Reject the selected AI suggestion" },
  { keys: ["e"], command: "triage:edit", label: "Edit the selected AI suggestion (brush on it)" },
  { keys: ["o"], command: "ai:toggle", label: "Show/hide the AI overlay" },
  { keys: ["h"], command: "segments:toggle", label: "Show/hide labels" },
  { keys: ["ctrl+z"], command: "undo", label: "Undo" },
  { keys: ["ctrl+y", "ctrl+shift+z"], command: "redo", label: "Redo" },
  { keys: ["ctrl+s"], command: "save", label: "Save now" },
  { keys: ["?"], command: "help", label: "This help" },
  { keys: ["escape"], command: "close", label: "Close dialogs" },
];

export function keyName(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey">): string {
  let k = e.key === " " ? "space" : e.key.toLowerCase();
  if (k === "?") return "?";
  const mods = [];
  if (e.ctrlKey || e.metaKey) mods.push("ctrl");
  if (e.shiftKey && k.length > 1 && k !== "?") mods.push("shift");
  if (e.shiftKey && (e.ctrlKey || e.metaKey) && k.length === 1) {
    mods.push("shift");
    k = k.toLowerCase();
  }
  return [...new Set(mods), k].join("+");
}

export function commandFor(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "shiftKey">): string | null {
  const name = keyName(e);
  return SHORTCUTS.find((s) => s.keys.includes(name))?.command ?? null;
}

export const PRESETS: Record<string, { center: number; width: number; label: string }> = {
  lung: { center: -600, width: 1500, label: "Lung" },
  mediastinum: { center: 40, width: 400, label: "Mediastinum" },
  bone: { center: 480, width: 2500, label: "Bone" },
  brain: { center: 40, width: 80, label: "Brain" },
  liver: { center: 90, width: 150, label: "Liver" },
};

export function voiRange(center: number, width: number): { lower: number; upper: number } {
  return { lower: center - width / 2, upper: center + width / 2 };
}
