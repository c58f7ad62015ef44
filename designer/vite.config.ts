import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dev server proxies the API to a running `sluice serve` (SLUICE_URL,
// default http://localhost:8080); `npm run build` writes dist/, which the Go
// binary embeds.
const target = process.env.SLUICE_URL ?? 'http://localhost:8080';

export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: false, sourcemap: false, chunkSizeWarningLimit: 2000 },
  server: {
    proxy: {
      '/api': { target, ws: true },
      '/ingest': target,
      '/healthz': target,
    },
  },
});
