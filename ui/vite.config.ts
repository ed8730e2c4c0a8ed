import { defineConfig } from "vite";

// Everything is bundled into dist/: no CDN, no remote resource at run time.
export default defineConfig({
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "safari15",
    assetsInlineLimit: 0,
  },
});
