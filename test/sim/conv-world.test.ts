// Conversations between whole agents at scale (issue 14, "Tests"): users with a laptop, a
// relay-only router and some a phone, a friend graph that is not complete, conversations of every
// pattern and method run through the agents' APIs, while nodes go offline, households are
// partitioned, 5% of datagrams are lost, one router's disk is wiped and one phone is revoked. At
// the end: every participant node holds the same messages and closing; each message reached each
// access node's application once; no relay-only node holds a marker in clear; the revoked phone
// holds no key of a later epoch. A failure prints the seed (replay: KITH_SIM_SEED=...).
// Size: the issue's, 12 users and 200 conversations over 10 virtual minutes (about 2.5 CPU
// minutes); KITH_SIM_USERS and KITH_SIM_CONVS resize it, KITH_SIM_SMALL=1 runs 40 over 4 minutes.
import t from 'tap';
import { SeededRng } from '../../core/rng.js';
import { revokeNode } from '../../identity/create.js';
import { openEpoch } from '../../consensus/epochs.js';
import { buildWorld, type ConvWorld, type WorldUser } from './conv-world.js';
import { makeScripts, MARKER, SHAPE_KINDS, type ConvScript } from './conv-scripts.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'conv-world-1';
const SMALL = process.env['KITH_SIM_SMALL'] === '1';
const USERS = Number(process.env['KITH_SIM_USERS'] ?? 12);
const CONVS = Number(process.env['KITH_SIM_CONVS'] ?? (SMALL ? 40 : 200));
const SCENARIO_MS = (SMALL ? 4 : 10) * 60_000;
// Over the suite's 300 s per file on a loaded machine (140 s of real time on an idle one).
t.setTimeout(900_000);
const SECOND = 1000;

interface Run {
  w: ConvWorld;
  rng: SeededRng;
  revoked: string | undefined;
  wiped?: string;
  revokedAtMs: number;
  down: Set<string>;
  outcomes: Record<string, number>;
}

const running = (r: Run, name: string) => r.w.sim.get(name).agent !== undefined;

async function startNode(r: Run, name: string): Promise<void> {
  await r.w.sim.start(name);
  r.w.watch(name);
  r.down.delete(name);
}

/** One step of a script on a running access node of its user; true when it is done (or moot). */
async function runStep(r: Run, s: ConvScript, i: number): Promise<'done' | 'retry'> {
  const step = s.steps[i]!;
  const nodes = r.w.accessNodes(step.user).filter((n) => n !== r.revoked && running(r, n));
  const node = step.op === 'create' ? (running(r, step.user.laptop) ? step.user.laptop : undefined) : nodes[r.rng.below(Math.max(1, nodes.length))];
  if (node === undefined || !running(r, node)) return 'retry';
  const res = await r.w.sim.api(node, 'POST', `/api/conv/${step.op}`, step.op === 'create' ? step.body : { id: s.id, ...step.body });
  if (res.status === 200) {
    if (step.op === 'create') s.id = res.body.result.id;
    r.outcomes[`${step.op} ok`] = (r.outcomes[`${step.op} ok`] ?? 0) + 1;
    return 'done';
  }
  const code = String(res.body.error?.code);
  r.outcomes[`${step.op} ${code}`] = (r.outcomes[`${step.op} ${code}`] ?? 0) + 1;
  if (code === 'CONV_CLOSED') return 'done';
  return 'retry';
}

/** Runs every script, interleaved, while the failures happen; returns when the scenario time is over. */
async function scenario(r: Run, scripts: ConvScript[]): Promise<void> {
  const { sim, users } = r.w;
  const t0 = sim.clock.now();
  const next = scripts.map((s) => ({ s, step: 0, atMs: t0 + r.rng.below(SCENARIO_MS / 2), tries: 0 }));
  const routers = users.map((u) => u.router);
  const victimUser = users.find((u) => u.phone)!;
  const wipeUser = users[users.length > 2 ? 2 : 0]!;
  const events = { partition: t0 + SCENARIO_MS * 0.3, heal: t0 + SCENARIO_MS * 0.3 + 30 * SECOND, wipe: t0 + SCENARIO_MS * 0.45, revoke: t0 + SCENARIO_MS * 0.6 };
  let nextOutage = t0 + 10 * SECOND;
  const returns = new Map<string, number>();
  sim.net.defaults.loss = 0.05;
  while (sim.clock.now() - t0 < SCENARIO_MS) {
    const now = sim.clock.now();
    for (const [name, at] of returns) if (now >= at) (returns.delete(name), await startNode(r, name));
    if (now >= nextOutage) {
      nextOutage = now + 5 * SECOND + r.rng.below(15 * SECOND);
      const candidates = users.flatMap((u) => r.w.allNodes(u)).filter((n) => n !== r.revoked && running(r, n));
      if (returns.size < 3) {
        const victim = candidates[r.rng.below(candidates.length)]!;
        await sim.stop(victim);
        r.down.add(victim);
        returns.set(victim, now + 10 * SECOND + r.rng.below(50 * SECOND));
      }
    }
    if (now >= events.partition) {
      events.partition = Infinity;
      const half = users.slice(0, Math.ceil(users.length / 2)).flatMap((u) => r.w.allNodes(u)).map((n) => sim.get(n).address);
      const rest = users.slice(Math.ceil(users.length / 2)).flatMap((u) => r.w.allNodes(u)).map((n) => sim.get(n).address);
      sim.net.partition(half, rest);
    }
    if (now >= events.heal) (events.heal = Infinity, sim.net.heal());
    if (now >= events.wipe) {
      events.wipe = Infinity;
      const router = wipeUser.router;
      r.wiped = router;
      if (running(r, router)) await sim.stop(router);
      returns.delete(router);
      const disk = sim.disk(router);
      for (const k of [...disk.keys()]) if (/^(sync\/|syncidx\/|mbox\/)/.test(k)) disk.delete(k);
      await startNode(r, router);
    }
    if (now >= events.revoke && victimUser.phone) {
      events.revoke = Infinity;
      const phone = victimUser.phone;
      const revocation = Buffer.from(revokeNode(sim.clock, { phrase: sim.phrase(victimUser.name), nodeIndex: sim.get(phone).agent?.identity.cert.nodeIndex ?? 2, generation: 0, reason: 'lost' })).toString('base64');
      if (!running(r, victimUser.laptop)) await startNode(r, victimUser.laptop);
      returns.delete(victimUser.laptop);
      const res = await sim.api(victimUser.laptop, 'POST', '/api/nodes/revoke', { revocation });
      if (res.status !== 200) throw new Error(`revocation failed: ${JSON.stringify(res.body)} (seed ${SEED})`);
      r.revoked = phone;
      r.revokedAtMs = sim.clock.wallTime();
      returns.delete(phone);
    }
    for (const n of next) {
      if (n.step >= n.s.steps.length || n.atMs > now) continue;
      if (n.step > 0 && n.s.id === undefined) continue;
      const got = await runStep(r, n.s, n.step);
      if (got === 'done' || ++n.tries > 40) {
        if (got !== 'done') r.outcomes['gave up'] = (r.outcomes['gave up'] ?? 0) + 1;
        n.step++;
        n.tries = 0;
        n.atMs = sim.clock.now() + 200 + r.rng.below(3 * SECOND);
      } else n.atMs = sim.clock.now() + 2 * SECOND;
    }
    await sim.run(250, 50);
  }
  void routers;
  sim.net.heal();
  for (const name of returns.keys()) await startNode(r, name);
  returns.clear();
}

/** Per conversation, the participant nodes (every node of every participant user, the revoked one aside). */
function participantNodes(r: Run, s: ConvScript): string[] {
  return s.participants.flatMap((u: WorldUser) => r.w.allNodes(u)).filter((n) => n !== r.revoked);
}

/** The blob ids each participant node's sync holds for the conversation, as one string per node. */
async function holdings(r: Run, s: ConvScript): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of participantNodes(r, s)) {
    const sync = r.w.sim.get(n).agent!.conversations.sync;
    const ids = (await sync.envelopes(s.id!)).map((e) => e.id).sort();
    out.set(n, `${sync.epochs(s.id!).length}:${ids.join(',')}`);
  }
  return out;
}

async function converged(r: Run, scripts: ConvScript[]): Promise<boolean> {
  for (const s of scripts) {
    if (s.id === undefined) continue;
    if (new Set((await holdings(r, s)).values()).size !== 1) return false;
  }
  return true;
}

t.test(`${USERS} users, ${CONVS} conversations of every pattern and method, outages, a partition, loss, a wiped router, a revoked phone (seed ${SEED})`, async (t) => {
  const cpu0 = process.cpuUsage();
  const w = await buildWorld(SEED, t.testdir(), USERS);
  const r: Run = { w, rng: new SeededRng(`conv-run:${SEED}`), revoked: undefined, revokedAtMs: 0, down: new Set(), outcomes: {} };
  t.teardown(() => w.sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${SEED} (replay: KITH_SIM_SEED=${SEED}); step outcomes ${JSON.stringify(r.outcomes)}`);
  });
  const { sim, users } = w;
  // Mailbox traffic summed over every agent process of the run (read as one stops, and at the end):
  // blobs relays stored, pushes of blobs they held already (the bytes sent again), pushes by hash.
  const mbox = { stored: 0, duplicates: 0, byHash: 0, pushes: 0, bytes: 0 };
  const tally = (name: string) => {
    const m = sim.get(name).agent?.mailbox;
    if (!m) return;
    const rs = (m.relay?.stats ?? {}) as unknown as Record<string, number>;
    const os = m.outbox.stats as unknown as Record<string, number>;
    mbox.stored += rs['pushed'] ?? 0;
    mbox.duplicates += rs['duplicates'] ?? 0;
    mbox.byHash += rs['byHash'] ?? 0;
    mbox.pushes += os['placed'] ?? 0;
    mbox.bytes += os['bytes'] ?? 0;
  };
  const stopAgent = sim.stop.bind(sim);
  sim.stop = async (name) => {
    tally(name);
    return stopAgent(name);
  };
  const built = cpu0 && process.cpuUsage(cpu0);
  t.comment(`world: ${users.length} users, ${[...sim.world.disks.keys()].length} nodes, ${w.friends.size} friendships; ${Math.round((built.user + built.system) / 1000)} ms CPU`);
  const allAlive = () => users.every((u) => w.allNodes(u).every((a) => w.allNodes(u).every((b) => a === b || sim.stateOf(a, b) === 'alive')));
  t.ok(await sim.until(allAlive, 60_000) !== undefined, 'every user\'s own nodes reach each other');
  for (const u of users) for (const a of w.allNodes(u)) for (const b of w.allNodes(u)) if (a !== b && sim.stateOf(a, b) !== 'alive') t.comment(`${a} sees ${b} ${sim.stateOf(a, b)}`);

  const wallMs = () => sim.clock.wallTime();
  const scripts = makeScripts({ count: CONVS, users, friends: w.friends, rng: r.rng, skipVote: 0.15, deadlineAt: () => new Date(wallMs() + SCENARIO_MS / 2 + r.rng.below(SCENARIO_MS)).toISOString() });
  t.same([...new Set(scripts.map((s) => s.kind))].sort(), [...SHAPE_KINDS].sort().slice(0, Math.min(CONVS, SHAPE_KINDS.length)).sort(), 'every pattern and method is in the run');
  const strangers = scripts.filter((s) => s.participants.some((a) => s.participants.some((b) => a !== b && !w.friends.has([a.name, b.name].sort().join('|')))));
  if (USERS >= 6) t.ok(strangers.length > 0, `${strangers.length} conversations have participants who are not each other's friends`);

  await scenario(r, scripts);
  t.comment(`step outcomes: ${JSON.stringify(r.outcomes)}`);
  const created = scripts.filter((s) => s.id !== undefined);
  t.equal(created.length, scripts.length, 'every conversation was created');

  // Quiet time: deadlines pass, closings spread, everyone catches up.
  const deadlineEnd = SCENARIO_MS * 2;
  await sim.run(deadlineEnd / 2, 100);
  const nameOfSign = (sign: string) => users.flatMap((u) => w.allNodes(u)).find((n) => Buffer.from(sim.get(n).agent?.identity.keys.sign.publicKey ?? []).toString('hex') === sign) ?? sign.slice(0, 12);
  let ok = false;
  for (let i = 0; i < 60 && !ok; i++) {
    await sim.run(10 * SECOND, 100);
    ok = await converged(r, created);
  }
  t.ok(ok, 'every participant node of every conversation holds the same epochs and blobs');
  if (!ok) {
    let shown = 0;
    for (const s of created) {
      const h = await holdings(r, s);
      if (new Set(h.values()).size === 1 || shown++ >= 3) continue;
      t.comment(`conversation ${s.index} (${s.kind}) ${s.id!.slice(0, 12)}: ${[...h].map(([n, x]) => `${n} ${x.split(':')[0]} epochs ${x.split(':')[1]!.split(',').filter(Boolean).length} blobs`).join('; ')}; wiped ${r.wiped}, revoked ${r.revoked}`);
      for (const n of h.keys()) t.comment(`  ${n}: ${(await sim.get(n).agent!.conversations.sync.envelopes(s.id!)).map((e) => `${nameOfSign(e.sender)}#${e.seq}@${e.epoch.slice(0, 6)}/${e.id.slice(0, 6)}`).join(' ')}`);
      for (const n of h.keys()) t.comment(`  ${n}: sync ${JSON.stringify(sim.get(n).agent!.conversations.sync.stats)} sealed ${JSON.stringify(sim.get(n).agent!.conversations.sealed?.stats ?? null)}`);
    }
  }
  await sim.run(10 * SECOND, 100); // the last items opened and applied

  // Same messages and the same closing on every participant access node.
  let differ = 0;
  let closed = 0;
  for (const s of created) {
    const views = new Map<string, string>();
    for (const n of s.participants.flatMap((u) => w.accessNodes(u)).filter((n) => n !== r.revoked)) {
      const v = await sim.api(n, 'POST', '/api/conv/show', { id: s.id });
      views.set(n, v.status === 200 ? `${v.body.result.messages.map((m: { hash: string }) => m.hash).sort().join(',')} closing ${v.body.result.closing?.hash ?? 'none'}` : `error ${v.body.error?.code}`);
    }
    if ([...views.values()].every((v) => !v.endsWith('closing none') && !v.startsWith('error'))) closed++;
    if (new Set(views.values()).size !== 1) {
      differ++;
      if (differ <= 3) t.comment(`conversation ${s.index} (${s.kind}) ${s.id!.slice(0, 12)}: ${JSON.stringify([...views])}`);
    }
  }
  t.equal(differ, 0, 'every participant access node shows the same messages and the same closing');
  t.ok(closed >= created.length / 2, `${closed} of ${created.length} conversations closed everywhere (a closing that never spreads cannot pass as "the same")`);

  // Exactly once to each access node's application: every message it holds and did not write.
  let twice = 0;
  let never = 0;
  let notInFeed = 0;
  const feeds = new Map<string, Map<string, number>>();
  for (const s of created) {
    for (const n of s.participants.flatMap((u) => w.accessNodes(u)).filter((n) => n !== r.revoked)) {
      const agent = sim.get(n).agent!;
      if (!feeds.has(n)) {
        const f = new Map<string, number>();
        for (const e of await agent.feed.all()) f.set(e.hash, (f.get(e.hash) ?? 0) + 1);
        feeds.set(n, f);
      }
      const chain = Buffer.from(agent.identity.keys.sign.publicKey).toString('hex');
      const counts = w.delivered.get(n)!;
      for (const m of await agent.conversations.convs.messages(s.id!)) {
        const c = counts.get(m.hash) ?? 0;
        if (c > 1 || (feeds.get(n)!.get(m.hash) ?? 0) > 1) twice++;
        if (m.chain === chain) continue; // written here
        if (c === 0) never++;
        if (!feeds.get(n)!.has(m.hash)) notInFeed++;
      }
    }
  }
  t.equal(twice, 0, 'no message reached an application (the onMessage hook, the node\'s feed) twice');
  t.equal(never, 0, 'every message reached every participant access node\'s application');
  t.equal(notInFeed, 0, 'every received message is in every participant access node\'s feed');

  // No relay-only node holds a marker in clear.
  const marker = Buffer.from(MARKER);
  let leaks = 0;
  for (const u of users) for (const [k, v] of sim.disk(u.router)) if (k.includes(MARKER) || Buffer.from(v).includes(marker)) leaks++;
  t.equal(leaks, 0, 'no value in any router\'s store holds a marker');
  let scanned = 0;
  for (const u of users) scanned += sim.disk(u.router).size;
  t.ok(scanned > created.length, `${scanned} stored values scanned on ${users.length} routers`);

  // The revoked phone: no key of an epoch started after its revocation, on it or anywhere.
  t.ok(r.revoked, 'a phone was revoked');
  const revokedDh = r.revoked ? sim.get(r.revoked).id! : '';
  let later = 0;
  let laterAnywhere = 0;
  for (const [dir, disk] of sim.world.disks) {
    for (const [k, v] of disk) {
      if (!/^sync\/[0-9a-f]{64}\/e\//.test(k)) continue;
      const e = openEpoch(v);
      if (e.startedAtMs <= r.revokedAtMs || !e.readers.has(revokedDh)) continue;
      if (dir.includes(`${r.revoked}/`)) {
        later++;
        if (later <= 3) t.comment(`the revoked phone holds epoch ${e.number} of ${e.conv.slice(0, 12)} started ${e.startedAtMs - r.revokedAtMs} ms after the revocation by ${nameOfSign(e.node)}`);
      }
      else if (e.startedAtMs > r.revokedAtMs + 60 * SECOND) laterAnywhere++;
    }
  }
  t.equal(later, 0, 'the revoked phone holds no epoch record that wraps a key for it after its revocation');
  t.equal(laterAnywhere, 0, 'no node started an epoch for the revoked phone a minute after the revocation');
  for (const u of users) for (const n of new Set([...w.allNodes(u), u.router])) tally(n);
  t.comment(`mailbox: relays stored ${mbox.stored} blobs; ${mbox.duplicates} pushes sent the bytes of a blob the relay held already, ${mbox.byHash} pushes by hash; outboxes pushed bytes ${mbox.pushes} times (${mbox.bytes} blob bytes)`);
  t.ok(mbox.stored > 0, 'the mailbox was used');
  const cpu = process.cpuUsage(cpu0);
  t.comment(`${CONVS} conversations, ${Math.round(sim.clock.now() / 1000)} virtual s, ${Math.round((cpu.user + cpu.system) / 1000)} ms CPU`);
});

