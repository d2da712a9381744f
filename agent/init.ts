// Creating a data dir's identity: `kith init`, `kith init --recover`, and the first start of
// `npm start`. Nothing is overwritten: an existing identity is IDENTITY_EXISTS.
import fs from 'node:fs';
import os from 'node:os';
import type { Clock } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { KithError } from '../core/errors.js';
import { ensurePrivateDir, readPrivateFile, writeFileAtomic } from '../core/files.js';
import type { Role } from '../identity/certificate.js';
import { certifyNode } from '../identity/create.js';
import { hasIdentity, loadIdentity, saveIdentity, type NodeIdentity } from '../identity/keystore.js';
import { generatePhrase, parsePhrase } from '../identity/phrase.js';

export interface InitOptions {
  dataDir: string;
  /** A phrase to recover from; a new one is generated when absent. */
  phrase?: string;
  nodeIndex: number;
  generation: number;
  roles: Role[];
  label?: string;
}

export function defaultLabel(): string {
  return os.hostname().slice(0, 64);
}

/** Creates the identity; returns it and the phrase (new or recovered). */
export function initIdentity(deps: { clock: Clock; rng: Rng }, opts: InitOptions): { identity: NodeIdentity; phrase: string } {
  ensurePrivateDir(opts.dataDir);
  if (hasIdentity(opts.dataDir)) {
    throw new KithError('IDENTITY_EXISTS', `${opts.dataDir} already has an identity (node.key); nothing was changed`);
  }
  const phrase = opts.phrase !== undefined ? parsePhrase(opts.phrase) : generatePhrase(deps.rng);
  const node = certifyNode(deps.clock, {
    phrase,
    nodeIndex: opts.nodeIndex,
    generation: opts.generation,
    roles: opts.roles,
    label: opts.label ?? defaultLabel(),
  });
  saveIdentity(opts.dataDir, node);
  node.keys.sign.secretKey.fill(0);
  node.keys.dh.secretKey.fill(0);
  node.ownSecret.fill(0);
  return { identity: loadIdentity(opts.dataDir), phrase };
}

/** Reads a phrase file, which must be private to its owner. */
export function readPhraseFile(file: string): string {
  return readPrivateFile(file, { missing: 'PHRASE_FILE', permissions: 'PHRASE_FILE' }, 'phrase file').toString('utf8');
}

/** Writes the phrase to a new 0600 file; refuses to overwrite anything. */
export function writePhraseFile(file: string, phrase: string): void {
  if (fs.existsSync(file)) throw new KithError('PHRASE_FILE', `${file} already exists; kith will not overwrite it`, { hint: 'choose a new file name for --phrase-file' });
  try {
    writeFileAtomic(file, phrase + '\n', 0o600);
  } catch (e) {
    throw new KithError('PHRASE_FILE', `cannot write the phrase file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
  }
}
