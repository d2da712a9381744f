// Config validation: defaults, every problem at once with its own code, TOML syntax errors.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { defaultConfig, loadConfigFile, validateConfig, configDoc, CONFIG_KEYS } from '../../agent/config.js';
import { KithError, isKithError } from '../../core/errors.js';

t.test('an empty document gives the documented defaults', async (t) => {
  const { config, problems } = validateConfig({});
  t.same(problems, []);
  t.same(config, defaultConfig());
  t.equal(config.cluster.port, 5484);
  t.equal(config.api.port, 5485);
  t.equal(config.api.host, '127.0.0.1');
  t.equal(config.agent.profile, 'home');
});

t.test('every problem is reported at once, each with its code', async (t) => {
  const { problems } = validateConfig({
    cluster: { port: 70000, colour: 'blue' },
    api: { port: '5485' },
    agent: { profile: 'fast', logLevel: 'loud', shutdownTimeoutMs: 1.5 },
    archive: { copies: 1 },
  });
  t.same(problems.map((p) => `${p.code} ${p.key}`).sort(), [
    'CONFIG_CHOICE agent.logLevel',
    'CONFIG_CHOICE agent.profile',
    'CONFIG_RANGE cluster.port',
    'CONFIG_TYPE agent.shutdownTimeoutMs',
    'CONFIG_TYPE api.port',
    'CONFIG_UNKNOWN_KEY archive.copies',
    'CONFIG_UNKNOWN_KEY cluster.colour',
  ]);
  t.match(problems.find((p) => p.key === 'cluster.port')!.message, 'must be between 0 and 65535, got 70000');
});

t.test('a file: valid, invalid (CONFIG_INVALID with details), bad TOML, missing', async (t) => {
  const dir = t.testdir({
    'ok.toml': '[cluster]\nport = 6000\n[node]\nlabel = "nas"\n',
    'bad.toml': '[cluster]\nport = -1\n[api]\nhost = 5\n',
    'syntax.toml': '[cluster\nport = 1\n',
  });
  t.equal(loadConfigFile(path.join(dir, 'ok.toml')).cluster.port, 6000);
  try {
    loadConfigFile(path.join(dir, 'bad.toml'));
    t.fail('accepted');
  } catch (e) {
    t.ok(isKithError(e, 'CONFIG_INVALID'));
    t.equal((e as KithError).details.length, 2);
    t.match((e as KithError).format(), /error\[CONFIG_INVALID\]: 2 problems in .*bad\.toml\n  - \[CONFIG_RANGE\] cluster\.port/);
  }
  t.throws(() => loadConfigFile(path.join(dir, 'syntax.toml')), { code: 'CONFIG_UNREADABLE', message: /syntax\.toml is not valid TOML: line 1, column \d+: / });
  t.throws(() => loadConfigFile(path.join(dir, 'none.toml')), { code: 'CONFIG_UNREADABLE' });
  t.ok(fs.existsSync(path.join(dir, 'ok.toml')), 'nothing was touched');
});

t.test('a TOML syntax error names its line and column', async (t) => {
  const dir = t.testdir({ 'c.toml': '[cluster]\nport = 5484\nhost = \n' });
  t.throws(() => loadConfigFile(path.join(dir, 'c.toml')), { message: /is not valid TOML: line 3, column 8: invalid value$/ });
});

t.test('the documentation table lists every key', async (t) => {
  const doc = configDoc();
  for (const k of CONFIG_KEYS) t.match(doc, `\`${k.key}\``);
});
