// The verify pool (core/verify-pool.ts): verdicts in order, as the main thread's backend gives
// them, for checks whose bytes are views into larger buffers; and a worker that fails, a pool
// that is closed with batches outstanding or used after close: every batch verified inline, none
// lost. (Its worker against the Wycheproof cases: test/vectors/crypto-backends.test.ts.)
import t from 'tap';
import { signatures, verifyCheck, type SignatureCheck } from '../../core/crypto.js';
import { defaultPoolSize, packChecks, VerifyPool } from '../../core/verify-pool.js';
import { SeededRng } from '../../core/rng.js';

const rng = new SeededRng('verify-pool');
const secret = rng.bytes(32);
const key = signatures.ed25519PublicKey(secret);

/** n checks, every third one forged (a flipped signature bit), each part a view into one shared buffer. */
function checks(n: number): SignatureCheck[] {
  const out: SignatureCheck[] = [];
  for (let i = 0; i < n; i++) {
    const msg = rng.bytes(100 + (i % 50));
    const sig = signatures.ed25519Sign(secret, msg);
    if (i % 3 === 1) sig[i % 64]! ^= 1;
    const big = new Uint8Array(4096);
    big.set(key, 10);
    big.set(msg, 100);
    big.set(sig, 1000);
    out.push({ key: big.subarray(10, 42), msg: big.subarray(100, 100 + msg.length), sig: big.subarray(1000, 1064) });
  }
  return out;
}

t.test('the pool\'s size: one core kept for the main thread, at most two workers, at least one', async (t) => {
  t.ok(defaultPoolSize() >= 1 && defaultPoolSize() <= 2);
  t.equal(new VerifyPool({ size: 0 }).size, 1);
});

t.test('packChecks copies only the viewed bytes', async (t) => {
  const cs = checks(3);
  const buf = packChecks(cs);
  t.equal(buf.byteLength, 4 + 12 * 3 + cs.reduce((n, c) => n + 32 + c.msg.length + 64, 0));
});

t.test('verdicts on workers, in order, as inline; batches spread over the workers', async (t) => {
  const pool = new VerifyPool({ size: 2 });
  t.teardown(() => pool.close());
  const batches = [checks(64), checks(64), checks(10)];
  const got = await Promise.all(batches.map((b) => pool.verifyMany(b)));
  t.same(got, batches.map((b) => b.map(verifyCheck)));
  t.same(got[0]!.slice(0, 3), [true, false, true], 'forged ones refused');
  t.equal(pool.stats.onWorkers, 3);
  t.equal(pool.stats.inline, 0);
  t.same(await pool.verifyMany([]), []);
});

t.test('a worker that fails: its batch and every later one verified inline, none lost', async (t) => {
  const lines: string[] = [];
  const pool = new VerifyPool({ size: 1, source: 'throw new Error("boom")', log: (l) => lines.push(l) });
  t.teardown(() => pool.close());
  const cs = checks(70);
  t.same(await pool.verifyMany(cs), cs.map(verifyCheck));
  t.equal(pool.stats.failures, 1);
  t.equal(pool.stats.onWorkers, 0);
  t.match(lines, [/verify pool: a worker failed \(boom\); verifying on the main thread from now on/]);
  t.same(await pool.verifyMany(cs.slice(0, 5)), cs.slice(0, 5).map(verifyCheck));
  t.equal(pool.stats.inline, 2);
});

t.test('a worker that replies what does not fit its batch: verified inline', async (t) => {
  const source = `require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage({ id: m.id, out: new Uint8Array(1).fill(1) }));`;
  const pool = new VerifyPool({ size: 1, source });
  t.teardown(() => pool.close());
  const cs = checks(6);
  t.same(await pool.verifyMany(cs), cs.map(verifyCheck));
  t.equal(pool.stats.failures, 1);
});

t.test('close() with a batch outstanding: it is verified inline; after close, inline', async (t) => {
  const pool = new VerifyPool({ size: 1 });
  const cs = checks(200);
  const pending = pool.verifyMany(cs);
  await pool.close();
  t.same(await pending, cs.map(verifyCheck));
  t.same(await pool.verifyMany(cs.slice(0, 3)), cs.slice(0, 3).map(verifyCheck));
  t.equal(pool.stats.inline, 2);
});

t.test('batches beyond what the workers hold wait in the queue; the main thread verifies some when its turn ends', async (t) => {
  const pool = new VerifyPool({ size: 1 });
  t.teardown(() => pool.close());
  const batches = Array.from({ length: 8 }, () => checks(40));
  const got = await Promise.all(batches.map((b) => pool.verifyMany(b)));
  t.same(got, batches.map((b) => b.map(verifyCheck)));
  t.equal(pool.stats.onWorkers + pool.stats.onMain, 8);
  t.ok(pool.stats.onMain >= 1, `the main thread took ${pool.stats.onMain} of 8`);
  t.ok(pool.stats.onWorkers >= 2, `the worker took ${pool.stats.onWorkers} of 8`);
  t.equal(pool.stats.inline, 0);
  const quiet = new VerifyPool({ size: 1, help: false });
  t.teardown(() => quiet.close());
  t.same(await Promise.all(batches.map((b) => quiet.verifyMany(b))), got);
  t.same(quiet.stats, { onWorkers: 8, onMain: 0, inline: 0, failures: 0 }, 'help: false: all on the worker');
});

t.test('a worker that fails with batches queued: every one verified, none twice', async (t) => {
  const pool = new VerifyPool({ size: 1, source: 'throw new Error("boom")', help: false });
  t.teardown(() => pool.close());
  const batches = Array.from({ length: 5 }, () => checks(8));
  t.same(await Promise.all(batches.map((b) => pool.verifyMany(b))), batches.map((b) => b.map(verifyCheck)));
  t.equal(pool.stats.inline, 5);
  t.equal(pool.stats.failures, 1);
});
