// Event latency from emit in the agent's event log to a WebSocket client over 127.0.0.1 (the same
// server code the agent runs: createApi + serveHttp), p50 and p99, with the baseline of a plain
// HTTP round trip (GET /health) measured in the same run. Run: `bun bench/events.ts` or
// `node dist/bench/events.js`. EVENTS_N sets the number of events (default 2000).
import { WebSocket } from 'ws';
import { createApi } from '../agent/api.js';
import { serveHttp } from '../agent/http-server.js';
import { EventLog } from '../agent/events.js';
import { realClock } from '../core/clock.js';
import { FIXTURE_IDENTITY, fixtureStatus } from '../test/helpers/api-fixtures.js';

const N = Number(process.env['EVENTS_N'] ?? 2000);
const TOKEN = 'f'.repeat(64);
const events = new EventLog(realClock, { highCapacity: N + 10 });
let port = 0;
const app = createApi({ token: TOKEN, listen: () => ({ host: '127.0.0.1', port }), status: async () => fixtureStatus(port), identity: () => FIXTURE_IDENTITY, events });
const http = await serveHttp(app, '127.0.0.1', 0);
port = http.port;
const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/events`, { headers: { authorization: `Bearer ${TOKEN}` } });
await new Promise((r) => ws.once('message', r)); // the (empty) backlog frame
const lat: number[] = [];
for (let i = 0; i < N; i++) {
  const t0 = performance.now();
  const got = new Promise((r) => ws.once('message', r));
  events.emit('member.state', { i });
  await got;
  lat.push(performance.now() - t0);
}
ws.close();
const base: number[] = [];
for (let i = 0; i < Math.min(N, 500); i++) {
  const t0 = performance.now();
  await (await fetch(`http://127.0.0.1:${port}/health`)).text();
  base.push(performance.now() - t0);
}
await http.close();
const runtime = (globalThis as { Bun?: unknown }).Bun ? 'bun' : 'node';
console.log(`events ${runtime}: ${N} events emit→WebSocket p50 ${q(lat, 0.5).toFixed(3)} ms, p99 ${q(lat, 0.99).toFixed(3)} ms; baseline GET /health p50 ${q(base, 0.5).toFixed(3)} ms (ratio ${(q(lat, 0.5) / q(base, 0.5)).toFixed(2)})`);
process.exit(0);
