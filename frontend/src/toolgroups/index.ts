// Builds Cornerstone tool groups from their data declarations.
import * as cst from "@cornerstonejs/tools";
import type { ToolGroupSpec } from "./spec";

const { ToolGroupManager, Enums } = cst;
const registered = new Set<string>();

export function createToolGroup(spec: ToolGroupSpec, viewports: string[], engineId: string): any {
  const group = ToolGroupManager.createToolGroup(spec.id)!;
  for (const t of spec.tools) {
    if (!registered.has(t.tool.toolName)) {
      cst.addTool(t.tool);
      registered.add(t.tool.toolName);
    }
    if (t.name === t.tool.toolName) group.addTool(t.name, t.options);
    else group.addToolInstance(t.name, t.tool.toolName, t.options);
  }
  for (const vp of viewports) group.addViewport(vp, engineId);
  for (const f of spec.fixed) group.setToolActive(f.name, { bindings: f.bindings });
  for (const p of spec.passive) group.setToolPassive(p);
  activatePrimary(group, spec, spec.primary);
  return group;
}

export function activatePrimary(group: any, spec: ToolGroupSpec, name: string): boolean {
  if (!spec.tools.some((t) => t.name === name)) return false;
  const current = group.getActivePrimaryMouseButtonTool?.();
  if (current && current !== name) {
    const fixed = spec.fixed.find((f) => f.name === current);
    if (fixed) group.setToolActive(current, { bindings: fixed.bindings });
    else if (spec.passive.includes(current)) group.setToolPassive(current);
    else group.setToolDisabled(current);
  }
  const fixed = spec.fixed.find((f) => f.name === name);
  const primary = Enums.MouseBindings.Primary;
  const modifiers = (spec.tools.find((t) => t.name === name)?.modifiers ?? []).map((modifierKey) => ({ mouseButton: primary, modifierKey }));
  group.setToolActive(name, {
    bindings: [{ mouseButton: primary }, ...modifiers, ...(fixed ? fixed.bindings : [])],
  });
  return true;
}
