// Imported before cbor-x (ES modules evaluate imports in order): cbor-x reads this variable when
// it loads. Its optional native helper (cbor-extract) is built from source on install and
// mis-decodes under Bun (docs/PLATFORM.md); pure JS is as fast for kith's small messages and
// behaves the same on both runtimes.
process.env.CBOR_NATIVE_ACCELERATION_DISABLED = 'true';
export {};
