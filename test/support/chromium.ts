// Headless Chromium for the browser tests and the browser bench: Debian's `chromium`
// driven by playwright-core (which downloads no browser of its own).
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';

/** Debian's Chromium; the environment variable KILN_CHROMIUM names another. */
export const CHROMIUM = process.env['KILN_CHROMIUM'] ?? '/usr/bin/chromium';
/** Headless, and nothing that reaches outside the machine (its network is closed). */
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];
/**
 * For WebGPU pages (issue #12's flags): no `--disable-gpu`, and `--enable-unsafe-webgpu`,
 * without which Chromium offers no adapter on a machine without a GPU ("No available
 * adapters."); with it, headless Chromium gets SwiftShader's fallback adapter (Vulkan on
 * the CPU, shipped inside Chromium: vendor 'google', architecture 'swiftshader').
 */
export const CHROMIUM_WEBGPU_FLAGS = ['--headless', '--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];
export const chromiumPresent = existsSync(CHROMIUM);
/** Under CI=true a missing Chromium fails the browser tests instead of skipping them. */
export const chromiumRequired = process.env['CI'] === 'true';

/** A fresh headless Chromium whose profile lives in `dir/profile` (`webgpu`: with CHROMIUM_WEBGPU_FLAGS). */
export async function launchChromium(dir: string, options: { viewport?: { width: number; height: number }; webgpu?: boolean } = {}): Promise<BrowserContext> {
  const { chromium } = await import('playwright-core');
  const { webgpu, ...rest } = options;
  return chromium.launchPersistentContext(path.join(dir, 'profile'), { executablePath: CHROMIUM, headless: true, args: webgpu ? CHROMIUM_WEBGPU_FLAGS : CHROMIUM_FLAGS, ...rest });
}

/**
 * Opens `url` in a new page of `context`, waits until the page sets `globalThis.kilnResult`
 * (the test pages do when they are done) and returns it. An uncaught page error throws,
 * naming it, so a page that fails quietly cannot pass.
 *
 * @example
 * const outcome = await pageResult<PageOutcome>(context, `${server.url}?threads=2`, 60_000);
 */
export async function pageResult<T>(context: BrowserContext, url: string, timeoutMs: number): Promise<T> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  try {
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { kilnResult?: unknown }).kilnResult !== undefined, null, { timeout: timeoutMs });
    const outcome = await page.evaluate(() => (globalThis as unknown as { kilnResult: unknown }).kilnResult);
    if (errors.length) throw new Error(`the page threw: ${errors.join('; ')}`);
    return outcome as T;
  } finally {
    await page.close();
  }
}
