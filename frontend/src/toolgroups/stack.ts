// The stack layout's tool group: one axial viewport, viewing + label tools.
import { FIXED, LABEL_TOOLS, VIEW_TOOLS, type ToolGroupSpec } from "./spec";

export const STACK_GROUP: ToolGroupSpec = {
  id: "nodus-stack",
  tools: [...VIEW_TOOLS, ...LABEL_TOOLS],
  fixed: FIXED,
  passive: ["Length"],
  primary: "WindowLevel",
};
