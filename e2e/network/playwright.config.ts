/**
 * The network lab (e2e/network): browsers in home networks behind NAT
 * routers, a relay and STUN/TURN on a "public" network, all in network
 * namespaces this run builds and removes. Root only (Linux). `npm run
 * test:network` runs every case, `npm run test:network:quick` the @quick ones.
 */
import { defineConfig } from '@playwright/test'

export default defineConfig({
  testDir: '.',
  testMatch: '**/*.lab.ts',
  // each case is bounded; a case that needs longer says so
  timeout: 150_000,
  expect: { timeout: 30_000 },
  // two cores, two browsers per case: one case at a time
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: [['list']],
  globalSetup: './global-setup.ts',
  outputDir: '../../test-results/network/output'
})
