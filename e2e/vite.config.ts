import { defineConfig } from 'vite'

// serves the end-to-end test page (e2e/page) for Playwright
export default defineConfig({
  root: new URL('./page', import.meta.url).pathname,
  // no reloads: an edit to src/ while a run is under way must not reload the pages under test
  server: { host: '127.0.0.1', strictPort: true, hmr: false, watch: null },
  logLevel: 'warn'
})
