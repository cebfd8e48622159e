import { existsSync } from 'node:fs'
import { defineConfig } from '@playwright/test'
import { firefoxLaunchOptions } from './e2e/firefox.js'

/** Debian's Chromium when present (no browser downloads on CI machines), else Playwright's own. */
const executablePath = process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined)
const PAGE_PORT = Number(process.env.E2E_PAGE_PORT ?? 5199)

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  timeout: 120_000,
  expect: { timeout: 20_000 },
  // two cores: one worker, tabs in parallel inside a test
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [['list']],
  globalSetup: './e2e/global-setup.ts',
  outputDir: 'test-results',
  use: {
    baseURL: `http://127.0.0.1:${PAGE_PORT}`
  },
  projects: [
    {
      // every spec; e2e/mixed.spec.ts launches a Firefox of its own beside this Chromium
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath,
          args: [
            '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
            // loopback-only hosts: ICE candidates on lo need these plus one getUserMedia() in the page
            '--allow-loopback-in-peer-connection', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
            // background tabs must keep their timers running
            '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'
          ]
        }
      }
    },
    {
      // stock Firefox over WebDriver BiDi (e2e/firefox.ts). `npm test`: the representative subset
      // tagged @firefox-core; `npm run test:firefox` (FIREFOX_ALL=1): every scenario tagged @firefox
      name: 'firefox',
      grep: process.env.FIREFOX_ALL != null ? /@firefox\b/ : /@firefox-core\b/,
      use: { browserName: 'firefox', launchOptions: firefoxLaunchOptions }
    }
  ],
  webServer: {
    command: `node_modules/.bin/vite --config e2e/vite.config.ts --port ${PAGE_PORT}`,
    url: `http://127.0.0.1:${PAGE_PORT}/index.html`,
    reuseExistingServer: false,
    timeout: 60_000
  }
})
