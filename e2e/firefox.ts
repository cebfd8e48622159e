/**
 * Firefox for the e2e suite: stock Firefox (Debian's `firefox-esr` on CI)
 * driven by Playwright's WebDriver BiDi backend (channel `moz-firefox`), used
 * by the `firefox` project in playwright.config.ts and by the mixed pairs
 * (e2e/mixed.spec.ts), which launch it beside Chromium.
 *
 * Playwright 1.65.1's BiDi backend needs a patch for Firefox ESR 153
 * (patches/playwright-core+1.65.1.patch, applied on `npm install`).
 */
import { existsSync } from 'node:fs'
import { firefox, type Browser, type LaunchOptions } from '@playwright/test'

/**
 * The Firefox binary: `FIREFOX_PATH` if set, else Debian's firefox-esr, else a
 * `firefox` in /usr/bin; undefined lets Playwright look for an installed
 * Firefox itself (a developer laptop).
 */
export const firefoxExecutable: string | undefined = process.env.FIREFOX_PATH ??
  ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find(p => existsSync(p))

/**
 * Test-harness prefs (never the SDK's business): the test page calls
 * getUserMedia() once (Chromium needs it on loopback-only hosts); Firefox
 * answers it with a fake stream and no permission prompt, which headless could
 * never answer. No update checks or default-browser questions on CI machines.
 *
 * Firefox needs a network interface other than `lo` for WebRTC: in a network
 * namespace with only `lo` it gathers no ICE candidate at all, with or without
 * `media.peerconnection.ice.loopback`, `media.peerconnection.ice.force_interface`
 * = 'lo', `media.peerconnection.ice.obfuscate_host_addresses` = false (tried
 * on Firefox ESR 153). The CI machines have one (eth0), so no ICE prefs here.
 */
export const firefoxUserPrefs: Record<string, string | number | boolean> = {
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'app.update.enabled': false,
  'browser.shell.checkDefaultBrowser': false
}

/** Launch options for Firefox under Playwright's BiDi backend. */
export const firefoxLaunchOptions: LaunchOptions = {
  channel: 'moz-firefox',
  executablePath: firefoxExecutable,
  firefoxUserPrefs
}

/** A headless Firefox (for tests that run Chromium and Firefox side by side). */
export async function launchFirefox (): Promise<Browser> {
  return await firefox.launch({ ...firefoxLaunchOptions, headless: true })
}
