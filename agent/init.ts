// Creating a data dir's identity: `kith init`, `kith init --recover`, and the first start of
// `npm start`. Nothing is overwritten: an existing identity is IDENTITY_EXISTS.
import fs from 'node:fs';
import os from 'node:os';
import type { Clock } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { KithError, isKithError } from '../core/errors.js';
import { readPrivateFile, writeFileAtomic } from '../core/files.js';
import { prepareDataDir } from './paths.js';
import type { Role } from '../identity/certificate.js';
import { certifyNode } from '../identity/create.js';
import { hasIdentity, loadIdentity, saveIdentity, type NodeIdentity } from '../identity/keystore.js';
import { generatePhrase, parsePhrase } from '../identity/phrase.js';

export interface InitOptions {
  dataDir: string;
  /** A phrase to recover from; a new one is generated when absent. */
  phrase?: string;
  /**
   * A new identity's phrase goes to this new 0600 file. It is written and read back before any
   * key is written: a phrase that cannot be saved leaves no identity behind (issue 18, break 4).
   */
  phraseFile?: string;
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
  if (hasIdentity(opts.dataDir)) {
    throw new KithError('IDENTITY_EXISTS', `${opts.dataDir} already has an identity (node.key); nothing was changed`);
  }
  const phrase = opts.phrase !== undefined ? parsePhrase(opts.phrase) : generatePhrase(deps.rng);
  const phraseFile = opts.phrase === undefined ? opts.phraseFile : undefined;
  if (phraseFile !== undefined) writePhraseFile(phraseFile, phrase);
  try {
    prepareDataDir(opts.dataDir);
    const node = certifyNode(deps.clock, {
      phrase,
      nodeIndex: opts.nodeIndex,
      generation: opts.generation,
      roles: opts.roles,
      label: opts.label ?? defaultLabel(),
    });
    try {
      saveIdentity(opts.dataDir, node);
    } finally {
      node.keys.sign.secretKey.fill(0);
      node.keys.dh.secretKey.fill(0);
      node.ownSecret.fill(0);
    }
  } catch (e) {
    // No identity came of it: the phrase just written names nothing, and would block a retry.
    if (phraseFile !== undefined) fs.rmSync(phraseFile, { force: true });
    throw e;
  }
  return { identity: loadIdentity(opts.dataDir), phrase };
}

/** Reads a phrase file, which must be private to its owner. */
export function readPhraseFile(file: string): string {
  return readPrivateFile(file, { missing: 'PHRASE_FILE', permissions: 'PHRASE_FILE' }, 'phrase file').toString('utf8');
}

/** Writes the phrase to a new 0600 file and reads it back; refuses to overwrite anything. */
export function writePhraseFile(file: string, phrase: string): void {
  if (fs.existsSync(file)) throw new KithError('PHRASE_FILE', `${file} already exists; kith will not overwrite it`, { hint: 'choose a new file name for --phrase-file' });
  try {
    writeFileAtomic(file, phrase + '\n', 0o600);
  } catch (e) {
    if (isKithError(e)) throw e;
    throw new KithError('PHRASE_FILE', `cannot write the phrase file ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
  }
  if (readPhraseFile(file).trim() !== phrase) {
    fs.rmSync(file, { force: true });
    throw new KithError('PHRASE_FILE', `the phrase file ${file} did not read back as written; it was removed`, { hint: 'check the disk and the file system, then try again' });
  }
}
