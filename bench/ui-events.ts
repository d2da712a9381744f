// Event latency as a person sees it: a change in a real agent (a message posted through its API)
// until the page in headless Chromium shows it (the open conversation's DOM holds the text), p50
// and p99, next to the raw event latency measured in the same run and from the same instant: the
// same change until its conv.message event reaches a WebSocket client of /api/v1/events. The gap
// between the two is the page's own cost (how it learns of the change, fetches and draws).
//   node dist/bench/ui-events.js   (KITH_BENCH_RUNS, default 100; needs /usr/bin/chromium and dist/web)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { CHROMIUM, WEB, sleep, startWebAgent } from './agent-proc.js';

const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 100);
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM) || !fs.existsSync(path.join(WEB, 'app.js'))) {
    console.log(`skipped: needs ${CHROMIUM} and dist/web (npm run build)`);
    return;
  }
  const stops: (() => void)[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-ui-events-'));
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  // Alice (whose page is measured) and bob, paired: a conversation needs another participant.
  const [agent, bob] = await Promise.all([startWebAgent(path.join(dir, 'a'), config), startWebAgent(path.join(dir, 'b'), config)]);
  stops.push(agent.stop, bob.stop);
  const base = `http://127.0.0.1:${agent.port}`;
  const caller = (a: { port: number; token: string }) => async (method: string, route: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${a.port}${route}`, { method, headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<Record<string, unknown>>;
  };
  const api = caller(agent);
  const offer = (await api('POST', '/api/v1/pair/offer', {})) as { qr: string };
  const joined = (await caller(bob)('POST', '/api/v1/pair/join', { target: offer.qr })) as { friendUserKey: string };
  const bobUser = ((await caller(bob)('GET', '/api/v1/id')) as { userKey: string }).userKey ?? joined.friendUserKey;
  for (let i = 0; i < 100 && ((await api('GET', '/api/v1/friends')) as { friends: unknown[] }).friends.length === 0; i++) await sleep(100);
  const conv = (await api('POST', '/api/v1/conversations', { topic: 'latency', pattern: 'discussion', with: [bobUser] })) as { id: string };
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  const ws = new WebSocket(`ws://127.0.0.1:${agent.port}/api/v1/events?channel=high`, { headers: { authorization: `Bearer ${agent.token}` } });
  const page: number[] = [];
  const raw: number[] = [];
  try {
    await new Promise((r, j) => (ws.once('message', r), ws.once('error', j)));
    const p = await (await browser.newContext()).newPage();
    const { link } = (await api('POST', '/api/v1/ui/login-link')) as { link: string };
    await p.goto(link); // the session cookie, as `kith ui` gives it
    await p.waitForSelector('body[data-ready="true"]');
    if ((await p.getByRole('heading', { name: 'Sign in' }).count()) > 0) { // a page of before the cookie: the token in the address
      await p.goto('about:blank');
      await p.goto(`${base}/ui/#token=${agent.token}`);
      await p.waitForSelector('body[data-ready="true"]');
    }
    await p.goto(`${base}/ui/#/conversations/${conv.id}`);
    await p.getByText('latency').first().waitFor({ timeout: 10_000 });
    // The page tells the bench (through a binding) the moment its DOM first holds the awaited text.
    const seen = new Map<string, number>();
    let wake: (() => void) | undefined;
    await p.exposeFunction('kithBenchSeen', (m: string) => {
      seen.set(m, performance.now());
      wake?.();
    });
    await p.evaluate(`new MutationObserver(() => {
      const m = window.kithBenchWant;
      if (m !== undefined && document.body.textContent.includes(m)) { window.kithBenchWant = undefined; window.kithBenchSeen(m); }
    }).observe(document.body, { subtree: true, childList: true, characterData: true })`);
    for (let i = 0; i < RUNS + 5; i++) {
      const marker = `m${i}-${Math.random().toString(36).slice(2, 8)}`;
      const event = new Promise<number>((resolve) => {
        const on = (d: Buffer) => {
          if (!d.toString().includes('"conv.message"')) return;
          ws.off('message', on);
          resolve(performance.now());
        };
        ws.on('message', on);
      });
      await p.evaluate(`window.kithBenchWant = ${JSON.stringify(marker)}`);
      const shown = new Promise<number>((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`the page did not show ${marker} within 10 s`)), 10_000);
        wake = () => {
          const at = seen.get(marker);
          if (at !== undefined) (clearTimeout(deadline), resolve(at));
        };
      });
      const t0 = performance.now();
      await api('POST', `/api/v1/conversations/${conv.id}/messages`, { text: marker });
      const [te, ts] = await Promise.all([event, shown]);
      if (i >= 5) { // the first few warm the page and the agent up
        raw.push(te - t0);
        page.push(ts - t0);
      }
      await sleep(50 + Math.floor(Math.random() * 50)); // not in step with a page's poll timer
    }
  } finally {
    ws.close();
    await browser.close();
    for (const stop of stops) stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`web UI event latency, ${RUNS} messages, one agent on loopback, headless Chromium, Node ${process.version}`);
  console.log(`  agent change (POST a message) → text in the page's DOM: p50 ${q(page, 0.5).toFixed(1)} ms, p99 ${q(page, 0.99).toFixed(1)} ms`);
  console.log(`  same change → conv.message at a WebSocket client: p50 ${q(raw, 0.5).toFixed(1)} ms, p99 ${q(raw, 0.99).toFixed(1)} ms (ratio page/raw at p50 ${(q(page, 0.5) / q(raw, 0.5)).toFixed(1)}x)`);
}

await main();
process.exit(0);
