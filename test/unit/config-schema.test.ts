// The config file's `schema` key (agent/config.ts): files without it (written before it existed)
// load as before, the current one loads, a newer one is refused with a message that says so, and
// the shipped default /etc/kith/config.toml is valid and current.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_SCHEMA, loadConfigFile, migrateConfigDoc, validateConfig } from '../../agent/config.js';
import { REPO_ROOT } from '../helpers/vectors.js';

t.test('a file without schema is schema 0 and migrates with every key kept', async (t) => {
  const m = migrateConfigDoc({ api: { port: 6000 } });
  t.equal(m.from, 0);
  t.same(m.doc, { api: { port: 6000 } });
  const { config, problems } = validateConfig({ api: { port: 6000 } });
  t.same(problems, []);
  t.equal(config.api.port, 6000);
});

t.test('the current schema loads; schema is not taken for a section', async (t) => {
  const { config, problems } = validateConfig({ schema: CONFIG_SCHEMA, cluster: { port: 7000 } });
  t.same(problems, []);
  t.equal(config.cluster.port, 7000);
});

t.test('a newer schema is refused: CONFIG_RANGE on schema, nothing else guessed', async (t) => {
  const { problems } = validateConfig({ schema: CONFIG_SCHEMA + 1, future: { key: 1 } });
  t.equal(problems.length, 1);
  t.match(problems[0], { code: 'CONFIG_RANGE', key: 'schema' });
  t.match(problems[0]!.message, /newer than this kith understands/);
});

t.test('a schema of the wrong type is a CONFIG_TYPE problem', async (t) => {
  t.match(validateConfig({ schema: '1' }).problems, [{ code: 'CONFIG_TYPE', key: 'schema' }]);
  t.match(validateConfig({ schema: 1.5 }).problems, [{ code: 'CONFIG_TYPE', key: 'schema' }]);
});

t.test('the packaged default config (packaging/debian/config.toml) is valid and of the current schema', async (t) => {
  const file = path.join(REPO_ROOT, 'packaging', 'debian', 'config.toml');
  const text = fs.readFileSync(file, 'utf8');
  t.match(text, new RegExp(`^schema = ${CONFIG_SCHEMA}$`, 'm'));
  t.ok(loadConfigFile(file));
});
