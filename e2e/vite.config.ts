import { defineConfig } from 'vite'

// serves the end-to-end test page (e2e/page) for Playwright
export default defineConfig({
  root: new URL('./page', import.meta.url).pathname,
  server: { host: '127.0.0.1', strictPort: true },
  logLevel: 'warn'
})
