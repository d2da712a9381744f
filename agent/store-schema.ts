// The store's schema version and its migrations. The version is the key `meta/schema` (UTF-8
// decimal). On every start, before anything else reads the store, the agent runs each migration
// above the stored version in order; each one's writes and its version bump are one batch, so a
// crash mid-upgrade leaves the store at the last finished step and the next start goes on from
// there. A store written by a newer kith is refused (STORE_SCHEMA_NEWER), never rewritten: a
// downgrade must not lose what the newer agent stored.
import { KithError } from '../core/errors.js';
import type { BatchOp, KvStore } from '../core/store.js';

export const SCHEMA_KEY = 'meta/schema';

export interface StoreMigration {
  /** The version the store has after this step. */
  to: number;
  /** What the step changes, for the log. */
  what: string;
  /** Reads what it needs and returns the writes; applied together with the version bump. */
  run(store: KvStore): Promise<BatchOp[]>;
}

/** Every migration, in order; `to` counts up from 1 without gaps. Append, never edit. */
export const STORE_MIGRATIONS: readonly StoreMigration[] = [
  {
    to: 1,
    what: 'record the schema version (stores from before it existed already have schema 1 keys)',
    run: async () => [],
  },
];

export const STORE_SCHEMA = STORE_MIGRATIONS[STORE_MIGRATIONS.length - 1]!.to;

export function parseSchema(raw: Uint8Array | undefined): number {
  if (raw === undefined) return 0; // a fresh store, or one from before the key existed
  const text = Buffer.from(raw).toString('utf8');
  if (!/^(0|[1-9]\d{0,8})$/.test(text)) throw new KithError('STORE_FAILED', `the store's ${SCHEMA_KEY} is not a version number`);
  return Number(text);
}

/** The steps that bring a store from version `current` to the newest of `migrations`. */
export function plannedMigrations(current: number, migrations: readonly StoreMigration[] = STORE_MIGRATIONS): StoreMigration[] {
  const newest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.to;
  if (current > newest) {
    throw new KithError('STORE_SCHEMA_NEWER', `the store has schema ${current}, newer than this kith understands (${newest})`, {
      hint: 'install the kith version that wrote it (or newer); the store was left untouched',
    });
  }
  migrations.forEach((m, i) => {
    if (m.to !== i + 1) throw new Error(`store migration ${i} goes to ${m.to}, expected ${i + 1}`);
  });
  return migrations.filter((m) => m.to > current);
}

/** Migrates the store in place; returns the version before and after. */
export async function migrateStore(
  store: KvStore,
  log?: { info(msg: string): void },
  migrations: readonly StoreMigration[] = STORE_MIGRATIONS,
): Promise<{ from: number; to: number }> {
  const from = parseSchema(await store.get(SCHEMA_KEY));
  let at = from;
  for (const m of plannedMigrations(from, migrations)) {
    const ops = await m.run(store);
    await store.batch([...ops, { type: 'put', key: SCHEMA_KEY, value: Buffer.from(String(m.to)) }]);
    if (from > 0) log?.info(`store schema ${at} → ${m.to}: ${m.what}`);
    at = m.to;
  }
  return { from, to: at };
}
