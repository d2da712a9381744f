// Lowercase hex, as every kith key is shown to people and in JSON.
export function toHex(b: Uint8Array): string {
  // Buffer's own hexSlice called on the view (Node and Bun have it): no Buffer made per call, half the time.
  return hexSlice ? hexSlice.call(b, 0, b.length) : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

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
