// `sodium-native` ships no types: core/aead-native.ts declares the few functions kith calls.
declare module 'sodium-native' {
  const sodium: unknown;
  export default sodium;
}
