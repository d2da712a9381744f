// Headless Chromium for the browser tests: Debian's chromium driven by playwright-core (no
// downloaded browser), and axe-core run inside a page. Undefined when chromium is not installed.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/vectors.js';

export const CHROMIUM = process.env.KITH_CHROMIUM ?? '/usr/bin/chromium';
export const ARTEFACTS = path.join(REPO_ROOT, 'test', 'browser', 'artefacts');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export async function launch(): Promise<Browser | undefined> {
  if (!fs.existsSync(CHROMIUM)) return undefined;
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true, timeout: 30_000 });
}

const axeSource = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's violations on the page as it is now (rule id: the nodes' targets). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource);
  const r = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as { violations: { id: string; nodes: { target: string[] }[] }[] };
  return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTEFACTS, { recursive: true });
  const file = path.join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The options of the open ranking ballot, top first. */
export const rankOrder = (page: Page): Promise<(string | null)[]> =>
  page.locator('.rank-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-option')));

/** Moves an option of the ranking ballot up by keyboard alone: focus its handle, Alt+ArrowUp `steps` times. */
export async function rankUpByKeyboard(page: Page, option: string, steps: number): Promise<void> {
  await page.locator(`.rank-item[data-option="${option}"] .handle`).focus();
  for (let i = 0; i < steps; i++) await page.keyboard.press('Alt+ArrowUp');
}

/** Drags an option's handle with the mouse onto the top edge of another option. */
export async function dragRank(page: Page, option: string, onto: string): Promise<void> {
  const from = (await page.locator(`.rank-item[data-option="${option}"] .handle`).boundingBox())!;
  const to = (await page.locator(`.rank-item[data-option="${onto}"]`).boundingBox())!;
  await page.mouse.move(from.x + 10, from.y + from.height / 2);
  await page.mouse.down();
  await page.mouse.move(to.x + 10, to.y + 2, { steps: 8 });
  await page.mouse.up();
}
