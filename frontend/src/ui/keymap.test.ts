import { describe, expect, it } from "vitest";
import { commandFor, PRESETS, SHORTCUTS, voiRange } from "./keymap";

const key = (k: string, mods: Partial<KeyboardEvent> = {}) =>
  ({ key: k, ctrlKey: false, metaKey: false, shiftKey: false, ...mods }) as KeyboardEvent;

describe("keymap", () => {
  it("maps keys to commands", () => {
    expect(commandFor(key("b"))).toBe("tool:Brush");
    expect(commandFor(key("z", { ctrlKey: true }))).toBe("undo");
    expect(commandFor(key("Z", { ctrlKey: true, shiftKey: true }))).toBe("redo");
    expect(commandFor(key("?", { shiftKey: true }))).toBe("help");
    expect(commandFor(key("ArrowDown"))).toBe("scroll:1");
    expect(commandFor(key(" "))).toBe("cine");
    expect(commandFor(key("a"))).toBe("triage:accept");
    expect(commandFor(key("n"))).toBe("finding:next");
    expect(commandFor(key("+", { shiftKey: true }))).toBe("finding:new");
    expect(commandFor(key("d"))).toBe("tool:LassoScissors");
    expect(commandFor(key("j"))).toBeNull();
  });
  it("has no key bound twice", () => {
    const all = SHORTCUTS.flatMap((s) => s.keys);
    expect(new Set(all).size).toBe(all.length);
  });
  it("knows the W/L presets", () => {
    expect(voiRange(PRESETS.lung.center, PRESETS.lung.width)).toEqual({ lower: -1350, upper: 150 });
    expect(Object.keys(PRESETS)).toEqual(["lung", "mediastinum", "bone", "brain", "liver"]);
  });
});
