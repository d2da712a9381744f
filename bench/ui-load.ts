// First load of the web UI over loopback in headless Chromium: bytes on the wire (gzip) and time
// to interactive (opening the one-time login link until the page shows the agent's data: the
// conversation list answered by the API), median of N fresh browser contexts (no cache), next to
// loading a static file of the same byte size from a bare node:http server in the same run.
// Then event latency: a message posted through the API (as another program would) until the
// open conversation page shows it, live from the event log (p50, p99 of KITH_BENCH_EVENTS).
//   node dist/bench/ui-load.js   (KITH_BENCH_RUNS, default 15; KITH_BENCH_EVENTS, default 40;
//   needs /usr/bin/chromium and dist/web)
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { CHROMIUM, WEB, sleep, startWebAgent } from './agent-proc.js';

const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 15);
const EVENTS = Number(process.env['KITH_BENCH_EVENTS'] ?? 40);
const pct = (xs: number[], p: number) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;
const median = (xs: number[]) => pct(xs, 50);

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM) || !fs.existsSync(path.join(WEB, 'app.js'))) {
    console.log(`skipped: needs ${CHROMIUM} and dist/web (npm run build)`);
    return;
  }
  const gzBytes = ['index.html', 'app.js', 'style.css'].reduce((n, f) => n + gzipSync(fs.readFileSync(path.join(WEB, f)), { level: 9 }).length, 0);
  const blob = Buffer.alloc(gzBytes, 'x'); // same bytes on the wire, sent as is
  const server = http.createServer((_q, s) => s.end(blob)).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const blobPort = (server.address() as { port: number }).port;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-ui-bench-'));
  // Loopback only (the cluster too, as the browser test does).
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const agent = await startWebAgent(path.join(dir, 'a'), config);
  const bob = await startWebAgent(path.join(dir, 'b'), config);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const ui: number[] = [];
  const base: number[] = [];
  const lag: number[] = [];
  const api = (method: string, route: string, body?: unknown, who = agent) => fetch(`http://127.0.0.1:${who.port}${route}`, {
    method, headers: { authorization: `Bearer ${who.token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).then((r) => r.json() as Promise<Record<string, unknown>>);
  const link = async () => (await api('POST', '/api/v1/ui/login-link')).link as string;
  try {
    for (let i = 0; i < RUNS; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      const url = await link();
      let t0 = performance.now();
      await page.goto(url);
      await page.getByText('No conversations yet.').waitFor();
      ui.push(performance.now() - t0);
      t0 = performance.now();
      await page.goto(`http://127.0.0.1:${blobPort}/blob.txt`);
      base.push(performance.now() - t0);
      await ctx.close();
    }
    // A conversation needs a friend: bob pairs with alice through the API.
    const offer = await api('POST', '/api/v1/pair/offer', {});
    const joined = await api('POST', '/api/v1/pair/join', { target: offer['qr'] }, bob);
    if (typeof joined['friendUserKey'] !== 'string') throw new Error(`no pairing: ${JSON.stringify(joined).slice(0, 300)}`);
    const created = await api('POST', '/api/v1/conversations', { topic: 'latency', pattern: 'discussion', with: [(await api('GET', '/api/v1/id', undefined, bob))['userKey']] });
    const id = created['id'] as string;
    if (typeof id !== 'string') throw new Error(`no conversation: ${JSON.stringify(created).slice(0, 300)}`);
    const page = await (await browser.newContext()).newPage();
    await page.goto(await link());
    await page.goto(page.url().replace(/#.*/, `#/conversations/${id}`));
    await page.locator('[data-testid="live-status"][data-transport="socket"]').waitFor();
    for (let i = 0; i < EVENTS; i++) {
      const t0 = performance.now();
      const r = await api('POST', `/api/v1/conversations/${id}/messages`, { text: `m${i}` });
      if (typeof r['posted'] !== 'string') throw new Error(`not posted: ${JSON.stringify(r).slice(0, 300)}`);
      await page.locator('.messages li', { hasText: new RegExp(`m${i}$`) }).waitFor();
      lag.push(performance.now() - t0);
    }
  } finally {
    await browser.close();
    agent.stop();
    bob.stop();
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`web UI first load, ${RUNS} runs, fresh context each (no cache), loopback, Node ${process.version}`);
  console.log(`  bytes: ${gzBytes} B gzip of the three files (the agent serves them gzip-9), plus the API's JSON answers`);
  console.log(`  time to interactive (goto → the API's list shown): median ${median(ui).toFixed(1)} ms`);
  console.log(`  baseline, a ${gzBytes} B static file from node:http: median ${median(base).toFixed(1)} ms (ratio ${(median(ui) / median(base)).toFixed(1)}x)`);
  console.log(`event latency, ${EVENTS} messages posted by API until the open page shows each (WebSocket): p50 ${median(lag).toFixed(0)} ms, p99 ${pct(lag, 99).toFixed(0)} ms`);
}

await main();
