// Headless Chromium for the browser tests and the browser bench: Debian's `chromium`
// driven by playwright-core (which downloads no browser of its own).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';

/** Debian's Chromium; the environment variable KILN_CHROMIUM names another. */
export const CHROMIUM = process.env['KILN_CHROMIUM'] ?? '/usr/bin/chromium';
/** Headless, and nothing that reaches outside the machine (its network is closed). */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];
export const chromiumPresent = existsSync(CHROMIUM);
/** Under CI=true a missing Chromium fails the browser tests instead of skipping them. */
export const chromiumRequired = process.env['CI'] === 'true';

/** A fresh headless Chromium whose profile lives in `dir/profile`. */
export async function launchChromium(dir: string, options: { viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  return chromium.launchPersistentContext(path.join(dir, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, ...options });
}
