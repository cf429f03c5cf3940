// Cornerstone3D is initialised once per page, here.
import { init as coreInit } from "@cornerstonejs/core";
import { init as toolsInit } from "@cornerstonejs/tools";

let ready: Promise<void> | null = null;

export function initCornerstone(): Promise<void> {
  ready ??= (async () => {
    await coreInit();
    await toolsInit();
  })();
  return ready;
}
