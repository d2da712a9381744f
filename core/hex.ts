// Lowercase hex, as every kith key is shown to people and in JSON.
export function toHex(b: Uint8Array): string {
  // Buffer's own hexSlice called on the view (Node and Bun have it): no Buffer made per call, half the time.
  return hexSlice ? hexSlice.call(b, 0, b.length) : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * toHex of a 32-byte id that recurs (a conversation, epoch, node or user key): the same string,
 * from a small cache of the last ids seen (direct-mapped by the first two bytes, the bytes
 * compared in full), so that reading 10,000 envelopes of one chain makes its few ids once, not
 * three hex strings per envelope. Any other length is toHex.
 */
export function idHex(b: Uint8Array): string {
  if (b.length !== 32) return toHex(b);
  const slot = (b[0]! | (b[1]! << 8)) & (ID_SLOTS - 1);
  const seen = idBytes[slot];
  if (seen !== undefined) {
    let i = 0;
    while (i < 32 && seen[i] === b[i]) i++;
    if (i === 32) return idStrings[slot]!;
  }
  const h = toHex(b);
  (idBytes[slot] ??= new Uint8Array(32)).set(b);
  idStrings[slot] = h;
  return h;
}
const ID_SLOTS = 256;
const idBytes: (Uint8Array | undefined)[] = new Array(ID_SLOTS).fill(undefined);
const idStrings: (string | undefined)[] = new Array(ID_SLOTS).fill(undefined);

const hexSlice = probeHexSlice();
function probeHexSlice(): ((this: Uint8Array, start: number, end: number) => string) | undefined {
  const f = (Buffer.prototype as unknown as { hexSlice?: (this: Uint8Array, start: number, end: number) => string }).hexSlice;
  try {
    const probe = new Uint8Array([0, 0x0f, 0xa5, 0xff]).subarray(1, 3);
    return typeof f === 'function' && f.call(probe, 0, probe.length) === '0fa5' ? f : undefined;
  } catch {
    return undefined;
  }
}

/** The bytes of hex this code made itself (a key or hash kept as hex); no checks: parse input with fromHex. */
export function hexBytes(h: string): Uint8Array {
  return new Uint8Array(Buffer.from(h, 'hex'));
}

/** Parses hex of an exact byte length; returns undefined for anything else. */
export function fromHex(s: string, bytes?: number): Uint8Array | undefined {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  if (bytes !== undefined && s.length !== bytes * 2) return undefined;
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}
