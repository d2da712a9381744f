// The web UI across a real network: alice's and bob's agents in two network namespaces (kui-a,
// kui-b) joined by a veth pair (10.91.0.1 and .2, addresses that exist only inside these
// namespaces), each person with headless Chromium inside their own namespace (started through
// `ip netns exec`, driven by playwright-core over its pipe) opening their own agent's UI on
// 127.0.0.1 with the link `kith ui` prints. They pair in the Friends page (bob pastes alice's QR
// text); a poll (IRV) created in alice's page appears in bob's within a second; alice ranks by
// keyboard, bob by dragging; both pages show the same decision with the IRV rounds. Screenshots go
// to test/browser/artefacts/lab-*.png. Selectors are test/browser/ui.test.ts's.
// Skips, with the reason, without root, namespaces, chromium or a built UI; kills its processes
// by PID and deletes its namespaces even on failure.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { REPO_ROOT } from '../helpers/vectors.js';
import { RUNTIME } from '../helpers/proc.js';
import { until } from '../helpers/wait.js';
import { ip, netnsUnavailable, removeNamespaces } from '../helpers/netns.js';
import { CHROMIUM, dragRank, rankOrder, rankUpByKeyboard, screenshot } from '../browser/helpers.js';

const BIN = path.join(REPO_ROOT, 'bin', 'kith.mjs');
const RT = RUNTIME === 'bun' ? path.join(REPO_ROOT, 'node_modules', '.bin', 'bun') : process.execPath;
const PEOPLE = ['a', 'b'] as const;
type Who = (typeof PEOPLE)[number];
const ns = (w: Who) => `kui-${w}`;
const addr = (w: Who) => `10.91.0.${w === 'a' ? 1 : 2}`;
const API_PORT = 5485;
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

function whyNot(): string | undefined {
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'web', 'app.js'))) return 'dist/web is not built (npm run build)';
  if (!fs.existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (apt-get install chromium)`;
  return netnsUnavailable('kui-probe');
}

const down = (): void => removeNamespaces(PEOPLE.map(ns));

function up(): void {
  down();
  for (const w of PEOPLE) ip(['netns', 'add', ns(w)]);
  ip(['link', 'add', 'kuia', 'netns', ns('a'), 'type', 'veth', 'peer', 'name', 'kuib', 'netns', ns('b')]);
  for (const w of PEOPLE) {
    const dev = `kui${w}`;
    ip(['-n', ns(w), 'link', 'set', 'lo', 'up']);
    ip(['-n', ns(w), 'addr', 'add', `${addr(w)}/24`, 'dev', dev]);
    ip(['-n', ns(w), 'link', 'set', dev, 'up']);
    ip(['-n', ns(w), 'route', 'add', '224.0.0.0/4', 'dev', dev]);
  }
}

/** Chromium started inside a namespace: playwright runs this script, which execs chromium there. */
async function browserIn(dir: string, w: Who): Promise<Browser> {
  const wrapper = path.join(dir, `chromium-${ns(w)}.sh`);
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns(w)} ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: wrapper, args: FLAGS, headless: true, timeout: 30_000 });
}

async function lab(t: Test): Promise<void> {
  const children: ChildProcess[] = [];
  const browsers: Browser[] = [];
  t.teardown(async () => {
    for (const b of browsers) await b.close().catch(() => undefined);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    down();
  });
  up();
  const root = t.testdir();
  const config = path.join(root, 'config.toml');
  fs.writeFileSync(config, `[cluster]\nhost = "0.0.0.0"\nport = 5484\n[api]\nport = ${API_PORT}\n[nat]\nportMapping = "off"\n`);
  const dir = (w: Who) => path.join(root, w);
  const env = { ...process.env, KITH_DATA_DIR: '' };
  const cli = (w: Who, args: string[]) => spawnSync('ip', ['netns', 'exec', ns(w), RT, BIN, ...args], { encoding: 'utf8', timeout: 30_000, env });
  const logs: Record<string, string> = {};
  for (const w of PEOPLE) {
    t.equal(cli(w, ['init', '--data-dir', dir(w), '--phrase-file', `${dir(w)}.phrase`]).status, 0, `${w}: init`);
    const c = spawn('ip', ['netns', 'exec', ns(w), RT, BIN, 'run', '--data-dir', dir(w), '--config', config, '--profile', 'test'], { stdio: ['ignore', 'pipe', 'pipe'], env });
    children.push(c);
    logs[w] = '';
    c.stdout!.on('data', (d: Buffer) => (logs[w] += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (logs[w] += d.toString()));
  }
  t.teardown(() => {
    if (!t.passing()) for (const w of PEOPLE) t.comment(`${w}'s agent:\n${logs[w]!.slice(-6000)}`);
  });
  t.ok((await until(() => PEOPLE.every((w) => /ready:/.test(logs[w]!)), 20_000)) !== undefined, 'both agents ready');

  /** Opens the person's own UI the way a person does: the link `kith ui` prints. */
  const openUi = async (w: Who, viewport: { width: number; height: number }): Promise<Page> => {
    const browser = await browserIn(root, w);
    browsers.push(browser);
    const page = await (await browser.newContext({ viewport })).newPage();
    page.setDefaultTimeout(10_000);
    const r = cli(w, ['ui', '--json', '--data-dir', dir(w)]);
    if (r.status !== 0) throw new Error(`kith ui: ${r.stderr}`);
    const { link } = JSON.parse(r.stdout) as { link: string };
    await page.goto(link);
    await page.waitForSelector('body[data-ready="true"]');
    if ((await page.getByRole('heading', { name: 'Sign in' }).count()) > 0) {
      // A page of before the session cookie: it takes the token from the address instead.
      const token = fs.readFileSync(path.join(dir(w), 'api.token'), 'utf8').trim();
      await page.goto('about:blank');
      await page.goto(`http://127.0.0.1:${API_PORT}/ui/#token=${token}`);
      await page.waitForSelector('body[data-ready="true"]');
    }
    return page;
  };
  const alice = await openUi('a', { width: 1100, height: 900 });
  const bob = await openUi('b', { width: 390, height: 844 }); // a phone-sized page
  const go = (p: Page, hash: string) => p.goto(p.url().replace(/#.*/, '') + hash);

  // Pairing in the Friends page: alice shows a code; bob pastes what her QR holds.
  await go(alice, '#/friends');
  await alice.getByRole('button', { name: 'Show a pairing code' }).click();
  const qr = (await alice.locator('.pair-qr').textContent())!.trim();
  t.match(qr, new RegExp(addr('a').replace(/\./g, '\\.')), `the QR names alice's LAN address (${qr.replace(/c=[^&]+/, 'c=…')})`);
  await screenshot(alice, 'lab-friends-offer');
  await go(bob, '#/friends');
  await bob.getByLabel('Code or QR text').fill(qr);
  await bob.getByRole('button', { name: 'Pair', exact: true }).click();
  await bob.waitForSelector('.safety', { timeout: 20_000 });
  await alice.waitForSelector('.safety', { timeout: 20_000 });
  t.equal(await alice.locator('.safety').textContent(), await bob.locator('.safety').textContent(), 'both pages show the same safety number');
  await screenshot(bob, 'lab-friends-paired-phone');
  const alive = await until(() => /"state":"alive"/.test(cli('a', ['peers', '--json', '--data-dir', dir('a')]).stdout), 20_000, 250);
  t.ok(alive !== undefined, 'bob\'s node is alive for alice across the veth');

  // Alice starts an IRV poll with bob; it shows in bob's page within a second.
  await go(bob, '#/conversations');
  await go(alice, '#/conversations/new');
  await alice.getByLabel('Topic').fill('Where on Saturday?');
  await alice.getByLabel('Options, separated by commas').fill('lake, pub, cinema');
  await alice.locator('fieldset label', { hasText: 'bob' }).or(alice.locator('fieldset label').first()).first().check();
  await alice.getByRole('button', { name: 'Start' }).click();
  await alice.waitForSelector('#conv-h');
  const createdAt = Date.now();
  await bob.waitForSelector('[data-topic="Where on Saturday?"]', { timeout: 15_000 });
  const arrivalMs = Date.now() - createdAt;
  t.comment(`figure: the poll showed in bob's page ${arrivalMs} ms after alice's page created it (two namespaces, veth)`);
  t.ok(arrivalMs <= 1000, `within a second (${arrivalMs} ms)`);
  await screenshot(bob, 'lab-conversations-phone');

  // Alice ranks by keyboard (cinema, lake, pub); bob drags (pub, cinema, lake).
  await rankUpByKeyboard(alice, 'cinema', 2);
  t.same(await rankOrder(alice), ['cinema', 'lake', 'pub'], 'alice ranked by keyboard');
  await alice.getByRole('button', { name: 'Cast ranking' }).click();
  await bob.locator('[data-topic="Where on Saturday?"]').click();
  await bob.waitForSelector('.rank-item');
  await dragRank(bob, 'pub', 'lake');
  await dragRank(bob, 'cinema', 'lake');
  t.same(await rankOrder(bob), ['pub', 'cinema', 'lake'], 'bob ranked by dragging');
  await screenshot(bob, 'lab-ranking-phone');
  await bob.getByRole('button', { name: 'Cast ranking' }).click();

  for (const page of [alice, bob]) await page.waitForSelector('.decision .winner', { timeout: 20_000 });
  const decided = await Promise.all([alice, bob].map((p) => p.locator('.decision .winner').textContent()));
  t.equal(decided[0], decided[1], `the same decision on both pages (${decided[0]})`);
  t.ok(['pub', 'cinema'].includes(decided[0]!.trim()), 'one of the two first choices wins');
  const rounds = await Promise.all([alice, bob].map((p) => p.locator('.rounds > li').count()));
  t.ok(rounds[0]! >= 2 && rounds[0] === rounds[1], `IRV rounds drawn on both pages (${rounds.join(', ')})`);
  await screenshot(alice, 'lab-decision');
  await screenshot(bob, 'lab-decision-phone');
}

// A lab that cannot run here is a SKIP with its reason, never a pass.
const skip = whyNot();
t.test('the web UI of two agents in two namespaces: pair, a poll travels, rank, one decision', { timeout: 180_000, ...(skip ? { skip: `ui lab: ${skip}` } : {}) }, lab);
