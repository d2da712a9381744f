// TCP behind core/tcp.ts: one suite, both implementations (node:net on 127.0.0.1, and SimTcp on a
// virtual clock, which whole-agent simulations pair over). Bytes arrive in order; what was written
// before end() arrives before the close on both sides; a refused connect is ECONNREFUSED; the
// server sees where a connection comes from; destroy() closes both ends.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SimTcp } from '../../core/sim-tcp.js';
import { realTcp, type TcpConn, type TcpNet } from '../../core/tcp.js';

interface Env {
  name: string;
  server: TcpNet;
  client: TcpNet;
  host: string;
  clientHost: string;
  /** Waits until done() holds (real: polling, bounded; sim: moving the clock). */
  settle(done: () => boolean): Promise<boolean>;
}

function sim(): Env {
  const clock = new VirtualClock();
  const net = new SimTcp(clock, 2);
  return {
    name: 'SimTcp', server: net.host('10.0.0.1'), client: net.host('10.0.0.2'), host: '10.0.0.1', clientHost: '10.0.0.2',
    async settle(done) {
      for (let i = 0; i < 1000 && !done(); i++) {
        clock.advance(1);
        await new Promise((r) => setImmediate(r));
      }
      return done();
    },
  };
}

function real(): Env {
  return {
    name: 'node:net', server: realTcp, client: realTcp, host: '127.0.0.1', clientHost: '127.0.0.1',
    async settle(done) {
      for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
      return done();
    },
  };
}

/** A promise's value, moving the clock (or waiting) until it settles. */
async function wait<T>(env: Env, p: Promise<T>): Promise<T> {
  let out: { v: T } | undefined;
  p.then((v) => (out = { v }), () => {});
  if (!(await env.settle(() => out !== undefined))) throw new Error('never settled');
  return out!.v;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (chunks: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(chunks));

for (const make of [sim, real]) {
  t.test(make().name, async (t) => {
    t.test('in order, end after the data, the remote address', async (t) => {
      const env = make();
      const got: Uint8Array[] = [];
      let serverClosed = false;
      let accepted: TcpConn | undefined;
      const server = await env.server.listen(env.host, 0, (c) => {
        accepted = c;
        c.onData((d) => got.push(d));
        c.onClose(() => (serverClosed = true));
      });
      t.teardown(() => server.close());
      const c = await wait(env, env.client.connect({ host: env.host, port: server.port }));
      let clientClosed = false;
      c.onClose(() => (clientClosed = true));
      for (let i = 0; i < 50; i++) c.write(bytes(`${i},`));
      c.end();
      t.ok(await env.settle(() => serverClosed && clientClosed), 'both ends close after end()');
      t.equal(text(got), Array.from({ length: 50 }, (_, i) => `${i},`).join(''), 'every byte, in order, before the close');
      t.equal(accepted?.remote.host, env.clientHost, 'the server sees the client\'s address');
    });

    t.test('a refused connect, and destroy closing both ends', async (t) => {
      const env = make();
      const server = await env.server.listen(env.host, 0, (c) => c.onData(() => c.destroy()));
      const port = server.port;
      const c = await wait(env, env.client.connect({ host: env.host, port }));
      let closed = false;
      c.onClose(() => (closed = true));
      c.write(bytes('hello'));
      t.ok(await env.settle(() => closed), 'the server destroying the connection closes the client');
      server.close();
      let code: string | undefined;
      void env.client.connect({ host: env.host, port }).catch((e: { code?: string }) => (code = e.code ?? 'none'));
      t.ok(await env.settle(() => code !== undefined), 'connecting to a closed port fails');
      t.equal(code, 'ECONNREFUSED');
    });
  });
}
