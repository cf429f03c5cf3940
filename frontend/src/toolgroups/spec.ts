// Tool groups declared as data: which tools a group has, their options, and mouse bindings.
import * as cst from "@cornerstonejs/tools";
import { LassoScissorsTool } from "./lasso";

const { MouseBindings } = cst.Enums;

export interface ToolSpec {
  name: string; // instance name used by the UI and shortcuts
  tool: any; // Cornerstone tool class
  options?: Record<string, unknown>;
  /** as the primary tool, also bound to the left button with these modifier keys */
  modifiers?: number[];
}

export interface ToolGroupSpec {
  id: string;
  tools: ToolSpec[];
  /** always-on bindings besides the primary (left) button tool */
  fixed: { name: string; bindings: { mouseButton: number; modifierKey?: number }[] }[];
  passive: string[];
  primary: string;
}

export const LABEL_TOOLS: ToolSpec[] = [
  { name: "Brush", tool: cst.BrushTool, options: { activeStrategy: "FILL_INSIDE_CIRCLE" } },
  { name: "Eraser", tool: cst.BrushTool, options: { activeStrategy: "ERASE_INSIDE_CIRCLE" } },
  { name: "ThresholdBrush", tool: cst.BrushTool, options: { activeStrategy: "THRESHOLD_INSIDE_CIRCLE" } },
  { name: "SphereBrush", tool: cst.BrushTool, options: { activeStrategy: "FILL_INSIDE_SPHERE" } },
  { name: "RectangleScissors", tool: cst.RectangleScissorsTool },
  { name: "CircleScissors", tool: cst.CircleScissorsTool },
  // Shift + drag erases, so the tool must also answer the left button with Shift held
  { name: "LassoScissors", tool: LassoScissorsTool, modifiers: [cst.Enums.KeyboardBindings.Shift] },
];

export const VIEW_TOOLS: ToolSpec[] = [
  { name: "WindowLevel", tool: cst.WindowLevelTool },
  { name: "Pan", tool: cst.PanTool },
  { name: "Zoom", tool: cst.ZoomTool },
  { name: "StackScroll", tool: cst.StackScrollTool },
  { name: "Length", tool: cst.LengthTool },
];

export const FIXED = [
  { name: "Pan", bindings: [{ mouseButton: MouseBindings.Auxiliary }] },
  { name: "Zoom", bindings: [{ mouseButton: MouseBindings.Secondary }] },
  { name: "StackScroll", bindings: [{ mouseButton: MouseBindings.Wheel }] },
];
