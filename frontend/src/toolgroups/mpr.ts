// The MPR layout's tool group: axial/coronal/sagittal viewports with crosshairs + label tools.
import * as cst from "@cornerstonejs/tools";
import { FIXED, LABEL_TOOLS, VIEW_TOOLS, type ToolGroupSpec } from "./spec";

export const MPR_GROUP: ToolGroupSpec = {
  id: "nodus-mpr",
  tools: [...VIEW_TOOLS, ...LABEL_TOOLS, { name: "Crosshairs", tool: cst.CrosshairsTool, options: {} }],
  fixed: FIXED,
  passive: ["Length"],
  primary: "Crosshairs",
};
