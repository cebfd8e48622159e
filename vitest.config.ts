import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // real libp2p nodes: two cores, keep it modest
    pool: 'forks',
    maxWorkers: 2,
    setupFiles: ['./test/helpers/setup.ts']
  }
})
