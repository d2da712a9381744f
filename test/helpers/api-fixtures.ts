// Answers shaped as the real services give them, for API tests that serve createApi without an agent.
import type { StatusView } from '../../agent/api-shapes.js';
import type { IdentityView } from '../../agent/identity-view.js';

export const FIXTURE_IDENTITY: IdentityView = {
  userKey: 'a'.repeat(64), nodeIndex: 0, generation: 0, nodeSignKey: 'b'.repeat(64), nodeDhKey: 'c'.repeat(64), roles: ['access'], label: 'test',
};

export const fixtureStatus = (port = 0): StatusView => ({
  running: true, pid: 1, runtime: 'node', version: '0.0.0', profile: 'test', uptimeMs: 0, dataDir: '/tmp/x', storeBytes: 0,
  cluster: { host: '127.0.0.1', port: 1, transport: {}, roster: {} },
  api: { host: '127.0.0.1', port },
  identity: FIXTURE_IDENTITY,
});
