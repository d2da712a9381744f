// The web UI in headless Chromium against two real agents on 127.0.0.1: pairing in the Friends
// page, a poll started in alice's page that shows in bob's within a second, bob ranking by
// dragging and alice by keyboard, the same decision with its IRV rounds on both pages, axe-core on
// every page (phone-sized and desktop), screenshots in test/browser/artefacts/ (gitignored). Also
// prints the bundle's gzip size (≤ 100 KB) and checks the page's Content-Security-Policy.
import t from 'tap';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { kith, startAgent, type AgentProc } from '../helpers/proc.js';
import { REPO_ROOT } from '../helpers/vectors.js';
import { axeViolations, CHROMIUM, launch, screenshot } from './helpers.js';

const WEB = path.join(REPO_ROOT, 'dist', 'web');

const built = fs.existsSync(path.join(WEB, 'app.js'));
const whyNot = !built ? 'dist/web is not built (npm run build)' : !fs.existsSync(CHROMIUM) ? `no chromium at ${CHROMIUM} (apt-get install chromium)` : undefined;

t.test('the built UI is small: ≤ 100 KB gzip in all', built ? {} : { skip: 'dist/web is not built (npm run build)' }, async (t) => {
  const sizes = fs.readdirSync(WEB).map((f) => [f, gzipSync(fs.readFileSync(path.join(WEB, f)), { level: 9 }).length] as const);
  const total = sizes.reduce((n, [, b]) => n + b, 0);
  t.comment(`web UI gzip: ${sizes.map(([f, b]) => `${f} ${b} B`).join(', ')}; total ${(total / 1024).toFixed(1)} KB`);
  t.ok(total <= 100 * 1024, `total ${total} B`);
});

const json = (r: { status: number | null; stdout: string; stderr: string }) => {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
};

async function openUi(browser: Browser, agent: AgentProc, viewport: { width: number; height: number }): Promise<Page> {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(`http://127.0.0.1:${agent.apiPort}/ui/#token=${agent.token}`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

t.test('two agents, two pages: pair, a poll travels, rank by dragging, one decision', whyNot ? { skip: whyNot } : {}, async (t) => {
  const browser = (await launch())!;
  t.teardown(() => browser.close());
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const [a, b] = ['alice', 'bob'].map((n) => path.join(dir, n)) as [string, string];
  for (const d of [a, b]) json(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, '--json']));
  const [A, B] = await Promise.all([a, b].map((d) => startAgent(t, d, ['--config', config, '--profile', 'test'])));
  const alice = await openUi(browser, A!, { width: 1100, height: 900 });
  const bob = await openUi(browser, B!, { width: 390, height: 844 }); // a phone
  const violations: Record<string, string[]> = {};
  const check = async (page: Page, name: string) => {
    violations[name] = await axeViolations(page);
    await screenshot(page, name);
  };

  // The page's own headers: a strict CSP, and the token never needed for the files.
  const res = await fetch(`http://127.0.0.1:${A!.apiPort}/ui/`);
  t.match(res.headers.get('content-security-policy'), /default-src 'self'/);
  const evil = await new Promise<number | undefined>((resolve) => http.get({ host: '127.0.0.1', port: A!.apiPort, path: '/ui/', headers: { host: 'evil.example' } }, (r) => (r.resume(), resolve(r.statusCode))).on('error', () => resolve(undefined)));
  t.equal(evil, 403, 'a rebinding Host is refused');

  // Pairing in the Friends page: alice shows a code, bob types it.
  await alice.goto(alice.url().replace(/#.*/, '#/friends'));
  await alice.getByRole('button', { name: 'Show a pairing code' }).click();
  t.ok(((await alice.locator('.pair-code').textContent()) ?? '').trim().length > 0, 'alice shows a code');
  // Two machines: bob pastes what alice's QR holds (a phone would scan it).
  const code = (await alice.locator('.pair-qr').textContent())!.trim();
  await check(alice, 'friends-offer');
  await bob.goto(bob.url().replace(/#.*/, '#/friends'));
  await bob.getByLabel('Code or QR text').fill(code);
  await bob.getByRole('button', { name: 'Pair', exact: true }).click();
  await bob.waitForSelector('.safety', { timeout: 20_000 });
  await alice.waitForSelector('.safety', { timeout: 20_000 });
  t.equal(await alice.locator('.safety').textContent(), await bob.locator('.safety').textContent(), 'both pages show the same safety number');
  await check(bob, 'friends-paired-phone');

  // Alice starts an IRV poll with bob.
  await bob.goto(bob.url().replace(/#.*/, '#/conversations'));
  await alice.goto(alice.url().replace(/#.*/, '#/conversations/new'));
  await alice.getByLabel('Topic').fill('Where on Saturday?');
  await alice.getByLabel('Options, separated by commas').fill('lake, pub, cinema');
  await alice.locator('fieldset label', { hasText: 'bob' }).or(alice.locator('fieldset label').first()).first().check();
  await check(alice, 'conversation-new');
  await alice.getByRole('button', { name: 'Start' }).click();
  await alice.waitForSelector('#conv-h');
  const createdAt = Date.now();
  await bob.waitForSelector('[data-topic="Where on Saturday?"]', { timeout: 15_000 });
  const arrivalMs = Date.now() - createdAt;
  t.comment(`the poll showed in bob's page ${arrivalMs} ms after alice's page created it`);
  t.ok(arrivalMs <= 1000, `within a second (${arrivalMs} ms)`);
  await check(bob, 'conversations-phone');

  // Alice ranks by keyboard: cinema up twice (cinema, lake, pub).
  const cinema = alice.locator('.rank-item[data-option="cinema"] .handle');
  await cinema.focus();
  await alice.keyboard.press('Alt+ArrowUp');
  await alice.keyboard.press('Alt+ArrowUp');
  t.same(await alice.locator('.rank-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-option'))), ['cinema', 'lake', 'pub']);
  await check(alice, 'conversation-ranking');
  await alice.getByRole('button', { name: 'Cast ranking' }).click();

  // Bob opens it and drags pub to the top, then cinema second (pub, cinema, lake).
  await bob.locator('[data-topic="Where on Saturday?"]').click();
  await bob.waitForSelector('.rank-item');
  const drag = async (option: string, onto: string) => {
    const from = (await bob.locator(`.rank-item[data-option="${option}"] .handle`).boundingBox())!;
    const to = (await bob.locator(`.rank-item[data-option="${onto}"]`).boundingBox())!;
    await bob.mouse.move(from.x + 10, from.y + from.height / 2);
    await bob.mouse.down();
    await bob.mouse.move(to.x + 10, to.y + 2, { steps: 8 });
    await bob.mouse.up();
  };
  await drag('pub', 'lake');
  await drag('cinema', 'lake');
  t.same(await bob.locator('.rank-item').evaluateAll((els) => els.map((e) => e.getAttribute('data-option'))), ['pub', 'cinema', 'lake'], 'bob ranked by dragging');
  await bob.getByRole('button', { name: 'Cast ranking' }).click();

  // Both pages show the same decision, with the IRV rounds drawn.
  for (const page of [alice, bob]) await page.waitForSelector('.decision .winner', { timeout: 15_000 });
  const decided = await Promise.all([alice, bob].map((p) => p.locator('.decision .winner').textContent()));
  t.equal(decided[0], decided[1], `the same decision on both pages (${decided[0]})`);
  t.ok(['pub', 'cinema'].includes(decided[0]!.trim()), 'one of the two first choices wins');
  const rounds = await Promise.all([alice, bob].map((p) => p.locator('.rounds > li').count()));
  t.ok(rounds[0]! >= 2 && rounds[0] === rounds[1], `IRV rounds drawn on both pages (${rounds.join(', ')})`);
  await check(alice, 'decision');
  await check(bob, 'decision-phone');
  fs.mkdirSync(path.join(REPO_ROOT, 'docs', 'img'), { recursive: true });
  if (process.env.KITH_UI_SCREENSHOT_DOCS) await alice.screenshot({ path: path.join(REPO_ROOT, 'docs', 'img', 'web-ui-decision.png'), fullPage: true });

  for (const [name, hash] of [['nodes', '#/nodes'], ['cluster', '#/cluster'], ['mailbox', '#/mailbox'], ['conversations', '#/conversations']]) {
    await alice.goto(alice.url().replace(/#.*/, hash!));
    await alice.waitForSelector('main h2');
    await alice.waitForTimeout(300);
    await check(alice, name!);
  }
  // Revoking in the page: the phrase signs in the browser and never travels. Node 3 does not
  // exist, so the agent answers NODE_UNKNOWN: it checked the signature first (REVOCATION_INVALID otherwise).
  const phrase = fs.readFileSync(`${a}.phrase`, 'utf8').trim();
  const sent: string[] = [];
  alice.on('request', (r) => sent.push(`${r.url()} ${r.postData() ?? ''}`));
  await alice.goto(alice.url().replace(/#.*/, '#/nodes'));
  await alice.getByLabel('Node number').fill('3');
  await alice.getByLabel('Key generation').fill('0');
  await alice.getByLabel('Recovery phrase').fill(phrase);
  await alice.getByRole('button', { name: 'Sign and revoke' }).click();
  const answer = (await alice.locator('.revoke-result').textContent({ timeout: 10_000 })) ?? '';
  t.match(answer, /NODE_UNKNOWN|revoked/, `the browser's signature is accepted (${answer})`);
  t.ok(sent.some((s) => s.includes('/api/nodes/revoke') && s.includes('revocation')), 'a signed revocation was posted');
  t.notOk(sent.some((s) => s.includes(phrase.split(/\s+/).slice(0, 3).join(' '))), 'the phrase was never sent');
  t.equal(await alice.getByLabel('Recovery phrase').inputValue(), '', 'the phrase is cleared from the page');

  await bob.goto(bob.url().replace(/#.*/, '#/cluster'));
  await bob.waitForSelector('.household', { timeout: 10_000 });
  await check(bob, 'cluster-phone');
  for (const [name, v] of Object.entries(violations)) t.same(v, [], `axe-core: no violations on ${name}`);
});
