// Fixed-size chunking of a byte stream with bounded memory: at most one chunk is buffered.
// Fixed-size rather than content-defined on purpose: every object gets its own random key, so
// there is no cross-object deduplication for content-defined boundaries to enable, and fixed
// boundaries leak nothing about content (only the length, which the holders see anyway as the
// number of shards). Equal chunks also give equal shard sizes, which keeps Reed-Solomon, the
// Merkle trees and the repair budget simple.

export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

/** Re-cuts an async stream of arbitrary pieces into chunks of exactly chunkBytes (the last may be short; none is empty). */
export async function* fixedChunks(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Uint8Array> {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError(`chunkBytes must be a positive integer, got ${chunkBytes}`);
  let buf = new Uint8Array(chunkBytes);
  let fill = 0;
  for await (const piece of input) {
    let off = 0;
    while (off < piece.length) {
      const take = Math.min(chunkBytes - fill, piece.length - off);
      buf.set(piece.subarray(off, off + take), fill);
      fill += take;
      off += take;
      if (fill === chunkBytes) {
        yield buf;
        buf = new Uint8Array(chunkBytes); // the consumer may keep the yielded chunk
        fill = 0;
      }
    }
  }
  if (fill > 0) yield buf.subarray(0, fill);
}
