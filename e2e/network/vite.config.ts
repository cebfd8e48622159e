import { defineConfig } from 'vite'

// serves the end-to-end test page (e2e/page) on the lab's public network
// (host and port come from the command line: see services.ts)
export default defineConfig({
  root: new URL('../page', import.meta.url).pathname,
  // its own dependency cache: the main e2e suite's server may run at the same time
  cacheDir: new URL('../../node_modules/.vite-netlab', import.meta.url).pathname,
  server: { strictPort: true, hmr: false },
  logLevel: 'warn'
})
