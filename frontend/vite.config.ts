import { resolve } from "node:path";
import { defineConfig } from "vite";

// Built into Django's static files: /static/viewer/viewer.js (+ chunks, workers, wasm).
export default defineConfig({
  base: "/static/viewer/",
  resolve: {
    // Cornerstone3D's metadata code pulls in xmlbuilder, which extends Node's EventEmitter:
    // the `events` package stands in for it in the browser (design.md §9).
    alias: { events: "events" },
  },
  build: {
    outDir: resolve(__dirname, "../webapp/static/viewer"),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 8000,
    rollupOptions: {
      input: resolve(__dirname, "src/main.ts"),
      output: {
        entryFileNames: "viewer.js",
        chunkFileNames: "chunks/[name]-[hash].js",
        assetFileNames: (info) => (info.names?.[0]?.endsWith(".css") ? "viewer.css" : "assets/[name]-[hash][extname]"),
      },
    },
  },
  worker: { format: "es" },
  optimizeDeps: { exclude: ["@cornerstonejs/dicom-image-loader"] },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
} as Parameters<typeof defineConfig>[0]);
