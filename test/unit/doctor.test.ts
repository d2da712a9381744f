// `kith doctor`'s findings (a pure function of the agent's status and member list), with the
// situations a new user met: a revoked member, a member that stopped answering, a LAN without a
// default gateway.
import t from 'tap';
import { diagnose } from '../../agent/cli-cluster.js';
import type { MemberView } from '../../cluster/membership.js';
import { createPortMapper } from '../../agent/port-mapper.js';

function member(label: string, state: MemberView['state'], lastSeenMs: number | null): MemberView {
  return {
    id: label, nodeSignKey: label.padEnd(64, '0'), userKey: 'cd'.repeat(32), nodeIndex: 0, label, state, incarnation: 1,
    endpoint: null, rttMs: null, lastSeenMs, clockOffsetMs: null, clockErrorMs: null, recordSeq: null, endpoints: [],
  };
}
const texts = (c: Record<string, unknown>, peers: MemberView[]) => diagnose(c, peers).map((f) => `${f.level} ${f.text}`);

t.test('one member stopped answering (its user blocked us) and one is revoked: not "all 2 answer"', async (t) => {
  const f = texts({}, [member('bob-nas', 'dead', 400_000), member('old-laptop', 'revoked', 900_000)]);
  t.notOk(f.some((x) => /All 2 members answer/.test(x)), f.join('\n'));
  t.ok(f.some((x) => /^ok "old-laptop" .* is revoked/.test(x)), 'the revoked one is named as revoked');
  t.ok(f.some((x) => /^fail "bob-nas" .* stopped answering .*blocked/.test(x)), 'the silent one is named, with blocking as a reason');
  t.ok(f.some((x) => /^fail No member answers/.test(x)), 'and nobody answers');
});

t.test('revoked members are not counted among those that answer', async (t) => {
  const f = texts({}, [member('nas', 'alive', 2_000), member('router', 'alive', 90_000), member('old', 'revoked', null)]);
  t.ok(f.includes('ok All 2 members answer (the quietest was last heard 90.0 s ago).'), f.join('\n'));
  t.same(texts({}, [member('nas', 'alive', 500)]).filter((x) => /answer/.test(x)), ['ok The one member answers (the quietest was last heard 500 ms ago).']);
});

t.test('only revoked members: nobody to talk to, not "No member answers"', async (t) => {
  const f = texts({}, [member('old', 'revoked', null)]);
  t.ok(f.some((x) => /^warn Every member is revoked/.test(x)), f.join('\n'));
  t.notOk(f.some((x) => /No member answers|members answer/.test(x)));
});

t.test('a LAN with no default gateway: no mapping was tried, nothing refused', async (t) => {
  const noGateway = texts({ mapping: { state: 'failed', error: 'no IPv4 default gateway to ask for a port mapping: none was tried', errorCode: 'PORT_MAPPING_NO_GATEWAY' } }, [member('nas', 'alive', 100)]);
  t.notOk(noGateway.some((x) => /refused/.test(x)), noGateway.join('\n'));
  t.ok(noGateway.some((x) => /^ok This machine has no default gateway .* no port mapping is tried/.test(x)));
  const refused = texts({ mapping: { state: 'failed', error: 'UPnP 718 ConflictInMappingEntry', errorCode: 'PORT_MAPPING_FAILED' } }, [member('nas', 'alive', 100)]);
  t.ok(refused.some((x) => /^warn The router refused a port mapping .*718/.test(x)), 'a real refusal still warns');
});

t.test('the port mapper on a LAN without a default gateway fails as PORT_MAPPING_NO_GATEWAY, asking nobody', async (t) => {
  await t.rejects(createPortMapper('auto', '').map(5484, 45001, 20_000), { code: 'PORT_MAPPING_NO_GATEWAY' });
});
